//! `MessageStoreConfig`: the store's settings under their RocketMQ 4.9.8 property names and
//! defaults (as found in `broker.conf`).

use std::path::PathBuf;

use crate::config_struct;

/// Java's default store root: `${user.home}/store`.
fn default_root() -> String {
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    format!("{home}/store")
}

config_struct! {
    /// Store settings. Property names are 4.9.8's (`mappedFileSizeCommitLog` with two `p`s:
    /// the old spelling `mapedFileSize...` is ignored by 4.9.8, and so by us).
    pub struct MessageStoreConfig {
        store_path_root_dir: String = default_root() => "storePathRootDir",
        /// Empty: `<storePathRootDir>/commitlog`.
        store_path_commit_log: String = String::new() => "storePathCommitLog",
        mapped_file_size_commit_log: usize = 1024 * 1024 * 1024 => "mappedFileSizeCommitLog",
        mapped_file_size_consume_queue: usize = 300_000 * 20 => "mappedFileSizeConsumeQueue",
        enable_consume_queue_ext: bool = false => "enableConsumeQueueExt",
        flush_interval_commit_log: u64 = 500 => "flushIntervalCommitLog",
        commit_interval_commit_log: u64 = 200 => "commitIntervalCommitLog",
        use_reentrant_lock_when_put_message: bool = true => "useReentrantLockWhenPutMessage",
        flush_commit_log_timed: bool = true => "flushCommitLogTimed",
        flush_interval_consume_queue: u64 = 1000 => "flushIntervalConsumeQueue",
        clean_resource_interval: u64 = 10_000 => "cleanResourceInterval",
        delete_commit_log_files_interval: u64 = 100 => "deleteCommitLogFilesInterval",
        delete_consume_queue_files_interval: u64 = 100 => "deleteConsumeQueueFilesInterval",
        destroy_maped_file_interval_forcibly: u64 = 120_000 => "destroyMapedFileIntervalForcibly",
        redelete_hanged_file_interval: u64 = 120_000 => "redeleteHangedFileInterval",
        /// Hours (local time, two digits) at which expired files are deleted, `;`-separated.
        delete_when: String = "04".into() => "deleteWhen",
        disk_max_used_space_ratio: i32 = 75 => "diskMaxUsedSpaceRatio",
        /// Hours a CommitLog file is kept.
        file_reserved_time: i64 = 72 => "fileReservedTime",
        put_msg_index_hight_water: i64 = 600_000 => "putMsgIndexHightWater",
        /// Largest message body accepted.
        max_message_size: usize = 1024 * 1024 * 4 => "maxMessageSize",
        check_crc_on_recover: bool = true => "checkCRCOnRecover",
        flush_commit_log_least_pages: usize = 4 => "flushCommitLogLeastPages",
        commit_commit_log_least_pages: usize = 4 => "commitCommitLogLeastPages",
        flush_least_pages_when_warm_maped_file: usize = 4096 => "flushLeastPagesWhenWarmMapedFile",
        flush_consume_queue_least_pages: usize = 2 => "flushConsumeQueueLeastPages",
        flush_commit_log_thorough_interval: u64 = 10_000 => "flushCommitLogThoroughInterval",
        commit_commit_log_thorough_interval: u64 = 200 => "commitCommitLogThoroughInterval",
        flush_consume_queue_thorough_interval: u64 = 60_000 => "flushConsumeQueueThoroughInterval",
        max_transfer_bytes_on_message_in_memory: usize = 1024 * 256 => "maxTransferBytesOnMessageInMemory",
        max_transfer_count_on_message_in_memory: usize = 32 => "maxTransferCountOnMessageInMemory",
        max_transfer_bytes_on_message_in_disk: usize = 1024 * 64 => "maxTransferBytesOnMessageInDisk",
        max_transfer_count_on_message_in_disk: usize = 8 => "maxTransferCountOnMessageInDisk",
        access_message_in_memory_max_ratio: i32 = 40 => "accessMessageInMemoryMaxRatio",
        message_index_enable: bool = true => "messageIndexEnable",
        max_hash_slot_num: usize = 5_000_000 => "maxHashSlotNum",
        max_index_num: usize = 5_000_000 * 4 => "maxIndexNum",
        max_msgs_num_batch: usize = 64 => "maxMsgsNumBatch",
        message_index_safe: bool = false => "messageIndexSafe",
        /// The HA listener port. Left at 10912 (the default) it follows `listenPort + 1` as
        /// 4.9.8 does; any other value is used as given (0 = any free port).
        ha_listen_port: u16 = 10912 => "haListenPort",
        ha_send_heartbeat_interval: u64 = 1000 * 5 => "haSendHeartbeatInterval",
        ha_housekeeping_interval: u64 = 1000 * 20 => "haHousekeepingInterval",
        ha_transfer_batch_size: usize = 1024 * 32 => "haTransferBatchSize",
        ha_master_address: String = String::new() => "haMasterAddress",
        ha_slave_fallbehind_max: i64 = 1024 * 1024 * 256 => "haSlaveFallbehindMax",
        /// How long a SYNC_MASTER send waits for the slave's acknowledgement.
        slave_timeout: u64 = 3000 => "slaveTimeout",
        /// ASYNC_MASTER, SYNC_MASTER or SLAVE.
        broker_role: String = "ASYNC_MASTER".into() => "brokerRole",
        /// ASYNC_FLUSH or SYNC_FLUSH.
        flush_disk_type: String = "ASYNC_FLUSH".into() => "flushDiskType",
        sync_flush_timeout: u64 = 1000 * 5 => "syncFlushTimeout",
        message_delay_level: String = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h".into() => "messageDelayLevel",
        flush_delay_offset_interval: u64 = 1000 * 10 => "flushDelayOffsetInterval",
        clean_file_forcibly_enable: bool = true => "cleanFileForciblyEnable",
        /// Populate every page of a newly allocated CommitLog file (in the background). Off
        /// (Java's default): only a window just ahead of the write position is populated.
        warm_maped_file_enable: bool = false => "warmMapedFileEnable",
        offset_check_in_slave: bool = false => "offsetCheckInSlave",
        duplication_enable: bool = false => "duplicationEnable",
        os_page_cache_busy_time_out_mills: u64 = 1000 => "osPageCacheBusyTimeOutMills",
        default_query_max_num: usize = 32 => "defaultQueryMaxNum",
        transient_store_pool_enable: bool = false => "transientStorePoolEnable",
        transient_store_pool_size: usize = 5 => "transientStorePoolSize",
        fast_fail_if_no_buffer_in_store_pool: bool = false => "fastFailIfNoBufferInStorePool",
        /// Percent of disk use above which puts are refused (Java: system property, 0.90).
        disk_space_warning_level_ratio: i32 = 90 => "diskSpaceWarningLevelRatio",
        /// Percent of disk use above which files are deleted regardless of age (0.85).
        disk_space_clean_forcibly_ratio: i32 = 85 => "diskSpaceCleanForciblyRatio",
        /// 5.x timer messages (`TIMER_DELIVER_MS` / `TIMER_DELAY_SEC` / `TIMER_DELAY_MS`):
        /// accepted and delivered when true, refused when false.
        timer_wheel_enable: bool = true => "timerWheelEnable",
        /// Longest delay a timer message may ask for, seconds (3 days).
        timer_max_delay_sec: i64 = 3 * 24 * 3600 => "timerMaxDelaySec",
        /// Width of one timing-wheel slot, ms.
        timer_precision_ms: i64 = 1000 => "timerPrecisionMs",
        /// Size of one timer-log segment file.
        mapped_file_size_timer_log: u64 = 100 * 1024 * 1024 => "mappedFileSizeTimerLog",
        /// How often the timer log is flushed and its checkpoint written, ms.
        timer_flush_interval_ms: u64 = 1000 => "timerFlushIntervalMs",
    }
}

/// How appends are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushDiskType {
    SyncFlush,
    AsyncFlush,
}

/// The broker's role in replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerRole {
    AsyncMaster,
    SyncMaster,
    Slave,
}

impl MessageStoreConfig {
    pub fn root_dir(&self) -> PathBuf {
        PathBuf::from(&self.store_path_root_dir)
    }

    pub fn commit_log_dir(&self) -> PathBuf {
        if self.store_path_commit_log.is_empty() {
            self.root_dir().join("commitlog")
        } else {
            // Java allows a comma-separated list (multi-path); the first path is used here.
            PathBuf::from(
                self.store_path_commit_log
                    .split(',')
                    .next()
                    .unwrap_or(&self.store_path_commit_log),
            )
        }
    }

    pub fn consume_queue_dir(&self) -> PathBuf {
        self.root_dir().join("consumequeue")
    }

    pub fn index_dir(&self) -> PathBuf {
        self.root_dir().join("index")
    }

    pub fn config_dir(&self) -> PathBuf {
        self.root_dir().join("config")
    }

    pub fn checkpoint_path(&self) -> PathBuf {
        self.root_dir().join("checkpoint")
    }

    pub fn abort_path(&self) -> PathBuf {
        self.root_dir().join("abort")
    }

    /// Timer-message files (timer log, wheel, checkpoint).
    pub fn timer_dir(&self) -> PathBuf {
        self.root_dir().join("timer")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root_dir().join("lock")
    }

    /// The CQ file size rounded up to whole 20-byte units, as Java does.
    pub fn consume_queue_file_size(&self) -> usize {
        self.mapped_file_size_consume_queue.div_ceil(20) * 20
    }

    pub fn flush_disk_type(&self) -> FlushDiskType {
        if self.flush_disk_type.eq_ignore_ascii_case("SYNC_FLUSH") {
            FlushDiskType::SyncFlush
        } else {
            FlushDiskType::AsyncFlush
        }
    }

    pub fn broker_role(&self) -> BrokerRole {
        match self.broker_role.to_ascii_uppercase().as_str() {
            "SYNC_MASTER" => BrokerRole::SyncMaster,
            "SLAVE" => BrokerRole::Slave,
            _ => BrokerRole::AsyncMaster,
        }
    }

    /// The transient store pool is used only with ASYNC_FLUSH on a master, as in Java.
    pub fn transient_pool_active(&self) -> bool {
        self.transient_store_pool_enable
            && self.flush_disk_type() == FlushDiskType::AsyncFlush
            && self.broker_role() != BrokerRole::Slave
    }

    /// `diskMaxUsedSpaceRatio` clamped to [10, 95] as Java does.
    pub fn disk_max_used_space_ratio(&self) -> i32 {
        self.disk_max_used_space_ratio.clamp(10, 95)
    }

    /// Delay of each level in ms (level 1 is index 0). Units: ms, s, m, h, d.
    pub fn delay_levels_ms(&self) -> Result<Vec<i64>, String> {
        parse_delay_levels(&self.message_delay_level)
    }

    /// Check values that would make the store misbehave.
    pub fn validate(&self) -> Result<(), String> {
        for w in ["flushDiskType", "brokerRole"] {
            let v = if w == "flushDiskType" {
                &self.flush_disk_type
            } else {
                &self.broker_role
            };
            let ok = match w {
                "flushDiskType" => ["SYNC_FLUSH", "ASYNC_FLUSH"].contains(&v.as_str()),
                _ => ["ASYNC_MASTER", "SYNC_MASTER", "SLAVE"].contains(&v.as_str()),
            };
            if !ok {
                return Err(format!("config key '{w}': unknown value {v:?}"));
            }
        }
        if self.mapped_file_size_commit_log < 4096 {
            return Err("config key 'mappedFileSizeCommitLog': must be at least 4096".into());
        }
        if self.mapped_file_size_consume_queue < 20 {
            return Err("config key 'mappedFileSizeConsumeQueue': must be at least 20".into());
        }
        if self.max_hash_slot_num == 0 || self.max_index_num < 2 {
            return Err("config keys 'maxHashSlotNum'/'maxIndexNum' must be positive".into());
        }
        self.delay_levels_ms()
            .map_err(|e| format!("config key 'messageDelayLevel': {e}"))?;
        if !(1..=3_600_000).contains(&self.timer_precision_ms) {
            return Err("config key 'timerPrecisionMs': must be in [1, 3600000]".into());
        }
        if !(1..=10 * 365 * 86_400).contains(&self.timer_max_delay_sec) {
            return Err("config key 'timerMaxDelaySec': must be in [1, 315360000]".into());
        }
        if self.timer_max_delay_sec * 1000 / self.timer_precision_ms > 100_000_000 {
            return Err(
                "config keys 'timerMaxDelaySec'/'timerPrecisionMs': more than 10^8 wheel slots"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Parse `messageDelayLevel` ("1s 5s 10s ... 2h").
pub fn parse_delay_levels(s: &str) -> Result<Vec<i64>, String> {
    let mut v = Vec::new();
    for item in s.split_whitespace() {
        let (num, unit) = item.split_at(
            item.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(item.len()),
        );
        let n: i64 = num
            .parse()
            .map_err(|_| format!("bad delay level {item:?}"))?;
        let mult = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(format!("bad delay level unit in {item:?}")),
        };
        v.push(n * mult);
    }
    if v.is_empty() {
        return Err("no delay levels".into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_set() {
        let mut c = MessageStoreConfig::default();
        assert_eq!(c.mapped_file_size_commit_log, 1 << 30);
        assert_eq!(c.consume_queue_file_size(), 6_000_000);
        assert_eq!(c.set("mappedFileSizeCommitLog", "1048576"), Ok(true));
        assert_eq!(c.mapped_file_size_commit_log, 1 << 20);
        // The old spelling is not a key we know.
        assert_eq!(c.set("mapedFileSizeCommitLog", "2048"), Ok(false));
        assert!(c
            .set("maxMessageSize", "lots")
            .unwrap_err()
            .contains("maxMessageSize"));
        assert!(c.set("messageIndexEnable", "yes").is_err());
        c.set("mappedFileSizeConsumeQueue", "6001").unwrap();
        assert_eq!(c.consume_queue_file_size(), 6020);
        assert_eq!(c.delay_levels_ms().unwrap().len(), 18);
        assert_eq!(c.delay_levels_ms().unwrap()[17], 7_200_000);
        c.validate().unwrap();
        c.flush_disk_type = "SOMETIMES".into();
        assert!(c.validate().is_err());
        assert!(c.to_properties().iter().any(|(k, _)| *k == "deleteWhen"));
        // 5.x timer keys.
        let mut t = MessageStoreConfig::default();
        assert!(t.timer_wheel_enable);
        assert_eq!(
            (t.timer_max_delay_sec, t.timer_precision_ms),
            (259_200, 1000)
        );
        assert_eq!(t.set("timerWheelEnable", "false"), Ok(true));
        assert!(!t.timer_wheel_enable);
        t.set("timerPrecisionMs", "0").unwrap();
        assert!(t.validate().unwrap_err().contains("timerPrecisionMs"));
        t.set("timerPrecisionMs", "1").unwrap();
        t.set("timerMaxDelaySec", "31536000").unwrap();
        assert!(t.validate().unwrap_err().contains("wheel slots"));
        t.set("timerMaxDelaySec", "3600").unwrap();
        t.validate().unwrap();
    }
}
