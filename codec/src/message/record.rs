//! The stored message record: CommitLog entries and pull / query / view response bodies
//! (remoting-protocol.md §12.1, store-format.md §1.2).
//!
//! Layout (big-endian; `h` = 8 for an IPv4 host, 20 for IPv6, per sysFlag 0x10 / 0x20):
//!
//! | offset | field | size |
//! |---|---|---|
//! | 0 | TOTALSIZE | i32 |
//! | 4 | MAGICCODE | i32: `0xDAA320A7` v1, `0xDAA320AB` v2 (5.x), `0xCBD43194` blank |
//! | 8 | BODYCRC | i32 = `crc32(stored body) & 0x7FFFFFFF` |
//! | 12 | QUEUEID | i32 |
//! | 16 | FLAG | i32 |
//! | 20 | QUEUEOFFSET | i64 |
//! | 28 | PHYSICALOFFSET | i64 |
//! | 36 | SYSFLAG | i32 |
//! | 40 | BORNTIMESTAMP | i64 |
//! | 48 | BORNHOST | 4 or 16 address bytes + i32 port |
//! | 48+h | STORETIMESTAMP | i64 |
//! | 56+h | STOREHOST | 4 or 16 address bytes + i32 port |
//! | … | RECONSUMETIMES | i32 |
//! | … | PREPAREDTRANSACTIONOFFSET | i64 |
//! | … | BODYLEN + BODY | i32 + n |
//! | … | TOPICLEN + TOPIC | i8 (v1) / i16 (v2) + t |
//! | … | PROPERTIESLEN + PROPERTIES | i16 + p |
//!
//! **Invariant** checked by every decoder and guaranteed by the encoder:
//! `TOTALSIZE = 68 + bornHostLen + storeHostLen + 4 + BODYLEN + topicLenSize + TOPICLEN + 2 +
//! PROPERTIESLEN` — i.e. `91 + n + t + p` for a v1 record with two IPv4 hosts, each IPv6 host
//! adding 12 and v2 adding 1. All three lengths must be ≥ 0 and fit inside TOTALSIZE. A
//! record that breaks this is refused (never over-read, never a panic).
//!
//! The END-of-file blank is 8 bytes: TOTALSIZE (= bytes left in the mapped file) and the magic
//! `0xCBD43194`; the rest of the file is filler and the next record starts in the next file.
//! [`decode_entry`] reports it as [`CommitLogEntry::Blank`].
//!
//! Only v1 records are ever written; v2 (5.x, 2-byte topic length) is read.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::BufMut;
use nom::number::complete::{be_i16, be_i32, be_i64, be_i8, be_u128, be_u32};
use nom::Parser;

use crate::error::{CodecError, ErrorKind, Result};

use super::compress;
use super::crc::body_crc;
use super::message_id::offset_msg_id;
use super::parse::{ensure, length_prefixed, to_codec, PErr, PResult};
use super::properties::{self, keys, PropertyIter, MAX_PROPERTIES_LEN};
use super::sysflag::{self, TransactionType, BORNHOST_V6, STOREHOST_V6};
use super::tags;

const CTX: &str = "message record";

/// Magic of a v1 record (`-626843481`); the only magic Apogee writes.
pub const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic of a 5.x v2 record (`-626843477`): 2-byte topic length.
pub const MAGIC_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// Magic of the END-of-file blank record (`-875286124`).
pub const BLANK_MAGIC: i32 = 0xCBD4_3194_u32 as i32;
/// Size of the END-of-file blank record (TOTALSIZE + magic); a file always keeps this much
/// room (`END_FILE_MIN_BLANK_LENGTH`).
pub const BLANK_RECORD_LEN: usize = 8;
/// Longest topic a v1 record can hold (signed byte length).
pub const MAX_TOPIC_LEN_V1: usize = 127;
/// Size of a v1 record with IPv4 hosts and empty body, topic and properties.
pub const MIN_RECORD_LEN_V1: usize = 91;

/// Byte positions of the fields before BORNHOST (the same in every layout).
pub mod pos {
    pub const TOTAL_SIZE: usize = 0;
    pub const MAGIC: usize = 4;
    pub const BODY_CRC: usize = 8;
    pub const QUEUE_ID: usize = 12;
    pub const FLAG: usize = 16;
    pub const QUEUE_OFFSET: usize = 20;
    pub const PHYSICAL_OFFSET: usize = 28;
    pub const SYS_FLAG: usize = 36;
    pub const BORN_TIMESTAMP: usize = 40;
    pub const BORN_HOST: usize = 48;

    /// Position of STORETIMESTAMP for this sysFlag (56 with an IPv4 born host, 68 with IPv6).
    pub fn store_timestamp(sys_flag: i32) -> usize {
        BORN_HOST + super::host_len(sys_flag & super::BORNHOST_V6 != 0)
    }

    /// Position of BODYLEN for this sysFlag (84 with IPv4 hosts).
    pub fn body_len(sys_flag: i32) -> usize {
        store_timestamp(sys_flag) + 8 + super::host_len(sys_flag & super::STOREHOST_V6 != 0) + 12
    }
}

/// Bytes of an encoded host: address + i32 port.
const fn host_len(v6: bool) -> usize {
    if v6 {
        20
    } else {
        8
    }
}

/// Record format version, chosen by the magic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RecordVersion {
    /// `0xDAA320A7`, 1-byte topic length.
    #[default]
    V1,
    /// `0xDAA320AB` (5.x), 2-byte topic length.
    V2,
}

impl RecordVersion {
    pub fn magic(self) -> i32 {
        match self {
            RecordVersion::V1 => MAGIC_V1,
            RecordVersion::V2 => MAGIC_V2,
        }
    }

    pub fn from_magic(magic: i32) -> Option<Self> {
        match magic {
            MAGIC_V1 => Some(RecordVersion::V1),
            MAGIC_V2 => Some(RecordVersion::V2),
            _ => None,
        }
    }

    /// Size of the TOPICLEN field.
    pub fn topic_len_size(self) -> usize {
        match self {
            RecordVersion::V1 => 1,
            RecordVersion::V2 => 2,
        }
    }
}

/// Exact record size for these lengths (the TOTALSIZE invariant), saturating on absurd input.
pub fn record_len(
    version: RecordVersion,
    sys_flag: i32,
    body_len: usize,
    topic_len: usize,
    properties_len: usize,
) -> usize {
    let fixed = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + 8 + 4 + 8;
    fixed
        + host_len(sysflag::born_host_v6(sys_flag))
        + host_len(sysflag::store_host_v6(sys_flag))
        + 4
        + version.topic_len_size()
        + 2
        + body_len
            .saturating_add(topic_len)
            .saturating_add(properties_len)
}

/// Size of the v1 record Apogee writes for these lengths (Java's `calMsgLength`).
pub fn record_len_v1(
    sys_flag: i32,
    body_len: usize,
    topic_len: usize,
    properties_len: usize,
) -> usize {
    record_len(
        RecordVersion::V1,
        sys_flag,
        body_len,
        topic_len,
        properties_len,
    )
}

/// What the first 8 bytes of a CommitLog position hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordHeader {
    /// A message record of `total_size` bytes (≥ the minimum for its version).
    Message {
        total_size: usize,
        version: RecordVersion,
    },
    /// The END-of-file blank: skip to the start of the next file. `total_size` is the raw
    /// TOTALSIZE field (the bytes that were left in the file), not validated.
    Blank { total_size: i32 },
}

/// Read TOTALSIZE and MAGICCODE. Errors: fewer than 8 bytes (incomplete), an unknown magic
/// (zero-filled space past the last record reads as magic 0), or a message TOTALSIZE below the
/// smallest possible record.
pub fn peek_header(buf: &[u8]) -> Result<RecordHeader> {
    let head = buf
        .get(..8)
        .ok_or_else(|| CodecError::incomplete(CTX, 0, 8, buf.len()))?;
    let (total, magic) = match (be_i32::<_, PErr>, be_i32::<_, PErr>).parse(head) {
        Ok((_, v)) => v,
        Err(e) => return Err(to_codec(CTX, head, e)),
    };
    if magic == BLANK_MAGIC {
        return Ok(RecordHeader::Blank { total_size: total });
    }
    let version = RecordVersion::from_magic(magic).ok_or_else(|| {
        CodecError::invalid(
            CTX,
            pos::MAGIC,
            format!("unknown magic code 0x{:08X}", magic as u32),
        )
    })?;
    let min = record_len(version, 0, 0, 0, 0);
    match usize::try_from(total) {
        Ok(t) if t >= min => Ok(RecordHeader::Message {
            total_size: t,
            version,
        }),
        _ => Err(CodecError::new(
            CTX,
            pos::TOTAL_SIZE,
            ErrorKind::BadLength {
                field: "TOTALSIZE",
                value: i64::from(total),
                limit: min as i64,
            },
        )),
    }
}

/// Decoder switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeOptions {
    /// Check BODYCRC against the body (only when the body is not empty, as Java's recovery
    /// does).
    pub verify_body_crc: bool,
}

impl DecodeOptions {
    /// Options with the body CRC check on.
    pub fn verify_crc() -> Self {
        DecodeOptions {
            verify_body_crc: true,
        }
    }
}

/// A stored message, borrowed from the bytes it was decoded from (or assembled for encoding).
///
/// `body`, `topic` and `properties` are the raw stored bytes: the body possibly compressed
/// (see [`MessageRecord::inflated_body`]), the topic UTF-8, the properties in the
/// `name 0x01 value 0x02 …` form (see [`super::properties`]). The TOTALSIZE and BODYLEN /
/// TOPICLEN / PROPERTIESLEN fields are not stored: they are implied by the slices
/// ([`MessageRecord::total_size`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRecord<'a> {
    /// Layout read; the encoder always writes [`RecordVersion::V1`].
    pub version: RecordVersion,
    /// BODYCRC as stored (see [`super::body_crc`]).
    pub body_crc: i32,
    pub queue_id: i32,
    /// `Message.flag` of the producer.
    pub flag: i32,
    /// Logical consume-queue offset.
    pub queue_offset: i64,
    /// CommitLog offset of this record (Java `commitLogOffset`).
    pub physical_offset: i64,
    /// See [`super::sysflag`]. Bits 0x10 / 0x20 must match the host address families.
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: &'a [u8],
    pub topic: &'a [u8],
    pub properties: &'a [u8],
}

impl<'a> MessageRecord<'a> {
    /// TOTALSIZE of this record in its own [`MessageRecord::version`] (what was decoded).
    pub fn total_size(&self) -> usize {
        record_len(
            self.version,
            self.sys_flag,
            self.body.len(),
            self.topic.len(),
            self.properties.len(),
        )
    }

    /// Exact size [`MessageRecord::encode_into`] writes (a v1 record). Errors when the record
    /// cannot be written: topic over 127 bytes, properties over 32767 bytes, total over
    /// `i32::MAX`, or sysFlag host bits that disagree with the address families.
    pub fn encoded_len(&self) -> Result<usize> {
        let unencodable = |what: String| CodecError::new(CTX, 0, ErrorKind::Unencodable(what));
        if self.topic.len() > MAX_TOPIC_LEN_V1 {
            return Err(unencodable(format!(
                "topic is {} bytes; a v1 record holds at most {MAX_TOPIC_LEN_V1}",
                self.topic.len()
            )));
        }
        if self.properties.len() > MAX_PROPERTIES_LEN {
            return Err(unencodable(format!(
                "properties are {} bytes; at most {MAX_PROPERTIES_LEN} fit",
                self.properties.len()
            )));
        }
        if sysflag::born_host_v6(self.sys_flag) != self.born_host.is_ipv6() {
            return Err(unencodable(format!(
                "BORNHOST {} does not match sysFlag 0x{:X} (bit 0x10 = IPv6)",
                self.born_host, self.sys_flag
            )));
        }
        if sysflag::store_host_v6(self.sys_flag) != self.store_host.is_ipv6() {
            return Err(unencodable(format!(
                "STOREHOST {} does not match sysFlag 0x{:X} (bit 0x20 = IPv6)",
                self.store_host, self.sys_flag
            )));
        }
        let len = record_len_v1(
            self.sys_flag,
            self.body.len(),
            self.topic.len(),
            self.properties.len(),
        );
        if len > i32::MAX as usize {
            return Err(unencodable(format!(
                "record of {len} bytes exceeds i32::MAX"
            )));
        }
        Ok(len)
    }

    /// Write the v1 record into the front of `out` (e.g. the mapped CommitLog at the write
    /// position); returns the bytes written, = [`MessageRecord::encoded_len`]. Errors if `out`
    /// is shorter or the record is unencodable; nothing is written then.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize> {
        let len = self.encoded_len()?;
        let have = out.len();
        let mut dst = out.get_mut(..len).ok_or_else(|| {
            CodecError::new(
                CTX,
                0,
                ErrorKind::Unencodable(format!(
                    "output buffer has {have} bytes, the record needs {len}"
                )),
            )
        })?;
        self.write_unchecked(&mut dst, len);
        Ok(len)
    }

    /// Append the v1 record to a growable buffer (`Vec<u8>`, `BytesMut`, …); returns its size.
    pub fn encode_to<B: BufMut>(&self, out: &mut B) -> Result<usize> {
        let len = self.encoded_len()?;
        if out.remaining_mut() < len {
            return Err(CodecError::new(
                CTX,
                0,
                ErrorKind::Unencodable(format!(
                    "output buffer has room for {} bytes, the record needs {len}",
                    out.remaining_mut()
                )),
            ));
        }
        self.write_unchecked(out, len);
        Ok(len)
    }

    /// The v1 record as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(self.encoded_len()?);
        self.encode_to(&mut v)?;
        Ok(v)
    }

    /// Write all fields; the caller has checked `encoded_len() == len` and the room.
    fn write_unchecked<B: BufMut>(&self, out: &mut B, len: usize) {
        out.put_i32(len as i32);
        out.put_i32(MAGIC_V1);
        out.put_i32(self.body_crc);
        out.put_i32(self.queue_id);
        out.put_i32(self.flag);
        out.put_i64(self.queue_offset);
        out.put_i64(self.physical_offset);
        out.put_i32(self.sys_flag);
        out.put_i64(self.born_timestamp);
        put_host(out, &self.born_host);
        out.put_i64(self.store_timestamp);
        put_host(out, &self.store_host);
        out.put_i32(self.reconsume_times);
        out.put_i64(self.prepared_transaction_offset);
        out.put_i32(self.body.len() as i32);
        out.put_slice(self.body);
        out.put_i8(self.topic.len() as i8);
        out.put_slice(self.topic);
        out.put_i16(self.properties.len() as i16);
        out.put_slice(self.properties);
    }

    /// Error unless BODYCRC matches the body (an empty body is not checked, as in Java).
    pub fn verify_body_crc(&self) -> Result<()> {
        if self.body.is_empty() {
            return Ok(());
        }
        let actual = body_crc(self.body);
        if actual != self.body_crc {
            return Err(CodecError::invalid(
                CTX,
                pos::BODY_CRC,
                format!(
                    "BODYCRC {} does not match the body (crc {actual})",
                    self.body_crc
                ),
            ));
        }
        Ok(())
    }

    /// The topic as text (error if not UTF-8).
    pub fn topic_str(&self) -> Result<&'a str> {
        std::str::from_utf8(self.topic)
            .map_err(|e| CodecError::new(CTX, e.valid_up_to(), ErrorKind::InvalidUtf8))
    }

    /// Entries of the properties string (borrowed, Java parsing rules).
    pub fn properties_iter(&self) -> PropertyIter<'a> {
        PropertyIter::new(self.properties)
    }

    /// Value of one property (last one wins), borrowed.
    pub fn property(&self, key: &str) -> Option<&'a [u8]> {
        properties::find_property(self.properties, key)
    }

    /// `TAGS`.
    pub fn tags(&self) -> Option<&'a [u8]> {
        self.property(keys::TAGS)
    }

    /// `KEYS` (space-separated list).
    pub fn keys(&self) -> Option<&'a [u8]> {
        self.property(keys::KEYS)
    }

    /// `UNIQ_KEY`.
    pub fn uniq_key(&self) -> Option<&'a [u8]> {
        self.property(keys::UNIQ_KEY)
    }

    /// Consume-queue tagsCode from `TAGS` (0 without tags). `SCHEDULE_TOPIC_XXXX` records use
    /// a delivery time instead, which the store computes.
    pub fn tags_code(&self) -> i64 {
        tags::tags_code(self.tags())
    }

    /// Offset msgId of this record (STOREHOST + PHYSICALOFFSET).
    pub fn offset_msg_id(&self) -> String {
        offset_msg_id(&self.store_host, self.physical_offset)
    }

    pub fn transaction_type(&self) -> TransactionType {
        TransactionType::from_sys_flag(self.sys_flag)
    }

    pub fn is_compressed(&self) -> bool {
        sysflag::is_compressed(self.sys_flag)
    }

    /// The body as a consumer sees it: inflated if COMPRESSED (at most `max_len` bytes),
    /// borrowed otherwise. LZ4/ZSTD bodies are an error.
    pub fn inflated_body(&self, max_len: usize) -> Result<Cow<'a, [u8]>> {
        compress::decompress_body(self.body, self.sys_flag, max_len)
    }
}

fn put_host<B: BufMut>(out: &mut B, host: &SocketAddr) {
    match host.ip() {
        IpAddr::V4(a) => out.put_slice(&a.octets()),
        IpAddr::V6(a) => out.put_slice(&a.octets()),
    }
    out.put_i32(i32::from(host.port()));
}

/// A host field: 4 or 16 address bytes, then the port as i32 (must be 0..=65535).
fn host<'a>(v6: bool, field: &'static str) -> impl FnMut(&'a [u8]) -> PResult<'a, SocketAddr> {
    move |input: &'a [u8]| {
        let (rest, ip) = if v6 {
            let (r, a) = be_u128(input)?;
            (r, IpAddr::V6(Ipv6Addr::from(a)))
        } else {
            let (r, a) = be_u32(input)?;
            (r, IpAddr::V4(Ipv4Addr::from(a)))
        };
        let (after, port) = be_i32(rest)?;
        match u16::try_from(port) {
            Ok(p) => Ok((after, SocketAddr::new(ip, p))),
            Err(_) => {
                PErr::invalid(rest, format!("{field} port {port} is outside 0..=65535")).fail()
            }
        }
    }
}

/// Parse a record that is exactly `rec` (cut at its TOTALSIZE, version from its magic).
fn parse_record(rec: &[u8], version: RecordVersion) -> PResult<'_, MessageRecord<'_>> {
    let total = rec.len();
    let min = record_len(version, 0, 0, 0, 0);
    let (_, ()) = ensure(rec, min)?;
    let (i, (_total, _magic, body_crc, queue_id, flag, queue_offset, physical_offset)) =
        (be_i32, be_i32, be_i32, be_i32, be_i32, be_i64, be_i64).parse(rec)?;
    let (i, (sys_flag, born_timestamp)) = (be_i32, be_i64).parse(i)?;

    let fixed_min = record_len(version, sys_flag, 0, 0, 0);
    if total < fixed_min {
        return PErr::bad_length(rec, "TOTALSIZE", total as i64, fixed_min as i64).fail();
    }
    let (i, (born_host, store_timestamp, store_host, reconsume_times, prepared)) = (
        host(sysflag::born_host_v6(sys_flag), "BORNHOST"),
        be_i64,
        host(sysflag::store_host_v6(sys_flag), "STOREHOST"),
        be_i32,
        be_i64,
    )
        .parse(i)?;

    let tail = version.topic_len_size() + 2;
    let (i, body) = length_prefixed("BODYLEN", tail, be_i32).parse(i)?;
    let (i, topic) = match version {
        RecordVersion::V1 => length_prefixed("TOPICLEN", 2, be_i8).parse(i)?,
        RecordVersion::V2 => length_prefixed("TOPICLEN", 2, be_i16).parse(i)?,
    };
    let (i, properties) = length_prefixed("PROPERTIESLEN", 0, be_i16).parse(i)?;
    if !i.is_empty() {
        let used = total - i.len();
        return PErr::bad_length(rec, "TOTALSIZE", total as i64, used as i64).fail();
    }
    Ok((
        i,
        MessageRecord {
            version,
            body_crc,
            queue_id,
            flag,
            queue_offset,
            physical_offset,
            sys_flag,
            born_timestamp,
            born_host,
            store_timestamp,
            store_host,
            reconsume_times,
            prepared_transaction_offset: prepared,
            body,
            topic,
            properties,
        },
    ))
}

/// Decode one message record from the front of `buf`; returns it and the bytes consumed
/// (= TOTALSIZE). Trailing bytes are left alone. See [`decode_record_with`].
pub fn decode_record(buf: &[u8]) -> Result<(MessageRecord<'_>, usize)> {
    decode_record_with(buf, DecodeOptions::default())
}

/// Decode one message record from the front of `buf`.
///
/// Errors (offsets relative to `buf`): fewer bytes than TOTALSIZE (incomplete: `need` =
/// TOTALSIZE), the END-of-file blank (use [`decode_entry`] where blanks may occur), an
/// unknown magic, length fields that disagree with TOTALSIZE, a port outside `0..=65535`,
/// and — with [`DecodeOptions::verify_body_crc`] — a BODYCRC mismatch.
pub fn decode_record_with(buf: &[u8], opts: DecodeOptions) -> Result<(MessageRecord<'_>, usize)> {
    match decode_entry_with(buf, opts)? {
        CommitLogEntry::Message(rec) => {
            let n = rec.total_size();
            Ok((rec, n))
        }
        CommitLogEntry::Blank { .. } => Err(CodecError::invalid(
            CTX,
            pos::MAGIC,
            "END-of-file blank record (magic 0xCBD43194) where a message record was expected",
        )),
    }
}

/// What a CommitLog position holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitLogEntry<'a> {
    /// A message record; its size is [`MessageRecord::total_size`].
    Message(MessageRecord<'a>),
    /// The END-of-file blank: continue at the next file's start. `total_size` is the raw
    /// TOTALSIZE field (bytes that were left in the file).
    Blank { total_size: i32 },
}

/// Decode the entry at the front of `buf` (a CommitLog file from the read position): a
/// message record or the END-of-file blank. Errors as [`decode_record_with`]; zero-filled
/// space after the last record is an "unknown magic 0x00000000" error.
pub fn decode_entry(buf: &[u8]) -> Result<CommitLogEntry<'_>> {
    decode_entry_with(buf, DecodeOptions::default())
}

/// [`decode_entry`] with options.
pub fn decode_entry_with(buf: &[u8], opts: DecodeOptions) -> Result<CommitLogEntry<'_>> {
    let (total_size, version) = match peek_header(buf)? {
        RecordHeader::Blank { total_size } => return Ok(CommitLogEntry::Blank { total_size }),
        RecordHeader::Message {
            total_size,
            version,
        } => (total_size, version),
    };
    let rec = buf
        .get(..total_size)
        .ok_or_else(|| CodecError::incomplete(CTX, 0, total_size, buf.len()))?;
    let (_, record) = parse_record(rec, version).map_err(|e| to_codec(CTX, rec, e))?;
    if opts.verify_body_crc {
        record.verify_body_crc()?;
    }
    Ok(CommitLogEntry::Message(record))
}

/// Iterator over a concatenation of records (a pull / query response body). Yields each
/// record; on the first bad one it yields the error (offset relative to the whole buffer)
/// and then stops.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    buf: &'a [u8],
    pos: usize,
    opts: DecodeOptions,
    failed: bool,
}

impl<'a> RecordIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_options(buf, DecodeOptions::default())
    }

    pub fn with_options(buf: &'a [u8], opts: DecodeOptions) -> Self {
        RecordIter {
            buf,
            pos: 0,
            opts,
            failed: false,
        }
    }

    /// Offset of the next record within the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<MessageRecord<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = self.buf.get(self.pos..).filter(|r| !r.is_empty())?;
        match decode_record_with(rest, self.opts) {
            Ok((rec, n)) => {
                self.pos += n;
                Some(Ok(rec))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e.at(self.pos)))
            }
        }
    }
}

impl std::iter::FusedIterator for RecordIter<'_> {}

/// Iterate the records of a pull / query body (see [`RecordIter`]).
pub fn iter_records(buf: &[u8]) -> RecordIter<'_> {
    RecordIter::new(buf)
}

fn patch_at(record: &mut [u8], at: usize, bytes: &[u8], field: &'static str) -> Result<()> {
    let have = record.len();
    let dst = record.get_mut(at..at + bytes.len()).ok_or_else(|| {
        CodecError::invalid(
            CTX,
            at,
            format!("cannot patch {field}: the record has only {have} bytes"),
        )
    })?;
    dst.copy_from_slice(bytes);
    Ok(())
}

/// Overwrite QUEUEOFFSET of an encoded record (for encoding outside the put lock and fixing
/// the offsets inside it, as Java does).
pub fn patch_queue_offset(record: &mut [u8], queue_offset: i64) -> Result<()> {
    patch_at(
        record,
        pos::QUEUE_OFFSET,
        &queue_offset.to_be_bytes(),
        "QUEUEOFFSET",
    )
}

/// Overwrite PHYSICALOFFSET of an encoded record.
pub fn patch_physical_offset(record: &mut [u8], physical_offset: i64) -> Result<()> {
    patch_at(
        record,
        pos::PHYSICAL_OFFSET,
        &physical_offset.to_be_bytes(),
        "PHYSICALOFFSET",
    )
}

/// Overwrite STORETIMESTAMP of an encoded record (its position depends on the SYSFLAG read
/// from the record).
pub fn patch_store_timestamp(record: &mut [u8], store_timestamp: i64) -> Result<()> {
    let sys_flag = record
        .get(pos::SYS_FLAG..pos::SYS_FLAG + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(i32::from_be_bytes)
        .ok_or_else(|| CodecError::incomplete(CTX, pos::SYS_FLAG, 4, 0))?;
    patch_at(
        record,
        pos::store_timestamp(sys_flag),
        &store_timestamp.to_be_bytes(),
        "STORETIMESTAMP",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::message_ext::MessageExt;
    use crate::message::test_support::{self, sha256_hex};
    use proptest::prelude::*;

    fn v4(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn sample<'a>(body: &'a [u8], topic: &'a [u8], props: &'a [u8]) -> MessageRecord<'a> {
        MessageRecord {
            version: RecordVersion::V1,
            body_crc: body_crc(body),
            queue_id: 3,
            flag: 961,
            queue_offset: 7,
            physical_offset: 1338,
            sys_flag: 0,
            born_timestamp: 1_795_520_097_923,
            born_host: v4("127.0.0.1:37888"),
            store_timestamp: 1_795_520_097_963,
            store_host: v4("127.0.0.1:40911"),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body,
            topic,
            properties: props,
        }
    }

    #[test]
    fn layout_and_round_trip() {
        let rec = sample(b"hello", b"FixA", b"TAGS\x01TagA");
        let bytes = rec.to_vec().unwrap();
        assert_eq!(bytes.len(), 91 + 5 + 4 + 9);
        assert_eq!(rec.encoded_len().unwrap(), bytes.len());
        assert_eq!(rec.total_size(), bytes.len());
        assert_eq!(&bytes[0..4], &(bytes.len() as i32).to_be_bytes());
        assert_eq!(&bytes[4..8], &[0xDA, 0xA3, 0x20, 0xA7]);
        assert_eq!(&bytes[48..52], &[127, 0, 0, 1]);
        assert_eq!(&bytes[52..56], &37888i32.to_be_bytes());
        assert_eq!(pos::body_len(0), 84);
        assert_eq!(&bytes[84..88], &5i32.to_be_bytes());
        let (back, n) = decode_record_with(&bytes, DecodeOptions::verify_crc()).unwrap();
        assert_eq!(n, bytes.len());
        assert_eq!(back, rec);
        assert_eq!(back.tags(), Some(&b"TagA"[..]));
        assert_eq!(back.tags_code(), 2_598_919);
        assert_eq!(back.topic_str().unwrap(), "FixA");
        assert_eq!(back.offset_msg_id(), "7F00000100009FCF000000000000053A");

        let mut buf = vec![0xEE; bytes.len() + 10];
        assert_eq!(rec.encode_into(&mut buf).unwrap(), bytes.len());
        assert_eq!(&buf[..bytes.len()], &bytes[..]);
        assert!(buf[bytes.len()..].iter().all(|&b| b == 0xEE));
        assert!(rec.encode_into(&mut buf[..bytes.len() - 1]).is_err());
        let mut bm = bytes::BytesMut::new();
        rec.encode_to(&mut bm).unwrap();
        assert_eq!(&bm[..], &bytes[..]);
    }

    #[test]
    fn ipv6_hosts_and_v2_magic() {
        let mut rec = sample(b"", b"T", b"");
        rec.born_host = "[fd00::2]:1".parse().unwrap();
        assert!(rec.encoded_len().is_err(), "host bits must match");
        rec.sys_flag = sysflag::with_host_flags(rec.sys_flag, &rec.born_host, &rec.store_host);
        assert_eq!(rec.sys_flag, BORNHOST_V6);
        let bytes = rec.to_vec().unwrap();
        assert_eq!(bytes.len(), 91 + 12 + 1);
        assert_eq!(pos::store_timestamp(rec.sys_flag), 68);
        assert_eq!(decode_record(&bytes).unwrap().0, rec);
        rec.store_host = "[::1]:2".parse().unwrap();
        rec.sys_flag |= STOREHOST_V6;
        let bytes = rec.to_vec().unwrap();
        assert_eq!(bytes.len(), 91 + 24 + 1);
        assert_eq!(decode_record(&bytes).unwrap().0, rec);

        // A v2 record: same fields, magic 0xDAA320AB and an i16 topic length.
        let v1 = sample(b"xy", b"TopicV2", b"A\x01b").to_vec().unwrap();
        let topic_at = 84 + 4 + 2;
        let mut v2 = Vec::new();
        v2.extend_from_slice(&((v1.len() + 1) as i32).to_be_bytes());
        v2.extend_from_slice(&MAGIC_V2.to_be_bytes());
        v2.extend_from_slice(&v1[8..topic_at]);
        v2.extend_from_slice(&7i16.to_be_bytes());
        v2.extend_from_slice(&v1[topic_at + 1..]);
        let (r, n) = decode_record(&v2).unwrap();
        assert_eq!(n, v2.len());
        assert_eq!(r.version, RecordVersion::V2);
        assert_eq!(r.topic, b"TopicV2");
        assert_eq!(r.properties, b"A\x01b");
        // re-encoded as v1
        assert_eq!(r.to_vec().unwrap(), v1);
    }

    #[test]
    fn blank_and_bad_headers() {
        let mut blank = vec![0u8; 100];
        blank[0..4].copy_from_slice(&100i32.to_be_bytes());
        blank[4..8].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
        assert_eq!(
            decode_entry(&blank).unwrap(),
            CommitLogEntry::Blank { total_size: 100 }
        );
        assert_eq!(
            peek_header(&blank).unwrap(),
            RecordHeader::Blank { total_size: 100 }
        );
        assert!(decode_record(&blank)
            .unwrap_err()
            .to_string()
            .contains("blank"));
        let zeros = [0u8; 16];
        let e = decode_entry(&zeros).unwrap_err();
        assert!(e.to_string().contains("unknown magic"), "{e}");
        assert!(decode_entry(&zeros[..7]).unwrap_err().is_incomplete());
        let mut small = sample(b"", b"", b"").to_vec().unwrap();
        small[0..4].copy_from_slice(&90i32.to_be_bytes());
        assert!(matches!(
            decode_record(&small).unwrap_err().kind,
            ErrorKind::BadLength {
                field: "TOTALSIZE",
                value: 90,
                limit: 91
            }
        ));
    }

    #[test]
    fn lying_lengths_are_errors() {
        let good = sample(b"body", b"Topic", b"K\x01V").to_vec().unwrap();
        // BODYLEN too large
        let mut b = good.clone();
        b[84..88].copy_from_slice(&1000i32.to_be_bytes());
        let e = decode_record(&b).unwrap_err();
        assert!(
            matches!(
                e.kind,
                ErrorKind::BadLength {
                    field: "BODYLEN",
                    value: 1000,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.offset, 84);
        // negative BODYLEN
        b[84..88].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            decode_record(&b).unwrap_err().kind,
            ErrorKind::BadLength {
                field: "BODYLEN",
                ..
            }
        ));
        // BODYLEN too small: the rest no longer adds up
        b[84..88].copy_from_slice(&3i32.to_be_bytes());
        assert!(decode_record(&b).is_err());
        // TOTALSIZE larger than the fields: trailing garbage inside the record
        let mut t = good.clone();
        t.push(0);
        t[0..4].copy_from_slice(&((good.len() + 1) as i32).to_be_bytes());
        let e = decode_record(&t).unwrap_err();
        assert!(
            matches!(
                e.kind,
                ErrorKind::BadLength {
                    field: "TOTALSIZE",
                    ..
                }
            ),
            "{e}"
        );
        // TOTALSIZE larger than the buffer: incomplete
        let e = decode_record(&good[..good.len() - 1]).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::Incomplete {
                need: good.len(),
                have: good.len() - 1
            }
        );
        // bad CRC
        let mut c = good.clone();
        c[88] ^= 1;
        assert!(decode_record(&c).is_ok());
        assert!(decode_record_with(&c, DecodeOptions::verify_crc()).is_err());
        // bad port
        let mut p = good.clone();
        p[52..56].copy_from_slice(&70000i32.to_be_bytes());
        assert!(decode_record(&p).unwrap_err().to_string().contains("port"));
        // oversize fields cannot be encoded
        let long_topic = vec![b'a'; 128];
        assert!(sample(b"", &long_topic, b"").encoded_len().is_err());
        let long_props = vec![b'a'; 32768];
        assert!(sample(b"", b"", &long_props).encoded_len().is_err());
    }

    #[test]
    fn iterator_and_patches() {
        let a = sample(b"one", b"T", b"").to_vec().unwrap();
        let mut rec_b = sample(b"two", b"T", b"");
        rec_b.queue_offset = 8;
        let mut b = rec_b.to_vec().unwrap();
        patch_queue_offset(&mut b, 99).unwrap();
        patch_physical_offset(&mut b, 1234).unwrap();
        patch_store_timestamp(&mut b, 42).unwrap();
        let mut body = a.clone();
        body.extend_from_slice(&b);
        let recs: Vec<_> = iter_records(&body).collect::<Result<_>>().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].queue_offset, 99);
        assert_eq!(recs[1].physical_offset, 1234);
        assert_eq!(recs[1].store_timestamp, 42);
        assert_eq!(recs[1].body, b"two");
        // a truncated tail yields one error, offset relative to the whole body, then stops
        let cut = &body[..body.len() - 3];
        let mut it = iter_records(cut);
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.offset, a.len());
        assert!(it.next().is_none());
        assert_eq!(iter_records(&[]).count(), 0);
        assert!(patch_queue_offset(&mut [0u8; 10], 1).is_err());
        assert!(patch_store_timestamp(&mut [0u8; 10], 1).is_err());
    }

    /// The Java-written store: every record decodes to the manifest's fields, passes its CRC,
    /// re-encodes (view and owned form) to the original bytes / `recordSha256`, and a
    /// sequential walk of every CommitLog file meets the records and blanks in manifest order.
    #[test]
    fn fixture_commitlog_round_trip() {
        let store = test_support::CleanStore::extract("record-round-trip");
        let files = store.commitlog_files();
        assert_eq!(files.len(), 9);
        let file_size = 1u64 << 20;
        let find = |offset: u64| -> &[u8] {
            let (start, data) = files
                .iter()
                .find(|(s, _)| *s <= offset && offset < s + file_size)
                .expect("file for offset");
            &data[(offset - start) as usize..]
        };

        let mut compressed = 0;
        for m in test_support::manifest_messages() {
            let off = m["commitLogOffset"].as_u64().unwrap();
            let buf = find(off);
            let (rec, n) = decode_record_with(buf, DecodeOptions::verify_crc()).unwrap();
            let original = &buf[..n];
            assert_eq!(n as u64, m["storeSize"].as_u64().unwrap());
            assert_eq!(sha256_hex(original), m["recordSha256"].as_str().unwrap());
            assert_eq!(rec.version, RecordVersion::V1);
            assert_eq!(rec.topic_str().unwrap(), m["topic"].as_str().unwrap());
            assert_eq!(i64::from(rec.queue_id), m["queueId"].as_i64().unwrap());
            assert_eq!(rec.queue_offset, m["queueOffset"].as_i64().unwrap());
            assert_eq!(rec.physical_offset as u64, off);
            assert_eq!(i64::from(rec.flag), m["flag"].as_i64().unwrap());
            assert_eq!(i64::from(rec.sys_flag), m["sysFlag"].as_i64().unwrap());
            assert_eq!(rec.born_timestamp, m["bornTimestamp"].as_i64().unwrap());
            assert_eq!(rec.store_timestamp, m["storeTimestamp"].as_i64().unwrap());
            assert_eq!(rec.born_host.to_string(), m["bornHost"].as_str().unwrap());
            assert_eq!(rec.store_host.to_string(), m["storeHost"].as_str().unwrap());
            assert_eq!(
                i64::from(rec.reconsume_times),
                m["reconsumeTimes"].as_i64().unwrap()
            );
            assert_eq!(
                rec.prepared_transaction_offset,
                m["preparedTransactionOffset"].as_i64().unwrap()
            );
            assert_eq!(
                rec.properties,
                m["propertiesRaw"].as_str().unwrap().as_bytes()
            );
            assert_eq!(i64::from(rec.body_crc), m["bodyCrc"].as_i64().unwrap());
            assert_eq!(
                rec.body.len() as u64,
                m["storedBodyLength"].as_u64().unwrap()
            );
            assert_eq!(
                sha256_hex(rec.body),
                m["storedBodySha256"].as_str().unwrap()
            );
            assert_eq!(rec.offset_msg_id(), m["msgId"].as_str().unwrap());
            assert_eq!(rec.is_compressed(), m["compressed"].as_bool().unwrap());
            let plain = rec.inflated_body(4 << 20).unwrap();
            assert_eq!(plain.len() as u64, m["bodyLength"].as_u64().unwrap());
            assert_eq!(sha256_hex(&plain), m["bodySha256"].as_str().unwrap());
            if rec.is_compressed() {
                compressed += 1;
            }
            if m["topic"] != "SCHEDULE_TOPIC_XXXX" {
                assert_eq!(rec.tags_code(), m["expectedCqTagsCode"].as_i64().unwrap());
            }

            // Re-encode from the decoded view.
            let again = rec.to_vec().unwrap();
            assert_eq!(again, original);
            assert_eq!(sha256_hex(&again), m["recordSha256"].as_str().unwrap());
            let mut into = vec![0u8; n];
            rec.encode_into(&mut into).unwrap();
            assert_eq!(into, original);

            // Re-encode from the owned form (parsed properties map).
            let owned = MessageExt::from_record(&rec);
            assert_eq!(owned.to_vec().unwrap(), original);
        }
        assert!(compressed > 1000);

        // Sequential walk: records and blanks exactly as in the manifest.
        let expected: Vec<(u64, bool)> = test_support::manifest()
            .iter()
            .filter(|v| v["type"] == "message" || v["type"] == "blank")
            .map(|v| (v["commitLogOffset"].as_u64().unwrap(), v["type"] == "blank"))
            .collect();
        let mut seen = Vec::new();
        let mut end = 0;
        for (start, data) in &files {
            let mut p = 0usize;
            loop {
                match decode_entry_with(&data[p..], DecodeOptions::verify_crc()) {
                    Ok(CommitLogEntry::Message(r)) => {
                        assert_eq!(r.physical_offset as u64, start + p as u64);
                        seen.push((start + p as u64, false));
                        p += r.total_size();
                        end = start + p as u64;
                    }
                    Ok(CommitLogEntry::Blank { total_size }) => {
                        assert_eq!(total_size as usize, data.len() - p);
                        seen.push((start + p as u64, true));
                        break;
                    }
                    Err(e) => {
                        // only the last file ends in zero fill
                        assert_eq!(*start, files.last().unwrap().0, "{e}");
                        assert!(data[p..].iter().all(|&b| b == 0));
                        break;
                    }
                }
                if p == data.len() {
                    break;
                }
            }
        }
        assert_eq!(seen, expected);
        assert_eq!(end, 8_884_247);

        // A pull body: FixB queue 0 records concatenated, in queue order.
        let mut pull = Vec::new();
        let mut offsets = Vec::new();
        for m in test_support::manifest_messages() {
            if m["topic"] == "FixB" && m["queueId"] == 0 {
                let buf = find(m["commitLogOffset"].as_u64().unwrap());
                let n = m["storeSize"].as_u64().unwrap() as usize;
                pull.extend_from_slice(&buf[..n]);
                offsets.push(m["queueOffset"].as_i64().unwrap());
            }
        }
        let got: Vec<i64> = iter_records(&pull)
            .map(|r| r.unwrap().queue_offset)
            .collect();
        assert_eq!(got, offsets);
        assert_eq!(got.len(), 96);
    }

    fn socket_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
            (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
        ]
    }

    #[derive(Debug, Clone)]
    struct Owned {
        fields: (i32, i32, i32, i64, i64, i32, i64, i64, i32, i64),
        born: SocketAddr,
        store: SocketAddr,
        body: Vec<u8>,
        topic: Vec<u8>,
        props: Vec<u8>,
    }

    impl Owned {
        fn view(&self) -> MessageRecord<'_> {
            let (crc, qid, flag, qo, po, sf, bt, st, rt, pto) = self.fields;
            MessageRecord {
                version: RecordVersion::V1,
                body_crc: crc,
                queue_id: qid,
                flag,
                queue_offset: qo,
                physical_offset: po,
                sys_flag: sysflag::with_host_flags(sf, &self.born, &self.store),
                born_timestamp: bt,
                born_host: self.born,
                store_timestamp: st,
                store_host: self.store,
                reconsume_times: rt,
                prepared_transaction_offset: pto,
                body: &self.body,
                topic: &self.topic,
                properties: &self.props,
            }
        }
    }

    fn record_strategy() -> impl Strategy<Value = Owned> {
        (
            (
                any::<i32>(),
                any::<i32>(),
                any::<i32>(),
                any::<i64>(),
                any::<i64>(),
                any::<i32>(),
                any::<i64>(),
                any::<i64>(),
                any::<i32>(),
                any::<i64>(),
            ),
            socket_addr(),
            socket_addr(),
            proptest::collection::vec(any::<u8>(), 0..600),
            proptest::collection::vec(any::<u8>(), 0..=127),
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(fields, born, store, body, topic, props)| Owned {
                fields,
                born,
                store,
                body,
                topic,
                props,
            })
    }

    proptest! {
        #[test]
        fn record_round_trip(recs in proptest::collection::vec(record_strategy(), 1..4)) {
            let mut all = Vec::new();
            for r in &recs {
                let v = r.view();
                let bytes = v.to_vec().unwrap();
                prop_assert_eq!(bytes.len(), v.encoded_len().unwrap());
                let (back, n) = decode_record(&bytes).unwrap();
                prop_assert_eq!(n, bytes.len());
                prop_assert_eq!(back, v);
                all.extend_from_slice(&bytes);
            }
            let back: Vec<_> = iter_records(&all).collect::<Result<_>>().unwrap();
            prop_assert_eq!(back.len(), recs.len());
            for (b, r) in back.iter().zip(&recs) {
                prop_assert_eq!(*b, r.view());
            }
        }

        /// Truncations never decode and never panic; byte flips never panic, and whatever
        /// still decodes re-encodes to exactly the flipped bytes.
        #[test]
        fn damage_never_panics(r in record_strategy(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
            let bytes = r.view().to_vec().unwrap();
            for cut in 0..bytes.len() {
                let e = decode_record(&bytes[..cut]).unwrap_err();
                prop_assert!(e.is_incomplete());
                let _ = decode_entry(&bytes[..cut]);
            }
            let mut damaged = bytes.clone();
            for (at, x) in flips {
                let i = at % damaged.len();
                damaged[i] ^= x | 1;
            }
            for opts in [DecodeOptions::default(), DecodeOptions::verify_crc()] {
                if let Ok((rec, n)) = decode_record_with(&damaged, opts) {
                    prop_assert!(n <= damaged.len());
                    if rec.version == RecordVersion::V1 {
                        prop_assert_eq!(rec.to_vec().unwrap(), &damaged[..n]);
                    }
                }
            }
            let _ = iter_records(&damaged).count();
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200), magic in 0u8..4) {
            let mut data = data;
            if data.len() >= 8 {
                let m = [MAGIC_V1, MAGIC_V2, BLANK_MAGIC, 0][magic as usize];
                data[4..8].copy_from_slice(&m.to_be_bytes());
                let len = data.len() as i32;
                data[0..4].copy_from_slice(&len.to_be_bytes());
            }
            let _ = decode_entry(&data);
            let _ = iter_records(&data).count();
        }
    }
}
