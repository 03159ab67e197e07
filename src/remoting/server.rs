//! The accepting side: a listener whose connections are served by one [`Handler`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use log::{info, warn};

use super::connection::{run_server_connection, ConnectionOptions, Handler};
use crate::rt;

/// A running server. Dropping the handle does not stop it; call [`ServerHandle::stop`].
pub struct ServerHandle {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stop accepting (existing connections run until their peers close them).
    pub fn stop(&self) {
        if !self.stop.swap(true, Ordering::AcqRel) {
            // Wake the accept loop with a throw-away connection.
            let addr = self.local;
            rt::spawn(async move {
                let _ = rt::connect(addr, std::time::Duration::from_secs(1)).await;
            });
        }
    }
}

/// Bind `addr` and serve every connection with `handler`.
pub async fn serve(
    addr: SocketAddr,
    handler: Arc<dyn Handler>,
    opts: ConnectionOptions,
    name: &'static str,
) -> io::Result<ServerHandle> {
    let listener = rt::bind(addr).await?;
    serve_listener(listener, handler, opts, name)
}

/// Serve every connection of an already bound listener with `handler`.
pub fn serve_listener(
    listener: rt::TcpListener,
    handler: Arc<dyn Handler>,
    opts: ConnectionOptions,
    name: &'static str,
) -> io::Result<ServerHandle> {
    let local = listener.local_addr()?;
    info!("{name} listening on {local}");
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    rt::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    if stop2.load(Ordering::Acquire) {
                        break;
                    }
                    rt::spawn(run_server_connection(
                        stream,
                        Arc::clone(&handler),
                        opts.clone(),
                    ));
                }
                Err(e) => {
                    if stop2.load(Ordering::Acquire) {
                        break;
                    }
                    // EMFILE and friends: back off instead of spinning.
                    warn!("{name}: accept failed: {e}");
                    rt::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
        info!("{name} on {local} stopped accepting");
    });
    Ok(ServerHandle { local, stop })
}
