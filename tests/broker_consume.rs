//! The consumer side: heartbeats and client management, consumer offsets, pulls and long
//! polling, over real connections to a real broker.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apogee::remoting::{Connection, ConnectionOptions, Handler, RemotingClient, Reply};
use apogee::rt;
use apogee::store::message_inner::MessageInner;
use apogee_codec::body::GetConsumerListByGroupResponseBody;
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::client::{
    GetConsumerListByGroupRequestHeader, NotifyConsumerIdsChangedRequestHeader,
    UnregisterClientRequestHeader,
};
use apogee_codec::header::offset::{
    GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
use apogee_codec::header::pull::{
    pull_sys_flag, PullMessageRequestHeader, PullMessageResponseHeader,
};
use apogee_codec::message::{iter_records, keys, MessageProperties};
use apogee_codec::{LanguageCode, RemotingCommand};
use bytes::Bytes;
use common::TestBroker;
use futures::future::BoxFuture;

const SUSPEND: i32 = pull_sys_flag::FLAG_SUSPEND;
const SUB: i32 = pull_sys_flag::FLAG_SUBSCRIPTION;
const COMMIT: i32 = pull_sys_flag::FLAG_COMMIT_OFFSET;

// ---- helpers ---------------------------------------------------------------------------------

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Create a topic with `queues` queues (R|W).
fn create_topic(tb: &TestBroker, topic: &str, queues: i32) {
    tb.broker
        .inner()
        .configs
        .topics
        .create_topic_in_send_back_detailed(topic, queues, 6, 0);
}

/// Store a message and wait until it is dispatched; returns its queue offset.
fn put(tb: &TestBroker, topic: &str, queue_id: i32, tags: Option<&str>, body: &str) -> i64 {
    let off = put_nowait(tb, topic, queue_id, tags, body);
    assert!(tb.broker.store().wait_dispatched(Duration::from_secs(5)));
    off
}

/// Store a message; returns its queue offset (it is dispatched asynchronously).
fn put_nowait(tb: &TestBroker, topic: &str, queue_id: i32, tags: Option<&str>, body: &str) -> i64 {
    let mut props = MessageProperties::new();
    if let Some(t) = tags {
        props.insert(keys::TAGS, t);
    }
    let msg = MessageInner {
        topic: topic.into(),
        queue_id,
        flag: 0,
        sys_flag: 0,
        born_timestamp: now_ms(),
        born_host: "127.0.0.1:40000".parse().unwrap(),
        store_host: tb.addr(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: Bytes::copy_from_slice(body.as_bytes()),
        properties: props.encode(),
    };
    let r = tb.broker.store().put_message_blocking(msg, true);
    assert!(r.status.is_stored(), "{r:?}");
    r.append.unwrap().logics_offset
}

#[allow(clippy::too_many_arguments)]
fn pull_cmd(
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    sys_flag: i32,
    subscription: Option<&str>,
    suspend_ms: i64,
    sub_version: i64,
) -> RemotingCommand {
    let h = PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag,
        commit_offset: 0,
        suspend_timeout_millis: suspend_ms,
        subscription: subscription.map(str::to_owned),
        sub_version,
        expression_type: Some("TAG".into()),
        ..Default::default()
    };
    RemotingCommand::request(rc::PULL_MESSAGE, 0).with_header(&h)
}

/// A plain pull with the subscription in the header (no heartbeat needed), no suspension.
fn pull(
    c: &RemotingClient,
    tb: &TestBroker,
    topic: &str,
    queue_id: i32,
    offset: i64,
    sub: &str,
) -> RemotingCommand {
    common::call(
        c,
        tb.addr(),
        pull_cmd("G_PULL", topic, queue_id, offset, SUB, Some(sub), 0, 0),
    )
}

fn pull_header(r: &RemotingCommand) -> PullMessageResponseHeader {
    r.read_header()
        .unwrap_or_else(|e| panic!("pull response header incomplete ({e}): {r:?}"))
}

/// Queue offsets of the records of a pull body.
fn record_offsets(r: &RemotingCommand) -> Vec<i64> {
    iter_records(&r.body)
        .map(|rec| rec.expect("record decodes").queue_offset)
        .collect()
}

fn java_heartbeat(client_id: &str, group: &str, subs: &[(&str, &str, i64)]) -> RemotingCommand {
    let subs: Vec<serde_json::Value> = subs
        .iter()
        .map(|(topic, expr, ver)| {
            let tags: Vec<&str> = if *expr == "*" {
                vec![]
            } else {
                expr.split("||").map(str::trim).collect()
            };
            let codes: Vec<i32> = tags
                .iter()
                .map(|t| apogee_codec::message::java_string_hash(t))
                .collect();
            serde_json::json!({
                "classFilterMode": false, "codeSet": codes, "expressionType": "TAG",
                "subString": expr, "subVersion": ver, "tagsSet": tags, "topic": topic
            })
        })
        .collect();
    let body = serde_json::json!({
        "clientID": client_id,
        "consumerDataSet": [{
            "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
            "consumeType": "CONSUME_PASSIVELY",
            "groupName": group,
            "messageModel": "CLUSTERING",
            "subscriptionDataSet": subs,
            "unitMode": false
        }],
        "producerDataSet": [{"groupName": "CLIENT_INNER_PRODUCER"}]
    });
    RemotingCommand::request(rc::HEART_BEAT, 0).with_body(serde_json::to_vec(&body).unwrap())
}

fn consumer_list(c: &RemotingClient, tb: &TestBroker, group: &str) -> RemotingCommand {
    let h = GetConsumerListByGroupRequestHeader {
        consumer_group: group.into(),
        ..Default::default()
    };
    common::call(
        c,
        tb.addr(),
        RemotingCommand::request(rc::GET_CONSUMER_LIST_BY_GROUP, 0).with_header(&h),
    )
}

fn consumer_ids(c: &RemotingClient, tb: &TestBroker, group: &str) -> Vec<String> {
    let r = consumer_list(c, tb, group);
    if r.code != response::SUCCESS {
        return vec![];
    }
    let mut ids = GetConsumerListByGroupResponseBody::decode(&r.body)
        .unwrap()
        .consumer_id_list;
    ids.sort();
    ids
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A client-side handler that records what the broker sends us.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<RemotingCommand>>,
}

impl Recorder {
    fn notifications(&self) -> usize {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.code == rc::NOTIFY_CONSUMER_IDS_CHANGED)
            .count()
    }
}

impl Handler for Recorder {
    fn handle(
        self: Arc<Self>,
        _conn: Arc<Connection>,
        req: RemotingCommand,
    ) -> BoxFuture<'static, Reply> {
        self.got.lock().unwrap().push(req);
        Box::pin(async { Reply::None })
    }
}

fn recording_client() -> (RemotingClient, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let c = RemotingClient::new(rec.clone(), ConnectionOptions::default());
    (c, rec)
}

fn connection(c: &RemotingClient, addr: SocketAddr) -> Arc<Connection> {
    rt::block_on(c.connection(addr)).unwrap()
}

fn query_offset(
    c: &RemotingClient,
    tb: &TestBroker,
    group: &str,
    topic: &str,
    queue_id: i32,
    zero_if_not_found: Option<bool>,
) -> RemotingCommand {
    let h = QueryConsumerOffsetRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        set_zero_if_not_found: zero_if_not_found,
        ..Default::default()
    };
    common::call(
        c,
        tb.addr(),
        RemotingCommand::request(rc::QUERY_CONSUMER_OFFSET, 0).with_header(&h),
    )
}

// ---- heartbeats and client management ----------------------------------------------------

#[test]
fn heartbeats_register_consumers_java_and_cpp_style() {
    let tb = common::start_broker();
    let c = common::client();

    // Empty heartbeat: SUCCESS, no extFields (no heartbeat v2), the broker's version.
    let r = common::call(&c, tb.addr(), RemotingCommand::request(rc::HEART_BEAT, 0));
    assert_eq!(r.code, response::SUCCESS);
    assert!(r.ext_fields.is_none(), "{r:?}");
    assert_eq!(r.version, apogee_codec::codes::CURRENT_VERSION);

    // Java style.
    let r = common::call(
        &c,
        tb.addr(),
        java_heartbeat(
            "10.0.0.1@1#1",
            "GJ",
            &[("T", "*", 1), ("%RETRY%GJ", "*", 1)],
        ),
    );
    assert_eq!(r.code, response::SUCCESS, "{r:?}");
    assert!(r.ext_fields.is_none());
    assert_eq!(consumer_ids(&c, &tb, "GJ"), vec!["10.0.0.1@1#1"]);
    let inner = tb.broker.inner();
    let retry = inner.configs.topics.get("%RETRY%GJ").expect("retry topic");
    assert_eq!((retry.read_queue_nums, retry.perm), (1, 6));
    assert!(inner.configs.subscription_groups.contains("GJ"));
    assert_eq!(
        inner
            .clients
            .producer_channels("CLIENT_INNER_PRODUCER")
            .len(),
        1
    );

    // C++ style: ordinals, string subVersion, no expressionType, language CPP.
    let body = "{\"clientID\":\"10.0.0.7@4242\",\"consumerDataSet\":[{\"consumeFromWhere\":4,\"consumeType\":1,\"groupName\":\"GCPP\",\"messageModel\":1,\"subscriptionDataSet\":[{\"codeSet\":[2598919],\"subString\":\"TagA\",\"subVersion\":\"1700000000123\",\"tagsSet\":[\"TagA\"],\"topic\":\"T\"},{\"subString\":\"*\",\"subVersion\":\"1700000000124\",\"topic\":\"%RETRY%GCPP\"}]}]}\n";
    let mut hb = RemotingCommand::request(rc::HEART_BEAT, 0).with_body(body.as_bytes().to_vec());
    hb.language = LanguageCode::Cpp;
    hb.version = 333;
    hb.ext_mut().insert("Signature", "");
    hb.ext_mut().insert("AccessKey", "");
    let r = common::call(&c, tb.addr(), hb);
    assert_eq!(r.code, response::SUCCESS, "{r:?}");
    assert_eq!(consumer_ids(&c, &tb, "GCPP"), vec!["10.0.0.7@4242"]);
    let cc = inner.clients.consumer_connection("GCPP").unwrap();
    assert_eq!(cc.connection_set[0].language, LanguageCode::Cpp);
    assert_eq!(cc.connection_set[0].version, 333);
    assert_eq!(cc.subscription_table["T"].sub_version, 1_700_000_000_123);
    assert!(inner.configs.topics.contains("%RETRY%GCPP"));

    // Unknown group: SYSTEM_ERROR "no consumer for this group".
    let r = consumer_list(&c, &tb, "NOPE");
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("no consumer for this group"));

    // A body that is not a heartbeat: an error, not a panic or silence.
    let r = common::call(
        &c,
        tb.addr(),
        RemotingCommand::request(rc::HEART_BEAT, 0).with_body(&b"{not json"[..]),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR);

    // CHECK_CLIENT_CONFIG: TAG passes, SQL92 is refused while the property filter is off.
    for (et, code) in [
        ("TAG", response::SUCCESS),
        ("SQL92", response::SYSTEM_ERROR),
    ] {
        let body = format!(
            r#"{{"clientId":"c","group":"GJ","subscriptionData":{{"expressionType":"{et}","subString":"a > 1","topic":"T","subVersion":5}}}}"#
        );
        let r = common::call(
            &c,
            tb.addr(),
            RemotingCommand::request(rc::CHECK_CLIENT_CONFIG, 0).with_body(body.into_bytes()),
        );
        assert_eq!(r.code, code, "{et}: {r:?}");
    }
    tb.stop();
}

#[test]
fn group_changes_notify_members_and_closed_connections_leave() {
    let tb = common::start_broker();
    let (c1, rec1) = recording_client();
    let (c2, rec2) = recording_client();
    let subs = [("T", "*", 1), ("%RETRY%GN", "*", 1)];

    let r = common::call(&c1, tb.addr(), java_heartbeat("c1", "GN", &subs));
    assert_eq!(r.code, response::SUCCESS);
    // A new member is told too (Java notifies every channel of the group).
    assert!(wait_until(Duration::from_secs(5), || rec1.notifications() == 1));

    // The same heartbeat again changes nothing: no notification.
    common::call(&c1, tb.addr(), java_heartbeat("c1", "GN", &subs));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(rec1.notifications(), 1);

    // A second consumer: the first one is notified.
    common::call(&c2, tb.addr(), java_heartbeat("c2", "GN", &subs));
    assert!(wait_until(Duration::from_secs(5), || rec1.notifications() == 2));
    assert!(wait_until(Duration::from_secs(5), || rec2.notifications() == 1));
    {
        let got = rec1.got.lock().unwrap();
        let n = got.last().unwrap();
        assert!(n.is_oneway());
        let h: NotifyConsumerIdsChangedRequestHeader = n.read_header().unwrap();
        assert_eq!(h.consumer_group, "GN");
    }
    assert_eq!(consumer_ids(&c1, &tb, "GN"), vec!["c1", "c2"]);

    // A dropped topic is a change, a higher subVersion is not.
    common::call(&c2, tb.addr(), java_heartbeat("c2", "GN", &[("T", "*", 5)]));
    assert!(wait_until(Duration::from_secs(5), || rec1.notifications() == 3));
    common::call(&c2, tb.addr(), java_heartbeat("c2", "GN", &[("T", "*", 9)]));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(rec1.notifications(), 3);
    let inner = tb.broker.inner();
    let cc = inner.clients.consumer_connection("GN").unwrap();
    assert_eq!(cc.subscription_table.len(), 1);
    assert_eq!(cc.subscription_table["T"].sub_version, 9);

    // The second connection closes: it leaves the group and the first is told.
    c2.close_all();
    assert!(wait_until(Duration::from_secs(5), || consumer_ids(
        &c1, &tb, "GN"
    ) == vec!["c1"]));
    assert!(wait_until(Duration::from_secs(5), || rec1.notifications() == 4));

    // UNREGISTER_CLIENT: the group is gone.
    let h = UnregisterClientRequestHeader {
        client_id: "c1".into(),
        consumer_group: Some("GN".into()),
        producer_group: Some("CLIENT_INNER_PRODUCER".into()),
        ..Default::default()
    };
    let r = common::call(
        &c1,
        tb.addr(),
        RemotingCommand::request(rc::UNREGISTER_CLIENT, 0).with_header(&h),
    );
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(consumer_list(&c1, &tb, "GN").code, response::SYSTEM_ERROR);
    assert!(inner
        .clients
        .producer_channels("CLIENT_INNER_PRODUCER")
        .is_empty());
    tb.stop();
}

#[test]
fn silent_channels_expire_and_are_closed() {
    let tb = common::start_broker();
    let c = common::client();
    common::call(&c, tb.addr(), java_heartbeat("cx", "GX", &[("T", "*", 1)]));
    assert_eq!(consumer_ids(&c, &tb, "GX"), vec!["cx"]);
    let conn = connection(&c, tb.addr());
    let inner = tb.broker.inner().clone();
    // Nothing is stale under the real timeout.
    inner.clients.scan_not_active(
        &inner,
        apogee::broker::client_manager::CHANNEL_EXPIRED_TIMEOUT_MS,
    );
    assert!(inner.clients.consumer_connection("GX").is_some());
    std::thread::sleep(Duration::from_millis(5));
    inner.clients.scan_not_active(&inner, 0);
    assert!(inner.clients.consumer_connection("GX").is_none());
    assert!(inner.clients.producer_groups().is_empty());
    assert!(wait_until(Duration::from_secs(5), || conn.is_closed()));
    tb.stop();
}

// ---- pulls -----------------------------------------------------------------------------------

#[test]
fn pull_statuses_offsets_and_tag_filtering() {
    let tb = common::start_broker();
    let c = common::client();
    create_topic(&tb, "T", 4);
    assert_eq!(put(&tb, "T", 0, Some("A"), "m0"), 0);
    assert_eq!(put(&tb, "T", 0, Some("B"), "m1"), 1);
    assert_eq!(put(&tb, "T", 0, Some("A"), "m2"), 2);
    put(&tb, "T", 0, None, "m3-no-tag");

    // Found.
    let r = pull(&c, &tb, "T", 0, 0, "*");
    assert_eq!(r.code, response::SUCCESS, "{r:?}");
    assert_eq!(r.remark.as_deref(), Some("FOUND"));
    let h = pull_header(&r);
    assert_eq!(
        (
            h.next_begin_offset,
            h.min_offset,
            h.max_offset,
            h.suggest_which_broker_id
        ),
        (4, 0, 4, 0)
    );
    assert_eq!(record_offsets(&r), vec![0, 1, 2, 3]);
    let first = iter_records(&r.body).next().unwrap().unwrap();
    assert_eq!(first.body, b"m0");

    // From the middle.
    let r = pull(&c, &tb, "T", 0, 2, "*");
    assert_eq!(record_offsets(&r), vec![2, 3]);

    // Tag filtering on the broker (by hash code).
    let r = pull(&c, &tb, "T", 0, 0, "A");
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(record_offsets(&r), vec![0, 2]);
    assert_eq!(pull_header(&r).next_begin_offset, 4);
    let r = pull(&c, &tb, "T", 0, 0, "B || C");
    assert_eq!(record_offsets(&r), vec![1]);
    // Nothing matches: retry immediately from past the scanned entries.
    let r = pull(&c, &tb, "T", 0, 0, "C");
    assert_eq!(r.code, response::PULL_RETRY_IMMEDIATELY);
    assert_eq!(r.remark.as_deref(), Some("NO_MATCHED_MESSAGE"));
    assert_eq!(pull_header(&r).next_begin_offset, 4);

    // At the end: PULL_NOT_FOUND, offset kept.
    let r = pull(&c, &tb, "T", 0, 4, "*");
    assert_eq!(r.code, response::PULL_NOT_FOUND);
    assert_eq!(r.remark.as_deref(), Some("OFFSET_OVERFLOW_ONE"));
    let h = pull_header(&r);
    assert_eq!((h.next_begin_offset, h.min_offset, h.max_offset), (4, 0, 4));
    assert!(r.body.is_empty());

    // Beyond the end: moved back to the max.
    let r = pull(&c, &tb, "T", 0, 10, "*");
    assert_eq!(r.code, response::PULL_OFFSET_MOVED);
    assert_eq!(r.remark.as_deref(), Some("OFFSET_OVERFLOW_BADLY"));
    assert_eq!(pull_header(&r).next_begin_offset, 4);
    // ... and an OffsetMovedEvent is stored.
    let store = tb.broker.store().clone();
    assert!(wait_until(Duration::from_secs(5), || {
        store.wait_dispatched(Duration::from_secs(1));
        store.max_offset_in_queue("OFFSET_MOVED_EVENT", 0) >= 1
    }));

    // A queue never written: offset 0 is "not found", anything else moves to 0.
    let r = pull(&c, &tb, "T", 1, 0, "*");
    assert_eq!(r.code, response::PULL_NOT_FOUND);
    assert_eq!(r.remark.as_deref(), Some("NO_MESSAGE_IN_QUEUE"));
    assert_eq!(pull_header(&r).next_begin_offset, 0);
    let r = pull(&c, &tb, "T", 1, 5, "*");
    assert_eq!(r.code, response::PULL_OFFSET_MOVED);
    let h = pull_header(&r);
    assert_eq!((h.next_begin_offset, h.min_offset, h.max_offset), (0, 0, 0));

    // Checks before the store.
    let r = pull(&c, &tb, "T", 4, 0, "*");
    assert_eq!(r.code, response::SYSTEM_ERROR, "queue id out of range");
    let r = pull(&c, &tb, "T", -1, 0, "*");
    assert_eq!(r.code, response::SYSTEM_ERROR);
    let r = pull(&c, &tb, "NO_SUCH_TOPIC", 0, 0, "*");
    assert_eq!(r.code, response::TOPIC_NOT_EXIST);
    let mut bad = pull_cmd("G", "T", 0, 0, SUB, Some("a > 1"), 0, 0);
    bad.ext_mut().insert("expressionType", "SQL92");
    assert_eq!(
        common::call(&c, tb.addr(), bad).code,
        response::SYSTEM_ERROR
    );
    let mut missing = pull_cmd("G", "T", 0, 0, SUB, Some("*"), 0, 0);
    missing.ext_mut().remove("queueOffset");
    assert_eq!(
        common::call(&c, tb.addr(), missing).code,
        response::SYSTEM_ERROR
    );

    // The commit-offset flag stores the consumer offset carried by the pull.
    let mut cmd = pull_cmd("G_COMMIT", "T", 0, 0, SUB | COMMIT, Some("*"), 0, 0);
    cmd.ext_mut().insert("commitOffset", "3");
    assert_eq!(common::call(&c, tb.addr(), cmd).code, response::SUCCESS);
    let r = query_offset(&c, &tb, "G_COMMIT", "T", 0, None);
    assert_eq!(r.code, response::SUCCESS);
    let h: QueryConsumerOffsetResponseHeader = r.read_header().unwrap();
    assert_eq!(h.offset, 3);
    tb.stop();
}

#[test]
fn pulls_without_subscription_use_the_heartbeat_registration() {
    let tb = common::start_broker();
    let c = common::client();
    create_topic(&tb, "T", 2);
    create_topic(&tb, "U", 2);
    put(&tb, "T", 0, Some("A"), "a");
    put(&tb, "T", 0, Some("B"), "b");

    // No heartbeat yet: SUBSCRIPTION_NOT_EXIST.
    let r = common::call(&c, tb.addr(), pull_cmd("GH", "T", 0, 0, 0, None, 0, 100));
    assert_eq!(r.code, response::SUBSCRIPTION_NOT_EXIST, "{r:?}");

    common::call(
        &c,
        tb.addr(),
        java_heartbeat("h1", "GH", &[("T", "B", 100)]),
    );
    let r = common::call(&c, tb.addr(), pull_cmd("GH", "T", 0, 0, 0, None, 0, 100));
    assert_eq!(r.code, response::SUCCESS, "{r:?}");
    assert_eq!(
        record_offsets(&r),
        vec![1],
        "the registered tag filter applies"
    );
    // The pull overtook a heartbeat with a newer subVersion.
    let r = common::call(&c, tb.addr(), pull_cmd("GH", "T", 0, 0, 0, None, 0, 200));
    assert_eq!(r.code, response::SUBSCRIPTION_NOT_LATEST);
    // A topic the group does not subscribe to.
    let r = common::call(&c, tb.addr(), pull_cmd("GH", "U", 0, 0, 0, None, 0, 100));
    assert_eq!(r.code, response::SUBSCRIPTION_NOT_EXIST);
    // With the subscription flag the header wins.
    let r = common::call(
        &c,
        tb.addr(),
        pull_cmd("GH", "T", 0, 0, SUB, Some("A"), 0, 999),
    );
    assert_eq!(record_offsets(&r), vec![0]);
    tb.stop();
}

// ---- offsets ---------------------------------------------------------------------------------

#[test]
fn consumer_offsets_and_queue_offsets() {
    let tb = common::start_broker();
    let c = common::client();
    create_topic(&tb, "T", 2);
    let before = now_ms();
    for i in 0..3 {
        put(&tb, "T", 0, None, &format!("m{i}"));
    }

    // No stored offset, first message in memory / empty queue: SUCCESS 0.
    for q in [0, 1] {
        let r = query_offset(&c, &tb, "GO", "T", q, None);
        assert_eq!(r.code, response::SUCCESS, "queue {q}: {r:?}");
        let h: QueryConsumerOffsetResponseHeader = r.read_header().unwrap();
        assert_eq!(h.offset, 0);
    }
    // 5.x setZeroIfNotFound=false: QUERY_NOT_FOUND.
    let r = query_offset(&c, &tb, "GO", "T", 0, Some(false));
    assert_eq!(r.code, response::QUERY_NOT_FOUND);

    // Update (sync and oneway), then query.
    let upd = |q: i32, off: i64| {
        let h = UpdateConsumerOffsetRequestHeader {
            consumer_group: "GO".into(),
            topic: "T".into(),
            queue_id: q,
            commit_offset: off,
            ..Default::default()
        };
        RemotingCommand::request(rc::UPDATE_CONSUMER_OFFSET, 0).with_header(&h)
    };
    let r = common::call(&c, tb.addr(), upd(0, 2));
    assert_eq!(r.code, response::SUCCESS);
    rt::block_on(c.invoke_oneway(tb.addr(), upd(1, 7))).unwrap();
    let inner = tb.broker.inner().clone();
    assert!(wait_until(Duration::from_secs(5), || inner
        .configs
        .consumer_offsets
        .query("GO", "T", 1)
        == Some(7)));
    let h: QueryConsumerOffsetResponseHeader = query_offset(&c, &tb, "GO", "T", 0, None)
        .read_header()
        .unwrap();
    assert_eq!(h.offset, 2);

    // Queue offsets.
    let call = |code: i32, topic: &str, q: i32| {
        let mut cmd = RemotingCommand::request(code, 0);
        cmd.ext_mut().insert("topic", topic);
        cmd.ext_mut().insert("queueId", q.to_string());
        cmd
    };
    let max: GetMaxOffsetResponseHeader =
        common::call(&c, tb.addr(), call(rc::GET_MAX_OFFSET, "T", 0))
            .read_header()
            .unwrap();
    assert_eq!(max.offset, 3);
    let _: GetMaxOffsetRequestHeader = call(rc::GET_MAX_OFFSET, "T", 0).read_header().unwrap();
    let max: GetMaxOffsetResponseHeader =
        common::call(&c, tb.addr(), call(rc::GET_MAX_OFFSET, "T", 1))
            .read_header()
            .unwrap();
    assert_eq!(max.offset, 0);
    let min: GetMinOffsetResponseHeader =
        common::call(&c, tb.addr(), call(rc::GET_MIN_OFFSET, "T", 0))
            .read_header()
            .unwrap();
    assert_eq!(min.offset, 0);
    let _: GetMinOffsetRequestHeader = call(rc::GET_MIN_OFFSET, "T", 0).read_header().unwrap();
    let early: GetEarliestMsgStoretimeResponseHeader =
        common::call(&c, tb.addr(), call(rc::GET_EARLIEST_MSG_STORETIME, "T", 0))
            .read_header()
            .unwrap();
    assert!(early.timestamp >= before && early.timestamp <= now_ms());
    let _: GetEarliestMsgStoretimeRequestHeader = call(rc::GET_EARLIEST_MSG_STORETIME, "T", 0)
        .read_header()
        .unwrap();
    let early: GetEarliestMsgStoretimeResponseHeader =
        common::call(&c, tb.addr(), call(rc::GET_EARLIEST_MSG_STORETIME, "T", 1))
            .read_header()
            .unwrap();
    assert_eq!(early.timestamp, -1);
    let search = |ts: i64| {
        let h = SearchOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 0,
            timestamp: ts,
            ..Default::default()
        };
        let r = common::call(
            &c,
            tb.addr(),
            RemotingCommand::request(rc::SEARCH_OFFSET_BY_TIMESTAMP, 0).with_header(&h),
        );
        assert_eq!(r.code, response::SUCCESS);
        r.read_header::<SearchOffsetResponseHeader>()
            .unwrap()
            .offset
    };
    assert_eq!(search(0), 0);
    assert!(search(now_ms() + 3_600_000) >= 2);

    // A missing field is a SYSTEM_ERROR naming it.
    let r = common::call(
        &c,
        tb.addr(),
        RemotingCommand::request(rc::GET_MAX_OFFSET, 0),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("topic"));
    tb.stop();
}

#[test]
fn query_offset_not_found_when_the_first_message_left_memory() {
    // accessMessageInMemoryMaxRatio=0: every stored message counts as "in disk".
    let dir = tempfile::tempdir().unwrap();
    let (b, mut s) = common::configs(dir.path(), None);
    s.access_message_in_memory_max_ratio = 0;
    let tb = common::start_broker_with(b, s, dir);
    let c = common::client();
    create_topic(&tb, "T", 2);
    put(&tb, "T", 0, None, "x");
    put(&tb, "T", 0, None, "y");
    let r = query_offset(&c, &tb, "GD", "T", 0, None);
    assert_eq!(r.code, response::QUERY_NOT_FOUND, "{r:?}");
    // An empty queue still answers 0.
    let r = query_offset(&c, &tb, "GD", "T", 1, None);
    assert_eq!(r.code, response::SUCCESS);
    tb.stop();
}

// ---- long polling ----------------------------------------------------------------------------

/// Start a suspended pull on its own thread; returns (response, time it came back).
fn spawn_held_pull(
    addr: SocketAddr,
    cmd: RemotingCommand,
) -> std::thread::JoinHandle<(RemotingCommand, Instant)> {
    std::thread::spawn(move || {
        let c = common::client();
        let r = rt::block_on(c.invoke(addr, cmd, Duration::from_secs(30))).expect("response");
        (r, Instant::now())
    })
}

fn held(tb: &TestBroker) -> usize {
    tb.broker.inner().pull_hold.held_count()
}

#[test]
fn held_pull_is_answered_right_after_a_message_arrives() {
    let tb = common::start_broker();
    create_topic(&tb, "LP", 1);
    let mut latencies = Vec::new();
    for i in 0..20i64 {
        let cmd = pull_cmd("G_LP", "LP", 0, i, SUSPEND | SUB, Some("*"), 15_000, 0);
        let t = spawn_held_pull(tb.addr(), cmd);
        assert!(
            wait_until(Duration::from_secs(5), || held(&tb) == 1),
            "pull held"
        );
        let t0 = Instant::now();
        put(&tb, "LP", 0, Some("x"), &format!("m{i}"));
        let (r, t1) = t.join().unwrap();
        assert_eq!(r.code, response::SUCCESS, "{r:?}");
        assert_eq!(record_offsets(&r), vec![i]);
        assert_eq!(pull_header(&r).next_begin_offset, i + 1);
        latencies.push(t1.duration_since(t0));
        assert_eq!(held(&tb), 0);
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let max = latencies[latencies.len() - 1];
    println!(
        "long-polling wake-up latency (store + dispatch + answer): median {median:?}, max {max:?}"
    );
    assert!(max < Duration::from_millis(500), "max {max:?}");

    // A held pull with a tag filter ignores other tags.
    let cmd = pull_cmd("G_LP", "LP", 0, 20, SUSPEND | SUB, Some("want"), 15_000, 0);
    let t = spawn_held_pull(tb.addr(), cmd);
    assert!(wait_until(Duration::from_secs(5), || held(&tb) == 1));
    put(&tb, "LP", 0, Some("other"), "skip");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        held(&tb),
        1,
        "a non-matching arrival does not wake the pull"
    );
    put(&tb, "LP", 0, Some("want"), "take");
    let (r, _) = t.join().unwrap();
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(record_offsets(&r), vec![21]);
    tb.stop();
}

#[test]
fn held_pull_times_out_with_pull_not_found() {
    let tb = common::start_broker();
    create_topic(&tb, "LT", 2);
    // An empty queue, offset 0.
    let t0 = Instant::now();
    let t = spawn_held_pull(
        tb.addr(),
        pull_cmd("G_LT", "LT", 1, 0, SUSPEND | SUB, Some("*"), 400, 0),
    );
    let (r, t1) = t.join().unwrap();
    let waited = t1.duration_since(t0);
    assert_eq!(r.code, response::PULL_NOT_FOUND, "{r:?}");
    let h = pull_header(&r);
    assert_eq!((h.next_begin_offset, h.min_offset, h.max_offset), (0, 0, 0));
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");

    // At the end of a non-empty queue, with the commit flag: the offset is committed once.
    put(&tb, "LT", 0, None, "x");
    let mut cmd = pull_cmd(
        "G_LT",
        "LT",
        0,
        1,
        SUSPEND | SUB | COMMIT,
        Some("*"),
        300,
        0,
    );
    cmd.ext_mut().insert("commitOffset", "1");
    let (r, _) = spawn_held_pull(tb.addr(), cmd).join().unwrap();
    assert_eq!(r.code, response::PULL_NOT_FOUND);
    assert_eq!(r.remark.as_deref(), Some("OFFSET_OVERFLOW_ONE"));
    assert_eq!(pull_header(&r).next_begin_offset, 1);
    assert_eq!(
        tb.broker
            .inner()
            .configs
            .consumer_offsets
            .query("G_LT", "LT", 0),
        Some(1)
    );
    assert_eq!(held(&tb), 0);

    // Short polling (longPollingEnable=false): held shortPollingTimeMills, not woken.
    tb.stop();
    let dir = tempfile::tempdir().unwrap();
    let (mut b, s) = common::configs(dir.path(), None);
    b.long_polling_enable = false;
    b.short_polling_time_mills = 300;
    let tb = common::start_broker_with(b, s, dir);
    create_topic(&tb, "LT", 1);
    let t0 = Instant::now();
    let (r, t1) = spawn_held_pull(
        tb.addr(),
        pull_cmd("G_LT", "LT", 0, 0, SUSPEND | SUB, Some("*"), 15_000, 0),
    )
    .join()
    .unwrap();
    assert_eq!(r.code, response::PULL_NOT_FOUND);
    let waited = t1.duration_since(t0);
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    tb.stop();
}

#[test]
fn shutdown_answers_held_pulls() {
    let tb = common::start_broker();
    create_topic(&tb, "LS", 1);
    let t0 = Instant::now();
    let t = std::thread::spawn({
        let addr = tb.addr();
        move || {
            let c = common::client();
            let cmd = pull_cmd("G_LS", "LS", 0, 0, SUSPEND | SUB, Some("*"), 20_000, 0);
            let _ = rt::block_on(c.invoke(addr, cmd, Duration::from_secs(30)));
            Instant::now()
        }
    });
    assert!(wait_until(Duration::from_secs(5), || held(&tb) == 1));
    tb.stop();
    let t1 = t.join().unwrap();
    assert!(t1.duration_since(t0) < Duration::from_secs(10));
}

/// Many pullers and producers at once: every message is delivered exactly once per group, and
/// no held pull sleeps through data. The producers write in bursts (random queues, tiny gaps,
/// so pullers are often between two pulls when a message lands — the window where a wake-up
/// can be lost); after each burst every puller must have caught up within 2 s. A lost wake-up
/// on a burst's last message would only be repaired by the 5 s safety-net re-check (the hold
/// is 10 s), so it fails the test.
#[test]
fn concurrent_pullers_and_producers_lose_no_wake_up() {
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    const QUEUES: i32 = 4;
    const PRODUCERS: usize = 4;
    const BURSTS: usize = 25;
    const PER_BURST: usize = 6;
    const GROUPS: [&str; 2] = ["RG1", "RG2"];

    let tb = Arc::new(common::start_broker());
    create_topic(&tb, "RACE", QUEUES);
    let stored: Arc<Mutex<HashMap<(i32, i64), Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    // Next offset each puller expects, per (group, queue).
    let progress: Arc<Vec<AtomicI64>> = Arc::new(
        (0..GROUPS.len() * QUEUES as usize)
            .map(|_| AtomicI64::new(0))
            .collect(),
    );

    let mut pullers = Vec::new();
    for (gi, group) in GROUPS.into_iter().enumerate() {
        for q in 0..QUEUES {
            let addr = tb.addr();
            let stop = Arc::clone(&stop);
            let progress = Arc::clone(&progress);
            pullers.push(std::thread::spawn(move || {
                let c = common::client();
                let slot = &progress[gi * QUEUES as usize + q as usize];
                let mut offset = 0i64;
                let mut got: BTreeMap<i64, Instant> = BTreeMap::new();
                let mut not_found = 0;
                while !stop.load(Ordering::SeqCst) {
                    let cmd = pull_cmd(
                        group,
                        "RACE",
                        q,
                        offset,
                        SUSPEND | SUB,
                        Some("*"),
                        10_000,
                        0,
                    );
                    let r = rt::block_on(c.invoke(addr, cmd, Duration::from_secs(30)))
                        .expect("pull answered");
                    let now = Instant::now();
                    match r.code {
                        response::SUCCESS => {
                            for o in record_offsets(&r) {
                                assert!(got.insert(o, now).is_none(), "offset {o} twice");
                            }
                        }
                        response::PULL_NOT_FOUND => not_found += 1,
                        other => panic!("unexpected pull answer {other}: {r:?}"),
                    }
                    offset = pull_header(&r).next_begin_offset;
                    slot.store(offset, Ordering::SeqCst);
                }
                (group, q, got, not_found)
            }));
        }
    }
    // Let the pullers park on the empty queues first.
    assert!(wait_until(Duration::from_secs(10), || held(&tb)
        == GROUPS.len() * QUEUES as usize));

    let mut lost = None;
    for burst in 0..BURSTS {
        let mut producers = Vec::new();
        for p in 0..PRODUCERS {
            let tb = Arc::clone(&tb);
            let stored = Arc::clone(&stored);
            producers.push(std::thread::spawn(move || {
                for j in 0..PER_BURST {
                    let q = ((p * 7 + j * 3 + burst) % QUEUES as usize) as i32;
                    let off = put_nowait(&tb, "RACE", q, Some("t"), "race");
                    stored.lock().unwrap().insert((q, off), Instant::now());
                    // Gaps from none to a few pull round trips.
                    let gap = [0, 200, 1000, 3000][(j + p * 3 + burst) % 4];
                    std::thread::sleep(Duration::from_micros(gap));
                }
            }));
        }
        for p in producers {
            p.join().unwrap();
        }
        let store = tb.broker.store();
        let caught_up = wait_until(Duration::from_secs(2), || {
            (0..GROUPS.len()).all(|gi| {
                (0..QUEUES).all(|q| {
                    progress[gi * QUEUES as usize + q as usize].load(Ordering::SeqCst)
                        == store.max_offset_in_queue("RACE", q)
                })
            })
        });
        if !caught_up {
            lost = Some(burst);
            break;
        }
    }
    // Release the pullers: one more message per queue ends their last hold.
    stop.store(true, Ordering::SeqCst);
    for q in 0..QUEUES {
        put_nowait(&tb, "RACE", q, None, "stop");
    }
    let mut worst = Duration::ZERO;
    let mut delivered = 0;
    for t in pullers {
        let (group, q, got, not_found) = t.join().unwrap();
        let max = tb.broker.store().max_offset_in_queue("RACE", q);
        let want: Vec<i64> = (0..max).collect();
        let have: Vec<i64> = got.keys().copied().filter(|o| *o < max).collect();
        // The last ("stop") message may or may not have been pulled.
        assert!(
            have == want || have == want[..want.len() - 1],
            "{group} queue {q} got every message once"
        );
        assert_eq!(not_found, 0, "{group} queue {q}: a held pull timed out");
        let stored = stored.lock().unwrap();
        for (o, when) in got {
            if let Some(put_at) = stored.get(&(q, o)) {
                worst = worst.max(when.saturating_duration_since(*put_at));
                delivered += 1;
            }
        }
    }
    assert_eq!(
        lost, None,
        "pullers did not catch up after a burst: a wake-up was lost"
    );
    assert_eq!(delivered, GROUPS.len() * PRODUCERS * PER_BURST * BURSTS);
    println!("race: {delivered} deliveries, worst store-to-delivery delay {worst:?}");
    assert!(worst < Duration::from_secs(2), "worst delay {worst:?}");
    assert!(wait_until(Duration::from_secs(5), || held(&tb) == 0));
    match Arc::try_unwrap(tb) {
        Ok(tb) => tb.stop(),
        Err(_) => panic!("broker still shared"),
    }
}
