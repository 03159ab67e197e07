//! A tiny raw remoting client (JSON header) for scenario set-up: create a topic on the broker
//! (UPDATE_AND_CREATE_TOPIC, 17) and wait for the name server's route (GET_ROUTEINFO_BY_TOPIC,
//! 105). Neither Rust client creates topics by itself.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn call(addr: &str, code: i32, ext: serde_json::Value) -> Result<(i64, Vec<u8>), String> {
    call_full(addr, code, ext).map(|(c, _, b)| (c, b))
}

/// One request on a fresh connection: (response code, header extFields, body).
fn call_full(
    addr: &str,
    code: i32,
    ext: serde_json::Value,
) -> Result<(i64, serde_json::Value, Vec<u8>), String> {
    let header = serde_json::json!({
        "code": code, "extFields": ext, "flag": 0, "language": "RUST", "opaque": 1,
        "serializeTypeCurrentRPC": "JSON", "version": 409,
    })
    .to_string()
    .into_bytes();
    let mut frame = Vec::with_capacity(8 + header.len());
    frame.extend_from_slice(&((4 + header.len()) as u32).to_be_bytes());
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
    frame.extend_from_slice(&header);
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.write_all(&frame).map_err(|e| e.to_string())?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).map_err(|e| e.to_string())?;
    let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut rest).map_err(|e| e.to_string())?;
    if rest.len() < 4 {
        return Err("short answer".into());
    }
    let hlen = (u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) & 0xFF_FFFF) as usize;
    let h: serde_json::Value =
        serde_json::from_slice(rest.get(4..4 + hlen).ok_or("bad header length")?)
            .map_err(|e| e.to_string())?;
    let code = h.get("code").and_then(|c| c.as_i64()).unwrap_or(-1);
    let ext = h
        .get("extFields")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    Ok((code, ext, rest[4 + hlen..].to_vec()))
}

pub fn create_topic(broker: &str, topic: &str, queues: u32) -> Result<(), String> {
    let q = queues.to_string();
    let (code, _) = call(
        broker,
        17,
        serde_json::json!({
            "topic": topic, "defaultTopic": "TBW102", "readQueueNums": q, "writeQueueNums": q,
            "perm": "6", "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false",
        }),
    )?;
    if code != 0 {
        return Err(format!("create topic {topic} on {broker}: code {code}"));
    }
    Ok(())
}

pub fn wait_route(namesrv: &str, topic: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok((0, body)) = call(namesrv, 105, serde_json::json!({ "topic": topic })) {
            if !body.is_empty() {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("no route for {topic}"))
}

/// A fresh topic `<prefix>_<random>` with `queues` queues on every given broker.
pub fn new_topic(
    namesrv: &str,
    brokers: &[String],
    prefix: &str,
    queues: u32,
) -> Result<String, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    let topic = format!(
        "{prefix}_{:08x}",
        nanos ^ std::process::id().rotate_left(16)
    );
    for b in brokers {
        create_topic(b, &topic, queues)?;
    }
    wait_route(namesrv, &topic)?;
    Ok(topic)
}

/// GET_MAX_OFFSET (30) of one queue; `None` when the broker has no such queue.
pub fn max_offset(broker: &str, topic: &str, queue: i32) -> Result<Option<i64>, String> {
    let (code, ext, _) = call_full(
        broker,
        30,
        serde_json::json!({ "topic": topic, "queueId": queue.to_string() }),
    )?;
    if code != 0 {
        return Ok(None);
    }
    let off = ext.get("offset").and_then(|o| {
        o.as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| o.as_i64())
    });
    Ok(off)
}
