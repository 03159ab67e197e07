//! `null-server`: answers every request at once and stores nothing — what this machine's
//! network stack and a minimal frame loop allow, for comparison with a real broker.
//!
//! One thread per connection: read what is there, split frames, append one response per
//! request (a pre-encoded SEND_OK-shaped response with the opaque patched in), write once.
//! GET_ROUTEINFO_BY_TOPIC gets a route whose only broker is this server (so `produce
//! --namesrv` can point here); one-way requests get nothing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use apogee_codec::body::{BrokerData, QueueData, TopicRouteData};
use apogee_codec::codes::{request, response};
use apogee_codec::command::{SerializeType, FLAG_RESPONSE};
use apogee_codec::frame::FrameDecoder;
use apogee_codec::RemotingCommand;
use bytes::BytesMut;

use super::args::NullArgs;
use super::client::{Template, OPAQUE_BASE, OPAQUE_SPAN};

fn send_ok(st: SerializeType, opaque: i32) -> RemotingCommand {
    let mut r = RemotingCommand::request(response::SUCCESS, opaque);
    r.flag = FLAG_RESPONSE;
    r.serialize_type = st;
    let e = r.ext_mut();
    e.insert("msgId", "7F00000100002A9F0000000000001A2B");
    e.insert("queueId", "0");
    e.insert("queueOffset", "17");
    e.insert("MSG_REGION", "DefaultRegion");
    e.insert("TRACE_ON", "true");
    r
}

fn route_for(me: &str, queues: usize) -> TopicRouteData {
    let mut b = BrokerData::new("DefaultCluster", "null-broker");
    b.broker_addrs.insert(0, me.to_owned());
    TopicRouteData {
        broker_datas: vec![b],
        queue_datas: vec![QueueData {
            broker_name: "null-broker".into(),
            perm: 6,
            read_queue_nums: queues as i32,
            write_queue_nums: queues as i32,
            topic_sys_flag: 0,
        }],
        ..Default::default()
    }
}

fn serve(mut s: TcpStream, me: String, queues: usize) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let json_t =
        Template::new(send_ok(SerializeType::Json, 0), &[]).map_err(std::io::Error::other)?;
    let bin_t =
        Template::new(send_ok(SerializeType::RocketMq, 0), &[]).map_err(std::io::Error::other)?;
    let route = route_for(&me, queues).encode();
    let mut dec = FrameDecoder::new(apogee_codec::DEFAULT_MAX_FRAME);
    let mut rbuf = BytesMut::with_capacity(512 * 1024);
    let mut chunk = vec![0u8; 256 * 1024];
    let mut out: Vec<u8> = Vec::with_capacity(256 * 1024);
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        rbuf.extend_from_slice(&chunk[..n]);
        while let Some(frame) = dec.decode(&mut rbuf).map_err(std::io::Error::other)? {
            let st = frame.serialize_type;
            let req = RemotingCommand::from_frame(frame).map_err(std::io::Error::other)?;
            if req.is_response() || req.is_oneway() {
                continue;
            }
            let in_range = req.opaque >= OPAQUE_BASE && req.opaque - OPAQUE_BASE < OPAQUE_SPAN;
            match req.code {
                request::GET_ROUTEINFO_BY_TOPIC => {
                    let mut r = RemotingCommand::response_to(&req, response::SUCCESS);
                    r.body = bytes::Bytes::from(route.clone());
                    let mut b = BytesMut::new();
                    r.encode(&mut b).map_err(std::io::Error::other)?;
                    out.extend_from_slice(&b);
                }
                _ if in_range => match st {
                    SerializeType::Json => json_t.emit(&mut out, req.opaque, None),
                    SerializeType::RocketMq => bin_t.emit(&mut out, req.opaque, None),
                },
                _ => {
                    let mut b = BytesMut::new();
                    send_ok(st, req.opaque)
                        .encode(&mut b)
                        .map_err(std::io::Error::other)?;
                    out.extend_from_slice(&b);
                }
            }
        }
        if !out.is_empty() {
            s.write_all(&out)?;
            out.clear();
        }
    }
}

pub fn run(a: NullArgs) -> Result<(), String> {
    let addr: SocketAddr = format!("0.0.0.0:{}", a.port)
        .parse()
        .map_err(|e| format!("--port: {e}"))?;
    let l = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    let me = format!("{}:{port}", a.ip);
    eprintln!("null-server listening on {me} (route: {} queues)", a.queues);
    for s in l.incoming() {
        let Ok(s) = s else { continue };
        let me = me.clone();
        let q = a.queues;
        std::thread::spawn(move || {
            let _ = serve(s, me, q);
        });
    }
    Ok(())
}
