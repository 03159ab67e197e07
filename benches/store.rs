//! Store benchmarks (a plain bench binary: throughput with threads and latency percentiles do
//! not fit criterion's model).
//!
//! Run: `cargo bench --bench store` (optionally `-- append|sync|lag|read` to pick one).
//! Figures go to docs/performance.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apogee::store::fs::Fs;
use apogee::store::message_inner::MessageInner;
use apogee::store::message_store::MessageStore;
use apogee::store::results::{AcceptAll, GetMessageStatus, PutMessageStatus};
use apogee::store::store_config::MessageStoreConfig;
use bytes::Bytes;

/// Counts allocations, to show the read path does not allocate per message.
struct CountingAlloc;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn config(dir: &std::path::Path, sync: bool) -> MessageStoreConfig {
    let mut c = MessageStoreConfig {
        store_path_root_dir: dir.to_string_lossy().into_owned(),
        ..Default::default()
    };
    c.mapped_file_size_commit_log = 256 * 1024 * 1024;
    if sync {
        c.flush_disk_type = "SYNC_FLUSH".into();
    }
    c
}

fn message(body: &Bytes, qid: i32) -> MessageInner {
    MessageInner {
        topic: "BenchTopic".into(),
        queue_id: qid,
        flag: 0,
        sys_flag: 0,
        born_timestamp: 1_732_861_234_567,
        born_host: "127.0.0.1:50000".parse().expect("addr"),
        store_host: "127.0.0.1:10911".parse().expect("addr"),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: body.clone(),
        properties: b"UNIQ_KEY\x017F000001A9F418B4AAC2761A2B3C0000\x02TAGS\x01TagA\x02CLUSTER\x01DefaultCluster"
            .to_vec(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn bench_append() {
    // (a) Within one 1 GiB file (pages populated a window ahead of the writer).
    {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = config(dir.path(), false);
        cfg.mapped_file_size_commit_log = 1024 * 1024 * 1024;
        let store = MessageStore::open(cfg, Fs::real()).expect("open");
        let body = Bytes::from(vec![b'x'; 1024]);
        for i in 0..1000 {
            store.put_message_blocking(message(&body, i % 8), false);
        }
        let n = 600_000;
        let t = Instant::now();
        for i in 0..n {
            let r = store.put_message_blocking(message(&body, i % 8), false);
            debug_assert_eq!(r.status, PutMessageStatus::PutOk);
        }
        let el = t.elapsed();
        println!(
            "append 1 KiB, ASYNC_FLUSH, 1 writer, one 1 GiB file: {n} msgs in {:.3} s = {:.0} msg/s ({:.0} ns/msg)",
            el.as_secs_f64(),
            n as f64 / el.as_secs_f64(),
            el.as_nanos() as f64 / n as f64
        );
        store.shutdown();
    }
    // (b) Sustained over several 256 MiB files: bounded by how fast the kernel can populate
    // new file pages (measured alone below).
    {
        let dir = tempfile::tempdir().expect("tmp");
        let store = MessageStore::open(config(dir.path(), false), Fs::real()).expect("open");
        let body = Bytes::from(vec![b'x'; 1024]);
        let n = 1_000_000;
        let t = Instant::now();
        for i in 0..n {
            let r = store.put_message_blocking(message(&body, i % 8), false);
            debug_assert_eq!(r.status, PutMessageStatus::PutOk);
        }
        let el = t.elapsed();
        println!(
            "append 1 KiB, ASYNC_FLUSH, 1 writer, sustained over 256 MiB files: {n} msgs in {:.3} s = {:.0} msg/s",
            el.as_secs_f64(),
            n as f64 / el.as_secs_f64(),
        );
        store.shutdown();
    }
    // (c) The machine's limit for (b): populating a new 256 MiB mapped file.
    {
        let dir = tempfile::tempdir().expect("tmp");
        let f = apogee::store::mapped_file::MappedFile::create(
            &Fs::real(),
            dir.path(),
            0,
            256 * 1024 * 1024,
        )
        .expect("create");
        let t = Instant::now();
        f.pre_touch();
        let el = t.elapsed();
        println!(
            "populating a new 256 MiB mapped file: {:.3} s = {:.0} MB/s",
            el.as_secs_f64(),
            256.0 * 1.048576 / el.as_secs_f64()
        );
    }
}

fn bench_sync() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = MessageStore::open(config(dir.path(), true), Fs::real()).expect("open");
    let body = Bytes::from(vec![b'x'; 1024]);
    // One writer: latency distribution.
    let mut lat = Vec::with_capacity(5000);
    for i in 0..5000 {
        let t = Instant::now();
        let r = store.put_message_blocking(message(&body, i % 8), true);
        lat.push(t.elapsed());
        assert_eq!(r.status, PutMessageStatus::PutOk);
    }
    lat.sort();
    println!(
        "SYNC_FLUSH 1 writer, 1 KiB: p50 {:?} p99 {:?} p99.9 {:?} max {:?}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        lat.last().copied().unwrap_or_default()
    );
    // 64 concurrent writers.
    for writers in [64usize] {
        let per = 2000;
        let t = Instant::now();
        let mut hs = Vec::new();
        for w in 0..writers {
            let s = store.clone();
            let b = body.clone();
            hs.push(std::thread::spawn(move || {
                for i in 0..per {
                    let r = s.put_message_blocking(message(&b, ((w + i) % 8) as i32), true);
                    assert_eq!(r.status, PutMessageStatus::PutOk);
                }
            }));
        }
        for h in hs {
            h.join().expect("writer");
        }
        let el = t.elapsed();
        let n = writers * per;
        println!(
            "SYNC_FLUSH {writers} writers (threads), 1 KiB: {n} msgs in {:.3} s = {:.0} msg/s",
            el.as_secs_f64(),
            n as f64 / el.as_secs_f64()
        );
    }
    store.shutdown();
}

fn bench_lag() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = MessageStore::open(config(dir.path(), false), Fs::real()).expect("open");
    let body = Bytes::from(vec![b'x'; 1024]);
    let seen = Arc::new(AtomicU64::new(0));
    let stamp = Arc::new(Mutex::new(Vec::<(u64, Instant)>::with_capacity(20_000)));
    let s2 = Arc::clone(&seen);
    let st2 = Arc::clone(&stamp);
    store.add_arrival_listener(Arc::new(move |a| {
        s2.store(a.max_offset as u64, Ordering::Release);
        if let Ok(mut v) = st2.lock() {
            v.push((a.max_offset as u64, Instant::now()));
        }
    }));
    let mut sent = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let t = Instant::now();
        let r = store.put_message_blocking(message(&body, 0), false);
        let off = r.append.expect("stored").logics_offset as u64 + 1;
        sent.push((off, t));
        // One at a time, paced: measure the wake-up path, not a backlog.
        while seen.load(Ordering::Acquire) < off {
            std::hint::spin_loop();
        }
    }
    let arrivals = stamp.lock().expect("lock").clone();
    let mut lags: Vec<Duration> = sent
        .iter()
        .zip(arrivals.iter())
        .map(|((_, t0), (_, t1))| t1.saturating_duration_since(*t0))
        .collect();
    lags.sort();
    println!(
        "dispatch lag append -> CQ visible (listener called): p50 {:?} p99 {:?} max {:?}",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or_default()
    );
    store.shutdown();
}

fn bench_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = MessageStore::open(config(dir.path(), false), Fs::real()).expect("open");
    let body = Bytes::from(vec![b'x'; 1024]);
    for _ in 0..100_000 {
        store.put_message_blocking(message(&body, 0), false);
    }
    store.wait_dispatched(Duration::from_secs(30));
    // Warm.
    let mut off = 0;
    while let Some(r) = store.get_message("BenchTopic", 0, off, 32, &AcceptAll) {
        if r.status != GetMessageStatus::Found {
            break;
        }
        off = r.next_begin_offset;
    }
    let rounds = 3000;
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let t = Instant::now();
    let mut msgs = 0usize;
    for i in 0..rounds {
        let off = (i * 32) % 99_000;
        let r = store
            .get_message("BenchTopic", 0, off as i64, 32, &AcceptAll)
            .expect("readable");
        msgs += r.messages.len();
    }
    let el = t.elapsed();
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
    println!(
        "read 32 x 1 KiB from a warm CQ: {:.2} us per pull, {:.0} msg/s, {:.2} allocations per pull ({:.3} per message)",
        el.as_secs_f64() * 1e6 / rounds as f64,
        msgs as f64 / el.as_secs_f64(),
        allocs as f64 / rounds as f64,
        allocs as f64 / msgs as f64
    );
    store.shutdown();
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |n: &str| which.is_empty() || which.iter().any(|w| w == n);
    if want("append") {
        bench_append();
    }
    if want("sync") {
        bench_sync();
    }
    if want("lag") {
        bench_lag();
    }
    if want("read") {
        bench_read();
    }
}
