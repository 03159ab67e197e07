//! `config/consumerOffset.json`: committed consumer offsets (Java `ConsumerOffsetManager`).
//!
//! Key `topic@group` → queue id → the next offset to consume. Offsets change on every
//! UPDATE_CONSUMER_OFFSET and pull with the commit flag; the broker persists the table on a
//! timer (every `flushConsumerOffsetInterval` = 5 s) and at shutdown, not on each change.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use apogee_codec::body::{ConsumerOffsetSerializeWrapper, DataVersion, TOPIC_GROUP_SEPARATOR};

use super::fastjson_writer::{to_pretty_string, Node};
use super::java_order::JavaMap;
use super::key_order::KeyTree;
use super::now_ms;
use super::persist::{ConfigFile, ConfigFileError, ConfigManager, LoadSource};
use crate::store::fs::Fs;

/// File name inside the config directory.
pub const CONSUMER_OFFSET_FILE: &str = "consumerOffset.json";

type Queues = JavaMap<i32, i64>;

/// `topic@group`.
pub fn offset_key(topic: &str, group: &str) -> String {
    format!("{topic}{TOPIC_GROUP_SEPARATOR}{group}")
}

/// Split a `topic@group` key as Java does (`key.split("@")` must give exactly two parts;
/// Java's `split` drops trailing empty parts, so `"T@"` has one part and `"T@G@"` two).
pub fn split_offset_key(key: &str) -> Option<(&str, &str)> {
    let mut parts: Vec<&str> = key.split(TOPIC_GROUP_SEPARATOR).collect();
    while parts.len() > 1 && parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    match parts.as_slice() {
        [topic, group] => Some((topic, group)),
        _ => None,
    }
}

#[derive(Debug)]
struct State {
    table: JavaMap<String, Queues>,
    data_version: DataVersion,
    /// The loaded file had a (5.x) `dataVersion`: keep writing one.
    write_data_version: bool,
}

/// The consumer offset table. Thread-safe.
#[derive(Debug)]
pub struct ConsumerOffsetManager {
    file: ConfigFile,
    state: Mutex<State>,
}

fn new_queues() -> Queues {
    // Java: new ConcurrentHashMap<Integer, Long>(32)
    JavaMap::with_initial_capacity(32)
}

fn to_btree(q: &Queues) -> BTreeMap<i32, i64> {
    q.iter().map(|(k, v)| (*k, *v)).collect()
}

impl ConsumerOffsetManager {
    /// A manager for `<config_dir>/consumerOffset.json` (empty until loaded).
    pub fn new(fs: &Fs, config_dir: &Path) -> Self {
        ConsumerOffsetManager {
            file: ConfigFile::new(fs, config_dir.join(CONSUMER_OFFSET_FILE)),
            state: Mutex::new(State {
                // Java: new ConcurrentHashMap<>(512)
                table: JavaMap::with_initial_capacity(512),
                data_version: DataVersion::new(0, now_ms()),
                write_data_version: false,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record `offset` (the next offset to consume) for a queue.
    pub fn commit(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        let key = offset_key(topic, group);
        let mut st = self.state();
        match st.table.get_mut(&key) {
            Some(q) => {
                q.insert(queue_id, offset);
            }
            None => {
                let mut q = new_queues();
                q.insert(queue_id, offset);
                st.table.insert(key, q);
            }
        }
        st.data_version.next_version(now_ms());
    }

    /// The committed offset of a queue (Java returns −1 for `None`).
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.state()
            .table
            .get(&offset_key(topic, group))
            .and_then(|q| q.get(&queue_id).copied())
    }

    /// All committed offsets of a group on a topic.
    pub fn query_all(&self, group: &str, topic: &str) -> Option<BTreeMap<i32, i64>> {
        self.state()
            .table
            .get(&offset_key(topic, group))
            .map(to_btree)
    }

    fn remove_where(&self, pred: impl Fn(&str, &str) -> bool) -> Vec<String> {
        let mut st = self.state();
        let doomed: Vec<String> = st
            .table
            .keys()
            .filter(|k| split_offset_key(k).is_some_and(|(t, g)| pred(t, g)))
            .cloned()
            .collect();
        for k in &doomed {
            st.table.remove(k);
        }
        if !doomed.is_empty() {
            st.data_version.next_version(now_ms());
        }
        doomed
    }

    /// Remove every offset of `group` (Java `removeOffset`); returns the removed keys.
    pub fn remove_group(&self, group: &str) -> Vec<String> {
        let removed = self.remove_where(|_, g| g == group);
        for k in &removed {
            log::warn!("clean group offset {k}");
        }
        removed
    }

    /// Remove every offset on `topic`; returns the removed keys.
    pub fn remove_topic(&self, topic: &str) -> Vec<String> {
        let removed = self.remove_where(|t, _| t == topic);
        for k in &removed {
            log::warn!("clean topic offset {k}");
        }
        removed
    }

    /// Copy the offsets of `src_group` on `topic` to `dest_group` (Java `cloneOffset`);
    /// returns whether there was anything to copy.
    pub fn clone_offset(&self, src_group: &str, dest_group: &str, topic: &str) -> bool {
        let mut st = self.state();
        let Some(src) = st.table.get(&offset_key(topic, src_group)) else {
            return false;
        };
        let copy = JavaMap::copy_of(src);
        st.table.insert(offset_key(topic, dest_group), copy);
        st.data_version.next_version(now_ms());
        true
    }

    /// Groups with offsets on `topic` (Java `whichGroupByTopic`).
    pub fn groups_of_topic(&self, topic: &str) -> BTreeSet<String> {
        self.state()
            .table
            .keys()
            .filter_map(|k| split_offset_key(k))
            .filter(|(t, _)| *t == topic)
            .map(|(_, g)| g.to_owned())
            .collect()
    }

    /// Topics on which `group` has offsets (Java `whichTopicByConsumer`).
    pub fn topics_of_group(&self, group: &str) -> BTreeSet<String> {
        self.state()
            .table
            .keys()
            .filter_map(|k| split_offset_key(k))
            .filter(|(_, g)| *g == group)
            .map(|(t, _)| t.to_owned())
            .collect()
    }

    /// The whole table, `topic@group` → queue id → offset.
    pub fn table(&self) -> BTreeMap<String, BTreeMap<i32, i64>> {
        self.state()
            .table
            .iter()
            .map(|(k, q)| (k.clone(), to_btree(q)))
            .collect()
    }

    /// The table as GET_ALL_CONSUMER_OFFSET returns it.
    pub fn serialize_wrapper(&self) -> ConsumerOffsetSerializeWrapper {
        let st = self.state();
        ConsumerOffsetSerializeWrapper {
            data_version: st.write_data_version.then(|| st.data_version.clone()),
            offset_table: st
                .table
                .iter()
                .map(|(k, q)| (k.clone(), to_btree(q)))
                .collect(),
        }
    }

    /// Merge a table in, replacing whole `topic@group` entries (what a slave does with the
    /// master's offsets).
    pub fn put_all(&self, table: BTreeMap<String, BTreeMap<i32, i64>>) {
        let mut st = self.state();
        let entries = table
            .into_iter()
            .map(|(k, q)| {
                let mut m = JavaMap::new();
                m.put_all(q.into_iter().collect());
                (k, m)
            })
            .collect();
        st.table.put_all(entries);
        st.data_version.next_version(now_ms());
    }

    pub fn data_version(&self) -> DataVersion {
        self.state().data_version.clone()
    }
}

/// The table as fastjson builds it while reading the file: default `ConcurrentHashMap`s,
/// filled in file order.
fn build_table(
    w: &ConsumerOffsetSerializeWrapper,
    tree: Option<&KeyTree>,
) -> JavaMap<String, Queues> {
    let empty = KeyTree::Leaf;
    let table_tree = tree.and_then(|t| t.get("offsetTable")).unwrap_or(&empty);
    let mut order: Vec<&String> = Vec::with_capacity(w.offset_table.len());
    let mut seen = std::collections::HashSet::new();
    for k in table_tree.keys() {
        if let Some((key, _)) = w.offset_table.get_key_value(k) {
            if seen.insert(key) {
                order.push(key);
            }
        }
    }
    for k in w.offset_table.keys() {
        if seen.insert(k) {
            order.push(k);
        }
    }
    let mut table = JavaMap::new();
    for key in order {
        let Some(queues) = w.offset_table.get(key) else {
            continue;
        };
        let mut q = JavaMap::new();
        let inner_tree = table_tree.get(key).unwrap_or(&empty);
        for qk in inner_tree.keys() {
            if let Ok(id) = qk.trim().parse::<i32>() {
                if let Some(off) = queues.get(&id) {
                    if !q.contains_key(&id) {
                        q.insert(id, *off);
                    }
                }
            }
        }
        for (id, off) in queues {
            if !q.contains_key(id) {
                q.insert(*id, *off);
            }
        }
        table.insert(key.clone(), q);
    }
    table
}

fn parse(bytes: &[u8]) -> Result<(ConsumerOffsetSerializeWrapper, Option<KeyTree>), String> {
    let w = ConsumerOffsetSerializeWrapper::decode(bytes).map_err(|e| e.to_string())?;
    Ok((w, KeyTree::parse(bytes)))
}

impl ConfigManager for ConsumerOffsetManager {
    fn config_path(&self) -> &Path {
        self.file.path()
    }

    /// Load the file (or its backup), **replacing** the table (as Java does).
    fn load(&self) -> Result<LoadSource, ConfigFileError> {
        let loaded = self.file.load(parse)?;
        if let Some((w, tree)) = loaded.value {
            let table = build_table(&w, tree.as_ref());
            let mut st = self.state();
            st.table = table;
            st.write_data_version = w.data_version.is_some();
            if let Some(dv) = w.data_version {
                st.data_version = dv;
            }
        }
        Ok(loaded.source)
    }

    fn encode(&self) -> String {
        let st = self.state();
        let mut fields = Vec::with_capacity(2);
        if st.write_data_version {
            fields.push(("dataVersion", Node::from_serialize(&st.data_version)));
        }
        fields.push((
            "offsetTable",
            Node::object(st.table.iter().map(|(k, q)| {
                (
                    k.clone(),
                    Node::int_map(q.iter().map(|(id, off)| (i64::from(*id), Node::Int(*off)))),
                )
            })),
        ));
        to_pretty_string(&Node::object(fields))
    }

    fn persist(&self) -> Result<(), ConfigFileError> {
        self.file.persist_with(|| self.encode().into_bytes())
    }
}
