//! Op messages: the record that a half message has been committed or rolled back (Java
//! `TransactionalMessageBridge.putOpMessage` and the op side of the check).
//!
//! Layout, as the Java broker writes it: topic `RMQ_SYS_TRANS_OP_HALF_TOPIC`, queue id = the
//! half message's queue id (0), sysFlag 0, flag 0, born and store host = the broker's address,
//! born timestamp = now, body = the half message's queue offset in decimal (UTF-8), properties
//! exactly `WAIT=true`, `TAGS=d` (Java sets a `UNIQ_KEY` only after serializing the map, so
//! none is stored). It is stored without waiting for a flush. No topic config is created for
//! the op topic (4.9.8 never registers one).

use std::collections::HashMap;
use std::sync::Arc;

use apogee_codec::message::{keys, MessageExt, MessageProperties};
use bytes::Bytes;
use log::{debug, error, warn};

use super::{parse_long_or_minus_one, pull, PullStatus, REMOVE_TAG, TRANS_CHECK_GROUP};
use crate::broker::client_manager::now_ms;
use crate::broker::BrokerInner;
use crate::store::config_files::topics::TRANS_OP_HALF_TOPIC;
use crate::store::message_inner::MessageInner;
use crate::store::message_store::MessageStore;
use crate::store::results::PutMessageStatus;

/// How many op messages one read takes (Java pulls 32).
pub const OP_PULL_BATCH: usize = 32;

/// The properties string of every op message.
pub fn op_properties() -> Vec<u8> {
    // Java: `new Message(topic, "d", body)` sets TAGS, then WAIT=true, in a fresh HashMap.
    let mut p = MessageProperties::new();
    p.insert(keys::TAGS, REMOVE_TAG);
    p.insert(keys::WAIT, "true");
    super::java_map_string(&p, 2)
}

/// The op message resolving `half` (the stored half message as read).
pub fn op_message(b: &BrokerInner, half: &MessageExt) -> MessageInner {
    MessageInner {
        topic: TRANS_OP_HALF_TOPIC.to_owned(),
        queue_id: half.queue_id,
        flag: 0,
        sys_flag: 0,
        born_timestamp: now_ms(),
        born_host: b.store_host,
        store_host: b.store_host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: Bytes::from(half.queue_offset.to_string().into_bytes()),
        properties: op_properties(),
    }
}

/// Store the op message for `half`; false (logged) when the store refused it.
pub async fn write_remove_op(b: &Arc<BrokerInner>, half: &MessageExt) -> bool {
    let r = b.store.put_message(op_message(b, half), false).await;
    log_op_result(half, r.status)
}

fn log_op_result(half: &MessageExt, status: PutMessageStatus) -> bool {
    if status == PutMessageStatus::PutOk {
        debug!(
            "op message written for half message at queue offset {} (commit log offset {})",
            half.queue_offset, half.physical_offset
        );
        true
    } else {
        error!(
            "op message for half message at queue offset {} (commit log offset {}) not \
             written: {status:?}",
            half.queue_offset, half.physical_offset
        );
        false
    }
}

/// One op message as the check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpEntry {
    /// Its own queue offset in the op queue.
    pub op_offset: i64,
    /// The half queue offset it resolves (−1 when the body is no number).
    pub half_offset: i64,
    pub born_timestamp: i64,
}

/// A read of op messages.
#[derive(Debug, Clone)]
pub struct OpBatch {
    pub status: PullStatus,
    pub next_begin_offset: i64,
    /// Empty when nothing was found (Java's null list).
    pub entries: Vec<OpEntry>,
}

/// What the check knows about op messages while walking one half queue.
#[derive(Debug, Default)]
pub struct OpState {
    /// half queue offset → op queue offset, for ops at or after the walk's start.
    pub remove_map: HashMap<i64, i64>,
    /// Op queue offsets fully accounted for (the op offset advances over a contiguous run).
    pub done: Vec<i64>,
}

impl OpState {
    /// Take the op for `half_offset`, marking it done. True when there was one.
    pub fn take(&mut self, half_offset: i64) -> bool {
        match self.remove_map.remove(&half_offset) {
            Some(op) => {
                self.done.push(op);
                true
            }
            None => false,
        }
    }

    /// Java `calculateOpOffset`: `old` advanced over the done offsets that follow it without
    /// a gap.
    pub fn new_op_offset(&mut self, old: i64) -> i64 {
        self.done.sort_unstable();
        let mut next = old;
        for &d in &self.done {
            if d < next {
                continue;
            }
            if d == next {
                next = next.saturating_add(1);
            } else {
                break;
            }
        }
        next
    }
}

/// Java `fillOpRemoveMap`: read up to 32 op messages of queue `queue_id` from `from`; ops for
/// half offsets below `min_half_offset` are done already, the others go to the remove map.
/// `None` when the store cannot be read.
pub fn fill_remove_map(
    b: &BrokerInner,
    queue_id: i32,
    from: i64,
    min_half_offset: i64,
    state: &mut OpState,
) -> Option<OpBatch> {
    let pulled = pull(&b.store, TRANS_OP_HALF_TOPIC, queue_id, from, OP_PULL_BATCH)?;
    match pulled.status {
        PullStatus::OffsetIllegal | PullStatus::NoMatchedMsg => {
            warn!(
                "op queue {queue_id}: offset {from} is illegal ({:?}); moving the progress to {}",
                pulled.status, pulled.next_begin_offset
            );
            b.configs.consumer_offsets.commit(
                TRANS_CHECK_GROUP,
                TRANS_OP_HALF_TOPIC,
                queue_id,
                pulled.next_begin_offset,
            );
        }
        PullStatus::NoNewMsg | PullStatus::Found => {}
    }
    let mut entries = Vec::with_capacity(pulled.messages.len());
    for m in &pulled.messages {
        let half_offset = parse_long_or_minus_one(&String::from_utf8_lossy(&m.body));
        if m.tags() != Some(REMOVE_TAG) {
            // Resolves nothing; counted as done so that the op progress can pass it.
            error!(
                "op queue {queue_id}: op message at {} has tag {:?}, not {REMOVE_TAG:?}; ignored",
                m.queue_offset,
                m.tags()
            );
            state.done.push(m.queue_offset);
        } else if half_offset < min_half_offset {
            state.done.push(m.queue_offset);
        } else if let Some(earlier) = state.remove_map.insert(half_offset, m.queue_offset) {
            // Two ops for one half message (e.g. a repeated END_TRANSACTION): the earlier one
            // is done too, or the op progress would stop at it for good.
            state.done.push(earlier);
        }
        entries.push(OpEntry {
            op_offset: m.queue_offset,
            half_offset,
            born_timestamp: m.born_timestamp,
        });
    }
    Some(OpBatch {
        status: pulled.status,
        next_begin_offset: pulled.next_begin_offset,
        entries,
    })
}

/// Half queue offsets that have an op message in the op queue (tests, tools).
pub fn resolved_half_offsets(store: &MessageStore, queue_id: i32) -> Vec<i64> {
    let mut out = Vec::new();
    let mut offset = store.min_offset_in_queue(TRANS_OP_HALF_TOPIC, queue_id);
    while let Some(p) = pull(store, TRANS_OP_HALF_TOPIC, queue_id, offset, OP_PULL_BATCH) {
        if p.status != PullStatus::Found || p.next_begin_offset <= offset {
            break;
        }
        out.extend(
            p.messages
                .iter()
                .filter(|m| m.tags() == Some(REMOVE_TAG))
                .map(|m| parse_long_or_minus_one(&String::from_utf8_lossy(&m.body))),
        );
        offset = p.next_begin_offset;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_properties_are_javas() {
        // As in every op record of the Java fixture store.
        assert_eq!(op_properties(), b"WAIT\x01true\x02TAGS\x01d".to_vec());
    }

    #[test]
    fn op_offset_advances_over_contiguous_done_offsets() {
        let mut s = OpState {
            done: vec![5, 3, 4, 7],
            ..Default::default()
        };
        assert_eq!(s.new_op_offset(3), 6);
        s.done = vec![2, 3, 3, 4];
        assert_eq!(s.new_op_offset(3), 5);
        s.done.clear();
        assert_eq!(s.new_op_offset(9), 9);
    }

    #[test]
    fn take_marks_done() {
        let mut s = OpState::default();
        s.remove_map.insert(10, 2);
        assert!(s.take(10));
        assert!(!s.take(10));
        assert_eq!(s.done, vec![2]);
    }

    /// Every op record of the Java store: our properties string, sysFlag and body form.
    #[test]
    fn matches_the_java_op_records() {
        use crate::store::test_support::json_lines;
        let mut n = 0;
        for m in json_lines("manifest-clean.jsonl") {
            if m["type"] != "message" || m["topic"] != TRANS_OP_HALF_TOPIC {
                continue;
            }
            assert_eq!(
                m["propertiesRaw"].as_str().unwrap().as_bytes(),
                &op_properties()[..]
            );
            assert_eq!(m["sysFlag"], 0);
            assert_eq!(m["flag"], 0);
            assert_eq!(m["bornHost"], m["storeHost"]);
            n += 1;
        }
        assert_eq!(n, 20);
    }
}
