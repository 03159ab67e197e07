//! Shared helpers for the codec's integration tests.
#![allow(dead_code)]

use apogee_codec::{RawFrame, RemotingCommand, SerializeType};
use bytes::Bytes;

/// Build a frame from hand-written parts: `[len][type|header len][header][body]`.
pub fn frame(ty: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + header.len() + body.len());
    v.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(&(((ty as u32) << 24) | header.len() as u32).to_be_bytes());
    v.extend_from_slice(header);
    v.extend_from_slice(body);
    v
}

/// A handful of valid frames in both serializations, with and without bodies.
pub fn sample_frames() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for st in [SerializeType::Json, SerializeType::RocketMq] {
        let mut c = RemotingCommand::request(310, 42);
        c.serialize_type = st;
        let e = c.ext_mut();
        for (k, v) in [
            ("a", "pg"),
            ("b", "TopicTest"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "1"),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
            (
                "i",
                "UNIQ_KEY\u{1}AC11000100002A9F0000000000000001\u{2}WAIT\u{1}true",
            ),
            ("j", "0"),
            ("k", "false"),
            ("m", "false"),
        ] {
            e.insert(k, v);
        }
        c.body = Bytes::from(vec![b'x'; 64]);
        out.push(c.to_bytes().unwrap().to_vec());

        let mut r = RemotingCommand::response_to(&c, 0);
        r.remark = Some("FOUND".into());
        let e = r.ext_mut();
        e.insert("nextBeginOffset", "3");
        e.insert("minOffset", "0");
        e.insert("maxOffset", "3");
        e.insert("suggestWhichBrokerId", "0");
        out.push(r.to_bytes().unwrap().to_vec());

        let mut hb = RemotingCommand::request(34, 1);
        hb.serialize_type = st;
        hb.body = Bytes::from_static(
            br#"{"clientID":"127.0.0.1@1","consumerDataSet":[],"producerDataSet":[{"groupName":"pg"}]}"#,
        );
        out.push(hb.to_bytes().unwrap().to_vec());
    }
    out
}

/// Decode a frame as deeply as the codec allows; errors are fine, panics are not.
pub fn deep_decode(frame: &RawFrame) {
    let _ = apogee_codec::command::peek_opaque(frame);
    let Ok(cmd) = RemotingCommand::from_frame(frame.clone()) else {
        return;
    };
    // Re-encoding whatever decoded must not panic either.
    let _ = cmd.to_bytes();
    let _ = cmd.to_string();
}
