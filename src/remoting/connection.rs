//! One remoting connection, server or client side.
//!
//! Two tasks per connection. The reader splits frames (`FrameDecoder`, cap checked before
//! buffering), answers responses to our own requests through the pending table, and starts
//! each incoming request **inline**: the handler's future is polled once on the reader task.
//! Most requests (sends with asynchronous flush, offset updates, heartbeats, pulls that find
//! data) finish in that first poll; their replies are encoded into one buffer and written by
//! the reader itself once every complete frame of the current read is handled, so a request
//! costs no task spawn and no hand-off to another task. A request that is not finished after
//! that poll (a held long-polling pull, a send waiting for a group commit) continues in its own
//! task, so it never blocks the requests behind it, and its reply goes through the writer
//! task's **bounded** queue. Reader and writer take the connection's write lock around every
//! write, so frames never interleave. A peer that does not read its responses stalls the
//! reader (its direct writes block, or the queue fills), i.e. its own request processing
//! (back-pressure) instead of making us buffer without bound.
//!
//! Both bounds (queued frames, requests in flight) are semaphores in front of lazily grown
//! structures, and the read and write buffers start small and grow only with use: an idle
//! connection costs a few KiB, not its bounds (10,000 idle connections must fit).
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
use std::task::{Context, Poll};
use std::time::Duration;

use apogee_codec::codes::{request, response};
use apogee_codec::command::peek_opaque;
use apogee_codec::frame::FrameDecoder;
use apogee_codec::RemotingCommand;
use async_lock::{Semaphore, SemaphoreGuardArc};
use bytes::BytesMut;
use futures::channel::oneshot;
use futures::future::BoxFuture;
use futures::lock::Mutex as WriteLock;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use log::{debug, warn};

use super::tls::{ClientTls, ServerTls, TlsMode, TLS_HANDSHAKE};
use crate::rt::{self, TcpStream};
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

/// An outgoing item and its write-queue permit (released once written).
type Queued = (Outgoing, SemaphoreGuardArc);

/// Permits handed out on close so that senders waiting for room wake up (and then see the
/// closed channel).
const CLOSED_PERMITS: usize = 1 << 40;

/// First size of a connection's read chunk; doubled while reads fill it, up to
/// [`MAX_READ_CHUNK`].
const MIN_READ_CHUNK: usize = 4 * 1024;
const MAX_READ_CHUNK: usize = 64 * 1024;

/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// A live connection, shared by its tasks and by whoever wants to send on it.
pub struct Connection {
    id: u64,
    peer: SocketAddr,
    local: SocketAddr,
    /// Unbounded channel; `room` bounds it (a permit travels with each queued item).
    tx: async_channel::Sender<Queued>,
    room: Arc<Semaphore>,
    pending: Mutex<HashMap<i32, oneshot::Sender<RemotingCommand>>>,
    next_opaque: AtomicI32,
    closed: AtomicBool,
    /// The socket (addresses, shutdown); bytes may flow through a TLS session over it.
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
        let permit = self.room.acquire_arc().await;
        !self.is_closed() && self.tx.try_send((out, permit)).is_ok()
    }

    /// Queue without waiting; false when closed or the queue is full.
    pub fn try_send(&self, out: Outgoing) -> bool {
        if self.is_closed() {
            return false;
        }
        match self.room.try_acquire_arc() {
            Some(permit) => self.tx.try_send((out, permit)).is_ok(),
            None => false,
        }
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
        self.room.add_permits(CLOSED_PERMITS);
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
    let (tx, rx) = async_channel::unbounded();
    let conn = Arc::new(Connection {
        id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
        peer,
        local,
        tx,
        room: Arc::new(Semaphore::new(opts.write_queue.max(1))),
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
    // Held around every write (reader's inline replies, writer task): frames never interleave.
    let writer = Arc::new(WriteLock::new(writer));
    let write_half = Arc::clone(&writer);
    let (done_tx, done_rx) = oneshot::channel::<()>();
    rt::spawn(async move {
        if let Err(e) = write_loop(&write_half, rx).await {
            debug!("{writer_conn:?} write failed: {e}");
            writer_conn.close();
        }
        let _ = done_tx.send(());
    });
    if let Err(e) = read_loop(reader, &writer, &conn, &handler, &opts).await {
        debug!("{conn:?} read ended: {e}");
    }
    // Graceful close: refuse new sends, let the writer drain what is queued (e.g. the error
    // response to a bad frame), then shut the socket.
    conn.closed.store(true, Ordering::Release);
    conn.tx.close();
    conn.room.add_permits(CLOSED_PERMITS);
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

async fn read_loop<R, W>(
    mut stream: R,
    writer: &WriteLock<W>,
    conn: &Arc<Connection>,
    handler: &Arc<dyn Handler>,
    opts: &ConnectionOptions,
) -> Result<(), RemotingError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut decoder = FrameDecoder::new(opts.max_frame);
    // In-flight slots: a permit per request that continues in its own task.
    let slots = Arc::new(Semaphore::new(opts.max_in_flight.max(1)));
    let mut buf = BytesMut::new();
    let mut chunk = vec![0u8; MIN_READ_CHUNK];
    // Replies of requests finished inline, written before the next read.
    let mut replies = BytesMut::new();
    loop {
        // Split every complete frame off the buffer.
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    // Kept (cheap refcount clones) only to find the opaque if decoding fails.
                    let st = frame.serialize_type;
                    let header = frame.header.clone();
                    match RemotingCommand::from_frame(frame) {
                        Ok(cmd) if cmd.is_response() => complete_pending(conn, cmd),
                        Ok(cmd) => {
                            let mut fut = run_request(Arc::clone(conn), Arc::clone(handler), cmd);
                            let first = {
                                let mut cx = Context::from_waker(futures::task::noop_waker_ref());
                                fut.as_mut().poll(&mut cx)
                            };
                            match first {
                                Poll::Ready(Some(out)) => {
                                    write_out(writer, &mut replies, out).await?;
                                    if replies.len() >= WRITE_BATCH {
                                        flush_replies(writer, &mut replies).await?;
                                    }
                                }
                                Poll::Ready(None) => {}
                                Poll::Pending => {
                                    // Its first poll registered a no-op waker; the task's
                                    // first poll registers the real one and re-checks.
                                    let slot = slots.acquire_arc().await;
                                    let conn = Arc::clone(conn);
                                    rt::spawn(async move {
                                        if let Some(out) = fut.await {
                                            conn.send(out).await;
                                        }
                                        // Free the slot (its reply is queued).
                                        drop(slot);
                                    });
                                }
                            }
                        }
                        Err(e) => {
                            warn!("{conn:?}: undecodable command: {e}; closing");
                            flush_replies(writer, &mut replies).await?;
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
                    flush_replies(writer, &mut replies).await?;
                    return Ok(());
                }
            }
        }
        flush_replies(writer, &mut replies).await?;
        if replies.capacity() > 4 * 1024 * 1024 {
            replies = BytesMut::new();
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
        if n == chunk.len() && chunk.len() < MAX_READ_CHUNK {
            chunk = vec![0u8; chunk.len() * 2];
        }
    }
}

/// Pending replies are written once they reach this size (and always before the next read).
const WRITE_BATCH: usize = 256 * 1024;

/// A response to one of our own requests: hand it to its waiter.
fn complete_pending(conn: &Arc<Connection>, cmd: RemotingCommand) {
    if let Some(tx) = conn.lock_pending().remove(&cmd.opaque) {
        let _ = tx.send(cmd);
    } else {
        debug!(
            "{conn:?}: response with unknown opaque {} dropped",
            cmd.opaque
        );
    }
}

/// One request through its handler: a panic becomes a SYSTEM_ERROR reply (logged with the
/// request code); one-way requests and requests the handler answered itself give `None`.
fn run_request(
    conn: Arc<Connection>,
    handler: Arc<dyn Handler>,
    cmd: RemotingCommand,
) -> BoxFuture<'static, Option<Outgoing>> {
    let code = cmd.code;
    let oneway = cmd.is_oneway();
    let opaque = cmd.opaque;
    let st = cmd.serialize_type;
    let fut = handler.handle(Arc::clone(&conn), cmd);
    Box::pin(async move {
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
        if oneway {
            return None;
        }
        match reply {
            Reply::None => None,
            Reply::Command(c) => Some(Outgoing::Command(c)),
            Reply::Parts(c, parts) => Some(Outgoing::Parts(c, parts)),
        }
    })
}

/// Encode `out` into `buf`; a reply with mapped-file parts is written at once (with whatever
/// `buf` already holds before it), under the write lock.
async fn write_out<W: AsyncWrite + Unpin>(
    writer: &WriteLock<W>,
    buf: &mut BytesMut,
    out: Outgoing,
) -> Result<(), RemotingError> {
    match out {
        Outgoing::Command(cmd) => cmd.encode(buf)?,
        Outgoing::Parts(cmd, parts) => {
            let total: usize = parts.iter().map(|p| p.len()).sum();
            cmd.encode_head(buf, total)?;
            let mut w = writer.lock().await;
            let mut slices: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
            slices.push(&buf[..]);
            slices.extend(parts.iter().map(|p| &p[..]));
            write_all_vectored(&mut *w, &mut slices).await?;
            // A TLS session may hold back its last record until flushed.
            w.flush().await?;
            buf.clear();
        }
    }
    Ok(())
}

/// Write every slice, in order, with as few `writev` calls as the socket allows (the body of
/// a pull response goes out straight from the mapped files, without a copy). Empties
/// `slices` (advancing through partially written ones).
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    slices: &mut Vec<&[u8]>,
) -> io::Result<()> {
    let mut first = 0;
    while first < slices.len() {
        if slices[first].is_empty() {
            first += 1;
            continue;
        }
        let end = slices.len().min(first + MAX_IOV);
        let iov: Vec<io::IoSlice<'_>> = slices[first..end]
            .iter()
            .map(|s| io::IoSlice::new(s))
            .collect();
        let mut n = w.write_vectored(&iov).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while n > 0 && first < slices.len() {
            let len = slices[first].len();
            if n >= len {
                n -= len;
                first += 1;
            } else {
                slices[first] = &slices[first][n..];
                n = 0;
            }
        }
    }
    slices.clear();
    Ok(())
}

/// Slices per `writev` (Linux's IOV_MAX is 1024).
const MAX_IOV: usize = 512;

/// Write and clear `buf` under the write lock (nothing when empty).
async fn flush_replies<W: AsyncWrite + Unpin>(
    writer: &WriteLock<W>,
    buf: &mut BytesMut,
) -> Result<(), RemotingError> {
    if buf.is_empty() {
        return Ok(());
    }
    let mut w = writer.lock().await;
    w.write_all(buf).await?;
    w.flush().await?;
    buf.clear();
    Ok(())
}

async fn write_loop<W: AsyncWrite + Unpin>(
    writer: &WriteLock<W>,
    rx: async_channel::Receiver<Queued>,
) -> Result<(), RemotingError> {
    let mut buf = BytesMut::new();
    while let Ok(first) = rx.recv().await {
        // Batch whatever else is queued into the same write.
        let mut next = Some(first);
        while let Some((out, permit)) = next.take() {
            write_out(writer, &mut buf, out).await?;
            // The slot is free once the item is in the write buffer or on the socket.
            drop(permit);
            if buf.len() < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        flush_replies(writer, &mut buf).await?;
        if buf.capacity() > 4 * 1024 * 1024 {
            buf = BytesMut::new();
        }
    }
    Ok(())
}
