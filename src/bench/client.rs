//! A blocking, pipelining remoting connection and the helpers every subcommand shares:
//! one-off calls (route, topic creation, offsets) and pre-encoded frame templates.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use apogee_codec::body::TopicRouteData;
use apogee_codec::codes::{request, response};
use apogee_codec::command::SerializeType;
use apogee_codec::frame::FrameDecoder;
use apogee_codec::RemotingCommand;
use bytes::BytesMut;

/// A blocking connection: write whole batches of frames, read and split responses.
pub struct Conn {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    rbuf: BytesMut,
    chunk: Vec<u8>,
    decoder: FrameDecoder,
    next_opaque: i32,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl Conn {
    pub fn connect(addr: &str) -> io::Result<Conn> {
        let peer = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| other(format!("{addr}: no address")))?;
        let stream = TcpStream::connect_timeout(&peer, Duration::from_secs(3))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            peer,
            rbuf: BytesMut::with_capacity(256 * 1024),
            chunk: vec![0; 256 * 1024],
            decoder: FrameDecoder::new(apogee_codec::DEFAULT_MAX_FRAME),
            next_opaque: 1,
        })
    }

    /// Read once (blocking, subject to the socket's read timeout) and hand every complete
    /// response to `f`. Returns false on EOF. Requests from the peer are ignored.
    pub fn read_responses(&mut self, mut f: impl FnMut(RemotingCommand)) -> io::Result<bool> {
        let n = self.stream.read(&mut self.chunk)?;
        self.rbuf.extend_from_slice(&self.chunk[..n]);
        if n == 0 {
            return Ok(false);
        }
        while let Some(frame) = self.decoder.decode(&mut self.rbuf).map_err(other)? {
            let cmd = RemotingCommand::from_frame(frame).map_err(other)?;
            if cmd.is_response() {
                f(cmd);
            }
        }
        Ok(true)
    }

    /// One request, one response (control traffic only).
    pub fn call(
        &mut self,
        mut cmd: RemotingCommand,
        timeout: Duration,
    ) -> io::Result<RemotingCommand> {
        let opaque = self.next_opaque;
        self.next_opaque += 1;
        cmd.opaque = opaque;
        let mut b = BytesMut::new();
        cmd.encode(&mut b).map_err(other)?;
        self.stream.write_all(&b)?;
        self.stream.set_read_timeout(Some(timeout))?;
        let mut got = None;
        while got.is_none() {
            let open = self.read_responses(|r| {
                if r.opaque == opaque {
                    got = Some(r);
                }
            })?;
            if !open && got.is_none() {
                return Err(other(format!("{} closed the connection", self.peer)));
            }
        }
        self.stream.set_read_timeout(None)?;
        got.ok_or_else(|| other(format!("no response from {}", self.peer)))
    }
}

/// One writable/readable queue of the route.
#[derive(Debug, Clone)]
pub struct QueueRef {
    pub broker_name: String,
    pub addr: String,
    pub queue_id: i32,
}

/// Ask the name server for `topic`'s route. `None` when the topic is unknown.
pub fn route(namesrv: &str, topic: &str) -> Result<Option<TopicRouteData>, String> {
    let mut c = Conn::connect(namesrv).map_err(|e| format!("name server {namesrv}: {e}"))?;
    let mut cmd = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0);
    cmd.ext_mut().insert("topic", topic);
    let r = c
        .call(cmd, Duration::from_secs(5))
        .map_err(|e| format!("GET_ROUTEINFO_BY_TOPIC {topic} from {namesrv}: {e}"))?;
    match r.code {
        response::SUCCESS => TopicRouteData::decode(&r.body)
            .map(Some)
            .map_err(|e| format!("route of {topic}: {e}")),
        response::TOPIC_NOT_EXIST => Ok(None),
        code => Err(format!(
            "GET_ROUTEINFO_BY_TOPIC {topic}: code {code} {}",
            r.remark.unwrap_or_default()
        )),
    }
}

/// The queues of a route: writable ones (`write`) or readable ones, master addresses only.
pub fn queues(route: &TopicRouteData, write: bool) -> Vec<QueueRef> {
    let mut qds = route.queue_datas.clone();
    qds.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    let mut out = Vec::new();
    for qd in qds {
        let (perm_bit, n) = if write {
            (2, qd.write_queue_nums)
        } else {
            (4, qd.read_queue_nums)
        };
        if qd.perm & perm_bit == 0 {
            continue;
        }
        let Some(addr) = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == qd.broker_name)
            .and_then(|b| b.master_addr())
        else {
            continue;
        };
        for q in 0..n.max(0) {
            out.push(QueueRef {
                broker_name: qd.broker_name.clone(),
                addr: addr.to_owned(),
                queue_id: q,
            });
        }
    }
    out
}

/// UPDATE_AND_CREATE_TOPIC on every master of `TBW102`'s route (the brokers that can hold
/// new topics), `queues` read and write queues, perm RW.
pub fn create_topic(namesrv: &str, topic: &str, queues: usize) -> Result<(), String> {
    let r = route(namesrv, "TBW102")?
        .ok_or("--create: the name server has no route for TBW102 (no broker registered?)")?;
    let mut addrs: Vec<&str> = r
        .broker_datas
        .iter()
        .filter_map(|b| b.master_addr())
        .collect();
    addrs.sort();
    addrs.dedup();
    if addrs.is_empty() {
        return Err("--create: no master broker in TBW102's route".into());
    }
    for addr in addrs {
        create_topic_on_broker(addr, topic, queues)?;
    }
    Ok(())
}

/// UPDATE_AND_CREATE_TOPIC on one broker (`queues` read and write queues, perm 6).
pub fn create_topic_on_broker(broker: &str, topic: &str, queues: usize) -> Result<(), String> {
    let mut c = Conn::connect(broker).map_err(|e| format!("broker {broker}: {e}"))?;
    let mut cmd = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC, 0);
    let e = cmd.ext_mut();
    e.insert("topic", topic);
    e.insert("defaultTopic", "TBW102");
    e.insert("readQueueNums", queues.to_string());
    e.insert("writeQueueNums", queues.to_string());
    e.insert("perm", "6");
    e.insert("topicFilterType", "SINGLE_TAG");
    e.insert("topicSysFlag", "0");
    e.insert("order", "false");
    let r = c
        .call(cmd, Duration::from_secs(10))
        .map_err(|e| format!("UPDATE_AND_CREATE_TOPIC {topic} on {broker}: {e}"))?;
    if r.code != response::SUCCESS {
        return Err(format!(
            "UPDATE_AND_CREATE_TOPIC {topic} on {broker}: code {} {}",
            r.code,
            r.remark.unwrap_or_default()
        ));
    }
    Ok(())
}

/// A pre-encoded frame whose opaque (and body timestamps) are patched in place.
///
/// JSON headers carry the opaque as decimal text: the template is encoded with a 10-digit
/// opaque, and every opaque used is kept within `1_000_000_000..=1_999_999_999` so that the
/// width never changes. Binary headers carry it as 4 bytes at a fixed place.
#[derive(Clone)]
pub struct Template {
    pub bytes: Vec<u8>,
    opaque_at: usize,
    json: bool,
    /// Where each message body starts (timestamps go in its first 8 bytes).
    pub stamps: Vec<usize>,
}

/// Opaques of templates: `OPAQUE_BASE + n` with `n < OPAQUE_SPAN`.
pub const OPAQUE_BASE: i32 = 1_000_000_000;
pub const OPAQUE_SPAN: i32 = 1_000_000_000;

impl Template {
    /// `cmd` with `stamp_offsets` relative to the start of its body.
    pub fn new(mut cmd: RemotingCommand, stamp_offsets: &[usize]) -> Result<Template, String> {
        cmd.opaque = OPAQUE_BASE;
        let bytes = cmd.to_bytes().map_err(|e| e.to_string())?.to_vec();
        let json = cmd.serialize_type == SerializeType::Json;
        let opaque_at = if json {
            let pat = b"\"opaque\":1000000000";
            bytes
                .windows(pat.len())
                .position(|w| w == pat)
                .ok_or("template: opaque not found in the JSON header")?
                + pat.len()
                - 10
        } else {
            8 + 5
        };
        let body_at = bytes.len() - cmd.body.len();
        Ok(Template {
            opaque_at,
            json,
            stamps: stamp_offsets.iter().map(|o| body_at + o).collect(),
            bytes,
        })
    }

    /// Append a copy with `opaque` (must be in the template range) and `stamp` to `out`.
    pub fn emit(&self, out: &mut Vec<u8>, opaque: i32, stamp: Option<u64>) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        let f = &mut out[start..];
        if self.json {
            let mut v = opaque as u32;
            for i in (0..10).rev() {
                f[self.opaque_at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        } else {
            f[self.opaque_at..self.opaque_at + 4].copy_from_slice(&opaque.to_be_bytes());
        }
        if let Some(ts) = stamp {
            for &at in &self.stamps {
                f[at..at + 8].copy_from_slice(&ts.to_be_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_patches_opaque_in_both_serializations() {
        for st in [SerializeType::Json, SerializeType::RocketMq] {
            let mut c = RemotingCommand::request(request::SEND_MESSAGE_V2, 0);
            c.serialize_type = st;
            c.ext_mut().insert("b", "T");
            c.body = bytes::Bytes::from(vec![7u8; 32]);
            let t = Template::new(c, &[0]).unwrap();
            let mut out = Vec::new();
            t.emit(&mut out, OPAQUE_BASE + 123_456_789, Some(42));
            let mut buf = BytesMut::from(&out[..]);
            let f = FrameDecoder::new(1 << 20)
                .decode(&mut buf)
                .unwrap()
                .unwrap();
            let d = RemotingCommand::from_frame(f).unwrap();
            assert_eq!(d.opaque, OPAQUE_BASE + 123_456_789);
            assert_eq!(&d.body[..8], &42u64.to_be_bytes());
            assert_eq!(d.ext("b"), Some("T"));
        }
    }
}
