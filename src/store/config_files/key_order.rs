//! The order in which object keys appear in a config file.
//!
//! The body types of the codec keep their tables in `BTreeMap`s, which forgets the order of the
//! file. Java's fastjson, however, builds each table by inserting the entries in file order,
//! and for some tables (consumer offsets) that order decides the table's iteration order and
//! so the order of the next file Java writes (see [`super::java_order`]). [`KeyTree`] recovers
//! it with a second, structure-only parse.

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The object structure of a JSON document: every object with its keys in file order, values
/// that are not objects reduced to [`KeyTree::Leaf`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyTree {
    Leaf,
    Object(Vec<(String, KeyTree)>),
}

impl KeyTree {
    /// Parse fastjson text (unquoted keys allowed). `None` if it is not JSON.
    pub fn parse(bytes: &[u8]) -> Option<KeyTree> {
        let text = apogee_codec::fastjson::normalize_bytes(bytes).ok()?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        serde_json::from_str(text).ok()
    }

    /// The member `key` of an object (the first one if repeated).
    pub fn get(&self, key: &str) -> Option<&KeyTree> {
        match self {
            KeyTree::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            KeyTree::Leaf => None,
        }
    }

    /// The keys of an object in file order (empty for a leaf).
    pub fn keys(&self) -> Vec<&str> {
        match self {
            KeyTree::Object(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            KeyTree::Leaf => Vec::new(),
        }
    }
}

impl<'de> Deserialize<'de> for KeyTree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyTreeVisitor)
    }
}

struct KeyTreeVisitor;

impl<'de> Visitor<'de> for KeyTreeVisitor {
    type Value = KeyTree;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyTree, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value::<KeyTree>()?;
            entries.push((k, v));
        }
        Ok(KeyTree::Object(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyTree, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(KeyTree::Leaf)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<KeyTree, E> {
        Ok(KeyTree::Leaf)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<KeyTree, E> {
        Ok(KeyTree::Leaf)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<KeyTree, E> {
        Ok(KeyTree::Leaf)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<KeyTree, E> {
        Ok(KeyTree::Leaf)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<KeyTree, E> {
        Ok(KeyTree::Leaf)
    }
    fn visit_unit<E: de::Error>(self) -> Result<KeyTree, E> {
        Ok(KeyTree::Leaf)
    }
}

/// The order of `keys` as they appear in `file_order`, followed by any key of `keys` the file
/// order does not mention (in `keys`' own order). Duplicates keep their first position.
pub fn ordered_keys<'a>(
    file_order: &[&str],
    keys: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    let keys: Vec<&String> = keys.into_iter().collect();
    let wanted: std::collections::HashSet<&str> = keys.iter().map(|k| k.as_str()).collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(keys.len());
    for k in file_order {
        if wanted.contains(k) && seen.insert(*k) {
            out.push((*k).to_owned());
        }
    }
    for k in keys {
        if seen.insert(k.as_str()) {
            out.push(k.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_file_order() {
        let t = KeyTree::parse(b"{\"b\":1,\"a\":{\"z\":[{\"q\":1}],\"y\":{3:1,1:2}},\"c\":null}")
            .unwrap();
        assert_eq!(t.keys(), vec!["b", "a", "c"]);
        assert_eq!(t.get("a").unwrap().keys(), vec!["z", "y"]);
        assert_eq!(t.get("a").unwrap().get("y").unwrap().keys(), vec!["3", "1"]);
        assert_eq!(t.get("b"), Some(&KeyTree::Leaf));
        assert!(KeyTree::parse(b"{oops").is_none());
        let deep = "[".repeat(5000);
        assert!(KeyTree::parse(deep.as_bytes()).is_none());
    }

    #[test]
    fn ordered_keys_merges() {
        let keys = ["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(
            ordered_keys(&["c", "x", "a", "c"], keys.iter()),
            vec!["c", "a", "b"]
        );
    }
}
