//! Local time without a time-zone dependency, for the names Java gives index files.
//!
//! Java names an index file by its creation time in the JVM's default time zone
//! (`yyyyMMddHHmmssSSS`). A store shared with a Java broker must use the same zone, or the file
//! names — whose lexicographic order is the file order on load — would interleave wrongly.
//!
//! The zone is found as the JVM finds it on Linux: the `TZ` environment variable (a zone name
//! under `/usr/share/zoneinfo`, a path, or a POSIX rule such as `CET-1CEST,M3.5.0,M10.5.0/3`),
//! otherwise `/etc/localtime`. The TZif file (RFC 8536, versions 1–4) is read with `std` only,
//! including the POSIX rule in its footer that covers times after the last listed transition.
//! If nothing can be read, UTC is used (and a warning is logged once). A `-Duser.timezone` given
//! to a Java broker cannot be known here: run both brokers with the same `TZ`.

use std::sync::OnceLock;

use log::warn;

/// A time zone: UTC offsets over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone {
    /// Transition instants (UTC seconds), ascending.
    transitions: Vec<i64>,
    /// For each transition, the index into `types`.
    transition_types: Vec<u8>,
    /// UTC offsets in seconds of the local time types.
    types: Vec<i32>,
    /// Rule for instants after the last transition (or for all, when there are none).
    rule: Option<PosixRule>,
}

/// A POSIX `TZ` rule: a standard offset and optionally a daylight-saving offset and its dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PosixRule {
    /// UTC offset of standard time, seconds (east positive).
    std_offset: i32,
    dst: Option<DstRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DstRule {
    dst_offset: i32,
    start: (RuleDate, i32),
    end: (RuleDate, i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleDate {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian1(u16),
    /// `n`: day 0..=365, counting February 29.
    Julian0(u16),
    /// `Mm.w.d`: day `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    MonthWeekDay(u8, u8, u8),
}

impl TimeZone {
    pub fn utc() -> Self {
        TimeZone {
            transitions: Vec::new(),
            transition_types: Vec::new(),
            types: Vec::new(),
            rule: Some(PosixRule {
                std_offset: 0,
                dst: None,
            }),
        }
    }

    /// The zone of this process (see the module documentation), computed once.
    pub fn local() -> &'static TimeZone {
        static LOCAL: OnceLock<TimeZone> = OnceLock::new();
        LOCAL.get_or_init(|| {
            load_local().unwrap_or_else(|why| {
                warn!("local time zone unknown ({why}); index file names use UTC");
                TimeZone::utc()
            })
        })
    }

    /// Parse a TZif file.
    pub fn from_tzif(data: &[u8]) -> Option<TimeZone> {
        let (version, counts, body) = tzif_header(data)?;
        let v1_len = block_len(&counts, 4)?;
        if version >= 2 {
            let rest = body.get(v1_len..)?;
            let (_, counts2, body2) = tzif_header(rest)?;
            let len2 = block_len(&counts2, 8)?;
            let mut tz = tzif_block(body2.get(..len2)?, &counts2, 8)?;
            let footer = body2.get(len2..).unwrap_or_default();
            tz.rule = parse_footer(footer);
            Some(tz)
        } else {
            tzif_block(body.get(..v1_len)?, &counts, 4)
        }
    }

    /// Parse a POSIX `TZ` rule such as `EST5EDT,M3.2.0,M11.1.0` or `<+08>-8`.
    pub fn from_posix(rule: &str) -> Option<TimeZone> {
        Some(TimeZone {
            transitions: Vec::new(),
            transition_types: Vec::new(),
            types: Vec::new(),
            rule: Some(parse_posix(rule)?),
        })
    }

    /// UTC offset in seconds (east positive) at the instant `utc_secs`.
    pub fn offset_at(&self, utc_secs: i64) -> i32 {
        let n = self.transitions.len();
        if n > 0
            && utc_secs >= self.transitions[0]
            && (utc_secs < self.transitions[n - 1] || self.rule.is_none())
        {
            let i = self
                .transitions
                .partition_point(|t| *t <= utc_secs)
                .saturating_sub(1);
            let ty = self.transition_types.get(i).copied().unwrap_or(0) as usize;
            return self.types.get(ty).copied().unwrap_or(0);
        }
        if n > 0 && utc_secs < self.transitions[0] {
            // Before the first transition: local time type 0 (RFC 8536).
            return self.types.first().copied().unwrap_or(0);
        }
        match &self.rule {
            Some(r) => r.offset_at(utc_secs),
            None => self.types.first().copied().unwrap_or(0),
        }
    }
}

fn load_local() -> Result<TimeZone, String> {
    const ZONEINFO: &str = "/usr/share/zoneinfo";
    match std::env::var("TZ") {
        Ok(tz) if tz.is_empty() => return Ok(TimeZone::utc()),
        Ok(tz) => {
            let name = tz.strip_prefix(':').unwrap_or(&tz);
            let path = if name.starts_with('/') {
                Some(std::path::PathBuf::from(name))
            } else if !name.split('/').any(|p| p == ".." || p.is_empty()) {
                Some(std::path::Path::new(ZONEINFO).join(name))
            } else {
                None
            };
            if let Some(tzif) = path
                .and_then(|p| std::fs::read(p).ok())
                .and_then(|d| TimeZone::from_tzif(&d))
            {
                return Ok(tzif);
            }
            return TimeZone::from_posix(name).ok_or_else(|| format!("cannot read TZ={tz:?}"));
        }
        Err(_) => {}
    }
    let data = std::fs::read("/etc/localtime").map_err(|e| format!("/etc/localtime: {e}"))?;
    TimeZone::from_tzif(&data).ok_or_else(|| "/etc/localtime is not a TZif file".into())
}

/// TZif header: version, the six counts (isut, isstd, leap, time, type, char), the rest.
fn tzif_header(data: &[u8]) -> Option<(u8, [usize; 6], &[u8])> {
    if data.get(..4)? != b"TZif" {
        return None;
    }
    let version = match *data.get(4)? {
        0 => 1,
        b @ b'2'..=b'9' => b - b'0',
        _ => return None,
    };
    let mut counts = [0usize; 6];
    for (i, c) in counts.iter_mut().enumerate() {
        let at = 20 + i * 4;
        let b = data.get(at..at + 4)?;
        *c = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    }
    Some((version, counts, data.get(44..)?))
}

fn block_len(c: &[usize; 6], time_size: usize) -> Option<usize> {
    let [isut, isstd, leap, time, typ, chars] = *c;
    time.checked_mul(time_size + 1)?
        .checked_add(typ.checked_mul(6)?)?
        .checked_add(chars)?
        .checked_add(leap.checked_mul(time_size + 4)?)?
        .checked_add(isstd)?
        .checked_add(isut)
}

fn tzif_block(b: &[u8], c: &[usize; 6], time_size: usize) -> Option<TimeZone> {
    let (time, typ) = (c[3], c[4]);
    if typ == 0 {
        return None;
    }
    let mut transitions = Vec::with_capacity(time);
    for i in 0..time {
        let s = b.get(i * time_size..(i + 1) * time_size)?;
        let t = if time_size == 8 {
            i64::from_be_bytes(s.try_into().ok()?)
        } else {
            i64::from(i32::from_be_bytes(s.try_into().ok()?))
        };
        transitions.push(t);
    }
    let idx_at = time * time_size;
    let transition_types = b.get(idx_at..idx_at + time)?.to_vec();
    let types_at = idx_at + time;
    let mut types = Vec::with_capacity(typ);
    for i in 0..typ {
        let s = b.get(types_at + i * 6..types_at + i * 6 + 4)?;
        types.push(i32::from_be_bytes(s.try_into().ok()?));
    }
    if transition_types.iter().any(|t| *t as usize >= typ) {
        return None;
    }
    Some(TimeZone {
        transitions,
        transition_types,
        types,
        rule: None,
    })
}

fn parse_footer(footer: &[u8]) -> Option<PosixRule> {
    let text = std::str::from_utf8(footer).ok()?;
    let line = text.strip_prefix('\n')?.split('\n').next()?;
    if line.is_empty() {
        return None;
    }
    parse_posix(line)
}

/// Parse `std offset [dst [offset] [,start[/time],end[/time]]]`.
fn parse_posix(s: &str) -> Option<PosixRule> {
    let mut p = Parser {
        s: s.as_bytes(),
        i: 0,
    };
    p.name()?;
    // POSIX offsets are west-positive; we keep east-positive.
    let std_offset = -p.hms(24)?;
    if p.done() {
        return Some(PosixRule {
            std_offset,
            dst: None,
        });
    }
    p.name()?;
    let dst_offset = if !p.done() && p.peek() != Some(b',') {
        -p.hms(24)?
    } else {
        std_offset + 3600
    };
    let (start, end) = if p.done() {
        // No dates given: the US rule, as glibc assumes.
        (
            (RuleDate::MonthWeekDay(3, 2, 0), 7200),
            (RuleDate::MonthWeekDay(11, 1, 0), 7200),
        )
    } else {
        p.expect(b',')?;
        let start = p.rule_date()?;
        p.expect(b',')?;
        let end = p.rule_date()?;
        (start, end)
    };
    if !p.done() {
        return None;
    }
    Some(PosixRule {
        std_offset,
        dst: Some(DstRule {
            dst_offset,
            start,
            end,
        }),
    })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn name(&mut self) -> Option<()> {
        if self.peek()? == b'<' {
            let close = self.s.get(self.i..)?.iter().position(|c| *c == b'>')?;
            self.i += close + 1;
            return Some(());
        }
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        (self.i - start >= 3).then_some(())
    }

    fn num(&mut self, max: i32) -> Option<i32> {
        let start = self.i;
        let mut v = 0i32;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            v = v.checked_mul(10)?.checked_add(i32::from(c - b'0'))?;
            self.i += 1;
        }
        (self.i > start && v <= max).then_some(v)
    }

    /// `[+-]hh[:mm[:ss]]` in seconds; hours up to `max_h` (167 for rule times).
    fn hms(&mut self, max_h: i32) -> Option<i32> {
        let sign = match self.peek()? {
            b'-' => {
                self.i += 1;
                -1
            }
            b'+' => {
                self.i += 1;
                1
            }
            _ => 1,
        };
        let mut secs = self.num(max_h)? * 3600;
        if self.peek() == Some(b':') {
            self.i += 1;
            secs += self.num(59)? * 60;
            if self.peek() == Some(b':') {
                self.i += 1;
                secs += self.num(59)?;
            }
        }
        Some(sign * secs)
    }

    fn rule_date(&mut self) -> Option<(RuleDate, i32)> {
        let date = match self.peek()? {
            b'M' => {
                self.i += 1;
                let m = self.num(12)?;
                self.expect(b'.')?;
                let w = self.num(5)?;
                self.expect(b'.')?;
                let d = self.num(6)?;
                if m < 1 || w < 1 {
                    return None;
                }
                RuleDate::MonthWeekDay(m as u8, w as u8, d as u8)
            }
            b'J' => {
                self.i += 1;
                let n = self.num(365)?;
                if n < 1 {
                    return None;
                }
                RuleDate::Julian1(n as u16)
            }
            _ => RuleDate::Julian0(self.num(365)? as u16),
        };
        let time = if self.peek() == Some(b'/') {
            self.i += 1;
            self.hms(167)?
        } else {
            7200
        };
        Some((date, time))
    }
}

impl PosixRule {
    fn offset_at(&self, utc_secs: i64) -> i32 {
        let Some(dst) = &self.dst else {
            return self.std_offset;
        };
        // About ±34 000 years: keeps the calendar arithmetic below far from overflow.
        let utc_secs = utc_secs.clamp(-(1 << 40), 1 << 40);
        let (year, _, _) =
            civil_from_days((utc_secs + i64::from(self.std_offset)).div_euclid(86_400));
        // Transition instants in UTC: the start is given in standard time, the end in DST.
        let start = rule_day(year, dst.start.0) * 86_400 + i64::from(dst.start.1)
            - i64::from(self.std_offset);
        let end =
            rule_day(year, dst.end.0) * 86_400 + i64::from(dst.end.1) - i64::from(dst.dst_offset);
        let in_dst = if start <= end {
            utc_secs >= start && utc_secs < end
        } else {
            // Southern hemisphere: DST spans the new year.
            !(utc_secs >= end && utc_secs < start)
        };
        if in_dst {
            dst.dst_offset
        } else {
            self.std_offset
        }
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of the rule's day in `year`.
fn rule_day(year: i64, d: RuleDate) -> i64 {
    let jan1 = days_from_civil(year, 1, 1);
    match d {
        RuleDate::Julian1(n) => {
            let n = i64::from(n);
            jan1 + n - 1 + i64::from(is_leap(year) && n >= 60)
        }
        RuleDate::Julian0(n) => jan1 + i64::from(n),
        RuleDate::MonthWeekDay(m, w, wd) => {
            let first = days_from_civil(year, u32::from(m), 1);
            // 1970-01-01 was a Thursday (weekday 4, Sunday = 0).
            let first_wd = (first + 4).rem_euclid(7);
            let mut day = (i64::from(wd) - first_wd).rem_euclid(7) + (i64::from(w) - 1) * 7;
            let len = days_in_month(year, u32::from(m));
            while day >= len {
                day -= 7;
            }
            first + day
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Format an instant (ms since the epoch) shifted by `offset_secs` as `yyyyMMddHHmmssSSS`,
/// the way Java's `UtilAll.timeMillisToHumanString` does (`%04d%02d...%03d`).
pub fn format_millis(epoch_ms: i64, offset_secs: i32) -> String {
    let local = epoch_ms.saturating_add(i64::from(offset_secs) * 1000);
    let days = local.div_euclid(86_400_000);
    let ms_of_day = local.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}{ms:03}")
}

/// The name Java would give an index file created at `epoch_ms` in this process's zone.
pub fn index_file_name(epoch_ms: i64) -> String {
    let offset = TimeZone::local().offset_at(epoch_ms.div_euclid(1000));
    format_millis(epoch_ms, offset)
}

/// Milliseconds since the epoch now.
pub fn now_millis() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_format() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in [-800_000i64, -1, 0, 59, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        // The fixture's first message: storeTimestamp 1795520097963 (UTC).
        assert_eq!(format_millis(1_795_520_097_963, 0), "20261124113457963");
        assert_eq!(
            format_millis(1_795_520_097_963, 8 * 3600),
            "20261124193457963"
        );
        assert_eq!(format_millis(0, 0), "19700101000000000");
        assert_eq!(format_millis(951_782_400_000, 0), "20000229000000000");
        assert_eq!(format_millis(-1, 0), "19691231235959999");
        assert_eq!(format_millis(now_millis(), 0).len(), 17);
    }

    #[test]
    fn posix_rules() {
        // 2024-07-01T00:00Z and 2024-01-15T00:00Z.
        let summer = days_from_civil(2024, 7, 1) * 86_400;
        let winter = days_from_civil(2024, 1, 15) * 86_400;
        let cet = TimeZone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(cet.offset_at(summer), 7200);
        assert_eq!(cet.offset_at(winter), 3600);
        // EU switch 2024: 31 March 01:00 UTC, back 27 October 01:00 UTC.
        let start = days_from_civil(2024, 3, 31) * 86_400 + 3600;
        assert_eq!(cet.offset_at(start - 1), 3600);
        assert_eq!(cet.offset_at(start), 7200);
        let end = days_from_civil(2024, 10, 27) * 86_400 + 3600;
        assert_eq!(cet.offset_at(end - 1), 7200);
        assert_eq!(cet.offset_at(end), 3600);
        let ny = TimeZone::from_posix("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(ny.offset_at(summer), -4 * 3600);
        assert_eq!(ny.offset_at(winter), -5 * 3600);
        // 2024-03-10 07:00 UTC = 02:00 EST.
        let us = days_from_civil(2024, 3, 10) * 86_400 + 7 * 3600;
        assert_eq!(ny.offset_at(us - 1), -5 * 3600);
        assert_eq!(ny.offset_at(us), -4 * 3600);
        let syd = TimeZone::from_posix("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(syd.offset_at(summer), 10 * 3600);
        assert_eq!(syd.offset_at(winter), 11 * 3600);
        let sh = TimeZone::from_posix("<+08>-8").unwrap();
        assert_eq!(sh.offset_at(summer), 8 * 3600);
        assert_eq!(TimeZone::from_posix("UTC0").unwrap().offset_at(summer), 0);
        assert_eq!(
            TimeZone::from_posix("<-0330>3:30").unwrap().offset_at(0),
            -(3 * 3600 + 1800)
        );
        // Julian-day rules.
        let j = TimeZone::from_posix("XST-1XDT,J60/0,J300/0").unwrap();
        assert_eq!(j.offset_at(winter), 3600);
        assert_eq!(j.offset_at(summer), 7200);
        for bad in [
            "",
            "X",
            "ABC",
            "ABC+",
            "ABC1DEF,M13.1.0,M1.1.0",
            "ABC1DEF,M3.2.0",
            "<ABC",
        ] {
            assert!(TimeZone::from_posix(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tzif_files_when_installed() {
        let summer = days_from_civil(2024, 7, 1) * 86_400;
        let winter = days_from_civil(2024, 1, 15) * 86_400;
        let far = days_from_civil(2100, 7, 1) * 86_400;
        let old = days_from_civil(1980, 7, 1) * 86_400;
        for (zone, s, w) in [
            ("Europe/Berlin", 7200, 3600),
            ("America/New_York", -4 * 3600, -5 * 3600),
            ("Asia/Shanghai", 8 * 3600, 8 * 3600),
            ("Australia/Sydney", 10 * 3600, 11 * 3600),
            ("Etc/UTC", 0, 0),
        ] {
            let Ok(data) = std::fs::read(format!("/usr/share/zoneinfo/{zone}")) else {
                eprintln!("skipping {zone}: not installed");
                continue;
            };
            let tz = TimeZone::from_tzif(&data).unwrap_or_else(|| panic!("{zone}"));
            assert_eq!(tz.offset_at(summer), s, "{zone} summer");
            assert_eq!(tz.offset_at(winter), w, "{zone} winter");
            // Past the listed transitions, the footer rule applies.
            assert_eq!(tz.offset_at(far), s, "{zone} 2100");
            let _ = tz.offset_at(old);
            let _ = tz.offset_at(i64::MIN);
            let _ = tz.offset_at(i64::MAX);
        }
        // Garbage is refused, never a panic.
        assert!(TimeZone::from_tzif(b"").is_none());
        assert!(TimeZone::from_tzif(b"TZif2").is_none());
        let mut junk = b"TZif2".to_vec();
        junk.extend_from_slice(&[0xFFu8; 60]);
        assert!(TimeZone::from_tzif(&junk).is_none());
        if let Ok(data) = std::fs::read("/usr/share/zoneinfo/Europe/Berlin") {
            for cut in (0..data.len()).step_by(7) {
                let _ = TimeZone::from_tzif(&data[..cut]);
            }
        }
        assert_eq!(TimeZone::utc().offset_at(summer), 0);
        let cet = TimeZone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(cet.offset_at(i64::MAX), cet.offset_at(1 << 40));
        let _ = cet.offset_at(i64::MIN);
        assert!(format_millis(i64::MAX, 3600).len() > 17);
        assert!(format_millis(i64::MIN, -3600).starts_with('-'));
        let _ = index_file_name(now_millis());
    }
}
