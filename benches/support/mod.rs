//! Requests shared by the benches.

use apogee_codec::codes::request;
use apogee_codec::RemotingCommand;
use bytes::Bytes;

/// A SEND_MESSAGE_V2 request as a Java 4.x producer sends it (short header field names, a
/// UNIQ_KEY/WAIT/TAGS property string) to `topic`, with a body of `body_len` bytes.
pub fn send_v2(topic: &str, opaque: i32, body_len: usize) -> RemotingCommand {
    let mut c = RemotingCommand::request(request::SEND_MESSAGE_V2, opaque);
    let e = c.ext_mut();
    for (k, v) in [
        ("a", "bench_producer_group"),
        ("b", topic),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "0"),
        ("f", "0"),
        ("g", "1732861234567"),
        ("h", "0"),
        (
            "i",
            "UNIQ_KEY\u{1}7F000001A9F418B4AAC2761A2B3C0000\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA",
        ),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
    ] {
        e.insert(k, v);
    }
    c.body = Bytes::from(vec![b'x'; body_len]);
    c
}
