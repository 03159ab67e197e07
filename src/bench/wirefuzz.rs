//! `wirefuzz`: hostile input against a live broker and name server, while a canary
//! connection keeps sending and pulling.
//!
//! Worker threads open short connections and send one attack each:
//!
//! * *well-formed* requests that the server must answer (a response, whatever its code,
//!   within [`ANSWER_TIMEOUT`]): every known request code with no header fields, known codes
//!   with header fields set to hostile values (empty, negative, overflowing, huge, control
//!   characters, random bodies), unknown codes; both serializations;
//! * *malformed* frames, after which the server may close the connection: random bytes,
//!   mutated valid frames (bit flips, overwritten / inserted / removed bytes, truncation),
//!   lying lengths, huge lengths, wrong serialize types, JSON bombs (deep nesting, 100k
//!   fields, huge numbers), invalid UTF-8 in JSON and binary headers, half-open connections (the
//!   client shuts its write side mid-frame).
//!
//! Alongside: slow-loris connections (a frame one byte at a time, and a frame announcing
//! 16 MiB fed slowly), `--idle N` connections that never send anything, and `--stuck K`
//! consumers that pipeline pull requests and never read their socket. The canary sends a
//! message and pulls it back every few milliseconds and asks the name server for a route;
//! each must succeed. With `--rss-pid` the server's resident memory is sampled from /proc.
//!
//! The run passes when the canary never failed, every well-formed request was answered, the
//! server process is still alive and (with `--rss-limit-mb`) its RSS stayed under the limit.
//! `--duration` counts from the moment the idle connections are open.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apogee_codec::codes::{request, response};
use apogee_codec::command::SerializeType;
use apogee_codec::RemotingCommand;
use bytes::{Bytes, BytesMut};
use serde::Serialize;

use super::client::Conn;

/// A well-formed request must be answered within this.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The canary's topic (no attack names it).
const CANARY_TOPIC: &str = "WireFuzzCanary";
/// The topic attacks use.
const FUZZ_TOPIC: &str = "WireFuzzTopic";

/// Command line of `wirefuzz`.
#[derive(Debug, Clone)]
pub struct FuzzArgs {
    pub broker: String,
    pub namesrv: Option<String>,
    pub duration: Duration,
    pub seed: u64,
    pub workers: usize,
    pub idle: usize,
    pub stuck: usize,
    pub rss_pid: Option<u32>,
    pub rss_limit_mb: Option<u64>,
    pub json: bool,
}

impl FuzzArgs {
    pub fn parse(argv: &[String]) -> Result<FuzzArgs, String> {
        let mut a = FuzzArgs {
            broker: String::new(),
            namesrv: None,
            duration: Duration::from_secs(10),
            seed: super::now_micros(),
            workers: 4,
            idle: 0,
            stuck: 1,
            rss_pid: None,
            rss_limit_mb: None,
            json: false,
        };
        let mut it = argv.iter();
        while let Some(k) = it.next() {
            let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
            fn num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, String> {
                v.parse().map_err(|_| format!("{k}: not a number: {v}"))
            }
            match k.as_str() {
                "--broker" => a.broker = v()?.clone(),
                "--namesrv" => a.namesrv = Some(v()?.clone()),
                "--duration" => {
                    let secs: f64 = num(k, v()?)?;
                    a.duration = Duration::try_from_secs_f64(secs)
                        .map_err(|_| format!("--duration: {secs}"))?;
                }
                "--seed" => a.seed = num(k, v()?)?,
                "--workers" => a.workers = num(k, v()?)?,
                "--idle" => a.idle = num(k, v()?)?,
                "--stuck" => a.stuck = num(k, v()?)?,
                "--rss-pid" => a.rss_pid = Some(num(k, v()?)?),
                "--rss-limit-mb" => a.rss_limit_mb = Some(num(k, v()?)?),
                "--json" => a.json = true,
                other => return Err(format!("wirefuzz: unknown option {other}")),
            }
        }
        if a.broker.is_empty() {
            return Err("wirefuzz: --broker is required".into());
        }
        Ok(a)
    }
}

/// The report.
#[derive(Debug, Default, Serialize)]
pub struct FuzzReport {
    pub ok: bool,
    pub seed: u64,
    pub duration_s: f64,
    /// Attacks sent, by kind.
    pub attacks: BTreeMap<String, u64>,
    /// Well-formed requests sent / answered.
    pub requests: u64,
    pub answered: u64,
    /// Well-formed requests left without an answer (code and target), first few.
    pub unanswered: Vec<String>,
    /// Answers by response code.
    pub answer_codes: BTreeMap<i32, u64>,
    pub canary_ok: u64,
    pub canary_failed: u64,
    pub canary_max_ms: u64,
    pub canary_errors: Vec<String>,
    pub idle_held: usize,
    pub idle_failed: usize,
    pub stuck_requests_written: u64,
    pub slow_loris_bytes: u64,
    pub rss_start_kb: Option<u64>,
    /// Right after the idle connections were opened.
    pub rss_after_idle_kb: Option<u64>,
    pub rss_max_kb: Option<u64>,
    pub rss_end_kb: Option<u64>,
    pub server_alive: bool,
    pub error: Option<String>,
}

struct Shared {
    stop: AtomicBool,
    report: Mutex<FuzzReport>,
    stuck_written: AtomicU64,
    loris_bytes: AtomicU64,
}

impl Shared {
    fn with(&self, f: impl FnOnce(&mut FuzzReport)) {
        if let Ok(mut r) = self.report.lock() {
            f(&mut r)
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Resident set of `pid` in KiB (Linux /proc).
pub fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Raise this process's open-file limit to its hard limit; returns the new soft limit
/// (children started afterwards inherit it).
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the plain struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
    }
    lim.rlim_cur
}

/// Header field names requests carry (union over the codes the broker and name server
/// handle), including the short names of SEND_MESSAGE_V2.
const FIELDS: &[&str] = &[
    "topic",
    "queueId",
    "queueOffset",
    "maxMsgNums",
    "sysFlag",
    "commitOffset",
    "suspendTimeoutMillis",
    "subscription",
    "subVersion",
    "expressionType",
    "consumerGroup",
    "group",
    "offset",
    "timestamp",
    "key",
    "maxNum",
    "beginTimestamp",
    "endTimestamp",
    "brokerName",
    "brokerAddr",
    "clusterName",
    "brokerId",
    "haServerAddr",
    "producerGroup",
    "tranStateTableOffset",
    "commitLogOffset",
    "commitOrRollback",
    "fromTransactionCheck",
    "msgId",
    "delayLevel",
    "originMsgId",
    "originTopic",
    "maxReconsumeTimes",
    "unitMode",
    "defaultTopic",
    "defaultTopicQueueNums",
    "readQueueNums",
    "writeQueueNums",
    "perm",
    "topicFilterType",
    "topicSysFlag",
    "order",
    "namespace",
    "value",
    "uniqueKey",
    "bname",
    "properties",
    "bornTimestamp",
    "flag",
    "reconsumeTimes",
    "batch",
    "compressed",
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "j",
    "k",
    "l",
    "m",
    "n",
];

fn hostile_value(rng: &mut fastrand::Rng) -> String {
    match rng.u8(0..16) {
        0 => String::new(),
        1 => "-1".into(),
        2 => "2147483648".into(),
        3 => "-2147483649".into(),
        4 => i64::MAX.to_string(),
        5 => i64::MIN.to_string(),
        6 => "18446744073709551616".into(),
        7 => "NaN".into(),
        8 => "\u{0}\u{1}\u{2}".into(),
        9 => "x".repeat(rng.usize(1..70_000)),
        10 => "1e999999".into(),
        11 => "%RETRY%".into(),
        12 => FUZZ_TOPIC.into(),
        13 => "0".into(),
        14 => "true".into(),
        _ => (0..rng.usize(0..40)).map(|_| rng.char(..)).collect(),
    }
}

/// Request codes the codec's table knows, minus those whose only effect is to stop or
/// reconfigure the node for everyone (a hostile client with admin rights is out of scope).
fn known_codes() -> Vec<i32> {
    (0..1000)
        .filter(|c| request::name(*c).is_some())
        .filter(|c| *c != request::UPDATE_BROKER_CONFIG && *c != request::UPDATE_NAMESRV_CONFIG)
        .collect()
}

/// Valid frames to mutate.
fn seed_frames() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for st in [SerializeType::Json, SerializeType::RocketMq] {
        let mut cmds = Vec::new();
        let mut send = RemotingCommand::request(request::SEND_MESSAGE_V2, 7);
        for (k, v) in [
            ("a", "fuzz"),
            ("b", FUZZ_TOPIC),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "0"),
            ("f", "0"),
            ("g", "0"),
            ("h", "0"),
            ("i", "TAGS\u{1}t\u{2}KEYS\u{1}k"),
            ("j", "0"),
            ("k", "false"),
            ("m", "false"),
        ] {
            send.ext_mut().insert(k, v);
        }
        send.body = Bytes::from_static(b"fuzz body");
        cmds.push(send);
        let mut pull = RemotingCommand::request(request::PULL_MESSAGE, 8);
        for (k, v) in [
            ("consumerGroup", "fuzzg"),
            ("topic", FUZZ_TOPIC),
            ("queueId", "0"),
            ("queueOffset", "0"),
            ("maxMsgNums", "32"),
            ("sysFlag", "4"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "0"),
            ("subscription", "*"),
            ("subVersion", "0"),
            ("expressionType", "TAG"),
        ] {
            pull.ext_mut().insert(k, v);
        }
        cmds.push(pull);
        let mut hb = RemotingCommand::request(request::HEART_BEAT, 9);
        hb.body = Bytes::from_static(
            br#"{"clientID":"c1","consumerDataSet":[{"groupName":"fuzzg","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"topic":"WireFuzzTopic","subString":"*","tagsSet":[],"codeSet":[],"subVersion":0,"expressionType":"TAG","classFilterMode":false}],"unitMode":false}],"producerDataSet":[{"groupName":"fuzzp"}]}"#,
        );
        cmds.push(hb);
        let mut route = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 10);
        route.ext_mut().insert("topic", FUZZ_TOPIC);
        cmds.push(route);
        let mut off = RemotingCommand::request(request::QUERY_CONSUMER_OFFSET, 11);
        off.ext_mut().insert("consumerGroup", "fuzzg");
        off.ext_mut().insert("topic", FUZZ_TOPIC);
        off.ext_mut().insert("queueId", "0");
        cmds.push(off);
        let mut lock = RemotingCommand::request(request::LOCK_BATCH_MQ, 12);
        lock.body = Bytes::from_static(
            br#"{"consumerGroup":"fuzzg","clientId":"c1","mqSet":[{"topic":"WireFuzzTopic","brokerName":"b","queueId":0}]}"#,
        );
        cmds.push(lock);
        for mut c in cmds {
            c.serialize_type = st;
            if let Ok(b) = c.to_bytes() {
                out.push(b.to_vec());
            }
        }
    }
    out
}

/// A frame with a raw JSON header (for bombs and invalid UTF-8).
fn raw_json_frame(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + header.len() + body.len());
    f.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    f.extend_from_slice(&(header.len() as u32).to_be_bytes());
    f.extend_from_slice(header);
    f.extend_from_slice(body);
    f
}

fn mutate(rng: &mut fastrand::Rng, f: &mut Vec<u8>) {
    for _ in 0..rng.usize(1..6) {
        if f.is_empty() {
            f.push(rng.u8(..));
            continue;
        }
        let at = rng.usize(..f.len());
        match rng.u8(0..6) {
            0 => f[at] ^= 1 << rng.u8(0..8),
            1 => f[at] = rng.u8(..),
            2 => f.insert(at, rng.u8(..)),
            3 => {
                f.remove(at);
            }
            4 => f.truncate(at),
            _ => {
                // A header byte (length, serialize type, header length).
                let h = rng.usize(..f.len().min(8));
                f[h] = rng.u8(..);
            }
        }
    }
}

/// A malformed attack: its kind and bytes. The server may close the connection on it.
fn malformed(rng: &mut fastrand::Rng, seeds: &[Vec<u8>]) -> (&'static str, Vec<u8>) {
    let mut seed = seeds[rng.usize(..seeds.len())].clone();
    match rng.u8(0..10) {
        0 => (
            "random",
            (0..rng.usize(0..4096)).map(|_| rng.u8(..)).collect(),
        ),
        1 | 2 => {
            mutate(rng, &mut seed);
            ("mutated", seed)
        }
        3 => {
            let len = [u32::MAX, i32::MAX as u32, 16 * 1024 * 1024 + 1, 0, 3][rng.usize(..5)];
            seed[..4].copy_from_slice(&len.to_be_bytes());
            ("huge_length", seed)
        }
        4 => {
            seed[4] = rng.u8(2..=255);
            ("wrong_serialize_type", seed)
        }
        5 => {
            let depth = rng.usize(1000..200_000);
            let mut h = Vec::with_capacity(depth * 2 + 64);
            h.extend_from_slice(br#"{"code":10,"extFields":"#);
            h.extend(std::iter::repeat_n(b'[', depth));
            h.extend(std::iter::repeat_n(b']', depth));
            h.push(b'}');
            ("deep_nesting", raw_json_frame(&h, b""))
        }
        6 => {
            let n = rng.usize(1000..100_000);
            let mut h = String::from(r#"{"code":10,"opaque":5,"flag":0,"extFields":{"#);
            for i in 0..n {
                if i > 0 {
                    h.push(',');
                }
                h.push_str(&format!("\"k{i}\":\"v\""));
            }
            h.push_str("},\"version\":1e999999}");
            ("json_bomb", raw_json_frame(h.as_bytes(), b""))
        }
        7 if seed[4] == SerializeType::RocketMq.code() => {
            // The binary serialization: invalid UTF-8 inside an ext field value.
            let pat = FUZZ_TOPIC.as_bytes();
            if let Some(at) = seed.windows(pat.len()).position(|w| w == pat) {
                seed[at..at + 4].copy_from_slice(b"\xff\xfe\xc3\x28");
            }
            ("invalid_utf8_binary", seed)
        }
        7 => {
            let h = b"{\"code\":105,\"opaque\":6,\"flag\":0,\"extFields\":{\"topic\":\"\xff\xfe\xc3\x28\"},\"remark\":\"\xed\xa0\x80\"}";
            ("invalid_utf8_json", raw_json_frame(h, b"\xff"))
        }
        8 => {
            let cut = rng.usize(1..seed.len().max(2));
            seed.truncate(cut);
            ("half_open", seed)
        }
        _ => {
            // Header length larger than the frame.
            let hl = (seed.len() as u32).saturating_add(rng.u32(1..1000));
            seed[5..8].copy_from_slice(&hl.to_be_bytes()[1..]);
            ("header_len_lie", seed)
        }
    }
}

/// A well-formed request that must be answered: a known code with no fields or hostile
/// fields, or an unknown code.
fn well_formed(rng: &mut fastrand::Rng, codes: &[i32]) -> (&'static str, RemotingCommand) {
    let st = if rng.bool() {
        SerializeType::Json
    } else {
        SerializeType::RocketMq
    };
    let (kind, mut c) = match rng.u8(0..4) {
        0 => (
            "missing_fields",
            RemotingCommand::request(codes[rng.usize(..codes.len())], 0),
        ),
        1 => {
            // The binary header carries the code in 16 bits.
            let code = loop {
                let c = match st {
                    SerializeType::Json => rng.i32(..),
                    SerializeType::RocketMq => rng.i16(..) as i32,
                };
                if request::name(c).is_none() {
                    break c;
                }
            };
            ("unknown_code", RemotingCommand::request(code, 0))
        }
        _ => {
            let mut c = RemotingCommand::request(codes[rng.usize(..codes.len())], 0);
            for _ in 0..rng.usize(1..12) {
                let k = FIELDS[rng.usize(..FIELDS.len())];
                c.ext_mut().insert(k, hostile_value(rng));
            }
            if rng.bool() {
                let n = rng.usize(0..2048);
                c.body = Bytes::from((0..n).map(|_| rng.u8(..)).collect::<Vec<u8>>());
            }
            ("hostile_fields", c)
        }
    };
    c.serialize_type = st;
    (kind, c)
}

/// Read until EOF, an error or `timeout`.
fn drain(s: &mut TcpStream, timeout: Duration) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
}

fn worker(id: usize, a: &FuzzArgs, sh: &Shared) {
    let mut rng = fastrand::Rng::with_seed(a.seed.wrapping_add(id as u64 * 7919));
    let seeds = seed_frames();
    let codes = known_codes();
    let targets: Vec<String> = std::iter::once(a.broker.clone())
        .chain(a.namesrv.clone())
        .collect();
    while !sh.stopped() {
        let target = &targets[rng.usize(..targets.len())];
        if rng.bool() {
            let (kind, cmd) = well_formed(&mut rng, &codes);
            let code = cmd.code;
            let mut conn = match Conn::connect(target) {
                Ok(c) => c,
                Err(e) => {
                    sh.with(|r| {
                        if r.unanswered.len() < 20 {
                            r.unanswered.push(format!("connect {target}: {e}"))
                        }
                    });
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            // PULL_MESSAGE with the suspend flag may be held as long as the request asks.
            let must_answer = code != request::PULL_MESSAGE;
            let res = conn.call(cmd, ANSWER_TIMEOUT);
            sh.with(|r| {
                *r.attacks.entry(kind.into()).or_default() += 1;
                if must_answer {
                    r.requests += 1;
                }
                match &res {
                    Ok(resp) => {
                        if must_answer {
                            r.answered += 1;
                        }
                        *r.answer_codes.entry(resp.code).or_default() += 1;
                    }
                    Err(e) if must_answer && r.unanswered.len() < 20 => r
                        .unanswered
                        .push(format!("{kind} code {code} to {target}: {e}")),
                    Err(_) => {}
                }
            });
        } else {
            let (kind, bytes) = malformed(&mut rng, &seeds);
            let Ok(mut s) = TcpStream::connect(target) else {
                continue;
            };
            let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = s.write_all(&bytes);
            if kind == "half_open" {
                let _ = s.shutdown(Shutdown::Write);
            }
            drain(&mut s, Duration::from_millis(300));
            sh.with(|r| *r.attacks.entry(kind.into()).or_default() += 1);
        }
    }
}

/// Slow loris: a valid frame a byte at a time, or a 16 MiB announcement fed slowly.
fn slow_loris(id: usize, a: &FuzzArgs, sh: &Shared) {
    let seeds = seed_frames();
    let mut i = id;
    while !sh.stopped() {
        let Ok(mut s) = TcpStream::connect(&a.broker) else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let frame = if i.is_multiple_of(2) {
            seeds[i % seeds.len()].clone()
        } else {
            let mut f = (16 * 1024 * 1024u32 - 4).to_be_bytes().to_vec();
            f.extend_from_slice(&[0, 0, 0, 2]);
            f.extend(std::iter::repeat_n(b' ', 4096));
            f
        };
        i += 1;
        for b in frame {
            if sh.stopped() || s.write_all(&[b]).is_err() {
                break;
            }
            sh.loris_bytes.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        }
        sh.with(|r| *r.attacks.entry("slow_loris".into()).or_default() += 1);
    }
}

fn pull_frame(opaque: i32, offset: &str, max: &str, group: &str) -> RemotingCommand {
    let mut pull = RemotingCommand::request(request::PULL_MESSAGE, opaque);
    for (k, v) in [
        ("consumerGroup", group),
        ("topic", CANARY_TOPIC),
        ("queueId", "0"),
        ("queueOffset", offset),
        ("maxMsgNums", max),
        ("sysFlag", "4"),
        ("commitOffset", "0"),
        ("suspendTimeoutMillis", "0"),
        ("subscription", "*"),
        ("subVersion", "0"),
        ("expressionType", "TAG"),
    ] {
        pull.ext_mut().insert(k, v);
    }
    pull
}

/// A consumer that pipelines pulls of the canary topic and never reads its socket.
fn stuck_consumer(a: &FuzzArgs, sh: &Shared) {
    let Ok(mut s) = TcpStream::connect(&a.broker) else {
        return;
    };
    let _ = s.set_write_timeout(Some(Duration::from_millis(500)));
    let mut frame = BytesMut::new();
    let mut opaque = 1;
    while !sh.stopped() {
        frame.clear();
        for _ in 0..64 {
            let _ = pull_frame(opaque, "0", "32", "stuck").encode(&mut frame);
            opaque += 1;
        }
        match s.write_all(&frame) {
            Ok(()) => {
                sh.stuck_written.fetch_add(64, Ordering::Relaxed);
            }
            // The server stopped reading (its per-connection limits are reached): hold on.
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn create_topic(broker: &str, topic: &str) -> Result<(), String> {
    super::client::create_topic_on_broker(broker, topic, 1)
}

/// One canary round: send a message, pull it back by its queue offset, ask the name server
/// for a route.
fn canary_round(c: &mut Conn, ns: Option<&mut Conn>, n: u64) -> Result<(), String> {
    let body = format!("canary {n}");
    let mut send = RemotingCommand::request(request::SEND_MESSAGE_V2, 0);
    for (k, v) in [
        ("a", "canary"),
        ("b", CANARY_TOPIC),
        ("c", "TBW102"),
        ("d", "1"),
        ("e", "0"),
        ("f", "0"),
        ("g", "0"),
        ("h", "0"),
        ("i", "WAIT\u{1}true"),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
    ] {
        send.ext_mut().insert(k, v);
    }
    send.body = Bytes::from(body.clone().into_bytes());
    let r = c
        .call(send, Duration::from_secs(10))
        .map_err(|e| format!("send: {e}"))?;
    if r.code != response::SUCCESS {
        return Err(format!("send: code {} {:?}", r.code, r.remark));
    }
    let qo = r
        .ext("queueOffset")
        .ok_or("send: no queueOffset")?
        .to_owned();
    // The consume queue is built right after the append: retry briefly.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = c
            .call(pull_frame(0, &qo, "1", "canary"), Duration::from_secs(10))
            .map_err(|e| format!("pull: {e}"))?;
        if r.code == response::SUCCESS {
            let first = apogee_codec::message::iter_records(&r.body).next();
            match first {
                Some(Ok(rec)) if rec.body == body.as_bytes() => break,
                _ => return Err(format!("pull at {qo}: not the message sent")),
            }
        }
        if Instant::now() > deadline {
            return Err(format!("pull at {qo}: code {}", r.code));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if let Some(ns) = ns {
        let mut route = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0);
        route.ext_mut().insert("topic", CANARY_TOPIC);
        let r = ns
            .call(route, Duration::from_secs(10))
            .map_err(|e| format!("route: {e}"))?;
        if r.code != response::SUCCESS && r.code != response::TOPIC_NOT_EXIST {
            return Err(format!("route: code {}", r.code));
        }
    }
    Ok(())
}

fn canary(a: &FuzzArgs, sh: &Shared) {
    let fail = |e: String| {
        sh.with(|r| {
            r.canary_failed += 1;
            if r.canary_errors.len() < 10 {
                r.canary_errors.push(e);
            }
        })
    };
    let mut c = match Conn::connect(&a.broker) {
        Ok(c) => c,
        Err(e) => return fail(format!("connect: {e}")),
    };
    let mut ns = a.namesrv.as_deref().and_then(|n| Conn::connect(n).ok());
    let mut n = 0;
    while !sh.stopped() {
        n += 1;
        let t0 = Instant::now();
        match canary_round(&mut c, ns.as_mut(), n) {
            Ok(()) => {
                let ms = t0.elapsed().as_millis() as u64;
                sh.with(|r| {
                    r.canary_ok += 1;
                    r.canary_max_ms = r.canary_max_ms.max(ms);
                });
            }
            Err(e) => {
                fail(e);
                // Go on with fresh connections, so one failure does not hide the rest.
                if let Ok(fresh) = Conn::connect(&a.broker) {
                    c = fresh;
                }
                ns = a.namesrv.as_deref().and_then(|n| Conn::connect(n).ok());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Run the fuzzer; the report says whether the server held up.
pub fn fuzz(a: &FuzzArgs) -> FuzzReport {
    let sh = Arc::new(Shared {
        stop: AtomicBool::new(false),
        report: Mutex::new(FuzzReport {
            seed: a.seed,
            ..Default::default()
        }),
        stuck_written: AtomicU64::new(0),
        loris_bytes: AtomicU64::new(0),
    });
    if let Err(e) = create_topic(&a.broker, CANARY_TOPIC) {
        return FuzzReport {
            seed: a.seed,
            error: Some(e),
            ..Default::default()
        };
    }
    let started = Instant::now();
    let rss_start = a.rss_pid.and_then(rss_kb);
    // Idle connections: opened first, held to the end.
    let mut idle = Vec::new();
    let mut idle_failed = 0;
    if a.idle > 0 {
        raise_nofile();
        for _ in 0..a.idle {
            match TcpStream::connect(&a.broker) {
                Ok(s) => idle.push(s),
                Err(_) => idle_failed += 1,
            }
        }
    }
    // Let the server register them before measuring.
    if a.idle > 0 {
        std::thread::sleep(Duration::from_millis(500));
    }
    let rss_after_idle = a.rss_pid.and_then(rss_kb);
    let attacks_from = Instant::now();
    let mut threads = Vec::new();
    for id in 0..a.workers {
        let (a, sh) = (a.clone(), sh.clone());
        threads.push(std::thread::spawn(move || worker(id, &a, &sh)));
    }
    for id in 0..4 {
        let (a, sh) = (a.clone(), sh.clone());
        threads.push(std::thread::spawn(move || slow_loris(id, &a, &sh)));
    }
    for _ in 0..a.stuck {
        let (a, sh) = (a.clone(), sh.clone());
        threads.push(std::thread::spawn(move || stuck_consumer(&a, &sh)));
    }
    {
        let (a, sh) = (a.clone(), sh.clone());
        threads.push(std::thread::spawn(move || canary(&a, &sh)));
    }
    let mut rss_max = rss_start;
    while attacks_from.elapsed() < a.duration {
        std::thread::sleep(Duration::from_millis(200));
        if let Some(pid) = a.rss_pid {
            rss_max = rss_max.max(rss_kb(pid));
        }
    }
    sh.stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let rss_end = a.rss_pid.and_then(rss_kb);
    drop(idle);
    // The server must still answer a fresh connection.
    let alive = Conn::connect(&a.broker)
        .and_then(|mut c| {
            let mut q = RemotingCommand::request(request::GET_MAX_OFFSET, 0);
            q.ext_mut().insert("topic", CANARY_TOPIC);
            q.ext_mut().insert("queueId", "0");
            c.call(q, Duration::from_secs(10))
        })
        .is_ok_and(|r| r.code == response::SUCCESS)
        && a.rss_pid.is_none_or(|p| rss_kb(p).is_some());
    let mut r = sh
        .report
        .lock()
        .map(|mut r| std::mem::take(&mut *r))
        .unwrap_or_default();
    r.duration_s = started.elapsed().as_secs_f64();
    r.idle_held = a.idle - idle_failed;
    r.idle_failed = idle_failed;
    r.stuck_requests_written = sh.stuck_written.load(Ordering::Relaxed);
    r.slow_loris_bytes = sh.loris_bytes.load(Ordering::Relaxed);
    r.rss_start_kb = rss_start;
    r.rss_after_idle_kb = rss_after_idle;
    r.rss_max_kb = rss_max;
    r.rss_end_kb = rss_end;
    r.server_alive = alive;
    let rss_ok = match (a.rss_limit_mb, rss_max) {
        (Some(limit), Some(max)) => max <= limit * 1024,
        _ => true,
    };
    r.ok = alive
        && r.canary_failed == 0
        && r.canary_ok > 0
        && r.requests == r.answered
        && r.unanswered.is_empty()
        && rss_ok;
    r
}

/// `apogee-bench wirefuzz`.
pub fn run(a: FuzzArgs) -> Result<(), String> {
    let r = fuzz(&a);
    let text = if a.json {
        serde_json::to_string(&r)
    } else {
        serde_json::to_string_pretty(&r)
    };
    println!("{}", text.map_err(|e| format!("report: {e}"))?);
    if r.ok {
        Ok(())
    } else {
        Err(format!(
            "the server did not hold up{}",
            r.error.map(|e| format!(": {e}")).unwrap_or_default()
        ))
    }
}
