//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361) (Java `PullMessageProcessor`, 4.9.8).
//!
//! Checks, in order (broker-behaviour §5.1): broker readable; subscription group found or
//! auto-created, consume enabled; topic exists and is readable; queue id in range; the
//! subscription — from the header when flag 0x4 is set, else the one registered by heartbeat
//! (group online, broadcast allowed, topic subscribed, registered `subVersion` not older than
//! the request's); SQL92 expressions are compiled (header) or taken compiled from the
//! registration, and need `enablePropertyFilter`. Then the store is read through the tag-code
//! filter or the SQL92 filter and its status mapped to a response code and
//! `nextBeginOffset` (§5.2). Every answer with codes 0/19/20/21 carries all four header fields;
//! the remark is the store status name.
//!
//! With the suspend flag (0x2) a PULL_NOT_FOUND is not answered at once: the request is held by
//! [`long_polling::hold`] until data arrives for the queue or the hold time ends, then re-run
//! here without suspension and answered with the original opaque. The consumer's offset
//! (flag 0x1, `commitOffset`) is stored by the request that came from the network only.
//!
//! Found records are answered with [`Reply::Parts`]: the header, then each record written
//! straight from the mapped CommitLog files.

use std::sync::Arc;

use apogee_codec::body::{MessageModel, MessageQueue, SubscriptionData};
use apogee_codec::codes::response;
use apogee_codec::header::pull::{PullMessageRequestHeader, PullMessageResponseHeader};
use apogee_codec::message::{keys as prop_keys, MessageProperties, TagFilter};
use apogee_codec::RemotingCommand;
use bytes::Bytes;
use log::{info, warn};

use super::client_manager::now_ms;
use super::long_polling;
use super::processor::bad_header;
use super::BrokerInner;
use crate::filter::{compile_subscription, Sql92Filter};
use crate::remoting::{Connection, Reply};
use crate::rt;
use crate::store::config_files::topics::{perm, OFFSET_MOVED_EVENT};
use crate::store::message_inner::MessageInner;
use crate::store::results::{GetMessageStatus, MessageFilter};
use crate::store::store_config::BrokerRole;

/// Longest hold accepted from a request's `suspendTimeoutMillis` (clients send 15–30 s).
const MAX_SUSPEND_MS: i64 = 3_600_000;

/// Broker-side TAG filter on consume-queue tag codes (Java `ExpressionMessageFilter` for TAG
/// subscriptions). Too permissive is harmless (clients re-check the tag string); too strict
/// loses messages, so codes are taken from both the expression and the client's `codeSet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCodeFilter {
    /// `None`: everything matches.
    codes: Option<Arc<[i32]>>,
}

impl TagCodeFilter {
    /// Match everything.
    pub fn all() -> Self {
        TagCodeFilter { codes: None }
    }

    /// From a TAG expression (`*`, empty or absent: everything; else `A || B`).
    pub fn from_expression(expr: Option<&str>) -> Self {
        match TagFilter::parse(expr) {
            TagFilter::All => Self::all(),
            TagFilter::Tags { codes, .. } => TagCodeFilter {
                codes: Some(codes.into()),
            },
        }
    }

    /// From a heartbeat-registered subscription.
    pub fn from_subscription(sd: &SubscriptionData) -> Self {
        if sd.class_filter_mode {
            return Self::all();
        }
        match TagFilter::parse(Some(&sd.sub_string)) {
            TagFilter::All => Self::all(),
            TagFilter::Tags { mut codes, .. } => {
                for c in &sd.code_set {
                    if !codes.contains(c) {
                        codes.push(*c);
                    }
                }
                TagCodeFilter {
                    codes: Some(codes.into()),
                }
            }
        }
    }

    pub fn is_all(&self) -> bool {
        self.codes.is_none()
    }
}

impl MessageFilter for TagCodeFilter {
    fn matches_cq(&self, tags_code: i64) -> bool {
        match &self.codes {
            None => true,
            // Java compares `(int) tagsCode`.
            Some(codes) => codes.contains(&(tags_code as i32)),
        }
    }
}

/// What one run of the pull logic decided.
pub enum Step {
    /// Answer this.
    Done(Reply),
    /// PULL_NOT_FOUND with the suspend flag: hold the request for `hold_ms`.
    Suspend { hold_ms: u64, filter: TagCodeFilter },
}

pub async fn process(b: &Arc<BrokerInner>, conn: &Arc<Connection>, req: RemotingCommand) -> Reply {
    let h: PullMessageRequestHeader = match req.read_header() {
        Ok(h) => h,
        Err(e) => return bad_header(&req, &e),
    };
    match run(b, conn, &req, &h, true) {
        Step::Done(r) => r,
        Step::Suspend { hold_ms, filter } => {
            long_polling::hold(b, conn, &req, &h, hold_ms, filter).await
        }
    }
}

fn error(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> Step {
    Step::Done(RemotingCommand::error_to(req, code, remark).into())
}

fn is_tag_type(expression_type: &str) -> bool {
    expression_type.is_empty() || expression_type.eq_ignore_ascii_case("TAG")
}

/// One pass of the pull logic. `from_network` is false for the re-run of a held request:
/// it is never suspended again and does not commit the offset.
pub fn run(
    b: &Arc<BrokerInner>,
    conn: &Arc<Connection>,
    req: &RemotingCommand,
    h: &PullMessageRequestHeader,
    from_network: bool,
) -> Step {
    let cfg = &b.config;
    if !perm::is_readable(cfg.broker_permission) {
        return error(
            req,
            response::NO_PERMISSION,
            format!(
                "the broker[{}] pulling message is forbidden",
                b.store_host.ip()
            ),
        );
    }
    let Some(group_cfg) = b
        .configs
        .subscription_groups
        .find_or_create(&h.consumer_group, cfg.auto_create_subscription_group)
    else {
        return error(
            req,
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!(
                "subscription group [{}] does not exist, {}",
                h.consumer_group, FAQ
            ),
        );
    };
    if !group_cfg.consume_enable {
        return error(
            req,
            response::NO_PERMISSION,
            format!("subscription group no permission, {}", h.consumer_group),
        );
    }
    let Some(topic_cfg) = b.configs.topics.get(&h.topic) else {
        warn!("the topic {} not exist, consumer: {}", h.topic, conn.peer());
        return error(
            req,
            response::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please! {}", h.topic, FAQ),
        );
    };
    if !perm::is_readable(topic_cfg.perm) {
        return error(
            req,
            response::NO_PERMISSION,
            format!("the topic[{}] pulling message is forbidden", h.topic),
        );
    }
    if h.queue_id < 0 || h.queue_id >= topic_cfg.read_queue_nums {
        return error(
            req,
            response::SYSTEM_ERROR,
            format!(
                "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                h.queue_id,
                h.topic,
                topic_cfg.read_queue_nums,
                conn.peer()
            ),
        );
    }

    // The subscription. For SQL92, `filter` (also what a held pull is woken by) matches every
    // tag and `sql` filters the records.
    let mut sql: Option<Arc<Sql92Filter>> = None;
    let filter = if h.has_subscription_flag() {
        let et = h.expression_type.as_deref().unwrap_or("");
        if !is_tag_type(et) {
            let expr = h.subscription.as_deref().unwrap_or("");
            if expr.is_empty() {
                return error(
                    req,
                    response::SUBSCRIPTION_PARSE_FAILED,
                    "parse the consumer's subscription failed",
                );
            }
            if !cfg.enable_property_filter {
                return non_tag_refused(req, et);
            }
            match compile_subscription(et, expr) {
                Ok(f) => sql = Some(f),
                Err(e) => {
                    warn!(
                        "parse the consumer's subscription [{expr}] failed, group: {}: {e}",
                        h.consumer_group
                    );
                    return error(
                        req,
                        response::SUBSCRIPTION_PARSE_FAILED,
                        format!("parse the consumer's subscription failed: {e}"),
                    );
                }
            }
            TagCodeFilter::all()
        } else {
            TagCodeFilter::from_expression(h.subscription.as_deref())
        }
    } else {
        let Some((model, sub)) = b.clients.consumer_subscription(&h.consumer_group, &h.topic)
        else {
            warn!(
                "the consumer's group info not exist, group: {}",
                h.consumer_group
            );
            return error(
                req,
                response::SUBSCRIPTION_NOT_EXIST,
                format!("the consumer's group info not exist {}", FAQ),
            );
        };
        if !group_cfg.consume_broadcast_enable && model == MessageModel::Broadcasting {
            return error(
                req,
                response::NO_PERMISSION,
                format!(
                    "the consumer group[{}] can not consume by broadcast way",
                    h.consumer_group
                ),
            );
        }
        let Some(sub) = sub else {
            warn!(
                "the consumer's subscription not exist, group: {}, topic: {}",
                h.consumer_group, h.topic
            );
            return error(
                req,
                response::SUBSCRIPTION_NOT_EXIST,
                format!("the consumer's subscription not exist {}", FAQ),
            );
        };
        if sub.data.sub_version < h.sub_version {
            warn!(
                "the broker's subscription is not latest, group: {} {}",
                h.consumer_group, sub.data.sub_string
            );
            return error(
                req,
                response::SUBSCRIPTION_NOT_LATEST,
                "the consumer's subscription not latest",
            );
        }
        if !sub.data.is_tag_type() {
            // Compiled at registration; absent when the expression did not compile.
            let Some(f) = &sub.sql else {
                return error(
                    req,
                    response::FILTER_DATA_NOT_EXIST,
                    "The broker's consumer filter data is not exist!Your expression may be wrong!",
                );
            };
            if !cfg.enable_property_filter {
                return non_tag_refused(req, &sub.data.expression_type);
            }
            sql = Some(Arc::clone(f));
            TagCodeFilter::all()
        } else {
            sub.filter.clone()
        }
    };
    let store_filter: &dyn MessageFilter = match &sql {
        Some(f) => f.as_ref(),
        None => &filter,
    };

    let Some(result) = b.store.get_message(
        &h.topic,
        h.queue_id,
        h.queue_offset,
        usize::try_from(h.max_msg_nums).unwrap_or(0),
        store_filter,
    ) else {
        commit_offset(b, h, from_network);
        return error(req, response::SYSTEM_ERROR, "store getMessage return null");
    };

    let mut code = match result.status {
        GetMessageStatus::Found => response::SUCCESS,
        GetMessageStatus::MessageWasRemoving | GetMessageStatus::NoMatchedMessage => {
            response::PULL_RETRY_IMMEDIATELY
        }
        GetMessageStatus::NoMatchedLogicQueue | GetMessageStatus::NoMessageInQueue => {
            if h.queue_offset != 0 {
                info!(
                    "the broker stores no queue data, fix the request offset {} to 0, topic: {} queue: {} group: {}",
                    h.queue_offset, h.topic, h.queue_id, h.consumer_group
                );
                response::PULL_OFFSET_MOVED
            } else {
                response::PULL_NOT_FOUND
            }
        }
        GetMessageStatus::OffsetFoundNull | GetMessageStatus::OffsetOverflowOne => {
            response::PULL_NOT_FOUND
        }
        GetMessageStatus::OffsetOverflowBadly | GetMessageStatus::OffsetTooSmall => {
            response::PULL_OFFSET_MOVED
        }
    };
    let mut next_begin_offset = result.next_begin_offset;
    let role = b.store.config().broker_role();
    // Java 4.9.8: with slaveReadEnable the group's brokerId, or its
    // whichBrokerWhenConsumeSlowly when the data is cold (beyond accessMessageInMemoryMaxRatio
    // of RAM from the log's end); without it always the master. (A SLAVE without
    // slaveReadEnable still serves the pull: Java's status switch overwrites the
    // PULL_RETRY_IMMEDIATELY it first sets.)
    let mut suggest_which_broker_id = if cfg.slave_read_enable {
        if result.suggest_pulling_from_slave {
            group_cfg.which_broker_when_consume_slowly
        } else {
            group_cfg.broker_id
        }
    } else {
        0
    };

    if code == response::PULL_OFFSET_MOVED {
        if role != BrokerRole::Slave || b.store.config().offset_check_in_slave {
            warn!(
                "PULL_OFFSET_MOVED: topic={} queue={} group={} requested={} new={} ({})",
                h.topic,
                h.queue_id,
                h.consumer_group,
                h.queue_offset,
                next_begin_offset,
                result.status.name()
            );
            offset_moved_event(b, h, next_begin_offset);
        } else {
            next_begin_offset = h.queue_offset;
            suggest_which_broker_id = group_cfg.broker_id;
            code = response::PULL_RETRY_IMMEDIATELY;
        }
    }

    let step = if code == response::PULL_NOT_FOUND && from_network && h.has_suspend_flag() {
        let hold_ms = if cfg.long_polling_enable {
            h.suspend_timeout_millis.clamp(0, MAX_SUSPEND_MS) as u64
        } else {
            cfg.short_polling_time_mills
        };
        Step::Suspend { hold_ms, filter }
    } else {
        let header = PullMessageResponseHeader {
            suggest_which_broker_id,
            next_begin_offset,
            min_offset: result.min_offset,
            max_offset: result.max_offset,
            ..Default::default()
        };
        let cmd = RemotingCommand::response_to(req, code)
            .with_header(&header)
            .with_remark(result.status.name());
        if code == response::SUCCESS {
            crate::broker::admin::record_get(b, result.messages.len() as u64);
            Step::Done(Reply::Parts(cmd, result.messages))
        } else {
            crate::broker::admin::record_get(b, 0);
            Step::Done(Reply::Command(cmd))
        }
    };
    commit_offset(b, h, from_network);
    step
}

/// Store the consumer's offset carried by the request (flag 0x1), for requests from the network
/// on a master only.
fn commit_offset(b: &BrokerInner, h: &PullMessageRequestHeader, from_network: bool) {
    if from_network
        && h.has_commit_offset_flag()
        && b.store.config().broker_role() != BrokerRole::Slave
    {
        b.configs
            .consumer_offsets
            .commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
    }
}

/// A non-TAG (SQL92) subscription while `enablePropertyFilter` is off: SYSTEM_ERROR, as Java.
fn non_tag_refused(req: &RemotingCommand, expression_type: &str) -> Step {
    error(
        req,
        response::SYSTEM_ERROR,
        format!("The broker does not support consumer to filter message by {expression_type}"),
    )
}

/// Store an `OffsetMovedEvent` in `OFFSET_MOVED_EVENT` (tags and keys = group), as a Java
/// master does on PULL_OFFSET_MOVED. Fire and forget.
fn offset_moved_event(b: &Arc<BrokerInner>, h: &PullMessageRequestHeader, offset_new: i64) {
    let event = OffsetMovedEvent {
        consumer_group: &h.consumer_group,
        message_queue: MessageQueue::new(h.topic.clone(), b.config.broker_name.clone(), h.queue_id),
        offset_new,
        offset_request: h.queue_offset,
    };
    let body = serde_json::to_vec(&event).unwrap_or_default();
    let mut props = MessageProperties::new();
    props.insert(prop_keys::TAGS, h.consumer_group.clone());
    props.insert(prop_keys::DELAY, "0");
    props.insert(prop_keys::KEYS, h.consumer_group.clone());
    let n = props.len();
    props.sort_java_hash_map_order(n);
    let msg = MessageInner {
        topic: OFFSET_MOVED_EVENT.to_owned(),
        queue_id: 0,
        flag: 0,
        sys_flag: 0,
        born_timestamp: now_ms(),
        born_host: b.store_host,
        store_host: b.store_host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: Bytes::from(body),
        properties: props.encode(),
    };
    let store = b.store.clone();
    rt::spawn(async move {
        let r = store.put_message(msg, false).await;
        if !r.status.is_stored() {
            warn!("storing an offset moved event failed: {:?}", r.status);
        }
    });
}

/// Java `OffsetMovedEvent` (fastjson writes the properties sorted, as serde does here).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OffsetMovedEvent<'a> {
    consumer_group: &'a str,
    message_queue: MessageQueue,
    offset_new: i64,
    offset_request: i64,
}

/// The hint Java appends to several remarks (`FAQUrl.suggestTodo`).
const FAQ: &str = "\nSee http://rocketmq.apache.org/docs/faq/ for further details.";

#[cfg(test)]
mod tests {
    use super::*;
    use apogee_codec::message::java_string_hash;

    #[test]
    fn tag_code_filter() {
        assert!(TagCodeFilter::from_expression(None).is_all());
        assert!(TagCodeFilter::from_expression(Some("*")).is_all());
        assert!(TagCodeFilter::from_expression(Some("")).is_all());
        let f = TagCodeFilter::from_expression(Some("TagA || TagB"));
        assert!(f.matches_cq(i64::from(java_string_hash("TagA"))));
        assert!(f.matches_cq(i64::from(java_string_hash("TagB"))));
        assert!(!f.matches_cq(i64::from(java_string_hash("TagC"))));
        assert!(!f.matches_cq(0));

        let sd = SubscriptionData {
            sub_string: "TagA".into(),
            code_set: [java_string_hash("Extra")].into_iter().collect(),
            topic: "T".into(),
            ..Default::default()
        };
        let f = TagCodeFilter::from_subscription(&sd);
        assert!(f.matches_cq(i64::from(java_string_hash("TagA"))));
        assert!(f.matches_cq(i64::from(java_string_hash("Extra"))));
        assert!(!f.matches_cq(7));
        let sd = SubscriptionData {
            sub_string: "*".into(),
            ..Default::default()
        };
        assert!(TagCodeFilter::from_subscription(&sd).is_all());
        let sd = SubscriptionData {
            sub_string: "X".into(),
            class_filter_mode: true,
            ..Default::default()
        };
        assert!(TagCodeFilter::from_subscription(&sd).is_all());
    }
}
