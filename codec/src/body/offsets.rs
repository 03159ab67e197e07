//! Offset tables.
//!
//! * `ConsumerOffsetSerializeWrapper`: the broker's `config/consumerOffset.json`, and the body
//!   of GET_ALL_CONSUMER_OFFSET (43) used by slaves. `topic@group` → {queueId: next offset}.
//! * `DelayOffsetSerializeWrapper`: the broker's `config/delayOffset.json` and the body of
//!   GET_ALL_DELAY_OFFSET (45). delay level → next offset in `SCHEDULE_TOPIC_XXXX`.
//! * `QueryCorrectionOffsetBody`: QUERY_CORRECTION_OFFSET (216) response, queueId → offset.
//! * `ResetOffsetBody`: INVOKE_BROKER_TO_RESET_OFFSET (222) response and RESET_CONSUMER_CLIENT_OFFSET
//!   (220) broker → client request body, MessageQueue → offset.
//!
//! Java writes the integer-keyed maps with **unquoted** keys (`{0:250,1:250}`); both forms
//! are read. [`encode`](ConsumerOffsetSerializeWrapper::encode) writes standard JSON (quoted
//! keys, which Java reads back as well); `encode_fastjson` reproduces Java's unquoted form
//! for files that should look exactly like the Java broker's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::mq::{mq_map, MessageQueue};
use super::register::DataVersion;
use super::{json_body, lenient};
use crate::fastjson::push_json_string;

/// Separator between topic and group in `ConsumerOffsetSerializeWrapper` keys.
pub const TOPIC_GROUP_SEPARATOR: char = '@';

/// `ConsumerOffsetSerializeWrapper`: committed consumer offsets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerOffsetSerializeWrapper {
    /// 5.x property.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_version: Option<DataVersion>,
    /// `topic@group` → queue id → next offset to consume.
    #[serde(deserialize_with = "lenient::or_default")]
    pub offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

impl ConsumerOffsetSerializeWrapper {
    /// The `topic@group` key.
    pub fn key(topic: &str, group: &str) -> String {
        format!("{topic}{TOPIC_GROUP_SEPARATOR}{group}")
    }

    /// Split a `topic@group` key; `None` unless there is exactly one `@` (as Java requires).
    pub fn split_key(key: &str) -> Option<(&str, &str)> {
        let (topic, group) = key.split_once(TOPIC_GROUP_SEPARATOR)?;
        if group.contains(TOPIC_GROUP_SEPARATOR) {
            return None;
        }
        Some((topic, group))
    }

    /// Compact JSON in Java's own form: queue ids as unquoted keys,
    /// e.g. `{"offsetTable":{"T@G":{0:250,1:250}}}`. Not standard JSON.
    pub fn encode_fastjson(&self) -> Vec<u8> {
        let mut s = String::with_capacity(32 + self.offset_table.len() * 48);
        s.push('{');
        if let Some(dv) = &self.data_version {
            s.push_str("\"dataVersion\":");
            s.push_str(&String::from_utf8_lossy(&dv.encode()));
            s.push(',');
        }
        s.push_str("\"offsetTable\":{");
        for (n, (key, queues)) in self.offset_table.iter().enumerate() {
            if n > 0 {
                s.push(',');
            }
            push_json_string(&mut s, key);
            s.push(':');
            push_int_map(&mut s, queues);
        }
        s.push_str("}}");
        s.into_bytes()
    }
}

/// `DelayOffsetSerializeWrapper`: progress of the scheduled-message service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DelayOffsetSerializeWrapper {
    /// 5.x property.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_version: Option<DataVersion>,
    /// delay level (1-based) → next consume-queue offset to deliver.
    #[serde(deserialize_with = "lenient::or_default")]
    pub offset_table: BTreeMap<i32, i64>,
}

impl DelayOffsetSerializeWrapper {
    /// Compact JSON in Java's own form: `{"offsetTable":{1:0,2:17}}`. Not standard JSON.
    pub fn encode_fastjson(&self) -> Vec<u8> {
        let mut s = String::with_capacity(32 + self.offset_table.len() * 16);
        s.push('{');
        if let Some(dv) = &self.data_version {
            s.push_str("\"dataVersion\":");
            s.push_str(&String::from_utf8_lossy(&dv.encode()));
            s.push(',');
        }
        s.push_str("\"offsetTable\":");
        push_int_map(&mut s, &self.offset_table);
        s.push('}');
        s.into_bytes()
    }
}

fn push_int_map(s: &mut String, map: &BTreeMap<i32, i64>) {
    s.push('{');
    for (n, (k, v)) in map.iter().enumerate() {
        if n > 0 {
            s.push(',');
        }
        s.push_str(&k.to_string());
        s.push(':');
        s.push_str(&v.to_string());
    }
    s.push('}');
}

/// `QueryCorrectionOffsetBody`: queue id → corrected offset.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryCorrectionOffsetBody {
    #[serde(deserialize_with = "lenient::or_default")]
    pub correction_offsets: BTreeMap<i32, i64>,
}

/// `ResetOffsetBody`: queue → offset to reset to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResetOffsetBody {
    #[serde(with = "mq_map")]
    pub offset_table: BTreeMap<MessageQueue, i64>,
}

json_body!(
    ConsumerOffsetSerializeWrapper => "ConsumerOffsetSerializeWrapper",
    DelayOffsetSerializeWrapper => "DelayOffsetSerializeWrapper",
    QueryCorrectionOffsetBody => "QueryCorrectionOffsetBody",
    ResetOffsetBody => "ResetOffsetBody",
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::testutil::*;
    use proptest::prelude::*;

    #[test]
    fn consumer_offset_file() {
        // what the Java broker writes (fastjson pretty format, tabs, unquoted queue ids)
        let s = "{\n\t\"offsetTable\":{\n\t\t\"TopicTest@G\":{0:250,1:250,2:249,3:250\n\t\t},\n\t\t\"%RETRY%G@G\":{0:0\n\t\t}\n\t}\n}";
        let w = ConsumerOffsetSerializeWrapper::decode(s.as_bytes()).unwrap();
        assert_eq!(w.offset_table["TopicTest@G"][&2], 249);
        assert_eq!(w.offset_table.len(), 2);
        assert_eq!(
            String::from_utf8(w.encode()).unwrap(),
            r#"{"offsetTable":{"%RETRY%G@G":{"0":0},"TopicTest@G":{"0":250,"1":250,"2":249,"3":250}}}"#
        );
        assert_eq!(
            String::from_utf8(w.encode_fastjson()).unwrap(),
            r#"{"offsetTable":{"%RETRY%G@G":{0:0},"TopicTest@G":{0:250,1:250,2:249,3:250}}}"#
        );
        assert_eq!(
            ConsumerOffsetSerializeWrapper::split_key("TopicTest@G"),
            Some(("TopicTest", "G"))
        );
        assert_eq!(ConsumerOffsetSerializeWrapper::split_key("a@b@c"), None);
        assert_eq!(ConsumerOffsetSerializeWrapper::key("T", "G"), "T@G");
    }

    #[test]
    fn delay_offset_file() {
        let w = DelayOffsetSerializeWrapper::decode(b"{\"offsetTable\":{1:0,2:17,3:5}}").unwrap();
        assert_eq!(w.offset_table[&2], 17);
        assert_eq!(
            String::from_utf8(w.encode_fastjson()).unwrap(),
            "{\"offsetTable\":{1:0,2:17,3:5}}"
        );
        let w5 = DelayOffsetSerializeWrapper::decode(
            br#"{"dataVersion":{"counter":1,"stateVersion":0,"timestamp":2},"offsetTable":{"1":0}}"#,
        )
        .unwrap();
        assert_eq!(w5.data_version.as_ref().unwrap().counter, 1);
        assert_eq!(
            DelayOffsetSerializeWrapper::decode(&w5.encode_fastjson()).unwrap(),
            w5
        );
        assert_round_trip(&w5);
    }

    #[test]
    fn correction_and_reset() {
        let c = QueryCorrectionOffsetBody::decode(b"{\"correctionOffsets\":{0:17,1:3}}").unwrap();
        assert_eq!(c.correction_offsets[&0], 17);
        assert_round_trip(&c);
        let r = ResetOffsetBody::decode(
            br#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:5}}"#,
        )
        .unwrap();
        assert_eq!(r.offset_table[&MessageQueue::new("T", "b", 0)], 5);
        assert_eq!(
            String::from_utf8(r.encode()).unwrap(),
            r#"{"offsetTable":{"{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}":5}}"#
        );
        assert_round_trip(&r);
    }

    fn wrapper() -> impl Strategy<Value = ConsumerOffsetSerializeWrapper> {
        (
            proptest::option::of(data_version()),
            prop::collection::btree_map(
                (name(), name()).prop_map(|(t, g)| ConsumerOffsetSerializeWrapper::key(&t, &g)),
                prop::collection::btree_map(any::<i32>(), any::<i64>(), 0..5),
                0..5,
            ),
        )
            .prop_map(|(d, o)| ConsumerOffsetSerializeWrapper {
                data_version: d,
                offset_table: o,
            })
    }

    proptest! {
        #[test]
        fn consumer_offsets_round_trip(w in wrapper()) {
            assert_round_trip(&w);
            prop_assert_eq!(ConsumerOffsetSerializeWrapper::decode(&w.encode_fastjson()).unwrap(), w);
        }

        #[test]
        fn reset_round_trip(m in prop::collection::btree_map(mq(), any::<i64>(), 0..5)) {
            assert_round_trip(&ResetOffsetBody { offset_table: m });
        }
    }
}
