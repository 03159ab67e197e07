//! What the store answers to puts and gets (Java's `PutMessageResult`, `GetMessageResult`).

use super::mapped_file::MappedSlice;

/// Outcome of a put, as the send processor maps it to a response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMessageStatus {
    PutOk,
    FlushDiskTimeout,
    FlushSlaveTimeout,
    SlaveNotAvailable,
    ServiceNotAvailable,
    CreateMappedFileFailed,
    MessageIllegal,
    PropertiesSizeExceeded,
    OsPageCacheBusy,
    UnknownError,
}

impl PutMessageStatus {
    /// Whether the message was stored (the first four statuses).
    pub fn is_stored(self) -> bool {
        matches!(
            self,
            PutMessageStatus::PutOk
                | PutMessageStatus::FlushDiskTimeout
                | PutMessageStatus::FlushSlaveTimeout
                | PutMessageStatus::SlaveNotAvailable
        )
    }
}

/// Where an append landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessageResult {
    /// Physical offset of the first record.
    pub wrote_offset: i64,
    /// Bytes written (all records of a batch).
    pub wrote_bytes: usize,
    /// Offset message id(s); comma-joined for a batch.
    pub msg_id: String,
    pub store_timestamp: i64,
    /// Queue offset of the first record.
    pub logics_offset: i64,
    /// Number of records written.
    pub msg_num: usize,
}

/// Result of a put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutMessageResult {
    pub status: PutMessageStatus,
    pub append: Option<AppendMessageResult>,
    /// Why the put failed, for the response remark.
    pub remark: Option<String>,
}

impl PutMessageResult {
    pub fn failed(status: PutMessageStatus, remark: impl Into<String>) -> Self {
        PutMessageResult {
            status,
            append: None,
            remark: Some(remark.into()),
        }
    }
}

/// Outcome of a read from a consume queue (Java's `GetMessageStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetMessageStatus {
    Found,
    NoMatchedMessage,
    MessageWasRemoving,
    OffsetFoundNull,
    OffsetOverflowBadly,
    OffsetOverflowOne,
    OffsetTooSmall,
    NoMatchedLogicQueue,
    NoMessageInQueue,
}

impl GetMessageStatus {
    /// The Java enum name (the pull response's remark).
    pub fn name(self) -> &'static str {
        match self {
            GetMessageStatus::Found => "FOUND",
            GetMessageStatus::NoMatchedMessage => "NO_MATCHED_MESSAGE",
            GetMessageStatus::MessageWasRemoving => "MESSAGE_WAS_REMOVING",
            GetMessageStatus::OffsetFoundNull => "OFFSET_FOUND_NULL",
            GetMessageStatus::OffsetOverflowBadly => "OFFSET_OVERFLOW_BADLY",
            GetMessageStatus::OffsetOverflowOne => "OFFSET_OVERFLOW_ONE",
            GetMessageStatus::OffsetTooSmall => "OFFSET_TOO_SMALL",
            GetMessageStatus::NoMatchedLogicQueue => "NO_MATCHED_LOGIC_QUEUE",
            GetMessageStatus::NoMessageInQueue => "NO_MESSAGE_IN_QUEUE",
        }
    }
}

/// Messages read for a pull: each record is a zero-copy slice of a mapped CommitLog file
/// (no allocation per message; a pull response can be written straight from them).
#[derive(Debug, Clone)]
pub struct GetMessageResult {
    pub status: GetMessageStatus,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
    pub messages: Vec<MappedSlice>,
    /// Queue offsets of the returned messages (same order).
    pub queue_offsets: Vec<i64>,
    /// Sum of the records' sizes.
    pub buffer_total_size: usize,
    pub suggest_pulling_from_slave: bool,
}

impl GetMessageResult {
    pub fn empty(status: GetMessageStatus, next: i64, min: i64, max: i64) -> Self {
        GetMessageResult {
            status,
            next_begin_offset: next,
            min_offset: min,
            max_offset: max,
            messages: Vec::new(),
            queue_offsets: Vec::new(),
            buffer_total_size: 0,
            suggest_pulling_from_slave: false,
        }
    }
}

/// Decides which messages a read returns (tag hash at the CQ stage, properties at the
/// CommitLog stage).
pub trait MessageFilter: Send + Sync {
    /// First stage, on the consume-queue unit's tags code.
    fn matches_cq(&self, tags_code: i64) -> bool;
    /// Second stage, on the stored record (e.g. SQL92 on properties). Default: match.
    fn matches_record(&self, _record: &[u8]) -> bool {
        true
    }
}

/// Match everything.
pub struct AcceptAll;

impl MessageFilter for AcceptAll {
    fn matches_cq(&self, _tags_code: i64) -> bool {
        true
    }
}
