//! SIGINT / SIGTERM handling for the binaries, without a signal-handler context: the signals
//! are blocked in every thread (call [`block_termination_signals`] first thing in `main`,
//! before any thread exists) and one thread waits for them with `sigwait`.

/// Block SIGINT and SIGTERM in the calling thread (inherited by threads it starts later).
pub fn block_termination_signals() {
    // SAFETY: plain libc calls on a local, zero-initialised sigset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// A future that completes when SIGINT or SIGTERM arrives (a helper thread waits for it).
pub fn termination() -> futures::channel::oneshot::Receiver<i32> {
    let (tx, rx) = futures::channel::oneshot::channel();
    let _ = std::thread::Builder::new()
        .name("apogee-signals".into())
        .spawn(move || {
            // SAFETY: as above; sigwait only reads the set and writes `sig`.
            let sig = unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGINT);
                libc::sigaddset(&mut set, libc::SIGTERM);
                let mut sig: libc::c_int = 0;
                libc::sigwait(&set, &mut sig);
                sig
            };
            let _ = tx.send(sig);
        });
    rx
}
