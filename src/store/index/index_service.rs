//! The IndexService: the ordered list of index files, building entries from dispatched
//! records, rolling over to a new file when one fills up, queries, expiry and recovery pruning.
//!
//! Invariants:
//! * Files are ordered by name (creation time `yyyyMMddHHmmssSSS`, lexicographic as Java sorts
//!   them) and only the last one is written to. A new file's name is always greater than the
//!   last file's, even when two are created in the same millisecond or the clock went back.
//! * Structural changes (load, roll over, expiry, destroy) and building are serialised by one
//!   mutex; queries take a snapshot of the list (`Arc`s) and never wait for a writer. A file
//!   removed while a query still walks it stays mapped until the query drops it.
//! * When a file fills up, it is flushed (msync) before its end timestamp is reported, so the
//!   caller may store that timestamp as the checkpoint's `indexMsgTimestamp`: after an abnormal
//!   exit every file ending later than it is deleted and rebuilt by the dispatcher.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use log::{error, info, warn};

use super::build_key;
use super::index_file::{index_file_size, IndexError, IndexFile};
use crate::store::dispatch_request::DispatchRequest;
use crate::store::fs::Fs;
use crate::store::store_config::MessageStoreConfig;

/// How often creating a new index file is tried before giving up (Java: 3, 1 s apart).
const MAX_CREATE_ATTEMPTS: u32 = 3;

/// The answer to a query by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryResult {
    /// CommitLog offsets, newest first within each file, newest file first. Hash collisions
    /// are possible: the caller must check the keys of the records it reads.
    pub phy_offsets: Vec<i64>,
    /// End timestamp of the newest index file (0 without files).
    pub index_last_update_timestamp: i64,
    /// End CommitLog offset of the newest index file (0 without files).
    pub index_last_update_phyoffset: i64,
}

/// The index files of a store.
pub struct IndexService {
    fs: Fs,
    dir: PathBuf,
    slot_num: usize,
    index_num: usize,
    max_msgs_num_batch: usize,
    files: RwLock<Vec<Arc<IndexFile>>>,
    /// Serialises building and every change of the file list.
    writer: Mutex<()>,
    create_retry_delay: Duration,
    clock: fn() -> i64,
}

impl std::fmt::Debug for IndexService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexService")
            .field("dir", &self.dir)
            .field("files", &self.files().len())
            .finish()
    }
}

impl IndexService {
    /// A service for the index files in `dir` (not read until [`load`](Self::load)).
    pub fn new(
        fs: Fs,
        dir: PathBuf,
        slot_num: usize,
        index_num: usize,
        max_msgs_num_batch: usize,
    ) -> Result<Self, IndexError> {
        index_file_size(slot_num, index_num)?;
        Ok(IndexService {
            fs,
            dir,
            slot_num,
            index_num,
            max_msgs_num_batch,
            files: RwLock::new(Vec::new()),
            writer: Mutex::new(()),
            create_retry_delay: Duration::from_secs(1),
            clock: crate::store::sys::now_ms,
        })
    }

    /// A service with the store's settings: `<root>/index`, `maxHashSlotNum`, `maxIndexNum`,
    /// `maxMsgsNumBatch`. (`messageIndexEnable` is the dispatcher's to check: when it is off,
    /// it does not call [`build_index`](Self::build_index).)
    pub fn from_config(fs: Fs, config: &MessageStoreConfig) -> Result<Self, IndexError> {
        Self::new(
            fs,
            config.index_dir(),
            config.max_hash_slot_num,
            config.max_index_num,
            config.max_msgs_num_batch,
        )
    }

    /// Pause between attempts to create a new file (default 1 s, as Java).
    pub fn with_create_retry_delay(mut self, delay: Duration) -> Self {
        self.create_retry_delay = delay;
        self
    }

    /// The clock used to name new files (ms since the epoch); for tests.
    pub fn with_clock(mut self, clock: fn() -> i64) -> Self {
        self.clock = clock;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A snapshot of the files, oldest first.
    pub fn files(&self) -> Vec<Arc<IndexFile>> {
        self.files.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn last_file(&self) -> Option<Arc<IndexFile>> {
        self.files
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .cloned()
    }

    /// Bytes on disk taken by the index files.
    pub fn total_size(&self) -> u64 {
        self.files().iter().map(|f| f.file_size() as u64).sum()
    }

    /// Open the existing files, in name order. Entries whose name is not a number are skipped
    /// (as Java does). After an abnormal exit (`last_exit_ok == false`) every file whose end
    /// timestamp is later than the checkpoint's `indexMsgTimestamp` is deleted: it may hold
    /// entries that never reached the disk, and the dispatcher rebuilds them.
    ///
    /// A file of the wrong size or with an impossible header stops the load with an error
    /// (nothing is deleted or changed): usually `maxHashSlotNum`/`maxIndexNum` differ from the
    /// values the store was written with.
    pub fn load(&self, last_exit_ok: bool, checkpoint_index_ts: i64) -> Result<(), IndexError> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let paths = self.fs.list_dir(&self.dir).map_err(|e| IndexError::Io {
            path: self.dir.clone(),
            source: e,
        })?;
        // Open (and so validate) every file before deleting anything.
        let mut opened = Vec::new();
        for path in paths {
            if !path.is_file() {
                continue;
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !is_numeric_name(name) {
                warn!(
                    "ignoring {} in the index directory: not an index file name",
                    path.display()
                );
                continue;
            }
            opened.push(IndexFile::open(
                &self.fs,
                &path,
                self.slot_num,
                self.index_num,
            )?);
        }
        let mut loaded = Vec::new();
        for f in opened {
            if !last_exit_ok && f.end_timestamp() > checkpoint_index_ts {
                info!(
                    "abnormal exit: deleting index file {} (ends at {}, checkpoint {})",
                    f.path().display(),
                    f.end_timestamp(),
                    checkpoint_index_ts
                );
                f.destroy()?;
                continue;
            }
            info!("loaded index file {}", f.path().display());
            loaded.push(Arc::new(f));
        }
        *self.files.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(())
    }

    /// Index one dispatched record: its `UNIQ_KEY` and each non-empty space-separated piece of
    /// `KEYS`, as `topic#key`. Records below the last file's end offset (already indexed) and
    /// transaction ROLLBACK records are skipped.
    ///
    /// Returns `Ok(Some(ts))` when a file filled up and was flushed: store `ts` as the
    /// checkpoint's `indexMsgTimestamp` and flush the checkpoint. If that flush failed, the
    /// error is logged and `Ok(None)` returned (the next [`flush`](Self::flush) reports it).
    /// An error means no new file could be created (Java then marks WRITE_INDEX_FILE_ERROR and
    /// stops indexing); the record may be partly indexed.
    pub fn build_index(&self, req: &DispatchRequest) -> Result<Option<i64>, IndexError> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut filled = None;
        let mut file = self.last_writable_file(&mut filled)?;
        if req.commit_log_offset < file.end_phy_offset() || !req.goes_to_index() {
            return Ok(filled);
        }
        if let Some(uniq) = &req.uniq_key {
            file = self.put(file, &build_key(&req.topic, uniq), req, &mut filled)?;
        }
        if let Some(keys) = &req.keys {
            for key in keys.split(' ').filter(|k| !k.is_empty()) {
                file = self.put(file, &build_key(&req.topic, key), req, &mut filled)?;
            }
        }
        Ok(filled)
    }

    fn put(
        &self,
        mut file: Arc<IndexFile>,
        key: &str,
        req: &DispatchRequest,
        filled: &mut Option<i64>,
    ) -> Result<Arc<IndexFile>, IndexError> {
        // A fresh file has room for at least one entry, so one roll-over is enough.
        for _ in 0..2 {
            if file.put_key(key, req.commit_log_offset, req.store_timestamp) {
                return Ok(file);
            }
            if !file.is_write_full() {
                break;
            }
            warn!(
                "index file {} is full, creating another one",
                file.path().display()
            );
            file = self.last_writable_file(filled)?;
        }
        Err(IndexError::Corrupt {
            path: file.path().to_owned(),
            reason: format!(
                "could not index {key} at {}: the file refuses new entries",
                req.commit_log_offset
            ),
        })
    }

    /// The last file if it has room, else a new one (tried [`MAX_CREATE_ATTEMPTS`] times).
    fn last_writable_file(&self, filled: &mut Option<i64>) -> Result<Arc<IndexFile>, IndexError> {
        let mut attempt = 1;
        loop {
            match self.try_last_writable_file(filled) {
                Ok(f) => return Ok(f),
                Err(e) if attempt >= MAX_CREATE_ATTEMPTS => {
                    error!("cannot create an index file, giving up: {e}");
                    return Err(IndexError::CreateFailed {
                        attempts: attempt,
                        last: Box::new(e),
                    });
                }
                Err(e) => {
                    warn!("creating an index file failed (attempt {attempt}): {e}");
                    attempt += 1;
                    std::thread::sleep(self.create_retry_delay);
                }
            }
        }
    }

    fn try_last_writable_file(
        &self,
        filled: &mut Option<i64>,
    ) -> Result<Arc<IndexFile>, IndexError> {
        let last = self.last_file();
        if let Some(l) = &last {
            if !l.is_write_full() {
                return Ok(Arc::clone(l));
            }
        }
        let (prev_phy, prev_ts) = last
            .as_ref()
            .map_or((0, 0), |l| (l.end_phy_offset(), l.end_timestamp()));
        self.fs
            .create_dir_all(&self.dir)
            .map_err(|e| IndexError::Io {
                path: self.dir.clone(),
                source: e,
            })?;
        let name = next_file_name((self.clock)(), last.as_ref().map(|l| l.file_name()));
        let path = self.dir.join(&name);
        let file = Arc::new(IndexFile::create(
            &self.fs,
            &path,
            self.slot_num,
            self.index_num,
            prev_phy,
            prev_ts,
        )?);
        self.files
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::clone(&file));
        info!("created index file {}", path.display());
        if let Some(prev) = last {
            // Java flushes the full file in a background thread; here the dispatcher does it,
            // once per `maxIndexNum` entries.
            match prev.flush() {
                Ok(()) => *filled = Some(prev.end_timestamp()),
                Err(e) => error!("flushing the full index file failed: {e}"),
            }
        }
        Ok(file)
    }

    /// Offsets of the messages of `topic` with `key` stored in `[begin, end]` (ms), at most
    /// `min(max_num, maxMsgsNumBatch)`. Files are walked from newest to oldest; the walk stops
    /// at the first file beginning before `begin` or once enough offsets are found.
    pub fn query(
        &self,
        topic: &str,
        key: &str,
        max_num: usize,
        begin: i64,
        end: i64,
    ) -> QueryResult {
        let max = max_num.min(self.max_msgs_num_batch);
        let files = self.files();
        let mut result = QueryResult::default();
        if let Some(last) = files.last() {
            result.index_last_update_timestamp = last.end_timestamp();
            result.index_last_update_phyoffset = last.end_phy_offset();
        }
        let key = build_key(topic, key);
        for f in files.iter().rev() {
            if f.is_time_matched(begin, end) {
                f.select_into(&mut result.phy_offsets, &key, max, begin, end);
            }
            if f.begin_timestamp() < begin || result.phy_offsets.len() >= max {
                break;
            }
        }
        result
    }

    /// Delete the files that only index CommitLog data below `commit_log_min_offset`: oldest
    /// first, while a file's end offset is below it; the last file is always kept. Returns how
    /// many were deleted.
    pub fn delete_expired(&self, commit_log_min_offset: i64) -> Result<usize, IndexError> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let files = self.files();
        let Some((_, older)) = files.split_last() else {
            return Ok(0);
        };
        let mut deleted = 0;
        for f in older
            .iter()
            .take_while(|f| f.end_phy_offset() < commit_log_min_offset)
        {
            f.destroy()?;
            self.files
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|x| !Arc::ptr_eq(x, f));
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Make every file durable. Returns the end timestamp of the newest full file (all of
    /// them are durable now), which may be stored as the checkpoint's `indexMsgTimestamp`.
    pub fn flush(&self) -> Result<Option<i64>, IndexError> {
        let mut newest_full = None;
        for f in self.files() {
            f.flush()?;
            if f.is_write_full() {
                newest_full = Some(f.end_timestamp());
            }
        }
        Ok(newest_full)
    }

    /// Delete every index file (e.g. when the store is destroyed). Continues past failures and
    /// returns the first one.
    pub fn destroy_all(&self) -> Result<(), IndexError> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let files = std::mem::take(&mut *self.files.write().unwrap_or_else(|p| p.into_inner()));
        let mut first_err = None;
        for f in files {
            if let Err(e) = f.destroy() {
                error!("{e}");
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Java reads index file names as numbers (`Long.parseLong`) and skips the others.
fn is_numeric_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) && name.parse::<i64>().is_ok()
}

/// The name for a file created at `now_ms`: its local time `yyyyMMddHHmmssSSS`, unless that does
/// not sort after the newest existing name (same millisecond, clock moved back), in which case
/// the newest name plus one, keeping its width.
pub fn next_file_name(now_ms: i64, last: Option<&str>) -> String {
    let candidate = crate::store::sys::time_to_file_name(now_ms);
    let Some(last) = last else {
        return candidate;
    };
    if candidate.as_str() > last {
        return candidate;
    }
    match last.parse::<u64>() {
        Ok(n) if last.bytes().all(|b| b.is_ascii_digit()) => {
            let next = format!("{:0width$}", n.saturating_add(1), width = last.len());
            if next.len() == last.len() && next.as_str() > last {
                next
            } else {
                format!("{last}0")
            }
        }
        _ => candidate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dispatch_request::{TRANSACTION_COMMIT_TYPE, TRANSACTION_ROLLBACK_TYPE};
    use crate::store::fs::{Fault, FsOp};
    use std::io;

    fn req(
        topic: &str,
        phy: i64,
        ts: i64,
        uniq: Option<&str>,
        keys: Option<&str>,
    ) -> DispatchRequest {
        DispatchRequest {
            topic: topic.into(),
            commit_log_offset: phy,
            store_timestamp: ts,
            uniq_key: uniq.map(Into::into),
            keys: keys.map(Into::into),
            ..Default::default()
        }
    }

    fn service(dir: &Path, slots: usize, num: usize) -> IndexService {
        IndexService::new(Fs::real(), dir.join("index"), slots, num, 64).unwrap()
    }

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn names_are_unique_and_sorted() {
        assert_eq!(next_file_name(0, None).len(), 17);
        let a = next_file_name(T0, None);
        let b = next_file_name(T0, Some(&a));
        let c = next_file_name(T0, Some(&b));
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(b.len(), 17);
        // Clock moved back: still after the last.
        let d = next_file_name(T0 - 3_600_000, Some(&c));
        assert!(d > c);
        // A later time is used as is.
        assert_eq!(
            next_file_name(T0 + 1000, Some(&a)),
            crate::store::sys::time_to_file_name(T0 + 1000)
        );
        assert_eq!(
            next_file_name(T0, Some("99999999999999999")),
            "999999999999999990"
        );
        assert!(is_numeric_name("20240101000000000"));
        assert!(!is_numeric_name("2024-01-01"));
        assert!(!is_numeric_name(""));
        assert!(!is_numeric_name("99999999999999999999"));
    }

    #[test]
    fn rollover_across_files_with_tiny_sizes() {
        let dir = tempfile::tempdir().unwrap();
        // 3 entries per file; a fixed clock makes every file share one millisecond.
        let svc = service(dir.path(), 4, 4).with_clock(|| T0);
        let mut filled = Vec::new();
        for i in 0..10i64 {
            let r = req(
                "T",
                i * 100,
                T0 + i * 1000,
                Some(&format!("U{i}")),
                Some(&format!("k{} common", i % 2)),
            );
            if let Some(ts) = svc.build_index(&r).unwrap() {
                filled.push(ts);
            }
        }
        // 30 entries, 3 per file.
        let files = svc.files();
        assert_eq!(files.len(), 10);
        assert_eq!(filled.len(), 9);
        assert!(filled.windows(2).all(|w| w[0] <= w[1]));
        let names: Vec<_> = files.iter().map(|f| f.file_name().to_owned()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
        // Every file but the last is full; a new file carries the previous end values.
        for w in files.windows(2) {
            assert!(w[0].is_write_full());
            assert!(w[1].begin_phy_offset() >= w[0].end_phy_offset());
        }
        for i in 0..10i64 {
            let q = svc.query("T", &format!("U{i}"), 64, 0, i64::MAX);
            assert_eq!(q.phy_offsets, vec![i * 100], "U{i}");
        }
        let q = svc.query("T", "common", 64, 0, i64::MAX);
        assert_eq!(
            q.phy_offsets,
            (0..10).rev().map(|i| i * 100).collect::<Vec<_>>()
        );
        assert_eq!(q.index_last_update_phyoffset, 900);
        assert_eq!(q.index_last_update_timestamp, T0 + 9000);
        let q = svc.query("T", "k1", 3, 0, i64::MAX);
        assert_eq!(q.phy_offsets, vec![900, 700, 500]);
        // maxMsgsNumBatch caps the request.
        let small = IndexService::new(Fs::real(), svc.dir().to_owned(), 4, 4, 2).unwrap();
        small.load(true, 0).unwrap();
        assert_eq!(
            small.query("T", "common", 64, 0, i64::MAX).phy_offsets,
            vec![900, 800]
        );
        // Time range: only messages stored in [T0+3000, T0+5000].
        let q = svc.query("T", "common", 64, T0 + 3000, T0 + 5000);
        assert_eq!(q.phy_offsets, vec![500, 400, 300]);
        assert!(svc
            .query("T", "nope", 64, 0, i64::MAX)
            .phy_offsets
            .is_empty());
        assert!(svc
            .query("Other", "common", 64, 0, i64::MAX)
            .phy_offsets
            .is_empty());
        // Files persisted with the rolled-over data.
        let again = service(dir.path(), 4, 4);
        again.load(true, 0).unwrap();
        assert_eq!(again.files().len(), 10);
        assert_eq!(
            again.query("T", "U3", 64, 0, i64::MAX).phy_offsets,
            vec![300]
        );
    }

    #[test]
    fn skips_indexed_and_rollback_records() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path(), 16, 64);
        assert!(svc.files().is_empty());
        svc.build_index(&req("T", 500, T0, Some("A"), None))
            .unwrap();
        // Already indexed (below the end offset).
        svc.build_index(&req("T", 400, T0, Some("B"), None))
            .unwrap();
        let mut rb = req("T", 600, T0, Some("C"), Some("k"));
        rb.sys_flag = TRANSACTION_ROLLBACK_TYPE;
        svc.build_index(&rb).unwrap();
        let mut commit = req("T", 700, T0, None, Some("  k  k2 "));
        commit.sys_flag = TRANSACTION_COMMIT_TYPE;
        svc.build_index(&commit).unwrap();
        svc.build_index(&req("T", 800, T0, None, Some(""))).unwrap();
        assert!(svc.query("T", "B", 64, 0, i64::MAX).phy_offsets.is_empty());
        assert!(svc.query("T", "C", 64, 0, i64::MAX).phy_offsets.is_empty());
        assert_eq!(svc.query("T", "k", 64, 0, i64::MAX).phy_offsets, vec![700]);
        assert_eq!(svc.query("T", "k2", 64, 0, i64::MAX).phy_offsets, vec![700]);
        // A, k, k2.
        assert_eq!(svc.last_file().unwrap().index_count(), 4);
        // Empty pieces are never indexed as "T#".
        assert!(svc.query("T", "", 64, 0, i64::MAX).phy_offsets.is_empty());
    }

    #[test]
    fn abnormal_exit_prunes_files_newer_than_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut checkpoint = 0;
        {
            let svc = service(dir.path(), 4, 3).with_clock(|| T0);
            for i in 0..7i64 {
                let r = req("T", i * 10, T0 + i * 1000, None, Some(&format!("k{i}")));
                if let Some(ts) = svc.build_index(&r).unwrap() {
                    checkpoint = ts;
                }
            }
            // 2 entries per file: files end at T0+1000, +3000, +5000, and +6000 (not full).
            assert_eq!(svc.files().len(), 4);
            assert_eq!(checkpoint, T0 + 5000);
        }
        // Normal exit keeps everything.
        let svc = service(dir.path(), 4, 3);
        svc.load(true, checkpoint).unwrap();
        assert_eq!(svc.files().len(), 4);
        drop(svc);
        // Abnormal exit with an older checkpoint: files ending after it go.
        let svc = service(dir.path(), 4, 3);
        svc.load(false, T0 + 3000).unwrap();
        assert_eq!(svc.files().len(), 2);
        assert_eq!(std::fs::read_dir(svc.dir()).unwrap().count(), 2);
        assert_eq!(svc.query("T", "k3", 64, 0, i64::MAX).phy_offsets, vec![30]);
        assert!(svc.query("T", "k4", 64, 0, i64::MAX).phy_offsets.is_empty());
        // Rebuilding continues after the kept files (the last one is full: a new file).
        svc.build_index(&req("T", 40, T0 + 4000, None, Some("k4")))
            .unwrap();
        assert_eq!(svc.files().len(), 3);
        assert_eq!(svc.query("T", "k4", 64, 0, i64::MAX).phy_offsets, vec![40]);
        // Replay of an already indexed record is skipped.
        svc.build_index(&req("T", 20, T0 + 2000, None, Some("k2")))
            .unwrap();
        assert_eq!(svc.query("T", "k2", 64, 0, i64::MAX).phy_offsets, vec![20]);
    }

    #[test]
    fn expiry_keeps_the_last_file() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path(), 4, 3).with_clock(|| T0);
        for i in 0..8i64 {
            svc.build_index(&req("T", i * 10, T0 + i, None, Some(&format!("k{i}"))))
                .unwrap();
        }
        // Files end at offsets 10, 30, 50, 70.
        assert_eq!(svc.files().len(), 4);
        assert_eq!(svc.delete_expired(10).unwrap(), 0);
        assert_eq!(svc.delete_expired(11).unwrap(), 1);
        assert_eq!(svc.files()[0].end_phy_offset(), 30);
        assert_eq!(svc.delete_expired(i64::MAX).unwrap(), 2);
        assert_eq!(svc.files().len(), 1);
        assert_eq!(std::fs::read_dir(svc.dir()).unwrap().count(), 1);
        assert_eq!(svc.query("T", "k7", 64, 0, i64::MAX).phy_offsets, vec![70]);
        svc.destroy_all().unwrap();
        assert!(svc.files().is_empty());
        assert_eq!(std::fs::read_dir(svc.dir()).unwrap().count(), 0);
        assert_eq!(svc.delete_expired(i64::MAX).unwrap(), 0);
        assert_eq!(
            svc.query("T", "k7", 64, 0, i64::MAX),
            QueryResult::default()
        );
    }

    #[test]
    fn bad_files_are_refused_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path(), 4, 3);
        svc.build_index(&req("T", 1, T0, None, Some("k"))).unwrap();
        svc.flush().unwrap();
        let idx = svc.dir().to_owned();
        drop(svc);
        // Not numbered: ignored. A directory: ignored.
        std::fs::write(idx.join("README"), b"hello").unwrap();
        std::fs::create_dir(idx.join("20240101000000000")).unwrap();
        let svc = service(dir.path(), 4, 3);
        svc.load(true, 0).unwrap();
        assert_eq!(svc.files().len(), 1);
        // Truncated index file: the load fails, nothing is deleted.
        let t = idx.join("29990101000000000");
        std::fs::write(&t, vec![0u8; 50]).unwrap();
        let svc = service(dir.path(), 4, 3);
        let e = svc.load(false, 0).unwrap_err();
        assert!(matches!(e, IndexError::SizeMismatch { .. }), "{e}");
        assert!(t.exists());
        assert_eq!(std::fs::read_dir(&idx).unwrap().count(), 4);
        // Other geometry.
        std::fs::remove_file(&t).unwrap();
        let svc = service(dir.path(), 8, 3);
        assert!(svc.load(true, 0).is_err());
        // Bad configuration.
        assert!(IndexService::new(Fs::real(), idx.clone(), 0, 3, 64).is_err());
        assert!(IndexService::new(Fs::real(), idx, 4, 1, 64).is_err());
    }

    #[test]
    fn file_creation_is_retried_then_reported() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::faultable();
        let svc = IndexService::new(fs.clone(), dir.path().join("index"), 4, 3, 64)
            .unwrap()
            .with_create_retry_delay(Duration::from_millis(1));
        fs.arm(Fault::new(
            FsOp::Create,
            "index",
            2,
            io::ErrorKind::StorageFull,
        ));
        svc.build_index(&req("T", 1, T0, None, Some("a"))).unwrap();
        assert_eq!(svc.files().len(), 1);
        fs.arm(Fault::new(
            FsOp::Create,
            "index",
            3,
            io::ErrorKind::StorageFull,
        ));
        svc.build_index(&req("T", 2, T0, None, Some("b"))).unwrap();
        let e = svc
            .build_index(&req("T", 3, T0, None, Some("c")))
            .unwrap_err();
        assert!(
            matches!(e, IndexError::CreateFailed { attempts: 3, .. }),
            "{e}"
        );
        // Works again once the disk does.
        assert!(svc
            .build_index(&req("T", 3, T0, None, Some("c")))
            .unwrap()
            .is_some());
        assert_eq!(svc.query("T", "c", 64, 0, i64::MAX).phy_offsets, vec![3]);
        // A failed flush of the full file is not reported as durable.
        svc.build_index(&req("T", 4, T0, None, Some("d"))).unwrap();
        fs.arm(Fault::new(FsOp::Sync, "index", 1, io::ErrorKind::Other));
        assert_eq!(
            svc.build_index(&req("T", 5, T0, None, Some("e"))).unwrap(),
            None
        );
        assert_eq!(svc.flush().unwrap(), Some(T0));
    }

    #[test]
    fn queries_run_while_building() {
        let dir = tempfile::tempdir().unwrap();
        let svc = Arc::new(service(dir.path(), 8, 50));
        let builder = {
            let svc = Arc::clone(&svc);
            std::thread::spawn(move || {
                for i in 0..2000i64 {
                    let r = req("T", i, T0 + i, Some(&format!("u{i}")), Some("hot"));
                    svc.build_index(&r).unwrap();
                }
            })
        };
        let reader = {
            let svc = Arc::clone(&svc);
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let q = svc.query("T", "hot", 64, 0, i64::MAX);
                    assert!(q.phy_offsets.windows(2).all(|w| w[0] > w[1]));
                    let _ = svc.delete_expired(0);
                }
            })
        };
        builder.join().unwrap();
        reader.join().unwrap();
        for i in (0..2000i64).step_by(97) {
            assert_eq!(
                svc.query("T", &format!("u{i}"), 64, 0, i64::MAX)
                    .phy_offsets,
                vec![i]
            );
        }
    }
}
