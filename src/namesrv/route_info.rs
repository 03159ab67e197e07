//! The routing tables of the name server (Java `RouteInfoManager`, 4.9.8 semantics).
//!
//! * topic → broker name → [`QueueData`] (only masters, broker id 0, write these);
//! * broker name → [`BrokerData`] (cluster, name, broker id → address);
//! * cluster name → broker names;
//! * broker address → live info (last registration time, data version, the connection it
//!   registered on, HA address, expiry timeout);
//! * broker address → filter server addresses.
//!
//! **Concurrency.** All five tables sit behind one `std::sync::RwLock`: every operation is a
//! short, purely in-memory critical section (no I/O, never held across an `.await`), route
//! look-ups take the read lock and run in parallel, and registrations (one per broker every
//! 30 s) take the write lock. One lock keeps the tables consistent with each other without
//! any ordering rules. Connections found to be expired are closed only after the lock is
//! released (closing one runs `on_close`, which comes back here).
//!
//! Time is passed in explicitly by the `*_at` methods (milliseconds since the epoch) so the
//! expiry rules can be tested without waiting two minutes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use apogee_codec::body::{
    BrokerData, ClusterInfo, DataVersion, QueueData, TopicConfig, TopicConfigSerializeWrapper,
    TopicList, TopicRouteData,
};

use crate::remoting::Connection;

/// Broker id of a master.
pub const MASTER_ID: i64 = 0;
/// A broker that has not registered for this long is removed (Java `BROKER_CHANNEL_EXPIRED_TIME`).
pub const DEFAULT_BROKER_EXPIRED_MS: i64 = 120_000;

/// Topic permission bits (Java `PermName`).
pub mod perm {
    pub const PRIORITY: i32 = 0x8;
    pub const READ: i32 = 0x4;
    pub const WRITE: i32 = 0x2;
    pub const INHERIT: i32 = 0x1;
}

/// Topic system flags (Java `TopicSysFlag`).
pub mod topic_sys_flag {
    pub const UNIT: i32 = 0x1;
    pub const UNIT_SUB: i32 = 0x2;

    pub fn has_unit(flag: i32) -> bool {
        flag & UNIT == UNIT
    }

    pub fn has_unit_sub(flag: i32) -> bool {
        flag & UNIT_SUB == UNIT_SUB
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The connection a broker registered on: its id (to recognise it when it closes) and a weak
/// handle (to close it when the broker expires).
#[derive(Debug, Clone)]
pub struct ConnRef {
    pub id: u64,
    conn: Weak<Connection>,
}

impl ConnRef {
    pub fn new(conn: &Arc<Connection>) -> Self {
        ConnRef {
            id: conn.id(),
            conn: Arc::downgrade(conn),
        }
    }

    /// An id with no connection behind it (tests, in-process registrations).
    pub fn detached(id: u64) -> Self {
        ConnRef {
            id,
            conn: Weak::new(),
        }
    }

    fn close(&self) {
        if let Some(c) = self.conn.upgrade() {
            c.close();
        }
    }
}

/// What a broker tells in REGISTER_BROKER.
#[derive(Debug, Clone, Default)]
pub struct BrokerRegistration {
    pub cluster_name: String,
    pub broker_addr: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub ha_server_addr: String,
    /// The broker's topics and their data version (an absent body is counter 0, time 0).
    pub topic_config_wrapper: TopicConfigSerializeWrapper,
    /// `None`: the registration format without filter servers (brokers older than 3.0.11),
    /// which leaves the filter server table alone.
    pub filter_server_list: Option<Vec<String>>,
    pub conn: Option<ConnRef>,
    /// 5.x `heartbeatTimeoutMillis`; `None` → 120 s.
    pub heartbeat_timeout_ms: Option<i64>,
}

/// What the name server answers a registration: for a slave, its master's address and HA
/// address (when the master is registered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterBrokerResult {
    pub ha_server_addr: Option<String>,
    pub master_addr: Option<String>,
}

/// A registered broker address's liveness record (Java `BrokerLiveInfo`).
#[derive(Debug, Clone)]
pub struct BrokerLiveInfo {
    pub last_update_ms: i64,
    pub timeout_ms: i64,
    pub data_version: DataVersion,
    pub conn: Option<ConnRef>,
    pub ha_server_addr: String,
}

#[derive(Debug, Default)]
struct Tables {
    topic_queue: HashMap<String, BTreeMap<String, QueueData>>,
    broker_addr: BTreeMap<String, BrokerData>,
    cluster_addr: BTreeMap<String, BTreeSet<String>>,
    broker_live: HashMap<String, BrokerLiveInfo>,
    filter_server: HashMap<String, Vec<String>>,
}

/// The routing tables; see the module docs.
#[derive(Debug, Default)]
pub struct RouteInfoManager {
    tables: RwLock<Tables>,
}

impl RouteInfoManager {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|p| p.into_inner())
    }

    // ---- registration ---------------------------------------------------------------

    /// Register (or refresh) a broker, now.
    pub fn register_broker(
        &self,
        reg: BrokerRegistration,
        delete_unlisted_topics: bool,
    ) -> RegisterBrokerResult {
        self.register_broker_at(reg, delete_unlisted_topics, now_ms())
    }

    /// Register (or refresh) a broker at time `now` (ms).
    ///
    /// * the broker name joins its cluster; the address is stored under the broker id, and any
    ///   other id holding the same address is dropped (slave promoted to master);
    /// * for a master (id 0) whose data version changed, or on its first registration, the
    ///   queue data of every listed topic is (re)built; with `delete_unlisted_topics` (5.x
    ///   `deleteTopicWithBrokerRegistration`) topics it no longer lists lose its queue data;
    /// * the live record is replaced; the filter server list is stored (empty list: removed);
    /// * a slave learns its master's address and HA address if the master is live.
    pub fn register_broker_at(
        &self,
        reg: BrokerRegistration,
        delete_unlisted_topics: bool,
        now: i64,
    ) -> RegisterBrokerResult {
        let mut guard = self.write();
        let t = &mut *guard;
        let BrokerRegistration {
            cluster_name,
            broker_addr,
            broker_name,
            broker_id,
            ha_server_addr,
            topic_config_wrapper,
            filter_server_list,
            conn,
            heartbeat_timeout_ms,
        } = reg;

        t.cluster_addr
            .entry(cluster_name.clone())
            .or_default()
            .insert(broker_name.clone());

        let mut register_first = false;
        let broker_data = t.broker_addr.entry(broker_name.clone()).or_insert_with(|| {
            register_first = true;
            BrokerData::new(cluster_name.clone(), broker_name.clone())
        });
        // One address, one id: a slave promoted to master first drops its old id.
        broker_data
            .broker_addrs
            .retain(|id, addr| *id == broker_id || *addr != broker_addr);
        let old_addr = broker_data
            .broker_addrs
            .insert(broker_id, broker_addr.clone());
        if broker_id == MASTER_ID && old_addr.as_deref() != Some(broker_addr.as_str()) {
            log::info!(
                "cluster [{}] broker [{}]: master address {:?} -> {}",
                broker_data.cluster,
                broker_name,
                old_addr,
                broker_addr
            );
        }
        register_first |= old_addr.is_none();
        let master_addr = broker_data.master_addr().map(str::to_owned);

        let data_version = topic_config_wrapper.data_version.clone();
        if broker_id == MASTER_ID {
            let changed = t
                .broker_live
                .get(&broker_addr)
                .is_none_or(|live| live.data_version != data_version);
            if changed || register_first {
                for tc in topic_config_wrapper.topic_config_table.values() {
                    create_and_update_queue_data(&mut t.topic_queue, &broker_name, tc);
                }
                let has_mapping = topic_config_wrapper
                    .topic_queue_mapping_info_map
                    .as_ref()
                    .is_some_and(|m| !m.is_empty());
                if delete_unlisted_topics && !has_mapping {
                    let listed = &topic_config_wrapper.topic_config_table;
                    t.topic_queue.retain(|topic, by_broker| {
                        if !listed.contains_key(topic) && by_broker.remove(&broker_name).is_some() {
                            log::info!(
                                "topic {topic} no longer on broker {broker_name}: queue data removed"
                            );
                        }
                        !by_broker.is_empty()
                    });
                }
            }
        }

        let prev = t.broker_live.insert(
            broker_addr.clone(),
            BrokerLiveInfo {
                last_update_ms: now,
                timeout_ms: heartbeat_timeout_ms
                    .filter(|ms| *ms > 0)
                    .unwrap_or(DEFAULT_BROKER_EXPIRED_MS),
                data_version,
                conn,
                ha_server_addr: ha_server_addr.clone(),
            },
        );
        if prev.is_none() {
            log::info!(
                "new broker registered: {broker_addr} (cluster {cluster_name}, name {broker_name}, id {broker_id}), HA server {ha_server_addr}"
            );
        }

        if let Some(list) = filter_server_list {
            if list.is_empty() {
                t.filter_server.remove(&broker_addr);
            } else {
                t.filter_server.insert(broker_addr.clone(), list);
            }
        }

        let mut result = RegisterBrokerResult::default();
        if broker_id != MASTER_ID {
            if let Some(master) = master_addr {
                if let Some(live) = t.broker_live.get(&master) {
                    result.ha_server_addr = Some(live.ha_server_addr.clone());
                    result.master_addr = Some(master);
                }
            }
        }
        result
    }

    /// Remove one broker address (UNREGISTER_BROKER). When it was the broker name's last
    /// address, the name leaves its cluster and its topics' queue data goes too.
    pub fn unregister_broker(
        &self,
        cluster_name: &str,
        broker_addr: &str,
        broker_name: &str,
        broker_id: i64,
    ) {
        let mut guard = self.write();
        let t = &mut *guard;
        let was_live = t.broker_live.remove(broker_addr).is_some();
        t.filter_server.remove(broker_addr);
        let mut name_gone = false;
        if let Some(bd) = t.broker_addr.get_mut(broker_name) {
            bd.broker_addrs.remove(&broker_id);
            if bd.broker_addrs.is_empty() {
                t.broker_addr.remove(broker_name);
                name_gone = true;
            }
        }
        log::info!(
            "unregister broker {broker_addr} (cluster {cluster_name}, name {broker_name}, id {broker_id}); was live: {was_live}, broker name removed: {name_gone}"
        );
        if name_gone {
            if let Some(names) = t.cluster_addr.get_mut(cluster_name) {
                names.remove(broker_name);
                if names.is_empty() {
                    t.cluster_addr.remove(cluster_name);
                }
            }
            remove_topics_of_broker(&mut t.topic_queue, broker_name);
        }
    }

    /// A connection closed: forget the broker address that registered on it, if any
    /// (Java `onChannelDestroy`). Returns that address.
    pub fn on_connection_closed(&self, conn_id: u64) -> Option<String> {
        let mut guard = self.write();
        let addr = guard
            .broker_live
            .iter()
            .find(|(_, live)| live.conn.as_ref().is_some_and(|c| c.id == conn_id))
            .map(|(addr, _)| addr.clone())?;
        log::info!("the connection of broker {addr} closed: removing it at once");
        remove_broker_addr(&mut guard, &addr);
        Some(addr)
    }

    /// Remove brokers silent for longer than their timeout (120 s unless the broker said
    /// otherwise), now; their connections are closed. Returns the removed addresses.
    pub fn scan_not_active_brokers(&self) -> Vec<String> {
        self.scan_not_active_brokers_at(now_ms())
    }

    /// [`scan_not_active_brokers`](Self::scan_not_active_brokers) at time `now` (ms).
    pub fn scan_not_active_brokers_at(&self, now: i64) -> Vec<String> {
        let mut to_close = Vec::new();
        let mut removed = Vec::new();
        {
            let mut guard = self.write();
            let expired: Vec<String> = guard
                .broker_live
                .iter()
                .filter(|(_, live)| live.last_update_ms.saturating_add(live.timeout_ms) < now)
                .map(|(addr, _)| addr.clone())
                .collect();
            for addr in expired {
                if let Some(live) = guard.broker_live.get(&addr) {
                    log::warn!(
                        "broker {addr} expired: no registration for {} ms (timeout {} ms)",
                        now.saturating_sub(live.last_update_ms),
                        live.timeout_ms
                    );
                    if let Some(c) = &live.conn {
                        to_close.push(c.clone());
                    }
                }
                remove_broker_addr(&mut guard, &addr);
                removed.push(addr);
            }
        }
        for c in to_close {
            c.close();
        }
        removed
    }

    /// Refresh a broker's live timestamp (QUERY_DATA_VERSION with an unchanged version,
    /// 5.x BROKER_HEARTBEAT). False when the address is not registered.
    pub fn update_broker_timestamp(&self, broker_addr: &str, now: i64) -> bool {
        match self.write().broker_live.get_mut(broker_addr) {
            Some(live) => {
                live.last_update_ms = now;
                true
            }
            None => false,
        }
    }

    /// The data version the broker at `broker_addr` last registered with.
    pub fn broker_data_version(&self, broker_addr: &str) -> Option<DataVersion> {
        self.read()
            .broker_live
            .get(broker_addr)
            .map(|l| l.data_version.clone())
    }

    /// Whether `version` differs from what the broker last registered (true if unknown).
    pub fn is_broker_topic_config_changed(&self, broker_addr: &str, version: &DataVersion) -> bool {
        self.read()
            .broker_live
            .get(broker_addr)
            .is_none_or(|l| &l.data_version != version)
    }

    /// The live record of a broker address.
    pub fn broker_live_info(&self, broker_addr: &str) -> Option<BrokerLiveInfo> {
        self.read().broker_live.get(broker_addr).cloned()
    }

    // ---- routes -----------------------------------------------------------------------

    /// The route of a topic (Java `pickupTopicRouteData`): its queue data, the brokers
    /// holding them and their filter servers; `None` unless both lists are non-empty.
    /// `orderTopicConf` is left unset (the caller fills it from the KV config).
    pub fn pickup_topic_route_data(&self, topic: &str) -> Option<TopicRouteData> {
        let t = self.read();
        let by_broker = t.topic_queue.get(topic)?;
        let queue_datas: Vec<QueueData> = by_broker.values().cloned().collect();
        let broker_datas: Vec<BrokerData> = by_broker
            .keys()
            .filter_map(|name| t.broker_addr.get(name).cloned())
            .collect();
        if queue_datas.is_empty() || broker_datas.is_empty() {
            return None;
        }
        let mut filter_server_table = BTreeMap::new();
        if !t.filter_server.is_empty() {
            for bd in &broker_datas {
                for addr in bd.broker_addrs.values() {
                    if let Some(list) = t.filter_server.get(addr) {
                        filter_server_table.insert(addr.clone(), list.clone());
                    }
                }
            }
        }
        Some(TopicRouteData {
            broker_datas,
            filter_server_table,
            order_topic_conf: None,
            queue_datas,
            topic_queue_mapping_by_broker: None,
        })
    }

    /// Every broker group and cluster (GET_BROKER_CLUSTER_INFO).
    pub fn cluster_info(&self) -> ClusterInfo {
        let t = self.read();
        ClusterInfo {
            broker_addr_table: t.broker_addr.clone(),
            cluster_addr_table: t.cluster_addr.clone(),
        }
    }

    /// The addresses of one broker group (5.x GET_BROKER_MEMBER_GROUP).
    pub fn broker_addrs(&self, broker_name: &str) -> BTreeMap<i64, String> {
        self.read()
            .broker_addr
            .get(broker_name)
            .map(|b| b.broker_addrs.clone())
            .unwrap_or_default()
    }

    /// Every topic with queue data.
    pub fn all_topics(&self) -> TopicList {
        TopicList {
            broker_addr: None,
            topic_list: self.read().topic_queue.keys().cloned().collect(),
        }
    }

    /// Topics with queue data on any broker of `cluster` (empty for an unknown cluster).
    pub fn topics_by_cluster(&self, cluster: &str) -> TopicList {
        let t = self.read();
        let mut list = TopicList::default();
        if let Some(names) = t.cluster_addr.get(cluster) {
            for (topic, by_broker) in &t.topic_queue {
                if names.iter().any(|n| by_broker.contains_key(n)) {
                    list.topic_list.insert(topic.clone());
                }
            }
        }
        list
    }

    /// Cluster names and broker names (the topics brokers create for themselves), with the
    /// address of one broker (GET_SYSTEM_TOPIC_LIST_FROM_NS).
    pub fn system_topics(&self) -> TopicList {
        let t = self.read();
        let mut list = TopicList::default();
        for (cluster, names) in &t.cluster_addr {
            list.topic_list.insert(cluster.clone());
            list.topic_list.extend(names.iter().cloned());
        }
        list.broker_addr = t
            .broker_addr
            .values()
            .find_map(|bd| bd.broker_addrs.values().next().cloned());
        list
    }

    /// Topics whose (first) queue data has the unit flag.
    pub fn unit_topics(&self) -> TopicList {
        self.topics_where(|qd| topic_sys_flag::has_unit(qd.topic_sys_flag))
    }

    /// Topics whose (first) queue data has the unit-subscription flag.
    pub fn has_unit_sub_topics(&self) -> TopicList {
        self.topics_where(|qd| topic_sys_flag::has_unit_sub(qd.topic_sys_flag))
    }

    /// Topics with the unit-subscription flag but not the unit flag.
    pub fn has_unit_sub_ununit_topics(&self) -> TopicList {
        self.topics_where(|qd| {
            !topic_sys_flag::has_unit(qd.topic_sys_flag)
                && topic_sys_flag::has_unit_sub(qd.topic_sys_flag)
        })
    }

    /// As Java, only one queue data per topic is looked at.
    fn topics_where(&self, pick: impl Fn(&QueueData) -> bool) -> TopicList {
        let t = self.read();
        TopicList {
            broker_addr: None,
            topic_list: t
                .topic_queue
                .iter()
                .filter(|(_, by_broker)| by_broker.values().next().is_some_and(&pick))
                .map(|(topic, _)| topic.clone())
                .collect(),
        }
    }

    // ---- admin ------------------------------------------------------------------------

    /// Clear the write bit on every queue data of a broker name; returns how many topics.
    pub fn wipe_write_perm_of_broker(&self, broker_name: &str) -> i32 {
        self.change_perm_of_broker(broker_name, |p| p & !perm::WRITE)
    }

    /// Set every queue data of a broker name to read|write; returns how many topics.
    pub fn add_write_perm_of_broker(&self, broker_name: &str) -> i32 {
        self.change_perm_of_broker(broker_name, |_| perm::READ | perm::WRITE)
    }

    fn change_perm_of_broker(&self, broker_name: &str, f: impl Fn(i32) -> i32) -> i32 {
        let mut t = self.write();
        let mut count = 0i32;
        for by_broker in t.topic_queue.values_mut() {
            if let Some(qd) = by_broker.get_mut(broker_name) {
                qd.perm = f(qd.perm);
                count = count.saturating_add(1);
            }
        }
        count
    }

    /// Drop a topic's route entirely.
    pub fn delete_topic(&self, topic: &str) {
        if self.write().topic_queue.remove(topic).is_some() {
            log::info!("topic {topic} deleted from the name server");
        }
    }

    /// Drop a topic's queue data on the brokers of one cluster.
    pub fn delete_topic_in_cluster(&self, topic: &str, cluster: &str) {
        let mut guard = self.write();
        let t = &mut *guard;
        let Some(names) = t.cluster_addr.get(cluster) else {
            return;
        };
        if let Some(by_broker) = t.topic_queue.get_mut(topic) {
            for name in names {
                if by_broker.remove(name).is_some() {
                    log::info!("topic {topic} deleted from broker {name} (cluster {cluster})");
                }
            }
            if by_broker.is_empty() {
                t.topic_queue.remove(topic);
            }
        }
    }

    /// 5.x REGISTER_TOPIC_IN_NAMESRV: set a topic's queue data directly. Refused (false,
    /// nothing changed) when a queue data names an unknown broker.
    pub fn register_topic(&self, topic: &str, queue_datas: &[QueueData]) -> bool {
        if queue_datas.is_empty() {
            return false;
        }
        let mut guard = self.write();
        let t = &mut *guard;
        if let Some(bad) = queue_datas
            .iter()
            .find(|qd| !t.broker_addr.contains_key(&qd.broker_name))
        {
            log::warn!(
                "register topic {topic}: unknown broker {}; ignored",
                bad.broker_name
            );
            return false;
        }
        let by_broker = t.topic_queue.entry(topic.to_owned()).or_default();
        for qd in queue_datas {
            by_broker.insert(qd.broker_name.clone(), qd.clone());
        }
        log::info!("topic {topic} registered directly: {queue_datas:?}");
        true
    }
}

fn create_and_update_queue_data(
    topic_queue: &mut HashMap<String, BTreeMap<String, QueueData>>,
    broker_name: &str,
    tc: &TopicConfig,
) {
    let qd = QueueData {
        broker_name: broker_name.to_owned(),
        perm: tc.perm,
        read_queue_nums: tc.read_queue_nums,
        topic_sys_flag: tc.topic_sys_flag,
        write_queue_nums: tc.write_queue_nums,
    };
    let by_broker = topic_queue.entry(tc.topic_name.clone()).or_default();
    match by_broker.insert(broker_name.to_owned(), qd.clone()) {
        None => log::info!("new topic registered: {} {:?}", tc.topic_name, qd),
        Some(old) if old != qd => {
            log::info!("topic changed: {} {:?} -> {:?}", tc.topic_name, old, qd)
        }
        Some(_) => {}
    }
}

fn remove_topics_of_broker(
    topic_queue: &mut HashMap<String, BTreeMap<String, QueueData>>,
    broker_name: &str,
) {
    topic_queue.retain(|topic, by_broker| {
        if by_broker.remove(broker_name).is_some() {
            log::info!("topic {topic}: queue data of broker {broker_name} removed");
        }
        !by_broker.is_empty()
    });
}

/// Forget a broker address everywhere (expiry, closed connection).
fn remove_broker_addr(t: &mut Tables, addr: &str) {
    t.broker_live.remove(addr);
    t.filter_server.remove(addr);
    let mut name_found = None;
    let mut name_gone = false;
    for (name, bd) in t.broker_addr.iter_mut() {
        let ids: Vec<i64> = bd
            .broker_addrs
            .iter()
            .filter(|(_, a)| a.as_str() == addr)
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        for id in ids {
            bd.broker_addrs.remove(&id);
            log::info!("broker address [{id}, {addr}] of {name} removed");
        }
        name_gone = bd.broker_addrs.is_empty();
        name_found = Some(name.clone());
        break;
    }
    let Some(name) = name_found else {
        return;
    };
    if !name_gone {
        return;
    }
    t.broker_addr.remove(&name);
    log::info!("broker name {name} removed: no address left");
    t.cluster_addr.retain(|cluster, names| {
        if names.remove(&name) {
            log::info!("broker name {name} left cluster {cluster}");
        }
        !names.is_empty()
    });
    remove_topics_of_broker(&mut t.topic_queue, &name);
}
