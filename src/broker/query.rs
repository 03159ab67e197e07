//! Message lookups: QUERY_MESSAGE (12) by key and time range, VIEW_MESSAGE_BY_ID (33) by
//! CommitLog offset (RocketMQ 4.9.8 `QueryMessageProcessor`; remoting-protocol.md §8.3).
//!
//! * QUERY_MESSAGE: the index is asked for `topic#key` in `[beginTimestamp, endTimestamp]`.
//!   With `_UNIQUE_KEY_QUERY=true` the key is a `UNIQ_KEY` and the broker's
//!   `defaultQueryMaxNum` replaces the client's `maxNum`. Index slots are hashes, so the records
//!   found are checked: same topic, and `KEYS` containing the key or `UNIQ_KEY` equal to it.
//!   The body is the concatenation of the matching records; the header carries the index's
//!   last update time and CommitLog offset (also on QUERY_NOT_FOUND, as in Java).
//! * VIEW_MESSAGE_BY_ID: the record at `offset` as the body, or SYSTEM_ERROR.

use std::sync::Arc;

use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader,
    UNIQUE_KEY_QUERY_KEY,
};
use apogee_codec::message::{decode_record, find_property};
use apogee_codec::RemotingCommand;
use bytes::{Bytes, BytesMut};

use super::processor::{bad_header, not_supported};
use super::BrokerInner;
use crate::remoting::{Connection, Reply};
use crate::rt;

/// Entry point for codes 12 and 33.
pub async fn process(b: &Arc<BrokerInner>, _conn: &Arc<Connection>, req: RemotingCommand) -> Reply {
    match req.code {
        rc::QUERY_MESSAGE => query_message(b, &req).await,
        rc::VIEW_MESSAGE_BY_ID => view_message(b, &req),
        _ => not_supported(&req),
    }
}

async fn query_message(b: &Arc<BrokerInner>, req: &RemotingCommand) -> Reply {
    let h: QueryMessageRequestHeader = match req.read_header() {
        Ok(h) => h,
        Err(e) => return bad_header(req, &e),
    };
    // Java compares the raw extField with "true" (case-sensitive).
    let unique = req.ext(UNIQUE_KEY_QUERY_KEY) == Some("true");
    let max_num = if unique {
        b.store.config().default_query_max_num
    } else {
        usize::try_from(h.max_num).unwrap_or(0)
    };
    let store = b.store.clone();
    let (topic, key) = (h.topic.clone(), h.key.clone());
    let (begin, end) = (h.begin_timestamp, h.end_timestamp);
    // Index and record reads fault pages in: off the executor.
    let found = rt::unblock(move || store.query_message(&topic, &key, max_num, begin, end)).await;

    let matching: Vec<&Bytes> = found
        .messages
        .iter()
        .filter(|rec| record_matches(rec, &h.topic, &h.key))
        .collect();
    let header = QueryMessageResponseHeader {
        index_last_update_timestamp: found.index_last_update_timestamp,
        index_last_update_phyoffset: found.index_last_update_phyoffset,
    };
    if matching.is_empty() {
        return RemotingCommand::error_to(
            req,
            response::QUERY_NOT_FOUND,
            "can not find message, maybe time range not correct",
        )
        .with_header(&header)
        .into();
    }
    // TODO(store): with a MessageStore query returning `MappedSlice`s this could be a
    // `Reply::Parts` written straight from the mapped files instead of one copied buffer.
    let total: usize = matching.iter().map(|r| r.len()).sum();
    let mut body = BytesMut::with_capacity(total);
    for r in matching {
        body.extend_from_slice(r);
    }
    RemotingCommand::success_to(req)
        .with_header(&header)
        .with_body(body.freeze())
        .into()
}

/// The index answers by hash: keep the records of `topic` whose `KEYS` list `key` or whose
/// `UNIQ_KEY` is `key`.
fn record_matches(rec: &[u8], topic: &str, key: &str) -> bool {
    let Ok((r, _)) = decode_record(rec) else {
        return false;
    };
    if r.topic != topic.as_bytes() {
        return false;
    }
    let key = key.as_bytes();
    if find_property(r.properties, apogee_codec::message::keys::UNIQ_KEY) == Some(key) {
        return true;
    }
    find_property(r.properties, apogee_codec::message::keys::KEYS)
        .is_some_and(|keys| keys.split(|&c| c == b' ').any(|k| k == key))
}

fn view_message(b: &Arc<BrokerInner>, req: &RemotingCommand) -> Reply {
    let h: ViewMessageRequestHeader = match req.read_header() {
        Ok(h) => h,
        Err(e) => return bad_header(req, &e),
    };
    match b.store.look_message_by_offset(h.offset) {
        // Zero-copy: the body shares the mapped file.
        Some(record) => RemotingCommand::success_to(req).with_body(record).into(),
        None => RemotingCommand::error_to(
            req,
            response::SYSTEM_ERROR,
            format!("can not find message by the offset, {}", h.offset),
        )
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apogee_codec::message::{self, MessageRecord, RecordVersion};

    fn record(topic: &str, props: &[u8]) -> Vec<u8> {
        let host: std::net::SocketAddr = "127.0.0.1:10911".parse().unwrap();
        MessageRecord {
            version: RecordVersion::V1,
            body_crc: message::body_crc(b"x"),
            queue_id: 0,
            flag: 0,
            queue_offset: 0,
            physical_offset: 0,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: host,
            store_timestamp: 2,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: b"x",
            topic: topic.as_bytes(),
            properties: props,
        }
        .to_vec()
        .unwrap()
    }

    #[test]
    fn matching_by_keys_and_uniq_key() {
        let r = record("T", b"KEYS\x01k1 k2\x02UNIQ_KEY\x01U1");
        assert!(record_matches(&r, "T", "k1"));
        assert!(record_matches(&r, "T", "k2"));
        assert!(record_matches(&r, "T", "U1"));
        assert!(!record_matches(&r, "T", "k"));
        assert!(!record_matches(&r, "T", "k1 k2"));
        assert!(!record_matches(&r, "Other", "k1"));
        assert!(!record_matches(b"garbage", "T", "k1"));
    }
}
