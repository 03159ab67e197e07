//! Send path: the V1 and V2 send request headers, the send response, reply messages,
//! consumer send-back and 5.x recall.

use crate::codes::request;
use crate::error::Result;
use crate::ext_fields::{CommandHeader, ExtFields};
use crate::header::RpcRequestHeader;

/// `extFields` key the broker adds to every send response: the broker's region id.
pub const MSG_REGION_KEY: &str = "MSG_REGION";
/// `extFields` key the broker adds to every send response: `"true"`/`"false"`, whether
/// message tracing is enabled on the broker.
pub const TRACE_ON_KEY: &str = "TRACE_ON";
/// The broker's default `regionId`, sent as [`MSG_REGION_KEY`].
pub const DEFAULT_REGION: &str = "DefaultRegion";
/// The producer's default `createTopicKey` (auto-create template topic).
pub const DEFAULT_TOPIC: &str = "TBW102";
/// The producer's default `defaultTopicQueueNums`.
pub const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 4;

define_header! {
    /// Java `SendMessageRequestHeader` (V1, long field names): request codes
    /// `SEND_MESSAGE` (10) and `SEND_REPLY_MESSAGE` (324).
    ///
    /// This is also the broker's internal form: V2 headers convert into it losslessly
    /// (`From<SendMessageRequestHeaderV2>`); see [`decode_send_request`].
    /// `queue_id < 0` means "broker picks a queue".
    pub struct SendMessageRequestHeader = "SendMessageRequestHeader", base rpc: RpcRequestHeader {
        /// Producer group.
        producer_group: req String = "producerGroup",
        /// Target topic (namespace-prefixed if the client uses a namespace).
        topic: req String = "topic",
        /// Auto-create template topic, normally `TBW102`.
        default_topic: req String = "defaultTopic",
        /// Queue count for an auto-created topic, normally 4.
        default_topic_queue_nums: req i32 = "defaultTopicQueueNums",
        /// Target queue; negative = broker picks.
        queue_id: req i32 = "queueId",
        /// `MessageSysFlag` bits set by the producer.
        sys_flag: req i32 = "sysFlag",
        /// Client wall clock, ms.
        born_timestamp: req i64 = "bornTimestamp",
        /// `Message.flag`, opaque to the broker.
        flag: req i32 = "flag",
        /// Properties string (name 0x01 value 0x02 …).
        properties: opt String = "properties",
        /// Reconsume count (retry topics).
        reconsume_times: opt i32 = "reconsumeTimes",
        /// Unit mode (4.9.8 primitive `boolean`, always sent).
        unit_mode: dflt bool = "unitMode" => false,
        /// Batch send (4.9.8 primitive `boolean`, always sent).
        batch: dflt bool = "batch" => false,
        /// Max reconsume times (retry topics; honoured from request version 121).
        max_reconsume_times: opt i32 = "maxReconsumeTimes",
        /// 5.x `TopicRequestHeader.lo` (logical queue).
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `SendMessageRequestHeaderV2` (one-letter keys `a`..`n`): request codes
    /// `SEND_MESSAGE_V2` (310), `SEND_BATCH_MESSAGE` (320), `SEND_REPLY_MESSAGE_V2` (325).
    /// What Java clients send by default.
    ///
    /// Java reads and writes only `a`..`n` for this class (the broker name travels as `n`,
    /// never as `bname`), so there is no base part here. Converts losslessly into
    /// [`SendMessageRequestHeader`] and back (`From` both ways).
    pub struct SendMessageRequestHeaderV2 = "SendMessageRequestHeaderV2" {
        /// producerGroup.
        a: req String = "a",
        /// topic.
        b: req String = "b",
        /// defaultTopic.
        c: req String = "c",
        /// defaultTopicQueueNums.
        d: req i32 = "d",
        /// queueId.
        e: req i32 = "e",
        /// sysFlag.
        f: req i32 = "f",
        /// bornTimestamp.
        g: req i64 = "g",
        /// flag.
        h: req i32 = "h",
        /// properties.
        i: opt String = "i",
        /// reconsumeTimes.
        j: opt i32 = "j",
        /// unitMode (4.9.8 primitive, always sent by Java; ali-ons/C++ may omit).
        k: dflt bool = "k" => false,
        /// maxReconsumeTimes ("consumeRetryTimes").
        l: opt i32 = "l",
        /// batch (4.9.8 primitive, always sent by Java).
        m: dflt bool = "m" => false,
        /// Broker name (V1 `bname`).
        n: opt String = "n",
    }
}

/// V2 → V1, as the broker does on receipt. `n` becomes `bname`; nothing is lost.
impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v2: SendMessageRequestHeaderV2) -> Self {
        SendMessageRequestHeader {
            rpc: RpcRequestHeader {
                bname: v2.n,
                ..Default::default()
            },
            producer_group: v2.a,
            topic: v2.b,
            default_topic: v2.c,
            default_topic_queue_nums: v2.d,
            queue_id: v2.e,
            sys_flag: v2.f,
            born_timestamp: v2.g,
            flag: v2.h,
            properties: v2.i,
            reconsume_times: v2.j,
            unit_mode: v2.k,
            batch: v2.m,
            max_reconsume_times: v2.l,
            lo: None,
        }
    }
}

/// V1 → V2, as a Java client does before sending. `bname` becomes `n`. V2 has no keys for
/// the 5.x base fields `ns`, `nsd`, `oway`, `lo`: they are dropped (as in Java). With
/// those unset (always the case for 4.x), V1 → V2 → V1 is the identity.
impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(v1: SendMessageRequestHeader) -> Self {
        SendMessageRequestHeaderV2 {
            a: v1.producer_group,
            b: v1.topic,
            c: v1.default_topic,
            d: v1.default_topic_queue_nums,
            e: v1.queue_id,
            f: v1.sys_flag,
            g: v1.born_timestamp,
            h: v1.flag,
            i: v1.properties,
            j: v1.reconsume_times,
            k: v1.unit_mode,
            l: v1.max_reconsume_times,
            m: v1.batch,
            n: v1.rpc.bname,
        }
    }
}

/// True for the request codes whose header is [`SendMessageRequestHeaderV2`]
/// (310, 320, 325).
pub fn is_send_v2_code(code: i32) -> bool {
    matches!(
        code,
        request::SEND_MESSAGE_V2 | request::SEND_BATCH_MESSAGE | request::SEND_REPLY_MESSAGE_V2
    )
}

/// Read the send header of a send request (codes 10, 310, 320, 324, 325) in its V1 form:
/// the V2 codes are read as [`SendMessageRequestHeaderV2`] and converted.
pub fn decode_send_request(code: i32, fields: &ExtFields) -> Result<SendMessageRequestHeader> {
    if is_send_v2_code(code) {
        SendMessageRequestHeaderV2::read_fields(fields).map(SendMessageRequestHeader::from)
    } else {
        SendMessageRequestHeader::read_fields(fields)
    }
}

define_header! {
    /// Java `SendMessageResponseHeader`: response to codes 10, 310, 320, 324, 325.
    ///
    /// Java clients unbox `msgId`, `queueId` and `queueOffset` for codes 0/10/11/12, so a
    /// success must carry all three. `msg_id` is the offset message id of the stored record
    /// (for batches, the comma-joined ids) and must be decodable (transactions use it).
    /// The broker also puts `MSG_REGION` and `TRACE_ON` into every send response; they are
    /// not Java fields of this class but are carried here as optional fields.
    pub struct SendMessageResponseHeader = "SendMessageResponseHeader" {
        /// Offset message id of the (first) stored record.
        msg_id: req String = "msgId",
        /// Queue actually used.
        queue_id: req i32 = "queueId",
        /// Consume-queue offset of the (first) message.
        queue_offset: req i64 = "queueOffset",
        /// Transaction id.
        transaction_id: opt String = "transactionId",
        /// 5.x: batch unique id.
        batch_uniq_id: opt String = "batchUniqId",
        /// 5.x: handle for RECALL_MESSAGE.
        recall_handle: opt String = "recallHandle",
        /// Broker region (`MSG_REGION`, default `DefaultRegion`).
        msg_region: opt String = "MSG_REGION",
        /// Broker trace switch (`TRACE_ON`).
        trace_on: opt bool = "TRACE_ON",
    }
}

define_header! {
    /// Java `ReplyMessageRequestHeader`: `PUSH_REPLY_MESSAGE_TO_CLIENT` (326), broker →
    /// requesting client. `born_host`/`store_host` are `"ip:port"` text.
    pub struct ReplyMessageRequestHeader = "ReplyMessageRequestHeader", base rpc: RpcRequestHeader {
        producer_group: req String = "producerGroup",
        topic: req String = "topic",
        default_topic: req String = "defaultTopic",
        default_topic_queue_nums: req i32 = "defaultTopicQueueNums",
        queue_id: req i32 = "queueId",
        sys_flag: req i32 = "sysFlag",
        born_timestamp: req i64 = "bornTimestamp",
        flag: req i32 = "flag",
        properties: opt String = "properties",
        reconsume_times: opt i32 = "reconsumeTimes",
        /// Primitive `boolean` in Java, always sent.
        unit_mode: dflt bool = "unitMode" => false,
        /// `"ip:port"` of the original producer.
        born_host: req String = "bornHost",
        /// `"ip:port"` of the storing broker.
        store_host: req String = "storeHost",
        store_timestamp: req i64 = "storeTimestamp",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `ConsumerSendMsgBackRequestHeader`: `CONSUMER_SEND_MSG_BACK` (36).
    ///
    /// `offset` is the commit-log offset of the consumed message; `delay_level` 0 lets the
    /// broker pick (3 + reconsumeTimes), negative sends straight to the DLQ.
    pub struct ConsumerSendMsgBackRequestHeader = "ConsumerSendMsgBackRequestHeader",
        base rpc: RpcRequestHeader
    {
        /// Commit-log (physical) offset of the message.
        offset: req i64 = "offset",
        /// Consumer group.
        group: req String = "group",
        /// Delay level: 0 = broker picks, < 0 = to DLQ.
        delay_level: req i32 = "delayLevel",
        /// Original (unique) message id.
        origin_msg_id: opt String = "originMsgId",
        /// Original topic.
        origin_topic: opt String = "originTopic",
        /// Primitive `boolean` in Java, always sent.
        unit_mode: dflt bool = "unitMode" => false,
        /// Group's max reconsume times.
        max_reconsume_times: opt i32 = "maxReconsumeTimes",
    }
}

define_header! {
    /// Java `RecallMessageRequestHeader` (5.x): `RECALL_MESSAGE` (370).
    pub struct RecallMessageRequestHeader = "RecallMessageRequestHeader",
        base rpc: RpcRequestHeader
    {
        producer_group: opt String = "producerGroup",
        topic: req String = "topic",
        /// Handle from the send response's `recallHandle`.
        recall_handle: req String = "recallHandle",
        /// 5.x `TopicRequestHeader.lo`.
        lo: opt bool = "lo",
    }
}

define_header! {
    /// Java `RecallMessageResponseHeader` (5.x): response to `RECALL_MESSAGE` (370).
    pub struct RecallMessageResponseHeader = "RecallMessageResponseHeader" {
        msg_id: req String = "msgId",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::testutil::{arb, check_header, round_trip};
    use proptest::prelude::*;

    fn v1_sample() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            rpc: RpcRequestHeader::with_bname("broker-a"),
            producer_group: "pg".into(),
            topic: "T".into(),
            default_topic: DEFAULT_TOPIC.into(),
            default_topic_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS,
            queue_id: 3,
            sys_flag: 4,
            born_timestamp: 1_700_000_000_000,
            flag: -7,
            properties: Some("UNIQ_KEY\u{1}abc\u{2}WAIT\u{1}true".into()),
            reconsume_times: Some(2),
            unit_mode: false,
            batch: true,
            max_reconsume_times: Some(16),
            lo: Some(false),
        }
    }

    fn v2_sample() -> SendMessageRequestHeaderV2 {
        SendMessageRequestHeaderV2 {
            a: "pg".into(),
            b: "T".into(),
            c: "TBW102".into(),
            d: 4,
            e: -1,
            f: 0,
            g: 1,
            h: 0,
            i: Some("KEYS\u{1}k".into()),
            j: Some(0),
            k: true,
            l: Some(3),
            m: false,
            n: Some("broker-b".into()),
        }
    }

    #[test]
    fn headers_check() {
        check_header(v1_sample());
        check_header(v2_sample());
        check_header(SendMessageResponseHeader {
            msg_id: "0A0000010000A1B2000000000000001F".into(),
            queue_id: 1,
            queue_offset: 42,
            transaction_id: Some("tx".into()),
            batch_uniq_id: Some("bu".into()),
            recall_handle: Some("rh".into()),
            msg_region: Some(DEFAULT_REGION.into()),
            trace_on: Some(true),
        });
        check_header(ReplyMessageRequestHeader {
            rpc: RpcRequestHeader::with_bname("b"),
            producer_group: "pg".into(),
            topic: "T".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 5,
            flag: 0,
            properties: Some("a\u{1}b".into()),
            reconsume_times: Some(0),
            unit_mode: true,
            born_host: "127.0.0.1:5000".into(),
            store_host: "127.0.0.1:10911".into(),
            store_timestamp: 6,
            lo: Some(true),
        });
        check_header(ConsumerSendMsgBackRequestHeader {
            rpc: RpcRequestHeader::with_bname("b"),
            offset: 123_456,
            group: "g".into(),
            delay_level: -1,
            origin_msg_id: Some("id".into()),
            origin_topic: Some("T".into()),
            unit_mode: false,
            max_reconsume_times: Some(16),
        });
        check_header(RecallMessageRequestHeader {
            rpc: RpcRequestHeader::default(),
            producer_group: Some("pg".into()),
            topic: "T".into(),
            recall_handle: "h".into(),
            lo: Some(false),
        });
        check_header(RecallMessageResponseHeader { msg_id: "m".into() });
    }

    #[test]
    fn v1_java_keys() {
        let m = v1_sample().to_ext_fields();
        for k in [
            "bname",
            "producerGroup",
            "topic",
            "defaultTopic",
            "defaultTopicQueueNums",
            "queueId",
            "sysFlag",
            "bornTimestamp",
            "flag",
            "properties",
            "reconsumeTimes",
            "unitMode",
            "batch",
            "maxReconsumeTimes",
            "lo",
        ] {
            assert!(m.contains_key(k), "{k}");
        }
        assert_eq!(m.get("batch"), Some("true"));
        assert_eq!(m.get("bornTimestamp"), Some("1700000000000"));
    }

    #[test]
    fn v2_minimal_like_cpp() {
        // C++ sends a..h plus a few optionals, never k/m/n.
        let mut m = ExtFields::new();
        for (k, v) in [
            ("a", "pg"),
            ("b", "T"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "1"),
            ("f", "0"),
            ("g", "99"),
            ("h", "0"),
            ("OnsChannel", "ALIYUN"),
        ] {
            m.insert(k, v);
        }
        let v2 = SendMessageRequestHeaderV2::read_fields(&m).unwrap();
        assert!(!v2.k && !v2.m);
        assert_eq!(v2.n, None);
        let v1 = decode_send_request(request::SEND_MESSAGE_V2, &m).unwrap();
        assert_eq!(v1.topic, "T");
        assert_eq!(v1.queue_id, 1);
        assert_eq!(v1.rpc.bname, None);
        // Reading V2 keys as V1 fails on the first long name.
        let e = decode_send_request(request::SEND_MESSAGE, &m).unwrap_err();
        assert_eq!(
            e,
            crate::error::CodecError::missing("SendMessageRequestHeader", "producerGroup")
        );
    }

    #[test]
    fn v2_v1_conversion() {
        let v2 = v2_sample();
        let v1 = SendMessageRequestHeader::from(v2.clone());
        assert_eq!(v1.producer_group, "pg");
        assert_eq!(v1.topic, "T");
        assert_eq!(v1.default_topic, "TBW102");
        assert_eq!(v1.default_topic_queue_nums, 4);
        assert_eq!(v1.queue_id, -1);
        assert_eq!(v1.born_timestamp, 1);
        assert_eq!(v1.properties.as_deref(), Some("KEYS\u{1}k"));
        assert!(v1.unit_mode);
        assert!(!v1.batch);
        assert_eq!(v1.max_reconsume_times, Some(3));
        assert_eq!(v1.rpc.bname.as_deref(), Some("broker-b"));
        assert_eq!(SendMessageRequestHeaderV2::from(v1), v2);

        let mut v1 = v1_sample();
        v1.lo = None;
        let back = SendMessageRequestHeader::from(SendMessageRequestHeaderV2::from(v1.clone()));
        assert_eq!(back, v1);

        // decode_send_request picks by code.
        let m2 = v2.to_ext_fields();
        for code in [310, 320, 325] {
            assert!(is_send_v2_code(code));
            assert_eq!(
                decode_send_request(code, &m2).unwrap(),
                SendMessageRequestHeader::from(v2.clone())
            );
        }
        let m1 = v1.to_ext_fields();
        for code in [10, 324] {
            assert!(!is_send_v2_code(code));
            assert_eq!(decode_send_request(code, &m1).unwrap(), v1);
        }
    }

    #[test]
    fn response_extras() {
        let mut m = ExtFields::new();
        m.insert("msgId", "X");
        m.insert("queueId", "0");
        m.insert("queueOffset", "0");
        m.insert(MSG_REGION_KEY, "DefaultRegion");
        m.insert(TRACE_ON_KEY, "false");
        let h = SendMessageResponseHeader::read_fields(&m).unwrap();
        assert_eq!(h.msg_region.as_deref(), Some(DEFAULT_REGION));
        assert_eq!(h.trace_on, Some(false));
        assert_eq!(h.transaction_id, None);
        let e = SendMessageResponseHeader::read_fields(&ExtFields::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SendMessageResponseHeader: required field 'msgId' is missing"
        );
    }

    prop_compose! {
        fn arb_v1()(
            rpc in arb::rpc(),
            (producer_group, topic, default_topic) in (arb::text(), arb::text(), arb::text()),
            (default_topic_queue_nums, queue_id, sys_flag, flag) in any::<(i32, i32, i32, i32)>(),
            born_timestamp in any::<i64>(),
            properties in arb::opt_text(),
            (reconsume_times, max_reconsume_times) in any::<(Option<i32>, Option<i32>)>(),
            (unit_mode, batch, lo) in any::<(bool, bool, Option<bool>)>(),
        ) -> SendMessageRequestHeader {
            SendMessageRequestHeader {
                rpc, producer_group, topic, default_topic, default_topic_queue_nums, queue_id,
                sys_flag, born_timestamp, flag, properties, reconsume_times, unit_mode, batch,
                max_reconsume_times, lo,
            }
        }
    }

    prop_compose! {
        fn arb_v2()(
            (a, b, c) in (arb::text(), arb::text(), arb::text()),
            (d, e, f, h) in any::<(i32, i32, i32, i32)>(),
            g in any::<i64>(),
            i in arb::opt_text(),
            (j, l) in any::<(Option<i32>, Option<i32>)>(),
            (k, m) in any::<(bool, bool)>(),
            n in arb::opt_text(),
        ) -> SendMessageRequestHeaderV2 {
            SendMessageRequestHeaderV2 { a, b, c, d, e, f, g, h, i, j, k, l, m, n }
        }
    }

    prop_compose! {
        fn arb_send_response()(
            msg_id in arb::text(),
            queue_id in any::<i32>(),
            queue_offset in any::<i64>(),
            (transaction_id, batch_uniq_id, recall_handle, msg_region) in
                (arb::opt_text(), arb::opt_text(), arb::opt_text(), arb::opt_text()),
            trace_on in any::<Option<bool>>(),
        ) -> SendMessageResponseHeader {
            SendMessageResponseHeader {
                msg_id, queue_id, queue_offset, transaction_id, batch_uniq_id, recall_handle,
                msg_region, trace_on,
            }
        }
    }

    prop_compose! {
        fn arb_send_back()(
            rpc in arb::rpc(),
            offset in any::<i64>(),
            group in arb::text(),
            delay_level in any::<i32>(),
            (origin_msg_id, origin_topic) in (arb::opt_text(), arb::opt_text()),
            unit_mode in any::<bool>(),
            max_reconsume_times in any::<Option<i32>>(),
        ) -> ConsumerSendMsgBackRequestHeader {
            ConsumerSendMsgBackRequestHeader {
                rpc, offset, group, delay_level, origin_msg_id, origin_topic, unit_mode,
                max_reconsume_times,
            }
        }
    }

    proptest! {
        #[test]
        fn prop_v1_round_trip(h in arb_v1()) {
            prop_assert_eq!(round_trip(&h), h);
        }

        #[test]
        fn prop_v2_round_trip(h in arb_v2()) {
            prop_assert_eq!(round_trip(&h), h);
        }

        #[test]
        fn prop_v2_to_v1_to_v2(h in arb_v2()) {
            let v1 = SendMessageRequestHeader::from(h.clone());
            // The V1 form also survives the wire.
            prop_assert_eq!(round_trip(&v1), v1.clone());
            prop_assert_eq!(SendMessageRequestHeaderV2::from(v1), h);
        }

        #[test]
        fn prop_v1_to_v2_to_v1(mut h in arb_v1()) {
            // V2 has no keys for the 5.x base fields other than the broker name.
            h.rpc.ns = None;
            h.rpc.nsd = None;
            h.rpc.oway = None;
            h.lo = None;
            let v2 = SendMessageRequestHeaderV2::from(h.clone());
            let decoded = decode_send_request(request::SEND_MESSAGE_V2, &v2.to_ext_fields());
            prop_assert_eq!(decoded, Ok(h.clone()));
            prop_assert_eq!(SendMessageRequestHeader::from(v2), h);
        }

        #[test]
        fn prop_send_response_round_trip(h in arb_send_response()) {
            prop_assert_eq!(round_trip(&h), h);
        }

        #[test]
        fn prop_send_back_round_trip(h in arb_send_back()) {
            prop_assert_eq!(round_trip(&h), h);
        }
    }
}
