//! Shared helpers for the codec's integration tests. The cargo-fuzz targets in `codec/fuzz`
//! include this file by path, so everything here is plain library code.
//!
//! [`deep_decode`] takes a frame as deep as the codec goes: the command header, every typed
//! header relevant to the code, the body as the type the code carries, stored records, batch
//! entries, properties strings and message ids. Errors are expected and ignored; what must
//! never happen is a panic — and, where the codec promises one, a broken round trip (what the
//! codec decoded, it must re-encode into something that decodes to the same value). Those
//! round-trip checks are `assert!`s, so a violation fails the malformed-input tests and is a
//! crash for the fuzzers.
#![allow(dead_code)]

use std::fmt::Debug;
use std::net::SocketAddr;

use apogee_codec::body::{self, JsonBody};
use apogee_codec::codes::request as rc;
use apogee_codec::command::{peek_opaque, FLAG_RESPONSE};
use apogee_codec::frame::parse_complete_frame;
use apogee_codec::header::*;
use apogee_codec::message::{
    self, compress, decode_offset_msg_id, decode_record, iter_batch, iter_records, sysflag,
    BatchEntry, MessageExt, MessageProperties, MessageRecord, RecordVersion, UniqKey,
};
use apogee_codec::{
    fastjson, CommandHeader, ExtFields, LanguageCode, RawFrame, RemotingCommand, SerializeType,
};
use bytes::Bytes;

/// Most bytes any inflate in here may produce (keeps zip bombs cheap).
const INFLATE_CAP: usize = 64 << 10;

/// Build a frame from hand-written parts: `[len][type|header len][header][body]`.
pub fn frame(ty: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + header.len() + body.len());
    v.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(&(((ty as u32) << 24) | header.len() as u32).to_be_bytes());
    v.extend_from_slice(header);
    v.extend_from_slice(body);
    v
}

// =========================================================================================
// Sample frames
// =========================================================================================

fn send_v2_request(st: SerializeType) -> RemotingCommand {
    let mut c = RemotingCommand::request(310, 42);
    c.serialize_type = st;
    let e = c.ext_mut();
    for (k, v) in [
        ("a", "pg"),
        ("b", "TopicTest"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "1"),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        (
            "i",
            "UNIQ_KEY\u{1}AC11000100002A9F0000000000000001\u{2}WAIT\u{1}true",
        ),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
    ] {
        e.insert(k, v);
    }
    c.body = Bytes::from(vec![b'x'; 64]);
    c
}

/// Three stored records: plain IPv4 with tags, a zlib-compressed body, IPv6 hosts.
pub fn sample_records() -> Vec<u8> {
    let born: SocketAddr = "10.0.0.9:50001".parse().unwrap();
    let store: SocketAddr = "10.0.0.5:10911".parse().unwrap();
    let born6: SocketAddr = "[fe80::1]:50002".parse().unwrap();
    let store6: SocketAddr = "[2001:db8::5]:10911".parse().unwrap();
    let plain: &[u8] = b"hello";
    let big = vec![b'z'; 300];
    let zipped = compress::deflate(&big, 5).unwrap();
    let mut out = Vec::new();
    let recs = [
        (
            born,
            store,
            0,
            plain,
            &b"UNIQ_KEY\x01AC11000100002A9F0000000000000001\x02TAGS\x01TagA\x02KEYS\x01a b"[..],
        ),
        (
            born,
            store,
            sysflag::COMPRESSED | sysflag::COMPRESSION_ZLIB,
            &zipped[..],
            &b"TAGS\x01TagB"[..],
        ),
        (born6, store6, 0, plain, &b"KEYS\x01k6\x02"[..]),
    ];
    for (i, (b, s, flag, body, props)) in recs.into_iter().enumerate() {
        let rec = MessageRecord {
            version: RecordVersion::V1,
            body_crc: message::body_crc(body),
            queue_id: 1,
            flag: 0,
            queue_offset: i as i64,
            physical_offset: out.len() as i64,
            sys_flag: sysflag::with_host_flags(flag, &b, &s),
            born_timestamp: 1_700_000_000_000,
            born_host: b,
            store_timestamp: 1_700_000_000_001,
            store_host: s,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body,
            topic: b"TopicTest",
            properties: props,
        };
        rec.encode_to(&mut out).unwrap();
    }
    out
}

/// A SEND_BATCH_MESSAGE body of three entries.
pub fn sample_batch() -> Vec<u8> {
    message::encode_batch([
        BatchEntry::new(0, b"m1", b"UNIQ_KEY\x01AC11000100002A9F0000000000000002"),
        BatchEntry::new(3, b"message two", b"KEYS\x01k2\x02TAGS\x01T"),
        BatchEntry::new(0, b"", b""),
    ])
    .unwrap()
}

/// A RegisterBrokerBody with two topics.
pub fn sample_register_body() -> body::RegisterBrokerBody {
    let mut b = body::RegisterBrokerBody::default();
    let w = &mut b.topic_config_serialize_wrapper;
    w.data_version = body::DataVersion::new(3, 1_700_000_000_000);
    for (name, q) in [("TopicTest", 4), ("TBW102", 8)] {
        let mut tc = body::TopicConfig::new(name);
        tc.read_queue_nums = q;
        tc.write_queue_nums = q;
        w.topic_config_table.insert(name.into(), tc);
    }
    b.filter_server_list = vec!["10.0.0.7:12345".into()];
    b
}

/// A handful of valid frames in both serializations, with and without bodies, covering the
/// inner parsers: send, pull response with records, heartbeat, batch send, compressed broker
/// registration, route data, lock batch.
pub fn sample_frames() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for st in [SerializeType::Json, SerializeType::RocketMq] {
        let c = send_v2_request(st);
        out.push(c.to_bytes().unwrap().to_vec());

        let mut r = RemotingCommand::response_to(&c, 0);
        r.remark = Some("FOUND".into());
        let e = r.ext_mut();
        e.insert("nextBeginOffset", "3");
        e.insert("minOffset", "0");
        e.insert("maxOffset", "3");
        e.insert("suggestWhichBrokerId", "0");
        out.push(r.to_bytes().unwrap().to_vec());

        let mut hb = RemotingCommand::request(34, 1);
        hb.serialize_type = st;
        hb.body = Bytes::from_static(
            br#"{"clientID":"127.0.0.1@1","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"cg","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1,"tagsSet":["TagA"],"topic":"T"}],"unitMode":false}],"producerDataSet":[{"groupName":"pg"}]}"#,
        );
        out.push(hb.to_bytes().unwrap().to_vec());
    }

    // Pull response carrying three records (binary header: the body parsers do not care).
    let mut pull = RemotingCommand::request(11, 7);
    pull.serialize_type = SerializeType::RocketMq;
    let resp = RemotingCommand::success_to(&pull)
        .with_remark("FOUND")
        .with_header(&PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: 3,
            min_offset: 0,
            max_offset: 3,
            ..Default::default()
        })
        .with_body(sample_records());
    out.push(resp.to_bytes().unwrap().to_vec());

    // Batch send.
    let mut batch = send_v2_request(SerializeType::Json);
    batch.code = rc::SEND_BATCH_MESSAGE;
    batch.ext_mut().insert("m", "true");
    batch.ext_mut().insert("i", "WAIT\u{1}true");
    batch.body = Bytes::from(sample_batch());
    out.push(batch.to_bytes().unwrap().to_vec());

    // Broker registration, compressed body.
    let body = sample_register_body().encode_compressed();
    let reg = RemotingCommand::request(rc::REGISTER_BROKER, 3)
        .with_header(&RegisterBrokerRequestHeader {
            broker_name: "broker-a".into(),
            broker_addr: "10.0.0.5:10911".into(),
            cluster_name: "DefaultCluster".into(),
            ha_server_addr: "10.0.0.5:10912".into(),
            broker_id: 0,
            compressed: true,
            body_crc32: message::body_crc(&body),
            ..Default::default()
        })
        .with_body(body);
    out.push(reg.to_bytes().unwrap().to_vec());

    // Route data (fastjson form with an unquoted Long key, as old name servers write it).
    let route_req = RemotingCommand::request(rc::GET_ROUTEINFO_BY_TOPIC, 4);
    let route = RemotingCommand::success_to(&route_req).with_body(Bytes::from_static(
        br#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.5:10911"},"brokerName":"b","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#,
    ));
    out.push(route.to_bytes().unwrap().to_vec());

    // Lock batch request.
    let lock = RemotingCommand::request(rc::LOCK_BATCH_MQ, 5).with_body(Bytes::from_static(
        br#"{"clientId":"10.0.0.9@1","consumerGroup":"G","mqSet":[{"brokerName":"b","queueId":1,"topic":"T"}]}"#,
    ));
    out.push(lock.to_bytes().unwrap().to_vec());
    out
}

// =========================================================================================
// Deep decoding
// =========================================================================================

/// Decode a frame as deeply as the codec allows; errors are fine, panics are not.
pub fn deep_decode(frame: &RawFrame) {
    let _ = peek_opaque(frame);
    match RemotingCommand::from_frame(frame.clone()) {
        Ok(cmd) => {
            command_round_trip(&cmd);
            let _ = cmd.to_string();
            deep_command(&cmd);
        }
        // The header is broken, but the body parsers still get the body.
        Err(_) => generic_body(&frame.body),
    }
}

/// Split a complete frame (length prefix included) and deep-decode it.
pub fn deep_decode_bytes(data: &[u8]) {
    if let Ok(f) = parse_complete_frame(data, 1 << 20) {
        deep_decode(&f);
    }
}

/// What the codec decoded re-encodes, and the re-encoding decodes to the same command.
///
/// Two normalisations are by design: a JSON `language` ordinal unknown to the table
/// (`UnknownCode`) is written as `"OTHER"`, and a binary extFields block whose entries were
/// all null (zero-length) is written as an empty block, which reads as "no extFields".
pub fn command_round_trip(cmd: &RemotingCommand) {
    let Ok(bytes) = cmd.to_bytes() else {
        // Only a header over the 24-bit limit is unencodable; a decoded one cannot be.
        panic!("a decoded command does not re-encode: {cmd:?}");
    };
    let raw = parse_complete_frame(&bytes, usize::MAX >> 1).expect("own frame splits");
    let again = RemotingCommand::from_frame(raw).expect("own header decodes");
    let mut want = cmd.clone();
    if let LanguageCode::UnknownCode(_) = want.language {
        if want.serialize_type == SerializeType::Json {
            want.language = LanguageCode::Other;
        }
    }
    if want.serialize_type == SerializeType::RocketMq
        && want.ext_fields.as_ref().is_some_and(ExtFields::is_empty)
    {
        want.ext_fields = None;
    }
    assert_eq!(again, want, "command round trip");
    // And it is a fixpoint from there on.
    assert_eq!(
        &again.to_bytes().unwrap()[..],
        &bytes[..],
        "re-encode fixpoint"
    );
}

/// Everything below the command header.
pub fn deep_command(cmd: &RemotingCommand) {
    let empty = ExtFields::new();
    let ext = cmd.ext_fields.as_ref().unwrap_or(&empty);
    if cmd.flag & FLAG_RESPONSE != 0 {
        response_headers(ext);
    } else {
        request_headers(cmd.code, ext);
    }
    for key in ["i", "properties"] {
        if let Some(p) = ext.get(key) {
            properties(p.as_bytes());
        }
    }
    for key in [
        "msgId",
        "originMsgId",
        "offsetMsgId",
        "transactionId",
        "UNIQ_KEY",
    ] {
        if let Some(v) = ext.get(key) {
            for part in v.split(',') {
                ids(part);
            }
        }
    }
    typed_body(cmd, ext);
    generic_body(&cmd.body);
}

// ---- headers ----------------------------------------------------------------------------

/// Read a typed header; if it reads, what it writes must read back to the same value.
pub fn header<H: CommandHeader + PartialEq + Debug>(ext: &ExtFields) -> Option<H> {
    let h = H::read_fields(ext).ok()?;
    let written = h.to_ext_fields();
    match H::read_fields(&written) {
        Ok(again) => assert_eq!(again, h, "header round trip"),
        Err(e) => panic!("{h:?} wrote {written:?}, which does not read back: {e}"),
    }
    Some(h)
}

macro_rules! headers {
    ($ext:expr; $($t:ty),+ $(,)?) => {{ $( let _ = header::<$t>($ext); )+ }};
}

/// The typed request header(s) of `code`. Returns false for codes without one.
pub fn request_headers(code: i32, ext: &ExtFields) -> bool {
    use rc::*;
    // Every request may carry the base keys.
    headers!(ext; RpcRequestHeader);
    match code {
        SEND_MESSAGE
        | SEND_REPLY_MESSAGE
        | SEND_MESSAGE_V2
        | SEND_BATCH_MESSAGE
        | SEND_REPLY_MESSAGE_V2 => {
            let _ = decode_send_request(code, ext);
            let v1 = header::<SendMessageRequestHeader>(ext);
            if let Some(v2) = header::<SendMessageRequestHeaderV2>(ext) {
                // V2 → V1 → V2 is the identity.
                let v1 = SendMessageRequestHeader::from(v2.clone());
                assert_eq!(SendMessageRequestHeaderV2::from(v1), v2, "V2 → V1 → V2");
            }
            if let Some(mut v1) = v1 {
                // V1 → V2 → V1 too, without the 5.x-only base keys V2 cannot carry.
                v1.rpc.ns = None;
                v1.rpc.nsd = None;
                v1.rpc.oway = None;
                v1.lo = None;
                let v2 = SendMessageRequestHeaderV2::from(v1.clone());
                assert_eq!(SendMessageRequestHeader::from(v2), v1, "V1 → V2 → V1");
            }
        }
        PUSH_REPLY_MESSAGE_TO_CLIENT => headers!(ext; ReplyMessageRequestHeader),
        PULL_MESSAGE | LITE_PULL_MESSAGE => {
            if let Some(h) = header::<PullMessageRequestHeader>(ext) {
                let _ = (h.has_commit_offset_flag(), h.expression_type_or_tag());
                let _ = message::TagFilter::parse(h.subscription.as_deref());
            }
        }
        QUERY_MESSAGE => headers!(ext; QueryMessageRequestHeader),
        QUERY_CONSUMER_OFFSET => headers!(ext; QueryConsumerOffsetRequestHeader),
        UPDATE_CONSUMER_OFFSET => headers!(ext; UpdateConsumerOffsetRequestHeader),
        UPDATE_AND_CREATE_TOPIC => headers!(ext; CreateTopicRequestHeader),
        GET_ALL_TOPIC_CONFIG => headers!(ext; GetAllTopicConfigRequestHeader),
        SEARCH_OFFSET_BY_TIMESTAMP => headers!(ext; SearchOffsetRequestHeader),
        GET_MAX_OFFSET => headers!(ext; GetMaxOffsetRequestHeader),
        GET_MIN_OFFSET => headers!(ext; GetMinOffsetRequestHeader),
        GET_EARLIEST_MSG_STORETIME => headers!(ext; GetEarliestMsgStoretimeRequestHeader),
        VIEW_MESSAGE_BY_ID => headers!(ext; ViewMessageRequestHeader),
        HEART_BEAT => headers!(ext; HeartbeatRequestHeader),
        UNREGISTER_CLIENT => headers!(ext; UnregisterClientRequestHeader),
        CONSUMER_SEND_MSG_BACK => headers!(ext; ConsumerSendMsgBackRequestHeader),
        END_TRANSACTION => headers!(ext; EndTransactionRequestHeader),
        GET_CONSUMER_LIST_BY_GROUP => headers!(ext; GetConsumerListByGroupRequestHeader),
        CHECK_TRANSACTION_STATE => headers!(ext; CheckTransactionStateRequestHeader),
        NOTIFY_CONSUMER_IDS_CHANGED => headers!(ext; NotifyConsumerIdsChangedRequestHeader),
        LOCK_BATCH_MQ => headers!(ext; LockBatchMqRequestHeader),
        UNLOCK_BATCH_MQ => headers!(ext; UnlockBatchMqRequestHeader),
        PUT_KV_CONFIG => headers!(ext; PutKVConfigRequestHeader),
        GET_KV_CONFIG => headers!(ext; GetKVConfigRequestHeader),
        DELETE_KV_CONFIG => headers!(ext; DeleteKVConfigRequestHeader),
        REGISTER_BROKER => headers!(ext; RegisterBrokerRequestHeader),
        UNREGISTER_BROKER => headers!(ext; UnRegisterBrokerRequestHeader),
        GET_ROUTEINFO_BY_TOPIC => headers!(ext; GetRouteInfoRequestHeader),
        GET_ALL_SUBSCRIPTIONGROUP_CONFIG => headers!(ext; GetAllSubscriptionGroupRequestHeader),
        GET_TOPIC_STATS_INFO => headers!(ext; GetTopicStatsInfoRequestHeader),
        GET_CONSUMER_CONNECTION_LIST => headers!(ext; GetConsumerConnectionListRequestHeader),
        GET_PRODUCER_CONNECTION_LIST => headers!(ext; GetProducerConnectionListRequestHeader),
        WIPE_WRITE_PERM_OF_BROKER => headers!(ext; WipeWritePermOfBrokerRequestHeader),
        DELETE_SUBSCRIPTIONGROUP => headers!(ext; DeleteSubscriptionGroupRequestHeader),
        GET_CONSUME_STATS => headers!(ext; GetConsumeStatsRequestHeader),
        RESET_CONSUMER_OFFSET_IN_BROKER
        | RESET_CONSUMER_CLIENT_OFFSET
        | INVOKE_BROKER_TO_RESET_OFFSET => headers!(ext; ResetOffsetRequestHeader),
        DELETE_TOPIC_IN_BROKER => headers!(ext; DeleteTopicRequestHeader),
        DELETE_TOPIC_IN_NAMESRV => headers!(ext; DeleteTopicFromNamesrvRequestHeader),
        REGISTER_TOPIC_IN_NAMESRV => headers!(ext; RegisterTopicRequestHeader),
        GET_KVLIST_BY_NAMESPACE => headers!(ext; GetKVListByNamespaceRequestHeader),
        GET_CONSUMER_STATUS_FROM_CLIENT | INVOKE_BROKER_TO_GET_CONSUMER_STATUS => {
            headers!(ext; GetConsumerStatusRequestHeader)
        }
        GET_TOPICS_BY_CLUSTER => headers!(ext; GetTopicsByClusterRequestHeader),
        QUERY_TOPIC_CONSUME_BY_WHO => headers!(ext; QueryTopicConsumeByWhoRequestHeader),
        QUERY_CONSUME_TIME_SPAN => headers!(ext; QueryConsumeTimeSpanRequestHeader),
        GET_CONSUMER_RUNNING_INFO => headers!(ext; GetConsumerRunningInfoRequestHeader),
        QUERY_CORRECTION_OFFSET => headers!(ext; QueryCorrectionOffsetHeader),
        CONSUME_MESSAGE_DIRECTLY => headers!(ext; ConsumeMessageDirectlyResultRequestHeader),
        CLONE_GROUP_OFFSET => headers!(ext; CloneGroupOffsetRequestHeader),
        VIEW_BROKER_STATS_DATA => headers!(ext; ViewBrokerStatsDataRequestHeader),
        GET_BROKER_CONSUME_STATS => headers!(ext; GetConsumeStatsInBrokerHeader),
        QUERY_CONSUME_QUEUE => headers!(ext; QueryConsumeQueueRequestHeader),
        QUERY_DATA_VERSION => headers!(ext; QueryDataVersionRequestHeader),
        RESUME_CHECK_HALF_MESSAGE => headers!(ext; ResumeCheckHalfMessageRequestHeader),
        ADD_WRITE_PERM_OF_BROKER => headers!(ext; AddWritePermOfBrokerRequestHeader),
        GET_ALL_PRODUCER_INFO => headers!(ext; GetAllProducerInfoRequestHeader),
        QUERY_TOPICS_BY_CONSUMER => headers!(ext; QueryTopicsByConsumerRequestHeader),
        QUERY_SUBSCRIPTION_BY_CONSUMER => {
            headers!(ext; QuerySubscriptionByConsumerRequestHeader)
        }
        GET_TOPIC_CONFIG => headers!(ext; GetTopicConfigRequestHeader),
        GET_SUBSCRIPTIONGROUP_CONFIG => headers!(ext; GetSubscriptionGroupConfigRequestHeader),
        UPDATE_AND_GET_GROUP_FORBIDDEN => headers!(ext; UpdateGroupForbiddenRequestHeader),
        RECALL_MESSAGE => headers!(ext; RecallMessageRequestHeader),
        POP_MESSAGE => headers!(ext; PopMessageRequestHeader),
        ACK_MESSAGE => headers!(ext; AckMessageRequestHeader),
        PEEK_MESSAGE => headers!(ext; PeekMessageRequestHeader),
        CHANGE_MESSAGE_INVISIBLETIME => headers!(ext; ChangeInvisibleTimeRequestHeader),
        NOTIFICATION => headers!(ext; NotificationRequestHeader),
        POLLING_INFO => headers!(ext; PollingInfoRequestHeader),
        _ => return false,
    }
    true
}

/// Every response header (the request code of a response is unknown here).
pub fn response_headers(ext: &ExtFields) {
    headers!(ext;
        SendMessageResponseHeader,
        PullMessageResponseHeader,
        EndTransactionResponseHeader,
        CheckTransactionStateResponseHeader,
        QueryConsumerOffsetResponseHeader,
        UpdateConsumerOffsetResponseHeader,
        SearchOffsetResponseHeader,
        GetMaxOffsetResponseHeader,
        GetMinOffsetResponseHeader,
        GetEarliestMsgStoretimeResponseHeader,
        QueryMessageResponseHeader,
        ViewMessageResponseHeader,
        UnregisterClientResponseHeader,
        GetConsumerListByGroupResponseHeader,
        GetKVConfigResponseHeader,
        RegisterBrokerResponseHeader,
        QueryDataVersionResponseHeader,
        WipeWritePermOfBrokerResponseHeader,
        AddWritePermOfBrokerResponseHeader,
        GetBrokerConfigResponseHeader,
        GetAllTopicConfigResponseHeader,
        GetAllSubscriptionGroupResponseHeader,
        PopMessageResponseHeader,
        ChangeInvisibleTimeResponseHeader,
        NotificationResponseHeader,
        PollingInfoResponseHeader,
        RecallMessageResponseHeader,
    );
}

/// Every typed header, request and response (for the header fuzzer).
pub fn all_headers(ext: &ExtFields) {
    for code in REQUEST_CODES_WITH_HEADERS {
        request_headers(*code, ext);
    }
    response_headers(ext);
}

/// One request code per distinct request header type.
pub const REQUEST_CODES_WITH_HEADERS: &[i32] = &[
    10, 310, 326, 11, 12, 14, 15, 17, 21, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42,
    100, 101, 102, 103, 104, 105, 201, 202, 203, 204, 205, 207, 208, 212, 215, 216, 217, 219, 221,
    224, 300, 303, 307, 308, 309, 314, 315, 317, 321, 322, 323, 327, 328, 343, 345, 351, 352, 353,
    370, 200050, 200051, 200052, 200053, 200054, 200055,
];

// ---- bodies -----------------------------------------------------------------------------

/// Decode a JSON body; its own encoding must decode to the same value.
pub fn body_rt<T: JsonBody + PartialEq + Debug>(bytes: &[u8]) -> Option<T> {
    let v = T::decode(bytes).ok()?;
    let enc = v.encode();
    match T::decode(&enc) {
        Ok(again) => assert_eq!(again, v, "{} round trip", T::CONTEXT),
        Err(e) => panic!(
            "{} wrote {} which does not decode: {e}",
            T::CONTEXT,
            String::from_utf8_lossy(&enc)
        ),
    }
    Some(v)
}

/// Decode a JSON body holding floats or pass-through JSON values: its encoding must decode
/// (equality is not required: float text may come back one ulp off without serde_json's
/// `float_roundtrip`).
pub fn body_loose<T: JsonBody>(bytes: &[u8]) -> Option<T> {
    let v = T::decode(bytes).ok()?;
    let enc = v.encode();
    if let Err(e) = T::decode(&enc) {
        panic!(
            "{} wrote {} which does not decode: {e}",
            T::CONTEXT,
            String::from_utf8_lossy(&enc)
        );
    }
    Some(v)
}

/// RegisterBrokerBody in both forms; the compressed form must survive its own encoder.
pub fn register_body(bytes: &[u8], compressed: Option<bool>) {
    let _ = body_loose::<body::RegisterBrokerBody>(bytes);
    if let Ok(b) = body::RegisterBrokerBody::decode_compressed(bytes) {
        let enc = b.encode_compressed();
        let again = body::RegisterBrokerBody::decode_compressed(&enc)
            .unwrap_or_else(|e| panic!("own compressed RegisterBrokerBody does not decode: {e}"));
        if b.topic_config_serialize_wrapper
            .topic_queue_mapping_info_map
            .is_none()
        {
            assert_eq!(again, b, "compressed RegisterBrokerBody round trip");
        }
    }
    if let Some(c) = compressed {
        let _ = body::RegisterBrokerBody::decode_with(bytes, c);
    }
}

/// The body as the type the command's code carries.
fn typed_body(cmd: &RemotingCommand, ext: &ExtFields) {
    let b = &cmd.body[..];
    if cmd.flag & FLAG_RESPONSE != 0 {
        response_bodies(b);
        return;
    }
    use rc::*;
    match cmd.code {
        HEART_BEAT => {
            if let Some(hb) = body_rt::<body::HeartbeatData>(b) {
                for c in &hb.consumer_data_set {
                    for s in &c.subscription_data_set {
                        let _ = (
                            s.is_tag_type(),
                            message::TagFilter::parse(Some(&s.sub_string)),
                        );
                    }
                }
            }
        }
        REGISTER_BROKER => {
            let compressed = RegisterBrokerRequestHeader::read_fields(ext)
                .ok()
                .map(|h| h.compressed);
            register_body(b, compressed);
        }
        QUERY_DATA_VERSION => drop(body_rt::<body::DataVersion>(b)),
        LOCK_BATCH_MQ => drop(body_rt::<body::LockBatchRequestBody>(b)),
        UNLOCK_BATCH_MQ => drop(body_rt::<body::UnlockBatchRequestBody>(b)),
        CHECK_CLIENT_CONFIG => drop(body_rt::<body::CheckClientRequestBody>(b)),
        UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => drop(body_rt::<body::SubscriptionGroupConfig>(b)),
        UPDATE_BROKER_CONFIG | UPDATE_NAMESRV_CONFIG => properties_text(b),
        RESET_CONSUMER_CLIENT_OFFSET => drop(body_rt::<body::ResetOffsetBody>(b)),
        REGISTER_TOPIC_IN_NAMESRV => drop(body_loose::<body::TopicRouteData>(b)),
        QUERY_ASSIGNMENT => drop(body_rt::<body::QueryAssignmentRequestBody>(b)),
        SET_MESSAGE_REQUEST_MODE => drop(body_rt::<body::SetMessageRequestModeRequestBody>(b)),
        SEND_MESSAGE
        | SEND_MESSAGE_V2
        | SEND_BATCH_MESSAGE
        | SEND_REPLY_MESSAGE
        | SEND_REPLY_MESSAGE_V2 => {
            if let Ok(h) = decode_send_request(cmd.code, ext) {
                let _ = compress::decompress_body(b, h.sys_flag, INFLATE_CAP);
                if h.batch || cmd.code == SEND_BATCH_MESSAGE {
                    batch(b, h.properties.as_deref().map(str::as_bytes));
                }
            }
        }
        _ => {}
    }
}

fn starts_like_json_object(b: &[u8]) -> bool {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{')
}

/// The bodies a response may carry.
pub fn response_bodies(b: &[u8]) {
    properties_text(b);
    if !starts_like_json_object(b) {
        return;
    }
    let _ = body_loose::<body::TopicRouteData>(b);
    let _ = body_rt::<body::ClusterInfo>(b);
    let _ = body_rt::<body::TopicList>(b);
    let _ = body_rt::<body::KVTable>(b);
    let _ = body_rt::<body::GetConsumerListByGroupResponseBody>(b);
    let _ = body_rt::<body::GroupList>(b);
    let _ = body_rt::<body::LockBatchResponseBody>(b);
    let _ = body_rt::<body::DataVersion>(b);
    let _ = body_loose::<body::TopicConfigSerializeWrapper>(b);
    let _ = body_loose::<body::SubscriptionGroupWrapper>(b);
    let _ = body_loose::<body::ConsumeStats>(b);
    let _ = body_loose::<body::TopicStatsTable>(b);
    let _ = body_rt::<body::ConsumerConnection>(b);
    let _ = body_rt::<body::ProducerConnection>(b);
    let _ = body_rt::<body::ProducerTableInfo>(b);
    let _ = body_loose::<body::QueryConsumeTimeSpanBody>(b);
    let _ = body_rt::<body::GetConsumerStatusBody>(b);
    let _ = body_loose::<body::ConsumeMessageDirectlyResult>(b);
    let _ = body_loose::<body::ConsumerRunningInfo>(b);
    let _ = body_loose::<body::ConsumeStatsList>(b);
    let _ = body_rt::<body::QueryAssignmentResponseBody>(b);
    let _ = body_rt::<body::QueryCorrectionOffsetBody>(b);
}

/// Every body type there is, plus the normaliser (for the body fuzzer).
pub fn all_bodies(b: &[u8]) {
    normaliser(b);
    response_bodies(b);
    register_body(b, None);
    let _ = body_rt::<body::HeartbeatData>(b);
    let _ = body_rt::<body::LockBatchRequestBody>(b);
    let _ = body_rt::<body::UnlockBatchRequestBody>(b);
    let _ = body_rt::<body::CheckClientRequestBody>(b);
    let _ = body_rt::<body::SubscriptionGroupConfig>(b);
    let _ = body_rt::<body::ResetOffsetBody>(b);
    let _ = body_rt::<body::QueryAssignmentRequestBody>(b);
    let _ = body_rt::<body::SetMessageRequestModeRequestBody>(b);
    let _ = body_rt::<body::MessageQueue>(b);
    let _ = body_rt::<body::TopicConfig>(b);
    let _ = body_rt::<body::BrokerData>(b);
    let _ = body_rt::<body::QueueData>(b);
    if let Some(w) = body_rt::<body::ConsumerOffsetSerializeWrapper>(b) {
        // Java's own (non-standard) form reads back too.
        let again = body::ConsumerOffsetSerializeWrapper::decode(&w.encode_fastjson())
            .expect("encode_fastjson output decodes");
        assert_eq!(
            again, w,
            "ConsumerOffsetSerializeWrapper fastjson round trip"
        );
    }
    if let Some(w) = body_rt::<body::DelayOffsetSerializeWrapper>(b) {
        let again = body::DelayOffsetSerializeWrapper::decode(&w.encode_fastjson())
            .expect("encode_fastjson output decodes");
        assert_eq!(again, w, "DelayOffsetSerializeWrapper fastjson round trip");
    }
    if let Ok(text) = std::str::from_utf8(b) {
        let _ = body::TopicConfig::decode_line(text);
        let _ = body::MessageQueue::from_json_key(text);
        let _ = fastjson::parse_message_queue_key(text);
    }
}

/// The fastjson normaliser: standard JSON it produced is left alone by a second pass.
pub fn normaliser(b: &[u8]) {
    let Ok(text) = fastjson::normalize_bytes(b) else {
        return;
    };
    let _ = fastjson::parse_value(b);
    if serde_json::from_str::<serde_json::Value>(&text).is_ok() {
        let again = fastjson::normalize(&text).expect("normalising standard JSON succeeds");
        assert_eq!(&*again, &*text, "normaliser is idempotent on standard JSON");
    }
}

/// `java.util.Properties` text: what `write` produces parses back to the same table.
pub fn properties_text(b: &[u8]) {
    let table = body::properties::parse_bytes(b);
    let text = body::properties::write(&table);
    assert_eq!(
        body::properties::parse(&text),
        table,
        "properties text round trip"
    );
}

/// Parsers that apply to any body.
pub fn generic_body(b: &[u8]) {
    records(b);
    batch(b, None);
    properties(b);
    if starts_like_json_object(b) {
        normaliser(b);
    }
}

// ---- records, batches, properties, ids --------------------------------------------------

/// Walk a concatenation of stored records; check each one.
pub fn records(buf: &[u8]) {
    let mut it = iter_records(buf);
    loop {
        let start = it.position();
        match it.next() {
            Some(Ok(rec)) => record(&rec, &buf[start..it.position()]),
            Some(Err(_)) | None => break,
        }
    }
    let _ = message::decode_entry(buf);
    let _ = message::peek_header(buf);
}

/// One stored record decoded from exactly `raw`.
pub fn record(rec: &MessageRecord<'_>, raw: &[u8]) {
    assert_eq!(rec.total_size(), raw.len(), "TOTALSIZE");
    let _ = rec.verify_body_crc();
    let _ = rec.topic_str();
    let _ = (rec.transaction_type(), rec.is_compressed(), rec.tags_code());
    let _ = (rec.keys(), rec.tags());
    properties(rec.properties);
    if let Some(u) = rec.uniq_key() {
        if let Ok(u) = std::str::from_utf8(u) {
            ids(u);
        }
    }
    let id = rec.offset_msg_id();
    let back = decode_offset_msg_id(&id).expect("own offset msgId decodes");
    assert_eq!(
        (back.store_host, back.offset),
        (rec.store_host, rec.physical_offset)
    );
    let _ = rec.inflated_body(INFLATE_CAP);

    // Re-encode: a v1 record reproduces its bytes; a v2 record (5.x) becomes v1.
    match rec.to_vec() {
        Ok(v) if rec.version == RecordVersion::V1 => assert_eq!(v, raw, "v1 record re-encode"),
        Ok(v) => {
            let (again, n) = decode_record(&v).expect("own record decodes");
            assert_eq!(n, v.len());
            assert_eq!(
                MessageRecord {
                    version: rec.version,
                    ..again
                },
                *rec,
                "v2 record as v1"
            );
        }
        Err(e) => assert!(
            rec.version != RecordVersion::V1,
            "a decoded v1 record does not re-encode: {e}"
        ),
    }

    // The owned form: whatever it writes decodes to itself.
    let ext = MessageExt::from_record(rec);
    let _ = (ext.tags(), ext.keys(), ext.uniq_key(), ext.tags_code());
    let _ = ext.inflated_body(INFLATE_CAP);
    if let Ok(v) = ext.to_vec() {
        assert_eq!(ext.encoded_len().ok(), Some(v.len()));
        let (again, _) = decode_record(&v).expect("own MessageExt record decodes");
        assert_eq!(
            MessageExt::from_record(&again),
            ext,
            "MessageExt round trip"
        );
    }
}

/// Walk a batch body strictly and the way the Java broker does; check each entry.
pub fn batch(buf: &[u8], batch_props: Option<&[u8]>) {
    let mut it = iter_batch(buf);
    loop {
        let start = it.position();
        match it.next() {
            Some(Ok(e)) => {
                let raw = &buf[start..it.position()];
                let mut out = Vec::new();
                e.encode_to(&mut out)
                    .expect("decoded batch entry re-encodes");
                assert_eq!(out, raw, "batch entry re-encode");
                batch_entry(&e, batch_props);
            }
            Some(Err(_)) | None => break,
        }
    }
    let mut it = iter_batch(buf).ignore_total_size();
    loop {
        let start = it.position();
        match it.next() {
            Some(Ok(e)) => {
                let raw = &buf[start..it.position()];
                let mut out = Vec::new();
                e.encode_to(&mut out)
                    .expect("decoded batch entry re-encodes");
                // Everything but the (unchecked) totalSize is reproduced.
                assert_eq!(out.len(), raw.len());
                assert_eq!(out[4..], raw[4..], "lenient batch entry re-encode");
                batch_entry(&e, batch_props);
            }
            Some(Err(_)) | None => break,
        }
    }
    let _ = message::decode_batch_entry(buf);
}

fn batch_entry(e: &BatchEntry<'_>, batch_props: Option<&[u8]>) {
    properties(e.properties);
    if let Some(bp) = batch_props {
        let mut joined = Vec::new();
        message::join_properties(e.properties, bp, &mut joined);
        assert_eq!(
            joined.len(),
            message::joined_properties_len(e.properties, bp)
        );
        properties(&joined);
    }
}

/// A raw properties string: the parsed form re-encodes into a string that parses the same,
/// and the borrowed lookups agree with the owned ones.
pub fn properties(raw: &[u8]) {
    let p = MessageProperties::parse(raw);
    let enc = p.encode();
    assert_eq!(enc.len(), p.encoded_len());
    assert_eq!(
        MessageProperties::parse(&enc),
        p,
        "properties string round trip"
    );
    let _ = p.encode_checked();
    let _ = (p.tags(), p.uniq_key(), p.keys().count());
    if std::str::from_utf8(raw).is_ok() {
        for key in ["TAGS", "KEYS", "UNIQ_KEY"] {
            assert_eq!(
                message::find_property(raw, key).map(|v| String::from_utf8_lossy(v).into_owned()),
                p.get(key).map(str::to_owned),
                "find_property vs MessageProperties::get"
            );
        }
    }
    let _ = message::iter_properties(raw).count();
    let _ = message::tags_code(message::find_property(raw, "TAGS"));
}

/// A text that may be an offset msgId or a UNIQ_KEY: what decodes re-encodes to the
/// upper-case text.
pub fn ids(text: &str) {
    if let Ok(id) = decode_offset_msg_id(text) {
        assert_eq!(
            id.encode(),
            text.to_ascii_uppercase(),
            "offset msgId round trip"
        );
    }
    if let Ok(k) = UniqKey::decode(text) {
        assert_eq!(k.encode(), text.to_ascii_uppercase(), "UNIQ_KEY round trip");
    }
}
