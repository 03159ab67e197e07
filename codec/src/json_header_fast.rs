//! Fast path of the JSON header decoder, for headers shaped as Java (and Apogee) write them.
//!
//! [`parse`] accepts a strict subset of what the serde_json path accepts: one object whose
//! integer fields are plain JSON integers fitting an `i32`, whose `language`, `remark` and
//! unknown keys are strings, and whose `extFields` is an object of strings (or absent). On
//! that subset it produces exactly what the serde_json path produces (same field matching,
//! same "last duplicate wins" rules, same unescaping). Anything else — another value type,
//! `null`, a number with a fraction or exponent, a surrogate escape, invalid UTF-8, a syntax
//! error — returns `None`, and the caller runs the serde_json path, which then decides
//! (and reports errors) exactly as before.
//!
//! Keys and values of `extFields` are unescaped straight into the map's arena, so a header
//! costs the map's two allocations (plus the remark, if any).

use super::{field_of, Field, JsonHeader};
use crate::ext_fields::ExtFields;
use crate::language::LanguageCode;

/// Parse `header`, or `None` if it is outside the fast subset (see the module docs).
pub(super) fn parse(header: &[u8], ext_arena_max: usize) -> Option<JsonHeader> {
    // Valid UTF-8 as a whole means every slice cut at an ASCII delimiter is valid too.
    let text = std::str::from_utf8(header).ok()?;
    let mut p = Parser {
        text,
        bytes: header,
        pos: 0,
    };
    let mut h = JsonHeader::default();
    p.ws();
    p.eat(b'{')?;
    p.ws();
    if p.eat(b'}').is_none() {
        loop {
            // A key with escapes is left to serde_json (Java never writes one).
            let key = p.plain_str()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            match field_of(key) {
                Field::Code => h.code = Some(p.int()?),
                Field::Version => h.version = Some(p.int()?),
                Field::Opaque => h.opaque = Some(p.int()?),
                Field::Flag => h.flag = Some(p.int()?),
                Field::Language => h.language = Some(LanguageCode::from_name(p.plain_str()?)),
                Field::Remark => {
                    let mut remark = String::new();
                    p.str_into(&mut remark)?;
                    h.remark = Some(remark);
                }
                Field::ExtFields => {
                    // Unescaping never lengthens a string, so what is left of the header
                    // bounds the arena.
                    let room = header.len().saturating_sub(p.pos).min(ext_arena_max);
                    h.ext_fields = Some(p.ext_fields(room)?);
                }
                Field::Other => {
                    p.plain_str()?;
                }
            }
            p.ws();
            match p.bump()? {
                b',' => p.ws(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    p.ws();
    if p.pos != p.bytes.len() {
        return None;
    }
    Some(h)
}

struct Parser<'a> {
    text: &'a str,
    /// `text` as bytes.
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    /// JSON whitespace, as serde_json skips it.
    #[inline(always)]
    fn ws(&mut self) {
        // Compact JSON (what Java writes) has none: one comparison.
        if let Some(&b) = self.bytes.get(self.pos) {
            if b <= b' ' {
                self.skip_ws();
            }
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    #[inline]
    fn eat(&mut self, b: u8) -> Option<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string token without escapes, borrowed. `None` for anything else, escapes included.
    #[inline]
    fn plain_str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let end = find_special(self.bytes, start)?;
        if *self.bytes.get(end)? != b'"' {
            return None;
        }
        self.pos = end + 1;
        self.text.get(start..end)
    }

    /// A string token, unescaped and appended to `out`. `Some(true)` if it had no escapes
    /// (so that `out` got no byte a JSON string must escape). `None` for a control
    /// character, an invalid escape or a surrogate escape (left to serde_json).
    #[inline(always)]
    fn str_into(&mut self, out: &mut String) -> Option<bool> {
        self.eat(b'"')?;
        let mut seg = self.pos;
        let mut plain = true;
        loop {
            let at = find_special(self.bytes, seg)?;
            push_small(out, self.text.get(seg..at)?);
            match *self.bytes.get(at)? {
                b'"' => {
                    self.pos = at + 1;
                    return Some(plain);
                }
                b'\\' => {
                    plain = false;
                    seg = at + unescape_one(self.bytes.get(at..)?, out)?;
                }
                _ => return None,
            }
        }
    }

    /// A JSON integer (no fraction, no exponent, no leading zero, not `-0`) fitting an `i32`.
    fn int(&mut self) -> Option<i32> {
        let negative = self.eat(b'-').is_some();
        let first = self.bump()?;
        let mut n: i64 = match first {
            b'1'..=b'9' => (first - b'0') as i64,
            b'0' if !negative => 0,
            _ => return None,
        };
        let mut digits = 1;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            if n == 0 || digits == 10 {
                // A leading zero, or more digits than an i32 can have.
                return None;
            }
            n = n * 10 + (d - b'0') as i64;
            digits += 1;
            self.pos += 1;
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return None;
        }
        i32::try_from(if negative { -n } else { n }).ok()
    }

    /// The `extFields` object, keys and values unescaped into the arena. Only string values.
    fn ext_fields(&mut self, arena: usize) -> Option<ExtFields> {
        self.eat(b'{')?;
        let mut fields = ExtFields::with_capacities(16, arena);
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(fields);
        }
        loop {
            let start = fields.mark();
            let key_plain = self.str_into(fields.arena())?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let mid = fields.mark();
            let value_plain = self.str_into(fields.arena())?;
            // A duplicated key keeps the last value, in the first one's place.
            fields.commit(start, mid, key_plain && value_plain);
            if fields.len() > crate::ext_fields::MAX_EXT_FIELDS {
                // The slow path reports the error.
                return None;
            }
            self.ws();
            match self.bump()? {
                b',' => self.ws(),
                b'}' => return Some(fields),
                _ => return None,
            }
        }
    }
}

/// The index of the first byte at or after `from` that is special in a JSON string
/// (`"`, `\\`, or a control character below 0x20), if any.
#[inline]
fn find_special(bytes: &[u8], from: usize) -> Option<usize> {
    Some(from + super::find_special(bytes.get(from..)?)?)
}

/// `out.push_str(s)`, without a `memcpy` call for the one-byte strings that V2 headers are
/// full of.
#[inline]
fn push_small(out: &mut String, s: &str) {
    match s.as_bytes() {
        [] => {}
        // A one-byte string is one ASCII char.
        [b] => out.push(char::from(*b)),
        _ => out.push_str(s),
    }
}

/// Decode the escape at the start of `esc` (which starts with the backslash) into `out`;
/// the number of bytes it took. `None` for an invalid escape or one this path leaves to
/// serde_json (a surrogate `\u` escape, lone or paired).
#[inline]
fn unescape_one(esc: &[u8], out: &mut String) -> Option<usize> {
    let c = match *esc.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let &[a, b, c, d] = esc.get(2..6)? else {
                return None;
            };
            let n = (hex(a)? << 12) | (hex(b)? << 8) | (hex(c)? << 4) | hex(d)?;
            if n < 0x80 {
                // The usual case (control characters such as the property separators).
                out.push(char::from(n as u8));
            } else {
                out.push(char::from_u32(n)?);
            }
            return Some(6);
        }
        _ => return None,
    };
    out.push(c);
    Some(2)
}

#[inline]
fn hex(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some((b - b'0') as u32),
        b'a'..=b'f' => Some((b - b'a' + 10) as u32),
        b'A'..=b'F' => Some((b - b'A' + 10) as u32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string token `"raw"`, unescaped.
    fn unescape(raw: &str) -> Option<String> {
        let quoted = format!("\"{raw}\"");
        let mut p = Parser {
            text: &quoted,
            bytes: quoted.as_bytes(),
            pos: 0,
        };
        let mut s = String::new();
        p.str_into(&mut s)?;
        (p.pos == quoted.len()).then_some(s)
    }

    #[test]
    fn unescapes_like_json() {
        assert_eq!(
            unescape(r#"a\"b\\c\/d\b\f\n\r\t"#).as_deref(),
            Some("a\"b\\c/d\u{8}\u{c}\n\r\t")
        );
        assert_eq!(
            unescape(r"\u0001x\u00e9\u6807").as_deref(),
            Some("\u{1}xé标")
        );
        assert_eq!(unescape(r"\uD83D\uDE00"), None);
        assert_eq!(unescape(r"\u12"), None);
        assert_eq!(unescape(r"\u12g4"), None);
        assert_eq!(unescape(r"\x"), None);
        assert_eq!(unescape("\\"), None);
    }

    #[test]
    fn leaves_the_unusual_to_serde_json() {
        for h in [
            &br#"{"code":1,"extFields":{"a":1}}"#[..],
            br#"{"code":1.0}"#,
            br#"{"code":01}"#,
            br#"{"code":-0}"#,
            br#"{"code":2147483648}"#,
            br#"{"code":"1"}"#,
            br#"{"code":null}"#,
            br#"{"code":1,}"#,
            br#"{"code":1} x"#,
            br#"{"code":1,"language":2}"#,
            br#"{"code":1,"x":[1]}"#,
            b"{\"code\":1,\"remark\":\"a\x01\"}",
            b"{\"code\":1,\"remark\":\"\xff\"}",
        ] {
            assert!(parse(h, 4096).is_none(), "{}", String::from_utf8_lossy(h));
        }
        // Escapes outside extFields and remark are left to serde_json too.
        assert!(parse(br#"{"code":1,"x":"\""}"#, 4096).is_none());
        let h = parse(
            br#" {"CODE" : -12 , "ext_fields":{"a":"\u0001","a":"b"},"x":"y" } "#,
            4096,
        )
        .expect("fast");
        assert_eq!(h.code, Some(-12));
        let ext = h.ext_fields.expect("ext");
        assert_eq!(ext.iter().collect::<Vec<_>>(), vec![("a", "b")]);
    }
}
