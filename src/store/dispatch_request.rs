//! What the dispatcher (reput) extracts from each CommitLog record and hands to the
//! ConsumeQueue and IndexFile builders.

/// One dispatched record (Java's `DispatchRequest`), without the body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DispatchRequest {
    pub topic: String,
    pub queue_id: i32,
    /// Physical offset of the record in the CommitLog.
    pub commit_log_offset: i64,
    /// TOTALSIZE of the record.
    pub msg_size: i32,
    /// `String.hashCode()` of TAGS (0 without tags); for SCHEDULE_TOPIC_XXXX the delivery time.
    pub tags_code: i64,
    pub store_timestamp: i64,
    /// The record's QUEUEOFFSET: its logical position in the consume queue.
    pub consume_queue_offset: i64,
    /// The KEYS property (space-separated keys), if any.
    pub keys: Option<String>,
    /// The UNIQ_KEY property, if any.
    pub uniq_key: Option<String>,
    pub sys_flag: i32,
    pub prepared_transaction_offset: i64,
}

/// Transaction type bits of the sysFlag.
pub const TRANSACTION_TYPE_MASK: i32 = 0xC;
pub const TRANSACTION_NOT_TYPE: i32 = 0x0;
pub const TRANSACTION_PREPARED_TYPE: i32 = 0x4;
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;

impl DispatchRequest {
    pub fn transaction_type(&self) -> i32 {
        self.sys_flag & TRANSACTION_TYPE_MASK
    }

    /// NOT_TYPE and COMMIT records go into a consume queue; PREPARED/ROLLBACK do not.
    pub fn goes_to_consume_queue(&self) -> bool {
        matches!(
            self.transaction_type(),
            TRANSACTION_NOT_TYPE | TRANSACTION_COMMIT_TYPE
        )
    }

    /// Everything but ROLLBACK records is indexed.
    pub fn goes_to_index(&self) -> bool {
        self.transaction_type() != TRANSACTION_ROLLBACK_TYPE
    }
}
