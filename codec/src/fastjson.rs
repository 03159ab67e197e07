//! The fastjson dialect: turning what Java's fastjson 1.x writes into standard JSON.
//!
//! Java's RocketMQ serialises bodies with fastjson. With default features, fastjson writes a
//! map whose keys are not strings with the keys **unquoted**:
//!
//! * `HashMap<Long,String>` → `{0:"10.0.0.5:10911",1:"10.0.0.6:10911"}`
//! * `Map<Integer,Long>` → `{0:17}`
//! * a map keyed by a bean (`MessageQueue`) → the bean itself as the key:
//!   `{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":5}}`
//!
//! Standard JSON parsers reject all of that. This module does **not** parse JSON; it is a small
//! scanner that tracks string literals (and their escapes), container nesting, and whether the
//! next token sits in object-key position. Every key that is not a double-quoted string (a bare
//! number, a bare identifier, a `'single-quoted'` string, or a nested `{...}` / `[...]` value)
//! is rewritten into a double-quoted JSON string; a composite key becomes its own compact JSON
//! text, which is exactly what fastjson's `BrowserCompatible` feature writes. Input that is
//! already standard comes back as [`Cow::Borrowed`] without any allocation. `serde_json` then
//! parses the result.
//!
//! fastjson also writes `{"$ref":"$.a.b[0]"}` for repeated references. Such objects are
//! ordinary JSON and pass through untouched; the body types ignore the unknown `$ref` key, so a
//! reference where a bean is expected decodes to that bean's defaults instead of failing.
//!
//! Bounds: container nesting deeper than [`MAX_DEPTH`] and keys nested inside keys more than
//! [`MAX_KEY_NESTING`] levels are clean errors (each level of key-in-key doubles the escaping,
//! so this also bounds the output size). The scanner keeps its nesting on a heap stack; the
//! only recursion is one call per key-in-key level, so at most [`MAX_KEY_NESTING`] deep.

use std::borrow::Cow;

use serde::de::DeserializeOwned;

use crate::body::MessageQueue;
use crate::error::{CodecError, Result};

/// Deepest container nesting the normaliser accepts.
pub const MAX_DEPTH: usize = 512;

/// How many levels of "a composite key inside a composite key" are accepted. Real bodies have
/// one level (a `MessageQueue` key); each level doubles the backslashes of the inner text.
pub const MAX_KEY_NESTING: usize = 4;

const CTX: &str = "fastjson";

/// Rewrite fastjson text into standard JSON (see the module docs).
///
/// Returns the input unchanged (borrowed) when there is nothing to rewrite. Only structural
/// problems the rewrite itself depends on are reported (nesting too deep, an unterminated
/// composite key); anything else that is not JSON is passed through for `serde_json` to reject.
pub fn normalize(input: &str) -> Result<Cow<'_, str>> {
    normalize_inner(input, MAX_DEPTH, 0)
}

/// [`normalize`] for raw bytes. Invalid UTF-8 is replaced by U+FFFD, as Java's decoder does.
pub fn normalize_bytes(input: &[u8]) -> Result<Cow<'_, str>> {
    match String::from_utf8_lossy(input) {
        Cow::Borrowed(text) => normalize(text),
        Cow::Owned(text) => Ok(Cow::Owned(normalize(&text)?.into_owned())),
    }
}

/// Parse a body written by fastjson (or by anyone writing standard JSON) into `T`.
///
/// `context` names the body in errors (e.g. `"TopicRouteData"`).
pub fn from_slice<T: DeserializeOwned>(context: &'static str, bytes: &[u8]) -> Result<T> {
    let text = normalize_bytes(bytes).map_err(|e| CodecError { context, ..e })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    serde_json::from_str(text).map_err(|e| {
        let mut err = CodecError::json(context, &e);
        err.offset = byte_offset(text, e.line(), e.column());
        err
    })
}

/// [`from_slice`] for text.
pub fn from_str<T: DeserializeOwned>(context: &'static str, text: &str) -> Result<T> {
    from_slice(context, text.as_bytes())
}

/// Parse fastjson text into an untyped [`serde_json::Value`] (map keys become strings).
pub fn parse_value(bytes: &[u8]) -> Result<serde_json::Value> {
    from_slice("JSON body", bytes)
}

/// Re-parse a map key that holds the JSON text of a `MessageQueue`, as produced by
/// [`normalize`] from a fastjson object key, or by fastjson's `BrowserCompatible` writer.
pub fn parse_message_queue_key(key: &str) -> Result<MessageQueue> {
    from_str("MessageQueue map key", key)
}

/// Turn a map whose keys are `MessageQueue` JSON texts into one keyed by [`MessageQueue`].
pub fn parse_message_queue_map<V>(
    entries: impl IntoIterator<Item = (String, V)>,
) -> Result<std::collections::BTreeMap<MessageQueue, V>> {
    entries
        .into_iter()
        .map(|(k, v)| parse_message_queue_key(&k).map(|mq| (mq, v)))
        .collect()
}

/// Write `s` as a JSON string literal (with the quotes), escaping what JSON requires.
pub fn quote_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_string(&mut out, s);
    out
}

/// Append `s` to `out` as a JSON string literal.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---- the scanner ----------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Frame {
    Object { expect_key: bool },
    Array,
}

/// Copy-on-write output: nothing is allocated until the first rewrite.
struct Out<'a> {
    src: &'a str,
    buf: Option<String>,
    copied: usize,
}

impl<'a> Out<'a> {
    fn new(src: &'a str) -> Self {
        Out {
            src,
            buf: None,
            copied: 0,
        }
    }

    /// Replace `src[start..end]` with `with`.
    fn replace(&mut self, start: usize, end: usize, with: &str) {
        let src = self.src;
        let buf = self
            .buf
            .get_or_insert_with(|| String::with_capacity(src.len() + src.len() / 4 + 16));
        buf.push_str(src.get(self.copied..start).unwrap_or(""));
        buf.push_str(with);
        self.copied = end;
    }

    fn finish(self) -> Cow<'a, str> {
        match self.buf {
            None => Cow::Borrowed(self.src),
            Some(mut buf) => {
                buf.push_str(self.src.get(self.copied..).unwrap_or(""));
                Cow::Owned(buf)
            }
        }
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

/// Bytes that end a bare token (number, identifier, literal).
fn is_delim(b: u8) -> bool {
    is_ws(b) || matches!(b, b':' | b',' | b'{' | b'}' | b'[' | b']' | b'"' | b'\'')
}

/// Index just after the string literal opened by the quote at `start`; the input length if
/// the literal is unterminated (the parser reports that later).
fn skip_string(b: &[u8], start: usize) -> usize {
    let quote = b[start];
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Index just after the bracket that closes the one at `start`. Iterative; brackets inside
/// string literals do not count.
fn matching_close(b: &[u8], start: usize, budget: usize) -> Result<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                i = skip_string(b, i);
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > budget {
                    return Err(too_deep(i));
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(CodecError::invalid(
        CTX,
        start,
        "unterminated object or array used as a map key",
    ))
}

fn too_deep(offset: usize) -> CodecError {
    CodecError::invalid(
        CTX,
        offset,
        format!("JSON nested deeper than {MAX_DEPTH} levels"),
    )
}

/// Rewrite a `'single quoted'` literal (including its quotes) into a JSON string literal.
fn requote_single(lit: &str) -> String {
    let inner = lit
        .strip_prefix('\'')
        .map(|s| s.strip_suffix('\'').unwrap_or(s))
        .unwrap_or(lit);
    let mut out = String::with_capacity(inner.len() + 2);
    out.push('"');
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\'') => out.push('\''),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push_str("\\\\"),
            },
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Drop insignificant whitespace from standard JSON text.
fn minify(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    if !b.iter().any(|&c| is_ws(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = Out::new(s);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => i = skip_string(b, i),
            c if is_ws(c) => {
                let start = i;
                while i < b.len() && is_ws(b[i]) {
                    i += 1;
                }
                out.replace(start, i, "");
            }
            _ => i += 1,
        }
    }
    out.finish()
}

fn normalize_inner(input: &str, budget: usize, key_level: usize) -> Result<Cow<'_, str>> {
    let b = input.as_bytes();
    let mut out = Out::new(input);
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let in_key = matches!(stack.last(), Some(Frame::Object { expect_key: true }));
        match c {
            c if is_ws(c) => i += 1,
            b'"' => i = skip_string(b, i),
            b'\'' => {
                let end = skip_string(b, i);
                let lit = input.get(i..end).unwrap_or("");
                out.replace(i, end, &requote_single(lit));
                i = end;
            }
            b'{' | b'[' if in_key => {
                // A bean or collection used as a map key: its compact JSON text becomes the key.
                if key_level >= MAX_KEY_NESTING {
                    return Err(CodecError::invalid(
                        CTX,
                        i,
                        format!("map keys nested inside keys more than {MAX_KEY_NESTING} levels"),
                    ));
                }
                let room = budget.saturating_sub(stack.len());
                let end = matching_close(b, i, room)?;
                let raw = input.get(i..end).unwrap_or("");
                let inner = normalize_inner(raw, room, key_level + 1).map_err(|e| e.at(i))?;
                let key = quote_json_string(&minify(&inner));
                out.replace(i, end, &key);
                i = end;
            }
            b'{' | b'[' => {
                if stack.len() >= budget {
                    return Err(too_deep(i));
                }
                stack.push(if c == b'{' {
                    Frame::Object { expect_key: true }
                } else {
                    Frame::Array
                });
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                i += 1;
            }
            b':' => {
                if let Some(Frame::Object { expect_key }) = stack.last_mut() {
                    *expect_key = false;
                }
                i += 1;
            }
            b',' => {
                if let Some(Frame::Object { expect_key }) = stack.last_mut() {
                    *expect_key = true;
                }
                i += 1;
            }
            _ => {
                let start = i;
                i += 1;
                while i < b.len() && !is_delim(b[i]) {
                    i += 1;
                }
                if in_key {
                    // A bare number or identifier used as a key.
                    let token = input.get(start..i).unwrap_or("");
                    out.replace(start, i, &quote_json_string(token));
                }
            }
        }
    }
    Ok(out.finish())
}

/// Byte offset of a serde_json (1-based line, 1-based column) position.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    if line == 0 {
        return 0;
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    line_start + column.saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn norm(s: &str) -> String {
        normalize(s).expect("normalise").into_owned()
    }

    #[test]
    fn standard_json_is_borrowed() {
        for s in [
            r#"{"a":1,"b":[1,2,{"c":"d"}],"e":{"0":"x"}}"#,
            "[]",
            "{}",
            "  { \"k\" : \"v:{}[],\\\"\" }  ",
            r#""just a string""#,
            "17",
            "",
        ] {
            assert!(matches!(normalize(s).unwrap(), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn numeric_keys_are_quoted() {
        assert_eq!(
            norm(r#"{0:"127.0.0.1:10911",1:"127.0.0.2:10911"}"#),
            r#"{"0":"127.0.0.1:10911","1":"127.0.0.2:10911"}"#
        );
        assert_eq!(norm("{0:17}"), r#"{"0":17}"#);
        assert_eq!(norm("{ -1 : 17 , 2:3}"), r#"{ "-1" : 17 , "2":3}"#);
        assert_eq!(norm("{abc:true}"), r#"{"abc":true}"#);
        // values are left alone, even bare ones
        assert_eq!(norm(r#"{"a":[0,1,{2:null}]}"#), r#"{"a":[0,1,{"2":null}]}"#);
    }

    #[test]
    fn bean_keys_become_their_json_text() {
        let s = r#"{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":5}}"#;
        let v: Value = serde_json::from_str(&norm(s)).unwrap();
        let key = r#"{"brokerName":"b","queueId":0,"topic":"T"}"#;
        assert_eq!(v, json!({ key: {"brokerOffset": 5} }));
        // pretty-printed keys are compacted; keys inside keys are normalised too
        let s = "{\n\t{\n\t\t\"a\":1, 2:3\n\t}:[{\"x\" : 1}]}";
        let out = norm(s);
        assert_eq!(out, "{\n\t\"{\\\"a\\\":1,\\\"2\\\":3}\":[{\"x\" : 1}]}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[r#"{"a":1,"2":3}"#][0]["x"], 1);
    }

    #[test]
    fn composite_key_with_array_and_nested_keys() {
        let v: Value = serde_json::from_str(&norm(r#"{[1,2]:"a",{{"k":1}:2}:"b"}"#)).unwrap();
        assert_eq!(v["[1,2]"], "a");
        assert_eq!(v[r#"{"{\"k\":1}":2}"#], "b");
    }

    #[test]
    fn single_quotes_are_requoted() {
        assert_eq!(norm(r#"{'a':'it\'s "x"'}"#), r#"{"a":"it's \"x\""}"#);
    }

    #[test]
    fn strings_hide_structure() {
        let s = r#"{"a":"{0:1}","b\"":"\\",7:"}"}"#;
        assert_eq!(norm(s), r#"{"a":"{0:1}","b\"":"\\","7":"}"}"#);
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert!(normalize(&deep).is_err());
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(normalize(&ok).is_ok());
        // deep key: unterminated and too deep
        let key = format!("{{{}", "{".repeat(MAX_DEPTH + 5));
        assert!(normalize(&key).is_err());
        // keys inside keys beyond the bound
        let mut s = String::from("1");
        for _ in 0..(MAX_KEY_NESTING + 2) {
            s = format!("{{{s}:1}}");
        }
        assert!(normalize(&s).is_err());
        // within the bound works
        let mut s = String::from("\"a\"");
        for _ in 0..MAX_KEY_NESTING {
            s = format!("{{{s}:1}}");
        }
        assert!(normalize(&s).is_ok());
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for s in [
            "{",
            "}",
            "]]]",
            "{{",
            "{'",
            "{\"",
            "{1",
            "{{]:",
            "\\",
            "{'\\",
            "[{:,}]",
            "{,:,}",
            "{é:1}",
            "{\"\\u12",
            "{ {\"a\":\"}\"",
            "\u{feff}{0:1}",
        ] {
            let _ = normalize(s);
            let _ = parse_value(s.as_bytes());
        }
    }

    #[test]
    fn ref_objects_pass_through() {
        let v = parse_value(br#"{"a":{"x":1},"b":{"$ref":"$.a"}}"#).unwrap();
        assert_eq!(v["b"]["$ref"], "$.a");
    }

    #[test]
    fn message_queue_keys() {
        let mq =
            parse_message_queue_key(r#"{"brokerName":"b","queueId":"3","topic":"T"}"#).unwrap();
        assert_eq!(mq, MessageQueue::new("T", "b", 3));
        assert!(parse_message_queue_key("nope").is_err());
        let m = parse_message_queue_map(vec![(mq.to_json_key(), 5i64)]).unwrap();
        assert_eq!(m[&mq], 5);
    }

    #[test]
    fn errors_carry_context_and_offset() {
        let e = from_slice::<Value>("TopicRouteData", b"{\"a\":}").unwrap_err();
        assert_eq!(e.context, "TopicRouteData");
        assert_eq!(e.offset, 5);
        let e = from_slice::<Value>("X", "[".repeat(600).as_bytes()).unwrap_err();
        assert_eq!(e.context, "X");
    }

    // ---- property tests -------------------------------------------------------------------

    fn mq_key() -> impl Strategy<Value = String> {
        (
            "[a-zA-Z%@_-]{0,8}",
            any::<i32>(),
            "[a-zA-Z0-9\"\\\\ é:]{0,8}",
        )
            .prop_map(|(b, q, t)| MessageQueue::new(t, b, q).to_json_key())
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 _\"\\\\:{}\\[\\],'é\n]{0,10}",
            any::<i64>().prop_map(|n| n.to_string()),
            "[a-zA-Z_][a-zA-Z0-9_]{0,6}",
            mq_key(),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1000i32..1000).prop_map(|x| Value::from(f64::from(x) / 4.0)),
            "[a-zA-Z0-9 \"\\\\{}:,'é\t]{0,10}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Write `v` the way fastjson does without BrowserCompatible: integer-like and
    /// identifier-like keys bare, keys holding JSON objects as raw JSON.
    fn write_fastjson(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                out.push('{');
                for (n, (k, v)) in m.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    let bare_ok = !k.is_empty()
                        && (k.parse::<i64>().is_ok()
                            || (k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                                && !k.starts_with(|c: char| c.is_ascii_digit())));
                    // a key holding compact JSON object text is what a bean key looks like
                    let bean_key = k.starts_with('{')
                        && serde_json::from_str::<Value>(k).is_ok_and(|x| {
                            x.is_object() && serde_json::to_string(&x).unwrap() == *k
                        });
                    if bare_ok || bean_key {
                        out.push_str(k);
                    } else {
                        out.push_str(&serde_json::to_string(k).unwrap());
                    }
                    out.push(':');
                    write_fastjson(v, out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (n, v) in a.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    write_fastjson(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&serde_json::to_string(other).unwrap()),
        }
    }

    proptest! {
        #[test]
        fn standard_json_is_identity(v in value()) {
            let compact = serde_json::to_string(&v).unwrap();
            let n = normalize(&compact).unwrap();
            prop_assert!(matches!(n, Cow::Borrowed(_)));
            prop_assert_eq!(n.as_ref(), compact.as_str());
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            let n = normalize(&pretty).unwrap();
            prop_assert!(matches!(n, Cow::Borrowed(_)));
            prop_assert_eq!(n.as_ref(), pretty.as_str());
        }

        #[test]
        fn fastjson_form_parses_to_the_standard_value(v in value()) {
            let mut fj = String::new();
            write_fastjson(&v, &mut fj);
            let parsed = parse_value(fj.as_bytes()).unwrap();
            prop_assert_eq!(parsed, v);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "[{}\\[\\]:,\"'\\\\a0 ]{0,40}") {
            let _ = normalize(&s);
            let _ = parse_value(s.as_bytes());
        }
    }
}
