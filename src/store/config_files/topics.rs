//! `config/topics.json`: the broker's topic table (Java `TopicConfigManager`, 4.9.8).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use apogee_codec::body::{DataVersion, TopicConfig, TopicConfigSerializeWrapper};

use super::fastjson_writer::{to_pretty_string, Node};
use super::java_order::{ChmOrder, JavaMap};
use super::key_order::{ordered_keys, KeyTree};
use super::now_ms;
use super::persist::{ConfigFile, ConfigFileError, ConfigManager, LoadSource};
use crate::store::fs::Fs;

/// File name inside the config directory.
pub const TOPICS_FILE: &str = "topics.json";

/// `TBW102`: the template topic for auto-creation on send.
pub const AUTO_CREATE_TOPIC_KEY_TOPIC: &str = "TBW102";
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
pub const BENCHMARK_TOPIC: &str = "BenchmarkTest";
pub const OFFSET_MOVED_EVENT: &str = "OFFSET_MOVED_EVENT";
/// Delayed messages wait here, queue = level − 1.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// Queue numbers of [`SCHEDULE_TOPIC`] (one per default delay level).
pub const SCHEDULE_TOPIC_QUEUE_NUM: i32 = 18;
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
pub const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// Default `msgTraceTopicName`.
pub const DEFAULT_TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
/// `<cluster>_REPLY_TOPIC`.
pub const REPLY_TOPIC_POSTFIX: &str = "REPLY_TOPIC";
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";
/// Longest topic name accepted.
pub const TOPIC_MAX_LENGTH: usize = 127;
/// Queues of a `%DLQ%` topic (Java `DLQ_NUMS_PER_GROUP`).
pub const DLQ_NUMS_PER_GROUP: i32 = 1;

/// Permission bits of a topic (and of the broker).
pub mod perm {
    pub const PRIORITY: i32 = 0x8;
    pub const READ: i32 = 0x4;
    pub const WRITE: i32 = 0x2;
    pub const INHERIT: i32 = 0x1;

    pub fn is_readable(perm: i32) -> bool {
        perm & READ == READ
    }
    pub fn is_writeable(perm: i32) -> bool {
        perm & WRITE == WRITE
    }
    pub fn is_inherited(perm: i32) -> bool {
        perm & INHERIT == INHERIT
    }
}

/// Topics clients may not send to (Java `TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET`).
pub fn is_not_allowed_send_topic(topic: &str) -> bool {
    matches!(
        topic,
        SCHEDULE_TOPIC
            | TRANS_HALF_TOPIC
            | TRANS_OP_HALF_TOPIC
            | TRANS_CHECK_MAX_TIME_TOPIC
            | SELF_TEST_TOPIC
            | OFFSET_MOVED_EVENT
    )
}

/// A topic name Java's `TopicValidator.validateTopic` rejects; `Display` is Java's remark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TopicNameError {
    #[error("The specified topic is blank.")]
    Blank,
    #[error("The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$")]
    IllegalCharacters,
    #[error("The specified topic is longer than topic max length.")]
    TooLong,
}

/// Java `TopicValidator.validateTopic`: not blank, only `[%|a-zA-Z0-9_-]`, at most 127
/// characters (checked in that order).
pub fn validate_topic(topic: &str) -> Result<(), TopicNameError> {
    if topic.chars().all(char::is_whitespace) {
        return Err(TopicNameError::Blank);
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
    {
        return Err(TopicNameError::IllegalCharacters);
    }
    if topic.len() > TOPIC_MAX_LENGTH {
        return Err(TopicNameError::TooLong);
    }
    Ok(())
}

/// `%RETRY%<group>`.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}")
}

/// `%DLQ%<group>`.
pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_GROUP_TOPIC_PREFIX}{group}")
}

/// The broker settings that shape the built-in topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSettings {
    /// `brokerClusterName` (default `DefaultCluster`).
    pub cluster_name: String,
    /// `brokerName`.
    pub broker_name: String,
    /// `autoCreateTopicEnable` (default true): creates `TBW102`.
    pub auto_create_topic_enable: bool,
    /// `defaultTopicQueueNums` (default 8): queues of `TBW102`.
    pub default_topic_queue_nums: i32,
    /// `clusterTopicEnable` (default true): the cluster-name topic is R/W.
    pub cluster_topic_enable: bool,
    /// `brokerTopicEnable` (default true): the broker-name topic is R/W.
    pub broker_topic_enable: bool,
    /// `traceTopicEnable` (default false).
    pub trace_topic_enable: bool,
    /// `msgTraceTopicName` (default `RMQ_SYS_TRACE_TOPIC`).
    pub trace_topic_name: String,
}

impl TopicSettings {
    /// Java's defaults for the given cluster and broker names.
    pub fn new(cluster_name: impl Into<String>, broker_name: impl Into<String>) -> Self {
        TopicSettings {
            cluster_name: cluster_name.into(),
            broker_name: broker_name.into(),
            auto_create_topic_enable: true,
            default_topic_queue_nums: 8,
            cluster_topic_enable: true,
            broker_topic_enable: true,
            trace_topic_enable: false,
            trace_topic_name: DEFAULT_TRACE_TOPIC.to_owned(),
        }
    }

    /// `<cluster>_REPLY_TOPIC`.
    pub fn reply_topic(&self) -> String {
        format!("{}_{REPLY_TOPIC_POSTFIX}", self.cluster_name)
    }

    /// The built-in topics, in the order Java's constructor creates them.
    pub fn builtin_topics(&self) -> Vec<TopicConfig> {
        let sized = |name: &str, queues: i32, perm: i32| TopicConfig {
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm,
            ..TopicConfig::new(name)
        };
        let rw = perm::READ | perm::WRITE;
        let mut v = vec![sized(SELF_TEST_TOPIC, 1, rw)];
        if self.auto_create_topic_enable {
            v.push(sized(
                AUTO_CREATE_TOPIC_KEY_TOPIC,
                self.default_topic_queue_nums,
                perm::INHERIT | rw,
            ));
        }
        v.push(sized(BENCHMARK_TOPIC, 1024, rw));
        let mut cluster_perm = perm::INHERIT;
        if self.cluster_topic_enable {
            cluster_perm |= rw;
        }
        v.push(sized(
            &self.cluster_name,
            TopicConfig::DEFAULT_QUEUE_NUMS,
            cluster_perm,
        ));
        let mut broker_perm = perm::INHERIT;
        if self.broker_topic_enable {
            broker_perm |= rw;
        }
        v.push(sized(&self.broker_name, 1, broker_perm));
        v.push(sized(OFFSET_MOVED_EVENT, 1, rw));
        v.push(sized(SCHEDULE_TOPIC, SCHEDULE_TOPIC_QUEUE_NUM, rw));
        if self.trace_topic_enable {
            v.push(sized(&self.trace_topic_name, 1, rw));
        }
        v.push(sized(&self.reply_topic(), 1, rw));
        v
    }
}

/// 5.x properties of the file, kept so that a rewrite does not drop them.
#[derive(Debug, Clone, Default)]
struct Extra5x {
    mapping_data_version: Option<DataVersion>,
    topic_queue_mapping_detail_map: Option<BTreeMap<String, serde_json::Value>>,
    topic_queue_mapping_info_map: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug)]
struct State {
    table: JavaMap<String, TopicConfig>,
    data_version: DataVersion,
    extra: Extra5x,
}

/// The topic table. Thread-safe; every change bumps the data version and persists.
#[derive(Debug)]
pub struct TopicConfigManager {
    file: ConfigFile,
    settings: TopicSettings,
    system_topics: BTreeSet<String>,
    state: Mutex<State>,
}

impl TopicConfigManager {
    /// A manager for `<config_dir>/topics.json`, holding the built-in topics (not loaded yet).
    pub fn new(fs: &Fs, config_dir: &Path, settings: TopicSettings) -> Self {
        // Java: new ConcurrentHashMap<>(1024), built-ins put in constructor order.
        let mut table = JavaMap::with_initial_capacity(1024);
        for tc in settings.builtin_topics() {
            table.insert(tc.topic_name.clone(), tc);
        }
        let mut system_topics: BTreeSet<String> = [
            AUTO_CREATE_TOPIC_KEY_TOPIC,
            SCHEDULE_TOPIC,
            BENCHMARK_TOPIC,
            TRANS_HALF_TOPIC,
            TRANS_OP_HALF_TOPIC,
            TRANS_CHECK_MAX_TIME_TOPIC,
            DEFAULT_TRACE_TOPIC,
            SELF_TEST_TOPIC,
            OFFSET_MOVED_EVENT,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        system_topics.insert(settings.cluster_name.clone());
        system_topics.insert(settings.broker_name.clone());
        system_topics.insert(settings.trace_topic_name.clone());
        system_topics.insert(settings.reply_topic());
        TopicConfigManager {
            file: ConfigFile::new(fs, config_dir.join(TOPICS_FILE)),
            settings,
            system_topics,
            state: Mutex::new(State {
                table,
                data_version: DataVersion::new(0, now_ms()),
                extra: Extra5x::default(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn settings(&self) -> &TopicSettings {
        &self.settings
    }

    /// Java `TopicValidator.isSystemTopic` (the fixed set plus this broker's cluster, broker,
    /// trace and reply topics).
    pub fn is_system_topic(&self, topic: &str) -> bool {
        self.system_topics.contains(topic)
    }

    /// The system topics (Java `TopicValidator.getSystemTopicSet()` on this broker: the fixed
    /// set plus the cluster, broker, trace and reply topics it registered).
    pub fn system_topics(&self) -> &BTreeSet<String> {
        &self.system_topics
    }

    pub fn get(&self, topic: &str) -> Option<TopicConfig> {
        self.state().table.get(&topic.to_owned()).cloned()
    }

    pub fn contains(&self, topic: &str) -> bool {
        self.state().table.contains_key(&topic.to_owned())
    }

    pub fn len(&self) -> usize {
        self.state().table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.state().table.is_empty()
    }

    /// Topic names, sorted.
    pub fn topic_names(&self) -> BTreeSet<String> {
        self.state().table.keys().cloned().collect()
    }

    /// The whole table, sorted by name.
    pub fn table(&self) -> BTreeMap<String, TopicConfig> {
        self.state()
            .table
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn data_version(&self) -> DataVersion {
        self.state().data_version.clone()
    }

    /// Replace the data version (Java `getDataVersion().assignNewOne(..)`, what a slave does
    /// with the master's version). Not persisted by itself.
    pub fn assign_data_version(&self, version: DataVersion) {
        self.state().data_version = version;
    }

    /// Replace the whole table and the data version with the master's (a slave's config
    /// sync, Java `SlaveSynchronize.syncTopicConfig`), then persist.
    pub fn replace_from_master(
        &self,
        table: BTreeMap<String, TopicConfig>,
        version: DataVersion,
    ) -> Result<(), ConfigFileError> {
        {
            let mut st = self.state();
            let mut t = JavaMap::with_initial_capacity(1024);
            t.put_all(table.into_iter().collect());
            st.table = t;
            st.data_version = version;
        }
        self.persist()
    }

    /// The table and data version, as registered with the name servers and returned by
    /// GET_ALL_TOPIC_CONFIG (`buildTopicConfigSerializeWrapper`).
    pub fn serialize_wrapper(&self) -> TopicConfigSerializeWrapper {
        let st = self.state();
        TopicConfigSerializeWrapper {
            data_version: st.data_version.clone(),
            topic_config_table: st
                .table
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..Default::default()
        }
    }

    fn persist_logged(&self, what: &str) {
        if let Err(e) = self.persist() {
            log::error!("{what}: {e}");
        }
    }

    /// Create or replace a topic (admin UPDATE_AND_CREATE_TOPIC); bumps the data version and
    /// persists. Returns the previous config. The change stays in memory even when persisting
    /// fails (as in Java); the error then says the file was not updated.
    pub fn update_topic_config(
        &self,
        config: TopicConfig,
    ) -> Result<Option<TopicConfig>, ConfigFileError> {
        let old = {
            let mut st = self.state();
            let old = st.table.insert(config.topic_name.clone(), config.clone());
            st.data_version.next_version(now_ms());
            old
        };
        match &old {
            Some(o) => log::info!("update topic config, old: {o:?} new: {config:?}"),
            None => log::info!("create new topic {config:?}"),
        }
        self.persist()?;
        Ok(old)
    }

    /// Delete a topic; bumps the data version and persists when it existed.
    pub fn delete_topic_config(&self, topic: &str) -> Result<Option<TopicConfig>, ConfigFileError> {
        let old = {
            let mut st = self.state();
            let old = st.table.remove(&topic.to_owned());
            if old.is_some() {
                st.data_version.next_version(now_ms());
            }
            old
        };
        match &old {
            Some(o) => {
                log::info!("delete topic config OK, topic: {o:?}");
                self.persist()?;
            }
            None => log::warn!("delete topic config failed, topic: {topic} not exists"),
        }
        Ok(old)
    }

    /// Java `createTopicInSendMessageMethod` (broker-behaviour §1.6). Returns the topic's
    /// config: the existing one, or one created from `default_topic` when that template has
    /// INHERIT (queues = min(`client_queue_nums`, template write queues), perm = template perm
    /// without INHERIT, filter type copied), or `None`.
    ///
    /// When `default_topic` is `TBW102` and `autoCreateTopicEnable` is off, the stored `TBW102`
    /// loses INHERIT (its perm becomes R|W), so nothing is created.
    ///
    /// A new topic is persisted at once (a persist failure is logged, the topic stays in
    /// memory, as in Java). The send path's fallback for `%RETRY%` topics that this does not
    /// create (1 queue, R|W) is
    /// [`create_topic_in_send_back`](Self::create_topic_in_send_back).
    pub fn create_topic_in_send(
        &self,
        topic: &str,
        default_topic: &str,
        client_queue_nums: i32,
        topic_sys_flag: i32,
    ) -> Option<TopicConfig> {
        self.create_topic_in_send_detailed(topic, default_topic, client_queue_nums, topic_sys_flag)
            .map(|(tc, _)| tc)
    }

    /// [`create_topic_in_send`](Self::create_topic_in_send), also telling whether the topic was
    /// created now (the caller then registers with the name servers at once).
    pub fn create_topic_in_send_detailed(
        &self,
        topic: &str,
        default_topic: &str,
        client_queue_nums: i32,
        topic_sys_flag: i32,
    ) -> Option<(TopicConfig, bool)> {
        let created = {
            let mut st = self.state();
            let key = topic.to_owned();
            if let Some(tc) = st.table.get(&key) {
                return Some((tc.clone(), false));
            }
            let auto_create = self.settings.auto_create_topic_enable;
            let template = match st.table.get_mut(&default_topic.to_owned()) {
                Some(t) => {
                    if default_topic == AUTO_CREATE_TOPIC_KEY_TOPIC && !auto_create {
                        t.perm = perm::READ | perm::WRITE;
                    }
                    t.clone()
                }
                None => {
                    log::warn!(
                        "Create new topic failed, because the default topic[{default_topic}] not exist."
                    );
                    return None;
                }
            };
            if !perm::is_inherited(template.perm) {
                log::warn!(
                    "Create new topic failed, because the default topic[{default_topic}] has no perm [{}]",
                    template.perm
                );
                return None;
            }
            let queue_nums = client_queue_nums.min(template.write_queue_nums).max(0);
            let tc = TopicConfig {
                read_queue_nums: queue_nums,
                write_queue_nums: queue_nums,
                perm: template.perm & !perm::INHERIT,
                topic_sys_flag,
                topic_filter_type: template.topic_filter_type,
                ..TopicConfig::new(topic)
            };
            log::info!("Create new topic by default topic:[{default_topic}] config:[{tc:?}]");
            st.table.insert(key, tc.clone());
            st.data_version.next_version(now_ms());
            tc
        };
        self.persist_logged("persisting topics.json after auto-creating a topic");
        Some((created, true))
    }

    /// Java `createTopicInSendMessageBackMethod`: the topic's config, created with the given
    /// queue numbers, perm and sys flag if missing.
    pub fn create_topic_in_send_back(
        &self,
        topic: &str,
        queue_nums: i32,
        perm: i32,
        topic_sys_flag: i32,
    ) -> TopicConfig {
        self.create_topic_in_send_back_detailed(topic, queue_nums, perm, topic_sys_flag)
            .0
    }

    /// [`create_topic_in_send_back`](Self::create_topic_in_send_back), also telling whether
    /// the topic was created now.
    pub fn create_topic_in_send_back_detailed(
        &self,
        topic: &str,
        queue_nums: i32,
        perm: i32,
        topic_sys_flag: i32,
    ) -> (TopicConfig, bool) {
        let created = {
            let mut st = self.state();
            let key = topic.to_owned();
            if let Some(tc) = st.table.get(&key) {
                return (tc.clone(), false);
            }
            let tc = TopicConfig {
                read_queue_nums: queue_nums,
                write_queue_nums: queue_nums,
                perm,
                topic_sys_flag,
                ..TopicConfig::new(topic)
            };
            log::info!("create new topic {tc:?}");
            st.table.insert(key, tc.clone());
            st.data_version.next_version(now_ms());
            tc
        };
        self.persist_logged("persisting topics.json after creating a topic");
        (created, true)
    }

    /// `%RETRY%<group>` with 1 queue, perm R|W, if missing (the group default
    /// `retryQueueNums` is 1; use [`create_topic_in_send_back`](Self::create_topic_in_send_back)
    /// for another number).
    pub fn create_retry_topic(&self, group: &str) -> TopicConfig {
        self.create_topic_in_send_back(&retry_topic(group), 1, perm::READ | perm::WRITE, 0)
    }

    /// `%DLQ%<group>` with 1 queue, perm R|W, if missing.
    pub fn create_dlq_topic(&self, group: &str) -> TopicConfig {
        self.create_topic_in_send_back(
            &dlq_topic(group),
            DLQ_NUMS_PER_GROUP,
            perm::READ | perm::WRITE,
            0,
        )
    }

    fn apply(&self, w: TopicConfigSerializeWrapper, file_order: Vec<String>) {
        // fastjson builds the wrapper's table in file order in a default ConcurrentHashMap;
        // Java then putAll()s that map into its own table (built-ins already in it).
        let mut intermediate = ChmOrder::new();
        for k in ordered_keys(
            &file_order.iter().map(String::as_str).collect::<Vec<_>>(),
            w.topic_config_table.keys(),
        ) {
            intermediate.insert(k);
        }
        let mut table = w.topic_config_table;
        let entries: Vec<(String, TopicConfig)> = intermediate
            .iter()
            .filter_map(|k| table.remove(k).map(|v| (k.clone(), v)))
            .collect();
        let mut st = self.state();
        st.table.put_all(entries);
        st.data_version = w.data_version;
        st.extra = Extra5x {
            mapping_data_version: w.mapping_data_version,
            topic_queue_mapping_detail_map: w.topic_queue_mapping_detail_map,
            topic_queue_mapping_info_map: w.topic_queue_mapping_info_map,
        };
    }
}

fn parse(bytes: &[u8]) -> Result<(TopicConfigSerializeWrapper, Vec<String>), String> {
    let w = TopicConfigSerializeWrapper::decode(bytes).map_err(|e| e.to_string())?;
    let order = KeyTree::parse(bytes)
        .and_then(|t| {
            t.get("topicConfigTable")
                .map(|t| t.keys().into_iter().map(str::to_owned).collect())
        })
        .unwrap_or_default();
    Ok((w, order))
}

impl ConfigManager for TopicConfigManager {
    fn config_path(&self) -> &Path {
        self.file.path()
    }

    /// Load `topics.json` (or its backup) on top of the built-in topics (a topic in the file
    /// replaces the built-in one), taking over the file's data version.
    fn load(&self) -> Result<LoadSource, ConfigFileError> {
        let loaded = self.file.load(parse)?;
        if let Some((w, order)) = loaded.value {
            self.apply(w, order);
        }
        Ok(loaded.source)
    }

    fn encode(&self) -> String {
        let st = self.state();
        let mut fields = vec![("dataVersion", Node::from_serialize(&st.data_version))];
        if let Some(v) = &st.extra.mapping_data_version {
            fields.push(("mappingDataVersion", Node::from_serialize(v)));
        }
        fields.push((
            "topicConfigTable",
            Node::object(
                st.table
                    .iter()
                    .map(|(k, v)| (k.clone(), Node::from_serialize(v))),
            ),
        ));
        if let Some(v) = &st.extra.topic_queue_mapping_detail_map {
            fields.push(("topicQueueMappingDetailMap", Node::from_serialize(v)));
        }
        if let Some(v) = &st.extra.topic_queue_mapping_info_map {
            fields.push(("topicQueueMappingInfoMap", Node::from_serialize(v)));
        }
        to_pretty_string(&Node::object(fields))
    }

    fn persist(&self) -> Result<(), ConfigFileError> {
        self.file.persist_with(|| self.encode().into_bytes())
    }
}
