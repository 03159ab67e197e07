//! Queue locks of orderly consumers: LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42)
//! (RocketMQ 4.9.8 `RebalanceLockManager`, `AdminBrokerProcessor.lockBatchMQ` /
//! `unlockBatchMQ`; broker-behaviour.md §10, remoting-protocol.md §13.5).
//!
//! An orderly consumer may only consume a queue while it holds the broker's lock on it. The
//! table is consumer group → message queue → (client id, time of the last lock or renewal).
//!
//! * A lock lives [`DEFAULT_LOCK_MAX_LIVE_TIME_MS`] (60 s) after its last renewal (Java reads
//!   the system property `rocketmq.broker.rebalance.lockMaxLiveTime`; here it can be changed
//!   at run time with [`RebalanceLockManager::set_max_live_time_ms`]). Clients renew about
//!   every 20 s.
//! * `try_lock_batch` answers the set of asked queues the caller holds afterwards: queues it
//!   already held (renewed), queues nobody held, and queues whose holder let the lock expire.
//!   Queues validly held by another client are left out.
//! * `unlock_batch` removes only the entries held by the caller (whether expired or not).
//!
//! Both requests carry no header in 4.9 (an empty one in 5.x) and a JSON body; the 5.x
//! `onlyThisBroker` property is accepted and ignored (a single broker has no peers to ask).
//! An absent or undecodable body is a SYSTEM_ERROR (Java fails to decode it likewise).
//! UNLOCK_BATCH_MQ is often sent one-way; then nothing is answered.
//!
//! **Concurrency.** One mutex over the whole table. Lock traffic is light (one request per
//! client per 20 s), each request holds the mutex for a handful of map operations and never
//! across an `.await`.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use apogee_codec::body::{
    LockBatchRequestBody, LockBatchResponseBody, MessageQueue, UnlockBatchRequestBody,
};
use apogee_codec::codes::{request as rc, response};
use apogee_codec::RemotingCommand;
use log::{info, warn};

use super::client_manager::now_ms;
use super::processor::not_supported;
use super::BrokerInner;
use crate::remoting::{Connection, Reply};

/// How long a lock lives without renewal (Java `REBALANCE_LOCK_MAX_LIVE_TIME`).
pub const DEFAULT_LOCK_MAX_LIVE_TIME_MS: i64 = 60_000;

/// Who holds a queue, and since when (last lock or renewal).
#[derive(Debug, Clone)]
struct LockEntry {
    client_id: String,
    last_update_ms: i64,
}

impl LockEntry {
    fn expired(&self, now_ms: i64, max_live_ms: i64) -> bool {
        now_ms.saturating_sub(self.last_update_ms) > max_live_ms
    }

    fn held_by(&self, client_id: &str, now_ms: i64, max_live_ms: i64) -> bool {
        self.client_id == client_id && !self.expired(now_ms, max_live_ms)
    }
}

type GroupLocks = HashMap<MessageQueue, LockEntry>;

/// The broker's queue-lock table (see the module documentation).
pub struct RebalanceLockManager {
    max_live_ms: AtomicI64,
    table: Mutex<HashMap<String, GroupLocks>>,
}

impl Default for RebalanceLockManager {
    fn default() -> Self {
        Self::new()
    }
}

impl RebalanceLockManager {
    /// An empty table with the default 60 s lock lifetime.
    pub fn new() -> Self {
        Self::with_max_live_time_ms(DEFAULT_LOCK_MAX_LIVE_TIME_MS)
    }

    pub fn with_max_live_time_ms(max_live_ms: i64) -> Self {
        RebalanceLockManager {
            max_live_ms: AtomicI64::new(max_live_ms),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// How long a lock lives without renewal, ms.
    pub fn max_live_time_ms(&self) -> i64 {
        self.max_live_ms.load(Ordering::Relaxed)
    }

    /// Change the lock lifetime (applies to existing locks too).
    pub fn set_max_live_time_ms(&self, ms: i64) {
        self.max_live_ms.store(ms, Ordering::Relaxed);
    }

    fn lock_table(&self) -> MutexGuard<'_, HashMap<String, GroupLocks>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lock `mqs` for `client_id` in `group` now; see [`Self::try_lock_batch_at`].
    pub fn try_lock_batch(
        &self,
        group: &str,
        mqs: &BTreeSet<MessageQueue>,
        client_id: &str,
    ) -> BTreeSet<MessageQueue> {
        self.try_lock_batch_at(group, mqs, client_id, now_ms())
    }

    /// Lock `mqs` for `client_id` in `group` at time `now_ms`: renew the caller's own locks,
    /// take free and expired ones. Returns the queues of `mqs` the caller holds afterwards.
    pub fn try_lock_batch_at(
        &self,
        group: &str,
        mqs: &BTreeSet<MessageQueue>,
        client_id: &str,
        now_ms: i64,
    ) -> BTreeSet<MessageQueue> {
        let max_live = self.max_live_time_ms();
        let mut locked = BTreeSet::new();
        if mqs.is_empty() {
            return locked;
        }
        let mut table = self.lock_table();
        let locks = table.entry(group.to_owned()).or_default();
        for mq in mqs {
            match locks.get_mut(mq) {
                None => {
                    info!("lock batch: {mq:?} of group {group} was free, now held by {client_id}");
                    locks.insert(
                        mq.clone(),
                        LockEntry {
                            client_id: client_id.to_owned(),
                            last_update_ms: now_ms,
                        },
                    );
                    locked.insert(mq.clone());
                }
                Some(e) if e.held_by(client_id, now_ms, max_live) => {
                    e.last_update_ms = now_ms;
                    locked.insert(mq.clone());
                }
                Some(e) if e.expired(now_ms, max_live) => {
                    warn!(
                        "lock batch: the lock of {} on {mq:?} (group {group}) expired, now held \
                         by {client_id}",
                        e.client_id
                    );
                    e.client_id = client_id.to_owned();
                    e.last_update_ms = now_ms;
                    locked.insert(mq.clone());
                }
                Some(e) => {
                    warn!(
                        "lock batch: {mq:?} of group {group} is held by {}, refused to \
                         {client_id}",
                        e.client_id
                    );
                }
            }
        }
        locked
    }

    /// Release the entries of `mqs` in `group` held by `client_id` (expired or not); entries
    /// held by other clients stay.
    pub fn unlock_batch(&self, group: &str, mqs: &BTreeSet<MessageQueue>, client_id: &str) {
        let mut table = self.lock_table();
        let Some(locks) = table.get_mut(group) else {
            warn!("unlock batch: group {group} has no locks (client {client_id})");
            return;
        };
        for mq in mqs {
            match locks.get(mq) {
                Some(e) if e.client_id == client_id => {
                    locks.remove(mq);
                    info!("unlock batch: {mq:?} of group {group} released by {client_id}");
                }
                Some(e) => warn!(
                    "unlock batch: {mq:?} of group {group} is held by {}, not by {client_id}",
                    e.client_id
                ),
                None => warn!("unlock batch: {mq:?} of group {group} was not locked"),
            }
        }
        if locks.is_empty() {
            table.remove(group);
        }
    }

    /// The client holding `mq` in `group` (its lock not expired), if any.
    pub fn holder(&self, group: &str, mq: &MessageQueue) -> Option<String> {
        self.holder_at(group, mq, now_ms())
    }

    /// [`Self::holder`] at time `now_ms`.
    pub fn holder_at(&self, group: &str, mq: &MessageQueue, now_ms: i64) -> Option<String> {
        let max_live = self.max_live_time_ms();
        let table = self.lock_table();
        let e = table.get(group)?.get(mq)?;
        (!e.expired(now_ms, max_live)).then(|| e.client_id.clone())
    }

    /// Whether every lock of `group` has expired (or it has none).
    pub fn is_lock_all_expired(&self, group: &str) -> bool {
        let max_live = self.max_live_time_ms();
        let now = now_ms();
        let table = self.lock_table();
        table
            .get(group)
            .is_none_or(|locks| locks.values().all(|e| e.expired(now, max_live)))
    }
}

/// Entry point for LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42).
pub async fn process(b: &Arc<BrokerInner>, _conn: &Arc<Connection>, req: RemotingCommand) -> Reply {
    let resp = match req.code {
        rc::LOCK_BATCH_MQ => lock_batch(b, &req),
        rc::UNLOCK_BATCH_MQ => unlock_batch(b, &req),
        _ => return not_supported(&req),
    };
    if req.is_oneway() {
        Reply::None
    } else {
        resp.into()
    }
}

fn lock_batch(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    let body = match req.body().map(|raw| LockBatchRequestBody::decode(raw)) {
        Some(Ok(body)) => body,
        Some(Err(e)) => return bad_body(req, e.to_string()),
        None => return bad_body(req, "LockBatchRequestBody is missing".into()),
    };
    let locked =
        b.rebalance_lock
            .try_lock_batch(&body.consumer_group, &body.mq_set, &body.client_id);
    let out = LockBatchResponseBody {
        lock_ok_mq_set: locked,
    };
    RemotingCommand::success_to(req).with_body(out.encode())
}

fn unlock_batch(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    let body = match req.body().map(|raw| UnlockBatchRequestBody::decode(raw)) {
        Some(Ok(body)) => body,
        Some(Err(e)) => return bad_body(req, e.to_string()),
        None => return bad_body(req, "UnlockBatchRequestBody is missing".into()),
    };
    b.rebalance_lock
        .unlock_batch(&body.consumer_group, &body.mq_set, &body.client_id);
    RemotingCommand::success_to(req)
}

fn bad_body(req: &RemotingCommand, why: String) -> RemotingCommand {
    RemotingCommand::error_to(req, response::SYSTEM_ERROR, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqs(ids: &[i32]) -> BTreeSet<MessageQueue> {
        ids.iter()
            .map(|&i| MessageQueue::new("T", "b", i))
            .collect()
    }

    #[test]
    fn exclusive_renewed_and_expiring() {
        let m = RebalanceLockManager::new();
        let t0 = 1_000_000;
        assert_eq!(
            m.try_lock_batch_at("G", &mqs(&[0, 1]), "c1", t0),
            mqs(&[0, 1])
        );
        // Another client gets only the free queue.
        assert_eq!(
            m.try_lock_batch_at("G", &mqs(&[1, 2]), "c2", t0 + 10),
            mqs(&[2])
        );
        // Another group is independent.
        assert_eq!(
            m.try_lock_batch_at("H", &mqs(&[1]), "c2", t0 + 10),
            mqs(&[1])
        );
        // c1 renews queue 0 at +50 s; queue 1 is not renewed.
        assert_eq!(
            m.try_lock_batch_at("G", &mqs(&[0]), "c1", t0 + 50_000),
            mqs(&[0])
        );
        // At +60.001 s queue 1 has expired, queue 0 has not.
        let later = t0 + DEFAULT_LOCK_MAX_LIVE_TIME_MS + 1;
        assert_eq!(
            m.try_lock_batch_at("G", &mqs(&[0, 1]), "c2", later),
            mqs(&[1])
        );
        assert_eq!(
            m.holder_at("G", &MessageQueue::new("T", "b", 0), later),
            Some("c1".into())
        );
        assert_eq!(
            m.holder_at("G", &MessageQueue::new("T", "b", 1), later),
            Some("c2".into())
        );
        // Exactly at the limit a lock still holds.
        assert_eq!(
            m.try_lock_batch_at("G", &mqs(&[0]), "c2", t0 + 50_000 + 60_000),
            mqs(&[])
        );
        // An expired lock of one's own is simply taken again.
        let much_later = t0 + 500_000;
        assert_eq!(
            m.try_lock_batch_at("G", &mqs(&[0]), "c1", much_later),
            mqs(&[0])
        );
        assert!(m
            .try_lock_batch_at("G", &BTreeSet::new(), "c1", much_later)
            .is_empty());
    }

    #[test]
    fn unlock_only_own_entries() {
        let m = RebalanceLockManager::new();
        let t0 = 5_000;
        m.try_lock_batch_at("G", &mqs(&[0]), "c1", t0);
        m.try_lock_batch_at("G", &mqs(&[1]), "c2", t0);
        m.unlock_batch("G", &mqs(&[0, 1, 7]), "c1");
        assert_eq!(m.holder_at("G", &MessageQueue::new("T", "b", 0), t0), None);
        assert_eq!(
            m.holder_at("G", &MessageQueue::new("T", "b", 1), t0),
            Some("c2".into())
        );
        assert_eq!(
            m.try_lock_batch_at("G", &mqs(&[0, 1]), "c3", t0 + 1),
            mqs(&[0])
        );
        m.unlock_batch("nobody", &mqs(&[0]), "c1");
        m.unlock_batch("G", &mqs(&[0]), "c3");
        m.unlock_batch("G", &mqs(&[1]), "c2");
        assert!(m.lock_table().is_empty());
    }

    #[test]
    fn configurable_lifetime() {
        let m = RebalanceLockManager::with_max_live_time_ms(100);
        assert_eq!(m.try_lock_batch_at("G", &mqs(&[0]), "c1", 0), mqs(&[0]));
        assert!(m.try_lock_batch_at("G", &mqs(&[0]), "c2", 100).is_empty());
        assert_eq!(m.try_lock_batch_at("G", &mqs(&[0]), "c2", 101), mqs(&[0]));
        m.set_max_live_time_ms(10_000);
        assert!(m.try_lock_batch_at("G", &mqs(&[0]), "c1", 5_000).is_empty());
        assert!(m.is_lock_all_expired("other"));
    }
}
