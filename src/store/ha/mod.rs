//! Master/slave replication (RocketMQ 4.9.8's `HAService`), speaking Java's wire format so
//! that Apogee and Java brokers can follow each other.
//!
//! * [`wire`]: the frame format (8-byte slave reports, 12-byte chunk headers), sans-IO.
//! * [`master`]: the HA listener; one connection actor per slave (a reader task for its
//!   reports, a writer task streaming the CommitLog from zero-copy mapped slices).
//! * [`slave`]: the HA client: connects to the master, reports its max offset, appends the
//!   streamed bytes at exactly that offset; its own dispatcher builds consume queues and
//!   index files from them.
//! * [`group_transfer`]: SYNC_MASTER waiters for the slave's acknowledgement.
//!
//! [`HaService`] is the state the store and the network actors share: the acknowledged offset
//! (owned by [`GroupTransfer`]), the number of slave connections, the wake-up of idle
//! connection writers, and (on a slave) the master's HA address.

pub mod group_transfer;
pub mod master;
pub mod slave;
pub mod wire;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub use group_transfer::GroupTransfer;

use super::store_config::{BrokerRole, MessageStoreConfig};

/// HA settings (Java's names in `MessageStoreConfig`).
#[derive(Debug, Clone)]
pub struct HaSettings {
    pub role: BrokerRole,
    /// `haTransferBatchSize`: largest chunk the master sends.
    pub transfer_batch_size: usize,
    /// `haSendHeartbeatInterval`.
    pub heartbeat_interval: Duration,
    /// `haHousekeepingInterval`: a silent peer is dropped after this long.
    pub housekeeping_interval: Duration,
    /// `haSlaveFallbehindMax`: a slave further behind is "not available" for SYNC_MASTER.
    pub fallbehind_max: i64,
    /// `slaveTimeout`: how long a SYNC_MASTER send waits for the slave.
    pub slave_timeout: Duration,
    /// `mappedFileSizeCommitLog`: bounds a chunk (chunks never span files).
    pub file_size: usize,
}

impl HaSettings {
    pub fn from_config(c: &MessageStoreConfig) -> Self {
        HaSettings {
            role: c.broker_role(),
            transfer_batch_size: c.ha_transfer_batch_size.max(1),
            heartbeat_interval: Duration::from_millis(c.ha_send_heartbeat_interval.max(1)),
            housekeeping_interval: Duration::from_millis(c.ha_housekeeping_interval.max(1)),
            fallbehind_max: c.ha_slave_fallbehind_max,
            slave_timeout: Duration::from_millis(c.slave_timeout.max(1)),
            file_size: c.mapped_file_size_commit_log,
        }
    }
}

/// Shared HA state of one store.
pub struct HaService {
    settings: HaSettings,
    group: GroupTransfer,
    connections: AtomicUsize,
    /// Set by an idle connection writer before it waits (after re-checking for data), so
    /// that appenders only take the lock when somebody waits.
    writers_waiting: AtomicBool,
    writer_wakers: Mutex<Vec<async_channel::Sender<()>>>,
    /// A slave's master HA address (`haMasterAddress` or the name server's answer).
    master_addr: Mutex<Option<String>>,
    /// `haMasterAddress` was configured: the name server's answer does not replace it.
    master_configured: bool,
    stopped: AtomicBool,
}

impl HaService {
    pub fn new(settings: HaSettings, configured_master: &str) -> Self {
        // Java uses haMasterAddress only when it looks like an address (length >= 6).
        let master = configured_master.trim();
        HaService {
            settings,
            group: GroupTransfer::default(),
            connections: AtomicUsize::new(0),
            writers_waiting: AtomicBool::new(false),
            writer_wakers: Mutex::new(Vec::new()),
            master_addr: Mutex::new((master.len() >= 6).then(|| master.to_owned())),
            master_configured: master.len() >= 6,
            stopped: AtomicBool::new(false),
        }
    }

    pub fn settings(&self) -> &HaSettings {
        &self.settings
    }

    pub fn group(&self) -> &GroupTransfer {
        &self.group
    }

    /// Largest offset a slave acknowledged (Java `push2SlaveMaxOffset`).
    pub fn push_to_slave_max_offset(&self) -> i64 {
        self.group.acked()
    }

    /// Slave connections open now.
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    pub(crate) fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }

    /// Java `isSlaveOK`: a slave is connected and not more than `haSlaveFallbehindMax`
    /// behind `master_put_where`.
    pub fn is_slave_ok(&self, master_put_where: i64) -> bool {
        self.connection_count() > 0
            && master_put_where - self.push_to_slave_max_offset() < self.settings.fallbehind_max
    }

    /// Wake idle connection writers: new CommitLog data (cheap when none waits).
    pub fn wakeup_writers(&self) {
        if !self.writers_waiting.load(Ordering::SeqCst)
            || !self.writers_waiting.swap(false, Ordering::SeqCst)
        {
            return;
        }
        if let Ok(w) = self.writer_wakers.lock() {
            for tx in w.iter() {
                let _ = tx.try_send(());
            }
        }
    }

    /// Register a connection writer's one-slot wake-up channel.
    pub(crate) fn add_writer(&self, tx: async_channel::Sender<()>) {
        if let Ok(mut w) = self.writer_wakers.lock() {
            w.retain(|t| !t.is_closed());
            w.push(tx);
        }
    }

    /// A writer is about to wait: it must re-check for data after this and before waiting.
    pub(crate) fn announce_writer_wait(&self) {
        self.writers_waiting.store(true, Ordering::SeqCst);
    }

    /// The master's HA address as the slave knows it now.
    pub fn master_addr(&self) -> Option<String> {
        self.master_addr.lock().ok().and_then(|m| m.clone())
    }

    /// Set the master's HA address (from the name server's registration answer); a
    /// configured `haMasterAddress` is kept.
    pub fn update_master_addr(&self, addr: &str) {
        let addr = addr.trim();
        if addr.is_empty() || self.master_configured {
            return;
        }
        if let Ok(mut m) = self.master_addr.lock() {
            if m.as_deref() != Some(addr) {
                log::info!("HA master address is now {addr}");
                *m = Some(addr.to_owned());
            }
        }
    }

    /// Stop the HA actors (listener, connections, client).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        if let Ok(w) = self.writer_wakers.lock() {
            for tx in w.iter() {
                let _ = tx.try_send(());
            }
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}
