//! Cluster info, topic lists, key/value tables, consumer and group lists.
//!
//! * `ClusterInfo`: GET_BROKER_CLUSTER_INFO (106) response from the name server.
//! * `TopicList`: GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206), GET_TOPICS_BY_CLUSTER (224),
//!   GET_SYSTEM_TOPIC_LIST_FROM_NS/BROKER, GET_UNIT_TOPIC_LIST…
//! * `KVTable`: GET_BROKER_RUNTIME_INFO (28), GET_KVLIST_BY_NAMESPACE (219).
//! * `GetConsumerListByGroupResponseBody`: GET_CONSUMER_LIST_BY_GROUP (38) — drives every
//!   consumer's rebalance, so it must list each live client id (an empty *body* is an error
//!   on the Java side).
//! * `GroupList`: QUERY_TOPIC_CONSUME_BY_WHO (300), GET_ALL_PRODUCER/consumer-group queries.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::route::BrokerData;
use super::{json_body, lenient};

/// `ClusterInfo`: every broker group and which cluster it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    /// broker name → its addresses.
    #[serde(deserialize_with = "lenient::or_default")]
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// cluster name → broker names.
    #[serde(deserialize_with = "lenient::or_default")]
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

/// `TopicList`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    /// Set by the name server for system-topic lists (a master address).
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub broker_addr: Option<String>,
    #[serde(deserialize_with = "lenient::set")]
    pub topic_list: BTreeSet<String>,
}

/// `KVTable`: a string → string table.
///
/// For GET_BROKER_RUNTIME_INFO, mqadmin `clusterList` parses several values with
/// `Long.parseLong` without null checks (`msgPutTotalYesterdayMorning`,
/// `msgPutTotalTodayMorning`, `msgPutTotalTodayNow`, the three `msgGetTotal…` keys) and
/// `putTps` / `getTransferedTps` as space-separated decimals: always fill them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KVTable {
    #[serde(deserialize_with = "kv_values")]
    pub table: BTreeMap<String, String>,
}

fn kv_values<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = Option::<BTreeMap<String, lenient::Lenient<String>>>::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// `GetConsumerListByGroupResponseBody`: the client ids of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetConsumerListByGroupResponseBody {
    #[serde(deserialize_with = "lenient::vec")]
    pub consumer_id_list: Vec<String>,
}

/// `GroupList`: a set of group names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupList {
    #[serde(deserialize_with = "lenient::set")]
    pub group_list: BTreeSet<String>,
}

json_body!(
    ClusterInfo => "ClusterInfo",
    TopicList => "TopicList",
    KVTable => "KVTable",
    GetConsumerListByGroupResponseBody => "GetConsumerListByGroupResponseBody",
    GroupList => "GroupList",
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::route::tests::broker_data;
    use crate::body::testutil::*;
    use proptest::prelude::*;

    #[test]
    fn cluster_info_fastjson_form() {
        let s = r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.5:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;
        let c = ClusterInfo::decode(s.as_bytes()).unwrap();
        assert_eq!(
            c.broker_addr_table["broker-a"].master_addr(),
            Some("10.0.0.5:10911")
        );
        assert!(c.cluster_addr_table["DefaultCluster"].contains("broker-a"));
        assert_eq!(
            String::from_utf8(c.encode()).unwrap(),
            r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{"0":"10.0.0.5:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#
        );
    }

    #[test]
    fn small_bodies() {
        let t = TopicList::decode(br#"{"topicList":["b","a"],"brokerAddr":"x:1"}"#).unwrap();
        assert_eq!(
            String::from_utf8(t.encode()).unwrap(),
            r#"{"brokerAddr":"x:1","topicList":["a","b"]}"#
        );
        let kv =
            KVTable::decode(br#"{"table":{"putTps":"1.0 2.0 3.0","bootTimestamp":17}}"#).unwrap();
        assert_eq!(kv.table["bootTimestamp"], "17");
        let l = GetConsumerListByGroupResponseBody::decode(br#"{"consumerIdList":["c1","c2"]}"#)
            .unwrap();
        assert_eq!(l.consumer_id_list, vec!["c1", "c2"]);
        assert_eq!(
            String::from_utf8(l.encode()).unwrap(),
            r#"{"consumerIdList":["c1","c2"]}"#
        );
        let g = GroupList::decode(br#"{"groupList":["g"]}"#).unwrap();
        assert!(g.group_list.contains("g"));
        assert_round_trip(&g);
        assert_round_trip(&kv);
        assert_round_trip(&t);
    }

    fn cluster_info() -> impl Strategy<Value = ClusterInfo> {
        (
            prop::collection::btree_map(name(), broker_data(), 0..4),
            prop::collection::btree_map(name(), prop::collection::btree_set(name(), 0..3), 0..3),
        )
            .prop_map(|(b, c)| ClusterInfo {
                broker_addr_table: b,
                cluster_addr_table: c,
            })
    }

    proptest! {
        #[test]
        fn round_trip(c in cluster_info()) {
            assert_round_trip(&c);
        }
    }
}
