//! `RemotingCommand`: one request or response, with its header in either serialization.
//!
//! * JSON (type 0): fastjson output as Java writes it — keys sorted, nulls omitted,
//!   `serializeTypeCurrentRPC` present, `extFields` values always strings. On input we accept
//!   what every client sends: extFields values as numbers/booleans (ali-ons, C++), enum
//!   ordinals for `language`, unknown keys, numbers given as strings.
//! * ROCKETMQ binary (type 1): `code i16, language u8, version i16, opaque i32, flag i32,
//!   remark (i32 len + UTF-8), extFields (i32 total len + entries of i16 key len, key,
//!   i32 value len, value)`. A zero length means null.
//!
//! A response is written in the serialization of its request ([`RemotingCommand::response_to`]).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::codes::{response, CURRENT_VERSION};
use crate::error::{CodecError, ErrorKind, Result};
use crate::ext_fields::{CommandHeader, ExtFields};
use crate::frame::{header_word, RawFrame};
use crate::language::LanguageCode;

#[path = "json_header_fast.rs"]
mod json_header_fast;

/// Flag bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 0x1;
/// Flag bit 1: one-way request, never answered.
pub const FLAG_ONEWAY: i32 = 0x2;

/// How the command header is serialized (top byte of the header-length word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    /// Type 0: JSON text (the default of every client).
    #[default]
    Json,
    /// Type 1: the ROCKETMQ binary header.
    RocketMq,
}

impl SerializeType {
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }
}

/// One remoting command.
///
/// Invariant: `body` empty means "no body" (Java's `null`); the wire cannot tell them apart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RemotingCommand {
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: Option<ExtFields>,
    pub serialize_type: SerializeType,
    pub body: Bytes,
}

impl RemotingCommand {
    // ---- construction -------------------------------------------------------------------

    /// A new request with Apogee's language (JAVA, what servers declare) and version.
    pub fn request(code: i32, opaque: i32) -> Self {
        RemotingCommand {
            code,
            language: LanguageCode::Java,
            version: CURRENT_VERSION,
            opaque,
            ..Default::default()
        }
    }

    /// A response to `req`: same opaque, same serialization, response flag set.
    pub fn response_to(req: &RemotingCommand, code: i32) -> Self {
        RemotingCommand {
            code,
            language: LanguageCode::Java,
            version: CURRENT_VERSION,
            opaque: req.opaque,
            flag: FLAG_RESPONSE,
            serialize_type: req.serialize_type,
            ..Default::default()
        }
    }

    /// A SUCCESS response to `req`.
    pub fn success_to(req: &RemotingCommand) -> Self {
        Self::response_to(req, response::SUCCESS)
    }

    /// An error response to `req` with a remark.
    pub fn error_to(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> Self {
        Self::response_to(req, code).with_remark(remark)
    }

    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Write a typed header into `extFields` (creating the map, as Java does, even if empty).
    pub fn with_header<H: CommandHeader>(mut self, header: &H) -> Self {
        let fields = self.ext_fields.get_or_insert_with(ExtFields::new);
        header.write_fields(fields);
        self
    }

    pub fn set_oneway(&mut self, oneway: bool) {
        if oneway {
            self.flag |= FLAG_ONEWAY;
        } else {
            self.flag &= !FLAG_ONEWAY;
        }
    }

    // ---- inspection ---------------------------------------------------------------------

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    pub fn body(&self) -> Option<&Bytes> {
        (!self.body.is_empty()).then_some(&self.body)
    }

    /// Read a typed header from `extFields`; a command without `extFields` reads as an empty map.
    pub fn read_header<H: CommandHeader>(&self) -> Result<H> {
        match &self.ext_fields {
            Some(f) => H::read_fields(f),
            None => H::read_fields(&ExtFields::new()),
        }
    }

    pub fn ext(&self, key: &str) -> Option<&str> {
        self.ext_fields.as_ref().and_then(|f| f.get(key))
    }

    pub fn ext_mut(&mut self) -> &mut ExtFields {
        self.ext_fields.get_or_insert_with(ExtFields::new)
    }

    // ---- decoding -----------------------------------------------------------------------

    /// Interpret a frame: parse its header in the frame's serialization.
    pub fn from_frame(frame: RawFrame) -> Result<Self> {
        let mut cmd = decode_header(frame.serialize_type, &frame.header)?;
        cmd.body = frame.body;
        Ok(cmd)
    }

    // ---- encoding -----------------------------------------------------------------------

    /// Append the whole frame (length prefix, header, body) to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<()> {
        self.encode_head(dst, self.body.len())?;
        dst.extend_from_slice(&self.body);
        Ok(())
    }

    /// The whole frame as bytes.
    pub fn to_bytes(&self) -> Result<Bytes> {
        let mut b = BytesMut::with_capacity(256 + self.body.len());
        self.encode(&mut b)?;
        Ok(b.freeze())
    }

    /// Append the length prefix and header for a body of `body_len` bytes that the caller
    /// writes itself (e.g. straight from mapped files). `self.body` is ignored.
    pub fn encode_head(&self, dst: &mut BytesMut, body_len: usize) -> Result<()> {
        let start = dst.len();
        dst.put_u64(0); // length + header word, patched below
        match self.serialize_type {
            SerializeType::Json => write_json_header(self, dst),
            SerializeType::RocketMq => write_binary_header(self, dst)?,
        }
        let header_len = dst.len() - start - 8;
        let word = header_word(self.serialize_type, header_len)?;
        let total = 4u64 + header_len as u64 + body_len as u64;
        let total = u32::try_from(total).map_err(|_| {
            CodecError::new(
                "frame",
                0,
                ErrorKind::Unencodable(format!("frame of {total} bytes exceeds u32")),
            )
        })?;
        dst[start..start + 4].copy_from_slice(&total.to_be_bytes());
        dst[start + 4..start + 8].copy_from_slice(&word.to_be_bytes());
        Ok(())
    }

    /// Just the header bytes in the command's serialization.
    pub fn encode_header_bytes(&self) -> Result<Vec<u8>> {
        let mut b = BytesMut::with_capacity(256);
        match self.serialize_type {
            SerializeType::Json => write_json_header(self, &mut b),
            SerializeType::RocketMq => write_binary_header(self, &mut b)?,
        }
        Ok(b.to_vec())
    }
}

impl fmt::Display for RemotingCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_response() {
            "response"
        } else if self.is_oneway() {
            "oneway"
        } else {
            "request"
        };
        let name = if self.is_response() {
            response::name(self.code)
        } else {
            crate::codes::request::name(self.code)
        };
        write!(
            f,
            "{kind} code={}({}) opaque={} lang={} v={}",
            self.code,
            name.unwrap_or("?"),
            self.opaque,
            self.language,
            self.version
        )?;
        if let Some(r) = &self.remark {
            write!(f, " remark={r:?}")?;
        }
        write!(f, " body={}B", self.body.len())
    }
}

/// Parse a header in the given serialization. The body is left empty.
pub fn decode_header(st: SerializeType, header: &[u8]) -> Result<RemotingCommand> {
    match st {
        SerializeType::Json => decode_json_header(header),
        SerializeType::RocketMq => decode_binary_header(header),
    }
}

/// Best effort: the opaque of a frame whose header does not decode, so that an error
/// response can still be matched by the client.
pub fn peek_opaque(frame: &RawFrame) -> Option<i32> {
    match frame.serialize_type {
        SerializeType::RocketMq => {
            let b = frame.header.get(5..9)?;
            Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
        SerializeType::Json => {
            let v: serde_json::Value = serde_json::from_slice(&frame.header).ok()?;
            let o = v.get("opaque")?;
            o.as_i64()
                .or_else(|| o.as_str().and_then(|s| s.trim().parse().ok()))
                .and_then(|n| i32::try_from(n).ok())
        }
    }
}

// =========================================================================================
// JSON header
// =========================================================================================

fn decode_json_header(header: &[u8]) -> Result<RemotingCommand> {
    // The fast path takes the usual headers; whatever it leaves (unusual or invalid) goes
    // through serde_json, which decides and reports exactly as it always did.
    match json_header_fast::parse(header, EXT_ARENA_HINT_MAX) {
        Some(h) => json_header_command(h),
        None => json_header_command(decode_json_header_serde(header)?),
    }
}

fn json_header_command(h: JsonHeader) -> Result<RemotingCommand> {
    Ok(RemotingCommand {
        code: h
            .code
            .ok_or_else(|| CodecError::missing("JSON header", "code"))?,
        language: h.language.unwrap_or_default(),
        version: h.version.unwrap_or(0),
        opaque: h.opaque.unwrap_or(0),
        flag: h.flag.unwrap_or(0),
        remark: h.remark,
        ext_fields: h.ext_fields,
        serialize_type: SerializeType::Json,
        body: Bytes::new(),
    })
}

/// The general JSON path (and the one that reports errors).
fn decode_json_header_serde(header: &[u8]) -> Result<JsonHeader> {
    // Exactly `serde_json::from_slice`, with a seed that sizes the extFields arena: its keys
    // and values are (nearly always) shorter than the header text.
    let mut de = serde_json::Deserializer::from_slice(header);
    let seed = JsonHeaderSeed {
        ext_bytes: header.len().min(EXT_ARENA_HINT_MAX),
    };
    seed.deserialize(&mut de)
        .and_then(|h| de.end().map(|()| h))
        .map_err(|e| json_error(e, header.len()))
}

fn json_error(e: serde_json::Error, len: usize) -> CodecError {
    // serde_json reports line/column; headers are one line, so column ~ byte offset + 1.
    let offset = if e.line() <= 1 {
        e.column().saturating_sub(1).min(len)
    } else {
        0
    };
    CodecError::new("JSON header", offset, ErrorKind::Json(e.to_string()))
}

/// The fields of a JSON header, read leniently (fastjson accepts all of this).
#[derive(Default)]
struct JsonHeader {
    code: Option<i32>,
    language: Option<LanguageCode>,
    version: Option<i32>,
    opaque: Option<i32>,
    flag: Option<i32>,
    remark: Option<String>,
    ext_fields: Option<ExtFields>,
}

#[derive(Clone, Copy)]
enum Field {
    Code,
    Language,
    Version,
    Opaque,
    Flag,
    Remark,
    ExtFields,
    Other,
}

/// Upper bound of the initial extFields arena of a decoded JSON header.
const EXT_ARENA_HINT_MAX: usize = 4096;

fn field_of(key: &str) -> Field {
    match key {
        "code" => Field::Code,
        "language" => Field::Language,
        "version" => Field::Version,
        "opaque" => Field::Opaque,
        "flag" => Field::Flag,
        "remark" => Field::Remark,
        "extFields" => Field::ExtFields,
        // What Java always sends; smart matching would say the same, only slower.
        "serializeTypeCurrentRPC" => Field::Other,
        other => smart_field_of(other),
    }
}

/// fastjson "smart match": case-insensitive, ignoring '_' and '-' (the key with those
/// removed, then lowercased, must be a field name). No allocation: the longest field name
/// has 9 characters, so a longer normalized key cannot match.
fn smart_field_of(key: &str) -> Field {
    const LONGEST: usize = 9;
    let mut norm = [0u8; LONGEST];
    let mut n = 0;
    for c in key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
    {
        // Field names are ASCII: any other character means no match.
        if !c.is_ascii() || n == LONGEST {
            return Field::Other;
        }
        norm[n] = c as u8;
        n += 1;
    }
    match &norm[..n] {
        b"code" => Field::Code,
        b"language" => Field::Language,
        b"version" => Field::Version,
        b"opaque" => Field::Opaque,
        b"flag" => Field::Flag,
        b"remark" => Field::Remark,
        b"extfields" => Field::ExtFields,
        _ => Field::Other,
    }
}

/// Deserializes a [`JsonHeader`]; `ext_bytes` is the initial size of the extFields arena.
struct JsonHeaderSeed {
    ext_bytes: usize,
}

impl<'de> DeserializeSeed<'de> for JsonHeaderSeed {
    type Value = JsonHeader;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<JsonHeader, D::Error> {
        struct V {
            ext_bytes: usize,
        }
        impl<'de> Visitor<'de> for V {
            type Value = JsonHeader;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object (remoting command header)")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<JsonHeader, A::Error> {
                let mut h = JsonHeader::default();
                while let Some(key) = map.next_key::<KeyStr<'de>>()? {
                    match field_of(key.as_str()) {
                        Field::Code => h.code = map.next_value::<LenientInt>()?.0,
                        Field::Version => h.version = map.next_value::<LenientInt>()?.0,
                        Field::Opaque => h.opaque = map.next_value::<LenientInt>()?.0,
                        Field::Flag => h.flag = map.next_value::<LenientInt>()?.0,
                        Field::Language => h.language = map.next_value::<LenientLanguage>()?.0,
                        Field::Remark => h.remark = map.next_value::<Scalar>()?.0,
                        Field::ExtFields => {
                            h.ext_fields = map.next_value_seed(LenientExt {
                                ext_bytes: self.ext_bytes,
                            })?
                        }
                        Field::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_map(V {
            ext_bytes: self.ext_bytes,
        })
    }
}

/// A map key, borrowed when the JSON text has no escapes.
enum KeyStr<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl KeyStr<'_> {
    fn as_str(&self) -> &str {
        match self {
            KeyStr::Borrowed(s) => s,
            KeyStr::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for KeyStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(KeyStr::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(KeyStr::Owned(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(KeyStr::Owned(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// An integer given as a number or a numeric string; null is absent.
struct LenientInt(Option<i32>);

impl<'de> Deserialize<'de> for LenientInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientInt;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a 32-bit integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<LenientInt, E> {
                i32::try_from(v)
                    .map(|n| LenientInt(Some(n)))
                    .map_err(|_| E::custom(format!("{v} does not fit a 32-bit integer")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<LenientInt, E> {
                i32::try_from(v)
                    .map(|n| LenientInt(Some(n)))
                    .map_err(|_| E::custom(format!("{v} does not fit a 32-bit integer")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<LenientInt, E> {
                if v.fract() == 0.0 && v >= i32::MIN as f64 && v <= i32::MAX as f64 {
                    Ok(LenientInt(Some(v as i32)))
                } else {
                    Err(E::custom(format!("{v} is not a 32-bit integer")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<LenientInt, E> {
                v.trim()
                    .parse()
                    .map(|n| LenientInt(Some(n)))
                    .map_err(|_| E::custom(format!("{v:?} is not a 32-bit integer")))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<LenientInt, E> {
                Ok(LenientInt(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `language`: an enum name or an ordinal.
struct LenientLanguage(Option<LanguageCode>);

impl<'de> Deserialize<'de> for LenientLanguage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientLanguage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a language name or code")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<LenientLanguage, E> {
                Ok(LenientLanguage(Some(LanguageCode::from_name(v))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<LenientLanguage, E> {
                let code = u8::try_from(v).map_err(|_| E::custom("language code out of range"))?;
                Ok(LenientLanguage(Some(LanguageCode::from_code(code))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<LenientLanguage, E> {
                let code = u8::try_from(v).map_err(|_| E::custom("language code out of range"))?;
                Ok(LenientLanguage(Some(LanguageCode::from_code(code))))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<LenientLanguage, E> {
                Ok(LenientLanguage(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar turned into its string form (fastjson coerces numbers/booleans into Strings).
/// Null is absent; objects and arrays become their JSON text.
struct Scalar(Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Scalar, E> {
                Ok(Scalar(Some(if v { "true" } else { "false" }.to_owned())))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Scalar, A::Error> {
                let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> std::result::Result<Scalar, A::Error> {
                let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Scalar(Some(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// `extFields`: an object whose values are coerced to strings; null values are dropped.
/// Keys and values are written straight into the map's arena (no `String` per entry).
struct LenientExt {
    /// Initial arena size.
    ext_bytes: usize,
}

impl<'de> DeserializeSeed<'de> for LenientExt {
    type Value = Option<ExtFields>;
    fn deserialize<D: Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Option<ExtFields>, D::Error> {
        struct V {
            ext_bytes: usize,
        }
        impl<'de> Visitor<'de> for V {
            type Value = Option<ExtFields>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Option<ExtFields>, E> {
                Ok(None)
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Option<ExtFields>, A::Error> {
                let mut fields =
                    ExtFields::with_capacities(map.size_hint().unwrap_or(16), self.ext_bytes);
                loop {
                    let start = fields.mark();
                    if map.next_key_seed(KeyInto(fields.arena()))?.is_none() {
                        break;
                    }
                    let mid = fields.mark();
                    if map.next_value_seed(ScalarInto(fields.arena()))? {
                        // A duplicated key keeps the last value (in the first one's place),
                        // as a Java HashMap would.
                        fields.commit(start, mid, false);
                        if fields.len() > crate::ext_fields::MAX_EXT_FIELDS {
                            return Err(de::Error::custom(format!(
                                "more than {} extFields entries",
                                crate::ext_fields::MAX_EXT_FIELDS
                            )));
                        }
                    } else {
                        fields.abandon(start);
                    }
                }
                Ok(Some(fields))
            }
        }
        d.deserialize_any(V {
            ext_bytes: self.ext_bytes,
        })
    }
}

/// A map key (as [`KeyStr`]), appended to a string.
struct KeyInto<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for KeyInto<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        struct V<'a>(&'a mut String);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<(), E> {
                self.0.push_str(v);
                Ok(())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<(), E> {
                self.0.push_str(v);
                Ok(())
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<(), E> {
                self.0.push_str(&v);
                Ok(())
            }
        }
        d.deserialize_str(V(self.0))
    }
}

/// A [`Scalar`] appended to a string as its string form; `false` (nothing appended) for null.
struct ScalarInto<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for ScalarInto<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<bool, D::Error> {
        use std::fmt::Write as _;

        struct V<'a>(&'a mut String);
        impl V<'_> {
            /// Append the `Display` text of `v` (what `to_string` gives).
            fn display<E>(self, v: impl fmt::Display) -> std::result::Result<bool, E> {
                // Writing into a String cannot fail.
                let _ = write!(self.0, "{v}");
                Ok(true)
            }
        }
        impl<'de> Visitor<'de> for V<'_> {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<bool, E> {
                self.0.push_str(v);
                Ok(true)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<bool, E> {
                self.0.push_str(v);
                Ok(true)
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<bool, E> {
                self.0.push_str(&v);
                Ok(true)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<bool, E> {
                self.display(v)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<bool, E> {
                self.display(v)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<bool, E> {
                self.display(v)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<bool, E> {
                self.0.push_str(if v { "true" } else { "false" });
                Ok(true)
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<bool, E> {
                Ok(false)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<bool, A::Error> {
                let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                self.display(v)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> std::result::Result<bool, A::Error> {
                let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                self.display(v)
            }
        }
        d.deserialize_any(V(self.0))
    }
}

/// Write the header as Java does: keys sorted, nulls omitted, `serializeTypeCurrentRPC`.
fn write_json_header(cmd: &RemotingCommand, dst: &mut BytesMut) {
    // Everything but the extFields and the remark fits in this (with i32 numbers and the
    // longest language name); strings without escapes take 2 quotes + their bytes.
    const FIXED: usize = 160;
    let ext_len = cmd
        .ext_fields
        .as_ref()
        .map_or(0, |e| 16 + e.content_len() + 6 * e.len());
    let remark_len = cmd.remark.as_ref().map_or(0, |r| 12 + r.len());
    dst.reserve(FIXED + ext_len + remark_len);

    let mut itoa = Itoa::default();
    dst.extend_from_slice(b"{\"code\":");
    dst.extend_from_slice(itoa.format(cmd.code as i64));
    if let Some(ext) = &cmd.ext_fields {
        dst.extend_from_slice(b",\"extFields\":{");
        for (i, (k, v, plain)) in ext.iter_plain().enumerate() {
            if plain
                || (find_special(k.as_bytes()).is_none() && find_special(v.as_bytes()).is_none())
            {
                // Nothing to escape (the usual case).
                dst.reserve(k.len() + v.len() + 6);
                if i > 0 {
                    dst.put_u8(b',');
                }
                dst.put_u8(b'"');
                put_small(dst, k.as_bytes());
                dst.extend_from_slice(b"\":\"");
                put_small(dst, v.as_bytes());
                dst.put_u8(b'"');
            } else {
                if i > 0 {
                    dst.put_u8(b',');
                }
                write_json_str(dst, k);
                dst.put_u8(b':');
                write_json_str(dst, v);
            }
        }
        dst.put_u8(b'}');
    }
    dst.extend_from_slice(b",\"flag\":");
    dst.extend_from_slice(itoa.format(cmd.flag as i64));
    dst.extend_from_slice(b",\"language\":");
    write_json_str(dst, cmd.language.name());
    dst.extend_from_slice(b",\"opaque\":");
    dst.extend_from_slice(itoa.format(cmd.opaque as i64));
    if let Some(r) = &cmd.remark {
        dst.extend_from_slice(b",\"remark\":");
        write_json_str(dst, r);
    }
    dst.extend_from_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    dst.extend_from_slice(itoa.format(cmd.version as i64));
    dst.put_u8(b'}');
}

/// `dst.extend_from_slice(s)`, without a `memcpy` call for one byte.
#[inline]
fn put_small(dst: &mut BytesMut, s: &[u8]) {
    match s {
        [b] => dst.put_u8(*b),
        _ => dst.extend_from_slice(s),
    }
}

/// A JSON string literal; control characters as `\uXXXX` (short forms for the usual ones),
/// everything else raw UTF-8, like fastjson.
#[inline]
pub(crate) fn write_json_str(dst: &mut BytesMut, s: &str) {
    let bytes = s.as_bytes();
    dst.reserve(bytes.len() + 2);
    dst.put_u8(b'"');
    match find_escape_candidate(bytes) {
        None => dst.extend_from_slice(bytes),
        Some(at) => {
            dst.extend_from_slice(&bytes[..at]);
            write_escaped(dst, &bytes[at..]);
        }
    }
    dst.put_u8(b'"');
}

/// The index of the first byte of `bytes` that is special in a JSON string (`"`, `\\`, or a
/// control character below 0x20), if any.
#[inline]
fn find_special(bytes: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while let Some(word) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let v = u64::from_le_bytes(*word);
        let quote = v ^ (LO * b'"' as u64);
        let backslash = v ^ (LO * b'\\' as u64);
        // The classic "has less than" / "has zero" tests: the lowest byte flagged (high bit
        // set) is exactly the first byte below 0x20 or equal to '"' or '\\'; bytes above it
        // may be flagged spuriously, bytes below it never are.
        let hits = ((v.wrapping_sub(LO * 0x20) & !v)
            | (quote.wrapping_sub(LO) & !quote)
            | (backslash.wrapping_sub(LO) & !backslash))
            & HI;
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    while let Some(&b) = bytes.get(at) {
        if needs_escape(b) {
            return Some(at);
        }
        at += 1;
    }
    None
}

#[inline]
fn needs_escape(b: u8) -> bool {
    SPECIAL[b as usize]
}

/// `SPECIAL[b]`: byte `b` cannot appear raw in a JSON string (`"`, `\\`, below 0x20).
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = b < 0x20 || b == b'"' as usize || b == b'\\' as usize;
        b += 1;
    }
    t
};

/// The index of the first byte the encoder must look at: a JSON special byte (see
/// [`find_special`]), DEL, or a non-ASCII byte (fastjson escapes DEL, the C1 controls and
/// U+2028/U+2029), if any.
#[inline]
fn find_escape_candidate(bytes: &[u8]) -> Option<usize> {
    let other = bytes.iter().position(|&b| b >= 0x7F);
    match (find_special(bytes), other) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The byte-at-a-time escaper behind [`write_json_str`] (without the quotes).
fn write_escaped(dst: &mut BytesMut, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut start = 0;
    while let Some(off) = bytes.get(start..).and_then(find_escape_candidate) {
        let i = start + off;
        let Some(&b) = bytes.get(i) else {
            break;
        };
        dst.extend_from_slice(&bytes[start..i]);
        // Non-ASCII: fastjson escapes U+0080..U+009F and U+2028/U+2029; the rest stays raw.
        if b >= 0x80 {
            let next = bytes.get(i + 1).copied().unwrap_or(0);
            let third = bytes.get(i + 2).copied().unwrap_or(0);
            if b == 0xC2 && (0x80..=0x9F).contains(&next) {
                dst.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(next >> 4) as usize],
                    HEX[(next & 0xf) as usize],
                ]);
                start = i + 2;
            } else if b == 0xE2 && next == 0x80 && (third == 0xA8 || third == 0xA9) {
                dst.extend_from_slice(if third == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                start = i + 3;
            } else {
                dst.put_u8(b);
                start = i + 1;
            }
            continue;
        }
        match b {
            b'"' => dst.extend_from_slice(b"\\\""),
            b'\\' => dst.extend_from_slice(b"\\\\"),
            b'\n' => dst.extend_from_slice(b"\\n"),
            b'\r' => dst.extend_from_slice(b"\\r"),
            b'\t' => dst.extend_from_slice(b"\\t"),
            0x08 => dst.extend_from_slice(b"\\b"),
            0x0c => dst.extend_from_slice(b"\\f"),
            // DEL and the other controls.
            _ => dst.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]),
        }
        start = i + 1;
    }
    dst.extend_from_slice(bytes.get(start..).unwrap_or_default());
}

/// Integer formatting without allocation.
#[derive(Default)]
struct Itoa {
    buf: [u8; 20],
}

impl Itoa {
    fn format(&mut self, v: i64) -> &[u8] {
        let mut n = v.unsigned_abs();
        let mut i = self.buf.len();
        loop {
            i -= 1;
            self.buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if v < 0 {
            i -= 1;
            self.buf[i] = b'-';
        }
        &self.buf[i..]
    }
}

// =========================================================================================
// ROCKETMQ binary header
// =========================================================================================

const BIN: &str = "binary header";

fn decode_binary_header(h: &[u8]) -> Result<RemotingCommand> {
    use nom::number::complete::{be_i16, be_i32, be_u8};
    use nom::Parser;

    let total = h.len();
    let off = |rest: &[u8]| total - rest.len();
    let short = |rest: &[u8], need: usize| {
        CodecError::incomplete(BIN, total - rest.len(), need, rest.len())
    };

    let (rest, (code, lang, version, opaque, flag)) = (
        be_i16::<&[u8], nom::error::Error<&[u8]>>,
        be_u8,
        be_i16,
        be_i32,
        be_i32,
    )
        .parse(h)
        .map_err(|_| CodecError::incomplete(BIN, 0, 17, total))?;

    let (rest, remark) = binary_string(rest, off(rest), "remark length")?;
    let remark = remark
        .map(|b| {
            std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|_| CodecError::new(BIN, off(rest), ErrorKind::InvalidUtf8))
        })
        .transpose()?;

    let (rest, ext_len) =
        be_i32::<&[u8], nom::error::Error<&[u8]>>(rest).map_err(|_| short(rest, 4))?;
    let ext_start = off(rest);
    let ext_len = check_len(ext_len, rest.len(), ext_start - 4, "extFields length")?;
    let (mut ext, _trailing) = rest.split_at(ext_len);
    let ext_fields = if ext_len == 0 {
        None
    } else {
        // Keys and values take less room than their encoding.
        let mut fields = ExtFields::with_capacities(16, ext_len);
        while !ext.is_empty() {
            let at = ext_start + (ext_len - ext.len());
            let (r, klen) = be_i16::<&[u8], nom::error::Error<&[u8]>>(ext)
                .map_err(|_| CodecError::incomplete(BIN, at, 2, ext.len()))?;
            let klen = check_len(klen as i32, r.len(), at, "extFields key length")?;
            let (key, r) = r.split_at(klen);
            let at = ext_start + (ext_len - r.len());
            let (r, vlen) = be_i32::<&[u8], nom::error::Error<&[u8]>>(r)
                .map_err(|_| CodecError::incomplete(BIN, at, 4, r.len()))?;
            let vlen = check_len(vlen, r.len(), at, "extFields value length")?;
            let (val, r) = r.split_at(vlen);
            ext = r;
            // A zero length is Java's null: such an entry carries nothing.
            if key.is_empty() || val.is_empty() {
                continue;
            }
            let key = std::str::from_utf8(key)
                .map_err(|_| CodecError::new(BIN, at, ErrorKind::InvalidUtf8))?;
            let val = std::str::from_utf8(val)
                .map_err(|_| CodecError::new(BIN, at, ErrorKind::InvalidUtf8))?;
            fields.insert_str(key, val);
            if fields.len() > crate::ext_fields::MAX_EXT_FIELDS {
                return Err(CodecError::new(
                    BIN,
                    at,
                    ErrorKind::Invalid(format!(
                        "more than {} extFields entries",
                        crate::ext_fields::MAX_EXT_FIELDS
                    )),
                ));
            }
        }
        Some(fields)
    };

    Ok(RemotingCommand {
        code: code as i32,
        language: LanguageCode::from_code(lang),
        version: version as i32,
        opaque,
        flag,
        remark,
        ext_fields,
        serialize_type: SerializeType::RocketMq,
        body: Bytes::new(),
    })
}

/// An i32-length-prefixed byte string; length 0 is null.
fn binary_string<'a>(
    input: &'a [u8],
    at: usize,
    what: &'static str,
) -> Result<(&'a [u8], Option<&'a [u8]>)> {
    let (rest, len) = nom::number::complete::be_i32::<&[u8], nom::error::Error<&[u8]>>(input)
        .map_err(|_| CodecError::incomplete(BIN, at, 4, input.len()))?;
    let len = check_len(len, rest.len(), at, what)?;
    let (s, rest) = rest.split_at(len);
    Ok((rest, (len > 0).then_some(s)))
}

/// A signed length must be ≥ 0 and fit in what is left.
fn check_len(len: i32, have: usize, at: usize, field: &'static str) -> Result<usize> {
    if len < 0 {
        return Err(CodecError::new(
            BIN,
            at,
            ErrorKind::BadLength {
                field,
                value: len as i64,
                limit: have as i64,
            },
        ));
    }
    let len = len as usize;
    if len > have {
        return Err(CodecError::incomplete(BIN, at, len, have));
    }
    Ok(len)
}

fn write_binary_header(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<()> {
    let code = i16::try_from(cmd.code).map_err(|_| {
        CodecError::new(
            BIN,
            0,
            ErrorKind::Unencodable(format!("code {} does not fit the 16-bit field", cmd.code)),
        )
    })?;
    let version = i16::try_from(cmd.version).map_err(|_| {
        CodecError::new(
            BIN,
            3,
            ErrorKind::Unencodable(format!(
                "version {} does not fit the 16-bit field",
                cmd.version
            )),
        )
    })?;
    dst.put_i16(code);
    dst.put_u8(cmd.language.code());
    dst.put_i16(version);
    dst.put_i32(cmd.opaque);
    dst.put_i32(cmd.flag);
    match &cmd.remark {
        Some(r) => {
            dst.put_i32(len_i32(r.len(), "remark")?);
            dst.extend_from_slice(r.as_bytes());
        }
        None => dst.put_i32(0),
    }
    let len_at = dst.len();
    dst.put_i32(0);
    if let Some(ext) = &cmd.ext_fields {
        for (k, v) in ext.iter() {
            let klen = i16::try_from(k.len()).map_err(|_| {
                CodecError::new(
                    BIN,
                    len_at,
                    ErrorKind::Unencodable(format!("extFields key of {} bytes", k.len())),
                )
            })?;
            dst.put_i16(klen);
            dst.extend_from_slice(k.as_bytes());
            dst.put_i32(len_i32(v.len(), "extFields value")?);
            dst.extend_from_slice(v.as_bytes());
        }
    }
    let ext_len = len_i32(dst.len() - len_at - 4, "extFields")?;
    dst[len_at..len_at + 4].copy_from_slice(&ext_len.to_be_bytes());
    Ok(())
}

fn len_i32(len: usize, what: &str) -> Result<i32> {
    i32::try_from(len).map_err(|_| {
        CodecError::new(
            BIN,
            0,
            ErrorKind::Unencodable(format!("{what} of {len} bytes")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{parse_complete_frame, DEFAULT_MAX_FRAME};

    fn roundtrip(cmd: &RemotingCommand) -> RemotingCommand {
        let bytes = cmd.to_bytes().unwrap();
        let frame = parse_complete_frame(&bytes, DEFAULT_MAX_FRAME).unwrap();
        RemotingCommand::from_frame(frame).unwrap()
    }

    fn sample(st: SerializeType) -> RemotingCommand {
        let mut c = RemotingCommand::request(310, -7);
        c.serialize_type = st;
        c.remark = Some("r\u{1}é\"\\".into());
        let e = c.ext_mut();
        e.insert("a", "group");
        e.insert("i", "KEYS\u{1}k1\u{2}TAGS\u{1}标签");
        c.body = Bytes::from_static(b"hello");
        c
    }

    #[test]
    fn json_and_binary_round_trip() {
        for st in [SerializeType::Json, SerializeType::RocketMq] {
            let c = sample(st);
            assert_eq!(roundtrip(&c), c);
        }
    }

    #[test]
    fn json_matches_java_layout() {
        let mut c = RemotingCommand::request(105, 7);
        c.ext_mut().insert("topic", "TopicTest");
        let h = c.encode_header_bytes().unwrap();
        assert_eq!(
            std::str::from_utf8(&h).unwrap(),
            r#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":409}"#
        );
    }

    #[test]
    fn json_accepts_other_clients() {
        // C++: remark "", numbers in extFields, language CPP.
        let cpp = br#"{"code":310,"language":"CPP","version":333,"opaque":5,"flag":0,"remark":"","extFields":{"Signature":"","AccessKey":"","d":4,"e":1,"m":"false","x":null,"z":true,"w":1.5}}"#;
        let c = decode_header(SerializeType::Json, cpp).unwrap();
        assert_eq!(c.language, LanguageCode::Cpp);
        assert_eq!(c.ext("d"), Some("4"));
        assert_eq!(c.ext("z"), Some("true"));
        assert_eq!(c.ext("w"), Some("1.5"));
        assert_eq!(c.ext("x"), None);
        assert_eq!(c.remark.as_deref(), Some(""));
        // ali-ons-ish: language ordinal, numbers as strings, unknown keys, whitespace.
        let odd = br#" { "code" : "34", "language": 1, "opaque": "9", "unknown": [1,{"a":2}], "Flag": 2 } "#;
        let c = decode_header(SerializeType::Json, odd).unwrap();
        assert_eq!((c.code, c.opaque, c.flag), (34, 9, 2));
        assert_eq!(c.language, LanguageCode::Cpp);
        assert!(c.ext_fields.is_none());
    }

    #[test]
    fn json_errors_are_clean() {
        for bad in [
            &b""[..],
            b"[]",
            b"{",
            b"{\"code\":1.5}",
            b"{\"opaque\":1}",
            b"{\"code\":99999999999}",
            b"\xff\xfe",
            b"{\"code\":1,\"extFields\":[1]}",
        ] {
            assert!(decode_header(SerializeType::Json, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn binary_null_and_limits() {
        let mut c = RemotingCommand::request(11, 1);
        c.serialize_type = SerializeType::RocketMq;
        c.remark = Some(String::new()); // empty remark is written as null
        let back = roundtrip(&c);
        assert_eq!(back.remark, None);
        c.code = 200050;
        assert!(c.to_bytes().is_err());
        // lying lengths
        let mut h = sample(SerializeType::RocketMq)
            .encode_header_bytes()
            .unwrap();
        let n = h.len();
        for cut in 0..n {
            let _ = decode_binary_header(&h[..cut]);
        }
        h[13] = 0x7f; // remark length huge
        assert!(decode_binary_header(&h).is_err());
    }

    #[test]
    fn response_mirrors_request() {
        let req = sample(SerializeType::RocketMq);
        let resp = RemotingCommand::error_to(&req, 3, "nope");
        assert!(resp.is_response());
        assert_eq!(resp.opaque, req.opaque);
        assert_eq!(resp.serialize_type, SerializeType::RocketMq);
    }

    #[test]
    fn peek_opaque_finds_it() {
        let bytes = sample(SerializeType::RocketMq).to_bytes().unwrap();
        let f = parse_complete_frame(&bytes, DEFAULT_MAX_FRAME).unwrap();
        assert_eq!(peek_opaque(&f), Some(-7));
        let f = RawFrame {
            serialize_type: SerializeType::Json,
            header: Bytes::from_static(br#"{"opaque":"12","code":"x"}"#),
            body: Bytes::new(),
        };
        assert!(RemotingCommand::from_frame(f.clone()).is_err());
        assert_eq!(peek_opaque(&f), Some(12));
    }

    /// Both JSON decoders, where the fast one takes the header.
    fn both_json_paths(h: &[u8]) -> Option<(String, String)> {
        let fast = json_header_fast::parse(h, EXT_ARENA_HINT_MAX)?;
        let slow = decode_json_header_serde(h).map(json_header_command);
        Some((
            format!("{:?}", json_header_command(fast)),
            format!(
                "{:?}",
                slow.expect("serde_json accepts what the fast path accepts")
            ),
        ))
    }

    #[test]
    fn json_fast_path_agrees_with_serde_json() {
        let taken = [
            &br#"{"code":310,"extFields":{"a":"g","i":"K\u0001v\u0002\u00e8\"\\\/\b\f\n\r\t\u00e9\u6807"},"flag":0,"language":"JAVA","opaque":-7,"remark":"r\u0001\"","serializeTypeCurrentRPC":"JSON","version":409}"#[..],
            br#" { "CODE" : -2147483648 , "Ext_Fields" : { "a" : "1" , "a" : "2" , "b" : "" } , "x" : "y" , "language" : "cpp" } "#,
            "{\"code\":0,\"extFields\":{},\"remar\u{212a}\":\"no\"}".as_bytes(),
            br#"{"code":2147483647,"extFields":{"":"","\u0041":"x"},"extFields":{"k":"v"}}"#,
            b"{\"code\":1,\"remark\":\"\xe6\xa0\x87\",\"opaque\":0}",
            br#"{"opaque":1}"#,
        ];
        for h in taken {
            let (fast, slow) = both_json_paths(h).expect("fast path takes it");
            assert_eq!(fast, slow, "{}", String::from_utf8_lossy(h));
        }
        // Left to serde_json (which accepts them): still decoded the same as before.
        for h in [
            &br#"{"code":1,"extFields":{"a":1,"b":true,"c":null,"d":1.5}}"#[..],
            br#"{"code":"1","language":1}"#,
            br#"{"code":1,"remark":"\ud83d\ude00"}"#,
            br#"{"c\u006fde":1}"#,
            br#"{"code":1,"extFields":null}"#,
        ] {
            assert!(json_header_fast::parse(h, EXT_ARENA_HINT_MAX).is_none());
            assert!(decode_json_header(h).is_ok());
        }
        let c = decode_json_header(br#"{"remar\u212a":"k","code":1}"#).unwrap();
        assert_eq!(c.remark.as_deref(), Some("k"));
    }

    #[test]
    fn smart_field_matching() {
        for (k, want) in [
            ("CODE", "Code"),
            ("ext_fields", "ExtFields"),
            ("-Ext-Fields-", "ExtFields"),
            ("remar\u{212A}", "Remark"),
            ("serializeTypeCurrentRPC", "Other"),
            ("languages", "Other"),
            ("\u{130}", "Other"),
            ("", "Other"),
        ] {
            let got = match field_of(k) {
                Field::Code => "Code",
                Field::ExtFields => "ExtFields",
                Field::Remark => "Remark",
                Field::Other => "Other",
                _ => "?",
            };
            assert_eq!(got, want, "{k:?}");
        }
    }

    #[test]
    fn find_special_matches_a_byte_scan() {
        let mut bytes: Vec<u8> = Vec::new();
        for i in 0..300u32 {
            bytes.push(b"abc\"\\\x01\x1f \x7f\x80\xff~"[(i * 7 % 12) as usize]);
        }
        for start in 0..bytes.len() {
            for len in 0..24.min(bytes.len() - start) {
                let s = &bytes[start..start + len];
                let clean: Vec<u8> = s
                    .iter()
                    .map(|&b| if needs_escape(b) { b'x' } else { b })
                    .collect();
                assert_eq!(find_special(s), s.iter().position(|&b| needs_escape(b)));
                assert_eq!(find_special(&clean), None);
            }
        }
        for b in 0..=255u8 {
            assert_eq!(needs_escape(b), b < 0x20 || b == b'"' || b == b'\\', "{b}");
        }
    }

    #[test]
    fn json_str_escapes_like_fastjson() {
        let mut out = BytesMut::new();
        write_json_str(
            &mut out,
            "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}\u{85}\u{2028}\u{2029}标/",
        );
        assert_eq!(
            &out[..],
            "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001F\\u007F\\u0085\\u2028\\u2029标/\""
                .as_bytes()
        );
    }

    #[test]
    fn itoa_edges() {
        let mut i = Itoa::default();
        assert_eq!(i.format(i64::MIN), i64::MIN.to_string().as_bytes());
        assert_eq!(i.format(0), b"0");
        assert_eq!(i.format(-12), b"-12");
    }
}
