//! Consumer and producer administration (RocketMQ 4.9.8 `AdminBrokerProcessor`,
//! `ProducerManager.getProducerTable`, `Broker2Client`; remoting-protocol.md §8.3, §8.4,
//! §13.6, §15.4):
//!
//! | code | request | answer |
//! |---|---|---|
//! | 203 | GET_CONSUMER_CONNECTION_LIST | `ConsumerConnection`; CONSUMER_NOT_ONLINE for a group without channels |
//! | 204 | GET_PRODUCER_CONNECTION_LIST | `ProducerConnection`; SYSTEM_ERROR for an unknown group |
//! | 328 | GET_ALL_PRODUCER_INFO | `ProducerTableInfo` (`remoteIP` in Java's `/ip:port` form) |
//! | 307 | GET_CONSUMER_RUNNING_INFO | forwarded to the client, its answer relayed |
//! | 309 | CONSUME_MESSAGE_DIRECTLY | the record at `msgId` attached, `brokerName` added, forwarded, relayed |
//! | 222 | INVOKE_BROKER_TO_RESET_OFFSET | offsets computed, RESET_CONSUMER_CLIENT_OFFSET (220) pushed one-way to every consumer of the group, `ResetOffsetBody` |
//! | 223 | INVOKE_BROKER_TO_GET_CONSUMER_STATUS | GET_CONSUMER_STATUS_FROM_CLIENT (221) asked of the group's consumers, `GetConsumerStatusBody` |
//!
//! **Forwarding (307, 309).** The consumer is looked up by group and client id: not
//! registered → SYSTEM_ERROR "The Consumer <g> <id> not online"; a client older than
//! V3_1_8_SNAPSHOT → SYSTEM_ERROR. The broker sends a new request with the same code,
//! extFields and body on the client's own connection (in JSON, as the Java broker initiates
//! requests) and waits 10 s: a timeout → CONSUME_MSG_TIMEOUT, any other failure →
//! SYSTEM_ERROR. The client's answer is relayed as it came (code, remark, extFields, body,
//! language, version), with the admin's opaque and serialization.
//!
//! **Reset offset (222).** For each of the topic's write queues: the group's committed offset
//! (none → SYSTEM_ERROR "THe consumer group <g> not exist", Java's spelling), the target
//! (`timestamp = -1`: the queue's max offset; else the first offset stored at or after the
//! timestamp; below 0 → 0), and the new offset = the target if `isForce` or the target is
//! behind the committed offset, else the committed offset. The table goes one-way (5 s to
//! queue it) to every channel of the group; a channel older than V3_0_7_SNAPSHOT ends the
//! request with SYSTEM_ERROR, no channel at all → CONSUMER_NOT_ONLINE. When the admin request
//! comes from a C++ client, the pushed body is the C++ form (`offsetTable` as a list of
//! `{brokerName, offset, queueId, topic}`). Java's broker leaves the stored offsets to the
//! clients (each persists its reset offsets); here, in addition, an `isForce` reset that
//! reached the group is also written to the broker's consumer offsets at once, so that it
//! holds even if a client misses the push. The 5.x `queueId` / `offset` header fields are
//! ignored (4.9.8 semantics).
//!
//! **Consumer status (223).** Every channel of the group (or only the one whose client id
//! equals the header's `clientAddr`, Java's quirk) is asked GET_CONSUMER_STATUS_FROM_CLIENT
//! with 5 s each; the SUCCESS answers fill `consumerTable` (client id → queue → offset). No
//! channel → SYSTEM_ERROR "No Any Consumer online in the consumer group: [g]".
//!
//! A missing or ill-typed header field is SYSTEM_ERROR naming it. No lock is held across an
//! `.await`; store reads run on the blocking pool.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use apogee_codec::body::{
    GetConsumerStatusBody, MessageQueue, ProducerInfo, ProducerTableInfo, ResetOffsetBody,
};
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::{
    ConsumeMessageDirectlyResultRequestHeader, GetConsumerConnectionListRequestHeader,
    GetConsumerRunningInfoRequestHeader, GetConsumerStatusRequestHeader,
    GetProducerConnectionListRequestHeader, ResetOffsetRequestHeader,
};
use apogee_codec::{CommandHeader, LanguageCode, RemotingCommand};
use log::{error, info, warn};
use serde::Serialize;

use super::client_manager::ClientChannel;
use super::processor::not_supported;
use super::BrokerInner;
use crate::remoting::{Connection, RemotingError, Reply};
use crate::rt;

/// How long the broker waits for a client's answer to a forwarded request (Java
/// `Broker2Client.callClient`).
pub const CALL_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the broker waits for each client's GET_CONSUMER_STATUS_FROM_CLIENT answer.
pub const CONSUMER_STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a one-way push may wait for room in the connection's write queue.
pub const ONEWAY_TIMEOUT: Duration = Duration::from_secs(5);

/// `MQVersion.Version` ordinals below which a client cannot be asked these things.
const V3_0_7_SNAPSHOT: i32 = 28;
const V3_1_8_SNAPSHOT: i32 = 62;

/// Names of the `MQVersion.Version` ordinals 0..=61 (only these can be "too old" here).
const OLD_VERSION_NAMES: [&str; 62] = [
    "V3_0_0_SNAPSHOT",
    "V3_0_0_ALPHA1",
    "V3_0_0_BETA1",
    "V3_0_0_BETA2",
    "V3_0_0_BETA3",
    "V3_0_0_BETA4",
    "V3_0_0_BETA5",
    "V3_0_0_BETA6_SNAPSHOT",
    "V3_0_0_BETA6",
    "V3_0_0_BETA7_SNAPSHOT",
    "V3_0_0_BETA7",
    "V3_0_0_BETA8_SNAPSHOT",
    "V3_0_0_BETA8",
    "V3_0_0_BETA9_SNAPSHOT",
    "V3_0_0_BETA9",
    "V3_0_0_FINAL",
    "V3_0_1_SNAPSHOT",
    "V3_0_1",
    "V3_0_2_SNAPSHOT",
    "V3_0_2",
    "V3_0_3_SNAPSHOT",
    "V3_0_3",
    "V3_0_4_SNAPSHOT",
    "V3_0_4",
    "V3_0_5_SNAPSHOT",
    "V3_0_5",
    "V3_0_6_SNAPSHOT",
    "V3_0_6",
    "V3_0_7_SNAPSHOT",
    "V3_0_7",
    "V3_0_8_SNAPSHOT",
    "V3_0_8",
    "V3_0_9_SNAPSHOT",
    "V3_0_9",
    "V3_0_10_SNAPSHOT",
    "V3_0_10",
    "V3_0_11_SNAPSHOT",
    "V3_0_11",
    "V3_0_12_SNAPSHOT",
    "V3_0_12",
    "V3_0_13_SNAPSHOT",
    "V3_0_13",
    "V3_0_14_SNAPSHOT",
    "V3_0_14",
    "V3_0_15_SNAPSHOT",
    "V3_0_15",
    "V3_1_0_SNAPSHOT",
    "V3_1_0",
    "V3_1_1_SNAPSHOT",
    "V3_1_1",
    "V3_1_2_SNAPSHOT",
    "V3_1_2",
    "V3_1_3_SNAPSHOT",
    "V3_1_3",
    "V3_1_4_SNAPSHOT",
    "V3_1_4",
    "V3_1_5_SNAPSHOT",
    "V3_1_5",
    "V3_1_6_SNAPSHOT",
    "V3_1_6",
    "V3_1_7_SNAPSHOT",
    "V3_1_7",
];

/// Java `MQVersion.getVersionDesc` for the old versions named in refusals.
fn version_desc(v: i32) -> String {
    usize::try_from(v)
        .ok()
        .and_then(|i| OLD_VERSION_NAMES.get(i))
        .map(|s| (*s).to_owned())
        .unwrap_or_else(|| format!("version {v}"))
}

/// Every code this module answers.
pub fn handles(code: i32) -> bool {
    matches!(
        code,
        rc::GET_CONSUMER_CONNECTION_LIST
            | rc::GET_PRODUCER_CONNECTION_LIST
            | rc::GET_ALL_PRODUCER_INFO
            | rc::GET_CONSUMER_RUNNING_INFO
            | rc::CONSUME_MESSAGE_DIRECTLY
            | rc::INVOKE_BROKER_TO_RESET_OFFSET
            | rc::INVOKE_BROKER_TO_GET_CONSUMER_STATUS
    )
}

/// Entry point for the codes of [`handles`].
pub async fn process(b: &Arc<BrokerInner>, _conn: &Arc<Connection>, req: RemotingCommand) -> Reply {
    let resp = match req.code {
        rc::GET_CONSUMER_CONNECTION_LIST => consumer_connection_list(b, &req),
        rc::GET_PRODUCER_CONNECTION_LIST => producer_connection_list(b, &req),
        rc::GET_ALL_PRODUCER_INFO => all_producer_info(b, &req),
        rc::GET_CONSUMER_RUNNING_INFO => consumer_running_info(b, &req).await,
        rc::CONSUME_MESSAGE_DIRECTLY => consume_message_directly(b, &req).await,
        rc::INVOKE_BROKER_TO_RESET_OFFSET => reset_offset(b, &req).await,
        rc::INVOKE_BROKER_TO_GET_CONSUMER_STATUS => consumer_status(b, &req).await,
        _ => return not_supported(&req),
    };
    if req.is_oneway() {
        Reply::None
    } else {
        resp.into()
    }
}

fn system_error(req: &RemotingCommand, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::error_to(req, response::SYSTEM_ERROR, remark)
}

/// Read the request header; `Err` is the SYSTEM_ERROR answer naming the bad field.
fn header<H: CommandHeader>(req: &RemotingCommand) -> Result<H, Box<RemotingCommand>> {
    req.read_header::<H>()
        .map_err(|e| Box::new(system_error(req, e.to_string())))
}

// ---- connection lists ---------------------------------------------------------------------

fn consumer_connection_list(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    let h: GetConsumerConnectionListRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    match b.clients.consumer_connection(&h.consumer_group) {
        Some(cc) => RemotingCommand::success_to(req).with_body(cc.encode()),
        None => RemotingCommand::error_to(
            req,
            response::CONSUMER_NOT_ONLINE,
            format!("the consumer group[{}] not online", h.consumer_group),
        ),
    }
}

fn producer_connection_list(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    let h: GetProducerConnectionListRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    match b.clients.producer_connection(&h.producer_group) {
        Some(pc) => RemotingCommand::success_to(req).with_body(pc.encode()),
        None => system_error(
            req,
            format!("the producer group[{}] not exist", h.producer_group),
        ),
    }
}

fn all_producer_info(b: &BrokerInner, req: &RemotingCommand) -> RemotingCommand {
    let mut table = ProducerTableInfo::default();
    for group in b.clients.producer_groups() {
        let infos: Vec<ProducerInfo> = b
            .clients
            .producer_channels(&group)
            .iter()
            .map(|c| ProducerInfo {
                client_id: c.client_id.clone(),
                language: c.language.clone(),
                last_update_timestamp: c.last_update_ms,
                // Java writes `InetSocketAddress.toString()` of the channel: "/ip:port".
                remote_ip: format!("/{}", c.conn.peer()),
                version: c.version,
            })
            .collect();
        if !infos.is_empty() {
            table.data.insert(group, infos);
        }
    }
    RemotingCommand::success_to(req).with_body(table.encode())
}

// ---- requests forwarded to a consumer -----------------------------------------------------

/// The registered channel of `client_id` in consumer group `group`.
fn consumer_channel(
    b: &BrokerInner,
    group: &str,
    client_id: Option<&str>,
) -> Option<ClientChannel> {
    let id = client_id?;
    b.clients
        .consumer_channels(group)
        .into_iter()
        .find(|c| c.client_id == id && !c.conn.is_closed())
}

/// The client's answer, as the answer to the admin's request.
fn relay(req: &RemotingCommand, answer: RemotingCommand) -> RemotingCommand {
    let mut r = RemotingCommand::response_to(req, answer.code);
    r.language = answer.language;
    r.version = answer.version;
    r.remark = answer.remark;
    r.ext_fields = answer.ext_fields;
    r.body = answer.body;
    r
}

/// Java `AdminBrokerProcessor.callConsumer`: send `forward` to the consumer `client_id` of
/// `group` and relay its answer.
async fn call_consumer(
    b: &BrokerInner,
    req: &RemotingCommand,
    forward: RemotingCommand,
    group: &str,
    client_id: Option<&str>,
) -> RemotingCommand {
    let id = client_id.unwrap_or("null");
    let Some(ch) = consumer_channel(b, group, client_id) else {
        return system_error(req, format!("The Consumer <{group}> <{id}> not online"));
    };
    if ch.version < V3_1_8_SNAPSHOT {
        return system_error(
            req,
            format!(
                "The Consumer <{id}> Version <{}> too low to finish, please upgrade it to \
                 V3_1_8_SNAPSHOT",
                version_desc(ch.version)
            ),
        );
    }
    match ch.conn.request(forward, CALL_CLIENT_TIMEOUT).await {
        Ok(answer) => relay(req, answer),
        Err(e @ RemotingError::Timeout(_)) => RemotingCommand::error_to(
            req,
            response::CONSUME_MSG_TIMEOUT,
            format!("consumer <{group}> <{id}> Timeout: {e}"),
        ),
        Err(e) => system_error(
            req,
            format!("invoke consumer <{group}> <{id}> Exception: {e}"),
        ),
    }
}

/// A broker-initiated copy of `req` (same code, extFields and body).
fn forwarded(req: &RemotingCommand) -> RemotingCommand {
    let mut f = RemotingCommand::request(req.code, 0);
    f.ext_fields = req.ext_fields.clone();
    f.body = req.body.clone();
    f
}

async fn consumer_running_info(b: &Arc<BrokerInner>, req: &RemotingCommand) -> RemotingCommand {
    let h: GetConsumerRunningInfoRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    call_consumer(
        b,
        req,
        forwarded(req),
        &h.consumer_group,
        Some(&h.client_id),
    )
    .await
}

async fn consume_message_directly(b: &Arc<BrokerInner>, req: &RemotingCommand) -> RemotingCommand {
    let h: ConsumeMessageDirectlyResultRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let msg_id = h.msg_id.clone().unwrap_or_default();
    let b2 = Arc::clone(b);
    let id2 = msg_id.clone();
    let Some(record) = rt::unblock(move || b2.store.look_message_by_msg_id(&id2)).await else {
        return system_error(req, format!("can not find message by the msgId {msg_id}"));
    };
    let mut f = forwarded(req);
    f.ext_mut()
        .insert("brokerName", b.config.broker_name.clone());
    f.body = record;
    call_consumer(b, req, f, &h.consumer_group, h.client_id.as_deref()).await
}

// ---- reset offset -------------------------------------------------------------------------

/// Java `MessageQueueForC`: the C++ client's form of a reset entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageQueueForC {
    broker_name: String,
    offset: i64,
    queue_id: i32,
    topic: String,
}

/// Java `ResetOffsetBodyForC`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResetOffsetBodyForC {
    offset_table: Vec<MessageQueueForC>,
}

fn reset_body_for_c(table: &BTreeMap<MessageQueue, i64>) -> Vec<u8> {
    let body = ResetOffsetBodyForC {
        offset_table: table
            .iter()
            .map(|(mq, &offset)| MessageQueueForC {
                broker_name: mq.broker_name.clone(),
                offset,
                queue_id: mq.queue_id,
                topic: mq.topic.clone(),
            })
            .collect(),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The per-queue offsets of a reset (`Err` is the remark of a SYSTEM_ERROR).
fn reset_table(
    b: &BrokerInner,
    h: &ResetOffsetRequestHeader,
) -> Result<BTreeMap<MessageQueue, i64>, String> {
    let topic = h.topic.as_str();
    let Some(tc) = b.configs.topics.get(topic) else {
        error!("[reset-offset] reset offset failed, no topic in this broker. topic={topic}");
        return Err(format!(
            "[reset-offset] reset offset failed, no topic in this broker. topic={topic}"
        ));
    };
    let mut table = BTreeMap::new();
    for q in 0..tc.write_queue_nums.max(0) {
        let Some(committed) = b.configs.consumer_offsets.query(&h.group, topic, q) else {
            return Err(format!("THe consumer group <{}> not exist", h.group));
        };
        let mut target = if h.timestamp == -1 {
            b.store.max_offset_in_queue(topic, q)
        } else {
            b.store.offset_by_time(topic, q, h.timestamp)
        };
        if target < 0 {
            warn!("reset offset is invalid. topic={topic}, queueId={q}, offset={target}");
            target = 0;
        }
        let offset = if h.is_force || target < committed {
            target
        } else {
            committed
        };
        table.insert(
            MessageQueue::new(topic, b.config.broker_name.as_str(), q),
            offset,
        );
    }
    Ok(table)
}

async fn reset_offset(b: &Arc<BrokerInner>, req: &RemotingCommand) -> RemotingCommand {
    let h: ResetOffsetRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    info!(
        "[reset-offset] reset offset started. topic={}, group={}, timestamp={}, isForce={}",
        h.topic, h.group, h.timestamp, h.is_force
    );
    let is_c = req.language == LanguageCode::Cpp;
    let b2 = Arc::clone(b);
    let h2 = h.clone();
    let table = match rt::unblock(move || reset_table(&b2, &h2)).await {
        Ok(t) => t,
        Err(remark) => return system_error(req, remark),
    };

    let push_header = ResetOffsetRequestHeader {
        topic: h.topic.clone(),
        group: h.group.clone(),
        timestamp: h.timestamp,
        // Java does not set it on the pushed header: always `false` on the wire.
        is_force: false,
        ..Default::default()
    };
    let push_body = if is_c {
        reset_body_for_c(&table)
    } else {
        ResetOffsetBody {
            offset_table: table.clone(),
        }
        .encode()
    };
    let push = RemotingCommand::request(rc::RESET_CONSUMER_CLIENT_OFFSET, 0)
        .with_header(&push_header)
        .with_body(push_body);

    let channels = b.clients.consumer_channels(&h.group);
    if channels.is_empty() {
        let remark = format!(
            "Consumer not online, so can not reset offset, Group: {} Topic: {} Timestamp: {}",
            h.group, h.topic, h.timestamp
        );
        error!("{remark}");
        return RemotingCommand::error_to(req, response::CONSUMER_NOT_ONLINE, remark);
    }
    for ch in &channels {
        if ch.version < V3_0_7_SNAPSHOT {
            warn!(
                "[reset-offset] the client does not support this feature. channel={}, version={}",
                ch.conn.peer(),
                version_desc(ch.version)
            );
            return system_error(
                req,
                format!(
                    "the client does not support this feature. version={}",
                    version_desc(ch.version)
                ),
            );
        }
        match rt::timeout(ONEWAY_TIMEOUT, ch.conn.oneway(push.clone())).await {
            Some(true) => info!(
                "[reset-offset] reset offset success. topic={}, group={}, clientId={}",
                h.topic, h.group, ch.client_id
            ),
            _ => error!(
                "[reset-offset] reset offset exception. topic={}, group={}, clientId={}: not sent",
                h.topic, h.group, ch.client_id
            ),
        }
    }
    if h.is_force {
        // Beyond Java (which leaves this to the clients): a forced reset is stored at once.
        for (mq, &offset) in &table {
            b.configs
                .consumer_offsets
                .commit(&h.group, &mq.topic, mq.queue_id, offset);
        }
    }
    RemotingCommand::success_to(req).with_body(
        ResetOffsetBody {
            offset_table: table,
        }
        .encode(),
    )
}

// ---- consumer status ----------------------------------------------------------------------

async fn consumer_status(b: &Arc<BrokerInner>, req: &RemotingCommand) -> RemotingCommand {
    let h: GetConsumerStatusRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    info!(
        "[get-consumer-status] get consumer status. topic={}, group={}",
        h.topic, h.group
    );
    let channels = b.clients.consumer_channels(&h.group);
    if channels.is_empty() {
        return system_error(
            req,
            format!(
                "No Any Consumer online in the consumer group: [{}]",
                h.group
            ),
        );
    }
    let ask_header = GetConsumerStatusRequestHeader {
        topic: h.topic.clone(),
        group: h.group.clone(),
        ..Default::default()
    };
    let ask =
        RemotingCommand::request(rc::GET_CONSUMER_STATUS_FROM_CLIENT, 0).with_header(&ask_header);
    let only = h.client_addr.as_deref().filter(|a| !a.trim().is_empty());

    let mut consumer_table = BTreeMap::new();
    for ch in &channels {
        if ch.version < V3_0_7_SNAPSHOT {
            return system_error(
                req,
                format!(
                    "the client does not support this feature. version={}",
                    version_desc(ch.version)
                ),
            );
        }
        if only.is_some_and(|id| id != ch.client_id) {
            continue;
        }
        match ch.conn.request(ask.clone(), CONSUMER_STATUS_TIMEOUT).await {
            Ok(answer) if answer.code == response::SUCCESS => {
                if let Some(body) = answer.body() {
                    match GetConsumerStatusBody::decode(body) {
                        Ok(s) => {
                            consumer_table.insert(ch.client_id.clone(), s.message_queue_table);
                        }
                        Err(e) => warn!(
                            "[get-consumer-status] undecodable answer from {}: {e}",
                            ch.client_id
                        ),
                    }
                }
            }
            Ok(_) => {}
            Err(e) => error!(
                "[get-consumer-status] get consumer status exception. topic={}, group={}, \
                 error={e}",
                h.topic, h.group
            ),
        }
        if only.is_some() {
            break;
        }
    }
    let body = GetConsumerStatusBody {
        consumer_table,
        ..Default::default()
    };
    RemotingCommand::success_to(req).with_body(body.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_version_names() {
        assert_eq!(version_desc(0), "V3_0_0_SNAPSHOT");
        assert_eq!(version_desc(V3_0_7_SNAPSHOT), "V3_0_7_SNAPSHOT");
        assert_eq!(version_desc(61), "V3_1_7");
        assert_eq!(version_desc(-1), "version -1");
        assert_eq!(version_desc(409), "version 409");
    }

    #[test]
    fn cpp_reset_body() {
        let mut t = BTreeMap::new();
        t.insert(MessageQueue::new("T", "b", 1), 7);
        assert_eq!(
            String::from_utf8(reset_body_for_c(&t)).unwrap(),
            r#"{"offsetTable":[{"brokerName":"b","offset":7,"queueId":1,"topic":"T"}]}"#
        );
    }

    #[test]
    fn handled_codes() {
        assert!(handles(rc::GET_CONSUMER_RUNNING_INFO));
        assert!(handles(rc::INVOKE_BROKER_TO_RESET_OFFSET));
        assert!(!handles(rc::LOCK_BATCH_MQ));
    }
}
