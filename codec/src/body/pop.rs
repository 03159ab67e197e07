//! 5.x POP / assignment bodies.
//!
//! * `QueryAssignmentRequestBody` → `QueryAssignmentResponseBody`: QUERY_ASSIGNMENT (400),
//!   5.x client → broker (server-side rebalance).
//! * `SetMessageRequestModeRequestBody`: SET_MESSAGE_REQUEST_MODE (401), admin → broker.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::enums::{MessageModel, MessageRequestMode};
use super::mq::MessageQueue;
use super::{json_body, lenient};

/// `QueryAssignmentRequestBody`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryAssignmentRequestBody {
    #[serde(deserialize_with = "lenient::scalar")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::scalar")]
    pub consumer_group: String,
    #[serde(deserialize_with = "lenient::or_default")]
    pub message_model: MessageModel,
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub strategy_name: Option<String>,
    #[serde(deserialize_with = "lenient::scalar")]
    pub topic: String,
}

/// `MessageQueueAssignment`: one queue given to the client, and how to consume it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueueAssignment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_queue: Option<MessageQueue>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub mode: MessageRequestMode,
}

/// `QueryAssignmentResponseBody`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryAssignmentResponseBody {
    #[serde(deserialize_with = "lenient::or_default")]
    pub message_queue_assignments: BTreeSet<MessageQueueAssignment>,
}

/// `SetMessageRequestModeRequestBody`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetMessageRequestModeRequestBody {
    #[serde(deserialize_with = "lenient::scalar")]
    pub consumer_group: String,
    #[serde(deserialize_with = "lenient::or_default")]
    pub mode: MessageRequestMode,
    #[serde(deserialize_with = "lenient::scalar")]
    pub pop_share_queue_num: i32,
    #[serde(deserialize_with = "lenient::scalar")]
    pub topic: String,
}

json_body!(
    QueryAssignmentRequestBody => "QueryAssignmentRequestBody",
    MessageQueueAssignment => "MessageQueueAssignment",
    QueryAssignmentResponseBody => "QueryAssignmentResponseBody",
    SetMessageRequestModeRequestBody => "SetMessageRequestModeRequestBody",
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::testutil::*;

    #[test]
    fn assignment_bodies() {
        let s = r#"{"clientId":"c","consumerGroup":"G","messageModel":"CLUSTERING","strategyName":"AVG","topic":"T"}"#;
        let q = QueryAssignmentRequestBody::decode(s.as_bytes()).unwrap();
        assert_eq!(q.message_model, MessageModel::Clustering);
        assert_eq!(String::from_utf8(q.encode()).unwrap(), s);

        let r = QueryAssignmentResponseBody {
            message_queue_assignments: [MessageQueueAssignment {
                attachments: None,
                message_queue: Some(MessageQueue::new("T", "b", 1)),
                mode: MessageRequestMode::Pop,
            }]
            .into_iter()
            .collect(),
        };
        assert_eq!(
            String::from_utf8(r.encode()).unwrap(),
            r#"{"messageQueueAssignments":[{"messageQueue":{"brokerName":"b","queueId":1,"topic":"T"},"mode":"POP"}]}"#
        );
        assert_round_trip(&r);

        let m = SetMessageRequestModeRequestBody::decode(
            br#"{"consumerGroup":"G","mode":"POP","popShareQueueNum":"2","topic":"T"}"#,
        )
        .unwrap();
        assert_eq!(
            (m.mode, m.pop_share_queue_num),
            (MessageRequestMode::Pop, 2)
        );
        assert_round_trip(&m);
    }
}
