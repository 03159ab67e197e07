//! Admin and monitoring bodies (what `mqadmin` / `DefaultMQAdminExt` and the dashboard parse).
//!
//! | Type | Request code(s) | Direction |
//! |---|---|---|
//! | [`TopicStatsTable`] / [`TopicOffset`] | GET_TOPIC_STATS_INFO (202) | broker → admin |
//! | [`ConsumeStats`] / [`OffsetWrapper`] | GET_CONSUME_STATS (208) | broker → admin |
//! | [`ConsumerConnection`] / [`Connection`] | GET_CONSUMER_CONNECTION_LIST (203) | broker → admin |
//! | [`ProducerConnection`] | GET_PRODUCER_CONNECTION_LIST (204) | broker → admin |
//! | [`ProducerTableInfo`] / [`ProducerInfo`] | GET_ALL_PRODUCER_INFO (328) | broker → admin |
//! | [`QueryConsumeTimeSpanBody`] / [`QueueTimeSpan`] | QUERY_CONSUME_TIME_SPAN (303) | broker → admin |
//! | [`GetConsumerStatusBody`] | INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223), GET_CONSUMER_STATUS_FROM_CLIENT (221) | broker ↔ client/admin |
//! | [`ConsumeMessageDirectlyResult`] | CONSUME_MESSAGE_DIRECTLY (309) | client → broker → admin |
//! | [`ConsumerRunningInfo`] | GET_CONSUMER_RUNNING_INFO (307) | client → broker → admin, verbatim |
//! | [`CheckClientRequestBody`] | CHECK_CLIENT_CONFIG (46) | client → broker |
//! | [`ConsumeStatsList`] | GET_BROKER_CONSUME_STATS (317) | broker → admin |
//!
//! Maps keyed by `MessageQueue` are written with the queue's JSON text as a string key and
//! read in both fastjson forms (see [`super::mq_map`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::enums::{ConsumeFromWhere, ConsumeResult, ConsumeType, MessageModel};
use super::heartbeat::SubscriptionData;
use super::mq::{mq_map, nested_mq_map, MessageQueue};
use super::{json_body, lenient};
use crate::language::LanguageCode;

/// `TopicOffset`: offsets of one queue of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    /// Store time of the last message (0 if the queue is empty).
    #[serde(deserialize_with = "lenient::scalar")]
    pub last_update_timestamp: i64,
    #[serde(deserialize_with = "lenient::scalar")]
    pub max_offset: i64,
    #[serde(deserialize_with = "lenient::scalar")]
    pub min_offset: i64,
}

/// `TopicStatsTable`: per-queue offsets of a topic on one broker.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicStatsTable {
    #[serde(with = "mq_map")]
    pub offset_table: BTreeMap<MessageQueue, TopicOffset>,
    /// 5.x property.
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub topic_put_tps: Option<f64>,
}

/// `OffsetWrapper`: a consumer group's progress on one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    /// The queue's max offset.
    #[serde(deserialize_with = "lenient::scalar")]
    pub broker_offset: i64,
    /// The committed offset (0 if none).
    #[serde(deserialize_with = "lenient::scalar")]
    pub consumer_offset: i64,
    /// Store time of the message at `consumerOffset - 1` (0 if none).
    #[serde(deserialize_with = "lenient::scalar")]
    pub last_timestamp: i64,
    /// 5.x property.
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub pull_offset: Option<i64>,
}

/// `ConsumeStats`: a consumer group's progress on one broker.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeStats {
    #[serde(deserialize_with = "lenient::scalar")]
    pub consume_tps: f64,
    #[serde(with = "mq_map")]
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
}

impl ConsumeStats {
    /// Java `computeTotalDiff()`: sum of `brokerOffset - consumerOffset`.
    pub fn compute_total_diff(&self) -> i64 {
        self.offset_table.values().fold(0i64, |acc, o| {
            acc.wrapping_add(o.broker_offset.wrapping_sub(o.consumer_offset))
        })
    }
}

/// `Connection`: one client connection of a group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Connection {
    /// `ip:port` of the TCP peer.
    #[serde(deserialize_with = "lenient::scalar")]
    pub client_addr: String,
    #[serde(deserialize_with = "lenient::scalar")]
    pub client_id: String,
    /// Written as the enum name.
    #[serde(with = "lenient::language")]
    pub language: LanguageCode,
    /// The client's version ordinal.
    #[serde(deserialize_with = "lenient::scalar")]
    pub version: i32,
}

/// `ConsumerConnection`: connections and subscriptions of a consumer group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerConnection {
    #[serde(deserialize_with = "lenient::or_default")]
    pub connection_set: Vec<Connection>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub consume_from_where: ConsumeFromWhere,
    #[serde(deserialize_with = "lenient::or_default")]
    pub consume_type: ConsumeType,
    #[serde(deserialize_with = "lenient::or_default")]
    pub message_model: MessageModel,
    /// topic → subscription.
    #[serde(deserialize_with = "lenient::or_default")]
    pub subscription_table: BTreeMap<String, SubscriptionData>,
}

/// `ProducerConnection`: connections of a producer group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerConnection {
    #[serde(deserialize_with = "lenient::or_default")]
    pub connection_set: Vec<Connection>,
}

/// `ProducerInfo`: one producer known to the broker.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerInfo {
    #[serde(deserialize_with = "lenient::scalar")]
    pub client_id: String,
    #[serde(with = "lenient::language")]
    pub language: LanguageCode,
    #[serde(deserialize_with = "lenient::scalar")]
    pub last_update_timestamp: i64,
    #[serde(rename = "remoteIP", deserialize_with = "lenient::scalar")]
    pub remote_ip: String,
    #[serde(deserialize_with = "lenient::scalar")]
    pub version: i32,
}

/// `ProducerTableInfo`: producer group → producers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProducerTableInfo {
    #[serde(deserialize_with = "lenient::or_default")]
    pub data: BTreeMap<String, Vec<ProducerInfo>>,
}

/// `QueueTimeSpan`: time range of a queue and of a group's consumption on it.
///
/// The `…Str` properties are computed getters in Java (local time, `yyyy-MM-dd#HH:mm:ss:SSS`)
/// and ignored when Java parses; here they are optional pass-through values that
/// [`QueueTimeSpan::new`] fills in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueTimeSpan {
    #[serde(deserialize_with = "lenient::scalar")]
    pub consume_time_stamp: i64,
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub consume_time_stamp_str: Option<String>,
    #[serde(deserialize_with = "lenient::scalar")]
    pub delay_time: i64,
    #[serde(deserialize_with = "lenient::scalar")]
    pub max_time_stamp: i64,
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_time_stamp_str: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_queue: Option<MessageQueue>,
    #[serde(deserialize_with = "lenient::scalar")]
    pub min_time_stamp: i64,
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_time_stamp_str: Option<String>,
}

impl QueueTimeSpan {
    /// A span with the `…Str` properties filled (UTC).
    pub fn new(
        message_queue: MessageQueue,
        min_time_stamp: i64,
        max_time_stamp: i64,
        consume_time_stamp: i64,
        delay_time: i64,
    ) -> Self {
        QueueTimeSpan {
            consume_time_stamp,
            consume_time_stamp_str: Some(format_java_date(consume_time_stamp)),
            delay_time,
            max_time_stamp,
            max_time_stamp_str: Some(format_java_date(max_time_stamp)),
            message_queue: Some(message_queue),
            min_time_stamp,
            min_time_stamp_str: Some(format_java_date(min_time_stamp)),
        }
    }
}

/// Format epoch milliseconds as `yyyy-MM-dd#HH:mm:ss:SSS` (Java `UtilAll.YYYY_MM_DD_HH_MM_SS_SSS`),
/// in UTC.
pub fn format_java_date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{:04}-{:02}-{:02}#{:02}:{:02}:{:02}:{:03}",
        year,
        month,
        day,
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// `QueryConsumeTimeSpanBody`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryConsumeTimeSpanBody {
    #[serde(deserialize_with = "lenient::or_default")]
    pub consume_time_span_set: Vec<QueueTimeSpan>,
}

/// `GetConsumerStatusBody`: consumer offsets as reported by clients.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetConsumerStatusBody {
    /// clientId → (queue → offset).
    #[serde(with = "nested_mq_map")]
    pub consumer_table: BTreeMap<String, BTreeMap<MessageQueue, i64>>,
    #[serde(with = "mq_map")]
    pub message_queue_table: BTreeMap<MessageQueue, i64>,
}

/// `ConsumeMessageDirectlyResult`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeMessageDirectlyResult {
    #[serde(deserialize_with = "lenient::bool_true")]
    pub auto_commit: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consume_result: Option<ConsumeResult>,
    #[serde(deserialize_with = "lenient::scalar")]
    pub order: bool,
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub remark: Option<String>,
    #[serde(deserialize_with = "lenient::scalar")]
    pub spent_time_mills: i64,
}

impl Default for ConsumeMessageDirectlyResult {
    fn default() -> Self {
        ConsumeMessageDirectlyResult {
            auto_commit: true,
            consume_result: None,
            order: false,
            remark: None,
            spent_time_mills: 0,
        }
    }
}

/// `ConsumerRunningInfo`: produced by the client, forwarded verbatim by the broker; kept as
/// an untyped value (its `mqTable` keys are `MessageQueue`s, normalised to JSON-text strings).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConsumerRunningInfo(pub serde_json::Value);

/// `CheckClientRequestBody`: a client asks whether its subscription is valid (SQL92 check).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CheckClientRequestBody {
    #[serde(deserialize_with = "lenient::scalar")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::scalar")]
    pub group: String,
    /// 5.x property.
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_data: Option<SubscriptionData>,
}

/// `ConsumeStatsList`: consume stats of every group on a broker.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeStatsList {
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub broker_addr: Option<String>,
    /// Each element: group → stats.
    #[serde(deserialize_with = "lenient::or_default")]
    pub consume_stats_list: Vec<BTreeMap<String, Vec<ConsumeStats>>>,
    #[serde(deserialize_with = "lenient::scalar")]
    pub total_diff: i64,
    /// 5.x property.
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_inflight_diff: Option<i64>,
}

json_body!(
    TopicOffset => "TopicOffset",
    TopicStatsTable => "TopicStatsTable",
    OffsetWrapper => "OffsetWrapper",
    ConsumeStats => "ConsumeStats",
    Connection => "Connection",
    ConsumerConnection => "ConsumerConnection",
    ProducerConnection => "ProducerConnection",
    ProducerInfo => "ProducerInfo",
    ProducerTableInfo => "ProducerTableInfo",
    QueueTimeSpan => "QueueTimeSpan",
    QueryConsumeTimeSpanBody => "QueryConsumeTimeSpanBody",
    GetConsumerStatusBody => "GetConsumerStatusBody",
    ConsumeMessageDirectlyResult => "ConsumeMessageDirectlyResult",
    ConsumerRunningInfo => "ConsumerRunningInfo",
    CheckClientRequestBody => "CheckClientRequestBody",
    ConsumeStatsList => "ConsumeStatsList",
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::heartbeat::tests::subscription;
    use crate::body::testutil::*;
    use proptest::prelude::*;

    const MQ_KEY: &str = r#"{"brokerName":"b","queueId":0,"topic":"T"}"#;

    #[test]
    fn consume_stats_both_forms() {
        let fastjson = r#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":5,"consumerOffset":3,"lastTimestamp":1700000000000},{"brokerName":"b","queueId":1,"topic":"T"}:{"brokerOffset":7,"consumerOffset":7,"lastTimestamp":0}}}"#;
        let browser = r#"{"consumeTps":1.5,"offsetTable":{"{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}":{"brokerOffset":5,"consumerOffset":3,"lastTimestamp":1700000000000},"{\"brokerName\":\"b\",\"queueId\":1,\"topic\":\"T\"}":{"brokerOffset":7,"consumerOffset":7,"lastTimestamp":0}}}"#;
        let a = ConsumeStats::decode(fastjson.as_bytes()).unwrap();
        let b = ConsumeStats::decode(browser.as_bytes()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.compute_total_diff(), 2);
        assert_eq!(
            a.offset_table[&MessageQueue::new("T", "b", 0)].consumer_offset,
            3
        );
        assert_eq!(String::from_utf8(a.encode()).unwrap(), browser);
    }

    #[test]
    fn topic_stats() {
        let s = format!(
            r#"{{"offsetTable":{{{MQ_KEY}:{{"lastUpdateTimestamp":9,"maxOffset":10,"minOffset":1}}}},"topicPutTps":0.0}}"#
        );
        let t = TopicStatsTable::decode(s.as_bytes()).unwrap();
        let o = t.offset_table[&MessageQueue::new("T", "b", 0)];
        assert_eq!(
            (o.min_offset, o.max_offset, o.last_update_timestamp),
            (1, 10, 9)
        );
        assert_eq!(t.topic_put_tps, Some(0.0));
        assert_round_trip(&t);
    }

    #[test]
    fn connections() {
        let s = r#"{"connectionSet":[{"clientAddr":"10.0.0.9:5555","clientId":"c","language":"CPP","version":333}],"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","subscriptionTable":{"T":{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1,"tagsSet":[],"topic":"T"}}}"#;
        let c = ConsumerConnection::decode(s.as_bytes()).unwrap();
        assert_eq!(c.connection_set[0].language, LanguageCode::Cpp);
        assert_eq!(String::from_utf8(c.encode()).unwrap(), s);
        let p = ProducerConnection::decode(br#"{"connectionSet":[{"language":9}]}"#).unwrap();
        assert_eq!(p.connection_set[0].language, LanguageCode::Go);
        let t = ProducerTableInfo::decode(
            br#"{"data":{"P":[{"clientId":"c","remoteIP":"1.2.3.4:5","language":"JAVA","version":409,"lastUpdateTimestamp":5}]}}"#,
        )
        .unwrap();
        assert_eq!(t.data["P"][0].remote_ip, "1.2.3.4:5");
        assert_eq!(
            String::from_utf8(t.encode()).unwrap(),
            r#"{"data":{"P":[{"clientId":"c","language":"JAVA","lastUpdateTimestamp":5,"remoteIP":"1.2.3.4:5","version":409}]}}"#
        );
    }

    #[test]
    fn time_span() {
        assert_eq!(format_java_date(0), "1970-01-01#00:00:00:000");
        assert_eq!(
            format_java_date(1_700_000_000_123),
            "2023-11-14#22:13:20:123"
        );
        assert_eq!(format_java_date(-1), "1969-12-31#23:59:59:999");
        let _ = format_java_date(i64::MIN);
        let _ = format_java_date(i64::MAX);
        let q = QueueTimeSpan::new(MessageQueue::new("T", "b", 0), 1, 2, 3, 4);
        let body = QueryConsumeTimeSpanBody {
            consume_time_span_set: vec![q],
        };
        assert_round_trip(&body);
        let s = String::from_utf8(body.encode()).unwrap();
        assert!(s.starts_with(r#"{"consumeTimeSpanSet":[{"consumeTimeStamp":3,"consumeTimeStampStr":"1970-01-01#00:00:00:003","delayTime":4"#), "{s}");
    }

    #[test]
    fn consumer_status_and_direct_result() {
        let s = format!(
            r#"{{"consumerTable":{{"c1":{{{MQ_KEY}:5}}}},"messageQueueTable":{{{MQ_KEY}:6}}}}"#
        );
        let g = GetConsumerStatusBody::decode(s.as_bytes()).unwrap();
        let mq = MessageQueue::new("T", "b", 0);
        assert_eq!(g.consumer_table["c1"][&mq], 5);
        assert_eq!(g.message_queue_table[&mq], 6);
        assert_round_trip(&g);

        let r = ConsumeMessageDirectlyResult::decode(
            br#"{"consumeResult":"CR_SUCCESS","order":false,"remark":"ok","spentTimeMills":3}"#,
        )
        .unwrap();
        assert!(r.auto_commit);
        assert_eq!(r.consume_result, Some(ConsumeResult::Success));
        assert_eq!(
            String::from_utf8(r.encode()).unwrap(),
            r#"{"autoCommit":true,"consumeResult":"CR_SUCCESS","order":false,"remark":"ok","spentTimeMills":3}"#
        );
    }

    #[test]
    fn running_info_passes_through() {
        let s = format!(
            r#"{{"jstack":"x","mqTable":{{{MQ_KEY}:{{"cachedMsgCount":0}}}},"properties":{{"a":"1"}},"statusTable":{{}},"subscriptionSet":[]}}"#
        );
        let r = ConsumerRunningInfo::decode(s.as_bytes()).unwrap();
        assert_eq!(r.0["mqTable"][MQ_KEY]["cachedMsgCount"], 0);
        assert_round_trip(&r);
    }

    #[test]
    fn check_client_and_stats_list() {
        let c = CheckClientRequestBody::decode(
            br#"{"clientId":"c","group":"G","subscriptionData":{"expressionType":"SQL92","subString":"a > 1","topic":"T","subVersion":"5"}}"#,
        )
        .unwrap();
        let sd = c.subscription_data.as_ref().unwrap();
        assert_eq!(sd.expression_type, "SQL92");
        assert_eq!(sd.sub_version, 5);
        assert_round_trip(&c);

        let l = ConsumeStatsList::decode(
            format!(r#"{{"brokerAddr":"a:1","consumeStatsList":[{{"G":[{{"consumeTps":0.0,"offsetTable":{{{MQ_KEY}:{{"brokerOffset":1,"consumerOffset":0,"lastTimestamp":0}}}}}}]}}],"totalDiff":1}}"#).as_bytes(),
        )
        .unwrap();
        assert_eq!(l.total_diff, 1);
        assert_eq!(l.consume_stats_list[0]["G"][0].compute_total_diff(), 1);
        assert_round_trip(&l);
    }

    fn offset_wrapper() -> impl Strategy<Value = OffsetWrapper> {
        (
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            proptest::option::of(any::<i64>()),
        )
            .prop_map(|(b, c, l, p)| OffsetWrapper {
                broker_offset: b,
                consumer_offset: c,
                last_timestamp: l,
                pull_offset: p,
            })
    }

    fn consume_stats() -> impl Strategy<Value = ConsumeStats> {
        (
            float(),
            prop::collection::btree_map(mq(), offset_wrapper(), 0..5),
        )
            .prop_map(|(t, o)| ConsumeStats {
                consume_tps: t,
                offset_table: o,
            })
    }

    /// Java's non-BrowserCompatible form: queue keys as raw objects.
    fn fastjson_form(stats: &ConsumeStats) -> String {
        let mut s = String::from("{\"consumeTps\":");
        s.push_str(&serde_json::to_string(&stats.consume_tps).unwrap());
        s.push_str(",\"offsetTable\":{");
        for (n, (k, v)) in stats.offset_table.iter().enumerate() {
            if n > 0 {
                s.push(',');
            }
            s.push_str(&k.to_json_key());
            s.push(':');
            s.push_str(&String::from_utf8(v.encode()).unwrap());
        }
        s.push_str("}}");
        s
    }

    proptest! {
        #[test]
        fn consume_stats_round_trip(c in consume_stats()) {
            assert_round_trip(&c);
            prop_assert_eq!(ConsumeStats::decode(fastjson_form(&c).as_bytes()).unwrap(), c);
        }

        #[test]
        fn consumer_connection_round_trip(
            subs in prop::collection::btree_map(name(), subscription(), 0..3),
            cid in text(),
            lang in 0u8..14,
        ) {
            let c = ConsumerConnection {
                connection_set: vec![Connection {
                    client_addr: "1.2.3.4:5".into(),
                    client_id: cid,
                    language: LanguageCode::from_code(lang),
                    version: 409,
                }],
                subscription_table: subs,
                ..Default::default()
            };
            assert_round_trip(&c);
        }
    }
}
