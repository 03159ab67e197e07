//! SYNC_MASTER waiters (Java's `GroupTransferService`): a send that must be on the slave
//! before it is acknowledged waits here until some slave has acknowledged its end offset.
//!
//! Invariant: the acknowledged offset and the waiter list change under one lock. A waiter
//! registers and re-checks the acknowledged offset in the same critical section, and an
//! acknowledgement raises the offset and completes the covered waiters in another, so no
//! wake-up is lost. Waiters whose sender gave up (timed out) are dropped at the next
//! acknowledgement.

use std::sync::Mutex;
use std::time::Duration;

use futures::channel::oneshot;

use crate::rt;

#[derive(Default)]
struct State {
    /// Largest offset any slave has acknowledged (Java `push2SlaveMaxOffset`).
    acked: i64,
    waiters: Vec<(i64, oneshot::Sender<()>)>,
}

/// The waiters and the acknowledged offset.
#[derive(Default)]
pub struct GroupTransfer {
    state: Mutex<State>,
}

impl GroupTransfer {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Largest offset acknowledged by a slave.
    pub fn acked(&self) -> i64 {
        self.lock().acked
    }

    /// A slave acknowledged everything before `offset`: complete every waiter it covers.
    pub fn notify_acked(&self, offset: i64) {
        let mut st = self.lock();
        if offset > st.acked {
            st.acked = offset;
        }
        let acked = st.acked;
        let mut i = 0;
        while i < st.waiters.len() {
            if st.waiters[i].0 <= acked || st.waiters[i].1.is_canceled() {
                let (_, tx) = st.waiters.swap_remove(i);
                let _ = tx.send(());
            } else {
                i += 1;
            }
        }
    }

    /// Wait until a slave has acknowledged `end_offset`, at most `timeout`. True when it has.
    pub async fn wait(&self, end_offset: i64, timeout: Duration) -> bool {
        let rx = {
            let mut st = self.lock();
            if st.acked >= end_offset {
                return true;
            }
            let (tx, rx) = oneshot::channel();
            st.waiters.push((end_offset, tx));
            rx
        };
        matches!(rt::timeout(timeout, rx).await, Some(Ok(())))
    }

    /// Waiters still registered (tests, diagnostics).
    pub fn pending(&self) -> usize {
        self.lock().waiters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn covered_waiters_complete_and_others_time_out() {
        let g = Arc::new(GroupTransfer::default());
        g.notify_acked(100);
        assert!(rt::block_on(g.wait(100, Duration::from_secs(5))));
        let g2 = Arc::clone(&g);
        let t = std::thread::spawn(move || rt::block_on(g2.wait(200, Duration::from_secs(10))));
        while g.pending() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        g.notify_acked(150);
        assert_eq!(g.pending(), 1, "150 does not cover 200");
        g.notify_acked(200);
        assert!(t.join().unwrap());
        assert!(!rt::block_on(g.wait(300, Duration::from_millis(20))));
        // The timed-out waiter is dropped by the next acknowledgement.
        g.notify_acked(250);
        assert_eq!(g.pending(), 0);
        assert_eq!(g.acked(), 250);
        g.notify_acked(10);
        assert_eq!(g.acked(), 250, "never goes backwards");
    }
}
