//! Heartbeat: the body of HEART_BEAT (34), client → broker, every 30 s.
//!
//! Java classes `HeartbeatData`, `ProducerData`, `ConsumerData`, `SubscriptionData`
//! (package `common.protocol.heartbeat`). `SubscriptionData` also travels in
//! `ConsumerConnection`, `CheckClientRequestBody` and consumer running info.
//!
//! What the senders differ in (all accepted):
//! * Java: enums as names, everything present.
//! * C++ (`rocketmq-client-cpp`): enums as **integer ordinals**, `subVersion` as a JSON
//!   **string**, no `expressionType` / `classFilterMode` / `unitMode`, and empty arrays left
//!   out entirely.
//! * ali-ons: enums as names, `expressionType` often absent, `unitMode` may be absent.
//! * 5.x Java: adds `heartbeatFingerprint` and `withoutSub` (v2 "light" heartbeats).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::enums::{ConsumeFromWhere, ConsumeType, MessageModel};
use super::{json_body, lenient};

/// The expression type of tag subscriptions (the Java default).
pub const EXPRESSION_TYPE_TAG: &str = "TAG";
/// The expression type of SQL92 subscriptions.
pub const EXPRESSION_TYPE_SQL92: &str = "SQL92";

/// `HeartbeatData`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    /// `clientIP@instanceName[@unitName]`.
    #[serde(
        rename = "clientID",
        alias = "clientId",
        deserialize_with = "lenient::scalar"
    )]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::or_default")]
    pub consumer_data_set: Vec<ConsumerData>,
    /// 5.x: fingerprint of the subscriptions (heartbeat v2).
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub heartbeat_fingerprint: Option<i32>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub producer_data_set: Vec<ProducerData>,
    /// 5.x: `true` when subscriptions were intentionally left out (heartbeat v2).
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub without_sub: Option<bool>,
}

/// `ProducerData`: one producer group of the client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    #[serde(deserialize_with = "lenient::scalar")]
    pub group_name: String,
}

/// `ConsumerData`: one consumer group of the client.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    #[serde(deserialize_with = "lenient::or_default")]
    pub consume_from_where: ConsumeFromWhere,
    #[serde(deserialize_with = "lenient::or_default")]
    pub consume_type: ConsumeType,
    #[serde(deserialize_with = "lenient::scalar")]
    pub group_name: String,
    #[serde(deserialize_with = "lenient::or_default")]
    pub message_model: MessageModel,
    #[serde(deserialize_with = "lenient::or_default")]
    pub subscription_data_set: Vec<SubscriptionData>,
    #[serde(deserialize_with = "lenient::scalar")]
    pub unit_mode: bool,
}

/// `SubscriptionData`: one topic subscription of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    /// Legacy class-filter mode.
    #[serde(deserialize_with = "lenient::scalar")]
    pub class_filter_mode: bool,
    /// Java `String.hashCode()` of each tag.
    #[serde(deserialize_with = "lenient::set")]
    pub code_set: BTreeSet<i32>,
    /// `"TAG"` (also when absent or null) or `"SQL92"`; an empty string is kept as sent.
    #[serde(deserialize_with = "expression_type")]
    pub expression_type: String,
    /// The expression; `"*"` subscribes to everything.
    #[serde(deserialize_with = "lenient::scalar")]
    pub sub_string: String,
    /// Version (ms timestamp) of the subscription.
    #[serde(deserialize_with = "lenient::scalar")]
    pub sub_version: i64,
    #[serde(deserialize_with = "lenient::set")]
    pub tags_set: BTreeSet<String>,
    #[serde(deserialize_with = "lenient::scalar")]
    pub topic: String,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        SubscriptionData {
            class_filter_mode: false,
            code_set: BTreeSet::new(),
            expression_type: EXPRESSION_TYPE_TAG.to_owned(),
            sub_string: String::new(),
            sub_version: 0,
            tags_set: BTreeSet::new(),
            topic: String::new(),
        }
    }
}

impl SubscriptionData {
    /// True for tag subscriptions (`TAG`, or an empty expression type, as Java treats it).
    pub fn is_tag_type(&self) -> bool {
        self.expression_type.is_empty() || self.expression_type.eq_ignore_ascii_case("TAG")
    }
}

fn expression_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    lenient::option::<D, String>(d).map(|o| o.unwrap_or_else(|| EXPRESSION_TYPE_TAG.to_owned()))
}

json_body!(
    HeartbeatData => "HeartbeatData",
    ProducerData => "ProducerData",
    ConsumerData => "ConsumerData",
    SubscriptionData => "SubscriptionData",
);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::body::testutil::*;
    use proptest::prelude::*;

    #[test]
    fn java_heartbeat() {
        let s = r#"{"clientID":"10.0.0.9@12345#987654321","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"G","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2653,2654],"expressionType":"TAG","subString":"TagA || TagB","subVersion":1700000000000,"tagsSet":["TagA","TagB"],"topic":"T"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000001,"tagsSet":[],"topic":"%RETRY%G"}],"unitMode":false}],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}"#;
        let h = HeartbeatData::decode(s.as_bytes()).unwrap();
        assert_eq!(h.client_id, "10.0.0.9@12345#987654321");
        let c = &h.consumer_data_set[0];
        assert_eq!(c.consume_type, ConsumeType::ConsumePassively);
        assert_eq!(c.subscription_data_set.len(), 2);
        assert_eq!(c.subscription_data_set[0].tags_set.len(), 2);
        assert!(c.subscription_data_set[0].is_tag_type());
        // Java's own output is reproduced byte for byte (sets happen to be sorted here)
        assert_eq!(String::from_utf8(h.encode()).unwrap(), s);
        assert_round_trip(&h);
    }

    #[test]
    fn cpp_heartbeat() {
        // jsoncpp FastWriter output of rocketmq-client-cpp: ordinals, string subVersion,
        // no expressionType/classFilterMode/unitMode, empty arrays omitted, trailing newline.
        let s = "{\"clientID\":\"10.0.0.7@4242\",\"consumerDataSet\":[{\"consumeFromWhere\":4,\"consumeType\":1,\"groupName\":\"GID_cpp\",\"messageModel\":1,\"subscriptionDataSet\":[{\"codeSet\":[2598919],\"subString\":\"TagA\",\"subVersion\":\"1700000000123\",\"tagsSet\":[\"TagA\"],\"topic\":\"T\"},{\"subString\":\"*\",\"subVersion\":\"1700000000124\",\"topic\":\"%RETRY%GID_cpp\"}]}]}\n";
        let h = HeartbeatData::decode(s.as_bytes()).unwrap();
        assert!(h.producer_data_set.is_empty());
        let c = &h.consumer_data_set[0];
        assert_eq!(
            c.consume_from_where,
            ConsumeFromWhere::ConsumeFromFirstOffset
        );
        assert_eq!(c.consume_type, ConsumeType::ConsumePassively);
        assert_eq!(c.message_model, MessageModel::Clustering);
        assert!(!c.unit_mode);
        let sub = &c.subscription_data_set[0];
        assert_eq!(sub.sub_version, 1_700_000_000_123);
        assert_eq!(sub.expression_type, "TAG");
        assert!(!sub.class_filter_mode);
        assert_eq!(
            sub.code_set.iter().copied().collect::<Vec<_>>(),
            vec![2598919]
        );
        assert!(c.subscription_data_set[1].tags_set.is_empty());
        assert_round_trip(&h);
    }

    #[test]
    fn ali_ons_heartbeat() {
        let s = r#"{"clientID":"10.0.0.8@31337","consumerDataSet":[{"groupName":"GID_node","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"topic":"T","subString":"*","classFilterMode":false,"tagsSet":[],"codeSet":[],"subVersion":1700000000999}]}],"producerDataSet":[{"groupName":"PID_node"}]}"#;
        let h = HeartbeatData::decode(s.as_bytes()).unwrap();
        let c = &h.consumer_data_set[0];
        assert!(!c.unit_mode);
        assert_eq!(c.subscription_data_set[0].expression_type, "TAG");
        assert_eq!(h.producer_data_set[0].group_name, "PID_node");
    }

    #[test]
    fn v5_heartbeat_fields_and_lenient_names() {
        let s =
            r#"{"clientId":"c","heartbeatFingerprint":"-5","withoutSub":1,"consumerDataSet":null}"#;
        let h = HeartbeatData::decode(s.as_bytes()).unwrap();
        assert_eq!(h.client_id, "c");
        assert_eq!(h.heartbeat_fingerprint, Some(-5));
        assert_eq!(h.without_sub, Some(true));
        let out = String::from_utf8(h.encode()).unwrap();
        assert_eq!(
            out,
            r#"{"clientID":"c","consumerDataSet":[],"heartbeatFingerprint":-5,"producerDataSet":[],"withoutSub":true}"#
        );
        // 4.x output carries no 5.x fields
        let h = HeartbeatData {
            client_id: "c".into(),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(h.encode()).unwrap(),
            r#"{"clientID":"c","consumerDataSet":[],"producerDataSet":[]}"#
        );
    }

    #[test]
    fn bad_enum_is_an_error() {
        assert!(HeartbeatData::decode(br#"{"consumerDataSet":[{"messageModel":7}]}"#).is_err());
        assert!(HeartbeatData::decode(br#"{"consumerDataSet":[{"consumeType":"X"}]}"#).is_err());
        let h = HeartbeatData::decode(br#"{"consumerDataSet":[{"consumeType":null}]}"#).unwrap();
        assert_eq!(h.consumer_data_set[0].consume_type, ConsumeType::default());
    }

    pub fn subscription() -> impl Strategy<Value = SubscriptionData> {
        (
            any::<bool>(),
            prop::collection::btree_set(any::<i32>(), 0..4),
            prop_oneof![Just("TAG".to_string()), Just("SQL92".to_string()), text()],
            text(),
            any::<i64>(),
            prop::collection::btree_set(text(), 0..4),
            name(),
        )
            .prop_map(|(cfm, codes, et, ss, sv, tags, topic)| SubscriptionData {
                class_filter_mode: cfm,
                code_set: codes,
                expression_type: et,
                sub_string: ss,
                sub_version: sv,
                tags_set: tags,
                topic,
            })
    }

    fn consumer() -> impl Strategy<Value = ConsumerData> {
        (
            prop::sample::select(ConsumeFromWhere::ALL),
            prop::sample::select(ConsumeType::ALL),
            name(),
            prop::sample::select(MessageModel::ALL),
            prop::collection::vec(subscription(), 0..3),
            any::<bool>(),
        )
            .prop_map(|(cfw, ct, g, mm, subs, unit)| ConsumerData {
                consume_from_where: cfw,
                consume_type: ct,
                group_name: g,
                message_model: mm,
                subscription_data_set: subs,
                unit_mode: unit,
            })
    }

    fn heartbeat() -> impl Strategy<Value = HeartbeatData> {
        (
            text(),
            prop::collection::vec(consumer(), 0..3),
            proptest::option::of(any::<i32>()),
            prop::collection::vec(name().prop_map(|g| ProducerData { group_name: g }), 0..3),
            proptest::option::of(any::<bool>()),
        )
            .prop_map(|(c, cd, fp, pd, ws)| HeartbeatData {
                client_id: c,
                consumer_data_set: cd,
                heartbeat_fingerprint: fp,
                producer_data_set: pd,
                without_sub: ws,
            })
    }

    /// Rewrite a heartbeat the way the C++ client would: ordinals and string subVersions.
    fn cpp_style(h: &HeartbeatData) -> serde_json::Value {
        let mut v = serde_json::to_value(h).unwrap();
        for (c, cd) in v["consumerDataSet"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .zip(&h.consumer_data_set)
        {
            c["consumeFromWhere"] = cd.consume_from_where.ordinal().into();
            c["consumeType"] = cd.consume_type.ordinal().into();
            c["messageModel"] = cd.message_model.ordinal().into();
            for (s, sd) in c["subscriptionDataSet"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .zip(&cd.subscription_data_set)
            {
                s["subVersion"] = sd.sub_version.to_string().into();
            }
        }
        v
    }

    proptest! {
        #[test]
        fn round_trip(h in heartbeat()) {
            assert_round_trip(&h);
            let cpp = serde_json::to_vec(&cpp_style(&h)).unwrap();
            prop_assert_eq!(HeartbeatData::decode(&cpp).unwrap(), h);
        }
    }
}
