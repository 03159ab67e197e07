//! The connecting side: one connection per remote address, reused; requests matched by opaque.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apogee_codec::RemotingCommand;
use futures::channel::oneshot;

use super::connection::{
    run_connection, run_tls_client_connection, Connection, ConnectionOptions, Handler,
    RemotingError,
};
use crate::rt;

/// A remoting client.
pub struct RemotingClient {
    handler: Arc<dyn Handler>,
    opts: ConnectionOptions,
    connect_timeout: Duration,
    conns: Mutex<HashMap<SocketAddr, Arc<Connection>>>,
}

impl RemotingClient {
    /// `handler` serves requests the remote side sends us (e.g. broker → client pushes).
    pub fn new(handler: Arc<dyn Handler>, opts: ConnectionOptions) -> Self {
        RemotingClient {
            handler,
            opts,
            connect_timeout: Duration::from_secs(3),
            conns: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<Connection>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open connection to `addr`, connecting if needed.
    pub async fn connection(&self, addr: SocketAddr) -> Result<Arc<Connection>, RemotingError> {
        if let Some(c) = self.lock().get(&addr) {
            if !c.is_closed() {
                return Ok(Arc::clone(c));
            }
        }
        let stream = rt::connect(addr, self.connect_timeout).await?;
        let (tx, rx) = oneshot::channel();
        match &self.opts.tls_client {
            Some(tls) => rt::spawn(run_tls_client_connection(
                stream,
                Arc::clone(tls),
                Arc::clone(&self.handler),
                self.opts.clone(),
                tx,
            )),
            None => rt::spawn(run_connection(
                stream,
                Arc::clone(&self.handler),
                self.opts.clone(),
                Some(tx),
            )),
        }
        let conn = rx.await.map_err(|_| RemotingError::Closed(addr))?;
        self.lock().insert(addr, Arc::clone(&conn));
        Ok(conn)
    }

    /// Send a request and wait (at most `timeout`) for the response.
    pub async fn invoke(
        &self,
        addr: SocketAddr,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        let conn = self.connection(addr).await?;
        let r = conn.request(cmd, timeout).await;
        if let Err(RemotingError::Timeout(_)) = &r {
            // As the Java client does: a timed-out connection is not trusted any more.
            conn.close();
        }
        r
    }

    /// Send a one-way request.
    pub async fn invoke_oneway(
        &self,
        addr: SocketAddr,
        cmd: RemotingCommand,
    ) -> Result<(), RemotingError> {
        let conn = self.connection(addr).await?;
        if conn.oneway(cmd).await {
            Ok(())
        } else {
            Err(RemotingError::Closed(addr))
        }
    }

    /// Close every connection.
    pub fn close_all(&self) {
        for (_, c) in self.lock().drain() {
            c.close();
        }
    }
}

/// A handler that answers every request with REQUEST_CODE_NOT_SUPPORTED (for clients that
/// expect no requests).
pub struct RejectAll;

impl Handler for RejectAll {
    fn handle(
        self: Arc<Self>,
        _conn: Arc<Connection>,
        req: RemotingCommand,
    ) -> futures::future::BoxFuture<'static, super::connection::Reply> {
        Box::pin(async move {
            RemotingCommand::error_to(
                &req,
                apogee_codec::codes::response::REQUEST_CODE_NOT_SUPPORTED,
                format!(" request type {} not supported", req.code),
            )
            .into()
        })
    }
}
