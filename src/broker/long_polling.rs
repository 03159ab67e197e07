//! Long polling: pulls held until data arrives (Java `PullRequestHoldService`, redesigned).
//!
//! A pull with the suspend flag that finds nothing (PULL_NOT_FOUND) is not answered at once.
//! Its request task stays in [`hold`] — an `async` wait, no thread — on a oneshot wake-up
//! registered in a waiter table keyed by (topic, queue). The store's dispatcher calls
//! [`attach`]'s listener for every message it writes to a consume queue; the listener takes
//! the waiters of that queue whose offset is now behind the queue's end and whose tag filter
//! accepts the message, and fires their wake-ups. The woken task re-runs the pull without
//! suspension and answers with the original opaque. A held pull also ends at its deadline
//! (`suspendTimeoutMillis`), answered by the same re-run (usually PULL_NOT_FOUND).
//!
//! **No lost wake-ups.** The puller registers its waiter *first*, then re-reads the queue's
//! max offset; the dispatcher writes the consume-queue entry *first*, then looks for waiters.
//! The waiter count and the table are published with sequentially consistent operations and
//! fences on both sides, so at least one side sees the other: either the re-read sees the new
//! entry (the pull is re-run at once) or the listener finds the waiter. Java's 5 s periodic
//! re-check stays only as a safety net (each held pull looks at the queue every 5 s).
//!
//! With `longPollingEnable=false` (short polling) arrivals do not wake anyone, as in Java: the
//! pull is held `shortPollingTimeMills`, then re-run.
//!
//! The listener runs on the dispatcher thread: when no pull is held it costs one fence and one
//! atomic load; otherwise one short mutex section. Wake-ups are sent after the lock is
//! released. [`PullRequestHold::wake_all`] answers everything at shutdown.

use std::collections::HashMap;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use apogee_codec::header::pull::PullMessageRequestHeader;
use apogee_codec::RemotingCommand;
use futures::channel::oneshot;

use super::pull::{self, Step, TagCodeFilter};
use super::{BrokerConfig, BrokerInner};
use crate::remoting::{Connection, Reply};
use crate::rt;
use crate::store::dispatcher::Arrival;
use crate::store::results::MessageFilter;

/// Safety-net re-check period of a held pull (Java's hold-service period).
const RECHECK_PERIOD: Duration = Duration::from_secs(5);

struct Waiter {
    id: u64,
    /// The request's queue offset: data beyond it is what the pull waits for.
    pull_from: i64,
    /// `None`: not woken by arrivals (short polling).
    filter: Option<TagCodeFilter>,
    wake: oneshot::Sender<()>,
}

/// topic → queue id → waiters.
type Table = HashMap<String, HashMap<i32, Vec<Waiter>>>;

struct Shared {
    table: Mutex<Table>,
    /// Waiters in the table (the listener's fast path).
    held: AtomicUsize,
    next_id: AtomicU64,
    /// Set at shutdown: nothing is held any more.
    closed: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn on_arrival(&self, a: &Arrival<'_>) {
        // Pairs with the fence in `hold` (see the module docs): the consume-queue write that
        // precedes this call, or the waiter registration, is seen by the other side.
        fence(Ordering::SeqCst);
        if self.held.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut woken = Vec::new();
        {
            let mut table = self.lock();
            let Some(queues) = table.get_mut(a.topic) else {
                return;
            };
            if let Some(list) = queues.get_mut(&a.queue_id) {
                let mut i = 0;
                while i < list.len() {
                    let w = &list[i];
                    let wake = a.max_offset > w.pull_from
                        && w.filter.as_ref().is_some_and(|f| f.matches_cq(a.tags_code));
                    if wake {
                        woken.push(list.swap_remove(i));
                    } else {
                        i += 1;
                    }
                }
                if list.is_empty() {
                    queues.remove(&a.queue_id);
                }
            }
            if queues.is_empty() {
                table.remove(a.topic);
            }
            self.held.fetch_sub(woken.len(), Ordering::SeqCst);
        }
        for w in woken {
            let _ = w.wake.send(());
        }
    }

    fn register(
        self: &Arc<Self>,
        topic: &str,
        queue_id: i32,
        pull_from: i64,
        filter: Option<TagCodeFilter>,
    ) -> (Registration, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let w = Waiter {
            id,
            pull_from,
            filter,
            wake: tx,
        };
        {
            let mut table = self.lock();
            self.held.fetch_add(1, Ordering::SeqCst);
            table
                .entry(topic.to_owned())
                .or_default()
                .entry(queue_id)
                .or_default()
                .push(w);
        }
        let reg = Registration {
            shared: Arc::clone(self),
            topic: topic.to_owned(),
            queue_id,
            id,
        };
        (reg, rx)
    }

    /// Remove a waiter if it is still in the table.
    fn unregister(&self, topic: &str, queue_id: i32, id: u64) {
        let mut table = self.lock();
        let Some(queues) = table.get_mut(topic) else {
            return;
        };
        if let Some(list) = queues.get_mut(&queue_id) {
            if let Some(pos) = list.iter().position(|w| w.id == id) {
                list.swap_remove(pos);
                self.held.fetch_sub(1, Ordering::SeqCst);
            }
            if list.is_empty() {
                queues.remove(&queue_id);
            }
        }
        if queues.is_empty() {
            table.remove(topic);
        }
    }
}

/// Removes its waiter when the held pull ends, however it ends.
struct Registration {
    shared: Arc<Shared>,
    topic: String,
    queue_id: i32,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.unregister(&self.topic, self.queue_id, self.id);
    }
}

/// Held pulls.
pub struct PullRequestHold {
    shared: Arc<Shared>,
    long_polling: bool,
}

impl PullRequestHold {
    pub fn new(config: &BrokerConfig) -> Self {
        PullRequestHold {
            shared: Arc::new(Shared {
                table: Mutex::new(HashMap::new()),
                held: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
                closed: AtomicBool::new(false),
            }),
            long_polling: config.long_polling_enable,
        }
    }

    /// Number of pulls held now.
    pub fn held_count(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// Answer every held pull (shutdown); pulls suspended afterwards are re-run at once.
    pub fn wake_all(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        let table = std::mem::take(&mut *self.shared.lock());
        let mut n = 0;
        for (_, queues) in table {
            for (_, list) in queues {
                for w in list {
                    n += 1;
                    let _ = w.wake.send(());
                }
            }
        }
        self.shared.held.fetch_sub(n, Ordering::SeqCst);
    }

    /// Feed a dispatched message to the held pulls (what the store's listener calls).
    pub fn notify_arrival(&self, a: &Arrival<'_>) {
        self.shared.on_arrival(a);
    }
}

/// Subscribe to the store's arrivals. The listener holds only the waiter table, not the
/// broker (no reference cycle through the store).
pub fn attach(b: &Arc<BrokerInner>) {
    let shared = Arc::clone(&b.pull_hold.shared);
    b.store
        .add_arrival_listener(Arc::new(move |a: &Arrival<'_>| shared.on_arrival(a)));
}

/// Hold a pull that found nothing for up to `hold_ms`, then re-run it (without suspension)
/// and return its answer. Answers nothing if the connection closed meanwhile.
pub async fn hold(
    b: &Arc<BrokerInner>,
    conn: &Arc<Connection>,
    req: &RemotingCommand,
    h: &PullMessageRequestHeader,
    hold_ms: u64,
    filter: TagCodeFilter,
) -> Reply {
    let ph = &b.pull_hold;
    let deadline = Instant::now() + Duration::from_millis(hold_ms);
    let recheck = if ph.long_polling {
        RECHECK_PERIOD
    } else {
        Duration::from_millis(hold_ms.max(1))
    };
    let has_data = || b.store.max_offset_in_queue(&h.topic, h.queue_id) > h.queue_offset;

    let (registration, mut woken) = ph.shared.register(
        &h.topic,
        h.queue_id,
        h.queue_offset,
        ph.long_polling.then_some(filter),
    );
    // Pairs with the fence in `Shared::on_arrival`: register first, then re-read the queue.
    fence(Ordering::SeqCst);
    if !(ph.shared.closed.load(Ordering::SeqCst) || has_data()) {
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let wait = (deadline - now).min(recheck);
            match rt::timeout(wait, &mut woken).await {
                // Woken by an arrival or by shutdown (or the waiter was dropped: re-run).
                Some(_) => break,
                None => {
                    if conn.is_closed() {
                        return Reply::None;
                    }
                    if has_data() {
                        break;
                    }
                }
            }
        }
    }
    drop(registration);
    if conn.is_closed() {
        return Reply::None;
    }
    match pull::run(b, conn, req, h, false) {
        Step::Done(r) => r,
        // `run` never suspends a re-run; answer defensively all the same.
        Step::Suspend { .. } => RemotingCommand::error_to(
            req,
            apogee_codec::codes::response::SYSTEM_ERROR,
            "pull re-run suspended",
        )
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(topic: &str, queue_id: i32, max_offset: i64, tags_code: i64) -> Arrival<'_> {
        Arrival {
            topic,
            queue_id,
            max_offset,
            tags_code,
            store_timestamp: 0,
        }
    }

    #[test]
    fn waiters_are_woken_by_matching_arrivals_only() {
        let ph = PullRequestHold::new(&BrokerConfig::default());
        let tag_a = i64::from(apogee_codec::message::java_string_hash("A"));
        let (r1, mut w1) =
            ph.shared
                .register("T", 0, 5, Some(TagCodeFilter::from_expression(Some("A"))));
        let (r2, mut w2) = ph.shared.register("T", 0, 5, Some(TagCodeFilter::all()));
        let (r3, mut w3) = ph.shared.register("T", 1, 0, None);
        assert_eq!(ph.held_count(), 3);
        // Behind the waiters' offset: nobody.
        ph.notify_arrival(&arrival("T", 0, 5, tag_a));
        assert_eq!(w1.try_recv(), Ok(None));
        // Another tag: only the match-all waiter.
        ph.notify_arrival(&arrival("T", 0, 6, 99));
        assert_eq!(w1.try_recv(), Ok(None));
        assert_eq!(w2.try_recv(), Ok(Some(())));
        assert_eq!(ph.held_count(), 2);
        ph.notify_arrival(&arrival("T", 0, 7, tag_a));
        assert_eq!(w1.try_recv(), Ok(Some(())));
        // Short-polling waiters ignore arrivals.
        ph.notify_arrival(&arrival("T", 1, 7, tag_a));
        assert_eq!(w3.try_recv(), Ok(None));
        assert_eq!(ph.held_count(), 1);
        drop((r1, r2));
        assert_eq!(ph.held_count(), 1);
        drop(r3);
        assert_eq!(ph.held_count(), 0);
        assert!(ph.shared.lock().is_empty());
    }

    #[test]
    fn wake_all_answers_everything() {
        let ph = PullRequestHold::new(&BrokerConfig::default());
        let (_r1, mut w1) = ph.shared.register("T", 0, 5, Some(TagCodeFilter::all()));
        let (_r2, mut w2) = ph.shared.register("U", 3, 0, None);
        ph.wake_all();
        assert_eq!(w1.try_recv(), Ok(Some(())));
        assert_eq!(w2.try_recv(), Ok(Some(())));
        assert_eq!(ph.held_count(), 0);
    }
}
