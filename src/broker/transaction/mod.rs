//! Transactional messages after the half message is stored (RocketMQ 4.9.8;
//! broker-behaviour.md §9, remoting-protocol.md §8.2).
//!
//! The send path stores a `TRAN_MSG=true` message as a *half message* in
//! `RMQ_SYS_TRANS_HALF_TOPIC` queue 0 (real topic and queue kept in `REAL_TOPIC` / `REAL_QID`).
//! This module does the rest:
//!
//! * [`end_transaction`]: END_TRANSACTION (37). Commit stores the real message (a new record
//!   in the real topic, sysFlag transaction type COMMIT, `preparedTransactionOffset` = the half
//!   message's CommitLog offset) and then an *op message*; rollback only the op message;
//!   "unknown" nothing.
//! * [`op_queue`]: op messages. One per resolved half message, in
//!   `RMQ_SYS_TRANS_OP_HALF_TOPIC` on the half message's queue id, tag `d`, body = the half
//!   message's queue offset in decimal. Also the reading side used by the check.
//! * [`check_service`]: the check-back. Every `transactionCheckInterval` it walks the half
//!   queue from the progress of the internal group `CID_RMQ_SYS_TRANS`, skips what has an op
//!   message, and for half messages older than `transactionTimeOut` appends a fresh copy
//!   (`TRANSACTION_CHECK_TIMES` + 1) and sends CHECK_TRANSACTION_STATE to a live producer of
//!   the message's `PGROUP`; after `transactionCheckMax` checks the message goes to
//!   `TRANS_CHECK_MAX_TIME_TOPIC`. Progress is the group's consumer offsets on the half and op
//!   queues (consumerOffset.json), so it survives restarts and is Java's.
//!
//! Everything written is laid out as the Java broker writes it (record fields and properties
//! strings in Java `HashMap` order), so a store can move between the two brokers with open
//! transactions.

pub mod check_service;
pub mod end_transaction;
pub mod op_queue;

use apogee_codec::message::{decode_record, keys, MessageExt, MessageProperties};

use crate::store::message_store::MessageStore;
use crate::store::results::{AcceptAll, GetMessageStatus};

pub use check_service::{check_now, start, stop, CheckRound};
pub use end_transaction::process;

/// The internal consumer group whose offsets on the half and op queues are the check's
/// progress (Java `MixAll.CID_SYS_RMQ_TRANS`).
pub const TRANS_CHECK_GROUP: &str = "CID_RMQ_SYS_TRANS";

/// Tag of an op message that marks its half message resolved (Java `REMOVETAG`).
pub const REMOVE_TAG: &str = "d";

/// Java's `PullStatus` as the transaction bridge derives it from a store read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    Found,
    /// Nothing at or after the offset yet.
    NoNewMsg,
    NoMatchedMsg,
    /// The offset is outside the queue or its data is gone; `next_begin_offset` is where
    /// to resume.
    OffsetIllegal,
}

/// Messages read from an internal queue (half or op).
#[derive(Debug)]
pub struct Pulled {
    pub status: PullStatus,
    pub next_begin_offset: i64,
    /// Decoded records (undecodable ones are left out, as Java's decoder drops them).
    pub messages: Vec<MessageExt>,
}

/// Read up to `max` messages of an internal queue from `offset` (Java
/// `TransactionalMessageBridge.getMessage`). `None` when the store cannot be read (shut down).
pub fn pull(
    store: &MessageStore,
    topic: &str,
    queue_id: i32,
    offset: i64,
    max: usize,
) -> Option<Pulled> {
    let r = store.get_message(topic, queue_id, offset, max, &AcceptAll)?;
    let status = match r.status {
        GetMessageStatus::Found => PullStatus::Found,
        GetMessageStatus::NoMatchedMessage => PullStatus::NoMatchedMsg,
        GetMessageStatus::NoMessageInQueue | GetMessageStatus::OffsetOverflowOne => {
            PullStatus::NoNewMsg
        }
        GetMessageStatus::MessageWasRemoving
        | GetMessageStatus::NoMatchedLogicQueue
        | GetMessageStatus::OffsetFoundNull
        | GetMessageStatus::OffsetOverflowBadly
        | GetMessageStatus::OffsetTooSmall => PullStatus::OffsetIllegal,
    };
    let messages = r
        .messages
        .iter()
        .filter_map(|slice| decode_message(slice))
        .collect();
    Some(Pulled {
        status,
        next_begin_offset: r.next_begin_offset,
        messages,
    })
}

/// One stored record as an owned message (body as stored, i.e. still compressed if it was).
pub fn decode_message(bytes: &[u8]) -> Option<MessageExt> {
    decode_record(bytes)
        .ok()
        .map(|(rec, _)| MessageExt::from_record(&rec))
}

/// The properties string Java writes when it serializes the map it decoded from `props`
/// (and then changed): the entries in Java `HashMap` iteration order. `max_entries` is the most
/// entries the map held at once (it sizes the table).
pub fn java_map_string(props: &MessageProperties, max_entries: usize) -> Vec<u8> {
    let mut p = props.clone();
    p.sort_java_hash_map_order(max_entries);
    p.encode()
}

/// Number of distinct names (the size of the Java map decoded from these properties).
pub fn distinct_len(props: &MessageProperties) -> usize {
    let mut names: Vec<&str> = props.iter().map(|(k, _)| k).collect();
    names.sort_unstable();
    names.dedup();
    names.len()
}

/// Java `Message.isWaitStoreMsgOK`: `WAIT` absent or `true`.
pub fn wait_store_msg_ok(props: &MessageProperties) -> bool {
    props
        .get(keys::WAIT)
        .is_none_or(|v| v.eq_ignore_ascii_case("true"))
}

/// Java `Long.parseLong` as the transaction code uses it: −1 when the text is no number.
pub fn parse_long_or_minus_one(s: &str) -> i64 {
    java_parse::<i64>(s).unwrap_or(-1)
}

/// Java `Integer.parseInt` / `Long.parseLong`: an optional sign and digits, nothing else (no
/// surrounding spaces).
pub fn java_parse<T: std::str::FromStr>(s: &str) -> Option<T> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_number_parsing() {
        assert_eq!(java_parse::<i32>("12"), Some(12));
        assert_eq!(java_parse::<i32>("-3"), Some(-3));
        assert_eq!(java_parse::<i32>("+3"), Some(3));
        assert_eq!(java_parse::<i32>(" 3"), None);
        assert_eq!(java_parse::<i32>(""), None);
        assert_eq!(java_parse::<i32>("-"), None);
        assert_eq!(java_parse::<i32>("99999999999"), None);
        assert_eq!(parse_long_or_minus_one("x"), -1);
        assert_eq!(parse_long_or_minus_one("42"), 42);
    }

    #[test]
    fn wait_and_distinct() {
        let p = MessageProperties::parse(b"A\x011\x02WAIT\x01false\x02A\x012");
        assert!(!wait_store_msg_ok(&p));
        assert_eq!(distinct_len(&p), 2);
        assert!(wait_store_msg_ok(&MessageProperties::new()));
        assert!(wait_store_msg_ok(&MessageProperties::parse(
            b"WAIT\x01TRUE"
        )));
    }
}
