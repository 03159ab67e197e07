//! [`MessageExt`]: an owned stored message (Java's `MessageExt`), for code that keeps or
//! rewrites messages (retry, delay, transactions, the bench client) rather than streaming
//! the stored bytes.

use std::borrow::Cow;
use std::net::SocketAddr;

use bytes::{BufMut, Bytes};

use crate::error::Result;

use super::compress;
use super::message_id::offset_msg_id;
use super::properties::{keys, MessageProperties};
use super::record::{MessageRecord, RecordVersion};
use super::sysflag::{self, TransactionType};
use super::tags;

/// An owned stored message. Field meanings are those of [`MessageRecord`]; the topic is text
/// and the properties are parsed (order and duplicates kept, so re-encoding a decoded record
/// reproduces its bytes exactly, see [`MessageProperties`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    pub topic: String,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    /// CommitLog offset (Java `commitLogOffset`).
    pub physical_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    /// BODYCRC as read (recompute with [`super::body_crc`] after changing the body).
    pub body_crc: i32,
    /// Stored body (compressed if [`sysflag::COMPRESSED`] is set).
    pub body: Bytes,
    pub properties: MessageProperties,
}

impl MessageExt {
    /// Copy a record view. The topic and properties are decoded as UTF-8 with U+FFFD for
    /// invalid bytes, as Java's `new String(bytes, UTF_8)` does.
    pub fn from_record(rec: &MessageRecord<'_>) -> Self {
        Self::build(rec, Bytes::copy_from_slice(rec.body))
    }

    /// Like [`MessageExt::from_record`], but the body shares `source`'s memory when the
    /// record's body lies inside it (e.g. the record was decoded from `source`); otherwise it
    /// is copied.
    pub fn from_record_in(rec: &MessageRecord<'_>, source: &Bytes) -> Self {
        let body =
            subslice_of(source, rec.body).unwrap_or_else(|| Bytes::copy_from_slice(rec.body));
        Self::build(rec, body)
    }

    fn build(rec: &MessageRecord<'_>, body: Bytes) -> Self {
        MessageExt {
            topic: String::from_utf8_lossy(rec.topic).into_owned(),
            queue_id: rec.queue_id,
            flag: rec.flag,
            queue_offset: rec.queue_offset,
            physical_offset: rec.physical_offset,
            sys_flag: rec.sys_flag,
            born_timestamp: rec.born_timestamp,
            born_host: rec.born_host,
            store_timestamp: rec.store_timestamp,
            store_host: rec.store_host,
            reconsume_times: rec.reconsume_times,
            prepared_transaction_offset: rec.prepared_transaction_offset,
            body_crc: rec.body_crc,
            body,
            properties: MessageProperties::parse(rec.properties),
        }
    }

    /// A borrowed view of this message over an already encoded properties string
    /// (`self.properties.encode()`), for encoding.
    pub fn as_record<'a>(&'a self, encoded_properties: &'a [u8]) -> MessageRecord<'a> {
        MessageRecord {
            version: RecordVersion::V1,
            body_crc: self.body_crc,
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            physical_offset: self.physical_offset,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: &self.body,
            topic: self.topic.as_bytes(),
            properties: encoded_properties,
        }
    }

    /// Size of the v1 record (Java `storeSize`); errors as [`MessageRecord::encoded_len`].
    pub fn encoded_len(&self) -> Result<usize> {
        let props = self.properties.encode();
        self.as_record(&props).encoded_len()
    }

    /// Write the v1 record into the front of `out`; see [`MessageRecord::encode_into`].
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize> {
        let props = self.properties.encode();
        self.as_record(&props).encode_into(out)
    }

    /// Append the v1 record to a growable buffer; see [`MessageRecord::encode_to`].
    pub fn encode_to<B: BufMut>(&self, out: &mut B) -> Result<usize> {
        let props = self.properties.encode();
        self.as_record(&props).encode_to(out)
    }

    /// The v1 record as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let props = self.properties.encode();
        self.as_record(&props).to_vec()
    }

    /// Offset msgId (STOREHOST + PHYSICALOFFSET).
    pub fn offset_msg_id(&self) -> String {
        offset_msg_id(&self.store_host, self.physical_offset)
    }

    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key)
    }

    pub fn tags(&self) -> Option<&str> {
        self.properties.get(keys::TAGS)
    }

    pub fn keys(&self) -> Option<&str> {
        self.properties.get(keys::KEYS)
    }

    pub fn uniq_key(&self) -> Option<&str> {
        self.properties.get(keys::UNIQ_KEY)
    }

    /// Consume-queue tagsCode of `TAGS` (0 without tags).
    pub fn tags_code(&self) -> i64 {
        tags::tags_code(self.tags().map(str::as_bytes))
    }

    pub fn transaction_type(&self) -> TransactionType {
        TransactionType::from_sys_flag(self.sys_flag)
    }

    pub fn is_compressed(&self) -> bool {
        sysflag::is_compressed(self.sys_flag)
    }

    /// The body as a consumer sees it (inflated if COMPRESSED, at most `max_len` bytes).
    pub fn inflated_body(&self, max_len: usize) -> Result<Cow<'_, [u8]>> {
        compress::decompress_body(&self.body, self.sys_flag, max_len)
    }
}

impl From<&MessageRecord<'_>> for MessageExt {
    fn from(rec: &MessageRecord<'_>) -> Self {
        MessageExt::from_record(rec)
    }
}

/// `part` as a zero-copy slice of `source`, if it lies inside it.
fn subslice_of(source: &Bytes, part: &[u8]) -> Option<Bytes> {
    if part.is_empty() {
        return Some(Bytes::new());
    }
    let base = source.as_ptr() as usize;
    let start = (part.as_ptr() as usize).checked_sub(base)?;
    let end = start.checked_add(part.len())?;
    if end > source.len() {
        return None;
    }
    Some(source.slice(start..end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::crc::body_crc;
    use crate::message::record::decode_record;

    #[test]
    fn owned_round_trip_and_zero_copy() {
        let props = b"TAGS\x01TagA\x02KEYS\x01a b\x02W\x011\x02W\x012";
        let rec = MessageRecord {
            version: RecordVersion::V1,
            body_crc: body_crc(b"payload"),
            queue_id: 1,
            flag: 2,
            queue_offset: 3,
            physical_offset: 4,
            sys_flag: 0,
            born_timestamp: 5,
            born_host: "10.0.0.1:1234".parse().unwrap(),
            store_timestamp: 6,
            store_host: "10.0.0.2:10911".parse().unwrap(),
            reconsume_times: 7,
            prepared_transaction_offset: 8,
            body: b"payload",
            topic: b"Topic",
            properties: props,
        };
        let src = Bytes::from(rec.to_vec().unwrap());
        let (view, _) = decode_record(&src).unwrap();
        let owned = MessageExt::from_record_in(&view, &src);
        assert_eq!(owned.body.as_ptr(), view.body.as_ptr(), "zero-copy body");
        assert_eq!(owned.topic, "Topic");
        assert_eq!(owned.property("W"), Some("2"));
        assert_eq!(owned.tags(), Some("TagA"));
        assert_eq!(owned.keys(), Some("a b"));
        assert_eq!(owned.to_vec().unwrap(), &src[..]);
        assert_eq!(owned.encoded_len().unwrap(), src.len());
        let copied = MessageExt::from(&view);
        assert_ne!(copied.body.as_ptr(), view.body.as_ptr());
        assert_eq!(copied, owned);
        // outside the source: copied
        let other = Bytes::from_static(b"xyz");
        assert_eq!(
            MessageExt::from_record_in(&view, &other).body,
            &b"payload"[..]
        );

        let mut changed = owned.clone();
        changed.properties.insert("TAGS", "TagB");
        changed.body = Bytes::from_static(b"new body");
        changed.body_crc = body_crc(&changed.body);
        let bytes = changed.to_vec().unwrap();
        let (v, _) = decode_record(&bytes).unwrap();
        assert_eq!(v.tags(), Some(&b"TagB"[..]));
        assert_eq!(v.body, b"new body");
        assert_eq!(changed.offset_msg_id(), "0A00000200002A9F0000000000000004");
    }
}
