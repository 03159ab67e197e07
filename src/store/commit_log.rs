//! The CommitLog: one append-only log of every message of every topic, in RocketMQ 4.9.8's
//! record layout, over a [`MappedFileQueue`].
//!
//! Invariants:
//! * Appends are serialised by the put lock (Java's global put lock). Inside it the store
//!   timestamp is taken (never going backwards in log order), the physical offset is the
//!   file start + write position, and queue offsets are assigned per (topic, queue).
//! * A record never spans two files: when `record + 8` bytes do not fit, an 8-byte blank
//!   record (`remaining, 0xCBD43194`) fills the file and the record goes to the next file.
//! * Transaction PREPARED and ROLLBACK records get queue offset 0 and do not advance the
//!   queue's counter (they never enter a consume queue).
//! * Readers see only fully written records (the mapped file publishes its write position
//!   after the bytes are in place).

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use apogee_codec::message::{
    self, body_crc, iter_batch, join_properties, keys as prop_keys, offset_msg_id, record_len_v1,
    sysflag, CommitLogEntry, DecodeOptions, MessageRecord, RecordVersion, BLANK_MAGIC,
    BLANK_RECORD_LEN, MAX_TOPIC_LEN_V1,
};
use bytes::Bytes;
use log::{info, warn};

use super::checkpoint::StoreCheckpoint;
use super::dispatch_request::DispatchRequest;
use super::flush::Poison;
use super::fs::Fs;
use super::mapped_file::{MappedFile, MappedSlice};
use super::mapped_file_queue::MappedFileQueue;
use super::message_inner::{BatchInner, MessageInner};
use super::results::{AppendMessageResult, PutMessageStatus};
use super::sys::now_ms;
use super::transient_pool::TransientStorePool;

/// The delay-message topic.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// Largest properties string (i16 length field).
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;

/// An append failure: the status the send path maps to a response code, and why.
pub type AppendError = (PutMessageStatus, String);

/// Queue-offset counters: topic → queue id → next queue offset.
type QueueOffsets = HashMap<String, HashMap<i32, i64>>;

struct PutState {
    queue_offsets: QueueOffsets,
}

/// The CommitLog.
pub struct CommitLog {
    queue: Arc<MappedFileQueue>,
    file_size: usize,
    put: Mutex<PutState>,
    /// Store timestamp of the last append (read by the flusher for the checkpoint).
    last_store_timestamp: Arc<AtomicI64>,
    /// When the current append took the lock (0 = not in the lock): page-cache-busy check.
    begin_time_in_lock: AtomicI64,
    max_message_size: usize,
    poison: Arc<Poison>,
}

/// What a scan found at one position.
#[derive(Debug)]
pub enum RecordCheck {
    /// A valid message record of `size` bytes.
    Message(DispatchRequest),
    /// An end-of-file blank record: continue at the next file.
    Blank,
    /// Zeros, an unknown magic, a length mismatch or a bad CRC: the end of valid data.
    End(String),
}

impl CommitLog {
    pub fn new(
        fs: &Fs,
        dir: &std::path::Path,
        file_size: usize,
        max_message_size: usize,
        preallocate: bool,
        poison: Arc<Poison>,
        pool: Option<Arc<TransientStorePool>>,
    ) -> io::Result<Self> {
        Self::new_with_warm(
            fs,
            dir,
            file_size,
            max_message_size,
            preallocate,
            false,
            poison,
            pool,
        )
    }

    /// As [`CommitLog::new`]; `warm` populates whole new files (`warmMapedFileEnable`).
    #[allow(clippy::too_many_arguments)]
    pub fn new_with_warm(
        fs: &Fs,
        dir: &std::path::Path,
        file_size: usize,
        max_message_size: usize,
        preallocate: bool,
        warm: bool,
        poison: Arc<Poison>,
        pool: Option<Arc<TransientStorePool>>,
    ) -> io::Result<Self> {
        fs.create_dir_all(dir)?;
        let mut queue = MappedFileQueue::new_with_warm(fs, dir, file_size, preallocate, warm)?;
        if let Some(p) = pool {
            queue = queue.with_transient_pool(p);
        }
        Ok(CommitLog {
            queue: Arc::new(queue),
            file_size,
            put: Mutex::new(PutState {
                queue_offsets: HashMap::new(),
            }),
            last_store_timestamp: Arc::new(AtomicI64::new(0)),
            begin_time_in_lock: AtomicI64::new(0),
            max_message_size,
            poison,
        })
    }

    /// Open the files (each must have the configured size).
    pub fn load(&self) -> io::Result<()> {
        self.queue.load()
    }

    pub fn queue(&self) -> &Arc<MappedFileQueue> {
        &self.queue
    }

    pub fn file_size(&self) -> usize {
        self.file_size
    }

    pub fn last_store_timestamp(&self) -> &Arc<AtomicI64> {
        &self.last_store_timestamp
    }

    /// Milliseconds the current append has held the lock (0 when none does).
    pub fn lock_held_ms(&self) -> i64 {
        let begin = self.begin_time_in_lock.load(Ordering::Acquire);
        if begin == 0 {
            0
        } else {
            (now_ms() - begin).max(0)
        }
    }

    /// Seed the queue-offset counters (from the consume queues after recovery).
    pub fn set_queue_offsets(&self, table: HashMap<String, i64>) {
        let mut map: QueueOffsets = HashMap::new();
        for (key, off) in table {
            if let Some((topic, qid)) = key.rsplit_once('-') {
                if let Ok(q) = qid.parse::<i32>() {
                    map.entry(topic.to_owned()).or_default().insert(q, off);
                }
            }
        }
        self.lock_put().queue_offsets = map;
    }

    /// The next queue offset of (topic, queue).
    pub fn queue_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.lock_put()
            .queue_offsets
            .get(topic)
            .and_then(|m| m.get(&queue_id))
            .copied()
            .unwrap_or(0)
    }

    /// Forget the counters of a topic (topic deleted).
    pub fn remove_queue_offsets(&self, topic: &str) {
        self.lock_put().queue_offsets.remove(topic);
    }

    fn lock_put(&self) -> std::sync::MutexGuard<'_, PutState> {
        self.put.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- appending ----------------------------------------------------------------------

    fn check_sizes(
        &self,
        topic: &str,
        body_len: usize,
        props_len: usize,
    ) -> Result<(), AppendError> {
        if topic.len() > MAX_TOPIC_LEN_V1 {
            return Err((
                PutMessageStatus::MessageIllegal,
                format!("topic length {} exceeds {MAX_TOPIC_LEN_V1}", topic.len()),
            ));
        }
        if props_len > MAX_PROPERTIES_LEN {
            return Err((
                PutMessageStatus::PropertiesSizeExceeded,
                format!("properties length {props_len} exceeds {MAX_PROPERTIES_LEN}"),
            ));
        }
        if body_len > self.max_message_size {
            return Err((
                PutMessageStatus::MessageIllegal,
                format!(
                    "message body size {body_len} exceeds maxMessageSize {}",
                    self.max_message_size
                ),
            ));
        }
        Ok(())
    }

    fn check_record_len(&self, len: usize) -> Result<(), AppendError> {
        if len > self.max_message_size + 64 * 1024 || len + BLANK_RECORD_LEN > self.file_size {
            return Err((
                PutMessageStatus::MessageIllegal,
                format!("message of {len} bytes is too large"),
            ));
        }
        Ok(())
    }

    fn writable(&self) -> Result<(), AppendError> {
        if let Some(why) = self.poison.reason() {
            return Err((PutMessageStatus::ServiceNotAvailable, why));
        }
        Ok(())
    }

    /// Append one message. The record is encoded straight into the mapped file.
    pub fn append(&self, msg: &MessageInner) -> Result<AppendMessageResult, AppendError> {
        self.writable()?;
        self.check_sizes(&msg.topic, msg.body.len(), msg.properties.len())?;
        let sys_flag = sysflag::with_host_flags(msg.sys_flag, &msg.born_host, &msg.store_host);
        let len = record_len_v1(
            sys_flag,
            msg.body.len(),
            msg.topic.len(),
            msg.properties.len(),
        );
        self.check_record_len(len)?;
        let crc = body_crc(&msg.body);
        let tx = sys_flag & sysflag::TRANSACTION_MASK;
        let consumes_offset =
            tx == sysflag::TRANSACTION_NOT_TYPE || tx == sysflag::TRANSACTION_COMMIT_TYPE;

        let mut state = self.lock_put();
        let now = self.begin_append();
        let queue_offset = if consumes_offset {
            state
                .queue_offsets
                .get(msg.topic.as_str())
                .and_then(|m| m.get(&msg.queue_id))
                .copied()
                .unwrap_or(0)
        } else {
            0
        };
        let result = self.write_in_lock(len, |tail, at| {
            let rec = MessageRecord {
                version: RecordVersion::V1,
                body_crc: crc,
                queue_id: msg.queue_id,
                flag: msg.flag,
                queue_offset,
                physical_offset: at as i64,
                sys_flag,
                born_timestamp: msg.born_timestamp,
                born_host: msg.born_host,
                store_timestamp: now,
                store_host: msg.store_host,
                reconsume_times: msg.reconsume_times,
                prepared_transaction_offset: msg.prepared_transaction_offset,
                body: &msg.body,
                topic: msg.topic.as_bytes(),
                properties: &msg.properties,
            };
            rec.encode_into(tail).map(|_| ()).map_err(|e| e.to_string())
        });
        let wrote_offset = match result {
            Ok(at) => at,
            Err(e) => {
                self.end_append();
                return Err(e);
            }
        };
        if consumes_offset {
            *state
                .queue_offsets
                .entry(msg.topic.clone())
                .or_default()
                .entry(msg.queue_id)
                .or_insert(0) = queue_offset + 1;
        }
        self.last_store_timestamp.store(now, Ordering::Release);
        self.end_append();
        drop(state);
        Ok(AppendMessageResult {
            wrote_offset: wrote_offset as i64,
            wrote_bytes: len,
            msg_id: offset_msg_id(&msg.store_host, wrote_offset as i64),
            store_timestamp: now,
            logics_offset: queue_offset,
            msg_num: 1,
        })
    }

    /// Append every entry of a batch as consecutive records (one store timestamp, consecutive
    /// queue offsets), all in the same file.
    pub fn append_batch(&self, batch: &BatchInner) -> Result<AppendMessageResult, AppendError> {
        self.writable()?;
        if batch.body.len() > self.max_message_size {
            return Err((
                PutMessageStatus::MessageIllegal,
                format!(
                    "batch body size {} exceeds maxMessageSize {}",
                    batch.body.len(),
                    self.max_message_size
                ),
            ));
        }
        let tx = batch.sys_flag & sysflag::TRANSACTION_MASK;
        if tx != sysflag::TRANSACTION_NOT_TYPE {
            return Err((
                PutMessageStatus::MessageIllegal,
                "batch messages cannot be transactional".into(),
            ));
        }
        let sys_flag =
            sysflag::with_host_flags(batch.sys_flag, &batch.born_host, &batch.store_host);
        struct Entry<'a> {
            flag: i32,
            body: &'a [u8],
            props: Vec<u8>,
            crc: i32,
            len: usize,
        }
        let mut entries = Vec::new();
        let mut total = 0usize;
        for e in iter_batch(&batch.body).ignore_total_size() {
            let e = e.map_err(|e| (PutMessageStatus::MessageIllegal, e.to_string()))?;
            let mut props = Vec::new();
            join_properties(e.properties, &batch.batch_properties, &mut props);
            self.check_sizes(&batch.topic, e.body.len(), props.len())?;
            let len = record_len_v1(sys_flag, e.body.len(), batch.topic.len(), props.len());
            total += len;
            entries.push(Entry {
                flag: e.flag,
                body: e.body,
                crc: body_crc(e.body),
                props,
                len,
            });
        }
        if entries.is_empty() {
            return Err((PutMessageStatus::MessageIllegal, "empty batch".into()));
        }
        self.check_record_len(total)?;

        let mut state = self.lock_put();
        let now = self.begin_append();
        let first_queue_offset = state
            .queue_offsets
            .get(batch.topic.as_str())
            .and_then(|m| m.get(&batch.queue_id))
            .copied()
            .unwrap_or(0);
        let result = self.write_in_lock(total, |tail, at| {
            let mut pos = 0usize;
            for (i, e) in entries.iter().enumerate() {
                let rec = MessageRecord {
                    version: RecordVersion::V1,
                    body_crc: e.crc,
                    queue_id: batch.queue_id,
                    flag: e.flag,
                    queue_offset: first_queue_offset + i as i64,
                    physical_offset: (at + pos as u64) as i64,
                    sys_flag,
                    born_timestamp: batch.born_timestamp,
                    born_host: batch.born_host,
                    store_timestamp: now,
                    store_host: batch.store_host,
                    reconsume_times: batch.reconsume_times,
                    prepared_transaction_offset: 0,
                    body: e.body,
                    topic: batch.topic.as_bytes(),
                    properties: &e.props,
                };
                let end = pos + e.len;
                let slot = tail
                    .get_mut(pos..end)
                    .ok_or_else(|| "batch does not fit".to_owned())?;
                rec.encode_into(slot).map_err(|e| e.to_string())?;
                pos = end;
            }
            Ok(())
        });
        let wrote_offset = match result {
            Ok(at) => at,
            Err(e) => {
                self.end_append();
                return Err(e);
            }
        };
        *state
            .queue_offsets
            .entry(batch.topic.clone())
            .or_default()
            .entry(batch.queue_id)
            .or_insert(0) = first_queue_offset + entries.len() as i64;
        self.last_store_timestamp.store(now, Ordering::Release);
        self.end_append();
        drop(state);
        let mut msg_id = String::with_capacity(entries.len() * 33);
        let mut phy = wrote_offset as i64;
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                msg_id.push(',');
            }
            msg_id.push_str(&offset_msg_id(&batch.store_host, phy));
            phy += e.len as i64;
        }
        Ok(AppendMessageResult {
            wrote_offset: wrote_offset as i64,
            wrote_bytes: total,
            msg_id,
            store_timestamp: now,
            logics_offset: first_queue_offset,
            msg_num: entries.len(),
        })
    }

    /// Append raw CommitLog bytes replicated from a master at exactly `offset`, which must be
    /// the end of the written data (or, for an empty log, anywhere: the first file is the one
    /// holding `offset`, which must then be its start). The bytes must fit the current file
    /// (the master never sends a chunk spanning files); a full file rolls to the next one on
    /// the same boundaries as the master's. Takes the put lock like any append.
    pub fn append_replicated(&self, offset: i64, data: &[u8]) -> Result<(), String> {
        self.writable().map_err(|(_, why)| why)?;
        let offset = u64::try_from(offset).map_err(|_| format!("negative offset {offset}"))?;
        let _state = self.lock_put();
        if !self.queue.is_empty() {
            let max = self.queue.max_wrote_offset();
            if max != offset {
                return Err(format!("chunk at {offset} does not follow the end {max}"));
            }
        }
        let file = self
            .queue
            .last_or_create(offset)
            .map_err(|e| format!("create mapped file failed: {e}"))?;
        let at = file.from_offset() + file.wrote_position() as u64;
        if at != offset {
            return Err(format!(
                "chunk at {offset} does not start where file {} continues ({at})",
                file.from_offset()
            ));
        }
        let old = file.wrote_position();
        if file.append(data).is_none() {
            return Err(format!(
                "chunk of {} bytes at {offset} does not fit file {} ({} bytes left)",
                data.len(),
                file.from_offset(),
                file.remaining()
            ));
        }
        self.queue.populate_ahead(&file, old, old + data.len());
        Ok(())
    }

    /// Store timestamp for an append, taken in the lock; never earlier than the last one.
    fn begin_append(&self) -> i64 {
        let now = now_ms().max(self.last_store_timestamp.load(Ordering::Acquire));
        self.begin_time_in_lock.store(now.max(1), Ordering::Release);
        now
    }

    fn end_append(&self) {
        self.begin_time_in_lock.store(0, Ordering::Release);
    }

    /// Write `len` bytes with `encode` into the last file (rolling with a blank record when they
    /// do not fit). Must be called with the put lock held. Returns the physical offset.
    fn write_in_lock(
        &self,
        len: usize,
        encode: impl Fn(&mut [u8], u64) -> Result<(), String>,
    ) -> Result<u64, AppendError> {
        for _ in 0..2 {
            let file = self.last_file()?;
            let outcome = file.append_with(|tail, at| {
                if len + BLANK_RECORD_LEN > tail.len() {
                    // END_OF_FILE: a blank record takes the rest of the file.
                    let remaining = tail.len();
                    if remaining >= BLANK_RECORD_LEN {
                        tail[0..4].copy_from_slice(&(remaining as i32).to_be_bytes());
                        tail[4..8].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
                    }
                    return (remaining, Ok(None));
                }
                match encode(&mut tail[..len], at) {
                    Ok(()) => (len, Ok(Some(at))),
                    Err(e) => (0, Err(e)),
                }
            });
            match outcome {
                Ok(Some(at)) => {
                    let old = (at - file.from_offset()) as usize;
                    self.queue.populate_ahead(&file, old, old + len);
                    return Ok(at);
                }
                Ok(None) => continue,
                Err(e) => return Err((PutMessageStatus::UnknownError, e)),
            }
        }
        Err((
            PutMessageStatus::UnknownError,
            "record does not fit a fresh CommitLog file".into(),
        ))
    }

    fn last_file(&self) -> Result<Arc<MappedFile>, AppendError> {
        self.queue.last_or_create(0).map_err(|e| {
            (
                PutMessageStatus::CreateMappedFileFailed,
                format!("create mapped file failed: {e}"),
            )
        })
    }

    // ---- reading ------------------------------------------------------------------------

    /// Smallest physical offset still stored.
    pub fn min_offset(&self) -> i64 {
        let files = self.queue.files();
        for f in files.iter() {
            if !f.is_destroyed() {
                return f.from_offset() as i64;
            }
        }
        files
            .last()
            .map(|f| f.from_offset() as i64 + f.wrote_position() as i64)
            .unwrap_or(0)
    }

    /// End of written data.
    pub fn max_offset(&self) -> i64 {
        self.queue.max_offset() as i64
    }

    /// Start of the file after the one holding `offset`.
    pub fn roll_next_file(&self, offset: i64) -> i64 {
        let fs = self.file_size as i64;
        offset + fs - offset.rem_euclid(fs)
    }

    /// `size` bytes at physical offset `phy`, zero-copy.
    pub fn get_bytes(&self, phy: i64, size: usize) -> Option<Bytes> {
        self.get_slice(phy, size).map(MappedSlice::into_bytes)
    }

    /// `size` bytes at physical offset `phy`, zero-copy and without allocating.
    pub fn get_slice(&self, phy: i64, size: usize) -> Option<MappedSlice> {
        let phy = u64::try_from(phy).ok()?;
        let file = self.queue.find(phy)?;
        MappedSlice::new(&file, (phy - file.from_offset()) as usize, size)
    }

    /// The whole record at `phy` (its size read from the record itself), zero-copy.
    pub fn get_record(&self, phy: i64) -> Option<Bytes> {
        let p = u64::try_from(phy).ok()?;
        let file = self.queue.find(p)?;
        let pos = (p - file.from_offset()) as usize;
        let head = file.slice(pos, 8)?;
        let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let magic = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if size <= 0 || magic == BLANK_MAGIC {
            return None;
        }
        file.bytes(pos, size as usize)
    }

    /// STORETIMESTAMP of the record at `phy`.
    pub fn store_timestamp_at(&self, phy: i64) -> Option<i64> {
        let p = u64::try_from(phy).ok()?;
        let file = self.queue.find(p)?;
        let pos = (p - file.from_offset()) as usize;
        let head = file.slice(pos, message::record::pos::SYS_FLAG + 4)?;
        let sys = i32::from_be_bytes([head[36], head[37], head[38], head[39]]);
        let at = pos + message::record::pos::store_timestamp(sys);
        let ts = file.slice(at, 8)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(ts);
        Some(i64::from_be_bytes(b))
    }

    /// Written bytes from `offset` to the end of its file, with the file.
    pub fn data_from(&self, offset: i64) -> Option<(Arc<MappedFile>, usize)> {
        let p = u64::try_from(offset).ok()?;
        let file = self.queue.find(p)?;
        let pos = (p - file.from_offset()) as usize;
        Some((file, pos))
    }

    // ---- recovery -----------------------------------------------------------------------

    /// Normal recovery (clean shutdown): scan from the third-to-last file, stop at the first
    /// invalid record, truncate everything after it. Returns the end of valid data.
    pub fn recover_normally(&self, check_crc: bool, delay_levels: &[i64]) -> io::Result<i64> {
        let files = self.queue.files();
        if files.is_empty() {
            self.queue.set_flushed_where(0);
            return Ok(0);
        }
        let start = files.len().saturating_sub(3);
        let end = self.scan(&files, start, check_crc, delay_levels, |_| {});
        self.truncate_at(end)?;
        Ok(end)
    }

    /// Abnormal recovery (abort file present): start from the newest file whose first message
    /// is older than the checkpoint, re-dispatch every valid record through `dispatch`, and
    /// truncate after the last one. Returns the end of valid data.
    pub fn recover_abnormally(
        &self,
        checkpoint: &StoreCheckpoint,
        index_safe: bool,
        check_crc: bool,
        delay_levels: &[i64],
        dispatch: impl FnMut(&DispatchRequest),
    ) -> io::Result<i64> {
        let files = self.queue.files();
        if files.is_empty() {
            self.queue.set_flushed_where(0);
            return Ok(0);
        }
        let min_ts = if index_safe {
            checkpoint.min_timestamp_index()
        } else {
            checkpoint.min_timestamp()
        };
        let mut start = 0;
        for (i, f) in files.iter().enumerate().rev() {
            if let Some(ts) = first_store_timestamp(f) {
                if ts != 0 && ts <= min_ts {
                    start = i;
                    break;
                }
            }
        }
        info!(
            "abnormal recovery from CommitLog file {} (checkpoint min timestamp {min_ts})",
            files[start].from_offset()
        );
        let end = self.scan(&files, start, check_crc, delay_levels, dispatch);
        self.truncate_at(end)?;
        Ok(end)
    }

    fn truncate_at(&self, end: i64) -> io::Result<()> {
        let end = end.max(0) as u64;
        self.queue.truncate_dirty(end)?;
        self.queue.set_flushed_where(end);
        Ok(())
    }

    /// Walk records from file `start`; returns the offset of the first invalid position.
    fn scan(
        &self,
        files: &[Arc<MappedFile>],
        start: usize,
        check_crc: bool,
        delay_levels: &[i64],
        mut on_message: impl FnMut(&DispatchRequest),
    ) -> i64 {
        let mut i = start;
        loop {
            let Some(file) = files.get(i) else {
                // Past the last file: the end is the end of the last one.
                return files
                    .last()
                    .map(|f| (f.from_offset() + f.file_size() as u64) as i64)
                    .unwrap_or(0);
            };
            let mut pos = 0usize;
            loop {
                let Some(buf) = file.raw(pos, file.file_size() - pos) else {
                    return file.from_offset() as i64 + pos as i64;
                };
                match check_record(
                    buf,
                    check_crc,
                    delay_levels,
                    file.from_offset() + pos as u64,
                ) {
                    RecordCheck::Message(req) => {
                        pos += req.msg_size as usize;
                        on_message(&req);
                    }
                    RecordCheck::Blank => {
                        if i + 1 >= files.len() {
                            return file.from_offset() as i64 + pos as i64;
                        }
                        break;
                    }
                    RecordCheck::End(why) => {
                        let at = file.from_offset() as i64 + pos as i64;
                        if !why.is_empty() {
                            warn!("CommitLog recovery stops at {at}: {why}");
                        }
                        return at;
                    }
                }
            }
            i += 1;
        }
    }
}

/// STORETIMESTAMP of a file's first record, if it is a message.
fn first_store_timestamp(file: &MappedFile) -> Option<i64> {
    match message::decode_entry_with(file.raw(0, file.file_size())?, DecodeOptions::default()) {
        Ok(CommitLogEntry::Message(r)) => Some(r.store_timestamp),
        _ => None,
    }
}

/// Check the record at the start of `buf` (which runs to the end of its file) and extract what
/// the dispatcher needs. `at` is the record's physical offset (it must match PHYSICALOFFSET).
pub fn check_record(buf: &[u8], check_crc: bool, delay_levels: &[i64], at: u64) -> RecordCheck {
    if buf.len() < 8 {
        return RecordCheck::End(String::new());
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let magic = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if size == 0 && magic == 0 {
        // Zero-filled space: the end of data.
        return RecordCheck::End(String::new());
    }
    if magic == BLANK_MAGIC {
        return RecordCheck::Blank;
    }
    let opts = if check_crc {
        DecodeOptions::verify_crc()
    } else {
        DecodeOptions::default()
    };
    let rec = match message::decode_entry_with(buf, opts) {
        Ok(CommitLogEntry::Message(r)) => r,
        Ok(CommitLogEntry::Blank { .. }) => return RecordCheck::Blank,
        Err(e) => return RecordCheck::End(e.to_string()),
    };
    if rec.physical_offset != at as i64 {
        return RecordCheck::End(format!(
            "record claims physical offset {} but sits at {at}",
            rec.physical_offset
        ));
    }
    RecordCheck::Message(dispatch_request_of(&rec, delay_levels))
}

/// The dispatch request for a decoded record.
pub fn dispatch_request_of(rec: &MessageRecord<'_>, delay_levels: &[i64]) -> DispatchRequest {
    let topic = String::from_utf8_lossy(rec.topic).into_owned();
    let mut tags_code = rec.tags_code();
    if topic == SCHEDULE_TOPIC {
        if let Some(level) = rec
            .property(prop_keys::DELAY)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
        {
            tags_code = delivery_time(rec.store_timestamp, level, delay_levels);
        }
    }
    DispatchRequest {
        topic,
        queue_id: rec.queue_id,
        commit_log_offset: rec.physical_offset,
        msg_size: rec.total_size() as i32,
        tags_code,
        store_timestamp: rec.store_timestamp,
        consume_queue_offset: rec.queue_offset,
        keys: rec.keys().map(|k| String::from_utf8_lossy(k).into_owned()),
        uniq_key: rec
            .uniq_key()
            .map(|k| String::from_utf8_lossy(k).into_owned()),
        sys_flag: rec.sys_flag,
        prepared_transaction_offset: rec.prepared_transaction_offset,
    }
}

/// When a delayed message of `level` stored at `store_ts` is due: store time + the level's
/// delay (levels above the maximum are capped; an unknown level gives +1 s).
pub fn delivery_time(store_ts: i64, level: i64, delay_levels: &[i64]) -> i64 {
    let max = delay_levels.len() as i64;
    let level = level.min(max);
    if level >= 1 {
        if let Some(d) = delay_levels.get((level - 1) as usize) {
            return store_ts + d;
        }
    }
    store_ts + 1000
}

#[cfg(test)]
mod tests;
