//! `extFields`: the string map that carries every typed ("custom") header.
//!
//! Java keeps it in a `HashMap<String,String>`; order carries no meaning on the wire.
//! We keep insertion order so that a decoded header re-encodes to the same bytes, and
//! so that output is deterministic. Lookups are linear: headers have at most a few
//! dozen entries, where a scan beats hashing (a 64-bit filter over the keys' first/last
//! byte and length skips most scans for absent keys, and each entry's fingerprint most
//! byte comparisons). All keys and values share one string arena: a decoded header costs
//! two allocations, however many entries it has.

use std::fmt;
use std::iter::FusedIterator;

/// Most entries a decoded `extFields` may hold. Real headers carry a few dozen; the bound keeps
/// hostile headers (hundreds of thousands of keys) from costing quadratic time in the
/// duplicate-key checks.
pub const MAX_EXT_FIELDS: usize = 1024;

use crate::error::{CodecError, Result};

/// One entry: the key is `buf[start..mid]`, the value `buf[mid..end]`; `tag` is
/// [`key_tag`] of the key, compared before the bytes.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    mid: usize,
    end: usize,
    tag: u32,
    /// The key and value are known to hold no byte a JSON string must escape (`"`, `\\`,
    /// control characters); `false` means not checked. Lets the JSON encoder skip its scan.
    plain: bool,
}

/// A cheap fingerprint of a key (length, first and last byte): equal keys have equal tags.
#[inline]
fn key_tag(key: &[u8]) -> u32 {
    match key {
        [] => 0,
        [first, .., last] => ((key.len() as u32) << 16) | ((*first as u32) << 8) | *last as u32,
        [only] => (1 << 16) | ((*only as u32) << 8) | *only as u32,
    }
}

/// The bit of a tag in [`ExtFields::bloom`]: a Fibonacci hash of the key's first and last
/// byte and length, which spreads runs of one-letter keys (`a`, `b`, … in V2 headers) over
/// distinct bits.
#[inline]
fn bloom_bit(tag: u32) -> u64 {
    let (len, first, last) = (tag >> 16, (tag >> 8) & 0xff, tag & 0xff);
    let x = first + (last << 5) + (len << 10);
    1 << (x.wrapping_mul(0x9E37_79B1) >> 26)
}

impl Span {
    fn key_len(&self) -> usize {
        self.mid - self.start
    }
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// Ordered string map of a command's `extFields`.
///
/// All keys and values live in one string arena (`buf`), indexed by `entries`, so a map
/// costs two allocations however many entries it has. Replacing a value appends the new
/// entry to the arena and leaves the old bytes as garbage; the arena is compacted when the
/// garbage outgrows the live data.
///
/// Invariant: keys are unique (insert replaces an existing key in place); every span lies on
/// `char` boundaries of `buf`; `garbage` counts the bytes of `buf` no span covers; `bloom`
/// has the [`bloom_bit`] of every live key set (and maybe others).
#[derive(Clone, Default)]
pub struct ExtFields {
    buf: String,
    entries: Vec<Span>,
    garbage: usize,
    bloom: u64,
}

impl ExtFields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Self::with_capacities(n, n.saturating_mul(16))
    }

    /// Room for `n` entries holding `bytes` bytes of keys and values together.
    pub(crate) fn with_capacities(n: usize, bytes: usize) -> Self {
        ExtFields {
            buf: String::with_capacity(bytes),
            entries: Vec::with_capacity(n),
            garbage: 0,
            bloom: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total bytes of the live keys and values.
    pub(crate) fn content_len(&self) -> usize {
        self.buf.len() - self.garbage
    }

    #[inline]
    fn value_of(&self, e: &Span) -> &str {
        &self.buf[e.mid..e.end]
    }

    /// The index of the entry whose key is `key`, whose tag is `tag`.
    #[inline]
    fn find(&self, key: &[u8], tag: u32) -> Option<usize> {
        if self.bloom & bloom_bit(tag) == 0 {
            return None;
        }
        let b = self.buf.as_bytes();
        self.entries.iter().position(|e| {
            e.tag == tag && e.key_len() == key.len() && b.get(e.start..e.mid) == Some(key)
        })
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.find(key.as_bytes(), key_tag(key.as_bytes()))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        let i = self.position(key)?;
        Some(self.value_of(&self.entries[i]))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Insert or replace `key`.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        self.insert_str(&key, &value);
    }

    /// Insert or replace `key`, copying both straight into the arena.
    pub(crate) fn insert_str(&mut self, key: &str, value: &str) {
        let start = self.buf.len();
        self.buf.push_str(key);
        let mid = self.buf.len();
        self.buf.push_str(value);
        self.commit(start, mid, false);
    }

    /// The arena, for a decoder to append an entry to without any intermediate `String`:
    /// take [`ExtFields::mark`], push the key, take the mark again, push the value, then
    /// [`ExtFields::commit`] (or [`ExtFields::abandon`]).
    #[inline]
    pub(crate) fn arena(&mut self) -> &mut String {
        &mut self.buf
    }

    /// The current end of the arena (start of the next entry, or the key/value boundary).
    #[inline]
    pub(crate) fn mark(&self) -> usize {
        self.buf.len()
    }

    /// Drop whatever was appended to the arena since `start`.
    #[inline]
    pub(crate) fn abandon(&mut self, start: usize) {
        self.buf.truncate(start);
    }

    /// Turn `buf[start..mid]` (key) and `buf[mid..]` (value), just appended, into an entry,
    /// replacing an existing entry of the same key in place. `plain`: the caller knows that
    /// neither holds a byte a JSON string must escape.
    #[inline]
    pub(crate) fn commit(&mut self, start: usize, mid: usize, plain: bool) {
        let end = self.buf.len();
        let Some(key) = self.buf.as_bytes().get(start..mid) else {
            // Not a pair appended by the caller: nothing to commit.
            return;
        };
        let tag = key_tag(key);
        let span = Span {
            start,
            mid,
            end,
            tag,
            plain,
        };
        let bit = bloom_bit(tag);
        if self.bloom & bit == 0 {
            // Certainly a new key.
            self.bloom |= bit;
            self.entries.push(span);
        } else {
            self.commit_slow(span);
        }
    }

    /// [`ExtFields::commit`] of a key that may be present already.
    #[cold]
    fn commit_slow(&mut self, span: Span) {
        let key = self
            .buf
            .as_bytes()
            .get(span.start..span.mid)
            .unwrap_or_default();
        match self.find(key, span.tag) {
            None => self.entries.push(span),
            Some(i) => {
                let old = std::mem::replace(&mut self.entries[i], span);
                self.garbage += old.len();
                self.maybe_compact();
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let pos = self.position(key)?;
        let e = self.entries.remove(pos);
        let value = self.value_of(&e).to_owned();
        if self.entries.is_empty() {
            self.buf.clear();
            self.garbage = 0;
            self.bloom = 0;
        } else {
            self.garbage += e.len();
            self.maybe_compact();
        }
        Some(value)
    }

    /// Rewrite the arena with only the live entries once the garbage outgrows them.
    fn maybe_compact(&mut self) {
        let live = self.buf.len() - self.garbage;
        if self.garbage <= live.max(64) {
            return;
        }
        let mut buf = String::with_capacity(live);
        for e in &mut self.entries {
            let start = buf.len();
            buf.push_str(&self.buf[e.start..e.end]);
            let key_len = e.key_len();
            *e = Span {
                start,
                mid: start + key_len,
                end: buf.len(),
                ..*e
            };
        }
        self.buf = buf;
        self.garbage = 0;
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            entries: self.entries.iter(),
        }
    }

    /// Like [`ExtFields::iter`], with whether each entry is known to need no JSON escapes.
    pub(crate) fn iter_plain(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        let buf = self.buf.as_str();
        self.entries
            .iter()
            .map(move |e| (&buf[e.start..e.mid], &buf[e.mid..e.end], e.plain))
    }

    // ---- typed access used by the header structs -------------------------------------

    /// A required string field.
    pub fn req_str(&self, ctx: &'static str, key: &'static str) -> Result<String> {
        self.get(key)
            .map(str::to_owned)
            .ok_or_else(|| CodecError::missing(ctx, key))
    }

    /// An optional string field.
    pub fn opt_str(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_owned)
    }

    /// A required 32-bit integer field.
    pub fn req_i32(&self, ctx: &'static str, key: &'static str) -> Result<i32> {
        let v = self.get(key).ok_or_else(|| CodecError::missing(ctx, key))?;
        parse_i32(ctx, key, v)
    }

    /// An optional 32-bit integer field (present but ill-typed is an error).
    pub fn opt_i32(&self, ctx: &'static str, key: &'static str) -> Result<Option<i32>> {
        self.get(key).map(|v| parse_i32(ctx, key, v)).transpose()
    }

    /// A required 64-bit integer field.
    pub fn req_i64(&self, ctx: &'static str, key: &'static str) -> Result<i64> {
        let v = self.get(key).ok_or_else(|| CodecError::missing(ctx, key))?;
        parse_i64(ctx, key, v)
    }

    /// An optional 64-bit integer field (present but ill-typed is an error).
    pub fn opt_i64(&self, ctx: &'static str, key: &'static str) -> Result<Option<i64>> {
        self.get(key).map(|v| parse_i64(ctx, key, v)).transpose()
    }

    /// A required boolean (Java `Boolean.parseBoolean`: only case-insensitive "true" is true).
    pub fn req_bool(&self, ctx: &'static str, key: &'static str) -> Result<bool> {
        let v = self.get(key).ok_or_else(|| CodecError::missing(ctx, key))?;
        Ok(parse_bool(v))
    }

    /// An optional boolean.
    pub fn opt_bool(&self, key: &str) -> Option<bool> {
        self.get(key).map(parse_bool)
    }

    /// An optional double.
    pub fn opt_f64(&self, ctx: &'static str, key: &'static str) -> Result<Option<f64>> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| CodecError::invalid_field(ctx, key, v, "number"))
            })
            .transpose()
    }

    // ---- typed insertion ---------------------------------------------------------------

    pub fn put_str(&mut self, key: &str, value: &str) {
        self.insert_str(key, value);
    }

    pub fn put_opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.insert_str(key, v);
        }
    }

    pub fn put_num<N: itoa_like::Decimal>(&mut self, key: &str, value: N) {
        let start = self.buf.len();
        self.buf.push_str(key);
        let mid = self.buf.len();
        value.write_decimal(&mut self.buf);
        self.commit(start, mid, false);
    }

    pub fn put_opt_num<N: itoa_like::Decimal>(&mut self, key: &str, value: Option<N>) {
        if let Some(v) = value {
            self.put_num(key, v);
        }
    }

    pub fn put_bool(&mut self, key: &str, value: bool) {
        self.insert_str(key, if value { "true" } else { "false" });
    }

    pub fn put_opt_bool(&mut self, key: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.put_bool(key, v);
        }
    }
}

impl PartialEq for ExtFields {
    /// Equal when they hold the same pairs in the same order (garbage does not count).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Entries<'a>(&'a ExtFields);
        impl fmt::Debug for Entries<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.iter()).finish()
            }
        }
        f.debug_struct("ExtFields")
            .field("entries", &Entries(self))
            .finish()
    }
}

impl FromIterator<(String, String)> for ExtFields {
    fn from_iter<T: IntoIterator<Item = (String, String)>>(iter: T) -> Self {
        let mut m = ExtFields::new();
        for (k, v) in iter {
            m.insert_str(&k, &v);
        }
        m
    }
}

/// Iterator over the `(key, value)` pairs of an [`ExtFields`], in order.
#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a str,
    entries: std::slice::Iter<'a, Span>,
}

impl<'a> Iter<'a> {
    #[inline]
    fn pair(&self, e: &Span) -> (&'a str, &'a str) {
        (&self.buf[e.start..e.mid], &self.buf[e.mid..e.end])
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let e = self.entries.next()?;
        Some(self.pair(e))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }

    #[inline]
    fn nth(&mut self, n: usize) -> Option<Self::Item> {
        let e = self.entries.nth(n)?;
        Some(self.pair(e))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        let e = self.entries.next_back()?;
        Some(self.pair(e))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl FusedIterator for Iter<'_> {}

impl fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<'a> IntoIterator for &'a ExtFields {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Java `Integer.parseInt` semantics (an optional sign, decimal digits), tolerating surrounding blanks.
pub fn parse_i32(ctx: &'static str, key: &str, v: &str) -> Result<i32> {
    v.trim()
        .parse::<i32>()
        .map_err(|_| CodecError::invalid_field(ctx, key, v, "32-bit integer"))
}

/// Java `Long.parseLong` semantics, tolerating surrounding blanks.
pub fn parse_i64(ctx: &'static str, key: &str, v: &str) -> Result<i64> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| CodecError::invalid_field(ctx, key, v, "64-bit integer"))
}

/// Java `Boolean.parseBoolean`: only "true", in any case, is true.
pub fn parse_bool(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true")
}

/// A typed command header, converted to and from `extFields` under the Java field names.
pub trait CommandHeader: Sized {
    /// Write every non-null field into `fields`.
    fn write_fields(&self, fields: &mut ExtFields);

    /// Read the header; a missing required field or an ill-typed value is an error naming it.
    fn read_fields(fields: &ExtFields) -> Result<Self>;

    /// Convenience: a fresh map holding this header.
    fn to_ext_fields(&self) -> ExtFields {
        let mut m = ExtFields::with_capacity(16);
        self.write_fields(&mut m);
        m
    }
}

/// Decimal formatting for the integer types used in headers.
pub mod itoa_like {
    /// A value written into `extFields` as its decimal text.
    pub trait Decimal: Copy {
        fn to_decimal(self) -> String;

        /// Append the decimal text to `out` (the same text as [`Decimal::to_decimal`]).
        fn write_decimal(self, out: &mut String) {
            out.push_str(&self.to_decimal());
        }
    }
    macro_rules! decimal {
        ($($t:ty),*) => {$(
            impl Decimal for $t {
                fn to_decimal(self) -> String { self.to_string() }
                fn write_decimal(self, out: &mut String) {
                    use std::fmt::Write as _;
                    // Writing into a String cannot fail.
                    let _ = write!(out, "{self}");
                }
            }
        )*};
    }
    decimal!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize, f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_and_keeps_order() {
        let mut m = ExtFields::new();
        m.insert("b", "1");
        m.insert("a", "2");
        m.insert("b", "3");
        let v: Vec<_> = m.iter().collect();
        assert_eq!(v, vec![("b", "3"), ("a", "2")]);
        assert_eq!(m.remove("b").as_deref(), Some("3"));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn replacing_leaves_bounded_garbage() {
        let mut m = ExtFields::new();
        m.insert("keep", "k");
        for i in 0..2000 {
            m.insert("v", "x".repeat(i % 300));
            m.put_num("n", i);
            assert_eq!(m.get("v").map(str::len), Some(i % 300));
            assert!(
                m.garbage <= m.content_len().max(64),
                "{} {}",
                m.garbage,
                m.content_len()
            );
        }
        assert_eq!(m.len(), 3);
        assert_eq!(m.get("keep"), Some("k"));
        assert_eq!(m.get("n"), Some("1999"));
        let v: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(v, ["keep", "v", "n"]);
    }

    #[test]
    fn equality_and_debug_ignore_the_arena() {
        let mut a = ExtFields::new();
        a.insert("x", "old value");
        a.insert("y", "2");
        a.insert("x", "1");
        let b: ExtFields = [("x", "1"), ("y", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(a, b);
        assert_eq!(a.clone(), b);
        assert_eq!(
            format!("{a:?}"),
            r#"ExtFields { entries: [("x", "1"), ("y", "2")] }"#
        );
        let mut c = b.clone();
        c.insert("y", "3");
        assert_ne!(a, c);
        let mut d = b.clone();
        assert_eq!(d.remove("y").as_deref(), Some("2"));
        assert_ne!(a, d);
        assert_eq!(d.remove("x").as_deref(), Some("1"));
        assert_eq!(d, ExtFields::new());
        assert!(d.is_empty() && d.buf.is_empty());
        assert_eq!(d.remove("x"), None);
    }

    #[test]
    fn lookups_with_many_similar_keys() {
        let mut m = ExtFields::with_capacity(4);
        let keys: Vec<String> = (0..200).map(|i| format!("k{i}k")).collect();
        for (i, k) in keys.iter().enumerate() {
            m.put_str(k, &i.to_string());
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.get(k), Some(i.to_string().as_str()));
        }
        assert!(!m.contains_key("k200k") && !m.contains_key("") && !m.contains_key("k"));
        m.put_str("", "empty");
        assert_eq!(m.get(""), Some("empty"));
        assert_eq!(m.iter().len(), 201);
        assert_eq!(m.iter().next_back(), Some(("", "empty")));
        assert_eq!((&m).into_iter().nth(1), Some(("k1k", "1")));
    }

    #[test]
    fn typed_access() {
        let mut m = ExtFields::new();
        m.put_num("q", 7i32);
        m.put_num("o", -9_000_000_000i64);
        m.put_bool("t", true);
        m.insert("bad", "x1");
        assert_eq!(m.req_i32("h", "q").unwrap(), 7);
        assert_eq!(m.req_i64("h", "o").unwrap(), -9_000_000_000);
        assert!(m.req_bool("h", "t").unwrap());
        assert_eq!(m.opt_bool("TRUE_missing"), None);
        let e = m.req_i32("h", "bad").unwrap_err();
        assert!(e.to_string().contains("'bad'"));
        let e = m.req_i32("h", "absent").unwrap_err();
        assert!(e.to_string().contains("'absent'"));
        assert!(parse_bool("TRUE"));
        assert!(!parse_bool("yes"));
    }
}
