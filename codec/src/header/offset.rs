//! Consumer offsets and queue offset lookups: QUERY_CONSUMER_OFFSET (14),
//! UPDATE_CONSUMER_OFFSET (15), SEARCH_OFFSET_BY_TIMESTAMP (29), GET_MAX_OFFSET (30),
//! GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32).

use crate::header::RpcRequestHeader;

/// 5.x `BoundaryType` text for [`SearchOffsetRequestHeader::boundary_type`]: the first
/// matching offset (the default).
pub const BOUNDARY_LOWER: &str = "LOWER";
/// 5.x `BoundaryType`: the last matching offset.
pub const BOUNDARY_UPPER: &str = "UPPER";

define_header! {
    /// Java `QueryConsumerOffsetRequestHeader`: `QUERY_CONSUMER_OFFSET` (14).
    pub struct QueryConsumerOffsetRequestHeader = "QueryConsumerOffsetRequestHeader",
        base rpc: RpcRequestHeader
    {
        consumer_group: req String = "consumerGroup",
        topic: req String = "topic",
        queue_id: req i32 = "queueId",
        /// 5.x: answer offset 0 (instead of QUERY_NOT_FOUND) for a young queue; absent = true.
        set_zero_if_not_found: opt bool = "setZeroIfNotFound",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

impl QueryConsumerOffsetRequestHeader {
    /// `setZeroIfNotFound` with its 5.x default (true).
    pub fn set_zero_if_not_found_or_default(&self) -> bool {
        self.set_zero_if_not_found.unwrap_or(true)
    }
}

define_header! {
    /// Java `QueryConsumerOffsetResponseHeader`: response to code 14.
    pub struct QueryConsumerOffsetResponseHeader = "QueryConsumerOffsetResponseHeader" {
        /// Stored consume offset of the group for the queue.
        offset: req i64 = "offset",
    }
}

define_header! {
    /// Java `UpdateConsumerOffsetRequestHeader`: `UPDATE_CONSUMER_OFFSET` (15), oneway when
    /// sent by the periodic persist.
    pub struct UpdateConsumerOffsetRequestHeader = "UpdateConsumerOffsetRequestHeader",
        base rpc: RpcRequestHeader
    {
        consumer_group: req String = "consumerGroup",
        topic: req String = "topic",
        queue_id: req i32 = "queueId",
        commit_offset: req i64 = "commitOffset",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `UpdateConsumerOffsetResponseHeader`: no fields (response to code 15).
    pub struct UpdateConsumerOffsetResponseHeader = "UpdateConsumerOffsetResponseHeader" {}
}

define_header! {
    /// Java `SearchOffsetRequestHeader`: `SEARCH_OFFSET_BY_TIMESTAMP` (29).
    pub struct SearchOffsetRequestHeader = "SearchOffsetRequestHeader", base rpc: RpcRequestHeader {
        topic: req String = "topic",
        queue_id: req i32 = "queueId",
        /// Store timestamp to search for, ms.
        timestamp: req i64 = "timestamp",
        /// 5.x `BoundaryType` name (`LOWER`/`UPPER`, case-insensitive; absent = lower).
        boundary_type: opt String = "boundaryType",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

impl SearchOffsetRequestHeader {
    /// True when the 5.x boundary type asks for the upper bound.
    pub fn is_upper_boundary(&self) -> bool {
        self.boundary_type
            .as_deref()
            .is_some_and(|b| b.trim().eq_ignore_ascii_case(BOUNDARY_UPPER))
    }
}

define_header! {
    /// Java `SearchOffsetResponseHeader`: response to code 29.
    pub struct SearchOffsetResponseHeader = "SearchOffsetResponseHeader" {
        offset: req i64 = "offset",
    }
}

define_header! {
    /// Java `GetMaxOffsetRequestHeader`: `GET_MAX_OFFSET` (30).
    pub struct GetMaxOffsetRequestHeader = "GetMaxOffsetRequestHeader", base rpc: RpcRequestHeader {
        topic: req String = "topic",
        queue_id: req i32 = "queueId",
        /// 5.x: only committed messages (absent = true).
        committed: opt bool = "committed",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

impl GetMaxOffsetRequestHeader {
    /// `committed` with its default (true).
    pub fn committed_or_default(&self) -> bool {
        self.committed.unwrap_or(true)
    }
}

define_header! {
    /// Java `GetMaxOffsetResponseHeader`: response to code 30; one past the last message
    /// (0 for an empty queue).
    pub struct GetMaxOffsetResponseHeader = "GetMaxOffsetResponseHeader" {
        offset: req i64 = "offset",
    }
}

define_header! {
    /// Java `GetMinOffsetRequestHeader`: `GET_MIN_OFFSET` (31).
    pub struct GetMinOffsetRequestHeader = "GetMinOffsetRequestHeader", base rpc: RpcRequestHeader {
        topic: req String = "topic",
        queue_id: req i32 = "queueId",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `GetMinOffsetResponseHeader`: response to code 31.
    pub struct GetMinOffsetResponseHeader = "GetMinOffsetResponseHeader" {
        offset: req i64 = "offset",
    }
}

define_header! {
    /// Java `GetEarliestMsgStoretimeRequestHeader`: `GET_EARLIEST_MSG_STORETIME` (32).
    pub struct GetEarliestMsgStoretimeRequestHeader = "GetEarliestMsgStoretimeRequestHeader",
        base rpc: RpcRequestHeader
    {
        topic: req String = "topic",
        queue_id: req i32 = "queueId",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `GetEarliestMsgStoretimeResponseHeader`: response to code 32.
    pub struct GetEarliestMsgStoretimeResponseHeader = "GetEarliestMsgStoretimeResponseHeader" {
        /// Store timestamp of the first message of the queue, ms.
        timestamp: req i64 = "timestamp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext_fields::{CommandHeader, ExtFields};
    use crate::header::testutil::check_header;

    fn rpc() -> RpcRequestHeader {
        RpcRequestHeader::with_bname("broker-a")
    }

    #[test]
    fn headers_check() {
        check_header(QueryConsumerOffsetRequestHeader {
            rpc: rpc(),
            consumer_group: "cg".into(),
            topic: "T".into(),
            queue_id: 2,
            set_zero_if_not_found: Some(false),
            lo: Some(false),
        });
        check_header(QueryConsumerOffsetResponseHeader { offset: 77 });
        check_header(UpdateConsumerOffsetRequestHeader {
            rpc: rpc(),
            consumer_group: "cg".into(),
            topic: "T".into(),
            queue_id: 2,
            commit_offset: 78,
            lo: Some(true),
        });
        check_header(UpdateConsumerOffsetResponseHeader {});
        check_header(SearchOffsetRequestHeader {
            rpc: rpc(),
            topic: "T".into(),
            queue_id: 0,
            timestamp: 1_700_000_000_000,
            boundary_type: Some("upper".into()),
            lo: Some(false),
        });
        check_header(SearchOffsetResponseHeader { offset: -1 });
        check_header(GetMaxOffsetRequestHeader {
            rpc: rpc(),
            topic: "T".into(),
            queue_id: 1,
            committed: Some(false),
            lo: Some(false),
        });
        check_header(GetMaxOffsetResponseHeader { offset: i64::MAX });
        check_header(GetMinOffsetRequestHeader {
            rpc: rpc(),
            topic: "T".into(),
            queue_id: 1,
            lo: Some(false),
        });
        check_header(GetMinOffsetResponseHeader { offset: 0 });
        check_header(GetEarliestMsgStoretimeRequestHeader {
            rpc: rpc(),
            topic: "T".into(),
            queue_id: 1,
            lo: Some(false),
        });
        check_header(GetEarliestMsgStoretimeResponseHeader {
            timestamp: i64::MIN,
        });
    }

    #[test]
    fn five_x_defaults() {
        let mut m = ExtFields::new();
        m.insert("topic", "T");
        m.insert("queueId", "0");
        let h = GetMaxOffsetRequestHeader::read_fields(&m).unwrap();
        assert!(h.committed_or_default());
        m.insert("timestamp", "5");
        let s = SearchOffsetRequestHeader::read_fields(&m).unwrap();
        assert!(!s.is_upper_boundary());
        m.insert("boundaryType", "UPPER");
        assert!(SearchOffsetRequestHeader::read_fields(&m)
            .unwrap()
            .is_upper_boundary());
        m.insert("boundaryType", BOUNDARY_LOWER);
        assert!(!SearchOffsetRequestHeader::read_fields(&m)
            .unwrap()
            .is_upper_boundary());
        m.insert("consumerGroup", "cg");
        let q = QueryConsumerOffsetRequestHeader::read_fields(&m).unwrap();
        assert!(q.set_zero_if_not_found_or_default());
    }

    #[test]
    fn empty_response_headers_write_nothing() {
        assert!(UpdateConsumerOffsetResponseHeader {}
            .to_ext_fields()
            .is_empty());
        let mut m = ExtFields::new();
        m.insert("anything", "1");
        assert_eq!(
            UpdateConsumerOffsetResponseHeader::read_fields(&m),
            Ok(UpdateConsumerOffsetResponseHeader {})
        );
    }
}
