//! Client management and broker → client requests: UNREGISTER_CLIENT (35),
//! GET_CONSUMER_LIST_BY_GROUP (38), NOTIFY_CONSUMER_IDS_CHANGED (40), offset resets
//! (212/220/222), consumer status (221/223), GET_CONSUMER_RUNNING_INFO (307),
//! CONSUME_MESSAGE_DIRECTLY (309), and the field-less 5.x HEART_BEAT / LOCK_BATCH_MQ /
//! UNLOCK_BATCH_MQ headers.

use crate::header::RpcRequestHeader;

define_header! {
    /// Java `UnregisterClientRequestHeader`: `UNREGISTER_CLIENT` (35). Note the key `clientID`.
    pub struct UnregisterClientRequestHeader = "UnregisterClientRequestHeader",
        base rpc: RpcRequestHeader
    {
        /// Client id (key `clientID`).
        client_id: req String = "clientID",
        producer_group: opt String = "producerGroup",
        consumer_group: opt String = "consumerGroup",
    }
}

define_header! {
    /// Java `UnregisterClientResponseHeader`: no fields (response to code 35).
    pub struct UnregisterClientResponseHeader = "UnregisterClientResponseHeader" {}
}

define_header! {
    /// Java `GetConsumerListByGroupRequestHeader`: `GET_CONSUMER_LIST_BY_GROUP` (38).
    pub struct GetConsumerListByGroupRequestHeader = "GetConsumerListByGroupRequestHeader",
        base rpc: RpcRequestHeader
    {
        consumer_group: req String = "consumerGroup",
    }
}

define_header! {
    /// Java `GetConsumerListByGroupResponseHeader`: no fields (the list is the body).
    pub struct GetConsumerListByGroupResponseHeader = "GetConsumerListByGroupResponseHeader" {}
}

define_header! {
    /// Java `NotifyConsumerIdsChangedRequestHeader`: `NOTIFY_CONSUMER_IDS_CHANGED` (40),
    /// broker → client, oneway.
    pub struct NotifyConsumerIdsChangedRequestHeader = "NotifyConsumerIdsChangedRequestHeader",
        base rpc: RpcRequestHeader
    {
        consumer_group: req String = "consumerGroup",
    }
}

define_header! {
    /// Java `ResetOffsetRequestHeader`: `RESET_CONSUMER_OFFSET_IN_BROKER` (212),
    /// `RESET_CONSUMER_CLIENT_OFFSET` (220, broker → client, oneway) and
    /// `INVOKE_BROKER_TO_RESET_OFFSET` (222). Note the key `isForce`.
    pub struct ResetOffsetRequestHeader = "ResetOffsetRequestHeader", base rpc: RpcRequestHeader {
        topic: req String = "topic",
        group: req String = "group",
        /// Target store timestamp, ms.
        timestamp: req i64 = "timestamp",
        /// Key `isForce`: also move offsets forward.
        is_force: req bool = "isForce",
        /// 5.x: a single queue (absent / -1 = all queues).
        queue_id: opt i32 = "queueId",
        /// 5.x: explicit target offset.
        offset: opt i64 = "offset",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

impl ResetOffsetRequestHeader {
    /// The 5.x queue id, -1 (all queues) when absent.
    pub fn queue_id_or_all(&self) -> i32 {
        self.queue_id.unwrap_or(-1)
    }
}

define_header! {
    /// Java `GetConsumerStatusRequestHeader`: `GET_CONSUMER_STATUS_FROM_CLIENT` (221,
    /// broker → client) and `INVOKE_BROKER_TO_GET_CONSUMER_STATUS` (223).
    pub struct GetConsumerStatusRequestHeader = "GetConsumerStatusRequestHeader",
        base rpc: RpcRequestHeader
    {
        topic: req String = "topic",
        group: req String = "group",
        /// Restrict to one client address.
        client_addr: opt String = "clientAddr",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `GetConsumerRunningInfoRequestHeader`: `GET_CONSUMER_RUNNING_INFO` (307),
    /// admin → broker → client.
    pub struct GetConsumerRunningInfoRequestHeader = "GetConsumerRunningInfoRequestHeader",
        base rpc: RpcRequestHeader
    {
        consumer_group: req String = "consumerGroup",
        client_id: req String = "clientId",
        /// Include thread stacks (Java primitive, always sent).
        jstack_enable: dflt bool = "jstackEnable" => false,
    }
}

define_header! {
    /// Java `ConsumeMessageDirectlyResultRequestHeader`: `CONSUME_MESSAGE_DIRECTLY` (309),
    /// admin → broker → client. The broker adds `brokerName` before forwarding.
    pub struct ConsumeMessageDirectlyResultRequestHeader =
        "ConsumeMessageDirectlyResultRequestHeader", base rpc: RpcRequestHeader
    {
        consumer_group: req String = "consumerGroup",
        client_id: opt String = "clientId",
        /// Offset message id.
        msg_id: opt String = "msgId",
        broker_name: opt String = "brokerName",
        /// 5.x.
        topic: opt String = "topic",
        /// 5.x.
        topic_sys_flag: opt i32 = "topicSysFlag",
        /// 5.x.
        group_sys_flag: opt i32 = "groupSysFlag",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `HeartbeatRequestHeader` (5.x): `HEART_BEAT` (34); only base keys (4.9 sends no
    /// `extFields` at all).
    pub struct HeartbeatRequestHeader = "HeartbeatRequestHeader", base rpc: RpcRequestHeader {}
}

define_header! {
    /// Java `LockBatchMqRequestHeader` (5.x): `LOCK_BATCH_MQ` (41); only base keys.
    pub struct LockBatchMqRequestHeader = "LockBatchMqRequestHeader", base rpc: RpcRequestHeader {}
}

define_header! {
    /// Java `UnlockBatchMqRequestHeader` (5.x): `UNLOCK_BATCH_MQ` (42); only base keys.
    pub struct UnlockBatchMqRequestHeader = "UnlockBatchMqRequestHeader",
        base rpc: RpcRequestHeader
    {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext_fields::{CommandHeader, ExtFields};
    use crate::header::testutil::check_header;

    fn rpc() -> RpcRequestHeader {
        RpcRequestHeader {
            ns: Some("n".into()),
            nsd: Some(false),
            bname: Some("b".into()),
            oway: Some(true),
        }
    }

    #[test]
    fn headers_check() {
        check_header(UnregisterClientRequestHeader {
            rpc: rpc(),
            client_id: "10.0.0.1@123".into(),
            producer_group: Some("pg".into()),
            consumer_group: Some("cg".into()),
        });
        check_header(UnregisterClientResponseHeader {});
        check_header(GetConsumerListByGroupRequestHeader {
            rpc: rpc(),
            consumer_group: "cg".into(),
        });
        check_header(GetConsumerListByGroupResponseHeader {});
        check_header(NotifyConsumerIdsChangedRequestHeader {
            rpc: RpcRequestHeader::default(),
            consumer_group: "cg".into(),
        });
        check_header(ResetOffsetRequestHeader {
            rpc: rpc(),
            topic: "T".into(),
            group: "g".into(),
            timestamp: 123,
            is_force: true,
            queue_id: Some(3),
            offset: Some(9),
            lo: Some(false),
        });
        check_header(GetConsumerStatusRequestHeader {
            rpc: rpc(),
            topic: "T".into(),
            group: "g".into(),
            client_addr: Some("1.2.3.4:5".into()),
            lo: Some(false),
        });
        check_header(GetConsumerRunningInfoRequestHeader {
            rpc: rpc(),
            consumer_group: "cg".into(),
            client_id: "cid".into(),
            jstack_enable: true,
        });
        check_header(ConsumeMessageDirectlyResultRequestHeader {
            rpc: rpc(),
            consumer_group: "cg".into(),
            client_id: Some("cid".into()),
            msg_id: Some("mid".into()),
            broker_name: Some("b".into()),
            topic: Some("T".into()),
            topic_sys_flag: Some(0),
            group_sys_flag: Some(1),
            lo: Some(true),
        });
        check_header(HeartbeatRequestHeader { rpc: rpc() });
        check_header(LockBatchMqRequestHeader { rpc: rpc() });
        check_header(UnlockBatchMqRequestHeader { rpc: rpc() });
    }

    #[test]
    fn odd_keys() {
        let m = UnregisterClientRequestHeader {
            client_id: "c".into(),
            ..Default::default()
        }
        .to_ext_fields();
        assert_eq!(m.get("clientID"), Some("c"));
        assert_eq!(m.len(), 1);

        let mut m = ExtFields::new();
        m.insert("topic", "T");
        m.insert("group", "g");
        m.insert("timestamp", "5");
        m.insert("isForce", "false");
        let h = ResetOffsetRequestHeader::read_fields(&m).unwrap();
        assert!(!h.is_force);
        assert_eq!(h.queue_id_or_all(), -1);
        m.remove("isForce");
        assert_eq!(
            ResetOffsetRequestHeader::read_fields(&m),
            Err(crate::error::CodecError::missing(
                "ResetOffsetRequestHeader",
                "isForce"
            ))
        );
    }

    #[test]
    fn heartbeat_header_from_nothing() {
        assert_eq!(
            HeartbeatRequestHeader::read_fields(&ExtFields::new()),
            Ok(HeartbeatRequestHeader::default())
        );
    }
}
