//! Admin requests and name-server registration, end to end with raw frames: a real broker and
//! a fake name server that records what the broker sends.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apogee::broker::admin;
use apogee::remoting::{self, Connection, ConnectionOptions, Handler, Reply, ServerHandle};
use apogee::rt;
use apogee::store::message_inner::MessageInner;
use apogee::store::results::PutMessageStatus;
use apogee_codec::body::{
    properties, ConsumeStats, ConsumeStatsList, ConsumerOffsetSerializeWrapper,
    DelayOffsetSerializeWrapper, GroupList, KVTable, MessageQueue, QueryConsumeTimeSpanBody,
    RegisterBrokerBody, SubscriptionGroupConfig, SubscriptionGroupWrapper,
    TopicConfigSerializeWrapper, TopicList, TopicStatsTable,
};
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::admin::{
    CloneGroupOffsetRequestHeader, CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader,
    DeleteTopicRequestHeader, GetBrokerConfigResponseHeader, GetConsumeStatsInBrokerHeader,
    GetConsumeStatsRequestHeader, GetTopicStatsInfoRequestHeader,
    QueryConsumeTimeSpanRequestHeader, QueryTopicConsumeByWhoRequestHeader,
};
use apogee_codec::header::namesrv::{RegisterBrokerRequestHeader, UnRegisterBrokerRequestHeader};
use apogee_codec::header::RpcRequestHeader;
use apogee_codec::{CommandHeader, RemotingCommand, SerializeType};
use bytes::Bytes;
use futures::future::BoxFuture;

const WAIT: Duration = Duration::from_secs(10);

// ---- a fake name server -----------------------------------------------------------------

/// Records every request; answers SUCCESS (REGISTER_BROKER with `order_kv` as body if set).
#[derive(Default)]
struct FakeNs {
    frames: Mutex<Vec<RemotingCommand>>,
    order_kv: Mutex<Option<KVTable>>,
    /// Take 30 s to answer anything.
    silent: AtomicBool,
}

impl Handler for FakeNs {
    fn handle(
        self: Arc<Self>,
        _c: Arc<Connection>,
        req: RemotingCommand,
    ) -> BoxFuture<'static, Reply> {
        Box::pin(async move {
            self.frames.lock().unwrap().push(req.clone());
            if self.silent.load(Ordering::Acquire) {
                rt::sleep(Duration::from_secs(30)).await;
            }
            let mut resp = RemotingCommand::success_to(&req);
            if req.code == rc::REGISTER_BROKER {
                if let Some(kv) = self.order_kv.lock().unwrap().as_ref() {
                    resp = resp.with_body(kv.encode());
                }
            }
            resp.into()
        })
    }
}

struct Ns {
    fake: Arc<FakeNs>,
    server: ServerHandle,
}

impl Ns {
    fn start() -> Ns {
        Ns::start_at("127.0.0.1:0".parse().unwrap())
    }

    fn start_at(addr: SocketAddr) -> Ns {
        let fake = Arc::new(FakeNs::default());
        let server = rt::block_on(remoting::serve(
            addr,
            Arc::clone(&fake) as Arc<dyn Handler>,
            ConnectionOptions::default(),
            "fake name server",
        ))
        .expect("fake name server");
        Ns { fake, server }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn frames(&self, code: i32) -> Vec<RemotingCommand> {
        let f = self.fake.frames.lock().unwrap();
        f.iter().filter(|c| c.code == code).cloned().collect()
    }

    /// The first frame of `code` that satisfies `pred`, waiting at most 10 s.
    fn wait_for(&self, code: i32, pred: impl Fn(&RemotingCommand) -> bool) -> RemotingCommand {
        self.wait_within(WAIT, code, pred)
    }

    fn wait_within(
        &self,
        limit: Duration,
        code: i32,
        pred: impl Fn(&RemotingCommand) -> bool,
    ) -> RemotingCommand {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(c) = self.frames(code).into_iter().find(|c| pred(c)) {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "no frame with code {code} in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        self.server.stop();
    }
}

fn register_body(c: &RemotingCommand) -> RegisterBrokerBody {
    let h: RegisterBrokerRequestHeader = c.read_header().expect("register header");
    RegisterBrokerBody::decode_with(&c.body, h.compressed).expect("register body decodes")
}

fn registers_topic(c: &RemotingCommand, topic: &str) -> bool {
    register_body(c)
        .topic_config_serialize_wrapper
        .topic_config_table
        .contains_key(topic)
}

// ---- helpers ------------------------------------------------------------------------------

fn request<H: CommandHeader>(code: i32, h: &H) -> RemotingCommand {
    RemotingCommand::request(code, 0).with_header(h)
}

fn create_topic_header(topic: &str, queues: i32) -> CreateTopicRequestHeader {
    CreateTopicRequestHeader {
        rpc: RpcRequestHeader::default(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(0),
        order: false,
        attributes: None,
        force: None,
        lo: None,
    }
}

fn topic_header(topic: &str) -> DeleteTopicRequestHeader {
    DeleteTopicRequestHeader {
        rpc: RpcRequestHeader::default(),
        topic: topic.into(),
        lo: None,
    }
}

fn stats_header(topic: &str) -> GetTopicStatsInfoRequestHeader {
    GetTopicStatsInfoRequestHeader {
        rpc: RpcRequestHeader::default(),
        topic: topic.into(),
        lo: None,
    }
}

fn all_topics(
    c: &apogee::remoting::RemotingClient,
    addr: SocketAddr,
) -> TopicConfigSerializeWrapper {
    let r = common::call(
        c,
        addr,
        RemotingCommand::request(rc::GET_ALL_TOPIC_CONFIG, 0),
    );
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert!(r.ext("totalTopicNum").is_none(), "no 5.x paging header");
    TopicConfigSerializeWrapper::decode(&r.body).expect("wrapper decodes")
}

fn put(tb: &common::TestBroker, topic: &str, queue_id: i32, n: usize) {
    let store = tb.broker.store();
    for i in 0..n {
        let msg = MessageInner {
            topic: topic.into(),
            queue_id,
            flag: 0,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            born_host: "127.0.0.1:5555".parse().unwrap(),
            store_host: tb.addr(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::from(format!("message {i}")),
            properties: Vec::new(),
        };
        let r = store.put_message_blocking(msg, false);
        assert_eq!(r.status, PutMessageStatus::PutOk, "{:?}", r.remark);
    }
    assert!(store.wait_dispatched(WAIT), "dispatched in time");
}

fn expect_system_error(r: &RemotingCommand, text: &str) {
    assert_eq!(r.code, response::SYSTEM_ERROR, "{:?}", r.remark);
    let remark = r.remark.clone().unwrap_or_default();
    assert!(remark.contains(text), "remark {remark:?} lacks {text:?}");
}

// ---- registration -------------------------------------------------------------------------

#[test]
fn registers_at_start_after_topic_creation_and_unregisters_at_shutdown() {
    let ns = Ns::start();
    let dir = tempfile::tempdir().unwrap();
    let (b, s) = common::configs(dir.path(), Some(ns.addr()));
    let tb = common::start_broker_with(b, s, dir);
    let addr = tb.addr();

    // At start.
    let reg = ns.wait_for(rc::REGISTER_BROKER, |_| true);
    let h: RegisterBrokerRequestHeader = reg.read_header().unwrap();
    assert_eq!(h.cluster_name, "DefaultCluster");
    assert_eq!(h.broker_name, "broker-test");
    assert_eq!(h.broker_addr, addr.to_string());
    assert_eq!(h.broker_id, 0);
    // The bound HA listener (listenPort + 1 by default; any free port when listenPort is 0).
    assert_eq!(h.ha_server_addr, tb.broker.inner().ha_addr.to_string());
    assert!(!h.compressed);
    assert_eq!(
        h.body_crc32,
        (crc32fast::hash(&reg.body) & 0x7FFF_FFFF) as i32
    );
    assert_eq!(reg.serialize_type, SerializeType::Json);
    let body = register_body(&reg);
    assert!(body.filter_server_list.is_empty());
    let w = body.topic_config_serialize_wrapper;
    assert_eq!(w.topic_config_table["TBW102"].perm, 7);
    assert!(w.topic_config_table.contains_key("broker-test"));
    assert_eq!(
        w.data_version,
        tb.broker.inner().configs.topics.data_version()
    );
    // The body is plain JSON.
    serde_json::from_slice::<serde_json::Value>(&reg.body).expect("standard JSON");

    // Topic creation registers before the answer comes.
    let c = common::client();
    let r = common::call(
        &c,
        addr,
        request(
            rc::UPDATE_AND_CREATE_TOPIC,
            &create_topic_header("RegTopic", 4),
        ),
    );
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let again = ns
        .frames(rc::REGISTER_BROKER)
        .into_iter()
        .find(|c| registers_topic(c, "RegTopic"))
        .expect("registered right after the topic was created");
    let t = &register_body(&again)
        .topic_config_serialize_wrapper
        .topic_config_table["RegTopic"];
    assert_eq!((t.read_queue_nums, t.write_queue_nums, t.perm), (4, 4, 6));

    // Deletion registers too (in the background).
    let before = ns.frames(rc::REGISTER_BROKER).len();
    let r = common::call(
        &c,
        addr,
        request(rc::DELETE_TOPIC_IN_BROKER, &topic_header("RegTopic")),
    );
    assert_eq!(r.code, response::SUCCESS);
    let deadline = Instant::now() + WAIT;
    while ns.frames(rc::REGISTER_BROKER).len() <= before {
        assert!(
            Instant::now() < deadline,
            "re-registered after the deletion"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    tb.stop();
    let un = ns.wait_for(rc::UNREGISTER_BROKER, |_| true);
    let h: UnRegisterBrokerRequestHeader = un.read_header().unwrap();
    assert_eq!(h.cluster_name, "DefaultCluster");
    assert_eq!(h.broker_name, "broker-test");
    assert_eq!(h.broker_addr, addr.to_string());
    assert_eq!(h.broker_id, 0);
}

#[test]
fn compressed_registration_and_order_topics_from_the_name_server() {
    let ns = Ns::start();
    *ns.fake.order_kv.lock().unwrap() = Some(KVTable {
        table: [("OrderT".to_owned(), "broker-test:4".to_owned())].into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let (mut b, s) = common::configs(dir.path(), Some(ns.addr()));
    b.compressed_register = true;
    let tb = common::start_broker_with(b, s, dir);

    let reg = ns.wait_for(rc::REGISTER_BROKER, |_| true);
    let h: RegisterBrokerRequestHeader = reg.read_header().unwrap();
    assert!(h.compressed);
    assert_eq!(
        h.body_crc32,
        (crc32fast::hash(&reg.body) & 0x7FFF_FFFF) as i32
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&reg.body).is_err());
    let body = RegisterBrokerBody::decode_compressed(&reg.body).expect("compressed body");
    let w = body.topic_config_serialize_wrapper;
    assert_eq!(w.topic_config_table["TBW102"].read_queue_nums, 8);
    assert_eq!(
        w.data_version,
        tb.broker.inner().configs.topics.data_version()
    );

    // The name server's ORDER_TOPIC_CONFIG makes the new topic ordered.
    let c = common::client();
    let r = common::call(
        &c,
        tb.addr(),
        request(
            rc::UPDATE_AND_CREATE_TOPIC,
            &create_topic_header("OrderT", 4),
        ),
    );
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = common::call(
        &c,
        tb.addr(),
        request(
            rc::UPDATE_AND_CREATE_TOPIC,
            &create_topic_header("PlainT", 2),
        ),
    );
    assert_eq!(r.code, response::SUCCESS);
    let all = all_topics(&c, tb.addr());
    assert!(all.topic_config_table["OrderT"].order);
    assert!(!all.topic_config_table["PlainT"].order);
    tb.stop();
}

#[test]
fn a_dead_name_server_does_not_block_the_others() {
    let ns = Ns::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut b, s) = common::configs(dir.path(), Some(ns.addr()));
    // Port 1 on loopback refuses connections.
    b.namesrv_addr = format!("127.0.0.1:1;{}", ns.addr());
    let tb = common::start_broker_with(b, s, dir);
    ns.wait_for(rc::REGISTER_BROKER, |_| true);
    let c = common::client();
    let started = Instant::now();
    let r = common::call(
        &c,
        tb.addr(),
        request(rc::UPDATE_AND_CREATE_TOPIC, &create_topic_header("Live", 1)),
    );
    assert_eq!(r.code, response::SUCCESS);
    assert!(started.elapsed() < Duration::from_secs(7));
    assert!(ns
        .frames(rc::REGISTER_BROKER)
        .iter()
        .any(|c| registers_topic(c, "Live")));
    tb.stop();
    ns.wait_for(rc::UNREGISTER_BROKER, |_| true);
}

#[test]
fn a_silent_name_server_delays_answers_and_shutdown_only_boundedly() {
    let ns = Ns::start();
    ns.fake.silent.store(true, Ordering::Release);
    let dir = tempfile::tempdir().unwrap();
    let (mut b, s) = common::configs(dir.path(), Some(ns.addr()));
    b.register_broker_timeout_mills = 1000;
    let tb = common::start_broker_with(b, s, dir);
    ns.wait_for(rc::REGISTER_BROKER, |_| true);
    let c = common::client();
    let started = Instant::now();
    let r = common::call(
        &c,
        tb.addr(),
        request(rc::UPDATE_AND_CREATE_TOPIC, &create_topic_header("Slow", 1)),
    );
    assert_eq!(r.code, response::SUCCESS);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    tb.stop();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_name_server_that_was_down_gets_the_next_periodic_registration() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ns_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut b, s) = common::configs(dir.path(), Some(ns_addr));
    b.register_name_server_period = 1; // clamped to 10 s
    let tb = common::start_broker_with(b, s, dir);
    // The registration at start finds nobody; the name server comes up afterwards.
    std::thread::sleep(Duration::from_millis(300));
    let ns = Ns::start_at(ns_addr);
    let started = Instant::now();
    let reg = ns.wait_within(Duration::from_secs(15), rc::REGISTER_BROKER, |_| true);
    assert!(registers_topic(&reg, "TBW102"));
    assert!(
        started.elapsed() > Duration::from_secs(5),
        "came with the next period"
    );
    tb.stop();
}

#[test]
fn broker_config_and_permission_change() {
    let ns = Ns::start();
    let dir = tempfile::tempdir().unwrap();
    let (b, s) = common::configs(dir.path(), Some(ns.addr()));
    let tb = common::start_broker_with(b, s, dir);
    let c = common::client();
    let addr = tb.addr();
    ns.wait_for(rc::REGISTER_BROKER, |_| true);

    let get = |c: &apogee::remoting::RemotingClient| {
        let r = common::call(c, addr, RemotingCommand::request(rc::GET_BROKER_CONFIG, 0));
        assert_eq!(r.code, response::SUCCESS);
        let h: GetBrokerConfigResponseHeader = r.read_header().expect("version header");
        let v: serde_json::Value = serde_json::from_str(&h.version).expect("version is JSON");
        (
            properties::parse_bytes(&r.body),
            v["counter"].as_i64().unwrap(),
        )
    };
    let (props, v0) = get(&c);
    assert_eq!(props["brokerName"], "broker-test");
    assert_eq!(props["brokerClusterName"], "DefaultCluster");
    assert_eq!(props["listenPort"], addr.port().to_string());
    assert_eq!(props["brokerPermission"], "6");
    assert!(props.contains_key("flushDiskType"), "store keys too");
    assert_eq!(v0, 0);

    // Blacklisted keys are refused.
    let r = common::call(
        &c,
        addr,
        RemotingCommand::request(rc::UPDATE_BROKER_CONFIG, 0).with_body(&b"rocketmqHome=/x\n"[..]),
    );
    assert_eq!(r.code, response::NO_PERMISSION);

    // A read-only broker registers every topic read-only.
    let before = ns.frames(rc::REGISTER_BROKER).len();
    let r = common::call(
        &c,
        addr,
        RemotingCommand::request(rc::UPDATE_BROKER_CONFIG, 0)
            .with_body(&b"brokerPermission=4\nnoSuchKey=1\nlistenPort=abc\n"[..]),
    );
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let regs = ns.frames(rc::REGISTER_BROKER);
    assert!(regs.len() > before, "registered before answering");
    let w = register_body(regs.last().unwrap()).topic_config_serialize_wrapper;
    assert!(w.topic_config_table.values().all(|t| t.perm == 4));
    let (props, v1) = get(&c);
    assert_eq!(props["brokerPermission"], "4");
    assert_eq!(
        props["listenPort"],
        addr.port().to_string(),
        "ill-typed value ignored"
    );
    assert_eq!(v1, 1);
    // An empty body changes nothing.
    let r = common::call(
        &c,
        addr,
        RemotingCommand::request(rc::UPDATE_BROKER_CONFIG, 0),
    );
    assert_eq!(r.code, response::SUCCESS);
    tb.stop();
}

// ---- topics -------------------------------------------------------------------------------

#[test]
fn topic_lifecycle() {
    let tb = common::start_broker();
    let c = common::client();
    let addr = tb.addr();
    for st in [SerializeType::Json, SerializeType::RocketMq] {
        let topic = format!("Life{}", st.code());
        let mut req = request(rc::UPDATE_AND_CREATE_TOPIC, &create_topic_header(&topic, 3));
        req.serialize_type = st;
        let r = common::call(&c, addr, req);
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        assert_eq!(r.serialize_type, st);

        let all = all_topics(&c, addr);
        let t = &all.topic_config_table[&topic];
        assert_eq!((t.read_queue_nums, t.write_queue_nums, t.perm), (3, 3, 6));
        assert!(all.topic_config_table.contains_key("TBW102"));

        put(&tb, &topic, 1, 4);
        let mut req = request(rc::GET_TOPIC_STATS_INFO, &stats_header(&topic));
        req.serialize_type = st;
        let r = common::call(&c, addr, req);
        assert_eq!(r.code, response::SUCCESS);
        assert_eq!(r.serialize_type, st);
        let stats = TopicStatsTable::decode(&r.body).unwrap();
        assert_eq!(stats.offset_table.len(), 3);
        let q1 = stats.offset_table[&MessageQueue::new(topic.as_str(), "broker-test", 1)];
        assert_eq!((q1.min_offset, q1.max_offset), (0, 4));
        assert!(q1.last_update_timestamp > 1_700_000_000_000);
        let q0 = stats.offset_table[&MessageQueue::new(topic.as_str(), "broker-test", 0)];
        assert_eq!(
            (q0.min_offset, q0.max_offset, q0.last_update_timestamp),
            (0, 0, 0)
        );

        let r = common::call(
            &c,
            addr,
            request(rc::DELETE_TOPIC_IN_BROKER, &topic_header(&topic)),
        );
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        assert!(!all_topics(&c, addr).topic_config_table.contains_key(&topic));
        let r = common::call(
            &c,
            addr,
            request(rc::GET_TOPIC_STATS_INFO, &stats_header(&topic)),
        );
        assert_eq!(r.code, response::TOPIC_NOT_EXIST);
        assert_eq!(
            r.remark.as_deref(),
            Some(format!("topic[{topic}] not exist").as_str())
        );
        assert!(tb.broker.store().queues().iter().all(|(t, _)| *t != topic));
    }
    tb.stop();
}

#[test]
fn topic_requests_are_validated() {
    let tb = common::start_broker();
    let c = common::client();
    let addr = tb.addr();
    let create = |topic: &str| {
        common::call(
            &c,
            addr,
            request(rc::UPDATE_AND_CREATE_TOPIC, &create_topic_header(topic, 1)),
        )
    };
    expect_system_error(&create(""), "The specified topic is blank.");
    expect_system_error(&create("a b"), "contains illegal characters");
    expect_system_error(&create(&"x".repeat(128)), "longer than topic max length");
    expect_system_error(
        &create("TBW102"),
        "The topic[TBW102] is conflict with system topic.",
    );
    expect_system_error(&create("rmq_sys_mine"), "conflict with system topic");
    expect_system_error(&create("DefaultCluster"), "conflict with system topic");
    let r = common::call(
        &c,
        addr,
        request(
            rc::DELETE_TOPIC_IN_BROKER,
            &topic_header("SCHEDULE_TOPIC_XXXX"),
        ),
    );
    expect_system_error(&r, "conflict with system topic");

    // Bad filter type.
    let mut h = create_topic_header("Filtered", 1);
    h.topic_filter_type = "NO_SUCH".into();
    expect_system_error(
        &common::call(&c, addr, request(rc::UPDATE_AND_CREATE_TOPIC, &h)),
        "TopicFilterType",
    );

    // Missing and ill-typed header fields name the field.
    let mut req = request(
        rc::UPDATE_AND_CREATE_TOPIC,
        &create_topic_header("Fields", 1),
    );
    req.ext_fields.as_mut().unwrap().remove("perm");
    expect_system_error(&common::call(&c, addr, req), "perm");
    let mut req = request(
        rc::UPDATE_AND_CREATE_TOPIC,
        &create_topic_header("Fields", 1),
    );
    req.ext_mut().insert("readQueueNums", "many");
    expect_system_error(&common::call(&c, addr, req), "readQueueNums");
    expect_system_error(
        &common::call(
            &c,
            addr,
            RemotingCommand::request(rc::GET_TOPIC_STATS_INFO, 0),
        ),
        "topic",
    );
    expect_system_error(
        &common::call(
            &c,
            addr,
            RemotingCommand::request(rc::DELETE_SUBSCRIPTIONGROUP, 0),
        ),
        "groupName",
    );
    assert!(!all_topics(&c, addr)
        .topic_config_table
        .contains_key("Fields"));
    tb.stop();
}

// ---- groups and offsets -------------------------------------------------------------------

#[test]
fn groups_offsets_and_consume_stats() {
    let tb = common::start_broker();
    let c = common::client();
    let addr = tb.addr();
    let inner = tb.broker.inner();

    let g = SubscriptionGroupConfig {
        retry_max_times: 3,
        ..SubscriptionGroupConfig::new("G1")
    };
    let r = common::call(
        &c,
        addr,
        RemotingCommand::request(rc::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 0).with_body(g.encode()),
    );
    assert_eq!(r.code, response::SUCCESS);
    let r = common::call(
        &c,
        addr,
        RemotingCommand::request(rc::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, 0),
    );
    assert_eq!(r.code, response::SUCCESS);
    let w = SubscriptionGroupWrapper::decode(&r.body).unwrap();
    assert_eq!(w.subscription_group_table["G1"].retry_max_times, 3);
    assert!(w.subscription_group_table.contains_key("TOOLS_CONSUMER"));
    let r = common::call(
        &c,
        addr,
        RemotingCommand::request(rc::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 0)
            .with_body(&b"{oops"[..]),
    );
    assert_eq!(r.code, response::SYSTEM_ERROR);

    let r = common::call(
        &c,
        addr,
        request(rc::UPDATE_AND_CREATE_TOPIC, &create_topic_header("CT", 2)),
    );
    assert_eq!(r.code, response::SUCCESS);
    put(&tb, "CT", 0, 5);
    inner.configs.consumer_offsets.commit("G1", "CT", 0, 3);

    let cs_header = |topic: Option<&str>| GetConsumeStatsRequestHeader {
        rpc: RpcRequestHeader::default(),
        consumer_group: "G1".into(),
        topic: topic.map(str::to_owned),
        topic_list: None,
        lo: None,
    };
    for topic in [Some("CT"), None, Some("")] {
        let r = common::call(&c, addr, request(rc::GET_CONSUME_STATS, &cs_header(topic)));
        assert_eq!(r.code, response::SUCCESS);
        let s = ConsumeStats::decode(&r.body).unwrap();
        assert_eq!(s.offset_table.len(), 2, "{topic:?}");
        let q0 = s.offset_table[&MessageQueue::new("CT", "broker-test", 0)];
        assert_eq!((q0.broker_offset, q0.consumer_offset), (5, 3));
        assert!(q0.last_timestamp > 1_700_000_000_000);
        let q1 = s.offset_table[&MessageQueue::new("CT", "broker-test", 1)];
        assert_eq!(
            (q1.broker_offset, q1.consumer_offset, q1.last_timestamp),
            (0, 0, 0)
        );
        assert_eq!(s.compute_total_diff(), 2);
    }

    let r = common::call(
        &c,
        addr,
        request(
            rc::GET_BROKER_CONSUME_STATS,
            &GetConsumeStatsInBrokerHeader { is_order: false },
        ),
    );
    assert_eq!(r.code, response::SUCCESS);
    let list = ConsumeStatsList::decode(&r.body).unwrap();
    assert_eq!(list.total_diff, 2);
    assert_eq!(list.broker_addr.as_deref(), Some(addr.to_string().as_str()));

    let r = common::call(
        &c,
        addr,
        request(
            rc::QUERY_CONSUME_TIME_SPAN,
            &QueryConsumeTimeSpanRequestHeader {
                rpc: RpcRequestHeader::default(),
                topic: "CT".into(),
                group: "G1".into(),
                lo: None,
            },
        ),
    );
    assert_eq!(r.code, response::SUCCESS);
    let span = QueryConsumeTimeSpanBody::decode(&r.body).unwrap();
    assert_eq!(span.consume_time_span_set.len(), 2);
    assert!(span.consume_time_span_set[0].max_time_stamp > 1_700_000_000_000);

    let who = |c: &apogee::remoting::RemotingClient| {
        let r = common::call(
            c,
            addr,
            request(
                rc::QUERY_TOPIC_CONSUME_BY_WHO,
                &QueryTopicConsumeByWhoRequestHeader {
                    rpc: RpcRequestHeader::default(),
                    topic: "CT".into(),
                    lo: None,
                },
            ),
        );
        assert_eq!(r.code, response::SUCCESS);
        GroupList::decode(&r.body).unwrap().group_list
    };
    assert_eq!(who(&c), ["G1".to_owned()].into());

    // Clone every topic's offsets of G1 to G2.
    let r = common::call(
        &c,
        addr,
        request(
            rc::CLONE_GROUP_OFFSET,
            &CloneGroupOffsetRequestHeader {
                rpc: RpcRequestHeader::default(),
                src_group: "G1".into(),
                dest_group: "G2".into(),
                topic: None,
                offline: true,
            },
        ),
    );
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(inner.configs.consumer_offsets.query("G2", "CT", 0), Some(3));
    assert_eq!(who(&c), ["G1".to_owned(), "G2".to_owned()].into());

    // Slave sync tables, in Java's own form.
    let r = common::call(
        &c,
        addr,
        RemotingCommand::request(rc::GET_ALL_CONSUMER_OFFSET, 0),
    );
    assert_eq!(r.code, response::SUCCESS);
    assert!(
        String::from_utf8_lossy(&r.body).contains("{0:3}"),
        "unquoted queue ids"
    );
    let offsets = ConsumerOffsetSerializeWrapper::decode(&r.body).unwrap();
    assert_eq!(offsets.offset_table["CT@G1"][&0], 3);
    inner.configs.delay_offsets.set(2, 7);
    let r = common::call(
        &c,
        addr,
        RemotingCommand::request(rc::GET_ALL_DELAY_OFFSET, 0),
    );
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(
        DelayOffsetSerializeWrapper::decode(&r.body)
            .unwrap()
            .offset_table[&2],
        7
    );

    // Delete G1 with its offsets; G2 keeps its own.
    let r = common::call(
        &c,
        addr,
        request(
            rc::DELETE_SUBSCRIPTIONGROUP,
            &DeleteSubscriptionGroupRequestHeader {
                rpc: RpcRequestHeader::default(),
                group_name: "G1".into(),
                remove_offset: true,
                clean_offset: None,
            },
        ),
    );
    assert_eq!(r.code, response::SUCCESS);
    assert!(!inner.configs.subscription_groups.contains("G1"));
    assert_eq!(inner.configs.consumer_offsets.query("G1", "CT", 0), None);
    assert_eq!(who(&c), ["G2".to_owned()].into());

    // Deleting the topic drops its offsets.
    let r = common::call(
        &c,
        addr,
        request(rc::DELETE_TOPIC_IN_BROKER, &topic_header("CT")),
    );
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(inner.configs.consumer_offsets.query("G2", "CT", 0), None);
    tb.stop();
}

// ---- runtime info and the rest -----------------------------------------------------------

#[test]
fn runtime_info_has_every_key_mqadmin_parses() {
    let tb = common::start_broker();
    let c = common::client();
    let addr = tb.addr();
    let r = common::call(
        &c,
        addr,
        request(rc::UPDATE_AND_CREATE_TOPIC, &create_topic_header("RT", 1)),
    );
    assert_eq!(r.code, response::SUCCESS);
    put(&tb, "RT", 0, 3);
    admin::record_get(tb.broker.inner(), 2);
    admin::record_get(tb.broker.inner(), 0);

    for st in [SerializeType::Json, SerializeType::RocketMq] {
        let mut req = RemotingCommand::request(rc::GET_BROKER_RUNTIME_INFO, 0);
        req.serialize_type = st;
        let r = common::call(&c, addr, req);
        assert_eq!(r.code, response::SUCCESS);
        assert_eq!(r.serialize_type, st);
        let kv = KVTable::decode(&r.body).unwrap().table;
        let long = |k: &str| -> i64 {
            kv.get(k)
                .unwrap_or_else(|| panic!("missing {k}"))
                .parse()
                .unwrap_or_else(|_| panic!("{k} = {:?} is not a long", kv[k]))
        };
        for k in [
            "msgPutTotalYesterdayMorning",
            "msgPutTotalTodayMorning",
            "msgPutTotalTodayNow",
            "msgGetTotalYesterdayMorning",
            "msgGetTotalTodayMorning",
            "msgGetTotalTodayNow",
            "sendThreadPoolQueueSize",
            "pullThreadPoolQueueSize",
            "sendThreadPoolQueueHeadWaitTimeMills",
            "pullThreadPoolQueueHeadWaitTimeMills",
            "pageCacheLockTimeMills",
            "earliestMessageTimeStamp",
            "bootTimestamp",
            "commitLogMinOffset",
            "commitLogMaxOffset",
            "dispatchBehindBytes",
            "brokerVersion",
        ] {
            long(k);
        }
        for k in [
            "putTps",
            "getTransferedTps",
            "getFoundTps",
            "getMissTps",
            "getTotalTps",
        ] {
            let parts: Vec<f64> = kv[k]
                .split(' ')
                .map(|p| p.parse().unwrap_or_else(|_| panic!("{k} = {:?}", kv[k])))
                .collect();
            assert_eq!(parts.len(), 3, "{k}");
        }
        let ratio: f64 = kv["commitLogDiskRatio"].parse().unwrap();
        assert!(ratio <= 1.0);
        assert_eq!(kv["brokerVersionDesc"], "V4_9_8");
        assert_eq!(long("brokerVersion"), 409);
        assert_eq!(long("msgPutTotalTodayNow"), 3);
        assert_eq!(long("msgGetTotalTodayNow"), 2);
        assert!(long("msgPutTotalTodayMorning") <= 3);
        assert!(long("earliestMessageTimeStamp") > 1_700_000_000_000);
        assert!(long("commitLogMaxOffset") > 0);
        let put_tps: f64 = kv["putTps"].split(' ').next().unwrap().parse().unwrap();
        assert!(put_tps > 0.0);
        assert!(kv["runtime"].starts_with("[ 0 days, 0 hours"));
    }
    tb.stop();
}

#[test]
fn system_topics_cleanups_and_unknown_codes() {
    let tb = common::start_broker();
    let c = common::client();
    let addr = tb.addr();

    let r = common::call(
        &c,
        addr,
        RemotingCommand::request(rc::GET_SYSTEM_TOPIC_LIST_FROM_BROKER, 0),
    );
    assert_eq!(r.code, response::SUCCESS);
    let list = TopicList::decode(&r.body).unwrap().topic_list;
    for t in [
        "TBW102",
        "SCHEDULE_TOPIC_XXXX",
        "DefaultCluster",
        "broker-test",
        "RMQ_SYS_TRACE_TOPIC",
    ] {
        assert!(list.contains(t), "{t}");
    }

    // Consume queues of a topic without a config go with CLEAN_UNUSED_TOPIC.
    put(&tb, "Orphan", 0, 2);
    assert!(tb
        .broker
        .store()
        .queues()
        .iter()
        .any(|(t, _)| t == "Orphan"));
    for code in [
        rc::DELETE_EXPIRED_COMMITLOG,
        rc::CLEAN_EXPIRED_CONSUMEQUEUE,
        rc::CLEAN_UNUSED_TOPIC,
    ] {
        let r = common::call(&c, addr, RemotingCommand::request(code, 0));
        assert_eq!(r.code, response::SUCCESS, "code {code}");
    }
    assert!(tb
        .broker
        .store()
        .queues()
        .iter()
        .all(|(t, _)| t != "Orphan"));

    for code in [
        9999,
        rc::GET_TOPICS_BY_CLUSTER,
        rc::WIPE_WRITE_PERM_OF_BROKER,
    ] {
        for st in [SerializeType::Json, SerializeType::RocketMq] {
            let mut req = RemotingCommand::request(code, 0);
            req.serialize_type = st;
            let r = common::call(&c, addr, req);
            assert_eq!(r.code, response::REQUEST_CODE_NOT_SUPPORTED);
            assert_eq!(r.serialize_type, st);
            assert_eq!(
                r.remark.unwrap(),
                format!(" request type {code} not supported")
            );
        }
    }
    tb.stop();
}
