//! The one error type of the codec.
//!
//! Every failure says *what* was being decoded, *where* (byte offset within the
//! unit being decoded: frame, header, body or record) and, for short input,
//! how many bytes were needed and how many were there.

use std::fmt;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input ended early: `need` bytes were required at `offset`, `have` were left.
    Incomplete { need: usize, have: usize },
    /// A frame announced a length above the configured cap.
    FrameTooLarge { len: u64, max: usize },
    /// A length field is inconsistent with the data around it (e.g. header length > frame length).
    BadLength {
        field: &'static str,
        value: i64,
        limit: i64,
    },
    /// The serialize-type byte of the header-length word is neither 0 (JSON) nor 1 (ROCKETMQ).
    UnknownSerializeType(u8),
    /// JSON text that does not parse, or parses to the wrong shape.
    Json(String),
    /// Bytes that must be UTF-8 are not.
    InvalidUtf8,
    /// A required header/body field is absent.
    MissingField(&'static str),
    /// A field is present but cannot be read as the expected type.
    InvalidField {
        field: String,
        value: String,
        expected: &'static str,
    },
    /// A value cannot be encoded (e.g. a code above 32767 in the binary header).
    Unencodable(String),
    /// Any other structural violation, described in words.
    Invalid(String),
}

/// A codec error: the kind, the unit being decoded and the byte offset within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    pub kind: ErrorKind,
    /// What was being decoded, e.g. `"frame"`, `"binary header"`, `"message record"`.
    pub context: &'static str,
    /// Byte offset inside the unit named by `context`.
    pub offset: usize,
}

impl CodecError {
    pub fn new(context: &'static str, offset: usize, kind: ErrorKind) -> Self {
        CodecError {
            kind,
            context,
            offset,
        }
    }

    pub fn incomplete(context: &'static str, offset: usize, need: usize, have: usize) -> Self {
        Self::new(context, offset, ErrorKind::Incomplete { need, have })
    }

    pub fn invalid(context: &'static str, offset: usize, what: impl Into<String>) -> Self {
        Self::new(context, offset, ErrorKind::Invalid(what.into()))
    }

    pub fn json(context: &'static str, err: impl fmt::Display) -> Self {
        Self::new(context, 0, ErrorKind::Json(err.to_string()))
    }

    pub fn missing(context: &'static str, field: &'static str) -> Self {
        Self::new(context, 0, ErrorKind::MissingField(field))
    }

    pub fn invalid_field(
        context: &'static str,
        field: impl Into<String>,
        value: impl Into<String>,
        expected: &'static str,
    ) -> Self {
        Self::new(
            context,
            0,
            ErrorKind::InvalidField {
                field: field.into(),
                value: value.into(),
                expected,
            },
        )
    }

    /// Shift the offset by `base` (used when an inner unit is decoded from a slice of an outer one).
    pub fn at(mut self, base: usize) -> Self {
        self.offset = self.offset.saturating_add(base);
        self
    }

    /// True when more input could turn this failure into a success.
    pub fn is_incomplete(&self) -> bool {
        matches!(self.kind, ErrorKind::Incomplete { .. })
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Incomplete { need, have } => write!(
                f,
                "{}: truncated at byte {}: need {} bytes, have {}",
                self.context, self.offset, need, have
            ),
            ErrorKind::FrameTooLarge { len, max } => write!(
                f,
                "{}: frame length {} exceeds the limit of {} bytes",
                self.context, len, max
            ),
            ErrorKind::BadLength {
                field,
                value,
                limit,
            } => write!(
                f,
                "{}: {} = {} at byte {} is out of range (limit {})",
                self.context, field, value, self.offset, limit
            ),
            ErrorKind::UnknownSerializeType(t) => write!(
                f,
                "{}: unknown serialize type {} (expected 0 = JSON or 1 = ROCKETMQ)",
                self.context, t
            ),
            ErrorKind::Json(msg) => write!(f, "{}: bad JSON: {}", self.context, msg),
            ErrorKind::InvalidUtf8 => {
                write!(f, "{}: invalid UTF-8 at byte {}", self.context, self.offset)
            }
            ErrorKind::MissingField(name) => {
                write!(f, "{}: required field '{}' is missing", self.context, name)
            }
            ErrorKind::InvalidField {
                field,
                value,
                expected,
            } => write!(
                f,
                "{}: field '{}' = {:?} is not a valid {}",
                self.context, field, value, expected
            ),
            ErrorKind::Unencodable(what) => write!(f, "{}: cannot encode: {}", self.context, what),
            ErrorKind::Invalid(what) => {
                write!(f, "{}: {} (at byte {})", self.context, what, self.offset)
            }
        }
    }
}

impl std::error::Error for CodecError {}

/// Result alias used throughout the crate.
pub type Result<T, E = CodecError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_readable() {
        let e = CodecError::incomplete("frame", 4, 10, 3);
        assert_eq!(
            e.to_string(),
            "frame: truncated at byte 4: need 10 bytes, have 3"
        );
        assert!(e.is_incomplete());
        let e = CodecError::missing("PullMessageRequestHeader", "queueId");
        assert!(e.to_string().contains("'queueId'"));
        let e = CodecError::invalid_field("hdr", "queueId", "x", "integer").at(3);
        assert!(e.to_string().contains("queueId"));
        assert_eq!(e.offset, 3);
    }
}
