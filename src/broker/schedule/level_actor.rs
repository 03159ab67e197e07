//! The actor of one delay level: delivers `SCHEDULE_TOPIC_XXXX` queue `level − 1` in order.
//!
//! The actor owns its level's progress (`offset`, the next consume-queue offset to deliver)
//! and runs one step at a time:
//!
//! 1. Read the head entry at `offset` through the store's `get_message` (one record; a probe
//!    filter captures the unit's tags code, which for this topic is the delivery time).
//! 2. Due (delivery time ≤ now, with Java's correction: a delivery time further away than the
//!    level's delay means the clock went back, and the entry is due now): rebuild the real
//!    message ([`super::timeup`]), put it, and only once it is stored advance `offset` and
//!    record it in `DelayOffsetManager`. A store failure keeps `offset` and retries after a
//!    back-off (100 ms doubling to 10 s); nothing is skipped.
//! 3. Not due: sleep on one timer until the delivery time (capped at [`MAX_TIMER_SLEEP`], so a
//!    wall-clock step is noticed; the due times are wall-clock milliseconds).
//! 4. Caught up: sleep without any timer until the arrival listener says the queue grew.
//!
//! **Wake-ups.** Each level has a one-slot channel. The listener (on the dispatcher thread,
//! called after the consume-queue entry is written) puts a token into it unless the actor is
//! asleep on a timer for a head due no later than the new entry (`wake_below`): that entry
//! sits behind the head and is reached after it anyway. A token that arrives while the actor
//! is busy stays in the slot. The actor empties the slot *before* it reads the queue, so a
//! token is either older than the read (the read sees its entry) or still in the slot when
//! the actor goes to sleep (it wakes at once) — no arrival is missed. During a retry back-off
//! arrivals do not wake the actor (`wake_below` = `i64::MIN`); the stop request always does.
//!
//! **Blocking.** Reading the head and appending the rebuilt message are done on the executor,
//! as the pull and send paths do: the read is a lookup in mapped consume-queue and CommitLog
//! files (one record), the put a copy into the pre-allocated mapped CommitLog under the put
//! lock; `WAIT` is false, so the put never waits for a flush. A long run of due messages
//! yields to the executor every [`YIELD_EVERY`] deliveries.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use log::{debug, error, warn};

use super::timeup;
use crate::broker::BrokerInner;
use crate::rt;
use crate::store::commit_log::SCHEDULE_TOPIC;
use crate::store::mapped_file::MappedSlice;
use crate::store::results::{GetMessageStatus, MessageFilter, PutMessageStatus};
use crate::store::sys::now_ms;

/// Longest single timer sleep: a head due later is looked at again after this long, which
/// bounds the extra lateness a forward step of the wall clock can cause.
pub const MAX_TIMER_SLEEP: Duration = Duration::from_secs(30);
/// Deliveries in a row before the actor yields to the executor.
pub const YIELD_EVERY: u32 = 32;
/// First retry delay after a failed put; doubled up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// Longest retry delay (Java's `DELAY_FOR_A_PERIOD`).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);
/// Pause when the store cannot be read (shut down, not readable).
const UNREADABLE_PAUSE: Duration = Duration::from_secs(1);
/// `next_due` when no head is known.
const NO_DUE: i64 = i64::MIN;

/// What the actor, the arrival listener and the status report share for one level.
pub struct LevelState {
    pub level: i32,
    pub queue_id: i32,
    wake_tx: Sender<()>,
    /// While the actor sleeps on a head due at `t`, arrivals with a tags code ≥ `t` do not
    /// wake it. `i64::MAX` (busy, or waiting for data): every arrival wakes it; `i64::MIN`
    /// (retry back-off): none does.
    wake_below: AtomicI64,
    /// Next consume-queue offset to deliver (mirror of the actor's own).
    offset: AtomicI64,
    /// Delivery time of the head the actor waits for, or [`NO_DUE`].
    next_due: AtomicI64,
    delivered: AtomicU64,
}

impl LevelState {
    pub fn new(level: i32, offset: i64) -> (Arc<LevelState>, Receiver<()>) {
        let (wake_tx, wake_rx) = async_channel::bounded(1);
        let state = LevelState {
            level,
            queue_id: level - 1,
            wake_tx,
            wake_below: AtomicI64::new(i64::MAX),
            offset: AtomicI64::new(offset),
            next_due: AtomicI64::new(NO_DUE),
            delivered: AtomicU64::new(0),
        };
        (Arc::new(state), wake_rx)
    }

    /// A new entry with `tags_code` (its delivery time) reached the level's queue. Cheap and
    /// non-blocking: runs on the dispatcher thread.
    pub fn on_arrival(&self, tags_code: i64) {
        let below = self.wake_below.load(Ordering::SeqCst);
        if below == i64::MAX || tags_code < below {
            let _ = self.wake_tx.try_send(());
        }
    }

    /// Wake the actor whatever it waits for (stop requests).
    pub fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }

    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::Acquire)
    }

    pub fn next_due(&self) -> Option<i64> {
        Some(self.next_due.load(Ordering::Acquire)).filter(|d| *d != NO_DUE)
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
}

/// Captures the tags code of the last consume-queue unit `get_message` looked at. With a read
/// of one message that is the unit of the returned record: the store asks the filter about a
/// unit just before reading its record and stops scanning once it has one message.
#[derive(Default)]
struct TagsCodeProbe(AtomicI64);

impl MessageFilter for TagsCodeProbe {
    fn matches_cq(&self, tags_code: i64) -> bool {
        self.0.store(tags_code, Ordering::Relaxed);
        true
    }
}

/// Java's `correctDeliverTimestamp`: a delivery time more than the level's delay ahead of
/// `now` cannot come from this level's rule (the clock went back, or a bad value), so the
/// entry is due now.
pub fn correct_due(now: i64, tags_code: i64, delay_ms: i64) -> i64 {
    if tags_code > now.saturating_add(delay_ms) {
        now
    } else {
        tags_code
    }
}

/// What to do after a step.
enum Next {
    /// Take the next step at once.
    Again,
    /// Wait for a wake-up, at most `max` (`None`: no timer). Arrivals with a tags code ≥
    /// `wake_below` do not wake.
    Wait {
        max: Option<Duration>,
        wake_below: i64,
    },
}

impl Next {
    fn for_data() -> Next {
        Next::Wait {
            max: None,
            wake_below: i64::MAX,
        }
    }

    fn pause(d: Duration) -> Next {
        Next::Wait {
            max: Some(d),
            wake_below: i64::MIN,
        }
    }
}

pub struct LevelActor {
    state: Arc<LevelState>,
    wake_rx: Receiver<()>,
    broker: Weak<BrokerInner>,
    stop: Arc<AtomicBool>,
    /// Dropped when the actor ends; the service waits for all of them at stop.
    _alive: Sender<()>,
    delay_ms: i64,
    offset: i64,
    failures: u32,
}

impl LevelActor {
    pub fn new(
        state: Arc<LevelState>,
        wake_rx: Receiver<()>,
        broker: Weak<BrokerInner>,
        stop: Arc<AtomicBool>,
        alive: Sender<()>,
        delay_ms: i64,
    ) -> LevelActor {
        let offset = state.offset();
        LevelActor {
            state,
            wake_rx,
            broker,
            stop,
            _alive: alive,
            delay_ms,
            offset,
            failures: 0,
        }
    }

    /// Deliver until stopped (or the broker is gone / shutting down).
    pub async fn run(mut self) {
        let mut streak = 0u32;
        loop {
            // Tokens sent before this point announced entries the read below sees, or a stop
            // request the check below sees (the flag is set before its token is sent).
            while self.wake_rx.try_recv().is_ok() {}
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let Some(b) = self.broker.upgrade() else {
                break;
            };
            if b.is_shutting_down() {
                break;
            }
            let next = self.step(&b).await;
            drop(b);
            match next {
                Next::Again => {
                    streak += 1;
                    if streak >= YIELD_EVERY {
                        streak = 0;
                        futures_lite::future::yield_now().await;
                    }
                }
                Next::Wait { max, wake_below } => {
                    streak = 0;
                    self.state.wake_below.store(wake_below, Ordering::SeqCst);
                    match max {
                        Some(d) => {
                            let _ = rt::timeout(d, self.wake_rx.recv()).await;
                        }
                        None => {
                            let _ = self.wake_rx.recv().await;
                        }
                    }
                    self.state.wake_below.store(i64::MAX, Ordering::SeqCst);
                }
            }
        }
        debug!(
            "delay level {} stopped at offset {}",
            self.state.level, self.offset
        );
    }

    /// Move to `offset` and record it (only when the recorded value differs, so an idle level
    /// does not make `delayOffset.json` look changed).
    fn set_offset(&mut self, b: &BrokerInner, offset: i64) {
        self.offset = offset;
        self.state.offset.store(offset, Ordering::Release);
        let level = self.state.level;
        if b.configs.delay_offsets.get(level) != Some(offset) {
            b.configs.delay_offsets.set(level, offset);
        }
    }

    async fn step(&mut self, b: &BrokerInner) -> Next {
        let probe = TagsCodeProbe::default();
        let Some(r) =
            b.store
                .get_message(SCHEDULE_TOPIC, self.state.queue_id, self.offset, 1, &probe)
        else {
            return Next::pause(UNREADABLE_PAUSE);
        };
        let level = self.state.level;
        match r.status {
            GetMessageStatus::Found => {
                let at = r.queue_offsets.first().copied();
                let Some((record, at)) = r.messages.into_iter().next().zip(at) else {
                    return Next::pause(UNREADABLE_PAUSE);
                };
                if at < self.offset {
                    warn!(
                        "delay level {level}: read offset {at} behind {}",
                        self.offset
                    );
                    return Next::pause(UNREADABLE_PAUSE);
                }
                if at > self.offset {
                    warn!(
                        "delay level {level}: no readable message in [{}, {at}), skipped",
                        self.offset
                    );
                }
                // Java records the offset of a pending head too.
                self.set_offset(b, at);
                let now = now_ms();
                let due = correct_due(now, probe.0.load(Ordering::Relaxed), self.delay_ms);
                self.state.next_due.store(due, Ordering::Release);
                if due > now {
                    let wait = Duration::from_millis(u64::try_from(due - now).unwrap_or(0));
                    return Next::Wait {
                        max: Some(wait.min(MAX_TIMER_SLEEP)),
                        wake_below: due,
                    };
                }
                self.deliver(b, at, record, due).await
            }
            GetMessageStatus::OffsetOverflowOne => {
                self.state.next_due.store(NO_DUE, Ordering::Release);
                Next::for_data()
            }
            GetMessageStatus::NoMessageInQueue | GetMessageStatus::OffsetOverflowBadly => {
                self.state.next_due.store(NO_DUE, Ordering::Release);
                let max = r.max_offset.max(0);
                if self.offset > max {
                    warn!(
                        "delay level {level}: offset {} beyond the queue's end {max}, moved back",
                        self.offset
                    );
                    self.set_offset(b, max);
                }
                Next::for_data()
            }
            GetMessageStatus::OffsetTooSmall => {
                warn!(
                    "delay level {level}: offset {} below the queue's first {}, moved up",
                    self.offset, r.min_offset
                );
                self.set_offset(b, r.min_offset.max(self.offset));
                Next::Again
            }
            GetMessageStatus::OffsetFoundNull
            | GetMessageStatus::NoMatchedMessage
            | GetMessageStatus::MessageWasRemoving
            | GetMessageStatus::NoMatchedLogicQueue => {
                if r.next_begin_offset > self.offset {
                    warn!(
                        "delay level {level}: no readable message in [{}, {}) ({}), skipped",
                        self.offset,
                        r.next_begin_offset,
                        r.status.name()
                    );
                    self.set_offset(b, r.next_begin_offset);
                    Next::Again
                } else {
                    Next::pause(UNREADABLE_PAUSE)
                }
            }
        }
    }

    async fn deliver(&mut self, b: &BrokerInner, at: i64, record: MappedSlice, due: i64) -> Next {
        let level = self.state.level;
        let msg = match timeup::rebuild(&record) {
            Ok(m) => m,
            Err(why) => {
                error!(
                    "delay level {level}: dropping the message at offset {at} (CommitLog {}): {why}",
                    record.offset()
                );
                self.set_offset(b, at + 1);
                return Next::Again;
            }
        };
        drop(record);
        let r = b.store.put_message_unscheduled(msg, false).await;
        if r.status.is_stored() {
            self.failures = 0;
            self.state.delivered.fetch_add(1, Ordering::Relaxed);
            self.set_offset(b, at + 1);
            if let Some(a) = &r.append {
                debug!(
                    "delay level {level}: offset {at} delivered as {} ({} ms after due)",
                    a.msg_id,
                    a.store_timestamp - due
                );
            }
            return Next::Again;
        }
        let why = r.remark.unwrap_or_default();
        if matches!(
            r.status,
            PutMessageStatus::MessageIllegal | PutMessageStatus::PropertiesSizeExceeded
        ) {
            // The store will never take it; retrying would block the level for good.
            error!(
                "delay level {level}: dropping the message at offset {at}, the store refuses it ({:?}): {why}",
                r.status
            );
            self.set_offset(b, at + 1);
            return Next::Again;
        }
        self.failures = self.failures.saturating_add(1);
        let delay = retry_delay(self.failures);
        warn!(
            "delay level {level}: storing the message at offset {at} failed ({:?}: {why}); retry in {delay:?}",
            r.status
        );
        Next::pause(delay)
    }
}

/// Back-off after `failures` failed puts in a row (≥ 1).
pub fn retry_delay(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    FIRST_RETRY_DELAY
        .saturating_mul(1u32 << shift)
        .min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_are_corrected_like_java() {
        assert_eq!(correct_due(1_000, 1_500, 1_000), 1_500);
        assert_eq!(correct_due(1_000, 2_000, 1_000), 2_000);
        assert_eq!(correct_due(1_000, 2_001, 1_000), 1_000, "clock went back");
        assert_eq!(correct_due(1_000, 0, 1_000), 0);
        assert_eq!(correct_due(i64::MAX, i64::MAX, 1), i64::MAX);
    }

    #[test]
    fn retry_delays_grow_and_stop_at_ten_seconds() {
        assert_eq!(retry_delay(0), Duration::from_millis(100));
        assert_eq!(retry_delay(1), Duration::from_millis(100));
        assert_eq!(retry_delay(2), Duration::from_millis(200));
        assert_eq!(retry_delay(7), Duration::from_millis(6_400));
        assert_eq!(retry_delay(8), Duration::from_secs(10));
        assert_eq!(retry_delay(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn arrivals_behind_a_sleeping_head_do_not_wake() {
        let (s, rx) = LevelState::new(3, 0);
        s.wake_below.store(5_000, Ordering::SeqCst);
        s.on_arrival(5_000);
        assert!(rx.try_recv().is_err());
        s.on_arrival(4_999);
        assert!(rx.try_recv().is_ok());
        s.wake_below.store(i64::MIN, Ordering::SeqCst);
        s.on_arrival(i64::MIN);
        assert!(rx.try_recv().is_err());
        s.wake();
        assert!(rx.try_recv().is_ok());
        s.wake_below.store(i64::MAX, Ordering::SeqCst);
        s.on_arrival(i64::MAX);
        s.on_arrival(2);
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err(), "one slot: wake-ups coalesce");
    }
}
