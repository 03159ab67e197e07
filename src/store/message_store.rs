//! `MessageStore`: the storage engine assembled — CommitLog, consume queues, index, dispatcher,
//! flush, checkpoint, recovery and expiry — behind the API the broker uses (Java's
//! `DefaultMessageStore`).
//!
//! Threads (none of them an async executor's):
//! * the caller's thread appends (memcpy into a pre-touched mapping, under the put lock);
//! * "apogee-flush" makes the CommitLog durable (group commit or periodic);
//! * "apogee-reput" builds consume queues and index files and announces arrivals;
//! * "apogee-prealloc" creates and pre-touches the next CommitLog file;
//! * "apogee-store-service" flushes consume queues, writes the checkpoint, deletes expired
//!   files and watches disk usage.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use apogee_codec::message::{keys as prop_keys, sysflag, MessageProperties};
use bytes::Bytes;
use log::{info, warn};

use super::checkpoint::{AbortFile, StoreCheckpoint, StoreLock};
use super::commit_log::{CommitLog, SCHEDULE_TOPIC};
use super::consume_queue::ConsumeQueueTable;
use super::dispatcher::{ArrivalListener, DispatchTargets, Dispatcher};
use super::flush::{CommitSettings, FlushMode, FlushService, FlushStatus, Poison};
use super::fs::Fs;
use super::ha::{HaService, HaSettings};
use super::index::IndexService;
use super::mapped_file::MappedSlice;
use super::message_inner::{BatchInner, MessageInner};
use super::results::{
    GetMessageResult, GetMessageStatus, MessageFilter, PutMessageResult, PutMessageStatus,
};
use super::running_flags::RunningFlags;
use super::store_config::{BrokerRole, FlushDiskType, MessageStoreConfig};
use super::sys::{is_delete_hour, now_ms};
use super::transient_pool::TransientStorePool;

/// Why the store could not start.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store configuration: {0}")]
    Config(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// Records found by a key query.
#[derive(Debug, Clone, Default)]
pub struct QueryMessageResult {
    pub messages: Vec<Bytes>,
    pub index_last_update_timestamp: i64,
    pub index_last_update_phyoffset: i64,
}

struct Inner {
    config: MessageStoreConfig,
    commit_log: Arc<CommitLog>,
    cq_table: Arc<ConsumeQueueTable>,
    index: Arc<IndexService>,
    checkpoint: Arc<StoreCheckpoint>,
    abort: AbortFile,
    /// Released at shutdown.
    lock: Mutex<Option<StoreLock>>,
    flush: Mutex<Option<FlushService>>,
    dispatcher: Dispatcher,
    poison: Arc<Poison>,
    flags: Arc<RunningFlags>,
    delay_levels: Vec<i64>,
    shutdown: AtomicBool,
    service: Mutex<Option<JoinHandle<()>>>,
    service_wake: Arc<(Mutex<bool>, Condvar)>,
    /// Total physical memory: reads beyond `accessMessageInMemoryMaxRatio` % of it from the
    /// end of the log count as "on disk".
    total_memory: u64,
    /// Runs of forced CommitLog deletion requested by an admin (Java arms 20).
    manual_delete_runs: std::sync::atomic::AtomicU32,
    last_cl_min_cleaned: std::sync::atomic::AtomicI64,
    last_exit_ok: bool,
    /// `brokerRole`, parsed once.
    role: BrokerRole,
    /// The file-system seam (disk-usage readings go through it).
    fs: Fs,
    /// Replication state shared with the HA actors.
    ha: Arc<HaService>,
}

/// The storage engine. Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct MessageStore {
    inner: Arc<Inner>,
}

impl MessageStore {
    /// Open the store at `config.storePathRootDir`: load files, recover (normal or abnormal),
    /// catch up the dispatcher and start the services.
    pub fn open(config: MessageStoreConfig, fs: Fs) -> Result<Self, StoreError> {
        config.validate().map_err(StoreError::Config)?;
        let delay_levels = config.delay_levels_ms().map_err(StoreError::Config)?;
        let root = config.root_dir();
        fs.create_dir_all(&root)
            .map_err(io_err(format!("create {}", root.display())))?;
        let lock = StoreLock::acquire(&config.lock_path()).map_err(io_err("store lock"))?;
        let abort = AbortFile::new(&fs, &config.abort_path());
        let last_exit_ok = !abort.exists();
        info!(
            "opening store {} (last exit {})",
            root.display(),
            if last_exit_ok { "clean" } else { "abnormal" }
        );
        let poison = Arc::new(Poison::default());
        let flags = Arc::new(RunningFlags::default());
        let pool = config.transient_pool_active().then(|| {
            Arc::new(TransientStorePool::new(
                config.transient_store_pool_size,
                config.mapped_file_size_commit_log,
            ))
        });
        let commit_log = Arc::new(
            CommitLog::new_with_warm(
                &fs,
                &config.commit_log_dir(),
                config.mapped_file_size_commit_log,
                config.max_message_size,
                // The pre-allocator always runs (file creation and the populate window); the
                // transient pool needs neither.
                pool.is_none(),
                config.warm_maped_file_enable,
                Arc::clone(&poison),
                pool.clone(),
            )
            .map_err(io_err("CommitLog"))?,
        );
        commit_log.load().map_err(io_err("loading the CommitLog"))?;
        let cq_table = Arc::new(
            ConsumeQueueTable::from_config(&fs, &config).map_err(io_err("consume queues"))?,
        );
        cq_table.load().map_err(io_err("loading consume queues"))?;
        let checkpoint = Arc::new(
            StoreCheckpoint::open(&fs, &config.checkpoint_path()).map_err(io_err("checkpoint"))?,
        );
        let index = Arc::new(IndexService::from_config(fs.clone(), &config).map_err(|e| {
            StoreError::Io {
                what: "index".into(),
                source: io::Error::other(e.to_string()),
            }
        })?);
        index
            .load(last_exit_ok, checkpoint.index_msg_timestamp())
            .map_err(|e| StoreError::Io {
                what: "loading index files".into(),
                source: io::Error::other(e.to_string()),
            })?;

        let targets = DispatchTargets {
            cq_table: Arc::clone(&cq_table),
            index: config.message_index_enable.then(|| Arc::clone(&index)),
            checkpoint: Arc::clone(&checkpoint),
            flags: Arc::clone(&flags),
        };

        // Recovery: consume queues first, then the CommitLog.
        let max_phy_of_cq = cq_table
            .recover_all()
            .map_err(io_err("recovering consume queues"))?;
        let end = if last_exit_ok {
            commit_log
                .recover_normally(config.check_crc_on_recover, &delay_levels)
                .map_err(io_err("recovering the CommitLog"))?
        } else {
            commit_log
                .recover_abnormally(
                    &checkpoint,
                    config.message_index_enable && config.message_index_safe,
                    config.check_crc_on_recover,
                    &delay_levels,
                    |req| targets.dispatch(req),
                )
                .map_err(io_err("recovering the CommitLog"))?
        };
        if commit_log.queue().is_empty() {
            cq_table
                .destroy_all()
                .map_err(io_err("dropping consume queues"))?;
        } else if max_phy_of_cq >= end || !last_exit_ok {
            cq_table
                .truncate_all_dirty(end)
                .map_err(io_err("truncating consume queues"))?;
        }
        cq_table.correct_min_offsets(commit_log.min_offset());
        commit_log.set_queue_offsets(cq_table.topic_queue_table());
        info!(
            "CommitLog recovered: [{}, {}) in {} files",
            commit_log.min_offset(),
            end,
            commit_log.queue().files().len()
        );

        // Dispatch from the end of what the consume queues cover.
        let reput_from = cq_table
            .max_physic_offset()
            .max(commit_log.min_offset())
            .min(end);
        let dispatcher = Dispatcher::start(
            Arc::clone(&commit_log),
            targets,
            delay_levels.clone(),
            reput_from,
            config.broker_role() != BrokerRole::Slave,
        )
        .map_err(io_err("starting the dispatcher"))?;
        if !dispatcher.wait_caught_up(Duration::from_secs(600)) {
            warn!("dispatcher did not catch up at start; continuing");
        }
        commit_log.set_queue_offsets(cq_table.topic_queue_table());

        let flush_mode = match config.flush_disk_type() {
            FlushDiskType::SyncFlush => FlushMode::Sync {
                timeout: Duration::from_millis(config.sync_flush_timeout),
            },
            FlushDiskType::AsyncFlush => FlushMode::Async {
                interval: Duration::from_millis(config.flush_interval_commit_log.max(1)),
                least_pages: config.flush_commit_log_least_pages,
                thorough_interval: Duration::from_millis(config.flush_commit_log_thorough_interval),
                timed: config.flush_commit_log_timed,
            },
        };
        let commit_settings = config.transient_pool_active().then(|| CommitSettings {
            interval: Duration::from_millis(config.commit_interval_commit_log.max(1)),
            least_pages: config.commit_commit_log_least_pages,
            thorough_interval: Duration::from_millis(config.commit_commit_log_thorough_interval),
        });
        let flush = FlushService::start_with_commit(
            Arc::clone(commit_log.queue()),
            Arc::clone(&checkpoint),
            Arc::clone(commit_log.last_store_timestamp()),
            Arc::clone(&poison),
            flush_mode,
            commit_settings,
        )
        .map_err(io_err("starting the flush service"))?;
        // An empty slave's first file is wherever the master's transfer starts (the start of
        // the master's last file), not 0: nothing is prepared until the first chunk arrives.
        if !(config.broker_role() == BrokerRole::Slave && commit_log.queue().is_empty()) {
            commit_log.queue().prepare_next();
        }
        abort.create().map_err(io_err("creating the abort file"))?;

        let role = config.broker_role();
        let ha = Arc::new(HaService::new(
            HaSettings::from_config(&config),
            &config.ha_master_address,
        ));
        let store = MessageStore {
            inner: Arc::new(Inner {
                fs: fs.clone(),
                total_memory: total_memory(),
                config,
                commit_log,
                cq_table,
                index,
                checkpoint,
                abort,
                lock: Mutex::new(Some(lock)),
                flush: Mutex::new(Some(flush)),
                dispatcher,
                poison,
                flags,
                delay_levels,
                shutdown: AtomicBool::new(false),
                service: Mutex::new(None),
                service_wake: Arc::new((Mutex::new(false), Condvar::new())),
                manual_delete_runs: std::sync::atomic::AtomicU32::new(0),
                last_cl_min_cleaned: std::sync::atomic::AtomicI64::new(0),
                last_exit_ok,
                role,
                ha,
            }),
        };
        store.start_service_thread()?;
        Ok(store)
    }

    pub fn config(&self) -> &MessageStoreConfig {
        &self.inner.config
    }

    /// Free write buffers of the transient store pool (None when the pool is off). Sends are
    /// refused with SYSTEM_BUSY when it is 0, as in Java.
    pub fn transient_buffers_available(&self) -> Option<usize> {
        self.inner
            .commit_log
            .queue()
            .transient_pool()
            .map(|p| p.available())
    }

    /// Whether the previous run ended without a clean shutdown.
    pub fn recovered_from_abnormal_exit(&self) -> bool {
        !self.inner.last_exit_ok
    }

    pub fn delay_levels(&self) -> &[i64] {
        &self.inner.delay_levels
    }

    pub fn running_flags(&self) -> &RunningFlags {
        &self.inner.flags
    }

    pub fn is_poisoned(&self) -> bool {
        self.inner.poison.is_poisoned()
    }

    /// The replication state (HA listener, client and SYNC_MASTER waiters use it).
    pub fn ha(&self) -> &Arc<HaService> {
        &self.inner.ha
    }

    /// Up to `max` readable CommitLog bytes from `offset` to the end of its file, zero-copy
    /// (what the HA master transfers). `None` when there are none yet.
    pub fn ha_read(&self, offset: i64, max: usize) -> Option<MappedSlice> {
        let (file, pos) = self.inner.commit_log.data_from(offset)?;
        let readable = file.readable_position();
        if pos >= readable || max == 0 {
            return None;
        }
        MappedSlice::new(&file, pos, (readable - pos).min(max))
    }

    /// Append bytes replicated from the master at exactly `offset` (a slave's HA client), then
    /// wake the dispatcher and the flusher. Blocking (a copy into the mapped file).
    pub fn append_replicated(&self, offset: i64, data: &[u8]) -> Result<(), String> {
        if self.inner.shutdown.load(Ordering::Acquire) {
            return Err("message store is shut down".into());
        }
        self.inner.commit_log.append_replicated(offset, data)?;
        self.inner.dispatcher.wakeup();
        if let Ok(f) = self.inner.flush.lock() {
            if let Some(f) = f.as_ref() {
                f.wakeup((offset as u64).saturating_add(data.len() as u64));
            }
        }
        Ok(())
    }

    /// Be told about every message that reaches a consume queue (long polling).
    pub fn add_arrival_listener(&self, l: ArrivalListener) {
        self.inner.dispatcher.add_listener(l);
    }

    // ---- writes ---------------------------------------------------------------------------

    fn check_writable(&self) -> Result<(), PutMessageResult> {
        let i = &self.inner;
        if i.shutdown.load(Ordering::Acquire) {
            return Err(PutMessageResult::failed(
                PutMessageStatus::ServiceNotAvailable,
                "message store is shut down",
            ));
        }
        if i.role == BrokerRole::Slave {
            return Err(PutMessageResult::failed(
                PutMessageStatus::ServiceNotAvailable,
                "message store is a slave",
            ));
        }
        if let Some(why) = i.poison.reason() {
            return Err(PutMessageResult::failed(
                PutMessageStatus::ServiceNotAvailable,
                format!("message store is not writeable: {why}"),
            ));
        }
        if !i.flags.is_writeable() {
            return Err(PutMessageResult::failed(
                PutMessageStatus::ServiceNotAvailable,
                format!("message store is not writeable: {}", i.flags.describe()),
            ));
        }
        if self.is_os_page_cache_busy() {
            return Err(PutMessageResult::failed(
                PutMessageStatus::OsPageCacheBusy,
                "[PC_SYNCHRONIZED]broker busy, start flow control for a while",
            ));
        }
        Ok(())
    }

    /// Java's `isOSPageCacheBusy`: an append has held the lock for too long.
    pub fn is_os_page_cache_busy(&self) -> bool {
        let held = self.inner.commit_log.lock_held_ms();
        held > self.inner.config.os_page_cache_busy_time_out_mills as i64 && held < 10_000_000
    }

    /// Rewrite a delayed message (DELAY > 0, not a transaction half/rollback) to
    /// SCHEDULE_TOPIC_XXXX queue `level - 1`, keeping REAL_TOPIC / REAL_QID.
    fn rewrite_delayed(&self, msg: &mut MessageInner) {
        let tx = msg.sys_flag & sysflag::TRANSACTION_MASK;
        if tx != sysflag::TRANSACTION_NOT_TYPE && tx != sysflag::TRANSACTION_COMMIT_TYPE {
            return;
        }
        let Some(level) = apogee_codec::message::find_property(&msg.properties, prop_keys::DELAY)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
        else {
            return;
        };
        if level <= 0 {
            return;
        }
        let max = self.inner.delay_levels.len() as i64;
        let mut props = MessageProperties::parse(&msg.properties);
        if level > max {
            props.insert(prop_keys::DELAY, max.to_string());
        }
        let level = level.min(max);
        props.insert(prop_keys::REAL_TOPIC, msg.topic.clone());
        props.insert(prop_keys::REAL_QID, msg.queue_id.to_string());
        let n = props.len();
        props.sort_java_hash_map_order(n);
        msg.properties = props.encode();
        msg.topic = SCHEDULE_TOPIC.to_owned();
        msg.queue_id = (level - 1) as i32;
    }

    /// Store one message. `wait_store_msg_ok` is the message's WAIT property: with SYNC_FLUSH
    /// the answer comes once the message is durable (group commit).
    pub async fn put_message(
        &self,
        mut msg: MessageInner,
        wait_store_msg_ok: bool,
    ) -> PutMessageResult {
        if let Err(r) = self.check_writable() {
            return r;
        }
        self.rewrite_delayed(&mut msg);
        let r = self.inner.commit_log.append(&msg);
        self.finish_put(r, wait_store_msg_ok).await
    }

    /// Store one message as it is, without the delay rewrite: a `DELAY` property in its
    /// properties string is kept and does not schedule it. This is how a due delayed message
    /// is put back into its real queue (Java's re-put copy keeps `DELAY` in its stored
    /// properties string while its property map, which decides the rewrite, no longer has it).
    pub async fn put_message_unscheduled(
        &self,
        msg: MessageInner,
        wait_store_msg_ok: bool,
    ) -> PutMessageResult {
        if let Err(r) = self.check_writable() {
            return r;
        }
        let r = self.inner.commit_log.append(&msg);
        self.finish_put(r, wait_store_msg_ok).await
    }

    /// Store a batch (SEND_BATCH_MESSAGE).
    pub async fn put_messages(
        &self,
        batch: BatchInner,
        wait_store_msg_ok: bool,
    ) -> PutMessageResult {
        if let Err(r) = self.check_writable() {
            return r;
        }
        let r = self.inner.commit_log.append_batch(&batch);
        self.finish_put(r, wait_store_msg_ok).await
    }

    async fn finish_put(
        &self,
        r: Result<super::results::AppendMessageResult, super::commit_log::AppendError>,
        wait: bool,
    ) -> PutMessageResult {
        let append = match r {
            Ok(a) => a,
            Err((status, why)) => return PutMessageResult::failed(status, why),
        };
        self.inner.dispatcher.wakeup();
        self.inner.ha.wakeup_writers();
        let end = (append.wrote_offset + append.wrote_bytes as i64) as u64;
        let waiter = {
            let guard = self.inner.flush.lock().ok();
            guard.as_ref().and_then(|g| g.as_ref()).map(|f| {
                if f.is_sync() && wait {
                    Some(f.request(end))
                } else {
                    f.wakeup(end);
                    None
                }
            })
        };
        let flushed = async {
            match waiter {
                Some(Some(rx)) => match rx.await {
                    Ok(FlushStatus::Ok) => (PutMessageStatus::PutOk, None),
                    Ok(FlushStatus::Timeout) => (PutMessageStatus::FlushDiskTimeout, None),
                    Ok(FlushStatus::Failed(why)) => (PutMessageStatus::FlushDiskTimeout, Some(why)),
                    Err(_) => (PutMessageStatus::FlushDiskTimeout, None),
                },
                _ => (PutMessageStatus::PutOk, None),
            }
        };
        // SYNC_MASTER: the replica wait runs alongside the flush wait (Java's thenCombine).
        let replicated = async {
            if self.inner.role != BrokerRole::SyncMaster || !wait {
                return PutMessageStatus::PutOk;
            }
            let ha = &self.inner.ha;
            let end = end as i64;
            if !ha.is_slave_ok(end) {
                return PutMessageStatus::SlaveNotAvailable;
            }
            ha.wakeup_writers();
            if ha.group().wait(end, ha.settings().slave_timeout).await {
                PutMessageStatus::PutOk
            } else {
                PutMessageStatus::FlushSlaveTimeout
            }
        };
        let ((mut status, remark), replica) = futures::join!(flushed, replicated);
        if replica != PutMessageStatus::PutOk {
            status = replica;
        }
        PutMessageResult {
            status,
            append: Some(append),
            remark,
        }
    }

    /// The blocking form of [`MessageStore::put_message`] (tests, tools).
    pub fn put_message_blocking(&self, msg: MessageInner, wait: bool) -> PutMessageResult {
        futures::executor::block_on(self.put_message(msg, wait))
    }

    // ---- reads ----------------------------------------------------------------------------

    /// Read up to `max_msg_nums` messages of (topic, queue) from logical `offset` through
    /// `filter`, as zero-copy record slices (Java's `getMessage`). `None` when the store is
    /// shut down or not readable.
    pub fn get_message(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_msg_nums: usize,
        filter: &dyn MessageFilter,
    ) -> Option<GetMessageResult> {
        let i = &self.inner;
        if i.shutdown.load(Ordering::Acquire) || !i.flags.is_readable() {
            return None;
        }
        let Some(cq) = i.cq_table.get(topic, queue_id) else {
            return Some(GetMessageResult::empty(
                GetMessageStatus::NoMessageInQueue,
                0,
                0,
                0,
            ));
        };
        let min = cq.min_offset();
        let max = cq.max_offset();
        if max == 0 {
            return Some(GetMessageResult::empty(
                GetMessageStatus::NoMessageInQueue,
                0,
                min,
                max,
            ));
        }
        if offset < min {
            return Some(GetMessageResult::empty(
                GetMessageStatus::OffsetTooSmall,
                min,
                min,
                max,
            ));
        }
        if offset == max {
            return Some(GetMessageResult::empty(
                GetMessageStatus::OffsetOverflowOne,
                offset,
                min,
                max,
            ));
        }
        if offset > max {
            return Some(GetMessageResult::empty(
                GetMessageStatus::OffsetOverflowBadly,
                max,
                min,
                max,
            ));
        }
        let max_scan_units = (16000usize).max(max_msg_nums.saturating_mul(20)) / 20;
        let mut units = cq.units_in_file_from(offset, max_scan_units).peekable();
        if units.peek().is_none() {
            return Some(GetMessageResult::empty(
                GetMessageStatus::OffsetFoundNull,
                cq.roll_next_file(offset),
                min,
                max,
            ));
        }
        let cl = &i.commit_log;
        let max_phy = cl.max_offset();
        let mem_limit =
            i.total_memory * i.config.access_message_in_memory_max_ratio.max(0) as u64 / 100;
        let mut result =
            GetMessageResult::empty(GetMessageStatus::NoMatchedMessage, offset, min, max);
        let mut consumed = 0i64;
        let mut next_phy_file_start = i64::MIN;
        let mut max_pulled_phy = 0i64;
        for unit in units {
            if unit.is_blank() || !unit.is_valid() {
                consumed += 1;
                continue;
            }
            let phy = unit.commit_log_offset;
            let size = unit.size as usize;
            max_pulled_phy = max_pulled_phy.max(phy);
            if phy < next_phy_file_start {
                consumed += 1;
                continue;
            }
            let in_disk = (max_phy - phy).max(0) as u64 > mem_limit;
            if self.batch_full(
                size,
                max_msg_nums,
                result.buffer_total_size,
                result.messages.len(),
                in_disk,
            ) {
                break;
            }
            consumed += 1;
            if !filter.matches_cq(unit.tags_code) {
                continue;
            }
            let Some(bytes) = cl.get_slice(phy, size) else {
                if result.messages.is_empty() {
                    result.status = GetMessageStatus::MessageWasRemoving;
                }
                next_phy_file_start = cl.roll_next_file(phy);
                continue;
            };
            if !record_matches_unit(&bytes, phy, queue_id, unit.queue_offset) {
                // A damaged or missing consume-queue file points at the wrong record:
                // serve nothing rather than another message under this offset.
                warn!(
                    "{topic}-{queue_id}: consume queue unit {} points at CommitLog {phy} \
                     (size {size}), which is not its message; skipped",
                    unit.queue_offset
                );
                continue;
            }
            if !filter.matches_record(&bytes) {
                continue;
            }
            result.buffer_total_size += bytes.len();
            result.messages.push(bytes);
            result.queue_offsets.push(unit.queue_offset);
            result.status = GetMessageStatus::Found;
            next_phy_file_start = i64::MIN;
        }
        result.next_begin_offset = offset + consumed;
        let diff = (max_phy - max_pulled_phy).max(0) as u64;
        result.suggest_pulling_from_slave = diff > mem_limit;
        Some(result)
    }

    fn batch_full(
        &self,
        size: usize,
        max_msg_nums: usize,
        total: usize,
        count: usize,
        in_disk: bool,
    ) -> bool {
        if total == 0 || count == 0 {
            return false;
        }
        if max_msg_nums <= count {
            return true;
        }
        let c = &self.inner.config;
        if in_disk {
            total + size > c.max_transfer_bytes_on_message_in_disk
                || count > c.max_transfer_count_on_message_in_disk.saturating_sub(1)
        } else {
            total + size > c.max_transfer_bytes_on_message_in_memory
                || count > c.max_transfer_count_on_message_in_memory.saturating_sub(1)
        }
    }

    /// Logical offset one past the last message of the queue (0 when empty or unknown).
    pub fn max_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.inner
            .cq_table
            .get(topic, queue_id)
            .map(|cq| cq.max_offset())
            .unwrap_or(0)
    }

    pub fn min_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.inner
            .cq_table
            .get(topic, queue_id)
            .map(|cq| cq.min_offset())
            .unwrap_or(0)
    }

    /// CommitLog offset of the message at a logical offset.
    pub fn commit_log_offset_in_queue(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) -> Option<i64> {
        let cq = self.inner.cq_table.get(topic, queue_id)?;
        cq.get_unit(offset).map(|u| u.commit_log_offset)
    }

    /// Logical offset of the first message stored at or after `timestamp` (Java's
    /// `getOffsetInQueueByTime`).
    pub fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp: i64) -> i64 {
        let Some(cq) = self.inner.cq_table.get(topic, queue_id) else {
            return 0;
        };
        let cl = &self.inner.commit_log;
        cq.offset_by_time(timestamp, cl.min_offset(), |phy, _size| {
            cl.store_timestamp_at(phy)
        })
    }

    /// Store time of the message at a logical offset.
    pub fn message_store_timestamp(&self, topic: &str, queue_id: i32, offset: i64) -> Option<i64> {
        let phy = self.commit_log_offset_in_queue(topic, queue_id, offset)?;
        self.inner.commit_log.store_timestamp_at(phy)
    }

    /// Store time of the earliest message still in the queue.
    pub fn earliest_message_time(&self, topic: &str, queue_id: i32) -> Option<i64> {
        let min = self.min_offset_in_queue(topic, queue_id);
        self.message_store_timestamp(topic, queue_id, min)
    }

    /// Store time of the earliest message in the CommitLog.
    pub fn earliest_message_time_in_log(&self) -> Option<i64> {
        self.inner
            .commit_log
            .store_timestamp_at(self.inner.commit_log.min_offset())
    }

    /// The record at a CommitLog offset (VIEW_MESSAGE_BY_ID), zero-copy.
    pub fn look_message_by_offset(&self, phy: i64) -> Option<Bytes> {
        self.inner.commit_log.get_record(phy)
    }

    /// The record named by an offset message id (its physical offset), zero-copy.
    pub fn look_message_by_msg_id(&self, msg_id: &str) -> Option<Bytes> {
        let id = apogee_codec::message::decode_offset_msg_id(msg_id).ok()?;
        self.look_message_by_offset(id.offset)
    }

    /// Records whose key (KEYS entry or UNIQ_KEY) hashes like `key`, stored in [begin, end].
    /// Callers check the keys: hash collisions are possible.
    pub fn query_message(
        &self,
        topic: &str,
        key: &str,
        max_num: usize,
        begin: i64,
        end: i64,
    ) -> QueryMessageResult {
        let q = self.inner.index.query(topic, key, max_num, begin, end);
        let mut phys = q.phy_offsets.clone();
        phys.sort_unstable();
        phys.dedup();
        let messages = phys
            .into_iter()
            .filter_map(|p| self.inner.commit_log.get_record(p))
            .collect();
        QueryMessageResult {
            messages,
            index_last_update_timestamp: q.index_last_update_timestamp,
            index_last_update_phyoffset: q.index_last_update_phyoffset,
        }
    }

    pub fn commit_log_min_offset(&self) -> i64 {
        self.inner.commit_log.min_offset()
    }

    pub fn commit_log_max_offset(&self) -> i64 {
        self.inner.commit_log.max_offset()
    }

    /// CommitLog bytes not yet dispatched.
    pub fn dispatch_behind_bytes(&self) -> i64 {
        self.inner.dispatcher.behind_bytes()
    }

    /// Wait (bounded) until the dispatcher has caught up.
    pub fn wait_dispatched(&self, timeout: Duration) -> bool {
        self.inner.dispatcher.wait_caught_up(timeout)
    }

    /// Every (topic, queue id) with a consume queue.
    pub fn queues(&self) -> Vec<(String, i32)> {
        self.inner
            .cq_table
            .queues()
            .iter()
            .map(|q| (q.topic().to_owned(), q.queue_id()))
            .collect()
    }

    /// Delete a topic's consume queues (and its queue-offset counters).
    pub fn delete_topic(&self, topic: &str) -> io::Result<usize> {
        self.inner.commit_log.remove_queue_offsets(topic);
        self.inner.cq_table.remove_topic(topic)
    }

    /// Arm forced deletion of expired CommitLog files (admin DELETE_EXPIRED_COMMITLOG).
    pub fn execute_delete_files_manually(&self) {
        self.inner.manual_delete_runs.store(20, Ordering::Release);
        self.wake_service();
    }

    /// Current disk usage of the CommitLog path, as a fraction.
    pub fn commit_log_disk_ratio(&self) -> f64 {
        self.disk_ratio(&self.inner.config.commit_log_dir())
    }

    /// Used fraction of the partition holding `path` as the store sees it (-1 when unknown).
    pub fn disk_ratio(&self, path: &std::path::Path) -> f64 {
        self.inner.fs.disk_usage_ratio(path).unwrap_or(-1.0)
    }

    /// Check the disk usage now instead of at the next periodic check (every 10 s): above
    /// `diskSpaceWarningLevelRatio` writes are refused, under it they are accepted again.
    pub fn check_disk_space(&self) {
        check_disk(&self.inner);
    }

    // ---- background service -----------------------------------------------------------

    fn wake_service(&self) {
        let (m, cv) = &*self.inner.service_wake;
        if let Ok(mut w) = m.lock() {
            *w = true;
        }
        cv.notify_all();
    }

    fn start_service_thread(&self) -> Result<(), StoreError> {
        let weak = Arc::downgrade(&self.inner);
        let wake = Arc::clone(&self.inner.service_wake);
        let handle = std::thread::Builder::new()
            .name("apogee-store-service".into())
            .spawn(move || service_loop(weak, wake))
            .map_err(io_err("starting the store service thread"))?;
        if let Ok(mut s) = self.inner.service.lock() {
            *s = Some(handle);
        }
        Ok(())
    }

    /// One expiry pass (normally run every `cleanResourceInterval`). Returns the number of
    /// CommitLog files deleted.
    pub fn clean_expired_files(&self) -> usize {
        clean_once(&self.inner, now_ms())
    }

    /// Flush consume queues and write the checkpoint now.
    pub fn flush_consume_queues_and_checkpoint(&self) -> io::Result<()> {
        flush_cqs(&self.inner, 0, true)
    }

    /// Stop the store: final dispatch and flushes, checkpoint, remove the abort file (only
    /// when everything was dispatched and the store is healthy).
    pub fn shutdown(&self) {
        let i = &self.inner;
        if i.shutdown.swap(true, Ordering::AcqRel) {
            return;
        }
        i.ha.stop();
        self.wake_service();
        if let Ok(mut s) = i.service.lock() {
            if let Some(h) = s.take() {
                let _ = h.join();
            }
        }
        // Commit write buffers and flush first (no more puts are accepted), so that the
        // dispatcher's last catch-up sees every byte.
        if let Ok(mut f) = i.flush.lock() {
            if let Some(mut f) = f.take() {
                f.shutdown();
            }
        }
        i.dispatcher.wait_caught_up(Duration::from_secs(5));
        i.dispatcher.shutdown();
        let cq_ok = flush_cqs(i, 0, true).is_ok();
        if let Err(e) = i.index.flush() {
            warn!("index flush at shutdown failed: {e}");
        }
        let clean = cq_ok
            && !i.poison.is_poisoned()
            && i.flags.is_writeable()
            && i.dispatcher.behind_bytes() == 0
            && i.commit_log.queue().flushed_where() >= i.commit_log.queue().max_wrote_offset();
        if clean {
            if let Err(e) = i.abort.remove() {
                warn!("removing the abort file failed: {e}");
            }
            info!("store shut down cleanly");
        } else {
            warn!("store shut down with pending work: the next start recovers abnormally");
        }
        if let Ok(mut l) = i.lock.lock() {
            l.take();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Release);
    }
}

fn flush_cqs(i: &Inner, least_pages: usize, thorough: bool) -> io::Result<()> {
    let logics_ts = i.checkpoint.logics_msg_timestamp();
    i.cq_table.flush_all(least_pages)?;
    if thorough {
        // Persist the logics timestamp captured before the flush, as Java does.
        let saved = i.checkpoint.logics_msg_timestamp();
        i.checkpoint.set_logics_msg_timestamp(logics_ts);
        let r = i.checkpoint.flush();
        i.checkpoint.set_logics_msg_timestamp(saved.max(logics_ts));
        r?;
    }
    Ok(())
}

fn service_loop(weak: std::sync::Weak<Inner>, wake: Arc<(Mutex<bool>, Condvar)>) {
    let start = Instant::now();
    let mut last_cq_flush = Instant::now();
    let mut last_thorough = Instant::now();
    let mut last_clean = Instant::now();
    let mut last_disk_check = Instant::now();
    loop {
        let (m, cv) = &*wake;
        if let Ok(g) = m.lock() {
            if let Ok((mut g, _)) = cv.wait_timeout_while(g, Duration::from_millis(100), |w| !*w) {
                *g = false;
            }
        }
        let Some(i) = weak.upgrade() else { return };
        if i.shutdown.load(Ordering::Acquire) {
            return;
        }
        let c = &i.config;
        if last_cq_flush.elapsed() >= Duration::from_millis(c.flush_interval_consume_queue) {
            last_cq_flush = Instant::now();
            let thorough = last_thorough.elapsed()
                >= Duration::from_millis(c.flush_consume_queue_thorough_interval);
            if thorough {
                last_thorough = Instant::now();
            }
            let least = if thorough {
                0
            } else {
                c.flush_consume_queue_least_pages
            };
            if let Err(e) = flush_cqs(&i, least, thorough) {
                warn!("consume queue flush failed: {e}");
            }
        }
        if last_disk_check.elapsed() >= Duration::from_secs(10) {
            last_disk_check = Instant::now();
            check_disk(&i);
        }
        let manual = i.manual_delete_runs.load(Ordering::Acquire) > 0;
        if (start.elapsed() >= Duration::from_secs(60)
            && last_clean.elapsed() >= Duration::from_millis(c.clean_resource_interval))
            || manual
        {
            last_clean = Instant::now();
            clean_once(&i, now_ms());
        }
    }
}

/// Whether the CommitLog bytes a consume-queue unit points at are the record it indexes:
/// TOTALSIZE equals the unit's size and QUEUEID, QUEUEOFFSET and PHYSICALOFFSET are the
/// unit's (fixed places in both record versions; no CRC, so cheap on every pull).
fn record_matches_unit(rec: &[u8], phy: i64, queue_id: i32, queue_offset: i64) -> bool {
    let i32_at = |at: usize| {
        rec.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_be_bytes)
    };
    let i64_at = |at: usize| {
        rec.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_be_bytes)
    };
    i32_at(0).and_then(|n| usize::try_from(n).ok()) == Some(rec.len())
        && i32_at(12) == Some(queue_id)
        && i64_at(20) == Some(queue_offset)
        && i64_at(28) == Some(phy)
}

/// Disk usage above the warning level makes the store refuse writes until it drops.
fn check_disk(i: &Inner) {
    let ratio =
        i.fs.disk_usage_ratio(&i.config.commit_log_dir())
            .unwrap_or(-1.0);
    let warn_level = i.config.disk_space_warning_level_ratio as f64 / 100.0;
    if ratio > warn_level {
        if i.flags.get() & RunningFlags::DISK_FULL == 0 {
            warn!("disk usage {ratio:.2} above {warn_level:.2}: refusing writes");
        }
        i.flags.set(RunningFlags::DISK_FULL);
    } else if i.flags.get() & RunningFlags::DISK_FULL != 0 {
        info!("disk usage {ratio:.2} back under {warn_level:.2}: accepting writes");
        i.flags.clear(RunningFlags::DISK_FULL);
    }
}

/// One pass of CommitLog, consume-queue and index expiry. Returns CommitLog files deleted.
fn clean_once(i: &Inner, now: i64) -> usize {
    let c = &i.config;
    let ratio = i.fs.disk_usage_ratio(&c.commit_log_dir()).unwrap_or(-1.0);
    let max_ratio = c.disk_max_used_space_ratio() as f64 / 100.0;
    let forcibly = c.disk_space_clean_forcibly_ratio as f64 / 100.0;
    let clean_immediately = ratio > forcibly || ratio < 0.0;
    let space_full = ratio > max_ratio || ratio < 0.0;
    let manual = i
        .manual_delete_runs
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok();
    let time_up = is_delete_hour(&c.delete_when, now);
    let mut deleted = 0;
    if time_up || space_full || manual {
        let reserved_ms = c.file_reserved_time.max(0).saturating_mul(3_600_000);
        let force = (clean_immediately || space_full) && c.clean_file_forcibly_enable;
        let r = i.commit_log.queue().delete_expired(10, |f| {
            let modified = f
                .last_modified()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64)
                .unwrap_or(now);
            now >= modified.saturating_add(reserved_ms) || force
        });
        match r {
            Ok(n) => deleted = n,
            Err(e) => warn!("deleting expired CommitLog files failed: {e}"),
        }
        if deleted > 0 {
            info!("deleted {deleted} expired CommitLog files");
        }
    }
    let cl_min = i.commit_log.min_offset();
    if cl_min > i.last_cl_min_cleaned.load(Ordering::Acquire) {
        i.last_cl_min_cleaned.store(cl_min, Ordering::Release);
        if let Err(e) = i.cq_table.delete_expired(cl_min) {
            warn!("deleting expired consume queue files failed: {e}");
        }
        if let Err(e) = i.index.delete_expired(cl_min) {
            warn!("deleting expired index files failed: {e}");
        }
    }
    deleted
}

/// Physical memory in bytes.
fn total_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if pages > 0 && size > 0 {
        pages as u64 * size as u64
    } else {
        8 << 30
    }
}

/// `topic-queueId` → next queue offset (exposed for diagnostics).
pub fn queue_offset_table(store: &MessageStore) -> HashMap<String, i64> {
    store.inner.cq_table.topic_queue_table()
}

/// Store host helper: the address written into records and message ids.
pub fn store_host(ip: std::net::IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests;
