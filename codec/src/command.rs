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
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::codes::{response, CURRENT_VERSION};
use crate::error::{CodecError, ErrorKind, Result};
use crate::ext_fields::{CommandHeader, ExtFields};
use crate::frame::{header_word, RawFrame};
use crate::language::LanguageCode;

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
    let h: JsonHeader = serde_json::from_slice(header).map_err(|e| json_error(e, header.len()))?;
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

fn field_of(key: &str) -> Field {
    match key {
        "code" => Field::Code,
        "language" => Field::Language,
        "version" => Field::Version,
        "opaque" => Field::Opaque,
        "flag" => Field::Flag,
        "remark" => Field::Remark,
        "extFields" => Field::ExtFields,
        // fastjson "smart match": case-insensitive, ignoring '_' and '-'.
        other => {
            let norm: String = other
                .chars()
                .filter(|c| *c != '_' && *c != '-')
                .flat_map(char::to_lowercase)
                .collect();
            match norm.as_str() {
                "code" => Field::Code,
                "language" => Field::Language,
                "version" => Field::Version,
                "opaque" => Field::Opaque,
                "flag" => Field::Flag,
                "remark" => Field::Remark,
                "extfields" => Field::ExtFields,
                _ => Field::Other,
            }
        }
    }
}

impl<'de> Deserialize<'de> for JsonHeader {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
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
                        Field::ExtFields => h.ext_fields = map.next_value::<LenientExt>()?.0,
                        Field::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_map(V)
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
    fn into_string(self) -> String {
        match self {
            KeyStr::Borrowed(s) => s.to_owned(),
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
struct LenientExt(Option<ExtFields>);

impl<'de> Deserialize<'de> for LenientExt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientExt;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<LenientExt, E> {
                Ok(LenientExt(None))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<LenientExt, A::Error> {
                let mut fields = ExtFields::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(k) = map.next_key::<KeyStr<'de>>()? {
                    if let Some(v) = map.next_value::<Scalar>()?.0 {
                        // A duplicated key keeps the last value, as a Java HashMap would.
                        if fields.contains_key(k.as_str()) {
                            fields.insert(k.into_string(), v);
                        } else {
                            fields.push_unchecked(k.into_string(), v);
                        }
                    }
                }
                Ok(LenientExt(Some(fields)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Write the header as Java does: keys sorted, nulls omitted, `serializeTypeCurrentRPC`.
fn write_json_header(cmd: &RemotingCommand, dst: &mut BytesMut) {
    let mut itoa = Itoa::default();
    dst.extend_from_slice(b"{\"code\":");
    dst.extend_from_slice(itoa.format(cmd.code as i64));
    if let Some(ext) = &cmd.ext_fields {
        dst.extend_from_slice(b",\"extFields\":{");
        for (i, (k, v)) in ext.iter().enumerate() {
            if i > 0 {
                dst.put_u8(b',');
            }
            write_json_str(dst, k);
            dst.put_u8(b':');
            write_json_str(dst, v);
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

/// A JSON string literal; control characters as `\uXXXX` (short forms for the usual ones),
/// everything else raw UTF-8, like fastjson.
pub(crate) fn write_json_str(dst: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    dst.reserve(s.len() + 2);
    dst.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        dst.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => dst.extend_from_slice(e),
            None => dst.extend_from_slice(&[
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
    dst.extend_from_slice(&bytes[start..]);
    dst.put_u8(b'"');
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
        let mut fields = ExtFields::with_capacity(16);
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
            fields.insert(key, val);
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

    #[test]
    fn itoa_edges() {
        let mut i = Itoa::default();
        assert_eq!(i.format(i64::MIN), i64::MIN.to_string().as_bytes());
        assert_eq!(i.format(0), b"0");
        assert_eq!(i.format(-12), b"-12");
    }
}
