//! ConsumeQueue (CQ): the per-(topic, queueId) index of the CommitLog, byte-compatible with
//! RocketMQ 4.9.8.
//!
//! # On-disk layout
//! * Directory `<root>/consumequeue/<topic>/<queueId>/`, a [`MappedFileQueue`] of files of
//!   `mappedFileSizeConsumeQueue` bytes (a multiple of 20; 6 000 000 = 300 000 units by default),
//!   each named by the 20-digit **byte** offset of its first unit in the queue's stream.
//! * The stream is a sequence of 20-byte units, big-endian:
//!
//!   | bytes  | field           | type |
//!   |--------|-----------------|------|
//!   | 0..8   | commitLogOffset | i64  |
//!   | 8..12  | size            | i32  |
//!   | 12..20 | tagsCode        | i64  |
//!
//!   Logical queue offset `n` is the unit at byte `n * 20` of the stream.
//! * A **blank** unit `(0, i32::MAX, 0)` pads the first file from its start when a queue's first
//!   unit is written at a non-zero offset (the queue then starts at that offset: `min_offset`).
//! * Unwritten space is zeros. On recovery a unit is valid iff `commitLogOffset >= 0 && size > 0`
//!   (blank units are valid); the first invalid unit ends the queue.
//!
//! # Who writes, what readers see
//! * One writer, the dispatcher, calls [`ConsumeQueue::put`]. Every operation that changes the
//!   files or the write position (`put`, `recover`, `truncate_dirty`, `delete_expired_files`,
//!   `destroy`) also takes an internal writer lock, so the cleaner thread and recovery can never
//!   interleave with a put.
//! * A unit becomes visible to readers only once it is completely written: the file's write
//!   position is published with `Release` after the 20 bytes are in place. Readers take no lock;
//!   they work on a snapshot of the file list, and a file deleted under them stays mapped while
//!   they hold it.
//! * Readers see the units in `[min_offset, max_offset)`. Units below `min_offset` are blank
//!   padding or point at CommitLog data that has expired; reads below it return nothing.
//! * Written units never change, except when recovery or a truncation (`truncate_dirty`, which
//!   follows the CommitLog being cut back) drops a tail: the dropped bytes are zeroed.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::UNIX_EPOCH;

use log::{debug, error, info, warn};

use super::fs::Fs;
use super::mapped_file::MappedFile;
use super::mapped_file_queue::MappedFileQueue;

mod table;

pub use table::ConsumeQueueTable;

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod tests;

/// Size of one unit in bytes (`CQ_STORE_UNIT_SIZE`).
pub const CQ_UNIT_SIZE: usize = 20;
const UNIT: u64 = CQ_UNIT_SIZE as u64;
const UNIT_I64: i64 = CQ_UNIT_SIZE as i64;

/// The `size` field of a blank (padding) unit.
pub const BLANK_UNIT_SIZE: i32 = i32::MAX;

/// Units per file with the default `mappedFileSizeConsumeQueue`.
pub const DEFAULT_UNITS_PER_FILE: usize = 300_000;

/// The topic whose tagsCode is a delivery time; never dropped by `clean_expired_queues`.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// Highest stream byte offset we accept (keeps every `offset + file_size` inside `i64`).
const MAX_STREAM_POS: u64 = (i64::MAX / 2) as u64;

/// One unit of a consume queue, with its logical position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CqUnit {
    /// Logical queue offset of the unit (its byte position / 20).
    pub queue_offset: i64,
    /// Physical offset of the record in the CommitLog.
    pub commit_log_offset: i64,
    /// TOTALSIZE of the record.
    pub size: i32,
    /// `String.hashCode()` of TAGS, or the delivery time for `SCHEDULE_TOPIC_XXXX`.
    pub tags_code: i64,
}

impl CqUnit {
    /// Recovery's validity rule: `commitLogOffset >= 0 && size > 0` (blank units are valid).
    pub fn is_valid(&self) -> bool {
        is_valid(self.commit_log_offset, self.size)
    }

    /// A padding unit `(0, i32::MAX, 0)`; it points at no record.
    pub fn is_blank(&self) -> bool {
        is_blank(self.commit_log_offset, self.size)
    }

    /// CommitLog offset just past the record.
    pub fn end_offset(&self) -> i64 {
        self.commit_log_offset.saturating_add(i64::from(self.size))
    }
}

/// The 20 bytes of a unit.
pub fn encode_unit(commit_log_offset: i64, size: i32, tags_code: i64) -> [u8; CQ_UNIT_SIZE] {
    let mut unit = [0u8; CQ_UNIT_SIZE];
    let src = commit_log_offset
        .to_be_bytes()
        .into_iter()
        .chain(size.to_be_bytes())
        .chain(tags_code.to_be_bytes());
    for (dst, b) in unit.iter_mut().zip(src) {
        *dst = b;
    }
    unit
}

/// Decode the unit at the start of `buf` as `(commitLogOffset, size, tagsCode)`; `None` if
/// `buf` is shorter than a unit.
pub fn decode_unit(buf: &[u8]) -> Option<(i64, i32, i64)> {
    let (phy, rest) = buf.split_first_chunk::<8>()?;
    let (size, rest) = rest.split_first_chunk::<4>()?;
    let tags = rest.first_chunk::<8>()?;
    Some((
        i64::from_be_bytes(*phy),
        i32::from_be_bytes(*size),
        i64::from_be_bytes(*tags),
    ))
}

fn is_valid(phy: i64, size: i32) -> bool {
    phy >= 0 && size > 0
}

fn is_blank(phy: i64, size: i32) -> bool {
    phy == 0 && size == BLANK_UNIT_SIZE
}

/// End offset of the record a unit points at, if it points at one (valid and not blank).
fn real_end(phy: i64, size: i32) -> Option<i64> {
    (is_valid(phy, size) && !is_blank(phy, size)).then(|| phy.saturating_add(i64::from(size)))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// A topic name is used as a directory name: refuse anything that would leave the CQ root.
fn check_topic_dir_name(topic: &str) -> io::Result<()> {
    if topic.is_empty() || topic == "." || topic == ".." || topic.contains(['/', '\\', '\0']) {
        return Err(invalid_input(format!(
            "topic {topic:?} cannot be a consume queue directory name"
        )));
    }
    Ok(())
}

/// File modification time in ms since the epoch; 0 when unknown (as Java's `lastModified`).
fn mtime_ms(f: &MappedFile) -> i64 {
    f.last_modified()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The last written unit strictly before stream byte offset `end`.
fn last_unit_before(files: &[Arc<MappedFile>], end: u64) -> Option<(i64, i32, i64)> {
    let f = files.iter().rev().find(|f| f.from_offset() < end)?;
    let avail = usize::try_from(end - f.from_offset())
        .unwrap_or(usize::MAX)
        .min(f.wrote_position());
    let pos = (avail / CQ_UNIT_SIZE).checked_sub(1)? * CQ_UNIT_SIZE;
    f.slice(pos, CQ_UNIT_SIZE).and_then(decode_unit)
}

/// The consume queue of one (topic, queueId).
pub struct ConsumeQueue {
    topic: String,
    queue_id: i32,
    dir: PathBuf,
    file_size: usize,
    files: MappedFileQueue,
    /// Byte position of the first unit readers may see (`minLogicOffset`).
    min_logic_offset: AtomicI64,
    /// End (phy + size) of the last record indexed; -1 when none (`maxPhysicOffset`).
    max_physic_offset: AtomicI64,
    /// Serialises everything that writes or cuts the files.
    writer: Mutex<()>,
}

impl std::fmt::Debug for ConsumeQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumeQueue")
            .field("topic", &self.topic)
            .field("queue_id", &self.queue_id)
            .field("min_offset", &self.min_offset())
            .field("max_offset", &self.max_offset())
            .field("max_physic_offset", &self.max_physic_offset())
            .finish()
    }
}

impl ConsumeQueue {
    /// A queue in `<cq_root>/<topic>/<queue_id>/` with files of `file_size` bytes (a positive
    /// multiple of 20). Nothing is read or created until [`ConsumeQueue::load`] / `put`.
    pub fn new(
        fs: &Fs,
        cq_root: &Path,
        topic: &str,
        queue_id: i32,
        file_size: usize,
    ) -> io::Result<Self> {
        if file_size == 0 || !file_size.is_multiple_of(CQ_UNIT_SIZE) {
            return Err(invalid_input(format!(
                "consume queue file size {file_size} is not a positive multiple of {CQ_UNIT_SIZE}"
            )));
        }
        check_topic_dir_name(topic)?;
        let dir = cq_root.join(topic).join(queue_id.to_string());
        let files = MappedFileQueue::new(fs, &dir, file_size, false)?;
        Ok(ConsumeQueue {
            topic: topic.to_owned(),
            queue_id,
            dir,
            file_size,
            files,
            min_logic_offset: AtomicI64::new(0),
            max_physic_offset: AtomicI64::new(-1),
            writer: Mutex::new(()),
        })
    }

    fn lock_writer(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open the queue's files. A file of the wrong size, or one whose name is not a multiple
    /// of the file size, is an error (the store must not start on it). Loaded files count as
    /// full until [`ConsumeQueue::recover`] finds the end of the data: recover before reading
    /// or writing.
    pub fn load(&self) -> io::Result<()> {
        self.files.load()?;
        for f in self.files.files().iter() {
            let from = f.from_offset();
            let misplaced = from % self.file_size as u64 != 0;
            let too_far = match from.checked_add(self.file_size as u64) {
                Some(end) => end > MAX_STREAM_POS,
                None => true,
            };
            if misplaced || too_far {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: the file name is not a multiple of the consume queue file size \
                         {} (or is out of range)",
                        f.path().display(),
                        self.file_size
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn queue_id(&self) -> i32 {
        self.queue_id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file_size(&self) -> usize {
        self.file_size
    }

    pub fn units_per_file(&self) -> usize {
        self.file_size / CQ_UNIT_SIZE
    }

    /// A snapshot of the queue's files.
    pub fn mapped_files(&self) -> Arc<Vec<Arc<MappedFile>>> {
        self.files.files()
    }

    /// Stream offset up to which the queue is durable.
    pub fn flushed_where(&self) -> u64 {
        self.files.flushed_where()
    }

    /// Logical offset of the first unit readers may see (`minLogicOffset / 20`).
    pub fn min_offset(&self) -> i64 {
        self.min_logic_offset.load(Ordering::Acquire) / UNIT_I64
    }

    /// Byte position of the first readable unit.
    pub fn min_logic_offset(&self) -> i64 {
        self.min_logic_offset.load(Ordering::Acquire)
    }

    /// Logical offset of the next unit to be written (0 for an empty queue).
    pub fn max_offset(&self) -> i64 {
        to_i64(self.files.max_offset()) / UNIT_I64
    }

    /// End (phy + size) of the last record indexed, -1 if none.
    pub fn max_physic_offset(&self) -> i64 {
        self.max_physic_offset.load(Ordering::Acquire)
    }

    /// Units readers can see: `max_offset - min_offset`.
    pub fn message_count(&self) -> i64 {
        (self.max_offset() - self.min_offset()).max(0)
    }

    /// End (phy + size) of the record the last unit points at, -1 if there is none (Java's
    /// `getLastOffset`, used to find queues whose data has fully expired).
    pub fn last_offset(&self) -> i64 {
        let files = self.files.files();
        last_unit_before(&files, self.files.max_offset())
            .and_then(|(phy, size, _)| real_end(phy, size))
            .unwrap_or(-1)
    }

    /// First logical offset of the file after the one holding `offset` (Java's `rollNextFile`;
    /// a pull that finds no unit resumes there).
    pub fn roll_next_file(&self, offset: i64) -> i64 {
        let per = i64::try_from(self.units_per_file())
            .unwrap_or(i64::MAX)
            .max(1);
        offset.saturating_add(per - offset.rem_euclid(per))
    }

    // ------------------------------------------------------------------------------------
    // Writing

    /// Index a record at logical offset `queue_offset` (byte `queue_offset * 20`).
    ///
    /// * `phy + size <= max_physic_offset`, or a position already written: a duplicate
    ///   (re-dispatch after recovery), skipped; returns `Ok(true)`.
    /// * First unit of a queue at a non-zero offset: the file is padded with blank units from
    ///   its start, and the queue's min offset is set there.
    /// * A position past the write position: logged as a bug and the unit is appended at the
    ///   write position anyway, as Java does.
    ///
    /// `Ok(false)` when the unit could not be appended; `Err` when a file could not be created
    /// or the arguments cannot be a unit.
    pub fn put(&self, queue_offset: i64, phy: i64, size: i32, tags_code: i64) -> io::Result<bool> {
        if queue_offset < 0 || phy < 0 || size <= 0 {
            return Err(invalid_input(format!(
                "{}-{}: not a consume queue unit: queueOffset {queue_offset}, phy {phy}, \
                 size {size}",
                self.topic, self.queue_id
            )));
        }
        let expected = u64::try_from(queue_offset)
            .ok()
            .and_then(|q| q.checked_mul(UNIT))
            .filter(|e| *e <= MAX_STREAM_POS)
            .ok_or_else(|| invalid_input(format!("queue offset {queue_offset} is out of range")))?;
        let end = phy
            .checked_add(i64::from(size))
            .ok_or_else(|| invalid_input(format!("phy {phy} + size {size} overflows")))?;

        let _w = self.lock_writer();
        let max_phy = self.max_physic_offset.load(Ordering::Acquire);
        if end <= max_phy {
            debug!(
                "{}-{}: unit for phy {phy} already built (maxPhysicOffset {max_phy})",
                self.topic, self.queue_id
            );
            return Ok(true);
        }

        let files = self.files.files();
        // A queue without any unit yet starts wherever its first unit goes.
        let starting = match files.as_slice() {
            [] => true,
            [only] => only.wrote_position() == 0,
            _ => false,
        };
        if starting {
            if let [only] = files.as_slice() {
                let from = only.from_offset();
                if expected < from || expected - from >= self.file_size as u64 {
                    info!(
                        "{}-{}: empty queue file {} does not hold position {expected}; \
                         starting over",
                        self.topic,
                        self.queue_id,
                        only.path().display()
                    );
                    self.files.destroy_all()?;
                }
            }
        } else {
            let current = self.files.max_offset();
            if expected < current {
                warn!(
                    "{}-{}: consume queue built repeatedly: expected position {expected} < \
                     current {current}",
                    self.topic, self.queue_id
                );
                return Ok(true);
            }
        }
        drop(files);

        let file = self.files.last_or_create(expected)?;
        if starting {
            self.start_at(&file, expected);
        }
        let current = file.from_offset() + file.wrote_position() as u64;
        if expected < current {
            return Ok(true);
        }
        if expected > current {
            error!(
                "[BUG] {}-{}: logic queue order maybe wrong: expected position {expected}, \
                 current {current}, diff {}",
                self.topic,
                self.queue_id,
                expected - current
            );
        }
        if file.append(&encode_unit(phy, size, tags_code)).is_none() {
            error!(
                "{}-{}: no room for a unit in {}",
                self.topic,
                self.queue_id,
                file.path().display()
            );
            return Ok(false);
        }
        self.max_physic_offset.store(end, Ordering::Release);
        Ok(true)
    }

    /// The queue's first unit goes to `expected`, inside the fresh `file`: pad the file with
    /// blank units up to it and start the queue there.
    fn start_at(&self, file: &MappedFile, expected: u64) {
        let fill = usize::try_from(expected.saturating_sub(file.from_offset())).unwrap_or(0);
        if fill > 0 && file.wrote_position() == 0 {
            let blank = encode_unit(0, BLANK_UNIT_SIZE, 0);
            let units = fill / CQ_UNIT_SIZE;
            let written = file.append_with(|tail, _| {
                let mut n = 0;
                for chunk in tail.chunks_exact_mut(CQ_UNIT_SIZE).take(units) {
                    chunk.copy_from_slice(&blank);
                    n += CQ_UNIT_SIZE;
                }
                (n, n)
            });
            info!(
                "{}-{}: filled {} with {} blank units up to {expected}",
                self.topic,
                self.queue_id,
                file.path().display(),
                written / CQ_UNIT_SIZE
            );
        }
        self.min_logic_offset
            .store(to_i64(expected), Ordering::Release);
        self.files.set_flushed_where(expected);
    }

    // ------------------------------------------------------------------------------------
    // Reading

    /// The unit at logical offset `offset`, if it lies in `[min_offset, max_offset)`.
    pub fn get_unit(&self, offset: i64) -> Option<CqUnit> {
        self.units_in_file_from(offset, 1).next()
    }

    /// Up to `max` units from logical offset `offset`, continuing into the following files.
    /// Stops at the end of written data (as of when each file is entered), at a gap between
    /// files, or at an unreadable unit. Empty when `offset` is below `min_offset` or not
    /// written. No allocation per unit.
    pub fn units_from(&self, offset: i64, max: usize) -> CqUnitIter {
        self.iter_from(offset, max, true)
    }

    /// As [`ConsumeQueue::units_from`] but never leaves the file holding `offset` (Java's
    /// `getIndexBuffer`: one pull scans one file).
    pub fn units_in_file_from(&self, offset: i64, max: usize) -> CqUnitIter {
        self.iter_from(offset, max, false)
    }

    fn iter_from(&self, offset: i64, max: usize, cross_files: bool) -> CqUnitIter {
        let mut it = CqUnitIter {
            files: self.files.files(),
            idx: 0,
            pos: 0,
            limit: 0,
            remaining: 0,
            next_offset: offset,
            file_size: self.file_size,
            cross_files,
        };
        if offset < 0 || offset < self.min_offset() || max == 0 {
            return it;
        }
        let Some(byte) = u64::try_from(offset).ok().and_then(|o| o.checked_mul(UNIT)) else {
            return it;
        };
        let Some(idx) = it
            .files
            .partition_point(|f| f.from_offset() <= byte)
            .checked_sub(1)
        else {
            return it;
        };
        let Some(file) = it.files.get(idx) else {
            return it;
        };
        let rel = byte - file.from_offset();
        if rel >= self.file_size as u64 {
            return it;
        }
        it.idx = idx;
        it.pos = usize::try_from(rel).unwrap_or(usize::MAX);
        it.limit = file.wrote_position();
        it.remaining = max;
        it
    }

    /// The logical offset whose record was stored closest to `timestamp` (ms), as Java 4.9.8's
    /// `getOffsetInQueueByTime`: take the first file modified at or after `timestamp` (else the
    /// last file), then binary-search its units from the min offset; units below
    /// `commit_log_min_offset` count as older. `store_time_of(phy, size)` reads a record's
    /// store timestamp from the CommitLog; when it cannot, the answer is 0.
    pub fn offset_by_time(
        &self,
        timestamp: i64,
        commit_log_min_offset: i64,
        store_time_of: impl Fn(i64, i32) -> Option<i64>,
    ) -> i64 {
        let files = self.files.files();
        let Some(file) = files
            .iter()
            .find(|f| mtime_ms(f) >= timestamp)
            .or_else(|| files.last())
        else {
            return 0;
        };
        let from = to_i64(file.from_offset());
        let wrote = file.wrote_position();
        if wrote == 0 {
            return 0;
        }
        let min_logic = self.min_logic_offset.load(Ordering::Acquire);
        let mut low: i64 = if min_logic > from {
            min_logic - from
        } else {
            0
        };
        let mut high: i64 = to_i64(wrote as u64) - UNIT_I64;
        let (mut target, mut left_off, mut right_off) = (-1i64, -1i64, -1i64);
        let (mut left_time, mut right_time) = (-1i64, -1i64);
        while high >= low {
            let mid = (low + high) / (2 * UNIT_I64) * UNIT_I64;
            let unit = usize::try_from(mid)
                .ok()
                .and_then(|m| file.slice(m, CQ_UNIT_SIZE))
                .and_then(decode_unit);
            let Some((phy, size, _)) = unit else {
                return 0;
            };
            if phy < commit_log_min_offset {
                low = mid + UNIT_I64;
                left_off = mid;
                continue;
            }
            let time = match store_time_of(phy, size) {
                Some(t) if t >= 0 => t,
                _ => {
                    warn!(
                        "{}-{}: no store timestamp for phy {phy}",
                        self.topic, self.queue_id
                    );
                    return 0;
                }
            };
            if time == timestamp {
                target = mid;
                break;
            } else if time > timestamp {
                high = mid - UNIT_I64;
                right_off = mid;
                right_time = time;
            } else {
                low = mid + UNIT_I64;
                left_off = mid;
                left_time = time;
            }
        }
        let offset = if target != -1 {
            target
        } else if left_time == -1 {
            right_off
        } else if right_time == -1 {
            left_off
        } else if timestamp.abs_diff(left_time) > timestamp.abs_diff(right_time) {
            right_off
        } else {
            left_off
        };
        from.saturating_add(offset) / UNIT_I64
    }

    // ------------------------------------------------------------------------------------
    // Recovery, truncation, expiry

    /// Find the end of valid data after a restart (store-format §2.5, broker-behaviour §3.2):
    /// scan from the third-to-last file while units are valid, moving to the next file only
    /// when a whole file is valid. Files after the end are deleted, the end file's write
    /// position is set there (stale bytes after it are zeroed). Returns the max physical
    /// offset (end of the last record indexed, -1 if none).
    pub fn recover(&self) -> io::Result<i64> {
        let _w = self.lock_writer();
        let files = self.files.files();
        let Some(last_idx) = files.len().checked_sub(1) else {
            return Ok(self.max_physic_offset());
        };
        let mut idx = files.len().saturating_sub(3);
        let mut end = 0u64;
        while let Some(file) = files.get(idx) {
            let mut pos = 0usize;
            while pos + CQ_UNIT_SIZE <= self.file_size {
                match file.raw(pos, CQ_UNIT_SIZE).and_then(decode_unit) {
                    Some((phy, size, _)) if is_valid(phy, size) => pos += CQ_UNIT_SIZE,
                    _ => break,
                }
            }
            end = file.from_offset() + pos as u64;
            if pos == self.file_size && idx < last_idx {
                idx += 1;
                continue;
            }
            info!(
                "{}-{}: consume queue recovered up to {end} in {}",
                self.topic,
                self.queue_id,
                file.path().display()
            );
            break;
        }
        self.files.set_flushed_where(end);
        self.files.truncate_dirty(end)?;
        let files = self.files.files();
        let max_phy = last_unit_before(&files, end)
            .and_then(|(phy, size, _)| real_end(phy, size))
            .unwrap_or(-1);
        self.max_physic_offset.store(max_phy, Ordering::Release);
        if let Some(first) = files.first() {
            self.min_logic_offset
                .fetch_max(to_i64(first.from_offset()), Ordering::AcqRel);
        }
        Ok(max_phy)
    }

    /// Drop every unit pointing at or past `phy_offset` (the CommitLog's new end): working back
    /// from the last file, a file whose first unit is past it is deleted, and the file holding
    /// the last unit below it is cut after that unit. The max physical offset becomes the end
    /// of the last unit kept (-1 if none).
    pub fn truncate_dirty(&self, phy_offset: i64) -> io::Result<()> {
        let _w = self.lock_writer();
        let files = self.files.files();
        let keeps = |phy: i64, size: i32| is_valid(phy, size) && phy < phy_offset;
        let mut cut = None;
        for f in files.iter().rev() {
            match f.slice(0, CQ_UNIT_SIZE).and_then(decode_unit) {
                Some((phy, size, _)) if keeps(phy, size) => {
                    let wrote = f.wrote_position() / CQ_UNIT_SIZE * CQ_UNIT_SIZE;
                    let mut pos = CQ_UNIT_SIZE;
                    while pos < wrote {
                        match f.slice(pos, CQ_UNIT_SIZE).and_then(decode_unit) {
                            Some((phy, size, _)) if keeps(phy, size) => pos += CQ_UNIT_SIZE,
                            _ => break,
                        }
                    }
                    cut = Some(f.from_offset() + pos as u64);
                    break;
                }
                // Empty, or its first unit is already past the end: the whole file goes.
                _ => {}
            }
        }
        let cut = cut.unwrap_or_else(|| files.first().map_or(0, |f| f.from_offset()));
        if cut < self.files.max_offset() {
            info!(
                "{}-{}: truncating the consume queue at position {cut} (CommitLog end \
                 {phy_offset})",
                self.topic, self.queue_id
            );
            self.files.truncate_dirty(cut)?;
            if self.files.files().iter().any(|f| f.from_offset() >= cut) {
                self.files.retain(|f| f.from_offset() < cut)?;
            }
        }
        let files = self.files.files();
        let max_phy = last_unit_before(&files, cut)
            .and_then(|(phy, size, _)| real_end(phy, size))
            .unwrap_or(-1);
        self.max_physic_offset.store(max_phy, Ordering::Release);
        let max_logic = to_i64(self.files.max_offset());
        self.min_logic_offset.fetch_min(max_logic, Ordering::AcqRel);
        Ok(())
    }

    /// Recompute the min offset from the CommitLog's min offset: the first unit of the first
    /// file pointing at or past `commit_log_min_offset` (blank units never qualify). When no
    /// unit of the first file qualifies, the min offset is kept (as Java does), but never
    /// below the first file.
    pub fn correct_min_offset(&self, commit_log_min_offset: i64) {
        let Some(first) = self.files.first() else {
            return;
        };
        let wrote = first.wrote_position();
        let mut pos = 0usize;
        while pos + CQ_UNIT_SIZE <= wrote {
            let Some((phy, size, _)) = first.slice(pos, CQ_UNIT_SIZE).and_then(decode_unit) else {
                break;
            };
            if phy >= commit_log_min_offset && !is_blank(phy, size) {
                let min = to_i64(first.from_offset() + pos as u64);
                let old = self.min_logic_offset.swap(min, Ordering::AcqRel);
                if old != min {
                    info!(
                        "{}-{}: min offset {} -> {} (CommitLog min offset \
                         {commit_log_min_offset})",
                        self.topic,
                        self.queue_id,
                        old / UNIT_I64,
                        min / UNIT_I64
                    );
                }
                return;
            }
            pos += CQ_UNIT_SIZE;
        }
        self.min_logic_offset
            .fetch_max(to_i64(first.from_offset()), Ordering::AcqRel);
    }

    /// Delete, oldest first, every file but the last whose last unit points below
    /// `commit_log_min_offset` (stopping at the first that does not), then
    /// [`correct_min_offset`](Self::correct_min_offset). Returns how many files were deleted.
    pub fn delete_expired_files(&self, commit_log_min_offset: i64) -> io::Result<usize> {
        let mut deleted = 0usize;
        let res = {
            let _w = self.lock_writer();
            loop {
                let files = self.files.files();
                let [first, _second, ..] = files.as_slice() else {
                    break Ok(());
                };
                let last_unit = first
                    .slice(self.file_size - CQ_UNIT_SIZE, CQ_UNIT_SIZE)
                    .and_then(decode_unit);
                let Some((phy, _, _)) = last_unit else {
                    warn!(
                        "{}: not full although it is not the last file",
                        first.path().display()
                    );
                    break Ok(());
                };
                if phy >= commit_log_min_offset {
                    break Ok(());
                }
                info!(
                    "{}-{}: deleting expired consume queue file {} (last unit phy {phy} < \
                     CommitLog min offset {commit_log_min_offset})",
                    self.topic,
                    self.queue_id,
                    first.path().display()
                );
                match self.files.delete_first(1) {
                    Ok(0) => break Ok(()),
                    Ok(n) => deleted += n,
                    Err(e) => break Err(e),
                }
            }
        };
        self.correct_min_offset(commit_log_min_offset);
        res.map(|()| deleted)
    }

    /// Flush if at least `least_pages` pages are dirty (0: anything dirty). True when the
    /// flushed position moved.
    pub fn flush(&self, least_pages: usize) -> io::Result<bool> {
        self.files.flush(least_pages)
    }

    /// Delete every file (and the queue's directory if it is then empty); the queue is empty
    /// afterwards and may be written again.
    pub fn destroy(&self) -> io::Result<()> {
        let _w = self.lock_writer();
        self.files.destroy_all()?;
        self.min_logic_offset.store(0, Ordering::Release);
        self.max_physic_offset.store(-1, Ordering::Release);
        // Best effort: fails harmlessly when something else is in the directory.
        let _ = std::fs::remove_dir(&self.dir);
        Ok(())
    }
}

/// Iterator over consecutive units of a queue (see [`ConsumeQueue::units_from`]). It holds a
/// snapshot of the file list, so files deleted meanwhile stay readable until it is dropped.
pub struct CqUnitIter {
    files: Arc<Vec<Arc<MappedFile>>>,
    idx: usize,
    /// Byte position of the next unit in `files[idx]`.
    pos: usize,
    /// Readable end of `files[idx]`, taken when the iterator entered the file.
    limit: usize,
    remaining: usize,
    next_offset: i64,
    file_size: usize,
    cross_files: bool,
}

impl CqUnitIter {
    /// Logical offset of the unit the next call would return: after iterating, where a
    /// follow-up read should start.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    fn step(&mut self) -> Option<CqUnit> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            let file = self.files.get(self.idx)?;
            if self.pos.saturating_add(CQ_UNIT_SIZE) <= self.limit {
                let (phy, size, tags) = file.slice(self.pos, CQ_UNIT_SIZE).and_then(decode_unit)?;
                let unit = CqUnit {
                    queue_offset: self.next_offset,
                    commit_log_offset: phy,
                    size,
                    tags_code: tags,
                };
                self.pos += CQ_UNIT_SIZE;
                self.next_offset = self.next_offset.saturating_add(1);
                self.remaining -= 1;
                return Some(unit);
            }
            if !self.cross_files || self.limit < self.file_size {
                return None;
            }
            let next = self.files.get(self.idx + 1)?;
            if Some(next.from_offset()) != file.from_offset().checked_add(self.file_size as u64) {
                return None;
            }
            self.idx += 1;
            self.pos = 0;
            self.limit = next.wrote_position();
        }
    }
}

impl Iterator for CqUnitIter {
    type Item = CqUnit;

    fn next(&mut self) -> Option<CqUnit> {
        let unit = self.step();
        if unit.is_none() {
            self.remaining = 0;
        }
        unit
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

impl std::iter::FusedIterator for CqUnitIter {}
