//! `config/delayOffset.json`: progress of the scheduled-message service (Java
//! `ScheduleMessageService.offsetTable`).
//!
//! Delay level (1-based) → next consume-queue offset to deliver in `SCHEDULE_TOPIC_XXXX`
//! queue `level − 1`. Written every `flushDelayOffsetInterval` (10 s) and when the service
//! stops. Clamping the offsets into the consume queues' bounds after a load
//! (`correctDelayOffset`) needs the store and is the service's business.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use apogee_codec::body::{DataVersion, DelayOffsetSerializeWrapper};

use super::fastjson_writer::{to_pretty_string, Node};
use super::java_order::{ChmOrder, JavaMap};
use super::key_order::KeyTree;
use super::now_ms;
use super::persist::{ConfigFile, ConfigFileError, ConfigManager, LoadSource};
use crate::store::fs::Fs;

/// File name inside the config directory.
pub const DELAY_OFFSET_FILE: &str = "delayOffset.json";

#[derive(Debug)]
struct State {
    table: JavaMap<i32, i64>,
    data_version: DataVersion,
    /// The loaded file had a (5.x) `dataVersion`: keep writing one.
    write_data_version: bool,
}

/// The delay-level offset table. Thread-safe.
#[derive(Debug)]
pub struct DelayOffsetManager {
    file: ConfigFile,
    state: Mutex<State>,
}

impl DelayOffsetManager {
    /// A manager for `<config_dir>/delayOffset.json` (empty until loaded).
    pub fn new(fs: &Fs, config_dir: &Path) -> Self {
        DelayOffsetManager {
            file: ConfigFile::new(fs, config_dir.join(DELAY_OFFSET_FILE)),
            state: Mutex::new(State {
                // Java: new ConcurrentHashMap<Integer, Long>(32)
                table: JavaMap::with_initial_capacity(32),
                data_version: DataVersion::new(0, now_ms()),
                write_data_version: false,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next offset to deliver for `level`.
    pub fn get(&self, level: i32) -> Option<i64> {
        self.state().table.get(&level).copied()
    }

    /// Record the next offset to deliver for `level`.
    pub fn set(&self, level: i32, offset: i64) {
        let mut st = self.state();
        st.table.insert(level, offset);
        st.data_version.next_version(now_ms());
    }

    /// The whole table.
    pub fn table(&self) -> BTreeMap<i32, i64> {
        self.state().table.iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// The table as GET_ALL_DELAY_OFFSET returns it.
    pub fn serialize_wrapper(&self) -> DelayOffsetSerializeWrapper {
        let st = self.state();
        DelayOffsetSerializeWrapper {
            data_version: st.write_data_version.then(|| st.data_version.clone()),
            offset_table: st.table.iter().map(|(k, v)| (*k, *v)).collect(),
        }
    }

    /// Write the master's `delayOffset.json` content as is (a slave's config sync: Java writes
    /// the string to the file without loading it; it is read when the broker is a master).
    pub fn write_raw(&self, data: &[u8]) -> Result<(), ConfigFileError> {
        self.file.persist(data)
    }

    pub fn data_version(&self) -> DataVersion {
        self.state().data_version.clone()
    }
}

fn parse(bytes: &[u8]) -> Result<(DelayOffsetSerializeWrapper, Vec<i32>), String> {
    let w = DelayOffsetSerializeWrapper::decode(bytes).map_err(|e| e.to_string())?;
    let order = KeyTree::parse(bytes)
        .and_then(|t| {
            t.get("offsetTable").map(|o| {
                o.keys()
                    .into_iter()
                    .filter_map(|k| k.trim().parse::<i32>().ok())
                    .collect()
            })
        })
        .unwrap_or_default();
    Ok((w, order))
}

impl ConfigManager for DelayOffsetManager {
    fn config_path(&self) -> &Path {
        self.file.path()
    }

    /// Load the file (or its backup) into the table (Java `putAll`).
    fn load(&self) -> Result<LoadSource, ConfigFileError> {
        let loaded = self.file.load(parse)?;
        if let Some((w, order)) = loaded.value {
            // fastjson fills a default ConcurrentHashMap in file order; Java putAll()s it.
            let mut intermediate = ChmOrder::new();
            for k in order.iter().chain(w.offset_table.keys()) {
                if w.offset_table.contains_key(k) {
                    intermediate.insert(*k);
                }
            }
            let entries: Vec<(i32, i64)> = intermediate
                .iter()
                .filter_map(|k| w.offset_table.get(k).map(|v| (*k, *v)))
                .collect();
            let mut st = self.state();
            st.table.put_all(entries);
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
            Node::int_map(st.table.iter().map(|(k, v)| (i64::from(*k), Node::Int(*v)))),
        ));
        to_pretty_string(&Node::object(fields))
    }

    fn persist(&self) -> Result<(), ConfigFileError> {
        self.file.persist_with(|| self.encode().into_bytes())
    }
}
