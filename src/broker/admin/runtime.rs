//! GET_BROKER_RUNTIME_INFO: the broker's runtime facts as a string table.
//!
//! mqadmin (`clusterList`, `brokerStatus`, `exportMetrics`) parses several of these without
//! null checks: the six `msgPutTotal…` / `msgGetTotal…` values and `earliestMessageTimeStamp`
//! as longs, `putTps` / `getTransferedTps` as space-separated doubles (10 s, 1 min, 10 min),
//! `commitLogDiskRatio` as a double. They are always present here. Keys Java fills from
//! thread-pool queues report 0 (requests are not queued in pools here); latency histograms
//! Java keeps are not measured and left out.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use apogee_codec::codes::CURRENT_VERSION;

use super::state;
use crate::broker::BrokerInner;
use crate::store::config_files::topics::SCHEDULE_TOPIC;
use crate::store::sys;

/// Java's `MQVersion.getVersionDesc` of the version this broker speaks.
pub const BROKER_VERSION_DESC: &str = "V4_9_8";

/// Java's `Double.toString` for the values mqadmin parses (`1.0`, `0.5`).
fn java_double(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if v == v.trunc() && v.abs() < 1e7 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

fn rates(r: [f64; 3]) -> String {
    r.map(java_double).join(" ")
}

/// Java `StoreStatsService.getFormatRuntime`.
fn format_runtime(ms: i64) -> String {
    let ms = ms.max(0);
    let (day, hour, minute, second) = (86_400_000, 3_600_000, 60_000, 1000);
    format!(
        "[ {} days, {} hours, {} minutes, {} seconds ]",
        ms / day,
        ms % day / hour,
        ms % hour / minute,
        ms % minute / second
    )
}

/// Java `MixAll.humanReadableByteCount(bytes, false)`.
fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut exp = 0usize;
    let mut v = bytes as f64;
    while v >= 1024.0 && exp < 6 {
        v /= 1024.0;
        exp += 1;
    }
    let pre = ["K", "M", "G", "T", "P", "E"][exp.saturating_sub(1).min(5)];
    format!("{v:.1} {pre}iB")
}

/// (total, usable) bytes of the file system holding `path`.
fn disk_space(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `st` is plain data that statvfs fills; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some((
        (st.f_blocks as u64).saturating_mul(frsize),
        (st.f_bavail as u64).saturating_mul(frsize),
    ))
}

/// The table GET_BROKER_RUNTIME_INFO answers with.
pub fn runtime_info(b: &Arc<BrokerInner>) -> BTreeMap<String, String> {
    let st = state::state(b);
    let v = st.stats_view();
    let store = &b.store;
    let cfg = store.config();
    let now = sys::now_ms();
    let mut m = BTreeMap::new();
    let mut put = |k: &str, val: String| {
        m.insert(k.to_owned(), val);
    };

    // What Java's store statistics report.
    put("bootTimestamp", st.boot_ms.to_string());
    put("runtime", format_runtime(now - st.boot_ms));
    put("putMessageTimesTotal", v.puts.to_string());
    put("putMessageFailedTimes", "0".into());
    put("putTps", rates(v.put_tps));
    put("getFoundTps", rates(v.get_found_tps));
    put("getMissTps", rates(v.get_miss_tps));
    put("getTotalTps", rates(v.get_total_tps));
    put("getTransferedTps", rates(v.get_transferred_tps));

    // What Java's store adds.
    let cl_dir = cfg.commit_log_dir();
    let cl_ratio = java_double(store.commit_log_disk_ratio());
    put(
        &format!("commitLogDiskRatio_{}", cl_dir.display()),
        cl_ratio.clone(),
    );
    put("commitLogDiskRatio", cl_ratio);
    put(
        "consumeQueueDiskRatio",
        java_double(store.disk_ratio(&cfg.consume_queue_dir())),
    );
    for (level, offset) in b.configs.delay_offsets.table() {
        let max = store.max_offset_in_queue(SCHEDULE_TOPIC, level - 1);
        put(
            &format!("scheduleMessageOffset_{level}"),
            format!("{offset},{max}"),
        );
    }
    put(
        "commitLogMinOffset",
        store.commit_log_min_offset().to_string(),
    );
    put(
        "commitLogMaxOffset",
        store.commit_log_max_offset().to_string(),
    );

    // What Java's broker adds.
    put("brokerVersionDesc", BROKER_VERSION_DESC.into());
    put("brokerVersion", CURRENT_VERSION.to_string());
    put(
        "msgPutTotalYesterdayMorning",
        v.put_yesterday_morning.to_string(),
    );
    put("msgPutTotalTodayMorning", v.put_today_morning.to_string());
    put("msgPutTotalTodayNow", v.puts.to_string());
    put(
        "msgGetTotalYesterdayMorning",
        v.get_yesterday_morning.to_string(),
    );
    put("msgGetTotalTodayMorning", v.get_today_morning.to_string());
    put("msgGetTotalTodayNow", v.transferred.to_string());
    for k in [
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
        "queryThreadPoolQueueSize",
        "EndTransactionQueueSize",
        "sendThreadPoolQueueHeadWaitTimeMills",
        "pullThreadPoolQueueHeadWaitTimeMills",
        "queryThreadPoolQueueHeadWaitTimeMills",
        // How long the CommitLog put lock is held right now (not exposed by the store).
        "pageCacheLockTimeMills",
    ] {
        put(k, "0".into());
    }
    put(
        "dispatchBehindBytes",
        store.dispatch_behind_bytes().to_string(),
    );
    put(
        "earliestMessageTimeStamp",
        store
            .earliest_message_time_in_log()
            .unwrap_or(-1)
            .to_string(),
    );
    put("startAcceptSendRequestTimeStamp", "0".into());
    put(
        "remainTransientStoreBufferNumbs",
        store
            .transient_buffers_available()
            .map_or(i32::MAX.to_string(), |n| n.to_string()),
    );
    if let Some((total, free)) = disk_space(&cfg.root_dir()) {
        put(
            "commitLogDirCapacity",
            format!(
                "Total : {}, Free : {}.",
                human_bytes(total),
                human_bytes(free)
            ),
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_formats() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(12.5), "12.5");
        assert_eq!(java_double(3.0), "3.0");
        assert_eq!(rates([1.0, 0.5, 0.0]), "1.0 0.5 0.0");
        assert_eq!(
            format_runtime(90_061_000),
            "[ 1 days, 1 hours, 1 minutes, 1 seconds ]"
        );
        assert_eq!(human_bytes(1000), "1000 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert!(disk_space(Path::new("/")).is_some());
        assert!(disk_space(Path::new("/definitely/not/here")).is_none());
    }
}
