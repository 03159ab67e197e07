//! The store's config files, `<storePathRootDir>/config/*.json`, byte-compatible with
//! RocketMQ 4.9.8 (store-format §7).
//!
//! | file | manager | written when (Java 4.9.8, and the broker is expected to do the same) |
//! |---|---|---|
//! | `topics.json` | [`TopicConfigManager`] | on every topic create / update / delete, including auto-creation on send and retry / DLQ topic creation |
//! | `subscriptionGroup.json` | [`SubscriptionGroupManager`] | on every group create / update / delete, including auto-creation on heartbeat / pull |
//! | `consumerOffset.json` | [`ConsumerOffsetManager`] | by the broker every `flushConsumerOffsetInterval` (5 s, first after 10 s) and at shutdown |
//! | `delayOffset.json` | [`DelayOffsetManager`] | by the schedule service every `flushDelayOffsetInterval` (10 s) and when it stops |
//! | `consumerFilter.json` | [`ConsumerFilterFile`] | by the broker every 10 s (kept verbatim: SQL92 filters are not compiled yet) |
//!
//! The managers that persist on change do so themselves; the timed ones only offer
//! [`ConfigManager::persist`], which the broker's timers call.
//!
//! **Format.** Every file is written in fastjson's pretty format ([`fastjson_writer`]): TAB
//! indentation, Java's line breaks, bean properties sorted, integer map keys unquoted. Tables
//! are written in the iteration order of the Java broker's `ConcurrentHashMap`s, which
//! [`java_order`] reproduces from the same history (capacity, insertions, resizes), so a file
//! we rewrite from what Java wrote is byte-identical to Java's (proved on the 4.9.8 fixture).
//! Reading accepts both fastjson's dialect and standard JSON and ignores unknown (5.x)
//! properties; the 5.x properties the codec knows are kept and written back.
//!
//! **Atomic replace.** [`persist::ConfigFile`] writes `<file>.tmp` (fsync), copies the current
//! file to `<file>.bak` (fsync), renames the temporary file over the file and fsyncs the
//! directory. A reader (or a crash) sees the old content or the new one, never a partial
//! file; a failed persist leaves the previous file intact and returns a
//! [`ConfigFileError`] naming the failed step. Loading falls back to `<file>.bak` when the
//! file is missing, empty or corrupt; no file at all is the empty state.

pub mod consumer_filter;
pub mod consumer_offsets;
pub mod delay_offsets;
pub mod fastjson_writer;
pub mod java_order;
pub mod key_order;
pub mod persist;
pub mod subscription_groups;
pub mod topics;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use consumer_filter::ConsumerFilterFile;
pub use consumer_offsets::ConsumerOffsetManager;
pub use delay_offsets::DelayOffsetManager;
pub use persist::{ConfigFile, ConfigFileError, ConfigManager, LoadSource, PersistStep};
pub use subscription_groups::SubscriptionGroupManager;
pub use topics::{TopicConfigManager, TopicNameError, TopicSettings};

use crate::store::fs::Fs;

/// Milliseconds since the epoch (for `DataVersion` timestamps).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// All config-file managers of one store.
#[derive(Debug)]
pub struct ConfigFiles {
    pub topics: TopicConfigManager,
    pub subscription_groups: SubscriptionGroupManager,
    pub consumer_offsets: ConsumerOffsetManager,
    pub delay_offsets: DelayOffsetManager,
    pub consumer_filter: ConsumerFilterFile,
}

impl ConfigFiles {
    /// Managers for the files in `config_dir` (see `MessageStoreConfig::config_dir`), holding
    /// the built-in topics and groups; call [`load_all`](Self::load_all) next.
    pub fn new(fs: &Fs, config_dir: &Path, settings: TopicSettings) -> Self {
        ConfigFiles {
            topics: TopicConfigManager::new(fs, config_dir, settings),
            subscription_groups: SubscriptionGroupManager::new(fs, config_dir),
            consumer_offsets: ConsumerOffsetManager::new(fs, config_dir),
            delay_offsets: DelayOffsetManager::new(fs, config_dir),
            consumer_filter: ConsumerFilterFile::new(fs, config_dir),
        }
    }

    fn all(&self) -> [&dyn ConfigManager; 5] {
        [
            &self.topics,
            &self.subscription_groups,
            &self.consumer_offsets,
            &self.delay_offsets,
            &self.consumer_filter,
        ]
    }

    /// Load every file; stops at the first one that cannot be loaded (Java refuses to start).
    pub fn load_all(&self) -> Result<(), ConfigFileError> {
        for m in self.all() {
            m.load()?;
        }
        Ok(())
    }

    /// Persist every file (shutdown); tries all of them and returns the first error.
    pub fn persist_all(&self) -> Result<(), ConfigFileError> {
        let mut first = None;
        for m in self.all() {
            if let Err(e) = m.persist() {
                log::error!("{e}");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
