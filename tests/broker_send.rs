//! The send path and message queries over raw frames: V1/V2/batch sends read back with
//! VIEW_MESSAGE_BY_ID, topic auto-create, the checks and their codes, one-way sends, C++ and
//! ali-ons style headers, retry/DLQ, delayed and transactional messages, QUERY_MESSAGE.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use apogee::rt;
use apogee_codec::body::{TopicConfig, TopicFilterType};
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::{
    QueryMessageRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
    SendMessageResponseHeader, ViewMessageRequestHeader,
};
use apogee_codec::message::message_id::MessageId;
use apogee_codec::message::{
    decode_offset_msg_id, decode_record, encode_batch, iter_records, sysflag, BatchEntry,
    MessageExt,
};
use apogee_codec::{FrameDecoder, RemotingCommand, SerializeType};
use bytes::BytesMut;

const WAIT_LIMIT: Duration = Duration::from_secs(10);

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

fn v2_header(topic: &str, queue_id: i32, properties: &str) -> SendMessageRequestHeaderV2 {
    SendMessageRequestHeaderV2 {
        a: "pg".into(),
        b: topic.into(),
        c: "TBW102".into(),
        d: 4,
        e: queue_id,
        f: 0,
        g: 1_700_000_000_123,
        h: 7,
        i: Some(properties.into()),
        j: Some(0),
        k: false,
        l: None,
        m: false,
        n: Some("broker-test".into()),
    }
}

fn v2_send(h: &SendMessageRequestHeaderV2, body: &[u8]) -> RemotingCommand {
    RemotingCommand::request(rc::SEND_MESSAGE_V2, 0)
        .with_header(h)
        .with_body(body.to_vec())
}

fn send_ok(r: &RemotingCommand) -> SendMessageResponseHeader {
    assert_eq!(r.code, response::SUCCESS, "remark: {:?}", r.remark);
    r.read_header::<SendMessageResponseHeader>()
        .expect("send response header")
}

/// Every send response carries MSG_REGION and TRACE_ON.
fn assert_send_extras(r: &RemotingCommand) {
    assert_eq!(r.ext("MSG_REGION"), Some("DefaultRegion"), "{r}");
    assert_eq!(r.ext("TRACE_ON"), Some("true"), "{r}");
}

fn view_raw(
    c: &apogee::remoting::RemotingClient,
    addr: SocketAddr,
    offset: i64,
) -> RemotingCommand {
    let req = RemotingCommand::request(rc::VIEW_MESSAGE_BY_ID, 0).with_header(
        &ViewMessageRequestHeader {
            offset,
            topic: None,
        },
    );
    common::call(c, addr, req)
}

fn view(c: &apogee::remoting::RemotingClient, addr: SocketAddr, msg_id: &str) -> MessageExt {
    let id: MessageId = decode_offset_msg_id(msg_id).expect("offset msg id");
    assert_eq!(id.store_host, addr, "msg id names the broker");
    let r = view_raw(c, addr, id.offset);
    assert_eq!(r.code, response::SUCCESS, "{r}");
    let (rec, n) = decode_record(&r.body).expect("a record");
    assert_eq!(n, r.body.len());
    assert_eq!(rec.physical_offset, id.offset);
    MessageExt::from_record(&rec)
}

fn local_addr(c: &apogee::remoting::RemotingClient, addr: SocketAddr) -> SocketAddr {
    rt::block_on(c.connection(addr)).expect("connect").local()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn v1_and_v2_sends_are_stored_as_java_stores_them() {
    let tb = common::start_broker();
    let c = common::client();
    let me = local_addr(&c, tb.addr());
    let raw_props = props(&[
        ("KEYS", "k1"),
        ("UNIQ_KEY", "7F000001000118B4AAC2000000000001"),
        ("WAIT", "true"),
        ("TAGS", "TagA"),
    ]);
    let mut offsets = Vec::new();
    for st in [SerializeType::Json, SerializeType::RocketMq] {
        for code in [rc::SEND_MESSAGE, rc::SEND_MESSAGE_V2] {
            let h = v2_header("TopicBasic", 1, &raw_props);
            let mut req = if code == rc::SEND_MESSAGE {
                RemotingCommand::request(code, 0).with_header(&SendMessageRequestHeader::from(h))
            } else {
                RemotingCommand::request(code, 0).with_header(&h)
            };
            req.serialize_type = st;
            let body = format!("body {code} {st:?}");
            req.body = body.clone().into_bytes().into();
            let r = common::call(&c, tb.addr(), req);
            assert_eq!(
                r.serialize_type, st,
                "answered in the request's serialization"
            );
            assert_send_extras(&r);
            let rh = send_ok(&r);
            assert_eq!(rh.queue_id, 1);
            assert_eq!(rh.msg_id.len(), 32);
            offsets.push(rh.queue_offset);

            let m = view(&c, tb.addr(), &rh.msg_id);
            assert_eq!(m.topic, "TopicBasic");
            assert_eq!(m.queue_id, 1);
            assert_eq!(m.queue_offset, rh.queue_offset);
            assert_eq!(&m.body[..], body.as_bytes());
            assert_eq!(m.flag, 7);
            assert_eq!(m.born_timestamp, 1_700_000_000_123);
            assert_eq!(m.born_host, me, "born host = the producer's socket address");
            assert_eq!(m.store_host, tb.addr());
            assert_eq!(m.property("CLUSTER"), Some("DefaultCluster"));
            assert_eq!(m.property("WAIT"), None, "WAIT is not stored");
            assert_eq!(m.property("TAGS"), Some("TagA"));
            assert_eq!(m.property("KEYS"), Some("k1"));
            assert_eq!(m.properties.len(), 4);
        }
    }
    assert_eq!(offsets, vec![0, 1, 2, 3]);
    tb.stop();
}

#[test]
fn batch_send_stores_each_message() {
    let tb = common::start_broker();
    let c = common::client();
    let inner: Vec<String> = (0..3)
        .map(|i| props(&[("UNIQ_KEY", &format!("U{i}")), ("WAIT", "true")]))
        .collect();
    let bodies: Vec<String> = (0..3).map(|i| format!("m{i}")).collect();
    let body = encode_batch((0..3).map(|i| {
        BatchEntry::new(
            i,
            bodies[i as usize].as_bytes(),
            inner[i as usize].as_bytes(),
        )
    }))
    .expect("batch body");
    let mut h = v2_header("TopicBatch", 0, &props(&[("WAIT", "true")]));
    h.m = true;
    // Twice: offsets continue.
    for round in 0..2 {
        let req = RemotingCommand::request(rc::SEND_BATCH_MESSAGE, 0)
            .with_header(&h)
            .with_body(body.clone());
        let r = common::call(&c, tb.addr(), req);
        assert_send_extras(&r);
        let rh = send_ok(&r);
        assert_eq!(rh.queue_offset, round * 3, "first offset of the batch");
        let ids: Vec<&str> = rh.msg_id.split(',').collect();
        assert_eq!(ids.len(), 3);
        for (i, id) in ids.iter().enumerate() {
            let m = view(&c, tb.addr(), id);
            assert_eq!(m.topic, "TopicBatch");
            assert_eq!(m.queue_offset, round * 3 + i as i64, "consecutive offsets");
            assert_eq!(&m.body[..], bodies[i].as_bytes());
            assert_eq!(m.flag, i as i32);
            assert_eq!(m.uniq_key(), Some(format!("U{i}").as_str()));
            assert_eq!(m.property("CLUSTER"), Some("DefaultCluster"));
            assert_eq!(m.property("WAIT"), Some("true"));
        }
    }

    // Refused batches.
    let mut retry = h.clone();
    retry.b = "%RETRY%g1".into();
    let mut delayed = h.clone();
    delayed.i = Some(props(&[("DELAY", "2")]));
    let mut tx = h.clone();
    tx.f = sysflag::TRANSACTION_PREPARED_TYPE;
    for bad in [retry, delayed, tx] {
        let req = RemotingCommand::request(rc::SEND_BATCH_MESSAGE, 0)
            .with_header(&bad)
            .with_body(body.clone());
        let r = common::call(&c, tb.addr(), req);
        assert_eq!(r.code, response::MESSAGE_ILLEGAL, "{bad:?}: {r}");
        assert_send_extras(&r);
    }
    let req = RemotingCommand::request(rc::SEND_BATCH_MESSAGE, 0)
        .with_header(&h)
        .with_body(b"\x00\x00\x00\x30garbage".to_vec());
    let r = common::call(&c, tb.addr(), req);
    assert_eq!(r.code, response::MESSAGE_ILLEGAL, "{r}");
    tb.stop();
}

#[test]
fn topics_are_auto_created_from_tbw102() {
    let tb = common::start_broker();
    let c = common::client();
    let topics = &tb.broker.inner().configs.topics;
    for (topic, d, want) in [("AutoA", 4, 4), ("AutoB", 16, 8)] {
        assert!(topics.get(topic).is_none());
        let mut h = v2_header(topic, -1, "");
        h.d = d;
        let r = common::call(&c, tb.addr(), v2_send(&h, b"x"));
        let rh = send_ok(&r);
        assert!((0..want).contains(&rh.queue_id));
        let tc = topics.get(topic).expect("created");
        assert_eq!((tc.read_queue_nums, tc.write_queue_nums), (want, want));
        assert_eq!(tc.perm, 6, "template perm without INHERIT");
    }
    // Random queues spread over the writable ones.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..64 {
        let r = common::call(&c, tb.addr(), v2_send(&v2_header("AutoA", -1, ""), b"x"));
        seen.insert(send_ok(&r).queue_id);
    }
    assert!(
        seen.len() > 1 && seen.iter().all(|q| (0..4).contains(q)),
        "{seen:?}"
    );

    // A template without INHERIT creates nothing.
    let mut h = v2_header("AutoC", 0, "");
    h.c = "SELF_TEST_TOPIC".into();
    let r = common::call(&c, tb.addr(), v2_send(&h, b"x"));
    assert_eq!(r.code, response::TOPIC_NOT_EXIST, "{r}");
    assert!(r
        .remark
        .unwrap_or_default()
        .contains("topic[AutoC] not exist"));
    tb.stop();
}

/// A broker with `autoCreateTopicEnable=false`, `autoCreateSubscriptionGroup=false` and
/// `rejectTransactionMessage=true`.
fn strict_broker() -> common::TestBroker {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut b, s) = common::configs(dir.path(), None);
    b.auto_create_topic_enable = false;
    b.auto_create_subscription_group = false;
    b.reject_transaction_message = true;
    common::start_broker_with(b, s, dir)
}

#[test]
fn strict_broker_refuses_unknown_topics_groups_and_transactions() {
    let tb = strict_broker();
    let c = common::client();
    let r = common::call(&c, tb.addr(), v2_send(&v2_header("NoAuto", 0, ""), b"x"));
    assert_eq!(r.code, response::TOPIC_NOT_EXIST, "{r}");
    assert_send_extras(&r);
    assert!(tb.broker.inner().configs.topics.get("NoAuto").is_none());

    // %RETRY% topics are still created (1 queue), but the group must exist.
    let r = common::call(
        &c,
        tb.addr(),
        v2_send(&v2_header("%RETRY%nogroup", 0, ""), b"x"),
    );
    assert_eq!(r.code, response::SUBSCRIPTION_GROUP_NOT_EXIST, "{r}");
    assert!(r.remark.unwrap_or_default().contains("nogroup"));
    let tc = tb
        .broker
        .inner()
        .configs
        .topics
        .get("%RETRY%nogroup")
        .expect("retry topic");
    assert_eq!(
        (tc.read_queue_nums, tc.write_queue_nums, tc.perm),
        (1, 1, 6)
    );

    // Transactions refused.
    let tx = props(&[("TRAN_MSG", "true"), ("PGROUP", "pg")]);
    let mut h = v2_header("BenchmarkTest", 0, &tx);
    h.f = sysflag::TRANSACTION_PREPARED_TYPE;
    let r = common::call(&c, tb.addr(), v2_send(&h, b"x"));
    assert_eq!(r.code, response::NO_PERMISSION, "{r}");
    assert!(r.remark.unwrap_or_default().contains("transaction"));
    tb.stop();
}

#[test]
fn bad_topics_queues_and_headers() {
    let tb = common::start_broker();
    let c = common::client();
    let long = "a".repeat(128);
    for (topic, code, remark) in [
        ("", response::SYSTEM_ERROR, "The specified topic is blank."),
        (
            "  ",
            response::SYSTEM_ERROR,
            "The specified topic is blank.",
        ),
        (
            "bad topic",
            response::SYSTEM_ERROR,
            "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$",
        ),
        (
            "caf\u{e9}",
            response::SYSTEM_ERROR,
            "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$",
        ),
        (
            long.as_str(),
            response::SYSTEM_ERROR,
            "The specified topic is longer than topic max length.",
        ),
        (
            "SCHEDULE_TOPIC_XXXX",
            response::NO_PERMISSION,
            "Sending message to topic[SCHEDULE_TOPIC_XXXX] is forbidden.",
        ),
        (
            "RMQ_SYS_TRANS_HALF_TOPIC",
            response::NO_PERMISSION,
            "Sending message to topic[RMQ_SYS_TRANS_HALF_TOPIC] is forbidden.",
        ),
        (
            "OFFSET_MOVED_EVENT",
            response::NO_PERMISSION,
            "Sending message to topic[OFFSET_MOVED_EVENT] is forbidden.",
        ),
    ] {
        let r = common::call(&c, tb.addr(), v2_send(&v2_header(topic, 0, ""), b"x"));
        assert_eq!(r.code, code, "{topic:?}: {r}");
        assert_eq!(r.remark.as_deref(), Some(remark), "{topic:?}");
        assert_send_extras(&r);
    }

    // Queue ids: max(read, write) is the limit; negative = broker picks.
    let r = common::call(&c, tb.addr(), v2_send(&v2_header("TopicQ", 3, ""), b"x"));
    send_ok(&r);
    let r = common::call(&c, tb.addr(), v2_send(&v2_header("TopicQ", 4, ""), b"x"));
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
    let remark = r.remark.unwrap_or_default();
    assert!(
        remark.starts_with(
            "request queueId[4] is illegal, TopicConfig [topicName=TopicQ, readQueueNums=4"
        ),
        "{remark}"
    );
    let r = common::call(&c, tb.addr(), v2_send(&v2_header("TopicQ", -5, ""), b"x"));
    assert!((0..4).contains(&send_ok(&r).queue_id));

    // Missing / ill-typed header fields: SYSTEM_ERROR naming the field.
    let full = v2_send(&v2_header("TopicQ", 0, ""), b"x");
    for (drop, replace, needle) in [
        (Some("b"), None, "'b'"),
        (Some("g"), None, "bornTimestamp"),
        (None, Some(("e", "x1")), "'e'"),
        (None, Some(("d", "")), "defaultTopicQueueNums"),
    ] {
        let mut req = full.clone();
        if let Some(k) = drop {
            req.ext_mut().remove(k);
        }
        if let Some((k, v)) = replace {
            req.ext_mut().insert(k, v);
        }
        let r = common::call(&c, tb.addr(), req);
        assert_eq!(r.code, response::SYSTEM_ERROR, "{r}");
        assert!(
            r.remark.as_deref().unwrap_or("").contains(needle),
            "{needle}: {r}"
        );
    }
    let mut v1 = RemotingCommand::request(rc::SEND_MESSAGE, 0)
        .with_header(&SendMessageRequestHeader::from(v2_header("TopicQ", 0, "")));
    v1.ext_mut().remove("producerGroup");
    let r = common::call(&c, tb.addr(), v1);
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap_or_default().contains("producerGroup"));
    // No extFields at all.
    let r = common::call(
        &c,
        tb.addr(),
        RemotingCommand::request(rc::SEND_MESSAGE_V2, 0),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR);
    tb.stop();
}

#[test]
fn multi_tag_topics_flag_their_messages() {
    let tb = common::start_broker();
    let c = common::client();
    let tc = TopicConfig {
        read_queue_nums: 2,
        write_queue_nums: 2,
        perm: 6,
        topic_filter_type: TopicFilterType::MultiTag,
        ..TopicConfig::new("TopicMulti")
    };
    tb.broker
        .inner()
        .configs
        .topics
        .update_topic_config(tc)
        .expect("topic");
    let r = common::call(
        &c,
        tb.addr(),
        v2_send(&v2_header("TopicMulti", 1, ""), b"x"),
    );
    let m = view(&c, tb.addr(), &send_ok(&r).msg_id);
    assert_eq!(m.sys_flag & sysflag::MULTI_TAGS, sysflag::MULTI_TAGS);
    tb.stop();
}

// ---- raw sockets ------------------------------------------------------------------------------

/// A raw JSON-header frame.
fn json_frame(header: &str, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    f.extend_from_slice(&(header.len() as u32).to_be_bytes());
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(body);
    f
}

/// Read one response frame: (raw header text, decoded command).
fn read_frame(s: &mut TcpStream) -> (String, RemotingCommand) {
    let mut dec = FrameDecoder::new(16 << 20);
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(frame) = dec.decode(&mut buf).expect("frame") {
            let text = String::from_utf8_lossy(&frame.header).into_owned();
            let cmd = RemotingCommand::from_frame(frame).expect("command");
            return (text, cmd);
        }
        let n = s
            .read(&mut chunk)
            .expect("read (bounded by the socket timeout)");
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn raw_socket(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, WAIT_LIMIT).expect("connect");
    s.set_read_timeout(Some(WAIT_LIMIT)).expect("timeout");
    s
}

fn json_escape(s: &str) -> String {
    s.chars()
        .map(|ch| match ch {
            '\u{1}' => "\\u0001".to_owned(),
            '\u{2}' => "\\u0002".to_owned(),
            '"' => "\\\"".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[test]
fn cpp_and_ali_ons_style_headers_work() {
    let tb = common::start_broker();
    let mut s = raw_socket(tb.addr());
    let p = json_escape(&props(&[("UNIQ_KEY", "CPP1"), ("WAIT", "true")]));
    // C++: language CPP, version 333, numbers for d/e/f/h/l, empty credentials.
    let cpp = format!(
        r#"{{"code":310,"language":"CPP","version":333,"opaque":11,"flag":0,"remark":"","extFields":{{"AccessKey":"","Signature":"","OnsChannel":"ALIYUN","a":"pg","b":"TopicCpp","c":"TBW102","d":4,"e":2,"f":0,"g":"1700000000000","h":0,"i":"{p}","j":"0","k":"false","l":16,"m":"false"}}}}"#
    );
    // ali-ons: language JAVA, version 121, numbers and booleans, no m/n.
    let ons = format!(
        r#"{{"code":310,"language":"JAVA","version":121,"opaque":12,"flag":0,"extFields":{{"a":"pg","b":"TopicCpp","c":"TBW102","d":4,"e":-1,"f":0,"g":1700000000001,"h":0,"i":"{p}","j":0,"k":false,"l":16}}}}"#
    );
    for (header, opaque) in [(cpp, 11), (ons, 12)] {
        s.write_all(&json_frame(&header, b"raw body"))
            .expect("write");
        let (text, r) = read_frame(&mut s);
        assert_eq!(r.opaque, opaque);
        assert!(r.is_response());
        assert_eq!(r.code, response::SUCCESS, "{text}");
        // C++ reads only string values; ali-ons needs standard JSON.
        for key in ["msgId", "queueId", "queueOffset", "MSG_REGION", "TRACE_ON"] {
            assert!(
                text.contains(&format!("\"{key}\":\"")),
                "{key} as a string: {text}"
            );
        }
        serde_json::from_str::<serde_json::Value>(&text).expect("standard JSON");
        let rh = send_ok(&r);
        if opaque == 11 {
            assert_eq!(rh.queue_id, 2);
        }
    }
    tb.stop();
}

#[test]
fn oneway_sends_are_stored_without_an_answer() {
    let tb = common::start_broker();
    let mut s = raw_socket(tb.addr());
    let p = json_escape(&props(&[("UNIQ_KEY", "ONEWAY1")]));
    let oneway = format!(
        r#"{{"code":310,"language":"JAVA","version":409,"opaque":21,"flag":2,"extFields":{{"a":"pg","b":"TopicOneway","c":"TBW102","d":"4","e":"0","f":"0","g":"1","h":"0","i":"{p}"}},"serializeTypeCurrentRPC":"JSON"}}"#
    );
    s.write_all(&json_frame(&oneway, b"fire and forget"))
        .expect("write");
    // A bad one-way send gets no answer either.
    let bad = r#"{"code":310,"language":"JAVA","version":409,"opaque":22,"flag":2,"extFields":{"a":"pg"}}"#;
    s.write_all(&json_frame(bad, b"")).expect("write");
    let store = tb.broker.store().clone();
    wait_until("the one-way message", || {
        store.max_offset_in_queue("TopicOneway", 0) == 1
    });
    // The next answer on this connection is the one to this request, not to the one-ways.
    let sync = r#"{"code":7777,"language":"JAVA","version":409,"opaque":23,"flag":0}"#;
    s.write_all(&json_frame(sync, b"")).expect("write");
    let (_, r) = read_frame(&mut s);
    assert_eq!(r.opaque, 23);
    assert_eq!(r.code, response::REQUEST_CODE_NOT_SUPPORTED);
    tb.stop();
}

// ---- retry, delay, transactions ---------------------------------------------------------------

#[test]
fn retry_topic_sends_go_to_the_dlq_after_max_reconsume_times() {
    let tb = common::start_broker();
    let c = common::client();
    let topics = &tb.broker.inner().configs.topics;
    let send = |version: i32, j: i32, l: Option<i32>, p: &str| {
        let mut h = v2_header("%RETRY%cg", 0, p);
        h.j = Some(j);
        h.l = l;
        let mut req = v2_send(&h, b"retry");
        req.version = version;
        common::call(&c, tb.addr(), req)
    };
    // Below the limit: stays in the retry topic.
    let r = send(409, 2, Some(3), "");
    let m = view(&c, tb.addr(), &send_ok(&r).msg_id);
    assert_eq!(m.topic, "%RETRY%cg");
    assert_eq!(m.reconsume_times, 2);
    assert!(
        tb.broker
            .inner()
            .configs
            .subscription_groups
            .get("cg")
            .is_some(),
        "group auto-created"
    );

    // At the header's limit (request version >= 121): DLQ.
    let r = send(409, 3, Some(3), "");
    assert_send_extras(&r);
    let rh = send_ok(&r);
    assert_eq!(rh.queue_id, 0);
    let m = view(&c, tb.addr(), &rh.msg_id);
    assert_eq!(m.topic, "%DLQ%cg");
    assert_eq!(m.queue_id, 0);
    assert_eq!(m.reconsume_times, 3);
    let dlq = topics.get("%DLQ%cg").expect("DLQ topic");
    assert_eq!(
        (dlq.read_queue_nums, dlq.write_queue_nums, dlq.perm),
        (1, 1, 6)
    );

    // Old clients' maxReconsumeTimes is ignored: the group's 16 applies.
    let r = send(100, 3, Some(3), "");
    assert_eq!(view(&c, tb.addr(), &send_ok(&r).msg_id).topic, "%RETRY%cg");
    let r = send(100, 16, Some(3), "");
    assert_eq!(view(&c, tb.addr(), &send_ok(&r).msg_id).topic, "%DLQ%cg");

    // As in 4.9.8, a DELAY sent along is kept: the message waits in SCHEDULE_TOPIC_XXXX
    // with the DLQ as its real topic.
    let r = send(409, 5, Some(3), &props(&[("DELAY", "4")]));
    let m = view(&c, tb.addr(), &send_ok(&r).msg_id);
    assert_eq!(m.topic, "SCHEDULE_TOPIC_XXXX");
    assert_eq!(m.property("REAL_TOPIC"), Some("%DLQ%cg"));
    tb.stop();
}

#[test]
fn delayed_messages_wait_in_the_schedule_topic() {
    let tb = common::start_broker();
    let c = common::client();
    let p = props(&[("DELAY", "3"), ("WAIT", "true"), ("TAGS", "t")]);
    let r = common::call(
        &c,
        tb.addr(),
        v2_send(&v2_header("TopicDelay", 2, &p), b"later"),
    );
    let rh = send_ok(&r);
    assert_eq!(rh.queue_id, 2, "the response names the requested queue");
    let m = view(&c, tb.addr(), &rh.msg_id);
    assert_eq!(m.topic, "SCHEDULE_TOPIC_XXXX");
    assert_eq!(m.queue_id, 2, "level 3 → queue 2");
    assert_eq!(m.property("REAL_TOPIC"), Some("TopicDelay"));
    assert_eq!(m.property("REAL_QID"), Some("2"));
    assert_eq!(m.property("DELAY"), Some("3"));
    assert_eq!(m.property("CLUSTER"), Some("DefaultCluster"));
    // Java serializes its map again for the rewrite, and that map has WAIT again.
    assert_eq!(m.property("WAIT"), Some("true"));
    tb.stop();
}

#[test]
fn transaction_half_messages_go_to_the_half_topic() {
    let tb = common::start_broker();
    let c = common::client();
    let uniq = "7F000001000118B4AAC20000000000AA";
    let p = props(&[
        ("TRAN_MSG", "true"),
        ("PGROUP", "txgroup"),
        ("UNIQ_KEY", uniq),
        ("WAIT", "true"),
    ]);
    let mut h = v2_header("TopicTx", 1, &p);
    h.f = sysflag::TRANSACTION_PREPARED_TYPE;
    let r = common::call(&c, tb.addr(), v2_send(&h, b"half"));
    assert_send_extras(&r);
    let rh = send_ok(&r);
    assert_eq!(rh.transaction_id.as_deref(), Some(uniq));
    assert_eq!(rh.queue_id, 1);
    let m = view(&c, tb.addr(), &rh.msg_id);
    assert_eq!(m.topic, "RMQ_SYS_TRANS_HALF_TOPIC");
    assert_eq!(m.queue_id, 0);
    assert_eq!(m.queue_offset, rh.queue_offset);
    assert_eq!(
        m.sys_flag & sysflag::TRANSACTION_MASK,
        sysflag::TRANSACTION_NOT_TYPE
    );
    assert_eq!(m.property("REAL_TOPIC"), Some("TopicTx"));
    assert_eq!(m.property("REAL_QID"), Some("1"));
    assert_eq!(m.property("PGROUP"), Some("txgroup"));
    assert_eq!(m.property("TRAN_MSG"), Some("true"));
    assert_eq!(m.property("CLUSTER"), Some("DefaultCluster"));
    // The half message has a consume-queue entry.
    let store = tb.broker.store().clone();
    wait_until("the half message's queue entry", || {
        store.max_offset_in_queue("RMQ_SYS_TRANS_HALF_TOPIC", 0) == 1
    });
    tb.stop();
}

#[test]
fn reply_messages_are_stored_verbatim() {
    let tb = common::start_broker();
    let c = common::client();
    let raw = props(&[
        ("MSG_TYPE", "reply"),
        ("CORRELATION_ID", "corr-1"),
        ("REPLY_TO_CLIENT", "client-1"),
        ("CLUSTER", "DefaultCluster"),
        ("WAIT", "true"),
    ]);
    let h = v2_header("DefaultCluster_REPLY_TOPIC", 0, &raw);
    let req = RemotingCommand::request(rc::SEND_REPLY_MESSAGE_V2, 0)
        .with_header(&h)
        .with_body(b"reply".to_vec());
    let r = common::call(&c, tb.addr(), req);
    assert_send_extras(&r);
    let rh = send_ok(&r);
    let id = decode_offset_msg_id(&rh.msg_id).expect("id");
    let v = view_raw(&c, tb.addr(), id.offset);
    let (rec, _) = decode_record(&v.body).expect("record");
    assert_eq!(rec.topic, b"DefaultCluster_REPLY_TOPIC");
    assert_eq!(rec.properties, raw.as_bytes());
    tb.stop();
}

// ---- queries ----------------------------------------------------------------------------------

fn query(
    c: &apogee::remoting::RemotingClient,
    addr: SocketAddr,
    topic: &str,
    key: &str,
    unique: bool,
) -> RemotingCommand {
    let h = QueryMessageRequestHeader {
        topic: topic.into(),
        key: key.into(),
        max_num: 32,
        begin_timestamp: 0,
        end_timestamp: i64::MAX,
        unique_key_query: Some(unique),
        ..Default::default()
    };
    common::call(
        c,
        addr,
        RemotingCommand::request(rc::QUERY_MESSAGE, 0).with_header(&h),
    )
}

fn records(body: &[u8]) -> Vec<MessageExt> {
    iter_records(body)
        .map(|r| MessageExt::from_record(&r.expect("record")))
        .collect()
}

#[test]
fn query_by_key_and_unique_key_and_view_by_offset() {
    let tb = common::start_broker();
    let c = common::client();
    for i in 0..3 {
        let p = props(&[
            ("KEYS", &format!("order-{i} common")),
            ("UNIQ_KEY", &format!("UNIQ{i}")),
        ]);
        send_ok(&common::call(
            &c,
            tb.addr(),
            v2_send(&v2_header("TopicQuery", 0, &p), b"q"),
        ));
    }
    // Same key, other topic.
    let p = props(&[("KEYS", "common")]);
    send_ok(&common::call(
        &c,
        tb.addr(),
        v2_send(&v2_header("TopicOther", 0, &p), b"o"),
    ));
    assert!(tb.broker.store().wait_dispatched(WAIT_LIMIT), "dispatched");

    let r = query(&c, tb.addr(), "TopicQuery", "order-1", false);
    assert_eq!(r.code, response::SUCCESS, "{r}");
    assert!(r.ext("indexLastUpdateTimestamp").is_some());
    assert!(r.ext("indexLastUpdatePhyoffset").is_some());
    let found = records(&r.body);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].uniq_key(), Some("UNIQ1"));

    let r = query(&c, tb.addr(), "TopicQuery", "common", false);
    let found = records(&r.body);
    assert_eq!(found.len(), 3);
    assert!(found.iter().all(|m| m.topic == "TopicQuery"));

    let r = query(&c, tb.addr(), "TopicQuery", "UNIQ2", true);
    assert_eq!(r.code, response::SUCCESS, "{r}");
    let found = records(&r.body);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].property("KEYS"), Some("order-2 common"));

    let r = query(&c, tb.addr(), "TopicQuery", "nothing", false);
    assert_eq!(r.code, response::QUERY_NOT_FOUND);
    assert!(r.ext("indexLastUpdatePhyoffset").is_some());
    // A time range before the messages.
    let h = QueryMessageRequestHeader {
        topic: "TopicQuery".into(),
        key: "common".into(),
        max_num: 32,
        begin_timestamp: 0,
        end_timestamp: 1,
        ..Default::default()
    };
    let r = common::call(
        &c,
        tb.addr(),
        RemotingCommand::request(rc::QUERY_MESSAGE, 0).with_header(&h),
    );
    assert_eq!(r.code, response::QUERY_NOT_FOUND);
    // Bad query header.
    let r = common::call(
        &c,
        tb.addr(),
        RemotingCommand::request(rc::QUERY_MESSAGE, 0),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR);

    // VIEW of offsets that hold no record.
    let end = tb.broker.store().commit_log_max_offset();
    for offset in [-1, end, 1 << 40] {
        let r = view_raw(&c, tb.addr(), offset);
        assert_eq!(r.code, response::SYSTEM_ERROR, "{offset}");
        assert_eq!(
            r.remark.as_deref(),
            Some(format!("can not find message by the offset, {offset}").as_str())
        );
    }
    let r = common::call(
        &c,
        tb.addr(),
        RemotingCommand::request(rc::VIEW_MESSAGE_BY_ID, 0),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR);
    tb.stop();
}
