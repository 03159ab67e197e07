//! The outer frame: `[length u32 BE][serialize type u8 | header length u24 BE][header][body]`.
//!
//! `length` counts everything after itself: 4 + header length + body length. This is the only
//! streaming layer of the codec: the decoder looks at a growing buffer, checks the announced
//! length against a cap *before* anything is buffered for it, and splits complete frames off
//! as zero-copy [`Bytes`]. Everything inside a frame is parsed by complete parsers.

use bytes::{Buf, Bytes, BytesMut};

use crate::command::SerializeType;
use crate::error::{CodecError, ErrorKind, Result};

/// Java's default `com.rocketmq.remoting.frameMaxLength`: 16 MiB, counted as `length + 4`.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Largest header length the 24-bit field can carry.
pub const MAX_HEADER_LEN: usize = 0x00FF_FFFF;

/// One complete frame, not yet interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// The serialize type from the top byte of the header-length word.
    pub serialize_type: SerializeType,
    /// Header bytes (JSON text or ROCKETMQ binary).
    pub header: Bytes,
    /// Body bytes; empty means "no body" (Java's `null`).
    pub body: Bytes,
}

/// Streaming frame splitter.
///
/// Invariant: after `decode` returns `Ok(None)`, [`FrameDecoder::needed`] tells how many more
/// bytes must arrive before another call can make progress.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame: usize,
    needed: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames whose `length + 4` exceeds `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder {
            max_frame: max_frame.max(8),
            needed: 4,
        }
    }

    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Bytes still missing after the last `Ok(None)`.
    pub fn needed(&self) -> usize {
        self.needed
    }

    /// Split one frame off the front of `src`.
    ///
    /// * `Ok(Some(frame))`: a frame was removed from `src`.
    /// * `Ok(None)`: more bytes are needed (see [`FrameDecoder::needed`]); `src` is untouched.
    /// * `Err(_)`: the stream is corrupt (length over the cap, inconsistent header length,
    ///   unknown serialize type); the connection should be closed. `src` is untouched.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RawFrame>> {
        let Some(prefix) = peek_prefix(src, self.max_frame)? else {
            self.needed = 4 - src.len().min(4);
            return Ok(None);
        };
        let total = 4 + prefix.length;
        if src.len() < total {
            self.needed = total - src.len();
            // Reserve for the rest of the frame, but never more than 1 MiB ahead of the bytes
            // actually received: a peer announcing a big frame must send it to make us hold it.
            src.reserve((total - src.len()).min(1 << 20));
            return Ok(None);
        }
        let frame = self.split(src, prefix)?;
        self.needed = 4;
        Ok(Some(frame))
    }

    fn split(&self, src: &mut BytesMut, prefix: Prefix) -> Result<RawFrame> {
        // The header-length word needs the first 8 bytes; a frame shorter than that was
        // refused by `peek_prefix` already.
        let word = u32::from_be_bytes([src[4], src[5], src[6], src[7]]);
        let (serialize_type, header_len) = split_header_word(word)?;
        let payload = prefix.length - 4;
        if header_len > payload {
            return Err(CodecError::new(
                "frame",
                4,
                ErrorKind::BadLength {
                    field: "header length",
                    value: header_len as i64,
                    limit: payload as i64,
                },
            ));
        }
        let mut frame = src.split_to(4 + prefix.length).freeze();
        frame.advance(8);
        let header = frame.split_to(header_len);
        Ok(RawFrame {
            serialize_type,
            header,
            body: frame,
        })
    }
}

struct Prefix {
    /// The value of the first field: bytes after it.
    length: usize,
}

/// Read and check the length prefix without consuming it.
fn peek_prefix(src: &[u8], max_frame: usize) -> Result<Option<Prefix>> {
    if src.len() < 4 {
        return Ok(None);
    }
    let length = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as u64;
    if length + 4 > max_frame as u64 {
        return Err(CodecError::new(
            "frame",
            0,
            ErrorKind::FrameTooLarge {
                len: length + 4,
                max: max_frame,
            },
        ));
    }
    if length < 4 {
        return Err(CodecError::new(
            "frame",
            0,
            ErrorKind::BadLength {
                field: "frame length",
                value: length as i64,
                limit: 4,
            },
        ));
    }
    Ok(Some(Prefix {
        length: length as usize,
    }))
}

/// Split the header-length word into serialize type and 24-bit length.
pub fn split_header_word(word: u32) -> Result<(SerializeType, usize)> {
    let ty = (word >> 24) as u8;
    let st = SerializeType::from_code(ty)
        .ok_or_else(|| CodecError::new("frame", 4, ErrorKind::UnknownSerializeType(ty)))?;
    Ok((st, (word & 0x00FF_FFFF) as usize))
}

/// Build the header-length word.
pub fn header_word(st: SerializeType, header_len: usize) -> Result<u32> {
    if header_len > MAX_HEADER_LEN {
        return Err(CodecError::new(
            "frame",
            4,
            ErrorKind::Unencodable(format!(
                "header of {header_len} bytes exceeds the 24-bit limit"
            )),
        ));
    }
    Ok(((st.code() as u32) << 24) | header_len as u32)
}

/// Parse one complete frame held in `buf` (length prefix included), e.g. a captured frame.
/// Trailing bytes after the frame are an error.
pub fn parse_complete_frame(buf: &[u8], max_frame: usize) -> Result<RawFrame> {
    let mut b = BytesMut::from(buf);
    let mut dec = FrameDecoder::new(max_frame);
    match dec.decode(&mut b)? {
        Some(f) if b.is_empty() => Ok(f),
        Some(_) => Err(CodecError::invalid(
            "frame",
            buf.len() - b.len(),
            format!("{} trailing bytes after the frame", b.len()),
        )),
        None => Err(CodecError::incomplete("frame", buf.len(), dec.needed(), 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ty: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
        v.extend_from_slice(&(((ty as u32) << 24) | header.len() as u32).to_be_bytes());
        v.extend_from_slice(header);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn splits_frames_and_reports_need() {
        let mut stream = frame(0, b"{}", b"body");
        stream.extend(frame(1, b"\x00\x01", b""));
        let mut dec = FrameDecoder::default();
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for b in stream {
            buf.extend_from_slice(&[b]);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                frames.push(f);
            }
            assert!(dec.needed() > 0);
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(&frames[0].header[..], b"{}");
        assert_eq!(&frames[0].body[..], b"body");
        assert_eq!(frames[1].serialize_type, SerializeType::RocketMq);
        assert!(frames[1].body.is_empty());
        assert!(buf.is_empty());
    }

    #[test]
    fn refuses_oversize_before_buffering() {
        let mut dec = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&[0x00, 0x00, 0x04, 0x00][..]); // 1024 + 4 > 1024
        let e = dec.decode(&mut buf).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::FrameTooLarge { .. }));
        let mut buf = BytesMut::from(&[0xFF, 0xFF, 0xFF, 0xFF][..]);
        assert!(FrameDecoder::default().decode(&mut buf).is_err());
    }

    #[test]
    fn refuses_lying_header_length() {
        let mut v = frame(0, b"{}", b"");
        v[7] = 50; // header length 50 > payload 2
        let mut buf = BytesMut::from(&v[..]);
        let e = FrameDecoder::default().decode(&mut buf).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::BadLength { .. }), "{e}");
        let v = frame(7, b"{}", b"");
        let e = FrameDecoder::default()
            .decode(&mut BytesMut::from(&v[..]))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownSerializeType(7));
        let e = FrameDecoder::default()
            .decode(&mut BytesMut::from(&[0, 0, 0, 2, 0, 0][..]))
            .unwrap_err();
        assert!(matches!(e.kind, ErrorKind::BadLength { .. }));
    }

    #[test]
    fn complete_frame_rejects_trailing_bytes() {
        let mut v = frame(0, b"{}", b"x");
        assert!(parse_complete_frame(&v, DEFAULT_MAX_FRAME).is_ok());
        v.push(0);
        assert!(parse_complete_frame(&v, DEFAULT_MAX_FRAME).is_err());
        assert!(parse_complete_frame(&v[..5], DEFAULT_MAX_FRAME).is_err());
    }
}
