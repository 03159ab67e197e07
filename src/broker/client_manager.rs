//! The broker's view of its clients: producer groups and consumer groups, and the connections
//! ("channels") that belong to them (Java `ProducerManager`, `ConsumerManager`,
//! `ConsumerGroupInfo`, `ClientHousekeepingService`).
//!
//! * A producer group is a list of channels (connection, client id, language, version, time of
//!   the last heartbeat).
//! * A consumer group holds its channels, the consume type / message model / consume-from-where
//!   of the last heartbeat, and one subscription per topic. Subscriptions are group-wide, as in
//!   Java: every heartbeat of any member replaces the set (topics no longer listed are dropped;
//!   a known topic is replaced only by a higher `subVersion`).
//! * A heartbeat *changes* a consumer group when it brings a new channel, a new topic, or drops
//!   a topic; a higher `subVersion` of a known topic or a new client id on a known channel does
//!   not count. On a change the members are sent NOTIFY_CONSUMER_IDS_CHANGED (see
//!   [`notify_consumer_ids_changed`]).
//! * A closed connection is removed from every group at once; the housekeeping task closes
//!   and removes channels silent for more than 120 s (checked every 10 s). Empty groups go.
//!
//! **Concurrency.** Two `DashMap`s keyed by group name; a group's whole record is one map value,
//! so every change to a group (channels and subscriptions together) happens under that entry's
//! shard write lock and is atomic per group, while groups in other shards proceed in parallel.
//! Lookups clone what they return (subscriptions are `Arc`s, so the pull path clones a
//! pointer). No lock is held across an `.await`, and no method touches a map while holding a
//! reference into it; messages to clients are sent after the locks are released, from
//! spawned tasks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use apogee_codec::body::{
    self, ConsumeFromWhere, ConsumeType, ConsumerConnection, MessageModel, ProducerConnection,
    SubscriptionData,
};
use apogee_codec::codes::request as rc;
use apogee_codec::header::client::NotifyConsumerIdsChangedRequestHeader;
use apogee_codec::{LanguageCode, RemotingCommand};
use dashmap::DashMap;
use log::{debug, info, warn};

use super::pull::TagCodeFilter;
use super::BrokerInner;
use crate::filter::{compile_subscription, Sql92Filter};
use crate::remoting::Connection;
use crate::rt;

/// A channel silent for longer than this is closed by the housekeeping task (Java
/// `CHANNEL_EXPIRED_TIMEOUT`).
pub const CHANNEL_EXPIRED_TIMEOUT_MS: i64 = 120_000;
/// How often the housekeeping task runs (and its first delay).
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(10);

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One client connection registered in a group (Java `ClientChannelInfo`).
#[derive(Debug, Clone)]
pub struct ClientChannel {
    pub conn: Arc<Connection>,
    pub client_id: String,
    pub language: LanguageCode,
    pub version: i32,
    /// Time of the last heartbeat, ms since the epoch.
    pub last_update_ms: i64,
}

impl ClientChannel {
    pub fn new(
        conn: Arc<Connection>,
        client_id: impl Into<String>,
        language: LanguageCode,
        version: i32,
    ) -> Self {
        ClientChannel {
            conn,
            client_id: client_id.into(),
            language,
            version,
            last_update_ms: now_ms(),
        }
    }

    /// The admin view of this channel.
    pub fn connection_info(&self) -> body::Connection {
        body::Connection {
            client_addr: self.conn.peer().to_string(),
            client_id: self.client_id.clone(),
            language: self.language.clone(),
            version: self.version,
        }
    }
}

/// A subscription as registered by heartbeat, with its broker-side tag filter and, for a
/// non-TAG subscription, its compiled SQL92 filter (Java's `ConsumerFilterData`; `None` when
/// the expression does not compile).
#[derive(Debug)]
pub struct RegisteredSubscription {
    pub data: SubscriptionData,
    pub filter: TagCodeFilter,
    pub sql: Option<Arc<Sql92Filter>>,
}

impl RegisteredSubscription {
    pub fn new(data: SubscriptionData) -> Self {
        let filter = TagCodeFilter::from_subscription(&data);
        let sql = if data.is_tag_type() {
            None
        } else {
            compile_subscription(&data.expression_type, &data.sub_string).ok()
        };
        RegisteredSubscription { data, filter, sql }
    }
}

/// A consumer group (Java `ConsumerGroupInfo`).
#[derive(Debug)]
struct ConsumerGroupInfo {
    /// In order of first registration (a group has few channels).
    channels: Vec<ClientChannel>,
    consume_type: ConsumeType,
    message_model: MessageModel,
    consume_from_where: ConsumeFromWhere,
    /// topic → subscription.
    subscriptions: HashMap<String, Arc<RegisteredSubscription>>,
}

impl ConsumerGroupInfo {
    fn new(ct: ConsumeType, mm: MessageModel, cfw: ConsumeFromWhere) -> Self {
        ConsumerGroupInfo {
            channels: Vec::new(),
            consume_type: ct,
            message_model: mm,
            consume_from_where: cfw,
            subscriptions: HashMap::new(),
        }
    }

    fn connections(&self) -> Vec<Arc<Connection>> {
        self.channels.iter().map(|c| Arc::clone(&c.conn)).collect()
    }

    /// Java `updateChannel`: true when the channel is new.
    fn update_channel(&mut self, mut ch: ClientChannel) -> bool {
        let now = now_ms();
        ch.last_update_ms = now;
        match self
            .channels
            .iter_mut()
            .find(|c| c.conn.id() == ch.conn.id())
        {
            Some(old) => {
                if old.client_id != ch.client_id {
                    warn!(
                        "consumer channel {} changed its client id from {} to {}",
                        ch.conn.peer(),
                        old.client_id,
                        ch.client_id
                    );
                    *old = ch;
                } else {
                    old.last_update_ms = now;
                }
                false
            }
            None => {
                info!(
                    "new consumer connected: client {} from {}",
                    ch.client_id,
                    ch.conn.peer()
                );
                self.channels.push(ch);
                true
            }
        }
    }

    /// Java `updateSubscription`: true when a topic was added or removed.
    fn update_subscriptions(&mut self, subs: &[SubscriptionData]) -> bool {
        let mut changed = false;
        for sub in subs {
            match self.subscriptions.get(&sub.topic) {
                None => {
                    self.subscriptions.insert(
                        sub.topic.clone(),
                        Arc::new(RegisteredSubscription::new(sub.clone())),
                    );
                    changed = true;
                }
                Some(old) if sub.sub_version > old.data.sub_version => {
                    self.subscriptions.insert(
                        sub.topic.clone(),
                        Arc::new(RegisteredSubscription::new(sub.clone())),
                    );
                }
                Some(_) => {}
            }
        }
        let before = self.subscriptions.len();
        self.subscriptions
            .retain(|topic, _| subs.iter().any(|s| &s.topic == topic));
        changed || self.subscriptions.len() != before
    }

    fn remove_channel(&mut self, conn_id: u64) -> bool {
        let before = self.channels.len();
        self.channels.retain(|c| c.conn.id() != conn_id);
        self.channels.len() != before
    }
}

/// What [`ClientManager::register_consumer`] did.
#[derive(Debug)]
pub struct ConsumerRegistered {
    /// A new channel, a new topic or a dropped topic.
    pub changed: bool,
    /// Every channel of the group after the registration.
    pub channels: Vec<Arc<Connection>>,
}

/// What the housekeeping scan removed.
#[derive(Debug, Default)]
pub struct Expired {
    /// Connections to close.
    pub connections: Vec<Arc<Connection>>,
    /// Consumer groups that lost channels, with their remaining channels.
    pub consumer_groups: Vec<(String, Vec<Arc<Connection>>)>,
}

/// Producer and consumer groups and their connections.
pub struct ClientManager {
    producers: DashMap<String, Vec<ClientChannel>>,
    consumers: DashMap<String, ConsumerGroupInfo>,
}

impl ClientManager {
    pub fn new() -> Self {
        ClientManager {
            producers: DashMap::new(),
            consumers: DashMap::new(),
        }
    }

    // ---- producers -------------------------------------------------------------------------

    /// Java `registerProducer`: add the channel, or refresh its timestamp.
    pub fn register_producer(&self, group: &str, ch: ClientChannel) {
        let mut g = self.producers.entry(group.to_owned()).or_default();
        match g.iter_mut().find(|c| c.conn.id() == ch.conn.id()) {
            Some(old) => old.last_update_ms = now_ms(),
            None => {
                info!(
                    "new producer connected: group {group}, client {} from {}",
                    ch.client_id,
                    ch.conn.peer()
                );
                g.push(ch);
            }
        }
    }

    /// Remove a connection from a producer group (UNREGISTER_CLIENT).
    pub fn unregister_producer(&self, group: &str, conn_id: u64) {
        if let Some(mut g) = self.producers.get_mut(group) {
            g.retain(|c| c.conn.id() != conn_id);
        }
        self.producers.remove_if(group, |_, g| g.is_empty());
    }

    /// Channels of a producer group.
    pub fn producer_channels(&self, group: &str) -> Vec<ClientChannel> {
        self.producers
            .get(group)
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    /// A live channel of a producer group (transaction check-back), if any.
    pub fn available_producer_channel(&self, group: &str) -> Option<Arc<Connection>> {
        self.producers.get(group).and_then(|g| {
            g.iter()
                .find(|c| !c.conn.is_closed())
                .map(|c| Arc::clone(&c.conn))
        })
    }

    /// The connection of a producer client, searched in every group.
    pub fn find_producer_channel(&self, client_id: &str) -> Option<Arc<Connection>> {
        self.producers.iter().find_map(|g| {
            g.iter()
                .find(|c| c.client_id == client_id && !c.conn.is_closed())
                .map(|c| Arc::clone(&c.conn))
        })
    }

    /// GET_PRODUCER_CONNECTION_LIST's body; `None` when the group has no channel.
    pub fn producer_connection(&self, group: &str) -> Option<ProducerConnection> {
        let g = self.producers.get(group)?;
        if g.is_empty() {
            return None;
        }
        Some(ProducerConnection {
            connection_set: g.iter().map(ClientChannel::connection_info).collect(),
        })
    }

    /// Names of the producer groups with at least one channel.
    pub fn producer_groups(&self) -> Vec<String> {
        self.producers.iter().map(|e| e.key().clone()).collect()
    }

    // ---- consumers -------------------------------------------------------------------------

    /// Java `registerConsumer`: register the channel and the group's subscriptions.
    pub fn register_consumer(
        &self,
        group: &str,
        ch: ClientChannel,
        consume_type: ConsumeType,
        message_model: MessageModel,
        consume_from_where: ConsumeFromWhere,
        subscriptions: &[SubscriptionData],
    ) -> ConsumerRegistered {
        let mut g = self.consumers.entry(group.to_owned()).or_insert_with(|| {
            ConsumerGroupInfo::new(consume_type, message_model, consume_from_where)
        });
        g.consume_type = consume_type;
        g.message_model = message_model;
        g.consume_from_where = consume_from_where;
        let r1 = g.update_channel(ch);
        let r2 = g.update_subscriptions(subscriptions);
        ConsumerRegistered {
            changed: r1 || r2,
            channels: g.connections(),
        }
    }

    /// Remove a connection from a consumer group (UNREGISTER_CLIENT). `None` when the group is
    /// unknown; else the remaining channels (the group is dropped when none remain).
    pub fn unregister_consumer(&self, group: &str, conn_id: u64) -> Option<Vec<Arc<Connection>>> {
        let remaining = {
            let mut g = self.consumers.get_mut(group)?;
            if g.remove_channel(conn_id) {
                info!("consumer unregistered from group {group}");
            }
            g.connections()
        };
        if remaining.is_empty() {
            self.consumers
                .remove_if(group, |_, g| g.channels.is_empty());
        }
        Some(remaining)
    }

    /// The subscription of `group` for `topic`, as the pull path needs it: `None` when the
    /// group is not online; else the group's message model and the topic's subscription.
    pub fn consumer_subscription(
        &self,
        group: &str,
        topic: &str,
    ) -> Option<(MessageModel, Option<Arc<RegisteredSubscription>>)> {
        let g = self.consumers.get(group)?;
        Some((g.message_model, g.subscriptions.get(topic).cloned()))
    }

    /// Channels of a consumer group.
    pub fn consumer_channels(&self, group: &str) -> Vec<ClientChannel> {
        self.consumers
            .get(group)
            .map(|g| g.channels.clone())
            .unwrap_or_default()
    }

    /// Client ids of a consumer group, in registration order, without repeats
    /// (GET_CONSUMER_LIST_BY_GROUP).
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        if let Some(g) = self.consumers.get(group) {
            for c in &g.channels {
                if !ids.contains(&c.client_id) {
                    ids.push(c.client_id.clone());
                }
            }
        }
        ids
    }

    /// The connection of a consumer client of a group (running info, consume directly).
    pub fn find_consumer_channel(&self, group: &str, client_id: &str) -> Option<Arc<Connection>> {
        let g = self.consumers.get(group)?;
        g.channels
            .iter()
            .find(|c| c.client_id == client_id)
            .map(|c| Arc::clone(&c.conn))
    }

    /// GET_CONSUMER_CONNECTION_LIST's body; `None` when the group is not online.
    pub fn consumer_connection(&self, group: &str) -> Option<ConsumerConnection> {
        let g = self.consumers.get(group)?;
        Some(ConsumerConnection {
            connection_set: g
                .channels
                .iter()
                .map(ClientChannel::connection_info)
                .collect(),
            consume_from_where: g.consume_from_where,
            consume_type: g.consume_type,
            message_model: g.message_model,
            subscription_table: g
                .subscriptions
                .iter()
                .map(|(t, s)| (t.clone(), s.data.clone()))
                .collect(),
        })
    }

    /// Names of the online consumer groups.
    pub fn consumer_groups(&self) -> Vec<String> {
        self.consumers.iter().map(|e| e.key().clone()).collect()
    }

    /// Online consumer groups subscribed to `topic` (Java `queryTopicConsumeByWho`).
    pub fn groups_consuming(&self, topic: &str) -> Vec<String> {
        self.consumers
            .iter()
            .filter(|e| e.subscriptions.contains_key(topic))
            .map(|e| e.key().clone())
            .collect()
    }

    // ---- connection lifecycle -------------------------------------------------------------

    /// Drop a connection from every group. Returns the consumer groups that lost it, each with
    /// its remaining channels (empty groups are removed).
    pub fn remove_connection(&self, conn_id: u64) -> Vec<(String, Vec<Arc<Connection>>)> {
        for mut g in self.producers.iter_mut() {
            g.retain(|c| c.conn.id() != conn_id);
        }
        self.producers.retain(|_, g| !g.is_empty());
        let mut affected = Vec::new();
        for mut g in self.consumers.iter_mut() {
            if g.remove_channel(conn_id) {
                affected.push((g.key().clone(), g.connections()));
            }
        }
        self.consumers.retain(|_, g| !g.channels.is_empty());
        affected
    }

    /// Remove every channel whose last heartbeat is older than `timeout_ms` at `now_ms`.
    pub fn expire(&self, now_ms: i64, timeout_ms: i64) -> Expired {
        let mut out = Expired::default();
        let stale = |c: &ClientChannel| now_ms.saturating_sub(c.last_update_ms) > timeout_ms;
        for mut g in self.producers.iter_mut() {
            let group = g.key().clone();
            g.retain(|c| {
                if stale(c) {
                    warn!(
                        "producer channel expired: group {group}, client {} from {}",
                        c.client_id,
                        c.conn.peer()
                    );
                    out.connections.push(Arc::clone(&c.conn));
                    false
                } else {
                    true
                }
            });
        }
        self.producers.retain(|_, g| !g.is_empty());
        for mut g in self.consumers.iter_mut() {
            let group = g.key().clone();
            let before = g.channels.len();
            g.channels.retain(|c| {
                if stale(c) {
                    warn!(
                        "consumer channel expired: group {group}, client {} from {}",
                        c.client_id,
                        c.conn.peer()
                    );
                    out.connections.push(Arc::clone(&c.conn));
                    false
                } else {
                    true
                }
            });
            if g.channels.len() != before {
                out.consumer_groups.push((group, g.connections()));
            }
        }
        self.consumers.retain(|_, g| !g.channels.is_empty());
        out
    }

    /// A connection closed: drop its registrations and tell the remaining consumers of each
    /// group it belonged to.
    pub fn on_connection_closed(&self, b: &Arc<BrokerInner>, conn: &Arc<Connection>) {
        let affected = self.remove_connection(conn.id());
        if affected.is_empty() {
            return;
        }
        debug!("{conn:?} closed: removed from consumer groups");
        if b.config.notify_consumer_ids_changed_enable {
            for (group, channels) in affected {
                notify_consumer_ids_changed(&group, channels);
            }
        }
    }

    /// Run one housekeeping scan: expire silent channels, close them, notify their groups.
    pub fn scan_not_active(&self, b: &Arc<BrokerInner>, timeout_ms: i64) {
        let expired = self.expire(now_ms(), timeout_ms);
        for c in &expired.connections {
            c.close();
        }
        if b.config.notify_consumer_ids_changed_enable {
            for (group, channels) in expired.consumer_groups {
                notify_consumer_ids_changed(&group, channels);
            }
        }
    }
}

impl Default for ClientManager {
    fn default() -> Self {
        Self::new()
    }
}

/// Send NOTIFY_CONSUMER_IDS_CHANGED (oneway, header `consumerGroup`) to each connection, from a
/// spawned task (a peer that does not read must not stall the caller).
pub fn notify_consumer_ids_changed(group: &str, channels: Vec<Arc<Connection>>) {
    if channels.is_empty() {
        return;
    }
    let header = NotifyConsumerIdsChangedRequestHeader {
        consumer_group: group.to_owned(),
        ..Default::default()
    };
    let cmd = RemotingCommand::request(rc::NOTIFY_CONSUMER_IDS_CHANGED, 0).with_header(&header);
    rt::spawn(async move {
        for conn in channels {
            if conn.is_closed() {
                continue;
            }
            if rt::timeout(Duration::from_secs(3), conn.oneway(cmd.clone()))
                .await
                .is_none()
            {
                warn!("{conn:?}: NOTIFY_CONSUMER_IDS_CHANGED not sent (write queue full)");
            }
        }
    });
}

/// Expire silent clients every 10 s (first after 10 s). The task ends when the broker shuts
/// down or is dropped.
pub fn start_housekeeping(b: &Arc<BrokerInner>) {
    let weak = Arc::downgrade(b);
    rt::spawn(async move {
        loop {
            rt::sleep(HOUSEKEEPING_INTERVAL).await;
            let Some(b) = weak.upgrade() else { return };
            if b.is_shutting_down() {
                return;
            }
            b.clients.scan_not_active(&b, CHANNEL_EXPIRED_TIMEOUT_MS);
        }
    });
}
