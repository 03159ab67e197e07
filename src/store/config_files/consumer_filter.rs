//! `config/consumerFilter.json`: compiled SQL92 / non-tag subscriptions (Java
//! `ConsumerFilterManager`).
//!
//! Apogee does not evaluate SQL92 filters yet, so the file is only carried: loaded, checked to
//! be JSON (a corrupt file falls back to the backup like every config file), and persisted
//! **byte for byte unchanged**, so that a Java broker started on the same store later finds
//! its filters. Without any file the content is what Java writes for an empty manager.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use super::persist::{ConfigFile, ConfigFileError, ConfigManager, LoadSource};
use crate::store::fs::Fs;

/// File name inside the config directory.
pub const CONSUMER_FILTER_FILE: &str = "consumerFilter.json";

/// What Java writes for an empty filter table.
pub const EMPTY_CONSUMER_FILTER: &str = "{\n\t\"filterDataByTopic\":{}\n}";

/// The consumer filter file, kept verbatim.
#[derive(Debug)]
pub struct ConsumerFilterFile {
    file: ConfigFile,
    raw: Mutex<Option<Vec<u8>>>,
}

impl ConsumerFilterFile {
    pub fn new(fs: &Fs, config_dir: &Path) -> Self {
        ConsumerFilterFile {
            file: ConfigFile::new(fs, config_dir.join(CONSUMER_FILTER_FILE)),
            raw: Mutex::new(None),
        }
    }

    fn raw_guard(&self) -> MutexGuard<'_, Option<Vec<u8>>> {
        self.raw.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes the next persist writes.
    pub fn raw(&self) -> Vec<u8> {
        self.raw_guard()
            .clone()
            .unwrap_or_else(|| EMPTY_CONSUMER_FILTER.as_bytes().to_vec())
    }

    /// The content as JSON (fastjson dialect accepted).
    pub fn value(&self) -> Option<serde_json::Value> {
        apogee_codec::fastjson::parse_value(&self.raw()).ok()
    }

    /// Topics that have filter data (the keys of `filterDataByTopic`).
    pub fn topics(&self) -> Vec<String> {
        self.value()
            .and_then(|v| {
                v.get("filterDataByTopic")
                    .and_then(|m| m.as_object())
                    .map(|m| m.keys().cloned().collect())
            })
            .unwrap_or_default()
    }
}

fn parse(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let v = apogee_codec::fastjson::parse_value(bytes).map_err(|e| e.to_string())?;
    if !v.is_object() {
        return Err("not a JSON object".to_owned());
    }
    Ok(bytes.to_vec())
}

impl ConfigManager for ConsumerFilterFile {
    fn config_path(&self) -> &Path {
        self.file.path()
    }

    fn load(&self) -> Result<LoadSource, ConfigFileError> {
        let loaded = self.file.load(parse)?;
        if let Some(raw) = loaded.value {
            *self.raw_guard() = Some(raw);
        }
        Ok(loaded.source)
    }

    fn encode(&self) -> String {
        String::from_utf8_lossy(&self.raw()).into_owned()
    }

    fn persist(&self) -> Result<(), ConfigFileError> {
        self.file.persist_with(|| self.raw())
    }
}
