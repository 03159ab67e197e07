//! Route data: the body of a GET_ROUTEINFO_BY_TOPIC (105) response from the name server.
//!
//! Java classes `TopicRouteData`, `BrokerData`, `QueueData` (package `common.protocol.route`
//! in 4.9.8, `remoting.protocol.route` in 5.x). `BrokerData` also appears in `ClusterInfo`.
//!
//! `BrokerData.brokerAddrs` is a `HashMap<Long,String>`: the 4.9.8 name server writes it as
//! `{0:"ip:port"}` for requests with `version < 401` and `{"0":"ip:port"}` otherwise; both
//! decode here, and we always write the quoted form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{json_body, lenient};

/// `TopicRouteData`: where a topic's queues live.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    #[serde(deserialize_with = "lenient::or_default")]
    pub broker_datas: Vec<BrokerData>,
    /// broker address → filter server addresses. Always written (usually `{}`).
    #[serde(deserialize_with = "lenient::or_default")]
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    /// `"brokerA:4;brokerB:4"` for order topics (name server `orderMessageEnable`).
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub order_topic_conf: Option<String>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub queue_datas: Vec<QueueData>,
    /// 5.x static-topic mapping (brokerName → `TopicQueueMappingInfo`), passed through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_by_broker: Option<BTreeMap<String, serde_json::Value>>,
}

/// `BrokerData`: one broker group (master and slaves sharing a broker name).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    /// brokerId → `"ip:port"`; id 0 is the master.
    #[serde(deserialize_with = "lenient::or_default")]
    pub broker_addrs: BTreeMap<i64, String>,
    #[serde(deserialize_with = "lenient::scalar")]
    pub broker_name: String,
    #[serde(deserialize_with = "lenient::scalar")]
    pub cluster: String,
    /// 5.x property. Always written (the Rust client `rocketmq-client-rust` requires it);
    /// older Java clients ignore it.
    #[serde(deserialize_with = "lenient::scalar")]
    pub enable_acting_master: bool,
    /// 5.x property, optional.
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub zone_name: Option<String>,
}

impl BrokerData {
    pub fn new(cluster: impl Into<String>, broker_name: impl Into<String>) -> Self {
        BrokerData {
            cluster: cluster.into(),
            broker_name: broker_name.into(),
            ..Default::default()
        }
    }

    /// The master's address (broker id 0), if any.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&0).map(String::as_str)
    }
}

/// `QueueData`: the queues and permission of a topic on one broker.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueData {
    #[serde(deserialize_with = "lenient::scalar")]
    pub broker_name: String,
    #[serde(deserialize_with = "lenient::scalar")]
    pub perm: i32,
    #[serde(deserialize_with = "lenient::scalar")]
    pub read_queue_nums: i32,
    /// Spelled `topicSynFlag` before 4.9.0; both spellings are read.
    #[serde(alias = "topicSynFlag", deserialize_with = "lenient::scalar")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "lenient::scalar")]
    pub write_queue_nums: i32,
}

json_body!(
    TopicRouteData => "TopicRouteData",
    BrokerData => "BrokerData",
    QueueData => "QueueData",
);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::body::testutil::*;
    use proptest::prelude::*;

    const STANDARD: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.5:10911","1":"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
    const FASTJSON: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;

    fn expected() -> TopicRouteData {
        let mut b = BrokerData::new("DefaultCluster", "broker-a");
        b.broker_addrs.insert(0, "10.0.0.5:10911".into());
        b.broker_addrs.insert(1, "10.0.0.6:10911".into());
        TopicRouteData {
            broker_datas: vec![b],
            queue_datas: vec![QueueData {
                broker_name: "broker-a".into(),
                perm: 6,
                read_queue_nums: 4,
                topic_sys_flag: 0,
                write_queue_nums: 4,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn both_forms_decode() {
        assert_eq!(
            TopicRouteData::decode(STANDARD.as_bytes()).unwrap(),
            expected()
        );
        assert_eq!(
            TopicRouteData::decode(FASTJSON.as_bytes()).unwrap(),
            expected()
        );
    }

    #[test]
    fn encodes_standard_with_acting_master() {
        let out = String::from_utf8(expected().encode()).unwrap();
        assert_eq!(
            out,
            r#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.5:10911","1":"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#
        );
        assert_eq!(
            expected().broker_datas[0].master_addr(),
            Some("10.0.0.5:10911")
        );
    }

    #[test]
    fn old_spelling_and_5x_fields() {
        let s = r#"{"brokerDatas":[{"brokerAddrs":{"0":"a:1"},"brokerName":"b","cluster":"c","enableActingMaster":true,"zoneName":"z"}],"filterServerTable":{"a:1":["f:2"]},"orderTopicConf":"b:4","queueDatas":[{"brokerName":"b","perm":"6","readQueueNums":8,"topicSynFlag":3,"writeQueueNums":8}],"topicQueueMappingByBroker":{"b":{"bname":"b","epoch":1}}}"#;
        let r = TopicRouteData::decode(s.as_bytes()).unwrap();
        assert_eq!(r.queue_datas[0].topic_sys_flag, 3);
        assert_eq!(r.queue_datas[0].perm, 6);
        assert!(r.broker_datas[0].enable_acting_master);
        assert_eq!(r.broker_datas[0].zone_name.as_deref(), Some("z"));
        assert_eq!(r.order_topic_conf.as_deref(), Some("b:4"));
        assert_eq!(r.filter_server_table["a:1"], vec!["f:2".to_string()]);
        assert!(r.topic_queue_mapping_by_broker.is_some());
        assert_round_trip(&r);
    }

    #[test]
    fn missing_and_null_fields_default() {
        let r = TopicRouteData::decode(br#"{"brokerDatas":null,"queueDatas":[{}]}"#).unwrap();
        assert!(r.broker_datas.is_empty());
        assert_eq!(r.queue_datas, vec![QueueData::default()]);
        assert!(TopicRouteData::decode(b"").is_err());
        assert!(TopicRouteData::decode(b"17").is_err());
        // a fastjson back-reference where a bean is expected decodes to defaults
        let r = TopicRouteData::decode(
            br#"{"brokerDatas":[{"brokerName":"x"},{"$ref":"$.brokerDatas[0]"}]}"#,
        )
        .unwrap();
        assert_eq!(r.broker_datas[1], BrokerData::default());
    }

    pub fn broker_data() -> impl Strategy<Value = BrokerData> {
        (
            prop::collection::btree_map(any::<i64>(), text(), 0..4),
            name(),
            name(),
            any::<bool>(),
            proptest::option::of(name()),
        )
            .prop_map(|(broker_addrs, broker_name, cluster, acting, zone_name)| {
                BrokerData {
                    broker_addrs,
                    broker_name,
                    cluster,
                    enable_acting_master: acting,
                    zone_name,
                }
            })
    }

    fn queue_data() -> impl Strategy<Value = QueueData> {
        (
            name(),
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
        )
            .prop_map(|(broker_name, perm, r, f, w)| QueueData {
                broker_name,
                perm,
                read_queue_nums: r,
                topic_sys_flag: f,
                write_queue_nums: w,
            })
    }

    fn route() -> impl Strategy<Value = TopicRouteData> {
        (
            prop::collection::vec(broker_data(), 0..4),
            prop::collection::btree_map(name(), prop::collection::vec(text(), 0..3), 0..3),
            proptest::option::of(text()),
            prop::collection::vec(queue_data(), 0..4),
        )
            .prop_map(|(b, f, o, q)| TopicRouteData {
                broker_datas: b,
                filter_server_table: f,
                order_topic_conf: o,
                queue_datas: q,
                topic_queue_mapping_by_broker: None,
            })
    }

    /// The name server's pre-4.9.4 form: broker ids unquoted.
    fn unquote_ids(json: &str, route: &TopicRouteData) -> String {
        let mut s = json.to_string();
        for b in &route.broker_datas {
            for id in b.broker_addrs.keys() {
                s = s.replace(&format!("\"{id}\":"), &format!("{id}:"));
            }
        }
        s
    }

    proptest! {
        #[test]
        fn round_trip(r in route()) {
            assert_round_trip(&r);
            let fj = unquote_ids(&String::from_utf8(r.encode()).unwrap(), &r);
            prop_assert_eq!(TopicRouteData::decode(fj.as_bytes()).unwrap(), r);
        }
    }
}
