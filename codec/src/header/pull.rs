//! Pull path: PULL_MESSAGE (11) / LITE_PULL_MESSAGE (361) request and response headers,
//! and the `PullSysFlag` bits.

use crate::header::RpcRequestHeader;

/// `PullSysFlag`: the bits of [`PullMessageRequestHeader::sys_flag`].
pub mod pull_sys_flag {
    /// The request carries `commitOffset`; a master stores it as the group's offset.
    pub const FLAG_COMMIT_OFFSET: i32 = 0x1;
    /// The broker may hold the request (long polling) up to `suspendTimeoutMillis`.
    pub const FLAG_SUSPEND: i32 = 0x1 << 1;
    /// `subscription`/`expressionType` in the header are authoritative.
    pub const FLAG_SUBSCRIPTION: i32 = 0x1 << 2;
    /// Legacy filter-server class filter.
    pub const FLAG_CLASS_FILTER: i32 = 0x1 << 3;
    /// Set by lite-pull consumers (5.x clients then use code 361).
    pub const FLAG_LITE_PULL_MESSAGE: i32 = 0x1 << 4;

    /// Combine the flags (Java `PullSysFlag.buildSysFlag`, 5-argument form).
    pub fn build(
        commit_offset: bool,
        suspend: bool,
        subscription: bool,
        class_filter: bool,
        lite_pull: bool,
    ) -> i32 {
        let mut flag = 0;
        if commit_offset {
            flag |= FLAG_COMMIT_OFFSET;
        }
        if suspend {
            flag |= FLAG_SUSPEND;
        }
        if subscription {
            flag |= FLAG_SUBSCRIPTION;
        }
        if class_filter {
            flag |= FLAG_CLASS_FILTER;
        }
        if lite_pull {
            flag |= FLAG_LITE_PULL_MESSAGE;
        }
        flag
    }

    /// `sys_flag` without the commit-offset bit (what a client does when pulling from a slave).
    pub fn clear_commit_offset_flag(sys_flag: i32) -> i32 {
        sys_flag & !FLAG_COMMIT_OFFSET
    }

    pub fn has_commit_offset_flag(sys_flag: i32) -> bool {
        sys_flag & FLAG_COMMIT_OFFSET == FLAG_COMMIT_OFFSET
    }

    pub fn has_suspend_flag(sys_flag: i32) -> bool {
        sys_flag & FLAG_SUSPEND == FLAG_SUSPEND
    }

    pub fn has_subscription_flag(sys_flag: i32) -> bool {
        sys_flag & FLAG_SUBSCRIPTION == FLAG_SUBSCRIPTION
    }

    pub fn has_class_filter_flag(sys_flag: i32) -> bool {
        sys_flag & FLAG_CLASS_FILTER == FLAG_CLASS_FILTER
    }

    pub fn has_lite_pull_flag(sys_flag: i32) -> bool {
        sys_flag & FLAG_LITE_PULL_MESSAGE == FLAG_LITE_PULL_MESSAGE
    }
}

/// `expressionType` of a tag subscription (the default when absent).
pub const EXPRESSION_TYPE_TAG: &str = "TAG";
/// `expressionType` of an SQL92 subscription.
pub const EXPRESSION_TYPE_SQL92: &str = "SQL92";

define_header! {
    /// Java `PullMessageRequestHeader`: `PULL_MESSAGE` (11) and 5.x `LITE_PULL_MESSAGE` (361).
    ///
    /// A push consumer sends `suspend_timeout_millis` 15000 and normally no
    /// `subscription` (the broker then uses the heartbeat-registered one; see
    /// [`pull_sys_flag::FLAG_SUBSCRIPTION`]). Note the misspelt 5.x key
    /// `proxyFrowardClientId`.
    pub struct PullMessageRequestHeader = "PullMessageRequestHeader", base rpc: RpcRequestHeader {
        consumer_group: req String = "consumerGroup",
        /// Topic, or `%RETRY%<group>`.
        topic: req String = "topic",
        queue_id: req i32 = "queueId",
        /// Next logical offset to read.
        queue_offset: req i64 = "queueOffset",
        /// Batch size (`pullBatchSize`, default 32).
        max_msg_nums: req i32 = "maxMsgNums",
        /// [`pull_sys_flag`] bits.
        sys_flag: req i32 = "sysFlag",
        /// Client's consumed offset (meaningful with `FLAG_COMMIT_OFFSET`).
        commit_offset: req i64 = "commitOffset",
        /// Long-polling hold time, ms.
        suspend_timeout_millis: req i64 = "suspendTimeoutMillis",
        /// Subscription expression.
        subscription: opt String = "subscription",
        /// `SubscriptionData.subVersion`.
        sub_version: req i64 = "subVersion",
        /// `TAG` (default) or `SQL92`.
        expression_type: opt String = "expressionType",
        /// 5.x: byte cap of the answer.
        max_msg_bytes: opt i32 = "maxMsgBytes",
        /// 5.x: request source (proxy).
        request_source: opt i32 = "requestSource",
        /// 5.x: client id forwarded by a proxy (key misspelt in Java).
        proxy_froward_client_id: opt String = "proxyFrowardClientId",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

impl PullMessageRequestHeader {
    pub fn has_commit_offset_flag(&self) -> bool {
        pull_sys_flag::has_commit_offset_flag(self.sys_flag)
    }

    pub fn has_suspend_flag(&self) -> bool {
        pull_sys_flag::has_suspend_flag(self.sys_flag)
    }

    pub fn has_subscription_flag(&self) -> bool {
        pull_sys_flag::has_subscription_flag(self.sys_flag)
    }

    pub fn has_class_filter_flag(&self) -> bool {
        pull_sys_flag::has_class_filter_flag(self.sys_flag)
    }

    pub fn has_lite_pull_flag(&self) -> bool {
        pull_sys_flag::has_lite_pull_flag(self.sys_flag)
    }

    /// The expression type, `TAG` when absent.
    pub fn expression_type_or_tag(&self) -> &str {
        self.expression_type
            .as_deref()
            .unwrap_or(EXPRESSION_TYPE_TAG)
    }
}

define_header! {
    /// Java `PullMessageResponseHeader`: response to codes 11 and 361.
    ///
    /// Java clients unbox all four required fields for codes 0, 19, 20 and 21, so every
    /// pull answer with those codes must carry them.
    pub struct PullMessageResponseHeader = "PullMessageResponseHeader" {
        /// Broker id for the next pull of this queue (0 = master).
        suggest_which_broker_id: req i64 = "suggestWhichBrokerId",
        next_begin_offset: req i64 = "nextBeginOffset",
        min_offset: req i64 = "minOffset",
        max_offset: req i64 = "maxOffset",
        /// 5.x: added by the client to each message's queue offset.
        offset_delta: opt i64 = "offsetDelta",
        /// 5.x.
        topic_sys_flag: opt i32 = "topicSysFlag",
        /// 5.x.
        group_sys_flag: opt i32 = "groupSysFlag",
        /// 5.x.
        forbidden_type: opt i32 = "forbiddenType",
    }
}

#[cfg(test)]
mod tests {
    use super::pull_sys_flag::*;
    use super::*;
    use crate::ext_fields::{CommandHeader, ExtFields};
    use crate::header::testutil::{arb, check_header, round_trip};
    use proptest::prelude::*;

    fn req_sample() -> PullMessageRequestHeader {
        PullMessageRequestHeader {
            rpc: RpcRequestHeader::with_bname("broker-a"),
            consumer_group: "cg".into(),
            topic: "%RETRY%cg".into(),
            queue_id: 0,
            queue_offset: 100,
            max_msg_nums: 32,
            sys_flag: build(true, true, false, false, false),
            commit_offset: 99,
            suspend_timeout_millis: 15_000,
            subscription: Some("a || b".into()),
            sub_version: 1_700_000_000_123,
            expression_type: Some("TAG".into()),
            max_msg_bytes: Some(1 << 20),
            request_source: Some(-1),
            proxy_froward_client_id: Some("cid".into()),
            lo: Some(false),
        }
    }

    fn resp_sample() -> PullMessageResponseHeader {
        PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: 132,
            min_offset: 0,
            max_offset: 500,
            offset_delta: Some(0),
            topic_sys_flag: Some(0),
            group_sys_flag: Some(0),
            forbidden_type: Some(0),
        }
    }

    #[test]
    fn headers_check() {
        check_header(req_sample());
        check_header(resp_sample());
    }

    #[test]
    fn misspelt_key() {
        let m = req_sample().to_ext_fields();
        assert_eq!(m.get("proxyFrowardClientId"), Some("cid"));
        assert!(!m.contains_key("proxyForwardClientId"));
    }

    #[test]
    fn java_4_9_request() {
        // What a 4.9.8 push consumer sends.
        let mut m = ExtFields::new();
        for (k, v) in [
            ("consumerGroup", "cg"),
            ("topic", "T"),
            ("queueId", "1"),
            ("queueOffset", "0"),
            ("maxMsgNums", "32"),
            ("sysFlag", "2"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "15000"),
            ("subVersion", "1700000000000"),
            ("expressionType", "TAG"),
            ("bname", "broker-a"),
        ] {
            m.insert(k, v);
        }
        let h = PullMessageRequestHeader::read_fields(&m).unwrap();
        assert!(h.has_suspend_flag());
        assert!(!h.has_commit_offset_flag());
        assert!(!h.has_subscription_flag());
        assert_eq!(h.subscription, None);
        assert_eq!(h.max_msg_bytes, None);
        assert_eq!(h.rpc.bname.as_deref(), Some("broker-a"));
        assert_eq!(h.expression_type_or_tag(), "TAG");
        assert_eq!(h.to_ext_fields().len(), m.len());
    }

    #[test]
    fn sys_flag_bits() {
        assert_eq!(FLAG_COMMIT_OFFSET, 1);
        assert_eq!(FLAG_SUSPEND, 2);
        assert_eq!(FLAG_SUBSCRIPTION, 4);
        assert_eq!(FLAG_CLASS_FILTER, 8);
        assert_eq!(FLAG_LITE_PULL_MESSAGE, 16);
        assert_eq!(build(true, true, true, true, true), 0x1f);
        assert_eq!(build(false, false, false, false, false), 0);
        let f = build(true, true, false, false, true);
        assert!(has_commit_offset_flag(f) && has_suspend_flag(f) && has_lite_pull_flag(f));
        assert!(!has_subscription_flag(f) && !has_class_filter_flag(f));
        let c = clear_commit_offset_flag(f);
        assert!(!has_commit_offset_flag(c) && has_suspend_flag(c));
        assert_eq!(clear_commit_offset_flag(-1), -2);
        let mut h = req_sample();
        h.sys_flag = FLAG_SUBSCRIPTION | FLAG_CLASS_FILTER | FLAG_LITE_PULL_MESSAGE;
        assert!(h.has_subscription_flag() && h.has_class_filter_flag() && h.has_lite_pull_flag());
        h.expression_type = None;
        assert_eq!(h.expression_type_or_tag(), EXPRESSION_TYPE_TAG);
    }

    prop_compose! {
        fn arb_pull_request()(
            rpc in arb::rpc(),
            (consumer_group, topic) in (arb::text(), arb::text()),
            (queue_id, max_msg_nums, sys_flag) in any::<(i32, i32, i32)>(),
            (queue_offset, commit_offset, suspend_timeout_millis, sub_version) in
                any::<(i64, i64, i64, i64)>(),
            (subscription, expression_type, proxy_froward_client_id) in
                (arb::opt_text(), arb::opt_text(), arb::opt_text()),
            (max_msg_bytes, request_source) in any::<(Option<i32>, Option<i32>)>(),
            lo in any::<Option<bool>>(),
        ) -> PullMessageRequestHeader {
            PullMessageRequestHeader {
                rpc, consumer_group, topic, queue_id, queue_offset, max_msg_nums, sys_flag,
                commit_offset, suspend_timeout_millis, subscription, sub_version,
                expression_type, max_msg_bytes, request_source, proxy_froward_client_id, lo,
            }
        }
    }

    prop_compose! {
        fn arb_pull_response()(
            (suggest_which_broker_id, next_begin_offset, min_offset, max_offset) in
                any::<(i64, i64, i64, i64)>(),
            offset_delta in any::<Option<i64>>(),
            (topic_sys_flag, group_sys_flag, forbidden_type) in
                any::<(Option<i32>, Option<i32>, Option<i32>)>(),
        ) -> PullMessageResponseHeader {
            PullMessageResponseHeader {
                suggest_which_broker_id, next_begin_offset, min_offset, max_offset,
                offset_delta, topic_sys_flag, group_sys_flag, forbidden_type,
            }
        }
    }

    proptest! {
        #[test]
        fn prop_pull_request_round_trip(h in arb_pull_request()) {
            prop_assert_eq!(round_trip(&h), h);
        }

        #[test]
        fn prop_pull_response_round_trip(h in arb_pull_response()) {
            prop_assert_eq!(round_trip(&h), h);
        }

        #[test]
        fn prop_sys_flag_build(bits in any::<(bool, bool, bool, bool, bool)>()) {
            let f = build(bits.0, bits.1, bits.2, bits.3, bits.4);
            prop_assert_eq!(
                (has_commit_offset_flag(f), has_suspend_flag(f), has_subscription_flag(f),
                 has_class_filter_flag(f), has_lite_pull_flag(f)),
                bits
            );
        }
    }
}
