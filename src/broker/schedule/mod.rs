//! Delivery of delayed messages (Java's `ScheduleMessageService`, 4.9.8), one actor per delay
//! level.
//!
//! The store already parks a message sent with `DELAY` = level (1..=max) in
//! `SCHEDULE_TOPIC_XXXX`, queue `level − 1`, with its real topic and queue in `REAL_TOPIC` /
//! `REAL_QID`; the consume-queue tags code of the entry is its delivery time (store time + the
//! level's delay from `messageDelayLevel`). This module puts each such message back into its
//! real queue when it is due.
//!
//! **Design.** [`start`] spawns one async task per level ([`level_actor`]). A level's queue is
//! FIFO in store time and every entry has the same delay, so its entries fall due in queue
//! order: the actor only ever looks at the head. It delivers every due head, then sleeps on a
//! single timer until the next head is due; a level with nothing pending has no timer at all
//! and sleeps until the store's arrival listener (called by the dispatcher for every new
//! consume-queue entry) wakes it. No task polls. The message put back is rebuilt as Java
//! rebuilds it ([`timeup`]: its stored properties keep `DELAY`, as 4.9.8's do, and the put
//! skips the store's delay rewrite). A further task persists `config/delayOffset.json` every
//! `flushDelayOffsetInterval` (first after 10 s, as Java) when the offsets changed, on the
//! blocking pool.
//!
//! **Progress.** `DelayOffsetManager` (`config/delayOffset.json`, level → next consume-queue
//! offset) is the progress; an actor advances its level's offset only after the store has
//! taken the rebuilt message, and a failed put is retried (back-off 100 ms … 10 s) without
//! moving on. At start every recorded offset is clamped into its queue's [min, max] (Java's
//! `correctDelayOffset`): below min, the entries were deleted with expired files; above max,
//! the queue was truncated by recovery.
//!
//! **Delivery semantics.**
//! * Order: within a level, messages are delivered in the order they were stored. Levels are
//!   independent of each other.
//! * Normal case — exactly once: a clean shutdown stops the actors (an in-flight put
//!   completes and is recorded) and then persists the offsets, so after a restart every
//!   level continues right after the last delivered message.
//! * After a crash — at least once: the persisted offsets may lag behind what was delivered
//!   (by up to `flushDelayOffsetInterval`), and the messages between the persisted offset and
//!   the crash are delivered again after the restart. A delivered copy is stored with the
//!   durability of the store's flush mode, like any other message.
//! * Never lost: an entry is skipped only when the store cannot serve or take it at all — its
//!   CommitLog file was deleted as expired, the record is malformed (no or bad
//!   `REAL_TOPIC` / `REAL_QID`, or a real topic that is the schedule or transaction half topic;
//!   Java drops these too), or the store refuses the message as illegal (e.g. larger than
//!   `maxMessageSize` after a configuration change). Each such skip is logged as an error.
//! * Due time: a message is delivered when its delivery time (wall clock) has come; a delivery
//!   time further away than the level's delay (the clock went back) is treated as due now,
//!   as in Java. Timer sleeps are capped at 30 s so a forward clock step is noticed.
//!
//! Only a broker whose role is not SLAVE delivers (a slave's schedule queues are replicated
//! from its master, and so is `delayOffset.json`).
//!
//! Not here: Java's optional asynchronous delivery (`enableScheduleAsyncDeliver`). 5.x timer
//! messages (`TIMER_DELIVER_MS` / `TIMER_DELAY_SEC` / `TIMER_DELAY_MS`) are `super::timer`'s.

pub mod level_actor;
pub mod timeup;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use log::{error, info, warn};

use self::level_actor::{LevelActor, LevelState};
use super::BrokerInner;
use crate::rt;
use crate::store::commit_log::SCHEDULE_TOPIC;
use crate::store::config_files::ConfigManager;
use crate::store::dispatcher::Arrival;
use crate::store::store_config::BrokerRole;

/// First persist of the offsets after start (Java: 10 s).
const FIRST_PERSIST_DELAY: Duration = Duration::from_secs(10);
/// How long [`shutdown`] waits for the actors to finish their current step.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// One level's progress, as [`status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelStatus {
    /// Delay level (1-based).
    pub level: i32,
    /// Its queue in `SCHEDULE_TOPIC_XXXX` (`level − 1`).
    pub queue_id: i32,
    /// Delay of the level, ms.
    pub delay_ms: i64,
    /// Next consume-queue offset to deliver.
    pub offset: i64,
    /// The queue's max offset (one past its last entry).
    pub max_offset: i64,
    /// Delivery time (ms since the epoch) of the head the actor waits for, if it knows one.
    pub next_due: Option<i64>,
    /// Messages delivered since start.
    pub delivered: u64,
}

/// The running service of one broker.
struct ScheduleService {
    broker: Weak<BrokerInner>,
    levels: Vec<Arc<LevelState>>,
    delays: Vec<i64>,
    stop: Arc<AtomicBool>,
    /// Closed when every actor has ended (each holds a sender).
    alive: Receiver<()>,
    persist_wake: Sender<()>,
}

impl ScheduleService {
    fn signal_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for l in &self.levels {
            l.wake();
        }
        let _ = self.persist_wake.try_send(());
    }
}

/// Services by broker. A registry (rather than a field of `BrokerInner`) keeps the broker's
/// own code down to one call in `start` and one in `shutdown`.
static SERVICES: Mutex<Vec<Arc<ScheduleService>>> = Mutex::new(Vec::new());

fn services() -> MutexGuard<'static, Vec<Arc<ScheduleService>>> {
    SERVICES.lock().unwrap_or_else(|p| p.into_inner())
}

fn find(b: &Arc<BrokerInner>) -> Option<Arc<ScheduleService>> {
    let me = Arc::downgrade(b);
    services()
        .iter()
        .find(|s| s.broker.ptr_eq(&me))
        .map(Arc::clone)
}

/// Start delivering (no-op on a slave, or when already running for this broker).
pub fn start(b: &Arc<BrokerInner>) {
    if b.store.config().broker_role() == BrokerRole::Slave {
        info!("slave broker: delayed messages are delivered by the master");
        return;
    }
    let delays = b.store.delay_levels().to_vec();
    if delays.is_empty() {
        return;
    }
    let mut registry = services();
    // Forget brokers that were dropped without a shutdown (their actors end when woken).
    registry.retain(|s| {
        let gone = s.broker.strong_count() == 0;
        if gone {
            s.signal_stop();
        }
        !gone
    });
    let me = Arc::downgrade(b);
    if registry.iter().any(|s| s.broker.ptr_eq(&me)) {
        return;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let (alive_tx, alive_rx) = async_channel::bounded::<()>(1);
    let mut levels = Vec::with_capacity(delays.len());
    let mut actors = Vec::with_capacity(delays.len());
    for (i, delay) in delays.iter().enumerate() {
        let Ok(level) = i32::try_from(i + 1) else {
            break;
        };
        let offset = start_offset(b, level);
        let (state, wake_rx) = LevelState::new(level, offset);
        levels.push(Arc::clone(&state));
        actors.push(LevelActor::new(
            state,
            wake_rx,
            Weak::clone(&me),
            Arc::clone(&stop),
            alive_tx.clone(),
            *delay,
        ));
    }
    drop(alive_tx);
    let (persist_wake, persist_rx) = async_channel::bounded(1);
    let service = Arc::new(ScheduleService {
        broker: Weak::clone(&me),
        levels,
        delays: delays.clone(),
        stop: Arc::clone(&stop),
        alive: alive_rx,
        persist_wake,
    });
    registry.push(Arc::clone(&service));
    drop(registry);

    let listener_levels = service.levels.clone();
    let listener_stop = Arc::clone(&stop);
    b.store
        .add_arrival_listener(Arc::new(move |a: &Arrival<'_>| {
            if a.topic != SCHEDULE_TOPIC || listener_stop.load(Ordering::Relaxed) {
                return;
            }
            if let Some(l) = usize::try_from(a.queue_id)
                .ok()
                .and_then(|i| listener_levels.get(i))
            {
                l.on_arrival(a.tags_code);
            }
        }));
    for a in actors {
        rt::spawn(a.run());
    }
    let interval = Duration::from_millis(b.store.config().flush_delay_offset_interval.max(100));
    rt::spawn(persist_loop(me, stop, persist_rx, interval));
    info!("delivering delayed messages: {} levels", delays.len());
}

/// The level's recorded offset clamped into its queue's bounds (0 when none is recorded). A
/// recorded offset that had to move is corrected in the table.
fn start_offset(b: &BrokerInner, level: i32) -> i64 {
    let queue_id = level - 1;
    let min = b.store.min_offset_in_queue(SCHEDULE_TOPIC, queue_id);
    let max = b.store.max_offset_in_queue(SCHEDULE_TOPIC, queue_id);
    let recorded = b.configs.delay_offsets.get(level);
    let wanted = recorded.unwrap_or(0);
    let clamped = if wanted > max {
        max
    } else if wanted < min {
        min
    } else {
        wanted
    };
    if let Some(r) = recorded {
        if r != clamped {
            warn!("delay level {level}: offset {r} outside the queue's [{min}, {max}], corrected to {clamped}");
            b.configs.delay_offsets.set(level, clamped);
        }
    }
    clamped
}

/// Stop the actors (each finishes its current step), then persist `delayOffset.json`. Call
/// while the store is still open. No-op when the service is not running for this broker.
pub async fn shutdown(b: &Arc<BrokerInner>) {
    let me = Arc::downgrade(b);
    let service = {
        let mut registry = services();
        let Some(i) = registry.iter().position(|s| s.broker.ptr_eq(&me)) else {
            return;
        };
        registry.swap_remove(i)
    };
    service.signal_stop();
    // `recv` fails once every actor has dropped its sender, i.e. has ended.
    if rt::timeout(STOP_TIMEOUT, service.alive.recv())
        .await
        .is_none()
    {
        warn!("delay level actors did not stop within {STOP_TIMEOUT:?}");
    }
    let b2 = Arc::clone(b);
    if let Err(e) = rt::unblock(move || b2.configs.delay_offsets.persist()).await {
        error!("persisting delay offsets at shutdown: {e}");
    }
}

/// Progress of every level (empty when the service is not running for this broker).
pub fn status(b: &Arc<BrokerInner>) -> Vec<LevelStatus> {
    let Some(s) = find(b) else {
        return Vec::new();
    };
    s.levels
        .iter()
        .zip(&s.delays)
        .map(|(l, delay)| LevelStatus {
            level: l.level,
            queue_id: l.queue_id,
            delay_ms: *delay,
            offset: l.offset(),
            max_offset: b.store.max_offset_in_queue(SCHEDULE_TOPIC, l.queue_id),
            next_due: l.next_due(),
            delivered: l.delivered(),
        })
        .collect()
}

/// Persist `delayOffset.json` every `interval` (first after 10 s) when it changed.
async fn persist_loop(
    broker: Weak<BrokerInner>,
    stop: Arc<AtomicBool>,
    wake: Receiver<()>,
    interval: Duration,
) {
    let mut delay = FIRST_PERSIST_DELAY;
    let mut persisted = None;
    loop {
        if let Some(Err(_)) = rt::timeout(delay, wake.recv()).await {
            return; // the service is gone
        }
        delay = interval;
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(b) = broker.upgrade() else {
            return;
        };
        if b.is_shutting_down() {
            return;
        }
        let version = b.configs.delay_offsets.data_version();
        if persisted.as_ref() == Some(&version) {
            continue;
        }
        match rt::unblock(move || b.configs.delay_offsets.persist()).await {
            Ok(()) => persisted = Some(version),
            Err(e) => warn!("persisting delay offsets: {e}"),
        }
    }
}
