//! Codec hot paths: decode + re-encode a SEND_MESSAGE_V2 request with a 1 KiB body (both
//! serializations), and build a pull response body of 32 × 1 KiB stored records.
//!
//! Run: `cargo bench -p apogee-codec`

use std::net::SocketAddr;

use apogee_codec::frame::FrameDecoder;
use apogee_codec::message::{MessageRecord, RecordVersion};
use apogee_codec::{RemotingCommand, SerializeType};
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn send_v2_request(st: SerializeType) -> Bytes {
    let mut c = RemotingCommand::request(310, 12345);
    c.serialize_type = st;
    let e = c.ext_mut();
    for (k, v) in [
        ("a", "please_rename_unique_group_name"),
        ("b", "TopicTest"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "3"),
        ("f", "0"),
        ("g", "1732861234567"),
        ("h", "0"),
        (
            "i",
            "KEYS\u{1}order-1234\u{2}UNIQ_KEY\u{1}7F000001A9F418B4AAC2761A2B3C0000\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA",
        ),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
        ("n", "broker-a"),
    ] {
        e.insert(k, v);
    }
    c.body = Bytes::from(vec![b'x'; 1024]);
    c.to_bytes().expect("encodes")
}

fn bench_send(c: &mut Criterion) {
    let mut g = c.benchmark_group("send_v2_1KiB");
    g.throughput(Throughput::Elements(1));
    for (name, st) in [
        ("json", SerializeType::Json),
        ("rocketmq", SerializeType::RocketMq),
    ] {
        let wire = send_v2_request(st);
        g.bench_function(format!("decode+reencode/{name}"), |b| {
            let mut dec = FrameDecoder::default();
            let mut out = BytesMut::with_capacity(4096);
            b.iter_batched_ref(
                || BytesMut::from(&wire[..]),
                |buf| {
                    let frame = dec.decode(buf).expect("ok").expect("complete");
                    let cmd = RemotingCommand::from_frame(frame).expect("decodes");
                    out.clear();
                    cmd.encode(&mut out).expect("encodes");
                    std::hint::black_box(&out);
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn bench_pull_body(c: &mut Criterion) {
    let born: SocketAddr = "127.0.0.1:50000".parse().expect("addr");
    let store: SocketAddr = "127.0.0.1:10911".parse().expect("addr");
    let body = vec![b'y'; 1024];
    let props =
        b"KEYS\x01k\x02UNIQ_KEY\x017F000001A9F418B4AAC2761A2B3C0000\x02TAGS\x01TagA".to_vec();
    let mut g = c.benchmark_group("pull_body");
    g.throughput(Throughput::Elements(32));
    g.bench_function("encode_32x1KiB", |b| {
        let mut out = BytesMut::with_capacity(64 * 1024);
        b.iter(|| {
            out.clear();
            for i in 0..32i64 {
                let rec = MessageRecord {
                    version: RecordVersion::V1,
                    body_crc: 0x1234,
                    queue_id: 1,
                    flag: 0,
                    queue_offset: i,
                    physical_offset: i * 1200,
                    sys_flag: 0,
                    born_timestamp: 1_732_861_234_567,
                    born_host: born,
                    store_timestamp: 1_732_861_234_568,
                    store_host: store,
                    reconsume_times: 0,
                    prepared_transaction_offset: 0,
                    body: &body,
                    topic: b"TopicTest",
                    properties: &props,
                };
                rec.encode_to(&mut out).expect("encodes");
            }
            std::hint::black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_send, bench_pull_body);
criterion_main!(benches);
