//! One remoting connection, server or client side.
//!
//! Two tasks per connection: the reader splits frames (`FrameDecoder`, cap checked before
//! buffering), answers responses to our own requests through the pending table, and runs each
//! incoming request in its own task (so a held long-polling pull never blocks the requests
//! behind it); the writer owns the socket's write half and drains a **bounded** queue, so a
//! peer that does not read its responses stalls its own request processing (back-pressure)
//! instead of making us buffer without bound.
//!
//! A frame or header that does not decode gets an error response when its opaque can be
//! found, then the connection is closed (as Java does). A panic inside a handler is caught,
//! logged with the request code and answered with SYSTEM_ERROR.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apogee_codec::codes::{request, response};
use apogee_codec::command::peek_opaque;
use apogee_codec::frame::FrameDecoder;
use apogee_codec::RemotingCommand;
use bytes::BytesMut;
use futures::channel::oneshot;
use futures::future::BoxFuture;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use log::{debug, warn};

use super::tls::{ClientTls, ServerTls, TlsMode, TLS_HANDSHAKE};
use crate::rt::{self, TcpStream};

/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
use crate::store::mapped_file::MappedSlice;

/// Something to write on a connection.
pub enum Outgoing {
    /// A whole command (header and body).
    Command(RemotingCommand),
    /// A command whose body is written straight from mapped store files (pull responses):
    /// the header announces their total length, then each slice follows.
    Parts(RemotingCommand, Vec<MappedSlice>),
}

/// What a handler answers to a request.
pub enum Reply {
    /// Nothing (one-way requests, or a request the handler answered itself).
    None,
    Command(RemotingCommand),
    Parts(RemotingCommand, Vec<MappedSlice>),
}

impl From<RemotingCommand> for Reply {
    fn from(c: RemotingCommand) -> Self {
        Reply::Command(c)
    }
}

/// Handles requests arriving on connections.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        self: Arc<Self>,
        conn: Arc<Connection>,
        req: RemotingCommand,
    ) -> BoxFuture<'static, Reply>;

    /// A connection was accepted / established.
    fn on_open(&self, _conn: &Arc<Connection>) {}

    /// A connection closed.
    fn on_close(&self, _conn: &Arc<Connection>) {}
}

/// Settings of a connection.
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    /// Largest frame accepted (`length + 4`).
    pub max_frame: usize,
    /// Outgoing queue bound (frames).
    pub write_queue: usize,
    /// Requests of one connection being processed at once; the reader stops reading while
    /// this many are in flight (held long-polling pulls count).
    pub max_in_flight: usize,
    /// Close after this long without reading anything.
    pub idle_timeout: Duration,
    /// Server side: TLS on accepted connections (`None`: plaintext only).
    pub tls_server: Option<Arc<ServerTls>>,
    /// Client side: connect with TLS (`None`: plaintext).
    pub tls_client: Option<Arc<ClientTls>>,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            max_frame: apogee_codec::DEFAULT_MAX_FRAME,
            write_queue: 4096,
            max_in_flight: 4096,
            idle_timeout: Duration::from_secs(120),
            tls_server: None,
            tls_client: None,
        }
    }
}

/// Why a request of ours failed.
#[derive(Debug, thiserror::Error)]
pub enum RemotingError {
    #[error("connection to {0} closed")]
    Closed(SocketAddr),
    #[error("request to {0} timed out")]
    Timeout(SocketAddr),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("encoding failed: {0}")]
    Codec(#[from] apogee_codec::CodecError),
}

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// A live connection, shared by its tasks and by whoever wants to send on it.
pub struct Connection {
    id: u64,
    peer: SocketAddr,
    local: SocketAddr,
    tx: async_channel::Sender<Outgoing>,
    pending: Mutex<HashMap<i32, oneshot::Sender<RemotingCommand>>>,
    next_opaque: AtomicI32,
    closed: AtomicBool,
    stream: TcpStream,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Connection#{}({} -> {})", self.id, self.peer, self.local)
    }
}

impl Connection {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The remote address (`ip:port` as the broker records it for born hosts and connection
    /// lists).
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn local(&self) -> SocketAddr {
        self.local
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queue something for writing; waits while the queue is full. False when closed.
    pub async fn send(&self, out: Outgoing) -> bool {
        if self.is_closed() {
            return false;
        }
        self.tx.send(out).await.is_ok()
    }

    /// Queue without waiting; false when closed or the queue is full.
    pub fn try_send(&self, out: Outgoing) -> bool {
        !self.is_closed() && self.tx.try_send(out).is_ok()
    }

    /// Send a one-way request (flag set here).
    pub async fn oneway(&self, mut cmd: RemotingCommand) -> bool {
        cmd.opaque = self.next_opaque.fetch_add(1, Ordering::Relaxed);
        cmd.set_oneway(true);
        self.send(Outgoing::Command(cmd)).await
    }

    /// Send a request and wait for its response.
    pub async fn request(
        &self,
        mut cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        let opaque = self.next_opaque.fetch_add(1, Ordering::Relaxed);
        cmd.opaque = opaque;
        let (tx, rx) = oneshot::channel();
        self.lock_pending().insert(opaque, tx);
        if !self.send(Outgoing::Command(cmd)).await {
            self.lock_pending().remove(&opaque);
            return Err(RemotingError::Closed(self.peer));
        }
        match rt::timeout(timeout, rx).await {
            Some(Ok(resp)) => Ok(resp),
            Some(Err(_)) => Err(RemotingError::Closed(self.peer)),
            None => {
                self.lock_pending().remove(&opaque);
                Err(RemotingError::Timeout(self.peer))
            }
        }
    }

    fn lock_pending(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<i32, oneshot::Sender<RemotingCommand>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Close the connection (both directions); pending requests fail.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.tx.close();
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.lock_pending().clear();
    }
}

/// Run a plaintext connection until it closes: spawns the writer, runs the reader on this
/// task.
pub async fn run_connection(
    stream: TcpStream,
    handler: Arc<dyn Handler>,
    opts: ConnectionOptions,
    ready: Option<oneshot::Sender<Arc<Connection>>>,
) {
    let (r, w) = (stream.clone(), stream.clone());
    run_io(stream, r, w, handler, opts, ready).await
}

/// Run an accepted connection: plaintext, or TLS as the port's mode says (permissive mode
/// looks at the first byte the client sends without consuming it).
pub async fn run_server_connection(
    stream: TcpStream,
    handler: Arc<dyn Handler>,
    opts: ConnectionOptions,
) {
    let Some(tls) = opts.tls_server.clone() else {
        return run_connection(stream, handler, opts, None).await;
    };
    let use_tls = match tls.mode {
        TlsMode::Disabled => false,
        TlsMode::Enforcing => true,
        TlsMode::Permissive => {
            let mut first = [0u8; 1];
            match rt::timeout(opts.idle_timeout, stream.peek(&mut first)).await {
                Some(Ok(1)) => first[0] == TLS_HANDSHAKE,
                // Closed, failed or silent before sending anything.
                _ => {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    return;
                }
            }
        }
    };
    if !use_tls {
        return run_connection(stream, handler, opts, None).await;
    }
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    match rt::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream.clone())).await {
        Some(Ok(tls_stream)) => {
            let (r, w) = tls_stream.split();
            run_io(stream, r, w, handler, opts, None).await
        }
        Some(Err(e)) => {
            debug!("TLS handshake with {peer:?} failed: {e}");
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        None => {
            debug!("TLS handshake with {peer:?} timed out");
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Open the client side of a TLS connection on `stream` and run it (as [`run_connection`]).
pub async fn run_tls_client_connection(
    stream: TcpStream,
    tls: Arc<ClientTls>,
    handler: Arc<dyn Handler>,
    opts: ConnectionOptions,
    ready: oneshot::Sender<Arc<Connection>>,
) {
    let _ = stream.set_nodelay(true);
    let Ok(peer) = stream.peer_addr() else { return };
    let connect = tls
        .connector()
        .connect(ClientTls::server_name(normalize(peer)), stream.clone());
    match rt::timeout(HANDSHAKE_TIMEOUT, connect).await {
        Some(Ok(tls_stream)) => {
            let (r, w) = tls_stream.split();
            run_io(stream, r, w, handler, opts, Some(ready)).await
        }
        Some(Err(e)) => {
            debug!("TLS handshake with {peer} failed: {e}");
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        None => {
            debug!("TLS handshake with {peer} timed out");
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Run a connection whose bytes flow through `reader` / `writer` (the socket itself, or a TLS
/// session over it); `stream` is the socket, for addresses and shutdown.
async fn run_io<R, W>(
    stream: TcpStream,
    reader: R,
    writer: W,
    handler: Arc<dyn Handler>,
    opts: ConnectionOptions,
    ready: Option<oneshot::Sender<Arc<Connection>>>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let _ = stream.set_nodelay(true);
    let peer = match stream.peer_addr() {
        Ok(p) => normalize(p),
        Err(_) => return,
    };
    let local = stream
        .local_addr()
        .map(normalize)
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let (tx, rx) = async_channel::bounded(opts.write_queue.max(1));
    let conn = Arc::new(Connection {
        id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
        peer,
        local,
        tx,
        pending: Mutex::new(HashMap::new()),
        next_opaque: AtomicI32::new(1),
        closed: AtomicBool::new(false),
        stream,
    });
    debug!("{conn:?} open");
    handler.on_open(&conn);
    if let Some(r) = ready {
        let _ = r.send(Arc::clone(&conn));
    }
    let writer_conn = Arc::clone(&conn);
    let write_half = writer;
    let (done_tx, done_rx) = oneshot::channel::<()>();
    rt::spawn(async move {
        if let Err(e) = write_loop(write_half, rx).await {
            debug!("{writer_conn:?} write failed: {e}");
            writer_conn.close();
        }
        let _ = done_tx.send(());
    });
    if let Err(e) = read_loop(reader, &conn, &handler, &opts).await {
        debug!("{conn:?} read ended: {e}");
    }
    // Graceful close: refuse new sends, let the writer drain what is queued (e.g. the error
    // response to a bad frame), then shut the socket.
    conn.closed.store(true, Ordering::Release);
    conn.tx.close();
    let _ = rt::timeout(Duration::from_secs(5), done_rx).await;
    conn.closed.store(false, Ordering::Release);
    conn.close();
    handler.on_close(&conn);
    debug!("{conn:?} closed");
}

/// IPv4-mapped IPv6 peers are IPv4 peers (record layout and the C++ client depend on it).
pub fn normalize(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => a,
        },
        a => a,
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut stream: R,
    conn: &Arc<Connection>,
    handler: &Arc<dyn Handler>,
    opts: &ConnectionOptions,
) -> io::Result<()> {
    let mut decoder = FrameDecoder::new(opts.max_frame);
    // In-flight slots: a token per request being processed.
    let (slots_tx, slots_rx) = async_channel::bounded::<()>(opts.max_in_flight.max(1));
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Split every complete frame off the buffer.
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    // Kept (cheap refcount clones) only to find the opaque if decoding fails.
                    let st = frame.serialize_type;
                    let header = frame.header.clone();
                    match RemotingCommand::from_frame(frame) {
                        Ok(cmd) => {
                            if !cmd.is_response() && slots_tx.send(()).await.is_err() {
                                return Ok(());
                            }
                            dispatch(conn, handler, cmd, slots_rx.clone());
                        }
                        Err(e) => {
                            warn!("{conn:?}: undecodable command: {e}; closing");
                            let opaque = peek_opaque(&apogee_codec::RawFrame {
                                serialize_type: st,
                                header,
                                body: bytes::Bytes::new(),
                            });
                            if let Some(opaque) = opaque {
                                let mut resp =
                                    RemotingCommand::request(response::SYSTEM_ERROR, opaque);
                                resp.flag = apogee_codec::command::FLAG_RESPONSE;
                                resp.remark = Some(format!("bad command: {e}"));
                                conn.send(Outgoing::Command(resp)).await;
                            }
                            return Ok(());
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    warn!("{conn:?}: bad frame: {e}; closing");
                    return Ok(());
                }
            }
        }
        let n = match rt::timeout(opts.idle_timeout, stream.read(&mut chunk)).await {
            Some(r) => r?,
            None => {
                debug!("{conn:?}: idle for {:?}, closing", opts.idle_timeout);
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn dispatch(
    conn: &Arc<Connection>,
    handler: &Arc<dyn Handler>,
    cmd: RemotingCommand,
    slot: async_channel::Receiver<()>,
) {
    if cmd.is_response() {
        if let Some(tx) = conn.lock_pending().remove(&cmd.opaque) {
            let _ = tx.send(cmd);
        } else {
            debug!(
                "{conn:?}: response with unknown opaque {} dropped",
                cmd.opaque
            );
        }
        return;
    }
    let conn = Arc::clone(conn);
    let handler = Arc::clone(handler);
    rt::spawn(async move {
        let code = cmd.code;
        let oneway = cmd.is_oneway();
        let opaque = cmd.opaque;
        let st = cmd.serialize_type;
        let fut = Arc::clone(&handler).handle(Arc::clone(&conn), cmd);
        let reply = match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(r) => r,
            Err(p) => {
                let what = p
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| p.downcast_ref::<&str>().copied())
                    .unwrap_or("panic");
                log::error!(
                    "{conn:?}: handler for request {code} ({}) panicked: {what}",
                    request::name(code).unwrap_or("?")
                );
                let mut r = RemotingCommand::request(response::SYSTEM_ERROR, opaque);
                r.flag = apogee_codec::command::FLAG_RESPONSE;
                r.serialize_type = st;
                r.remark = Some(format!("internal error handling request {code}"));
                Reply::Command(r)
            }
        };
        if !oneway {
            match reply {
                Reply::None => {}
                Reply::Command(c) => {
                    conn.send(Outgoing::Command(c)).await;
                }
                Reply::Parts(c, parts) => {
                    conn.send(Outgoing::Parts(c, parts)).await;
                }
            }
        }
        // Free this request's in-flight slot (its reply is queued).
        let _ = slot.try_recv();
    });
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut stream: W,
    rx: async_channel::Receiver<Outgoing>,
) -> Result<(), RemotingError> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    while let Ok(first) = rx.recv().await {
        // Batch whatever else is queued into the same write.
        let mut next = Some(first);
        while let Some(out) = next.take() {
            match out {
                Outgoing::Command(cmd) => cmd.encode(&mut buf)?,
                Outgoing::Parts(cmd, parts) => {
                    let total: usize = parts.iter().map(|p| p.len()).sum();
                    cmd.encode_head(&mut buf, total)?;
                    if !buf.is_empty() {
                        stream.write_all(&buf).await?;
                        buf.clear();
                    }
                    for p in &parts {
                        stream.write_all(p).await?;
                    }
                }
            }
            if buf.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        if !buf.is_empty() {
            stream.write_all(&buf).await?;
            buf.clear();
        }
        stream.flush().await?;
        if buf.capacity() > 4 * 1024 * 1024 {
            buf = BytesMut::with_capacity(64 * 1024);
        }
    }
    Ok(())
}
