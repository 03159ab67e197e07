//! The checkpoint file, the abort marker and the lock file (`<root>/checkpoint`, `abort`,
//! `lock`), laid out exactly as RocketMQ 4.9.8 does.
//!
//! Checkpoint: a 4096-byte file; big-endian i64 at 0 `physicMsgTimestamp` (store time of the
//! last message known flushed in the CommitLog), at 8 `logicsMsgTimestamp` (last message put
//! in a consume queue), at 16 `indexMsgTimestamp` (end time of the last full, flushed index
//! file). Abnormal recovery starts from the CommitLog file whose first message is older than
//! `min(physic, logics) - 3 s`.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use super::fs::Fs;

/// Size of the checkpoint file.
pub const CHECKPOINT_FILE_SIZE: usize = 4096;

/// The store checkpoint. Values are updated in memory and written by [`StoreCheckpoint::flush`].
#[derive(Debug)]
pub struct StoreCheckpoint {
    path: PathBuf,
    fs: Fs,
    physic_msg_timestamp: AtomicI64,
    logics_msg_timestamp: AtomicI64,
    index_msg_timestamp: AtomicI64,
}

impl StoreCheckpoint {
    /// Open (or create) the checkpoint. A missing file reads as all zeros; a short or
    /// unreadable one too, with a warning (recovery then starts from the first file).
    pub fn open(fs: &Fs, path: &Path) -> io::Result<Self> {
        let (p, l, i) = match fs.read_file(path) {
            Ok(data) if data.len() >= 24 => {
                (read_i64(&data, 0), read_i64(&data, 8), read_i64(&data, 16))
            }
            Ok(data) => {
                if !data.is_empty() {
                    log::warn!(
                        "checkpoint {} is only {} bytes: ignoring it",
                        path.display(),
                        data.len()
                    );
                }
                (0, 0, 0)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (0, 0, 0),
            Err(e) => return Err(e),
        };
        Ok(StoreCheckpoint {
            path: path.to_owned(),
            fs: fs.clone(),
            physic_msg_timestamp: AtomicI64::new(p),
            logics_msg_timestamp: AtomicI64::new(l),
            index_msg_timestamp: AtomicI64::new(i),
        })
    }

    pub fn physic_msg_timestamp(&self) -> i64 {
        self.physic_msg_timestamp.load(Ordering::Acquire)
    }
    pub fn logics_msg_timestamp(&self) -> i64 {
        self.logics_msg_timestamp.load(Ordering::Acquire)
    }
    pub fn index_msg_timestamp(&self) -> i64 {
        self.index_msg_timestamp.load(Ordering::Acquire)
    }
    pub fn set_physic_msg_timestamp(&self, v: i64) {
        self.physic_msg_timestamp.store(v, Ordering::Release);
    }
    pub fn set_logics_msg_timestamp(&self, v: i64) {
        self.logics_msg_timestamp.store(v, Ordering::Release);
    }
    pub fn set_index_msg_timestamp(&self, v: i64) {
        self.index_msg_timestamp.store(v, Ordering::Release);
    }

    /// `max(0, min(physic, logics) - 3000)`: abnormal recovery replays from before this.
    pub fn min_timestamp(&self) -> i64 {
        let m = self.physic_msg_timestamp().min(self.logics_msg_timestamp());
        (m - 3000).max(0)
    }

    /// `min(min_timestamp, indexMsgTimestamp)`.
    pub fn min_timestamp_index(&self) -> i64 {
        self.min_timestamp().min(self.index_msg_timestamp())
    }

    /// The file's bytes for the current values.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = vec![0u8; CHECKPOINT_FILE_SIZE];
        v[0..8].copy_from_slice(&self.physic_msg_timestamp().to_be_bytes());
        v[8..16].copy_from_slice(&self.logics_msg_timestamp().to_be_bytes());
        v[16..24].copy_from_slice(&self.index_msg_timestamp().to_be_bytes());
        v
    }

    /// Write the file durably (temp file, fsync, rename), so a crash leaves either the old or
    /// the new checkpoint.
    pub fn flush(&self) -> io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        self.fs.write_file(&tmp, &self.to_bytes())?;
        self.fs.rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            self.fs.sync_dir(dir)?;
        }
        Ok(())
    }
}

fn read_i64(data: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    if let Some(s) = data.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    i64::from_be_bytes(b)
}

/// The abort marker: present while the store runs; found at start = the last exit was abnormal.
#[derive(Debug, Clone)]
pub struct AbortFile {
    path: PathBuf,
    fs: Fs,
}

impl AbortFile {
    pub fn new(fs: &Fs, path: &Path) -> Self {
        AbortFile {
            path: path.to_owned(),
            fs: fs.clone(),
        }
    }

    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Create the (empty) marker durably.
    pub fn create(&self) -> io::Result<()> {
        self.fs.write_file(&self.path, b"")?;
        if let Some(dir) = self.path.parent() {
            self.fs.sync_dir(dir)?;
        }
        Ok(())
    }

    /// Remove the marker (clean shutdown).
    pub fn remove(&self) -> io::Result<()> {
        match self.fs.remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// The exclusive lock on `<root>/lock` that keeps two brokers off one store.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Take the lock or fail at once with "already started".
    pub fn acquire(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "lock failed: another broker already uses this store ({})",
                        path.display()
                    ),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        use std::io::Write;
        let mut f = &file;
        f.write_all(b"lock")?;
        Ok(StoreLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trip_and_java_fixture() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::real();
        let p = dir.path().join("checkpoint");
        let c = StoreCheckpoint::open(&fs, &p).unwrap();
        assert_eq!(c.min_timestamp(), 0);
        c.set_physic_msg_timestamp(10_000);
        c.set_logics_msg_timestamp(9_000);
        c.set_index_msg_timestamp(5_000);
        c.flush().unwrap();
        let data = std::fs::read(&p).unwrap();
        assert_eq!(data.len(), 4096);
        let c2 = StoreCheckpoint::open(&fs, &p).unwrap();
        assert_eq!(c2.physic_msg_timestamp(), 10_000);
        assert_eq!(c2.min_timestamp(), 6_000);
        assert_eq!(c2.min_timestamp_index(), 5_000);
        // Java layout: the fixture's first bytes.
        let java: [u8; 24] = [
            0, 0, 1, 0xa2, 0x0d, 0x57, 0x4f, 0x9d, 0, 0, 1, 0xa2, 0x0d, 0x57, 0x4f, 0x9d, 0, 0, 1,
            0xa2, 0x0d, 0x56, 0x8e, 0xcf,
        ];
        std::fs::write(&p, java).unwrap();
        let c3 = StoreCheckpoint::open(&fs, &p).unwrap();
        assert_eq!(c3.physic_msg_timestamp(), 0x01a2_0d57_4f9d);
        assert_eq!(c3.index_msg_timestamp(), 0x01a2_0d56_8ecf);
    }

    #[test]
    fn lock_is_exclusive_and_abort_marker() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let l = StoreLock::acquire(&p).unwrap();
        assert!(StoreLock::acquire(&p).is_err());
        drop(l);
        assert!(StoreLock::acquire(&p).is_ok());
        let a = AbortFile::new(&Fs::real(), &dir.path().join("abort"));
        assert!(!a.exists());
        a.create().unwrap();
        assert!(a.exists());
        a.remove().unwrap();
        a.remove().unwrap();
        assert!(!a.exists());
    }
}
