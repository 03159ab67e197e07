//! `delay`: lateness of delayed messages (delay levels and 5.x timer messages) through a broker
//! started in this process, and the process's memory while they wait.
//!
//! 1. A broker starts on 127.0.0.1 (any free port) over a store in `--store` or a temporary
//!    directory (removed afterwards), 128 MiB CommitLog files, no disk-usage-driven deletion.
//! 2. N connections send the messages (SEND_MESSAGE_V2, up to K in flight each, paced to
//!    spread over `--send-secs`) to topic
//!    `DelayBench` (8 queues). Each carries `UNIQ_KEY`; a `--timer-share` of them
//!    `TIMER_DELIVER_MS` (its send time + min-delay + a uniform share of spread), the others
//!    `DELAY` 3 (10 s) or 4 (30 s), alternately.
//! 3. Until every message is back in `DelayBench` (bounded wait), a sampler reads the
//!    process's `VmRSS` / `RssAnon` / `RssFile` every 200 ms and keeps the peaks.
//! 4. Read-back from the store: lateness = store time of the delivered copy − due time, where
//!    due is `TIMER_OUT_MS` for a timer message and, for a delay-level message, the store time
//!    of its `SCHEDULE_TOPIC_XXXX` record + the level's delay. HDR histograms per kind (ms);
//!    early deliveries and duplicates are counted.
//!
//! The lateness is measured on the broker's own clock and includes the put of the copy but not
//! a consumer's pull.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apogee_codec::codes::{request, response};
use apogee_codec::header::SendMessageRequestHeaderV2;
use apogee_codec::message::decode_record;
use apogee_codec::RemotingCommand;
use bytes::BytesMut;
use hdrhistogram::Histogram;

use super::args::DelayArgs;
use super::client::Conn;
use crate::broker::{Broker, BrokerConfig};
use crate::rt;
use crate::store::fs::Fs;
use crate::store::message_store::MessageStore;
use crate::store::results::AcceptAll;
use crate::store::store_config::MessageStoreConfig;
use crate::store::sys::now_ms;

const TOPIC: &str = "DelayBench";
const QUEUES: i32 = 8;
const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// Delay levels used (10 s, 30 s with the default `messageDelayLevel`).
const LEVELS: [i32; 2] = [3, 4];

/// Peak memory of this process, kB.
#[derive(Default)]
struct Rss {
    vm: AtomicU64,
    anon: AtomicU64,
    file: AtomicU64,
}

fn read_rss() -> Option<(u64, u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some((field("VmRSS:"), field("RssAnon:"), field("RssFile:")))
}

fn sample(rss: &Rss) {
    if let Some((vm, anon, file)) = read_rss() {
        rss.vm.fetch_max(vm, Ordering::Relaxed);
        rss.anon.fetch_max(anon, Ordering::Relaxed);
        rss.file.fetch_max(file, Ordering::Relaxed);
    }
}

/// xorshift64*: cheap, deterministic per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
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

/// What one sender thread did.
#[derive(Default)]
struct Sent {
    ok: u64,
    refused: u64,
    errors: Vec<String>,
}

/// Send messages `first, first + step, …` below `a.count` on one connection.
fn sender(a: &DelayArgs, addr: &str, first: u64) -> Sent {
    let mut out = Sent::default();
    let mut conn = match Conn::connect(addr) {
        Ok(c) => c,
        Err(e) => {
            out.errors.push(format!("connect: {e}"));
            return out;
        }
    };
    if let Err(e) = conn.stream.set_read_timeout(Some(Duration::from_secs(30))) {
        out.errors.push(format!("socket: {e}"));
        return out;
    }
    let step = a.connections as u64;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (first + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    let body = vec![b'd'; a.size];
    let mut i = first;
    let mut opaque = 1i32;
    // Pacing: message i is sent no earlier than start + i / count × send_secs.
    let t0 = Instant::now();
    let pace = |i: u64| Duration::from_secs_f64(a.send_secs * i as f64 / a.count as f64);
    while i < a.count {
        let at = pace(i);
        let elapsed = t0.elapsed();
        if at > elapsed {
            std::thread::sleep(at - elapsed);
        }
        let mut buf = BytesMut::new();
        let mut n = 0;
        while n < a.inflight && i < a.count {
            let uniq = format!("B{i:010}");
            // Message i is a timer message when (i + 1) × share passes an integer.
            let is_timer =
                ((i + 1) as f64 * a.timer_share).floor() > (i as f64 * a.timer_share).floor();
            let p = if is_timer {
                let r = i64::try_from(rng.next() % a.spread_ms as u64).unwrap_or(0);
                let at = (now_ms() + a.min_delay_ms + r).to_string();
                props(&[
                    ("UNIQ_KEY", &uniq),
                    ("TIMER_DELIVER_MS", &at),
                    ("WAIT", "true"),
                ])
            } else {
                let level = LEVELS[(i / 2 % 2) as usize].to_string();
                props(&[("UNIQ_KEY", &uniq), ("DELAY", &level), ("WAIT", "true")])
            };
            let h = SendMessageRequestHeaderV2 {
                a: "delay_bench".into(),
                b: TOPIC.into(),
                c: "TBW102".into(),
                d: QUEUES,
                e: (i % QUEUES as u64) as i32,
                f: 0,
                g: now_ms(),
                h: 0,
                i: Some(p),
                j: Some(0),
                k: false,
                l: None,
                m: false,
                n: None,
            };
            let mut cmd = RemotingCommand::request(request::SEND_MESSAGE_V2, 0)
                .with_header(&h)
                .with_body(body.clone());
            cmd.opaque = opaque;
            opaque = opaque.wrapping_add(1);
            if let Err(e) = cmd.encode(&mut buf) {
                out.errors.push(format!("encode: {e}"));
                return out;
            }
            n += 1;
            i += step;
        }
        if let Err(e) = conn.stream.write_all(&buf) {
            out.errors.push(format!("write: {e}"));
            return out;
        }
        let mut got = 0;
        while got < n {
            let r = conn.read_responses(|r| {
                got += 1;
                if r.code == response::SUCCESS {
                    out.ok += 1;
                } else {
                    out.refused += 1;
                }
            });
            match r {
                Ok(true) => {}
                Ok(false) => {
                    out.errors.push("connection closed".into());
                    return out;
                }
                Err(e) => {
                    out.errors.push(format!("read: {e}"));
                    return out;
                }
            }
        }
    }
    out
}

fn delivered_count(store: &MessageStore) -> u64 {
    (0..QUEUES)
        .map(|q| {
            let max = store.max_offset_in_queue(TOPIC, q);
            let min = store.min_offset_in_queue(TOPIC, q);
            u64::try_from(max - min).unwrap_or(0)
        })
        .sum()
}

/// Visit every record of (topic, queue).
fn for_each_record(store: &MessageStore, topic: &str, queue: i32, mut f: impl FnMut(&[u8])) {
    let mut offset = store.min_offset_in_queue(topic, queue);
    loop {
        let Some(r) = store.get_message(topic, queue, offset, 32, &AcceptAll) else {
            return;
        };
        if r.messages.is_empty() {
            return;
        }
        for m in &r.messages {
            f(m);
        }
        if r.next_begin_offset <= offset {
            return;
        }
        offset = r.next_begin_offset;
    }
}

fn ms_histogram() -> Histogram<u64> {
    // 0 .. 1 h in ms; 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000, 3).expect("valid bounds")
}

struct KindStats {
    hist: Histogram<u64>,
    early: u64,
    max_early: i64,
}

impl KindStats {
    fn new() -> KindStats {
        KindStats {
            hist: ms_histogram(),
            early: 0,
            max_early: 0,
        }
    }

    fn record(&mut self, late: i64) {
        if late < 0 {
            self.early += 1;
            self.max_early = self.max_early.max(-late);
        }
        // Recorded +1 so that 0 ms fits the histogram's lower bound.
        let _ = self
            .hist
            .record(u64::try_from(late.max(0)).unwrap_or(0) + 1);
    }

    fn json(&self) -> serde_json::Value {
        let h = &self.hist;
        let q = |p: f64| h.value_at_quantile(p).saturating_sub(1);
        serde_json::json!({
            "count": h.len(),
            "p50_ms": q(0.5),
            "p99_ms": q(0.99),
            "p999_ms": q(0.999),
            "max_ms": h.max().saturating_sub(1),
            "early": self.early,
            "max_early_ms": self.max_early,
        })
    }
}

pub fn run(a: DelayArgs) -> Result<(), String> {
    let (root, remove_after) = match &a.store {
        Some(d) => (PathBuf::from(d), false),
        None => (
            std::env::temp_dir().join(format!("apogee-delay-bench-{}", std::process::id())),
            true,
        ),
    };
    let bc = BrokerConfig {
        broker_ip1: "127.0.0.1".into(),
        listen_port: 0,
        ..Default::default()
    };
    let sc = MessageStoreConfig {
        store_path_root_dir: root.to_string_lossy().into_owned(),
        mapped_file_size_commit_log: 128 * 1024 * 1024,
        // The run must not depend on how full the host's disk is: no deletion of CommitLog
        // files (the originals and copies of a run are a few hundred MiB).
        disk_max_used_space_ratio: 95,
        disk_space_warning_level_ratio: 100,
        disk_space_clean_forcibly_ratio: 100,
        ..Default::default()
    };
    let delays = sc.delay_levels_ms()?;
    let broker =
        rt::block_on(Broker::start(bc, sc, Fs::real())).map_err(|e| format!("broker: {e}"))?;
    let addr = broker.addr().to_string();
    let rss = Arc::new(Rss::default());
    sample(&rss);
    let idle_rss = read_rss().unwrap_or_default();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (rss, done) = (Arc::clone(&rss), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                sample(&rss);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };

    let t0 = Instant::now();
    if !a.json {
        eprintln!(
            "delay: {} messages ({:.0}% timer, due {}..{} s after their send; the rest levels 3/4) over {} connections",
            a.count,
            a.timer_share * 100.0,
            a.min_delay_ms / 1000,
            (a.min_delay_ms + a.spread_ms) / 1000,
            a.connections
        );
    }
    let sent: Vec<Sent> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..a.connections as u64)
            .map(|t| {
                let (a, addr) = (&a, addr.as_str());
                s.spawn(move || sender(a, addr, t))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let send_secs = t0.elapsed().as_secs_f64();
    let ok: u64 = sent.iter().map(|s| s.ok).sum();
    let refused: u64 = sent.iter().map(|s| s.refused).sum();
    let errors: Vec<String> = sent.into_iter().flat_map(|s| s.errors).collect();
    if !a.json {
        eprintln!(
            "sent {ok} in {send_secs:.1} s ({refused} refused, {} errors)",
            errors.len()
        );
    }

    // Wait for every accepted message (the last level-4 ones are due 30 s after their send).
    let last_due = a.min_delay_ms + a.spread_ms;
    let deadline = t0
        + Duration::from_millis(u64::try_from(last_due.max(30_000)).unwrap_or(0))
        + Duration::from_secs_f64(send_secs)
        + Duration::from_secs(60);
    let store = broker.store().clone();
    let mut last_print = Instant::now();
    while delivered_count(&store) < ok && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        if !a.json && last_print.elapsed() >= Duration::from_secs(5) {
            last_print = Instant::now();
            eprintln!(
                "  {:>5.1} s: {} delivered, RSS {} MiB (anon {} MiB)",
                t0.elapsed().as_secs_f64(),
                delivered_count(&store),
                rss.vm.load(Ordering::Relaxed) / 1024,
                rss.anon.load(Ordering::Relaxed) / 1024
            );
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let run_secs = t0.elapsed().as_secs_f64();
    let _ = store.wait_dispatched(Duration::from_secs(10));

    // Read back: due times of the level messages, then every delivered copy.
    let mut level_due: HashMap<String, i64> = HashMap::new();
    for level in LEVELS {
        let delay = delays.get((level - 1) as usize).copied().unwrap_or(0);
        for_each_record(&store, SCHEDULE_TOPIC, level - 1, |r| {
            if let Ok((rec, _)) = decode_record(r) {
                if let Some(u) = rec.property("UNIQ_KEY") {
                    level_due.insert(
                        String::from_utf8_lossy(u).into_owned(),
                        rec.store_timestamp + delay,
                    );
                }
            }
        });
    }
    let mut timer = KindStats::new();
    let mut levels = KindStats::new();
    let mut all = KindStats::new();
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut unknown = 0u64;
    for q in 0..QUEUES {
        for_each_record(&store, TOPIC, q, |r| {
            let Ok((rec, _)) = decode_record(r) else {
                unknown += 1;
                return;
            };
            let uniq = rec
                .property("UNIQ_KEY")
                .map(|u| String::from_utf8_lossy(u).into_owned())
                .unwrap_or_default();
            *seen.entry(uniq.clone()).or_insert(0) += 1;
            let out = rec
                .property("TIMER_OUT_MS")
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse::<i64>().ok());
            let (kind, due) = match out {
                Some(d) => (&mut timer, d),
                None => match level_due.get(&uniq) {
                    Some(d) => (&mut levels, *d),
                    None => {
                        unknown += 1;
                        return;
                    }
                },
            };
            let late = rec.store_timestamp - due;
            kind.record(late);
            all.record(late);
        });
    }
    let duplicates: u64 = seen.values().map(|c| u64::from(c.saturating_sub(1))).sum();
    let timer_status = crate::broker::timer::status(broker.inner());
    rt::block_on(broker.shutdown());
    drop(broker);
    if remove_after {
        let _ = std::fs::remove_dir_all(&root);
    }

    let report = serde_json::json!({
        "messages": a.count,
        "accepted": ok,
        "refused": refused,
        "errors": errors.len(),
        "delivered": seen.len(),
        "duplicates": duplicates,
        "unmatched": unknown,
        "send_seconds": send_secs,
        "run_seconds": run_secs,
        "lateness_timer": timer.json(),
        "lateness_levels": levels.json(),
        "lateness_all": all.json(),
        "rss_idle_kib": idle_rss.0,
        "rss_peak_kib": rss.vm.load(Ordering::Relaxed),
        "rss_anon_peak_kib": rss.anon.load(Ordering::Relaxed),
        "rss_file_peak_kib": rss.file.load(Ordering::Relaxed),
        "timer_pending_at_end": timer_status.map(|s| s.pending),
    });
    if a.json {
        println!("{report}");
    } else {
        let line = |name: &str, k: &KindStats| {
            let j = k.json();
            println!(
                "{name:<7} n={:<7} lateness p50 {} ms  p99 {} ms  p99.9 {} ms  max {} ms  early {}",
                j["count"], j["p50_ms"], j["p99_ms"], j["p999_ms"], j["max_ms"], j["early"]
            );
        };
        println!(
            "accepted {ok} of {} ({refused} refused, {} errors); delivered {} distinct, {duplicates} duplicates, {unknown} unmatched; run {run_secs:.1} s",
            a.count,
            errors.len(),
            seen.len()
        );
        line("timer", &timer);
        line("levels", &levels);
        line("all", &all);
        println!(
            "RSS: idle {} MiB, peak {} MiB (anon {} MiB, file-backed {} MiB)",
            idle_rss.0 / 1024,
            rss.vm.load(Ordering::Relaxed) / 1024,
            rss.anon.load(Ordering::Relaxed) / 1024,
            rss.file.load(Ordering::Relaxed) / 1024
        );
        for e in errors.iter().take(5) {
            println!("error: {e}");
        }
    }
    let _ = std::io::stdout().flush();
    Ok(())
}
