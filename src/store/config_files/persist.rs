//! The load / persist scheme shared by every config file (Java `ConfigManager` +
//! `MixAll.string2File`, made crash-safe).
//!
//! **Load** ([`ConfigFile::load`]): read `<file>`; when it is missing, empty (or only
//! whitespace), unreadable, or does not parse, read `<file>.bak` instead (the reason is
//! logged). When the backup is missing or empty too, the state is empty — not an error, as in
//! Java (a first start has no files). A backup that exists but cannot be read or parsed is an
//! error: Java refuses to start the broker in that case.
//!
//! **Persist** ([`ConfigFile::persist`]):
//! 1. write the new content to `<file>.tmp` and fsync it;
//! 2. copy the current `<file>` (if any) to `<file>.bak` and fsync it;
//! 3. rename `<file>.tmp` over `<file>` (atomic on POSIX);
//! 4. fsync the directory, making the rename durable.
//!
//! A failure at steps 1–3 leaves `<file>` exactly as it was (a reader sees either the old or
//! the new content, never a mix) and returns a [`ConfigFileError`] naming the step. Java's
//! sequence has no fsync and deletes `<file>` before the rename; the files themselves are the
//! same, so Java and Apogee read each other's.
//!
//! One deliberate difference: when the last load found `<file>` corrupt and used the backup,
//! step 2 is skipped until a persist succeeds, so the good backup is not overwritten with the
//! corrupt file (Java would copy it; a crash before step 3 would then leave two bad copies).
//!
//! Persists of one file are serialised; [`ConfigFile::persist_with`] renders the content while
//! holding that lock, so a later persist never writes an older snapshot over a newer one.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::store::fs::Fs;

/// Where [`ConfigFile::load`] found the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// `<file>` itself.
    Main,
    /// `<file>.bak` (the main file was missing, empty or corrupt).
    Backup,
    /// Neither file had content: the empty state.
    Empty,
}

/// What [`ConfigFile::load`] returns.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The parsed content; `None` for [`LoadSource::Empty`].
    pub value: Option<T>,
    pub source: LoadSource,
}

/// The persist step that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistStep {
    CreateDir,
    WriteTemp,
    ReadCurrent,
    WriteBackup,
    Rename,
    SyncDir,
}

impl std::fmt::Display for PersistStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PersistStep::CreateDir => "creating the config directory",
            PersistStep::WriteTemp => "writing and syncing the temporary file",
            PersistStep::ReadCurrent => "reading the current file for the backup",
            PersistStep::WriteBackup => "writing and syncing the backup file",
            PersistStep::Rename => "renaming the temporary file over the current one",
            PersistStep::SyncDir => "syncing the config directory after the rename",
        })
    }
}

/// A config file error.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// Persisting failed. For every step but [`PersistStep::SyncDir`] the previous file is
    /// intact; after a failed directory sync the new content is in place but may not survive a
    /// power loss.
    #[error("persisting {path} failed while {step} ({at}): {source}")]
    Persist {
        path: PathBuf,
        step: PersistStep,
        /// The path the failed operation was on.
        at: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The main file was unusable and its backup exists but cannot be read or parsed.
    #[error("cannot load {path}: {main}; backup {backup}: {reason}")]
    Load {
        path: PathBuf,
        backup: PathBuf,
        /// Why the main file was not used.
        main: String,
        /// Why the backup could not be used.
        reason: String,
    },
}

impl ConfigFileError {
    /// Whether the previous file content is known to be untouched.
    pub fn previous_file_intact(&self) -> bool {
        !matches!(
            self,
            ConfigFileError::Persist {
                step: PersistStep::SyncDir,
                ..
            }
        )
    }
}

/// One config file: `<dir>/<name>`, with `<name>.bak` and `<name>.tmp` beside it.
#[derive(Debug)]
pub struct ConfigFile {
    fs: Fs,
    path: PathBuf,
    persist_lock: Mutex<()>,
    /// The last load found the main file corrupt: do not back it up.
    main_corrupt: AtomicBool,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Why a file's content is not usable; `None` when it is absent or blank.
enum Content {
    Absent,
    Blank,
    Data(Vec<u8>),
}

impl ConfigFile {
    pub fn new(fs: &Fs, path: impl Into<PathBuf>) -> Self {
        ConfigFile {
            fs: fs.clone(),
            path: path.into(),
            persist_lock: Mutex::new(()),
            main_corrupt: AtomicBool::new(false),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<file>.bak`.
    pub fn backup_path(&self) -> PathBuf {
        with_suffix(&self.path, ".bak")
    }

    /// `<file>.tmp`.
    pub fn temp_path(&self) -> PathBuf {
        with_suffix(&self.path, ".tmp")
    }

    fn read(&self, path: &Path) -> io::Result<Content> {
        match self.fs.read_file(path) {
            Ok(data) if data.iter().all(u8::is_ascii_whitespace) => Ok(Content::Blank),
            Ok(data) => Ok(Content::Data(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Content::Absent),
            Err(e) => Err(e),
        }
    }

    /// Load with the fallback described in the module docs. `parse` turns the bytes into the
    /// state; its error text is logged.
    pub fn load<T>(
        &self,
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<Loaded<T>, ConfigFileError> {
        let path = self.path.display();
        let main_problem = match self.read(&self.path) {
            Ok(Content::Data(data)) => match parse(&data) {
                Ok(v) => {
                    self.main_corrupt.store(false, Ordering::Release);
                    log::info!("load {path} OK");
                    return Ok(Loaded {
                        value: Some(v),
                        source: LoadSource::Main,
                    });
                }
                Err(e) => {
                    self.main_corrupt.store(true, Ordering::Release);
                    log::error!("load {path} failed ({e}); trying the backup file");
                    format!("does not parse: {e}")
                }
            },
            Ok(Content::Absent) => {
                log::info!("{path} does not exist; trying the backup file");
                "missing".to_owned()
            }
            Ok(Content::Blank) => {
                log::warn!("{path} is empty; trying the backup file");
                "empty".to_owned()
            }
            Err(e) => {
                self.main_corrupt.store(true, Ordering::Release);
                log::error!("cannot read {path} ({e}); trying the backup file");
                format!("unreadable: {e}")
            }
        };
        let bak = self.backup_path();
        let load_err = |reason: String| ConfigFileError::Load {
            path: self.path.clone(),
            backup: bak.clone(),
            main: main_problem.clone(),
            reason,
        };
        match self.read(&bak) {
            Ok(Content::Data(data)) => match parse(&data) {
                Ok(v) => {
                    log::warn!("loaded {} from its backup {}", path, bak.display());
                    Ok(Loaded {
                        value: Some(v),
                        source: LoadSource::Backup,
                    })
                }
                Err(e) => {
                    log::error!("load backup {} failed: {e}", bak.display());
                    Err(load_err(format!("does not parse: {e}")))
                }
            },
            Ok(Content::Absent) | Ok(Content::Blank) => {
                if self.main_corrupt.load(Ordering::Acquire) {
                    log::error!(
                        "{path} is unusable and there is no backup: starting from the empty state"
                    );
                } else {
                    log::info!("no {path} nor backup: starting from the empty state");
                }
                Ok(Loaded {
                    value: None,
                    source: LoadSource::Empty,
                })
            }
            Err(e) => Err(load_err(format!("unreadable: {e}"))),
        }
    }

    /// Replace the file's content atomically (see the module docs).
    pub fn persist(&self, data: &[u8]) -> Result<(), ConfigFileError> {
        self.persist_with(|| data.to_vec())
    }

    /// Like [`persist`](Self::persist), rendering the content under the persist lock.
    pub fn persist_with(&self, render: impl FnOnce() -> Vec<u8>) -> Result<(), ConfigFileError> {
        let _guard = self
            .persist_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let data = render();
        let err = |step: PersistStep, at: &Path, source: io::Error| ConfigFileError::Persist {
            path: self.path.clone(),
            step,
            at: at.to_owned(),
            source,
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        self.fs
            .create_dir_all(&dir)
            .map_err(|e| err(PersistStep::CreateDir, &dir, e))?;

        let tmp = self.temp_path();
        if let Err(e) = self.fs.write_file(&tmp, &data) {
            let _ = self.fs.remove_file(&tmp);
            return Err(err(PersistStep::WriteTemp, &tmp, e));
        }

        if !self.main_corrupt.load(Ordering::Acquire) {
            match self.read(&self.path) {
                Ok(Content::Data(current)) => {
                    let bak = self.backup_path();
                    if let Err(e) = self.fs.write_file(&bak, &current) {
                        let _ = self.fs.remove_file(&tmp);
                        return Err(err(PersistStep::WriteBackup, &bak, e));
                    }
                }
                // Nothing worth keeping: leave any existing backup alone.
                Ok(Content::Absent) | Ok(Content::Blank) => {}
                Err(e) => {
                    let _ = self.fs.remove_file(&tmp);
                    return Err(err(PersistStep::ReadCurrent, &self.path, e));
                }
            }
        }

        if let Err(e) = self.fs.rename(&tmp, &self.path) {
            let _ = self.fs.remove_file(&tmp);
            return Err(err(PersistStep::Rename, &self.path, e));
        }
        self.main_corrupt.store(false, Ordering::Release);
        self.fs
            .sync_dir(&dir)
            .map_err(|e| err(PersistStep::SyncDir, &dir, e))
    }
}

/// What every config-file manager offers.
pub trait ConfigManager {
    /// The file's path.
    fn config_path(&self) -> &Path;

    /// Load the file (with the backup fallback) into memory.
    fn load(&self) -> Result<LoadSource, ConfigFileError>;

    /// The content the next persist writes (fastjson pretty format).
    fn encode(&self) -> String;

    /// Write the current state to the file.
    fn persist(&self) -> Result<(), ConfigFileError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fs::{Fault, FsOp};

    fn parse_text(b: &[u8]) -> Result<String, String> {
        let s = std::str::from_utf8(b).map_err(|e| e.to_string())?;
        if s.starts_with('{') {
            Ok(s.to_owned())
        } else {
            Err("not an object".into())
        }
    }

    #[test]
    fn load_fallbacks() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::real();
        let f = ConfigFile::new(&fs, dir.path().join("x.json"));
        // nothing at all
        let l = f.load(parse_text).unwrap();
        assert_eq!(l.source, LoadSource::Empty);
        assert!(l.value.is_none());
        // only a backup
        std::fs::write(f.backup_path(), "{bak}").unwrap();
        let l = f.load(parse_text).unwrap();
        assert_eq!(
            (l.source, l.value.as_deref()),
            (LoadSource::Backup, Some("{bak}"))
        );
        // empty / blank main
        for blank in ["", " \n\t"] {
            std::fs::write(f.path(), blank).unwrap();
            let l = f.load(parse_text).unwrap();
            assert_eq!(l.source, LoadSource::Backup);
        }
        // corrupt main
        std::fs::write(f.path(), "garbage").unwrap();
        assert_eq!(f.load(parse_text).unwrap().source, LoadSource::Backup);
        // good main
        std::fs::write(f.path(), "{main}").unwrap();
        let l = f.load(parse_text).unwrap();
        assert_eq!(
            (l.source, l.value.as_deref()),
            (LoadSource::Main, Some("{main}"))
        );
        // corrupt main and corrupt backup: error
        std::fs::write(f.path(), "garbage").unwrap();
        std::fs::write(f.backup_path(), "garbage").unwrap();
        let e = f.load(parse_text).unwrap_err();
        assert!(matches!(e, ConfigFileError::Load { .. }), "{e}");
        // corrupt main, no backup: empty (Java behaviour)
        std::fs::remove_file(f.backup_path()).unwrap();
        assert_eq!(f.load(parse_text).unwrap().source, LoadSource::Empty);
    }

    #[test]
    fn persist_rotates_backup() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::real();
        let f = ConfigFile::new(&fs, dir.path().join("sub").join("x.json"));
        f.persist(b"{1}").unwrap();
        assert_eq!(std::fs::read(f.path()).unwrap(), b"{1}");
        assert!(!f.backup_path().exists());
        assert!(!f.temp_path().exists());
        f.persist(b"{2}").unwrap();
        assert_eq!(std::fs::read(f.path()).unwrap(), b"{2}");
        assert_eq!(std::fs::read(f.backup_path()).unwrap(), b"{1}");
        f.persist(b"{3}").unwrap();
        assert_eq!(std::fs::read(f.backup_path()).unwrap(), b"{2}");
    }

    #[test]
    fn failed_steps_leave_the_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::faultable();
        let f = ConfigFile::new(&fs, dir.path().join("x.json"));
        f.persist(b"{old}").unwrap();
        f.persist(b"{older-is-bak}").unwrap();
        f.persist(b"{old}").unwrap();
        let cases = [
            (FsOp::Write, "x.json.tmp", PersistStep::WriteTemp),
            (FsOp::Sync, "x.json.tmp", PersistStep::WriteTemp),
            (FsOp::Write, "x.json.bak", PersistStep::WriteBackup),
            (FsOp::Sync, "x.json.bak", PersistStep::WriteBackup),
            (FsOp::Rename, "x.json", PersistStep::Rename),
        ];
        for (op, target, step) in cases {
            fs.arm(Fault::new(op, target, 1, io::ErrorKind::StorageFull));
            let e = f.persist(b"{new}").unwrap_err();
            match &e {
                ConfigFileError::Persist { step: s, .. } => assert_eq!(*s, step, "{e}"),
                other => panic!("{other}"),
            }
            assert!(e.previous_file_intact());
            assert!(e.to_string().contains("x.json"), "{e}");
            assert_eq!(
                std::fs::read(f.path()).unwrap(),
                b"{old}",
                "{op:?} {target}"
            );
            assert!(!f.temp_path().exists(), "{op:?} {target}");
            assert_eq!(f.load(parse_text).unwrap().value.as_deref(), Some("{old}"));
            fs.disarm_all();
        }
    }

    #[test]
    fn corrupt_main_does_not_clobber_good_backup() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::real();
        let f = ConfigFile::new(&fs, dir.path().join("x.json"));
        std::fs::write(f.path(), "garbage").unwrap();
        std::fs::write(f.backup_path(), "{good}").unwrap();
        assert_eq!(f.load(parse_text).unwrap().source, LoadSource::Backup);
        f.persist(b"{next}").unwrap();
        assert_eq!(std::fs::read(f.backup_path()).unwrap(), b"{good}");
        assert_eq!(std::fs::read(f.path()).unwrap(), b"{next}");
        // back to normal rotation afterwards
        f.persist(b"{after}").unwrap();
        assert_eq!(std::fs::read(f.backup_path()).unwrap(), b"{next}");
    }
}
