//! Admin requests (what `mqadmin` / `DefaultMQAdminExt` send to a broker), including the
//! 5.x paging headers of GET_ALL_TOPIC_CONFIG / GET_ALL_SUBSCRIPTIONGROUP_CONFIG.

use crate::header::RpcRequestHeader;

/// `TopicFilterType` names for [`CreateTopicRequestHeader::topic_filter_type`].
pub const TOPIC_FILTER_SINGLE_TAG: &str = "SINGLE_TAG";
/// `TopicFilterType::MULTI_TAG`.
pub const TOPIC_FILTER_MULTI_TAG: &str = "MULTI_TAG";

define_header! {
    /// Java `CreateTopicRequestHeader`: `UPDATE_AND_CREATE_TOPIC` (17).
    pub struct CreateTopicRequestHeader = "CreateTopicRequestHeader", base rpc: RpcRequestHeader {
        topic: req String = "topic",
        /// Template topic (`TBW102`).
        default_topic: req String = "defaultTopic",
        read_queue_nums: req i32 = "readQueueNums",
        write_queue_nums: req i32 = "writeQueueNums",
        /// Permission bits (2 = write, 4 = read, 1 = inherit).
        perm: req i32 = "perm",
        /// `SINGLE_TAG` or `MULTI_TAG`.
        topic_filter_type: req String = "topicFilterType",
        topic_sys_flag: opt i32 = "topicSysFlag",
        /// Ordered topic.
        order: req bool = "order",
        /// 5.x: attributes text (`+key=value,...`).
        attributes: opt String = "attributes",
        /// 5.x.
        force: opt bool = "force",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `DeleteTopicRequestHeader`: `DELETE_TOPIC_IN_BROKER` (215).
    pub struct DeleteTopicRequestHeader = "DeleteTopicRequestHeader", base rpc: RpcRequestHeader {
        topic: req String = "topic",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `GetTopicStatsInfoRequestHeader`: `GET_TOPIC_STATS_INFO` (202).
    pub struct GetTopicStatsInfoRequestHeader = "GetTopicStatsInfoRequestHeader",
        base rpc: RpcRequestHeader
    {
        topic: req String = "topic",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `GetTopicConfigRequestHeader` (5.x): `GET_TOPIC_CONFIG` (351).
    pub struct GetTopicConfigRequestHeader = "GetTopicConfigRequestHeader",
        base rpc: RpcRequestHeader
    {
        topic: req String = "topic",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `GetConsumerConnectionListRequestHeader`: `GET_CONSUMER_CONNECTION_LIST` (203).
    pub struct GetConsumerConnectionListRequestHeader = "GetConsumerConnectionListRequestHeader",
        base rpc: RpcRequestHeader
    {
        consumer_group: req String = "consumerGroup",
    }
}

define_header! {
    /// Java `GetProducerConnectionListRequestHeader`: `GET_PRODUCER_CONNECTION_LIST` (204).
    pub struct GetProducerConnectionListRequestHeader = "GetProducerConnectionListRequestHeader",
        base rpc: RpcRequestHeader
    {
        producer_group: req String = "producerGroup",
    }
}

define_header! {
    /// Java `GetAllProducerInfoRequestHeader`: `GET_ALL_PRODUCER_INFO` (328); no fields.
    pub struct GetAllProducerInfoRequestHeader = "GetAllProducerInfoRequestHeader" {}
}

define_header! {
    /// Java `DeleteSubscriptionGroupRequestHeader`: `DELETE_SUBSCRIPTIONGROUP` (207).
    /// 4.9.8 names the offset flag `removeOffset`, 5.x `cleanOffset`.
    pub struct DeleteSubscriptionGroupRequestHeader = "DeleteSubscriptionGroupRequestHeader",
        base rpc: RpcRequestHeader
    {
        group_name: req String = "groupName",
        /// 4.9.8: also delete the group's offsets (Java primitive, always sent by 4.9).
        remove_offset: dflt bool = "removeOffset" => false,
        /// 5.x name of the same flag.
        clean_offset: opt bool = "cleanOffset",
    }
}

impl DeleteSubscriptionGroupRequestHeader {
    /// True if either the 4.9 or the 5.x flag asks to delete the offsets.
    pub fn should_clean_offset(&self) -> bool {
        self.remove_offset || self.clean_offset.unwrap_or(false)
    }
}

define_header! {
    /// Java `GetConsumeStatsRequestHeader`: `GET_CONSUME_STATS` (208).
    pub struct GetConsumeStatsRequestHeader = "GetConsumeStatsRequestHeader",
        base rpc: RpcRequestHeader
    {
        consumer_group: req String = "consumerGroup",
        /// Absent or empty = every topic the group has offsets for.
        topic: opt String = "topic",
        /// 5.x: `;`-separated topics.
        topic_list: opt String = "topicList",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

impl GetConsumeStatsRequestHeader {
    /// The 5.x `topicList`, split on `;` (empty entries dropped).
    pub fn topics(&self) -> Vec<&str> {
        self.topic_list
            .as_deref()
            .map(|l| l.split(';').filter(|t| !t.is_empty()).collect())
            .unwrap_or_default()
    }
}

define_header! {
    /// Java `QueryTopicConsumeByWhoRequestHeader`: `QUERY_TOPIC_CONSUME_BY_WHO` (300).
    pub struct QueryTopicConsumeByWhoRequestHeader = "QueryTopicConsumeByWhoRequestHeader",
        base rpc: RpcRequestHeader
    {
        topic: req String = "topic",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `QueryConsumeTimeSpanRequestHeader`: `QUERY_CONSUME_TIME_SPAN` (303).
    pub struct QueryConsumeTimeSpanRequestHeader = "QueryConsumeTimeSpanRequestHeader",
        base rpc: RpcRequestHeader
    {
        topic: req String = "topic",
        group: req String = "group",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `QueryCorrectionOffsetHeader`: `QUERY_CORRECTION_OFFSET` (308).
    pub struct QueryCorrectionOffsetHeader = "QueryCorrectionOffsetHeader",
        base rpc: RpcRequestHeader
    {
        /// Comma-separated groups to compare with.
        filter_groups: opt String = "filterGroups",
        compare_group: req String = "compareGroup",
        topic: req String = "topic",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `CloneGroupOffsetRequestHeader`: `CLONE_GROUP_OFFSET` (314).
    pub struct CloneGroupOffsetRequestHeader = "CloneGroupOffsetRequestHeader",
        base rpc: RpcRequestHeader
    {
        src_group: req String = "srcGroup",
        dest_group: req String = "destGroup",
        /// Absent = all topics of the source group.
        topic: opt String = "topic",
        /// Java primitive, always sent.
        offline: dflt bool = "offline" => false,
    }
}

define_header! {
    /// Java `ViewBrokerStatsDataRequestHeader`: `VIEW_BROKER_STATS_DATA` (315).
    pub struct ViewBrokerStatsDataRequestHeader = "ViewBrokerStatsDataRequestHeader" {
        stats_name: req String = "statsName",
        stats_key: req String = "statsKey",
    }
}

define_header! {
    /// Java `GetConsumeStatsInBrokerHeader`: `GET_BROKER_CONSUME_STATS` (317). Note the key
    /// `isOrder`.
    pub struct GetConsumeStatsInBrokerHeader = "GetConsumeStatsInBrokerHeader" {
        /// Key `isOrder`.
        is_order: req bool = "isOrder",
    }
}

define_header! {
    /// Java `QueryConsumeQueueRequestHeader`: `QUERY_CONSUME_QUEUE` (321). The numbers are
    /// Java primitives (always sent; 0 when absent).
    pub struct QueryConsumeQueueRequestHeader = "QueryConsumeQueueRequestHeader",
        base rpc: RpcRequestHeader
    {
        topic: opt String = "topic",
        queue_id: dflt i32 = "queueId" => 0,
        /// First consume-queue index.
        index: dflt i64 = "index" => 0,
        /// Number of entries.
        count: dflt i32 = "count" => 0,
        consumer_group: opt String = "consumerGroup",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `ResumeCheckHalfMessageRequestHeader`: `RESUME_CHECK_HALF_MESSAGE` (323).
    pub struct ResumeCheckHalfMessageRequestHeader = "ResumeCheckHalfMessageRequestHeader" {
        msg_id: opt String = "msgId",
        /// 5.x.
        topic: opt String = "topic",
    }
}

define_header! {
    /// Java `GetBrokerConfigResponseHeader`: response to `GET_BROKER_CONFIG` (26).
    pub struct GetBrokerConfigResponseHeader = "GetBrokerConfigResponseHeader" {
        /// The broker's DataVersion as JSON text.
        version: req String = "version",
    }
}

define_header! {
    /// Java `GetAllTopicConfigRequestHeader` (5.x paging): `GET_ALL_TOPIC_CONFIG` (21).
    /// 4.9 sends no header; every field is optional here.
    pub struct GetAllTopicConfigRequestHeader = "GetAllTopicConfigRequestHeader" {
        /// Index of the first topic of the page.
        topic_seq: opt i32 = "topicSeq",
        /// DataVersion JSON the pages must agree on.
        data_version: opt String = "dataVersion",
        /// Page size.
        max_topic_num: opt i32 = "maxTopicNum",
    }
}

define_header! {
    /// Java `GetAllTopicConfigResponseHeader`: response to code 21; empty in 4.9, 5.x
    /// `totalTopicNum`. If set, the 5.x client pages (`topicSeq`/`maxTopicNum` must be
    /// honoured); if absent it takes the answer as complete.
    pub struct GetAllTopicConfigResponseHeader = "GetAllTopicConfigResponseHeader" {
        total_topic_num: opt i32 = "totalTopicNum",
    }
}

define_header! {
    /// Java `GetAllSubscriptionGroupRequestHeader` (5.x paging):
    /// `GET_ALL_SUBSCRIPTIONGROUP_CONFIG` (201). Every field is optional here.
    pub struct GetAllSubscriptionGroupRequestHeader = "GetAllSubscriptionGroupRequestHeader" {
        group_seq: opt i32 = "groupSeq",
        data_version: opt String = "dataVersion",
        max_group_num: opt i32 = "maxGroupNum",
    }
}

define_header! {
    /// Java `GetAllSubscriptionGroupResponseHeader` (5.x): response to code 201.
    pub struct GetAllSubscriptionGroupResponseHeader = "GetAllSubscriptionGroupResponseHeader" {
        total_group_num: opt i32 = "totalGroupNum",
    }
}

define_header! {
    /// Java `GetSubscriptionGroupConfigRequestHeader` (5.x): `GET_SUBSCRIPTIONGROUP_CONFIG` (352).
    pub struct GetSubscriptionGroupConfigRequestHeader = "GetSubscriptionGroupConfigRequestHeader",
        base rpc: RpcRequestHeader
    {
        group: req String = "group",
    }
}

define_header! {
    /// Java `QueryTopicsByConsumerRequestHeader` (5.x): `QUERY_TOPICS_BY_CONSUMER` (343).
    pub struct QueryTopicsByConsumerRequestHeader = "QueryTopicsByConsumerRequestHeader",
        base rpc: RpcRequestHeader
    {
        group: req String = "group",
    }
}

define_header! {
    /// Java `QuerySubscriptionByConsumerRequestHeader` (5.x):
    /// `QUERY_SUBSCRIPTION_BY_CONSUMER` (345).
    pub struct QuerySubscriptionByConsumerRequestHeader =
        "QuerySubscriptionByConsumerRequestHeader", base rpc: RpcRequestHeader
    {
        group: req String = "group",
        topic: opt String = "topic",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `UpdateGroupForbiddenRequestHeader` (5.x): `UPDATE_AND_GET_GROUP_FORBIDDEN` (353).
    pub struct UpdateGroupForbiddenRequestHeader = "UpdateGroupForbiddenRequestHeader",
        base rpc: RpcRequestHeader
    {
        group: req String = "group",
        topic: req String = "topic",
        /// Absent = only query.
        readable: opt bool = "readable",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext_fields::{CommandHeader, ExtFields};
    use crate::header::testutil::check_header;

    fn rpc() -> RpcRequestHeader {
        RpcRequestHeader::with_bname("b")
    }

    #[test]
    fn headers_check() {
        check_header(CreateTopicRequestHeader {
            rpc: rpc(),
            topic: "T".into(),
            default_topic: "TBW102".into(),
            read_queue_nums: 8,
            write_queue_nums: 8,
            perm: 6,
            topic_filter_type: TOPIC_FILTER_SINGLE_TAG.into(),
            topic_sys_flag: Some(0),
            order: false,
            attributes: Some("+message.type=NORMAL".into()),
            force: Some(false),
            lo: Some(false),
        });
        check_header(DeleteTopicRequestHeader {
            rpc: rpc(),
            topic: "T".into(),
            lo: Some(false),
        });
        check_header(GetTopicStatsInfoRequestHeader {
            rpc: rpc(),
            topic: "T".into(),
            lo: Some(true),
        });
        check_header(GetTopicConfigRequestHeader {
            rpc: rpc(),
            topic: "T".into(),
            lo: Some(true),
        });
        check_header(GetConsumerConnectionListRequestHeader {
            rpc: rpc(),
            consumer_group: "cg".into(),
        });
        check_header(GetProducerConnectionListRequestHeader {
            rpc: rpc(),
            producer_group: "pg".into(),
        });
        check_header(GetAllProducerInfoRequestHeader {});
        check_header(DeleteSubscriptionGroupRequestHeader {
            rpc: rpc(),
            group_name: "g".into(),
            remove_offset: true,
            clean_offset: Some(false),
        });
        check_header(GetConsumeStatsRequestHeader {
            rpc: rpc(),
            consumer_group: "cg".into(),
            topic: Some("T".into()),
            topic_list: Some("A;B".into()),
            lo: Some(false),
        });
        check_header(QueryTopicConsumeByWhoRequestHeader {
            rpc: rpc(),
            topic: "T".into(),
            lo: Some(false),
        });
        check_header(QueryConsumeTimeSpanRequestHeader {
            rpc: rpc(),
            topic: "T".into(),
            group: "g".into(),
            lo: Some(false),
        });
        check_header(QueryCorrectionOffsetHeader {
            rpc: rpc(),
            filter_groups: Some("a,b".into()),
            compare_group: "c".into(),
            topic: "T".into(),
            lo: Some(false),
        });
        check_header(CloneGroupOffsetRequestHeader {
            rpc: rpc(),
            src_group: "s".into(),
            dest_group: "d".into(),
            topic: Some("T".into()),
            offline: true,
        });
        check_header(ViewBrokerStatsDataRequestHeader {
            stats_name: "TOPIC_PUT_NUMS".into(),
            stats_key: "T".into(),
        });
        check_header(GetConsumeStatsInBrokerHeader { is_order: true });
        check_header(QueryConsumeQueueRequestHeader {
            rpc: rpc(),
            topic: Some("T".into()),
            queue_id: 1,
            index: 100,
            count: 10,
            consumer_group: Some("cg".into()),
            lo: Some(false),
        });
        check_header(ResumeCheckHalfMessageRequestHeader {
            msg_id: Some("m".into()),
            topic: Some("T".into()),
        });
        check_header(GetBrokerConfigResponseHeader {
            version: r#"{"counter":1,"timestamp":2}"#.into(),
        });
        check_header(GetAllTopicConfigRequestHeader {
            topic_seq: Some(0),
            data_version: Some("{}".into()),
            max_topic_num: Some(1000),
        });
        check_header(GetAllTopicConfigResponseHeader {
            total_topic_num: Some(5),
        });
        check_header(GetAllSubscriptionGroupRequestHeader {
            group_seq: Some(0),
            data_version: Some("{}".into()),
            max_group_num: Some(100),
        });
        check_header(GetAllSubscriptionGroupResponseHeader {
            total_group_num: Some(5),
        });
        check_header(GetSubscriptionGroupConfigRequestHeader {
            rpc: rpc(),
            group: "g".into(),
        });
        check_header(QueryTopicsByConsumerRequestHeader {
            rpc: rpc(),
            group: "g".into(),
        });
        check_header(QuerySubscriptionByConsumerRequestHeader {
            rpc: rpc(),
            group: "g".into(),
            topic: Some("T".into()),
            lo: Some(false),
        });
        check_header(UpdateGroupForbiddenRequestHeader {
            rpc: rpc(),
            group: "g".into(),
            topic: "T".into(),
            readable: Some(true),
            lo: Some(false),
        });
    }

    #[test]
    fn four_nine_paging_absent() {
        let empty = ExtFields::new();
        let h = GetAllTopicConfigRequestHeader::read_fields(&empty).unwrap();
        assert_eq!(h, GetAllTopicConfigRequestHeader::default());
        assert!(GetAllTopicConfigResponseHeader::default()
            .to_ext_fields()
            .is_empty());
    }

    #[test]
    fn helpers() {
        let mut h = DeleteSubscriptionGroupRequestHeader::default();
        assert!(!h.should_clean_offset());
        h.clean_offset = Some(true);
        assert!(h.should_clean_offset());
        h.clean_offset = None;
        h.remove_offset = true;
        assert!(h.should_clean_offset());

        let mut s = GetConsumeStatsRequestHeader::default();
        assert!(s.topics().is_empty());
        s.topic_list = Some("A;;B;".into());
        assert_eq!(s.topics(), vec!["A", "B"]);
    }

    #[test]
    fn is_order_key() {
        let mut m = ExtFields::new();
        m.insert("isOrder", "true");
        assert!(
            GetConsumeStatsInBrokerHeader::read_fields(&m)
                .unwrap()
                .is_order
        );
        assert_eq!(
            GetConsumeStatsInBrokerHeader::read_fields(&ExtFields::new()),
            Err(crate::error::CodecError::missing(
                "GetConsumeStatsInBrokerHeader",
                "isOrder"
            ))
        );
    }
}
