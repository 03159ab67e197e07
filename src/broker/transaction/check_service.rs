//! The transaction check-back (Java `TransactionalMessageCheckService` +
//! `TransactionalMessageServiceImpl.check` + `DefaultTransactionalMessageCheckListener`,
//! 4.9.8; broker-behaviour.md §9.3).
//!
//! A task wakes every `transactionCheckInterval` (first after one interval) and runs a *round*
//! on the blocking pool, so neither the executor nor the send path waits for it. Rounds never
//! overlap ([`check_now`] joins the same queue) and are skipped on a slave. `transactionTimeOut`
//! and `transactionCheckMax` are read at every round from the broker's effective config
//! (UPDATE_BROKER_CONFIG applies to the next round, as in Java).
//!
//! A round, per queue of `RMQ_SYS_TRANS_HALF_TOPIC` (whose config it creates, 1 queue R|W, if
//! missing — Java does the same at its first check):
//!
//! 1. Start at the progress of group `CID_RMQ_SYS_TRANS` on the half queue and on the op
//!    queue of the same id (no progress → the queue's min offset).
//! 2. Read op messages (32 at a time) from the op progress: ops for half offsets below the
//!    half progress are done; the others are remembered (half offset → op offset).
//! 3. Walk the half queue. A half message with an op is done. Otherwise:
//!    * `TRANSACTION_CHECK_TIMES` ≥ `transactionCheckMax` (else it is raised by one, starting
//!      at 1), or born longer than `fileReservedTime` hours ago → a copy goes to
//!      `TRANS_CHECK_MAX_TIME_TOPIC` (1 queue, R|W, created on first use) and it is done;
//!    * stored after the round began → stop (the copies this round appends end the walk);
//!    * younger than `transactionTimeOut` → stop, unless it has `CHECK_IMMUNITY_TIME_IN_SECONDS`:
//!      then the immunity (seconds × 1000; −1 = the timeout) applies, and a still-immune message
//!      is done if the op of its original offset (`TRAN_PREPARED_QUEUE_OFFSET`) was seen,
//!      else a copy carrying that property is appended and it is done;
//!    * when every op message has been read and it is older than the immunity (or born in the
//!      future): a fresh copy is appended to the half queue (new offsets, with the raised
//!      `TRANSACTION_CHECK_TIMES`) and CHECK_TRANSACTION_STATE goes oneway to a live producer
//!      of its `PGROUP` (none online: only logged; the copy is checked again next round);
//!      while op messages remain unread, more are read first.
//! 4. The half progress moves past what was handled; the op progress over the contiguous run
//!    of done op messages. A queue gets at most 60 s per round.
//!
//! The CHECK_TRANSACTION_STATE header: `tranStateTableOffset` / `commitLogOffset` /
//! `offsetMsgId` of the new copy, `msgId` = `transactionId` = `UNIQ_KEY`. Its body is the
//! record of the half message with topic / queue id set to `REAL_TOPIC` / `REAL_QID`, the new
//! copy's offsets, the original store timestamp, and the properties Java's map holds by then
//! (the raised check count, `WAIT=false`).
//!
//! Records are written as Java writes them: copies keep body, sysFlag, born timestamp and
//! host and store host, with flag and reconsume times 0 (Java's `renewHalfMessageInner` does
//! not copy them) and the properties re-serialized in Java `HashMap` order; the
//! `TRANS_CHECK_MAX_TIME_TOPIC` copy keeps flag and reconsume times. None waits for a flush.
//!
//! Differences from Java, all where Java would spin or lose track: a failed append ends the
//! queue's walk (Java retries the same offset until its 60 s limit); a message that needs
//! no check yet after every op was read ends the walk (Java re-reads the op queue until the
//! limit); two ops for one half offset both count as done (Java keeps only the last, and its
//! op progress never passes the other).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use apogee_codec::codes::request as rc;
use apogee_codec::header::transaction::CheckTransactionStateRequestHeader;
use apogee_codec::message::{keys, MessageExt};
use apogee_codec::RemotingCommand;
use bytes::Bytes;
use log::{debug, error, info, warn};

use super::op_queue::{fill_remove_map, OpState};
use super::{
    distinct_len, java_map_string, java_parse, parse_long_or_minus_one, pull, PullStatus,
    TRANS_CHECK_GROUP,
};
use crate::broker::client_manager::now_ms;
use crate::broker::{admin, registration, BrokerInner};
use crate::remoting::Connection;
use crate::rt;
use crate::store::config_files::topics::{
    perm, TRANS_CHECK_MAX_TIME_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC,
};
use crate::store::message_inner::MessageInner;
use crate::store::results::PutMessageStatus;
use crate::store::store_config::BrokerRole;

/// Longest walk of one half queue per round (Java `MAX_PROCESS_TIME_LIMIT`).
pub const MAX_PROCESS_TIME_MS: i64 = 60_000;
/// Half-queue reads that may come back empty before the walk stops (Java allows one retry).
const MAX_RETRY_WHEN_HALF_NULL: u32 = 1;
/// Shortest interval accepted (0 would spin).
const MIN_INTERVAL_MS: u64 = 10;
/// How long [`stop`] waits for a round in progress.
const STOP_WAIT: Duration = Duration::from_secs(10);
/// Bound on queueing one CHECK_TRANSACTION_STATE on a producer connection.
const SEND_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckRound {
    /// Half messages re-appended for a check (whether or not a producer was online).
    pub checked: usize,
    /// CHECK_TRANSACTION_STATE requests handed to a producer connection.
    pub sent: usize,
    /// Half messages moved to `TRANS_CHECK_MAX_TIME_TOPIC`.
    pub discarded: usize,
    /// Half messages found resolved by an op message.
    pub resolved: usize,
    /// Immune half messages copied back with `TRAN_PREPARED_QUEUE_OFFSET`.
    pub immune: usize,
}

/// Per-broker state: rounds hold the lock for their whole run.
struct Service {
    round: futures::lock::Mutex<()>,
}

type Registry = Vec<(Weak<BrokerInner>, Arc<Service>)>;

/// `BrokerInner` has no slot for this state, so it is kept here, keyed by the broker.
static SERVICES: Mutex<Registry> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Registry> {
    SERVICES.lock().unwrap_or_else(|p| p.into_inner())
}

fn find(reg: &Registry, b: &Arc<BrokerInner>) -> Option<Arc<Service>> {
    let ptr = Arc::as_ptr(b);
    reg.iter()
        .find(|(w, _)| std::ptr::eq(w.as_ptr(), ptr) && w.strong_count() > 0)
        .map(|(_, s)| Arc::clone(s))
}

fn service(b: &Arc<BrokerInner>) -> Arc<Service> {
    let mut reg = registry();
    if let Some(s) = find(&reg, b) {
        return s;
    }
    reg.retain(|(w, _)| w.strong_count() > 0);
    let s = Arc::new(Service {
        round: futures::lock::Mutex::new(()),
    });
    reg.push((Arc::downgrade(b), Arc::clone(&s)));
    s
}

/// Start the periodic check (at broker start). The task ends when the broker shuts down or
/// is dropped.
pub fn start(b: &Arc<BrokerInner>) {
    let svc = service(b);
    let weak = Arc::downgrade(b);
    let interval = Duration::from_millis(b.config.transaction_check_interval.max(MIN_INTERVAL_MS));
    rt::spawn(async move {
        loop {
            rt::sleep(interval).await;
            let Some(b) = weak.upgrade() else { return };
            if b.is_shutting_down() {
                return;
            }
            let r = run(&b, &svc).await;
            if r != CheckRound::default() {
                debug!("transaction check round: {r:?}");
            }
        }
    });
}

/// Run a round now (after any round in progress); tools and tests.
pub async fn check_now(b: &Arc<BrokerInner>) -> CheckRound {
    let svc = service(b);
    run(b, &svc).await
}

/// Wait (bounded) for a round in progress to finish; called by the broker's shutdown before it
/// persists the consumer offsets, so that the progress of the last round is kept.
pub async fn stop(b: &Arc<BrokerInner>) {
    let svc = find(&registry(), b);
    if let Some(svc) = svc {
        if rt::timeout(STOP_WAIT, svc.round.lock()).await.is_none() {
            warn!("a transaction check round is still running at shutdown");
        }
    }
    let ptr = Arc::as_ptr(b);
    registry().retain(|(w, _)| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), ptr));
}

async fn run(b: &Arc<BrokerInner>, svc: &Service) -> CheckRound {
    let _round = svc.round.lock().await;
    if b.is_shutting_down() || b.store.config().broker_role() == BrokerRole::Slave {
        return CheckRound::default();
    }
    let cfg = admin::admin_state(b).broker_config();
    let timeout = i64::try_from(cfg.transaction_time_out).unwrap_or(i64::MAX);
    let check_max = cfg.transaction_check_max;
    let b2 = Arc::clone(b);
    let begin = now_ms();
    let r = rt::unblock(move || check(&b2, timeout, check_max)).await;
    debug!(
        "transaction check (timeout {timeout} ms, max {check_max} checks) took {} ms",
        now_ms() - begin
    );
    r
}

/// One round over every half queue.
fn check(b: &Arc<BrokerInner>, timeout: i64, check_max: i32) -> CheckRound {
    let mut stats = CheckRound::default();
    let (tc, created) = b.configs.topics.create_topic_in_send_back_detailed(
        TRANS_HALF_TOPIC,
        1,
        perm::READ | perm::WRITE,
        0,
    );
    if created {
        registration::register_soon(b);
    }
    for queue_id in 0..tc.read_queue_nums.max(0) {
        if b.is_shutting_down() {
            break;
        }
        check_queue(b, queue_id, timeout, check_max, &mut stats);
    }
    stats
}

/// The progress of `CID_RMQ_SYS_TRANS` on a queue; none (or −1) → the queue's min offset.
fn progress(b: &BrokerInner, topic: &str, queue_id: i32) -> i64 {
    match b
        .configs
        .consumer_offsets
        .query(TRANS_CHECK_GROUP, topic, queue_id)
    {
        Some(o) if o != -1 => o,
        _ => b.store.min_offset_in_queue(topic, queue_id),
    }
}

fn check_queue(
    b: &Arc<BrokerInner>,
    queue_id: i32,
    timeout: i64,
    check_max: i32,
    stats: &mut CheckRound,
) {
    let start = now_ms();
    let half_offset = progress(b, TRANS_HALF_TOPIC, queue_id);
    let op_offset = progress(b, TRANS_OP_HALF_TOPIC, queue_id);
    if half_offset < 0 || op_offset < 0 {
        error!(
            "half queue {queue_id}: illegal progress (half {half_offset}, op {op_offset}); \
             skipped"
        );
        return;
    }
    let mut ops = OpState::default();
    let Some(mut batch) = fill_remove_map(b, queue_id, op_offset, half_offset, &mut ops) else {
        return;
    };
    let mut empty_reads = 0u32;
    let mut new_offset = half_offset;
    let mut i = half_offset;
    loop {
        if b.is_shutting_down() {
            break;
        }
        if now_ms() - start > MAX_PROCESS_TIME_MS {
            info!("half queue {queue_id}: check reached its time limit at offset {i}");
            break;
        }
        if ops.take(i) {
            stats.resolved += 1;
            new_offset = i.saturating_add(1);
            i = new_offset;
            continue;
        }
        let Some(got) = pull(&b.store, TRANS_HALF_TOPIC, queue_id, i, 1) else {
            break;
        };
        let Some(mut msg) = got.messages.into_iter().next() else {
            empty_reads += 1;
            if empty_reads > MAX_RETRY_WHEN_HALF_NULL || got.status == PullStatus::NoNewMsg {
                break;
            }
            info!(
                "half queue {queue_id}: nothing readable at {i} ({:?}); resuming at {}",
                got.status, got.next_begin_offset
            );
            if got.next_begin_offset <= i {
                break;
            }
            i = got.next_begin_offset;
            new_offset = i;
            continue;
        };

        if need_discard(&mut msg, check_max) || need_skip(b, &msg) {
            if !discard(b, &msg) {
                break;
            }
            stats.discarded += 1;
            new_offset = i.saturating_add(1);
            i = new_offset;
            continue;
        }
        if msg.store_timestamp >= start {
            // Appended during this round (or later): next round.
            break;
        }
        // Born timestamps come from clients: any value.
        let age = now_ms().saturating_sub(msg.born_timestamp);
        let mut immunity = timeout;
        match msg
            .property(keys::CHECK_IMMUNITY_TIME_IN_SECONDS)
            .map(str::to_owned)
        {
            Some(s) => {
                immunity = immunity_ms(&s, timeout);
                // Still immune: settled for now if its original's op was seen or a copy went
                // back; otherwise Java goes on to the check decision below.
                if age < immunity && settle_immune(b, &mut ops, &mut msg) {
                    stats.immune += 1;
                    new_offset = i.saturating_add(1);
                    i = new_offset;
                    continue;
                }
            }
            None => {
                if (0..immunity).contains(&age) {
                    // Too young; so are (roughly) all after it.
                    break;
                }
            }
        }
        let last_op = batch.entries.last();
        let need_check = (last_op.is_none() && age > immunity)
            || last_op.is_some_and(|op| op.born_timestamp.saturating_sub(start) > timeout)
            || age <= -1;
        if need_check {
            let Some(offset_msg_id) = put_back(b, &mut msg) else {
                break;
            };
            stats.checked += 1;
            if send_check(b, msg, offset_msg_id) {
                stats.sent += 1;
            }
        } else {
            if batch.entries.is_empty() {
                // Every op message has been read and this one is not due: a later round.
                break;
            }
            // Its op may be further on: read more op messages and look again.
            match fill_remove_map(b, queue_id, batch.next_begin_offset, half_offset, &mut ops) {
                Some(next) => batch = next,
                None => break,
            }
            continue;
        }
        new_offset = i.saturating_add(1);
        i = new_offset;
    }

    let offsets = &b.configs.consumer_offsets;
    if new_offset != half_offset {
        offsets.commit(TRANS_CHECK_GROUP, TRANS_HALF_TOPIC, queue_id, new_offset);
    }
    let new_op_offset = ops.new_op_offset(op_offset);
    if new_op_offset != op_offset {
        offsets.commit(
            TRANS_CHECK_GROUP,
            TRANS_OP_HALF_TOPIC,
            queue_id,
            new_op_offset,
        );
    }
    debug!(
        "half queue {queue_id}: progress {half_offset} → {new_offset}, op progress {op_offset} → \
         {new_op_offset}"
    );
}

/// Java `needDiscard`: checked `transactionCheckMax` times already; otherwise the count in
/// the message is raised (1 for the first check; an unreadable count counts as −1).
fn need_discard(msg: &mut MessageExt, check_max: i32) -> bool {
    let mut times = 1;
    if let Some(s) = msg.property(keys::TRANSACTION_CHECK_TIMES) {
        times = java_parse::<i32>(s).unwrap_or(-1);
        if times >= check_max {
            return true;
        }
        times += 1;
    }
    msg.properties
        .insert(keys::TRANSACTION_CHECK_TIMES, times.to_string());
    false
}

/// Java `needSkip`: born longer ago than the CommitLog keeps files.
fn need_skip(b: &BrokerInner, msg: &MessageExt) -> bool {
    let reserved_ms = b
        .store
        .config()
        .file_reserved_time
        .saturating_mul(3_600_000);
    now_ms().saturating_sub(msg.born_timestamp) > reserved_ms
}

/// Java `getImmunityTime`: seconds → ms; −1 (or no number) → the timeout.
fn immunity_ms(s: &str, timeout: i64) -> i64 {
    match parse_long_or_minus_one(s) {
        -1 => timeout,
        secs => secs.saturating_mul(1000),
    }
}

/// A copy of a half message for the half queue (Java `renewHalfMessageInner`): flag and
/// reconsume times are not carried over.
fn renewed(msg: &MessageExt) -> MessageInner {
    MessageInner {
        topic: msg.topic.clone(),
        queue_id: msg.queue_id,
        flag: 0,
        sys_flag: msg.sys_flag,
        born_timestamp: msg.born_timestamp,
        born_host: msg.born_host,
        store_host: msg.store_host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: msg.body.clone(),
        properties: java_map_string(&msg.properties, distinct_len(&msg.properties)),
    }
}

/// Append a fresh copy of `msg` for a check; `msg` then names the copy (queue and CommitLog
/// offsets) and holds `WAIT=false` as Java's map does. Returns the copy's offset msgId.
fn put_back(b: &BrokerInner, msg: &mut MessageExt) -> Option<String> {
    let r = b.store.put_message_blocking(renewed(msg), false);
    let append = match (r.status, r.append) {
        (PutMessageStatus::PutOk, Some(a)) => a,
        (status, _) => {
            error!(
                "half message {} (queue offset {}) not re-appended for its check: {status:?} {:?}",
                msg.uniq_key().unwrap_or("?"),
                msg.queue_offset,
                r.remark
            );
            return None;
        }
    };
    msg.queue_offset = append.logics_offset;
    msg.physical_offset = append.wrote_offset;
    msg.properties.insert(keys::WAIT, "false");
    Some(append.msg_id)
}

/// Java `checkPrepareQueueOffset` for a message still immune: true when it is settled for this
/// round (its original's op was seen, or a copy carrying the original offset was appended).
fn settle_immune(b: &BrokerInner, ops: &mut OpState, msg: &mut MessageExt) -> bool {
    match msg.property(keys::TRAN_PREPARED_QUEUE_OFFSET) {
        None => put_immune_back(b, msg),
        Some(s) => match parse_long_or_minus_one(s) {
            -1 => false,
            original if ops.take(original) => true,
            _ => put_immune_back(b, msg),
        },
    }
}

/// Java `putImmunityMsgBackToHalfQueue`: a copy with `TRAN_PREPARED_QUEUE_OFFSET` (kept, or
/// this message's queue offset) and, as Java's shared map has it by then, `WAIT=false`.
fn put_immune_back(b: &BrokerInner, msg: &mut MessageExt) -> bool {
    msg.properties.insert(keys::WAIT, "false");
    if msg.property(keys::TRAN_PREPARED_QUEUE_OFFSET).is_none() {
        let original = msg.queue_offset.to_string();
        msg.properties
            .insert(keys::TRAN_PREPARED_QUEUE_OFFSET, original);
    }
    let r = b.store.put_message_blocking(renewed(msg), false);
    if r.status != PutMessageStatus::PutOk {
        error!(
            "immune half message {} not copied back: {:?} {:?}",
            msg.uniq_key().unwrap_or("?"),
            r.status,
            r.remark
        );
        return false;
    }
    true
}

/// Java `resolveDiscardMsg`: a copy in `TRANS_CHECK_MAX_TIME_TOPIC`. False when the store
/// refused it (the message is then left for the next round).
fn discard(b: &Arc<BrokerInner>, msg: &MessageExt) -> bool {
    warn!(
        "half message {} (real topic {:?}, queue offset {}) checked too often or too old; moved \
         to {TRANS_CHECK_MAX_TIME_TOPIC}",
        msg.uniq_key().unwrap_or("?"),
        msg.property(keys::REAL_TOPIC),
        msg.queue_offset
    );
    let (tc, created) = b.configs.topics.create_topic_in_send_back_detailed(
        TRANS_CHECK_MAX_TIME_TOPIC,
        1,
        perm::READ | perm::WRITE,
        0,
    );
    if created {
        registration::register_soon(b);
    }
    let inner = MessageInner {
        topic: tc.topic_name,
        // Java: a random queue of TCMT_QUEUE_NUMS (1).
        queue_id: 0,
        flag: msg.flag,
        sys_flag: msg.sys_flag,
        born_timestamp: msg.born_timestamp,
        born_host: msg.born_host,
        store_host: msg.store_host,
        reconsume_times: msg.reconsume_times,
        prepared_transaction_offset: 0,
        body: msg.body.clone(),
        properties: java_map_string(&msg.properties, distinct_len(&msg.properties)),
    };
    let r = b.store.put_message_blocking(inner, false);
    if !r.status.is_stored() {
        error!(
            "half message {} not moved to {TRANS_CHECK_MAX_TIME_TOPIC}: {:?} {:?}",
            msg.uniq_key().unwrap_or("?"),
            r.status,
            r.remark
        );
        return false;
    }
    true
}

/// A live connection of a producer group, rotating over the group's connections (Java
/// `ProducerManager.getAvailableChannel`).
fn producer_connection(b: &BrokerInner, group: &str) -> Option<Arc<Connection>> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let live: Vec<Arc<Connection>> = b
        .clients
        .producer_channels(group)
        .into_iter()
        .filter(|c| !c.conn.is_closed())
        .map(|c| c.conn)
        .collect();
    if live.is_empty() {
        return None;
    }
    let i = NEXT.fetch_add(1, Ordering::Relaxed) % live.len();
    live.into_iter().nth(i)
}

/// The CHECK_TRANSACTION_STATE request for `msg` (already naming its new copy), or why not.
pub fn check_request(msg: &MessageExt, offset_msg_id: String) -> Result<RemotingCommand, String> {
    let uniq = msg.uniq_key().map(str::to_owned);
    let header = CheckTransactionStateRequestHeader {
        rpc: Default::default(),
        tran_state_table_offset: msg.queue_offset,
        commit_log_offset: msg.physical_offset,
        msg_id: uniq.clone(),
        transaction_id: uniq,
        offset_msg_id: Some(offset_msg_id),
        topic: None,
    };
    let topic = msg
        .property(keys::REAL_TOPIC)
        .ok_or_else(|| "no REAL_TOPIC".to_owned())?;
    let queue_id = msg
        .property(keys::REAL_QID)
        .and_then(java_parse::<i32>)
        .ok_or_else(|| "no valid REAL_QID".to_owned())?;
    let mut restored = msg.clone();
    restored.topic = topic.to_owned();
    restored.queue_id = queue_id;
    let props = java_map_string(&msg.properties, distinct_len(&msg.properties));
    let body = restored
        .as_record(&props)
        .to_vec()
        .map_err(|e| format!("record not encodable: {e}"))?;
    Ok(RemotingCommand::request(rc::CHECK_TRANSACTION_STATE, 0)
        .with_header(&header)
        .with_body(Bytes::from(body)))
}

/// Java `sendCheckMessage`: CHECK_TRANSACTION_STATE, oneway, to a live producer of the
/// message's `PGROUP`. True when it was handed to a connection.
fn send_check(b: &BrokerInner, msg: MessageExt, offset_msg_id: String) -> bool {
    let cmd = match check_request(&msg, offset_msg_id) {
        Ok(c) => c,
        Err(why) => {
            error!(
                "check of half message {} not sent: {why}",
                msg.uniq_key().unwrap_or("?")
            );
            return false;
        }
    };
    let group = msg.property(keys::PGROUP).unwrap_or("");
    let Some(conn) = producer_connection(b, group) else {
        warn!(
            "transaction {} not checked: no producer of group {group:?} online",
            msg.uniq_key().unwrap_or("?")
        );
        return false;
    };
    let what = format!(
        "CHECK_TRANSACTION_STATE of {} to {}",
        msg.uniq_key().unwrap_or("?"),
        conn.peer()
    );
    rt::spawn(async move {
        if rt::timeout(SEND_CHECK_TIMEOUT, conn.oneway(cmd)).await != Some(true) {
            warn!("{what} not sent (connection closed or busy)");
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use apogee_codec::message::{decode_record, MessageProperties};
    use apogee_codec::CommandHeader;

    fn msg(props: &str) -> MessageExt {
        MessageExt {
            topic: TRANS_HALF_TOPIC.into(),
            queue_id: 0,
            flag: 3,
            queue_offset: 5,
            physical_offset: 700,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: "127.0.0.1:5000".parse().unwrap(),
            store_timestamp: 2,
            store_host: "127.0.0.1:10911".parse().unwrap(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body_crc: 9,
            body: Bytes::from_static(b"body"),
            properties: MessageProperties::parse_str(props),
        }
    }

    #[test]
    fn check_times_count_up_to_the_max() {
        let mut m = msg("A\u{1}1");
        assert!(!need_discard(&mut m, 2));
        assert_eq!(m.property("TRANSACTION_CHECK_TIMES"), Some("1"));
        assert!(!need_discard(&mut m, 2));
        assert_eq!(m.property("TRANSACTION_CHECK_TIMES"), Some("2"));
        assert!(need_discard(&mut m, 2));
        let mut bad = msg("TRANSACTION_CHECK_TIMES\u{1}x");
        assert!(!need_discard(&mut bad, 2));
        assert_eq!(bad.property("TRANSACTION_CHECK_TIMES"), Some("0"));
    }

    #[test]
    fn immunity() {
        assert_eq!(immunity_ms("-1", 6000), 6000);
        assert_eq!(immunity_ms("x", 6000), 6000);
        assert_eq!(immunity_ms("3", 6000), 3000);
        assert_eq!(immunity_ms("9223372036854775807", 1), i64::MAX);
    }

    #[test]
    fn renewed_copy_is_javas() {
        let m = msg("TAGS\u{1}t\u{2}REAL_TOPIC\u{1}T");
        let r = renewed(&m);
        assert_eq!(r.flag, 0);
        assert_eq!(r.topic, TRANS_HALF_TOPIC);
        assert_eq!(r.queue_id, 0);
        assert_eq!(&r.body[..], b"body");
    }

    #[test]
    fn check_request_restores_topic_and_queue() {
        let m = msg("REAL_TOPIC\u{1}T\u{2}REAL_QID\u{1}3\u{2}UNIQ_KEY\u{1}U1\u{2}PGROUP\u{1}pg");
        let cmd = check_request(&m, "OFFSETID".into()).unwrap();
        assert_eq!(cmd.code, rc::CHECK_TRANSACTION_STATE);
        let h = CheckTransactionStateRequestHeader::read_fields(cmd.ext_fields.as_ref().unwrap())
            .unwrap();
        assert_eq!(h.tran_state_table_offset, 5);
        assert_eq!(h.commit_log_offset, 700);
        assert_eq!(h.msg_id.as_deref(), Some("U1"));
        assert_eq!(h.transaction_id.as_deref(), Some("U1"));
        assert_eq!(h.offset_msg_id.as_deref(), Some("OFFSETID"));
        let (rec, n) = decode_record(&cmd.body).unwrap();
        assert_eq!(n, cmd.body.len());
        assert_eq!(rec.topic, b"T");
        assert_eq!(rec.queue_id, 3);
        assert_eq!(rec.flag, 3);
        assert_eq!(rec.body_crc, 9);
        assert_eq!(rec.queue_offset, 5);
        assert!(check_request(&msg("REAL_QID\u{1}1"), String::new()).is_err());
        assert!(check_request(&msg("REAL_TOPIC\u{1}T"), String::new()).is_err());
    }

    /// The Java broker's first check re-appended the four pending half messages of the fixture
    /// store with `TRANSACTION_CHECK_TIMES=1`: the same properties strings come out here.
    #[test]
    fn re_appended_copies_match_the_java_store() {
        use crate::store::test_support::json_lines;
        let lines = json_lines("manifest-clean.jsonl");
        let halves: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|m| m["type"] == "message" && m["topic"] == TRANS_HALF_TOPIC)
            .collect();
        let mut n = 0;
        for copy in halves
            .iter()
            .filter(|m| !m["properties"]["TRANSACTION_CHECK_TIMES"].is_null())
        {
            let original = halves
                .iter()
                .find(|m| {
                    m["uniqKey"] == copy["uniqKey"]
                        && m["properties"]["TRANSACTION_CHECK_TIMES"].is_null()
                })
                .unwrap();
            let mut m = msg(original["propertiesRaw"].as_str().unwrap());
            assert!(!need_discard(&mut m, 15));
            let r = renewed(&m);
            assert_eq!(
                String::from_utf8(r.properties).unwrap(),
                copy["propertiesRaw"].as_str().unwrap()
            );
            assert_eq!(copy["flag"], 0);
            n += 1;
        }
        assert_eq!(n, 4);
    }
}
