//! `extFields`: the string map that carries every typed ("custom") header.
//!
//! Java keeps it in a `HashMap<String,String>`; order carries no meaning on the wire.
//! We keep insertion order so that a decoded header re-encodes to the same bytes, and
//! so that output is deterministic. Lookups are linear: headers have at most a few
//! dozen entries, where a scan beats hashing.

use crate::error::{CodecError, Result};

/// Ordered string map of a command's `extFields`.
///
/// Invariant: keys are unique (insert replaces an existing key in place).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtFields {
    entries: Vec<(String, String)>,
}

impl ExtFields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        ExtFields {
            entries: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Insert or replace `key`.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.entries.push((key, value));
        }
    }

    /// Append without checking for an existing key. Only for decoders that
    /// have already checked (or for keys known to be fresh).
    pub(crate) fn push_unchecked(&mut self, key: String, value: String) {
        self.entries.push((key, value));
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let pos = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(pos).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
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
        self.insert(key, value);
    }

    pub fn put_opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.insert(key, v);
        }
    }

    pub fn put_num<N: itoa_like::Decimal>(&mut self, key: &str, value: N) {
        self.insert(key, value.to_decimal());
    }

    pub fn put_opt_num<N: itoa_like::Decimal>(&mut self, key: &str, value: Option<N>) {
        if let Some(v) = value {
            self.insert(key, v.to_decimal());
        }
    }

    pub fn put_bool(&mut self, key: &str, value: bool) {
        self.insert(key, if value { "true" } else { "false" });
    }

    pub fn put_opt_bool(&mut self, key: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.put_bool(key, v);
        }
    }
}

impl FromIterator<(String, String)> for ExtFields {
    fn from_iter<T: IntoIterator<Item = (String, String)>>(iter: T) -> Self {
        let mut m = ExtFields::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl<'a> IntoIterator for &'a ExtFields {
    type Item = (&'a str, &'a str);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a str, &'a str),
    >;
    fn into_iter(self) -> Self::IntoIter {
        fn pair(e: &(String, String)) -> (&str, &str) {
            (e.0.as_str(), e.1.as_str())
        }
        self.entries.iter().map(pair)
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
    }
    macro_rules! decimal {
        ($($t:ty),*) => {$(
            impl Decimal for $t {
                fn to_decimal(self) -> String { self.to_string() }
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
