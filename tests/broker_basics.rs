//! The broker starts, answers unknown codes cleanly, and shuts down.

mod common;

use apogee_codec::codes::response;
use apogee_codec::{RemotingCommand, SerializeType};

#[test]
fn unknown_codes_are_answered_in_the_request_serialization() {
    let tb = common::start_broker();
    let c = common::client();
    for st in [SerializeType::Json, SerializeType::RocketMq] {
        let mut req = RemotingCommand::request(7777, 0);
        req.serialize_type = st;
        let r = common::call(&c, tb.addr(), req);
        assert_eq!(r.code, response::REQUEST_CODE_NOT_SUPPORTED);
        assert_eq!(r.serialize_type, st);
        assert!(r.remark.unwrap().contains("7777"));
        assert_eq!(r.version, apogee_codec::codes::CURRENT_VERSION);
    }
    tb.stop();
}

/// A client that sends requests and never reads the answers cannot make the broker buffer
/// without bound: the broker stops reading from it (its writes block), and other connections
/// keep working.
#[test]
fn a_client_that_never_reads_is_throttled() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let tb = common::start_broker();
    let mut s = std::net::TcpStream::connect(tb.addr()).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut req = RemotingCommand::request(apogee_codec::codes::request::GET_MAX_OFFSET, 1);
    req.ext_mut().insert("topic", "TBW102");
    req.ext_mut().insert("queueId", "0");
    // Pad with a body so the socket buffers fill sooner.
    let frame = req.with_body(vec![0u8; 4096]).to_bytes().unwrap();
    let started = Instant::now();
    let mut written = 0usize;
    let mut blocked = false;
    while started.elapsed() < Duration::from_secs(60) {
        match s.write_all(&frame) {
            Ok(()) => written += 1,
            Err(_) => {
                blocked = true;
                break;
            }
        }
        if written > 500_000 {
            break;
        }
    }
    assert!(
        blocked,
        "the broker kept reading {written} requests from a client that never reads"
    );
    // Everyone else is served.
    let c = common::client();
    let r = common::call(&c, tb.addr(), RemotingCommand::request(7777, 0));
    assert_eq!(r.code, response::REQUEST_CODE_NOT_SUPPORTED);
    drop(s);
    tb.stop();
}
