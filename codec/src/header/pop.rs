//! 5.x POP consumption: POP_MESSAGE (200050), ACK_MESSAGE (200051), PEEK_MESSAGE
//! (200052), CHANGE_MESSAGE_INVISIBLETIME (200053), NOTIFICATION (200054),
//! POLLING_INFO (200055). Not used by 4.x clients. These codes do not fit the int16 code
//! of the ROCKETMQ binary header, so they only travel with JSON headers.

use crate::header::RpcRequestHeader;

define_header! {
    /// Java `PopMessageRequestHeader` (5.x): `POP_MESSAGE` (200050).
    pub struct PopMessageRequestHeader = "PopMessageRequestHeader", base rpc: RpcRequestHeader {
        consumer_group: req String = "consumerGroup",
        topic: req String = "topic",
        /// -1 = any queue.
        queue_id: req i32 = "queueId",
        max_msg_nums: req i32 = "maxMsgNums",
        /// ms.
        invisible_time: req i64 = "invisibleTime",
        /// Long-polling time, ms.
        poll_time: req i64 = "pollTime",
        born_time: req i64 = "bornTime",
        init_mode: req i32 = "initMode",
        exp_type: opt String = "expType",
        exp: opt String = "exp",
        /// Orderly pop.
        order: opt bool = "order",
        attempt_id: opt String = "attemptId",
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `PopMessageResponseHeader` (5.x): response to code 200050.
    pub struct PopMessageResponseHeader = "PopMessageResponseHeader" {
        pop_time: req i64 = "popTime",
        invisible_time: req i64 = "invisibleTime",
        revive_qid: req i32 = "reviveQid",
        rest_num: req i64 = "restNum",
        start_offset_info: opt String = "startOffsetInfo",
        msg_offset_info: opt String = "msgOffsetInfo",
        order_count_info: opt String = "orderCountInfo",
    }
}

define_header! {
    /// Java `AckMessageRequestHeader` (5.x): `ACK_MESSAGE` (200051).
    pub struct AckMessageRequestHeader = "AckMessageRequestHeader", base rpc: RpcRequestHeader {
        consumer_group: req String = "consumerGroup",
        topic: req String = "topic",
        queue_id: req i32 = "queueId",
        /// The POP check-point string.
        extra_info: req String = "extraInfo",
        offset: req i64 = "offset",
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `PeekMessageRequestHeader` (5.x): `PEEK_MESSAGE` (200052).
    pub struct PeekMessageRequestHeader = "PeekMessageRequestHeader", base rpc: RpcRequestHeader {
        topic: req String = "topic",
        queue_id: req i32 = "queueId",
        max_msg_nums: req i32 = "maxMsgNums",
        consumer_group: req String = "consumerGroup",
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `ChangeInvisibleTimeRequestHeader` (5.x): `CHANGE_MESSAGE_INVISIBLETIME` (200053).
    pub struct ChangeInvisibleTimeRequestHeader = "ChangeInvisibleTimeRequestHeader",
        base rpc: RpcRequestHeader
    {
        consumer_group: req String = "consumerGroup",
        topic: req String = "topic",
        queue_id: req i32 = "queueId",
        extra_info: req String = "extraInfo",
        offset: req i64 = "offset",
        invisible_time: req i64 = "invisibleTime",
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `ChangeInvisibleTimeResponseHeader` (5.x): response to code 200053.
    pub struct ChangeInvisibleTimeResponseHeader = "ChangeInvisibleTimeResponseHeader" {
        pop_time: req i64 = "popTime",
        invisible_time: req i64 = "invisibleTime",
        revive_qid: req i32 = "reviveQid",
    }
}

define_header! {
    /// Java `NotificationRequestHeader` (5.x): `NOTIFICATION` (200054).
    pub struct NotificationRequestHeader = "NotificationRequestHeader", base rpc: RpcRequestHeader {
        consumer_group: req String = "consumerGroup",
        topic: req String = "topic",
        queue_id: req i32 = "queueId",
        poll_time: req i64 = "pollTime",
        born_time: req i64 = "bornTime",
        order: opt bool = "order",
        attempt_id: opt String = "attemptId",
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `NotificationResponseHeader` (5.x): response to code 200054.
    pub struct NotificationResponseHeader = "NotificationResponseHeader" {
        has_msg: req bool = "hasMsg",
        /// Java primitive, always sent.
        polling_full: dflt bool = "pollingFull" => false,
    }
}

define_header! {
    /// Java `PollingInfoRequestHeader` (5.x): `POLLING_INFO` (200055).
    pub struct PollingInfoRequestHeader = "PollingInfoRequestHeader", base rpc: RpcRequestHeader {
        consumer_group: req String = "consumerGroup",
        topic: req String = "topic",
        queue_id: req i32 = "queueId",
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `PollingInfoResponseHeader` (5.x): response to code 200055.
    pub struct PollingInfoResponseHeader = "PollingInfoResponseHeader" {
        polling_num: req i32 = "pollingNum",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::testutil::check_header;

    #[test]
    fn headers_check() {
        let rpc = RpcRequestHeader::with_bname("b");
        check_header(PopMessageRequestHeader {
            rpc: rpc.clone(),
            consumer_group: "cg".into(),
            topic: "T".into(),
            queue_id: -1,
            max_msg_nums: 32,
            invisible_time: 60_000,
            poll_time: 15_000,
            born_time: 1,
            init_mode: 0,
            exp_type: Some("TAG".into()),
            exp: Some("*".into()),
            order: Some(false),
            attempt_id: Some("a".into()),
            lo: Some(false),
        });
        check_header(PopMessageResponseHeader {
            pop_time: 1,
            invisible_time: 2,
            revive_qid: 3,
            rest_num: 4,
            start_offset_info: Some("s".into()),
            msg_offset_info: Some("m".into()),
            order_count_info: Some("o".into()),
        });
        check_header(AckMessageRequestHeader {
            rpc: rpc.clone(),
            consumer_group: "cg".into(),
            topic: "T".into(),
            queue_id: 0,
            extra_info: "0 1 2".into(),
            offset: 5,
            lo: Some(false),
        });
        check_header(PeekMessageRequestHeader {
            rpc: rpc.clone(),
            topic: "T".into(),
            queue_id: 0,
            max_msg_nums: 1,
            consumer_group: "cg".into(),
            lo: Some(false),
        });
        check_header(ChangeInvisibleTimeRequestHeader {
            rpc: rpc.clone(),
            consumer_group: "cg".into(),
            topic: "T".into(),
            queue_id: 0,
            extra_info: "x".into(),
            offset: 5,
            invisible_time: 1000,
            lo: Some(false),
        });
        check_header(ChangeInvisibleTimeResponseHeader {
            pop_time: 1,
            invisible_time: 2,
            revive_qid: 3,
        });
        check_header(NotificationRequestHeader {
            rpc: rpc.clone(),
            consumer_group: "cg".into(),
            topic: "T".into(),
            queue_id: 0,
            poll_time: 1,
            born_time: 2,
            order: Some(true),
            attempt_id: Some("a".into()),
            lo: Some(false),
        });
        check_header(NotificationResponseHeader {
            has_msg: true,
            polling_full: true,
        });
        check_header(PollingInfoRequestHeader {
            rpc,
            consumer_group: "cg".into(),
            topic: "T".into(),
            queue_id: 0,
            lo: Some(false),
        });
        check_header(PollingInfoResponseHeader { polling_num: 7 });
    }
}
