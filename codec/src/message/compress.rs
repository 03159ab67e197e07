//! Body compression (sysFlag bit 0x1, codec in bits 8–10).
//!
//! Java producers compress bodies of at least 4096 bytes (`compressMsgBodyOverHowmuch`) with
//! zlib level 5 and set sysFlag `0x1 | 0x300`; the stored body and its BODYCRC are the
//! compressed bytes. Codec value 0 is read as zlib (older producers). LZ4 and ZSTD are known
//! but not implemented here: asking for them is an error, never a panic.

use std::borrow::Cow;
use std::io::{Read, Write};

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

use crate::error::{CodecError, ErrorKind, Result};

use super::sysflag;

const CTX: &str = "compressed body";

/// Level the Java producer uses (`rocketmq.message.compressLevel`, default 5).
pub const DEFAULT_COMPRESS_LEVEL: u32 = 5;
/// Body size from which the Java producer compresses (`compressMsgBodyOverHowmuch`).
pub const DEFAULT_COMPRESS_OVER: usize = 4096;

/// The codec named by the compression-type bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionType {
    /// bits = 1
    Lz4,
    /// bits = 2
    Zstd,
    /// bits = 3, or 0 (legacy default)
    Zlib,
}

impl CompressionType {
    /// Codec of a 3-bit value (`CompressionType.findByValue`): 1 LZ4, 2 ZSTD, 0 or 3 ZLIB;
    /// 4..=7 are errors.
    pub fn from_bits(bits: i32) -> Result<Self> {
        match bits {
            1 => Ok(CompressionType::Lz4),
            2 => Ok(CompressionType::Zstd),
            0 | 3 => Ok(CompressionType::Zlib),
            other => Err(CodecError::invalid_field(
                CTX,
                "compression type",
                other.to_string(),
                "compression type 0..=3",
            )),
        }
    }

    /// Codec named by `sys_flag` (whether or not the COMPRESSED bit is set).
    pub fn from_sys_flag(sys_flag: i32) -> Result<Self> {
        Self::from_bits(sysflag::compression_bits(sys_flag))
    }

    /// The sysFlag bits of this codec (`0x100`, `0x200`, `0x300`).
    pub fn flag(self) -> i32 {
        match self {
            CompressionType::Lz4 => sysflag::COMPRESSION_LZ4,
            CompressionType::Zstd => sysflag::COMPRESSION_ZSTD,
            CompressionType::Zlib => sysflag::COMPRESSION_ZLIB,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CompressionType::Lz4 => "LZ4",
            CompressionType::Zstd => "ZSTD",
            CompressionType::Zlib => "ZLIB",
        }
    }
}

fn unsupported(codec: CompressionType) -> CodecError {
    CodecError::invalid_field(
        CTX,
        "compression type",
        codec.name(),
        "supported compression codec (only ZLIB is implemented)",
    )
}

/// Inflate `body` with `codec`, refusing output larger than `max_len` bytes (a zip bomb stops
/// after `max_len + 1` bytes, not at the end of the stream).
pub fn inflate(body: &[u8], codec: CompressionType, max_len: usize) -> Result<Vec<u8>> {
    if codec != CompressionType::Zlib {
        return Err(unsupported(codec));
    }
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max_len));
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    ZlibDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| CodecError::invalid(CTX, 0, format!("zlib data is corrupt: {e}")))?;
    if out.len() > max_len {
        return Err(CodecError::new(
            CTX,
            0,
            ErrorKind::BadLength {
                field: "inflated body length",
                value: i64::try_from(out.len()).unwrap_or(i64::MAX),
                limit: i64::try_from(max_len).unwrap_or(i64::MAX),
            },
        ));
    }
    Ok(out)
}

/// The body as a consumer sees it: inflated when `sys_flag` has COMPRESSED, borrowed as is
/// otherwise.
pub fn decompress_body(body: &[u8], sys_flag: i32, max_len: usize) -> Result<Cow<'_, [u8]>> {
    if !sysflag::is_compressed(sys_flag) {
        return Ok(Cow::Borrowed(body));
    }
    let codec = CompressionType::from_sys_flag(sys_flag)?;
    inflate(body, codec, max_len).map(Cow::Owned)
}

/// zlib-compress `body` at `level` (0..=9; Java's producer uses 5). The output is a valid zlib
/// stream any Java `Inflater` reads; it is not byte-identical to Java's `Deflater`.
pub fn deflate(body: &[u8], level: u32) -> Result<Vec<u8>> {
    let mut enc = ZlibEncoder::new(
        Vec::with_capacity(body.len() / 2 + 64),
        Compression::new(level.min(9)),
    );
    enc.write_all(body)
        .and_then(|()| enc.finish())
        .map_err(|e| CodecError::new(CTX, 0, ErrorKind::Unencodable(format!("zlib: {e}"))))
}

/// Compress with `codec` (only ZLIB is implemented).
pub fn compress_body(body: &[u8], codec: CompressionType, level: u32) -> Result<Vec<u8>> {
    match codec {
        CompressionType::Zlib => deflate(body, level),
        other => Err(unsupported(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zlib_round_trip_and_cap() {
        let body = "Grüße 标签 🚀 ".repeat(500).into_bytes();
        let z = deflate(&body, DEFAULT_COMPRESS_LEVEL).unwrap();
        assert!(z.len() < body.len());
        assert_eq!(
            inflate(&z, CompressionType::Zlib, body.len()).unwrap(),
            body
        );
        let e = inflate(&z, CompressionType::Zlib, body.len() - 1).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::BadLength { .. }));
        let flag = sysflag::COMPRESSED | sysflag::COMPRESSION_ZLIB;
        assert_eq!(decompress_body(&z, flag, usize::MAX).unwrap(), &body[..]);
        // legacy codec value 0
        assert_eq!(decompress_body(&z, 1, usize::MAX).unwrap(), &body[..]);
        // not compressed: borrowed as is
        assert!(matches!(
            decompress_body(&z, 0x300, 10).unwrap(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn unsupported_and_corrupt_are_errors() {
        let lz4 = sysflag::COMPRESSED | sysflag::COMPRESSION_LZ4;
        let e = decompress_body(b"xx", lz4, 100).unwrap_err();
        assert!(e.to_string().contains("LZ4"), "{e}");
        assert!(
            decompress_body(b"xx", sysflag::COMPRESSED | sysflag::COMPRESSION_ZSTD, 100).is_err()
        );
        assert!(decompress_body(b"xx", sysflag::COMPRESSED | 0x400, 100).is_err());
        assert!(compress_body(b"x", CompressionType::Lz4, 5).is_err());
        assert!(decompress_body(b"not zlib at all", 0x301, 100).is_err());
        assert_eq!(CompressionType::from_sys_flag(0x301).unwrap().flag(), 0x300);
        // A bomb: 64 MiB of zeros stops at the cap.
        let bomb = deflate(&vec![0u8; 64 << 20], 9).unwrap();
        assert!(inflate(&bomb, CompressionType::Zlib, 1 << 20).is_err());
    }

    proptest! {
        #[test]
        fn inflate_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = inflate(&data, CompressionType::Zlib, 4096);
        }
    }
}
