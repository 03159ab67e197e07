//! One fixed-size memory-mapped data file (a CommitLog or ConsumeQueue file).
//!
//! Invariants:
//! * The file's length is fixed at creation; it is named by `from_offset`, the position of its
//!   first byte in the logical stream (20-digit zero-padded decimal).
//! * Bytes `[0, wrote)` are written and immutable; readers may only look at them. `wrote` is
//!   published with `Release` after the bytes are in place, and read with `Acquire`.
//! * Bytes `[0, flushed)` are durable (`flushed <= wrote`).
//! * Only one writer appends at a time: [`MappedFile::append_with`] takes the writer lock.
//!   Unwritten space is zeros — zeros are the end of data, never data.
//! * With a transient write buffer attached (before the first append), appends go into the
//!   buffer and only `[0, committed)` — written into the file by [`MappedFile::commit`] — is
//!   readable. The committer reads `[committed, wrote)` of the buffer while the writer writes
//!   past `wrote`: disjoint ranges.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use memmap2::MmapRaw;

use super::fs::Fs;

/// The page size used for flush accounting (`MappedFile.OS_PAGE_SIZE` in Java).
pub const OS_PAGE_SIZE: usize = 4096;

/// A fixed-size memory-mapped file.
pub struct MappedFile {
    path: PathBuf,
    _file: File,
    map: MmapRaw,
    from_offset: u64,
    size: usize,
    wrote: AtomicUsize,
    /// With a write buffer: bytes copied into the file (readable). Without: unused.
    committed: AtomicUsize,
    flushed: AtomicUsize,
    /// Serialises writers; readers never take it.
    writer: Mutex<()>,
    /// Transient write buffer (null when none); owned by `buffer_owner`.
    buffer: AtomicPtr<u8>,
    buffer_owner: Mutex<Option<Box<[u8]>>>,
    /// Set when a write buffer was attached: readers then stop at `committed`.
    buffered: AtomicBool,
    /// Serialises commits.
    committer: Mutex<()>,
    /// Set once the file has been deleted from disk (the mapping lives on while referenced).
    destroyed: AtomicBool,
    fs: Fs,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("from_offset", &self.from_offset)
            .field("wrote", &self.wrote_position())
            .field("flushed", &self.flushed_position())
            .finish()
    }
}

/// The 20-digit file name of a stream offset.
pub fn offset_to_file_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// The stream offset a file name stands for, if it is a 20-digit number.
pub fn file_name_to_offset(name: &str) -> Option<u64> {
    if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

impl MappedFile {
    /// Create a new zero-filled file of `size` bytes for stream offset `from_offset`.
    pub fn create(fs: &Fs, dir: &Path, from_offset: u64, size: usize) -> io::Result<Self> {
        let path = dir.join(offset_to_file_name(from_offset));
        let file = fs.create_sized(&path, size as u64)?;
        let map = match fs.map(&file, &path) {
            Ok(m) => m,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        Ok(Self::from_parts(fs, path, file, map, from_offset, size))
    }

    /// Open an existing file, which must be exactly `size` bytes long. The write position
    /// starts at the end of the file; recovery moves it back to the end of valid data.
    pub fn open(fs: &Fs, path: &Path, size: usize) -> io::Result<Self> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let from_offset = file_name_to_offset(name).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not named by a 20-digit offset", path.display()),
            )
        })?;
        let file = fs.open_rw(path)?;
        let len = file.metadata()?.len();
        if len != size as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is {len} bytes but the configured file size is {size}: refusing to \
                     misread it (check mappedFileSizeCommitLog / mappedFileSizeConsumeQueue)",
                    path.display()
                ),
            ));
        }
        let map = fs.map(&file, path)?;
        let mf = Self::from_parts(fs, path.to_owned(), file, map, from_offset, size);
        mf.wrote.store(size, Ordering::Release);
        mf.flushed.store(size, Ordering::Release);
        Ok(mf)
    }

    fn from_parts(
        fs: &Fs,
        path: PathBuf,
        file: File,
        map: MmapRaw,
        from_offset: u64,
        size: usize,
    ) -> Self {
        MappedFile {
            path,
            _file: file,
            map,
            from_offset,
            size,
            wrote: AtomicUsize::new(0),
            committed: AtomicUsize::new(0),
            flushed: AtomicUsize::new(0),
            writer: Mutex::new(()),
            buffer: AtomicPtr::new(std::ptr::null_mut()),
            buffer_owner: Mutex::new(None),
            buffered: AtomicBool::new(false),
            committer: Mutex::new(()),
            destroyed: AtomicBool::new(false),
            fs: fs.clone(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stream offset of the file's first byte.
    pub fn from_offset(&self) -> u64 {
        self.from_offset
    }

    pub fn file_size(&self) -> usize {
        self.size
    }

    pub fn wrote_position(&self) -> usize {
        self.wrote.load(Ordering::Acquire)
    }

    /// Bytes readers may look at: the committed position with a write buffer, else the write
    /// position.
    pub fn readable_position(&self) -> usize {
        if self.buffered.load(Ordering::Acquire) {
            self.committed.load(Ordering::Acquire)
        } else {
            self.wrote_position()
        }
    }

    pub fn committed_position(&self) -> usize {
        self.readable_position()
    }

    /// Attach a transient write buffer of exactly the file's size. Only before the first
    /// append; returns the buffer back if it cannot be used.
    pub fn attach_buffer(&self, buf: Box<[u8]>) -> Result<(), Box<[u8]>> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if buf.len() != self.size || self.wrote.load(Ordering::Acquire) != 0 {
            return Err(buf);
        }
        let mut owner = self.buffer_owner.lock().unwrap_or_else(|p| p.into_inner());
        let mut buf = buf;
        self.buffer.store(buf.as_mut_ptr(), Ordering::Release);
        *owner = Some(buf);
        self.buffered.store(true, Ordering::Release);
        Ok(())
    }

    pub fn has_buffer(&self) -> bool {
        !self.buffer.load(Ordering::Acquire).is_null()
    }

    /// Copy written-but-uncommitted bytes from the write buffer into the file when at least
    /// `least_pages` pages are pending (0 = any byte). Returns the buffer once the file is full
    /// and entirely committed, for the pool to take back.
    pub fn commit(&self, least_pages: usize) -> io::Result<Option<Box<[u8]>>> {
        let _c = self.committer.lock().unwrap_or_else(|p| p.into_inner());
        let ptr = self.buffer.load(Ordering::Acquire);
        if ptr.is_null() {
            return Ok(None);
        }
        let wrote = self.wrote_position();
        let committed = self.committed.load(Ordering::Acquire);
        let pending_pages = wrote / OS_PAGE_SIZE - committed / OS_PAGE_SIZE;
        let full = wrote >= self.size;
        let worth = if full {
            wrote > committed
        } else if least_pages > 0 {
            pending_pages >= least_pages
        } else {
            wrote > committed
        };
        if worth {
            // SAFETY: `[committed, wrote)` of the buffer was written by the appender before it
            // published `wrote` (Acquire above) and is never written again.
            let data = unsafe { std::slice::from_raw_parts(ptr.add(committed), wrote - committed) };
            self.fs
                .write_at(&self._file, &self.path, data, committed as u64)?;
            self.committed.store(wrote, Ordering::Release);
        }
        if full && self.committed.load(Ordering::Acquire) >= self.size {
            // No appender will touch the buffer again: release it.
            self.buffer.store(std::ptr::null_mut(), Ordering::Release);
            let mut owner = self.buffer_owner.lock().unwrap_or_else(|p| p.into_inner());
            return Ok(owner.take());
        }
        Ok(None)
    }

    pub fn flushed_position(&self) -> usize {
        self.flushed.load(Ordering::Acquire)
    }

    pub fn is_full(&self) -> bool {
        self.wrote_position() >= self.size
    }

    /// Every byte is readable (written and, with a write buffer, committed).
    pub fn is_readable_full(&self) -> bool {
        self.readable_position() >= self.size
    }

    pub fn remaining(&self) -> usize {
        self.size - self.wrote_position()
    }

    /// Append under the writer lock: `f` gets the unwritten tail `[wrote, size)` and returns how
    /// many bytes it wrote (at most the tail's length) plus a value passed back to the caller.
    /// The new bytes become visible to readers when `f` returns.
    pub fn append_with<R>(&self, f: impl FnOnce(&mut [u8], u64) -> (usize, R)) -> R {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let wrote = self.wrote.load(Ordering::Acquire);
        let tail_len = self.size - wrote;
        let buffer = self.buffer.load(Ordering::Acquire);
        let base = if buffer.is_null() {
            self.map.as_mut_ptr()
        } else {
            buffer
        };
        // SAFETY: the writer lock makes this the only writer; readers (and the committer) only
        // read `[0, wrote)`, which does not overlap `[wrote, size)`; the mapping and the write
        // buffer are `size` bytes long and live as long as `self` (the buffer is released only
        // after the file is full, when no append reaches here with a non-empty tail).
        let tail = unsafe { std::slice::from_raw_parts_mut(base.add(wrote), tail_len) };
        let (n, r) = f(tail, self.from_offset + wrote as u64);
        let n = n.min(tail_len);
        self.wrote.store(wrote + n, Ordering::Release);
        r
    }

    /// Append `data` if it fits entirely; returns the stream offset it was written at.
    pub fn append(&self, data: &[u8]) -> Option<u64> {
        self.append_with(|tail, at| {
            if data.len() > tail.len() {
                return (0, None);
            }
            tail[..data.len()].copy_from_slice(data);
            (data.len(), Some(at))
        })
    }

    /// Set the write position after recovery (or truncation). Leftover bytes past `pos` are
    /// zeroed up to the first all-zero page, so that a later recovery never mistakes stale
    /// records for data; zero-filled space is the end of data.
    pub fn truncate_to(&self, pos: usize) {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let pos = pos.min(self.size);
        self.wrote.store(pos, Ordering::Release);
        let f = self.flushed.load(Ordering::Acquire).min(pos);
        self.flushed.store(f, Ordering::Release);
        let mut at = pos;
        while at < self.size {
            let page_end = (at / OS_PAGE_SIZE + 1) * OS_PAGE_SIZE;
            let end = page_end.min(self.size);
            // SAFETY: in bounds; the writer lock is held and readers never look past `wrote`.
            let chunk =
                unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(at), end - at) };
            if chunk.iter().all(|b| *b == 0) {
                break;
            }
            chunk.fill(0);
            at = end;
        }
    }

    /// Mark `[0, pos)` as durable without syncing (used by recovery: on-disk data is durable).
    pub fn set_flushed(&self, pos: usize) {
        self.flushed
            .store(pos.min(self.wrote_position()), Ordering::Release);
    }

    /// Readable bytes `[pos, pos+len)`, if they are all written.
    pub fn slice(&self, pos: usize, len: usize) -> Option<&[u8]> {
        let end = pos.checked_add(len)?;
        if end > self.readable_position() {
            return None;
        }
        // SAFETY: `[pos, end)` lies inside the readable part, which is immutable and mapped.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) })
    }

    /// All readable bytes from `pos` to the write position.
    pub fn slice_from(&self, pos: usize) -> Option<&[u8]> {
        let wrote = self.readable_position();
        if pos > wrote {
            return None;
        }
        self.slice(pos, wrote - pos)
    }

    /// Raw view of `[pos, pos+len)` ignoring the write position: only for recovery, which
    /// scans a file before its positions are known.
    pub fn raw(&self, pos: usize, len: usize) -> Option<&[u8]> {
        let end = pos.checked_add(len)?;
        if end > self.size {
            return None;
        }
        // SAFETY: in bounds of the mapping; recovery runs single-threaded before any writer.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) })
    }

    /// A zero-copy `Bytes` of `[pos, pos+len)` that keeps this file mapped while it lives.
    pub fn bytes(self: &Arc<Self>, pos: usize, len: usize) -> Option<Bytes> {
        MappedSlice::new(self, pos, len).map(MappedSlice::into_bytes)
    }

    /// Dirty pages between the flushed and write positions.
    pub fn dirty_pages(&self) -> usize {
        self.readable_position() / OS_PAGE_SIZE - self.flushed_position() / OS_PAGE_SIZE
    }

    /// Whether a flush with `least_pages` would do anything (Java's `isAbleToFlush`).
    pub fn is_able_to_flush(&self, least_pages: usize) -> bool {
        let wrote = self.readable_position();
        let flushed = self.flushed_position();
        if self.is_full() && flushed < wrote {
            return true;
        }
        if least_pages > 0 {
            self.dirty_pages() >= least_pages
        } else {
            wrote > flushed
        }
    }

    /// msync the dirty range if at least `least_pages` pages are dirty (0 = any dirty byte).
    /// Returns the flushed position. An error leaves the flushed position unchanged.
    pub fn flush(&self, least_pages: usize) -> io::Result<usize> {
        if !self.is_able_to_flush(least_pages) {
            return Ok(self.flushed_position());
        }
        let wrote = self.readable_position();
        let flushed = self.flushed_position();
        let start = flushed - flushed % OS_PAGE_SIZE;
        self.fs
            .flush_map(&self.map, &self.path, start, wrote - start)?;
        self.flushed.store(wrote, Ordering::Release);
        Ok(wrote)
    }

    /// Fault in every page of the unwritten part for writing, so that later appends do not
    /// page-fault: one `madvise(MADV_POPULATE_WRITE)` where the kernel has it (5.14+),
    /// otherwise a zero written into each page (the file is zero-filled already).
    pub fn pre_touch(&self) {
        let start = self.wrote_position().next_multiple_of(OS_PAGE_SIZE);
        if start >= self.size {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            let r = self
                .map
                .advise_range(memmap2::Advice::PopulateWrite, start, self.size - start);
            if r.is_ok() {
                return;
            }
        }
        let mut pos = start;
        while pos < self.size {
            // SAFETY: within the mapping, past the write position, and the file is not yet
            // handed to a writer (pre-touch runs on freshly created files only).
            unsafe { std::ptr::write_volatile(self.map.as_mut_ptr().add(pos), 0) };
            pos += OS_PAGE_SIZE;
        }
    }

    /// Fault in the not-yet-written pages for writing with `MADV_POPULATE_WRITE`, which never
    /// changes their contents — so it may run while a writer appends. False when the kernel
    /// does not support it (then nothing was done).
    pub fn populate_concurrently(&self) -> bool {
        let start = self.wrote_position().next_multiple_of(OS_PAGE_SIZE);
        if start >= self.size {
            return true;
        }
        #[cfg(target_os = "linux")]
        {
            self.map
                .advise_range(memmap2::Advice::PopulateWrite, start, self.size - start)
                .is_ok()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Fault in `[from, from+len)` (clipped to the file) for writing; safe while a writer
    /// appends (contents never change). False when unsupported.
    pub fn populate_range(&self, from: usize, len: usize) -> bool {
        let from = from.next_multiple_of(OS_PAGE_SIZE).min(self.size);
        let end = from.saturating_add(len).min(self.size);
        if end <= from {
            return true;
        }
        #[cfg(target_os = "linux")]
        {
            self.map
                .advise_range(memmap2::Advice::PopulateWrite, from, end - from)
                .is_ok()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Whether [`MappedFile::populate_concurrently`] works here (probes one page).
    pub fn can_populate_concurrently(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.size >= OS_PAGE_SIZE
                && self
                    .map
                    .advise_range(memmap2::Advice::PopulateWrite, 0, OS_PAGE_SIZE)
                    .is_ok()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Delete the file from disk. The mapping stays valid for holders of an `Arc`.
    pub fn destroy(&self) -> io::Result<()> {
        if self.destroyed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        match self.fs.remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => {
                self.destroyed.store(false, Ordering::Release);
                Err(e)
            }
        }
    }

    pub fn is_destroyed(&self) -> bool {
        self.destroyed.load(Ordering::Acquire)
    }

    /// Last modification time of the file on disk.
    pub fn last_modified(&self) -> Option<std::time::SystemTime> {
        std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()
    }

    /// Write `data` at absolute position `pos`, below or above the write position. Only for
    /// files whose owner serialises all access to the region (e.g. rewriting a CQ hole);
    /// never used on bytes a reader may be looking at.
    pub fn write_at(&self, pos: usize, data: &[u8]) -> bool {
        let Some(end) = pos.checked_add(data.len()) else {
            return false;
        };
        if end > self.size {
            return false;
        }
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: in bounds; the writer lock is held; callers guarantee no reader looks at it.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.map.as_mut_ptr().add(pos), data.len())
        };
        if end > self.wrote.load(Ordering::Acquire) {
            self.wrote.store(end, Ordering::Release);
        }
        true
    }
}

/// A zero-copy slice of a mapped file that keeps the mapping alive. Making one costs an `Arc`
/// clone, no allocation; it converts to `Bytes` (one allocation) when a `Bytes` is needed.
#[derive(Clone)]
pub struct MappedSlice {
    file: Arc<MappedFile>,
    pos: usize,
    len: usize,
}

impl MappedSlice {
    /// `[pos, pos+len)` of `file`, if written.
    pub fn new(file: &Arc<MappedFile>, pos: usize, len: usize) -> Option<Self> {
        file.slice(pos, len)?;
        Some(MappedSlice {
            file: Arc::clone(file),
            pos,
            len,
        })
    }

    pub fn as_slice(&self) -> &[u8] {
        // The range was checked when the slice was made and written bytes never change.
        self.file.slice(self.pos, self.len).unwrap_or(&[])
    }

    /// Stream offset of the first byte.
    pub fn offset(&self) -> u64 {
        self.file.from_offset() + self.pos as u64
    }

    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl std::ops::Deref for MappedSlice {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for MappedSlice {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for MappedSlice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MappedSlice({}+{})", self.offset(), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_read_flush_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::real();
        let mf = Arc::new(MappedFile::create(&fs, dir.path(), 1 << 20, 8192).unwrap());
        assert_eq!(mf.path().file_name().unwrap(), "00000000000001048576");
        assert_eq!(mf.append(b"hello"), Some(1 << 20));
        assert_eq!(mf.append(b"world"), Some((1 << 20) + 5));
        assert_eq!(mf.slice(0, 10).unwrap(), b"helloworld");
        assert!(mf.slice(5, 6).is_none());
        let b = mf.bytes(5, 5).unwrap();
        assert_eq!(&b[..], b"world");
        assert!(mf.is_able_to_flush(0));
        assert!(!mf.is_able_to_flush(1));
        assert_eq!(mf.flush(0).unwrap(), 10);
        mf.truncate_to(5);
        assert_eq!(mf.wrote_position(), 5);
        assert_eq!(mf.raw(5, 5).unwrap(), &[0u8; 5]);
        assert!(mf.append(&vec![1u8; 9000]).is_none());
        drop(mf);
        // Reopen with the wrong size is refused; the right size works.
        let p = dir.path().join("00000000000001048576");
        let e = MappedFile::open(&fs, &p, 4096).unwrap_err();
        assert!(e.to_string().contains("configured file size"));
        let mf = MappedFile::open(&fs, &p, 8192).unwrap();
        assert_eq!(mf.raw(0, 5).unwrap(), b"hello");
        mf.destroy().unwrap();
        assert!(!p.exists());
    }

    #[test]
    fn names() {
        assert_eq!(offset_to_file_name(1073741824), "00000000001073741824");
        assert_eq!(
            file_name_to_offset("00000000001073741824"),
            Some(1073741824)
        );
        assert_eq!(file_name_to_offset("0000000000107374182x"), None);
        assert_eq!(file_name_to_offset("1"), None);
    }
}

#[cfg(test)]
mod buffer_tests {
    use super::*;

    #[test]
    fn write_buffer_commit() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::real();
        let mf = MappedFile::create(&fs, dir.path(), 0, 8192).unwrap();
        mf.attach_buffer(vec![0u8; 8192].into_boxed_slice())
            .unwrap();
        mf.append(b"hello").unwrap();
        assert_eq!(mf.readable_position(), 0);
        assert!(mf.slice(0, 5).is_none());
        assert!(mf.commit(0).unwrap().is_none());
        assert_eq!(mf.slice(0, 5).unwrap(), b"hello");
        mf.append(&vec![7u8; 8192 - 5]).unwrap();
        assert!(mf.is_full());
        let buf = mf.commit(4).unwrap();
        assert!(buf.is_some(), "full and committed: buffer released");
        assert!(!mf.has_buffer());
        assert_eq!(mf.readable_position(), 8192);
        drop(mf);
        let data = std::fs::read(dir.path().join("00000000000000000000")).unwrap();
        assert_eq!(&data[..5], b"hello");
        assert_eq!(data[8191], 7);
    }
}
