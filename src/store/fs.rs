//! The file-system seam of the store.
//!
//! Every file operation the store performs goes through [`Fs`]. In production it is a thin
//! layer over `std::fs` and `memmap2`; tests arm [`Fault`]s on it to make a chosen operation
//! fail (an fsync, a write, a file creation, "disk full") and check that the store reacts
//! correctly — refusing writes after a failed fsync, losing nothing acknowledged. The disk
//! usage the store acts on (refusing writes, forced expiry) is read through it too, so tests
//! can pretend the disk is full.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use memmap2::MmapRaw;

/// The kinds of operation a fault can be armed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsOp {
    /// Creating (and sizing) a new data file.
    Create,
    /// Opening an existing file.
    Open,
    /// Mapping a file into memory.
    Map,
    /// Flushing a mapped range or fsyncing a file (msync / fdatasync).
    Sync,
    /// Writing a whole small file (config JSON, checkpoint replacement).
    Write,
    /// Renaming a file.
    Rename,
    /// Removing a file.
    Remove,
}

/// One armed fault: the next `count` operations of kind `op` whose path contains
/// `path_contains` fail with `kind`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub op: FsOp,
    pub path_contains: String,
    pub count: usize,
    pub kind: io::ErrorKind,
}

impl Fault {
    pub fn new(op: FsOp, path_contains: &str, count: usize, kind: io::ErrorKind) -> Self {
        Fault {
            op,
            path_contains: path_contains.to_owned(),
            count,
            kind,
        }
    }
}

/// The store's file system. Cheap to clone; clones share the armed faults.
#[derive(Clone, Default)]
pub struct Fs {
    faults: Option<Arc<Mutex<Vec<Fault>>>>,
    /// Faultable only: a disk-usage reading that replaces the real one (`f64` bits;
    /// [`NO_USAGE_OVERRIDE`] when unset).
    usage: Option<Arc<AtomicU64>>,
}

/// Marker of "no disk-usage override" (a NaN payload no caller produces).
const NO_USAGE_OVERRIDE: u64 = u64::MAX;

impl std::fmt::Debug for Fs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.faults.is_some() {
            "Fs(faultable)"
        } else {
            "Fs"
        })
    }
}

impl Fs {
    /// The real file system, with no way to inject faults.
    pub fn real() -> Self {
        Fs {
            faults: None,
            usage: None,
        }
    }

    /// A real file system on which tests can arm faults.
    pub fn faultable() -> Self {
        Fs {
            faults: Some(Arc::new(Mutex::new(Vec::new()))),
            usage: Some(Arc::new(AtomicU64::new(NO_USAGE_OVERRIDE))),
        }
    }

    /// Pretend every store partition is `ratio` full (`None`: read the real usage again).
    /// Has no effect on [`Fs::real`].
    pub fn set_disk_usage(&self, ratio: Option<f64>) {
        if let Some(u) = &self.usage {
            u.store(
                ratio.map_or(NO_USAGE_OVERRIDE, f64::to_bits),
                Ordering::Release,
            );
        }
    }

    /// Used fraction of the file system holding `path` (see [`super::sys::disk_usage_ratio`]),
    /// or the reading set with [`Fs::set_disk_usage`].
    pub fn disk_usage_ratio(&self, path: &Path) -> Option<f64> {
        if let Some(u) = &self.usage {
            let bits = u.load(Ordering::Acquire);
            if bits != NO_USAGE_OVERRIDE {
                return Some(f64::from_bits(bits));
            }
        }
        super::sys::disk_usage_ratio(path)
    }

    /// Arm a fault. Has no effect on [`Fs::real`].
    pub fn arm(&self, fault: Fault) {
        if let Some(f) = &self.faults {
            if let Ok(mut v) = f.lock() {
                v.push(fault);
            }
        }
    }

    /// Remove every armed fault.
    pub fn disarm_all(&self) {
        if let Some(f) = &self.faults {
            if let Ok(mut v) = f.lock() {
                v.clear();
            }
        }
    }

    fn check(&self, op: FsOp, path: &Path) -> io::Result<()> {
        let Some(faults) = &self.faults else {
            return Ok(());
        };
        let Ok(mut v) = faults.lock() else {
            return Ok(());
        };
        let p = path.to_string_lossy();
        if let Some(i) = v
            .iter()
            .position(|f| f.op == op && f.count > 0 && p.contains(&f.path_contains))
        {
            v[i].count -= 1;
            let kind = v[i].kind;
            if v[i].count == 0 {
                v.remove(i);
            }
            return Err(io::Error::new(
                kind,
                format!("injected fault: {op:?} on {}", path.display()),
            ));
        }
        Ok(())
    }

    /// Create a new file of exactly `size` bytes (sparse; zeros read back). Fails if it exists.
    ///
    /// The file is created and sized under a `.tmp` name and then renamed, so a crash never
    /// leaves a data file of the wrong size behind (which would stop the next start).
    pub fn create_sized(&self, path: &Path, size: u64) -> io::Result<File> {
        self.check(FsOp::Create, path)?;
        if path.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", path.display()),
            ));
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let _ = std::fs::remove_file(&tmp);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        if let Err(e) = file.set_len(size).and_then(|_| std::fs::rename(&tmp, path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(file)
    }

    /// Open an existing file for reading and writing.
    pub fn open_rw(&self, path: &Path) -> io::Result<File> {
        self.check(FsOp::Open, path)?;
        OpenOptions::new().read(true).write(true).open(path)
    }

    /// Map `file` (at `path`) read-write, shared.
    pub fn map(&self, file: &File, path: &Path) -> io::Result<MmapRaw> {
        self.check(FsOp::Map, path)?;
        MmapRaw::map_raw(file)
    }

    /// Make `len` bytes at `offset` of a mapping durable (msync).
    pub fn flush_map(
        &self,
        map: &MmapRaw,
        path: &Path,
        offset: usize,
        len: usize,
    ) -> io::Result<()> {
        self.check(FsOp::Sync, path)?;
        if len == 0 {
            return Ok(());
        }
        map.flush_range(offset, len)
    }

    /// Write all of `data` at `offset` of an open file (pwrite).
    pub fn write_at(&self, file: &File, path: &Path, data: &[u8], offset: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.check(FsOp::Write, path)?;
        file.write_all_at(data, offset)
    }

    /// fdatasync a file.
    pub fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
        self.check(FsOp::Sync, path)?;
        file.sync_data()
    }

    /// Write `data` to `path` (create or truncate) and fsync it.
    pub fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.check(FsOp::Write, path)?;
        let mut f = File::create(path)?;
        f.write_all(data)?;
        self.check(FsOp::Sync, path)?;
        f.sync_all()
    }

    pub fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    pub fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check(FsOp::Rename, to)?;
        std::fs::rename(from, to)
    }

    pub fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.check(FsOp::Remove, path)?;
        std::fs::remove_file(path)
    }

    pub fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    /// fsync a directory so that renames and creations in it are durable.
    pub fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.check(FsOp::Sync, dir)?;
        match File::open(dir) {
            Ok(d) => d.sync_all(),
            Err(e) => Err(e),
        }
    }

    /// The entries of a directory (files and directories), sorted by name. A missing
    /// directory is empty.
    pub fn list_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut v = Vec::new();
        for e in rd {
            v.push(e?.path());
        }
        v.sort();
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_once_per_count() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::faultable();
        fs.arm(Fault::new(
            FsOp::Create,
            "victim",
            1,
            io::ErrorKind::StorageFull,
        ));
        let p = dir.path().join("victim");
        let e = fs.create_sized(&p, 10).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        let f = fs.create_sized(&p, 10).unwrap();
        assert_eq!(f.metadata().unwrap().len(), 10);
        // Real fs ignores arming.
        let real = Fs::real();
        real.arm(Fault::new(FsOp::Write, "", 1, io::ErrorKind::Other));
        real.write_file(&dir.path().join("x"), b"ok").unwrap();
    }
}
