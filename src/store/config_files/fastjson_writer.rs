//! A writer for fastjson 1.x's **pretty** format (`JSON.toJSONString(obj, true)`), which is
//! what the Java broker writes into `config/*.json`.
//!
//! The layout rules (fastjson `JavaBeanSerializer`, `MapSerializer`, `JSONSerializer.println`):
//!
//! * indentation is one TAB per level; a line break is `\n` followed by the indentation;
//! * a bean, or a map entry whose key is a **string**, starts on a new line:
//!   `{` ⏎ `"a":1,` ⏎ `"b":2` ⏎ `}` (the closing brace on its own line, one level out);
//! * a map entry whose key is **not** a string (queue ids, delay levels) is written inline,
//!   with the key unquoted: `{0:250,1:250` ⏎ `}` — the closing brace still goes on a new line
//!   when the map is not empty;
//! * an empty map is `{}`;
//! * arrays are written inline: `[a,b]` (fastjson's collection and primitive-array writers do
//!   not indent; the config files of 4.9.8 contain no arrays except inside consumerFilter.json,
//!   which is kept verbatim);
//! * no space after `:`; no line break at the end of the document;
//! * bean properties are sorted by name; `null` properties are left out;
//! * strings: `"` and `\` are escaped with a backslash, `\b \t \n \f \r` by their short forms,
//!   the other characters below U+0020, U+007F…U+009F, U+2028 and U+2029 as `\uXXXX` with
//!   upper-case hex digits; everything else (non-ASCII included) is written as is (UTF-8 in
//!   the file).
//!
//! The caller builds a [`Node`] tree with map entries already in the order Java would iterate
//! them (see [`super::java_order`]).

use serde::Serialize;
use serde_json::Value;

/// A map key: fastjson quotes string keys and writes numeric keys bare.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Str(String),
    Int(i64),
}

/// A value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    /// A non-integer number, written as `serde_json` formats it.
    Number(serde_json::Number),
    Str(String),
    /// A bean or a map; entries are written in this order.
    Object(Vec<(Key, Node)>),
    Array(Vec<Node>),
}

impl Node {
    /// A bean or string-keyed map from `(name, value)` pairs, in the given order.
    pub fn object<S: Into<String>>(entries: impl IntoIterator<Item = (S, Node)>) -> Node {
        Node::Object(
            entries
                .into_iter()
                .map(|(k, v)| (Key::Str(k.into()), v))
                .collect(),
        )
    }

    /// A map with integer keys, in the given order.
    pub fn int_map(entries: impl IntoIterator<Item = (i64, Node)>) -> Node {
        Node::Object(entries.into_iter().map(|(k, v)| (Key::Int(k), v)).collect())
    }

    /// Convert a JSON value. Object properties are sorted by name (fastjson's bean order);
    /// `null` properties are dropped (fastjson omits them).
    pub fn from_value(v: &Value) -> Node {
        match v {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Node::Int(i),
                None => Node::Number(n.clone()),
            },
            Value::String(s) => Node::Str(s.clone()),
            Value::Array(a) => Node::Array(a.iter().map(Node::from_value).collect()),
            Value::Object(m) => {
                let mut entries: Vec<(&String, &Value)> =
                    m.iter().filter(|(_, v)| !v.is_null()).collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Node::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Key::Str(k.clone()), Node::from_value(v)))
                        .collect(),
                )
            }
        }
    }

    /// Convert any serialisable bean (through `serde_json`); see [`Node::from_value`].
    /// A value `serde_json` cannot represent becomes `null`.
    pub fn from_serialize<T: Serialize + ?Sized>(v: &T) -> Node {
        match serde_json::to_value(v) {
            Ok(v) => Node::from_value(&v),
            Err(e) => {
                log::error!("cannot convert a config value to JSON: {e}");
                Node::Null
            }
        }
    }
}

/// Write `node` in fastjson's pretty format.
pub fn to_pretty_string(node: &Node) -> String {
    let mut w = Writer {
        out: String::with_capacity(256),
        indent: 0,
    };
    w.write(node);
    w.out
}

struct Writer {
    out: String,
    indent: usize,
}

impl Writer {
    fn println(&mut self) {
        self.out.push('\n');
        for _ in 0..self.indent {
            self.out.push('\t');
        }
    }

    fn write(&mut self, node: &Node) {
        match node {
            Node::Null => self.out.push_str("null"),
            Node::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Node::Int(i) => self.out.push_str(&i.to_string()),
            Node::Number(n) => self.out.push_str(&n.to_string()),
            Node::Str(s) => push_fastjson_string(&mut self.out, s),
            Node::Array(items) => {
                self.out.push('[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        self.out.push(',');
                    }
                    self.write(item);
                }
                self.out.push(']');
            }
            Node::Object(entries) => {
                self.out.push('{');
                self.indent += 1;
                for (n, (key, value)) in entries.iter().enumerate() {
                    if n > 0 {
                        self.out.push(',');
                    }
                    match key {
                        Key::Str(k) => {
                            self.println();
                            push_fastjson_string(&mut self.out, k);
                        }
                        Key::Int(k) => self.out.push_str(&k.to_string()),
                    }
                    self.out.push(':');
                    self.write(value);
                }
                self.indent -= 1;
                if !entries.is_empty() {
                    self.println();
                }
                self.out.push('}');
            }
        }
    }
}

/// Append `s` as a fastjson string literal (see the module docs for the escapes).
pub fn push_fastjson_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || (0x7f..0xa0).contains(&(c as u32))
                || c == '\u{2028}'
                || c == '\u{2029}' =>
            {
                let u = c as u32;
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(char::from(HEX[((u >> shift) & 0xf) as usize]));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn layout_matches_fastjson() {
        let n = Node::object([
            (
                "dataVersion",
                Node::object([("counter", Node::Int(2)), ("timestamp", Node::Int(17))]),
            ),
            (
                "offsetTable",
                Node::object([
                    (
                        "T@G",
                        Node::int_map([(0, Node::Int(250)), (1, Node::Int(-1))]),
                    ),
                    ("E@G", Node::int_map([])),
                ]),
            ),
            ("empty", Node::object(Vec::<(String, Node)>::new())),
        ]);
        assert_eq!(
            to_pretty_string(&n),
            "{\n\t\"dataVersion\":{\n\t\t\"counter\":2,\n\t\t\"timestamp\":17\n\t},\n\t\"offsetTable\":{\n\t\t\"T@G\":{0:250,1:-1\n\t\t},\n\t\t\"E@G\":{}\n\t},\n\t\"empty\":{}\n}"
        );
        assert_eq!(
            to_pretty_string(&Node::object(Vec::<(String, Node)>::new())),
            "{}"
        );
        assert_eq!(
            to_pretty_string(&Node::Array(vec![Node::Int(1), Node::Bool(false)])),
            "[1,false]"
        );
    }

    #[test]
    fn string_escapes() {
        let mut s = String::new();
        push_fastjson_string(
            &mut s,
            "a\"b\\c\u{8}\t\n\u{c}\r\u{1}\u{b}\u{7f}\u{9f}\u{a0}é标\u{2028}/",
        );
        assert_eq!(
            s,
            "\"a\\\"b\\\\c\\b\\t\\n\\f\\r\\u0001\\u000B\\u007F\\u009F\u{a0}é标\\u2028/\""
        );
    }

    #[test]
    fn from_value_sorts_and_drops_nulls() {
        let n = Node::from_value(&json!({"b": 1, "a": null, "A": "x", "c": [1.5, {"z": 1}]}));
        assert_eq!(
            to_pretty_string(&n),
            "{\n\t\"A\":\"x\",\n\t\"b\":1,\n\t\"c\":[1.5,{\n\t\t\"z\":1\n\t}]\n}"
        );
    }

    proptest! {
        #[test]
        fn output_parses_back(
            m in prop::collection::btree_map("[a-zA-Z0-9 \"\\\\\n\t\u{1}é\u{2028}]{0,8}",
                prop::collection::btree_map(any::<i32>(), any::<i64>(), 0..4), 0..4)
        ) {
            let n = Node::object(m.iter().map(|(k, v)| {
                (k.clone(), Node::int_map(v.iter().map(|(q, o)| (i64::from(*q), Node::Int(*o)))))
            }));
            let text = to_pretty_string(&n);
            let back: std::collections::BTreeMap<String, std::collections::BTreeMap<i32, i64>> =
                apogee_codec::fastjson::from_str("test", &text).unwrap();
            prop_assert_eq!(back, m);
        }
    }
}
