//! The cost of access control per request: `PlainAcl::validate` on a signed
//! SEND_MESSAGE_V2 (12 header fields + AccessKey + Signature, 1 KiB body) — the HMAC-SHA1
//! over the sorted fields and the body dominates — next to the paths that skip the signature
//! (global whitelist) and the signing alone, and a 4 KiB body to show the per-byte part.
//!
//! Run: `cargo bench --bench acl -- --warm-up-time 1 --measurement-time 3`

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;

use apogee::acl::signature::{sign_in_place, sign_request};
use apogee::acl::PlainAcl;
use apogee_codec::RemotingCommand;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const CONF: &str = r#"
globalWhiteRemoteAddresses:
  - 10.1.2.*
accounts:
  - accessKey: benchProducer
    secretKey: bench-secret-123
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms: ["BenchAcl=PUB", "Other1=SUB", "Other2=SUB", "Other3=PUB|SUB"]
    groupPerms: ["g1=SUB", "g2=DENY"]
"#;

fn send(body_len: usize) -> RemotingCommand {
    let mut c = support::send_v2("BenchAcl", 1, body_len);
    let body = c.body.clone();
    sign_in_place(
        c.ext_mut(),
        &body,
        "benchProducer",
        "bench-secret-123",
        None,
    );
    c
}

fn bench(c: &mut Criterion) {
    let acl = PlainAcl::from_text("plain_acl.yml".into(), CONF).expect("config");
    let peer: SocketAddr = "127.0.0.1:50000".parse().expect("addr");
    let white: SocketAddr = "10.1.2.3:50000".parse().expect("addr");
    let mut g = c.benchmark_group("acl");
    for len in [1024usize, 4096] {
        let req = send(len);
        assert!(acl.validate(peer, &req).is_ok());
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("validate_signed_send_{len}B"), |b| {
            b.iter(|| acl.validate(black_box(peer), black_box(&req)))
        });
        g.bench_function(format!("sign_only_{len}B"), |b| {
            b.iter(|| {
                sign_request(
                    black_box(req.ext_fields.as_ref()),
                    black_box(&req.body),
                    "bench-secret-123",
                )
            })
        });
    }
    let mut unsigned = send(1024);
    unsigned.ext_mut().remove("Signature");
    unsigned.ext_mut().remove("AccessKey");
    g.bench_function("validate_global_whitelist_1024B", |b| {
        b.iter(|| acl.validate(black_box(white), black_box(&unsigned)))
    });
    let mut bad = send(1024);
    bad.ext_mut()
        .insert("Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    g.bench_function("validate_bad_signature_1024B", |b| {
        b.iter(|| acl.validate(black_box(peer), black_box(&bad)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
