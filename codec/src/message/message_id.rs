//! Message ids (remoting-protocol.md §12.5).
//!
//! * **Offset msgId** (broker side): store-host address (4 or 16 bytes) + port (i32) +
//!   PHYSICALOFFSET (i64), as **upper-case** hex: 32 characters for IPv4, 56 for IPv6. Java
//!   readers pick IPv4 iff the text is exactly 32 characters long.
//! * **UNIQ_KEY** (client side, property `UNIQ_KEY`): client IP (4 or 16 bytes) + pid (i16) +
//!   class-loader hash (i32) + milliseconds since the start of the current month (i32) +
//!   counter (i16), upper-case hex: again 32 or 56 characters.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use crate::error::{CodecError, Result};

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Append the upper-case hex of `bytes` to `out`.
pub fn push_hex_upper(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(b & 0xF)]));
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decode hex text (either case) of even length.
fn decode_hex(context: &'static str, field: &'static str, text: &str) -> Result<Vec<u8>> {
    let bad = || CodecError::invalid_field(context, field, text, "hexadecimal string");
    let raw = text.as_bytes();
    if !raw.len().is_multiple_of(2) {
        return Err(bad());
    }
    raw.chunks_exact(2)
        .map(|pair| match pair {
            [h, l] => Some((hex_value(*h)? << 4) | hex_value(*l)?),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Split `bytes` into an address of `ip_len` (4 or 16) bytes and the rest.
fn take_ip(bytes: &[u8], ip_len: usize) -> Option<(IpAddr, &[u8])> {
    let (ip, rest) = bytes.split_at_checked(ip_len)?;
    let ip = match ip_len {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(ip).ok()?)),
        _ => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?)),
    };
    Some((ip, rest))
}

fn take_be<const N: usize>(bytes: &[u8]) -> Option<([u8; N], &[u8])> {
    let (head, rest) = bytes.split_at_checked(N)?;
    Some((<[u8; N]>::try_from(head).ok()?, rest))
}

/// Address length implied by the length of an id's hex text: 32 chars → IPv4, 56 → IPv6.
fn ip_len_for(context: &'static str, field: &'static str, text: &str) -> Result<usize> {
    match text.len() {
        32 => Ok(4),
        56 => Ok(16),
        _ => Err(CodecError::invalid_field(
            context,
            field,
            text,
            "32 (IPv4) or 56 (IPv6) hex characters",
        )),
    }
}

const MSG_ID_CTX: &str = "message id";

/// An offset message id: where the record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageId {
    /// STOREHOST of the record (the broker address clients connect to for view-by-id).
    pub store_host: SocketAddr,
    /// PHYSICALOFFSET of the record.
    pub offset: i64,
}

impl MessageId {
    pub fn new(store_host: SocketAddr, offset: i64) -> Self {
        MessageId { store_host, offset }
    }

    /// Upper-case hex text (32 chars for an IPv4 store host, 56 for IPv6).
    pub fn encode(&self) -> String {
        offset_msg_id(&self.store_host, self.offset)
    }

    /// Parse the hex text (either case). Errors: a length other than 32/56, non-hex characters,
    /// a port outside `0..=65535`.
    pub fn decode(text: &str) -> Result<Self> {
        decode_offset_msg_id(text)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for MessageId {
    type Err = CodecError;
    fn from_str(s: &str) -> Result<Self> {
        Self::decode(s)
    }
}

/// Offset msgId text of a record stored at `physical_offset` by `store_host`
/// (`MessageDecoder.createMessageId`). A `SocketAddr::V6` host gives the 56-character form,
/// even for an IPv4-mapped address, as Java does for an `Inet6Address`.
pub fn offset_msg_id(store_host: &SocketAddr, physical_offset: i64) -> String {
    let mut bytes = ip_bytes(&store_host.ip());
    bytes.extend_from_slice(&i32::from(store_host.port()).to_be_bytes());
    bytes.extend_from_slice(&physical_offset.to_be_bytes());
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex_upper(&mut s, &bytes);
    s
}

/// Parse an offset msgId (`MessageDecoder.decodeMessageId`).
pub fn decode_offset_msg_id(text: &str) -> Result<MessageId> {
    let ip_len = ip_len_for(MSG_ID_CTX, "msgId", text)?;
    let bytes = decode_hex(MSG_ID_CTX, "msgId", text)?;
    let bad = || CodecError::invalid_field(MSG_ID_CTX, "msgId", text, "offset message id");
    let (ip, rest) = take_ip(&bytes, ip_len).ok_or_else(bad)?;
    let (port, rest) = take_be::<4>(rest).ok_or_else(bad)?;
    let (offset, _) = take_be::<8>(rest).ok_or_else(bad)?;
    let port = u16::try_from(i32::from_be_bytes(port)).map_err(|_| {
        CodecError::invalid_field(
            MSG_ID_CTX,
            "msgId",
            text,
            "message id with a port in 0..=65535",
        )
    })?;
    Ok(MessageId {
        store_host: SocketAddr::new(ip, port),
        offset: i64::from_be_bytes(offset),
    })
}

const UNIQ_CTX: &str = "UNIQ_KEY";

/// The parts of a client-generated `UNIQ_KEY` (`MessageClientIDSetter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UniqKey {
    /// Client IP (4 or 16 bytes; Java falls back to 4 bytes of the clock if it has none).
    pub ip: IpAddr,
    /// Low 16 bits of the client process id.
    pub pid: i16,
    /// `MessageClientIDSetter.class.getClassLoader().hashCode()`.
    pub class_loader_hash: i32,
    /// Milliseconds since the start of the month (producer's local time zone) when generated.
    pub time_offset_ms: i32,
    /// Per-process counter (wraps).
    pub counter: i16,
}

impl UniqKey {
    /// Upper-case hex text (32 or 56 characters).
    pub fn encode(&self) -> String {
        let mut bytes = ip_bytes(&self.ip);
        bytes.extend_from_slice(&self.pid.to_be_bytes());
        bytes.extend_from_slice(&self.class_loader_hash.to_be_bytes());
        bytes.extend_from_slice(&self.time_offset_ms.to_be_bytes());
        bytes.extend_from_slice(&self.counter.to_be_bytes());
        let mut s = String::with_capacity(bytes.len() * 2);
        push_hex_upper(&mut s, &bytes);
        s
    }

    /// Parse the hex text (either case; 32 chars → IPv4 client, 56 → IPv6).
    pub fn decode(text: &str) -> Result<Self> {
        let ip_len = ip_len_for(UNIQ_CTX, "UNIQ_KEY", text)?;
        let bytes = decode_hex(UNIQ_CTX, "UNIQ_KEY", text)?;
        let bad = || CodecError::invalid_field(UNIQ_CTX, "UNIQ_KEY", text, "client message id");
        let (ip, rest) = take_ip(&bytes, ip_len).ok_or_else(bad)?;
        let (pid, rest) = take_be::<2>(rest).ok_or_else(bad)?;
        let (clh, rest) = take_be::<4>(rest).ok_or_else(bad)?;
        let (time, rest) = take_be::<4>(rest).ok_or_else(bad)?;
        let (counter, _) = take_be::<2>(rest).ok_or_else(bad)?;
        Ok(UniqKey {
            ip,
            pid: i16::from_be_bytes(pid),
            class_loader_hash: i32::from_be_bytes(clh),
            time_offset_ms: i32::from_be_bytes(time),
            counter: i16::from_be_bytes(counter),
        })
    }

    /// Approximate creation time given the start of the month it was created in
    /// (see [`month_start_ms`]).
    pub fn created_at_ms(&self, month_start_ms: i64) -> i64 {
        month_start_ms.saturating_add(i64::from(self.time_offset_ms))
    }
}

impl fmt::Display for UniqKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for UniqKey {
    type Err = CodecError;
    fn from_str(s: &str) -> Result<Self> {
        Self::decode(s)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month) of a day count since 1970-01-01.
fn year_month_from_days(z: i64) -> (i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m)
}

const DAY_MS: i64 = 86_400_000;

/// Start of the month containing `now_ms` and start of the next month, both in ms since the
/// epoch, for a zone `utc_offset_ms` ahead of UTC (Java uses the producer's default zone).
pub fn month_start_ms(now_ms: i64, utc_offset_ms: i64) -> (i64, i64) {
    let local = now_ms.saturating_add(utc_offset_ms);
    let (y, m) = year_month_from_days(local.div_euclid(DAY_MS));
    let to_ms = |days: i64| days.saturating_mul(DAY_MS).saturating_sub(utc_offset_ms);
    let start = to_ms(days_from_civil(y, m, 1));
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let next = to_ms(days_from_civil(ny, nm, 1));
    (start, next)
}

/// Thread-safe `UNIQ_KEY` generator with the Java client's layout, for Rust producers and the
/// bench client.
#[derive(Debug)]
pub struct UniqKeyGenerator {
    prefix: String,
    utc_offset_ms: i64,
    month_start: AtomicI64,
    next_month_start: AtomicI64,
    counter: AtomicU32,
}

impl UniqKeyGenerator {
    /// A generator for client `ip`, process id `pid` (low 16 bits are used) and an arbitrary
    /// `class_loader_hash`. Months are counted in UTC unless [`Self::with_utc_offset_ms`].
    pub fn new(ip: IpAddr, pid: u32, class_loader_hash: i32) -> Self {
        let mut fixed = ip_bytes(&ip);
        fixed.extend_from_slice(&(pid as i16).to_be_bytes());
        fixed.extend_from_slice(&class_loader_hash.to_be_bytes());
        let mut prefix = String::with_capacity(fixed.len() * 2);
        push_hex_upper(&mut prefix, &fixed);
        UniqKeyGenerator {
            prefix,
            utc_offset_ms: 0,
            month_start: AtomicI64::new(i64::MIN),
            next_month_start: AtomicI64::new(i64::MIN),
            counter: AtomicU32::new(0),
        }
    }

    /// A generator for this process (`std::process::id()`), with a hash derived from the
    /// process id and the clock in place of a class-loader hash.
    pub fn for_this_process(ip: IpAddr) -> Self {
        let pid = std::process::id();
        let nanos = now_ms().wrapping_mul(1_000_003);
        let hash = (nanos ^ i64::from(pid).rotate_left(17)) as i32;
        Self::new(ip, pid, hash)
    }

    /// Count months in a zone `utc_offset_ms` ahead of UTC.
    pub fn with_utc_offset_ms(mut self, utc_offset_ms: i64) -> Self {
        self.utc_offset_ms = utc_offset_ms;
        self
    }

    /// The fixed hex prefix (ip + pid + class-loader hash).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A new key for time `now_ms` (ms since the epoch).
    pub fn next_at(&self, now_ms: i64) -> String {
        let mut start = self.month_start.load(Ordering::Relaxed);
        let next = self.next_month_start.load(Ordering::Relaxed);
        if now_ms >= next || now_ms < start {
            let (s, n) = month_start_ms(now_ms, self.utc_offset_ms);
            self.month_start.store(s, Ordering::Relaxed);
            self.next_month_start.store(n, Ordering::Relaxed);
            start = s;
        }
        let offset = now_ms.wrapping_sub(start) as i32;
        let counter = self.counter.fetch_add(1, Ordering::Relaxed) as i16;
        let mut s = String::with_capacity(self.prefix.len() + 12);
        s.push_str(&self.prefix);
        push_hex_upper(&mut s, &offset.to_be_bytes());
        push_hex_upper(&mut s, &counter.to_be_bytes());
        s
    }

    /// A new key for the current time.
    pub fn next_key(&self) -> String {
        self.next_at(now_ms())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::test_support;
    use proptest::prelude::*;

    #[test]
    fn offset_ids() {
        let host: SocketAddr = "127.0.0.1:40911".parse().unwrap();
        assert_eq!(offset_msg_id(&host, 0), "7F00000100009FCF0000000000000000");
        assert_eq!(
            offset_msg_id(&host, 1338),
            "7F00000100009FCF000000000000053A"
        );
        let id = MessageId::decode("7f00000100009fcf000000000000053a").unwrap();
        assert_eq!(id, MessageId::new(host, 1338));
        let v6: SocketAddr = "[fd00::2]:10911".parse().unwrap();
        let text = MessageId::new(v6, -1).to_string();
        assert_eq!(text.len(), 56);
        assert_eq!(text.parse::<MessageId>().unwrap(), MessageId::new(v6, -1));
        for bad in [
            "",
            "7F",
            "7F00000100009FCF000000000000053",
            "ZZ00000100009FCF0000000000000000",
        ] {
            assert!(MessageId::decode(bad).is_err(), "{bad}");
        }
        // port field out of range
        assert!(MessageId::decode("7F000001FFFFFFFF0000000000000000").is_err());
    }

    #[test]
    fn uniq_keys() {
        let k =
            UniqKey::decode("FD0000000000000000000000000000027B325FFD2B2778EE86820000").unwrap();
        assert_eq!(k.ip, "fd00::2".parse::<IpAddr>().unwrap());
        assert_eq!(k.pid, 0x7B32);
        assert_eq!(k.class_loader_hash, 0x5FFD_2B27);
        assert_eq!(k.time_offset_ms, 0x78EE_8682);
        assert_eq!(k.counter, 0);
        assert_eq!(
            k.encode(),
            "FD0000000000000000000000000000027B325FFD2B2778EE86820000"
        );
        let v4 = UniqKey {
            ip: "10.1.2.3".parse().unwrap(),
            pid: -2,
            class_loader_hash: i32::MIN,
            time_offset_ms: 5,
            counter: -1,
        };
        assert_eq!(v4.encode().len(), 32);
        assert_eq!(UniqKey::decode(&v4.encode()).unwrap(), v4);
        assert!(UniqKey::decode("0A0102").is_err());
    }

    #[test]
    fn month_starts() {
        // 2026-11-24T11:34:00Z
        let now = 1_795_520_097_923;
        let (s, n) = month_start_ms(now, 0);
        assert_eq!(s, 1_793_491_200_000); // 2026-11-01T00:00Z
        assert_eq!(n, 1_796_083_200_000); // 2026-12-01T00:00Z
        let (s, n) = month_start_ms(1_796_083_200_000 - 1, 0);
        assert_eq!((s, n), (1_793_491_200_000, 1_796_083_200_000));
        // December rolls into January; a leap February.
        let (s, n) = month_start_ms(1_796_083_200_000, 0);
        assert_eq!((s, n), (1_796_083_200_000, 1_798_761_600_000));
        let (s, n) = month_start_ms(951_782_400_000, 0); // 2000-02-29
        assert_eq!((s, n), (949_363_200_000, 951_868_800_000));
        // UTC+8: 2026-11-30T20:00Z is already December there.
        let (s, _) = month_start_ms(1_796_083_200_000 - 4 * 3_600_000, 8 * 3_600_000);
        assert_eq!(s, 1_796_083_200_000 - 8 * 3_600_000);
    }

    #[test]
    fn generator_matches_layout() {
        let g = UniqKeyGenerator::new("127.0.0.1".parse().unwrap(), 0x1_7B32, 0x5FFD_2B27);
        assert_eq!(g.prefix(), "7F0000017B325FFD2B27");
        let now = 1_795_520_097_923;
        let a = UniqKey::decode(&g.next_at(now)).unwrap();
        let b = UniqKey::decode(&g.next_at(now + 5)).unwrap();
        assert_eq!(a.pid, 0x7B32);
        assert_eq!(a.counter, 0);
        assert_eq!(b.counter, 1);
        assert_eq!(b.time_offset_ms - a.time_offset_ms, 5);
        assert_eq!(a.created_at_ms(month_start_ms(now, 0).0), now);
        let g6 = UniqKeyGenerator::for_this_process("fd00::2".parse().unwrap());
        assert_eq!(g6.next_key().len(), 56);
    }

    /// Every manifest record: msgId = hex(storeHost, commitLogOffset) both ways; every
    /// UNIQ_KEY decodes and re-encodes identically.
    #[test]
    fn fixture_ids() {
        let mut uniq = 0;
        for m in test_support::manifest_messages() {
            let store: SocketAddr = m["storeHost"].as_str().unwrap().parse().unwrap();
            let off = m["commitLogOffset"].as_i64().unwrap();
            let text = m["msgId"].as_str().unwrap();
            assert_eq!(offset_msg_id(&store, off), text);
            assert_eq!(MessageId::decode(text).unwrap(), MessageId::new(store, off));
            if let Some(u) = m["uniqKey"].as_str() {
                let k = UniqKey::decode(u).unwrap();
                assert_eq!(k.encode(), u);
                uniq += 1;
            }
        }
        assert!(uniq > 4000);
    }

    fn socket_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
            (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
        ]
    }

    proptest! {
        #[test]
        fn msg_id_round_trip(host in socket_addr(), off in any::<i64>()) {
            let id = MessageId::new(host, off);
            let text = id.encode();
            prop_assert_eq!(text.len(), if host.is_ipv4() { 32 } else { 56 });
            prop_assert!(text.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
            prop_assert_eq!(MessageId::decode(&text).unwrap(), id);
            prop_assert_eq!(MessageId::decode(&text.to_lowercase()).unwrap(), id);
        }

        #[test]
        fn uniq_key_round_trip(host in socket_addr(), pid in any::<i16>(), clh in any::<i32>(),
                               t in any::<i32>(), c in any::<i16>()) {
            let k = UniqKey { ip: host.ip(), pid, class_loader_hash: clh, time_offset_ms: t, counter: c };
            prop_assert_eq!(UniqKey::decode(&k.encode()).unwrap(), k);
        }

        #[test]
        fn month_start_never_panics(now in any::<i64>(), off in any::<i64>(), small in -50_400_000i64..=50_400_000) {
            let _ = month_start_ms(now, off);
            let now = now / 4; // keep clear of the i64 edges
            let (s, n) = month_start_ms(now, small);
            prop_assert!(s <= now && now < n, "{} {} {}", s, now, n);
            prop_assert!(n - s >= 28 * DAY_MS && n - s <= 31 * DAY_MS);
            let g = UniqKeyGenerator::new(IpAddr::from([1, 2, 3, 4]), 1, 2);
            let _ = g.next_at(now);
        }

        #[test]
        fn id_decoders_never_panic(s in "[0-9A-Fa-fxz]{0,60}") {
            let _ = MessageId::decode(&s);
            let _ = UniqKey::decode(&s);
        }
    }
}
