//! Tag hash codes and TAG subscription expressions (remoting-protocol.md §12.6).
//!
//! The consume-queue `tagsCode` of a message is Java's `String.hashCode()` of its whole `TAGS`
//! property: `h = 31·h + c` over the UTF-16 code units, wrapping at 32 bits, widened to `i64`.
//! A byte-wise or 64-bit hash would make broker-side filtering drop messages.

/// Java `String.hashCode()` of `s`: over UTF-16 code units (a character outside the BMP counts
/// as its two surrogates), 32-bit wrapping arithmetic.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Java `String.hashCode()` of bytes that should be UTF-8. Invalid sequences are replaced by
/// U+FFFD first, as Java's `new String(bytes, UTF_8)` does when the broker reads the record.
pub fn java_string_hash_bytes(bytes: &[u8]) -> i32 {
    match std::str::from_utf8(bytes) {
        Ok(s) => java_string_hash(s),
        Err(_) => java_string_hash(&String::from_utf8_lossy(bytes)),
    }
}

/// Consume-queue tagsCode for a TAGS value: its hash widened to `i64`, or 0 when there are no
/// tags (absent or empty). (For `SCHEDULE_TOPIC_XXXX` the broker stores the delivery time
/// instead; that is the store's business.)
pub fn tags_code(tags: Option<&[u8]>) -> i64 {
    match tags {
        Some(t) if !t.is_empty() => i64::from(java_string_hash_bytes(t)),
        _ => 0,
    }
}

/// The "subscribe everything" expression.
pub const SUB_ALL: &str = "*";

/// A parsed TAG subscription expression (`FilterAPI.buildSubscriptionData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// `*`, empty or missing: no filtering.
    All,
    /// `A || B`: the trimmed, non-empty tags in order and their hash codes.
    Tags { tags: Vec<String>, codes: Vec<i32> },
}

impl TagFilter {
    /// Parse a TAG expression the way the Java client and broker do: `None`, `""` and exactly
    /// `"*"` mean all; otherwise split on `||`, trim each part (Java `trim`: chars ≤ U+0020),
    /// drop empty parts. Duplicates are removed (Java keeps them in sets).
    pub fn parse(expr: Option<&str>) -> TagFilter {
        let expr = match expr {
            None => return TagFilter::All,
            Some(e) if e.is_empty() || e == SUB_ALL => return TagFilter::All,
            Some(e) => e,
        };
        // Sets keep de-duplication linear in the expression's size (it comes from clients).
        let mut seen_tags = std::collections::HashSet::new();
        let mut seen_codes = std::collections::HashSet::new();
        let mut tags: Vec<String> = Vec::new();
        let mut codes: Vec<i32> = Vec::new();
        for part in expr.split("||") {
            let t = part.trim_matches(|c: char| c <= ' ');
            if t.is_empty() {
                continue;
            }
            if seen_tags.insert(t) {
                tags.push(t.to_owned());
            }
            let code = java_string_hash(t);
            if seen_codes.insert(code) {
                codes.push(code);
            }
        }
        TagFilter::Tags { tags, codes }
    }

    /// Broker-side check against a consume-queue tagsCode: passes for [`TagFilter::All`] or when
    /// the code set contains `(int) tags_code` (Java truncates the long to an int).
    pub fn matches_code(&self, tags_code: i64) -> bool {
        match self {
            TagFilter::All => true,
            TagFilter::Tags { codes, .. } => {
                let c = tags_code as i32;
                // Subscriptions usually name a few tags; long lists are searched by a scan
                // over a contiguous slice, which is still cheap per message.
                codes.contains(&c)
            }
        }
    }

    /// Client-side check against the exact tag string (`None` = message without tags, which a
    /// tag subscription does not accept).
    pub fn matches_tag(&self, tag: Option<&str>) -> bool {
        match self {
            TagFilter::All => true,
            TagFilter::Tags { tags, .. } => tag.is_some_and(|t| tags.iter().any(|x| x == t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_values() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("TagA"), 2_598_919);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        // Wraps: "polygenelubricants".hashCode() == Integer.MIN_VALUE.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // From the fixtures (`expectedCqTagsCode`).
        assert_eq!(java_string_hash("标签"), 857_175);
        // Surrogate pair: U+1F680 = D83D DE80.
        assert_eq!(
            java_string_hash("🚀"),
            0xD83Di32.wrapping_mul(31).wrapping_add(0xDE80)
        );
        assert_eq!(tags_code(None), 0);
        assert_eq!(tags_code(Some(b"")), 0);
        assert_eq!(tags_code(Some("标签".as_bytes())), 857_175);
        // Invalid UTF-8 hashes like U+FFFD.
        assert_eq!(java_string_hash_bytes(&[0xFF]), 0xFFFD);
    }

    /// `expectedCqTagsCode` of every fixture record outside `SCHEDULE_TOPIC_XXXX` (where the
    /// code is a delivery time) is the Java hash of its TAGS, including non-ASCII tags.
    #[test]
    fn fixture_tags_codes() {
        let mut seen = std::collections::BTreeSet::new();
        for m in crate::message::test_support::manifest_messages() {
            if m["topic"] == "SCHEDULE_TOPIC_XXXX" {
                continue;
            }
            let tags = m["tags"].as_str();
            let want = m["expectedCqTagsCode"].as_i64().unwrap();
            assert_eq!(tags_code(tags.map(str::as_bytes)), want, "{tags:?}");
            if let Some(t) = tags {
                seen.insert(t.to_owned());
            }
        }
        for t in ["TagA", "Täg-ü", "标签"] {
            assert!(seen.contains(t), "{t} not in fixture");
        }
        assert_eq!(java_string_hash("Täg-ü"), {
            // T ä g - ü as UTF-16 code units
            [0x54, 0xE4, 0x67, 0x2D, 0xFC]
                .iter()
                .fold(0i32, |h, &c| h.wrapping_mul(31).wrapping_add(c))
        });
    }

    #[test]
    fn subscription_expressions() {
        assert_eq!(TagFilter::parse(None), TagFilter::All);
        assert_eq!(TagFilter::parse(Some("")), TagFilter::All);
        assert_eq!(TagFilter::parse(Some("*")), TagFilter::All);
        let f = TagFilter::parse(Some(" TagA ||TagB|| || Täg-ü ||"));
        match &f {
            TagFilter::Tags { tags, codes } => {
                assert_eq!(tags, &["TagA", "TagB", "Täg-ü"]);
                assert_eq!(codes.len(), 3);
                assert_eq!(codes[0], java_string_hash("TagA"));
            }
            TagFilter::All => panic!("expected tags"),
        }
        assert!(f.matches_code(i64::from(java_string_hash("Täg-ü"))));
        assert!(!f.matches_code(i64::from(java_string_hash("TagC"))));
        assert!(f.matches_tag(Some("TagB")));
        assert!(!f.matches_tag(None));
        assert!(TagFilter::All.matches_tag(None));
        // Only exactly "*" is SUB_ALL; " * " is a tag named "*".
        assert!(matches!(
            TagFilter::parse(Some(" * ")),
            TagFilter::Tags { .. }
        ));
        // A code above i32 range is truncated like Java's intValue().
        let big = i64::from(java_string_hash("TagA")) + (1i64 << 32);
        assert!(TagFilter::parse(Some("TagA")).matches_code(big));
    }
}
