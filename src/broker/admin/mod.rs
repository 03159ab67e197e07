//! The admin requests (what `mqadmin` / `DefaultMQAdminExt`, the dashboard and slave brokers
//! send), with RocketMQ 4.9.8's semantics (`AdminBrokerProcessor`):
//!
//! | code | request | answer |
//! |---|---|---|
//! | 17 | UPDATE_AND_CREATE_TOPIC | validate, persist, register with the name servers, SUCCESS |
//! | 215 | DELETE_TOPIC_IN_BROKER | config, consume queues, consumer offsets of the topic |
//! | 21 | GET_ALL_TOPIC_CONFIG | `TopicConfigSerializeWrapper` (never paged) |
//! | 25 / 26 | UPDATE_BROKER_CONFIG / GET_BROKER_CONFIG | properties text, header `version` |
//! | 28 | GET_BROKER_RUNTIME_INFO | `KVTable` ([`runtime`]) |
//! | 200 / 201 / 207 | subscription groups | create/update, list, delete (+ offsets) |
//! | 202 | GET_TOPIC_STATS_INFO | `TopicStatsTable` |
//! | 208 / 317 | GET_CONSUME_STATS / GET_BROKER_CONSUME_STATS | `ConsumeStats` / `ConsumeStatsList` |
//! | 303 | QUERY_CONSUME_TIME_SPAN | `QueryConsumeTimeSpanBody` |
//! | 43 / 45 | GET_ALL_CONSUMER_OFFSET / GET_ALL_DELAY_OFFSET | the tables as Java writes them |
//! | 300 | QUERY_TOPIC_CONSUME_BY_WHO | `GroupList` (groups with offsets on the topic) |
//! | 305 | GET_SYSTEM_TOPIC_LIST_FROM_BROKER | `TopicList` |
//! | 314 | CLONE_GROUP_OFFSET | SUCCESS |
//! | 306 / 316 / 329 | clean expired CQs / unused topics / delete expired CommitLog files | SUCCESS |
//!
//! Every other code is answered with REQUEST_CODE_NOT_SUPPORTED. A missing or ill-typed
//! header field is SYSTEM_ERROR naming the field. The work runs on the blocking pool (it
//! persists files and reads the store); the answer is in the request's serialization.

mod runtime;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use apogee_codec::body::{
    properties, ConsumeStats, ConsumeStatsList, GroupList, KVTable, MessageQueue, OffsetWrapper,
    QueryConsumeTimeSpanBody, QueueTimeSpan, SubscriptionGroupConfig, TopicConfig, TopicFilterType,
    TopicList, TopicOffset, TopicStatsTable,
};
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::admin::{
    CloneGroupOffsetRequestHeader, CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader,
    DeleteTopicRequestHeader, GetBrokerConfigResponseHeader, GetConsumeStatsInBrokerHeader,
    GetConsumeStatsRequestHeader, GetTopicStatsInfoRequestHeader,
    QueryConsumeTimeSpanRequestHeader, QueryTopicConsumeByWhoRequestHeader,
};
use apogee_codec::{CommandHeader, RemotingCommand};
use log::{error, info, warn};

use super::processor::not_supported;
use super::{registration, BrokerInner};
use crate::remoting::{Connection, Reply};
use crate::rt;
use crate::store::config_files::topics::{
    validate_topic, SCHEDULE_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC,
};
use crate::store::store_config::BrokerRole;
use crate::store::sys;

pub use runtime::runtime_info;
pub use state::AdminState;

/// Java `TopicValidator.SYSTEM_TOPIC_PREFIX`: names with it are system topics too.
const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";
/// Java `MixAll.LMQ_PREFIX`.
const LMQ_PREFIX: &str = "%LMQ%";
/// Keys UPDATE_BROKER_CONFIG refuses (Java's `configBlackList` default plus the fixed ones).
const CONFIG_BLACK_LIST: [&str; 3] = ["brokerConfigPath", "rocketmqHome", "configBlackList"];

/// Create the broker's admin state (counters start, boot time taken). Called at broker
/// start (`registration::start` does it); calling it again is harmless.
pub fn init(b: &Arc<BrokerInner>) {
    let _ = state::state(b);
}

/// The broker's admin state (counters, effective configuration).
pub fn admin_state(b: &Arc<BrokerInner>) -> Arc<AdminState> {
    state::state(b)
}

/// Report one pull/get to the runtime statistics: `msgs` messages handed to the consumer
/// (0 = nothing found). Puts need no call: they are counted as they are dispatched.
pub fn record_get(b: &Arc<BrokerInner>, msgs: u64) {
    state::state(b).record_get(msgs);
}

/// What to do with the name servers after answering.
enum Then {
    Nothing,
    /// Register before answering (Java registers synchronously after topic creation),
    /// waiting at most `registerBrokerTimeoutMills`.
    RegisterNow,
    /// Register in the background.
    RegisterSoon,
}

/// Every code this module answers.
fn handles(code: i32) -> bool {
    matches!(
        code,
        rc::UPDATE_AND_CREATE_TOPIC
            | rc::DELETE_TOPIC_IN_BROKER
            | rc::GET_ALL_TOPIC_CONFIG
            | rc::UPDATE_BROKER_CONFIG
            | rc::GET_BROKER_CONFIG
            | rc::GET_BROKER_RUNTIME_INFO
            | rc::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
            | rc::GET_ALL_SUBSCRIPTIONGROUP_CONFIG
            | rc::DELETE_SUBSCRIPTIONGROUP
            | rc::GET_TOPIC_STATS_INFO
            | rc::GET_CONSUME_STATS
            | rc::GET_BROKER_CONSUME_STATS
            | rc::QUERY_CONSUME_TIME_SPAN
            | rc::GET_ALL_CONSUMER_OFFSET
            | rc::GET_ALL_DELAY_OFFSET
            | rc::QUERY_TOPIC_CONSUME_BY_WHO
            | rc::GET_SYSTEM_TOPIC_LIST_FROM_BROKER
            | rc::CLONE_GROUP_OFFSET
            | rc::DELETE_EXPIRED_COMMITLOG
            | rc::CLEAN_EXPIRED_CONSUMEQUEUE
            | rc::CLEAN_UNUSED_TOPIC
    )
}

/// Answer an admin request (any code the processor routes nowhere else).
pub async fn process(b: &Arc<BrokerInner>, _conn: &Arc<Connection>, req: RemotingCommand) -> Reply {
    if !handles(req.code) {
        return not_supported(&req);
    }
    let b2 = Arc::clone(b);
    let (resp, then) = rt::unblock(move || handle(&b2, &req)).await;
    match then {
        Then::Nothing => {}
        Then::RegisterNow => {
            // Answer once the name servers have the change (as Java does), but never later
            // than one registration timeout: the round itself goes on in the background.
            let timeout = state::state(b)
                .broker_config()
                .register_broker_timeout_mills;
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            let b2 = Arc::clone(b);
            rt::spawn(async move {
                registration::register_now(&b2).await;
                let _ = tx.send(());
            });
            let _ = rt::timeout(Duration::from_millis(timeout.max(1)), rx).await;
        }
        Then::RegisterSoon => registration::register_soon(b),
    }
    resp.into()
}

fn handle(b: &Arc<BrokerInner>, req: &RemotingCommand) -> (RemotingCommand, Then) {
    let r = match req.code {
        rc::UPDATE_AND_CREATE_TOPIC => return update_and_create_topic(b, req),
        rc::DELETE_TOPIC_IN_BROKER => return delete_topic(b, req),
        rc::UPDATE_BROKER_CONFIG => return update_broker_config(b, req),
        rc::GET_ALL_TOPIC_CONFIG => get_all_topic_config(b, req),
        rc::GET_BROKER_CONFIG => get_broker_config(b, req),
        rc::GET_BROKER_RUNTIME_INFO => {
            let kv = KVTable {
                table: runtime_info(b),
            };
            ok(req).with_body(kv.encode())
        }
        rc::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => update_subscription_group(b, req),
        rc::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => {
            let w = b.configs.subscription_groups.serialize_wrapper();
            ok(req).with_body(w.encode())
        }
        rc::DELETE_SUBSCRIPTIONGROUP => delete_subscription_group(b, req),
        rc::GET_TOPIC_STATS_INFO => topic_stats(b, req),
        rc::GET_CONSUME_STATS => consume_stats(b, req),
        rc::GET_BROKER_CONSUME_STATS => broker_consume_stats(b, req),
        rc::QUERY_CONSUME_TIME_SPAN => consume_time_span(b, req),
        rc::GET_ALL_CONSUMER_OFFSET => {
            let w = b.configs.consumer_offsets.serialize_wrapper();
            ok(req).with_body(w.encode_fastjson())
        }
        rc::GET_ALL_DELAY_OFFSET => {
            let w = b.configs.delay_offsets.serialize_wrapper();
            ok(req).with_body(w.encode_fastjson())
        }
        rc::QUERY_TOPIC_CONSUME_BY_WHO => topic_consume_by_who(b, req),
        rc::GET_SYSTEM_TOPIC_LIST_FROM_BROKER => {
            let list = TopicList {
                broker_addr: None,
                topic_list: b.configs.topics.system_topics().clone(),
            };
            ok(req).with_body(list.encode())
        }
        rc::CLONE_GROUP_OFFSET => clone_group_offset(b, req),
        rc::DELETE_EXPIRED_COMMITLOG => {
            warn!("invoke deleteExpiredCommitLog start.");
            b.store.execute_delete_files_manually();
            warn!("invoke deleteExpiredCommitLog end.");
            ok(req)
        }
        rc::CLEAN_EXPIRED_CONSUMEQUEUE => {
            warn!("invoke cleanExpiredConsumeQueue start.");
            clean_expired_consume_queues(b);
            warn!("invoke cleanExpiredConsumeQueue end.");
            ok(req)
        }
        rc::CLEAN_UNUSED_TOPIC => {
            warn!("invoke cleanUnusedTopic start.");
            clean_unused_topics(b);
            warn!("invoke cleanUnusedTopic end.");
            ok(req)
        }
        _ => RemotingCommand::error_to(
            req,
            response::REQUEST_CODE_NOT_SUPPORTED,
            format!(" request type {} not supported", req.code),
        ),
    };
    (r, Then::Nothing)
}

// ---- helpers ------------------------------------------------------------------------------

fn ok(req: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::success_to(req)
}

fn system_error(req: &RemotingCommand, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::error_to(req, response::SYSTEM_ERROR, remark)
}

/// Read the request header; `Err` is the remark naming the missing or ill-typed field.
fn header<H: CommandHeader>(req: &RemotingCommand) -> Result<H, String> {
    req.read_header::<H>().map_err(|e| e.to_string())
}

/// Java `validateSlave`: topics and groups are changed on the master only.
fn refuse_on_slave(b: &BrokerInner, req: &RemotingCommand) -> Option<RemotingCommand> {
    (b.store.config().broker_role() == BrokerRole::Slave).then(|| {
        system_error(
            req,
            "Can't modify topic or subscription group from slave broker, please execute it \
             from master broker.",
        )
    })
}

/// Java `TopicValidator.validateTopic` + `isSystemTopic` with their remarks.
fn check_topic_name(
    b: &BrokerInner,
    req: &RemotingCommand,
    topic: &str,
) -> Option<RemotingCommand> {
    if let Err(e) = validate_topic(topic) {
        return Some(system_error(req, e.to_string()));
    }
    if is_reserved_topic(b, topic) {
        return Some(system_error(
            req,
            format!("The topic[{topic}] is conflict with system topic."),
        ));
    }
    None
}

fn broker_name(b: &BrokerInner) -> &str {
    &b.config.broker_name
}

/// Java's `getMessageStoreTimeStamp` (−1 when the message is not there).
fn store_time(b: &BrokerInner, topic: &str, queue_id: i32, offset: i64) -> i64 {
    if offset < 0 {
        return -1;
    }
    b.store
        .message_store_timestamp(topic, queue_id, offset)
        .unwrap_or(-1)
}

// ---- topics -------------------------------------------------------------------------------

fn update_and_create_topic(b: &Arc<BrokerInner>, req: &RemotingCommand) -> (RemotingCommand, Then) {
    if let Some(r) = refuse_on_slave(b, req) {
        return (r, Then::Nothing);
    }
    let h: CreateTopicRequestHeader = match header(req) {
        Ok(h) => h,
        Err(e) => return (system_error(req, e), Then::Nothing),
    };
    info!("updateAndCreateTopic called: {h:?}");
    let topic = h.topic.as_str();
    if let Some(r) = check_topic_name(b, req, topic) {
        return (r, Then::Nothing);
    }
    let Some(filter) = TopicFilterType::from_name(&h.topic_filter_type)
        .filter(|f| f.name() == h.topic_filter_type.trim())
    else {
        return (
            system_error(
                req,
                format!(
                    "No enum constant org.apache.rocketmq.common.TopicFilterType.{}",
                    h.topic_filter_type
                ),
            ),
            Then::Nothing,
        );
    };
    // As in Java, `order` is not taken from the request: the name servers' ORDER_TOPIC_CONFIG
    // decides it (applied at registration).
    let order = b.configs.topics.get(topic).is_some_and(|t| t.order);
    let tc = TopicConfig {
        read_queue_nums: h.read_queue_nums,
        write_queue_nums: h.write_queue_nums,
        perm: h.perm,
        topic_filter_type: filter,
        topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
        order,
        ..TopicConfig::new(topic)
    };
    if let Err(e) = b.configs.topics.update_topic_config(tc) {
        // The topic is in memory (and will be persisted with the next change), as in Java.
        error!("UPDATE_AND_CREATE_TOPIC {topic}: {e}");
    }
    (ok(req), Then::RegisterNow)
}

fn delete_topic(b: &Arc<BrokerInner>, req: &RemotingCommand) -> (RemotingCommand, Then) {
    if let Some(r) = refuse_on_slave(b, req) {
        return (r, Then::Nothing);
    }
    let h: DeleteTopicRequestHeader = match header(req) {
        Ok(h) => h,
        Err(e) => return (system_error(req, e), Then::Nothing),
    };
    let topic = h.topic.as_str();
    info!("deleteTopic called: {topic}");
    if let Some(r) = check_topic_name(b, req, topic) {
        return (r, Then::Nothing);
    }
    if let Err(e) = b.configs.topics.delete_topic_config(topic) {
        error!("DELETE_TOPIC_IN_BROKER {topic}: {e}");
    }
    match b.store.delete_topic(topic) {
        Ok(n) => info!("deleted {n} consume queue(s) of topic {topic}"),
        Err(e) => error!("deleting the consume queues of topic {topic}: {e}"),
    }
    b.configs.consumer_offsets.remove_topic(topic);
    (ok(req), Then::RegisterSoon)
}

fn get_all_topic_config(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    let w = b.configs.topics.serialize_wrapper();
    if w.topic_config_table.is_empty() {
        return system_error(req, "No topic in this broker");
    }
    // No `totalTopicNum` header: a 5.x admin then takes this as the complete, unpaged answer.
    ok(req).with_body(w.encode())
}

fn topic_stats(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    let h: GetTopicStatsInfoRequestHeader = match header(req) {
        Ok(h) => h,
        Err(e) => return system_error(req, e),
    };
    let topic = h.topic.as_str();
    let Some(tc) = b.configs.topics.get(topic) else {
        return RemotingCommand::error_to(
            req,
            response::TOPIC_NOT_EXIST,
            format!("topic[{topic}] not exist"),
        );
    };
    let mut table = TopicStatsTable::default();
    for q in 0..tc.write_queue_nums.max(0) {
        let min = b.store.min_offset_in_queue(topic, q).max(0);
        let max = b.store.max_offset_in_queue(topic, q).max(0);
        let last_update_timestamp = if max > 0 {
            store_time(b, topic, q, max - 1)
        } else {
            0
        };
        table.offset_table.insert(
            MessageQueue::new(topic, broker_name(b), q),
            TopicOffset {
                last_update_timestamp,
                max_offset: max,
                min_offset: min,
            },
        );
    }
    ok(req).with_body(table.encode())
}

/// Topics whose consume queues are never removed for lack of a topic config.
fn keeps_queues_without_config(topic: &str) -> bool {
    topic == SCHEDULE_TOPIC
        || topic == TRANS_OP_HALF_TOPIC
        || topic == TRANS_HALF_TOPIC
        || topic.starts_with(LMQ_PREFIX)
}

/// Java `cleanUnusedTopic`: drop the consume queues of topics that have no config.
fn clean_unused_topics(b: &BrokerInner) {
    let configured = b.configs.topics.topic_names();
    let unused: BTreeSet<String> = b
        .store
        .queues()
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| !configured.contains(t) && !keeps_queues_without_config(t))
        .collect();
    for t in unused {
        match b.store.delete_topic(&t) {
            Ok(n) => info!("cleanUnusedTopic: removed {n} consume queue(s) of {t}"),
            Err(e) => error!("cleanUnusedTopic: removing the consume queues of {t}: {e}"),
        }
    }
}

/// Java `cleanExpiredConsumerQueue`: drop consume queues whose last message is older than
/// the CommitLog's first byte. The store removes queues per topic, so a topic goes only when
/// every one of its queues has expired (Java removes single queues; a partly expired topic
/// keeps its queues here until then).
fn clean_expired_consume_queues(b: &BrokerInner) {
    let min_phy = b.store.commit_log_min_offset();
    let mut by_topic: BTreeMap<String, bool> = BTreeMap::new();
    for (topic, q) in b.store.queues() {
        if topic == SCHEDULE_TOPIC {
            continue;
        }
        let max = b.store.max_offset_in_queue(&topic, q);
        let expired = max > 0
            && b.store
                .commit_log_offset_in_queue(&topic, q, max - 1)
                .is_some_and(|phy| phy < min_phy);
        let e = by_topic.entry(topic).or_insert(true);
        *e = *e && expired;
    }
    for (topic, expired) in by_topic {
        if !expired {
            continue;
        }
        match b.store.delete_topic(&topic) {
            Ok(n) => warn!("cleanExpiredConsumerQueue: removed {n} expired queue(s) of {topic}"),
            Err(e) => error!("cleanExpiredConsumerQueue: {topic}: {e}"),
        }
    }
}

// ---- broker config ------------------------------------------------------------------------

fn get_broker_config(b: &Arc<BrokerInner>, req: &RemotingCommand) -> RemotingCommand {
    let c = state::state(b).config();
    let mut entries = c.broker.to_properties();
    let known: BTreeSet<&str> = entries.iter().map(|(k, _)| *k).collect();
    entries.extend(
        c.store
            .to_properties()
            .into_iter()
            .filter(|(k, _)| !known.contains(k)),
    );
    let text = properties::write(entries);
    let version = String::from_utf8_lossy(&c.version.encode()).into_owned();
    ok(req)
        .with_header(&GetBrokerConfigResponseHeader { version })
        .with_body(text.into_bytes())
}

fn update_broker_config(b: &Arc<BrokerInner>, req: &RemotingCommand) -> (RemotingCommand, Then) {
    let Some(body) = req.body() else {
        return (ok(req), Then::Nothing);
    };
    let props = properties::parse_bytes(body);
    if CONFIG_BLACK_LIST.iter().any(|k| props.contains_key(*k)) {
        return (
            RemotingCommand::error_to(
                req,
                response::NO_PERMISSION,
                "Can not update config in black list.",
            ),
            Then::Nothing,
        );
    }
    info!("updateBrokerConfig, new config: {props:?}");
    let applied = state::state(b).update_config(&props);
    info!("updateBrokerConfig applied in memory: {applied:?}");
    if props.contains_key("brokerPermission") {
        // The name servers must see the new permission on every topic now.
        let topics = &b.configs.topics;
        let mut v = topics.data_version();
        v.next_version(sys::now_ms());
        topics.assign_data_version(v);
        return (ok(req), Then::RegisterNow);
    }
    (ok(req), Then::Nothing)
}

// ---- subscription groups ------------------------------------------------------------------

fn update_subscription_group(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    if let Some(r) = refuse_on_slave(b, req) {
        return r;
    }
    info!("updateAndCreateSubscriptionGroup called");
    let Some(body) = req.body() else {
        return ok(req);
    };
    let config = match SubscriptionGroupConfig::decode(body) {
        Ok(c) => c,
        Err(e) => return system_error(req, e.to_string()),
    };
    let group = config.group_name.clone();
    if let Err(e) = b.configs.subscription_groups.update(config) {
        error!("UPDATE_AND_CREATE_SUBSCRIPTIONGROUP {group}: {e}");
    }
    ok(req)
}

fn delete_subscription_group(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    if let Some(r) = refuse_on_slave(b, req) {
        return r;
    }
    let h: DeleteSubscriptionGroupRequestHeader = match header(req) {
        Ok(h) => h,
        Err(e) => return system_error(req, e),
    };
    info!("deleteSubscriptionGroup called: {}", h.group_name);
    if let Err(e) = b.configs.subscription_groups.delete(&h.group_name) {
        error!("DELETE_SUBSCRIPTIONGROUP {}: {e}", h.group_name);
    }
    if h.should_clean_offset() {
        b.configs.consumer_offsets.remove_group(&h.group_name);
    }
    ok(req)
}

// ---- offsets and consumption --------------------------------------------------------------

/// A group's progress on the first `queues(config)` queues of each topic (Java
/// `getConsumeStats` / `fetchAllConsumeStatsInBroker`). Topics without a config are skipped.
fn group_stats(
    b: &BrokerInner,
    group: &str,
    topics: impl IntoIterator<Item = String>,
    queues: impl Fn(&TopicConfig) -> i32,
    only_order: bool,
) -> Vec<ConsumeStats> {
    let offsets = &b.configs.consumer_offsets;
    let mut out = Vec::new();
    for topic in topics {
        let Some(tc) = b.configs.topics.get(&topic) else {
            warn!("consumeStats, topic config not exist, {topic}");
            continue;
        };
        if only_order && !tc.order {
            continue;
        }
        let mut stats = ConsumeStats::default();
        for q in 0..queues(&tc).max(0) {
            let broker_offset = b.store.max_offset_in_queue(&topic, q).max(0);
            let consumer_offset = offsets.query(group, &topic, q).unwrap_or(0).max(0);
            let last = store_time(b, &topic, q, consumer_offset - 1);
            stats.offset_table.insert(
                MessageQueue::new(topic.as_str(), broker_name(b), q),
                OffsetWrapper {
                    broker_offset,
                    consumer_offset,
                    last_timestamp: last.max(0),
                    pull_offset: None,
                },
            );
        }
        out.push(stats);
    }
    out
}

fn consume_stats(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    let h: GetConsumeStatsRequestHeader = match header(req) {
        Ok(h) => h,
        Err(e) => return system_error(req, e),
    };
    let group = h.consumer_group.as_str();
    let listed: Vec<String> = h.topics().into_iter().map(str::to_owned).collect();
    let topics: Vec<String> = match h.topic.as_deref().map(str::trim) {
        _ if !listed.is_empty() => listed,
        Some(t) if !t.is_empty() => vec![t.to_owned()],
        _ => b
            .configs
            .consumer_offsets
            .topics_of_group(group)
            .into_iter()
            .collect(),
    };
    // Java also skips topics a live group does not subscribe to; the group's subscriptions
    // are the client manager's business, so every topic with offsets is reported here.
    let mut all = ConsumeStats::default();
    for s in group_stats(b, group, topics, |tc| tc.read_queue_nums, false) {
        all.offset_table.extend(s.offset_table);
        all.consume_tps += s.consume_tps;
    }
    ok(req).with_body(all.encode())
}

fn broker_consume_stats(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    let h: GetConsumeStatsInBrokerHeader = match header(req) {
        Ok(h) => h,
        Err(e) => return system_error(req, e),
    };
    let mut list = ConsumeStatsList {
        broker_addr: Some(b.broker_addr()),
        ..Default::default()
    };
    for group in b.configs.subscription_groups.table().into_keys() {
        let topics = b.configs.consumer_offsets.topics_of_group(&group);
        let stats = group_stats(b, &group, topics, |tc| tc.write_queue_nums, h.is_order);
        list.total_diff = stats.iter().fold(list.total_diff, |acc, s| {
            acc.wrapping_add(s.compute_total_diff())
        });
        list.consume_stats_list
            .push(BTreeMap::from([(group.clone(), stats)]));
    }
    ok(req).with_body(list.encode())
}

fn consume_time_span(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    let h: QueryConsumeTimeSpanRequestHeader = match header(req) {
        Ok(h) => h,
        Err(e) => return system_error(req, e),
    };
    let topic = h.topic.as_str();
    let Some(tc) = b.configs.topics.get(topic) else {
        return RemotingCommand::error_to(
            req,
            response::TOPIC_NOT_EXIST,
            format!("topic[{topic}] not exist"),
        );
    };
    let now = sys::now_ms();
    let mut body = QueryConsumeTimeSpanBody::default();
    for q in 0..tc.write_queue_nums.max(0) {
        let min_time = b.store.earliest_message_time(topic, q).unwrap_or(-1);
        let max = b.store.max_offset_in_queue(topic, q);
        let max_time = store_time(b, topic, q, max - 1);
        let consumer_offset = b.configs.consumer_offsets.query(&h.group, topic, q);
        let consume_time = match consumer_offset {
            Some(o) if o > 0 => store_time(b, topic, q, o - 1),
            _ => min_time,
        };
        let consumer_offset = consumer_offset.unwrap_or(-1);
        let delay = if consumer_offset < max {
            now - store_time(b, topic, q, consumer_offset)
        } else {
            0
        };
        body.consume_time_span_set.push(QueueTimeSpan::new(
            MessageQueue::new(topic, broker_name(b), q),
            min_time,
            max_time,
            consume_time,
            delay,
        ));
    }
    ok(req).with_body(body.encode())
}

fn topic_consume_by_who(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    let h: QueryTopicConsumeByWhoRequestHeader = match header(req) {
        Ok(h) => h,
        Err(e) => return system_error(req, e),
    };
    // Java adds the live groups subscribed to the topic; those belong to the client manager.
    let list = GroupList {
        group_list: b.configs.consumer_offsets.groups_of_topic(&h.topic),
    };
    ok(req).with_body(list.encode())
}

fn clone_group_offset(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    let h: CloneGroupOffsetRequestHeader = match header(req) {
        Ok(h) => h,
        Err(e) => return system_error(req, e),
    };
    let offsets = &b.configs.consumer_offsets;
    let topics: Vec<String> = match h.topic.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() => vec![t.to_owned()],
        _ => offsets.topics_of_group(&h.src_group).into_iter().collect(),
    };
    for topic in topics {
        if !b.configs.topics.contains(&topic) {
            warn!("[cloneGroupOffset], topic config not exist, {topic}");
            continue;
        }
        // Each topic's own offsets (Java passes the request's topic here, which makes a
        // clone of "all topics" copy nothing).
        offsets.clone_offset(&h.src_group, &h.dest_group, &topic);
    }
    ok(req)
}

/// Java `TopicValidator.isSystemTopic`: a built-in name (or the `rmq_sys_` prefix) that an
/// admin may not create or delete.
pub fn is_reserved_topic(b: &BrokerInner, topic: &str) -> bool {
    b.configs.topics.is_system_topic(topic) || topic.starts_with(SYSTEM_TOPIC_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handled_code_has_a_handler() {
        for code in [
            rc::UPDATE_AND_CREATE_TOPIC,
            rc::GET_ALL_TOPIC_CONFIG,
            rc::CLEAN_UNUSED_TOPIC,
        ] {
            assert!(handles(code));
        }
        assert!(!handles(rc::GET_TOPICS_BY_CLUSTER));
        assert!(!handles(rc::LOCK_BATCH_MQ));
        assert!(keeps_queues_without_config(SCHEDULE_TOPIC));
        assert!(keeps_queues_without_config("%LMQ%x"));
        assert!(!keeps_queues_without_config("T"));
    }
}
