//! Consumer offsets and queue offsets (Java `ConsumerManageProcessor` and the offset requests of
//! `AdminBrokerProcessor`, 4.9.8):
//!
//! * QUERY_CONSUMER_OFFSET (14): the group's stored offset. Without one: SUCCESS with offset 0
//!   when the queue's min offset is ≤ 0 and its entry at offset 0 is absent or still in memory
//!   (a new group on a young or empty queue starts at 0, whatever its consume-from-where),
//!   else QUERY_NOT_FOUND (22) — the code 5.x clients need to apply consume-from-where.
//! * UPDATE_CONSUMER_OFFSET (15): store it (usually oneway).
//! * SEARCH_OFFSET_BY_TIMESTAMP (29), GET_MAX_OFFSET (30), GET_MIN_OFFSET (31),
//!   GET_EARLIEST_MSG_STORETIME (32): answered from the store; the response field is always
//!   present.
//!
//! [`start_persisting`] writes `consumerOffset.json` every `flushConsumerOffsetInterval` on the
//! blocking pool.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::offset::{
    GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader, UpdateConsumerOffsetResponseHeader,
};
use apogee_codec::{CommandHeader, RemotingCommand};
use log::warn;

use super::processor::{bad_header, not_supported};
use super::BrokerInner;
use crate::remoting::{Connection, Reply};
use crate::rt;
use crate::store::config_files::ConfigManager;

/// First persist of the offsets after start (Java: 10 s).
const FIRST_PERSIST_DELAY: Duration = Duration::from_secs(10);

pub async fn process(b: &Arc<BrokerInner>, _conn: &Arc<Connection>, req: RemotingCommand) -> Reply {
    match handle(b, &req) {
        Ok(r) => r,
        Err(e) => bad_header(&req, &e),
    }
}

fn ok<H: CommandHeader>(req: &RemotingCommand, h: &H) -> Reply {
    RemotingCommand::success_to(req).with_header(h).into()
}

fn handle(b: &BrokerInner, req: &RemotingCommand) -> Result<Reply, apogee_codec::CodecError> {
    let store = &b.store;
    Ok(match req.code {
        rc::QUERY_CONSUMER_OFFSET => {
            let h: QueryConsumerOffsetRequestHeader = req.read_header()?;
            query_consumer_offset(b, req, &h)
        }
        rc::UPDATE_CONSUMER_OFFSET => {
            let h: UpdateConsumerOffsetRequestHeader = req.read_header()?;
            b.configs.consumer_offsets.commit(
                &h.consumer_group,
                &h.topic,
                h.queue_id,
                h.commit_offset,
            );
            ok(req, &UpdateConsumerOffsetResponseHeader {})
        }
        rc::SEARCH_OFFSET_BY_TIMESTAMP => {
            let h: SearchOffsetRequestHeader = req.read_header()?;
            let offset = store.offset_by_time(&h.topic, h.queue_id, h.timestamp);
            ok(req, &SearchOffsetResponseHeader { offset })
        }
        rc::GET_MAX_OFFSET => {
            let h: GetMaxOffsetRequestHeader = req.read_header()?;
            let offset = store.max_offset_in_queue(&h.topic, h.queue_id);
            ok(req, &GetMaxOffsetResponseHeader { offset })
        }
        rc::GET_MIN_OFFSET => {
            let h: GetMinOffsetRequestHeader = req.read_header()?;
            let offset = store.min_offset_in_queue(&h.topic, h.queue_id);
            ok(req, &GetMinOffsetResponseHeader { offset })
        }
        rc::GET_EARLIEST_MSG_STORETIME => {
            let h: GetEarliestMsgStoretimeRequestHeader = req.read_header()?;
            let timestamp = store
                .earliest_message_time(&h.topic, h.queue_id)
                .unwrap_or(-1);
            ok(req, &GetEarliestMsgStoretimeResponseHeader { timestamp })
        }
        _ => not_supported(req),
    })
}

fn query_consumer_offset(
    b: &BrokerInner,
    req: &RemotingCommand,
    h: &QueryConsumerOffsetRequestHeader,
) -> Reply {
    let stored = b
        .configs
        .consumer_offsets
        .query(&h.consumer_group, &h.topic, h.queue_id)
        .filter(|o| *o >= 0);
    if let Some(offset) = stored {
        return ok(req, &QueryConsumerOffsetResponseHeader { offset });
    }
    let min = b.store.min_offset_in_queue(&h.topic, h.queue_id);
    if h.set_zero_if_not_found_or_default() && min <= 0 && !in_disk_at(b, &h.topic, h.queue_id, 0) {
        return ok(req, &QueryConsumerOffsetResponseHeader { offset: 0 });
    }
    RemotingCommand::error_to(
        req,
        response::QUERY_NOT_FOUND,
        "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
    )
    .into()
}

/// Java `checkInDiskByConsumeOffset`: whether the message at a logical offset is far enough
/// behind the CommitLog's end to have left memory (more than `accessMessageInMemoryMaxRatio`
/// % of physical RAM). False when there is no such message.
fn in_disk_at(b: &BrokerInner, topic: &str, queue_id: i32, offset: i64) -> bool {
    let Some(phy) = b.store.commit_log_offset_in_queue(topic, queue_id, offset) else {
        return false;
    };
    let ratio = u64::try_from(b.store.config().access_message_in_memory_max_ratio).unwrap_or(0);
    let in_memory = total_memory().saturating_mul(ratio) / 100;
    let behind = u64::try_from(b.store.commit_log_max_offset() - phy).unwrap_or(0);
    behind > in_memory
}

/// Physical memory in bytes (cached).
fn total_memory() -> u64 {
    static TOTAL: OnceLock<u64> = OnceLock::new();
    *TOTAL.get_or_init(|| {
        // SAFETY: sysconf has no preconditions and only reads system information.
        let (pages, size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && size > 0 {
            (pages as u64).saturating_mul(size as u64)
        } else {
            8 << 30
        }
    })
}

/// Persist consumer offsets every `flushConsumerOffsetInterval` (first after 10 s), off the
/// executor, when they changed. The task ends when the broker shuts down (which persists
/// everything itself) or is dropped.
pub fn start_persisting(b: &Arc<BrokerInner>) {
    let weak = Arc::downgrade(b);
    let interval = Duration::from_millis(b.config.flush_consumer_offset_interval.max(100));
    rt::spawn(async move {
        let mut delay = FIRST_PERSIST_DELAY;
        let mut persisted = None;
        loop {
            rt::sleep(delay).await;
            delay = interval;
            let Some(b) = weak.upgrade() else { return };
            if b.is_shutting_down() {
                return;
            }
            let version = b.configs.consumer_offsets.data_version();
            if persisted.as_ref() == Some(&version) {
                continue;
            }
            let b2 = Arc::clone(&b);
            drop(b);
            match rt::unblock(move || b2.configs.consumer_offsets.persist()).await {
                Ok(()) => persisted = Some(version),
                Err(e) => warn!("persisting consumer offsets: {e}"),
            }
        }
    });
}
