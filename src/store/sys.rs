//! Small system facts the store needs: wall-clock time, local time (index file names and the
//! `deleteWhen` hour are in local time, as in Java), and disk usage of a path.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Broken-down local time of `ms` since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

/// Local time (the process's time zone, `TZ` honoured) of `ms` since the epoch.
pub fn local_time(ms: i64) -> LocalTime {
    let secs = ms.div_euclid(1000) as libc::time_t;
    let millis = ms.rem_euclid(1000) as u32;
    // SAFETY: `tm` is plain data; localtime_r writes it and is thread-safe.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return LocalTime {
            year: 1970,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            millis,
        };
    }
    LocalTime {
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        millis,
    }
}

/// `yyyyMMddHHmmssSSS` in local time (index file names).
pub fn time_to_file_name(ms: i64) -> String {
    let t = local_time(ms);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{:03}",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    )
}

/// Whether the current local hour is listed in `deleteWhen` ("04", or "04;16").
pub fn is_delete_hour(delete_when: &str, now_ms: i64) -> bool {
    let hour = local_time(now_ms).hour;
    delete_when
        .split(';')
        .filter_map(|h| h.trim().parse::<u32>().ok())
        .any(|h| h == hour)
}

/// Fraction of the file system holding `path` that is used, as Java computes it
/// (`ceil(100 * used / (used + available)) / 100`), or `None` when it cannot be read.
pub fn disk_usage_ratio(path: &Path) -> Option<f64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `st` is plain data filled by statvfs; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as f64;
    let total = st.f_blocks as f64 * frsize;
    let free = st.f_bfree as f64 * frsize;
    let avail = st.f_bavail as f64 * frsize;
    let used = total - free;
    if used + avail <= 0.0 {
        return None;
    }
    Some((100.0 * used / (used + avail)).ceil() / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_disk() {
        let name = time_to_file_name(now_ms());
        assert_eq!(name.len(), 17);
        assert!(name.bytes().all(|b| b.is_ascii_digit()));
        let r = disk_usage_ratio(Path::new("/")).unwrap();
        assert!(r > 0.0 && r <= 1.0);
        assert!(disk_usage_ratio(Path::new("/definitely/not/here")).is_none());
        let h = local_time(now_ms()).hour;
        assert!(is_delete_hour(&format!("{h:02}"), now_ms()) || local_time(now_ms()).hour != h);
        assert!(!is_delete_hour("", now_ms()));
    }
}
