//! Message lookup by key: RocketMQ 4.9.8 IndexFiles and the IndexService that owns them.
//!
//! An index file (`<root>/index/<yyyyMMddHHmmssSSS>`) is a fixed-size hash table on disk with
//! exactly the byte layout Java writes (all integers big-endian):
//!
//! ```text
//! [header 40 bytes][slot table: maxHashSlotNum × i32][entries: maxIndexNum × 20 bytes]
//! header = beginTimestamp i64, endTimestamp i64, beginPhyOffset i64, endPhyOffset i64,
//!          hashSlotCount i32, indexCount i32 (starts at 1: entry #0 is never used)
//! entry  = keyHash i32, phyOffset i64, timeDiff i32 (seconds since beginTimestamp),
//!          prevIndex i32 (previous entry of the same slot, 0 = end of chain)
//! ```
//!
//! * The indexed string is `topic#key` ([`build_key`]); its hash is the absolute value of Java's
//!   `String.hashCode()` over UTF-16 code units ([`index_key_hash`]), and its slot is
//!   `hash % maxHashSlotNum`. A slot holds the number of the newest entry of its chain.
//! * The dispatcher indexes every record except transaction ROLLBACK records: the `UNIQ_KEY`
//!   property and each non-empty space-separated piece of `KEYS` ([`IndexService::build_index`]).
//! * A query walks the files from newest to oldest over a store-time range and follows the
//!   chains ([`IndexService::query`]). Hash collisions are possible: callers must compare the
//!   real keys of the records they read.
//!
//! Module map: [`index_file`] (one mapped file, one writer + concurrent readers),
//! [`index_service`] (the list of files: load/prune, build, roll over, query, expiry).
//! File names are the creation time in local time (`store::sys::time_to_file_name`).

pub mod index_file;
pub mod index_service;

#[cfg(test)]
mod fixture_tests;

pub use index_file::{
    IndexEntry, IndexError, IndexFile, IndexHeader, INDEX_ENTRY_SIZE, INDEX_HEADER_SIZE,
    INDEX_SLOT_SIZE,
};
pub use index_service::{IndexService, QueryResult};

/// Java's `String.hashCode()`: `h = 31*h + c` with 32-bit wrapping over the string's UTF-16
/// code units (so a character outside the BMP, such as an emoji, counts as two surrogates).
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The hash stored in an index entry: `abs(hashCode)`, with `Integer.MIN_VALUE` (whose absolute
/// value does not fit) mapped to 0 as Java does.
pub fn index_key_hash(key: &str) -> i32 {
    java_string_hash(key).checked_abs().unwrap_or(0)
}

/// The string that is indexed for `key` of a message in `topic`: `topic#key`.
pub fn build_key(topic: &str, key: &str) -> String {
    let mut s = String::with_capacity(topic.len() + 1 + key.len());
    s.push_str(topic);
    s.push('#');
    s.push_str(key);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_ascii() {
        // Values computed by Java's String.hashCode().
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("TagA"), 2_598_919);
        // Wraps around 32 bits.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn java_hash_non_ascii_and_emoji() {
        // 'é' is one UTF-16 unit (0xE9), two UTF-8 bytes.
        assert_eq!(java_string_hash("é"), 0xE9);
        assert_eq!(java_string_hash("aé"), 97 * 31 + 0xE9);
        // '标' U+6807, '签' U+7B7E: one unit each.
        assert_eq!(java_string_hash("标签"), 0x6807 * 31 + 0x7B7E);
        // '🚀' U+1F680 is the surrogate pair D83D DE80 in UTF-16.
        assert_eq!(java_string_hash("🚀"), 0xD83D * 31 + 0xDE80);
        let two = java_string_hash("🚀🚀");
        let expect = [0xD83Di32, 0xDE80, 0xD83D, 0xDE80]
            .iter()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(*c));
        assert_eq!(two, expect);
        // Cyrillic key from the fixtures' key pattern.
        let k = "ключ-1";
        let units: Vec<u16> = k.encode_utf16().collect();
        assert_eq!(units.len(), 6);
        let h = units
            .iter()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(*c)));
        assert_eq!(java_string_hash(k), h);
    }

    #[test]
    fn index_hash_is_non_negative() {
        assert_eq!(index_key_hash("polygenelubricants"), 0);
        assert_eq!(index_key_hash("hello"), 99_162_322);
        for s in [
            "FixA#cust-80",
            "x#ключ-7",
            "t#🚀",
            "RMQ_SYS_TRANS_HALF_TOPIC#abc",
        ] {
            assert!(index_key_hash(s) >= 0);
            assert_eq!(
                index_key_hash(s),
                java_string_hash(s).checked_abs().unwrap_or(0)
            );
        }
        assert_eq!(build_key("T", "k"), "T#k");
    }
}
