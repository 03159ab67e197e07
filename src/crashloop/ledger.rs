//! What the producers sent and what the broker acknowledged, and the message contents.
//!
//! Every message is derived from its key alone (`body(key)`), so a served message can be
//! checked without the ledger: its body must equal `body(key)` and its stored body CRC must
//! match. The ledger adds what the broker promised: every key recorded as `acked` must be
//! served, and every served key must have been sent (`attempted`) at all.

use std::collections::HashMap;
use std::sync::Mutex;

/// One message the producers tried to send.
#[derive(Debug, Clone, Copy, Default)]
pub struct Entry {
    /// The broker answered SUCCESS.
    pub acked: bool,
}

/// Keys sent, shared by every producer thread.
#[derive(Default)]
pub struct Ledger {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Ledger {
    /// Record a key before its request is written (so a message stored but never answered
    /// is still known as sent).
    pub fn attempt(&self, key: &str) {
        if let Ok(mut m) = self.entries.lock() {
            m.insert(key.to_owned(), Entry::default());
        }
    }

    /// Record the broker's SUCCESS for `key`.
    pub fn ack(&self, key: &str) {
        if let Ok(mut m) = self.entries.lock() {
            m.entry(key.to_owned()).or_default().acked = true;
        }
    }

    /// A copy of every entry (for verification).
    pub fn snapshot(&self) -> HashMap<String, Entry> {
        self.entries.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// 64-bit FNV-1a (a stable hash to derive contents from keys).
pub fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The body of the message `key`: the key, `|`, then 16..=1039 bytes of filler derived from
/// the key (a splitmix64 stream), so lengths vary and every byte is checkable.
pub fn body(key: &str) -> Vec<u8> {
    let mut s = fnv(key.as_bytes());
    let len = 16 + (s % 1024) as usize;
    let mut b = Vec::with_capacity(key.len() + 1 + len);
    b.extend_from_slice(key.as_bytes());
    b.push(b'|');
    while b.len() < key.len() + 1 + len {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        b.extend_from_slice(&z.to_le_bytes());
    }
    b.truncate(key.len() + 1 + len);
    b
}

/// The key a body starts with, if it has the `key|` shape.
pub fn key_of(body: &[u8]) -> Option<&str> {
    let bar = body.iter().position(|&c| c == b'|')?;
    std::str::from_utf8(body.get(..bar)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_derived_from_keys() {
        let b = body("c1-p0-7");
        assert_eq!(key_of(&b), Some("c1-p0-7"));
        assert_eq!(b, body("c1-p0-7"));
        assert_ne!(b, body("c1-p0-8"));
        let mut flipped = b.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_ne!(flipped, body("c1-p0-7"));
    }

    #[test]
    fn ledger_keeps_unacked_attempts() {
        let l = Ledger::default();
        l.attempt("a");
        l.attempt("b");
        l.ack("b");
        let s = l.snapshot();
        assert!(!s["a"].acked);
        assert!(s["b"].acked);
    }
}
