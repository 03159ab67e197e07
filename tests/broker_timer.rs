//! 5.x timer messages over raw frames: `TIMER_DELAY_SEC`, `TIMER_DELAY_MS` and
//! `TIMER_DELIVER_MS` delivered at their time (lateness printed), 5.x's refusals, the
//! precedence of `DELAY`, many messages in one slot, exactly-once delivery across a clean
//! restart and at-least-once delivery from timer files left as a crash leaves them.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use apogee::broker::timer;
use apogee::broker::Broker;
use apogee::remoting::RemotingClient;
use apogee::rt;
use apogee::store::fs::Fs;
use apogee::store::message_store::MessageStore;
use apogee::store::results::AcceptAll;
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::{SendMessageRequestHeaderV2, SendMessageResponseHeader};
use apogee_codec::message::{decode_record, MessageExt};
use apogee_codec::RemotingCommand;

const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
/// Bound of every wait for something to happen.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

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

/// SEND_MESSAGE_V2 of one message with `key` (KEYS and UNIQ_KEY) and `extra` properties.
fn send(
    c: &RemotingClient,
    b: &Broker,
    topic: &str,
    queue_id: i32,
    key: &str,
    extra: &[(&str, &str)],
) -> RemotingCommand {
    let uniq = format!("UNIQ-{key}");
    let mut entries = vec![
        ("KEYS", key),
        ("UNIQ_KEY", uniq.as_str()),
        ("TAGS", "tagT"),
        ("WAIT", "true"),
    ];
    entries.extend_from_slice(extra);
    let h = SendMessageRequestHeaderV2 {
        a: "pg".into(),
        b: topic.into(),
        c: "TBW102".into(),
        d: 4,
        e: queue_id,
        f: 0,
        g: now_ms(),
        h: 0,
        i: Some(props(&entries)),
        j: Some(0),
        k: false,
        l: None,
        m: false,
        n: Some("broker-test".into()),
    };
    let cmd = RemotingCommand::request(rc::SEND_MESSAGE_V2, 0)
        .with_header(&h)
        .with_body(format!("body of {key}").into_bytes());
    common::call(c, b.addr(), cmd)
}

fn send_ok(r: &RemotingCommand) -> SendMessageResponseHeader {
    assert_eq!(r.code, response::SUCCESS, "remark: {:?}", r.remark);
    r.read_header::<SendMessageResponseHeader>()
        .expect("send response header")
}

/// One stored message.
#[derive(Debug, Clone)]
struct Stored {
    ext: MessageExt,
    raw_props: Vec<u8>,
}

impl Stored {
    fn prop(&self, k: &str) -> Option<&str> {
        self.ext.property(k)
    }

    fn key(&self) -> String {
        self.prop("KEYS").unwrap_or("").to_owned()
    }
}

/// Every message of (topic, queue).
fn read_queue(store: &MessageStore, topic: &str, queue_id: i32) -> Vec<Stored> {
    assert!(store.wait_dispatched(WAIT_LIMIT), "dispatch caught up");
    let mut out = Vec::new();
    let mut offset = store.min_offset_in_queue(topic, queue_id);
    for _ in 0..100_000 {
        let Some(r) = store.get_message(topic, queue_id, offset, 32, &AcceptAll) else {
            break;
        };
        if r.messages.is_empty() {
            break;
        }
        for m in &r.messages {
            let (rec, _) = decode_record(m).expect("stored record decodes");
            out.push(Stored {
                ext: MessageExt::from_record(&rec),
                raw_props: rec.properties.to_vec(),
            });
        }
        offset = r.next_begin_offset;
    }
    out
}

fn read_topic(store: &MessageStore, topic: &str, queues: i32) -> Vec<Stored> {
    (0..queues)
        .flat_map(|q| read_queue(store, topic, q))
        .collect()
}

/// How often each key was delivered.
fn counts(v: &[Stored]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for s in v {
        *m.entry(s.key()).or_insert(0) += 1;
    }
    m
}

fn status(b: &Broker) -> timer::TimerStatus {
    timer::status(b.inner()).expect("timer running")
}

fn start_on(dir: &Path) -> Broker {
    let (b, s) = common::configs(dir, None);
    rt::block_on(Broker::start(b, s, Fs::real())).expect("broker starts")
}

/// Lateness (store time of the delivered copy − TIMER_OUT_MS) of every delivered message.
fn lateness(v: &[Stored]) -> Vec<i64> {
    v.iter()
        .map(|s| {
            let due: i64 = s
                .prop("TIMER_OUT_MS")
                .expect("delivered copy has TIMER_OUT_MS")
                .parse()
                .expect("TIMER_OUT_MS is a number");
            s.ext.store_timestamp - due
        })
        .collect()
}

// ---- delivery at the right time -------------------------------------------------------------

#[test]
fn each_property_delivers_at_its_time_and_past_times_at_once() {
    let tb = common::start_broker();
    let b = &tb.broker;
    let c = common::client();
    let t0 = now_ms();
    let deliver_at = (t0 + 1_800).to_string();
    let past = (t0 - 60_000).to_string();
    let sent = [
        ("sec", vec![("TIMER_DELAY_SEC", "1")], 1_000),
        ("ms", vec![("TIMER_DELAY_MS", "1300")], 1_300),
        (
            "deliver",
            vec![("TIMER_DELIVER_MS", deliver_at.as_str())],
            1_800,
        ),
    ];
    for (i, (key, extra, _)) in sent.iter().enumerate() {
        let h = send_ok(&send(&c, b, "TimerT", i as i32, key, extra));
        assert_eq!(h.queue_id, i as i32, "the response names the real queue");
    }
    // Due in the past: stored at once as an ordinary message.
    send_ok(&send(
        &c,
        b,
        "TimerT",
        3,
        "past",
        &[("TIMER_DELIVER_MS", past.as_str())],
    ));
    let store = b.store();
    let now_in_topic = read_topic(store, "TimerT", 4);
    assert_eq!(
        now_in_topic.iter().map(Stored::key).collect::<Vec<_>>(),
        vec!["past"]
    );
    assert_eq!(now_in_topic[0].prop("TIMER_OUT_MS"), None);

    // The three are parked in rmq_sys_wheel_timer queue 0 with their real topic and queue.
    let parked = read_queue(store, TIMER_TOPIC, 0);
    assert_eq!(parked.len(), 3);
    for (p, (i, (key, _, delay))) in parked.iter().zip(sent.iter().enumerate()) {
        assert_eq!(p.key(), *key);
        assert_eq!(p.prop("REAL_TOPIC"), Some("TimerT"));
        assert_eq!(p.prop("REAL_QID"), Some(i.to_string().as_str()));
        assert_eq!(p.prop("WAIT"), Some("true"));
        let out: i64 = p.prop("TIMER_OUT_MS").unwrap().parse().unwrap();
        assert!(
            (t0 + delay..=now_ms() + delay).contains(&out),
            "{key}: TIMER_OUT_MS {out} not {delay} ms after the send"
        );
    }

    wait_until("the three timer messages", || {
        read_topic(store, "TimerT", 4).len() == 4
    });
    let delivered = read_topic(store, "TimerT", 4);
    let timed: Vec<Stored> = delivered
        .iter()
        .filter(|s| s.key() != "past")
        .cloned()
        .collect();
    let late = lateness(&timed);
    println!("lateness (ms) of sec/ms/deliver: {late:?}");
    for (s, l) in timed.iter().zip(&late) {
        assert!(*l >= 0, "{} delivered {} ms early", s.key(), -l);
        let parked = parked.iter().find(|p| p.key() == s.key()).unwrap();
        // The copy: the parked record's properties plus the two timer times; same body,
        // real topic and queue, everything else kept.
        assert_eq!(Some(s.ext.topic.as_str()), parked.prop("REAL_TOPIC"));
        assert_eq!(
            Some(s.ext.queue_id.to_string().as_str()),
            parked.prop("REAL_QID")
        );
        assert_eq!(s.ext.body, parked.ext.body);
        assert_eq!(s.ext.born_timestamp, parked.ext.born_timestamp);
        for (k, v) in parked.ext.properties.iter() {
            assert_eq!(s.prop(k), Some(v), "{k} kept");
        }
        assert_eq!(s.ext.properties.len(), parked.ext.properties.len() + 2);
        let enq: i64 = s.prop("TIMER_ENQUEUE_MS").unwrap().parse().unwrap();
        let deq: i64 = s.prop("TIMER_DEQUEUE_MS").unwrap().parse().unwrap();
        assert!(enq <= deq && deq <= s.ext.store_timestamp);
        assert_ne!(s.raw_props, parked.raw_props);
    }
    let st = status(b);
    assert_eq!((st.pending, st.delivered, st.enqueue_offset), (0, 3, 3));
    tb.stop();
}

#[test]
fn many_messages_in_one_slot_are_each_delivered_once() {
    let tb = common::start_broker();
    let b = &tb.broker;
    let c = common::client();
    // 300 messages inside one 1-second slot, sent in reverse due order.
    let base = (now_ms() / 1000 + 2) * 1000;
    let n = 300;
    for i in (0..n).rev() {
        let at = (base + i * 3).to_string();
        send_ok(&send(
            &c,
            b,
            "TimerSlot",
            0,
            &format!("k{i}"),
            &[("TIMER_DELIVER_MS", at.as_str())],
        ));
    }
    let store = b.store();
    wait_until("300 deliveries", || {
        read_queue(store, "TimerSlot", 0).len() >= n as usize
    });
    wait_until("nothing pending", || status(b).pending == 0);
    let delivered = read_queue(store, "TimerSlot", 0);
    assert_eq!(delivered.len(), n as usize);
    assert!(counts(&delivered).values().all(|c| *c == 1));
    let late = lateness(&delivered);
    assert!(late.iter().all(|l| *l >= 0), "never early");
    // Delivered in due order.
    let dues: Vec<i64> = delivered
        .iter()
        .map(|s| s.prop("TIMER_OUT_MS").unwrap().parse().unwrap())
        .collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "in due order");
    println!(
        "one slot, {n} messages: max lateness {} ms",
        late.iter().max().unwrap()
    );
    tb.stop();
}

// ---- refusals and precedence ------------------------------------------------------------------

#[test]
fn out_of_range_and_malformed_times_are_refused_like_5x() {
    let tb = common::start_broker();
    let b = &tb.broker;
    let c = common::client();
    let remark = "timer message illegal, the delay time should not be bigger than the max delay \
                  259200000ms; or if set del msg, the delay time should be bigger than the \
                  current time";
    let too_far = (now_ms() + 259_200_000 + 60_000).to_string();
    for (key, extra) in [
        ("sec", vec![("TIMER_DELAY_SEC", "259201")]),
        ("ms", vec![("TIMER_DELAY_MS", "259260000")]),
        ("deliver", vec![("TIMER_DELIVER_MS", too_far.as_str())]),
        ("bad-sec", vec![("TIMER_DELAY_SEC", "1.5")]),
        ("bad-ms", vec![("TIMER_DELAY_MS", "soon")]),
        ("bad-deliver", vec![("TIMER_DELIVER_MS", "12ab")]),
        (
            "del-past",
            vec![("TIMER_DELIVER_MS", "1"), ("TIMER_DEL_UNIQKEY", "x")],
        ),
    ] {
        let r = send(&c, b, "TimerBad", 0, key, &extra);
        assert_eq!(r.code, response::MESSAGE_ILLEGAL, "{key}: {:?}", r.remark);
        assert_eq!(r.remark.as_deref(), Some(remark), "{key}");
    }
    assert!(read_queue(b.store(), TIMER_TOPIC, 0).is_empty());

    // DELAY wins: the timer properties are dropped and the level path is taken.
    send_ok(&send(
        &c,
        b,
        "TimerBad",
        0,
        "level",
        &[("DELAY", "2"), ("TIMER_DELAY_SEC", "1")],
    ));
    let sched = read_queue(b.store(), "SCHEDULE_TOPIC_XXXX", 1);
    assert_eq!(sched.len(), 1);
    assert_eq!(sched[0].prop("TIMER_DELAY_SEC"), None);
    assert_eq!(sched[0].prop("DELAY"), Some("2"));
    // A delivered timer copy sent again (it has TIMER_OUT_MS) is an ordinary message.
    send_ok(&send(
        &c,
        b,
        "TimerBad",
        0,
        "again",
        &[("TIMER_DELAY_SEC", "100"), ("TIMER_OUT_MS", "5")],
    ));
    assert_eq!(read_queue(b.store(), "TimerBad", 0).len(), 1);
    assert!(read_queue(b.store(), TIMER_TOPIC, 0).is_empty());
    tb.stop();

    // timerWheelEnable=false: refused with SYSTEM_ERROR; nothing runs.
    let dir = tempfile::tempdir().unwrap();
    let (bc, mut sc) = common::configs(dir.path(), None);
    sc.timer_wheel_enable = false;
    let tb = common::start_broker_with(bc, sc, dir);
    let r = send(
        &c,
        &tb.broker,
        "TimerBad",
        0,
        "off",
        &[("TIMER_DELAY_SEC", "1")],
    );
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("accurate timer message is not enabled, timerWheelEnable is false")
    );
    assert!(timer::status(tb.broker.inner()).is_none());
    tb.stop();
}

// ---- restart and crash ------------------------------------------------------------------------

/// Send `n` timer messages to `topic` queue 0, message i due `first + i * step` ms from now.
fn send_spread(c: &RemotingClient, b: &Broker, topic: &str, n: usize, first: i64, step: i64) {
    for i in 0..n {
        let ms = (first + i as i64 * step).to_string();
        send_ok(&send(
            c,
            b,
            topic,
            0,
            &format!("m{i}"),
            &[("TIMER_DELAY_MS", ms.as_str())],
        ));
    }
}

#[test]
fn a_clean_restart_delivers_each_pending_message_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let c = common::client();
    let n = 40;
    let b = start_on(dir.path());
    // Due from 0.3 s to ~2.3 s from now.
    send_spread(&c, &b, "TimerR", n, 300, 50);
    wait_until("a first delivery", || {
        !read_queue(b.store(), "TimerR", 0).is_empty()
    });
    rt::block_on(b.shutdown());
    drop(b);
    // Let some fall due while the broker is down: they are delivered at once after start.
    std::thread::sleep(Duration::from_millis(700));

    let b = start_on(dir.path());
    // pending + delivered stays what was pending at the start (nothing new is sent).
    let st = status(&b);
    let pending_at_start = st.pending + st.delivered;
    assert!(
        pending_at_start > 0 && pending_at_start < n as u64,
        "restarted with {pending_at_start} of {n} pending"
    );
    wait_until("every message", || {
        read_queue(b.store(), "TimerR", 0).len() >= n
    });
    wait_until("nothing pending", || status(&b).pending == 0);
    let delivered = read_queue(b.store(), "TimerR", 0);
    let per_key = counts(&delivered);
    assert_eq!(per_key.len(), n);
    assert!(
        per_key.values().all(|c| *c == 1),
        "exactly once: {per_key:?}"
    );
    assert!(lateness(&delivered).iter().all(|l| *l >= 0), "never early");
    rt::block_on(b.shutdown());

    // A second restart with nothing pending delivers nothing more.
    let b = start_on(dir.path());
    assert_eq!(status(&b).pending, 0);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(read_queue(b.store(), "TimerR", 0).len(), n);
    rt::block_on(b.shutdown());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            // A file may vanish while it is copied (a drained log segment): as after a crash.
            let _ = std::fs::copy(e.path(), &target);
        }
    }
}

#[test]
fn timer_files_left_by_a_crash_deliver_at_least_once_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let c = common::client();
    let n = 60;
    let (bc, mut sc) = common::configs(dir.path(), None);
    // Small log segments (8 entries) so segments are created and deleted during the run.
    sc.mapped_file_size_timer_log = 8 * 40;
    // Frequent checkpoints, so that the 'crash' happens with one on disk.
    sc.timer_flush_interval_ms = 100;
    let b = rt::block_on(Broker::start(bc.clone(), sc.clone(), Fs::real())).unwrap();
    send_spread(&c, &b, "TimerC", n, 200, 40);
    wait_until("some deliveries", || {
        read_queue(b.store(), "TimerC", 0).len() >= n / 3
    });
    // The timer files as a crash would leave them at this moment, copied while the actor
    // runs: the checkpoint first (on disk it is never newer than the log it describes), then
    // the log and wheel, which may have moved on since (more entries, more delivered flags,
    // drained segments deleted).
    let snapshot = tempfile::tempdir().unwrap();
    let cp = sc.timer_dir().join("checkpoint.json");
    if cp.exists() {
        std::fs::copy(&cp, snapshot.path().join("checkpoint.json")).unwrap();
    }
    for sub in ["log", "wheel"] {
        let from = sc.timer_dir().join(sub);
        if from.is_dir() {
            copy_dir(&from, &snapshot.path().join(sub));
        } else if from.exists() {
            let _ = std::fs::copy(&from, snapshot.path().join(sub));
        }
    }
    wait_until("every message before the 'crash'", || {
        read_queue(b.store(), "TimerC", 0).len() >= n
    });
    rt::block_on(b.shutdown());
    drop(b);
    std::fs::remove_dir_all(sc.timer_dir()).unwrap();
    copy_dir(snapshot.path(), &sc.timer_dir());

    let b = rt::block_on(Broker::start(bc, sc, Fs::real())).unwrap();
    wait_until("nothing pending after the restart", || {
        let s = status(&b);
        s.pending == 0 && s.enqueue_offset == n as i64
    });
    let delivered = read_queue(b.store(), "TimerC", 0);
    let per_key = counts(&delivered);
    assert_eq!(per_key.len(), n, "no message lost");
    let again = delivered.len() - n;
    println!("after the crash: {again} of {n} delivered a second time");
    rt::block_on(b.shutdown());
}
