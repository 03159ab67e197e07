//! The HA wire format of RocketMQ 4.9.8 (`HAConnection` / `HAClient`): raw TCP, no remoting
//! framing, all integers big-endian.
//!
//! * slave → master: an 8-byte report, i64 = the slave's CommitLog max offset (its ACK);
//! * master → slave: a 12-byte header (i64 physical offset of the chunk's first byte, i32 body
//!   size) followed by `size` bytes of raw CommitLog; size 0 is a heartbeat.
//!
//! Sans-IO: the parsers are fed whatever the socket gave and hand back complete items. A
//! header whose size is negative or larger than the bound (a chunk never spans two CommitLog
//! files, so the file size bounds it) is an error: the connection is closed rather than
//! buffering an unbounded body.

/// Bytes of a slave report.
pub const REPORT_LEN: usize = 8;
/// Bytes of a transfer header.
pub const HEADER_LEN: usize = 12;

/// The 8-byte report of `max_offset`.
pub fn encode_report(max_offset: i64) -> [u8; REPORT_LEN] {
    max_offset.to_be_bytes()
}

/// The 12-byte header of a chunk of `size` bytes starting at `offset` (size 0: heartbeat).
pub fn encode_header(offset: i64, size: i32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&offset.to_be_bytes());
    h[8..].copy_from_slice(&size.to_be_bytes());
    h
}

/// Reports as the master reads them: bytes in, the newest complete report out (older ones in
/// the same read are superseded, as Java only looks at the last whole one).
#[derive(Debug, Default)]
pub struct ReportParser {
    partial: Vec<u8>,
}

impl ReportParser {
    /// Feed bytes; returns the newest report completed by them, if any.
    pub fn feed(&mut self, data: &[u8]) -> Option<i64> {
        self.partial.extend_from_slice(data);
        let whole = self.partial.len() / REPORT_LEN * REPORT_LEN;
        if whole == 0 {
            return None;
        }
        let mut b = [0u8; REPORT_LEN];
        b.copy_from_slice(&self.partial[whole - REPORT_LEN..whole]);
        self.partial.drain(..whole);
        Some(i64::from_be_bytes(b))
    }
}

/// One master → slave frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Physical offset of the body's first byte.
    pub offset: i64,
    /// Raw CommitLog bytes (empty: heartbeat).
    pub body: Vec<u8>,
}

/// A frame the slave must not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("HA frame at offset {offset} has size {size}, outside [0, {max}]")]
    BadSize { offset: i64, size: i32, max: usize },
    #[error("HA frame has a negative offset {0}")]
    BadOffset(i64),
}

/// Frames as the slave reads them.
#[derive(Debug)]
pub struct FrameParser {
    buf: Vec<u8>,
    max_body: usize,
}

impl FrameParser {
    /// A parser refusing bodies above `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        FrameParser {
            buf: Vec::new(),
            max_body,
        }
    }

    /// Add bytes read from the socket.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes held but not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let mut o = [0u8; 8];
        o.copy_from_slice(&self.buf[..8]);
        let offset = i64::from_be_bytes(o);
        let size = i32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]]);
        if offset < 0 {
            return Err(WireError::BadOffset(offset));
        }
        let len = usize::try_from(size)
            .ok()
            .filter(|n| *n <= self.max_body)
            .ok_or(WireError::BadSize {
                offset,
                size,
                max: self.max_body,
            })?;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let body = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some(Frame { offset, body }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_report_layout_is_java_big_endian() {
        assert_eq!(
            encode_header(0x0102_0304_0506_0708, 0x0A0B_0C0D),
            [1, 2, 3, 4, 5, 6, 7, 8, 0x0A, 0x0B, 0x0C, 0x0D]
        );
        assert_eq!(encode_report(258), [0, 0, 0, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn reports_split_across_reads_and_the_newest_wins() {
        let mut p = ReportParser::default();
        let a = encode_report(100);
        let b = encode_report(200);
        assert_eq!(p.feed(&a[..3]), None);
        assert_eq!(p.feed(&a[3..]), Some(100));
        let mut both = b.to_vec();
        both.extend_from_slice(&encode_report(300));
        both.extend_from_slice(&[0, 0]);
        assert_eq!(p.feed(&both), Some(300));
        assert_eq!(p.feed(&[0, 0, 0, 0, 1, 0]), Some(256));
    }

    #[test]
    fn frames_byte_by_byte_and_heartbeats() {
        let mut bytes = encode_header(4096, 3).to_vec();
        bytes.extend_from_slice(b"abc");
        bytes.extend_from_slice(&encode_header(4099, 0));
        let mut p = FrameParser::new(1024);
        let mut got = Vec::new();
        for b in &bytes {
            p.feed(std::slice::from_ref(b));
            while let Some(f) = p.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(
            got,
            vec![
                Frame {
                    offset: 4096,
                    body: b"abc".to_vec()
                },
                Frame {
                    offset: 4099,
                    body: vec![]
                }
            ]
        );
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn oversized_and_negative_frames_are_refused() {
        let mut p = FrameParser::new(16);
        p.feed(&encode_header(0, 17));
        assert!(matches!(p.next_frame(), Err(WireError::BadSize { .. })));
        let mut p = FrameParser::new(16);
        p.feed(&encode_header(0, -1));
        assert!(matches!(p.next_frame(), Err(WireError::BadSize { .. })));
        let mut p = FrameParser::new(16);
        p.feed(&encode_header(-5, 0));
        assert_eq!(p.next_frame(), Err(WireError::BadOffset(-5)));
    }
}
