//! Counters shared with the progress display, per-thread results and the final summary.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Live counters (progress display, stop flag).
#[derive(Default)]
pub struct Live {
    pub msgs: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    pub stop: AtomicBool,
}

/// A latency histogram in nanoseconds (1 ns .. 1 h, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

/// What one worker thread measured.
pub struct Part {
    pub msgs: u64,
    pub bytes: u64,
    pub requests: u64,
    pub lat: Histogram<u64>,
    pub e2e: Histogram<u64>,
    pub codes: BTreeMap<i32, u64>,
    pub io_errors: Vec<String>,
}

impl Part {
    pub fn new() -> Part {
        Part {
            msgs: 0,
            bytes: 0,
            requests: 0,
            lat: histogram(),
            e2e: histogram(),
            codes: BTreeMap::new(),
            io_errors: Vec::new(),
        }
    }

    pub fn merge(&mut self, o: Part) {
        self.msgs += o.msgs;
        self.bytes += o.bytes;
        self.requests += o.requests;
        let _ = self.lat.add(&o.lat);
        let _ = self.e2e.add(&o.e2e);
        for (k, v) in o.codes {
            *self.codes.entry(k).or_default() += v;
        }
        self.io_errors.extend(o.io_errors);
    }
}

impl Default for Part {
    fn default() -> Self {
        Part::new()
    }
}

/// Show progress on a terminal until `live.stop`; returns when told via `done`.
pub fn progress(live: Arc<Live>, total: Option<u64>, quiet: bool, done: Arc<AtomicBool>) {
    if quiet || !std::io::stderr().is_terminal() {
        while !done.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(50));
        }
        return;
    }
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos} msgs {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t0 = Instant::now();
    let (mut last_n, mut last_t) = (0u64, t0);
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(200));
        let n = live.msgs.load(Ordering::Relaxed);
        let now = Instant::now();
        let rate = (n - last_n) as f64 / now.duration_since(last_t).as_secs_f64().max(1e-9);
        (last_n, last_t) = (n, now);
        bar.set_position(n);
        bar.set_message(format!(
            "{rate:.0} msg/s, {} errors",
            live.errors.load(Ordering::Relaxed)
        ));
    }
    bar.finish_and_clear();
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Print the summary (text, or one JSON object with `json`).
pub fn summary(kind: &str, total: &Part, elapsed: Duration, json: bool, extra: serde_json::Value) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = total.msgs as f64 / secs;
    let mbs = total.bytes as f64 / secs / 1e6;
    let lat = |h: &Histogram<u64>| {
        serde_json::json!({
            "count": h.len(),
            "p50_us": us(h, 0.5),
            "p99_us": us(h, 0.99),
            "p999_us": us(h, 0.999),
            "max_us": if h.is_empty() { 0.0 } else { h.max() as f64 / 1000.0 },
        })
    };
    let errors: BTreeMap<String, u64> = total
        .codes
        .iter()
        .filter(|(c, _)| **c != 0)
        .map(|(c, n)| {
            let name = apogee_codec::codes::response::name(*c).unwrap_or("?");
            (format!("{c} {name}"), *n)
        })
        .collect();
    if json {
        let v = serde_json::json!({
            "kind": kind,
            "msgs": total.msgs,
            "requests": total.requests,
            "seconds": secs,
            "msg_per_s": rate,
            "mb_per_s": mbs,
            "latency": lat(&total.lat),
            "e2e_latency": lat(&total.e2e),
            "errors_by_code": errors,
            "io_errors": total.io_errors,
            "config": extra,
        });
        println!("{v}");
        return;
    }
    println!(
        "{kind}: {} msgs in {secs:.2} s = {rate:.0} msg/s, {mbs:.1} MB/s ({} requests)",
        total.msgs, total.requests
    );
    let line = |name: &str, h: &Histogram<u64>| {
        if !h.is_empty() {
            println!(
                "  {name}: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs ({} samples)",
                us(h, 0.5),
                us(h, 0.99),
                us(h, 0.999),
                h.max() as f64 / 1000.0,
                h.len()
            );
        }
    };
    line("request latency", &total.lat);
    line("end-to-end latency", &total.e2e);
    if !errors.is_empty() {
        println!("  errors by response code: {errors:?}");
    }
    for e in total.io_errors.iter().take(5) {
        println!("  I/O error: {e}");
    }
}
