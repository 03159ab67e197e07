//! The store's running flags (Java's `RunningFlags`): conditions that stop it from accepting
//! writes or reads.

use std::sync::atomic::{AtomicU32, Ordering};

/// A set of flag bits, shared by the store's threads.
#[derive(Debug, Default)]
pub struct RunningFlags(AtomicU32);

impl RunningFlags {
    pub const NOT_READABLE: u32 = 1;
    pub const NOT_WRITEABLE: u32 = 1 << 1;
    pub const WRITE_LOGICS_QUEUE_ERROR: u32 = 1 << 2;
    pub const WRITE_INDEX_FILE_ERROR: u32 = 1 << 3;
    pub const DISK_FULL: u32 = 1 << 4;

    const NO_WRITE: u32 = Self::NOT_WRITEABLE
        | Self::WRITE_LOGICS_QUEUE_ERROR
        | Self::WRITE_INDEX_FILE_ERROR
        | Self::DISK_FULL;

    pub fn set(&self, bits: u32) {
        self.0.fetch_or(bits, Ordering::AcqRel);
    }

    pub fn clear(&self, bits: u32) {
        self.0.fetch_and(!bits, Ordering::AcqRel);
    }

    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }

    pub fn is_writeable(&self) -> bool {
        self.get() & Self::NO_WRITE == 0
    }

    pub fn is_readable(&self) -> bool {
        self.get() & Self::NOT_READABLE == 0
    }

    /// Why writes are refused, for the response remark.
    pub fn describe(&self) -> String {
        let b = self.get();
        let mut v = Vec::new();
        for (bit, name) in [
            (Self::NOT_WRITEABLE, "not writeable"),
            (Self::WRITE_LOGICS_QUEUE_ERROR, "consume queue write error"),
            (Self::WRITE_INDEX_FILE_ERROR, "index file write error"),
            (Self::DISK_FULL, "disk full"),
        ] {
            if b & bit != 0 {
                v.push(name);
            }
        }
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits() {
        let f = RunningFlags::default();
        assert!(f.is_writeable());
        f.set(RunningFlags::DISK_FULL);
        assert!(!f.is_writeable());
        assert_eq!(f.describe(), "disk full");
        f.clear(RunningFlags::DISK_FULL);
        assert!(f.is_writeable());
    }
}
