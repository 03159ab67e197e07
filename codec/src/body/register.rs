//! Broker registration and topic configuration.
//!
//! * `RegisterBrokerBody`: body of REGISTER_BROKER (103), broker → name server, every 30 s.
//!   Plain JSON, or — when the request header says `compressed=true` (broker option
//!   `compressedRegister`) — a zlib stream, see [`RegisterBrokerBody::decode_compressed`].
//! * `TopicConfigSerializeWrapper`: inside the above, the body of GET_ALL_TOPIC_CONFIG, and the
//!   content of the broker's `config/topics.json`. 5.x's `TopicConfigAndMappingSerializeWrapper`
//!   adds the static-topic mapping properties, kept here as optional pass-through values.
//! * `TopicConfig`, `DataVersion` (also in `subscriptionGroup.json`, 5.x `consumerOffset.json`).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};

use super::enums::TopicFilterType;
use super::{json_body, lenient};
use crate::error::{CodecError, ErrorKind, Result};
use crate::fastjson;

/// Most bytes a compressed `RegisterBrokerBody` may inflate to (guards against zip bombs).
pub const MAX_INFLATED_REGISTER_BODY: usize = 64 << 20;

const COMPRESSED_CTX: &str = "compressed RegisterBrokerBody";

/// `DataVersion`: a change counter plus the time of the last change.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    #[serde(deserialize_with = "lenient::scalar")]
    pub counter: i64,
    /// 5.x property.
    #[serde(
        deserialize_with = "lenient::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub state_version: Option<i64>,
    /// Milliseconds since the epoch.
    #[serde(deserialize_with = "lenient::scalar")]
    pub timestamp: i64,
}

impl DataVersion {
    pub fn new(counter: i64, timestamp: i64) -> Self {
        DataVersion {
            counter,
            state_version: None,
            timestamp,
        }
    }

    /// Java's `nextVersion()`: bump the counter, set the timestamp.
    pub fn next_version(&mut self, now_ms: i64) {
        self.counter = self.counter.wrapping_add(1);
        self.timestamp = now_ms;
    }
}

/// `TopicConfig`: one topic on one broker. Missing properties take Java's defaults
/// (16 read / 16 write queues, perm 6 = read|write, `SINGLE_TAG`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    /// 5.x property (topic attributes such as `+message.type`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "lenient::scalar")]
    pub order: bool,
    #[serde(deserialize_with = "lenient::scalar")]
    pub perm: i32,
    #[serde(deserialize_with = "lenient::scalar")]
    pub read_queue_nums: i32,
    #[serde(deserialize_with = "lenient::or_default")]
    pub topic_filter_type: TopicFilterType,
    #[serde(deserialize_with = "lenient::scalar")]
    pub topic_name: String,
    #[serde(deserialize_with = "lenient::scalar")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "lenient::scalar")]
    pub write_queue_nums: i32,
}

impl TopicConfig {
    /// Java `TopicConfig.defaultReadQueueNums` / `defaultWriteQueueNums`.
    pub const DEFAULT_QUEUE_NUMS: i32 = 16;
    /// Java default perm: `PERM_READ | PERM_WRITE`.
    pub const DEFAULT_PERM: i32 = 6;

    pub fn new(topic_name: impl Into<String>) -> Self {
        TopicConfig {
            topic_name: topic_name.into(),
            ..Default::default()
        }
    }

    /// The space-separated line of the compressed registration form:
    /// `name read write perm filterType`, plus ` <attributes JSON>` when attributes are set
    /// (what 5.x writes; a 4.9.8 name server only accepts the five-part form).
    pub fn encode_line(&self) -> String {
        let mut s = format!(
            "{} {} {} {} {}",
            self.topic_name,
            self.read_queue_nums,
            self.write_queue_nums,
            self.perm,
            self.topic_filter_type.name()
        );
        if let Some(attrs) = &self.attributes {
            s.push(' ');
            s.push_str(&serde_json::to_string(attrs).unwrap_or_else(|_| "{}".into()));
        }
        s
    }

    /// Parse a line written by [`encode_line`](Self::encode_line) (Java `TopicConfig.decode`).
    /// Properties the line does not carry (`order`, `topicSysFlag`) keep their defaults; an
    /// attributes part that does not parse is ignored, as in Java.
    pub fn decode_line(line: &str) -> Result<Self> {
        const CTX: &str = "TopicConfig line";
        // Java's String.split(" "): empty parts in between count, trailing ones are dropped.
        let mut parts: Vec<&str> = line.split(' ').collect();
        while parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        }
        if parts.len() < 5 {
            return Err(CodecError::invalid(
                CTX,
                0,
                format!(
                    "expected at least 5 space-separated parts, got {}",
                    parts.len()
                ),
            ));
        }
        let int = |i: usize, field: &'static str| -> Result<i32> {
            parts[i]
                .parse::<i32>()
                .map_err(|_| CodecError::invalid_field(CTX, field, parts[i], "int"))
        };
        let topic_filter_type = TopicFilterType::from_name(parts[4])
            .filter(|t| t.name() == parts[4])
            .ok_or_else(|| {
                CodecError::invalid_field(CTX, "topicFilterType", parts[4], "TopicFilterType")
            })?;
        let attributes = if parts.len() > 5 {
            fastjson::from_str::<BTreeMap<String, String>>(CTX, &parts[5..].join(" ")).ok()
        } else {
            None
        };
        Ok(TopicConfig {
            attributes,
            order: false,
            perm: int(3, "perm")?,
            read_queue_nums: int(1, "readQueueNums")?,
            topic_filter_type,
            topic_name: parts[0].to_owned(),
            topic_sys_flag: 0,
            write_queue_nums: int(2, "writeQueueNums")?,
        })
    }
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            attributes: None,
            order: false,
            perm: Self::DEFAULT_PERM,
            read_queue_nums: Self::DEFAULT_QUEUE_NUMS,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_name: String::new(),
            topic_sys_flag: 0,
            write_queue_nums: Self::DEFAULT_QUEUE_NUMS,
        }
    }
}

/// `TopicConfigSerializeWrapper` (5.x: `TopicConfigAndMappingSerializeWrapper`).
///
/// Also the whole content of `config/topics.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    #[serde(deserialize_with = "lenient::or_default")]
    pub data_version: DataVersion,
    /// 5.x property.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping_data_version: Option<DataVersion>,
    /// topic name → config.
    #[serde(deserialize_with = "lenient::or_default")]
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    /// 5.x property (topic → `TopicQueueMappingDetail`), passed through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_detail_map: Option<BTreeMap<String, serde_json::Value>>,
    /// 5.x property (topic → `TopicQueueMappingInfo`), passed through. Also carried by the
    /// compressed registration form of 5.x brokers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_info_map: Option<BTreeMap<String, serde_json::Value>>,
}

/// `RegisterBrokerBody`: the broker's topics and filter servers, sent to the name server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    #[serde(deserialize_with = "lenient::vec")]
    pub filter_server_list: Vec<String>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

json_body!(
    DataVersion => "DataVersion",
    TopicConfig => "TopicConfig",
    TopicConfigSerializeWrapper => "TopicConfigSerializeWrapper",
    RegisterBrokerBody => "RegisterBrokerBody",
);

impl RegisterBrokerBody {
    /// Decode in the form announced by the request header's `compressed` field.
    pub fn decode_with(bytes: &[u8], compressed: bool) -> Result<Self> {
        if compressed {
            Self::decode_compressed(bytes)
        } else {
            Self::decode(bytes)
        }
    }

    /// Encode in the JSON or the compressed form.
    pub fn encode_with(&self, compressed: bool) -> Vec<u8> {
        if compressed {
            self.encode_compressed()
        } else {
            self.encode()
        }
    }

    /// Decode the compressed form: a zlib stream holding, each part prefixed by a big-endian
    /// int32 byte length (except the counts, which are bare int32s):
    ///
    /// 1. the `DataVersion` JSON;
    /// 2. the topic count, then per topic a [`TopicConfig::encode_line`] text;
    /// 3. the `filterServerList` JSON array (Java ignores it if it does not parse);
    /// 4. 5.x only, optional: a count, then per entry a `TopicQueueMappingInfo` JSON (keyed by
    ///    its `topic` property).
    ///
    /// The stream may inflate to at most [`MAX_INFLATED_REGISTER_BODY`] bytes.
    pub fn decode_compressed(bytes: &[u8]) -> Result<Self> {
        let mut r = Inflated::new(bytes)?;
        let data_version: DataVersion =
            fastjson::from_slice("DataVersion", r.part("dataVersion")?)?;
        let topics = r.count("topic count")?;
        let mut table = BTreeMap::new();
        for _ in 0..topics {
            let at = r.pos;
            let line = String::from_utf8_lossy(r.part("topic config")?);
            let tc = TopicConfig::decode_line(&line).map_err(|e| e.at(at))?;
            table.insert(tc.topic_name.clone(), tc);
        }
        let filter_server_list = fastjson::from_slice::<Option<Vec<String>>>(
            COMPRESSED_CTX,
            r.part("filterServerList")?,
        )
        .ok()
        .flatten()
        .unwrap_or_default();
        let mut mapping = None;
        if r.has_more() {
            let n = r.count("topic queue mapping count")?;
            let mut map = BTreeMap::new();
            for _ in 0..n {
                let v: serde_json::Value =
                    fastjson::from_slice("TopicQueueMappingInfo", r.part("topic queue mapping")?)?;
                let topic = match v.get("topic") {
                    Some(serde_json::Value::String(t)) => t.clone(),
                    _ => String::new(),
                };
                map.insert(topic, v);
            }
            mapping = Some(map);
        }
        Ok(RegisterBrokerBody {
            filter_server_list,
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                data_version,
                topic_config_table: table,
                topic_queue_mapping_info_map: mapping,
                ..Default::default()
            },
        })
    }

    /// Encode the compressed form (see [`decode_compressed`](Self::decode_compressed)) with
    /// the best compression, like Java. The 5.x mapping section is written only when
    /// `topic_queue_mapping_info_map` is set; topic lines carry attributes only when set.
    pub fn encode_compressed(&self) -> Vec<u8> {
        let w = &self.topic_config_serialize_wrapper;
        let mut raw = Vec::with_capacity(64 + w.topic_config_table.len() * 48);
        put_part(&mut raw, &w.data_version.encode());
        put_count(&mut raw, w.topic_config_table.len());
        for tc in w.topic_config_table.values() {
            put_part(&mut raw, tc.encode_line().as_bytes());
        }
        put_part(
            &mut raw,
            &serde_json::to_vec(&self.filter_server_list).unwrap_or_else(|_| b"[]".to_vec()),
        );
        if let Some(map) = &w.topic_queue_mapping_info_map {
            put_count(&mut raw, map.len());
            for info in map.values() {
                put_part(&mut raw, &serde_json::to_vec(info).unwrap_or_default());
            }
        }
        let mut enc = ZlibEncoder::new(Vec::with_capacity(raw.len() / 4 + 16), Compression::best());
        // Writing into a Vec cannot fail.
        if enc.write_all(&raw).is_err() {
            return Vec::new();
        }
        enc.finish().unwrap_or_default()
    }
}

fn put_count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&i32::try_from(n).unwrap_or(i32::MAX).to_be_bytes());
}

fn put_part(out: &mut Vec<u8>, part: &[u8]) {
    put_count(out, part.len());
    out.extend_from_slice(part);
}

/// Cursor over the inflated stream, with offsets (in inflated bytes) for errors.
struct Inflated {
    data: Vec<u8>,
    pos: usize,
}

impl Inflated {
    fn new(bytes: &[u8]) -> Result<Self> {
        let mut data = Vec::with_capacity(bytes.len().saturating_mul(4).min(1 << 20));
        ZlibDecoder::new(bytes)
            .take(MAX_INFLATED_REGISTER_BODY as u64 + 1)
            .read_to_end(&mut data)
            .map_err(|e| CodecError::invalid(COMPRESSED_CTX, 0, format!("bad zlib stream: {e}")))?;
        if data.len() > MAX_INFLATED_REGISTER_BODY {
            return Err(CodecError::invalid(
                COMPRESSED_CTX,
                0,
                format!("inflates to more than {MAX_INFLATED_REGISTER_BODY} bytes"),
            ));
        }
        Ok(Inflated { data, pos: 0 })
    }

    fn exact(&mut self, n: usize) -> Result<&[u8]> {
        let have = self.data.len() - self.pos;
        if n > have {
            return Err(CodecError::incomplete(COMPRESSED_CTX, self.pos, n, have));
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.data[start..start + n])
    }

    fn count(&mut self, what: &'static str) -> Result<usize> {
        let at = self.pos;
        let b = self.exact(4)?;
        let v = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        usize::try_from(v).map_err(|_| {
            CodecError::new(
                COMPRESSED_CTX,
                at,
                ErrorKind::BadLength {
                    field: what,
                    value: i64::from(v),
                    limit: i64::from(i32::MAX),
                },
            )
        })
    }

    fn part(&mut self, what: &'static str) -> Result<&[u8]> {
        let n = self.count(what)?;
        self.exact(n)
    }

    fn has_more(&self) -> bool {
        self.pos < self.data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::testutil::*;
    use proptest::prelude::*;

    const TOPICS_JSON: &str = "{\n\t\"dataVersion\":{\n\t\t\"counter\":3,\n\t\t\"timestamp\":1700000000000\n\t},\n\t\"topicConfigTable\":{\n\t\t\"TopicTest\":{\n\t\t\t\"order\":false,\n\t\t\t\"perm\":6,\n\t\t\t\"readQueueNums\":8,\n\t\t\t\"topicFilterType\":\"SINGLE_TAG\",\n\t\t\t\"topicName\":\"TopicTest\",\n\t\t\t\"topicSysFlag\":0,\n\t\t\t\"writeQueueNums\":8\n\t\t},\n\t\t\"%RETRY%G\":{\"topicName\":\"%RETRY%G\",\"readQueueNums\":1,\"writeQueueNums\":1}\n\t}\n}";

    #[test]
    fn topics_json_file() {
        let w = TopicConfigSerializeWrapper::decode(TOPICS_JSON.as_bytes()).unwrap();
        assert_eq!(w.data_version, DataVersion::new(3, 1_700_000_000_000));
        let t = &w.topic_config_table["TopicTest"];
        assert_eq!((t.read_queue_nums, t.write_queue_nums, t.perm), (8, 8, 6));
        // missing properties take Java's defaults
        let r = &w.topic_config_table["%RETRY%G"];
        assert_eq!(r.perm, 6);
        assert_eq!(r.topic_filter_type, TopicFilterType::SingleTag);
        assert_eq!(TopicConfig::decode(b"{}").unwrap().read_queue_nums, 16);
        assert_eq!(
            String::from_utf8(t.encode()).unwrap(),
            r#"{"order":false,"perm":6,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":8}"#
        );
        assert_round_trip(&w);
    }

    #[test]
    fn json_register_body_and_5x_wrapper() {
        let s = r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":1,"stateVersion":2,"timestamp":5},"mappingDataVersion":{"counter":0,"stateVersion":0,"timestamp":6},"topicConfigTable":{"T":{"attributes":{"+message.type":"NORMAL"},"order":false,"perm":7,"readQueueNums":4,"topicFilterType":"MULTI_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":4}},"topicQueueMappingDetailMap":{},"topicQueueMappingInfoMap":{}}}"#;
        let b = RegisterBrokerBody::decode(s.as_bytes()).unwrap();
        let w = &b.topic_config_serialize_wrapper;
        assert_eq!(w.data_version.state_version, Some(2));
        let t = &w.topic_config_table["T"];
        assert_eq!(t.topic_filter_type, TopicFilterType::MultiTag);
        assert_eq!(t.attributes.as_ref().unwrap()["+message.type"], "NORMAL");
        assert_eq!(String::from_utf8(b.encode()).unwrap(), s);
    }

    fn zlib(raw: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(raw).unwrap();
        e.finish().unwrap()
    }

    /// The stream a 4.9.8 broker writes, assembled by hand.
    fn java_4x_stream(with_mapping: bool) -> Vec<u8> {
        let mut raw = Vec::new();
        let dv = br#"{"counter":7,"timestamp":1700000000000}"#;
        raw.extend_from_slice(&(dv.len() as i32).to_be_bytes());
        raw.extend_from_slice(dv);
        raw.extend_from_slice(&2i32.to_be_bytes());
        for line in [
            "TopicTest 8 8 6 SINGLE_TAG",
            "TBW102 8 8 7 MULTI_TAG {\"a\":\"b\"}",
        ] {
            raw.extend_from_slice(&(line.len() as i32).to_be_bytes());
            raw.extend_from_slice(line.as_bytes());
        }
        raw.extend_from_slice(&2i32.to_be_bytes());
        raw.extend_from_slice(b"[]");
        if with_mapping {
            let m =
                br#"{"bname":"b","currIdMap":{0:0},"epoch":1,"topic":"TopicTest","totalQueues":8}"#;
            raw.extend_from_slice(&1i32.to_be_bytes());
            raw.extend_from_slice(&(m.len() as i32).to_be_bytes());
            raw.extend_from_slice(m);
        }
        zlib(&raw)
    }

    #[test]
    fn compressed_golden() {
        let b = RegisterBrokerBody::decode_with(&java_4x_stream(false), true).unwrap();
        let w = &b.topic_config_serialize_wrapper;
        assert_eq!(w.data_version, DataVersion::new(7, 1_700_000_000_000));
        assert_eq!(w.topic_config_table.len(), 2);
        let t = &w.topic_config_table["TopicTest"];
        assert_eq!((t.read_queue_nums, t.write_queue_nums, t.perm), (8, 8, 6));
        assert_eq!(t.attributes, None);
        let t = &w.topic_config_table["TBW102"];
        assert_eq!(t.topic_filter_type, TopicFilterType::MultiTag);
        assert_eq!(t.attributes.as_ref().unwrap()["a"], "b");
        assert!(b.filter_server_list.is_empty());
        assert!(w.topic_queue_mapping_info_map.is_none());

        let b = RegisterBrokerBody::decode_compressed(&java_4x_stream(true)).unwrap();
        let m = b
            .topic_config_serialize_wrapper
            .topic_queue_mapping_info_map
            .as_ref()
            .unwrap();
        assert_eq!(m["TopicTest"]["currIdMap"]["0"], 0);
        let again = RegisterBrokerBody::decode_compressed(&b.encode_compressed()).unwrap();
        assert_eq!(again, b);
    }

    #[test]
    fn compressed_errors() {
        assert!(RegisterBrokerBody::decode_compressed(b"").is_err());
        assert!(RegisterBrokerBody::decode_compressed(b"not zlib at all").is_err());
        let mut raw = Vec::new();
        raw.extend_from_slice(&(-1i32).to_be_bytes());
        assert!(RegisterBrokerBody::decode_compressed(&zlib(&raw)).is_err());
        let mut raw = Vec::new();
        raw.extend_from_slice(&i32::MAX.to_be_bytes());
        let e = RegisterBrokerBody::decode_compressed(&zlib(&raw)).unwrap_err();
        assert!(e.is_incomplete());
        // a bad topic line
        let mut raw = Vec::new();
        raw.extend_from_slice(&2i32.to_be_bytes());
        raw.extend_from_slice(b"{}");
        raw.extend_from_slice(&1i32.to_be_bytes());
        raw.extend_from_slice(&5i32.to_be_bytes());
        raw.extend_from_slice(b"A 1 1");
        assert!(RegisterBrokerBody::decode_compressed(&zlib(&raw)).is_err());
        // a zip bomb is refused
        let bomb = zlib(&vec![0u8; MAX_INFLATED_REGISTER_BODY + 10]);
        assert!(RegisterBrokerBody::decode_compressed(&bomb).is_err());
    }

    #[test]
    fn topic_lines() {
        let t = TopicConfig::decode_line("T 1 2 6 SINGLE_TAG ").unwrap();
        assert_eq!((t.read_queue_nums, t.write_queue_nums), (1, 2));
        assert!(TopicConfig::decode_line("T 1 2 6 single_tag").is_err());
        assert!(TopicConfig::decode_line("T x 2 6 SINGLE_TAG").is_err());
        // unparsable attributes are ignored, like Java
        let t = TopicConfig::decode_line("T 1 2 6 SINGLE_TAG {oops").unwrap();
        assert_eq!(t.attributes, None);
        let mut t = TopicConfig::new("T");
        assert_eq!(t.encode_line(), "T 16 16 6 SINGLE_TAG");
        t.attributes = Some(BTreeMap::new());
        assert_eq!(t.encode_line(), "T 16 16 6 SINGLE_TAG {}");
    }

    fn topic_config(name: String) -> impl Strategy<Value = TopicConfig> {
        (
            proptest::option::of(prop::collection::btree_map(
                "[a-z+.]{1,6}",
                "[A-Za-z0-9]{0,6}",
                0..3,
            )),
            any::<i32>(),
            any::<i32>(),
            prop::sample::select(TopicFilterType::ALL),
            any::<i32>(),
        )
            .prop_map(move |(attributes, perm, r, ftype, w)| TopicConfig {
                attributes,
                order: false,
                perm,
                read_queue_nums: r,
                topic_filter_type: ftype,
                topic_name: name.clone(),
                topic_sys_flag: 0,
                write_queue_nums: w,
            })
    }

    fn register_body() -> impl Strategy<Value = RegisterBrokerBody> {
        (
            prop::collection::vec(text(), 0..3),
            data_version(),
            prop::collection::btree_set("[a-zA-Z0-9_%-]{1,10}", 0..5),
            proptest::option::of(prop::collection::btree_map(
                "[a-zA-Z]{1,5}",
                any::<i32>(),
                0..3,
            )),
        )
            .prop_flat_map(|(fs, dv, names, mapping)| {
                let configs: Vec<_> = names.into_iter().map(topic_config).collect();
                (Just(fs), Just(dv), configs, Just(mapping))
            })
            .prop_map(|(fs, dv, configs, mapping)| RegisterBrokerBody {
                filter_server_list: fs,
                topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                    data_version: dv,
                    topic_config_table: configs
                        .into_iter()
                        .map(|c| (c.topic_name.clone(), c))
                        .collect(),
                    topic_queue_mapping_info_map: mapping.map(|m| {
                        m.into_iter()
                            .map(|(t, e)| (t.clone(), serde_json::json!({"epoch": e, "topic": t})))
                            .collect()
                    }),
                    ..Default::default()
                },
            })
    }

    proptest! {
        #[test]
        fn round_trip_json(b in register_body()) {
            assert_round_trip(&b);
        }

        #[test]
        fn round_trip_compressed(b in register_body()) {
            let back = RegisterBrokerBody::decode_with(&b.encode_with(true), true).unwrap();
            prop_assert_eq!(back, b);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = RegisterBrokerBody::decode_compressed(&bytes);
            let _ = RegisterBrokerBody::decode_compressed(&zlib(&bytes));
            let _ = RegisterBrokerBody::decode(&bytes);
        }
    }
}
