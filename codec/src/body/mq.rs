//! `MessageQueue` and maps keyed by it.
//!
//! Java class `org.apache.rocketmq.common.message.MessageQueue` (topic, broker name, queue id).
//! It travels inside lock/unlock bodies, route-derived client state, assignments, and — as a
//! **map key** — in `ConsumeStats`, `TopicStatsTable`, `ResetOffsetBody`,
//! `GetConsumerStatusBody` and `ConsumerRunningInfo`.
//!
//! Plain fastjson writes such a map key as the bean itself (`{{"brokerName":..}:..}`), the
//! `BrowserCompatible` form writes the bean's JSON text as a string key. [`mq_map`] writes the
//! string form (accepted by every client) and reads both (the object form arrives here already
//! turned into a string by [`crate::fastjson::normalize`]).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::lenient;
use crate::error::Result;
use crate::fastjson;

/// One queue of a topic on one broker (Java `MessageQueue`).
///
/// Ordering follows Java's `compareTo`: topic, then broker name, then queue id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    #[serde(deserialize_with = "lenient::scalar")]
    pub broker_name: String,
    #[serde(deserialize_with = "lenient::scalar")]
    pub queue_id: i32,
    #[serde(deserialize_with = "lenient::scalar")]
    pub topic: String,
}

impl MessageQueue {
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        MessageQueue {
            broker_name: broker_name.into(),
            queue_id,
            topic: topic.into(),
        }
    }

    /// The JSON text of this queue, as used for a map key in the standard form:
    /// `{"brokerName":"b","queueId":0,"topic":"T"}`.
    pub fn to_json_key(&self) -> String {
        let mut s = String::with_capacity(self.broker_name.len() + self.topic.len() + 48);
        s.push_str("{\"brokerName\":");
        fastjson::push_json_string(&mut s, &self.broker_name);
        s.push_str(",\"queueId\":");
        s.push_str(&self.queue_id.to_string());
        s.push_str(",\"topic\":");
        fastjson::push_json_string(&mut s, &self.topic);
        s.push('}');
        s
    }

    /// Parse the JSON text of a queue (a map key in either fastjson form).
    pub fn from_json_key(key: &str) -> Result<Self> {
        fastjson::parse_message_queue_key(key)
    }
}

impl Ord for MessageQueue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.topic
            .cmp(&other.topic)
            .then_with(|| self.broker_name.cmp(&other.broker_name))
            .then_with(|| self.queue_id.cmp(&other.queue_id))
    }
}

impl PartialOrd for MessageQueue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MessageQueue [topic={}, brokerName={}, queueId={}]",
            self.topic, self.broker_name, self.queue_id
        )
    }
}

/// `#[serde(with = "mq_map")]` for `BTreeMap<MessageQueue, V>`: written with string keys
/// holding the queue's JSON text, read from either fastjson form; `null` reads as empty.
pub mod mq_map {
    use super::*;
    use serde::de::Error as _;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S, V>(map: &BTreeMap<MessageQueue, V>, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        V: Serialize,
    {
        s.collect_map(map.iter().map(|(k, v)| (k.to_json_key(), v)))
    }

    pub fn deserialize<'de, D, V>(d: D) -> Result<BTreeMap<MessageQueue, V>, D::Error>
    where
        D: Deserializer<'de>,
        V: Deserialize<'de>,
    {
        let raw = Option::<BTreeMap<String, V>>::deserialize(d)?.unwrap_or_default();
        fastjson::parse_message_queue_map(raw).map_err(D::Error::custom)
    }
}

/// `#[serde(with = "nested_mq_map")]` for `BTreeMap<String, BTreeMap<MessageQueue, V>>`
/// (e.g. `GetConsumerStatusBody.consumerTable`).
pub mod nested_mq_map {
    use super::*;
    use serde::de::Error as _;
    use serde::{Deserializer, Serializer};

    struct Inner<'a, V>(&'a BTreeMap<MessageQueue, V>);

    impl<V: Serialize> Serialize for Inner<'_, V> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            mq_map::serialize(self.0, s)
        }
    }

    pub fn serialize<S, V>(
        map: &BTreeMap<String, BTreeMap<MessageQueue, V>>,
        s: S,
    ) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        V: Serialize,
    {
        s.collect_map(map.iter().map(|(k, v)| (k, Inner(v))))
    }

    pub fn deserialize<'de, D, V>(
        d: D,
    ) -> Result<BTreeMap<String, BTreeMap<MessageQueue, V>>, D::Error>
    where
        D: Deserializer<'de>,
        V: Deserialize<'de>,
    {
        let raw = Option::<BTreeMap<String, Option<BTreeMap<String, V>>>>::deserialize(d)?
            .unwrap_or_default();
        raw.into_iter()
            .map(|(k, inner)| {
                fastjson::parse_message_queue_map(inner.unwrap_or_default())
                    .map(|m| (k, m))
                    .map_err(D::Error::custom)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_matches_fastjson() {
        let mq = MessageQueue::new("T", "b", 0);
        assert_eq!(
            mq.to_json_key(),
            r#"{"brokerName":"b","queueId":0,"topic":"T"}"#
        );
        assert_eq!(serde_json::to_string(&mq).unwrap(), mq.to_json_key());
        let odd = MessageQueue::new("a\"b\\c", "é\n", -3);
        assert_eq!(
            MessageQueue::from_json_key(&odd.to_json_key()).unwrap(),
            odd
        );
        assert_eq!(serde_json::to_string(&odd).unwrap(), odd.to_json_key());
    }

    #[test]
    fn java_ordering() {
        let mut v = [
            MessageQueue::new("B", "a", 0),
            MessageQueue::new("A", "z", 1),
            MessageQueue::new("A", "z", 0),
            MessageQueue::new("A", "b", 9),
        ];
        v.sort();
        assert_eq!(v[0], MessageQueue::new("A", "b", 9));
        assert_eq!(v[1], MessageQueue::new("A", "z", 0));
        assert_eq!(v[3], MessageQueue::new("B", "a", 0));
    }
}
