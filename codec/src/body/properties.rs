//! `java.util.Properties` text: the bodies of GET_BROKER_CONFIG (26) / UPDATE_BROKER_CONFIG (25)
//! and the name server's GET/UPDATE_NAMESRV_CONFIG (319/318).
//!
//! Java writes these with `MixAll.properties2String` (`key=value\n` per non-null entry, no
//! escaping) and reads them with `Properties.load`, whose rules this module follows:
//!
//! * lines end at `\n`, `\r` or `\r\n`; blank lines and lines whose first non-blank character is
//!   `#` or `!` are comments;
//! * leading blanks (space, tab, form feed) of a line are dropped;
//! * the key ends at the first unescaped `=`, `:` or blank; blanks around one separator
//!   are skipped; the value is the rest of the line;
//! * a line ending in an odd number of backslashes continues on the next line (whose leading
//!   blanks are dropped);
//! * escapes: `\t` `\n` `\r` `\f`, `\uXXXX`, and `\x` → `x` for any other character.
//!
//! [`write()`] escapes what `Properties.load` would otherwise alter (backslashes, line breaks,
//! leading blanks, separators in keys) and writes non-ASCII characters as `\uXXXX`, because
//! Java's `load(InputStream)` reads ISO-8859-1. Plain values come out exactly as
//! `properties2String` writes them.

use std::collections::BTreeMap;

/// Parse properties text (later duplicates win, as in Java).
pub fn parse(text: &str) -> BTreeMap<String, String> {
    parse_entries(text).into_iter().collect()
}

/// Parse properties bytes: UTF-8 (what Java's `properties2String` produces), falling back to
/// ISO-8859-1 for bytes that are not UTF-8.
pub fn parse_bytes(bytes: &[u8]) -> BTreeMap<String, String> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(_) => parse(&bytes.iter().map(|&b| char::from(b)).collect::<String>()),
    }
}

/// Parse properties text into entries in file order (duplicates kept).
pub fn parse_entries(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in logical_lines(text) {
        out.push(split_entry(&line));
    }
    out
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Split into logical lines: comments and blank lines dropped, continuations joined, leading
/// blanks removed. Escapes are left in place (a continuation's backslash is removed).
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    let mut rest = text;
    while !rest.is_empty() {
        let (raw, next) = match rest.find(['\n', '\r']) {
            Some(i) => {
                let nl = rest.as_bytes()[i];
                let skip = if nl == b'\r' && rest.as_bytes().get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                (&rest[..i], &rest[i + skip..])
            }
            None => (rest, ""),
        };
        rest = next;
        let trimmed = raw.trim_start_matches(is_blank);
        let continuing = current.is_some();
        if !continuing && (trimmed.is_empty() || trimmed.starts_with(['#', '!'])) {
            continue;
        }
        let trailing = trimmed.chars().rev().take_while(|&c| c == '\\').count();
        let buf = current.get_or_insert_with(String::new);
        if trailing % 2 == 1 {
            buf.push_str(&trimmed[..trimmed.len() - 1]);
            if rest.is_empty() {
                // a continuation at the very end: Java drops the backslash and ends the line
                lines.extend(current.take());
            }
        } else {
            buf.push_str(trimmed);
            lines.extend(current.take());
        }
    }
    lines.extend(current);
    lines
}

fn split_entry(line: &str) -> (String, String) {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut key_end = chars.len();
    let mut value_start = chars.len();
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            i += 2;
            continue;
        }
        if c == '=' || c == ':' {
            key_end = i;
            value_start = i + 1;
            break;
        }
        if is_blank(c) {
            key_end = i;
            let mut j = i;
            while j < chars.len() && is_blank(chars[j]) {
                j += 1;
            }
            if j < chars.len() && (chars[j] == '=' || chars[j] == ':') {
                j += 1;
            }
            value_start = j;
            break;
        }
        i += 1;
    }
    let key_end = key_end.min(chars.len());
    let mut v = value_start.min(chars.len());
    while v < chars.len() && is_blank(chars[v]) {
        v += 1;
    }
    (unescape(&chars[..key_end]), unescape(&chars[v..]))
}

fn unescape(chars: &[char]) -> String {
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = chars.get(i) else {
            break;
        };
        i += 1;
        match e {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\u{c}'),
            'u' => {
                let hex: String = chars.iter().skip(i).take(4).collect();
                match (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                {
                    Some(unit) => {
                        i += 4;
                        push_utf16_unit(&mut out, unit, chars, &mut i);
                    }
                    // Java throws "Malformed \uxxxx encoding"; keep the text instead.
                    None => out.push('u'),
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Push a UTF-16 code unit, pairing a high surrogate with a following `\uXXXX` low one.
fn push_utf16_unit(out: &mut String, unit: u32, chars: &[char], i: &mut usize) {
    if (0xD800..0xDC00).contains(&unit)
        && chars.get(*i) == Some(&'\\')
        && chars.get(*i + 1) == Some(&'u')
    {
        let hex: String = chars.iter().skip(*i + 2).take(4).collect();
        if let Ok(low) = u32::from_str_radix(&hex, 16) {
            if hex.len() == 4 && (0xDC00..0xE000).contains(&low) {
                let cp = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                *i += 6;
                return;
            }
        }
    }
    out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
}

/// Write `key=value\n` lines (see the module docs for the escaping).
pub fn write<K, V>(entries: impl IntoIterator<Item = (K, V)>) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut out = String::new();
    for (k, v) in entries {
        escape_into(&mut out, k.as_ref(), true);
        out.push('=');
        escape_into(&mut out, v.as_ref(), false);
        out.push('\n');
    }
    out
}

fn escape_into(out: &mut String, s: &str, is_key: bool) {
    for (n, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            ' ' if is_key || n == 0 => out.push_str("\\ "),
            '=' | ':' if is_key => {
                out.push('\\');
                out.push(c);
            }
            '#' | '!' if is_key && n == 0 => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{:04X}", u));
                }
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn java_rules() {
        let text = "# comment\n! also\n\n   brokerName = broker-a\nlistenPort:10911\nflag true\n\
                    storePathRootDir=C:\\\\store\nmsg=a\\\n    b\\\\\nempty=\nkey\\ with\\=sep=v\r\n\
                    uni=\\u00e9\\u4e2d\\uD83D\\uDE00\nbad=\\u12\n  # indented comment\nlast=x\\";
        let p = parse(text);
        assert_eq!(p["brokerName"], "broker-a");
        assert_eq!(p["listenPort"], "10911");
        assert_eq!(p["flag"], "true");
        assert_eq!(p["storePathRootDir"], "C:\\store");
        assert_eq!(p["msg"], "ab\\");
        assert_eq!(p["empty"], "");
        assert_eq!(p["key with=sep"], "v");
        assert_eq!(p["uni"], "é中😀");
        assert_eq!(p["bad"], "u12");
        assert_eq!(p["last"], "x");
        assert!(!p.contains_key("#"));
        assert_eq!(p.len(), 10);
    }

    #[test]
    fn writes_like_properties2string() {
        assert_eq!(
            write([("brokerName", "broker-a"), ("listenPort", "10911")]),
            "brokerName=broker-a\nlistenPort=10911\n"
        );
        assert_eq!(write([("a b", " x\\é\n")]), "a\\ b=\\ x\\\\\\u00E9\\n\n");
        assert_eq!(
            parse_bytes(b"a=\xe9").get("a").map(String::as_str),
            Some("é")
        );
    }

    proptest! {
        #[test]
        fn round_trip(m in prop::collection::btree_map("\\PC{0,8}", "\\PC{0,8}|[ \\\\\n\r\t=:#!]{0,4}", 0..6)) {
            let text = write(&m);
            prop_assert_eq!(parse(&text), m);
        }

        #[test]
        fn never_panics(s in "[a-z=:\\\\ \n\r#!u0-9]{0,40}") {
            let _ = parse(&s);
        }
    }
}
