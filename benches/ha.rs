//! Replication speed on loopback: an in-process master and slave (separate stores), 1 KiB
//! messages, async flush.
//!
//! * catch-up: the slave is stopped, the master takes `CATCH_UP_MB` MiB, the slave restarts and
//!   the time until its CommitLog and consume queues are level with the master's is measured;
//! * live lag: one thread puts as fast as it can (ASYNC_MASTER) while another samples how far
//!   the slave's max offset trails the master's;
//! * SYNC_MASTER: put latency (one in flight) when each put waits for the slave's ack, next to
//!   the same puts on an ASYNC_MASTER.
//!
//! Run: `cargo bench --bench ha`

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apogee::broker::{Broker, BrokerConfig};
use apogee::rt;
use apogee::store::fs::Fs;
use apogee::store::message_inner::MessageInner;
use apogee::store::store_config::MessageStoreConfig;
use bytes::Bytes;

const CATCH_UP_MB: usize = 256;
const LIVE_MESSAGES: usize = 200_000;
const LATENCY_MESSAGES: usize = 20_000;
const BODY: usize = 1024;

fn configs(
    dir: &std::path::Path,
    role: &str,
    master_ha: Option<SocketAddr>,
) -> (BrokerConfig, MessageStoreConfig) {
    let b = BrokerConfig {
        broker_ip1: "127.0.0.1".into(),
        listen_port: 0,
        broker_name: "bench-ha".into(),
        broker_id: if role == "SLAVE" { 1 } else { 0 },
        ..Default::default()
    };
    let s = MessageStoreConfig {
        store_path_root_dir: dir.to_string_lossy().into_owned(),
        mapped_file_size_commit_log: 128 * 1024 * 1024,
        broker_role: role.into(),
        ha_listen_port: 0,
        ha_master_address: master_ha.map(|a| a.to_string()).unwrap_or_default(),
        disk_max_used_space_ratio: 95,
        disk_space_warning_level_ratio: 100,
        disk_space_clean_forcibly_ratio: 100,
        ..Default::default()
    };
    (b, s)
}

fn start(b: BrokerConfig, s: MessageStoreConfig) -> Broker {
    rt::block_on(Broker::start(b, s, Fs::real())).expect("broker starts")
}

fn msg(store_host: SocketAddr, i: usize) -> MessageInner {
    MessageInner {
        topic: "BenchHa".into(),
        queue_id: (i % 8) as i32,
        flag: 0,
        sys_flag: 0,
        born_timestamp: 1_732_861_234_567,
        born_host: "127.0.0.1:40000".parse().expect("addr"),
        store_host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: Bytes::from(vec![b'x'; BODY]),
        properties: b"TAGS\x01TagA".to_vec(),
    }
}

fn caught_up(master: &Broker, slave: &Broker) -> bool {
    slave.store().commit_log_max_offset() >= master.store().commit_log_max_offset()
        && slave.store().dispatch_behind_bytes() == 0
}

fn wait_caught_up(master: &Broker, slave: &Broker) -> Duration {
    let t = Instant::now();
    while !caught_up(master, slave) {
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "slave never caught up"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    t.elapsed()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn catch_up_and_lag() {
    let mdir = tempfile::tempdir().expect("dir");
    let sdir = tempfile::tempdir().expect("dir");
    let (b, s) = configs(mdir.path(), "ASYNC_MASTER", None);
    let master = start(b, s);
    let ha = master.inner().ha_addr;
    let (sb, ss) = configs(sdir.path(), "SLAVE", Some(ha));
    let slave = start(sb.clone(), ss.clone());
    master
        .store()
        .put_message_blocking(msg(master.addr(), 0), false);
    wait_caught_up(&master, &slave);
    rt::block_on(slave.shutdown());
    drop(slave);

    let n = CATCH_UP_MB * 1024 * 1024 / (BODY + 100);
    for i in 0..n {
        master
            .store()
            .put_message_blocking(msg(master.addr(), i), false);
    }
    let behind = master.store().commit_log_max_offset();
    let t = Instant::now();
    let slave = start(sb, ss);
    let took = wait_caught_up(&master, &slave).max(t.elapsed());
    let mb = behind as f64 / (1024.0 * 1024.0);
    println!(
        "catch-up: {mb:.0} MiB ({n} msgs of {BODY} B) replicated and dispatched in {:.2} s = {:.0} MiB/s, {:.0} msgs/s",
        took.as_secs_f64(),
        mb / took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );

    // Live lag while one thread puts at full speed, then paced.
    live_lag(&master, &slave, None);
    live_lag(&master, &slave, Some(50_000));
    rt::block_on(slave.shutdown());
    rt::block_on(master.shutdown());
}

/// Put `LIVE_MESSAGES` (at most `rate` per second when given) while sampling every 1 ms how
/// far the slave's max offset trails the master's.
fn live_lag(master: &Broker, slave: &Broker, rate: Option<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (m2, s2, stop2) = (master.clone(), slave.clone(), Arc::clone(&stop));
    let sampler = std::thread::spawn(move || {
        let mut lags = Vec::new();
        while !stop2.load(Ordering::Acquire) {
            let m = m2.store().commit_log_max_offset();
            let s = s2.store().commit_log_max_offset();
            lags.push((m - s).max(0) as u64);
            std::thread::sleep(Duration::from_millis(1));
        }
        lags
    });
    let t = Instant::now();
    for i in 0..LIVE_MESSAGES {
        if let Some(r) = rate {
            let due = Duration::from_secs_f64(i as f64 / r as f64);
            let now = t.elapsed();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        master
            .store()
            .put_message_blocking(msg(master.addr(), i), false);
    }
    let put_secs = t.elapsed().as_secs_f64();
    let drain = wait_caught_up(master, slave);
    stop.store(true, Ordering::Release);
    let mut lags = sampler.join().expect("sampler");
    lags.sort_unstable();
    let kib = |b: u64| b as f64 / 1024.0;
    println!(
        "live ({}): {LIVE_MESSAGES} puts at {:.0} msgs/s ({:.0} MiB/s); slave behind by p50 {:.1} KiB, p99 {:.1} KiB, max {:.1} KiB ({} samples); level {:.1} ms after the last put",
        rate.map(|r| format!("paced {r}/s")).unwrap_or_else(|| "full speed".into()),
        LIVE_MESSAGES as f64 / put_secs,
        LIVE_MESSAGES as f64 * (BODY + 100) as f64 / put_secs / (1024.0 * 1024.0),
        kib(percentile(&lags, 0.5)),
        kib(percentile(&lags, 0.99)),
        kib(lags.last().copied().unwrap_or(0)),
        lags.len(),
        drain.as_secs_f64() * 1000.0
    );
}

fn put_latencies(role: &str) -> Vec<u64> {
    let mdir = tempfile::tempdir().expect("dir");
    let sdir = tempfile::tempdir().expect("dir");
    let (b, s) = configs(mdir.path(), role, None);
    let master = start(b, s);
    let (sb, ss) = configs(sdir.path(), "SLAVE", Some(master.inner().ha_addr));
    let slave = start(sb, ss);
    let t = Instant::now();
    while master.store().ha().connection_count() == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "slave never connected"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for i in 0..1000 {
        master
            .store()
            .put_message_blocking(msg(master.addr(), i), true);
    }
    let mut lat = Vec::with_capacity(LATENCY_MESSAGES);
    for i in 0..LATENCY_MESSAGES {
        let t = Instant::now();
        let r = master
            .store()
            .put_message_blocking(msg(master.addr(), i), true);
        lat.push(t.elapsed().as_nanos() as u64);
        assert!(r.status.is_stored(), "{r:?}");
    }
    rt::block_on(slave.shutdown());
    rt::block_on(master.shutdown());
    lat.sort_unstable();
    lat
}

fn main() {
    catch_up_and_lag();
    for role in ["ASYNC_MASTER", "SYNC_MASTER"] {
        let lat = put_latencies(role);
        let total: u64 = lat.iter().sum();
        let us = |ns: u64| ns as f64 / 1000.0;
        println!(
            "{role}: {LATENCY_MESSAGES} puts one in flight: p50 {:.1} us, p99 {:.1} us, max {:.1} us, {:.0} puts/s",
            us(percentile(&lat, 0.5)),
            us(percentile(&lat, 0.99)),
            us(lat.last().copied().unwrap_or(0)),
            LATENCY_MESSAGES as f64 / (total as f64 / 1e9)
        );
    }
}
