//! Golden vectors, written by hand from `remoting-protocol.md` (§2 frame, §4 JSON header,
//! §5 binary header, §10 send, §11 pull, §12 records, §13 bodies) — **not** produced by the
//! codec's encoder.
//!
//! Every header below is literal: the JSON text as a Java 4.9.8 process writes it (fastjson:
//! bean keys sorted, nulls omitted, `serializeTypeCurrentRPC`; `extFields` in the iteration
//! order of a Java `HashMap` holding those keys, taken from a JDK 17 run), and the ROCKETMQ
//! binary header byte by byte. Only the outer 8-byte prefix (`length`, `type | headerLength`)
//! is computed, by `support::frame`; a few cases also spell it out to check that helper.
//! The stored records of the pull body are assembled field by field from §12.1.
//!
//! Each case decodes the frame, checks every logical field and the typed header / body values,
//! then re-encodes with the codec and compares byte for byte with the hand-written frame.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::SocketAddr;

use apogee_codec::body::{
    BrokerData, ConsumeFromWhere, ConsumeType, ConsumerData, DataVersion, HeartbeatData,
    MessageModel, ProducerData, QueueData, RegisterBrokerBody, SubscriptionData, TopicConfig,
    TopicConfigSerializeWrapper, TopicFilterType, TopicRouteData,
};
use apogee_codec::frame::{parse_complete_frame, DEFAULT_MAX_FRAME};
use apogee_codec::header::{
    decode_send_request, GetRouteInfoRequestHeader, HeartbeatRequestHeader,
    PullMessageRequestHeader, PullMessageResponseHeader, RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader, RpcRequestHeader, SendMessageRequestHeader,
    SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use apogee_codec::message::{
    decode_offset_msg_id, decode_record_with, encode_batch, iter_batch, iter_records,
    join_properties, BatchEntry, DecodeOptions, MessageExt, MessageProperties, MessageRecord,
    RecordVersion, UniqKey, MAGIC_V1,
};
use apogee_codec::{CommandHeader, LanguageCode, RemotingCommand, SerializeType};
use bytes::Bytes;
use support::frame;

// =========================================================================================
// helpers (no encoding logic here besides concatenation)
// =========================================================================================

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// Split and interpret a hand-written frame with the codec.
fn decode(golden: &[u8]) -> RemotingCommand {
    let raw = parse_complete_frame(golden, DEFAULT_MAX_FRAME)
        .unwrap_or_else(|e| panic!("golden frame does not split: {e}\n{}", show(golden)));
    RemotingCommand::from_frame(raw)
        .unwrap_or_else(|e| panic!("golden header does not decode: {e}\n{}", show(golden)))
}

/// Re-encode with the codec and demand the exact golden bytes (frame and header alone).
fn assert_reencodes(cmd: &RemotingCommand, golden: &[u8], what: &str) {
    let out = cmd.to_bytes().expect("re-encode");
    assert!(
        &out[..] == golden,
        "{what}: re-encoded frame differs\ngolden: {}\nactual: {}",
        show(golden),
        show(&out)
    );
    let header_len =
        (u32::from_be_bytes([golden[4], golden[5], golden[6], golden[7]]) & 0x00FF_FFFF) as usize;
    assert_eq!(
        cmd.encode_header_bytes().unwrap(),
        &golden[8..8 + header_len],
        "{what}: header bytes"
    );
}

fn ext_set(cmd: &RemotingCommand) -> BTreeSet<(String, String)> {
    cmd.ext_fields
        .iter()
        .flat_map(|f| f.iter())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn pairs(kv: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    kv.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn crc(body: &[u8]) -> i32 {
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

// =========================================================================================
// SEND_MESSAGE_V2 (310) and its SendMessageResponseHeader response
// =========================================================================================

/// Header `i`: a 4.9.8 client's properties (HashMap order KEYS, UNIQ_KEY, WAIT, TAGS; no
/// trailing 0x02), 69 bytes.
const SEND_PROPS: &str =
    "KEYS\u{1}k1\u{2}UNIQ_KEY\u{1}7F0000010C8F18B4AAC2163F0E400000\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA";
const SEND_BODY: &[u8] = b"Hello RocketMQ 0";

const SEND_V2_JSON: &str = r#"{"code":310,"extFields":{"a":"ProducerGroupA","b":"TopicTest","c":"TBW102","d":"4","e":"2","f":"0","g":"1700000000000","h":"0","i":"KEYS\u0001k1\u0002UNIQ_KEY\u00017F0000010C8F18B4AAC2163F0E400000\u0002WAIT\u0001true\u0002TAGS\u0001TagA","j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":409}"#;

/// The same request in the ROCKETMQ binary header; `SendMessageRequestHeaderV2` is a
/// FastCodesHeader and writes `a`..`n` in order (`l` is null and skipped).
fn send_v2_binary_header() -> Vec<u8> {
    cat(&[
        b"\x01\x36",         // code: i16 310 (SEND_MESSAGE_V2)
        b"\x00",             // language: 0 = JAVA
        b"\x01\x99",         // version: i16 409 (V4_9_8)
        b"\x00\x00\x00\x09", // opaque: 9
        b"\x00\x00\x00\x00", // flag: 0 (request, two-way)
        b"\x00\x00\x00\x00", // remark: length 0 = null
        b"\x00\x00\x00\xe1", // extFields: 225 bytes of entries follow
        // each entry: key length i16, key, value length i32, value
        b"\x00\x01a\x00\x00\x00\x0eProducerGroupA", // a = producerGroup (14)
        b"\x00\x01b\x00\x00\x00\x09TopicTest",      // b = topic (9)
        b"\x00\x01c\x00\x00\x00\x06TBW102",         // c = defaultTopic (6)
        b"\x00\x01d\x00\x00\x00\x014",              // d = defaultTopicQueueNums "4"
        b"\x00\x01e\x00\x00\x00\x012",              // e = queueId "2"
        b"\x00\x01f\x00\x00\x00\x010",              // f = sysFlag "0"
        b"\x00\x01g\x00\x00\x00\x0d1700000000000",  // g = bornTimestamp (13)
        b"\x00\x01h\x00\x00\x00\x010",              // h = flag "0"
        b"\x00\x01i\x00\x00\x00\x45",               // i = properties (69 bytes):
        b"KEYS\x01k1\x02UNIQ_KEY\x017F0000010C8F18B4AAC2163F0E400000\x02WAIT\x01true\x02TAGS\x01TagA",
        b"\x00\x01j\x00\x00\x00\x010",       // j = reconsumeTimes "0"
        b"\x00\x01k\x00\x00\x00\x05false",   // k = unitMode
        b"\x00\x01m\x00\x00\x00\x05false",   // m = batch
        b"\x00\x01n\x00\x00\x00\x08broker-a", // n = broker name
    ])
}

fn expected_send_v2() -> SendMessageRequestHeaderV2 {
    SendMessageRequestHeaderV2 {
        a: "ProducerGroupA".into(),
        b: "TopicTest".into(),
        c: "TBW102".into(),
        d: 4,
        e: 2,
        f: 0,
        g: 1_700_000_000_000,
        h: 0,
        i: Some(SEND_PROPS.into()),
        j: Some(0),
        k: false,
        l: None,
        m: false,
        n: Some("broker-a".into()),
    }
}

fn check_send_request(cmd: &RemotingCommand, st: SerializeType) {
    assert_eq!(cmd.serialize_type, st);
    assert_eq!(cmd.code, 310);
    assert_eq!(cmd.language, LanguageCode::Java);
    assert_eq!(cmd.version, 409);
    assert_eq!(cmd.opaque, 9);
    assert_eq!(cmd.flag, 0);
    assert!(!cmd.is_response() && !cmd.is_oneway());
    assert_eq!(cmd.remark, None);
    assert_eq!(&cmd.body[..], SEND_BODY);
    assert_eq!(cmd.ext_fields.as_ref().map(|f| f.len()), Some(13));
    assert_eq!(cmd.ext("i"), Some(SEND_PROPS));

    let v2: SendMessageRequestHeaderV2 = cmd.read_header().unwrap();
    assert_eq!(v2, expected_send_v2());
    let v1 = decode_send_request(cmd.code, cmd.ext_fields.as_ref().unwrap()).unwrap();
    assert_eq!(
        v1,
        SendMessageRequestHeader {
            rpc: RpcRequestHeader::with_bname("broker-a"),
            producer_group: "ProducerGroupA".into(),
            topic: "TopicTest".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 2,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            flag: 0,
            properties: Some(SEND_PROPS.into()),
            reconsume_times: Some(0),
            unit_mode: false,
            batch: false,
            max_reconsume_times: None,
            lo: None,
        }
    );

    // The properties string of the message.
    let props = MessageProperties::parse_str(v1.properties.as_deref().unwrap());
    assert_eq!(props.len(), 4);
    assert_eq!(props.get("KEYS"), Some("k1"));
    assert_eq!(props.get("WAIT"), Some("true"));
    assert_eq!(props.tags(), Some("TagA"));
    assert_eq!(props.uniq_key(), Some("7F0000010C8F18B4AAC2163F0E400000"));
    assert_eq!(
        props.encode(),
        SEND_PROPS.as_bytes(),
        "order kept, no trailing 0x02"
    );
    let uk = UniqKey::decode(props.uniq_key().unwrap()).unwrap();
    assert_eq!(uk.ip, "127.0.0.1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(uk.pid, 3215);
    assert_eq!(uk.class_loader_hash, 0x18B4_AAC2);
    assert_eq!(uk.time_offset_ms, 0x163F_0E40);
    assert_eq!(uk.counter, 0);
}

#[test]
fn send_message_v2_request_json() {
    let golden = frame(0, SEND_V2_JSON.as_bytes(), SEND_BODY);
    let cmd = decode(&golden);
    check_send_request(&cmd, SerializeType::Json);
    assert_reencodes(&cmd, &golden, "SEND_MESSAGE_V2 JSON");
    // A request built from the typed header writes the same bytes (a..n is also the Java
    // HashMap order of these one-letter keys).
    let built = RemotingCommand::request(310, 9)
        .with_header(&expected_send_v2())
        .with_body(Bytes::from_static(SEND_BODY));
    assert_reencodes(&built, &golden, "SEND_MESSAGE_V2 JSON from typed header");
}

#[test]
fn send_message_v2_request_binary() {
    let header = send_v2_binary_header();
    assert_eq!(header.len(), 21 + 225);
    let golden = frame(1, &header, SEND_BODY);
    // The prefix, spelled out: length = 4 + 246 + 16 = 266; type 1, header length 246.
    assert_eq!(&golden[..8], b"\x00\x00\x01\x0a\x01\x00\x00\xf6");
    let cmd = decode(&golden);
    check_send_request(&cmd, SerializeType::RocketMq);
    assert_reencodes(&cmd, &golden, "SEND_MESSAGE_V2 binary");
    let mut built = RemotingCommand::request(310, 9)
        .with_header(&expected_send_v2())
        .with_body(Bytes::from_static(SEND_BODY));
    built.serialize_type = SerializeType::RocketMq;
    assert_reencodes(&built, &golden, "SEND_MESSAGE_V2 binary from typed header");
}

/// remoting-protocol.md §4.1, "Example response (broker, successful SEND_MESSAGE_V2)", verbatim.
/// (A JDK HashMap holding these five keys actually iterates `queueId, TRACE_ON, MSG_REGION,
/// msgId, queueOffset`; the order carries no meaning and the codec keeps whatever it read.)
const SEND_RESPONSE_JSON: &str = r#"{"code":0,"extFields":{"queueId":"2","MSG_REGION":"DefaultRegion","TRACE_ON":"true","msgId":"C0A8010A00002A9F0000000000001A2B","queueOffset":"17"},"flag":1,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":409}"#;

/// FastCodes order: msgId, queueId, queueOffset (transactionId null), then the remaining
/// extFields MSG_REGION and TRACE_ON in the iteration order of their HashMap (TRACE_ON first).
fn send_response_binary_header() -> Vec<u8> {
    cat(&[
        b"\x00\x00",                                                      // code: 0 SUCCESS
        b"\x00",                                                          // language: JAVA
        b"\x01\x99",                                                      // version: 409
        b"\x00\x00\x00\x09", // opaque: 9 (the request's)
        b"\x00\x00\x00\x01", // flag: 1 = response
        b"\x00\x00\x00\x00", // remark: null
        b"\x00\x00\x00\x7b", // extFields: 123 bytes
        b"\x00\x05msgId\x00\x00\x00\x20C0A8010A00002A9F0000000000001A2B", // 32 chars
        b"\x00\x07queueId\x00\x00\x00\x012",
        b"\x00\x0bqueueOffset\x00\x00\x00\x0217",
        // the broker's addExtField entries, in HashMap order
        b"\x00\x08TRACE_ON\x00\x00\x00\x04true",
        b"\x00\x0aMSG_REGION\x00\x00\x00\x0dDefaultRegion",
    ])
}

fn expected_send_response() -> SendMessageResponseHeader {
    SendMessageResponseHeader {
        msg_id: "C0A8010A00002A9F0000000000001A2B".into(),
        queue_id: 2,
        queue_offset: 17,
        transaction_id: None,
        batch_uniq_id: None,
        recall_handle: None,
        msg_region: Some("DefaultRegion".into()),
        trace_on: Some(true),
    }
}

fn check_send_response(cmd: &RemotingCommand, st: SerializeType) {
    assert_eq!(cmd.serialize_type, st);
    assert_eq!(
        (cmd.code, cmd.version, cmd.opaque, cmd.flag),
        (0, 409, 9, 1)
    );
    assert!(cmd.is_response());
    assert_eq!(cmd.language, LanguageCode::Java);
    assert_eq!(cmd.remark, None);
    assert!(cmd.body.is_empty());
    assert_eq!(
        ext_set(cmd),
        pairs(&[
            ("msgId", "C0A8010A00002A9F0000000000001A2B"),
            ("queueId", "2"),
            ("queueOffset", "17"),
            ("MSG_REGION", "DefaultRegion"),
            ("TRACE_ON", "true"),
        ])
    );
    let h: SendMessageResponseHeader = cmd.read_header().unwrap();
    assert_eq!(h, expected_send_response());
    // The offset msgId: store host 192.168.1.10:10911, commit-log offset 0x1A2B.
    let id = decode_offset_msg_id(&h.msg_id).unwrap();
    assert_eq!(id.store_host, addr("192.168.1.10:10911"));
    assert_eq!(id.offset, 0x1A2B);
    assert_eq!(id.encode(), h.msg_id);
}

#[test]
fn send_response_json() {
    let golden = frame(0, SEND_RESPONSE_JSON.as_bytes(), b"");
    let cmd = decode(&golden);
    check_send_response(&cmd, SerializeType::Json);
    assert_reencodes(&cmd, &golden, "send response JSON");
}

#[test]
fn send_response_binary() {
    let header = send_response_binary_header();
    assert_eq!(header.len(), 21 + 123);
    let golden = frame(1, &header, b"");
    let cmd = decode(&golden);
    check_send_response(&cmd, SerializeType::RocketMq);
    assert_reencodes(&cmd, &golden, "send response binary");
    // The codec's response builder + typed header: same fields (the typed header writes
    // MSG_REGION before TRACE_ON), same header length.
    let mut req = RemotingCommand::request(310, 9);
    req.serialize_type = SerializeType::RocketMq;
    let built = RemotingCommand::success_to(&req).with_header(&expected_send_response());
    assert_eq!(ext_set(&built), ext_set(&cmd));
    assert_eq!(built.to_bytes().unwrap().len(), golden.len());
    let built = decode(&built.to_bytes().unwrap());
    assert_eq!((built.code, built.opaque, built.flag), (0, 9, 1));
}

// =========================================================================================
// SEND_BATCH_MESSAGE (320): V2 header with m=true, body per §10.4
// =========================================================================================

const SEND_BATCH_JSON: &str = r#"{"code":320,"extFields":{"a":"ProducerGroupA","b":"TopicTest","c":"TBW102","d":"4","e":"2","f":"0","g":"1700000000000","h":"0","i":"WAIT\u0001true","j":"0","k":"false","m":"true","n":"broker-a"},"flag":0,"language":"JAVA","opaque":10,"serializeTypeCurrentRPC":"JSON","version":409}"#;

/// Two entries, field by field: totalSize, magic 0, bodyCRC 0, flag, bodyLen + body,
/// propertiesLen (i16) + properties (each with its own UNIQ_KEY).
fn send_batch_body() -> Vec<u8> {
    cat(&[
        b"\x00\x00\x00\x41",   // totalSize 65 = 22 + 2 + 41
        b"\x00\x00\x00\x00",   // magicCode 0
        b"\x00\x00\x00\x00",   // bodyCRC 0
        b"\x00\x00\x00\x00",   // flag 0
        b"\x00\x00\x00\x02m1", // bodyLen 2 + body
        b"\x00\x29UNIQ_KEY\x017F0000010C8F18B4AAC2163F0E400003", // propertiesLen 41
        b"\x00\x00\x00\x2a",   // totalSize 42 = 22 + 11 + 9
        b"\x00\x00\x00\x00",   // magicCode 0
        b"\x00\x00\x00\x00",   // bodyCRC 0
        b"\x00\x00\x00\x07",   // flag 7
        b"\x00\x00\x00\x0bmessage two", // bodyLen 11 + body
        b"\x00\x09TAGS\x01TagA", // propertiesLen 9
    ])
}

#[test]
fn send_batch_message_json() {
    let body = send_batch_body();
    assert_eq!(body.len(), 65 + 42);
    let golden = frame(0, SEND_BATCH_JSON.as_bytes(), &body);
    let cmd = decode(&golden);
    assert_eq!((cmd.code, cmd.opaque, cmd.flag), (320, 10, 0));
    let h = decode_send_request(cmd.code, cmd.ext_fields.as_ref().unwrap()).unwrap();
    assert!(h.batch);
    assert_eq!(h.properties.as_deref(), Some("WAIT\u{1}true"));
    let entries: Vec<BatchEntry<'_>> = iter_batch(&cmd.body).map(|e| e.unwrap()).collect();
    assert_eq!(
        entries,
        vec![
            BatchEntry::new(0, b"m1", b"UNIQ_KEY\x017F0000010C8F18B4AAC2163F0E400003"),
            BatchEntry::new(7, b"message two", b"TAGS\x01TagA"),
        ]
    );
    // The codec's batch encoder writes the same body.
    assert_eq!(encode_batch(entries.iter().copied()).unwrap(), body);
    // Stored properties: the entry's own, 0x02, the batch-level ones (§10.4).
    let mut joined = Vec::new();
    join_properties(entries[0].properties, b"WAIT\x01true", &mut joined);
    assert_eq!(
        joined,
        b"UNIQ_KEY\x017F0000010C8F18B4AAC2163F0E400003\x02WAIT\x01true"
    );
    assert_reencodes(&cmd, &golden, "SEND_BATCH_MESSAGE JSON");
}

// =========================================================================================
// PULL_MESSAGE (11) request, and the response with three stored records
// =========================================================================================

const PULL_REQUEST_JSON: &str = r#"{"code":11,"extFields":{"queueId":"1","maxMsgNums":"32","sysFlag":"2","suspendTimeoutMillis":"15000","commitOffset":"0","bname":"broker-a","topic":"TopicTest","queueOffset":"0","expressionType":"TAG","subVersion":"1700000000123","consumerGroup":"ConsumerGroupA"},"flag":0,"language":"JAVA","opaque":11,"serializeTypeCurrentRPC":"JSON","version":409}"#;

/// FastCodes order of `PullMessageRequestHeader` (subscription null → skipped), bname last.
fn pull_request_binary_header() -> Vec<u8> {
    cat(&[
        b"\x00\x0b",         // code: 11 PULL_MESSAGE
        b"\x00",             // language: JAVA
        b"\x01\x99",         // version: 409
        b"\x00\x00\x00\x0b", // opaque: 11
        b"\x00\x00\x00\x00", // flag: 0
        b"\x00\x00\x00\x00", // remark: null
        b"\x00\x00\x00\xee", // extFields: 238 bytes
        b"\x00\x0dconsumerGroup\x00\x00\x00\x0eConsumerGroupA",
        b"\x00\x05topic\x00\x00\x00\x09TopicTest",
        b"\x00\x07queueId\x00\x00\x00\x011",
        b"\x00\x0bqueueOffset\x00\x00\x00\x010",
        b"\x00\x0amaxMsgNums\x00\x00\x00\x0232",
        b"\x00\x07sysFlag\x00\x00\x00\x012", // FLAG_SUSPEND
        b"\x00\x0ccommitOffset\x00\x00\x00\x010",
        b"\x00\x14suspendTimeoutMillis\x00\x00\x00\x0515000",
        b"\x00\x0asubVersion\x00\x00\x00\x0d1700000000123",
        b"\x00\x0eexpressionType\x00\x00\x00\x03TAG",
        b"\x00\x05bname\x00\x00\x00\x08broker-a",
    ])
}

fn expected_pull_request() -> PullMessageRequestHeader {
    PullMessageRequestHeader {
        rpc: RpcRequestHeader::with_bname("broker-a"),
        consumer_group: "ConsumerGroupA".into(),
        topic: "TopicTest".into(),
        queue_id: 1,
        queue_offset: 0,
        max_msg_nums: 32,
        sys_flag: 2,
        commit_offset: 0,
        suspend_timeout_millis: 15_000,
        subscription: None,
        sub_version: 1_700_000_000_123,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
        request_source: None,
        proxy_froward_client_id: None,
        lo: None,
    }
}

fn check_pull_request(cmd: &RemotingCommand, st: SerializeType) {
    assert_eq!(cmd.serialize_type, st);
    assert_eq!(
        (cmd.code, cmd.version, cmd.opaque, cmd.flag),
        (11, 409, 11, 0)
    );
    assert_eq!(cmd.language, LanguageCode::Java);
    assert_eq!(cmd.remark, None);
    assert!(cmd.body.is_empty());
    let h: PullMessageRequestHeader = cmd.read_header().unwrap();
    assert_eq!(h, expected_pull_request());
    assert!(h.has_suspend_flag());
    assert!(!h.has_commit_offset_flag() && !h.has_subscription_flag());
    assert_eq!(h.expression_type_or_tag(), "TAG");
    // The typed header writes exactly these fields (in its own order).
    let written: BTreeSet<(String, String)> = h
        .to_ext_fields()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(written, ext_set(cmd));
}

#[test]
fn pull_request_json() {
    let golden = frame(0, PULL_REQUEST_JSON.as_bytes(), b"");
    let cmd = decode(&golden);
    check_pull_request(&cmd, SerializeType::Json);
    assert_reencodes(&cmd, &golden, "PULL_MESSAGE JSON");
}

#[test]
fn pull_request_binary() {
    let header = pull_request_binary_header();
    assert_eq!(header.len(), 21 + 238);
    let golden = frame(1, &header, b"");
    let cmd = decode(&golden);
    check_pull_request(&cmd, SerializeType::RocketMq);
    assert_reencodes(&cmd, &golden, "PULL_MESSAGE binary");
}

/// The values of one stored record, as literals; `hand_record` lays them out per §12.1.
struct HandRecord {
    total_size: i32,
    body_crc: i32,
    queue_id: i32,
    flag: i32,
    queue_offset: i64,
    physical_offset: i64,
    sys_flag: i32,
    born_timestamp: i64,
    born_ip: [u8; 4],
    born_port: i32,
    store_timestamp: i64,
    store_ip: [u8; 4],
    store_port: i32,
    reconsume_times: i32,
    prepared_transaction_offset: i64,
    body: &'static [u8],
    topic: &'static [u8],
    properties: &'static [u8],
}

/// §12.1, field by field, all big-endian, IPv4 hosts (sysFlag bits 0x10/0x20 clear).
fn hand_record(r: &HandRecord) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&r.total_size.to_be_bytes()); // 1  TOTALSIZE        @0
    v.extend_from_slice(&0xDAA3_20A7_u32.to_be_bytes()); // 2  MAGICCODE v1     @4
    v.extend_from_slice(&r.body_crc.to_be_bytes()); // 3  BODYCRC          @8
    v.extend_from_slice(&r.queue_id.to_be_bytes()); // 4  QUEUEID          @12
    v.extend_from_slice(&r.flag.to_be_bytes()); // 5  FLAG             @16
    v.extend_from_slice(&r.queue_offset.to_be_bytes()); // 6  QUEUEOFFSET      @20
    v.extend_from_slice(&r.physical_offset.to_be_bytes()); // 7  PHYSICALOFFSET   @28
    v.extend_from_slice(&r.sys_flag.to_be_bytes()); // 8  SYSFLAG          @36
    v.extend_from_slice(&r.born_timestamp.to_be_bytes()); // 9  BORNTIMESTAMP    @40
    v.extend_from_slice(&r.born_ip); // 10 BORNHOST addr    @48
    v.extend_from_slice(&r.born_port.to_be_bytes()); //    BORNHOST port    @52
    v.extend_from_slice(&r.store_timestamp.to_be_bytes()); // 11 STORETIMESTAMP   @56
    v.extend_from_slice(&r.store_ip); // 12 STOREHOST addr   @64
    v.extend_from_slice(&r.store_port.to_be_bytes()); //    STOREHOST port   @68
    v.extend_from_slice(&r.reconsume_times.to_be_bytes()); // 13 RECONSUMETIMES   @72
    v.extend_from_slice(&r.prepared_transaction_offset.to_be_bytes()); // 14 PREPARED…OFFSET  @76
    v.extend_from_slice(&(r.body.len() as i32).to_be_bytes()); // 15 BODYLEN          @84
    v.extend_from_slice(r.body); //    BODY             @88
    v.push(r.topic.len() as u8); // 16 TOPICLEN (1 byte, v1)
    v.extend_from_slice(r.topic); //    TOPIC
    v.extend_from_slice(&(r.properties.len() as i16).to_be_bytes()); // 17 PROPERTIESLEN (i16)
    v.extend_from_slice(r.properties); //    PROPERTIES
    assert_eq!(v.len(), r.total_size as usize, "TOTALSIZE literal");
    v
}

/// The three records of the pull body: queue 1 of TopicTest, offsets 0..3, stored by
/// 10.0.0.5:10911. Properties as a 4.9.8 broker stores them (HashMap order, WAIT stripped,
/// CLUSTER added, no trailing 0x02).
const PULL_RECORDS: [HandRecord; 3] = [
    HandRecord {
        total_size: 190, // 91 + 16 + 9 + 74
        body_crc: 0x248C_774F,
        queue_id: 1,
        flag: 0,
        queue_offset: 0,
        physical_offset: 0,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_ip: [10, 0, 0, 9],
        born_port: 50001,
        store_timestamp: 1_700_000_000_002,
        store_ip: [10, 0, 0, 5],
        store_port: 10911,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: b"Hello RocketMQ 0",
        topic: b"TopicTest",
        properties: b"UNIQ_KEY\x017F0000010C8F18B4AAC2163F0E400000\x02CLUSTER\x01DefaultCluster\x02TAGS\x01TagA",
    },
    HandRecord {
        total_size: 201, // 91 + 16 + 9 + 85
        body_crc: 0x538B_47D9,
        queue_id: 1,
        flag: 0,
        queue_offset: 1,
        physical_offset: 190,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_010,
        born_ip: [10, 0, 0, 9],
        born_port: 50001,
        store_timestamp: 1_700_000_000_011,
        store_ip: [10, 0, 0, 5],
        store_port: 10911,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: b"Hello RocketMQ 1",
        topic: b"TopicTest",
        properties: b"KEYS\x01order-1 order-2\x02UNIQ_KEY\x017F0000010C8F18B4AAC2163F0E400001\x02CLUSTER\x01DefaultCluster",
    },
    HandRecord {
        total_size: 198, // 91 + 16 + 9 + 82
        body_crc: 0x4A82_1663,
        queue_id: 1,
        flag: 7,
        queue_offset: 2,
        physical_offset: 391,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_020,
        born_ip: [10, 0, 0, 10],
        born_port: 50002,
        store_timestamp: 1_700_000_000_021,
        store_ip: [10, 0, 0, 5],
        store_port: 10911,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: b"Hello RocketMQ 2",
        topic: b"TopicTest",
        properties: b"KEYS\x01k3\x02UNIQ_KEY\x017F0000010C8F18B4AAC2163F0E400002\x02CLUSTER\x01DefaultCluster\x02TAGS\x01TagB",
    },
];

fn pull_body() -> Vec<u8> {
    PULL_RECORDS.iter().flat_map(hand_record).collect()
}

const PULL_RESPONSE_JSON: &str = r#"{"code":0,"extFields":{"suggestWhichBrokerId":"0","nextBeginOffset":"3","maxOffset":"3","minOffset":"0"},"flag":1,"language":"JAVA","opaque":11,"remark":"FOUND","serializeTypeCurrentRPC":"JSON","version":409}"#;

fn pull_response_binary_header() -> Vec<u8> {
    cat(&[
        b"\x00\x00",              // code: 0 SUCCESS (FOUND)
        b"\x00",                  // language: JAVA
        b"\x01\x99",              // version: 409
        b"\x00\x00\x00\x0b",      // opaque: 11
        b"\x00\x00\x00\x01",      // flag: response
        b"\x00\x00\x00\x05FOUND", // remark: 5 bytes
        b"\x00\x00\x00\x51",      // extFields: 81 bytes
        b"\x00\x14suggestWhichBrokerId\x00\x00\x00\x010",
        b"\x00\x0fnextBeginOffset\x00\x00\x00\x013",
        b"\x00\x09minOffset\x00\x00\x00\x010",
        b"\x00\x09maxOffset\x00\x00\x00\x013",
    ])
}

fn expected_pull_response() -> PullMessageResponseHeader {
    PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: 3,
        min_offset: 0,
        max_offset: 3,
        offset_delta: None,
        topic_sys_flag: None,
        group_sys_flag: None,
        forbidden_type: None,
    }
}

fn check_record(rec: &MessageRecord<'_>, hand: &HandRecord, golden: &[u8]) {
    assert_eq!(rec.version, RecordVersion::V1);
    assert_eq!(rec.total_size(), hand.total_size as usize);
    assert_eq!(rec.body_crc, hand.body_crc);
    assert_eq!(rec.body_crc, crc(hand.body), "BODYCRC literal");
    assert_eq!(rec.queue_id, hand.queue_id);
    assert_eq!(rec.flag, hand.flag);
    assert_eq!(rec.queue_offset, hand.queue_offset);
    assert_eq!(rec.physical_offset, hand.physical_offset);
    assert_eq!(rec.sys_flag, hand.sys_flag);
    assert_eq!(rec.born_timestamp, hand.born_timestamp);
    assert_eq!(
        rec.born_host,
        SocketAddr::from((hand.born_ip, hand.born_port as u16))
    );
    assert_eq!(rec.store_timestamp, hand.store_timestamp);
    assert_eq!(
        rec.store_host,
        SocketAddr::from((hand.store_ip, hand.store_port as u16))
    );
    assert_eq!(rec.reconsume_times, hand.reconsume_times);
    assert_eq!(
        rec.prepared_transaction_offset,
        hand.prepared_transaction_offset
    );
    assert_eq!(rec.body, hand.body);
    assert_eq!(rec.topic, hand.topic);
    assert_eq!(rec.topic_str().unwrap(), "TopicTest");
    assert_eq!(rec.properties, hand.properties);
    assert!(!rec.is_compressed());
    assert_eq!(&rec.inflated_body(1 << 20).unwrap()[..], hand.body);
    // Re-encode with the codec's record encoder: the hand-written bytes exactly.
    assert_eq!(rec.encoded_len().unwrap(), golden.len());
    let mut out = Vec::new();
    assert_eq!(rec.encode_to(&mut out).unwrap(), golden.len());
    assert_eq!(out, golden, "record re-encode");
    let mut fixed = vec![0u8; golden.len()];
    rec.encode_into(&mut fixed).unwrap();
    assert_eq!(fixed, golden);
    // The owned form encodes identically too (properties order kept).
    let ext = MessageExt::from_record(rec);
    assert_eq!(ext.to_vec().unwrap(), golden);
}

fn check_pull_response(cmd: &RemotingCommand, st: SerializeType) {
    assert_eq!(cmd.serialize_type, st);
    assert_eq!(
        (cmd.code, cmd.version, cmd.opaque, cmd.flag),
        (0, 409, 11, 1)
    );
    assert_eq!(cmd.remark.as_deref(), Some("FOUND"));
    let h: PullMessageResponseHeader = cmd.read_header().unwrap();
    assert_eq!(h, expected_pull_response());

    let body = pull_body();
    assert_eq!(body.len(), 589);
    assert_eq!(&cmd.body[..], &body[..]);
    let records: Vec<MessageRecord<'_>> = iter_records(&cmd.body).map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 3);
    let mut at = 0;
    for (rec, hand) in records.iter().zip(PULL_RECORDS.iter()) {
        let golden = &body[at..at + hand.total_size as usize];
        check_record(rec, hand, golden);
        // Each physical offset is where the record starts in this (contiguous) body.
        assert_eq!(rec.physical_offset, at as i64);
        let (again, n) = decode_record_with(golden, DecodeOptions::verify_crc()).unwrap();
        assert_eq!((&again, n), (rec, golden.len()));
        at += hand.total_size as usize;
    }

    // Per-record views a consumer derives.
    let [r0, r1, r2] = [&records[0], &records[1], &records[2]];
    assert_eq!(r0.offset_msg_id(), "0A00000500002A9F0000000000000000");
    assert_eq!(r1.offset_msg_id(), "0A00000500002A9F00000000000000BE");
    assert_eq!(r2.offset_msg_id(), "0A00000500002A9F0000000000000187");
    assert_eq!(r0.tags(), Some(&b"TagA"[..]));
    assert_eq!(r0.tags_code(), 2_598_919); // "TagA".hashCode()
    assert_eq!(r1.tags(), None);
    assert_eq!(r1.tags_code(), 0);
    assert_eq!(r1.keys(), Some(&b"order-1 order-2"[..]));
    assert_eq!(r2.tags_code(), 2_598_920); // "TagB".hashCode()
    assert_eq!(r2.keys(), Some(&b"k3"[..]));
    for (i, r) in records.iter().enumerate() {
        let uk = format!("7F0000010C8F18B4AAC2163F0E40000{i}");
        assert_eq!(r.uniq_key(), Some(uk.as_bytes()));
        assert_eq!(r.property("CLUSTER"), Some(&b"DefaultCluster"[..]));
        let m = MessageExt::from_record(r);
        assert_eq!(m.topic, "TopicTest");
        assert_eq!(m.uniq_key(), Some(uk.as_str()));
        assert_eq!(m.offset_msg_id(), r.offset_msg_id());
        let id = decode_offset_msg_id(&m.offset_msg_id()).unwrap();
        assert_eq!(
            (id.store_host, id.offset),
            (addr("10.0.0.5:10911"), r.physical_offset)
        );
    }
    assert_eq!(records[2].flag, 7);
    assert_eq!(records[2].born_host, addr("10.0.0.10:50002"));
}

#[test]
fn pull_response_json_with_three_records() {
    let golden = frame(0, PULL_RESPONSE_JSON.as_bytes(), &pull_body());
    let cmd = decode(&golden);
    check_pull_response(&cmd, SerializeType::Json);
    assert_reencodes(&cmd, &golden, "pull response JSON");
}

#[test]
fn pull_response_binary_with_three_records() {
    let header = pull_response_binary_header();
    assert_eq!(header.len(), 21 + 5 + 81);
    let golden = frame(1, &header, &pull_body());
    // length = 4 + 107 + 589 = 700 = 0x2BC; type 1, header length 107 = 0x6B.
    assert_eq!(&golden[..8], b"\x00\x00\x02\xbc\x01\x00\x00\x6b");
    let cmd = decode(&golden);
    check_pull_response(&cmd, SerializeType::RocketMq);
    assert_reencodes(&cmd, &golden, "pull response binary");
    // Built from the typed header (declaration order = FastCodes order) plus the body.
    let mut req = RemotingCommand::request(11, 11);
    req.serialize_type = SerializeType::RocketMq;
    let built = RemotingCommand::success_to(&req)
        .with_remark("FOUND")
        .with_header(&expected_pull_response())
        .with_body(pull_body());
    assert_reencodes(&built, &golden, "pull response binary from typed header");
}

// =========================================================================================
// HEART_BEAT (34): no header in 4.9, body = HeartbeatData JSON
// =========================================================================================

const HEARTBEAT_JSON: &str = r#"{"code":34,"flag":0,"language":"JAVA","opaque":5,"serializeTypeCurrentRPC":"JSON","version":409}"#;

/// What a 4.9.8 push consumer sends: bean properties sorted, enums by name, the retry
/// subscription, the internal producer group.
const HEARTBEAT_BODY: &str = r#"{"clientID":"10.0.0.9@12345#2894620468753","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"ConsumerGroupA","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919,2598920],"expressionType":"TAG","subString":"TagA || TagB","subVersion":1700000000123,"tagsSet":["TagA","TagB"],"topic":"TopicTest"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000124,"tagsSet":[],"topic":"%RETRY%ConsumerGroupA"}],"unitMode":false}],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}"#;

fn heartbeat_binary_header() -> Vec<u8> {
    cat(&[
        b"\x00\x22",         // code: 34 HEART_BEAT
        b"\x00",             // language: JAVA
        b"\x01\x99",         // version: 409
        b"\x00\x00\x00\x05", // opaque: 5
        b"\x00\x00\x00\x00", // flag: 0
        b"\x00\x00\x00\x00", // remark: null
        b"\x00\x00\x00\x00", // extFields: none (4.9 sends no custom header)
    ])
}

fn expected_heartbeat() -> HeartbeatData {
    HeartbeatData {
        client_id: "10.0.0.9@12345#2894620468753".into(),
        consumer_data_set: vec![ConsumerData {
            consume_from_where: ConsumeFromWhere::ConsumeFromLastOffset,
            consume_type: ConsumeType::ConsumePassively,
            group_name: "ConsumerGroupA".into(),
            message_model: MessageModel::Clustering,
            subscription_data_set: vec![
                SubscriptionData {
                    class_filter_mode: false,
                    code_set: [2_598_919, 2_598_920].into_iter().collect(),
                    expression_type: "TAG".into(),
                    sub_string: "TagA || TagB".into(),
                    sub_version: 1_700_000_000_123,
                    tags_set: ["TagA".to_owned(), "TagB".to_owned()].into_iter().collect(),
                    topic: "TopicTest".into(),
                },
                SubscriptionData {
                    class_filter_mode: false,
                    code_set: BTreeSet::new(),
                    expression_type: "TAG".into(),
                    sub_string: "*".into(),
                    sub_version: 1_700_000_000_124,
                    tags_set: BTreeSet::new(),
                    topic: "%RETRY%ConsumerGroupA".into(),
                },
            ],
            unit_mode: false,
        }],
        heartbeat_fingerprint: None,
        producer_data_set: vec![ProducerData {
            group_name: "CLIENT_INNER_PRODUCER".into(),
        }],
        without_sub: None,
    }
}

fn check_heartbeat(cmd: &RemotingCommand, st: SerializeType) {
    assert_eq!(cmd.serialize_type, st);
    assert_eq!(
        (cmd.code, cmd.version, cmd.opaque, cmd.flag),
        (34, 409, 5, 0)
    );
    assert_eq!(cmd.language, LanguageCode::Java);
    assert_eq!(cmd.remark, None);
    assert_eq!(cmd.ext_fields, None);
    let h: HeartbeatRequestHeader = cmd.read_header().unwrap();
    assert!(h.rpc.is_empty());
    let hb = HeartbeatData::decode(&cmd.body).unwrap();
    assert_eq!(hb, expected_heartbeat());
    assert!(hb.consumer_data_set[0].subscription_data_set[0].is_tag_type());
    // The codec writes the body exactly as Java does.
    assert_eq!(
        String::from_utf8(hb.encode()).unwrap(),
        HEARTBEAT_BODY,
        "HeartbeatData encode"
    );
}

#[test]
fn heartbeat_json() {
    let golden = frame(0, HEARTBEAT_JSON.as_bytes(), HEARTBEAT_BODY.as_bytes());
    let cmd = decode(&golden);
    check_heartbeat(&cmd, SerializeType::Json);
    assert_reencodes(&cmd, &golden, "HEART_BEAT JSON");
    let built = RemotingCommand::request(34, 5).with_body(expected_heartbeat().encode());
    assert_reencodes(&built, &golden, "HEART_BEAT JSON built");
}

#[test]
fn heartbeat_binary() {
    let header = heartbeat_binary_header();
    assert_eq!(header.len(), 21);
    let golden = frame(1, &header, HEARTBEAT_BODY.as_bytes());
    let cmd = decode(&golden);
    check_heartbeat(&cmd, SerializeType::RocketMq);
    assert_reencodes(&cmd, &golden, "HEART_BEAT binary");
}

#[test]
fn heartbeat_response_both_serializations() {
    // SUCCESS, no header, no body; the broker's own version.
    let json = r#"{"code":0,"flag":1,"language":"JAVA","opaque":5,"serializeTypeCurrentRPC":"JSON","version":409}"#;
    let bin = cat(&[
        b"\x00\x00",         // code: 0
        b"\x00",             // JAVA
        b"\x01\x99",         // version 409
        b"\x00\x00\x00\x05", // opaque 5
        b"\x00\x00\x00\x01", // flag: response
        b"\x00\x00\x00\x00", // remark: null
        b"\x00\x00\x00\x00", // extFields: none
    ]);
    for (ty, header) in [(0u8, json.as_bytes()), (1, &bin[..])] {
        let golden = frame(ty, header, b"");
        let cmd = decode(&golden);
        assert_eq!(
            (cmd.code, cmd.version, cmd.opaque, cmd.flag),
            (0, 409, 5, 1)
        );
        assert_eq!((cmd.remark.as_ref(), cmd.ext_fields.as_ref()), (None, None));
        assert!(cmd.body().is_none());
        assert_reencodes(&cmd, &golden, "heartbeat response");
        let mut req = RemotingCommand::request(34, 5);
        req.serialize_type = cmd.serialize_type;
        assert_reencodes(
            &RemotingCommand::success_to(&req),
            &golden,
            "heartbeat response built",
        );
    }
}

// =========================================================================================
// REGISTER_BROKER (103): header + RegisterBrokerBody (JSON and compressed)
// =========================================================================================

/// fastjson output of a 4.9.8 broker's RegisterBrokerBody (586 bytes). The topic table is
/// written here in sorted order, which is the codec's documented output order (Java writes
/// its ConcurrentHashMap's iteration order; nobody depends on it).
const REGISTER_BODY: &str = r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"timestamp":1700000000000},"topicConfigTable":{"%RETRY%ConsumerGroupA":{"order":false,"perm":6,"readQueueNums":1,"topicFilterType":"SINGLE_TAG","topicName":"%RETRY%ConsumerGroupA","topicSysFlag":0,"writeQueueNums":1},"TBW102":{"order":false,"perm":7,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"TBW102","topicSysFlag":0,"writeQueueNums":8},"TopicTest":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}}}}"#;

/// crc32(REGISTER_BODY) & 0x7FFFFFFF.
const REGISTER_BODY_CRC: i32 = 65_290_575;

const REGISTER_JSON: &str = r#"{"code":103,"extFields":{"brokerId":"0","bodyCrc32":"65290575","clusterName":"DefaultCluster","brokerAddr":"10.0.0.5:10911","haServerAddr":"10.0.0.5:10912","compressed":"false","brokerName":"broker-a"},"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":409}"#;

/// Not a FastCodesHeader: plain extFields entries, in the same HashMap order.
fn register_binary_header() -> Vec<u8> {
    cat(&[
        b"\x00\x67",         // code: 103 REGISTER_BROKER
        b"\x00",             // language: JAVA
        b"\x01\x99",         // version: 409
        b"\x00\x00\x00\x01", // opaque: 1
        b"\x00\x00\x00\x00", // flag: 0
        b"\x00\x00\x00\x00", // remark: null
        b"\x00\x00\x00\xb0", // extFields: 176 bytes
        b"\x00\x08brokerId\x00\x00\x00\x010",
        b"\x00\x09bodyCrc32\x00\x00\x00\x0865290575",
        b"\x00\x0bclusterName\x00\x00\x00\x0eDefaultCluster",
        b"\x00\x0abrokerAddr\x00\x00\x00\x0e10.0.0.5:10911",
        b"\x00\x0chaServerAddr\x00\x00\x00\x0e10.0.0.5:10912",
        b"\x00\x0acompressed\x00\x00\x00\x05false",
        b"\x00\x0abrokerName\x00\x00\x00\x08broker-a",
    ])
}

fn expected_register_body() -> RegisterBrokerBody {
    let tc = |name: &str, q: i32, perm: i32| TopicConfig {
        attributes: None,
        order: false,
        perm,
        read_queue_nums: q,
        topic_filter_type: TopicFilterType::SingleTag,
        topic_name: name.into(),
        topic_sys_flag: 0,
        write_queue_nums: q,
    };
    RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            data_version: DataVersion::new(3, 1_700_000_000_000),
            topic_config_table: [
                tc("%RETRY%ConsumerGroupA", 1, 6),
                tc("TBW102", 8, 7),
                tc("TopicTest", 4, 6),
            ]
            .into_iter()
            .map(|t| (t.topic_name.clone(), t))
            .collect(),
            ..Default::default()
        },
    }
}

fn expected_register_header(compressed: bool, body_crc32: i32) -> RegisterBrokerRequestHeader {
    RegisterBrokerRequestHeader {
        broker_name: "broker-a".into(),
        broker_addr: "10.0.0.5:10911".into(),
        cluster_name: "DefaultCluster".into(),
        ha_server_addr: "10.0.0.5:10912".into(),
        broker_id: 0,
        heartbeat_timeout_millis: None,
        enable_acting_master: None,
        compressed,
        body_crc32,
    }
}

fn check_register(cmd: &RemotingCommand, st: SerializeType) {
    assert_eq!(cmd.serialize_type, st);
    assert_eq!(
        (cmd.code, cmd.version, cmd.opaque, cmd.flag),
        (103, 409, 1, 0)
    );
    assert_eq!(cmd.remark, None);
    let h: RegisterBrokerRequestHeader = cmd.read_header().unwrap();
    assert_eq!(h, expected_register_header(false, REGISTER_BODY_CRC));
    assert_eq!(
        h.body_crc32,
        crc(&cmd.body),
        "bodyCrc32 over the body as sent"
    );
    let written: BTreeSet<(String, String)> = h
        .to_ext_fields()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(written, ext_set(cmd));
    let body = RegisterBrokerBody::decode_with(&cmd.body, h.compressed).unwrap();
    assert_eq!(body, expected_register_body());
    assert_eq!(
        String::from_utf8(body.encode()).unwrap(),
        REGISTER_BODY,
        "RegisterBrokerBody encode"
    );
}

#[test]
fn register_broker_json() {
    let golden = frame(0, REGISTER_JSON.as_bytes(), REGISTER_BODY.as_bytes());
    let cmd = decode(&golden);
    check_register(&cmd, SerializeType::Json);
    assert_reencodes(&cmd, &golden, "REGISTER_BROKER JSON");
}

#[test]
fn register_broker_binary() {
    let header = register_binary_header();
    assert_eq!(header.len(), 21 + 176);
    let golden = frame(1, &header, REGISTER_BODY.as_bytes());
    let cmd = decode(&golden);
    check_register(&cmd, SerializeType::RocketMq);
    assert_reencodes(&cmd, &golden, "REGISTER_BROKER binary");
}

#[test]
fn register_broker_response_both_serializations() {
    // A master's registration: RegisterBrokerResponseHeader with both fields null. JSON keeps
    // the (empty) extFields object of the custom header; binary writes a zero-length map.
    let json = r#"{"code":0,"extFields":{},"flag":1,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":409}"#;
    let bin = cat(&[
        b"\x00\x00",         // code: 0
        b"\x00",             // JAVA
        b"\x01\x99",         // version 409
        b"\x00\x00\x00\x01", // opaque 1
        b"\x00\x00\x00\x01", // flag: response
        b"\x00\x00\x00\x00", // remark: null
        b"\x00\x00\x00\x00", // extFields: 0 bytes
    ]);
    for (ty, header) in [(0u8, json.as_bytes()), (1, &bin[..])] {
        let golden = frame(ty, header, b"");
        let cmd = decode(&golden);
        assert_eq!(
            (cmd.code, cmd.version, cmd.opaque, cmd.flag),
            (0, 409, 1, 1)
        );
        let h: RegisterBrokerResponseHeader = cmd.read_header().unwrap();
        assert_eq!((h.ha_server_addr, h.master_addr), (None, None));
        assert_reencodes(&cmd, &golden, "register response");
        let mut req = RemotingCommand::request(103, 1);
        req.serialize_type = cmd.serialize_type;
        let built =
            RemotingCommand::success_to(&req).with_header(&RegisterBrokerResponseHeader::default());
        assert_reencodes(&built, &golden, "register response built");
    }
}

/// The uncompressed content of the compressed form (§13.3), written by hand: int32 lengths,
/// DataVersion JSON, topic count, one `name read write perm filterType` line per topic, the
/// filterServerList JSON.
fn register_compressed_raw() -> Vec<u8> {
    cat(&[
        b"\x00\x00\x00\x27", // 39 bytes of DataVersion JSON
        br#"{"counter":3,"timestamp":1700000000000}"#,
        b"\x00\x00\x00\x03", // 3 topics
        b"\x00\x00\x00\x26", // 38 bytes
        b"%RETRY%ConsumerGroupA 1 1 6 SINGLE_TAG",
        b"\x00\x00\x00\x17", // 23 bytes
        b"TBW102 8 8 7 SINGLE_TAG",
        b"\x00\x00\x00\x1a", // 26 bytes
        b"TopicTest 4 4 6 SINGLE_TAG",
        b"\x00\x00\x00\x02", // 2 bytes
        b"[]",
    ])
}

fn inflate(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn register_broker_compressed_body() {
    let raw = register_compressed_raw();
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&raw).unwrap();
    let compressed = enc.finish().unwrap();
    let body_crc = crc(&compressed);

    let header = format!(
        r#"{{"code":103,"extFields":{{"brokerId":"0","bodyCrc32":"{body_crc}","clusterName":"DefaultCluster","brokerAddr":"10.0.0.5:10911","haServerAddr":"10.0.0.5:10912","compressed":"true","brokerName":"broker-a"}},"flag":0,"language":"JAVA","opaque":2,"serializeTypeCurrentRPC":"JSON","version":409}}"#
    );
    let golden = frame(0, header.as_bytes(), &compressed);
    let cmd = decode(&golden);
    let h: RegisterBrokerRequestHeader = cmd.read_header().unwrap();
    assert_eq!(h, expected_register_header(true, body_crc));
    let body = RegisterBrokerBody::decode_with(&cmd.body, h.compressed).unwrap();
    // The compressed form carries neither `order` nor `topicSysFlag`: defaults (false, 0),
    // which is what the JSON form above says too.
    assert_eq!(body, expected_register_body());
    assert_reencodes(&cmd, &golden, "REGISTER_BROKER compressed");
    // The codec's compressed encoder writes the same stream content (deflate bytes may
    // differ between zlib implementations, the inflated content may not).
    assert_eq!(inflate(&body.encode_compressed()), raw);
    assert_eq!(inflate(&body.encode_with(true)), raw);
    assert_eq!(body.encode_with(false), REGISTER_BODY.as_bytes());
}

// =========================================================================================
// GET_ROUTEINFO_BY_TOPIC (105) request and response (TopicRouteData body)
// =========================================================================================

/// remoting-protocol.md §4.1, "Example request (4.9.8 client, route lookup)", verbatim.
const ROUTE_REQUEST_JSON: &str = r#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":409}"#;

fn route_request_binary_header() -> Vec<u8> {
    cat(&[
        b"\x00\x69",         // code: 105 GET_ROUTEINFO_BY_TOPIC
        b"\x00",             // language: JAVA
        b"\x01\x99",         // version: 409
        b"\x00\x00\x00\x07", // opaque: 7
        b"\x00\x00\x00\x00", // flag: 0
        b"\x00\x00\x00\x00", // remark: null
        b"\x00\x00\x00\x14", // extFields: 20 bytes
        b"\x00\x05topic\x00\x00\x00\x09TopicTest",
    ])
}

fn check_route_request(cmd: &RemotingCommand, st: SerializeType) {
    assert_eq!(cmd.serialize_type, st);
    assert_eq!(
        (cmd.code, cmd.version, cmd.opaque, cmd.flag),
        (105, 409, 7, 0)
    );
    assert_eq!(cmd.remark, None);
    assert!(cmd.body.is_empty());
    let h: GetRouteInfoRequestHeader = cmd.read_header().unwrap();
    assert_eq!(
        h,
        GetRouteInfoRequestHeader {
            rpc: RpcRequestHeader::default(),
            topic: "TopicTest".into(),
            accept_standard_json_only: None,
            lo: None,
        }
    );
}

#[test]
fn route_request_json() {
    let golden = frame(0, ROUTE_REQUEST_JSON.as_bytes(), b"");
    // length = 4 + 131 = 135; JSON, header length 131.
    assert_eq!(&golden[..8], b"\x00\x00\x00\x87\x00\x00\x00\x83");
    let cmd = decode(&golden);
    check_route_request(&cmd, SerializeType::Json);
    assert_reencodes(&cmd, &golden, "route request JSON");
    let built = RemotingCommand::request(105, 7).with_header(&GetRouteInfoRequestHeader {
        topic: "TopicTest".into(),
        ..Default::default()
    });
    assert_reencodes(&built, &golden, "route request JSON built");
}

#[test]
fn route_request_binary() {
    let header = route_request_binary_header();
    assert_eq!(header.len(), 21 + 20);
    let golden = frame(1, &header, b"");
    let cmd = decode(&golden);
    check_route_request(&cmd, SerializeType::RocketMq);
    assert_reencodes(&cmd, &golden, "route request binary");
}

const ROUTE_RESPONSE_JSON: &str = r#"{"code":0,"flag":1,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":409}"#;

/// The 4.9.8 name server's standard-JSON route body (request version ≥ 401): sorted bean
/// properties, quoted map keys, no `enableActingMaster` (a 5.x property).
const ROUTE_BODY_4_9: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.5:10911","1":"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;

/// The same route as a 4.9.8 name server writes it for old clients (version < 401):
/// fastjson's unquoted Long keys.
const ROUTE_BODY_FASTJSON: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;

/// What the codec writes: the 5.x Java form, which adds `enableActingMaster` (documented in
/// `body/route.rs` as deliberate; 4.9 clients ignore unknown properties).
const ROUTE_BODY_CODEC: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.5:10911","1":"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;

fn expected_route() -> TopicRouteData {
    let mut b = BrokerData::new("DefaultCluster", "broker-a");
    b.broker_addrs.insert(0, "10.0.0.5:10911".into());
    b.broker_addrs.insert(1, "10.0.0.6:10911".into());
    TopicRouteData {
        broker_datas: vec![b],
        filter_server_table: Default::default(),
        order_topic_conf: None,
        queue_datas: vec![QueueData {
            broker_name: "broker-a".into(),
            perm: 6,
            read_queue_nums: 4,
            topic_sys_flag: 0,
            write_queue_nums: 4,
        }],
        topic_queue_mapping_by_broker: None,
    }
}

fn route_response_binary_header() -> Vec<u8> {
    cat(&[
        b"\x00\x00",         // code: 0
        b"\x00",             // JAVA
        b"\x01\x99",         // version 409
        b"\x00\x00\x00\x07", // opaque 7
        b"\x00\x00\x00\x01", // flag: response
        b"\x00\x00\x00\x00", // remark: null
        b"\x00\x00\x00\x00", // extFields: none (createResponseCommand(null))
    ])
}

fn check_route_response(cmd: &RemotingCommand, st: SerializeType) {
    assert_eq!(cmd.serialize_type, st);
    assert_eq!(
        (cmd.code, cmd.version, cmd.opaque, cmd.flag),
        (0, 409, 7, 1)
    );
    assert_eq!((cmd.remark.as_ref(), cmd.ext_fields.as_ref()), (None, None));
    let route = TopicRouteData::decode(&cmd.body).unwrap();
    assert_eq!(route, expected_route());
    assert_eq!(route.broker_datas[0].master_addr(), Some("10.0.0.5:10911"));
    assert_eq!(
        TopicRouteData::decode(ROUTE_BODY_FASTJSON.as_bytes()).unwrap(),
        route
    );
    assert_eq!(String::from_utf8(route.encode()).unwrap(), ROUTE_BODY_CODEC);
}

#[test]
fn route_response_json() {
    let golden = frame(0, ROUTE_RESPONSE_JSON.as_bytes(), ROUTE_BODY_4_9.as_bytes());
    let cmd = decode(&golden);
    check_route_response(&cmd, SerializeType::Json);
    assert_reencodes(&cmd, &golden, "route response JSON");
}

#[test]
fn route_response_binary() {
    let golden = frame(
        1,
        &route_response_binary_header(),
        ROUTE_BODY_4_9.as_bytes(),
    );
    let cmd = decode(&golden);
    check_route_response(&cmd, SerializeType::RocketMq);
    assert_reencodes(&cmd, &golden, "route response binary");
}

#[test]
fn route_response_topic_not_exist() {
    // TOPIC_NOT_EXIST with the name server's remark (a newline inside, escaped as \n).
    let json = r#"{"code":17,"flag":1,"language":"JAVA","opaque":8,"remark":"No topic route info in name server for the topic: NoSuchTopic\nSee http://rocketmq.apache.org/docs/faq/ for further details.","serializeTypeCurrentRPC":"JSON","version":409}"#;
    let remark = "No topic route info in name server for the topic: NoSuchTopic\nSee http://rocketmq.apache.org/docs/faq/ for further details.";
    assert_eq!(remark.len(), 123);
    let bin = cat(&[
        b"\x00\x11",         // code: 17 TOPIC_NOT_EXIST
        b"\x00",             // JAVA
        b"\x01\x99",         // version 409
        b"\x00\x00\x00\x08", // opaque 8
        b"\x00\x00\x00\x01", // flag: response
        b"\x00\x00\x00\x7b", // remark: 123 bytes
        remark.as_bytes(),
        b"\x00\x00\x00\x00", // extFields: none
    ]);
    for (ty, header) in [(0u8, json.as_bytes()), (1, &bin[..])] {
        let golden = frame(ty, header, b"");
        let cmd = decode(&golden);
        assert_eq!(
            (cmd.code, cmd.version, cmd.opaque, cmd.flag),
            (17, 409, 8, 1)
        );
        assert_eq!(cmd.remark.as_deref(), Some(remark));
        assert_reencodes(&cmd, &golden, "TOPIC_NOT_EXIST");
        let mut req = RemotingCommand::request(105, 8);
        req.serialize_type = cmd.serialize_type;
        assert_reencodes(
            &RemotingCommand::error_to(&req, 17, remark),
            &golden,
            "TOPIC_NOT_EXIST built",
        );
    }
}

// =========================================================================================
// Other clients' JSON headers (decode only)
// =========================================================================================

/// rocketmq-client-cpp: jsoncpp output (keys sorted byte-wise, so the ACL keys come first),
/// `language:"CPP"`, `version:333`, `remark:""`, empty Signature/AccessKey/OnsChannel, and
/// SEND_MESSAGE_V2 `d e f h l` as JSON numbers.
const CPP_SEND_JSON: &str = r#"{"code":310,"extFields":{"AccessKey":"","OnsChannel":"","Signature":"","a":"ProducerGroupA","b":"TopicTest","c":"TBW102","d":4,"e":2,"f":0,"g":"1700000000000","h":0,"i":"KEYS\u0001k1\u0002UNIQ_KEY\u00017F0000010C8F18B4AAC2163F0E400000\u0002WAIT\u0001true\u0002TAGS\u0001TagA","j":"0","k":"false","l":16,"m":"false"},"flag":0,"language":"CPP","opaque":3,"remark":"","version":333}"#;

#[test]
fn cpp_client_send_header() {
    let cmd = decode(&frame(0, CPP_SEND_JSON.as_bytes(), SEND_BODY));
    assert_eq!(cmd.code, 310);
    assert_eq!(cmd.language, LanguageCode::Cpp);
    assert_eq!((cmd.version, cmd.opaque, cmd.flag), (333, 3, 0));
    assert_eq!(cmd.remark.as_deref(), Some(""));
    // Numbers became their decimal text; the empty ACL strings are kept as sent.
    for (k, v) in [
        ("d", "4"),
        ("e", "2"),
        ("f", "0"),
        ("h", "0"),
        ("l", "16"),
        ("g", "1700000000000"),
        ("AccessKey", ""),
        ("Signature", ""),
        ("OnsChannel", ""),
    ] {
        assert_eq!(cmd.ext(k), Some(v), "{k}");
    }
    let v1 = decode_send_request(cmd.code, cmd.ext_fields.as_ref().unwrap()).unwrap();
    let mut want = SendMessageRequestHeader::from(expected_send_v2());
    want.rpc.bname = None; // no `n` from C++
    want.max_reconsume_times = Some(16);
    assert_eq!(v1, want);
    // A reply to it must be JSON (the C++ client cannot read anything else).
    let resp = RemotingCommand::success_to(&cmd);
    assert_eq!(resp.serialize_type, SerializeType::Json);
    assert_eq!(resp.opaque, 3);
}

#[test]
fn cpp_client_pull_and_heartbeat() {
    // PULL: queueId, maxMsgNums, sysFlag as numbers; offsets and versions as strings; no
    // expressionType.
    let pull = r#"{"code":11,"extFields":{"AccessKey":"","OnsChannel":"","Signature":"","commitOffset":"0","consumerGroup":"cg","maxMsgNums":32,"queueId":1,"queueOffset":"5","subVersion":"1700000000000","suspendTimeoutMillis":"15000","sysFlag":3,"topic":"TopicTest"},"flag":0,"language":"CPP","opaque":4,"remark":"","version":333}"#;
    let cmd = decode(&frame(0, pull.as_bytes(), b""));
    let h: PullMessageRequestHeader = cmd.read_header().unwrap();
    assert_eq!(
        (h.queue_id, h.max_msg_nums, h.sys_flag, h.queue_offset),
        (1, 32, 3, 5)
    );
    assert_eq!(h.sub_version, 1_700_000_000_000);
    assert_eq!(h.expression_type, None);
    assert_eq!(h.expression_type_or_tag(), "TAG");
    assert!(h.has_commit_offset_flag() && h.has_suspend_flag());

    // HEART_BEAT: extFields with the ACL keys only; body with enum ordinals, subVersion as a
    // string, no expressionType/classFilterMode/unitMode.
    let hb_header = r#"{"code":34,"extFields":{"AccessKey":"","OnsChannel":"","Signature":""},"flag":0,"language":"CPP","opaque":5,"remark":"","version":333}"#;
    let hb_body = r#"{"clientID":"10.0.0.9@12346","consumerDataSet":[{"consumeFromWhere":4,"consumeType":1,"groupName":"cg","messageModel":1,"subscriptionDataSet":[{"codeSet":[],"subString":"*","subVersion":"1700000000000","tagsSet":[],"topic":"TopicTest"}]}],"producerDataSet":[]}"#;
    let cmd = decode(&frame(0, hb_header.as_bytes(), hb_body.as_bytes()));
    assert_eq!(cmd.ext_fields.as_ref().map(|f| f.len()), Some(3));
    let hb = HeartbeatData::decode(&cmd.body).unwrap();
    assert_eq!(hb.client_id, "10.0.0.9@12346");
    let c = &hb.consumer_data_set[0];
    assert_eq!(
        c.consume_from_where,
        ConsumeFromWhere::ConsumeFromFirstOffset
    );
    assert_eq!(c.consume_type, ConsumeType::ConsumePassively);
    assert_eq!(c.message_model, MessageModel::Clustering);
    assert!(!c.unit_mode);
    let s = &c.subscription_data_set[0];
    assert_eq!(s.sub_version, 1_700_000_000_000);
    assert_eq!(s.expression_type, "TAG");
    assert!(s.is_tag_type() && !s.class_filter_mode);
    assert!(hb.producer_data_set.is_empty());
}

/// ali-ons: `language:"JAVA"`, `version:121`, no remark, header values as native JSON types
/// (numbers, booleans), keys a..l only, object key order as the JS code builds it.
const ALI_ONS_SEND_JSON: &str = r#"{"code":310,"language":"JAVA","opaque":4,"flag":0,"version":121,"extFields":{"a":"ProducerGroupA","b":"TopicTest","c":"TBW102","d":4,"e":-1,"f":0,"g":1700000000000,"h":0,"i":"UNIQ_KEY\u00017F0000010C8F18B4AAC2163F0E400000\u0002WAIT\u0001true","j":0,"k":false}}"#;

#[test]
fn ali_ons_headers() {
    let cmd = decode(&frame(0, ALI_ONS_SEND_JSON.as_bytes(), SEND_BODY));
    assert_eq!(cmd.language, LanguageCode::Java);
    assert_eq!(
        (cmd.code, cmd.version, cmd.opaque, cmd.flag),
        (310, 121, 4, 0)
    );
    assert_eq!(cmd.remark, None);
    assert_eq!(cmd.ext("g"), Some("1700000000000"));
    assert_eq!(cmd.ext("k"), Some("false"));
    assert_eq!(cmd.ext("e"), Some("-1"));
    let v2: SendMessageRequestHeaderV2 = cmd.read_header().unwrap();
    assert_eq!(v2.e, -1, "broker picks the queue");
    assert_eq!(
        (v2.d, v2.g, v2.j, v2.k),
        (4, 1_700_000_000_000, Some(0), false)
    );
    assert_eq!((v2.l, v2.m, v2.n.as_deref()), (None, false, None));
    let props = MessageProperties::parse_str(v2.i.as_deref().unwrap());
    assert_eq!(props.get("WAIT"), Some("true"));

    // With credentials: AccessKey, Signature, OnsChannel=ALIYUN next to the header fields,
    // and a boolean header value.
    let route = r#"{"code":105,"language":"JAVA","opaque":1,"flag":0,"version":121,"extFields":{"topic":"TopicTest","acceptStandardJsonOnly":true,"AccessKey":"ak","OnsChannel":"ALIYUN","Signature":"c2lnbmF0dXJl"}}"#;
    let cmd = decode(&frame(0, route.as_bytes(), b""));
    let h: GetRouteInfoRequestHeader = cmd.read_header().unwrap();
    assert_eq!(h.topic, "TopicTest");
    assert_eq!(h.accept_standard_json_only, Some(true));
    assert_eq!(cmd.ext("OnsChannel"), Some("ALIYUN"));
    assert_eq!(cmd.ext("Signature"), Some("c2lnbmF0dXJl"));
}

#[test]
fn magic_constant_matches_fact_sheet() {
    assert_eq!(MAGIC_V1, -626_843_481);
    assert_eq!(0xDAA3_20A7_u32 as i32, MAGIC_V1);
}

// =========================================================================================
// String escaping in the JSON header
// =========================================================================================

/// A remark as fastjson 1.2.69 (RocketMQ 4.9.8) writes it: `\b \t \n \f \r \" \\` in short
/// form; every other char below 0x20, 0x7F..=0x9F and U+2028/U+2029 as `\uXXXX` with
/// **upper-case** hex (`SerializeWriter.writeStringWithDoubleQuote`,
/// `IOUtils.specicalFlags_doubleQuotes`, `IOUtils.DIGITS`); non-ASCII otherwise raw UTF-8.
const ESCAPE_REMARK: &str = "a\u{1}\u{2}\t\n\"\\/\u{b}\u{1b}\u{7f}\u{85}\u{2028}é";
const ESCAPE_JSON: &str = r#"{"code":1,"flag":1,"language":"JAVA","opaque":3,"remark":"a\u0001\u0002\t\n\"\\/\u000B\u001B\u007F\u0085\u2028é","serializeTypeCurrentRPC":"JSON","version":409}"#;

#[test]
fn json_string_escapes_decode() {
    let cmd = decode(&frame(0, ESCAPE_JSON.as_bytes(), b""));
    assert_eq!(cmd.remark.as_deref(), Some(ESCAPE_REMARK));
    // The codec's own escaping reads back to the same text.
    let again = decode(&cmd.to_bytes().unwrap());
    assert_eq!(again.remark.as_deref(), Some(ESCAPE_REMARK));
}

#[test]
fn json_string_escapes_match_fastjson() {
    let golden = frame(0, ESCAPE_JSON.as_bytes(), b"");
    let cmd = decode(&golden);
    assert_reencodes(&cmd, &golden, "fastjson string escapes");
}
