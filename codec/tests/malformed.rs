//! Hostile input: truncated, bit-flipped, length-lied and random frames, split at every byte
//! boundary. Every decoder must return an error or a value — never panic, never loop.

mod support;

use apogee_codec::frame::{FrameDecoder, DEFAULT_MAX_FRAME};
use bytes::BytesMut;
use support::{deep_decode, sample_frames};

/// Feed `data` to a fresh streaming decoder in chunks of the given sizes; decode everything
/// that comes out as deeply as possible. Returns the number of frames and whether the
/// stream ended in an error.
fn feed(data: &[u8], cuts: &[usize]) -> (usize, bool) {
    let mut dec = FrameDecoder::new(1 << 20);
    let mut buf = BytesMut::new();
    let mut frames = 0;
    let mut pos = 0;
    let mut bounds: Vec<usize> = cuts.iter().copied().filter(|c| *c <= data.len()).collect();
    bounds.push(data.len());
    for end in bounds {
        if end < pos {
            continue;
        }
        buf.extend_from_slice(&data[pos..end]);
        pos = end;
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    frames += 1;
                    deep_decode(&frame);
                }
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    (frames, false)
}

#[test]
fn split_at_every_byte_boundary_gives_the_same_frames() {
    let frames = sample_frames();
    let stream: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
    let (n, err) = feed(&stream, &[]);
    assert_eq!((n, err), (frames.len(), false));
    for cut in 0..=stream.len() {
        assert_eq!(feed(&stream, &[cut]), (frames.len(), false), "cut at {cut}");
    }
    // One byte at a time.
    let cuts: Vec<usize> = (0..stream.len()).collect();
    assert_eq!(feed(&stream, &cuts), (frames.len(), false));
}

#[test]
fn truncations_never_panic() {
    for f in sample_frames() {
        for len in 0..f.len() {
            let (n, _) = feed(&f[..len], &[]);
            assert_eq!(n, 0, "a truncated frame must not decode");
        }
    }
}

#[test]
fn bit_flips_never_panic() {
    for f in sample_frames() {
        for byte in 0..f.len() {
            for bit in 0..8 {
                let mut g = f.clone();
                g[byte] ^= 1 << bit;
                feed(&g, &[]);
            }
        }
    }
}

#[test]
fn lying_lengths_are_refused_or_wait() {
    for f in sample_frames() {
        for lie in [
            0u32,
            1,
            3,
            4,
            5,
            0x7FFF_FFFF,
            0xFFFF_FFFF,
            (f.len() as u32) * 2,
        ] {
            let mut g = f.clone();
            g[..4].copy_from_slice(&lie.to_be_bytes());
            feed(&g, &[]);
        }
        // Header length word lies: every type byte, and lengths around the real one.
        for ty in 0..=255u8 {
            let mut g = f.clone();
            g[4] = ty;
            feed(&g, &[]);
        }
        for hl in [0u32, 1, 0x00FF_FFFF, 0x0000_FFFF] {
            let mut g = f.clone();
            let word = (u32::from(g[4]) << 24) | hl;
            g[4..8].copy_from_slice(&word.to_be_bytes());
            feed(&g, &[]);
        }
    }
}

#[test]
fn oversize_frames_are_refused_before_buffering() {
    let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME);
    let mut buf = BytesMut::from(&((DEFAULT_MAX_FRAME as u32) - 3).to_be_bytes()[..]);
    assert!(dec.decode(&mut buf).is_err());
    assert!(
        buf.capacity() < 1024,
        "nothing was reserved for the refused frame"
    );
}

#[test]
fn random_bytes_never_panic() {
    // Deterministic xorshift so failures reproduce.
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let samples = sample_frames();
    for i in 0..4000 {
        let len = (next() % 600) as usize;
        let mut v: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 && len >= 8 {
            // Plausible prefix so the inner parsers get exercised too.
            let body = (len - 4) as u32;
            v[..4].copy_from_slice(&body.to_be_bytes());
            let hl = (next() % (body as u64 - 3)) as u32;
            v[4..8].copy_from_slice(&(((i as u32 % 2) << 24) | hl).to_be_bytes());
        }
        if i % 3 == 0 {
            // Mutate a real frame in a few random places.
            let base = &samples[i % samples.len()];
            v = base.clone();
            for _ in 0..(1 + next() % 4) {
                let at = (next() as usize) % v.len();
                v[at] = next() as u8;
            }
        }
        feed(&v, &[(next() as usize) % (len + 1)]);
    }
}
