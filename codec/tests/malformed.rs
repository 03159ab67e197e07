//! Hostile input: truncated, bit-flipped, length-lied and random frames, split at every byte
//! boundary. Every decoder must return an error or a value — never panic, never loop.

mod support;

use apogee_codec::frame::{FrameDecoder, RawFrame, DEFAULT_MAX_FRAME};
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

/// Split `data` at `cuts` and return the raw frames (no deep decoding: cheap enough to run
/// for every cut position).
fn split_frames(data: &[u8], cuts: &[usize]) -> Result<Vec<RawFrame>, ()> {
    let mut dec = FrameDecoder::new(1 << 20);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    let mut bounds: Vec<usize> = cuts.iter().copied().filter(|c| *c <= data.len()).collect();
    bounds.push(data.len());
    for end in bounds {
        if end < pos {
            continue;
        }
        buf.extend_from_slice(&data[pos..end]);
        pos = end;
        while let Some(f) = dec.decode(&mut buf).map_err(|_| ())? {
            frames.push(f);
        }
    }
    Ok(frames)
}

#[test]
fn split_at_every_byte_boundary_gives_the_same_frames() {
    let frames = sample_frames();
    let stream: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
    let (n, err) = feed(&stream, &[]);
    assert_eq!((n, err), (frames.len(), false));
    let reference = split_frames(&stream, &[]).unwrap();
    assert_eq!(reference.len(), frames.len());
    for cut in 0..=stream.len() {
        assert_eq!(
            split_frames(&stream, &[cut]).as_ref(),
            Ok(&reference),
            "cut at {cut}"
        );
    }
    // One byte at a time.
    let cuts: Vec<usize> = (0..stream.len()).collect();
    assert_eq!(split_frames(&stream, &cuts).as_ref(), Ok(&reference));
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

/// Cut the *content* of each frame at every byte and fix the outer lengths up, so that the
/// truncated header or body reaches the inner parsers as a complete frame.
#[test]
fn truncated_contents_reach_the_inner_parsers() {
    for f in sample_frames() {
        let word = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
        let header_len = (word & 0x00FF_FFFF) as usize;
        for len in 8..f.len() {
            let mut g = f[..len].to_vec();
            g[..4].copy_from_slice(&((len - 4) as u32).to_be_bytes());
            let hl = header_len.min(len - 8) as u32;
            g[4..8].copy_from_slice(&((word & 0xFF00_0000) | hl).to_be_bytes());
            assert_eq!(feed(&g, &[]), (1, false), "cut at {len}");
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

/// Write absurd values over every position of each body, so that inner length fields
/// (record TOTALSIZE / BODYLEN / TOPICLEN / PROPERTIESLEN, batch lengths, compressed-part
/// lengths) lie in every possible place.
#[test]
fn lying_inner_lengths_never_panic() {
    for f in sample_frames() {
        let word = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
        let body_start = 8 + (word & 0x00FF_FFFF) as usize;
        for at in body_start..f.len() {
            for lie in [0xFFFF_FFFFu32, 0x7FFF_FFFF, 0x0000_0000, 0x0000_7FFF] {
                let mut g = f.clone();
                let end = (at + 4).min(g.len());
                g[at..end].copy_from_slice(&lie.to_be_bytes()[..end - at]);
                assert_eq!(feed(&g, &[]), (1, false));
            }
        }
    }
}

/// `support::request_headers` knows a typed header for every code the codec has one for.
#[test]
fn deep_decode_knows_every_request_header() {
    use apogee_codec::header::request_header_class;
    use apogee_codec::ExtFields;
    for code in (-5..1000).chain(200_000..200_200) {
        if request_header_class(code).is_some() {
            assert!(
                support::request_headers(code, &ExtFields::new()),
                "no typed header tried for request code {code}"
            );
        }
    }
    for code in support::REQUEST_CODES_WITH_HEADERS {
        assert!(request_header_class(*code).is_some(), "code {code}");
    }
}

/// Regenerate the committed seed corpora of the cargo-fuzz targets (`codec/fuzz/seeds/`).
/// Run by hand: `cargo test -p apogee-codec --test malformed -- --ignored write_fuzz_seeds`.
#[test]
#[ignore = "writes files; run by hand to regenerate codec/fuzz/seeds"]
fn write_fuzz_seeds() {
    use apogee_codec::frame::parse_complete_frame;
    use std::path::Path;

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    let frames = sample_frames();
    let mut stream = vec![7u8];
    for (i, f) in frames.iter().enumerate() {
        let mut seed = vec![63u8];
        seed.extend_from_slice(f);
        write("frame", &format!("sample-{i:02}"), &seed);
        stream.extend_from_slice(f);

        let raw = parse_complete_frame(f, DEFAULT_MAX_FRAME).unwrap();
        let mode = match raw.serialize_type {
            apogee_codec::SerializeType::Json => 0u8,
            apogee_codec::SerializeType::RocketMq => 1,
        };
        let mut h = vec![mode];
        h.extend_from_slice(&raw.header);
        write("header", &format!("sample-{i:02}"), &h);
        if !raw.body.is_empty() {
            // JSON objects, zlib streams (0x78) and opaque message bodies go to the body
            // fuzzer, records and batches to the record fuzzer.
            let target = if matches!(raw.body[0], b'{' | b'x') {
                "body"
            } else {
                "record"
            };
            write(target, &format!("sample-{i:02}"), &raw.body);
        }
    }
    write("frame", "stream", &stream);
    write(
        "header",
        "extfields-pull",
        b"\x02consumerGroup\0cg\0topic\0T\0queueId\x001\0queueOffset\x000\0maxMsgNums\x0032\0sysFlag\x002\0commitOffset\x000\0suspendTimeoutMillis\x0015000\0subVersion\x001\0bname\0b",
    );
    write(
        "header",
        "extfields-send",
        b"\x02a\0pg\0b\0T\0c\0TBW102\0d\x004\0e\x00-1\0f\x000\0g\x001700000000000\0h\x000\0i\0WAIT\x01true\0k\0false\0n\0b",
    );
    write(
        "header",
        "cpp-send",
        &[&b"\x00"[..], br#"{"code":310,"extFields":{"AccessKey":"","OnsChannel":"","Signature":"","a":"pg","b":"T","c":"TBW102","d":4,"e":2,"f":0,"g":"1700000000000","h":0,"j":"0","k":"false","l":16,"m":"false"},"flag":0,"language":"CPP","opaque":3,"remark":"","version":333}"#]
            .concat(),
    );
    write(
        "body",
        "register-compressed",
        &support::sample_register_body().encode_compressed(),
    );
    write(
        "body",
        "register-json",
        &support::sample_register_body().encode(),
    );
    write(
        "body",
        "consume-stats-fastjson",
        br#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":5,"consumerOffset":3,"lastTimestamp":0}}}"#,
    );
    write(
        "body",
        "consumer-offsets-fastjson",
        br#"{"offsetTable":{"T@G":{0:250,1:251}}}"#,
    );
    write(
        "body",
        "properties-text",
        b"brokerName=broker-a\nlistenPort=10911\n# comment\nkey\\ with\\:seps = v\\u00e9\\\n  continued\n",
    );
    write(
        "body",
        "topic-line",
        b"TopicTest 4 4 6 SINGLE_TAG {\"+message.type\":\"NORMAL\"}",
    );
    write("record", "records", &support::sample_records());
    write("record", "batch", &support::sample_batch());
    write(
        "record",
        "ids",
        b"0A00000500002A9F0000000000000187,7F0000010C8F18B4AAC2163F0E400000\n20010DB8000000000000000000000005000029A00000000000000001",
    );
}

/// Decode `header` on another thread; fail if it takes longer than `limit` or if its success
/// differs from `expect_ok`.
fn decode_within(
    st: apogee_codec::SerializeType,
    header: Vec<u8>,
    limit: std::time::Duration,
    expect_ok: bool,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = apogee_codec::command::decode_header(st, &header)
            .map(|c| c.ext_fields.map(|f| f.len()));
        let _ = tx.send(r.is_ok());
    });
    match rx.recv_timeout(limit) {
        Ok(ok) => assert_eq!(ok, expect_ok, "{st:?} header: decoded = {ok}"),
        Err(_) => panic!("decoding a {st:?} header took longer than {limit:?}"),
    }
}

/// A single frame far below the 16 MiB cap with 200 000 distinct extFields keys must not cost
/// quadratic time in the duplicate-key checks: more than `MAX_EXT_FIELDS` entries are refused
/// (quickly), while a header at the limit still decodes.
#[test]
fn ext_fields_decoding_is_bounded() {
    use apogee_codec::ext_fields::MAX_EXT_FIELDS;
    use apogee_codec::SerializeType;
    use std::time::Duration;
    for (n, ok) in [(200_000usize, false), (MAX_EXT_FIELDS, true)] {
        let mut json = String::from("{\"code\":1,\"extFields\":{");
        for i in 0..n {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&format!("\"k{i}\":\"v\""));
        }
        json.push_str("}}");
        decode_within(
            SerializeType::Json,
            json.into_bytes(),
            Duration::from_secs(20),
            ok,
        );

        let mut bin: Vec<u8> = vec![0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut ext = Vec::new();
        for i in 0..n {
            let k = format!("k{i}");
            ext.extend_from_slice(&(k.len() as i16).to_be_bytes());
            ext.extend_from_slice(k.as_bytes());
            ext.extend_from_slice(&1i32.to_be_bytes());
            ext.push(b'v');
        }
        bin.extend_from_slice(&(ext.len() as i32).to_be_bytes());
        bin.extend_from_slice(&ext);
        decode_within(SerializeType::RocketMq, bin, Duration::from_secs(20), ok);
    }
}

/// A TAG subscription expression arrives from clients (pull header `subscription`, heartbeat
/// `subString`). Parsing one with 200 000 distinct tags (1.7 MB, far below the frame cap)
/// must take time linear in its size. `TagFilter::parse` removes duplicates by scanning the
/// tags and codes collected so far, so it is quadratic: 80 000 tags take ~7.7 s in a release
/// build, a 16 MiB expression over an hour of CPU.
#[test]
fn tag_filter_parse_is_linear() {
    use apogee_codec::message::TagFilter;
    let expr: String = (0..200_000)
        .map(|i| format!("t{i}"))
        .collect::<Vec<_>>()
        .join("||");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let n = match TagFilter::parse(Some(&expr)) {
            TagFilter::Tags { tags, .. } => tags.len(),
            TagFilter::All => 0,
        };
        let _ = tx.send(n);
    });
    match rx.recv_timeout(std::time::Duration::from_secs(20)) {
        Ok(n) => assert_eq!(n, 200_000),
        Err(_) => panic!("TagFilter::parse of 200 000 tags took longer than 20 s"),
    }
}
