//! JSON (and a few text) bodies of remoting commands, plus the broker's JSON config files.
//!
//! Java writes every body with fastjson (`RemotingSerializable.encode()`): bean properties
//! come from getters, sorted alphabetically, nulls omitted, enums as names. What the Java
//! side *reads* is more forgiving: unknown properties are ignored, missing ones keep their
//! defaults, numbers and strings are coerced into each other, enums may be ordinals, and map
//! keys may be unquoted (see [`crate::fastjson`]). Non-Java clients use all of that: the C++
//! client sends heartbeat enums as ordinals and `subVersion` as a string, ali-ons sends native
//! JSON numbers and booleans.
//!
//! Every body type here therefore:
//!
//! * **decodes** with `T::decode(&[u8])`, through the fastjson normaliser, with lenient
//!   scalars, defaults for anything missing, and unknown properties ignored;
//! * **encodes** with `T::encode()` to *standard* JSON (all map keys quoted, `MessageQueue`
//!   keys as their JSON text), properties in Java's alphabetical order, `None` omitted —
//!   the form every client (Java of any version, C++, ali-ons, Rust, Python) accepts.
//!
//! Both are also available generically through the [`JsonBody`] trait. Fields that only 5.x
//! sends are `Option`s, so a 4.x peer never sees them unless they were set.
//!
//! Non-JSON bodies: the compressed `RegisterBrokerBody` ([`RegisterBrokerBody::decode_compressed`])
//! and `java.util.Properties` text ([`properties`]).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Result;

pub mod lenient;

mod admin;
mod cluster;
mod enums;
mod group;
mod heartbeat;
mod lock;
mod mq;
mod offsets;
mod pop;
pub mod properties;
mod register;
mod route;

pub use admin::{
    format_java_date, CheckClientRequestBody, Connection, ConsumeMessageDirectlyResult,
    ConsumeStats, ConsumeStatsList, ConsumerConnection, ConsumerRunningInfo, GetConsumerStatusBody,
    OffsetWrapper, ProducerConnection, ProducerInfo, ProducerTableInfo, QueryConsumeTimeSpanBody,
    QueueTimeSpan, TopicOffset, TopicStatsTable,
};
pub use cluster::{ClusterInfo, GetConsumerListByGroupResponseBody, GroupList, KVTable, TopicList};
pub use enums::{
    ConsumeFromWhere, ConsumeResult, ConsumeType, MessageModel, MessageRequestMode, TopicFilterType,
};
pub use group::{SubscriptionGroupConfig, SubscriptionGroupWrapper};
pub use heartbeat::{
    ConsumerData, HeartbeatData, ProducerData, SubscriptionData, EXPRESSION_TYPE_SQL92,
    EXPRESSION_TYPE_TAG,
};
pub use lock::{LockBatchRequestBody, LockBatchResponseBody, UnlockBatchRequestBody};
pub use mq::{mq_map, nested_mq_map, MessageQueue};
pub use offsets::{
    ConsumerOffsetSerializeWrapper, DelayOffsetSerializeWrapper, QueryCorrectionOffsetBody,
    ResetOffsetBody, TOPIC_GROUP_SEPARATOR,
};
pub use pop::{
    MessageQueueAssignment, QueryAssignmentRequestBody, QueryAssignmentResponseBody,
    SetMessageRequestModeRequestBody,
};
pub use register::{
    DataVersion, RegisterBrokerBody, TopicConfig, TopicConfigSerializeWrapper,
    MAX_INFLATED_REGISTER_BODY,
};
pub use route::{BrokerData, QueueData, TopicRouteData};

/// A JSON body: decoded through the fastjson normaliser, encoded as standard JSON.
///
/// Every body type also has inherent `decode` / `encode` methods doing the same, so callers
/// need not import this trait; it exists for generic code (e.g. loading config files).
pub trait JsonBody: Serialize + DeserializeOwned {
    /// Name used in decode errors (the Java class name).
    const CONTEXT: &'static str;

    /// Decode either fastjson form (or standard JSON).
    fn decode(bytes: &[u8]) -> Result<Self> {
        crate::fastjson::from_slice(Self::CONTEXT, bytes)
    }

    /// Encode as compact standard JSON.
    fn encode(&self) -> Vec<u8> {
        // Cannot fail: every map key of these types serialises as a string or an integer.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Encode as indented standard JSON (for config files meant to be read by people).
    fn encode_pretty(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// Implement [`JsonBody`] and the inherent `decode` / `encode` for a body type.
macro_rules! json_body {
    ($($t:ty => $ctx:literal),+ $(,)?) => {$(
        impl $crate::body::JsonBody for $t {
            const CONTEXT: &'static str = $ctx;
        }

        impl $t {
            /// Decode from JSON in either fastjson form (see [`crate::body`]).
            pub fn decode(bytes: &[u8]) -> $crate::error::Result<Self> {
                <Self as $crate::body::JsonBody>::decode(bytes)
            }

            /// Encode as compact standard JSON (see [`crate::body`]).
            pub fn encode(&self) -> Vec<u8> {
                <Self as $crate::body::JsonBody>::encode(self)
            }
        }
    )+};
}
pub(crate) use json_body;

json_body!(MessageQueue => "MessageQueue");

#[cfg(test)]
pub(crate) mod testutil {
    //! Shared proptest strategies.
    use super::*;
    use proptest::prelude::*;

    pub fn name() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_%@\\-]{0,10}"
    }

    /// Text with characters that need escaping.
    pub fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 _:\"\\\\{}\\[\\],é\n]{0,12}"
    }

    pub fn mq() -> impl Strategy<Value = MessageQueue> {
        (name(), name(), any::<i32>()).prop_map(|(t, b, q)| MessageQueue::new(t, b, q))
    }

    /// Floats that survive a decimal round trip exactly.
    pub fn float() -> impl Strategy<Value = f64> {
        (-100_000i32..100_000).prop_map(|x| f64::from(x) / 8.0)
    }

    pub fn data_version() -> impl Strategy<Value = DataVersion> {
        (
            any::<i64>(),
            proptest::option::of(any::<i64>()),
            any::<i64>(),
        )
            .prop_map(|(counter, state_version, timestamp)| DataVersion {
                counter,
                state_version,
                timestamp,
            })
    }

    /// Both the standard and an unquoted-key variant of an encoded body must decode to `v`.
    pub fn assert_round_trip<T: JsonBody + PartialEq + std::fmt::Debug>(v: &T) {
        let bytes = v.encode();
        let back = T::decode(&bytes).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&bytes));
        });
        assert_eq!(&back, v);
        assert_eq!(back.encode(), bytes);
        let pretty = v.encode_pretty();
        assert_eq!(&T::decode(&pretty).unwrap(), v);
    }
}
