//! Consumer-group configuration.
//!
//! * `SubscriptionGroupConfig`: body of UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200), admin →
//!   broker; also an entry of the wrapper below.
//! * `SubscriptionGroupWrapper`: GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) response, and the whole
//!   content of the broker's `config/subscriptionGroup.json`.
//!
//! Missing properties take Java's defaults (consume/broadcast/min/notify enabled, 16 retries,
//! 1 retry queue, slow-consumption broker 1). 5.x-only properties are optional; the complex
//! ones (`groupRetryPolicy`, `subscriptionDataSet`) are passed through as JSON values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::register::DataVersion;
use super::{json_body, lenient};

/// `SubscriptionGroupConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfig {
    /// 5.x property.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    /// Broker id to consume from (0 = master).
    #[serde(deserialize_with = "lenient::scalar")]
    pub broker_id: i64,
    #[serde(deserialize_with = "lenient::bool_true")]
    pub consume_broadcast_enable: bool,
    #[serde(deserialize_with = "lenient::bool_true")]
    pub consume_enable: bool,
    #[serde(deserialize_with = "lenient::bool_true")]
    pub consume_from_min_enable: bool,
    /// 5.x property.
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub consume_message_orderly: Option<bool>,
    /// 5.x property (Java default 15).
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub consume_timeout_minute: Option<i32>,
    #[serde(deserialize_with = "lenient::scalar")]
    pub group_name: String,
    /// 5.x property (`GroupRetryPolicy`), passed through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_retry_policy: Option<serde_json::Value>,
    /// 5.x property.
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_sys_flag: Option<i32>,
    #[serde(deserialize_with = "lenient::bool_true")]
    pub notify_consumer_ids_changed_enable: bool,
    #[serde(deserialize_with = "lenient::scalar")]
    pub retry_max_times: i32,
    #[serde(deserialize_with = "lenient::scalar")]
    pub retry_queue_nums: i32,
    /// 5.x property (set of `SimpleSubscriptionData`), passed through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_data_set: Option<serde_json::Value>,
    #[serde(deserialize_with = "lenient::scalar")]
    pub which_broker_when_consume_slowly: i64,
}

impl SubscriptionGroupConfig {
    pub fn new(group_name: impl Into<String>) -> Self {
        SubscriptionGroupConfig {
            group_name: group_name.into(),
            ..Default::default()
        }
    }
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        SubscriptionGroupConfig {
            attributes: None,
            broker_id: 0,
            consume_broadcast_enable: true,
            consume_enable: true,
            consume_from_min_enable: true,
            consume_message_orderly: None,
            consume_timeout_minute: None,
            group_name: String::new(),
            group_retry_policy: None,
            group_sys_flag: None,
            notify_consumer_ids_changed_enable: true,
            retry_max_times: 16,
            retry_queue_nums: 1,
            subscription_data_set: None,
            which_broker_when_consume_slowly: 1,
        }
    }
}

/// `SubscriptionGroupWrapper`: every group config of a broker.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    #[serde(deserialize_with = "lenient::or_default")]
    pub data_version: DataVersion,
    /// 5.x property: group → topic → forbidden bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forbidden_table: Option<BTreeMap<String, BTreeMap<String, i32>>>,
    /// group name → config.
    #[serde(deserialize_with = "lenient::or_default")]
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
}

json_body!(
    SubscriptionGroupConfig => "SubscriptionGroupConfig",
    SubscriptionGroupWrapper => "SubscriptionGroupWrapper",
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::testutil::*;
    use proptest::prelude::*;

    #[test]
    fn java_defaults_and_file() {
        let g = SubscriptionGroupConfig::decode(br#"{"groupName":"G"}"#).unwrap();
        assert_eq!(g, SubscriptionGroupConfig::new("G"));
        assert_eq!(
            String::from_utf8(g.encode()).unwrap(),
            r#"{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,"groupName":"G","notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}"#
        );
        let file = "{\n\t\"dataVersion\":{\n\t\t\"counter\":2,\n\t\t\"timestamp\":17\n\t},\n\t\"subscriptionGroupTable\":{\n\t\t\"G\":{\n\t\t\t\"brokerId\":0,\n\t\t\t\"consumeBroadcastEnable\":true,\n\t\t\t\"consumeEnable\":false,\n\t\t\t\"consumeFromMinEnable\":true,\n\t\t\t\"groupName\":\"G\",\n\t\t\t\"notifyConsumerIdsChangedEnable\":true,\n\t\t\t\"retryMaxTimes\":3,\n\t\t\t\"retryQueueNums\":1,\n\t\t\t\"whichBrokerWhenConsumeSlowly\":1\n\t\t}\n\t}\n}";
        let w = SubscriptionGroupWrapper::decode(file.as_bytes()).unwrap();
        let g = &w.subscription_group_table["G"];
        assert!(!g.consume_enable);
        assert_eq!(g.retry_max_times, 3);
        assert_round_trip(&w);
    }

    #[test]
    fn v5_properties() {
        let s = r#"{"attributes":{},"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,"consumeMessageOrderly":false,"consumeTimeoutMinute":15,"groupName":"G","groupRetryPolicy":{"type":"CUSTOMIZED"},"groupSysFlag":0,"notifyConsumerIdsChangedEnable":null,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}"#;
        let g = SubscriptionGroupConfig::decode(s.as_bytes()).unwrap();
        assert_eq!(g.consume_timeout_minute, Some(15));
        assert!(g.notify_consumer_ids_changed_enable);
        assert_eq!(g.group_retry_policy.as_ref().unwrap()["type"], "CUSTOMIZED");
        assert_round_trip(&g);
    }

    fn group() -> impl Strategy<Value = SubscriptionGroupConfig> {
        (
            (
                proptest::option::of(prop::collection::btree_map(name(), text(), 0..3)),
                any::<i64>(),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                proptest::option::of(any::<bool>()),
                proptest::option::of(any::<i32>()),
            ),
            (
                name(),
                proptest::option::of(any::<i32>()),
                any::<bool>(),
                any::<i32>(),
                any::<i32>(),
                any::<i64>(),
            ),
        )
            .prop_map(|((a, bid, cb, ce, cm, co, ct), (g, sf, n, rmt, rqn, w))| {
                SubscriptionGroupConfig {
                    attributes: a,
                    broker_id: bid,
                    consume_broadcast_enable: cb,
                    consume_enable: ce,
                    consume_from_min_enable: cm,
                    consume_message_orderly: co,
                    consume_timeout_minute: ct,
                    group_name: g,
                    group_retry_policy: None,
                    group_sys_flag: sf,
                    notify_consumer_ids_changed_enable: n,
                    retry_max_times: rmt,
                    retry_queue_nums: rqn,
                    subscription_data_set: None,
                    which_broker_when_consume_slowly: w,
                }
            })
    }

    proptest! {
        #[test]
        fn round_trip(g in group()) {
            assert_round_trip(&g);
            let w = SubscriptionGroupWrapper {
                data_version: DataVersion::new(1, 2),
                forbidden_table: None,
                subscription_group_table: [(g.group_name.clone(), g)].into_iter().collect(),
            };
            assert_round_trip(&w);
        }
    }
}
