//! `MessageSysFlag`: the SYSFLAG word of a stored record (remoting-protocol.md §12.2).
//!
//! | bits | mask    | meaning |
//! |------|---------|---------|
//! | 0    | `0x1`   | body compressed |
//! | 1    | `0x2`   | topic filter type MULTI_TAG |
//! | 2–3  | `0xC`   | transaction type: 0x0 not, 0x4 prepared, 0x8 commit, 0xC rollback |
//! | 4    | `0x10`  | BORNHOST is a 16-byte IPv6 address |
//! | 5    | `0x20`  | STOREHOST is a 16-byte IPv6 address |
//! | 6    | `0x40`  | NEED_UNWRAP (5.x inner batch) |
//! | 7    | `0x80`  | INNER_BATCH (5.x inner batch) |
//! | 8–10 | `0x700` | compression type: 1 LZ4, 2 ZSTD, 3 ZLIB, 0 = legacy zlib |
//!
//! The pull request's `PullSysFlag` is a different word and lives with the headers.

use std::net::SocketAddr;

/// Body is compressed (codec in the compression-type bits).
pub const COMPRESSED: i32 = 0x1;
/// The topic uses the MULTI_TAG filter type.
pub const MULTI_TAGS: i32 = 0x2;
/// Transaction type: not a transactional message.
pub const TRANSACTION_NOT_TYPE: i32 = 0x0;
/// Transaction type: prepared (legacy half message).
pub const TRANSACTION_PREPARED_TYPE: i32 = 0x4;
/// Transaction type: committed.
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
/// Transaction type: rolled back.
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;
/// Mask of the two transaction-type bits.
pub const TRANSACTION_MASK: i32 = 0xC;
/// BORNHOST is stored as 16 address bytes + port.
pub const BORNHOST_V6: i32 = 0x10;
/// STOREHOST is stored as 16 address bytes + port.
pub const STOREHOST_V6: i32 = 0x20;
/// 5.x inner batch: the body must be unwrapped.
pub const NEED_UNWRAP: i32 = 0x40;
/// 5.x inner batch record.
pub const INNER_BATCH: i32 = 0x80;
/// Compression codec LZ4 (bits 8–10 = 1).
pub const COMPRESSION_LZ4: i32 = 0x100;
/// Compression codec ZSTD (bits 8–10 = 2).
pub const COMPRESSION_ZSTD: i32 = 0x200;
/// Compression codec ZLIB (bits 8–10 = 3); what a 4.9.8 producer sets (sysFlag 0x301).
pub const COMPRESSION_ZLIB: i32 = 0x300;
/// Mask of the compression-type bits.
pub const COMPRESSION_TYPE_MASK: i32 = 0x700;

/// Transaction type held in bits 2–3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionType {
    /// `0x0`
    NotType,
    /// `0x4`
    Prepared,
    /// `0x8`
    Commit,
    /// `0xC`
    Rollback,
}

impl TransactionType {
    /// The type encoded in `sys_flag`.
    pub fn from_sys_flag(sys_flag: i32) -> Self {
        match sys_flag & TRANSACTION_MASK {
            TRANSACTION_PREPARED_TYPE => TransactionType::Prepared,
            TRANSACTION_COMMIT_TYPE => TransactionType::Commit,
            TRANSACTION_ROLLBACK_TYPE => TransactionType::Rollback,
            _ => TransactionType::NotType,
        }
    }

    /// The bit value (also the END_TRANSACTION `commitOrRollback` number).
    pub fn value(self) -> i32 {
        match self {
            TransactionType::NotType => TRANSACTION_NOT_TYPE,
            TransactionType::Prepared => TRANSACTION_PREPARED_TYPE,
            TransactionType::Commit => TRANSACTION_COMMIT_TYPE,
            TransactionType::Rollback => TRANSACTION_ROLLBACK_TYPE,
        }
    }
}

/// Transaction type of `sys_flag`.
pub fn transaction_type(sys_flag: i32) -> TransactionType {
    TransactionType::from_sys_flag(sys_flag)
}

/// `sys_flag` with its transaction bits replaced by `t`.
pub fn reset_transaction_type(sys_flag: i32, t: TransactionType) -> i32 {
    (sys_flag & !TRANSACTION_MASK) | t.value()
}

/// Whether the COMPRESSED bit is set.
pub fn is_compressed(sys_flag: i32) -> bool {
    sys_flag & COMPRESSED != 0
}

/// `sys_flag` without the COMPRESSED bit (what 5.x clients leave after inflating).
pub fn clear_compressed(sys_flag: i32) -> i32 {
    sys_flag & !COMPRESSED
}

/// The raw 3-bit compression-type value (0..=7); see [`crate::message::CompressionType`].
pub fn compression_bits(sys_flag: i32) -> i32 {
    (sys_flag & COMPRESSION_TYPE_MASK) >> 8
}

/// Whether BORNHOST is stored in the 16-byte form.
pub fn born_host_v6(sys_flag: i32) -> bool {
    sys_flag & BORNHOST_V6 != 0
}

/// Whether STOREHOST is stored in the 16-byte form.
pub fn store_host_v6(sys_flag: i32) -> bool {
    sys_flag & STOREHOST_V6 != 0
}

/// The host bits Java would set for these addresses (0x10 if `born` is IPv6, 0x20 if `store` is).
pub fn host_flags(born: &SocketAddr, store: &SocketAddr) -> i32 {
    let mut f = 0;
    if born.is_ipv6() {
        f |= BORNHOST_V6;
    }
    if store.is_ipv6() {
        f |= STOREHOST_V6;
    }
    f
}

/// `sys_flag` with bits 0x10/0x20 set or cleared to match the address families, as the Java
/// CommitLog does before encoding. The record encoder refuses a mismatch, so call this when
/// building a record from addresses.
pub fn with_host_flags(sys_flag: i32, born: &SocketAddr, store: &SocketAddr) -> i32 {
    (sys_flag & !(BORNHOST_V6 | STOREHOST_V6)) | host_flags(born, store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_bits() {
        assert_eq!(transaction_type(0x301), TransactionType::NotType);
        assert_eq!(transaction_type(0x8), TransactionType::Commit);
        assert_eq!(transaction_type(0xC | 0x1), TransactionType::Rollback);
        assert_eq!(transaction_type(0x4), TransactionType::Prepared);
        assert_eq!(
            reset_transaction_type(0x301 | 0xC, TransactionType::Commit),
            0x309
        );
        for t in [
            TransactionType::NotType,
            TransactionType::Prepared,
            TransactionType::Commit,
            TransactionType::Rollback,
        ] {
            assert_eq!(TransactionType::from_sys_flag(t.value()), t);
        }
    }

    #[test]
    fn compression_and_hosts() {
        assert!(is_compressed(0x301));
        assert_eq!(clear_compressed(0x301), 0x300);
        assert_eq!(compression_bits(0x301), 3);
        assert_eq!(compression_bits(COMPRESSION_LZ4), 1);
        assert_eq!(compression_bits(0x1), 0);
        let v4: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let v6: SocketAddr = "[::1]:2".parse().unwrap();
        assert_eq!(host_flags(&v4, &v4), 0);
        assert_eq!(host_flags(&v6, &v4), BORNHOST_V6);
        assert_eq!(host_flags(&v4, &v6), STOREHOST_V6);
        assert_eq!(with_host_flags(0x31, &v4, &v4), 0x1);
        assert_eq!(with_host_flags(0x1, &v6, &v6), 0x31);
        assert!(born_host_v6(0x10) && !store_host_v6(0x10));
    }
}
