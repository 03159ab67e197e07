//! Timer messages (RocketMQ 5.x): delivery at an arbitrary time, set by the producer with
//! `TIMER_DELIVER_MS` (epoch ms), `TIMER_DELAY_SEC` or `TIMER_DELAY_MS`, up to
//! `timerMaxDelaySec` ahead (default 3 days).
//!
//! **Path of a message.**
//! 1. The send path asks [`hook::decide`]; a message to schedule is stored — durably, with the
//!    send's own flush rules, before the send is answered — in `rmq_sys_wheel_timer` queue 0
//!    with `TIMER_OUT_MS` (its delivery time), `REAL_TOPIC` and `REAL_QID` added (as 5.x
//!    does). From then on an acknowledged message cannot be lost: the CommitLog holds it.
//! 2. The timer actor ([`actor`], one dedicated thread per broker) takes the queue's entries
//!    into the timer log ([`timer_log`]: 40 bytes per message, naming its CommitLog record)
//!    and links each into the slot of its due time in the timing wheel ([`wheel`]: one slot
//!    per `timerPrecisionMs`, in a file; a bitmap of occupied slots in memory).
//! 3. When a slot's interval begins the actor moves its entries into a small in-memory heap
//!    and, at each entry's exact due time, stores the converted copy ([`convert`]) in its real
//!    topic and queue, then marks the entry delivered.
//!
//! **Files** (under `<storePathRootDir>/timer/`): `log/<20-digit position>` segments
//! (`mappedFileSizeTimerLog` bytes each; a segment whose entries are all delivered is
//! deleted), `wheel` (`2 × timerMaxDelaySec / timerPrecisionMs` slots of 24 bytes; sparse),
//! `checkpoint.json` ([`checkpoint`]). The wheel is rebuilt from the log's pending entries at
//! every start, so only the log and the checkpoint must survive a crash.
//!
//! **Memory** does not grow with the number of scheduled messages: bodies stay in the
//! CommitLog, the schedule in the log and wheel files; in memory are the occupied-slot bitmap,
//! one counter per log segment and the heap of messages whose slot has begun (at most
//! [`actor::HEAP_CAP`] entries of 40 bytes, plus one slot).
//!
//! **Delivery semantics.**
//! * Never early; on time within the actor's wake-up latency (a timer per due message, no
//!   polling).
//! * Normal case — exactly once: a clean shutdown stops the actor after its current delivery
//!   and writes the checkpoint after flushing the log (delivered flags included), so a restart
//!   delivers each pending message once and nothing delivered again.
//! * After a crash — at least once: the log is cut back to the last checkpoint (at most
//!   `timerFlushIntervalMs` old) and the queue read again from there; messages delivered
//!   since then whose delivered flag was not yet durable are delivered again. Nothing is lost:
//!   the originals stay in `rmq_sys_wheel_timer` until the log holds them durably. (A lost
//!   delivered copy after a power failure is the store's flush mode's matter, as for any
//!   message.)
//! * Dropped, with an error log: a record whose CommitLog file expired before it was due, a
//!   record without a valid `REAL_TOPIC` / `REAL_QID` / `TIMER_OUT_MS`, a copy the store
//!   refuses as illegal.
//!
//! Only a master delivers (a slave's `rmq_sys_wheel_timer` is replicated and delivered by its
//! master); with `timerWheelEnable=false` nothing runs and timer messages are refused.

pub mod actor;
pub mod checkpoint;
pub mod convert;
pub mod hook;
pub mod timer_log;
pub mod wheel;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use log::{error, info, warn};

use self::actor::{Shared, TimerActor, TimerSettings};
use self::hook::TIMER_TOPIC;
use super::BrokerInner;
use crate::rt;
use crate::store::dispatcher::Arrival;
use crate::store::store_config::{BrokerRole, MessageStoreConfig};

/// How long [`shutdown`] waits for the actor to finish.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The timer's progress, as [`status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerStatus {
    /// Messages in the timer log not yet delivered.
    pub pending: u64,
    /// Messages delivered since start.
    pub delivered: u64,
    /// Next `rmq_sys_wheel_timer` offset to take in.
    pub enqueue_offset: i64,
    /// Due time of the next message (or start of the next occupied slot), if any.
    pub next_due: Option<i64>,
}

struct TimerService {
    broker: Weak<BrokerInner>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl TimerService {
    fn signal_stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake();
    }
}

static SERVICES: Mutex<Vec<Arc<TimerService>>> = Mutex::new(Vec::new());

fn services() -> MutexGuard<'static, Vec<Arc<TimerService>>> {
    SERVICES.lock().unwrap_or_else(|p| p.into_inner())
}

/// The limits the send path checks.
pub fn limits(c: &MessageStoreConfig) -> hook::TimerLimits {
    hook::TimerLimits {
        enabled: c.timer_wheel_enable,
        max_delay_sec: c.timer_max_delay_sec,
    }
}

/// The actor's settings from the store configuration.
pub fn settings(c: &MessageStoreConfig) -> TimerSettings {
    TimerSettings {
        dir: c.timer_dir(),
        precision_ms: c.timer_precision_ms.max(1),
        max_delay_ms: c.timer_max_delay_sec.max(1).saturating_mul(1000),
        log_segment_size: c.mapped_file_size_timer_log,
        flush_interval_ms: i64::try_from(c.timer_flush_interval_ms)
            .unwrap_or(1000)
            .max(1),
    }
}

/// Start the timer actor (no-op on a slave, with `timerWheelEnable=false`, or when already
/// running for this broker). The timer files are opened (and the wheel rebuilt) on the blocking
/// pool. A failure to open them is logged; the broker runs on without delivering timer
/// messages.
pub async fn start(b: &Arc<BrokerInner>) {
    let cfg = b.store.config();
    if !cfg.timer_wheel_enable {
        info!("timer messages disabled (timerWheelEnable=false)");
        return;
    }
    if cfg.broker_role() == BrokerRole::Slave {
        info!("slave broker: timer messages are delivered by the master");
        return;
    }
    let me = Arc::downgrade(b);
    {
        let mut registry = services();
        registry.retain(|s| {
            let gone = s.broker.strong_count() == 0;
            if gone {
                s.signal_stop();
            }
            !gone
        });
        if registry.iter().any(|s| s.broker.ptr_eq(&me)) {
            return;
        }
    }
    let (wake_tx, wake_rx) = std::sync::mpsc::sync_channel(1);
    let shared = Arc::new(Shared {
        wake_tx,
        stop: AtomicBool::new(false),
        pending: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        enqueue_offset: AtomicI64::new(0),
        next_due: AtomicI64::new(i64::MIN),
    });
    let settings = settings(cfg);
    let (b2, shared2) = (Arc::clone(b), Arc::clone(&shared));
    let opened = rt::unblock(move || {
        TimerActor::open(shared2, wake_rx, Arc::downgrade(&b2), &b2.store, settings)
    })
    .await;
    let actor = match opened {
        Ok(a) => a,
        Err(e) => {
            error!("timer: cannot open the timer files, timer messages are not delivered: {e}");
            return;
        }
    };
    let thread = match std::thread::Builder::new()
        .name("TimerActor".into())
        .spawn(move || actor.run())
    {
        Ok(t) => t,
        Err(e) => {
            error!("timer: cannot start the timer thread: {e}");
            return;
        }
    };
    let listener_shared = Arc::clone(&shared);
    b.store
        .add_arrival_listener(Arc::new(move |a: &Arrival<'_>| {
            if a.topic == TIMER_TOPIC && !listener_shared.stop.load(Ordering::Relaxed) {
                listener_shared.wake();
            }
        }));
    // Entries that arrived before the listener existed are found by the actor's first turn.
    shared.wake();
    services().push(Arc::new(TimerService {
        broker: me,
        shared,
        thread: Mutex::new(Some(thread)),
    }));
    info!("timer messages: actor started");
}

/// Stop the actor (it finishes its current delivery and writes the checkpoint). Call while
/// the store is still open.
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
    let handle = service.thread.lock().ok().and_then(|mut t| t.take());
    if let Some(h) = handle {
        let joined = rt::timeout(STOP_TIMEOUT, rt::unblock(move || h.join())).await;
        if joined.is_none() {
            warn!("timer actor did not stop within {STOP_TIMEOUT:?}");
        }
    }
}

/// The timer's progress (`None` when it is not running for this broker).
pub fn status(b: &Arc<BrokerInner>) -> Option<TimerStatus> {
    let me = Arc::downgrade(b);
    let registry = services();
    let s = registry.iter().find(|s| s.broker.ptr_eq(&me))?;
    let sh = &s.shared;
    let next = sh.next_due.load(Ordering::Relaxed);
    // `delivered` first: the actor lowers `pending` before it raises `delivered`.
    let delivered = sh.delivered.load(Ordering::SeqCst);
    let pending = sh.pending.load(Ordering::SeqCst);
    Some(TimerStatus {
        pending,
        delivered,
        enqueue_offset: sh.enqueue_offset.load(Ordering::Relaxed),
        next_due: (next != i64::MIN).then_some(next),
    })
}
