//! Typed command headers: one struct per Java `CommandCustomHeader` class, converted to and
//! from a command's `extFields` under the **Java field names** (including the odd ones:
//! `clientID`, `isForce`, `isOrder`, `proxyFrowardClientId`, `bname`, the V2 send keys
//! `a`..`n`).
//!
//! Every struct implements [`CommandHeader`](crate::ext_fields::CommandHeader) (read/write
//! `extFields`) and [`HeaderInfo`] (Java class name and field table), derives
//! `Debug, Clone, PartialEq, Eq` and has a `Default`. Field conventions:
//!
//! * `@CFNotNull` Java fields are plain Rust values; reading a map without one is
//!   `CodecError::missing(<JavaClass>, "<key>")`.
//! * Nullable fields, and every field that only 5.x knows, are `Option`s, written only
//!   when `Some`.
//! * Java primitives without `@CFNotNull` (e.g. `unitMode`, `compressed`, `offline`) are
//!   plain values that are always written and take the Java initial value when absent
//!   ([`FieldKind::Defaulted`]).
//! * Numbers are decimal text (surrounding blanks tolerated); a present but unparsable
//!   number is `CodecError::invalid_field`, also for optional fields. Booleans follow Java
//!   `parseBoolean`: only case-insensitive `true` is true, anything else is false.
//! * Unknown keys are ignored on read, notably the hook keys in [`extra_keys`].
//! * Headers deriving from Java `RpcRequestHeader` (in 4.9.8 or 5.x) embed it as the
//!   `rpc` field ([`RpcRequestHeader`]: `bname`, 5.x `ns`, `nsd`, `oway`); those deriving
//!   from 5.x `TopicRequestHeader` also have an optional `lo` field.
//!
//! Reading a header never panics and never checks more than Java does, with one
//! exception that Java shares: END_TRANSACTION's `commitOrRollback` must be 0, 8 or 12.
//!
//! Send requests come in two shapes: use [`decode_send_request`] to get the V1 form of
//! any send code, and the `From` impls between [`SendMessageRequestHeader`] and
//! [`SendMessageRequestHeaderV2`] to convert.

#[macro_use]
mod macros;

pub mod acl;
pub mod admin;
pub mod client;
pub mod namesrv;
pub mod offset;
pub mod pop;
pub mod pull;
pub mod query;
pub mod rpc;
pub mod send;
pub mod transaction;

#[cfg(test)]
mod testutil;

pub use acl::*;
pub use admin::*;
pub use client::*;
pub use macros::{FieldKind, FieldType, HeaderField, HeaderInfo};
pub use namesrv::*;
pub use offset::*;
pub use pop::*;
pub use pull::*;
pub use query::*;
pub use rpc::{extra_keys, RpcRequestHeader};
pub use send::*;
pub use transaction::*;

use crate::codes::request as rc;

/// The simple name of the Java request header class for a request code, for logs.
///
/// `None` for codes without a request header class (e.g. GET_BROKER_CLUSTER_INFO,
/// 4.9 HEART_BEAT) and for codes this module has no struct for. Codes that 5.x gave a
/// header (21, 34, 41, 42, 201, …) name the 5.x class.
pub fn request_header_class(code: i32) -> Option<&'static str> {
    Some(match code {
        rc::SEND_MESSAGE | rc::SEND_REPLY_MESSAGE => SendMessageRequestHeader::JAVA_CLASS,
        rc::SEND_MESSAGE_V2 | rc::SEND_BATCH_MESSAGE | rc::SEND_REPLY_MESSAGE_V2 => {
            SendMessageRequestHeaderV2::JAVA_CLASS
        }
        rc::PUSH_REPLY_MESSAGE_TO_CLIENT => ReplyMessageRequestHeader::JAVA_CLASS,
        rc::PULL_MESSAGE | rc::LITE_PULL_MESSAGE => PullMessageRequestHeader::JAVA_CLASS,
        rc::QUERY_MESSAGE => QueryMessageRequestHeader::JAVA_CLASS,
        rc::QUERY_CONSUMER_OFFSET => QueryConsumerOffsetRequestHeader::JAVA_CLASS,
        rc::UPDATE_CONSUMER_OFFSET => UpdateConsumerOffsetRequestHeader::JAVA_CLASS,
        rc::UPDATE_AND_CREATE_TOPIC => CreateTopicRequestHeader::JAVA_CLASS,
        rc::GET_ALL_TOPIC_CONFIG => GetAllTopicConfigRequestHeader::JAVA_CLASS,
        rc::SEARCH_OFFSET_BY_TIMESTAMP => SearchOffsetRequestHeader::JAVA_CLASS,
        rc::GET_MAX_OFFSET => GetMaxOffsetRequestHeader::JAVA_CLASS,
        rc::GET_MIN_OFFSET => GetMinOffsetRequestHeader::JAVA_CLASS,
        rc::GET_EARLIEST_MSG_STORETIME => GetEarliestMsgStoretimeRequestHeader::JAVA_CLASS,
        rc::VIEW_MESSAGE_BY_ID => ViewMessageRequestHeader::JAVA_CLASS,
        rc::HEART_BEAT => HeartbeatRequestHeader::JAVA_CLASS,
        rc::UNREGISTER_CLIENT => UnregisterClientRequestHeader::JAVA_CLASS,
        rc::CONSUMER_SEND_MSG_BACK => ConsumerSendMsgBackRequestHeader::JAVA_CLASS,
        rc::END_TRANSACTION => EndTransactionRequestHeader::JAVA_CLASS,
        rc::GET_CONSUMER_LIST_BY_GROUP => GetConsumerListByGroupRequestHeader::JAVA_CLASS,
        rc::CHECK_TRANSACTION_STATE => CheckTransactionStateRequestHeader::JAVA_CLASS,
        rc::NOTIFY_CONSUMER_IDS_CHANGED => NotifyConsumerIdsChangedRequestHeader::JAVA_CLASS,
        rc::LOCK_BATCH_MQ => LockBatchMqRequestHeader::JAVA_CLASS,
        rc::UNLOCK_BATCH_MQ => UnlockBatchMqRequestHeader::JAVA_CLASS,
        rc::PUT_KV_CONFIG => PutKVConfigRequestHeader::JAVA_CLASS,
        rc::GET_KV_CONFIG => GetKVConfigRequestHeader::JAVA_CLASS,
        rc::DELETE_KV_CONFIG => DeleteKVConfigRequestHeader::JAVA_CLASS,
        rc::REGISTER_BROKER => RegisterBrokerRequestHeader::JAVA_CLASS,
        rc::UNREGISTER_BROKER => UnRegisterBrokerRequestHeader::JAVA_CLASS,
        rc::GET_ROUTEINFO_BY_TOPIC => GetRouteInfoRequestHeader::JAVA_CLASS,
        rc::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => GetAllSubscriptionGroupRequestHeader::JAVA_CLASS,
        rc::GET_TOPIC_STATS_INFO => GetTopicStatsInfoRequestHeader::JAVA_CLASS,
        rc::GET_CONSUMER_CONNECTION_LIST => GetConsumerConnectionListRequestHeader::JAVA_CLASS,
        rc::GET_PRODUCER_CONNECTION_LIST => GetProducerConnectionListRequestHeader::JAVA_CLASS,
        rc::WIPE_WRITE_PERM_OF_BROKER => WipeWritePermOfBrokerRequestHeader::JAVA_CLASS,
        rc::DELETE_SUBSCRIPTIONGROUP => DeleteSubscriptionGroupRequestHeader::JAVA_CLASS,
        rc::GET_CONSUME_STATS => GetConsumeStatsRequestHeader::JAVA_CLASS,
        rc::RESET_CONSUMER_OFFSET_IN_BROKER
        | rc::RESET_CONSUMER_CLIENT_OFFSET
        | rc::INVOKE_BROKER_TO_RESET_OFFSET => ResetOffsetRequestHeader::JAVA_CLASS,
        rc::DELETE_TOPIC_IN_BROKER => DeleteTopicRequestHeader::JAVA_CLASS,
        rc::DELETE_TOPIC_IN_NAMESRV => DeleteTopicFromNamesrvRequestHeader::JAVA_CLASS,
        rc::REGISTER_TOPIC_IN_NAMESRV => RegisterTopicRequestHeader::JAVA_CLASS,
        rc::GET_KVLIST_BY_NAMESPACE => GetKVListByNamespaceRequestHeader::JAVA_CLASS,
        rc::GET_CONSUMER_STATUS_FROM_CLIENT | rc::INVOKE_BROKER_TO_GET_CONSUMER_STATUS => {
            GetConsumerStatusRequestHeader::JAVA_CLASS
        }
        rc::GET_TOPICS_BY_CLUSTER => GetTopicsByClusterRequestHeader::JAVA_CLASS,
        rc::QUERY_TOPIC_CONSUME_BY_WHO => QueryTopicConsumeByWhoRequestHeader::JAVA_CLASS,
        rc::QUERY_CONSUME_TIME_SPAN => QueryConsumeTimeSpanRequestHeader::JAVA_CLASS,
        rc::GET_CONSUMER_RUNNING_INFO => GetConsumerRunningInfoRequestHeader::JAVA_CLASS,
        rc::QUERY_CORRECTION_OFFSET => QueryCorrectionOffsetHeader::JAVA_CLASS,
        rc::CONSUME_MESSAGE_DIRECTLY => ConsumeMessageDirectlyResultRequestHeader::JAVA_CLASS,
        rc::CLONE_GROUP_OFFSET => CloneGroupOffsetRequestHeader::JAVA_CLASS,
        rc::VIEW_BROKER_STATS_DATA => ViewBrokerStatsDataRequestHeader::JAVA_CLASS,
        rc::GET_BROKER_CONSUME_STATS => GetConsumeStatsInBrokerHeader::JAVA_CLASS,
        rc::QUERY_CONSUME_QUEUE => QueryConsumeQueueRequestHeader::JAVA_CLASS,
        rc::QUERY_DATA_VERSION => QueryDataVersionRequestHeader::JAVA_CLASS,
        rc::RESUME_CHECK_HALF_MESSAGE => ResumeCheckHalfMessageRequestHeader::JAVA_CLASS,
        rc::ADD_WRITE_PERM_OF_BROKER => AddWritePermOfBrokerRequestHeader::JAVA_CLASS,
        rc::GET_ALL_PRODUCER_INFO => GetAllProducerInfoRequestHeader::JAVA_CLASS,
        rc::QUERY_TOPICS_BY_CONSUMER => QueryTopicsByConsumerRequestHeader::JAVA_CLASS,
        rc::QUERY_SUBSCRIPTION_BY_CONSUMER => QuerySubscriptionByConsumerRequestHeader::JAVA_CLASS,
        rc::GET_TOPIC_CONFIG => GetTopicConfigRequestHeader::JAVA_CLASS,
        rc::GET_SUBSCRIPTIONGROUP_CONFIG => GetSubscriptionGroupConfigRequestHeader::JAVA_CLASS,
        rc::UPDATE_AND_GET_GROUP_FORBIDDEN => UpdateGroupForbiddenRequestHeader::JAVA_CLASS,
        rc::RECALL_MESSAGE => RecallMessageRequestHeader::JAVA_CLASS,
        rc::POP_MESSAGE => PopMessageRequestHeader::JAVA_CLASS,
        rc::ACK_MESSAGE => AckMessageRequestHeader::JAVA_CLASS,
        rc::PEEK_MESSAGE => PeekMessageRequestHeader::JAVA_CLASS,
        rc::CHANGE_MESSAGE_INVISIBLETIME => ChangeInvisibleTimeRequestHeader::JAVA_CLASS,
        rc::NOTIFICATION => NotificationRequestHeader::JAVA_CLASS,
        rc::POLLING_INFO => PollingInfoRequestHeader::JAVA_CLASS,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names() {
        assert_eq!(request_header_class(10), Some("SendMessageRequestHeader"));
        assert_eq!(request_header_class(324), Some("SendMessageRequestHeader"));
        for c in [310, 320, 325] {
            assert_eq!(request_header_class(c), Some("SendMessageRequestHeaderV2"));
        }
        assert_eq!(request_header_class(11), Some("PullMessageRequestHeader"));
        assert_eq!(request_header_class(361), Some("PullMessageRequestHeader"));
        assert_eq!(
            request_header_class(35),
            Some("UnregisterClientRequestHeader")
        );
        for c in [212, 220, 222] {
            assert_eq!(request_header_class(c), Some("ResetOffsetRequestHeader"));
        }
        for c in [221, 223] {
            assert_eq!(
                request_header_class(c),
                Some("GetConsumerStatusRequestHeader")
            );
        }
        assert_eq!(
            request_header_class(308),
            Some("QueryCorrectionOffsetHeader")
        );
        assert_eq!(
            request_header_class(317),
            Some("GetConsumeStatsInBrokerHeader")
        );
        assert_eq!(
            request_header_class(309),
            Some("ConsumeMessageDirectlyResultRequestHeader")
        );
        assert_eq!(
            request_header_class(103),
            Some("RegisterBrokerRequestHeader")
        );
        assert_eq!(
            request_header_class(104),
            Some("UnRegisterBrokerRequestHeader")
        );
        assert_eq!(
            request_header_class(200050),
            Some("PopMessageRequestHeader")
        );
        assert_eq!(request_header_class(106), None);
        assert_eq!(request_header_class(-5), None);
        assert_eq!(request_header_class(i32::MAX), None);
    }

    #[test]
    fn every_named_code_is_known() {
        // Each code with a class is also a known request code.
        for code in (0..1000).chain(200_000..200_200) {
            if request_header_class(code).is_some() {
                assert!(rc::name(code).is_some(), "code {code}");
            }
        }
    }

    #[test]
    fn class_names_match_struct_names() {
        fn short<T>() -> &'static str {
            let full = std::any::type_name::<T>();
            full.rsplit("::").next().unwrap_or(full)
        }
        macro_rules! same {
            ($($t:ty),* $(,)?) => {$(
                assert_eq!(<$t as HeaderInfo>::JAVA_CLASS, short::<$t>());
            )*};
        }
        same!(
            RpcRequestHeader,
            SendMessageRequestHeader,
            SendMessageRequestHeaderV2,
            SendMessageResponseHeader,
            ReplyMessageRequestHeader,
            ConsumerSendMsgBackRequestHeader,
            RecallMessageRequestHeader,
            RecallMessageResponseHeader,
            EndTransactionRequestHeader,
            EndTransactionResponseHeader,
            CheckTransactionStateRequestHeader,
            CheckTransactionStateResponseHeader,
            PullMessageRequestHeader,
            PullMessageResponseHeader,
            QueryConsumerOffsetRequestHeader,
            QueryConsumerOffsetResponseHeader,
            UpdateConsumerOffsetRequestHeader,
            UpdateConsumerOffsetResponseHeader,
            SearchOffsetRequestHeader,
            SearchOffsetResponseHeader,
            GetMaxOffsetRequestHeader,
            GetMaxOffsetResponseHeader,
            GetMinOffsetRequestHeader,
            GetMinOffsetResponseHeader,
            GetEarliestMsgStoretimeRequestHeader,
            GetEarliestMsgStoretimeResponseHeader,
            QueryMessageRequestHeader,
            QueryMessageResponseHeader,
            ViewMessageRequestHeader,
            ViewMessageResponseHeader,
            UnregisterClientRequestHeader,
            UnregisterClientResponseHeader,
            GetConsumerListByGroupRequestHeader,
            GetConsumerListByGroupResponseHeader,
            NotifyConsumerIdsChangedRequestHeader,
            ResetOffsetRequestHeader,
            GetConsumerStatusRequestHeader,
            GetConsumerRunningInfoRequestHeader,
            ConsumeMessageDirectlyResultRequestHeader,
            HeartbeatRequestHeader,
            LockBatchMqRequestHeader,
            UnlockBatchMqRequestHeader,
            PutKVConfigRequestHeader,
            GetKVConfigRequestHeader,
            GetKVConfigResponseHeader,
            DeleteKVConfigRequestHeader,
            GetKVListByNamespaceRequestHeader,
            RegisterBrokerRequestHeader,
            RegisterBrokerResponseHeader,
            UnRegisterBrokerRequestHeader,
            QueryDataVersionRequestHeader,
            QueryDataVersionResponseHeader,
            GetRouteInfoRequestHeader,
            WipeWritePermOfBrokerRequestHeader,
            WipeWritePermOfBrokerResponseHeader,
            AddWritePermOfBrokerRequestHeader,
            AddWritePermOfBrokerResponseHeader,
            DeleteTopicFromNamesrvRequestHeader,
            RegisterTopicRequestHeader,
            GetTopicsByClusterRequestHeader,
            CreateTopicRequestHeader,
            DeleteTopicRequestHeader,
            GetTopicStatsInfoRequestHeader,
            GetTopicConfigRequestHeader,
            GetConsumerConnectionListRequestHeader,
            GetProducerConnectionListRequestHeader,
            GetAllProducerInfoRequestHeader,
            DeleteSubscriptionGroupRequestHeader,
            GetConsumeStatsRequestHeader,
            QueryTopicConsumeByWhoRequestHeader,
            QueryConsumeTimeSpanRequestHeader,
            QueryCorrectionOffsetHeader,
            CloneGroupOffsetRequestHeader,
            ViewBrokerStatsDataRequestHeader,
            GetConsumeStatsInBrokerHeader,
            QueryConsumeQueueRequestHeader,
            ResumeCheckHalfMessageRequestHeader,
            GetBrokerConfigResponseHeader,
            GetAllTopicConfigRequestHeader,
            GetAllTopicConfigResponseHeader,
            GetAllSubscriptionGroupRequestHeader,
            GetAllSubscriptionGroupResponseHeader,
            GetSubscriptionGroupConfigRequestHeader,
            QueryTopicsByConsumerRequestHeader,
            QuerySubscriptionByConsumerRequestHeader,
            UpdateGroupForbiddenRequestHeader,
            PopMessageRequestHeader,
            PopMessageResponseHeader,
            AckMessageRequestHeader,
            PeekMessageRequestHeader,
            ChangeInvisibleTimeRequestHeader,
            ChangeInvisibleTimeResponseHeader,
            NotificationRequestHeader,
            NotificationResponseHeader,
            PollingInfoRequestHeader,
            PollingInfoResponseHeader,
        );
    }

    use proptest::prelude::*;

    proptest! {
        /// Arbitrary maps over the known keys never make a reader panic, and whatever a
        /// reader accepts survives a write/read cycle.
        #[test]
        fn prop_readers_never_panic(
            entries in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
                        "producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums",
                        "queueId", "sysFlag", "bornTimestamp", "flag", "properties",
                        "consumerGroup", "queueOffset", "maxMsgNums", "commitOffset",
                        "suspendTimeoutMillis", "subVersion", "msgId", "commitOrRollback",
                        "tranStateTableOffset", "commitLogOffset", "offset", "group",
                        "delayLevel", "brokerName", "brokerAddr", "clusterName",
                        "haServerAddr", "brokerId", "compressed", "bodyCrc32", "bname", "lo",
                    ]),
                    prop_oneof![
                        any::<String>(),
                        any::<i64>().prop_map(|v| v.to_string()),
                        Just("true".to_string()),
                    ],
                ),
                0..40,
            )
        ) {
            use crate::ext_fields::{CommandHeader, ExtFields};
            let map: ExtFields = entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            macro_rules! probe {
                ($($t:ty),*) => {$(
                    if let Ok(h) = <$t>::read_fields(&map) {
                        prop_assert_eq!(<$t>::read_fields(&h.to_ext_fields()), Ok(h));
                    }
                )*};
            }
            probe!(
                SendMessageRequestHeader,
                SendMessageRequestHeaderV2,
                SendMessageResponseHeader,
                PullMessageRequestHeader,
                PullMessageResponseHeader,
                EndTransactionRequestHeader,
                ConsumerSendMsgBackRequestHeader,
                RegisterBrokerRequestHeader,
                QueryConsumerOffsetRequestHeader
            );
            for code in [10, 310] {
                let _ = decode_send_request(code, &map);
            }
        }
    }

    #[test]
    fn field_tables_have_unique_keys() {
        fn unique<T: HeaderInfo>() {
            let keys: Vec<_> = T::FIELDS.iter().map(|f| f.key).collect();
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), keys.len(), "{}", T::JAVA_CLASS);
        }
        unique::<SendMessageRequestHeader>();
        unique::<SendMessageRequestHeaderV2>();
        unique::<PullMessageRequestHeader>();
        unique::<CreateTopicRequestHeader>();
        assert_eq!(SendMessageRequestHeaderV2::FIELDS.len(), 14);
        let keys: String = SendMessageRequestHeaderV2::FIELDS
            .iter()
            .map(|f| f.key)
            .collect();
        assert_eq!(keys, "abcdefghijklmn");
    }
}
