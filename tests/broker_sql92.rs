//! SQL92 property filtering over raw frames: messages sent with SEND_MESSAGE_V2 carrying
//! properties, pulled with `expressionType=SQL92` (from the pull header and from the
//! heartbeat), CHECK_CLIENT_CONFIG, long polling, and the refusals with
//! `enablePropertyFilter=false`. Every wait is bounded.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use apogee::rt;
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::pull::{
    pull_sys_flag, PullMessageRequestHeader, PullMessageResponseHeader,
};
use apogee_codec::header::SendMessageRequestHeaderV2;
use apogee_codec::message::{iter_records, MessageProperties};
use apogee_codec::RemotingCommand;
use common::TestBroker;

const SUB: i32 = pull_sys_flag::FLAG_SUBSCRIPTION;
const SUSPEND: i32 = pull_sys_flag::FLAG_SUSPEND;
const WAIT: Duration = Duration::from_secs(10);

fn broker(enable_property_filter: bool) -> TestBroker {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut b, s) = common::configs(dir.path(), None);
    b.enable_property_filter = enable_property_filter;
    common::start_broker_with(b, s, dir)
}

fn create_topic(tb: &TestBroker, topic: &str, queues: i32) {
    tb.broker
        .inner()
        .configs
        .topics
        .create_topic_in_send_back_detailed(topic, queues, 6, 0);
}

/// SEND_MESSAGE_V2 to queue 0 with these properties; waits (bounded) until dispatched.
fn send(tb: &TestBroker, topic: &str, props: &[(&str, &str)], body: &str) {
    let mut p = MessageProperties::new();
    for (k, v) in props {
        p.insert(*k, *v);
    }
    let h = SendMessageRequestHeaderV2 {
        a: "PG_SQL".into(),
        b: topic.into(),
        c: "TBW102".into(),
        d: 4,
        e: 0,
        f: 0,
        g: 1_700_000_000_000,
        h: 0,
        i: Some(String::from_utf8(p.encode()).expect("utf-8 properties")),
        j: Some(0),
        k: false,
        l: None,
        m: false,
        n: None,
    };
    let cmd = RemotingCommand::request(rc::SEND_MESSAGE_V2, 0)
        .with_header(&h)
        .with_body(body.as_bytes().to_vec());
    let r = common::call(&common::client(), tb.addr(), cmd);
    assert_eq!(r.code, response::SUCCESS, "send: {r:?}");
    assert!(tb.broker.store().wait_dispatched(Duration::from_secs(5)));
}

/// Messages `a=1..=10` (TAGS alternating TagA/TagB, `b` only on even ones) in queue 0.
fn send_ten(tb: &TestBroker, topic: &str) {
    for a in 1..=10 {
        let a_s = a.to_string();
        let tag = if a % 2 == 1 { "TagA" } else { "TagB" };
        let b = format!("v{a}");
        let mut props = vec![("a", a_s.as_str()), ("TAGS", tag)];
        if a % 2 == 0 {
            props.push(("b", b.as_str()));
        }
        send(tb, topic, &props, &format!("m{a}"));
    }
}

fn pull_cmd(
    group: &str,
    topic: &str,
    offset: i64,
    sys_flag: i32,
    expr: Option<&str>,
    expression_type: &str,
    suspend_ms: i64,
) -> RemotingCommand {
    let h = PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: 0,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag,
        commit_offset: 0,
        suspend_timeout_millis: suspend_ms,
        subscription: expr.map(str::to_owned),
        sub_version: 0,
        expression_type: Some(expression_type.into()),
        ..Default::default()
    };
    RemotingCommand::request(rc::PULL_MESSAGE, 0).with_header(&h)
}

/// A pull with the SQL92 expression in the header (flag 0x4), no suspension.
fn pull_sql(tb: &TestBroker, offset: i64, expr: &str) -> RemotingCommand {
    common::call(
        &common::client(),
        tb.addr(),
        pull_cmd("G_SQL", "T", offset, SUB, Some(expr), "SQL92", 0),
    )
}

fn pull_header(r: &RemotingCommand) -> PullMessageResponseHeader {
    r.read_header()
        .unwrap_or_else(|e| panic!("pull response header ({e}): {r:?}"))
}

/// The `a` property of each pulled record.
fn pulled_a(r: &RemotingCommand) -> Vec<i64> {
    iter_records(&r.body)
        .map(|rec| {
            let rec = rec.expect("record decodes");
            let a = rec.property("a").expect("a is set");
            std::str::from_utf8(a).unwrap().parse().unwrap()
        })
        .collect()
}

fn check_client_config(tb: &TestBroker, expression_type: &str, expr: &str) -> RemotingCommand {
    let body = serde_json::json!({
        "clientId": "127.0.0.1@sql",
        "group": "G_SQL",
        "subscriptionData": {
            "classFilterMode": false, "codeSet": [], "expressionType": expression_type,
            "subString": expr, "subVersion": 1, "tagsSet": [], "topic": "T"
        }
    });
    common::call(
        &common::client(),
        tb.addr(),
        RemotingCommand::request(rc::CHECK_CLIENT_CONFIG, 0)
            .with_body(serde_json::to_vec(&body).unwrap()),
    )
}

/// A Java-style heartbeat registering `group` on `topic` with an SQL92 subscription.
fn sql_heartbeat(client_id: &str, group: &str, topic: &str, expr: &str) -> RemotingCommand {
    let body = serde_json::json!({
        "clientID": client_id,
        "consumerDataSet": [{
            "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET",
            "consumeType": "CONSUME_PASSIVELY",
            "groupName": group,
            "messageModel": "CLUSTERING",
            "subscriptionDataSet": [{
                "classFilterMode": false, "codeSet": [], "expressionType": "SQL92",
                "subString": expr, "subVersion": 1_700_000_000_000i64, "tagsSet": [],
                "topic": topic
            }],
            "unitMode": false
        }],
        "producerDataSet": []
    });
    RemotingCommand::request(rc::HEART_BEAT, 0).with_body(serde_json::to_vec(&body).unwrap())
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

// ---- tests ---------------------------------------------------------------------------------

#[test]
fn header_subscription_filters_by_properties() {
    let tb = broker(true);
    create_topic(&tb, "T", 1);
    send_ten(&tb, "T");

    let r = pull_sql(&tb, 0, "a BETWEEN 3 AND 5");
    assert_eq!(r.code, response::SUCCESS, "{r:?}");
    assert_eq!(pulled_a(&r), vec![3, 4, 5]);
    let h = pull_header(&r);
    assert_eq!(
        (h.next_begin_offset, h.min_offset, h.max_offset),
        (10, 0, 10)
    );

    // Nothing matches: PULL_RETRY_IMMEDIATELY past the scanned units, no body.
    let r = pull_sql(&tb, 0, "a > 100");
    assert_eq!(r.code, response::PULL_RETRY_IMMEDIATELY, "{r:?}");
    assert_eq!(r.remark.as_deref(), Some("NO_MATCHED_MESSAGE"));
    assert!(r.body.is_empty());
    assert_eq!(pull_header(&r).next_begin_offset, 10);

    for (expr, want) in [
        ("a NOT BETWEEN 3 AND 8", vec![1, 2, 9, 10]),
        ("TAGS = 'TagA' AND a < 6", vec![1, 3, 5]),
        ("TAGS IN ('TagB') AND a >= 8", vec![8, 10]),
        ("b IS NULL AND a > 6", vec![7, 9]),
        ("b IS NOT NULL AND NOT (b IN ('v2', 'v4'))", vec![6, 8, 10]),
        ("a = 1 OR a = 10 OR c = 'absent'", vec![1, 10]),
        ("a > 9.5", vec![10]),
        // Identifiers are case-sensitive: `tags` is not `TAGS` (absent, so null).
        ("b = 'v6' or (a <= 2 and tags is null)", vec![1, 2, 6]),
        ("TRUE", (1..=10).collect()),
    ] {
        let r = pull_sql(&tb, 0, expr);
        assert_eq!(r.code, response::SUCCESS, "{expr}: {r:?}");
        assert_eq!(pulled_a(&r), want, "{expr}");
    }
    // From a later offset.
    let r = pull_sql(&tb, 4, "a < 7");
    assert_eq!(pulled_a(&r), vec![5, 6]);
    assert_eq!(pull_header(&r).next_begin_offset, 10);
    // A null or failing evaluation is no match (Integer.valueOf("v2") throws in Java).
    let r = pull_sql(&tb, 0, "b > 1");
    assert_eq!(r.code, response::PULL_RETRY_IMMEDIATELY);
    tb.stop();
}

#[test]
fn bad_expressions_are_refused() {
    let tb = broker(true);
    create_topic(&tb, "T", 1);
    send_ten(&tb, "T");
    for bad in [
        "a >",
        "a = 'open",
        "a BETWEEN 5 AND 1",
        "a != 1",
        "a = NULL",
        "5",
        "",
    ] {
        let r = pull_sql(&tb, 0, bad);
        assert_eq!(
            r.code,
            response::SUBSCRIPTION_PARSE_FAILED,
            "{bad:?}: {r:?}"
        );
        assert!(r.body.is_empty());
    }
    // Only SQL92 is a known non-TAG type (case-sensitive, as Java's FilterFactory).
    for et in ["sql92", "FOO"] {
        let r = common::call(
            &common::client(),
            tb.addr(),
            pull_cmd("G_SQL", "T", 0, SUB, Some("a > 1"), et, 0),
        );
        assert_eq!(r.code, response::SUBSCRIPTION_PARSE_FAILED, "{et}: {r:?}");
    }
    // A TAG pull is unaffected.
    let r = common::call(
        &common::client(),
        tb.addr(),
        pull_cmd("G_SQL", "T", 0, SUB, Some("TagA"), "TAG", 0),
    );
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(pulled_a(&r), vec![1, 3, 5, 7, 9]);
    tb.stop();
}

#[test]
fn check_client_config_compiles_the_expression() {
    let tb = broker(true);
    let r = check_client_config(&tb, "SQL92", "a BETWEEN 3 AND 5 AND TAGS IS NOT NULL");
    assert_eq!(r.code, response::SUCCESS, "{r:?}");
    let r = check_client_config(&tb, "TAG", "TagA || TagB");
    assert_eq!(r.code, response::SUCCESS, "{r:?}");
    let r = check_client_config(&tb, "SQL92", "a BETWEEN 3");
    assert_eq!(r.code, response::SUBSCRIPTION_PARSE_FAILED, "{r:?}");
    let remark = r.remark.unwrap_or_default();
    assert!(remark.starts_with("Invalid MessageSelector."), "{remark}");
    assert!(
        remark.contains("AND"),
        "the remark says what is wrong: {remark}"
    );
    let r = check_client_config(&tb, "SQL92", "a > 'x'");
    assert_eq!(r.code, response::SUBSCRIPTION_PARSE_FAILED, "{r:?}");
    tb.stop();
}

#[test]
fn heartbeat_subscription_filters_and_bad_ones_have_no_filter_data() {
    let tb = broker(true);
    create_topic(&tb, "T", 1);
    create_topic(&tb, "T2", 1);
    send_ten(&tb, "T");
    send_ten(&tb, "T2");
    let c = common::client();

    let r = common::call(&c, tb.addr(), sql_heartbeat("c1", "G_HB", "T", "a >= 9"));
    assert_eq!(r.code, response::SUCCESS);
    let r = common::call(&c, tb.addr(), pull_cmd("G_HB", "T", 0, 0, None, "SQL92", 0));
    assert_eq!(r.code, response::SUCCESS, "{r:?}");
    assert_eq!(pulled_a(&r), vec![9, 10]);

    // An expression that does not compile is registered without filter data (Java's
    // ConsumerFilterManager drops it): FILTER_DATA_NOT_EXIST.
    let r = common::call(&c, tb.addr(), sql_heartbeat("c2", "G_HB_BAD", "T2", "a >>"));
    assert_eq!(r.code, response::SUCCESS);
    let r = common::call(
        &c,
        tb.addr(),
        pull_cmd("G_HB_BAD", "T2", 0, 0, None, "SQL92", 0),
    );
    assert_eq!(r.code, response::FILTER_DATA_NOT_EXIST, "{r:?}");
    tb.stop();
}

#[test]
fn held_sql92_pull_returns_the_matching_message() {
    let tb = broker(true);
    create_topic(&tb, "T", 1);
    send_ten(&tb, "T");
    let addr: SocketAddr = tb.addr();
    let cmd = pull_cmd(
        "G_SQL",
        "T",
        10,
        SUB | SUSPEND,
        Some("a = 42"),
        "SQL92",
        5_000,
    );
    let t = std::thread::spawn(move || {
        rt::block_on(common::client().invoke(addr, cmd, WAIT)).expect("response")
    });
    assert!(wait_until(Duration::from_secs(5), || tb
        .broker
        .inner()
        .pull_hold
        .held_count()
        == 1));
    send(&tb, "T", &[("a", "42")], "wanted");
    let r = t.join().expect("puller");
    assert_eq!(r.code, response::SUCCESS, "{r:?}");
    assert_eq!(pulled_a(&r), vec![42]);
    assert_eq!(pull_header(&r).next_begin_offset, 11);
    tb.stop();
}

#[test]
fn property_filter_disabled_is_a_system_error() {
    let tb = broker(false);
    create_topic(&tb, "T", 1);
    send_ten(&tb, "T");
    let c = common::client();

    for expr in ["a BETWEEN 3 AND 5", "a >"] {
        let r = pull_sql(&tb, 0, expr);
        assert_eq!(r.code, response::SYSTEM_ERROR, "{expr}: {r:?}");
        assert!(r
            .remark
            .unwrap_or_default()
            .contains("does not support consumer to filter message by SQL92"));
    }
    let r = check_client_config(&tb, "SQL92", "a BETWEEN 3 AND 5");
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r:?}");
    let r = check_client_config(&tb, "TAG", "*");
    assert_eq!(r.code, response::SUCCESS, "{r:?}");

    // Heartbeat-registered: a valid expression → SYSTEM_ERROR; one that does not compile has
    // no filter data, which Java checks first.
    let r = common::call(&c, tb.addr(), sql_heartbeat("c1", "G_OFF", "T", "a > 1"));
    assert_eq!(r.code, response::SUCCESS);
    let r = common::call(
        &c,
        tb.addr(),
        pull_cmd("G_OFF", "T", 0, 0, None, "SQL92", 0),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r:?}");
    let r = common::call(&c, tb.addr(), sql_heartbeat("c2", "G_OFF2", "T", "a >"));
    assert_eq!(r.code, response::SUCCESS);
    let r = common::call(
        &c,
        tb.addr(),
        pull_cmd("G_OFF2", "T", 0, 0, None, "SQL92", 0),
    );
    assert_eq!(r.code, response::FILTER_DATA_NOT_EXIST, "{r:?}");
    tb.stop();
}
