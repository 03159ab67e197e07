//! `RemotingCommand`: one request or response, with its header in either serialization.

use bytes::Bytes;

use crate::ext_fields::ExtFields;
use crate::language::LanguageCode;

/// How the command header is serialized (top byte of the header-length word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    /// Type 0: JSON text (the default of every client).
    #[default]
    Json,
    /// Type 1: the ROCKETMQ binary header.
    RocketMq,
}

impl SerializeType {
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }
}

/// One remoting command.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RemotingCommand {
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: Option<ExtFields>,
    pub serialize_type: SerializeType,
    /// Empty = no body.
    pub body: Bytes,
}
