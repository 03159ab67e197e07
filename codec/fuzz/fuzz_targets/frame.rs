//! Stream arbitrary bytes through `FrameDecoder` in chunks and deep-decode every frame that
//! comes out (command header, typed headers, bodies, records, batches, properties, ids).
//!
//! Input: byte 0 picks the chunk size (1..=64); the rest is the stream.
#![no_main]

use apogee_codec::FrameDecoder;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/mod.rs"]
mod support;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(seed % 64) + 1;
    let mut dec = FrameDecoder::new(1 << 20);
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(frame)) => support::deep_decode(&frame),
                Ok(None) => {
                    assert!(dec.needed() > 0, "Ok(None) must ask for more bytes");
                    break;
                }
                Err(_) => return,
            }
        }
    }
});
