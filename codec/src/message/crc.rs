//! BODYCRC: the standard CRC-32 (IEEE, as zlib and `java.util.zip.CRC32`) of the stored body,
//! with the top bit cleared (`UtilAll.crc32`). An empty body gives 0.

/// CRC of a stored body as written into BODYCRC: `crc32(body) & 0x7FFF_FFFF`, never negative.
pub fn body_crc(body: &[u8]) -> i32 {
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(body_crc(b""), 0);
        // crc32("123456789") = 0xCBF43926; the top bit is cleared.
        assert_eq!(body_crc(b"123456789"), 0x4BF4_3926);
        assert_eq!(body_crc(b"hello"), 0x3610_A686);
        assert!(body_crc(&[0xFF; 1000]) >= 0);
    }
}
