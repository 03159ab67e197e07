//! The name server's key/value configuration: namespace → key → value, persisted to
//! `kvConfigPath` in Java's format, `{"configTable":{"<namespace>":{"<key>":"<value>"}}}`.
//!
//! The table lives behind one `RwLock` (look-ups are far more frequent than changes and never
//! wait on I/O). Persisting goes through [`ConfigFile`]: the new content is written to a
//! temporary file and renamed over the old one (the previous content kept as `.bak`), so a
//! crash never leaves a half-written table; loading falls back to the `.bak` file.
//!
//! Namespace `ORDER_TOPIC_CONFIG` has a meaning of its own: its entries (topic →
//! `"brokerA:4;brokerB:4"`) are returned to every registering broker and, with
//! `orderMessageEnable`, put into routes as `orderTopicConf`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::store::config_files::{ConfigFile, ConfigFileError};
use crate::store::fs::Fs;

/// The KV namespace holding order-topic layouts.
pub const NAMESPACE_ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

type Table = BTreeMap<String, BTreeMap<String, String>>;

/// The file format (Java `KVConfigSerializeWrapper`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct KvConfigFile {
    config_table: Table,
}

/// The KV config table and its file.
#[derive(Debug)]
pub struct KvConfigManager {
    table: RwLock<Table>,
    /// `None`: memory only (tests, embedded use without persistence).
    file: Option<ConfigFile>,
}

impl KvConfigManager {
    /// A table kept only in memory.
    pub fn in_memory() -> Self {
        KvConfigManager {
            table: RwLock::new(Table::new()),
            file: None,
        }
    }

    /// Load the table from `path` (or its `.bak`); a missing file is an empty table. A file
    /// that exists but does not parse (with no usable backup) is an error, as Java refuses to
    /// start on it too.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, ConfigFileError> {
        let file = ConfigFile::new(&Fs::real(), path);
        let loaded = file.load(|bytes| {
            apogee_codec::fastjson::from_slice::<KvConfigFile>("kvConfig.json", bytes)
                .map_err(|e| e.to_string())
        })?;
        let table = loaded.value.map(|f| f.config_table).unwrap_or_default();
        log::info!(
            "KV config: {} namespace(s) loaded from {}",
            table.len(),
            file.path().display()
        );
        Ok(KvConfigManager {
            table: RwLock::new(table),
            file: Some(file),
        })
    }

    /// The file the table is persisted to, if any.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(ConfigFile::path)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Set a value (in memory; call [`persist`](Self::persist) to write the file).
    pub fn put(&self, namespace: &str, key: &str, value: &str) {
        let prev = self
            .write()
            .entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        match prev {
            Some(_) => {
                log::info!("KV config updated: namespace {namespace} key {key} value {value}")
            }
            None => log::info!("KV config created: namespace {namespace} key {key} value {value}"),
        }
    }

    /// Remove a value (the namespace stays, possibly empty, as in Java).
    pub fn delete(&self, namespace: &str, key: &str) -> Option<String> {
        let removed = self.write().get_mut(namespace).and_then(|t| t.remove(key));
        log::info!("KV config deleted: namespace {namespace} key {key} value {removed:?}");
        removed
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<String> {
        self.read().get(namespace).and_then(|t| t.get(key)).cloned()
    }

    /// Every entry of a namespace; `None` when the namespace does not exist.
    pub fn namespace(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.read().get(namespace).cloned()
    }

    /// The file content for the current table (compact JSON, as fastjson writes it).
    pub fn encode(&self) -> Vec<u8> {
        let table = self.read();
        serde_json::to_vec(&serde_json::json!({ "configTable": &*table }))
            .unwrap_or_else(|_| b"{\"configTable\":{}}".to_vec())
    }

    /// Write the current table to the file (blocking I/O: call it from
    /// [`rt::unblock`](crate::rt::unblock) in async code). A no-op for in-memory tables.
    pub fn persist(&self) -> Result<(), ConfigFileError> {
        match &self.file {
            Some(file) => file.persist_with(|| self.encode()),
            None => Ok(()),
        }
    }
}
