//! The executor seam: everything the broker needs from an async runtime, in one place.
//!
//! The broker is written against `futures`/`futures-io` traits; this module picks the
//! executor by cargo feature — `async-std` (the default) or `smol`. Timers (`async-io`) and
//! the blocking pool (`blocking`) are shared by both. Adding another executor means
//! implementing these few functions and the two socket types.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

#[cfg(not(any(feature = "async-std", feature = "smol")))]
compile_error!("enable one executor feature: `async-std` (default) or `smol`");

#[cfg(feature = "async-std")]
pub use async_std::net::{TcpListener, TcpStream};

#[cfg(all(feature = "smol", not(feature = "async-std")))]
pub use smol::net::{TcpListener, TcpStream};

/// The executor this build uses (for logs).
pub fn executor_name() -> &'static str {
    if cfg!(feature = "async-std") {
        "async-std"
    } else {
        "smol"
    }
}

/// Run a task in the background; it is detached (it runs to completion on its own).
pub fn spawn<F>(fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    #[cfg(feature = "async-std")]
    {
        async_std::task::spawn(fut);
    }
    #[cfg(all(feature = "smol", not(feature = "async-std")))]
    {
        smol::spawn(fut).detach();
    }
}

/// Drive a future to completion on the current thread.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    #[cfg(feature = "async-std")]
    {
        async_std::task::block_on(fut)
    }
    #[cfg(all(feature = "smol", not(feature = "async-std")))]
    {
        smol::block_on(fut)
    }
}

/// Sleep without blocking a thread.
pub async fn sleep(d: Duration) {
    async_io::Timer::after(d).await;
}

/// Run blocking work (file I/O, page faults, fsync) on the blocking thread pool.
pub async fn unblock<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    blocking::unblock(f).await
}

/// `fut`, or `None` after `d`.
pub async fn timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
    use futures::future::{select, Either};
    let fut = std::pin::pin!(fut);
    let timer = std::pin::pin!(sleep(d));
    match select(fut, timer).await {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

/// Bind a listener.
///
/// The accept backlog is raised to [`LISTEN_BACKLOG`] (Java's `serverSocketBacklog`): the
/// standard library listens with 128, and a burst of connects beyond it has its SYNs dropped
/// and retried a second later.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    use std::os::fd::AsRawFd;
    let l = TcpListener::bind(addr).await?;
    // SAFETY: listen(2) on a socket we own; calling it again only changes the backlog.
    if unsafe { libc::listen(l.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
        log::warn!(
            "listen backlog {LISTEN_BACKLOG} on {addr}: {}",
            io::Error::last_os_error()
        );
    }
    Ok(l)
}

/// Accept backlog of listeners (capped by the kernel's `net.core.somaxconn`).
pub const LISTEN_BACKLOG: i32 = 1024;

/// Connect to `addr`, giving up after `timeout_after`.
pub async fn connect(addr: SocketAddr, timeout_after: Duration) -> io::Result<TcpStream> {
    match timeout(timeout_after, TcpStream::connect(addr)).await {
        Some(r) => r,
        None => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect to {addr} timed out"),
        )),
    }
}
