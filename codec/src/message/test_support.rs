//! Test helpers: the Java-written fixtures and a small SHA-256 (the manifest's digests).
//!
//! Fixtures are looked up in `$APOGEE_FIXTURES_DIR`, then `../../shared/fixtures` relative to
//! this crate, then `/work/shared/fixtures`. They are never modified: the store tarball is
//! unpacked into a fresh directory under `std::env::temp_dir()` per test.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

pub fn fixtures_dir() -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(d) = std::env::var("APOGEE_FIXTURES_DIR") {
        candidates.push(PathBuf::from(d));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"));
    candidates.push(PathBuf::from("/work/shared/fixtures"));
    candidates
        .into_iter()
        .find(|d| d.join("manifest-clean.jsonl").is_file())
        .expect("fixture directory with manifest-clean.jsonl not found (set APOGEE_FIXTURES_DIR)")
}

/// Every line of `manifest-clean.jsonl`, parsed (cached).
pub fn manifest() -> &'static [Value] {
    static MANIFEST: OnceLock<Vec<Value>> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        let text = std::fs::read_to_string(fixtures_dir().join("manifest-clean.jsonl"))
            .expect("read manifest");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("manifest line is JSON"))
            .collect()
    })
}

/// The `type: "message"` lines, in CommitLog order.
pub fn manifest_messages() -> Vec<&'static Value> {
    manifest()
        .iter()
        .filter(|v| v["type"] == "message")
        .collect()
}

/// An unpacked copy of `java-4.9.8-clean.tar.gz`, deleted on drop.
pub struct CleanStore {
    root: PathBuf,
}

impl CleanStore {
    /// Unpack into `temp_dir()/apogee-codec-<test>-<pid>-<nanos>`.
    pub fn extract(test: &str) -> CleanStore {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let root = std::env::temp_dir().join(format!(
            "apogee-codec-{test}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&root).expect("create temp dir");
        let status = std::process::Command::new("tar")
            .arg("-xzf")
            .arg(fixtures_dir().join("java-4.9.8-clean.tar.gz"))
            .arg("-C")
            .arg(&root)
            .status()
            .expect("run tar");
        assert!(status.success(), "tar failed: {status}");
        CleanStore { root }
    }

    /// CommitLog files as (start offset, bytes), in order.
    pub fn commitlog_files(&self) -> Vec<(u64, Vec<u8>)> {
        let dir = self.root.join("store/commitlog");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("commitlog dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let start: u64 = n.parse().expect("20-digit file name");
                let data = std::fs::read(dir.join(&n)).expect("read commitlog file");
                (start, data)
            })
            .collect()
    }
}

impl Drop for CleanStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Lower-case hex of a SHA-256 digest.
pub fn sha256_hex(data: &[u8]) -> String {
    sha256(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// FIPS 180-4 SHA-256 (test use only).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (o, v) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&v.to_be_bytes());
    }
    out
}

#[test]
fn sha256_known_answers() {
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(&[b'a'; 1_000]),
        "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
    );
}
