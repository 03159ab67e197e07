//! The command-header decoders (JSON and ROCKETMQ binary) and every typed header.
//!
//! Input: byte 0 picks the mode — 0: JSON header, 1: binary header, 2: raw `extFields`
//! (NUL-separated key, value, key, value… read straight into the map, so the typed header
//! readers see arbitrary text without the JSON or binary layer in front). Modes 0 and 1
//! check that a decoded command re-encodes to itself.
#![no_main]

use apogee_codec::command::{decode_header, peek_opaque};
use apogee_codec::{ExtFields, RawFrame, SerializeType};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/mod.rs"]
mod support;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        m @ (0 | 1) => {
            let st = if m == 0 {
                SerializeType::Json
            } else {
                SerializeType::RocketMq
            };
            let _ = peek_opaque(&RawFrame {
                serialize_type: st,
                header: Bytes::copy_from_slice(rest),
                body: Bytes::new(),
            });
            if let Ok(cmd) = decode_header(st, rest) {
                support::command_round_trip(&cmd);
                let empty = ExtFields::new();
                let ext = cmd.ext_fields.as_ref().unwrap_or(&empty);
                support::all_headers(ext);
                support::deep_command(&cmd);
            }
        }
        _ => {
            let mut ext = ExtFields::new();
            let mut parts = rest.split(|b| *b == 0);
            while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
                ext.insert(String::from_utf8_lossy(k), String::from_utf8_lossy(v));
            }
            support::all_headers(&ext);
        }
    }
});
