//! The timer log: an append-only sequence of fixed-size entries, one per scheduled message,
//! split into segment files `<dir>/<20-digit start position>`.
//!
//! An entry never holds the message: it names the original record in the CommitLog (offset and
//! size) and says when it is due. Layout (big-endian, [`ENTRY_SIZE`] = 40 bytes):
//!
//! | at | field | |
//! |---|---|---|
//! | 0 | due_ms `i64` | delivery time, ms since the epoch |
//! | 8 | commit_log_offset `i64` | the `rmq_sys_wheel_timer` record |
//! | 16 | size `i32` | its size |
//! | 20 | state `i32` | 1 pending, 2 delivered (0: never written — a hole reads as zeros) |
//! | 24 | prev `i64` | previous entry of the same wheel slot, −1 for none |
//! | 32 | enqueue_ms `i64` | when the entry was written (`TIMER_ENQUEUE_MS` of the copy) |
//!
//! Invariants: positions are multiples of [`ENTRY_SIZE`]; a segment's size is a multiple of
//! [`ENTRY_SIZE`], so no entry spans two files; `end` is the position the next entry goes to
//! and every position below `end` in a retained segment holds a written entry. Each segment
//! counts its pending entries; a segment below the one being written whose count drops to 0
//! holds only delivered entries and is deleted — so the log's disk use follows the number of
//! pending messages, not the number ever scheduled. Nothing here is cached in memory apart
//! from one open file and one counter per segment.
//!
//! Durability: writes go to the page cache; [`TimerLog::flush`] makes them durable
//! (`fdatasync` of the segments written since the last flush).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use log::{info, warn};

/// Size of one entry.
pub const ENTRY_SIZE: u64 = 40;
/// `state` of an entry still to deliver.
pub const PENDING: i32 = 1;
/// `state` of a delivered (or dropped) entry.
pub const DELIVERED: i32 = 2;
/// Offset of `state` within an entry.
const STATE_AT: u64 = 20;
/// Offset of `prev` within an entry.
const PREV_AT: u64 = 24;

/// One timer-log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub due_ms: i64,
    pub commit_log_offset: i64,
    pub size: i32,
    pub state: i32,
    pub prev: i64,
    pub enqueue_ms: i64,
}

impl Entry {
    pub fn encode(&self) -> [u8; ENTRY_SIZE as usize] {
        let mut b = [0u8; ENTRY_SIZE as usize];
        b[0..8].copy_from_slice(&self.due_ms.to_be_bytes());
        b[8..16].copy_from_slice(&self.commit_log_offset.to_be_bytes());
        b[16..20].copy_from_slice(&self.size.to_be_bytes());
        b[20..24].copy_from_slice(&self.state.to_be_bytes());
        b[24..32].copy_from_slice(&self.prev.to_be_bytes());
        b[32..40].copy_from_slice(&self.enqueue_ms.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8; ENTRY_SIZE as usize]) -> Entry {
        let i64_at = |at: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(x)
        };
        let i32_at = |at: usize| {
            let mut x = [0u8; 4];
            x.copy_from_slice(&b[at..at + 4]);
            i32::from_be_bytes(x)
        };
        Entry {
            due_ms: i64_at(0),
            commit_log_offset: i64_at(8),
            size: i32_at(16),
            state: i32_at(20),
            prev: i64_at(24),
            enqueue_ms: i64_at(32),
        }
    }
}

struct Segment {
    file: File,
    path: PathBuf,
    pending: u64,
}

/// The open log. Owned by the timer actor (no locking).
pub struct TimerLog {
    dir: PathBuf,
    segment_size: u64,
    segments: BTreeMap<u64, Segment>,
    /// Segments written since the last flush.
    dirty: BTreeSet<u64>,
    end: u64,
}

fn file_name(start: u64) -> String {
    format!("{start:020}")
}

impl TimerLog {
    /// Open the log in `dir` with everything from `end` on discarded (entries written after
    /// the last checkpoint are not trusted: the caller enqueues them again). `segment_size` is
    /// rounded down to whole entries (at least one).
    pub fn open(dir: &Path, segment_size: u64, end: u64) -> io::Result<TimerLog> {
        std::fs::create_dir_all(dir)?;
        let segment_size = (segment_size / ENTRY_SIZE).max(1) * ENTRY_SIZE;
        let end = end / ENTRY_SIZE * ENTRY_SIZE;
        let mut log = TimerLog {
            dir: dir.to_path_buf(),
            segment_size,
            segments: BTreeMap::new(),
            dirty: BTreeSet::new(),
            end,
        };
        let mut starts = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            let Some(start) = p
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| n.len() == 20)
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            starts.push((start, p));
        }
        // Positions are referenced by nothing outside the log (the wheel is rebuilt), so when
        // the segment `end` falls in is gone (deleted as drained after the checkpoint was
        // written), writing resumes at the next segment boundary instead of in a hole.
        let end_start = end / segment_size * segment_size;
        if end != end_start && !starts.iter().any(|(s, _)| *s == end_start) {
            log.end = end_start + segment_size;
        }
        let end = log.end;
        for (start, path) in starts {
            if start >= end || !start.is_multiple_of(segment_size) {
                // Written after the checkpoint (or from another segment size): not trusted.
                info!(
                    "timer log: removing {} (past the checkpoint)",
                    path.display()
                );
                std::fs::remove_file(&path)?;
                continue;
            }
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            log.segments.insert(
                start,
                Segment {
                    file,
                    path,
                    pending: 0,
                },
            );
        }
        Ok(log)
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    /// Entries not yet delivered, over all segments.
    pub fn pending(&self) -> u64 {
        self.segments.values().map(|s| s.pending).sum()
    }

    /// Retained segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn segment_start(&self, pos: u64) -> u64 {
        pos / self.segment_size * self.segment_size
    }

    /// Visit every entry below `end` in the retained segments, oldest first, and count the
    /// pending ones. An entry that cannot be read ends its segment's scan (logged).
    pub fn scan(&mut self, mut visit: impl FnMut(u64, &Entry)) -> io::Result<()> {
        let end = self.end;
        let size = self.segment_size;
        for (start, seg) in self.segments.iter_mut() {
            seg.pending = 0;
            let stop = (start + size).min(end);
            let mut buf = vec![0u8; (stop - start) as usize];
            if let Err(e) = seg.file.read_exact_at(&mut buf, 0) {
                // Its entries cannot be delivered; the segment stays for an operator to see.
                warn!("timer log: reading {}: {e}", seg.path.display());
                buf.clear();
            }
            for (i, chunk) in buf.chunks_exact(ENTRY_SIZE as usize).enumerate() {
                let mut b = [0u8; ENTRY_SIZE as usize];
                b.copy_from_slice(chunk);
                let e = Entry::decode(&b);
                if e.state == PENDING {
                    seg.pending += 1;
                }
                visit(start + i as u64 * ENTRY_SIZE, &e);
            }
        }
        Ok(())
    }

    /// Append `e`; returns its position.
    pub fn append(&mut self, e: &Entry) -> io::Result<u64> {
        let pos = self.end;
        let start = self.segment_start(pos);
        if !self.segments.contains_key(&start) {
            let path = self.dir.join(file_name(start));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            self.segments.insert(
                start,
                Segment {
                    file,
                    path,
                    pending: 0,
                },
            );
            // The previous segment is complete now: drop it when nothing in it is pending.
            if let Some(prev) = start.checked_sub(self.segment_size) {
                self.remove_if_done(prev);
            }
        }
        let Some(seg) = self.segments.get_mut(&start) else {
            return Err(io::Error::other("timer log segment vanished"));
        };
        seg.file.write_all_at(&e.encode(), pos - start)?;
        if e.state == PENDING {
            seg.pending += 1;
        }
        self.dirty.insert(start);
        self.end = pos + ENTRY_SIZE;
        Ok(pos)
    }

    /// The entry at `pos` (`None` when its segment is gone or the read fails).
    pub fn read(&self, pos: u64) -> Option<Entry> {
        if pos >= self.end || !pos.is_multiple_of(ENTRY_SIZE) {
            return None;
        }
        let start = self.segment_start(pos);
        let seg = self.segments.get(&start)?;
        let mut b = [0u8; ENTRY_SIZE as usize];
        match seg.file.read_exact_at(&mut b, pos - start) {
            Ok(()) => Some(Entry::decode(&b)),
            Err(e) => {
                warn!("timer log: reading entry {pos}: {e}");
                None
            }
        }
    }

    /// Rewrite the `prev` link of the entry at `pos` (the wheel is rebuilt at start).
    pub fn set_prev(&mut self, pos: u64, prev: i64) -> io::Result<()> {
        if pos >= self.end {
            return Ok(());
        }
        let start = self.segment_start(pos);
        let Some(seg) = self.segments.get(&start) else {
            return Ok(());
        };
        seg.file
            .write_all_at(&prev.to_be_bytes(), pos - start + PREV_AT)?;
        self.dirty.insert(start);
        Ok(())
    }

    /// Mark the entry at `pos` delivered; a completed segment with nothing pending left is
    /// deleted.
    pub fn mark_delivered(&mut self, pos: u64) -> io::Result<()> {
        if pos >= self.end {
            return Ok(());
        }
        let start = self.segment_start(pos);
        let Some(seg) = self.segments.get_mut(&start) else {
            return Ok(());
        };
        seg.file
            .write_all_at(&DELIVERED.to_be_bytes(), pos - start + STATE_AT)?;
        seg.pending = seg.pending.saturating_sub(1);
        self.dirty.insert(start);
        self.remove_if_done(start);
        Ok(())
    }

    /// Delete segment `start` when it is complete (the log has moved past it) and nothing in
    /// it is pending.
    fn remove_if_done(&mut self, start: u64) {
        if start + self.segment_size > self.end {
            return;
        }
        if self.segments.get(&start).is_some_and(|s| s.pending == 0) {
            if let Some(seg) = self.segments.remove(&start) {
                self.dirty.remove(&start);
                if let Err(e) = std::fs::remove_file(&seg.path) {
                    warn!("timer log: removing {}: {e}", seg.path.display());
                }
            }
        }
    }

    /// Handles of the segments written since the last call, for a sync elsewhere; they are
    /// no longer counted as dirty.
    pub fn take_dirty_files(&mut self) -> io::Result<Vec<File>> {
        let mut out = Vec::new();
        for start in std::mem::take(&mut self.dirty) {
            if let Some(seg) = self.segments.get(&start) {
                out.push(seg.file.try_clone()?);
            }
        }
        Ok(out)
    }

    /// Make every write so far durable.
    pub fn flush(&mut self) -> io::Result<()> {
        for start in std::mem::take(&mut self.dirty) {
            if let Some(seg) = self.segments.get(&start) {
                seg.file.sync_data()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(due: i64, prev: i64) -> Entry {
        Entry {
            due_ms: due,
            commit_log_offset: due * 10,
            size: 100,
            state: PENDING,
            prev,
            enqueue_ms: 7,
        }
    }

    #[test]
    fn entries_round_trip() {
        let e = Entry {
            due_ms: -5,
            commit_log_offset: i64::MAX,
            size: i32::MIN,
            state: DELIVERED,
            prev: -1,
            enqueue_ms: 1_700_000_000_000,
        };
        assert_eq!(Entry::decode(&e.encode()), e);
    }

    #[test]
    fn append_read_mark_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        // Two entries per segment.
        let mut log = TimerLog::open(dir.path(), 2 * ENTRY_SIZE + 7, 0).unwrap();
        let mut pos = Vec::new();
        for i in 0..5 {
            pos.push(log.append(&entry(1000 + i, i - 1)).unwrap());
        }
        assert_eq!(pos, vec![0, 40, 80, 120, 160]);
        assert_eq!(log.read(80).unwrap(), entry(1002, 1));
        assert_eq!(log.read(200), None, "past the end");
        assert_eq!(log.read(81), None, "not an entry boundary");
        assert_eq!(log.pending(), 5);
        assert_eq!(log.segment_count(), 3);

        // Delivering both entries of the first segment deletes it.
        log.mark_delivered(0).unwrap();
        assert_eq!(log.segment_count(), 3);
        log.mark_delivered(40).unwrap();
        assert_eq!(log.segment_count(), 2);
        assert_eq!(log.read(0), None, "segment gone");
        // The segment being written is kept even when nothing in it is pending.
        log.mark_delivered(160).unwrap();
        assert_eq!(log.segment_count(), 2);
        log.flush().unwrap();

        // Reopen up to 160: the entry at 160 (after the checkpoint) is dropped with its file.
        drop(log);
        let mut log = TimerLog::open(dir.path(), 2 * ENTRY_SIZE, 160).unwrap();
        let mut seen = Vec::new();
        log.scan(|p, e| seen.push((p, e.state))).unwrap();
        assert_eq!(seen, vec![(80, PENDING), (120, PENDING)]);
        assert_eq!(log.pending(), 2);
        assert_eq!(log.end(), 160);
        assert_eq!(log.append(&entry(9, -1)).unwrap(), 160);
        log.mark_delivered(80).unwrap();
        log.mark_delivered(120).unwrap();
        assert_eq!(log.segment_count(), 1, "completed, all delivered: deleted");
    }

    #[test]
    fn a_drained_segment_behind_the_checkpoint_is_not_written_into() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TimerLog::open(dir.path(), 2 * ENTRY_SIZE, 0).unwrap();
        for i in 0..5 {
            log.append(&entry(i, -1)).unwrap();
        }
        for p in [0, 40, 80, 120] {
            log.mark_delivered(p).unwrap();
        }
        assert_eq!(log.segment_count(), 1);
        drop(log);
        // The checkpoint said 40 (inside the deleted first segment): writing resumes at 80,
        // and the later segments (past the checkpoint) go.
        let mut log = TimerLog::open(dir.path(), 2 * ENTRY_SIZE, 40).unwrap();
        assert_eq!(log.end(), 80);
        assert_eq!(log.segment_count(), 0);
        assert_eq!(log.append(&entry(9, -1)).unwrap(), 80);

        // Zeros (a hole, a zeroed page) are never pending.
        let hole = dir.path().join("holes");
        std::fs::create_dir_all(&hole).unwrap();
        std::fs::write(hole.join(file_name(0)), vec![0u8; 3 * ENTRY_SIZE as usize]).unwrap();
        let mut log = TimerLog::open(&hole, 4 * ENTRY_SIZE, 3 * ENTRY_SIZE).unwrap();
        let mut pending = 0;
        log.scan(|_, e| pending += usize::from(e.state == PENDING))
            .unwrap();
        assert_eq!((pending, log.pending()), (0, 0));
    }
}
