//! Consumer semantics over raw frames against a real broker: CONSUMER_SEND_MSG_BACK (retry
//! rounds through SCHEDULE_TOPIC_XXXX, then the DLQ), orderly queue locks, connection lists
//! and producer tables, offset resets pushed to live consumers, and requests the broker
//! forwards to a consumer (running info, consume directly, consumer status).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apogee::remoting::{Connection, ConnectionOptions, Handler, RemotingClient, Reply};
use apogee::rt;
use apogee::store::message_inner::MessageInner;
use apogee_codec::body::{
    ConsumerConnection, GetConsumerStatusBody, LockBatchRequestBody, LockBatchResponseBody,
    MessageQueue, ProducerConnection, ProducerTableInfo, ResetOffsetBody, SubscriptionGroupConfig,
    UnlockBatchRequestBody,
};
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::{
    ConsumeMessageDirectlyResultRequestHeader, ConsumerSendMsgBackRequestHeader,
    GetConsumerConnectionListRequestHeader, GetConsumerRunningInfoRequestHeader,
    GetConsumerStatusRequestHeader, GetProducerConnectionListRequestHeader,
    ResetOffsetRequestHeader, ViewMessageRequestHeader,
};
use apogee_codec::message::{decode_record, keys, MessageExt, MessageProperties};
use apogee_codec::{LanguageCode, RemotingCommand, SerializeType};
use bytes::Bytes;
use common::TestBroker;
use futures::future::BoxFuture;

const WAIT_LIMIT: Duration = Duration::from_secs(10);
const SCHEDULE: &str = "SCHEDULE_TOPIC_XXXX";

// ---- helpers ---------------------------------------------------------------------------------

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn create_topic(tb: &TestBroker, topic: &str, queues: i32) {
    tb.broker
        .inner()
        .configs
        .topics
        .create_topic_in_send_back_detailed(topic, queues, 6, 0);
}

/// Store a message and wait until it is dispatched; returns (queue offset, CommitLog offset,
/// offset msg id).
fn put_msg(tb: &TestBroker, msg: MessageInner) -> (i64, i64, String) {
    let r = tb.broker.store().put_message_blocking(msg, true);
    assert!(r.status.is_stored(), "{r:?}");
    let a = r.append.unwrap();
    assert!(tb.broker.store().wait_dispatched(Duration::from_secs(5)));
    (a.logics_offset, a.wrote_offset, a.msg_id)
}

fn put(tb: &TestBroker, topic: &str, queue_id: i32, props: &MessageProperties, body: &str) -> i64 {
    put_msg(
        tb,
        MessageInner {
            topic: topic.into(),
            queue_id,
            flag: 5,
            sys_flag: 0,
            born_timestamp: now_ms(),
            born_host: "127.0.0.1:40000".parse().unwrap(),
            store_host: tb.addr(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::copy_from_slice(body.as_bytes()),
            properties: props.encode(),
        },
    )
    .1
}

/// The record at a CommitLog offset, read with VIEW_MESSAGE_BY_ID.
fn view(c: &RemotingClient, tb: &TestBroker, phy: i64) -> (MessageExt, Vec<u8>) {
    let req = RemotingCommand::request(rc::VIEW_MESSAGE_BY_ID, 0).with_header(
        &ViewMessageRequestHeader {
            offset: phy,
            topic: None,
        },
    );
    let r = common::call(c, tb.addr(), req);
    assert_eq!(r.code, response::SUCCESS, "{r}");
    let (rec, _) = decode_record(&r.body).expect("a record");
    let raw_props = rec.properties.to_vec();
    (MessageExt::from_record(&rec), raw_props)
}

/// The last record of a queue.
fn last_in_queue(c: &RemotingClient, tb: &TestBroker, topic: &str, q: i32) -> (MessageExt, i64) {
    assert!(tb.broker.store().wait_dispatched(Duration::from_secs(5)));
    let store = tb.broker.store();
    let max = store.max_offset_in_queue(topic, q);
    assert!(max > 0, "{topic}-{q} is empty");
    let phy = store
        .commit_log_offset_in_queue(topic, q, max - 1)
        .expect("CQ unit");
    (view(c, tb, phy).0, phy)
}

/// What the schedule service does when a delayed message is due: the same message, without
/// `DELAY` and with `WAIT=false`, into REAL_TOPIC / REAL_QID. Returns its CommitLog offset.
fn deliver(tb: &TestBroker, m: &MessageExt) -> i64 {
    let mut p = m.properties.clone();
    p.remove(keys::DELAY);
    p.insert(keys::WAIT, "false");
    let topic = p.get(keys::REAL_TOPIC).expect("REAL_TOPIC").to_owned();
    let qid: i32 = p.get(keys::REAL_QID).expect("REAL_QID").parse().unwrap();
    put_msg(
        tb,
        MessageInner {
            topic,
            queue_id: qid,
            flag: m.flag,
            sys_flag: m.sys_flag,
            born_timestamp: m.born_timestamp,
            born_host: m.born_host,
            store_host: m.store_host,
            reconsume_times: m.reconsume_times,
            prepared_transaction_offset: 0,
            body: m.body.clone(),
            properties: p.encode(),
        },
    )
    .1
}

fn send_back_cmd(offset: i64, group: &str, delay_level: i32, max: Option<i32>) -> RemotingCommand {
    let h = ConsumerSendMsgBackRequestHeader {
        offset,
        group: group.into(),
        delay_level,
        origin_msg_id: Some("IGNORED_BY_THE_BROKER".into()),
        origin_topic: Some("IgnoredToo".into()),
        unit_mode: false,
        max_reconsume_times: max,
        ..Default::default()
    };
    RemotingCommand::request(rc::CONSUMER_SEND_MSG_BACK, 0).with_header(&h)
}

fn send_back(
    c: &RemotingClient,
    tb: &TestBroker,
    offset: i64,
    group: &str,
    level: i32,
    max: Option<i32>,
) -> RemotingCommand {
    common::call(c, tb.addr(), send_back_cmd(offset, group, level, max))
}

fn assert_ok(r: &RemotingCommand) {
    assert_eq!(r.code, response::SUCCESS, "{r}");
}

/// The properties string is in the order of a Java `HashMap` holding these entries.
fn assert_java_order(raw: &[u8]) {
    let mut p = MessageProperties::parse(raw);
    let n = p.len();
    p.sort_java_hash_map_order(n);
    assert_eq!(
        p.encode(),
        raw,
        "properties not in Java order: {}",
        String::from_utf8_lossy(raw)
    );
}

/// A Java-style heartbeat: one consumer group (TAG `*` on `topic`) and one producer group.
fn heartbeat(client_id: &str, group: &str, topic: &str, producer_group: &str) -> RemotingCommand {
    let body = serde_json::json!({
        "clientID": client_id,
        "consumerDataSet": [{
            "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET",
            "consumeType": "CONSUME_PASSIVELY",
            "groupName": group,
            "messageModel": "CLUSTERING",
            "subscriptionDataSet": [{
                "classFilterMode": false, "codeSet": [], "expressionType": "TAG",
                "subString": "*", "subVersion": 1, "tagsSet": [], "topic": topic
            }],
            "unitMode": false
        }],
        "producerDataSet": [{"groupName": producer_group}]
    });
    RemotingCommand::request(rc::HEART_BEAT, 0).with_body(serde_json::to_vec(&body).unwrap())
}

/// A consumer: records what the broker sends and answers the broker → client requests.
#[derive(Default)]
struct FakeConsumer {
    got: Mutex<Vec<RemotingCommand>>,
    /// Answer GET_CONSUMER_RUNNING_INFO with SYSTEM_ERROR.
    refuse_running_info: AtomicBool,
}

const RUNNING_INFO: &str = r#"{"jstack":"","mqTable":{},"properties":{"consumeType":"CONSUME_PASSIVELY","PROP_CLIENT_VERSION":"V4_9_8"},"statusTable":{},"subscriptionSet":[]}"#;
const DIRECT_RESULT: &str =
    r#"{"autoCommit":true,"consumeResult":"CR_SUCCESS","order":false,"spentTimeMills":3}"#;

impl FakeConsumer {
    fn received(&self, code: i32) -> Vec<RemotingCommand> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.code == code)
            .cloned()
            .collect()
    }
}

impl Handler for FakeConsumer {
    fn handle(
        self: Arc<Self>,
        _conn: Arc<Connection>,
        req: RemotingCommand,
    ) -> BoxFuture<'static, Reply> {
        self.got.lock().unwrap().push(req.clone());
        let reply = match req.code {
            rc::GET_CONSUMER_RUNNING_INFO if self.refuse_running_info.load(Ordering::SeqCst) => {
                RemotingCommand::error_to(&req, response::SYSTEM_ERROR, "not now").into()
            }
            rc::GET_CONSUMER_RUNNING_INFO => {
                let mut r = RemotingCommand::success_to(&req)
                    .with_body(RUNNING_INFO.as_bytes().to_vec())
                    .with_remark("from the client");
                r.language = LanguageCode::Cpp;
                r.version = 333;
                r.ext_mut().insert("clientSide", "yes");
                r.into()
            }
            rc::CONSUME_MESSAGE_DIRECTLY => RemotingCommand::success_to(&req)
                .with_body(DIRECT_RESULT.as_bytes().to_vec())
                .into(),
            rc::GET_CONSUMER_STATUS_FROM_CLIENT => {
                let mut body = GetConsumerStatusBody::default();
                body.message_queue_table
                    .insert(MessageQueue::new("TopicRun", "broker-test", 0), 42);
                RemotingCommand::success_to(&req)
                    .with_body(body.encode())
                    .into()
            }
            _ => Reply::None,
        };
        Box::pin(async move { reply })
    }
}

fn fake_consumer() -> (RemotingClient, Arc<FakeConsumer>) {
    let f = Arc::new(FakeConsumer::default());
    let c = RemotingClient::new(f.clone(), ConnectionOptions::default());
    (c, f)
}

fn local_addr(c: &RemotingClient, addr: SocketAddr) -> SocketAddr {
    rt::block_on(c.connection(addr)).expect("connect").local()
}

// ---- CONSUMER_SEND_MSG_BACK --------------------------------------------------------------------

#[test]
fn send_back_retries_through_the_schedule_topic_then_goes_to_the_dlq() {
    let tb = common::start_broker();
    let c = common::client();
    create_topic(&tb, "TopicSB", 2);
    let mut p = MessageProperties::new();
    p.insert(keys::TAGS, "TagA");
    p.insert(keys::KEYS, "k1 k2");
    p.insert(keys::UNIQ_KEY, "7F00000100002A9F0000000000000001");
    p.insert(keys::CLUSTER, "DefaultCluster");
    let phy0 = put(&tb, "TopicSB", 1, &p, "please retry me");
    let (original, _) = view(&c, &tb, phy0);
    let origin_id = original.offset_msg_id();

    // Three rounds with maxReconsumeTimes = 3: levels 3, 4, 5 → queues 2, 3, 4.
    let mut phy = phy0;
    for n in 0..3 {
        let r = send_back(&c, &tb, phy, "G_SB", 0, Some(3));
        assert_ok(&r);
        assert_eq!(r.remark, None);
        let (m, sched_phy) = last_in_queue(&c, &tb, SCHEDULE, 3 + n - 1);
        let (_, raw) = view(&c, &tb, sched_phy);
        assert_java_order(&raw);
        assert_eq!(m.topic, SCHEDULE);
        assert_eq!(m.queue_id, 2 + n);
        assert_eq!(m.reconsume_times, n + 1);
        assert_eq!(&m.body[..], b"please retry me");
        assert_eq!(m.flag, 5);
        assert_eq!(m.born_host, original.born_host);
        assert_eq!(m.born_timestamp, original.born_timestamp);
        assert_eq!(m.property(keys::REAL_TOPIC), Some("%RETRY%G_SB"));
        assert_eq!(m.property(keys::REAL_QID), Some("0"));
        assert_eq!(m.property(keys::RETRY_TOPIC), Some("TopicSB"));
        assert_eq!(
            m.property(keys::ORIGIN_MESSAGE_ID),
            Some(origin_id.as_str())
        );
        assert_eq!(m.property(keys::DELAY), Some((3 + n).to_string().as_str()));
        assert_eq!(m.property(keys::WAIT), Some("false"));
        assert_eq!(m.property(keys::TAGS), Some("TagA"));
        assert_eq!(m.property(keys::KEYS), Some("k1 k2"));
        assert_eq!(
            m.property(keys::UNIQ_KEY),
            Some("7F00000100002A9F0000000000000001")
        );
        // The retry topic exists now: 1 queue, R|W.
        let retry = tb
            .broker
            .inner()
            .configs
            .topics
            .get("%RETRY%G_SB")
            .expect("retry topic");
        assert_eq!(
            (retry.read_queue_nums, retry.write_queue_nums, retry.perm),
            (1, 1, 6)
        );
        // The message becomes due and is delivered to the retry topic.
        phy = deliver(&tb, &m);
    }

    // reconsumeTimes 3 ≥ 3: the DLQ.
    let r = send_back(&c, &tb, phy, "G_SB", 0, Some(3));
    assert_ok(&r);
    let (m, dlq_phy) = last_in_queue(&c, &tb, "%DLQ%G_SB", 0);
    assert_java_order(&view(&c, &tb, dlq_phy).1);
    assert_eq!(m.topic, "%DLQ%G_SB");
    assert_eq!(m.reconsume_times, 4);
    assert_eq!(m.property(keys::DELAY), Some("0"));
    assert_eq!(m.property(keys::RETRY_TOPIC), Some("TopicSB"));
    assert_eq!(
        m.property(keys::ORIGIN_MESSAGE_ID),
        Some(origin_id.as_str())
    );
    assert_eq!(&m.body[..], b"please retry me");
    let dlq = tb
        .broker
        .inner()
        .configs
        .topics
        .get("%DLQ%G_SB")
        .expect("DLQ topic");
    assert_eq!(
        (dlq.read_queue_nums, dlq.write_queue_nums, dlq.perm),
        (1, 1, 6)
    );
    assert_eq!(tb.broker.store().max_offset_in_queue("%DLQ%G_SB", 0), 1);

    // delayLevel < 0: straight to the DLQ, whatever the count.
    assert_ok(&send_back(&c, &tb, phy0, "G_SB", -1, Some(3)));
    let (m, _) = last_in_queue(&c, &tb, "%DLQ%G_SB", 0);
    assert_eq!(m.reconsume_times, 1);
    assert_eq!(tb.broker.store().max_offset_in_queue("%DLQ%G_SB", 0), 2);

    // A level chosen by the client; levels above the last are capped (18 → queue 17).
    assert_ok(&send_back(&c, &tb, phy0, "G_SB", 7, None));
    let (m, _) = last_in_queue(&c, &tb, SCHEDULE, 6);
    assert_eq!(m.property(keys::DELAY), Some("7"));
    assert_ok(&send_back(&c, &tb, phy0, "G_SB", 40, None));
    let (m, _) = last_in_queue(&c, &tb, SCHEDULE, 17);
    assert_eq!(m.property(keys::DELAY), Some("18"));

    // Clients older than V3_4_9: the header's maximum is ignored, the group's 16 applies.
    let mut req = send_back_cmd(phy, "G_SB", 0, Some(3));
    req.version = 100;
    assert_ok(&common::call(&c, tb.addr(), req));
    let (m, _) = last_in_queue(&c, &tb, SCHEDULE, 3 + 3 - 1);
    assert_eq!(m.reconsume_times, 4);
    assert_eq!(tb.broker.store().max_offset_in_queue("%DLQ%G_SB", 0), 2);

    // An existing ORIGIN_MESSAGE_ID is kept.
    let mut p2 = p.clone();
    p2.insert(keys::ORIGIN_MESSAGE_ID, "ORIGINAL_ID");
    let phy2 = put(&tb, "TopicSB", 0, &p2, "x");
    assert_ok(&send_back(&c, &tb, phy2, "G_SB", 0, None));
    let (m, _) = last_in_queue(&c, &tb, SCHEDULE, 2);
    assert_eq!(m.property(keys::ORIGIN_MESSAGE_ID), Some("ORIGINAL_ID"));

    // One-way: stored, not answered.
    let before = tb.broker.store().max_offset_in_queue(SCHEDULE, 2);
    rt::block_on(c.invoke_oneway(tb.addr(), send_back_cmd(phy0, "G_SB", 0, None))).unwrap();
    wait_until("the one-way send back", || {
        tb.broker.store().wait_dispatched(Duration::from_secs(1))
            && tb.broker.store().max_offset_in_queue(SCHEDULE, 2) == before + 1
    });
    tb.stop();
}

#[test]
fn send_back_refusals() {
    let tb = common::start_broker();
    let c = common::client();
    create_topic(&tb, "TopicSB", 1);
    let phy = put(&tb, "TopicSB", 0, &MessageProperties::new(), "x");

    // No record there.
    for off in [1_i64 << 40, -5] {
        let r = send_back(&c, &tb, off, "G_SB", 0, None);
        assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
        assert_eq!(
            r.remark.as_deref(),
            Some(format!("look message by offset failed, {off}").as_str())
        );
    }
    // A required header field missing.
    let mut req = send_back_cmd(phy, "G_SB", 0, None);
    req.ext_mut().remove("delayLevel");
    let r = common::call(&c, tb.addr(), req);
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
    assert!(r.remark.unwrap_or_default().contains("delayLevel"));

    // A group without retry queues: SUCCESS, nothing stored.
    let mut g = SubscriptionGroupConfig::new("G_NORETRY");
    g.retry_queue_nums = 0;
    tb.broker
        .inner()
        .configs
        .subscription_groups
        .update(g)
        .unwrap();
    assert_ok(&send_back(&c, &tb, phy, "G_NORETRY", 0, None));
    assert!(tb
        .broker
        .inner()
        .configs
        .topics
        .get("%RETRY%G_NORETRY")
        .is_none());
    tb.stop();

    // No auto-created groups, broker read-only.
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut bc, sc) = common::configs(dir.path(), None);
    bc.auto_create_subscription_group = false;
    bc.broker_permission = 4;
    let tb = common::start_broker_with(bc, sc, dir);
    create_topic(&tb, "TopicSB", 1);
    let phy = put(&tb, "TopicSB", 0, &MessageProperties::new(), "x");
    let r = send_back(&c, &tb, phy, "G_UNKNOWN", 0, None);
    assert_eq!(r.code, response::SUBSCRIPTION_GROUP_NOT_EXIST, "{r}");
    assert!(r
        .remark
        .unwrap_or_default()
        .starts_with("subscription group not exist, G_UNKNOWN"));
    tb.broker
        .inner()
        .configs
        .subscription_groups
        .update(SubscriptionGroupConfig::new("G_KNOWN"))
        .unwrap();
    let r = send_back(&c, &tb, phy, "G_KNOWN", 0, None);
    assert_eq!(r.code, response::NO_PERMISSION, "{r}");
    assert!(r
        .remark
        .unwrap_or_default()
        .contains("sending message is forbidden"));
    tb.stop();
}

// ---- orderly locks -----------------------------------------------------------------------------

fn mqs(ids: &[i32]) -> BTreeSet<MessageQueue> {
    ids.iter()
        .map(|&i| MessageQueue::new("TopicOrder", "broker-test", i))
        .collect()
}

fn lock(
    c: &RemotingClient,
    tb: &TestBroker,
    client_id: &str,
    ids: &[i32],
) -> BTreeSet<MessageQueue> {
    let body = LockBatchRequestBody {
        client_id: client_id.into(),
        consumer_group: "G_ORDER".into(),
        mq_set: mqs(ids),
        only_this_broker: None,
    };
    let r = common::call(
        c,
        tb.addr(),
        RemotingCommand::request(rc::LOCK_BATCH_MQ, 0).with_body(body.encode()),
    );
    assert_ok(&r);
    LockBatchResponseBody::decode(&r.body)
        .expect("LockBatchResponseBody")
        .lock_ok_mq_set
}

fn unlock_cmd(client_id: &str, ids: &[i32]) -> RemotingCommand {
    let body = UnlockBatchRequestBody {
        client_id: client_id.into(),
        consumer_group: "G_ORDER".into(),
        mq_set: mqs(ids),
        only_this_broker: None,
    };
    RemotingCommand::request(rc::UNLOCK_BATCH_MQ, 0).with_body(body.encode())
}

#[test]
fn queue_locks_are_exclusive_renewed_expire_and_unlock() {
    let tb = common::start_broker();
    let a = common::client();
    let b = common::client();

    assert_eq!(lock(&a, &tb, "cA", &[0, 1]), mqs(&[0, 1]));
    // Only the free queue for the second client.
    assert_eq!(lock(&b, &tb, "cB", &[1, 2]), mqs(&[2]));
    // Renewal.
    assert_eq!(lock(&a, &tb, "cA", &[0, 1]), mqs(&[0, 1]));
    assert_eq!(lock(&b, &tb, "cB", &[0, 1, 2, 3]), mqs(&[2, 3]));

    // A 5.x body (`onlyThisBroker`) is accepted; the Java 4.x body has no such field.
    let r = common::call(
        &a,
        tb.addr(),
        RemotingCommand::request(rc::LOCK_BATCH_MQ, 0).with_body(
            br#"{"clientId":"cA","consumerGroup":"G_ORDER","mqSet":[{"brokerName":"broker-test","queueId":0,"topic":"TopicOrder"}],"onlyThisBroker":true}"#.to_vec(),
        ),
    );
    assert_ok(&r);
    assert_eq!(
        LockBatchResponseBody::decode(&r.body)
            .unwrap()
            .lock_ok_mq_set,
        mqs(&[0])
    );
    // No body at all.
    let r = common::call(
        &a,
        tb.addr(),
        RemotingCommand::request(rc::LOCK_BATCH_MQ, 0),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");

    // Unlock (sync): only the caller's own entries go.
    assert_ok(&common::call(&a, tb.addr(), unlock_cmd("cA", &[1, 2])));
    assert_eq!(lock(&b, &tb, "cB", &[1, 2]), mqs(&[1, 2]));
    assert!(lock(&a, &tb, "cA", &[2]).is_empty(), "cB still holds 2");

    // Unlock (one-way, as clients send it at shutdown): no answer; the queue becomes free.
    rt::block_on(b.invoke_oneway(tb.addr(), unlock_cmd("cB", &[3]))).unwrap();
    wait_until("the one-way unlock", || {
        lock(&a, &tb, "cA", &[3]) == mqs(&[3])
    });

    // Expiry: with a short lifetime, unrenewed locks can be taken over.
    let locks = &tb.broker.inner().rebalance_lock;
    locks.set_max_live_time_ms(1_000);
    assert_eq!(lock(&a, &tb, "cA", &[0]), mqs(&[0]));
    assert!(lock(&b, &tb, "cB", &[0]).is_empty());
    std::thread::sleep(Duration::from_millis(1_200));
    assert_eq!(lock(&b, &tb, "cB", &[0, 3]), mqs(&[0, 3]));
    locks.set_max_live_time_ms(60_000);
    assert!(lock(&a, &tb, "cA", &[0, 3]).is_empty(), "cB holds them now");
    assert_eq!(
        locks.holder(
            "G_ORDER",
            &MessageQueue::new("TopicOrder", "broker-test", 0)
        ),
        Some("cB".into())
    );
    tb.stop();
}

// ---- connection lists ----------------------------------------------------------------------------

#[test]
fn connection_lists_and_producer_table() {
    let tb = common::start_broker();
    let (cons, _) = fake_consumer();
    assert_ok(&common::call(
        &cons,
        tb.addr(),
        heartbeat("10.0.0.1@one", "G_CONN", "TopicConn", "P_CONN"),
    ));
    let cons_addr = local_addr(&cons, tb.addr());
    let admin = common::client();

    let h = GetConsumerConnectionListRequestHeader {
        consumer_group: "G_CONN".into(),
        ..Default::default()
    };
    let r = common::call(
        &admin,
        tb.addr(),
        RemotingCommand::request(rc::GET_CONSUMER_CONNECTION_LIST, 0).with_header(&h),
    );
    assert_ok(&r);
    let cc = ConsumerConnection::decode(&r.body).expect("ConsumerConnection");
    assert_eq!(cc.connection_set.len(), 1);
    let conn = &cc.connection_set[0];
    assert_eq!(conn.client_id, "10.0.0.1@one");
    assert_eq!(conn.client_addr, cons_addr.to_string());
    assert_eq!(conn.language, LanguageCode::Java);
    assert_eq!(conn.version, apogee_codec::codes::CURRENT_VERSION);
    assert!(cc.subscription_table.contains_key("TopicConn"));
    let body = String::from_utf8_lossy(&r.body).into_owned();
    for want in [
        "\"consumeFromWhere\":\"CONSUME_FROM_FIRST_OFFSET\"",
        "\"consumeType\":\"CONSUME_PASSIVELY\"",
        "\"messageModel\":\"CLUSTERING\"",
    ] {
        assert!(body.contains(want), "{want} in {body}");
    }

    let h = GetConsumerConnectionListRequestHeader {
        consumer_group: "G_NOBODY".into(),
        ..Default::default()
    };
    let r = common::call(
        &admin,
        tb.addr(),
        RemotingCommand::request(rc::GET_CONSUMER_CONNECTION_LIST, 0).with_header(&h),
    );
    assert_eq!(r.code, response::CONSUMER_NOT_ONLINE, "{r}");
    assert_eq!(
        r.remark.as_deref(),
        Some("the consumer group[G_NOBODY] not online")
    );
    // Missing header field.
    let r = common::call(
        &admin,
        tb.addr(),
        RemotingCommand::request(rc::GET_CONSUMER_CONNECTION_LIST, 0),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");

    let producers = |group: &str| {
        let h = GetProducerConnectionListRequestHeader {
            producer_group: group.into(),
            ..Default::default()
        };
        common::call(
            &admin,
            tb.addr(),
            RemotingCommand::request(rc::GET_PRODUCER_CONNECTION_LIST, 0).with_header(&h),
        )
    };
    let r = producers("P_CONN");
    assert_ok(&r);
    let pc = ProducerConnection::decode(&r.body).expect("ProducerConnection");
    assert_eq!(pc.connection_set.len(), 1);
    assert_eq!(pc.connection_set[0].client_id, "10.0.0.1@one");
    assert_eq!(pc.connection_set[0].client_addr, cons_addr.to_string());
    let r = producers("P_NOBODY");
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
    assert_eq!(
        r.remark.as_deref(),
        Some("the producer group[P_NOBODY] not exist")
    );

    let r = common::call(
        &admin,
        tb.addr(),
        RemotingCommand::request(rc::GET_ALL_PRODUCER_INFO, 0),
    );
    assert_ok(&r);
    let table = ProducerTableInfo::decode(&r.body).expect("ProducerTableInfo");
    let infos = table.data.get("P_CONN").expect("P_CONN listed");
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].client_id, "10.0.0.1@one");
    assert_eq!(infos[0].remote_ip, format!("/{cons_addr}"));
    assert_eq!(infos[0].language, LanguageCode::Java);
    assert!(infos[0].last_update_timestamp > 0);
    tb.stop();
}

// ---- reset offset ----------------------------------------------------------------------------

fn reset_cmd(topic: &str, group: &str, timestamp: i64, force: bool) -> RemotingCommand {
    let h = ResetOffsetRequestHeader {
        topic: topic.into(),
        group: group.into(),
        timestamp,
        is_force: force,
        ..Default::default()
    };
    RemotingCommand::request(rc::INVOKE_BROKER_TO_RESET_OFFSET, 0).with_header(&h)
}

fn table(entries: &[(i32, i64)]) -> BTreeMap<MessageQueue, i64> {
    entries
        .iter()
        .map(|&(q, o)| (MessageQueue::new("TopicReset", "broker-test", q), o))
        .collect()
}

#[test]
fn reset_offset_is_pushed_to_every_live_consumer() {
    let tb = common::start_broker();
    create_topic(&tb, "TopicReset", 2);
    for i in 0..5 {
        put(
            &tb,
            "TopicReset",
            0,
            &MessageProperties::new(),
            &format!("q0-{i}"),
        );
    }
    for i in 0..3 {
        put(
            &tb,
            "TopicReset",
            1,
            &MessageProperties::new(),
            &format!("q1-{i}"),
        );
    }
    let offsets = &tb.broker.inner().configs.consumer_offsets;
    offsets.commit("G_RESET", "TopicReset", 0, 2);
    offsets.commit("G_RESET", "TopicReset", 1, 1);
    let admin = common::client();

    // Nobody online yet.
    let r = common::call(
        &admin,
        tb.addr(),
        reset_cmd("TopicReset", "G_RESET", -1, false),
    );
    assert_eq!(r.code, response::CONSUMER_NOT_ONLINE, "{r}");
    assert!(r
        .remark
        .unwrap_or_default()
        .starts_with("Consumer not online, so can not reset offset, Group: G_RESET"));

    let (c1, f1) = fake_consumer();
    let (c2, f2) = fake_consumer();
    for (c, id) in [(&c1, "10.0.0.1@c1"), (&c2, "10.0.0.1@c2")] {
        assert_ok(&common::call(
            c,
            tb.addr(),
            heartbeat(id, "G_RESET", "TopicReset", "P_RESET"),
        ));
    }

    // To the max offset without force: nobody moves forward.
    let r = common::call(
        &admin,
        tb.addr(),
        reset_cmd("TopicReset", "G_RESET", -1, false),
    );
    assert_ok(&r);
    let body = ResetOffsetBody::decode(&r.body).expect("ResetOffsetBody");
    assert_eq!(body.offset_table, table(&[(0, 2), (1, 1)]));
    for f in [&f1, &f2] {
        wait_until("RESET_CONSUMER_CLIENT_OFFSET", || {
            f.received(rc::RESET_CONSUMER_CLIENT_OFFSET).len() == 1
        });
        let push = &f.received(rc::RESET_CONSUMER_CLIENT_OFFSET)[0];
        assert!(push.is_oneway());
        let h: ResetOffsetRequestHeader = push.read_header().expect("reset header");
        assert_eq!(
            (h.topic.as_str(), h.group.as_str(), h.timestamp, h.is_force),
            ("TopicReset", "G_RESET", -1, false)
        );
        let pushed = ResetOffsetBody::decode(&push.body).unwrap();
        assert_eq!(pushed.offset_table, table(&[(0, 2), (1, 1)]));
    }
    assert_eq!(offsets.query("G_RESET", "TopicReset", 0), Some(2));

    // Forced to the max offset: pushed, and stored at once.
    let r = common::call(
        &admin,
        tb.addr(),
        reset_cmd("TopicReset", "G_RESET", -1, true),
    );
    assert_ok(&r);
    assert_eq!(
        ResetOffsetBody::decode(&r.body).unwrap().offset_table,
        table(&[(0, 5), (1, 3)])
    );
    wait_until("the second push", || {
        f1.received(rc::RESET_CONSUMER_CLIENT_OFFSET).len() == 2
            && f2.received(rc::RESET_CONSUMER_CLIENT_OFFSET).len() == 2
    });
    let pushed = &f1.received(rc::RESET_CONSUMER_CLIENT_OFFSET)[1];
    assert_eq!(
        ResetOffsetBody::decode(&pushed.body).unwrap().offset_table,
        table(&[(0, 5), (1, 3)])
    );
    assert_eq!(offsets.query("G_RESET", "TopicReset", 0), Some(5));
    assert_eq!(offsets.query("G_RESET", "TopicReset", 1), Some(3));

    // Back to the beginning (a time before every message), not forced: a rewind applies.
    let r = common::call(
        &admin,
        tb.addr(),
        reset_cmd("TopicReset", "G_RESET", 1, false),
    );
    assert_ok(&r);
    assert_eq!(
        ResetOffsetBody::decode(&r.body).unwrap().offset_table,
        table(&[(0, 0), (1, 0)])
    );
    // Not forced: the stored offsets are the clients' business.
    assert_eq!(offsets.query("G_RESET", "TopicReset", 0), Some(5));

    // An admin speaking C++ gets the C++ body pushed.
    let mut req = reset_cmd("TopicReset", "G_RESET", -1, false);
    req.language = LanguageCode::Cpp;
    assert_ok(&common::call(&admin, tb.addr(), req));
    wait_until("the C++ push", || {
        f1.received(rc::RESET_CONSUMER_CLIENT_OFFSET).len() == 4
    });
    let pushed = &f1.received(rc::RESET_CONSUMER_CLIENT_OFFSET)[3];
    let v: serde_json::Value = serde_json::from_slice(&pushed.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"offsetTable": [
            {"brokerName": "broker-test", "offset": 5, "queueId": 0, "topic": "TopicReset"},
            {"brokerName": "broker-test", "offset": 3, "queueId": 1, "topic": "TopicReset"}
        ]})
    );

    // Unknown topic; a group without offsets on the topic.
    let r = common::call(
        &admin,
        tb.addr(),
        reset_cmd("NoSuchTopic", "G_RESET", -1, true),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
    assert!(r
        .remark
        .unwrap_or_default()
        .contains("no topic in this broker"));
    let r = common::call(
        &admin,
        tb.addr(),
        reset_cmd("TopicReset", "G_NEW", -1, true),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
    assert_eq!(
        r.remark.as_deref(),
        Some("THe consumer group <G_NEW> not exist")
    );
    tb.stop();
}

// ---- requests forwarded to a consumer ----------------------------------------------------------

fn running_info_cmd(group: &str, client_id: &str) -> RemotingCommand {
    let h = GetConsumerRunningInfoRequestHeader {
        consumer_group: group.into(),
        client_id: client_id.into(),
        jstack_enable: true,
        ..Default::default()
    };
    RemotingCommand::request(rc::GET_CONSUMER_RUNNING_INFO, 0).with_header(&h)
}

#[test]
fn running_info_consume_directly_and_status_are_relayed() {
    let tb = common::start_broker();
    let (cons, fake) = fake_consumer();
    assert_ok(&common::call(
        &cons,
        tb.addr(),
        heartbeat("10.0.0.1@run", "G_RUN", "TopicRun", "P_RUN"),
    ));
    let admin = common::client();

    // Running info: forwarded with the admin's fields, the client's answer relayed as is,
    // in the admin's serialization.
    let mut req = running_info_cmd("G_RUN", "10.0.0.1@run");
    req.serialize_type = SerializeType::RocketMq;
    let r = common::call(&admin, tb.addr(), req);
    assert_ok(&r);
    assert_eq!(&r.body[..], RUNNING_INFO.as_bytes());
    assert_eq!(r.remark.as_deref(), Some("from the client"));
    assert_eq!(r.ext("clientSide"), Some("yes"));
    assert_eq!(r.language, LanguageCode::Cpp);
    assert_eq!(r.version, 333);
    assert_eq!(r.serialize_type, SerializeType::RocketMq);
    let fwd = fake.received(rc::GET_CONSUMER_RUNNING_INFO);
    assert_eq!(fwd.len(), 1);
    assert_eq!(fwd[0].ext("consumerGroup"), Some("G_RUN"));
    assert_eq!(fwd[0].ext("clientId"), Some("10.0.0.1@run"));
    assert_eq!(fwd[0].ext("jstackEnable"), Some("true"));
    assert!(!fwd[0].is_oneway());

    // The client's refusal is relayed too.
    fake.refuse_running_info.store(true, Ordering::SeqCst);
    let r = common::call(&admin, tb.addr(), running_info_cmd("G_RUN", "10.0.0.1@run"));
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
    assert_eq!(r.remark.as_deref(), Some("not now"));

    // Unknown client.
    let r = common::call(
        &admin,
        tb.addr(),
        running_info_cmd("G_RUN", "10.0.0.1@gone"),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
    assert_eq!(
        r.remark.as_deref(),
        Some("The Consumer <G_RUN> <10.0.0.1@gone> not online")
    );

    // A client too old to be asked.
    let old = common::client();
    let mut hb = heartbeat("10.0.0.2@old", "G_RUN", "TopicRun", "P_RUN");
    hb.version = 50;
    assert_ok(&common::call(&old, tb.addr(), hb));
    let r = common::call(&admin, tb.addr(), running_info_cmd("G_RUN", "10.0.0.2@old"));
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
    assert!(r.remark.unwrap_or_default().contains("too low to finish"));
    old.close_all();

    // Consume directly: the record is attached and brokerName added.
    create_topic(&tb, "TopicRun", 1);
    let mut p = MessageProperties::new();
    p.insert(keys::TAGS, "t");
    let (_, phy, msg_id) = put_msg(
        &tb,
        MessageInner {
            topic: "TopicRun".into(),
            queue_id: 0,
            flag: 0,
            sys_flag: 0,
            born_timestamp: now_ms(),
            born_host: "127.0.0.1:40000".parse().unwrap(),
            store_host: tb.addr(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::from_static(b"consume me"),
            properties: p.encode(),
        },
    );
    let h = ConsumeMessageDirectlyResultRequestHeader {
        consumer_group: "G_RUN".into(),
        client_id: Some("10.0.0.1@run".into()),
        msg_id: Some(msg_id.clone()),
        ..Default::default()
    };
    let r = common::call(
        &admin,
        tb.addr(),
        RemotingCommand::request(rc::CONSUME_MESSAGE_DIRECTLY, 0).with_header(&h),
    );
    assert_ok(&r);
    assert_eq!(&r.body[..], DIRECT_RESULT.as_bytes());
    let fwd = fake.received(rc::CONSUME_MESSAGE_DIRECTLY);
    assert_eq!(fwd.len(), 1);
    assert_eq!(fwd[0].ext("brokerName"), Some("broker-test"));
    assert_eq!(fwd[0].ext("msgId"), Some(msg_id.as_str()));
    let (rec, n) = decode_record(&fwd[0].body).expect("the raw record");
    assert_eq!(n, fwd[0].body.len());
    assert_eq!(rec.physical_offset, phy);
    assert_eq!(rec.body, b"consume me");

    // An unknown message id.
    let h = ConsumeMessageDirectlyResultRequestHeader {
        consumer_group: "G_RUN".into(),
        client_id: Some("10.0.0.1@run".into()),
        msg_id: Some("nonsense".into()),
        ..Default::default()
    };
    let r = common::call(
        &admin,
        tb.addr(),
        RemotingCommand::request(rc::CONSUME_MESSAGE_DIRECTLY, 0).with_header(&h),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");

    // Consumer status: asked of the live client.
    let old_gone = || tb.broker.inner().clients.consumer_channels("G_RUN").len() == 1;
    wait_until("the old client's channel to go", old_gone);
    let h = GetConsumerStatusRequestHeader {
        topic: "TopicRun".into(),
        group: "G_RUN".into(),
        ..Default::default()
    };
    let r = common::call(
        &admin,
        tb.addr(),
        RemotingCommand::request(rc::INVOKE_BROKER_TO_GET_CONSUMER_STATUS, 0).with_header(&h),
    );
    assert_ok(&r);
    let status = GetConsumerStatusBody::decode(&r.body).expect("GetConsumerStatusBody");
    let mine = status
        .consumer_table
        .get("10.0.0.1@run")
        .expect("the client's table");
    assert_eq!(
        mine.get(&MessageQueue::new("TopicRun", "broker-test", 0)),
        Some(&42)
    );
    let asked = fake.received(rc::GET_CONSUMER_STATUS_FROM_CLIENT);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].ext("topic"), Some("TopicRun"));
    assert_eq!(asked[0].ext("group"), Some("G_RUN"));

    let h = GetConsumerStatusRequestHeader {
        topic: "TopicRun".into(),
        group: "G_NOBODY".into(),
        ..Default::default()
    };
    let r = common::call(
        &admin,
        tb.addr(),
        RemotingCommand::request(rc::INVOKE_BROKER_TO_GET_CONSUMER_STATUS, 0).with_header(&h),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
    assert_eq!(
        r.remark.as_deref(),
        Some("No Any Consumer online in the consumer group: [G_NOBODY]")
    );
    tb.stop();
}
