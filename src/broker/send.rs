//! The send path: SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and the
//! reply sends SEND_REPLY_MESSAGE / SEND_REPLY_MESSAGE_V2 (324 / 325).
//!
//! What a send goes through (RocketMQ 4.9.8 `SendMessageProcessor`,
//! `AbstractSendMessageProcessor.msgCheck`, `ReplyMessageProcessor`; remoting-protocol.md §10,
//! broker-behaviour.md §1, §8, §9):
//!
//! 1. Flow control (not for replies): the page cache is busy or the transient store pool has no
//!    buffer left → SYSTEM_BUSY `[REJECTREQUEST]…`, written in JSON like the Java framework does.
//! 2. The header (V1 long names or V2 one-letter keys) is read in its V1 form; a missing or
//!    ill-typed field → SYSTEM_ERROR naming the field.
//! 3. From here on every response carries the extFields `MSG_REGION` and `TRACE_ON`.
//! 4. `msgCheck`: an order topic on a broker without write permission → NO_PERMISSION; a bad
//!    topic name → SYSTEM_ERROR with Java's remark; a system topic clients may not send to →
//!    NO_PERMISSION; an unknown topic is created from the header's default topic (`TBW102`) or,
//!    for `%RETRY%` topics that template could not create, with 1 queue; still unknown →
//!    TOPIC_NOT_EXIST; `queueId ≥ max(read, write queues)` → SYSTEM_ERROR.
//! 5. `queueId < 0` → a random writable queue.
//! 6. `%RETRY%<group>`: the subscription group must exist (or be auto-created); once
//!    `reconsumeTimes ≥ maxReconsumeTimes` the message goes to `%DLQ%<group>` instead.
//! 7. The stored properties are the request's minus `WAIT` plus `CLUSTER`, re-serialized in the
//!    iteration order of the Java `HashMap` the Java broker holds them in, so the stored bytes
//!    are the Java broker's. `WAIT` decides whether a SYNC_FLUSH store answers only once the
//!    message is durable.
//! 8. `TRAN_MSG=true` → a half message in `RMQ_SYS_TRANS_HALF_TOPIC` queue 0 (NO_PERMISSION when
//!    `rejectTransactionMessage`).
//! 9. Otherwise, the 5.x timer properties (`TIMER_DELIVER_MS` / `TIMER_DELAY_SEC` /
//!    `TIMER_DELAY_MS`) are decided on by `timer::hook`: park in `rmq_sys_wheel_timer`, drop
//!    them (a `DELAY` level wins), or refuse (MESSAGE_ILLEGAL / SYSTEM_ERROR, 5.x's remarks).
//! 10. The store's answer is mapped to a response code (broker-behaviour.md §1.1).
//!
//! One-way sends are processed the same way; their response is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use apogee_codec::body::{TopicConfig, TopicFilterType};
use apogee_codec::codes::{request as rc, response, version};
use apogee_codec::header::{
    decode_send_request, is_send_v2_code, SendMessageRequestHeader, SendMessageResponseHeader,
    MSG_REGION_KEY, TRACE_ON_KEY,
};
use apogee_codec::message::{find_property, iter_batch, keys, sysflag, MessageProperties};
use apogee_codec::{CodecError, ErrorKind, ExtFields, RemotingCommand, SerializeType};
use log::{info, warn};

use super::processor::not_supported;
use super::timer::{self, hook::Decision, hook::TIMER_TOPIC};
use super::BrokerInner;
use crate::remoting::{Connection, Reply};
use crate::store::config_files::topics::{
    dlq_topic, is_not_allowed_send_topic, perm, validate_topic, DLQ_NUMS_PER_GROUP,
    RETRY_GROUP_TOPIC_PREFIX, TOPIC_MAX_LENGTH, TRANS_HALF_TOPIC,
};
use crate::store::message_inner::{BatchInner, MessageInner};
use crate::store::results::{PutMessageResult, PutMessageStatus};
use crate::store::sys::now_ms;

/// Remark of the flow-control answer (Java's `rejectRequest` path).
pub const REJECT_REQUEST_REMARK: &str =
    "[REJECTREQUEST]system busy, start flow control for a while";

/// Java `FAQUrl.suggestTodo(APPLY_TOPIC_URL)` (also used for missing subscription groups).
const FAQ_SUFFIX: &str = "\nSee http://rocketmq.apache.org/docs/faq/ for further details.";

/// Topic sys-flag bits (Java `TopicSysFlag`).
const TOPIC_FLAG_UNIT: i32 = 0x1;
const TOPIC_FLAG_UNIT_SUB: i32 = 0x2;

/// Entry point for codes 10, 310, 320, 324 and 325.
pub async fn process(b: &Arc<BrokerInner>, conn: &Arc<Connection>, req: RemotingCommand) -> Reply {
    let resp = match req.code {
        rc::SEND_MESSAGE | rc::SEND_MESSAGE_V2 | rc::SEND_BATCH_MESSAGE => {
            send(b, conn, &req).await
        }
        rc::SEND_REPLY_MESSAGE | rc::SEND_REPLY_MESSAGE_V2 => send_reply(b, conn, &req).await,
        _ => return not_supported(&req),
    };
    if req.is_oneway() {
        // Stored (or refused) all the same; nobody waits for the answer.
        Reply::None
    } else {
        Reply::Command(resp)
    }
}

// ---- the common part ------------------------------------------------------------------------

/// What a send request resolved to after the checks.
struct Checked {
    header: SendMessageRequestHeader,
    /// The target topic's config.
    topic_config: TopicConfig,
    /// The queue the message goes to (random when the header asked for < 0). This is also the
    /// `queueId` of the response, even when the message is redirected (DLQ, half topic).
    queue_id: i32,
}

async fn send(
    b: &Arc<BrokerInner>,
    conn: &Arc<Connection>,
    req: &RemotingCommand,
) -> RemotingCommand {
    if let Some(busy) = flow_control(b, req) {
        return busy;
    }
    let header = match read_header(req) {
        Ok(h) => h,
        Err(resp) => return *resp,
    };
    let checked = match check(b, conn, req, header) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    if checked.header.batch || req.code == rc::SEND_BATCH_MESSAGE {
        send_batch(b, conn, req, checked).await
    } else {
        send_single(b, conn, req, checked).await
    }
}

/// SYSTEM_BUSY when the store asks for flow control. Java writes this answer from its
/// framework, in the server's default serialization (JSON), not the request's.
pub(crate) fn flow_control(b: &BrokerInner, req: &RemotingCommand) -> Option<RemotingCommand> {
    let busy = b.store.is_os_page_cache_busy() || b.store.transient_buffers_available() == Some(0);
    busy.then(|| {
        let mut r = RemotingCommand::error_to(req, response::SYSTEM_BUSY, REJECT_REQUEST_REMARK);
        r.serialize_type = SerializeType::Json;
        r
    })
}

/// The send header in its V1 form; a missing or ill-typed field is a SYSTEM_ERROR naming it
/// (for V2 headers the remark also gives the field's long name).
fn read_header(req: &RemotingCommand) -> Result<SendMessageRequestHeader, Box<RemotingCommand>> {
    let empty = ExtFields::new();
    let fields = req.ext_fields.as_ref().unwrap_or(&empty);
    decode_send_request(req.code, fields).map_err(|e| {
        let mut remark = e.to_string();
        if is_send_v2_code(req.code) {
            if let Some(long) = error_field(&e).and_then(v2_long_name) {
                remark.push_str(&format!(" ({long})"));
            }
        }
        Box::new(RemotingCommand::error_to(
            req,
            response::SYSTEM_ERROR,
            remark,
        ))
    })
}

fn error_field(e: &CodecError) -> Option<&str> {
    match &e.kind {
        ErrorKind::MissingField(f) => Some(f),
        ErrorKind::InvalidField { field, .. } => Some(field.as_str()),
        _ => None,
    }
}

/// The V1 name of a V2 send header key.
fn v2_long_name(key: &str) -> Option<&'static str> {
    Some(match key {
        "a" => "producerGroup",
        "b" => "topic",
        "c" => "defaultTopic",
        "d" => "defaultTopicQueueNums",
        "e" => "queueId",
        "f" => "sysFlag",
        "g" => "bornTimestamp",
        "h" => "flag",
        "i" => "properties",
        "j" => "reconsumeTimes",
        "k" => "unitMode",
        "l" => "maxReconsumeTimes",
        "m" => "batch",
        "n" => "brokerName",
        _ => return None,
    })
}

/// A send response with the extFields every send response carries (`MSG_REGION`, `TRACE_ON`).
fn base_response(b: &BrokerInner, req: &RemotingCommand, code: i32) -> RemotingCommand {
    let mut r = RemotingCommand::response_to(req, code);
    let f = r.ext_mut();
    f.insert(MSG_REGION_KEY, b.config.region_id.clone());
    f.insert(TRACE_ON_KEY, b.config.trace_on.to_string());
    r
}

fn error_response(
    b: &BrokerInner,
    req: &RemotingCommand,
    code: i32,
    remark: impl Into<String>,
) -> RemotingCommand {
    base_response(b, req, code).with_remark(remark)
}

/// Java `msgCheck` plus the queue choice: everything that can refuse a send before the
/// message is built.
fn check(
    b: &Arc<BrokerInner>,
    conn: &Connection,
    req: &RemotingCommand,
    header: SendMessageRequestHeader,
) -> Result<Checked, Box<RemotingCommand>> {
    let topics = &b.configs.topics;
    let topic = header.topic.as_str();

    // Without write permission only order topics are refused here (as in Java: other topics
    // are kept away by their routes, which lose the write permission).
    if !perm::is_writeable(b.config.broker_permission) && topics.get(topic).is_some_and(|t| t.order)
    {
        return Err(Box::new(error_response(
            b,
            req,
            response::NO_PERMISSION,
            format!(
                "the broker[{}] sending message is forbidden",
                b.store_host.ip()
            ),
        )));
    }
    if let Err(e) = validate_topic(topic) {
        return Err(Box::new(error_response(
            b,
            req,
            response::SYSTEM_ERROR,
            e.to_string(),
        )));
    }
    if is_not_allowed_send_topic(topic) {
        return Err(Box::new(error_response(
            b,
            req,
            response::NO_PERMISSION,
            format!("Sending message to topic[{topic}] is forbidden."),
        )));
    }

    let topic_config = match topics.get(topic) {
        Some(tc) => tc,
        None => create_topic(b, conn, &header).ok_or_else(|| {
            Box::new(error_response(
                b,
                req,
                response::TOPIC_NOT_EXIST,
                format!("topic[{topic}] not exist, apply first please!{FAQ_SUFFIX}"),
            ))
        })?,
    };

    let limit = topic_config
        .write_queue_nums
        .max(topic_config.read_queue_nums);
    if header.queue_id >= limit {
        let remark = format!(
            "request queueId[{}] is illegal, {} Producer: {}",
            header.queue_id,
            java_topic_config_string(&topic_config),
            conn.peer()
        );
        warn!("{remark}");
        return Err(Box::new(error_response(
            b,
            req,
            response::SYSTEM_ERROR,
            remark,
        )));
    }
    let queue_id = if header.queue_id < 0 {
        if topic_config.write_queue_nums <= 0 {
            return Err(Box::new(error_response(
                b,
                req,
                response::SYSTEM_ERROR,
                format!("topic[{topic}] has no writable queue"),
            )));
        }
        random_below(topic_config.write_queue_nums)
    } else {
        header.queue_id
    };
    Ok(Checked {
        header,
        topic_config,
        queue_id,
    })
}

/// Auto-create an unknown topic (broker-behaviour.md §1.6): from the header's default topic,
/// else (for `%RETRY%` topics) with 1 queue and perm R|W.
fn create_topic(
    b: &Arc<BrokerInner>,
    conn: &Connection,
    header: &SendMessageRequestHeader,
) -> Option<TopicConfig> {
    let topics = &b.configs.topics;
    let topic = header.topic.as_str();
    let is_retry = topic.starts_with(RETRY_GROUP_TOPIC_PREFIX);
    let topic_sys_flag = match (header.unit_mode, is_retry) {
        (false, _) => 0,
        (true, true) => TOPIC_FLAG_UNIT_SUB,
        (true, false) => TOPIC_FLAG_UNIT,
    };
    warn!("the topic {topic} not exist, producer: {}", conn.peer());
    let mut created = topics.create_topic_in_send_detailed(
        topic,
        &header.default_topic,
        header.default_topic_queue_nums,
        topic_sys_flag,
    );
    if created.is_none() && is_retry {
        created = Some(topics.create_topic_in_send_back_detailed(
            topic,
            1,
            perm::READ | perm::WRITE,
            topic_sys_flag,
        ));
    }
    let (tc, is_new) = created?;
    if is_new {
        topic_created(b, topic);
    }
    Some(tc)
}

/// A topic was created by a send: the name servers must learn about it now.
fn topic_created(b: &Arc<BrokerInner>, topic: &str) {
    info!(
        "topic {topic} created by a send on broker {}; registering with the name servers",
        b.config.broker_name
    );
    crate::broker::registration::register_soon(b);
}

/// Java `TopicConfig.toString()` (used in the illegal-queue remark).
fn java_topic_config_string(tc: &TopicConfig) -> String {
    let mut p = *b"---";
    if perm::is_readable(tc.perm) {
        p[0] = b'R';
    }
    if perm::is_writeable(tc.perm) {
        p[1] = b'W';
    }
    if perm::is_inherited(tc.perm) {
        p[2] = b'X';
    }
    format!(
        "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, \
         topicFilterType={}, topicSysFlag={}, order={}]",
        tc.topic_name,
        tc.read_queue_nums,
        tc.write_queue_nums,
        String::from_utf8_lossy(&p),
        tc.topic_filter_type,
        tc.topic_sys_flag,
        tc.order
    )
}

/// A number in `[0, n)` (n > 0); for picking a queue, so cheap and well spread is enough.
pub(crate) fn random_below(n: i32) -> i32 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // splitmix64 over a shared counter, mixed with the clock.
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(seed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let n = u64::from(n.max(1).unsigned_abs());
    (z % n) as i32
}

/// Java `Boolean.parseBoolean`.
fn java_bool(v: &str) -> bool {
    v.eq_ignore_ascii_case("true")
}

/// The `MULTI_TAGS` bit for MULTI_TAG topics.
fn with_topic_flags(sys_flag: i32, tc: &TopicConfig) -> i32 {
    if tc.topic_filter_type == TopicFilterType::MultiTag {
        sys_flag | sysflag::MULTI_TAGS
    } else {
        sys_flag
    }
}

// ---- properties -----------------------------------------------------------------------------

/// The request's properties as Java's `string2messageProperties` leaves them: one entry per
/// name, at the position of its first occurrence, holding its last value.
fn parse_request_properties(raw: Option<&str>) -> MessageProperties {
    match raw {
        Some(s) => MessageProperties::parse_str(s)
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        None => MessageProperties::new(),
    }
}

/// The Java broker's property map of a single send, after `putProperty(CLUSTER)` and the
/// removal of `WAIT`. Entries are kept in insertion order; they are put in Java `HashMap`
/// iteration order only when encoded (a stable sort by bucket reproduces the chains).
struct SendProperties {
    map: MessageProperties,
    /// The removed `WAIT` value.
    wait: Option<String>,
    /// Most entries the Java map held at once (sizes its table).
    max_entries: usize,
}

impl SendProperties {
    fn new(raw: Option<&str>, cluster: &str) -> Self {
        let mut map = parse_request_properties(raw);
        map.insert(keys::CLUSTER, cluster);
        let max_entries = map.len();
        let wait = map.remove(keys::WAIT);
        SendProperties {
            map,
            wait,
            max_entries,
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        if key == keys::WAIT {
            return self.wait.as_deref();
        }
        self.map.get(key)
    }

    /// `WAIT` absent or `true`: a SYNC_FLUSH store answers once the message is durable.
    fn wait_store_msg_ok(&self) -> bool {
        self.wait.as_deref().is_none_or(java_bool)
    }

    /// The stored string of an ordinary message: without `WAIT`.
    fn encode_stored(&self) -> Vec<u8> {
        let mut p = self.map.clone();
        p.sort_java_hash_map_order(self.max_entries);
        p.encode()
    }

    /// The map as Java holds it after the send path put `WAIT` back (it goes to the end of the
    /// insertion order). Java serializes this map again when it rewrites a message later (half
    /// messages, delayed messages), so those stored strings do contain `WAIT`.
    fn with_wait(&self) -> MessageProperties {
        let mut p = self.map.clone();
        if let Some(w) = &self.wait {
            p.insert(keys::WAIT, w.clone());
        }
        p
    }

    /// `with_wait` in Java order.
    fn encode_with_wait(&self) -> Vec<u8> {
        let mut p = self.with_wait();
        let n = self.max_entries.max(p.len());
        p.sort_java_hash_map_order(n);
        p.encode()
    }

    /// The stored string of a half message: `with_wait` plus `REAL_TOPIC` / `REAL_QID`.
    fn encode_half(&self, real_topic: &str, real_queue_id: i32) -> Vec<u8> {
        let mut p = self.with_wait();
        p.insert(keys::REAL_TOPIC, real_topic);
        p.insert(keys::REAL_QID, real_queue_id.to_string());
        let n = self.max_entries.max(p.len());
        p.sort_java_hash_map_order(n);
        p.encode()
    }

    /// The stored string of a timer message parked in `rmq_sys_wheel_timer`: `with_wait`
    /// plus `TIMER_OUT_MS`, `REAL_TOPIC` and `REAL_QID` (5.x `transformTimerMessage`).
    fn encode_timer(&self, real_topic: &str, real_queue_id: i32, deliver_ms: i64) -> Vec<u8> {
        let mut p = self.with_wait();
        p.insert(timer::hook::keys::TIMER_OUT_MS, deliver_ms.to_string());
        p.insert(keys::REAL_TOPIC, real_topic);
        p.insert(keys::REAL_QID, real_queue_id.to_string());
        let n = self.max_entries.max(p.len());
        p.sort_java_hash_map_order(n);
        p.encode()
    }

    /// `DELAY` wins over the timer properties: drop them (5.x `checkIfTimerMessage`).
    fn remove_timer_keys(&mut self) {
        for k in timer::hook::keys::REQUEST {
            self.map.remove(k);
        }
    }
}

/// Whether the store will move the message to SCHEDULE_TOPIC_XXXX (the same test the store's
/// delay rewrite makes: transaction type NOT or COMMIT and a positive `DELAY`).
fn store_will_delay(sys_flag: i32, delay: Option<&str>) -> bool {
    let tx = sys_flag & sysflag::TRANSACTION_MASK;
    if tx != sysflag::TRANSACTION_NOT_TYPE && tx != sysflag::TRANSACTION_COMMIT_TYPE {
        return false;
    }
    delay
        .and_then(|v| v.trim().parse::<i64>().ok())
        .is_some_and(|l| l > 0)
}

// ---- single messages ------------------------------------------------------------------------

async fn send_single(
    b: &Arc<BrokerInner>,
    conn: &Connection,
    req: &RemotingCommand,
    c: Checked,
) -> RemotingCommand {
    let h = &c.header;
    let mut topic = h.topic.clone();
    let mut store_queue_id = c.queue_id;
    let mut topic_config = c.topic_config.clone();

    // Retry topic: the group must exist; past the retry limit the message goes to the DLQ.
    if let Some(group) = h.topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX) {
        let Some(sub) = b
            .configs
            .subscription_groups
            .find_or_create(group, b.config.auto_create_subscription_group)
        else {
            return error_response(
                b,
                req,
                response::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("subscription group not exist, {group} {FAQ_SUFFIX}"),
            );
        };
        let mut max_reconsume_times = sub.retry_max_times;
        if req.version >= version::V3_4_9 {
            if let Some(m) = h.max_reconsume_times {
                max_reconsume_times = m;
            }
        }
        let reconsume_times = h.reconsume_times.unwrap_or(0);
        if reconsume_times >= max_reconsume_times {
            let dlq = dlq_topic(group);
            let (tc, is_new) = b.configs.topics.create_topic_in_send_back_detailed(
                &dlq,
                DLQ_NUMS_PER_GROUP,
                perm::READ | perm::WRITE,
                0,
            );
            if is_new {
                topic_created(b, &dlq);
            }
            info!(
                "message to {} reached reconsumeTimes {reconsume_times} (max \
                 {max_reconsume_times}): to {dlq}",
                h.topic
            );
            store_queue_id = random_below(DLQ_NUMS_PER_GROUP);
            topic = dlq;
            topic_config = tc;
            // Java 4.9.8 also sets the delay level to 0 here, but on a property map it then
            // replaces with the request's: a DELAY from the request is kept, so such a message
            // reaches the DLQ through SCHEDULE_TOPIC_XXXX. Kept as is for identical records.
        }
    }

    let mut sys_flag = with_topic_flags(h.sys_flag, &topic_config);
    let mut props = SendProperties::new(h.properties.as_deref(), &b.config.broker_cluster_name);
    let wait = props.wait_store_msg_ok();
    let half = props.get(keys::TRAN_MSG).is_some_and(java_bool);

    let mut transaction_id = None;
    let properties = if half {
        if b.config.reject_transaction_message {
            return error_response(
                b,
                req,
                response::NO_PERMISSION,
                format!(
                    "the broker[{}] sending transaction message is forbidden",
                    b.store_host.ip()
                ),
            );
        }
        let p = props.encode_half(&topic, store_queue_id);
        transaction_id = props.get(keys::UNIQ_KEY).map(str::to_owned);
        sys_flag = (sys_flag & !sysflag::TRANSACTION_MASK) | sysflag::TRANSACTION_NOT_TYPE;
        topic = TRANS_HALF_TOPIC.to_owned();
        store_queue_id = 0;
        p
    } else {
        // 5.x timer messages (TIMER_DELIVER_MS / TIMER_DELAY_SEC / TIMER_DELAY_MS).
        let limits = timer::limits(b.store.config());
        let decision = timer::hook::decide(limits, sys_flag, &topic, |k| props.get(k), now_ms());
        match decision {
            Decision::Reject { code, remark } => return error_response(b, req, code, remark),
            Decision::Schedule { deliver_ms } => {
                let p = props.encode_timer(&topic, store_queue_id, deliver_ms);
                topic = TIMER_TOPIC.to_owned();
                store_queue_id = 0;
                p
            }
            Decision::DropTimerKeys | Decision::Plain => {
                if decision == Decision::DropTimerKeys {
                    props.remove_timer_keys();
                }
                if store_will_delay(sys_flag, props.get(keys::DELAY)) {
                    // The store rewrites this message to SCHEDULE_TOPIC_XXXX and serializes
                    // the map again: hand it the map Java would then hold (with WAIT).
                    props.encode_with_wait()
                } else {
                    props.encode_stored()
                }
            }
        }
    };

    let msg = MessageInner {
        topic,
        queue_id: store_queue_id,
        flag: h.flag,
        sys_flag,
        born_timestamp: h.born_timestamp,
        born_host: conn.peer(),
        store_host: b.store_host,
        reconsume_times: h.reconsume_times.unwrap_or(0),
        prepared_transaction_offset: 0,
        body: req.body.clone(),
        properties,
    };
    let result = b.store.put_message(msg, wait).await;
    put_response(b, req, result, c.queue_id, transaction_id)
}

// ---- batches --------------------------------------------------------------------------------

async fn send_batch(
    b: &Arc<BrokerInner>,
    conn: &Connection,
    req: &RemotingCommand,
    c: Checked,
) -> RemotingCommand {
    let h = &c.header;
    let illegal = |why: String| error_response(b, req, response::MESSAGE_ILLEGAL, why);
    if h.topic.len() > TOPIC_MAX_LENGTH {
        return illegal(format!("message topic length too long {}", h.topic.len()));
    }
    if h.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        return illegal(format!(
            "batch messages cannot be sent to the retry topic {}",
            h.topic
        ));
    }
    if h.sys_flag & sysflag::TRANSACTION_MASK != sysflag::TRANSACTION_NOT_TYPE {
        return illegal("batch messages cannot be transactional".into());
    }

    let batch_props = batch_properties(h.properties.as_deref(), &b.config.broker_cluster_name);
    if batch_props.get(keys::TRAN_MSG).is_some_and(java_bool) {
        return illegal("batch messages cannot be transactional".into());
    }
    if positive_level(batch_props.get(keys::DELAY).map(str::as_bytes)) {
        return illegal("batch messages cannot be delayed".into());
    }
    let wait = batch_props.get(keys::WAIT).is_none_or(java_bool);

    if req.body.is_empty() {
        return illegal("empty batch".into());
    }
    for entry in iter_batch(&req.body).ignore_total_size() {
        let e = match entry {
            Ok(e) => e,
            Err(e) => return illegal(format!("bad batch body: {e}")),
        };
        if find_property(e.properties, keys::TRAN_MSG)
            .is_some_and(|v| java_bool(&String::from_utf8_lossy(v)))
        {
            return illegal("batch messages cannot be transactional".into());
        }
        if positive_level(find_property(e.properties, keys::DELAY)) {
            return illegal("batch messages cannot be delayed".into());
        }
    }

    let batch = BatchInner {
        topic: h.topic.clone(),
        queue_id: c.queue_id,
        sys_flag: with_topic_flags(h.sys_flag, &c.topic_config),
        born_timestamp: h.born_timestamp,
        born_host: conn.peer(),
        store_host: b.store_host,
        reconsume_times: h.reconsume_times.unwrap_or(0),
        body: req.body.clone(),
        batch_properties: batch_props.encode(),
    };
    let result = b.store.put_messages(batch, wait).await;
    put_response(b, req, result, c.queue_id, None)
}

/// Batch-level properties: the header's plus `CLUSTER`, in Java map order. Unlike a single
/// send, Java keeps `WAIT` here, so each stored record of a batch carries the batch-level
/// `WAIT` after its own properties (often `WAIT` twice).
fn batch_properties(raw: Option<&str>, cluster: &str) -> MessageProperties {
    let mut p = parse_request_properties(raw);
    p.insert(keys::CLUSTER, cluster);
    let n = p.len();
    p.sort_java_hash_map_order(n);
    p
}

/// A `DELAY` value above 0.
fn positive_level(v: Option<&[u8]>) -> bool {
    v.and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .is_some_and(|l| l > 0)
}

// ---- reply messages -------------------------------------------------------------------------

/// SEND_REPLY_MESSAGE(_V2): a consumer answering a request message. Checked like a send, then
/// stored as is (Java keeps the request's properties string verbatim for replies: no CLUSTER
/// added, WAIT kept; replies carry CLUSTER already) when `storeReplyMessageEnable`.
///
/// Java also pushes the reply to the requesting client (PUSH_REPLY_MESSAGE_TO_CLIENT to the
/// producer channel named by `REPLY_TO_CLIENT`) and answers with the push's outcome; that push
/// is not done here (it needs the producer-channel lookup of the client manager), so the
/// answer is the store's.
async fn send_reply(
    b: &Arc<BrokerInner>,
    conn: &Arc<Connection>,
    req: &RemotingCommand,
) -> RemotingCommand {
    let header = match read_header(req) {
        Ok(h) => h,
        Err(resp) => return *resp,
    };
    let c = match check(b, conn, req, header) {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    let h = &c.header;
    let raw = h.properties.as_deref().unwrap_or("");
    if !b.config.store_reply_message_enable {
        let requester = MessageProperties::parse_str(raw)
            .get(keys::REPLY_TO_CLIENT)
            .map(str::to_owned);
        let remark = match requester {
            Some(id) => format!("push reply message fail, channel of <{id}> not found."),
            None => format!(
                "reply message properties[{}] is null",
                keys::REPLY_TO_CLIENT
            ),
        };
        return error_response(b, req, response::SYSTEM_ERROR, remark);
    }
    let wait = find_property(raw.as_bytes(), keys::WAIT)
        .is_none_or(|v| java_bool(&String::from_utf8_lossy(v)));
    let msg = MessageInner {
        topic: h.topic.clone(),
        queue_id: c.queue_id,
        flag: h.flag,
        // Java leaves the stored sysFlag of a reply at 0, losing e.g. the compression bit;
        // the header's flags are kept here so that the stored body stays readable.
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        born_host: conn.peer(),
        store_host: b.store_host,
        reconsume_times: h.reconsume_times.unwrap_or(0),
        prepared_transaction_offset: 0,
        body: req.body.clone(),
        properties: raw.as_bytes().to_vec(),
    };
    let result = b.store.put_message(msg, wait).await;
    put_response(b, req, result, c.queue_id, None)
}

// ---- store result → response ----------------------------------------------------------------

/// Map the store's answer to the send response (broker-behaviour.md §1.1). The four "stored"
/// statuses carry the response header; the others a remark with Java's text (and the store's
/// reason, when it gave one).
fn put_response(
    b: &BrokerInner,
    req: &RemotingCommand,
    result: PutMessageResult,
    queue_id: i32,
    transaction_id: Option<String>,
) -> RemotingCommand {
    let code = match result.status {
        PutMessageStatus::PutOk => response::SUCCESS,
        PutMessageStatus::FlushDiskTimeout => response::FLUSH_DISK_TIMEOUT,
        PutMessageStatus::FlushSlaveTimeout => response::FLUSH_SLAVE_TIMEOUT,
        PutMessageStatus::SlaveNotAvailable => response::SLAVE_NOT_AVAILABLE,
        PutMessageStatus::MessageIllegal | PutMessageStatus::PropertiesSizeExceeded => {
            response::MESSAGE_ILLEGAL
        }
        PutMessageStatus::ServiceNotAvailable => response::SERVICE_NOT_AVAILABLE,
        PutMessageStatus::CreateMappedFileFailed
        | PutMessageStatus::OsPageCacheBusy
        | PutMessageStatus::UnknownError => response::SYSTEM_ERROR,
    };
    if result.status.is_stored() {
        let Some(a) = result.append else {
            return error_response(
                b,
                req,
                response::SYSTEM_ERROR,
                "store putMessage return null",
            );
        };
        let header = SendMessageResponseHeader {
            msg_id: a.msg_id,
            queue_id,
            queue_offset: a.logics_offset,
            transaction_id,
            msg_region: Some(b.config.region_id.clone()),
            trace_on: Some(b.config.trace_on),
            ..Default::default()
        };
        let mut r = base_response(b, req, code).with_header(&header);
        if let Some(why) = result.remark {
            // e.g. a flush failure behind FLUSH_DISK_TIMEOUT
            r.remark = Some(why);
        }
        return r;
    }
    let java = match result.status {
        PutMessageStatus::CreateMappedFileFailed => {
            "create mapped file failed, server is busy or broken.".to_owned()
        }
        PutMessageStatus::MessageIllegal | PutMessageStatus::PropertiesSizeExceeded => format!(
            "the message is illegal, maybe msg body or properties length not matched. msg body \
             length limit {}B, msg properties length limit 32KB.",
            b.store.config().max_message_size
        ),
        PutMessageStatus::ServiceNotAvailable => format!(
            "service not available now. It may be caused by one of the following reasons: the \
             broker's disk is full [{}], messages are put to the slave, message store has been \
             shut down, etc.",
            disk_util(b)
        ),
        PutMessageStatus::OsPageCacheBusy => {
            "[PC_SYNCHRONIZED]broker busy, start flow control for a while".to_owned()
        }
        _ => "UNKNOWN_ERROR".to_owned(),
    };
    let remark = match result.remark {
        Some(why) if !why.is_empty() && result.status != PutMessageStatus::OsPageCacheBusy => {
            format!("{java} ({why})")
        }
        _ => java,
    };
    error_response(b, req, code, remark)
}

/// Java `diskUtil()`: used fractions of the CommitLog, consume-queue and index partitions.
fn disk_util(b: &BrokerInner) -> String {
    let c = b.store.config();
    let ratio = |p: std::path::PathBuf| b.store.disk_ratio(&p);
    format!(
        "CL: {:5.2} CQ: {:5.2} INDEX: {:5.2}",
        ratio(c.commit_log_dir()),
        ratio(c.consume_queue_dir()),
        ratio(c.index_dir())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(entries: &[(&str, &str)]) -> String {
        let mut s = String::new();
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 {
                s.push('\u{2}');
            }
            s.push_str(k);
            s.push('\u{1}');
            s.push_str(v);
        }
        s
    }

    fn entries(raw: &[u8]) -> Vec<(String, String)> {
        MessageProperties::parse(raw)
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn stored_properties_drop_wait_and_add_cluster() {
        let raw = props(&[
            ("KEYS", "k1 k2"),
            ("UNIQ_KEY", "7F0000010001000000000000000A0001"),
            ("WAIT", "true"),
            ("TAGS", "TagA"),
        ]);
        let p = SendProperties::new(Some(&raw), "C1");
        assert!(p.wait_store_msg_ok());
        let stored = p.encode_stored();
        let e = entries(&stored);
        assert_eq!(e.len(), 4);
        assert!(e.iter().all(|(k, _)| k != "WAIT"));
        assert!(e.contains(&("CLUSTER".into(), "C1".into())));
        assert!(e.contains(&("TAGS".into(), "TagA".into())));
        // No trailing separator (4.9.8 form).
        assert_ne!(stored.last(), Some(&0x02));
        // The Java HashMap order: sorted by bucket of a 16-slot table.
        let mut expected = MessageProperties::parse(&stored);
        expected.sort_java_hash_map_order(5);
        assert_eq!(expected.encode(), stored);
    }

    #[test]
    fn wait_false_and_absent() {
        let p = SendProperties::new(Some(&props(&[("WAIT", "false")])), "C");
        assert!(!p.wait_store_msg_ok());
        assert_eq!(p.encode_stored(), b"CLUSTER\x01C".to_vec());
        let p = SendProperties::new(Some(&props(&[("WAIT", "TRUE")])), "C");
        assert!(p.wait_store_msg_ok());
        let p = SendProperties::new(None, "C");
        assert!(p.wait_store_msg_ok());
        assert_eq!(p.encode_stored(), b"CLUSTER\x01C".to_vec());
    }

    #[test]
    fn duplicates_and_existing_cluster() {
        // Last value wins at the first position; an existing CLUSTER is overwritten in place.
        let raw = props(&[("A", "1"), ("CLUSTER", "x"), ("A", "2")]);
        let p = SendProperties::new(Some(&raw), "C");
        let e = entries(&p.encode_stored());
        assert_eq!(e.len(), 2);
        assert!(e.contains(&("A".into(), "2".into())));
        assert!(e.contains(&("CLUSTER".into(), "C".into())));
    }

    #[test]
    fn half_message_properties_keep_wait_and_add_real_fields() {
        let raw = props(&[("TRAN_MSG", "true"), ("PGROUP", "pg"), ("WAIT", "true")]);
        let p = SendProperties::new(Some(&raw), "C");
        let e = entries(&p.encode_half("T", 3));
        for want in [
            ("TRAN_MSG", "true"),
            ("PGROUP", "pg"),
            ("WAIT", "true"),
            ("CLUSTER", "C"),
            ("REAL_TOPIC", "T"),
            ("REAL_QID", "3"),
        ] {
            assert!(e.contains(&(want.0.into(), want.1.into())), "{want:?}");
        }
        assert_eq!(e.len(), 6);
    }

    #[test]
    fn delay_detection_matches_the_store() {
        assert!(store_will_delay(0, Some("3")));
        assert!(store_will_delay(
            sysflag::TRANSACTION_COMMIT_TYPE,
            Some(" 2 ")
        ));
        assert!(!store_will_delay(
            sysflag::TRANSACTION_PREPARED_TYPE,
            Some("3")
        ));
        assert!(!store_will_delay(0, Some("0")));
        assert!(!store_will_delay(0, Some("x")));
        assert!(!store_will_delay(0, None));
        assert!(positive_level(Some(b"1")));
        assert!(!positive_level(Some(b"-1")));
    }

    #[test]
    fn random_queue_stays_in_range() {
        let mut seen = [false; 4];
        for _ in 0..1000 {
            let q = random_below(4);
            assert!((0..4).contains(&q));
            seen[q as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(random_below(1), 0);
        assert_eq!(random_below(0), 0);
    }

    #[test]
    fn java_topic_config_text() {
        let tc = TopicConfig {
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm: 7,
            ..TopicConfig::new("T")
        };
        assert_eq!(
            java_topic_config_string(&tc),
            "TopicConfig [topicName=T, readQueueNums=4, writeQueueNums=4, perm=RWX, \
             topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false]"
        );
    }

    /// Stored properties strings written by the Java 4.9.8 broker (shared fixtures): the
    /// client's string is rebuilt from each record (order within a hash bucket is the only
    /// thing the stored string tells about the client's insertion order, and it is kept), sent
    /// through our property handling and compared byte for byte.
    #[test]
    fn properties_match_the_java_broker_byte_for_byte() {
        use crate::store::test_support::json_lines;
        let strip = |raw: &str, drop: &[&str]| -> MessageProperties {
            MessageProperties::parse_str(raw)
                .iter()
                .filter(|(k, _)| !drop.contains(k))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        };
        // What a Java client sends: its own HashMap's order.
        let client_string = |mut p: MessageProperties| -> String {
            if !p.contains_key(keys::WAIT) {
                p.insert(keys::WAIT, "true");
            }
            let n = p.len();
            p.sort_java_hash_map_order(n);
            String::from_utf8(p.encode()).unwrap()
        };
        let (mut plain, mut delayed, mut half, mut batch) = (0, 0, 0, 0);
        for m in json_lines("manifest-clean.jsonl") {
            if m["type"] != "message" {
                continue;
            }
            let topic = m["topic"].as_str().unwrap();
            let raw = m["propertiesRaw"].as_str().unwrap();
            let real_topic = m["properties"]["REAL_TOPIC"].as_str().unwrap_or("");
            match topic {
                "FixA" | "FixOrder" => {
                    let sent = client_string(strip(raw, &["CLUSTER"]));
                    let p = SendProperties::new(Some(&sent), "DefaultCluster");
                    assert_eq!(String::from_utf8(p.encode_stored()).unwrap(), raw);
                    plain += 1;
                }
                "SCHEDULE_TOPIC_XXXX" if real_topic == "FixDelay" => {
                    let drop = ["CLUSTER", "REAL_TOPIC", "REAL_QID"];
                    let sent = client_string(strip(raw, &drop));
                    let p = SendProperties::new(Some(&sent), "DefaultCluster");
                    assert!(store_will_delay(0, p.get(keys::DELAY)));
                    // What the store's delay rewrite then does to the string we hand it.
                    let mut s = MessageProperties::parse(&p.encode_with_wait());
                    s.insert(keys::REAL_TOPIC, "FixDelay");
                    s.insert(
                        keys::REAL_QID,
                        m["properties"]["REAL_QID"].as_str().unwrap(),
                    );
                    let n = s.len();
                    s.sort_java_hash_map_order(n);
                    assert_eq!(String::from_utf8(s.encode()).unwrap(), raw);
                    delayed += 1;
                }
                "RMQ_SYS_TRANS_HALF_TOPIC"
                    if m["properties"]["TRANSACTION_CHECK_TIMES"].is_null() =>
                {
                    let drop = ["CLUSTER", "REAL_TOPIC", "REAL_QID"];
                    let sent = client_string(strip(raw, &drop));
                    let p = SendProperties::new(Some(&sent), "DefaultCluster");
                    let qid: i32 = m["properties"]["REAL_QID"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    let got = p.encode_half(real_topic, qid);
                    assert_eq!(String::from_utf8(got).unwrap(), raw);
                    half += 1;
                }
                "FixB" if raw.ends_with("\u{2}CLUSTER\u{1}DefaultCluster\u{2}WAIT\u{1}true") => {
                    let p = batch_properties(Some("WAIT\u{1}true"), "DefaultCluster");
                    assert!(raw.ends_with(&String::from_utf8(p.encode()).unwrap()));
                    batch += 1;
                }
                _ => {}
            }
        }
        assert!(plain > 4000 && delayed == 10 && half == 24 && batch > 100);
    }

    #[test]
    fn v2_names() {
        assert_eq!(v2_long_name("b"), Some("topic"));
        assert_eq!(v2_long_name("zz"), None);
    }
}
