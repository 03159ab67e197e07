//! The transient store pool (`transientStorePoolEnable`): off-heap write buffers, each the size
//! of a CommitLog file. A new CommitLog file borrows one; appends go into the buffer, a commit
//! step writes the new bytes into the file with `pwrite`, and the flush step makes them
//! durable. Readers see only committed bytes. The buffer goes back to the pool once its file is
//! full and committed.
//!
//! Why: appends then never page-fault on file pages (the buffers are populated once, at start),
//! and `pwrite` of whole pages fills the page cache without zeroing pages first.

use std::sync::Mutex;

use log::info;

/// A pool of equally sized, pre-populated buffers.
pub struct TransientStorePool {
    buffer_size: usize,
    free: Mutex<Vec<Box<[u8]>>>,
}

impl std::fmt::Debug for TransientStorePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TransientStorePool({} x {} bytes available)",
            self.available(),
            self.buffer_size
        )
    }
}

impl TransientStorePool {
    /// `count` buffers of `buffer_size` bytes, every page touched so that using them never
    /// faults.
    pub fn new(count: usize, buffer_size: usize) -> Self {
        let mut v = Vec::with_capacity(count);
        for _ in 0..count {
            let mut b = vec![0u8; buffer_size].into_boxed_slice();
            for i in (0..buffer_size).step_by(4096) {
                // SAFETY: in bounds; a volatile write keeps the compiler from eliding it.
                unsafe { std::ptr::write_volatile(b.as_mut_ptr().add(i), 0) };
            }
            v.push(b);
        }
        info!("transient store pool: {count} buffers of {buffer_size} bytes");
        TransientStorePool {
            buffer_size,
            free: Mutex::new(v),
        }
    }

    pub fn buffer_size(&self) -> usize {
        self.buffer_size
    }

    /// Buffers not lent out.
    pub fn available(&self) -> usize {
        self.free.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Lend a buffer (None when all are in use: the file is then written directly).
    pub fn borrow_buffer(&self) -> Option<Box<[u8]>> {
        self.free.lock().ok()?.pop()
    }

    /// Take a buffer back.
    pub fn return_buffer(&self, buf: Box<[u8]>) {
        if buf.len() != self.buffer_size {
            return;
        }
        if let Ok(mut v) = self.free.lock() {
            v.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lend_and_return() {
        let p = TransientStorePool::new(2, 8192);
        let a = p.borrow_buffer().unwrap();
        let b = p.borrow_buffer().unwrap();
        assert!(p.borrow_buffer().is_none());
        p.return_buffer(a);
        assert_eq!(p.available(), 1);
        p.return_buffer(vec![0u8; 10].into_boxed_slice()); // wrong size: dropped
        assert_eq!(p.available(), 1);
        p.return_buffer(b);
        assert_eq!(p.available(), 2);
    }
}
