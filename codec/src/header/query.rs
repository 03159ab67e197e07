//! Message lookups: QUERY_MESSAGE (12) and VIEW_MESSAGE_BY_ID (33).

use crate::header::RpcRequestHeader;

/// `extFields` key (Java `MixAll.UNIQUE_MSG_QUERY_FLAG`) that a client adds to
/// QUERY_MESSAGE: `"true"` when `key` is a unique message id (`UNIQ_KEY`) rather than a
/// `KEYS` entry. The broker then uses its own `defaultQueryMaxNum` instead of `maxNum`.
pub const UNIQUE_KEY_QUERY_KEY: &str = "_UNIQUE_KEY_QUERY";

define_header! {
    /// Java `QueryMessageRequestHeader`: `QUERY_MESSAGE` (12).
    ///
    /// `unique_key_query` is not a Java field of the class: it is the extra
    /// [`UNIQUE_KEY_QUERY_KEY`] entry the client puts next to the header.
    pub struct QueryMessageRequestHeader = "QueryMessageRequestHeader", base rpc: RpcRequestHeader {
        topic: req String = "topic",
        /// A `KEYS` entry, or a `UNIQ_KEY` for unique-key queries.
        key: req String = "key",
        max_num: req i32 = "maxNum",
        begin_timestamp: req i64 = "beginTimestamp",
        end_timestamp: req i64 = "endTimestamp",
        /// `_UNIQUE_KEY_QUERY` (extra key, `"true"`/`"false"`).
        unique_key_query: opt bool = "_UNIQUE_KEY_QUERY",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

impl QueryMessageRequestHeader {
    /// True for a unique-key (`UNIQ_KEY`) query.
    pub fn is_unique_key_query(&self) -> bool {
        self.unique_key_query.unwrap_or(false)
    }
}

define_header! {
    /// Java `QueryMessageResponseHeader`: response to code 12.
    pub struct QueryMessageResponseHeader = "QueryMessageResponseHeader" {
        index_last_update_timestamp: req i64 = "indexLastUpdateTimestamp",
        index_last_update_phyoffset: req i64 = "indexLastUpdatePhyoffset",
    }
}

define_header! {
    /// Java `ViewMessageRequestHeader`: `VIEW_MESSAGE_BY_ID` (33).
    pub struct ViewMessageRequestHeader = "ViewMessageRequestHeader" {
        /// Commit-log offset (decoded from an offset message id).
        offset: req i64 = "offset",
        /// 5.x: topic of the message.
        topic: opt String = "topic",
    }
}

define_header! {
    /// Java `ViewMessageResponseHeader`: no fields (response to code 33).
    pub struct ViewMessageResponseHeader = "ViewMessageResponseHeader" {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext_fields::{CommandHeader, ExtFields};
    use crate::header::testutil::check_header;

    #[test]
    fn headers_check() {
        check_header(QueryMessageRequestHeader {
            rpc: RpcRequestHeader::default(),
            topic: "T".into(),
            key: "k1".into(),
            max_num: 32,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
            unique_key_query: Some(true),
            lo: Some(false),
        });
        check_header(QueryMessageResponseHeader {
            index_last_update_timestamp: 1,
            index_last_update_phyoffset: 2,
        });
        check_header(ViewMessageRequestHeader {
            offset: 1024,
            topic: Some("T".into()),
        });
        check_header(ViewMessageResponseHeader {});
    }

    #[test]
    fn unique_key_flag() {
        let mut m = ExtFields::new();
        for (k, v) in [
            ("topic", "T"),
            ("key", "K"),
            ("maxNum", "64"),
            ("beginTimestamp", "0"),
            ("endTimestamp", "9"),
        ] {
            m.insert(k, v);
        }
        let h = QueryMessageRequestHeader::read_fields(&m).unwrap();
        assert!(!h.is_unique_key_query());
        m.insert(UNIQUE_KEY_QUERY_KEY, "true");
        let h = QueryMessageRequestHeader::read_fields(&m).unwrap();
        assert!(h.is_unique_key_query());
        assert_eq!(h.to_ext_fields().get("_UNIQUE_KEY_QUERY"), Some("true"));
    }
}
