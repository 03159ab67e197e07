//! Master/slave replication on loopback: byte-identical CommitLogs, pulls from the slave,
//! catch-up after a slave restart, SYNC_MASTER acknowledgements (and SLAVE_NOT_AVAILABLE /
//! FLUSH_SLAVE_TIMEOUT), SIGKILL of a SYNC_MASTER + SYNC_FLUSH master, routing failover, the
//! slave refusing sends, config sync, and raw Java-format HA frames in both directions.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use apogee::broker::{slave_sync, BrokerConfig};
use apogee::namesrv::{NameServer, NamesrvConfig};
use apogee::rt;
use apogee::store::message_inner::MessageInner;
use apogee::store::store_config::MessageStoreConfig;
use apogee_codec::body::{SubscriptionGroupConfig, TopicConfig, TopicRouteData};
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::pull::{
    pull_sys_flag, PullMessageRequestHeader, PullMessageResponseHeader,
};
use apogee_codec::header::{SendMessageRequestHeaderV2, SendMessageResponseHeader};
use apogee_codec::message::{decode_offset_msg_id, iter_records, keys, MessageProperties};
use apogee_codec::RemotingCommand;
use bytes::Bytes;
use common::TestBroker;

const WAIT_LIMIT: Duration = Duration::from_secs(20);
/// Small CommitLog files so that a few hundred messages roll several of them.
const FILE_SIZE: usize = 64 * 1024;

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Configs of an HA broker: HA port 0, short heartbeats, small files.
fn ha_configs(
    dir: &std::path::Path,
    role: &str,
    ns: Option<SocketAddr>,
    master_ha: Option<SocketAddr>,
) -> (BrokerConfig, MessageStoreConfig) {
    let (mut b, mut s) = common::configs(dir, ns);
    b.broker_name = "broker-ha".into();
    s.mapped_file_size_commit_log = FILE_SIZE;
    s.broker_role = role.into();
    s.ha_listen_port = 0;
    s.ha_send_heartbeat_interval = 500;
    s.slave_timeout = 3000;
    if role == "SLAVE" {
        b.broker_id = 1;
    }
    if let Some(m) = master_ha {
        s.ha_master_address = m.to_string();
    }
    (b, s)
}

fn start(b: BrokerConfig, s: MessageStoreConfig, dir: tempfile::TempDir) -> TestBroker {
    common::start_broker_with(b, s, dir)
}

fn start_master(role: &str, ns: Option<SocketAddr>) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let (b, s) = ha_configs(dir.path(), role, ns, None);
    start(b, s, dir)
}

fn start_slave(master: &TestBroker, ns: Option<SocketAddr>) -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    let ha = (ns.is_none()).then(|| master.broker.inner().ha_addr);
    let (b, s) = ha_configs(dir.path(), "SLAVE", ns, ha);
    start(b, s, dir)
}

fn put(tb: &TestBroker, topic: &str, queue_id: i32, body: &[u8]) -> (i64, i64) {
    let mut props = MessageProperties::new();
    props.insert(keys::TAGS, "T");
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
        body: Bytes::copy_from_slice(body),
        properties: props.encode(),
    };
    let r = tb.broker.store().put_message_blocking(msg, true);
    assert!(r.status.is_stored(), "{r:?}");
    let a = r.append.unwrap();
    (a.wrote_offset, a.logics_offset)
}

fn body_of(i: usize) -> Vec<u8> {
    format!("message-{i:05}-{}", "x".repeat(200 + i % 300)).into_bytes()
}

/// Put one message and wait until the slave acknowledged it: from then on the transfer runs
/// from offset 0 (a slave whose first report comes after the master rolled a file would start
/// at the master's last file instead).
fn replicate_from_start(master: &TestBroker, topic: &str) {
    put(master, topic, 0, b"first");
    let max = master.broker.store().commit_log_max_offset();
    wait_until("slave acknowledged the first message", || {
        master.broker.store().ha().push_to_slave_max_offset() == max
    });
}

fn caught_up(master: &TestBroker, slave: &TestBroker) -> bool {
    let m = master.broker.store().commit_log_max_offset();
    slave.broker.store().commit_log_max_offset() == m
        && slave.broker.store().dispatch_behind_bytes() == 0
}

/// Every CommitLog file of the master below its max offset is byte-identical on the slave.
fn assert_commit_logs_identical(master: &TestBroker, slave: &TestBroker, from: i64) {
    let mdir = master.broker.store().config().commit_log_dir();
    let sdir = slave.broker.store().config().commit_log_dir();
    let max = master.broker.store().commit_log_max_offset();
    let mut compared = 0;
    let mut names: Vec<_> = std::fs::read_dir(&mdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        let Ok(start) = name.parse::<i64>() else {
            continue;
        };
        if start < from || start >= max {
            continue;
        }
        let a = std::fs::read(mdir.join(&name)).unwrap();
        let b =
            std::fs::read(sdir.join(&name)).unwrap_or_else(|e| panic!("slave lacks {name}: {e}"));
        assert!(a == b, "CommitLog file {name} differs");
        compared += 1;
    }
    assert!(compared > 0, "no file compared");
}

fn pull_cmd(topic: &str, queue_id: i32, offset: i64) -> RemotingCommand {
    let h = PullMessageRequestHeader {
        consumer_group: "G_HA".into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: pull_sys_flag::FLAG_SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        ..Default::default()
    };
    RemotingCommand::request(rc::PULL_MESSAGE, 0).with_header(&h)
}

/// Pull every message of a queue from `addr`; returns the bodies and the last response header.
fn pull_all(
    addr: SocketAddr,
    topic: &str,
    queue_id: i32,
) -> (Vec<Vec<u8>>, PullMessageResponseHeader) {
    let c = common::client();
    let mut offset = 0;
    let mut bodies = Vec::new();
    loop {
        let r = common::call(&c, addr, pull_cmd(topic, queue_id, offset));
        let h: PullMessageResponseHeader = r.read_header().expect("pull header");
        if r.code != response::SUCCESS {
            assert_eq!(r.code, response::PULL_NOT_FOUND, "{r:?}");
            return (bodies, h);
        }
        for rec in iter_records(&r.body) {
            bodies.push(rec.unwrap().body.to_vec());
        }
        offset = h.next_begin_offset;
    }
}

fn v2_send(topic: &str, body: &[u8]) -> RemotingCommand {
    let h = SendMessageRequestHeaderV2 {
        a: "pg".into(),
        b: topic.into(),
        c: "TBW102".into(),
        d: 4,
        e: 0,
        f: 0,
        g: now_ms(),
        h: 0,
        i: Some(String::new()),
        j: Some(0),
        k: false,
        l: None,
        m: false,
        n: Some("broker-ha".into()),
    };
    RemotingCommand::request(rc::SEND_MESSAGE_V2, 0)
        .with_header(&h)
        .with_body(body.to_vec())
}

fn start_namesrv(dir: &std::path::Path) -> (NameServer, SocketAddr) {
    let ns = rt::block_on(NameServer::start(NamesrvConfig {
        listen_port: 0,
        kv_config_path: dir.join("kv.json").to_string_lossy().into_owned(),
        ..Default::default()
    }))
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", ns.local_addr().port())
        .parse()
        .unwrap();
    (ns, addr)
}

fn route(ns: SocketAddr, topic: &str) -> Option<TopicRouteData> {
    let mut req = RemotingCommand::request(rc::GET_ROUTEINFO_BY_TOPIC, 0);
    req.ext_mut().insert("topic", topic);
    let r = common::call(&common::client(), ns, req);
    (r.code == response::SUCCESS).then(|| TopicRouteData::decode(&r.body).unwrap())
}

fn broker_addrs(ns: SocketAddr, topic: &str) -> Vec<(i64, String)> {
    route(ns, topic)
        .map(|r| {
            r.broker_datas
                .iter()
                .flat_map(|d| d.broker_addrs.iter().map(|(id, a)| (*id, a.clone())))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn slave_follows_the_master_byte_for_byte_serves_pulls_and_takes_over_routing() {
    let nsdir = tempfile::tempdir().unwrap();
    let (ns, ns_addr) = start_namesrv(nsdir.path());
    let master = start_master("ASYNC_MASTER", Some(ns_addr));
    wait_until("master registered", || {
        !broker_addrs(ns_addr, "TBW102").is_empty()
    });
    // The slave learns the master's HA and broker addresses from the name server.
    let slave = start_slave(&master, Some(ns_addr));
    wait_until("slave connected", || {
        master.broker.store().ha().connection_count() == 1
    });
    assert_eq!(
        slave.broker.inner().master_addr(),
        Some(master.addr().to_string())
    );

    let topic = "HaTopic";
    master
        .broker
        .inner()
        .configs
        .topics
        .update_topic_config(TopicConfig {
            read_queue_nums: 2,
            write_queue_nums: 2,
            ..TopicConfig::new(topic)
        })
        .unwrap();
    rt::block_on(apogee::broker::registration::register_now(
        master.broker.inner(),
    ));
    let n = 600;
    replicate_from_start(&master, "Warmup");
    for i in 0..n {
        put(&master, topic, (i % 2) as i32, &body_of(i));
    }
    assert!(
        master.broker.store().commit_log_max_offset() > 3 * FILE_SIZE as i64,
        "several files rolled"
    );
    wait_until("slave caught up", || caught_up(&master, &slave));
    assert_commit_logs_identical(&master, &slave, 0);
    assert_eq!(
        master.broker.store().ha().push_to_slave_max_offset(),
        master.broker.store().commit_log_max_offset()
    );

    // The slave built its own consume queues and serves pulls once it has the topic.
    rt::block_on(slave_sync::sync_all(slave.broker.inner()));
    assert!(slave.broker.inner().configs.topics.contains(topic));
    for q in 0..2 {
        let (on_master, mh) = pull_all(master.addr(), topic, q);
        let (on_slave, _) = pull_all(slave.addr(), topic, q);
        assert_eq!(on_master.len(), n / 2);
        assert_eq!(on_master, on_slave, "queue {q}");
        assert_eq!(mh.suggest_which_broker_id, 0, "slaveReadEnable is off");
    }

    // Routing: master (id 0) and slave (id 1) under one broker name; with the master gone the
    // slave is still routed and serves the data; when the master is back both are routed.
    wait_until("slave routed", || broker_addrs(ns_addr, topic).len() == 2);
    let addrs = broker_addrs(ns_addr, topic);
    assert!(addrs.contains(&(0, master.addr().to_string())), "{addrs:?}");
    assert!(addrs.contains(&(1, slave.addr().to_string())), "{addrs:?}");
    let master_dir = master.dir;
    let master_cfg = master.broker.inner().config.clone();
    let master_store_cfg = master.broker.store().config().clone();
    rt::block_on(master.broker.shutdown());
    let addrs = broker_addrs(ns_addr, topic);
    assert_eq!(addrs, vec![(1, slave.addr().to_string())]);
    let (on_slave, _) = pull_all(slave.addr(), topic, 0);
    assert_eq!(
        on_slave.len(),
        n / 2,
        "consumers read from the slave meanwhile"
    );
    let master = start(master_cfg, master_store_cfg, master_dir);
    wait_until("master routed again", || {
        broker_addrs(ns_addr, topic).contains(&(0, master.addr().to_string()))
    });
    master.stop();
    slave.stop();
    ns.shutdown();
}

#[test]
fn slave_catches_up_after_a_restart_and_a_late_slave_starts_at_the_last_file() {
    let master = start_master("ASYNC_MASTER", None);
    let slave = start_slave(&master, None);
    replicate_from_start(&master, "Warmup");
    for i in 0..200 {
        put(&master, "Restart", 0, &body_of(i));
    }
    wait_until("first catch-up", || caught_up(&master, &slave));
    let (cfg, store_cfg, dir) = (
        slave.broker.inner().config.clone(),
        slave.broker.store().config().clone(),
        slave.dir,
    );
    rt::block_on(slave.broker.shutdown());
    wait_until("master sees the slave leave", || {
        master.broker.store().ha().connection_count() == 0
    });
    for i in 200..500 {
        put(&master, "Restart", 0, &body_of(i));
    }
    let slave = start(cfg, store_cfg, dir);
    wait_until("catch-up after restart", || caught_up(&master, &slave));
    assert_commit_logs_identical(&master, &slave, 0);
    assert_eq!(
        slave.broker.store().max_offset_in_queue("Restart", 0),
        500,
        "the slave's dispatcher built the consume queue"
    );

    // A new, empty slave starts from the start of the master's last file (as Java does).
    // Its log begins there, it flushes and shuts down cleanly, and it keeps its data over a
    // restart.
    let late = start_slave(&master, None);
    wait_until("late slave caught up", || caught_up(&master, &late));
    let max = master.broker.store().commit_log_max_offset();
    let last_file = max - max % FILE_SIZE as i64;
    assert_eq!(late.broker.store().commit_log_min_offset(), last_file);
    assert_commit_logs_identical(&master, &late, last_file);
    let (cfg, store_cfg, dir) = (
        late.broker.inner().config.clone(),
        late.broker.store().config().clone(),
        late.dir,
    );
    rt::block_on(late.broker.shutdown());
    assert!(
        !store_cfg.abort_path().exists(),
        "the late slave flushed everything and shut down cleanly"
    );
    for i in 500..700 {
        put(&master, "Restart", 0, &body_of(i));
    }
    let late = start(cfg, store_cfg, dir);
    assert_eq!(late.broker.store().commit_log_min_offset(), last_file);
    wait_until("late slave caught up again", || caught_up(&master, &late));
    assert_commit_logs_identical(&master, &late, last_file);
    assert_eq!(late.broker.store().max_offset_in_queue("Restart", 0), 700);
    late.stop();
    slave.stop();
    master.stop();
}

#[test]
fn sync_master_acknowledges_only_what_the_slave_has() {
    let dir = tempfile::tempdir().unwrap();
    let (b, mut s) = ha_configs(dir.path(), "SYNC_MASTER", None, None);
    s.slave_timeout = 2000;
    let master = start(b, s, dir);
    let c = common::client();

    // No slave: stored, but SLAVE_NOT_AVAILABLE.
    let r = common::call(&c, master.addr(), v2_send("SyncTopic", b"alone"));
    assert_eq!(r.code, response::SLAVE_NOT_AVAILABLE, "{r:?}");
    assert!(
        r.read_header::<SendMessageResponseHeader>().is_ok(),
        "stored: header present"
    );

    // A "slave" that connects, reports once and then never acknowledges: FLUSH_SLAVE_TIMEOUT.
    let mut mute = TcpStream::connect(master.broker.inner().ha_addr).unwrap();
    mute.write_all(&master.broker.store().commit_log_max_offset().to_be_bytes())
        .unwrap();
    wait_until("mute slave counted", || {
        master.broker.store().ha().connection_count() == 1
    });
    let r = common::call(&c, master.addr(), v2_send("SyncTopic", b"unacked"));
    assert_eq!(r.code, response::FLUSH_SLAVE_TIMEOUT, "{r:?}");
    drop(mute);
    wait_until("mute slave gone", || {
        master.broker.store().ha().connection_count() == 0
    });

    // A real slave: every SUCCESS means the slave already holds the message.
    let slave = start_slave(&master, None);
    wait_until("slave connected", || {
        master.broker.store().ha().connection_count() == 1
    });
    for i in 0..50 {
        let r = common::call(&c, master.addr(), v2_send("SyncTopic", &body_of(i)));
        assert_eq!(r.code, response::SUCCESS, "{r:?}");
        let h: SendMessageResponseHeader = r.read_header().unwrap();
        let id = decode_offset_msg_id(&h.msg_id).unwrap();
        assert!(
            slave.broker.store().commit_log_max_offset() > id.offset,
            "acknowledged message {i} is on the slave"
        );
        assert!(
            slave.broker.store().commit_log_max_offset()
                >= master.broker.store().ha().push_to_slave_max_offset()
        );
    }
    slave.stop();
    master.stop();
}

#[test]
fn slave_refuses_sends_and_syncs_config_from_the_master() {
    let master = start_master("ASYNC_MASTER", None);
    let slave = start_slave(&master, None);
    let c = common::client();
    let r = common::call(&c, slave.addr(), v2_send("AnyTopic", b"x"));
    assert_eq!(r.code, response::SERVICE_NOT_AVAILABLE, "{r:?}");

    let mi = master.broker.inner();
    mi.configs
        .topics
        .update_topic_config(TopicConfig::new("SyncedTopic"))
        .unwrap();
    mi.configs
        .subscription_groups
        .update(SubscriptionGroupConfig {
            retry_max_times: 7,
            ..SubscriptionGroupConfig::new("SyncedGroup")
        })
        .unwrap();
    mi.configs
        .consumer_offsets
        .commit("SyncedGroup", "SyncedTopic", 3, 42);
    mi.configs.delay_offsets.set(2, 9);

    slave
        .broker
        .inner()
        .set_master_addr(&master.addr().to_string());
    rt::block_on(slave_sync::sync_all(slave.broker.inner()));
    let si = slave.broker.inner();
    assert!(si.configs.topics.contains("SyncedTopic"));
    assert_eq!(
        si.configs.topics.data_version(),
        mi.configs.topics.data_version()
    );
    assert_eq!(
        si.configs
            .subscription_groups
            .get("SyncedGroup")
            .map(|g| g.retry_max_times),
        Some(7)
    );
    assert_eq!(
        si.configs
            .consumer_offsets
            .query("SyncedGroup", "SyncedTopic", 3),
        Some(42)
    );
    let cfg_dir = slave.broker.store().config().config_dir();
    let topics = std::fs::read_to_string(cfg_dir.join("topics.json")).unwrap();
    assert!(topics.contains("SyncedTopic"), "persisted");
    let offsets = std::fs::read_to_string(cfg_dir.join("consumerOffset.json")).unwrap();
    assert!(offsets.contains("SyncedTopic@SyncedGroup"), "persisted");
    let delay = std::fs::read_to_string(cfg_dir.join("delayOffset.json")).unwrap();
    assert!(
        delay.contains('9'),
        "master's delay offsets written as is: {delay}"
    );
    slave.stop();
    master.stop();
}

/// A hand-written slave speaking Java's byte format against the master's HA port.
#[test]
fn raw_java_format_slave_against_the_master() {
    let master = start_master("ASYNC_MASTER", None);
    for i in 0..300 {
        put(&master, "RawTopic", 0, &body_of(i));
    }
    let max = master.broker.store().commit_log_max_offset();
    let last_file = max - max % FILE_SIZE as i64;
    let mut s = TcpStream::connect(master.broker.inner().ha_addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&0i64.to_be_bytes()).unwrap();
    let mut got = Vec::new();
    let mut next = last_file;
    while next < max {
        let mut h = [0u8; 12];
        s.read_exact(&mut h).unwrap();
        let off = i64::from_be_bytes(h[..8].try_into().unwrap());
        let size = i32::from_be_bytes(h[8..].try_into().unwrap());
        assert_eq!(
            off, next,
            "chunks are contiguous from the last file's start"
        );
        assert!(
            size as usize <= 32 * 1024,
            "haTransferBatchSize bounds a chunk"
        );
        let mut body = vec![0u8; size as usize];
        s.read_exact(&mut body).unwrap();
        got.extend_from_slice(&body);
        next += size as i64;
        s.write_all(&next.to_be_bytes()).unwrap();
    }
    let file = std::fs::read(
        master
            .broker
            .store()
            .config()
            .commit_log_dir()
            .join(format!("{last_file:020}")),
    )
    .unwrap();
    assert_eq!(got, file[..(max - last_file) as usize]);
    wait_until("acknowledged", || {
        master.broker.store().ha().push_to_slave_max_offset() == max
    });
    // Caught up: the master sends heartbeats (size 0) at the slave's offset.
    let mut h = [0u8; 12];
    s.read_exact(&mut h).unwrap();
    assert_eq!(i64::from_be_bytes(h[..8].try_into().unwrap()), max);
    assert_eq!(i32::from_be_bytes(h[8..].try_into().unwrap()), 0);
    // A report beyond the master's max offset closes the connection.
    s.write_all(&(max + 1).to_be_bytes()).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    wait_until("connection closed", || {
        master.broker.store().ha().connection_count() == 0
    });
    master.stop();
}

/// A hand-written master speaking Java's byte format feeding the slave.
#[test]
fn raw_java_format_master_feeding_the_slave() {
    // Real CommitLog bytes to replicate: written by a plain store.
    let source = start_master("ASYNC_MASTER", None);
    for i in 0..100 {
        put(&source, "FedTopic", 1, &body_of(i));
    }
    let max = source.broker.store().commit_log_max_offset();
    let mut bytes = Vec::new();
    let mut at = 0;
    while at < max {
        let chunk = source.broker.store().ha_read(at, 10_000).unwrap();
        bytes.extend_from_slice(&chunk);
        at += chunk.len() as i64;
    }

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let fake_master = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut b, s) = ha_configs(dir.path(), "SLAVE", None, Some(fake_master));
    b.broker_id = 2;
    let slave = start(b, s, dir);
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut report = [0u8; 8];
    conn.read_exact(&mut report).unwrap();
    assert_eq!(i64::from_be_bytes(report), 0, "an empty slave reports 0");
    // Chunks of odd sizes that cut records in the middle.
    let mut off = 0usize;
    for size in [1usize, 7, 300, 4999, 12345].iter().cycle() {
        if off >= bytes.len() {
            break;
        }
        let end = (off + size).min(bytes.len());
        conn.write_all(&(off as i64).to_be_bytes()).unwrap();
        conn.write_all(&((end - off) as i32).to_be_bytes()).unwrap();
        conn.write_all(&bytes[off..end]).unwrap();
        off = end;
    }
    // The slave acknowledges everything, and its dispatcher built the consume queue.
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        conn.read_exact(&mut report).unwrap();
        if i64::from_be_bytes(report) == max {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    wait_until("dispatched", || {
        slave.broker.store().max_offset_in_queue("FedTopic", 1) == 100
    });
    // A chunk at the wrong offset makes the slave drop the connection.
    conn.write_all(&(max + 100).to_be_bytes()).unwrap();
    conn.write_all(&0i32.to_be_bytes()).unwrap();
    let mut rest = Vec::new();
    let _ = conn.read_to_end(&mut rest);
    slave.stop();
    source.stop();
}

/// SYNC_MASTER + SYNC_FLUSH master as a separate process, SIGKILLed: every acknowledged
/// message is on the slave and consumable there.
#[test]
fn killed_sync_master_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "brokerName=broker-ha\nbrokerIP1=127.0.0.1\nlistenPort=0\nhaListenPort=0\n\
             brokerRole=SYNC_MASTER\nflushDiskType=SYNC_FLUSH\nstorePathRootDir={}\n\
             mappedFileSizeCommitLog={FILE_SIZE}\nhaSendHeartbeatInterval=500\n\
             diskMaxUsedSpaceRatio=95\ndiskSpaceWarningLevelRatio=100\n\
             diskSpaceCleanForciblyRatio=100\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mqbroker"))
        .args(["-c", conf.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let boot = loop {
        let l = lines.next().expect("output").unwrap();
        if l.contains("boot success") {
            break l;
        }
    };
    // "... serving on 127.0.0.1:P (HA on 127.0.0.1:Q)"
    let addr: SocketAddr = boot
        .split("serving on ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|a| a.parse().ok())
        .expect("broker address");
    let ha: SocketAddr = boot
        .split("HA on ")
        .nth(1)
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|a| a.parse().ok())
        .expect("HA address");

    let sdir = tempfile::tempdir().unwrap();
    let (b, s) = ha_configs(sdir.path(), "SLAVE", None, Some(ha));
    let slave = start(b, s, sdir);
    slave.broker.inner().set_master_addr(&addr.to_string());
    let c = common::client();
    // Wait until the slave is connected: SLAVE_NOT_AVAILABLE until then.
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let r = common::call(&c, addr, v2_send("KillTopic", b"probe"));
        if r.code == response::SUCCESS {
            break;
        }
        assert_eq!(r.code, response::SLAVE_NOT_AVAILABLE, "{r:?}");
        assert!(Instant::now() < deadline, "slave never connected");
        std::thread::sleep(Duration::from_millis(50));
    }
    rt::block_on(slave_sync::sync_all(slave.broker.inner()));
    let mut acked = Vec::new();
    for i in 0..200 {
        let body = body_of(i);
        let r = common::call(&c, addr, v2_send("KillTopic", &body));
        if r.code == response::SUCCESS {
            acked.push(body);
        }
    }
    assert!(
        acked.len() > 150,
        "most sends acknowledged: {}",
        acked.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();

    assert!(slave
        .broker
        .store()
        .wait_dispatched(Duration::from_secs(10)));
    let (on_slave, _) = pull_all(slave.addr(), "KillTopic", 0);
    for b in &acked {
        assert!(
            on_slave.contains(b),
            "acknowledged message missing on the slave"
        );
    }
    slave.stop();
}

/// `slaveReadEnable`: pulls of cold data (beyond `accessMessageInMemoryMaxRatio` of RAM from
/// the log's end) suggest the group's `whichBrokerWhenConsumeSlowly`, others its `brokerId`;
/// without it always the master.
#[test]
fn pull_answers_suggest_the_slave_for_cold_data() {
    let suggestion = |slave_read: bool, ratio: i32| {
        let dir = tempfile::tempdir().unwrap();
        let (mut b, mut s) = ha_configs(dir.path(), "ASYNC_MASTER", None, None);
        b.slave_read_enable = slave_read;
        s.access_message_in_memory_max_ratio = ratio;
        let master = start(b, s, dir);
        master
            .broker
            .inner()
            .configs
            .topics
            .update_topic_config(TopicConfig::new("Cold"))
            .unwrap();
        for i in 0..10 {
            put(&master, "Cold", 0, &body_of(i));
        }
        assert!(master.broker.store().wait_dispatched(WAIT_LIMIT));
        let r = common::call(&common::client(), master.addr(), pull_cmd("Cold", 0, 0));
        assert_eq!(r.code, response::SUCCESS, "{r:?}");
        let h: PullMessageResponseHeader = r.read_header().unwrap();
        master.stop();
        h.suggest_which_broker_id
    };
    assert_eq!(suggestion(true, 0), 1, "cold: whichBrokerWhenConsumeSlowly");
    assert_eq!(suggestion(true, 100), 0, "warm: the group's brokerId");
    assert_eq!(suggestion(false, 0), 0, "slave reading off: the master");
}
