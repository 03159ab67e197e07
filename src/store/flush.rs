//! Making the CommitLog durable: group commit for `SYNC_FLUSH`, periodic flushing for
//! `ASYNC_FLUSH`. Both run on one dedicated thread ("apogee-flush"), never on an async
//! executor: msync/fsync block.
//!
//! Group commit: a writer that must wait registers `(end offset, deadline, completion)` and
//! wakes the flusher; the flusher takes every request that arrived meanwhile, syncs once up to
//! the current write position, and completes every request that is now covered. A request not
//! covered by its deadline (`syncFlushTimeout`) completes with [`FlushStatus::Timeout`].
//!
//! A failed sync poisons the store ([`Poison`]): the data's fate on disk is unknown, so the
//! store refuses further writes instead of carrying on (a restart recovers from what is on
//! disk).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use log::{error, warn};

use super::checkpoint::StoreCheckpoint;
use super::mapped_file_queue::MappedFileQueue;

/// Outcome of waiting for durability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushStatus {
    Ok,
    /// Not durable within `syncFlushTimeout` (the message is stored; Java answers
    /// FLUSH_DISK_TIMEOUT).
    Timeout,
    /// The sync failed; the store is poisoned.
    Failed(String),
}

/// Set once a sync failed: the store must not accept writes any more.
#[derive(Debug, Default)]
pub struct Poison {
    flag: AtomicBool,
    why: Mutex<Option<String>>,
}

impl Poison {
    pub fn is_poisoned(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    pub fn poison(&self, why: String) {
        if let Ok(mut w) = self.why.lock() {
            if w.is_none() {
                error!("store poisoned, refusing writes: {why}");
                *w = Some(why);
            }
        }
        self.flag.store(true, Ordering::Release);
    }

    pub fn reason(&self) -> Option<String> {
        if !self.is_poisoned() {
            return None;
        }
        self.why.lock().ok().and_then(|w| w.clone())
    }
}

/// How the flusher behaves.
#[derive(Debug, Clone)]
pub enum FlushMode {
    /// Group commit; requests time out after `timeout`.
    Sync { timeout: Duration },
    /// Flush every `interval` when at least `least_pages` pages are dirty, everything every
    /// `thorough_interval`. With `timed`, wake-ups are ignored (Java's `flushCommitLogTimed`).
    Async {
        interval: Duration,
        least_pages: usize,
        thorough_interval: Duration,
        timed: bool,
    },
}

struct Request {
    end_offset: u64,
    deadline: Instant,
    done: oneshot::Sender<FlushStatus>,
}

struct Shared {
    queue: Arc<MappedFileQueue>,
    checkpoint: Arc<StoreCheckpoint>,
    /// Store timestamp of the last appended message (written by the appender).
    last_store_timestamp: Arc<AtomicI64>,
    poison: Arc<Poison>,
    mode: FlushMode,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    woken: bool,
    stop: bool,
}

/// How often write buffers are committed into the files (transient store pool only):
/// every `interval` when at least `least_pages` pages are pending, everything every
/// `thorough_interval`.
#[derive(Debug, Clone)]
pub struct CommitSettings {
    pub interval: Duration,
    pub least_pages: usize,
    pub thorough_interval: Duration,
}

/// Handle to the flush thread (and the commit thread with the transient store pool).
/// Dropping it stops them after a final commit and flush.
pub struct FlushService {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    commit_thread: Option<JoinHandle<()>>,
    commit_stop: Arc<(Mutex<bool>, Condvar)>,
}

impl FlushService {
    pub fn start(
        queue: Arc<MappedFileQueue>,
        checkpoint: Arc<StoreCheckpoint>,
        last_store_timestamp: Arc<AtomicI64>,
        poison: Arc<Poison>,
        mode: FlushMode,
    ) -> std::io::Result<Self> {
        Self::start_with_commit(queue, checkpoint, last_store_timestamp, poison, mode, None)
    }

    /// As [`FlushService::start`], plus a commit thread ("apogee-commit") for write buffers.
    pub fn start_with_commit(
        queue: Arc<MappedFileQueue>,
        checkpoint: Arc<StoreCheckpoint>,
        last_store_timestamp: Arc<AtomicI64>,
        poison: Arc<Poison>,
        mode: FlushMode,
        commit: Option<CommitSettings>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue,
            checkpoint,
            last_store_timestamp,
            poison,
            mode,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let s2 = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("apogee-flush".into())
            .spawn(move || match s2.mode.clone() {
                FlushMode::Sync { .. } => group_commit_loop(&s2),
                FlushMode::Async {
                    interval,
                    least_pages,
                    thorough_interval,
                    timed,
                } => async_flush_loop(&s2, interval, least_pages, thorough_interval, timed),
            })?;
        let commit_stop: Arc<(Mutex<bool>, Condvar)> = Arc::default();
        let commit_thread = match commit {
            Some(settings) => {
                let s3 = Arc::clone(&shared);
                let stop = Arc::clone(&commit_stop);
                Some(
                    std::thread::Builder::new()
                        .name("apogee-commit".into())
                        .spawn(move || commit_loop(&s3, &settings, &stop))?,
                )
            }
            None => None,
        };
        Ok(FlushService {
            shared,
            thread: Some(thread),
            commit_thread,
            commit_stop,
        })
    }

    pub fn is_sync(&self) -> bool {
        matches!(self.shared.mode, FlushMode::Sync { .. })
    }

    /// Wait until every byte before `end_offset` is durable (group commit). In async mode the
    /// request completes at the next periodic flush that covers it.
    pub fn request(&self, end_offset: u64) -> oneshot::Receiver<FlushStatus> {
        let (tx, rx) = oneshot::channel();
        if self.shared.queue.flushed_where() >= end_offset {
            let _ = tx.send(FlushStatus::Ok);
            return rx;
        }
        if let Some(why) = self.shared.poison.reason() {
            let _ = tx.send(FlushStatus::Failed(why));
            return rx;
        }
        let timeout = match self.shared.mode {
            FlushMode::Sync { timeout } => timeout,
            FlushMode::Async { .. } => Duration::from_secs(3600),
        };
        if let Ok(mut st) = self.shared.state.lock() {
            st.requests.push(Request {
                end_offset,
                deadline: Instant::now() + timeout,
                done: tx,
            });
            st.woken = true;
        }
        self.shared.wake.notify_one();
        rx
    }

    /// Nudge the flusher after an append (ending at `end`) that does not wait. A timed async
    /// flusher ignores wake-ups (Java's `flushCommitLogTimed`), and an untimed one would
    /// flush nothing before `least_pages` pages are dirty, so neither is woken before then:
    /// appends under load do not pay for a wake-up each.
    pub fn wakeup(&self, end: u64) {
        match self.shared.mode {
            FlushMode::Async { timed: true, .. } => return,
            FlushMode::Async { least_pages, .. }
                if end.saturating_sub(self.shared.queue.flushed_where())
                    < (least_pages * super::mapped_file::OS_PAGE_SIZE) as u64 =>
            {
                return
            }
            _ => {}
        }
        if let Ok(mut st) = self.shared.state.lock() {
            if !st.woken {
                st.woken = true;
                self.shared.wake.notify_one();
            }
        }
    }

    /// Stop the threads after a final commit and full flush.
    pub fn shutdown(&mut self) {
        if let Some(t) = self.commit_thread.take() {
            let (m, cv) = &*self.commit_stop;
            if let Ok(mut stop) = m.lock() {
                *stop = true;
            }
            cv.notify_all();
            let _ = t.join();
        }
        if let Ok(mut st) = self.shared.state.lock() {
            st.stop = true;
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FlushService {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Flush everything written so far; on failure poison the store.
fn flush_all(s: &Shared, least_pages: usize) -> Result<(), String> {
    if s.poison.is_poisoned() {
        return Err(s.poison.reason().unwrap_or_default());
    }
    let ts = s.last_store_timestamp.load(Ordering::Acquire);
    match s.queue.flush(least_pages) {
        Ok(_) => {
            if least_pages == 0 && ts > 0 && s.queue.flushed_where() >= s.queue.max_offset() {
                s.checkpoint.set_physic_msg_timestamp(ts);
            }
            Ok(())
        }
        Err(e) => {
            let why = format!("CommitLog sync failed: {e}");
            s.poison.poison(why.clone());
            Err(why)
        }
    }
}

fn group_commit_loop(s: &Shared) {
    loop {
        let (mut batch, stop) = {
            let Ok(guard) = s.state.lock() else { return };
            let (mut st, _) =
                match s
                    .wake
                    .wait_timeout_while(guard, Duration::from_millis(10), |st| {
                        !st.woken && !st.stop
                    }) {
                    Ok(r) => r,
                    Err(_) => return,
                };
            st.woken = false;
            (std::mem::take(&mut st.requests), st.stop)
        };
        // A message can end exactly at a file boundary: two rounds cover the roll.
        let mut result = Ok(());
        for _ in 0..2 {
            result = flush_all(s, 0);
            let flushed = s.queue.flushed_where();
            if result.is_err() || batch.iter().all(|r| r.end_offset <= flushed) {
                break;
            }
        }
        let flushed = s.queue.flushed_where();
        let now = Instant::now();
        let mut pending = Vec::new();
        for r in batch.drain(..) {
            if let Err(why) = &result {
                let _ = r.done.send(FlushStatus::Failed(why.clone()));
            } else if r.end_offset <= flushed {
                let _ = r.done.send(FlushStatus::Ok);
            } else if now >= r.deadline || stop {
                warn!("sync flush timed out at offset {}", r.end_offset);
                let _ = r.done.send(FlushStatus::Timeout);
            } else {
                pending.push(r);
            }
        }
        if !pending.is_empty() {
            if let Ok(mut st) = s.state.lock() {
                pending.append(&mut st.requests);
                st.requests = pending;
                st.woken = true;
            }
        }
        if stop {
            let _ = flush_all(s, 0);
            return;
        }
    }
}

fn async_flush_loop(
    s: &Shared,
    interval: Duration,
    least_pages: usize,
    thorough_interval: Duration,
    timed: bool,
) {
    let mut last_thorough = Instant::now();
    loop {
        let stop = {
            let Ok(guard) = s.state.lock() else { return };
            let (mut st, _) = match s
                .wake
                .wait_timeout_while(guard, interval, |st| !st.stop && (timed || !st.woken))
            {
                Ok(r) => r,
                Err(_) => return,
            };
            st.woken = false;
            st.stop
        };
        if stop {
            // Java retries up to 10 times at shutdown.
            for _ in 0..10 {
                if flush_all(s, 0).is_ok() {
                    break;
                }
            }
            complete_covered(s, true);
            return;
        }
        let least = if last_thorough.elapsed() >= thorough_interval {
            last_thorough = Instant::now();
            0
        } else {
            least_pages
        };
        let _ = flush_all(s, least);
        complete_covered(s, false);
    }
}

/// Commit write buffers into the files periodically (transient store pool).
fn commit_loop(s: &Shared, c: &CommitSettings, stop: &(Mutex<bool>, Condvar)) {
    let mut last_thorough = Instant::now();
    loop {
        let stopping = {
            let Ok(g) = stop.0.lock() else { return };
            match stop.1.wait_timeout_while(g, c.interval, |st| !*st) {
                Ok((g, _)) => *g,
                Err(_) => return,
            }
        };
        let least = if stopping || last_thorough.elapsed() >= c.thorough_interval {
            last_thorough = Instant::now();
            0
        } else {
            c.least_pages
        };
        if let Err(e) = s.queue.commit(least) {
            s.poison
                .poison(format!("CommitLog commit (write-buffer copy) failed: {e}"));
        }
        if stopping {
            return;
        }
    }
}

/// In async mode, complete waiters whose data is now durable.
fn complete_covered(s: &Shared, stop: bool) {
    let flushed = s.queue.flushed_where();
    let poisoned = s.poison.reason();
    if let Ok(mut st) = s.state.lock() {
        let reqs = std::mem::take(&mut st.requests);
        for r in reqs {
            if let Some(why) = &poisoned {
                let _ = r.done.send(FlushStatus::Failed(why.clone()));
            } else if r.end_offset <= flushed {
                let _ = r.done.send(FlushStatus::Ok);
            } else if stop {
                let _ = r.done.send(FlushStatus::Timeout);
            } else {
                st.requests.push(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fs::{Fault, Fs, FsOp};

    fn setup(fs: &Fs, dir: &std::path::Path) -> (Arc<MappedFileQueue>, Arc<StoreCheckpoint>) {
        let q = Arc::new(MappedFileQueue::new(fs, &dir.join("commitlog"), 1 << 16, false).unwrap());
        std::fs::create_dir_all(dir.join("commitlog")).unwrap();
        q.load().unwrap();
        let c = Arc::new(StoreCheckpoint::open(fs, &dir.join("checkpoint")).unwrap());
        (q, c)
    }

    #[test]
    fn group_commit_completes_waiters() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::real();
        let (q, c) = setup(&fs, dir.path());
        let ts = Arc::new(AtomicI64::new(0));
        let mut svc = FlushService::start(
            Arc::clone(&q),
            Arc::clone(&c),
            Arc::clone(&ts),
            Arc::new(Poison::default()),
            FlushMode::Sync {
                timeout: Duration::from_secs(5),
            },
        )
        .unwrap();
        let mut rxs = Vec::new();
        for i in 0..100u64 {
            let f = q.last_or_create(0).unwrap();
            f.append(&[1u8; 100]).unwrap();
            ts.store(1000 + i as i64, Ordering::Release);
            rxs.push(svc.request(q.max_offset()));
        }
        for rx in rxs {
            assert_eq!(futures::executor::block_on(rx).unwrap(), FlushStatus::Ok);
        }
        assert_eq!(q.flushed_where(), 100 * 100);
        assert_eq!(c.physic_msg_timestamp(), 1099);
        svc.shutdown();
    }

    #[test]
    fn failed_sync_poisons() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::faultable();
        let (q, c) = setup(&fs, dir.path());
        let poison = Arc::new(Poison::default());
        let svc = FlushService::start(
            Arc::clone(&q),
            c,
            Arc::new(AtomicI64::new(0)),
            Arc::clone(&poison),
            FlushMode::Sync {
                timeout: Duration::from_secs(5),
            },
        )
        .unwrap();
        fs.arm(Fault::new(
            FsOp::Sync,
            "commitlog",
            1,
            std::io::ErrorKind::Other,
        ));
        q.last_or_create(0).unwrap().append(b"x").unwrap();
        let st = futures::executor::block_on(svc.request(1)).unwrap();
        assert!(matches!(st, FlushStatus::Failed(_)), "{st:?}");
        assert!(poison.is_poisoned());
        // Later requests fail at once.
        let st = futures::executor::block_on(svc.request(2)).unwrap();
        assert!(matches!(st, FlushStatus::Failed(_)));
    }

    #[test]
    fn async_flush_covers_waiters() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::real();
        let (q, c) = setup(&fs, dir.path());
        let svc = FlushService::start(
            Arc::clone(&q),
            c,
            Arc::new(AtomicI64::new(0)),
            Arc::new(Poison::default()),
            FlushMode::Async {
                interval: Duration::from_millis(5),
                least_pages: 4,
                thorough_interval: Duration::from_millis(20),
                timed: false,
            },
        )
        .unwrap();
        q.last_or_create(0).unwrap().append(&[7u8; 10]).unwrap();
        let st = futures::executor::block_on(svc.request(10)).unwrap();
        assert_eq!(st, FlushStatus::Ok);
        drop(svc);
    }
}
