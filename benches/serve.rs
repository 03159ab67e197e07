//! A first look at serving speed: one connection, strict request/response (one request in
//! flight), SEND_MESSAGE_V2 with a 1 KiB body, async flush — next to a raw loopback ping-pong
//! of the same frames measured the same way (a thread that answers each frame with a fixed
//! response).
//!
//! Run: `cargo bench --bench serve`

#[path = "support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use apogee::broker::{Broker, BrokerConfig};
use apogee::store::fs::Fs;
use apogee::store::store_config::MessageStoreConfig;
use apogee_codec::RemotingCommand;

fn send_frame(i: u64) -> Vec<u8> {
    let c = support::send_v2("BenchServe", i as i32, 1024);
    c.to_bytes().expect("encodes").to_vec()
}

/// Read one whole frame.
fn read_frame(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let n = u32::from_be_bytes(len) as usize;
    buf.resize(n, 0);
    s.read_exact(buf)
}

fn measure(addr: SocketAddr, n: usize, label: &str) -> (f64, Duration) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let frames: Vec<Vec<u8>> = (0..256).map(|i| send_frame(i as u64)).collect();
    let mut buf = Vec::new();
    // Warm-up.
    for f in frames.iter().take(200) {
        s.write_all(f).expect("write");
        read_frame(&mut s, &mut buf).expect("read");
    }
    let mut lat = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        s.write_all(&frames[i % frames.len()]).expect("write");
        read_frame(&mut s, &mut buf).expect("read");
        lat.push(t.elapsed());
    }
    let el = t0.elapsed();
    lat.sort();
    let p50 = lat[lat.len() / 2];
    let p99 = lat[lat.len() * 99 / 100];
    let rate = n as f64 / el.as_secs_f64();
    println!("{label}: {n} requests, {rate:.0} req/s, p50 {p50:?}, p99 {p99:?}");
    (rate, p99)
}

fn main() {
    let n = 50_000;
    // The null responder: answers every frame with a fixed SEND_OK-shaped response.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let pp_addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let resp = {
            let mut r = RemotingCommand::request(0, 0);
            r.flag = 1;
            let e = r.ext_mut();
            e.insert("msgId", "7F00000100002A9F0000000000001A2B");
            e.insert("queueId", "0");
            e.insert("queueOffset", "17");
            e.insert("MSG_REGION", "DefaultRegion");
            e.insert("TRACE_ON", "true");
            r.to_bytes().expect("encodes").to_vec()
        };
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let resp = resp.clone();
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut buf = Vec::new();
                while read_frame(&mut s, &mut buf).is_ok() {
                    if s.write_all(&resp).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let (pp_rate, pp_p99) = measure(pp_addr, n, "loopback ping-pong (null responder)");

    let dir = tempfile::tempdir().expect("tmp");
    let bcfg = BrokerConfig {
        broker_ip1: "127.0.0.1".into(),
        listen_port: 0,
        broker_name: "bench".into(),
        ..Default::default()
    };
    let scfg = MessageStoreConfig {
        store_path_root_dir: dir.path().to_string_lossy().into_owned(),
        mapped_file_size_commit_log: 256 * 1024 * 1024,
        ..Default::default()
    };
    let broker = apogee::rt::block_on(Broker::start(bcfg, scfg, Fs::real())).expect("broker");
    let (rate, p99) = measure(
        broker.addr(),
        n,
        "apogee SEND_MESSAGE_V2 1 KiB, async flush, 1 in flight",
    );
    println!(
        "apogee / ping-pong: throughput {:.2}x of the ping-pong rate ({:.2}x slower), p99 {:.2}x",
        rate / pp_rate,
        pp_rate / rate,
        p99.as_secs_f64() / pp_p99.as_secs_f64()
    );
    apogee::rt::block_on(broker.shutdown());
}
