//! # apogee-codec
//!
//! A sans-IO codec for the Apache RocketMQ 4.x *remoting* wire format: frames, the JSON and
//! ROCKETMQ binary command headers, typed request/response headers, JSON bodies with the
//! fastjson quirks, stored-message records, batch bodies and message ids.
//!
//! Nothing here does I/O, spawns or blocks, and nothing panics on any input: every decoder
//! returns [`CodecError`] with the offset of the problem.

pub mod body;
pub mod codes;
pub mod command;
pub mod error;
pub mod ext_fields;
pub mod fastjson;
pub mod frame;
pub mod header;
pub mod language;
pub mod message;

pub use command::{RemotingCommand, SerializeType};
pub use error::{CodecError, ErrorKind, Result};
pub use ext_fields::{CommandHeader, ExtFields};
pub use frame::{FrameDecoder, RawFrame, DEFAULT_MAX_FRAME};
pub use language::LanguageCode;
