//! Delivery of delayed messages: levels 1 and 2 on time and in order with the real message
//! restored, exactly-once delivery across a clean restart, and a store written by Java 4.9.8
//! whose `delayOffset.json` must be honoured.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use apogee::broker::schedule;
use apogee::broker::{Broker, BrokerConfig};
use apogee::rt;
use apogee::store::config_files::{ConfigManager, DelayOffsetManager};
use apogee::store::fs::Fs;
use apogee::store::message_inner::MessageInner;
use apogee::store::message_store::MessageStore;
use apogee::store::results::MessageFilter;
use apogee::store::store_config::MessageStoreConfig;
use apogee_codec::message::{decode_record, tags_code, MessageExt};
use bytes::Bytes;

const SCHEDULE: &str = "SCHEDULE_TOPIC_XXXX";
/// Delivery may be this late (delivery store time − due time).
const MAX_LATENESS_MS: i64 = 500;
/// Bound of every wait for something to happen.
const WAIT_LIMIT: Duration = Duration::from_secs(15);

// ---- helpers ------------------------------------------------------------------------------

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
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn raw_props(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(2);
        }
        out.extend_from_slice(k.as_bytes());
        out.push(1);
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// Records the tags code of every consume-queue unit a read returns.
#[derive(Default)]
struct CodeProbe(Mutex<Vec<i64>>);

impl MessageFilter for CodeProbe {
    fn matches_cq(&self, tags_code: i64) -> bool {
        self.0.lock().unwrap().push(tags_code);
        true
    }
}

/// One stored message as read back from a queue.
#[derive(Debug, Clone)]
struct Stored {
    queue_offset: i64,
    tags_code: i64,
    ext: MessageExt,
    raw_props: Vec<u8>,
}

impl Stored {
    fn prop(&self, key: &str) -> Option<&str> {
        self.ext.property(key)
    }
}

/// Every message of (topic, queue) from its min offset, with the CQ tags codes.
fn read_queue(store: &MessageStore, topic: &str, queue_id: i32) -> Vec<Stored> {
    let mut out = Vec::new();
    let mut offset = store.min_offset_in_queue(topic, queue_id);
    for _ in 0..1000 {
        let probe = CodeProbe::default();
        let Some(r) = store.get_message(topic, queue_id, offset, 32, &probe) else {
            break;
        };
        if r.messages.is_empty() {
            break;
        }
        let codes = probe.0.into_inner().unwrap();
        assert_eq!(codes.len(), r.messages.len(), "every unit has its record");
        for ((m, q), code) in r.messages.iter().zip(&r.queue_offsets).zip(codes) {
            let (rec, _) = decode_record(m).expect("stored record decodes");
            out.push(Stored {
                queue_offset: *q,
                tags_code: code,
                ext: MessageExt::from_record(&rec),
                raw_props: rec.properties.to_vec(),
            });
        }
        offset = r.next_begin_offset;
    }
    out
}

struct Put<'a> {
    topic: &'a str,
    queue_id: i32,
    level: i32,
    key: String,
    tags: &'a str,
    extra: Vec<(&'a str, &'a str)>,
    reconsume_times: i32,
}

/// Put a delayed message straight into the store; returns the schedule copy's store time.
fn put_delayed(store: &MessageStore, store_host: SocketAddr, p: &Put<'_>) -> i64 {
    let level = p.level.to_string();
    let uniq = format!("UNIQ-{}", p.key);
    let mut entries = vec![
        ("KEYS", p.key.as_str()),
        ("TAGS", p.tags),
        ("UNIQ_KEY", uniq.as_str()),
        ("DELAY", level.as_str()),
    ];
    entries.extend(p.extra.iter().copied());
    entries.push(("WAIT", "true"));
    let msg = MessageInner {
        topic: p.topic.into(),
        queue_id: p.queue_id,
        flag: 42,
        sys_flag: 0,
        born_timestamp: now_ms() - 5,
        born_host: "10.0.0.7:5555".parse().unwrap(),
        store_host,
        reconsume_times: p.reconsume_times,
        prepared_transaction_offset: 0,
        body: Bytes::from(format!("body of {} — délai", p.key)),
        properties: raw_props(&entries),
    };
    let r = store.put_message_blocking(msg, false);
    assert!(r.status.is_stored(), "{r:?}");
    r.append.expect("append result").store_timestamp
}

/// The delivered copy must be the schedule copy in its real queue, its properties string
/// unchanged (DELAY included, as the Java 4.9.8 broker stores it).
fn assert_restored(delivered: &Stored, scheduled: &Stored) {
    let s = &scheduled.ext;
    let d = &delivered.ext;
    assert_eq!(Some(d.topic.as_str()), scheduled.prop("REAL_TOPIC"));
    assert_eq!(
        Some(d.queue_id.to_string().as_str()),
        scheduled.prop("REAL_QID")
    );
    assert_eq!(delivered.raw_props, scheduled.raw_props, "properties kept");
    for k in [
        "KEYS",
        "TAGS",
        "UNIQ_KEY",
        "WAIT",
        "REAL_TOPIC",
        "REAL_QID",
        "DELAY",
    ] {
        assert_eq!(delivered.prop(k), scheduled.prop(k), "{k}");
    }
    assert_eq!(d.body, s.body);
    assert_eq!(d.flag, s.flag);
    assert_eq!(d.sys_flag, s.sys_flag);
    assert_eq!(d.born_timestamp, s.born_timestamp);
    assert_eq!(d.born_host, s.born_host);
    assert_eq!(d.store_host, s.store_host);
    assert_eq!(d.reconsume_times, s.reconsume_times);
    assert_eq!(
        delivered.tags_code,
        tags_code(delivered.prop("TAGS").map(str::as_bytes)),
        "tags code recomputed from TAGS"
    );
}

/// Lateness (delivery store time − due time) of each delivered message, checked and printed.
fn check_lateness(what: &str, pairs: &[(&Stored, &Stored)], delay_ms: i64) -> Vec<i64> {
    let mut late = Vec::new();
    for (d, s) in pairs {
        let due = s.ext.store_timestamp + delay_ms;
        assert_eq!(s.tags_code, due, "the CQ tags code is the due time");
        let l = d.ext.store_timestamp - due;
        assert!(
            (0..MAX_LATENESS_MS).contains(&l),
            "{what}: {} delivered {l} ms after due",
            d.prop("KEYS").unwrap_or("?")
        );
        late.push(l);
    }
    println!("{what}: lateness (ms) = {late:?}");
    late
}

fn start(b: BrokerConfig, s: MessageStoreConfig) -> Broker {
    rt::block_on(Broker::start(b, s, Fs::real())).expect("broker starts")
}

fn delay_offsets(s: &MessageStoreConfig) -> DelayOffsetManager {
    let m = DelayOffsetManager::new(&Fs::real(), &s.config_dir());
    m.load().expect("delayOffset.json loads");
    m
}

fn level(b: &Broker, level: i32) -> schedule::LevelStatus {
    schedule::status(b.inner())
        .into_iter()
        .find(|l| l.level == level)
        .expect("level is running")
}

fn keys_of(v: &[Stored]) -> Vec<String> {
    v.iter()
        .map(|m| m.prop("KEYS").unwrap_or("").to_owned())
        .collect()
}

// ---- levels 1 and 2 -----------------------------------------------------------------------

#[test]
fn levels_one_and_two_are_delivered_on_time_in_order_with_the_real_message() {
    let tb = common::start_broker();
    let store = tb.broker.store().clone();
    let host = tb.addr();

    for i in 0..5 {
        put_delayed(
            &store,
            host,
            &Put {
                topic: "DelayT",
                queue_id: 0,
                level: 1,
                key: format!("L1-{i}"),
                tags: "TagA",
                extra: vec![("seq", "1"), ("ünicode-key", "värde")],
                reconsume_times: 0,
            },
        );
    }
    // A consumer retry parked at level 1: the reconsume count must survive.
    put_delayed(
        &store,
        host,
        &Put {
            topic: "%RETRY%cg",
            queue_id: 0,
            level: 1,
            key: "R-0".into(),
            tags: "TagR",
            extra: vec![("RETRY_TOPIC", "DelayT"), ("ORIGIN_MESSAGE_ID", "X")],
            reconsume_times: 2,
        },
    );
    for i in 0..3 {
        put_delayed(
            &store,
            host,
            &Put {
                topic: "DelayT",
                queue_id: 1,
                level: 2,
                key: format!("L2-{i}"),
                tags: "标签",
                extra: vec![("note", "héllo")],
                reconsume_times: 0,
            },
        );
    }
    assert_eq!(store.max_offset_in_queue("DelayT", 0), 0, "not yet due");
    assert_eq!(store.max_offset_in_queue("DelayT", 1), 0, "not yet due");

    wait_until("level 1 delivered", || {
        store.max_offset_in_queue("DelayT", 0) == 5
            && store.max_offset_in_queue("%RETRY%cg", 0) == 1
    });
    // Level 2 is due 5 s after its store time: still waiting now.
    assert_eq!(store.max_offset_in_queue("DelayT", 1), 0);
    let l2 = level(&tb.broker, 2);
    assert_eq!(l2.offset, 0);
    let first_l2 = read_queue(&store, SCHEDULE, 1);
    assert_eq!(
        l2.next_due,
        Some(first_l2[0].tags_code),
        "sleeps until the head is due"
    );
    wait_until("level 2 delivered", || {
        store.max_offset_in_queue("DelayT", 1) == 3
    });

    let sched1 = read_queue(&store, SCHEDULE, 0);
    let sched2 = read_queue(&store, SCHEDULE, 1);
    let q0 = read_queue(&store, "DelayT", 0);
    let q1 = read_queue(&store, "DelayT", 1);
    let retry = read_queue(&store, "%RETRY%cg", 0);
    assert_eq!(
        keys_of(&q0),
        ["L1-0", "L1-1", "L1-2", "L1-3", "L1-4"],
        "order kept"
    );
    assert_eq!(keys_of(&q1), ["L2-0", "L2-1", "L2-2"], "order kept");
    assert_eq!(keys_of(&retry), ["R-0"]);
    assert_eq!(retry[0].ext.reconsume_times, 2);
    assert_eq!(retry[0].prop("RETRY_TOPIC"), Some("DelayT"));

    let by_key = |k: &str, v: &[Stored]| -> Stored {
        v.iter()
            .find(|m| m.prop("KEYS") == Some(k))
            .cloned()
            .expect("scheduled copy")
    };
    let mut pairs1 = Vec::new();
    for d in q0.iter().chain(&retry) {
        let s = by_key(d.prop("KEYS").unwrap_or(""), &sched1);
        assert_restored(d, &s);
        pairs1.push((d.clone(), s));
    }
    let mut pairs2 = Vec::new();
    for d in &q1 {
        let s = by_key(d.prop("KEYS").unwrap_or(""), &sched2);
        assert_restored(d, &s);
        pairs2.push((d.clone(), s));
    }
    assert_eq!(q0[0].prop("ünicode-key"), Some("värde"));
    assert_eq!(q1[0].prop("note"), Some("héllo"));
    let refs1: Vec<(&Stored, &Stored)> = pairs1.iter().map(|(a, b)| (a, b)).collect();
    let refs2: Vec<(&Stored, &Stored)> = pairs2.iter().map(|(a, b)| (a, b)).collect();
    check_lateness("level 1 (1 s)", &refs1, 1_000);
    check_lateness("level 2 (5 s)", &refs2, 5_000);

    let l1 = level(&tb.broker, 1);
    assert_eq!((l1.offset, l1.max_offset, l1.delivered), (6, 6, 6));
    let l2 = level(&tb.broker, 2);
    assert_eq!((l2.offset, l2.max_offset, l2.delivered), (3, 3, 3));
    assert_eq!(l2.next_due, None, "caught up: no timer");
    let offsets = &tb.broker.inner().configs.delay_offsets;
    assert_eq!(
        (offsets.get(1), offsets.get(2), offsets.get(3)),
        (Some(6), Some(3), None)
    );
    tb.stop();
}

// ---- store failures ----------------------------------------------------------------------

#[test]
fn a_store_that_refuses_writes_delays_delivery_but_skips_nothing() {
    use apogee::store::running_flags::RunningFlags;

    let tb = common::start_broker();
    let store = tb.broker.store().clone();
    let host = tb.addr();
    for i in 0..3 {
        put_delayed(
            &store,
            host,
            &Put {
                topic: "FailT",
                queue_id: 0,
                level: 1,
                key: format!("F-{i}"),
                tags: "T",
                extra: vec![],
                reconsume_times: 0,
            },
        );
    }
    store.running_flags().set(RunningFlags::NOT_WRITEABLE);
    // Due after 1 s; the puts fail and are retried with back-off.
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(store.max_offset_in_queue("FailT", 0), 0);
    let l1 = level(&tb.broker, 1);
    assert_eq!((l1.offset, l1.delivered), (0, 0), "nothing skipped");
    store.running_flags().clear(RunningFlags::NOT_WRITEABLE);
    wait_until("delivery once the store takes writes again", || {
        store.max_offset_in_queue("FailT", 0) == 3
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        keys_of(&read_queue(&store, "FailT", 0)),
        ["F-0", "F-1", "F-2"]
    );
    let l1 = level(&tb.broker, 1);
    assert_eq!((l1.offset, l1.delivered), (3, 3));
    tb.stop();
}

// ---- restart ------------------------------------------------------------------------------

#[test]
fn a_restart_with_pending_messages_delivers_each_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (bc, sc) = common::configs(dir.path(), None);
    let broker = start(bc.clone(), sc.clone());
    let store = broker.store().clone();
    let host = broker.addr();
    for (queue_id, lvl, n) in [(0, 1, 2), (1, 2, 3)] {
        for i in 0..n {
            put_delayed(
                &store,
                host,
                &Put {
                    topic: "RestartT",
                    queue_id,
                    level: lvl,
                    key: format!("L{lvl}-{i}"),
                    tags: "T",
                    extra: vec![],
                    reconsume_times: 0,
                },
            );
        }
    }
    wait_until("level 1 delivered", || {
        store.max_offset_in_queue("RestartT", 0) == 2
    });
    assert_eq!(
        store.max_offset_in_queue("RestartT", 1),
        0,
        "level 2 pending"
    );
    drop(store);
    rt::block_on(broker.shutdown());
    drop(broker);

    let saved = delay_offsets(&sc);
    assert_eq!(saved.get(1), Some(2), "delivered level-1 messages recorded");
    assert_eq!(saved.get(2).unwrap_or(0), 0, "level 2 still pending");

    let broker = start(bc, sc.clone());
    let store = broker.store().clone();
    wait_until("level 2 delivered after the restart", || {
        store.max_offset_in_queue("RestartT", 1) == 3
    });
    // Give duplicates a chance to show up (level 1 is due 1 s after store time).
    std::thread::sleep(Duration::from_millis(1_500));
    let q0 = read_queue(&store, "RestartT", 0);
    let q1 = read_queue(&store, "RestartT", 1);
    assert_eq!(
        keys_of(&q0),
        ["L1-0", "L1-1"],
        "level 1 not delivered again"
    );
    assert_eq!(
        keys_of(&q1),
        ["L2-0", "L2-1", "L2-2"],
        "level 2 delivered once"
    );
    let sched2 = read_queue(&store, SCHEDULE, 1);
    let pairs: Vec<(&Stored, &Stored)> = q1.iter().zip(&sched2).collect();
    for (d, s) in &pairs {
        assert_restored(d, s);
    }
    check_lateness("level 2 across a restart", &pairs, 5_000);
    assert_eq!(level(&broker, 1).delivered, 0);
    assert_eq!(level(&broker, 2).delivered, 3);
    drop(store);
    rt::block_on(broker.shutdown());

    let saved = delay_offsets(&sc);
    assert_eq!((saved.get(1), saved.get(2)), (Some(2), Some(3)));
    drop(dir);
}

// ---- the Java 4.9.8 fixture ---------------------------------------------------------------

fn fixtures_dir() -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(d) = std::env::var_os("APOGEE_FIXTURES_DIR") {
        candidates.push(PathBuf::from(d));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    candidates.push(PathBuf::from("/work/shared/fixtures"));
    candidates
        .into_iter()
        .find(|d| d.join("java-4.9.8-clean.tar.gz").is_file())
        .expect("Java fixtures not found: set APOGEE_FIXTURES_DIR to shared/fixtures")
}

fn extract_clean_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(fixtures_dir().join("java-4.9.8-clean.tar.gz"))
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("run tar");
    assert!(status.success(), "tar failed");
    dir
}

fn fixture_store_config(root: &Path) -> MessageStoreConfig {
    MessageStoreConfig {
        store_path_root_dir: root.to_string_lossy().into_owned(),
        mapped_file_size_commit_log: 1_048_576,
        mapped_file_size_consume_queue: 6_000,
        max_hash_slot_num: 1_000,
        max_index_num: 4_000,
        file_reserved_time: 1_000_000,
        warm_maped_file_enable: false,
        ..Default::default()
    }
}

#[test]
fn the_java_store_keeps_its_delay_progress() {
    let dir = extract_clean_store();
    let sc = fixture_store_config(&dir.path().join("store"));
    let saved = delay_offsets(&sc);
    assert_eq!(
        saved.table().into_iter().collect::<Vec<_>>(),
        [(1, 5), (3, 8)],
        "the fixture's delayOffset.json"
    );

    // The pending level-18 entries and their due times, read before any delivery can run.
    let store = MessageStore::open(sc.clone(), Fs::real()).expect("store opens");
    let pending = read_queue(&store, SCHEDULE, 17);
    let before = [
        store.max_offset_in_queue("FixDelay", 0),
        store.max_offset_in_queue("FixDelay", 1),
        store.max_offset_in_queue("%RETRY%FixGroup", 0),
    ];
    store.shutdown();
    drop(store);
    assert_eq!(before, [2, 3, 8]);
    assert_eq!(
        keys_of(&pending),
        [
            "delay-18-5",
            "delay-18-6",
            "delay-18-7",
            "delay-18-8",
            "delay-18-9"
        ]
    );
    for p in &pending {
        assert_eq!(p.prop("DELAY"), Some("18"));
        assert_eq!(
            p.tags_code,
            p.ext.store_timestamp + 7_200_000,
            "due 2 h after store time"
        );
    }
    let due = pending[0].tags_code;
    let stored_at = pending[0].ext.store_timestamp;

    let bc = BrokerConfig {
        broker_ip1: "127.0.0.1".into(),
        listen_port: 0,
        broker_name: "broker-a".into(),
        ..Default::default()
    };
    let broker = start(bc, sc.clone());
    let store = broker.store().clone();
    // Java's rule: due at `due`, unless the clock reads before the store time (then at once).
    let now = now_ms();
    let still_pending = now >= stored_at && now < due;
    println!(
        "fixture level-18 head stored at {stored_at}, due at {due}, now {now}: {}",
        if still_pending { "pending" } else { "due" }
    );
    if still_pending {
        // Longer than level 1's delay: nothing already delivered comes back, nothing early.
        std::thread::sleep(Duration::from_millis(1_500));
        let l18 = level(&broker, 18);
        assert_eq!((l18.offset, l18.max_offset), (0, 5));
        assert_eq!(l18.next_due, Some(due), "sleeps until the head is due");
        assert_eq!(store.max_offset_in_queue("FixDelay", 0), 2);
        assert_eq!(store.max_offset_in_queue("FixDelay", 1), 3);
    } else {
        wait_until("the overdue level-18 messages", || {
            store.max_offset_in_queue("FixDelay", 0) == 5
                && store.max_offset_in_queue("FixDelay", 1) == 5
        });
        std::thread::sleep(Duration::from_millis(1_500));
        let q0 = read_queue(&store, "FixDelay", 0);
        let q1 = read_queue(&store, "FixDelay", 1);
        assert_eq!(
            keys_of(&q0),
            [
                "delay-1-1",
                "delay-1-3",
                "delay-18-5",
                "delay-18-7",
                "delay-18-9"
            ],
            "each delivered once, in order"
        );
        assert_eq!(
            keys_of(&q1),
            [
                "delay-1-0",
                "delay-1-2",
                "delay-1-4",
                "delay-18-6",
                "delay-18-8"
            ]
        );
        for d in q0.iter().chain(&q1).filter(|d| d.queue_offset >= 2) {
            if let Some(s) = pending.iter().find(|p| p.prop("KEYS") == d.prop("KEYS")) {
                assert_restored(d, s);
            }
        }
        assert_eq!(level(&broker, 18).delivered, 5);
    }
    // Levels 1 and 3 were fully delivered by Java: nothing is delivered again.
    assert_eq!(store.max_offset_in_queue("%RETRY%FixGroup", 0), 8);
    for (lvl, offset) in [(1, 5), (3, 8)] {
        let l = level(&broker, lvl);
        assert_eq!((l.offset, l.max_offset, l.delivered), (offset, offset, 0));
    }
    drop(store);
    rt::block_on(broker.shutdown());

    let saved = delay_offsets(&sc);
    let l18 = if still_pending { 0 } else { 5 };
    assert_eq!(
        saved.table().into_iter().collect::<Vec<_>>(),
        [(1, 5), (3, 8), (18, l18)]
    );
    drop(dir);
}
