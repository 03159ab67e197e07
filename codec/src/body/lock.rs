//! Orderly-consumption locking bodies.
//!
//! * `LockBatchRequestBody`: LOCK_BATCH_MQ (41), client → broker (every 20 s for orderly
//!   consumers); the response body is a `LockBatchResponseBody` with the queues the client
//!   now holds.
//! * `UnlockBatchRequestBody`: UNLOCK_BATCH_MQ (42), no response body.
//!
//! The 4.9.8 Java bodies have only `clientId`, `consumerGroup`, `mqSet`; 5.x adds
//! `onlyThisBroker`, which is optional here and never written unless set.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::mq::MessageQueue;
use super::{json_body, lenient};

/// `LockBatchRequestBody`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    #[serde(deserialize_with = "lenient::scalar")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::scalar")]
    pub consumer_group: String,
    #[serde(deserialize_with = "lenient::or_default")]
    pub mq_set: BTreeSet<MessageQueue>,
    /// 5.x: lock only on the receiving broker (no forwarding to peers).
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub only_this_broker: Option<bool>,
}

/// `UnlockBatchRequestBody` (same properties as the lock request).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnlockBatchRequestBody {
    #[serde(deserialize_with = "lenient::scalar")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::scalar")]
    pub consumer_group: String,
    #[serde(deserialize_with = "lenient::or_default")]
    pub mq_set: BTreeSet<MessageQueue>,
    /// 5.x property.
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub only_this_broker: Option<bool>,
}

/// `LockBatchResponseBody`: the queues locked by the requesting client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet", deserialize_with = "lenient::or_default")]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

json_body!(
    LockBatchRequestBody => "LockBatchRequestBody",
    UnlockBatchRequestBody => "UnlockBatchRequestBody",
    LockBatchResponseBody => "LockBatchResponseBody",
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::testutil::*;
    use proptest::prelude::*;

    #[test]
    fn java_4x_body() {
        let s = r#"{"clientId":"10.0.0.9@1","consumerGroup":"G","mqSet":[{"brokerName":"b","queueId":1,"topic":"T"},{"brokerName":"b","queueId":0,"topic":"T"}]}"#;
        let b = LockBatchRequestBody::decode(s.as_bytes()).unwrap();
        assert_eq!(b.mq_set.len(), 2);
        assert_eq!(b.only_this_broker, None);
        let out = String::from_utf8(b.encode()).unwrap();
        assert!(!out.contains("onlyThisBroker"));
        assert_eq!(
            out,
            r#"{"clientId":"10.0.0.9@1","consumerGroup":"G","mqSet":[{"brokerName":"b","queueId":0,"topic":"T"},{"brokerName":"b","queueId":1,"topic":"T"}]}"#
        );
        let u = UnlockBatchRequestBody::decode(s.as_bytes()).unwrap();
        assert_eq!(u.mq_set, b.mq_set);
        let r = LockBatchResponseBody {
            lock_ok_mq_set: b.mq_set.clone(),
        };
        let out = String::from_utf8(r.encode()).unwrap();
        assert!(out.starts_with(r#"{"lockOKMQSet":[{"brokerName":"b","queueId":0"#));
        assert_eq!(LockBatchResponseBody::decode(out.as_bytes()).unwrap(), r);
    }

    #[test]
    fn v5_body() {
        let s = r#"{"clientId":"c","consumerGroup":"G","mqSet":[],"onlyThisBroker":true}"#;
        let b = LockBatchRequestBody::decode(s.as_bytes()).unwrap();
        assert_eq!(b.only_this_broker, Some(true));
        assert_eq!(String::from_utf8(b.encode()).unwrap(), s);
    }

    fn lock_body() -> impl Strategy<Value = LockBatchRequestBody> {
        (
            text(),
            name(),
            prop::collection::btree_set(mq(), 0..5),
            proptest::option::of(any::<bool>()),
        )
            .prop_map(|(c, g, s, o)| LockBatchRequestBody {
                client_id: c,
                consumer_group: g,
                mq_set: s,
                only_this_broker: o,
            })
    }

    proptest! {
        #[test]
        fn round_trip(b in lock_body()) {
            assert_round_trip(&b);
            let u = UnlockBatchRequestBody::decode(&b.encode()).unwrap();
            prop_assert_eq!(&u.mq_set, &b.mq_set);
            let r = LockBatchResponseBody { lock_ok_mq_set: b.mq_set };
            assert_round_trip(&r);
        }
    }
}
