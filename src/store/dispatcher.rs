//! The dispatcher ("reput"): builds consume queues and index files from the CommitLog, and
//! tells subscribers which queue got new data.
//!
//! One dedicated thread ("apogee-reput") owns `reput_from` (the CommitLog offset dispatched so
//! far). An idle dispatcher parks and the next append wakes it with `unpark` (a wake-up that
//! arrives while it is busy is kept by the thread's park token, so none is lost); a busy one
//! naps for [`BUSY_NAP`] between rounds, so appends under load cost no wake-up each. For every new
//! record it writes the CQ unit and the index entries, then calls the arrival listeners
//! (long polling hangs on them) with `(topic, queue, max offset, tags code, store time)`.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{error, warn};

use super::checkpoint::StoreCheckpoint;
use super::commit_log::{check_record, CommitLog, RecordCheck};
use super::consume_queue::ConsumeQueueTable;
use super::dispatch_request::DispatchRequest;
use super::index::IndexService;
use super::running_flags::RunningFlags;

/// After a round that dispatched something, the thread naps this long before the next round
/// instead of parking: under load, appends then cost no wake-up each (one round takes
/// everything appended during the nap); when idle, the first append wakes it at once. Bounds
/// the extra delivery delay under load.
const BUSY_NAP: Duration = Duration::from_micros(100);

/// New data in a queue, as the dispatcher announces it.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    /// The queue's max offset after this message (its queue offset + 1).
    pub max_offset: i64,
    pub tags_code: i64,
    pub store_timestamp: i64,
}

/// Called for every dispatched message; must be quick and must not block.
pub type ArrivalListener = Arc<dyn Fn(&Arrival<'_>) + Send + Sync>;

/// Builds CQ units and index entries for one record (shared by the reput thread and
/// abnormal recovery).
pub struct DispatchTargets {
    pub cq_table: Arc<ConsumeQueueTable>,
    pub index: Option<Arc<IndexService>>,
    pub checkpoint: Arc<StoreCheckpoint>,
    pub flags: Arc<RunningFlags>,
}

impl DispatchTargets {
    /// Write the record's CQ unit (NOT/COMMIT records) and index entries (all but ROLLBACK).
    pub fn dispatch(&self, req: &DispatchRequest) {
        if req.goes_to_consume_queue() {
            let mut ok = false;
            for attempt in 0..3 {
                let r = self
                    .cq_table
                    .find_or_create(&req.topic, req.queue_id)
                    .and_then(|cq| {
                        cq.put(
                            req.consume_queue_offset,
                            req.commit_log_offset,
                            req.msg_size,
                            req.tags_code,
                        )
                    });
                match r {
                    Ok(_) => {
                        ok = true;
                        break;
                    }
                    Err(e) => {
                        warn!(
                            "consume queue {}/{} write failed (attempt {}): {e}",
                            req.topic,
                            req.queue_id,
                            attempt + 1
                        );
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
            if !ok {
                error!("consume queue write failed; the store stops accepting writes");
                self.flags.set(RunningFlags::WRITE_LOGICS_QUEUE_ERROR);
            }
            self.checkpoint
                .set_logics_msg_timestamp(req.store_timestamp);
        }
        if let Some(index) = &self.index {
            if req.goes_to_index() {
                match index.build_index(req) {
                    Ok(Some(full_file_end)) => {
                        self.checkpoint.set_index_msg_timestamp(full_file_end);
                        if let Err(e) = self.checkpoint.flush() {
                            warn!("checkpoint flush after index roll failed: {e}");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        error!("index write failed: {e}");
                        self.flags.set(RunningFlags::WRITE_INDEX_FILE_ERROR);
                    }
                }
            }
        }
    }
}

struct Shared {
    commit_log: Arc<CommitLog>,
    targets: DispatchTargets,
    delay_levels: Vec<i64>,
    reput_from: AtomicI64,
    listeners: RwLock<Vec<ArrivalListener>>,
    notify_arrivals: bool,
    stop: AtomicBool,
    /// Set by the reput thread just before it parks (after re-checking for work), so that
    /// appenders only pay for an `unpark` when it is actually asleep.
    sleeping: AtomicBool,
    dispatched: AtomicU64,
}

/// Handle to the reput thread.
pub struct Dispatcher {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The reput thread, for `unpark` without taking a lock.
    handle: std::thread::Thread,
}

impl Dispatcher {
    /// Start dispatching from `reput_from`. With `notify_arrivals` false (a slave in 4.9.8),
    /// listeners are not called.
    pub fn start(
        commit_log: Arc<CommitLog>,
        targets: DispatchTargets,
        delay_levels: Vec<i64>,
        reput_from: i64,
        notify_arrivals: bool,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            commit_log,
            targets,
            delay_levels,
            reput_from: AtomicI64::new(reput_from),
            listeners: RwLock::new(Vec::new()),
            notify_arrivals,
            stop: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            dispatched: AtomicU64::new(0),
        });
        let s2 = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("apogee-reput".into())
            .spawn(move || {
                while !s2.stop.load(Ordering::Acquire) {
                    let before = s2.dispatched.load(Ordering::Relaxed);
                    let stalled_at = do_reput(&s2);
                    if s2.dispatched.load(Ordering::Relaxed) != before {
                        // Busy: nap briefly without announcing a sleep, so appends during the
                        // nap cost no `unpark` and the next round takes them all at once.
                        std::thread::sleep(BUSY_NAP);
                        continue;
                    }
                    // Announce the sleep, then re-check: an append published before the flag
                    // was visible is seen here; one after it unparks us (the park token keeps
                    // an unpark that comes before the park). No wake-up is lost.
                    s2.sleeping.store(true, Ordering::SeqCst);
                    let max = s2.commit_log.max_offset();
                    let idle = match stalled_at {
                        // Waiting for the rest of a record: idle until the log grows.
                        Some(seen) => max <= seen,
                        None => s2.reput_from.load(Ordering::Acquire) >= max,
                    };
                    if idle && !s2.stop.load(Ordering::Acquire) {
                        std::thread::park_timeout(Duration::from_millis(100));
                    }
                    s2.sleeping.store(false, Ordering::SeqCst);
                }
                do_reput(&s2);
            })?;
        let handle = thread.thread().clone();
        Ok(Dispatcher {
            shared,
            thread: Mutex::new(Some(thread)),
            handle,
        })
    }

    /// Wake the thread: new data was appended. Costs an atomic load unless it sleeps.
    pub fn wakeup(&self) {
        if self.shared.sleeping.load(Ordering::SeqCst) {
            self.handle.unpark();
        }
    }

    fn force_wakeup(&self) {
        self.handle.unpark();
    }

    pub fn add_listener(&self, l: ArrivalListener) {
        if let Ok(mut v) = self.shared.listeners.write() {
            v.push(l);
        }
    }

    /// CommitLog offset dispatched so far.
    pub fn reput_from(&self) -> i64 {
        self.shared.reput_from.load(Ordering::Acquire)
    }

    /// Bytes appended but not yet dispatched.
    pub fn behind_bytes(&self) -> i64 {
        (self.shared.commit_log.max_offset() - self.reput_from()).max(0)
    }

    pub fn dispatched_count(&self) -> u64 {
        self.shared.dispatched.load(Ordering::Relaxed)
    }

    /// Wait (bounded) until everything appended so far is dispatched.
    pub fn wait_caught_up(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.behind_bytes() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            self.force_wakeup();
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Dispatch what is left and stop the thread.
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.force_wakeup();
        if let Ok(mut t) = self.thread.lock() {
            if let Some(t) = t.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Dispatch everything readable. Returns `Some(end of readable data)` when it stopped at a
/// record whose bytes are not all there yet (a slave receives the CommitLog in chunks that
/// may cut a record), `None` otherwise.
fn do_reput(s: &Shared) -> Option<i64> {
    let cl = &s.commit_log;
    loop {
        let mut from = s.reput_from.load(Ordering::Acquire);
        let min = cl.min_offset();
        if from < min {
            warn!("reput offset {from} is below the CommitLog minimum {min}: jumping ahead");
            from = min;
            s.reput_from.store(from, Ordering::Release);
        }
        if from >= cl.max_offset() {
            return None;
        }
        let (file, pos) = cl.data_from(from)?;
        // Read "full" before slicing: with a write buffer the readable end moves when a
        // commit lands, and a file found full *after* an empty slice may still hold records
        // that slice did not see.
        let full_before = file.is_readable_full();
        let data = file.slice_from(pos)?;
        if data.is_empty() {
            if full_before {
                s.reput_from
                    .store(cl.roll_next_file(from), Ordering::Release);
                continue;
            }
            return None;
        }
        let mut p = 0usize;
        let mut rolled = false;
        while p < data.len() {
            let at = file.from_offset() + (pos + p) as u64;
            if !full_before && is_incomplete(&data[p..]) {
                // The rest of this record has not arrived yet (replicated chunks may end
                // mid-record; local appends never publish a partial record).
                return Some(file.from_offset() as i64 + (pos + data.len()) as i64);
            }
            match check_record(&data[p..], false, &s.delay_levels, at) {
                RecordCheck::Message(req) => {
                    s.targets.dispatch(&req);
                    p += req.msg_size as usize;
                    s.reput_from
                        .store(at as i64 + req.msg_size as i64, Ordering::Release);
                    s.dispatched.fetch_add(1, Ordering::Relaxed);
                    if s.notify_arrivals {
                        notify(s, &req);
                    } else {
                        // A slave appends no messages itself: its recovery point follows what
                        // was replicated and dispatched (as Java's reput does on a slave).
                        s.targets
                            .checkpoint
                            .set_physic_msg_timestamp(req.store_timestamp);
                    }
                }
                RecordCheck::Blank => {
                    s.reput_from
                        .store(cl.roll_next_file(at as i64), Ordering::Release);
                    rolled = true;
                    break;
                }
                RecordCheck::End(why) => {
                    // Written bytes that do not parse: corruption. Like a Java master, skip
                    // the rest of this file rather than stall forever.
                    error!("reput: bad record at {at}: {why}; skipping to the next file");
                    s.reput_from
                        .store(cl.roll_next_file(at as i64), Ordering::Release);
                    rolled = true;
                    break;
                }
            }
        }
        if !rolled && p >= data.len() && !file.is_readable_full() {
            // Caught up with this (last) file; more may arrive later.
            continue;
        }
    }
}

/// Whether `rest` (readable bytes from a record boundary in a file that is not full) holds
/// only the beginning of a record.
fn is_incomplete(rest: &[u8]) -> bool {
    if rest.len() < 8 {
        return true;
    }
    let size = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let magic = i32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
    magic != apogee_codec::message::BLANK_MAGIC && size > 0 && size as usize > rest.len()
}

fn notify(s: &Shared, req: &DispatchRequest) {
    if !req.goes_to_consume_queue() {
        return;
    }
    let Ok(listeners) = s.listeners.read() else {
        return;
    };
    if listeners.is_empty() {
        return;
    }
    let a = Arrival {
        topic: &req.topic,
        queue_id: req.queue_id,
        max_offset: req.consume_queue_offset + 1,
        tags_code: req.tags_code,
        store_timestamp: req.store_timestamp,
    };
    for l in listeners.iter() {
        l(&a);
    }
}
