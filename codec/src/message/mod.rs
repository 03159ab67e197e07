//! Stored messages: the CommitLog / pull-body record, its sysFlag, properties string, batch
//! request bodies, message ids, body CRC, tag hash codes and body compression.
//!
//! Everything here is byte-exact with Apache RocketMQ 4.9.8 (checked against a store written
//! by the Java broker, see the fixture tests) and never panics on any input.
//!
//! | module | what |
//! |---|---|
//! | [`record`] | [`MessageRecord`] (zero-copy view, decoder, exact-length encoder), blank records, [`RecordIter`] |
//! | [`message_ext`] | [`MessageExt`], the owned form |
//! | [`sysflag`] | SYSFLAG bits and helpers |
//! | [`properties`] | the `name 0x01 value 0x02 …` string, [`find_property`], [`MessageProperties`], key names |
//! | [`batch`] | SEND_BATCH_MESSAGE bodies |
//! | [`message_id`] | offset msgId and `UNIQ_KEY` |
//! | [`crc`] | BODYCRC |
//! | [`tags`] | Java `String.hashCode()` tag codes, TAG subscription expressions |
//! | [`compress`] | zlib bodies (LZ4 / ZSTD reported as unsupported) |
//!
//! Typical store use:
//!
//! ```
//! use apogee_codec::message::{self, CommitLogEntry, DecodeOptions, MessageRecord, RecordVersion};
//!
//! let body = b"hello";
//! let born: std::net::SocketAddr = "127.0.0.1:37888".parse().unwrap();
//! let store: std::net::SocketAddr = "127.0.0.1:10911".parse().unwrap();
//! let rec = MessageRecord {
//!     version: RecordVersion::V1,
//!     body_crc: message::body_crc(body),
//!     queue_id: 0,
//!     flag: 0,
//!     queue_offset: 0,
//!     physical_offset: 0,
//!     sys_flag: message::sysflag::with_host_flags(0, &born, &store),
//!     born_timestamp: 1,
//!     born_host: born,
//!     store_timestamp: 2,
//!     store_host: store,
//!     reconsume_times: 0,
//!     prepared_transaction_offset: 0,
//!     body,
//!     topic: b"TopicA",
//!     properties: b"TAGS\x01TagA\x02CLUSTER\x01DefaultCluster",
//! };
//! let mut mapped = vec![0u8; 4096]; // stands for the mmap
//! let n = rec.encode_into(&mut mapped[..]).unwrap();
//! match message::decode_entry_with(&mapped, DecodeOptions::verify_crc()).unwrap() {
//!     CommitLogEntry::Message(r) => {
//!         assert_eq!(r.total_size(), n);
//!         assert_eq!(r.tags_code(), 2598919);
//!     }
//!     CommitLogEntry::Blank { .. } => unreachable!(),
//! }
//! ```

pub mod batch;
pub mod compress;
pub mod crc;
pub mod message_ext;
pub mod message_id;
mod parse;
pub mod properties;
pub mod record;
pub mod sysflag;
pub mod tags;

#[cfg(test)]
pub(crate) mod test_support;

pub use batch::{
    decode_batch_entry, encode_batch, iter_batch, join_properties, joined_properties_len,
    BatchEntry, BatchIter, BATCH_ENTRY_OVERHEAD,
};
pub use compress::{
    compress_body, decompress_body, deflate, inflate, CompressionType, DEFAULT_COMPRESS_LEVEL,
    DEFAULT_COMPRESS_OVER,
};
pub use crc::body_crc;
pub use message_ext::MessageExt;
pub use message_id::{
    decode_offset_msg_id, month_start_ms, offset_msg_id, MessageId, UniqKey, UniqKeyGenerator,
};
pub use properties::{
    append_property, check_properties_len, find_property, iter_properties, keys, MessageProperties,
    PropertyIter, MAX_PROPERTIES_LEN, NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR,
};
pub use record::{
    decode_entry, decode_entry_with, decode_record, decode_record_with, iter_records,
    patch_physical_offset, patch_queue_offset, patch_store_timestamp, peek_header, record_len,
    record_len_v1, CommitLogEntry, DecodeOptions, MessageRecord, RecordHeader, RecordIter,
    RecordVersion, BLANK_MAGIC, BLANK_RECORD_LEN, MAGIC_V1, MAGIC_V2, MAX_TOPIC_LEN_V1,
    MIN_RECORD_LEN_V1,
};
pub use sysflag::TransactionType;
pub use tags::{java_string_hash, tags_code, TagFilter};
