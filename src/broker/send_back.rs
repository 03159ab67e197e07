//! CONSUMER_SEND_MSG_BACK (36): a consumer could not process a message and hands it back for
//! a later retry (RocketMQ 4.9.8 `SendMessageProcessor.asyncConsumerSendMsgBack`;
//! broker-behaviour.md §8.1, remoting-protocol.md §8.3 and §15.3 step 8).
//!
//! The request names the consumed message by its CommitLog offset; the broker copies that
//! record into a new one:
//!
//! 1. Flow control as for sends (page cache busy, no transient buffer) → SYSTEM_BUSY, in JSON.
//! 2. Header (`offset`, `group`, `delayLevel` required) missing or ill-typed → SYSTEM_ERROR.
//! 3. The subscription group must exist (or be auto-created) → else
//!    SUBSCRIPTION_GROUP_NOT_EXIST. A broker without write permission → NO_PERMISSION. A group
//!    with `retryQueueNums ≤ 0` → SUCCESS and the message is dropped.
//! 4. `%RETRY%<group>` is created when missing (`retryQueueNums` queues, perm R|W, unit-sub
//!    flag for unit-mode consumers) and the name servers are told. A retry topic without
//!    write permission → NO_PERMISSION. The queue is random among `retryQueueNums`.
//! 5. The record at `offset` (missing → SYSTEM_ERROR "look message by offset failed, …").
//! 6. The limit is the group's `retryMaxTimes`, or the header's `maxReconsumeTimes` when the
//!    request version is at least V3_4_9 and the field is present. When the record's
//!    reconsume count has reached it, or `delayLevel < 0`, the copy goes to `%DLQ%<group>`
//!    (created on demand: 1 queue, perm R|W, sys flag 0) with `DELAY=0`. Otherwise it goes to
//!    the retry topic with `DELAY` = the requested level, or `3 + reconsumeTimes` for level 0;
//!    the store then parks it in `SCHEDULE_TOPIC_XXXX` queue `level − 1` (levels above the
//!    maximum are capped there) with `REAL_TOPIC = %RETRY%<group>`.
//! 7. The copy keeps body (as stored, compressed or not), flag, sysFlag, born time and host and
//!    store host; its reconsume count is the record's + 1. Properties: the record's, plus
//!    `RETRY_TOPIC` = the record's topic when not set yet (so it keeps naming the original
//!    topic through every round), `WAIT=false`, `DELAY`, and `ORIGIN_MESSAGE_ID` = the
//!    existing value or else the record's offset message id. They are written in the
//!    iteration order of the Java `HashMap` the Java broker holds them in, so the stored bytes
//!    are the Java broker's.
//! 8. PUT_OK → SUCCESS (no header); any other store status → SYSTEM_ERROR whose remark is the
//!    Java status name. One-way requests are processed the same and not answered.

use std::sync::Arc;

use apogee_codec::codes::{response, version};
use apogee_codec::header::ConsumerSendMsgBackRequestHeader;
use apogee_codec::message::{decode_record, keys, MessageProperties};
use apogee_codec::RemotingCommand;
use log::{info, warn};

use super::send::{flow_control, random_below};
use super::BrokerInner;
use crate::remoting::{Connection, Reply};
use crate::store::config_files::topics::{dlq_topic, perm, retry_topic, DLQ_NUMS_PER_GROUP};
use crate::store::message_inner::MessageInner;
use crate::store::results::PutMessageStatus;

/// Java `FAQUrl.suggestTodo(…)` as appended to the missing-group remark.
const FAQ_SUFFIX: &str = "\nSee http://rocketmq.apache.org/docs/faq/ for further details.";

/// Topic sys flag of a unit-mode consumer's retry topic (Java `TopicSysFlag.FLAG_UNIT_SUB`).
const TOPIC_FLAG_UNIT_SUB: i32 = 0x2;

/// The delay level the broker picks for level 0: `3 + reconsumeTimes` (10 s for the first
/// retry with the default levels).
const FIRST_RETRY_LEVEL: i32 = 3;

/// Entry point for CONSUMER_SEND_MSG_BACK.
pub async fn process(b: &Arc<BrokerInner>, _conn: &Arc<Connection>, req: RemotingCommand) -> Reply {
    if let Some(busy) = flow_control(b, &req) {
        // Java's framework writes this answer even for one-way requests.
        return busy.into();
    }
    let resp = send_back(b, &req).await;
    if req.is_oneway() {
        Reply::None
    } else {
        resp.into()
    }
}

fn error(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::error_to(req, code, remark)
}

async fn send_back(b: &Arc<BrokerInner>, req: &RemotingCommand) -> RemotingCommand {
    let h: ConsumerSendMsgBackRequestHeader = match req.read_header() {
        Ok(h) => h,
        // As the processor's `bad_header`: SYSTEM_ERROR naming the field.
        Err(e) => return error(req, response::SYSTEM_ERROR, e.to_string()),
    };
    let group = h.group.as_str();

    let Some(sub) = b
        .configs
        .subscription_groups
        .find_or_create(group, b.config.auto_create_subscription_group)
    else {
        return error(
            req,
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group not exist, {group} {FAQ_SUFFIX}"),
        );
    };
    if !perm::is_writeable(b.config.broker_permission) {
        return error(
            req,
            response::NO_PERMISSION,
            format!(
                "the broker[{}] sending message is forbidden",
                b.store_host.ip()
            ),
        );
    }
    if sub.retry_queue_nums <= 0 {
        // The group wants no retries: the message is dropped.
        return RemotingCommand::success_to(req);
    }

    let retry = retry_topic(group);
    let topic_sys_flag = if h.unit_mode { TOPIC_FLAG_UNIT_SUB } else { 0 };
    let (retry_config, created) = b.configs.topics.create_topic_in_send_back_detailed(
        &retry,
        sub.retry_queue_nums,
        perm::READ | perm::WRITE,
        topic_sys_flag,
    );
    if created {
        topic_created(b, &retry);
    }
    if !perm::is_writeable(retry_config.perm) {
        return error(
            req,
            response::NO_PERMISSION,
            format!("the topic[{retry}] sending message is forbidden"),
        );
    }

    let Some(raw) = (h.offset >= 0)
        .then(|| b.store.look_message_by_offset(h.offset))
        .flatten()
    else {
        return not_found(req, h.offset);
    };
    let rec = match decode_record(&raw) {
        Ok((rec, _)) => rec,
        Err(e) => {
            warn!("send back: the record at {} does not decode: {e}", h.offset);
            return not_found(req, h.offset);
        }
    };
    let record_topic = String::from_utf8_lossy(rec.topic).into_owned();

    let mut max_reconsume_times = sub.retry_max_times;
    if req.version >= version::V3_4_9 {
        if let Some(m) = h.max_reconsume_times {
            max_reconsume_times = m;
        }
    }

    let (topic, queue_id, delay) =
        if rec.reconsume_times >= max_reconsume_times || h.delay_level < 0 {
            let dlq = dlq_topic(group);
            let (_, created) = b.configs.topics.create_topic_in_send_back_detailed(
                &dlq,
                DLQ_NUMS_PER_GROUP,
                perm::READ | perm::WRITE,
                0,
            );
            if created {
                topic_created(b, &dlq);
            }
            info!(
                "send back: message at {} of group {group} (reconsumed {} times, max \
                 {max_reconsume_times}, delay level {}) goes to {dlq}",
                h.offset, rec.reconsume_times, h.delay_level
            );
            (dlq, random_below(DLQ_NUMS_PER_GROUP), 0)
        } else {
            let level = if h.delay_level == 0 {
                FIRST_RETRY_LEVEL.saturating_add(rec.reconsume_times)
            } else {
                h.delay_level
            };
            (retry, random_below(sub.retry_queue_nums), level)
        };
    let properties = retry_properties(rec.properties, &record_topic, delay, &rec.offset_msg_id());

    let msg = MessageInner {
        topic,
        queue_id,
        flag: rec.flag,
        sys_flag: rec.sys_flag,
        born_timestamp: rec.born_timestamp,
        born_host: rec.born_host,
        store_host: rec.store_host,
        reconsume_times: rec.reconsume_times.saturating_add(1),
        prepared_transaction_offset: 0,
        body: bytes::Bytes::copy_from_slice(rec.body),
        properties,
    };
    let result = b.store.put_message(msg, false).await;
    if result.status == PutMessageStatus::PutOk {
        RemotingCommand::success_to(req)
    } else {
        warn!(
            "send back of the message at {} for group {group} not stored: {:?} {}",
            h.offset,
            result.status,
            result.remark.as_deref().unwrap_or("")
        );
        error(req, response::SYSTEM_ERROR, java_status_name(result.status))
    }
}

/// The properties string of the copy: the record's (one entry per name, at its first
/// position, with its last value, as Java's decoded map holds them), then `RETRY_TOPIC` (only
/// when absent), `WAIT=false`, `DELAY` and `ORIGIN_MESSAGE_ID` (the existing value, or the
/// record's offset msgId when absent or blank), in Java `HashMap` iteration order.
pub fn retry_properties(
    record_properties: &[u8],
    record_topic: &str,
    delay_level: i32,
    offset_msg_id: &str,
) -> Vec<u8> {
    let mut props: MessageProperties = MessageProperties::parse(record_properties)
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if props.get(keys::RETRY_TOPIC).is_none() {
        props.insert(keys::RETRY_TOPIC, record_topic);
    }
    props.insert(keys::WAIT, "false");
    props.insert(keys::DELAY, delay_level.to_string());
    let origin = props
        .get(keys::ORIGIN_MESSAGE_ID)
        .filter(|v| !v.trim().is_empty())
        .unwrap_or(offset_msg_id)
        .to_owned();
    props.insert(keys::ORIGIN_MESSAGE_ID, origin);
    // Entries were only added: the map's largest size is its final one.
    let n = props.len();
    props.sort_java_hash_map_order(n);
    props.encode()
}

fn not_found(req: &RemotingCommand, offset: i64) -> RemotingCommand {
    error(
        req,
        response::SYSTEM_ERROR,
        format!("look message by offset failed, {offset}"),
    )
}

/// A retry or DLQ topic was created: the name servers must learn about it.
fn topic_created(b: &Arc<BrokerInner>, topic: &str) {
    info!(
        "topic {topic} created by a send back on broker {}; registering with the name servers",
        b.config.broker_name
    );
    crate::broker::registration::register_soon(b);
}

/// Java `PutMessageStatus.name()` (the remark of a failed send back).
pub fn java_status_name(s: PutMessageStatus) -> &'static str {
    match s {
        PutMessageStatus::PutOk => "PUT_OK",
        PutMessageStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
        PutMessageStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
        PutMessageStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
        PutMessageStatus::ServiceNotAvailable => "SERVICE_NOT_AVAILABLE",
        PutMessageStatus::CreateMappedFileFailed => "CREATE_MAPEDFILE_FAILED",
        PutMessageStatus::MessageIllegal => "MESSAGE_ILLEGAL",
        PutMessageStatus::PropertiesSizeExceeded => "PROPERTIES_SIZE_EXCEEDED",
        PutMessageStatus::OsPageCacheBusy => "OS_PAGECACHE_BUSY",
        PutMessageStatus::UnknownError => "UNKNOWN_ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_queue_in_range() {
        for n in [-3, 0, 1, 2, 7] {
            for _ in 0..200 {
                let q = random_below(n);
                assert!((0..n.max(1)).contains(&q));
            }
        }
    }

    /// The Java 4.9.8 broker's send-backs in the shared fixture store (8 messages of FixA
    /// handed back once by FixGroup): rebuilt from the originals' stored properties, then put
    /// through the store's delay rewrite, they must match the Java records byte for byte.
    #[test]
    fn properties_match_the_java_broker_byte_for_byte() {
        use std::collections::HashMap;

        use crate::store::test_support::json_lines;

        let lines = json_lines("manifest-clean.jsonl");
        let msgs: Vec<&serde_json::Value> =
            lines.iter().filter(|m| m["type"] == "message").collect();
        let by_offset: HashMap<i64, &serde_json::Value> = msgs
            .iter()
            .map(|m| (m["commitLogOffset"].as_i64().unwrap(), *m))
            .collect();
        let mut checked = 0;
        for m in &msgs {
            let p = &m["properties"];
            let is_retry = p["REAL_TOPIC"]
                .as_str()
                .is_some_and(|t| t.starts_with("%RETRY%"));
            if m["topic"] != "SCHEDULE_TOPIC_XXXX" || !is_retry {
                continue;
            }
            let origin_id = p["ORIGIN_MESSAGE_ID"].as_str().unwrap();
            let id = apogee_codec::message::decode_offset_msg_id(origin_id).unwrap();
            let orig = by_offset[&id.offset];
            assert_eq!(orig["msgId"].as_str(), Some(origin_id));
            assert_eq!(
                m["reconsumeTimes"].as_i64().unwrap(),
                orig["reconsumeTimes"].as_i64().unwrap() + 1
            );
            let level: i32 = p["DELAY"].as_str().unwrap().parse().unwrap();
            assert_eq!(
                i64::from(level),
                3 + orig["reconsumeTimes"].as_i64().unwrap()
            );
            let ours = retry_properties(
                orig["propertiesRaw"].as_str().unwrap().as_bytes(),
                orig["topic"].as_str().unwrap(),
                level,
                origin_id,
            );
            // What the store's delay rewrite does with it.
            let mut s = MessageProperties::parse(&ours);
            s.insert(keys::REAL_TOPIC, p["REAL_TOPIC"].as_str().unwrap());
            s.insert(keys::REAL_QID, p["REAL_QID"].as_str().unwrap());
            let n = s.len();
            s.sort_java_hash_map_order(n);
            assert_eq!(
                String::from_utf8(s.encode()).unwrap(),
                m["propertiesRaw"].as_str().unwrap()
            );
            checked += 1;
        }
        assert_eq!(checked, 8);
    }

    #[test]
    fn existing_retry_topic_and_origin_are_kept() {
        let mut p = MessageProperties::new();
        p.insert(keys::RETRY_TOPIC, "First");
        p.insert(keys::ORIGIN_MESSAGE_ID, "ORIG");
        p.insert(keys::DELAY, "9");
        let out = MessageProperties::parse(&retry_properties(&p.encode(), "%RETRY%g", 4, "X"));
        assert_eq!(out.get(keys::RETRY_TOPIC), Some("First"));
        assert_eq!(out.get(keys::ORIGIN_MESSAGE_ID), Some("ORIG"));
        assert_eq!(out.get(keys::DELAY), Some("4"));
        assert_eq!(out.get(keys::WAIT), Some("false"));
        assert_eq!(out.len(), 4);
        // A blank origin is replaced.
        let mut p = MessageProperties::new();
        p.insert(keys::ORIGIN_MESSAGE_ID, " ");
        let out = MessageProperties::parse(&retry_properties(&p.encode(), "T", 0, "X"));
        assert_eq!(out.get(keys::ORIGIN_MESSAGE_ID), Some("X"));
        assert_eq!(out.get(keys::RETRY_TOPIC), Some("T"));
        assert_eq!(out.get(keys::DELAY), Some("0"));
    }

    #[test]
    fn status_names() {
        assert_eq!(java_status_name(PutMessageStatus::PutOk), "PUT_OK");
        assert_eq!(
            java_status_name(PutMessageStatus::CreateMappedFileFailed),
            "CREATE_MAPEDFILE_FAILED"
        );
        assert_eq!(
            java_status_name(PutMessageStatus::OsPageCacheBusy),
            "OS_PAGECACHE_BUSY"
        );
    }
}
