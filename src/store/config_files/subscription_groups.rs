//! `config/subscriptionGroup.json`: consumer-group configuration (Java
//! `SubscriptionGroupManager`, 4.9.8).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use apogee_codec::body::{DataVersion, SubscriptionGroupConfig, SubscriptionGroupWrapper};

use super::fastjson_writer::{to_pretty_string, Node};
use super::java_order::{ChmOrder, JavaMap};
use super::key_order::{ordered_keys, KeyTree};
use super::now_ms;
use super::persist::{ConfigFile, ConfigFileError, ConfigManager, LoadSource};
use crate::store::fs::Fs;

/// File name inside the config directory.
pub const SUBSCRIPTION_GROUP_FILE: &str = "subscriptionGroup.json";

pub const TOOLS_CONSUMER_GROUP: &str = "TOOLS_CONSUMER";
pub const FILTERSRV_CONSUMER_GROUP: &str = "FILTERSRV_CONSUMER";
pub const SELF_TEST_CONSUMER_GROUP: &str = "SELF_TEST_C_GROUP";
pub const ONS_HTTP_PROXY_GROUP: &str = "CID_ONS-HTTP-PROXY";
pub const CID_ONSAPI_PULL_GROUP: &str = "CID_ONSAPI_PULL";
pub const CID_ONSAPI_PERMISSION_GROUP: &str = "CID_ONSAPI_PERMISSION";
pub const CID_ONSAPI_OWNER_GROUP: &str = "CID_ONSAPI_OWNER";
/// Groups with this prefix are always auto-created (Java `MixAll.isSysConsumerGroup`).
pub const CID_RMQ_SYS_PREFIX: &str = "CID_RMQ_SYS_";

/// The built-in groups, in the order Java's constructor creates them.
pub const BUILTIN_GROUPS: [&str; 7] = [
    TOOLS_CONSUMER_GROUP,
    FILTERSRV_CONSUMER_GROUP,
    SELF_TEST_CONSUMER_GROUP,
    ONS_HTTP_PROXY_GROUP,
    CID_ONSAPI_PULL_GROUP,
    CID_ONSAPI_PERMISSION_GROUP,
    CID_ONSAPI_OWNER_GROUP,
];

/// Java `MixAll.isSysConsumerGroup`.
pub fn is_sys_consumer_group(group: &str) -> bool {
    group.starts_with(CID_RMQ_SYS_PREFIX)
}

/// Java's table: `new ConcurrentHashMap<>(1024)` holding the built-in groups.
fn builtin_table() -> JavaMap<String, SubscriptionGroupConfig> {
    let mut t = JavaMap::with_initial_capacity(1024);
    for g in BUILTIN_GROUPS {
        t.insert(g.to_owned(), SubscriptionGroupConfig::new(g));
    }
    t
}

#[derive(Debug)]
struct State {
    table: JavaMap<String, SubscriptionGroupConfig>,
    data_version: DataVersion,
    /// 5.x `forbiddenTable`, kept so that a rewrite does not drop it.
    forbidden_table: Option<BTreeMap<String, BTreeMap<String, i32>>>,
}

/// The subscription-group table. Thread-safe; every change bumps the data version and
/// persists.
#[derive(Debug)]
pub struct SubscriptionGroupManager {
    file: ConfigFile,
    state: Mutex<State>,
}

impl SubscriptionGroupManager {
    /// A manager for `<config_dir>/subscriptionGroup.json`, holding the built-in groups.
    pub fn new(fs: &Fs, config_dir: &Path) -> Self {
        SubscriptionGroupManager {
            file: ConfigFile::new(fs, config_dir.join(SUBSCRIPTION_GROUP_FILE)),
            state: Mutex::new(State {
                table: builtin_table(),
                data_version: DataVersion::new(0, now_ms()),
                forbidden_table: None,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        self.state().table.get(&group.to_owned()).cloned()
    }

    pub fn contains(&self, group: &str) -> bool {
        self.state().table.contains_key(&group.to_owned())
    }

    /// Java `findSubscriptionGroupConfig`: the group's config; a missing group is created
    /// with the defaults (and persisted) when `auto_create` (`autoCreateSubscriptionGroup`)
    /// is on or the group is a system group (`CID_RMQ_SYS_…`).
    pub fn find_or_create(
        &self,
        group: &str,
        auto_create: bool,
    ) -> Option<SubscriptionGroupConfig> {
        let created = {
            let mut st = self.state();
            let key = group.to_owned();
            if let Some(c) = st.table.get(&key) {
                return Some(c.clone());
            }
            if !(auto_create || is_sys_consumer_group(group)) {
                return None;
            }
            let c = SubscriptionGroupConfig::new(group);
            st.table.insert(key, c.clone());
            st.data_version.next_version(now_ms());
            log::info!("auto create a subscription group, {c:?}");
            c
        };
        if let Err(e) = self.persist() {
            log::error!("persisting subscriptionGroup.json after auto-creating {group}: {e}");
        }
        Some(created)
    }

    /// Create or replace a group (admin UPDATE_AND_CREATE_SUBSCRIPTIONGROUP); bumps the data
    /// version and persists. Returns the previous config. The change stays in memory even when
    /// persisting fails (as in Java).
    pub fn update(
        &self,
        config: SubscriptionGroupConfig,
    ) -> Result<Option<SubscriptionGroupConfig>, ConfigFileError> {
        let old = {
            let mut st = self.state();
            let old = st.table.insert(config.group_name.clone(), config.clone());
            st.data_version.next_version(now_ms());
            old
        };
        match &old {
            Some(o) => log::info!("update subscription group config, old: {o:?} new: {config:?}"),
            None => log::info!("create new subscription group, {config:?}"),
        }
        self.persist()?;
        Ok(old)
    }

    /// Delete a group; bumps the data version and persists when it existed.
    pub fn delete(&self, group: &str) -> Result<Option<SubscriptionGroupConfig>, ConfigFileError> {
        let old = {
            let mut st = self.state();
            let old = st.table.remove(&group.to_owned());
            if old.is_some() {
                st.data_version.next_version(now_ms());
            }
            old
        };
        match &old {
            Some(o) => {
                log::info!("delete subscription group OK, subscription group: {o:?}");
                self.persist()?;
            }
            None => log::warn!(
                "delete subscription group failed, subscription groupName: {group} not exist"
            ),
        }
        Ok(old)
    }

    /// Java `disableConsume`: turn off `consumeEnable` of an existing group (in memory; bumps
    /// the data version). Returns whether the group exists.
    pub fn disable_consume(&self, group: &str) -> bool {
        let mut st = self.state();
        let Some(c) = st.table.get_mut(&group.to_owned()) else {
            return false;
        };
        c.consume_enable = false;
        st.data_version.next_version(now_ms());
        true
    }

    /// The whole table, sorted by group name.
    pub fn table(&self) -> BTreeMap<String, SubscriptionGroupConfig> {
        self.state()
            .table
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The table and data version as GET_ALL_SUBSCRIPTIONGROUP_CONFIG returns them.
    pub fn serialize_wrapper(&self) -> SubscriptionGroupWrapper {
        let st = self.state();
        SubscriptionGroupWrapper {
            data_version: st.data_version.clone(),
            forbidden_table: st.forbidden_table.clone(),
            subscription_group_table: st
                .table
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Replace the whole table and the data version with the master's (a slave's config
    /// sync), then persist.
    pub fn replace_from_master(&self, w: SubscriptionGroupWrapper) -> Result<(), ConfigFileError> {
        {
            let mut st = self.state();
            let mut t = JavaMap::new();
            t.put_all(w.subscription_group_table.into_iter().collect());
            st.table = t;
            st.data_version = w.data_version;
            if w.forbidden_table.is_some() {
                st.forbidden_table = w.forbidden_table;
            }
        }
        self.persist()
    }

    pub fn data_version(&self) -> DataVersion {
        self.state().data_version.clone()
    }

    /// Replace the data version (Java `getDataVersion().assignNewOne(..)`, what a slave does
    /// with the master's version). Not persisted by itself.
    pub fn assign_data_version(&self, version: DataVersion) {
        self.state().data_version = version;
    }
}

fn parse(bytes: &[u8]) -> Result<(SubscriptionGroupWrapper, Vec<String>), String> {
    let w = SubscriptionGroupWrapper::decode(bytes).map_err(|e| e.to_string())?;
    let order = KeyTree::parse(bytes)
        .and_then(|t| {
            t.get("subscriptionGroupTable")
                .map(|g| g.keys().into_iter().map(str::to_owned).collect())
        })
        .unwrap_or_default();
    Ok((w, order))
}

impl ConfigManager for SubscriptionGroupManager {
    fn config_path(&self) -> &Path {
        self.file.path()
    }

    /// Load the file (or its backup) on top of the built-in groups (Java reads the file into a
    /// second manager holding the built-ins and `putAll`s that table into its own; we replay
    /// the same insertions so the table iterates in Java's order).
    ///
    /// The file's data version is taken over. (Java 4.9.8 does not: `dataVersion` has no
    /// setter, so fastjson skips it and the counter restarts at 0 with the load time — a quirk
    /// we do not copy, so the version never goes backwards.)
    fn load(&self) -> Result<LoadSource, ConfigFileError> {
        let loaded = self.file.load(parse)?;
        if let Some((w, order)) = loaded.value {
            // fastjson parses the table into a default ConcurrentHashMap (file order), then
            // putAll()s it into the second manager's table, which holds the built-ins.
            let mut parsed = ChmOrder::new();
            for k in ordered_keys(
                &order.iter().map(String::as_str).collect::<Vec<_>>(),
                w.subscription_group_table.keys(),
            ) {
                parsed.insert(k);
            }
            let mut groups = w.subscription_group_table;
            let mut intermediate = builtin_table();
            intermediate.put_all(
                parsed
                    .iter()
                    .filter_map(|k| groups.remove(k).map(|c| (k.clone(), c)))
                    .collect(),
            );
            let mut st = self.state();
            st.table.put_all(intermediate.to_vec());
            st.data_version = w.data_version;
            st.forbidden_table = w.forbidden_table;
        }
        Ok(loaded.source)
    }

    fn encode(&self) -> String {
        let st = self.state();
        let mut fields = vec![("dataVersion", Node::from_serialize(&st.data_version))];
        if let Some(f) = &st.forbidden_table {
            fields.push(("forbiddenTable", Node::from_serialize(f)));
        }
        fields.push((
            "subscriptionGroupTable",
            Node::object(
                st.table
                    .iter()
                    .map(|(k, v)| (k.clone(), Node::from_serialize(v))),
            ),
        ));
        to_pretty_string(&Node::object(fields))
    }

    fn persist(&self) -> Result<(), ConfigFileError> {
        self.file.persist_with(|| self.encode().into_bytes())
    }
}
