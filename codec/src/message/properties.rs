//! The message properties string (remoting-protocol.md §12.4, §12.7).
//!
//! Wire form: `name 0x01 value 0x02 name 0x01 value …`, UTF-8. 4.9.8 writers drop the final
//! `0x02`; 5.x writers keep it. Readers split on `0x02` and keep a segment only if its first
//! `0x01` is neither its first nor its last byte, so entries with an empty name or an empty
//! value vanish, and a trailing separator is harmless. The stored string is at most 32767
//! bytes (the i16 PROPERTIESLEN field).
//!
//! Working on bytes is exact: `0x01`/`0x02` are ASCII and never occur inside a multi-byte UTF-8
//! sequence, so splitting bytes gives the same pieces as Java splitting the decoded string.
//!
//! Two APIs:
//! * borrowed, allocation-free: [`PropertyIter`] / [`find_property`] over the raw bytes of a
//!   record (what the store's dispatcher and the pull path use);
//! * owned: [`MessageProperties`], an insertion-ordered list that keeps entries exactly as
//!   read (duplicates included — a 4.9.8 batch record legitimately carries `WAIT` twice), so
//!   `encode(parse(raw)) == raw` for every string a 4.9.8 broker writes.

use crate::error::{CodecError, ErrorKind, Result};

use super::tags::java_string_hash;

/// Separator between a name and its value (`MessageDecoder.NAME_VALUE_SEPARATOR`).
pub const NAME_VALUE_SEPARATOR: u8 = 0x01;
/// Separator between entries (`MessageDecoder.PROPERTY_SEPARATOR`).
pub const PROPERTY_SEPARATOR: u8 = 0x02;
/// Largest properties string a record can hold (i16 length field).
pub const MAX_PROPERTIES_LEN: usize = 32767;
/// Separator between several values of `KEYS` (`MessageConst.KEY_SEPARATOR`).
pub const KEY_SEPARATOR: char = ' ';

const CTX: &str = "message properties";

/// Property names (`MessageConst`). Each constant is named after its key string; the Java
/// constant name is given where it differs.
pub mod keys {
    /// `PROPERTY_KEYS`: user keys, separated by one space; indexed for QUERY_MESSAGE.
    pub const KEYS: &str = "KEYS";
    /// `PROPERTY_TAGS`: the tag; its `String.hashCode()` is the consume-queue tagsCode.
    pub const TAGS: &str = "TAGS";
    /// `PROPERTY_WAIT_STORE_MSG_OK`: `"true"`/`"false"`; the 4.9.8 broker strips it before storing single messages.
    pub const WAIT: &str = "WAIT";
    /// `PROPERTY_DELAY_TIME_LEVEL`: delay level 1..=18.
    pub const DELAY: &str = "DELAY";
    /// `PROPERTY_RETRY_TOPIC`: original topic of a retried message.
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    /// `PROPERTY_REAL_TOPIC`: original topic of a delayed or half message.
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    /// `PROPERTY_REAL_QUEUE_ID`: original queue of a delayed or half message.
    pub const REAL_QID: &str = "REAL_QID";
    /// `PROPERTY_TRANSACTION_PREPARED`: `"true"` on transactional messages.
    pub const TRAN_MSG: &str = "TRAN_MSG";
    /// `PROPERTY_PRODUCER_GROUP`: producer group of a transactional message.
    pub const PGROUP: &str = "PGROUP";
    /// `PROPERTY_MIN_OFFSET`: added client-side from the pull response.
    pub const MIN_OFFSET: &str = "MIN_OFFSET";
    /// `PROPERTY_MAX_OFFSET`: added client-side from the pull response.
    pub const MAX_OFFSET: &str = "MAX_OFFSET";
    /// `PROPERTY_BUYER_ID`.
    pub const BUYER_ID: &str = "BUYER_ID";
    /// `PROPERTY_ORIGIN_MESSAGE_ID`: original message id on retries / DLQ.
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    /// `PROPERTY_TRANSFER_FLAG` (legacy).
    pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
    /// `PROPERTY_CORRECTION_FLAG` (legacy).
    pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
    /// `PROPERTY_MQ2_FLAG` (legacy).
    pub const MQ2_FLAG: &str = "MQ2_FLAG";
    /// `PROPERTY_RECONSUME_TIME`: retry count of a client-side resend.
    pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
    /// `PROPERTY_MSG_REGION` (also a send-response extField).
    pub const MSG_REGION: &str = "MSG_REGION";
    /// `PROPERTY_TRACE_SWITCH` (also a send-response extField).
    pub const TRACE_ON: &str = "TRACE_ON";
    /// `PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX`: the client-generated message id.
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    /// `PROPERTY_MAX_RECONSUME_TIMES`.
    pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
    /// `PROPERTY_CONSUME_START_TIMESTAMP` (client side).
    pub const CONSUME_START_TIME: &str = "CONSUME_START_TIME";
    /// `PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET` (broker internal).
    pub const TRAN_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
    /// `PROPERTY_TRANSACTION_CHECK_TIMES` (broker internal check counter).
    pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
    /// `PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS`: user-set delay of the first check.
    pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
    /// `PROPERTY_INSTANCE_ID`: namespace.
    pub const INSTANCE_ID: &str = "INSTANCE_ID";
    /// `PROPERTY_CORRELATION_ID` (request/reply).
    pub const CORRELATION_ID: &str = "CORRELATION_ID";
    /// `PROPERTY_MESSAGE_REPLY_TO_CLIENT` (request/reply).
    pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
    /// `PROPERTY_MESSAGE_TTL` (request/reply).
    pub const TTL: &str = "TTL";
    /// `PROPERTY_REPLY_MESSAGE_ARRIVE_TIME` (request/reply).
    pub const ARRIVE_TIME: &str = "ARRIVE_TIME";
    /// `PROPERTY_PUSH_REPLY_TIME` (request/reply).
    pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
    /// `PROPERTY_CLUSTER`: added by the broker on store.
    pub const CLUSTER: &str = "CLUSTER";
    /// `PROPERTY_MESSAGE_TYPE`: `"reply"` for reply messages.
    pub const MSG_TYPE: &str = "MSG_TYPE";
    /// `PROPERTY_INNER_MULTI_DISPATCH` (LMQ).
    pub const INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";
    /// `PROPERTY_INNER_MULTI_QUEUE_OFFSET` (LMQ).
    pub const INNER_MULTI_QUEUE_OFFSET: &str = "INNER_MULTI_QUEUE_OFFSET";
    /// Aliyun ONS delivery time (a literal in 4.9, not a `MessageConst`).
    pub const START_DELIVER_TIME: &str = "__STARTDELIVERTIME";

    // ---- 5.x additions ----
    /// 5.x `PROPERTY_EXTEND_UNIQ_INFO`.
    pub const EXTEND_UNIQ_INFO: &str = "EXTEND_UNIQ_INFO";
    /// 5.x `PROPERTY_INNER_NUM` (inner batch).
    pub const INNER_NUM: &str = "INNER_NUM";
    /// 5.x `PROPERTY_INNER_BASE` (inner batch).
    pub const INNER_BASE: &str = "INNER_BASE";
    /// 5.x `DUP_INFO`.
    pub const DUP_INFO: &str = "DUP_INFO";
    /// 5.x `PROPERTY_TRANSACTION_ID`.
    pub const TRANSACTION_ID: &str = "__transactionId__";
    /// 5.x `PROPERTY_POP_CK`.
    pub const POP_CK: &str = "POP_CK";
    /// 5.x `PROPERTY_POP_CK_OFFSET`.
    pub const POP_CK_OFFSET: &str = "POP_CK_OFFSET";
    /// 5.x `PROPERTY_FIRST_POP_TIME`.
    pub const FIRST_POP_TIME: &str = "1ST_POP_TIME";
    /// 5.x `PROPERTY_SHARDING_KEY`.
    pub const SHARDING_KEY: &str = "__SHARDINGKEY";
    /// 5.x `PROPERTY_FORWARD_QUEUE_ID` (the key string really is the constant's name).
    pub const FORWARD_QUEUE_ID: &str = "PROPERTY_FORWARD_QUEUE_ID";
    /// 5.x `PROPERTY_REDIRECT`.
    pub const REDIRECT: &str = "REDIRECT";
    /// 5.x `PROPERTY_TRACE_CONTEXT`.
    pub const TRACE_CONTEXT: &str = "TRACE_CONTEXT";
    /// 5.x `PROPERTY_TIMER_DELAY_SEC`.
    pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
    /// 5.x `PROPERTY_TIMER_DELIVER_MS`.
    pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
    /// 5.x `PROPERTY_TIMER_DELAY_MS`.
    pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
    /// 5.x `PROPERTY_TIMER_ENQUEUE_MS`.
    pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
    /// 5.x `PROPERTY_TIMER_DEQUEUE_MS`.
    pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
    /// 5.x `PROPERTY_TIMER_ROLL_TIMES`.
    pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
    /// 5.x `PROPERTY_TIMER_OUT_MS`.
    pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
    /// 5.x `PROPERTY_TIMER_DEL_UNIQKEY`.
    pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
    /// 5.x `PROPERTY_TIMER_DELAY_LEVEL`.
    pub const TIMER_DELAY_LEVEL: &str = "TIMER_DELAY_LEVEL";
    /// 5.x `PROPERTY_BORN_HOST`.
    pub const BORN_HOST: &str = "__BORNHOST";
    /// 5.x `PROPERTY_BORN_TIMESTAMP`.
    pub const BORN_TIMESTAMP: &str = "BORN_TIMESTAMP";
    /// 5.x `PROPERTY_TRANSIENT_PREFIX`: properties with this prefix are never stored.
    pub const TRANSIENT_PREFIX: &str = "__RMQ.TRANSIENT.";
    /// 5.x `PROPERTY_TRANSIENT_TOPIC_CONFIG`.
    pub const TRANSIENT_TOPIC_CONFIG: &str = "__RMQ.TRANSIENT.TOPIC_SYS_FLAG";
    /// 5.x `PROPERTY_TRANSIENT_GROUP_CONFIG`.
    pub const TRANSIENT_GROUP_CONFIG: &str = "__RMQ.TRANSIENT.GROUP_SYS_FLAG";
    /// 5.x `PROPERTY_CRC32` (appended property CRC).
    pub const CRC32: &str = "__CRC32#";
    /// 5.x `PROPERTY_DLQ_ORIGIN_TOPIC`.
    pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
    /// 5.x `PROPERTY_DLQ_ORIGIN_MESSAGE_ID`.
    pub const DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";

    /// 4.9.8 `MessageConst.STRING_HASH_SET`: names user code may not set with
    /// `putUserProperty`. (Exactly the 4.9.8 set: e.g. `INNER_MULTI_DISPATCH` and the
    /// transaction-check names are not in it.)
    pub const SYSTEM_KEYS: &[&str] = &[
        TRACE_ON,
        MSG_REGION,
        KEYS,
        TAGS,
        WAIT,
        DELAY,
        RETRY_TOPIC,
        REAL_TOPIC,
        REAL_QID,
        TRAN_MSG,
        PGROUP,
        MIN_OFFSET,
        MAX_OFFSET,
        BUYER_ID,
        ORIGIN_MESSAGE_ID,
        TRANSFER_FLAG,
        CORRECTION_FLAG,
        MQ2_FLAG,
        RECONSUME_TIME,
        UNIQ_KEY,
        MAX_RECONSUME_TIMES,
        CONSUME_START_TIME,
        INSTANCE_ID,
        CORRELATION_ID,
        REPLY_TO_CLIENT,
        TTL,
        ARRIVE_TIME,
        PUSH_REPLY_TIME,
        CLUSTER,
        MSG_TYPE,
        INNER_MULTI_QUEUE_OFFSET,
    ];

    /// Whether `name` is in the 4.9.8 system set [`SYSTEM_KEYS`].
    pub fn is_system_key(name: &str) -> bool {
        SYSTEM_KEYS.contains(&name)
    }
}

/// Split one entry off `raw` at the first `0x02`: `(segment, rest)`.
fn split_segment(raw: &[u8]) -> (&[u8], &[u8]) {
    match raw.iter().position(|&b| b == PROPERTY_SEPARATOR) {
        Some(i) => {
            let (seg, rest) = raw.split_at(i);
            (seg, rest.get(1..).unwrap_or(&[]))
        }
        None => (raw, &[]),
    }
}

/// Name and value of a segment, if the segment is kept by the Java parser: its first `0x01`
/// must be neither the first nor the last byte.
fn split_entry(seg: &[u8]) -> Option<(&[u8], &[u8])> {
    let k = seg.iter().position(|&b| b == NAME_VALUE_SEPARATOR)?;
    if k == 0 || k + 1 >= seg.len() {
        return None;
    }
    let (name, rest) = seg.split_at(k);
    Some((name, rest.get(1..)?))
}

/// Borrowed iterator over the `(name, value)` entries of a raw properties string, applying the
/// Java parser's rules (segments without a usable `0x01` are skipped). Never allocates.
#[derive(Debug, Clone)]
pub struct PropertyIter<'a> {
    rest: &'a [u8],
}

impl<'a> PropertyIter<'a> {
    pub fn new(raw: &'a [u8]) -> Self {
        PropertyIter { rest: raw }
    }
}

impl<'a> Iterator for PropertyIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            let (seg, rest) = split_segment(self.rest);
            self.rest = rest;
            if let Some(entry) = split_entry(seg) {
                return Some(entry);
            }
        }
        None
    }
}

/// Iterate the entries of a raw properties string (see [`PropertyIter`]).
pub fn iter_properties(raw: &[u8]) -> PropertyIter<'_> {
    PropertyIter::new(raw)
}

/// Value of `key` in a raw properties string, without allocating. If the name occurs more than
/// once the **last** value wins, as in the Java `HashMap` the string is parsed into.
pub fn find_property(raw: &[u8], key: impl AsRef<[u8]>) -> Option<&[u8]> {
    let key = key.as_ref();
    let mut found = None;
    for (k, v) in PropertyIter::new(raw) {
        if k == key {
            found = Some(v);
        }
    }
    found
}

/// Error unless a properties string of `len` bytes fits the i16 length field.
pub fn check_properties_len(len: usize) -> Result<()> {
    if len > MAX_PROPERTIES_LEN {
        return Err(CodecError::new(
            CTX,
            0,
            ErrorKind::Unencodable(format!(
                "properties string is {len} bytes; at most {MAX_PROPERTIES_LEN} fit"
            )),
        ));
    }
    Ok(())
}

/// Append `name 0x01 value` to a raw properties string, inserting a `0x02` first when `raw` is
/// not empty and does not already end with one (the rule the Java broker uses when it appends
/// properties to a stored string).
pub fn append_property(raw: &mut Vec<u8>, name: &str, value: &str) {
    if raw.last().is_some_and(|&b| b != PROPERTY_SEPARATOR) {
        raw.push(PROPERTY_SEPARATOR);
    }
    raw.extend_from_slice(name.as_bytes());
    raw.push(NAME_VALUE_SEPARATOR);
    raw.extend_from_slice(value.as_bytes());
}

/// Capacity of a Java `HashMap` created with `new HashMap<>()` after it has held `max_entries`
/// entries at once (16, doubled while the count exceeds 3/4 of the capacity).
pub fn java_hash_map_capacity(max_entries: usize) -> usize {
    let mut cap: usize = 16;
    while max_entries > cap / 4 * 3 && cap < (1 << 30) {
        cap *= 2;
    }
    cap
}

/// Bucket of `key` in a Java `HashMap` of `capacity` (a power of two): `(h ^ h >>> 16) & (cap-1)`.
pub fn java_hash_map_bucket(key: &str, capacity: usize) -> usize {
    let h = java_string_hash(key) as u32;
    let spread = h ^ (h >> 16);
    (spread as usize) & capacity.saturating_sub(1)
}

/// Owned, insertion-ordered properties.
///
/// Invariants: entries keep the order in which they were parsed or inserted; a name may occur
/// more than once only if it did so in a parsed string (lookups then see the last value, as
/// Java's `HashMap` does); [`MessageProperties::insert`] leaves exactly one entry for its name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    entries: Vec<(String, String)>,
}

impl MessageProperties {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse a raw properties string with the Java rules. Invalid UTF-8 is replaced by U+FFFD
    /// (Java decodes the bytes with `new String(bytes, UTF_8)` first); never fails.
    pub fn parse(raw: &[u8]) -> Self {
        let entries = PropertyIter::new(raw)
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        MessageProperties { entries }
    }

    /// Parse a properties string given as text.
    pub fn parse_str(raw: &str) -> Self {
        Self::parse(raw.as_bytes())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Value of `key` (the last one if the name is duplicated).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// Set `key` to `value`. An existing entry keeps its position (later duplicates are
    /// removed); a new one is appended. Returns the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let key = key.into();
        let value = value.into();
        let previous = self.get(&key).map(str::to_owned);
        match self.entries.iter().position(|(k, _)| *k == key) {
            Some(i) => {
                if let Some(slot) = self.entries.get_mut(i) {
                    slot.1 = value;
                }
                let mut j = 0;
                self.entries.retain(|(k, _)| {
                    let keep = j <= i || *k != key;
                    j += 1;
                    keep
                });
            }
            None => self.entries.push((key, value)),
        }
        previous
    }

    /// Remove every entry named `key`; returns the value a lookup would have seen.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let previous = self.get(key).map(str::to_owned);
        self.entries.retain(|(k, _)| k != key);
        previous
    }

    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `TAGS`.
    pub fn tags(&self) -> Option<&str> {
        self.get(keys::TAGS)
    }

    /// `KEYS`, split on spaces (empty pieces dropped).
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.get(keys::KEYS)
            .unwrap_or("")
            .split(KEY_SEPARATOR)
            .filter(|k| !k.is_empty())
    }

    /// `UNIQ_KEY`.
    pub fn uniq_key(&self) -> Option<&str> {
        self.get(keys::UNIQ_KEY)
    }

    /// Length of [`MessageProperties::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let sum: usize = self
            .entries
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum();
        sum.saturating_sub(1)
    }

    /// Append the 4.9.8 form (no trailing `0x02`) to `out`. Like Java, names and values are
    /// written as they are, even if empty or containing separators (the parser then drops or
    /// splits them); use [`MessageProperties::encode_checked`] to refuse such entries.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(PROPERTY_SEPARATOR);
            }
            out.extend_from_slice(k.as_bytes());
            out.push(NAME_VALUE_SEPARATOR);
            out.extend_from_slice(v.as_bytes());
        }
    }

    /// The 4.9.8 form (`messageProperties2String`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write_to(&mut out);
        out
    }

    /// The 4.9.8 form, refusing what would not read back identically: a string over 32767
    /// bytes, empty names or values, and separators inside names or values.
    pub fn encode_checked(&self) -> Result<Vec<u8>> {
        for (k, v) in &self.entries {
            let bad = |s: &str| {
                s.is_empty()
                    || s.bytes()
                        .any(|b| b == NAME_VALUE_SEPARATOR || b == PROPERTY_SEPARATOR)
            };
            if bad(k) || bad(v) {
                return Err(CodecError::new(
                    CTX,
                    0,
                    ErrorKind::Unencodable(format!(
                        "property {k:?}={v:?} is empty or contains a 0x01/0x02 separator"
                    )),
                ));
            }
        }
        check_properties_len(self.encoded_len())?;
        Ok(self.encode())
    }

    /// Reorder (and de-duplicate) the entries into the iteration order of a Java `HashMap`
    /// built by inserting them in their current order into `new HashMap<>()` that at its
    /// fullest held `max_entries` entries (use the count before the broker removed e.g.
    /// `WAIT`). That is the order in which a Java broker writes a re-serialized properties
    /// string. Exact unless 8 or more names share one bucket (Java then resizes or treeifies).
    pub fn sort_java_hash_map_order(&mut self, max_entries: usize) {
        self.dedup_keep_first_position();
        let cap = java_hash_map_capacity(max_entries.max(self.entries.len()));
        self.entries
            .sort_by_key(|(k, _)| java_hash_map_bucket(k, cap));
    }

    /// Collapse duplicate names into one entry at the first position holding the last value.
    fn dedup_keep_first_position(&mut self) {
        let mut out: Vec<(String, String)> = Vec::with_capacity(self.entries.len());
        for (k, v) in self.entries.drain(..) {
            match out.iter_mut().find(|(ok, _)| *ok == k) {
                Some(slot) => slot.1 = v,
                None => out.push((k, v)),
            }
        }
        self.entries = out;
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MessageProperties {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut p = MessageProperties::new();
        p.extend(iter);
        p
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for MessageProperties {
    fn extend<T: IntoIterator<Item = (K, V)>>(&mut self, iter: T) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::test_support;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn java_parse_rules() {
        let raw = b"A\x011\x02\x01x\x02B\x01\x02C\x01\x013\x02D\x012\x01z\x02\x02E";
        let got: Vec<_> = iter_properties(raw).collect();
        // "\x01x" (empty name) and "B\x01" (empty value) are dropped; in "C\x01\x013" the
        // first 0x01 splits, so the value keeps the second one (as in Java).
        assert_eq!(
            got,
            vec![
                (&b"A"[..], &b"1"[..]),
                (&b"C"[..], &b"\x013"[..]),
                (&b"D"[..], &b"2\x01z"[..])
            ]
        );
        assert_eq!(find_property(raw, "D"), Some(&b"2\x01z"[..]));
        assert_eq!(find_property(raw, "B"), None);
        assert_eq!(find_property(raw, "E"), None);
        // trailing separator (5.x form) is tolerated
        assert_eq!(
            iter_properties(b"A\x011\x02").collect::<Vec<_>>(),
            vec![(&b"A"[..], &b"1"[..])]
        );
        assert_eq!(iter_properties(b"").count(), 0);
        assert_eq!(iter_properties(b"\x02\x02").count(), 0);
        // duplicates: last wins
        assert_eq!(find_property(b"W\x01a\x02W\x01b", "W"), Some(&b"b"[..]));
        let p = MessageProperties::parse(b"W\x01a\x02X\x01c\x02W\x01b");
        assert_eq!(p.get("W"), Some("b"));
        assert_eq!(p.len(), 3);
        assert_eq!(p.encode(), b"W\x01a\x02X\x01c\x02W\x01b");
    }

    #[test]
    fn owned_map_operations() {
        let mut p = MessageProperties::new();
        assert_eq!(p.encode(), b"");
        assert_eq!(p.encoded_len(), 0);
        p.insert(keys::TAGS, "TagA");
        p.insert(keys::KEYS, "k1 k2  k3");
        assert_eq!(p.insert(keys::TAGS, "TagB"), Some("TagA".to_owned()));
        assert_eq!(p.encode(), b"TAGS\x01TagB\x02KEYS\x01k1 k2  k3");
        assert_eq!(p.encoded_len(), p.encode().len());
        assert_eq!(p.keys().collect::<Vec<_>>(), ["k1", "k2", "k3"]);
        assert_eq!(p.tags(), Some("TagB"));
        assert_eq!(p.remove(keys::TAGS), Some("TagB".to_owned()));
        assert_eq!(p.remove(keys::TAGS), None);
        assert!(p.encode_checked().is_ok());
        p.insert("bad", "");
        assert!(p.encode_checked().is_err());
        let mut q = MessageProperties::parse(b"W\x01a\x02X\x01c\x02W\x01b");
        q.insert("W", "z");
        assert_eq!(q.encode(), b"W\x01z\x02X\x01c");
        let big: MessageProperties = [("k", "v".repeat(MAX_PROPERTIES_LEN))]
            .into_iter()
            .collect();
        assert!(big.encode_checked().is_err());
        assert!(keys::is_system_key("UNIQ_KEY"));
        assert!(!keys::is_system_key("INNER_MULTI_DISPATCH"));
        assert!(!keys::is_system_key("seq"));
    }

    #[test]
    fn append_inserts_separator_once() {
        let mut raw = Vec::new();
        append_property(&mut raw, "A", "1");
        append_property(&mut raw, "B", "2");
        assert_eq!(raw, b"A\x011\x02B\x012");
        let mut raw = b"A\x011\x02".to_vec();
        append_property(&mut raw, "B", "2");
        assert_eq!(raw, b"A\x011\x02B\x012");
    }

    #[test]
    fn java_hash_map_capacity_and_order() {
        assert_eq!(java_hash_map_capacity(0), 16);
        assert_eq!(java_hash_map_capacity(12), 16);
        assert_eq!(java_hash_map_capacity(13), 32);
        assert_eq!(java_hash_map_capacity(25), 64);
        // The broker parses the client's string, then adds CLUSTER. UNIQ_KEY and CLUSTER share
        // a bucket of a 16-bucket map, so their insertion order decides.
        let mut p: MessageProperties = [
            ("seq", "1"),
            ("UNIQ_KEY", "X"),
            ("KEYS", "k"),
            ("CLUSTER", "DefaultCluster"),
        ]
        .into_iter()
        .collect();
        p.sort_java_hash_map_order(4);
        let order: Vec<_> = p.iter().map(|(k, _)| k).collect();
        // The fixture shows 4.9.8 writes KEYS, UNIQ_KEY, CLUSTER, seq in this order.
        assert_eq!(order, ["KEYS", "UNIQ_KEY", "CLUSTER", "seq"]);
    }

    /// Every `propertiesRaw` of the Java-written fixture: the parsed map equals the manifest's
    /// map, the owned form re-encodes byte for byte, the borrowed lookup finds every value, and
    /// the stored order is the Java `HashMap` order.
    #[test]
    fn fixture_properties_strings() {
        let msgs = test_support::manifest_messages();
        assert_eq!(msgs.len(), 4387);
        let mut hash_order_checked = 0;
        let mut with_duplicates = 0;
        for m in &msgs {
            let raw = m["propertiesRaw"].as_str().unwrap().as_bytes();
            let expected: BTreeMap<String, String> = m["properties"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let parsed = MessageProperties::parse(raw);
            let as_map: BTreeMap<String, String> = parsed
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(); // later duplicates overwrite earlier ones, like Java
            assert_eq!(as_map, expected, "record at {}", m["commitLogOffset"]);
            assert_eq!(parsed.encode(), raw);
            assert_eq!(parsed.encoded_len(), raw.len());
            assert!(raw.len() <= MAX_PROPERTIES_LEN);
            for (k, v) in &expected {
                assert_eq!(find_property(raw, k), Some(v.as_bytes()));
                assert_eq!(parsed.get(k), Some(v.as_str()));
            }
            assert_eq!(
                parsed.tags(),
                m["tags"].as_str(),
                "TAGS at {}",
                m["commitLogOffset"]
            );
            assert_eq!(parsed.uniq_key(), m["uniqKey"].as_str());
            assert_eq!(parsed.get(keys::KEYS), m["keys"].as_str());
            if parsed.len() != expected.len() {
                with_duplicates += 1;
                continue;
            }
            // Stored order = Java HashMap order: sorting is a fixed point ...
            let mut sorted = parsed.clone();
            sorted.sort_java_hash_map_order(parsed.len());
            assert_eq!(sorted.encode(), raw, "order at {}", m["commitLogOffset"]);
            // ... and replaying the broker (client entries in another order, CLUSTER put
            // last) sorts back to it whenever the client's names use distinct buckets.
            let cap = java_hash_map_capacity(parsed.len());
            let client: Vec<(String, String)> = parsed
                .entries
                .iter()
                .filter(|(k, _)| k != keys::CLUSTER)
                .cloned()
                .collect();
            let mut buckets: Vec<_> = client
                .iter()
                .map(|(k, _)| java_hash_map_bucket(k, cap))
                .collect();
            buckets.sort_unstable();
            buckets.dedup();
            if buckets.len() == client.len() && parsed.contains_key(keys::CLUSTER) {
                let mut replay = MessageProperties {
                    entries: client.into_iter().rev().collect(),
                };
                replay.insert(keys::CLUSTER, parsed.get(keys::CLUSTER).unwrap_or(""));
                replay.sort_java_hash_map_order(parsed.len());
                assert_eq!(replay.encode(), raw, "replay at {}", m["commitLogOffset"]);
                hash_order_checked += 1;
            }
        }
        // FixB batch records carry WAIT twice (inner + batch-level properties).
        assert!(with_duplicates > 0);
        assert!(hash_order_checked >= 500, "{hash_order_checked}");
    }

    fn entry_strategy() -> impl Strategy<Value = (String, String)> {
        let text = "[^\u{0}-\u{2}]{1,12}";
        (text, text)
    }

    proptest! {
        #[test]
        fn round_trip(entries in proptest::collection::vec(entry_strategy(), 0..12)) {
            let props: MessageProperties = entries.iter().cloned().collect();
            let raw = props.encode_checked().unwrap();
            prop_assert_eq!(raw.len(), props.encoded_len());
            let back = MessageProperties::parse(&raw);
            prop_assert_eq!(&back, &props);
            for (k, v) in props.iter() {
                prop_assert_eq!(find_property(&raw, k), Some(v.as_bytes()));
            }
            // 5.x form with a trailing separator reads the same.
            let mut with_trailing = raw.clone();
            if !with_trailing.is_empty() {
                with_trailing.push(PROPERTY_SEPARATOR);
            }
            prop_assert_eq!(MessageProperties::parse(&with_trailing), props);
        }

        #[test]
        fn parser_never_panics(raw in proptest::collection::vec(0u8..8, 0..64)) {
            let n = iter_properties(&raw).count();
            prop_assert_eq!(MessageProperties::parse(&raw).len(), n);
            for (k, v) in iter_properties(&raw) {
                prop_assert!(!k.is_empty() && !v.is_empty());
                prop_assert!(!k.contains(&PROPERTY_SEPARATOR) && !v.contains(&PROPERTY_SEPARATOR));
                prop_assert!(!k.contains(&NAME_VALUE_SEPARATOR));
            }
        }
    }
}
