//! The timer checkpoint (`<storePathRootDir>/timer/checkpoint.json`): how far the timer has
//! consumed `rmq_sys_wheel_timer` and how much of the timer log that produced.
//!
//! `{"enqueueOffset": n, "logEnd": m}`: every consume-queue entry of `rmq_sys_wheel_timer`
//! queue 0 below `n` has its timer-log entry below `m`, and every timer-log entry below `m`
//! (and its delivered flag) was durable when the file was written. It is written only after
//! the log was flushed, through a temporary file and a rename, so it is never torn. After a
//! crash the log is cut back to `logEnd` and the queue is read again from `enqueueOffset`.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use log::error;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerCheckpoint {
    /// Next consume-queue offset of `rmq_sys_wheel_timer` queue 0 to put into the log.
    pub enqueue_offset: i64,
    /// Timer-log position the entries for `enqueue_offset` end at.
    pub log_end: u64,
}

pub fn path(timer_dir: &Path) -> PathBuf {
    timer_dir.join("checkpoint.json")
}

impl TimerCheckpoint {
    /// Read the checkpoint; a missing file is the empty checkpoint, a damaged one an error.
    pub fn load(timer_dir: &Path) -> io::Result<TimerCheckpoint> {
        match std::fs::read(path(timer_dir)) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(TimerCheckpoint::default()),
            Err(e) => Err(e),
        }
    }

    /// Write durably (temporary file, fsync, rename, fsync of the directory).
    pub fn store(&self, timer_dir: &Path) -> io::Result<()> {
        let target = path(timer_dir);
        let tmp = timer_dir.join("checkpoint.json.tmp");
        let body = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        {
            let f = std::fs::File::create(&tmp)?;
            io::Write::write_all(&mut &f, &body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &target)?;
        std::fs::File::open(timer_dir)?.sync_all()
    }
}

/// One checkpoint to make durable: sync `files`, then store `checkpoint`.
struct Job {
    files: Vec<File>,
    checkpoint: TimerCheckpoint,
}

/// Syncs the timer log and writes the checkpoint on its own thread, so that the delivery
/// thread never waits for the disk. At most one job runs at a time ([`Flusher::idle`]).
/// After a failed sync no checkpoint is written any more (the last good one stays, and a
/// restart redelivers from it: at least once).
pub struct Flusher {
    tx: Option<SyncSender<Job>>,
    busy: Arc<AtomicBool>,
    failed: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn run_job(dir: &Path, job: &Job) -> io::Result<()> {
    for f in &job.files {
        f.sync_data()?;
    }
    job.checkpoint.store(dir)
}

impl Flusher {
    /// Start the thread; `done` is signalled after every job (it wakes the delivery thread,
    /// which may have a checkpoint waiting).
    pub fn start(dir: PathBuf, done: SyncSender<()>) -> io::Result<Flusher> {
        let (tx, rx): (SyncSender<Job>, Receiver<Job>) = std::sync::mpsc::sync_channel(1);
        let busy = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicBool::new(false));
        let (b, f) = (Arc::clone(&busy), Arc::clone(&failed));
        let thread = std::thread::Builder::new()
            .name("TimerFlush".into())
            .spawn(move || {
                for job in rx {
                    if !f.load(Ordering::SeqCst) {
                        if let Err(e) = run_job(&dir, &job) {
                            error!(
                                "timer: flushing the timer log failed, no further checkpoints: {e}"
                            );
                            f.store(true, Ordering::SeqCst);
                        }
                    }
                    b.store(false, Ordering::SeqCst);
                    let _ = done.try_send(());
                }
            })?;
        Ok(Flusher {
            tx: Some(tx),
            busy,
            failed,
            thread: Some(thread),
        })
    }

    /// No job running: [`Flusher::submit`] will be taken at once.
    pub fn idle(&self) -> bool {
        !self.busy.load(Ordering::SeqCst)
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Hand over a job (call only when [`Flusher::idle`]).
    pub fn submit(&self, files: Vec<File>, checkpoint: TimerCheckpoint) {
        let Some(tx) = &self.tx else { return };
        self.busy.store(true, Ordering::SeqCst);
        if tx.try_send(Job { files, checkpoint }).is_err() {
            self.busy.store(false, Ordering::SeqCst);
        }
    }

    /// Finish the running job and stop the thread.
    pub fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_load() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            TimerCheckpoint::load(dir.path()).unwrap(),
            TimerCheckpoint::default()
        );
        let c = TimerCheckpoint {
            enqueue_offset: 12,
            log_end: 480,
        };
        c.store(dir.path()).unwrap();
        assert_eq!(TimerCheckpoint::load(dir.path()).unwrap(), c);
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(text.contains("\"enqueueOffset\": 12"), "{text}");
        std::fs::write(path(dir.path()), b"{not json").unwrap();
        assert!(TimerCheckpoint::load(dir.path()).is_err());
    }
}
