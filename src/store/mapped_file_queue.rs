//! A directory of fixed-size mapped files forming one logical byte stream (the CommitLog, or
//! one ConsumeQueue).
//!
//! Invariants:
//! * Files are sorted by start offset and consecutive files differ by exactly `file_size`.
//! * Only the last file is written to; every earlier file is full.
//! * The list is replaced atomically (readers take a snapshot without locking); structural
//!   changes (roll, truncate, delete) are serialised by `modify`.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use log::{info, warn};

use super::fs::Fs;
use super::mapped_file::{file_name_to_offset, MappedFile};
use super::transient_pool::TransientStorePool;

/// Files prepared in the background, and the generation that requested them.
#[derive(Default)]
struct Prepared {
    generation: u64,
    /// Offsets requested and not finished yet.
    in_flight: std::collections::HashSet<u64>,
    files: HashMap<u64, io::Result<Arc<MappedFile>>>,
}

/// How far ahead of the write position pages are kept populated, and in which steps.
pub const POPULATE_WINDOW: usize = 32 * 1024 * 1024;
pub const POPULATE_STEP: usize = 4 * 1024 * 1024;

/// Creates the next file of a queue in the background, and keeps the pages just ahead of the
/// write position populated (a window of [`POPULATE_WINDOW`] bytes), so that appends neither
/// wait for a file to be created nor page-fault — without populating (and so writing back)
/// whole 1 GiB files of zeros. With `warmMapedFileEnable` a new file is populated entirely.
/// A new or reopened file starts with one [`POPULATE_STEP`] populated (an idle broker keeps
/// only that much of its files resident); the first appends widen it to the whole window.
///
/// Invariant: a file finished for an older generation (requested before a truncation) is
/// deleted instead of being offered.
pub struct Preallocator {
    tx: Mutex<mpsc::Sender<(u64, u64)>>,
    populate_tx: Mutex<mpsc::Sender<(Arc<MappedFile>, usize, usize)>>,
    ready: Arc<(Mutex<Prepared>, Condvar)>,
    /// False when files get write buffers (transient store pool): their pages are filled by
    /// whole-page `pwrite`s, so populating them through the mapping would only zero pages that
    /// are about to be overwritten.
    populate_new: Arc<AtomicBool>,
}

impl Preallocator {
    fn start(fs: Fs, dir: PathBuf, file_size: usize, touch: bool) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel::<(u64, u64)>();
        let (populate_tx, populate_rx) = mpsc::channel::<(Arc<MappedFile>, usize, usize)>();
        std::thread::Builder::new()
            .name("apogee-populate".into())
            .spawn(move || {
                while let Ok((file, from, len)) = populate_rx.recv() {
                    if !file.is_destroyed() {
                        file.populate_range(from, len);
                    }
                }
            })?;
        let ready: Arc<(Mutex<Prepared>, Condvar)> = Arc::default();
        let ready2 = Arc::clone(&ready);
        let populate_new = Arc::new(AtomicBool::new(true));
        let populate_new2 = Arc::clone(&populate_new);
        std::thread::Builder::new()
            .name("apogee-prealloc".into())
            .spawn(move || {
                while let Ok((offset, generation)) = rx.recv() {
                    // With MADV_POPULATE_WRITE the file is handed over at once and its pages are
                    // populated afterwards (populating never changes contents, so it can overlap
                    // appends): an appender never waits for a whole file to be touched.
                    // Without it, pages are touched by writing zeros, before the hand-over.
                    let mut populate_after = None;
                    let populate = populate_new2.load(Ordering::Relaxed);
                    let res = MappedFile::create(&fs, &dir, offset, file_size).map(|f| {
                        let f = Arc::new(f);
                        if populate && f.can_populate_concurrently() {
                            populate_after = Some(Arc::clone(&f));
                        } else if populate && touch {
                            f.pre_touch();
                        }
                        f
                    });
                    if let Err(e) = &res {
                        warn!("pre-allocating {} at {offset} failed: {e}", dir.display());
                    }
                    let (lock, cv) = &*ready2;
                    if let Ok(mut p) = lock.lock() {
                        p.in_flight.remove(&offset);
                        if p.generation == generation {
                            p.files.insert(offset, res);
                        } else if let Ok(f) = res {
                            let _ = f.destroy();
                        }
                    }
                    cv.notify_all();
                    if let Some(f) = populate_after {
                        if touch {
                            f.populate_concurrently();
                        } else {
                            f.populate_range(0, POPULATE_STEP);
                        }
                    }
                }
            })?;
        Ok(Preallocator {
            tx: Mutex::new(tx),
            populate_tx: Mutex::new(populate_tx),
            ready,
            populate_new,
        })
    }

    fn request(&self, offset: u64) {
        let generation = match self.ready.0.lock() {
            Ok(p) if p.files.contains_key(&offset) || p.in_flight.contains(&offset) => return,
            Ok(mut p) => {
                p.in_flight.insert(offset);
                p.generation
            }
            Err(_) => return,
        };
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send((offset, generation));
        }
    }

    /// Forget (and delete) every prepared or in-flight file: a truncation made them stale.
    fn discard_all(&self) {
        let (lock, _) = &*self.ready;
        if let Ok(mut p) = lock.lock() {
            p.generation += 1;
            p.in_flight.clear();
            for (_, f) in p.files.drain() {
                if let Ok(f) = f {
                    let _ = f.destroy();
                }
            }
        }
    }

    /// Take the file for `offset` if it was requested, waiting at most `wait`.
    fn take(&self, offset: u64, wait: Duration) -> Option<io::Result<Arc<MappedFile>>> {
        let (lock, cv) = &*self.ready;
        let guard = lock.lock().ok()?;
        let (mut guard, _) = cv
            .wait_timeout_while(guard, wait, |p| !p.files.contains_key(&offset))
            .ok()?;
        guard.files.remove(&offset)
    }
}

/// A queue of mapped files.
pub struct MappedFileQueue {
    dir: PathBuf,
    file_size: usize,
    fs: Fs,
    files: ArcSwap<Vec<Arc<MappedFile>>>,
    modify: Mutex<()>,
    /// Stream offset up to which data is durable.
    flushed_where: AtomicU64,
    prealloc: Option<Preallocator>,
    /// Write buffers for new files (transient store pool), if enabled.
    pool: Option<Arc<TransientStorePool>>,
}

impl std::fmt::Debug for MappedFileQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFileQueue")
            .field("dir", &self.dir)
            .field("files", &self.files.load().len())
            .finish()
    }
}

impl MappedFileQueue {
    /// A queue over `dir`; nothing is read until [`MappedFileQueue::load`].
    /// With `preallocate`, the next file is created (and pre-touched) in the background.
    pub fn new(fs: &Fs, dir: &Path, file_size: usize, preallocate: bool) -> io::Result<Self> {
        Self::new_with_warm(fs, dir, file_size, preallocate, false)
    }

    /// As [`MappedFileQueue::new`]; with `warm`, new files are populated entirely
    /// (`warmMapedFileEnable`), not only a window ahead of the write position.
    pub fn new_with_warm(
        fs: &Fs,
        dir: &Path,
        file_size: usize,
        preallocate: bool,
        warm: bool,
    ) -> io::Result<Self> {
        let prealloc = if preallocate {
            Some(Preallocator::start(
                fs.clone(),
                dir.to_owned(),
                file_size,
                warm,
            )?)
        } else {
            None
        };
        Ok(MappedFileQueue {
            dir: dir.to_owned(),
            file_size,
            fs: fs.clone(),
            files: ArcSwap::from_pointee(Vec::new()),
            modify: Mutex::new(()),
            flushed_where: AtomicU64::new(0),
            prealloc,
            pool: None,
        })
    }

    /// Give new files write buffers from `pool` (transient store pool).
    pub fn with_transient_pool(mut self, pool: Arc<TransientStorePool>) -> Self {
        if let Some(p) = &self.prealloc {
            p.populate_new.store(false, Ordering::Relaxed);
        }
        self.pool = Some(pool);
        self
    }

    pub fn transient_pool(&self) -> Option<&Arc<TransientStorePool>> {
        self.pool.as_ref()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file_size(&self) -> usize {
        self.file_size
    }

    /// Open every file of the directory. A file of the wrong size is an error (the store
    /// must not start); names that are not 20-digit offsets are ignored with a warning.
    pub fn load(&self) -> io::Result<()> {
        let _g = self.lock();
        let mut files = Vec::new();
        for path in self.fs.list_dir(&self.dir)? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() || file_name_to_offset(name).is_none() {
                if name.ends_with(".tmp") {
                    // A file whose creation was interrupted: it never held data.
                    let _ = self.fs.remove_file(&path);
                } else {
                    warn!("ignoring {} (not a data file)", path.display());
                }
                continue;
            }
            let start = file_name_to_offset(name).unwrap_or(0);
            if start.checked_add(self.file_size as u64 * 4).is_none() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: offset too large", path.display()),
                ));
            }
            files.push(Arc::new(MappedFile::open(&self.fs, &path, self.file_size)?));
        }
        files.sort_by_key(|f| f.from_offset());
        for w in files.windows(2) {
            if w[1].from_offset() != w[0].from_offset() + self.file_size as u64 {
                warn!(
                    "{}: files {} and {} are not consecutive",
                    self.dir.display(),
                    w[0].from_offset(),
                    w[1].from_offset()
                );
            }
        }
        if !files.is_empty() {
            info!("{}: loaded {} files", self.dir.display(), files.len());
        }
        self.files.store(Arc::new(files));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.modify.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A snapshot of the files.
    pub fn files(&self) -> Arc<Vec<Arc<MappedFile>>> {
        self.files.load_full()
    }

    pub fn is_empty(&self) -> bool {
        self.files.load().is_empty()
    }

    pub fn first(&self) -> Option<Arc<MappedFile>> {
        self.files.load().first().cloned()
    }

    pub fn last(&self) -> Option<Arc<MappedFile>> {
        self.files.load().last().cloned()
    }

    /// The last file if it has room, else a new file after it (or, for an empty queue, the
    /// file containing `start_offset`).
    pub fn last_or_create(&self, start_offset: u64) -> io::Result<Arc<MappedFile>> {
        if let Some(last) = self.last() {
            if !last.is_full() {
                return Ok(last);
            }
        }
        let _g = self.lock();
        let files = self.files.load_full();
        let next = match files.last() {
            Some(l) if !l.is_full() => return Ok(Arc::clone(l)),
            Some(l) => l.from_offset() + self.file_size as u64,
            None => start_offset - start_offset % self.file_size as u64,
        };
        let file = self.create_file(next)?;
        if let Some(pool) = &self.pool {
            if let Some(buf) = pool.borrow_buffer() {
                if let Err(buf) = file.attach_buffer(buf) {
                    pool.return_buffer(buf);
                }
            }
        }
        let mut v = Vec::with_capacity(files.len() + 1);
        v.extend(files.iter().cloned());
        v.push(Arc::clone(&file));
        self.files.store(Arc::new(v));
        if let Some(p) = &self.prealloc {
            p.request(next + self.file_size as u64);
        }
        Ok(file)
    }

    fn create_file(&self, offset: u64) -> io::Result<Arc<MappedFile>> {
        if let Some(p) = &self.prealloc {
            p.request(offset);
            match p.take(offset, Duration::from_secs(5)) {
                Some(Ok(f)) => return Ok(f),
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        self.fs.create_dir_all(&self.dir)?;
        Ok(Arc::new(MappedFile::create(
            &self.fs,
            &self.dir,
            offset,
            self.file_size,
        )?))
    }

    /// An append moved `file`'s write position from `old` to `new`: when it crossed a
    /// [`POPULATE_STEP`] boundary, have the window from that boundary up to
    /// [`POPULATE_WINDOW`] ahead populated in the background (pages already resident cost only
    /// a page-table walk). Cheap when no boundary is crossed.
    pub fn populate_ahead(&self, file: &Arc<MappedFile>, old: usize, new: usize) {
        if old / POPULATE_STEP == new / POPULATE_STEP || file.has_buffer() {
            return;
        }
        let Some(p) = &self.prealloc else {
            return;
        };
        let from = (new / POPULATE_STEP) * POPULATE_STEP;
        if from >= file.file_size() {
            return;
        }
        if let Ok(tx) = p.populate_tx.lock() {
            let _ = tx.send((Arc::clone(file), from, POPULATE_WINDOW));
        }
    }

    /// Ask the background allocator to prepare the file after the current last one (the
    /// first file, for an empty queue), so that no append waits for a file to be created.
    pub fn prepare_next(&self) {
        let Some(p) = &self.prealloc else {
            return;
        };
        match self.last() {
            Some(last) if last.is_full() => p.request(last.from_offset() + self.file_size as u64),
            Some(last) => {
                p.request(last.from_offset() + self.file_size as u64);
                // The current file may have been loaded from disk: populate just ahead of its
                // write position.
                let from = last.wrote_position();
                if self.pool.is_some() {
                    return;
                }
                if let Ok(tx) = p.populate_tx.lock() {
                    let _ = tx.send((Arc::clone(&last), from, POPULATE_STEP));
                }
            }
            None => p.request(0),
        }
    }

    /// The file holding stream offset `offset`.
    pub fn find(&self, offset: u64) -> Option<Arc<MappedFile>> {
        let files = self.files.load();
        let first = files.first()?;
        if offset < first.from_offset() {
            return None;
        }
        let idx = ((offset - first.from_offset()) / self.file_size as u64) as usize;
        let f = files.get(idx)?;
        if offset >= f.from_offset() && offset < f.from_offset() + self.file_size as u64 {
            return Some(Arc::clone(f));
        }
        // Not consecutive (a warning was logged at load): fall back to a scan.
        files
            .iter()
            .find(|f| offset >= f.from_offset() && offset < f.from_offset() + self.file_size as u64)
            .cloned()
    }

    /// Start offset of the first file (0 for an empty queue).
    pub fn min_offset(&self) -> u64 {
        self.first().map(|f| f.from_offset()).unwrap_or(0)
    }

    /// End of readable data (committed data when write buffers are in use).
    pub fn max_offset(&self) -> u64 {
        self.last()
            .map(|f| f.from_offset() + f.readable_position() as u64)
            .unwrap_or(0)
    }

    /// End of written data, committed or not.
    pub fn max_wrote_offset(&self) -> u64 {
        self.last()
            .map(|f| f.from_offset() + f.wrote_position() as u64)
            .unwrap_or(0)
    }

    /// Commit write buffers into their files (transient store pool); buffers of full, committed
    /// files go back to the pool. Returns true when anything was committed.
    pub fn commit(&self, least_pages: usize) -> io::Result<bool> {
        let Some(pool) = &self.pool else {
            return Ok(false);
        };
        let before = self.max_offset();
        for f in self.files.load().iter() {
            if f.has_buffer() {
                if let Some(buf) = f.commit(least_pages)? {
                    pool.return_buffer(buf);
                }
            }
        }
        Ok(self.max_offset() > before)
    }

    pub fn flushed_where(&self) -> u64 {
        self.flushed_where.load(Ordering::Acquire)
    }

    pub fn set_flushed_where(&self, offset: u64) {
        self.flushed_where.store(offset, Ordering::Release);
    }

    /// Flush the file containing the flushed position (and, when it is full, move on).
    /// Returns true when the flushed position moved.
    pub fn flush(&self, least_pages: usize) -> io::Result<bool> {
        let mut moved = false;
        // A full file is flushed entirely, then the next one is considered: at most a few.
        for _ in 0..4 {
            let mut where_ = self.flushed_where();
            if let Some(first) = self.first() {
                // A log that starts past 0 (a slave that joined late, or expired files):
                // flushing starts at its first file.
                if where_ < first.from_offset() {
                    where_ = first.from_offset();
                    self.flushed_where.store(where_, Ordering::Release);
                }
            }
            let Some(file) = self.find(where_).or_else(|| {
                // flushed_where is exactly at the end of a full last file.
                self.last()
                    .filter(|l| l.from_offset() + l.file_size() as u64 == where_)
            }) else {
                return Ok(moved);
            };
            let pos = file.flush(least_pages)?;
            let new_where = file.from_offset() + pos as u64;
            if new_where > where_ {
                self.flushed_where.store(new_where, Ordering::Release);
                moved = true;
            }
            if !file.is_full() || pos < file.file_size() {
                return Ok(moved);
            }
        }
        Ok(moved)
    }

    /// Drop everything at and after stream offset `offset`: later files are deleted, the file
    /// containing it is truncated there.
    pub fn truncate_dirty(&self, offset: u64) -> io::Result<()> {
        let _g = self.lock();
        let files = self.files.load_full();
        let mut keep = Vec::with_capacity(files.len());
        for f in files.iter() {
            let end = f.from_offset() + self.file_size as u64;
            if end <= offset {
                keep.push(Arc::clone(f));
            } else if offset >= f.from_offset() {
                f.truncate_to((offset - f.from_offset()) as usize);
                keep.push(Arc::clone(f));
            } else {
                f.destroy()?;
            }
        }
        self.files.store(Arc::new(keep));
        if let Some(p) = &self.prealloc {
            p.discard_all();
        }
        // Stray files past the cut (e.g. prepared by an earlier run) go too.
        for path in self.fs.list_dir(&self.dir)? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(start) = file_name_to_offset(name) {
                if start > offset && !self.files.load().iter().any(|f| f.path() == path) {
                    self.fs.remove_file(&path)?;
                }
            }
        }
        if self.flushed_where() > offset {
            self.set_flushed_where(offset);
        }
        Ok(())
    }

    /// Remove the first `n` files from the queue (after their owner decided they expired)
    /// and delete them. Returns how many were deleted; the last file is never deleted. A
    /// failure stops the run; files already deleted are dropped from the list.
    pub fn delete_first(&self, n: usize) -> io::Result<usize> {
        self.delete_expired(n, |_| true)
    }

    /// Delete files from the front, oldest first, while `expired` says so — at most `max`, never
    /// the last file, stopping at the first file that is not expired (no holes). Returns how
    /// many were deleted; on a failure, files already deleted are dropped from the list and
    /// the error is returned.
    pub fn delete_expired(
        &self,
        max: usize,
        expired: impl Fn(&MappedFile) -> bool,
    ) -> io::Result<usize> {
        let _g = self.lock();
        let files = self.files.load_full();
        let limit = max.min(files.len().saturating_sub(1));
        let mut deleted = 0;
        let mut result = Ok(());
        for f in files.iter().take(limit) {
            if !expired(f) {
                break;
            }
            if let Err(e) = f.destroy() {
                result = Err(e);
                break;
            }
            deleted += 1;
        }
        if deleted > 0 {
            self.files
                .store(Arc::new(files.iter().skip(deleted).cloned().collect()));
        }
        result.map(|_| deleted)
    }

    /// Delete every file.
    pub fn destroy_all(&self) -> io::Result<()> {
        let _g = self.lock();
        for f in self.files.load().iter() {
            f.destroy()?;
        }
        self.files.store(Arc::new(Vec::new()));
        self.set_flushed_where(0);
        Ok(())
    }

    /// Replace the file list (used by recovery after it decided which files survive).
    pub fn retain(&self, keep: impl Fn(&MappedFile) -> bool) -> io::Result<()> {
        let _g = self.lock();
        let files = self.files.load_full();
        let mut v = Vec::with_capacity(files.len());
        for f in files.iter() {
            if keep(f) {
                v.push(Arc::clone(f));
            } else {
                f.destroy()?;
            }
        }
        self.files.store(Arc::new(v));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolls_finds_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::real();
        for prealloc in [false, true] {
            let d = dir.path().join(format!("q{prealloc}"));
            std::fs::create_dir_all(&d).unwrap();
            let q = MappedFileQueue::new(&fs, &d, 1024, prealloc).unwrap();
            q.load().unwrap();
            for i in 0..10u8 {
                let f = q.last_or_create(0).unwrap();
                let data = [i; 300];
                if f.append(&data).is_none() {
                    // fill the rest, as a blank would
                    let rest = f.remaining();
                    f.append(&vec![0xEE; rest]).unwrap();
                    q.last_or_create(0).unwrap().append(&data).unwrap();
                }
            }
            assert_eq!(q.files().len(), 4);
            assert_eq!(q.max_offset(), 3 * 1024 + 300);
            assert_eq!(q.find(1500).unwrap().from_offset(), 1024);
            assert!(q.find(5000).is_none());
            q.flush(0).unwrap();
            assert_eq!(q.flushed_where(), 3 * 1024 + 300);
            q.truncate_dirty(1500).unwrap();
            assert_eq!(q.files().len(), 2);
            assert_eq!(q.max_offset(), 1500);
            assert_eq!(q.flushed_where(), 1500);
            drop(q);
            // Reload: sizes match.
            let q = MappedFileQueue::new(&fs, &d, 1024, false).unwrap();
            q.load().unwrap();
            assert_eq!(q.files().len(), 2);
            let q = MappedFileQueue::new(&fs, &d, 2048, false).unwrap();
            assert!(q.load().is_err());
        }
    }
}
