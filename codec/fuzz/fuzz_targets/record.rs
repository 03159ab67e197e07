//! Stored records (`decode_record`, `decode_entry`, `iter_records`), batch bodies
//! (`iter_batch`, strict and lenient), properties strings and message ids, with the
//! re-encode checks of `support::record` / `support::batch`.
#![no_main]

use apogee_codec::message::{self, DecodeOptions};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/mod.rs"]
mod support;

fuzz_target!(|data: &[u8]| {
    support::records(data);
    let _ = message::decode_entry_with(data, DecodeOptions::verify_crc());
    if let Ok((rec, n)) = message::decode_record(data) {
        support::record(&rec, &data[..n]);
    }
    support::batch(data, Some(b"WAIT\x01true"));
    support::properties(data);
    let text = String::from_utf8_lossy(data);
    for part in text.split([',', '\n']) {
        support::ids(part);
    }
    let _ = message::TagFilter::parse(Some(&text));
    let _ = message::java_string_hash(&text);
});
