//! The timer actor: one dedicated thread that owns the timer log, the wheel, the checkpoint
//! and the in-memory heap of the messages about to fall due.
//!
//! Each turn:
//! 1. **Take in** new `rmq_sys_wheel_timer` queue-0 entries from `enqueue_offset` (at most
//!    [`BATCH`] per turn): append a timer-log entry (CommitLog offset and size, due time) and
//!    link it into the wheel slot of its due time — or, when that slot was already taken (due
//!    before `read_time`), push it straight onto the heap.
//! 2. **Take** every occupied slot whose interval has begun (slot time ≤ now) into the heap:
//!    walk its list in the log, keep the pending entries. Taking stops while the heap holds
//!    [`HEAP_CAP`] entries, so memory stays bounded even after a long stop with many due
//!    messages (a single slot is always taken whole).
//! 3. **Deliver** every heap entry whose due time has come, earliest first: read the record,
//!    [`super::convert`] it, put it into its real queue, then mark the entry delivered.
//! 4. **Checkpoint** every `timerFlushIntervalMs` when something changed: hand the log
//!    segments written since the last one to the flusher thread ([`super::checkpoint::Flusher`]),
//!    which syncs them and then writes `checkpoint.json` — the delivery thread never waits for
//!    the disk. At stop the actor waits for it and writes the last checkpoint itself.
//! 5. **Sleep** until the earliest of: the heap's first due time, the next occupied slot, the
//!    next checkpoint — or until woken by the arrival listener (a new `rmq_sys_wheel_timer`
//!    entry) or a stop request. With nothing pending and nothing to write, it sleeps without a
//!    timer. Sleeps are capped at [`MAX_SLEEP`] so that a wall-clock step is noticed.
//!
//! `read_time` is the start of the first slot not yet taken; the heap holds exactly the taken,
//! undelivered entries. Wheel slots are only written for times in
//! `[read_time, read_time + span)`: an entry due later than that (possible only while the
//! actor catches up after a long stop, or after `timerMaxDelaySec` was lowered) is linked into
//! the last slot of the span, and waits in the heap for its exact time once taken.
//!
//! Failures: a put the store may take later (busy, not writable, flush timeout) keeps the
//! entry and pauses delivery with a back-off (100 ms doubling to 10 s); a record that is gone
//! (expired CommitLog file) or undeliverable (no real topic, refused as illegal) is dropped
//! with an error log, as 5.x does. An I/O error on the timer files stops the actor (logged);
//! nothing is lost, delivery resumes after a restart from the checkpoint.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Weak};
use std::time::Duration;

use apogee_codec::message::decode_record;
use log::{debug, error, info, warn};

use super::checkpoint::{Flusher, TimerCheckpoint};
use super::convert::convert;
use super::hook::{keys, TIMER_TOPIC};
use super::timer_log::{Entry, TimerLog, PENDING};
use super::wheel::Wheel;
use crate::broker::BrokerInner;
use crate::store::message_store::MessageStore;
use crate::store::results::{AcceptAll, GetMessageStatus, PutMessageStatus};
use crate::store::sys::now_ms;

/// Queue entries taken in, or deliveries made, per turn.
pub const BATCH: usize = 256;
/// Heap size above which no further slot is taken.
pub const HEAP_CAP: usize = 256 * 1024;
/// Longest single sleep.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);
const FIRST_RETRY_MS: i64 = 100;
const MAX_RETRY_MS: i64 = 10_000;
/// `next_due` when nothing is known.
const NO_DUE: i64 = i64::MIN;

/// What the actor, the arrival listener, `status` and `shutdown` share.
pub struct Shared {
    pub wake_tx: SyncSender<()>,
    pub stop: AtomicBool,
    pub pending: AtomicU64,
    pub delivered: AtomicU64,
    pub enqueue_offset: AtomicI64,
    pub next_due: AtomicI64,
}

impl Shared {
    pub fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }
}

/// Settings the actor runs with.
#[derive(Debug, Clone)]
pub struct TimerSettings {
    pub dir: PathBuf,
    pub precision_ms: i64,
    pub max_delay_ms: i64,
    pub log_segment_size: u64,
    pub flush_interval_ms: i64,
}

impl TimerSettings {
    /// Wheel slots: twice the longest delay, at least 60 slots.
    pub fn slots(&self) -> u64 {
        let per = self.max_delay_ms.max(1).saturating_mul(2) / self.precision_ms.max(1) + 1;
        u64::try_from(per).unwrap_or(60).max(60)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    due_ms: i64,
    pos: u64,
    commit_log_offset: i64,
    size: i32,
    enqueue_ms: i64,
}

pub struct TimerActor {
    shared: Arc<Shared>,
    wake_rx: Receiver<()>,
    broker: Weak<BrokerInner>,
    settings: TimerSettings,
    log: TimerLog,
    wheel: Wheel,
    heap: BinaryHeap<Reverse<Due>>,
    read_time: i64,
    enqueue_offset: i64,
    dirty: bool,
    last_checkpoint: i64,
    flusher: Flusher,
    paused_until: i64,
    failures: u32,
}

impl TimerActor {
    /// Open the timer files under `settings.dir` and rebuild the wheel from the log's pending
    /// entries.
    pub fn open(
        shared: Arc<Shared>,
        wake_rx: Receiver<()>,
        broker: Weak<BrokerInner>,
        store: &MessageStore,
        settings: TimerSettings,
    ) -> io::Result<TimerActor> {
        std::fs::create_dir_all(&settings.dir)?;
        let cp = match TimerCheckpoint::load(&settings.dir) {
            Ok(c) => c,
            Err(e) => {
                // Starting over re-reads the whole queue: duplicates, never a loss.
                error!("timer checkpoint unreadable ({e}); reading rmq_sys_wheel_timer again from its start");
                TimerCheckpoint::default()
            }
        };
        let mut log = TimerLog::open(
            &settings.dir.join("log"),
            settings.log_segment_size,
            cp.log_end,
        )?;
        let mut wheel = Wheel::reset(
            &settings.dir.join("wheel"),
            settings.slots(),
            settings.precision_ms,
        )?;
        let now = now_ms();
        let read_time = wheel.slot_time(now);
        let last_slot = read_time + wheel.span_ms() - wheel.precision();
        // Re-link every pending entry, oldest first (so each slot's list ends at its newest).
        let mut pending = Vec::new();
        log.scan(|pos, e| {
            if e.state == PENDING {
                pending.push((pos, *e));
            }
        })?;
        for (pos, e) in &pending {
            let slot = wheel.slot_time(e.due_ms).clamp(read_time, last_slot);
            let prev = wheel.link(slot, *pos)?;
            // `prev` now lives in the entry on disk: rewrite it.
            log.set_prev(*pos, prev)?;
        }
        let min = store.min_offset_in_queue(TIMER_TOPIC, 0);
        let max = store.max_offset_in_queue(TIMER_TOPIC, 0);
        let enqueue_offset = cp.enqueue_offset.clamp(min.min(max), max.max(min));
        if enqueue_offset != cp.enqueue_offset {
            warn!(
                "timer: checkpoint offset {} outside rmq_sys_wheel_timer's [{min}, {max}], moved to {enqueue_offset}",
                cp.enqueue_offset
            );
        }
        info!(
            "timer: {} pending messages, reading rmq_sys_wheel_timer from offset {enqueue_offset}",
            pending.len()
        );
        shared
            .pending
            .store(pending.len() as u64, Ordering::Relaxed);
        shared
            .enqueue_offset
            .store(enqueue_offset, Ordering::Relaxed);
        let flusher = Flusher::start(settings.dir.clone(), shared.wake_tx.clone())?;
        Ok(TimerActor {
            shared,
            wake_rx,
            broker,
            settings,
            log,
            wheel,
            heap: BinaryHeap::new(),
            read_time,
            enqueue_offset,
            dirty: false,
            last_checkpoint: now,
            flusher,
            paused_until: i64::MIN,
            failures: 0,
        })
    }

    /// Run until stopped or the broker is gone.
    pub fn run(mut self) {
        loop {
            // Wake-ups before this point are covered by the turn below.
            while self.wake_rx.try_recv().is_ok() {}
            // A broker dropped without a shutdown leaves the files as a crash would (a new
            // broker may already be opening them).
            let Some(b) = self.broker.upgrade() else {
                break;
            };
            if self.shared.stop.load(Ordering::SeqCst) {
                if let Err(e) = self.final_checkpoint() {
                    error!("timer: final checkpoint failed: {e}");
                }
                break;
            }
            let turn = self.turn(&b);
            drop(b);
            let busy = match turn {
                Ok(busy) => busy,
                Err(e) => {
                    error!(
                        "timer: I/O error on the timer files, delivery stops until restart: {e}"
                    );
                    break;
                }
            };
            self.publish();
            if busy {
                continue;
            }
            match self.sleep_for(now_ms()) {
                Some(d) => match self.wake_rx.recv_timeout(d) {
                    Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => {
                    if self.wake_rx.recv().is_err() {
                        break;
                    }
                }
            }
        }
        debug!("timer actor stopped at offset {}", self.enqueue_offset);
    }

    fn publish(&self) {
        let s = &self.shared;
        s.pending.store(self.log.pending(), Ordering::SeqCst);
        s.enqueue_offset
            .store(self.enqueue_offset, Ordering::Relaxed);
        let next = self.heap.peek().map(|Reverse(d)| d.due_ms);
        let next = next.or_else(|| self.wheel.next_occupied(self.read_time));
        s.next_due.store(next.unwrap_or(NO_DUE), Ordering::Relaxed);
    }

    /// One turn; `true` when there is more to do at once.
    fn turn(&mut self, b: &BrokerInner) -> io::Result<bool> {
        let more_in = self.take_in(b)?;
        let now = now_ms();
        self.take_due_slots(now)?;
        let more_out = self.deliver(b, now)?;
        if self.dirty
            && now - self.last_checkpoint >= self.settings.flush_interval_ms
            && self.flusher.idle()
        {
            self.checkpoint()?;
        }
        Ok(more_in || more_out)
    }

    /// How long to sleep (`None`: until woken).
    fn sleep_for(&self, now: i64) -> Option<Duration> {
        let mut next: Option<i64> = None;
        let mut at = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
        if let Some(Reverse(d)) = self.heap.peek() {
            at(d.due_ms.max(self.paused_until));
        }
        if self.heap.len() < HEAP_CAP {
            if let Some(t) = self.wheel.next_occupied(self.read_time) {
                at(t);
            }
        }
        if self.dirty && self.flusher.idle() {
            // (A busy flusher wakes this thread when it is done.)
            at(self.last_checkpoint + self.settings.flush_interval_ms);
        }
        next.map(|t| {
            let ms = u64::try_from(t.saturating_sub(now)).unwrap_or(0);
            Duration::from_millis(ms).min(MAX_SLEEP)
        })
    }

    /// Read new queue entries into the log; `true` when more may be waiting.
    fn take_in(&mut self, b: &BrokerInner) -> io::Result<bool> {
        if self.heap.len() >= HEAP_CAP {
            // Messages due now would only pile up in memory; they wait in the queue.
            return Ok(false);
        }
        let Some(r) = b
            .store
            .get_message(TIMER_TOPIC, 0, self.enqueue_offset, BATCH, &AcceptAll)
        else {
            return Ok(false);
        };
        match r.status {
            GetMessageStatus::Found => {}
            GetMessageStatus::OffsetTooSmall => {
                warn!(
                    "timer: offset {} below rmq_sys_wheel_timer's first {}, moved up",
                    self.enqueue_offset, r.min_offset
                );
                self.enqueue_offset = r.min_offset.max(self.enqueue_offset);
                self.dirty = true;
                return Ok(true);
            }
            GetMessageStatus::OffsetFoundNull
            | GetMessageStatus::MessageWasRemoving
            | GetMessageStatus::NoMatchedMessage
                if r.next_begin_offset > self.enqueue_offset =>
            {
                warn!(
                    "timer: no readable message in rmq_sys_wheel_timer [{}, {}), skipped",
                    self.enqueue_offset, r.next_begin_offset
                );
                self.enqueue_offset = r.next_begin_offset;
                self.dirty = true;
                return Ok(true);
            }
            _ => return Ok(false),
        }
        let now = now_ms();
        let n = r.messages.len();
        for (rec, at) in r.messages.iter().zip(&r.queue_offsets) {
            let due = decode_record(rec).ok().and_then(|(m, _)| {
                m.property(keys::TIMER_OUT_MS)
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| v.trim().parse::<i64>().ok())
            });
            match due {
                Some(due_ms) => {
                    let size = i32::try_from(rec.len()).unwrap_or(i32::MAX);
                    let offset = i64::try_from(rec.offset()).unwrap_or(i64::MAX);
                    self.add(due_ms, offset, size, now)?;
                }
                None => error!(
                    "timer: rmq_sys_wheel_timer offset {at} (CommitLog {}) has no valid TIMER_OUT_MS; dropped",
                    rec.offset()
                ),
            }
            self.enqueue_offset = at + 1;
            self.dirty = true;
        }
        // The store hands out a limited number per read: more may be waiting.
        Ok(n > 0)
    }

    /// Log one message and put it in the wheel (or the heap, when its slot is taken).
    fn add(&mut self, due_ms: i64, commit_log_offset: i64, size: i32, now: i64) -> io::Result<()> {
        let mut e = Entry {
            due_ms,
            commit_log_offset,
            size,
            state: PENDING,
            prev: -1,
            enqueue_ms: now,
        };
        let pos = self.log.end();
        if due_ms < self.read_time {
            self.log.append(&e)?;
            self.heap.push(Reverse(Due {
                due_ms,
                pos,
                commit_log_offset,
                size,
                enqueue_ms: now,
            }));
            return Ok(());
        }
        let last_slot = self.read_time + self.wheel.span_ms() - self.wheel.precision();
        let slot = self.wheel.slot_time(due_ms).min(last_slot);
        e.prev = self.wheel.link(slot, pos)?;
        self.log.append(&e)?;
        Ok(())
    }

    /// Move the slots whose interval has begun into the heap.
    fn take_due_slots(&mut self, now: i64) -> io::Result<()> {
        let limit = self.wheel.slot_time(now);
        while self.heap.len() < HEAP_CAP {
            match self.wheel.next_occupied(self.read_time) {
                Some(t) if t <= limit => {
                    if let Some(slot) = self.wheel.take(t)? {
                        let mut pos = slot.last;
                        let mut left = slot.count;
                        while pos >= 0 && left > 0 {
                            let Some(e) = u64::try_from(pos).ok().and_then(|p| self.log.read(p))
                            else {
                                error!("timer: slot {t}: entry {pos} unreadable, rest of the slot skipped");
                                break;
                            };
                            if e.state == PENDING {
                                self.heap.push(Reverse(Due {
                                    due_ms: e.due_ms,
                                    pos: pos as u64,
                                    commit_log_offset: e.commit_log_offset,
                                    size: e.size,
                                    enqueue_ms: e.enqueue_ms,
                                }));
                            }
                            pos = e.prev;
                            left -= 1;
                        }
                    }
                    self.read_time = t + self.wheel.precision();
                }
                _ => {
                    self.read_time = self.read_time.max(limit + self.wheel.precision());
                    break;
                }
            }
        }
        Ok(())
    }

    /// Deliver due heap entries; `true` when more are due at once.
    fn deliver(&mut self, b: &BrokerInner, now: i64) -> io::Result<bool> {
        if now < self.paused_until {
            return Ok(false);
        }
        for _ in 0..BATCH {
            let Some(Reverse(d)) = self.heap.peek().copied() else {
                return Ok(false);
            };
            if d.due_ms > now {
                return Ok(false);
            }
            self.heap.pop();
            if !self.deliver_one(b, &d)? {
                // Keep it; try again after the back-off.
                self.heap.push(Reverse(d));
                self.failures = self.failures.saturating_add(1);
                let shift = self.failures.saturating_sub(1).min(16);
                let wait = (FIRST_RETRY_MS << shift).min(MAX_RETRY_MS);
                self.paused_until = now + wait;
                return Ok(false);
            }
            self.failures = 0;
        }
        Ok(true)
    }

    /// `false`: the store could not take it now (retry later).
    fn deliver_one(&mut self, b: &BrokerInner, d: &Due) -> io::Result<bool> {
        let record = b.store.look_message_by_offset(d.commit_log_offset);
        let msg = match record {
            Some(r) if r.len() == usize::try_from(d.size).unwrap_or(0) => {
                convert(&r, d.enqueue_ms, now_ms()).map_err(|m| m.0)
            }
            Some(r) => Err(format!(
                "record size {} instead of {} (CommitLog changed)",
                r.len(),
                d.size
            )),
            None => Err("record no longer in the CommitLog".to_owned()),
        };
        let msg = match msg {
            Ok(m) => m,
            Err(why) => {
                error!(
                    "timer: dropping the message at CommitLog {} due {}: {why}",
                    d.commit_log_offset, d.due_ms
                );
                return self.done(d.pos).map(|()| true);
            }
        };
        let r = futures::executor::block_on(b.store.put_message_unscheduled(msg, false));
        if r.status.is_stored() {
            // `done` publishes the smaller pending count first: a reader that loads
            // `delivered`, then `pending`, never counts a message twice.
            self.done(d.pos)?;
            self.shared.delivered.fetch_add(1, Ordering::SeqCst);
            if let Some(a) = &r.append {
                debug!(
                    "timer: CommitLog {} delivered as {} ({} ms after due)",
                    d.commit_log_offset,
                    a.msg_id,
                    a.store_timestamp - d.due_ms
                );
            }
            return Ok(true);
        }
        let why = r.remark.unwrap_or_default();
        if matches!(
            r.status,
            PutMessageStatus::MessageIllegal | PutMessageStatus::PropertiesSizeExceeded
        ) {
            error!(
                "timer: dropping the message at CommitLog {}: the store refuses it ({:?}): {why}",
                d.commit_log_offset, r.status
            );
            self.done(d.pos)?;
            return Ok(true);
        }
        warn!(
            "timer: storing the message at CommitLog {} failed ({:?}: {why}); will retry",
            d.commit_log_offset, r.status
        );
        Ok(false)
    }

    fn done(&mut self, pos: u64) -> io::Result<()> {
        self.log.mark_delivered(pos)?;
        self.shared
            .pending
            .store(self.log.pending(), Ordering::SeqCst);
        self.dirty = true;
        Ok(())
    }

    /// Hand the log's dirty segments and the checkpoint to the flusher (which syncs, then
    /// writes the checkpoint, off this thread).
    fn checkpoint(&mut self) -> io::Result<()> {
        let files = self.log.take_dirty_files()?;
        self.flusher.submit(
            files,
            TimerCheckpoint {
                enqueue_offset: self.enqueue_offset,
                log_end: self.log.end(),
            },
        );
        self.dirty = false;
        self.last_checkpoint = now_ms();
        Ok(())
    }

    /// At stop: let the flusher finish, then sync and write the checkpoint here.
    fn final_checkpoint(&mut self) -> io::Result<()> {
        self.flusher.stop();
        if self.flusher.failed() {
            return Err(io::Error::other(
                "an earlier sync failed; the last good checkpoint stays",
            ));
        }
        self.log.flush()?;
        TimerCheckpoint {
            enqueue_offset: self.enqueue_offset,
            log_end: self.log.end(),
        }
        .store(&self.settings.dir)?;
        self.dirty = false;
        Ok(())
    }
}
