//! One index file: a memory-mapped on-disk hash table of `topic#key` → CommitLog offsets.
//!
//! # Layout
//! See the [module documentation](super): a 40-byte header, `slot_num` 4-byte slots, then
//! `index_num` 20-byte entries, all big-endian. Entry #0 is never used (0 means "none").
//!
//! # Concurrency
//! One writer (the dispatcher thread, serialised by an internal mutex) and any number of
//! concurrent readers (queries). Every 4-byte word of the file is 4-byte aligned (40, 4·slots
//! and 20·n are multiples of 4, and a mapping is page aligned), so the whole mapping is viewed
//! as a slice of [`AtomicU32`] and *every* access to it is an atomic load or store: there are
//! no data races on the mapped memory. An `i64` field is two words (high word first).
//!
//! Publication protocol:
//! * The writer fills the 5 words of entry `n` (relaxed), then stores `n` into the slot with
//!   `Release`, then updates the header (begin values of the first entry before the count,
//!   `indexCount` with `Release`).
//! * A reader loads the slot with `Acquire` (so entry `n` and every older entry it chains to are
//!   complete), then the count with `Acquire` (so the count is at least the slot it just saw and
//!   the begin timestamp is current whenever the count says the file is not empty).
//! * Entries below `indexCount` are never written again. Header values are kept in atomics in
//!   memory (as Java keeps them in its `IndexHeader`) and written through to the mapping; readers
//!   use the in-memory copies, so they never see a torn `i64`.
//!
//! Nothing read from the file is trusted: every slot and entry number is bounds-checked, chains
//! that do not strictly go back in time are cut, and a file whose size does not match the
//! configured geometry, or whose header is impossible, is refused with an [`IndexError`].

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, Ordering};
use std::sync::Mutex;

use log::{info, warn};
use memmap2::MmapRaw;

use super::index_key_hash;
use crate::store::fs::Fs;

/// Size of the header.
pub const INDEX_HEADER_SIZE: usize = 40;
/// Size of one hash slot.
pub const INDEX_SLOT_SIZE: usize = 4;
/// Size of one index entry.
pub const INDEX_ENTRY_SIZE: usize = 20;

const HEADER_WORDS: usize = INDEX_HEADER_SIZE / 4;
const ENTRY_WORDS: usize = INDEX_ENTRY_SIZE / 4;
// Word positions of the header fields.
const W_BEGIN_TS: usize = 0;
const W_END_TS: usize = 2;
const W_BEGIN_PHY: usize = 4;
const W_END_PHY: usize = 6;
const W_SLOT_COUNT: usize = 8;
const W_INDEX_COUNT: usize = 9;

/// Errors of the index files and service.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "index file {} is {actual} bytes but maxHashSlotNum={slot_num} and maxIndexNum={index_num} \
         need {expected}: refusing to misread it (check maxHashSlotNum / maxIndexNum)",
        path.display()
    )]
    SizeMismatch {
        path: PathBuf,
        actual: u64,
        expected: u64,
        slot_num: usize,
        index_num: usize,
    },
    #[error("index file {} is corrupt: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("invalid index configuration: {0}")]
    Config(String),
    #[error("could not create a new index file after {attempts} attempts: {last}")]
    CreateFailed {
        attempts: u32,
        #[source]
        last: Box<IndexError>,
    },
}

impl IndexError {
    fn io(path: &Path, source: io::Error) -> Self {
        IndexError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// The byte size of an index file with this geometry, if the geometry is usable: at least one
/// slot, at least two entries (entry #0 is never used) and at most `i32::MAX` bytes, the most
/// Java can map.
pub fn index_file_size(slot_num: usize, index_num: usize) -> Result<usize, IndexError> {
    if slot_num == 0 {
        return Err(IndexError::Config(
            "maxHashSlotNum must be at least 1".into(),
        ));
    }
    if index_num < 2 {
        return Err(IndexError::Config(
            "maxIndexNum must be at least 2 (entry #0 is never used)".into(),
        ));
    }
    slot_num
        .checked_mul(INDEX_SLOT_SIZE)
        .and_then(|s| index_num.checked_mul(INDEX_ENTRY_SIZE)?.checked_add(s))
        .and_then(|s| s.checked_add(INDEX_HEADER_SIZE))
        .filter(|s| *s <= i32::MAX as usize)
        .ok_or_else(|| {
            IndexError::Config(format!(
                "maxHashSlotNum={slot_num} / maxIndexNum={index_num} give an index file larger \
                 than 2 GiB"
            ))
        })
}

/// A snapshot of the header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexHeader {
    pub begin_timestamp: i64,
    pub end_timestamp: i64,
    pub begin_phy_offset: i64,
    pub end_phy_offset: i64,
    pub hash_slot_count: i32,
    /// Next entry number; starts at 1.
    pub index_count: i32,
}

/// One decoded entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub key_hash: i32,
    pub phy_offset: i64,
    /// Seconds since the file's begin timestamp (rounded down).
    pub time_diff: i32,
    pub prev_index: i32,
}

/// One index file. See the module documentation for the concurrency rules.
pub struct IndexFile {
    path: PathBuf,
    _file: File,
    map: MmapRaw,
    size: usize,
    slot_num: usize,
    index_num: usize,
    begin_timestamp: AtomicI64,
    end_timestamp: AtomicI64,
    begin_phy_offset: AtomicI64,
    end_phy_offset: AtomicI64,
    hash_slot_count: AtomicI32,
    /// In-memory count, never below 1 (the on-disk field may be 0 in a new file).
    index_count: AtomicI32,
    /// Serialises `put_key` and the header rewrite of `flush`.
    writer: Mutex<()>,
    /// Written since the last successful flush.
    dirty: AtomicBool,
    destroyed: AtomicBool,
    fs: Fs,
}

impl std::fmt::Debug for IndexFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile")
            .field("path", &self.path)
            .field("header", &self.header())
            .finish()
    }
}

impl IndexFile {
    /// Create a new zero-filled index file at `path` (which must not exist). As in Java, a file
    /// that follows a full one starts with begin = end = the previous file's end values
    /// (`prev_end_phy_offset`, `prev_end_timestamp`; each only if > 0); the first entry then
    /// replaces the begin values.
    pub fn create(
        fs: &Fs,
        path: &Path,
        slot_num: usize,
        index_num: usize,
        prev_end_phy_offset: i64,
        prev_end_timestamp: i64,
    ) -> Result<Self, IndexError> {
        let size = index_file_size(slot_num, index_num)?;
        let file = fs
            .create_sized(path, size as u64)
            .map_err(|e| IndexError::io(path, e))?;
        let map = match fs.map(&file, path) {
            Ok(m) => m,
            Err(e) => {
                let _ = fs.remove_file(path);
                return Err(IndexError::io(path, e));
            }
        };
        let f = match Self::from_parts(fs, path, file, map, size, slot_num, index_num) {
            Ok(f) => f,
            Err(e) => {
                let _ = fs.remove_file(path);
                return Err(e);
            }
        };
        // Like Java, only the carried-over values are written now; the counts reach the disk
        // with the first entry (a zero indexCount on disk reads as 1).
        if prev_end_phy_offset > 0 {
            f.set_i64(&f.begin_phy_offset, W_BEGIN_PHY, prev_end_phy_offset);
            f.set_i64(&f.end_phy_offset, W_END_PHY, prev_end_phy_offset);
        }
        if prev_end_timestamp > 0 {
            f.set_i64(&f.begin_timestamp, W_BEGIN_TS, prev_end_timestamp);
            f.set_i64(&f.end_timestamp, W_END_TS, prev_end_timestamp);
        }
        f.dirty.store(true, Ordering::Release);
        Ok(f)
    }

    /// Open an existing index file. Its size must be exactly
    /// `40 + slot_num*4 + index_num*20`, and its header must be possible
    /// (`indexCount <= index_num`); otherwise the file is refused, untouched.
    pub fn open(
        fs: &Fs,
        path: &Path,
        slot_num: usize,
        index_num: usize,
    ) -> Result<Self, IndexError> {
        let size = index_file_size(slot_num, index_num)?;
        let file = fs.open_rw(path).map_err(|e| IndexError::io(path, e))?;
        let actual = file.metadata().map_err(|e| IndexError::io(path, e))?.len();
        if actual != size as u64 {
            return Err(IndexError::SizeMismatch {
                path: path.to_owned(),
                actual,
                expected: size as u64,
                slot_num,
                index_num,
            });
        }
        let map = fs.map(&file, path).map_err(|e| IndexError::io(path, e))?;
        let f = Self::from_parts(fs, path, file, map, size, slot_num, index_num)?;
        // Load the header (single-threaded: nobody else has this file yet).
        let begin_ts = f.read_i64(W_BEGIN_TS).unwrap_or(0);
        let end_ts = f.read_i64(W_END_TS).unwrap_or(0);
        let begin_phy = f.read_i64(W_BEGIN_PHY).unwrap_or(0);
        let end_phy = f.read_i64(W_END_PHY).unwrap_or(0);
        let slots_used = f.read_i32(W_SLOT_COUNT, Ordering::Acquire).unwrap_or(0);
        let mut count = f.read_i32(W_INDEX_COUNT, Ordering::Acquire).unwrap_or(0);
        if count <= 0 {
            count = 1;
        }
        if count as usize > index_num {
            return Err(IndexError::Corrupt {
                path: path.to_owned(),
                reason: format!("indexCount {count} exceeds maxIndexNum {index_num}"),
            });
        }
        f.begin_timestamp.store(begin_ts, Ordering::Release);
        f.end_timestamp.store(end_ts, Ordering::Release);
        f.begin_phy_offset.store(begin_phy, Ordering::Release);
        f.end_phy_offset.store(end_phy, Ordering::Release);
        f.hash_slot_count.store(slots_used, Ordering::Release);
        f.index_count.store(count, Ordering::Release);
        Ok(f)
    }

    fn from_parts(
        fs: &Fs,
        path: &Path,
        file: File,
        map: MmapRaw,
        size: usize,
        slot_num: usize,
        index_num: usize,
    ) -> Result<Self, IndexError> {
        if map.len() != size {
            return Err(IndexError::Corrupt {
                path: path.to_owned(),
                reason: format!("mapped {} bytes, expected {size}", map.len()),
            });
        }
        if !(map.as_ptr() as usize).is_multiple_of(std::mem::align_of::<AtomicU32>()) {
            return Err(IndexError::io(
                path,
                io::Error::other("mapping is not 4-byte aligned"),
            ));
        }
        Ok(IndexFile {
            path: path.to_owned(),
            _file: file,
            map,
            size,
            slot_num,
            index_num,
            begin_timestamp: AtomicI64::new(0),
            end_timestamp: AtomicI64::new(0),
            begin_phy_offset: AtomicI64::new(0),
            end_phy_offset: AtomicI64::new(0),
            hash_slot_count: AtomicI32::new(0),
            index_count: AtomicI32::new(1),
            writer: Mutex::new(()),
            dirty: AtomicBool::new(false),
            destroyed: AtomicBool::new(false),
            fs: fs.clone(),
        })
    }

    /// The mapping as 4-byte words.
    fn words(&self) -> &[AtomicU32] {
        // SAFETY: the mapping is `size` bytes long (checked in `from_parts`), `size` is a
        // multiple of 4 (40 + 4·slots + 20·entries), the base pointer is 4-byte aligned
        // (checked), and the mapping lives as long as `self`. `AtomicU32` has the size and bit
        // validity of `u32`, and any bit pattern is a valid `u32`. All accesses in this process
        // go through these atomics, so there is no data race.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<AtomicU32>(), self.size / 4) }
    }

    fn read_i32(&self, word: usize, order: Ordering) -> Option<i32> {
        self.words()
            .get(word)
            .map(|w| u32::from_be(w.load(order)) as i32)
    }

    fn write_i32(&self, word: usize, v: i32, order: Ordering) {
        if let Some(w) = self.words().get(word) {
            w.store((v as u32).to_be(), order);
        }
    }

    /// An i64 stored big-endian in two words (high word first).
    fn read_i64(&self, word: usize) -> Option<i64> {
        let hi = self.read_i32(word, Ordering::Acquire)? as u32 as u64;
        let lo = self.read_i32(word + 1, Ordering::Acquire)? as u32 as u64;
        Some(((hi << 32) | lo) as i64)
    }

    fn write_i64(&self, word: usize, v: i64) {
        self.write_i32(word, (v >> 32) as i32, Ordering::Relaxed);
        self.write_i32(word + 1, v as i32, Ordering::Relaxed);
    }

    /// Set a header i64 in memory and write it through to the mapping.
    fn set_i64(&self, mem: &AtomicI64, word: usize, v: i64) {
        mem.store(v, Ordering::Release);
        self.write_i64(word, v);
    }

    fn slot_word(&self, key_hash: i32) -> usize {
        // key_hash is never negative; `% slot_num` keeps the slot in range.
        HEADER_WORDS + (key_hash as u32 as usize) % self.slot_num
    }

    fn entry_word(&self, index: usize) -> usize {
        HEADER_WORDS + self.slot_num + index * ENTRY_WORDS
    }

    /// Add `key` → `phy_offset`. Returns false when the file is full (or destroyed). Writers are
    /// serialised; readers may run concurrently.
    ///
    /// Faithful to Java, including a quirk: the first entry of a file that follows a full one
    /// gets its `timeDiff` from the carried-over begin timestamp (the previous file's end), and
    /// then the begin timestamp becomes this entry's store time; so that entry reads back up to
    /// (its store time − previous end) later than it was stored.
    pub fn put_key(&self, key: &str, phy_offset: i64, store_timestamp: i64) -> bool {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if self.destroyed.load(Ordering::Acquire) {
            return false;
        }
        let count = self.index_count.load(Ordering::Acquire);
        if count < 1 || count as usize >= self.index_num {
            warn!(
                "index file {} is full: indexCount {count}, maxIndexNum {}",
                self.path.display(),
                self.index_num
            );
            return false;
        }
        let key_hash = index_key_hash(key);
        let slot_word = self.slot_word(key_hash);
        let mut prev = self.read_i32(slot_word, Ordering::Acquire).unwrap_or(0);
        if prev <= 0 || prev > count {
            prev = 0;
        }
        let begin_ts = self.begin_timestamp.load(Ordering::Acquire);
        // Seconds since the begin timestamp as it is *before* this entry (for the first entry of
        // a file that follows a full one, that is the previous file's end), clamped to i32.
        let time_diff = if begin_ts <= 0 {
            0
        } else {
            (store_timestamp.wrapping_sub(begin_ts) / 1000).clamp(0, i64::from(i32::MAX)) as i32
        };
        let at = self.entry_word(count as usize);
        if at + ENTRY_WORDS > self.words().len() {
            return false;
        }
        self.write_i32(at, key_hash, Ordering::Relaxed);
        self.write_i64(at + 1, phy_offset);
        self.write_i32(at + 3, time_diff, Ordering::Relaxed);
        self.write_i32(at + 4, prev, Ordering::Relaxed);
        // Publish the entry.
        self.write_i32(slot_word, count, Ordering::Release);
        if count <= 1 {
            self.set_i64(&self.begin_phy_offset, W_BEGIN_PHY, phy_offset);
            self.set_i64(&self.begin_timestamp, W_BEGIN_TS, store_timestamp);
        }
        if prev == 0 {
            let used = self.hash_slot_count.load(Ordering::Acquire).wrapping_add(1);
            self.hash_slot_count.store(used, Ordering::Release);
            self.write_i32(W_SLOT_COUNT, used, Ordering::Relaxed);
        }
        self.write_i32(W_INDEX_COUNT, count + 1, Ordering::Relaxed);
        self.index_count.store(count + 1, Ordering::Release);
        self.set_i64(&self.end_phy_offset, W_END_PHY, phy_offset);
        self.set_i64(&self.end_timestamp, W_END_TS, store_timestamp);
        self.dirty.store(true, Ordering::Release);
        true
    }

    /// The offsets of at most `max` entries for `key` stored in `[begin, end]` (store time in
    /// ms), newest first.
    pub fn select(&self, key: &str, max: usize, begin: i64, end: i64) -> Vec<i64> {
        let mut out = Vec::new();
        self.select_into(&mut out, key, max, begin, end);
        out
    }

    /// Like [`select`](Self::select), appending to `out` until it holds `max` offsets (the
    /// service shares one result list across files, as Java does).
    ///
    /// Times are recovered as `beginTimestamp + timeDiff*1000`, i.e. rounded down to the
    /// second relative to the file's begin: a range should be a little wider than the exact
    /// store times it is meant to cover.
    pub fn select_into(&self, out: &mut Vec<i64>, key: &str, max: usize, begin: i64, end: i64) {
        if out.len() >= max {
            return;
        }
        let key_hash = index_key_hash(key);
        let slot = self
            .read_i32(self.slot_word(key_hash), Ordering::Acquire)
            .unwrap_or(0);
        let count = self.index_count.load(Ordering::Acquire);
        if slot <= 0 || slot > count || count <= 1 {
            return;
        }
        let begin_ts = self.begin_timestamp.load(Ordering::Acquire);
        let mut next = slot;
        while out.len() < max {
            let Some(e) = self.entry(next as usize) else {
                break;
            };
            if e.time_diff < 0 {
                break;
            }
            let time = begin_ts.wrapping_add(i64::from(e.time_diff) * 1000);
            if e.key_hash == key_hash && time >= begin && time <= end {
                out.push(e.phy_offset);
            }
            // A valid chain only goes to older (smaller) entry numbers; anything else is the end
            // (Java stops on equal numbers; greater ones only occur in a corrupt file and would
            // loop forever).
            if e.prev_index <= 0 || e.prev_index > count || e.prev_index >= next || time < begin {
                break;
            }
            next = e.prev_index;
        }
    }

    /// The entry numbered `index`, if it lies inside the file (it may be unused).
    pub fn entry(&self, index: usize) -> Option<IndexEntry> {
        if index >= self.index_num {
            return None;
        }
        let at = self.entry_word(index);
        Some(IndexEntry {
            key_hash: self.read_i32(at, Ordering::Acquire)?,
            phy_offset: self.read_i64(at + 1)?,
            time_diff: self.read_i32(at + 3, Ordering::Acquire)?,
            prev_index: self.read_i32(at + 4, Ordering::Acquire)?,
        })
    }

    /// The raw value of hash slot `slot` (the newest entry of its chain, 0 = empty).
    pub fn slot_value(&self, slot: usize) -> Option<i32> {
        if slot >= self.slot_num {
            return None;
        }
        self.read_i32(HEADER_WORDS + slot, Ordering::Acquire)
    }

    /// The header as it is on disk (a new file has 0 there until its first entry).
    pub fn raw_header(&self) -> IndexHeader {
        IndexHeader {
            begin_timestamp: self.read_i64(W_BEGIN_TS).unwrap_or(0),
            end_timestamp: self.read_i64(W_END_TS).unwrap_or(0),
            begin_phy_offset: self.read_i64(W_BEGIN_PHY).unwrap_or(0),
            end_phy_offset: self.read_i64(W_END_PHY).unwrap_or(0),
            hash_slot_count: self.read_i32(W_SLOT_COUNT, Ordering::Acquire).unwrap_or(0),
            index_count: self.read_i32(W_INDEX_COUNT, Ordering::Acquire).unwrap_or(0),
        }
    }

    /// The header values in memory (index count at least 1).
    pub fn header(&self) -> IndexHeader {
        IndexHeader {
            begin_timestamp: self.begin_timestamp(),
            end_timestamp: self.end_timestamp(),
            begin_phy_offset: self.begin_phy_offset(),
            end_phy_offset: self.end_phy_offset(),
            hash_slot_count: self.hash_slot_count(),
            index_count: self.index_count(),
        }
    }

    pub fn begin_timestamp(&self) -> i64 {
        self.begin_timestamp.load(Ordering::Acquire)
    }

    pub fn end_timestamp(&self) -> i64 {
        self.end_timestamp.load(Ordering::Acquire)
    }

    pub fn begin_phy_offset(&self) -> i64 {
        self.begin_phy_offset.load(Ordering::Acquire)
    }

    pub fn end_phy_offset(&self) -> i64 {
        self.end_phy_offset.load(Ordering::Acquire)
    }

    pub fn hash_slot_count(&self) -> i32 {
        self.hash_slot_count.load(Ordering::Acquire)
    }

    pub fn index_count(&self) -> i32 {
        self.index_count.load(Ordering::Acquire)
    }

    /// No more entries fit (`indexCount >= maxIndexNum`).
    pub fn is_write_full(&self) -> bool {
        self.index_count() as usize >= self.index_num
    }

    /// Whether the file's time range `[beginTimestamp, endTimestamp]` overlaps `[begin, end]`
    /// (Java's `isTimeMatched`).
    pub fn is_time_matched(&self, begin: i64, end: i64) -> bool {
        let (b, e) = (self.begin_timestamp(), self.end_timestamp());
        (begin < b && end > e) || (begin >= b && begin <= e) || (end >= b && end <= e)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file name (the creation time, `yyyyMMddHHmmssSSS`).
    pub fn file_name(&self) -> &str {
        self.path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    }

    pub fn file_size(&self) -> usize {
        self.size
    }

    pub fn slot_num(&self) -> usize {
        self.slot_num
    }

    pub fn index_num(&self) -> usize {
        self.index_num
    }

    /// Rewrite the header from memory (as Java's `flush` does) and make the whole file durable.
    /// Does nothing if nothing was written since the last successful flush.
    pub fn flush(&self) -> Result<(), IndexError> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        {
            let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let h = self.header();
            self.write_i64(W_BEGIN_TS, h.begin_timestamp);
            self.write_i64(W_END_TS, h.end_timestamp);
            self.write_i64(W_BEGIN_PHY, h.begin_phy_offset);
            self.write_i64(W_END_PHY, h.end_phy_offset);
            self.write_i32(W_SLOT_COUNT, h.hash_slot_count, Ordering::Relaxed);
            self.write_i32(W_INDEX_COUNT, h.index_count, Ordering::Relaxed);
        }
        let started = std::time::Instant::now();
        if let Err(e) = self.fs.flush_map(&self.map, &self.path, 0, self.size) {
            self.dirty.store(true, Ordering::Release);
            return Err(IndexError::io(&self.path, e));
        }
        info!(
            "flushed index file {} in {} ms",
            self.path.display(),
            started.elapsed().as_millis()
        );
        Ok(())
    }

    /// Delete the file from disk; later `put_key` calls fail. The mapping stays valid (and
    /// queries keep working) for holders of a reference until they drop it.
    pub fn destroy(&self) -> Result<(), IndexError> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if self.destroyed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        match self.fs.remove_file(&self.path) {
            Ok(()) => {
                info!("deleted index file {}", self.path.display());
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => {
                self.destroyed.store(false, Ordering::Release);
                Err(IndexError::io(&self.path, e))
            }
        }
    }

    pub fn is_destroyed(&self) -> bool {
        self.destroyed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fs::{Fault, FsOp};
    use std::sync::Arc;

    fn new_file(dir: &Path, slots: usize, num: usize) -> IndexFile {
        IndexFile::create(
            &Fs::real(),
            &dir.join("20240101000000000"),
            slots,
            num,
            0,
            0,
        )
        .unwrap()
    }

    #[test]
    fn size_and_geometry() {
        assert_eq!(index_file_size(1000, 4000).unwrap(), 84_040);
        assert_eq!(index_file_size(5_000_000, 20_000_000).unwrap(), 420_000_040);
        assert!(index_file_size(0, 10).is_err());
        assert!(index_file_size(10, 1).is_err());
        assert!(index_file_size(usize::MAX / 2, 10).is_err());
        assert!(index_file_size(1, 200_000_000).is_err());
    }

    #[test]
    fn put_select_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let f = new_file(dir.path(), 16, 8);
        assert_eq!(f.file_size(), 40 + 16 * 4 + 8 * 20);
        assert_eq!(f.index_count(), 1);
        assert_eq!(f.raw_header().index_count, 0);
        assert!(f.select("T#a", 10, 0, i64::MAX).is_empty());
        assert!(f.put_key("T#a", 100, 10_000));
        assert!(f.put_key("T#b", 200, 12_500));
        assert!(f.put_key("T#a", 300, 15_000));
        let h = f.header();
        assert_eq!(
            h,
            IndexHeader {
                begin_timestamp: 10_000,
                end_timestamp: 15_000,
                begin_phy_offset: 100,
                end_phy_offset: 300,
                hash_slot_count: 2,
                index_count: 4,
            }
        );
        assert_eq!(f.raw_header(), h);
        assert_eq!(f.select("T#a", 10, 0, i64::MAX), vec![300, 100]);
        assert_eq!(f.select("T#a", 1, 0, i64::MAX), vec![300]);
        assert_eq!(f.select("T#b", 10, 0, i64::MAX), vec![200]);
        assert!(f.select("T#c", 10, 0, i64::MAX).is_empty());
        // Entry bytes: slot of "T#a" holds 3; entry 3 chains to 1, timeDiff 5 s.
        let slot = index_key_hash("T#a") as usize % 16;
        assert_eq!(f.slot_value(slot), Some(3));
        assert_eq!(
            f.entry(3).unwrap(),
            IndexEntry {
                key_hash: index_key_hash("T#a"),
                phy_offset: 300,
                time_diff: 5,
                prev_index: 1
            }
        );
        assert_eq!(f.entry(2).unwrap().time_diff, 2);
        assert!(f.entry(8).is_none());
        assert!(f.slot_value(16).is_none());
        // Big-endian on disk.
        f.flush().unwrap();
        let bytes = std::fs::read(f.path()).unwrap();
        let pos = 40 + 16 * 4 + 3 * 20;
        assert_eq!(&bytes[pos + 4..pos + 12], &300i64.to_be_bytes());
        assert_eq!(&bytes[36..40], &4i32.to_be_bytes());
    }

    #[test]
    fn full_file_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let f = new_file(dir.path(), 4, 3);
        assert!(f.put_key("T#a", 1, 1000));
        assert!(!f.is_write_full());
        assert!(f.put_key("T#b", 2, 1000));
        assert!(f.is_write_full());
        assert!(!f.put_key("T#c", 3, 1000));
        assert_eq!(f.index_count(), 3);
    }

    #[test]
    fn carried_over_begin_values_and_first_time_diff() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("20240101000000001");
        let f = IndexFile::create(&Fs::real(), &p, 8, 8, 5000, 1_000_000).unwrap();
        let h = f.header();
        assert_eq!((h.begin_phy_offset, h.end_phy_offset), (5000, 5000));
        assert_eq!((h.begin_timestamp, h.end_timestamp), (1_000_000, 1_000_000));
        assert_eq!(f.raw_header().begin_timestamp, 1_000_000);
        // The first entry's timeDiff is relative to the carried-over begin timestamp.
        assert!(f.put_key("T#x", 6000, 1_004_500));
        assert_eq!(f.entry(1).unwrap().time_diff, 4);
        assert_eq!(f.begin_timestamp(), 1_004_500);
        assert_eq!(f.begin_phy_offset(), 6000);
        // Time clamping: before begin gives 0.
        assert!(f.put_key("T#y", 6100, 1_000));
        assert_eq!(f.entry(2).unwrap().time_diff, 0);
    }

    #[test]
    fn time_range_filtering() {
        let dir = tempfile::tempdir().unwrap();
        let f = new_file(dir.path(), 4, 64);
        for i in 0..10i64 {
            assert!(f.put_key("T#k", i * 10, 1_000_000 + i * 1000));
        }
        // Stored times are exact seconds from the begin here.
        let got = f.select("T#k", 64, 1_003_000, 1_006_000);
        assert_eq!(got, vec![60, 50, 40, 30]);
        assert!(f.select("T#k", 64, 2_000_000, 3_000_000).is_empty());
        assert!(f.is_time_matched(0, i64::MAX));
        assert!(f.is_time_matched(1_009_000, 2_000_000));
        assert!(!f.is_time_matched(1_009_001, 2_000_000));
        assert!(!f.is_time_matched(0, 999_999));
    }

    #[test]
    fn collisions_chain_through_one_slot() {
        let dir = tempfile::tempdir().unwrap();
        // One slot: everything collides; different hashes are filtered by keyHash.
        let f = new_file(dir.path(), 1, 32);
        for i in 0..10i64 {
            assert!(f.put_key(&format!("T#k{}", i % 3), i, 1000));
        }
        assert_eq!(f.hash_slot_count(), 1);
        assert_eq!(f.select("T#k0", 32, 0, i64::MAX), vec![9, 6, 3, 0]);
        assert_eq!(f.select("T#k1", 32, 0, i64::MAX), vec![7, 4, 1]);
        // "Aa" and "BB" have the same Java hash: both come back (caller checks real keys).
        assert!(f.put_key("Aa", 100, 1000));
        assert!(f.put_key("BB", 200, 1000));
        assert_eq!(f.select("Aa", 32, 0, i64::MAX), vec![200, 100]);
    }

    #[test]
    fn reopen_and_refuse_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::real();
        let p = dir.path().join("20240101000000000");
        {
            let f = IndexFile::create(&fs, &p, 16, 8, 0, 0).unwrap();
            assert!(f.put_key("T#a", 42, 5000));
            f.flush().unwrap();
        }
        let f = IndexFile::open(&fs, &p, 16, 8).unwrap();
        assert_eq!(f.select("T#a", 4, 0, i64::MAX), vec![42]);
        assert_eq!(f.index_count(), 2);
        drop(f);
        // Wrong geometry.
        let e = IndexFile::open(&fs, &p, 32, 8).unwrap_err();
        assert!(matches!(e, IndexError::SizeMismatch { .. }), "{e}");
        assert!(e.to_string().contains("maxHashSlotNum"));
        // Truncated.
        let t = dir.path().join("20240101000000001");
        std::fs::write(&t, [0u8; 100]).unwrap();
        assert!(matches!(
            IndexFile::open(&fs, &t, 16, 8).unwrap_err(),
            IndexError::SizeMismatch { actual: 100, .. }
        ));
        // Missing.
        assert!(matches!(
            IndexFile::open(&fs, &dir.path().join("nope"), 16, 8).unwrap_err(),
            IndexError::Io { .. }
        ));
        // Impossible index count.
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[36..40].copy_from_slice(&1000i32.to_be_bytes());
        let c = dir.path().join("20240101000000002");
        std::fs::write(&c, &bytes).unwrap();
        assert!(matches!(
            IndexFile::open(&fs, &c, 16, 8).unwrap_err(),
            IndexError::Corrupt { .. }
        ));
    }

    #[test]
    fn garbage_content_never_panics_or_loops() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::real();
        let size = index_file_size(4, 8).unwrap();
        let mut seed = 0x1234_5678_u32;
        for round in 0..50 {
            let mut bytes = vec![0u8; size];
            for b in bytes.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                *b = seed as u8;
            }
            // Keep indexCount valid half of the time so the chains get walked.
            if round % 2 == 0 {
                bytes[36..40].copy_from_slice(&8i32.to_be_bytes());
                // Cycles between entries: 1 -> 2 -> 1.
                for (idx, prev) in [(1usize, 2i32), (2, 1)] {
                    let at = 40 + 16 + idx * 20 + 16;
                    bytes[at..at + 4].copy_from_slice(&prev.to_be_bytes());
                }
            }
            let p = dir.path().join(format!("{round:017}"));
            std::fs::write(&p, &bytes).unwrap();
            if let Ok(f) = IndexFile::open(&fs, &p, 4, 8) {
                for k in ["a", "b", "T#c", "🚀"] {
                    let _ = f.select(k, 100, i64::MIN, i64::MAX);
                }
                let _ = f.put_key("T#z", 1, i64::MAX);
                let _ = f.put_key("T#z", 1, i64::MIN);
            }
        }
    }

    #[test]
    fn flush_failure_is_reported_and_retried() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::faultable();
        let p = dir.path().join("20240101000000000");
        let f = IndexFile::create(&fs, &p, 4, 8, 0, 0).unwrap();
        assert!(f.put_key("T#a", 1, 1000));
        fs.arm(Fault::new(FsOp::Sync, "2024", 1, io::ErrorKind::Other));
        assert!(f.flush().is_err());
        f.flush().unwrap();
        // Nothing new: no sync at all (an armed fault would fire otherwise).
        fs.arm(Fault::new(FsOp::Sync, "2024", 1, io::ErrorKind::Other));
        f.flush().unwrap();
        fs.disarm_all();
        f.destroy().unwrap();
        assert!(!p.exists());
        assert!(!f.put_key("T#b", 2, 1000));
        f.destroy().unwrap();
    }

    #[test]
    fn create_faults_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::faultable();
        let p = dir.path().join("20240101000000000");
        fs.arm(Fault::new(FsOp::Map, "2024", 1, io::ErrorKind::Other));
        assert!(IndexFile::create(&fs, &p, 4, 8, 0, 0).is_err());
        assert!(!p.exists());
        fs.arm(Fault::new(
            FsOp::Create,
            "2024",
            1,
            io::ErrorKind::StorageFull,
        ));
        assert!(IndexFile::create(&fs, &p, 4, 8, 0, 0).is_err());
        assert!(IndexFile::create(&fs, &p, 4, 8, 0, 0).is_ok());
        // Exists already.
        assert!(IndexFile::create(&fs, &p, 4, 8, 0, 0).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever is put, `select` returns exactly the offsets stored under the same hash,
        /// newest first (tiny slot tables force long shared chains).
        #[test]
        fn select_matches_a_model(
            slots in 1usize..6,
            puts in proptest::collection::vec((0u8..12, 0i64..1_000_000), 0..60),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let f = new_file(dir.path(), slots, 64);
            let mut model: Vec<(i32, i64)> = Vec::new();
            for (i, (k, phy)) in puts.iter().enumerate() {
                let key = format!("T#ключ-{k}");
                proptest::prop_assert!(f.put_key(&key, *phy, 1_000 + i as i64));
                model.push((index_key_hash(&key), *phy));
            }
            for k in 0u8..12 {
                let key = format!("T#ключ-{k}");
                let h = index_key_hash(&key);
                let want: Vec<i64> =
                    model.iter().rev().filter(|(mh, _)| *mh == h).map(|(_, p)| *p).collect();
                proptest::prop_assert_eq!(f.select(&key, usize::MAX, 0, i64::MAX), want);
            }
        }
    }

    #[test]
    fn one_writer_many_readers() {
        let dir = tempfile::tempdir().unwrap();
        let f = Arc::new(new_file(dir.path(), 7, 5000));
        let writer = {
            let f = Arc::clone(&f);
            std::thread::spawn(move || {
                for i in 0..4000i64 {
                    assert!(f.put_key(&format!("T#k{}", i % 50), i, 1_000_000 + i));
                }
            })
        };
        let readers: Vec<_> = (0..3)
            .map(|r| {
                let f = Arc::clone(&f);
                std::thread::spawn(move || {
                    let mut seen = 0usize;
                    while seen < 80 {
                        let key = format!("T#k{}", r * 7);
                        let got = f.select(&key, usize::MAX, 0, i64::MAX);
                        // Every offset found belongs to that key and they come newest first.
                        assert!(got.iter().all(|o| o % 50 == (r * 7) as i64), "{got:?}");
                        assert!(got.windows(2).all(|w| w[0] > w[1]));
                        seen = got.len();
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(f.select("T#k0", usize::MAX, 0, i64::MAX).len(), 80);
    }
}
