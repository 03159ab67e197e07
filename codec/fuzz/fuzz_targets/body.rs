//! Every body type's decoder (JSON through the fastjson normaliser, the compressed
//! RegisterBrokerBody, `java.util.Properties` text, topic-config lines) with the codec's
//! round-trip promises checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/mod.rs"]
mod support;

fuzz_target!(|data: &[u8]| {
    support::all_bodies(data);
});
