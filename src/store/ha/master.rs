//! The master side of replication (Java's `AcceptSocketService` + `HAConnection`).
//!
//! An accept loop on the HA port; per slave one connection actor made of two tasks:
//! * the reader owns the slave's reported offsets: the first report fixes where the transfer
//!   starts (0 = the start of the master's last CommitLog file), every report is an
//!   acknowledgement that raises the acknowledged offset and completes SYNC_MASTER waiters. A
//!   report beyond the master's max offset, a closed socket or `haHousekeepingInterval`
//!   without a read closes the connection.
//! * the writer owns the transfer position: it sends chunks of at most `haTransferBatchSize`
//!   bytes of readable CommitLog (one file at a time — a chunk never spans files), written
//!   straight from the mapped file, and a heartbeat (size 0) after `haSendHeartbeatInterval`
//!   without a write. With nothing to send it announces that it waits, re-checks, and sleeps
//!   on its one-slot wake-up channel (at most 100 ms), which appends and the reader signal.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use log::{info, warn};

use super::wire::{encode_header, ReportParser};
use crate::rt::{self, TcpListener, TcpStream};
use crate::store::message_store::MessageStore;

/// How often the accept loop looks at the stop flag.
const STOP_SLICE: Duration = Duration::from_millis(200);
/// Longest idle wait of a connection writer (Java waits 100 ms for new data).
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// Serve slaves on `listener` until the store's HA service stops. Returns the bound address.
pub fn start(listener: TcpListener, store: MessageStore) -> io::Result<SocketAddr> {
    let local = listener.local_addr()?;
    info!("HA service listening on {local}");
    rt::spawn(async move {
        let ha = Arc::clone(store.ha());
        while !ha.is_stopped() {
            match rt::timeout(STOP_SLICE, listener.accept()).await {
                None => {}
                Some(Ok((stream, peer))) => {
                    if ha.is_stopped() {
                        break;
                    }
                    info!("HA: slave {peer} connected");
                    let _ = stream.set_nodelay(true);
                    rt::spawn(serve_slave(stream, peer, store.clone()));
                }
                Some(Err(e)) => {
                    warn!("HA accept failed: {e}");
                    rt::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        info!("HA service on {local} stopped");
    });
    Ok(local)
}

/// What the two tasks of one connection share.
struct Conn {
    peer: SocketAddr,
    /// The first report (-1 until it arrives).
    request_offset: AtomicI64,
    /// The latest report (-1 until the first).
    ack_offset: AtomicI64,
    closed: AtomicBool,
}

async fn serve_slave(stream: TcpStream, peer: SocketAddr, store: MessageStore) {
    let ha = Arc::clone(store.ha());
    ha.connection_opened();
    let conn = Arc::new(Conn {
        peer,
        request_offset: AtomicI64::new(-1),
        ack_offset: AtomicI64::new(-1),
        closed: AtomicBool::new(false),
    });
    let (wake_tx, wake_rx) = async_channel::bounded::<()>(1);
    ha.add_writer(wake_tx.clone());
    {
        let conn = Arc::clone(&conn);
        let store = store.clone();
        let stream = stream.clone();
        rt::spawn(async move {
            read_reports(&conn, &store, stream.clone(), &wake_tx).await;
            conn.closed.store(true, Ordering::Release);
            let _ = wake_tx.try_send(());
            let _ = stream.shutdown(std::net::Shutdown::Both);
        });
    }
    if let Err(e) = write_transfer(&conn, &store, stream.clone(), &wake_rx).await {
        warn!("HA: transfer to slave {peer} stopped: {e}");
    }
    conn.closed.store(true, Ordering::Release);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    ha.connection_closed();
    info!(
        "HA: slave {peer} disconnected (acknowledged {})",
        conn.ack_offset.load(Ordering::Acquire)
    );
}

async fn read_reports(
    conn: &Conn,
    store: &MessageStore,
    mut stream: TcpStream,
    wake: &async_channel::Sender<()>,
) {
    let ha = store.ha();
    let idle = ha.settings().housekeeping_interval;
    let mut parser = ReportParser::default();
    let mut buf = [0u8; 1024];
    while !conn.closed.load(Ordering::Acquire) && !ha.is_stopped() {
        let n = match rt::timeout(idle, stream.read(&mut buf)).await {
            None => {
                warn!(
                    "HA: no report from slave {} for {} ms; closing",
                    conn.peer,
                    idle.as_millis()
                );
                return;
            }
            Some(Ok(0)) => return,
            Some(Ok(n)) => n,
            Some(Err(e)) => {
                warn!("HA: reading from slave {}: {e}", conn.peer);
                return;
            }
        };
        let Some(report) = parser.feed(&buf[..n]) else {
            continue;
        };
        let max = store.commit_log_max_offset();
        if report < 0 || report > max {
            warn!(
                "HA: slave {} reports offset {report} beyond the master's max {max}; closing",
                conn.peer
            );
            return;
        }
        if conn.request_offset.load(Ordering::Acquire) < 0 {
            conn.request_offset.store(report, Ordering::Release);
            info!("HA: slave {} requests offset {report}", conn.peer);
            let _ = wake.try_send(());
        }
        conn.ack_offset.store(report, Ordering::Release);
        ha.group().notify_acked(report);
    }
}

async fn write_transfer(
    conn: &Conn,
    store: &MessageStore,
    mut stream: TcpStream,
    wake: &async_channel::Receiver<()>,
) -> io::Result<()> {
    let ha = Arc::clone(store.ha());
    let s = ha.settings().clone();
    let write_timeout = s.housekeeping_interval;
    let mut next: i64 = -1;
    let mut last_write = Instant::now();
    loop {
        if conn.closed.load(Ordering::Acquire) || ha.is_stopped() {
            return Ok(());
        }
        let requested = conn.request_offset.load(Ordering::Acquire);
        if requested < 0 {
            let _ = rt::timeout(IDLE_WAIT, wake.recv()).await;
            continue;
        }
        if next < 0 {
            next = if requested == 0 {
                let max = store.commit_log_max_offset();
                let fs = s.file_size.max(1) as i64;
                (max - max % fs).max(0)
            } else {
                requested
            };
            info!(
                "HA: transfer to slave {} starts at {next} (slave requested {requested})",
                conn.peer
            );
        }
        if let Some(chunk) = store.ha_read(next, s.transfer_batch_size) {
            let header = encode_header(next, chunk.len() as i32);
            send(&mut stream, &header, &chunk, write_timeout).await?;
            next += chunk.len() as i64;
            last_write = Instant::now();
            continue;
        }
        if last_write.elapsed() >= s.heartbeat_interval {
            send(&mut stream, &encode_header(next, 0), &[], write_timeout).await?;
            last_write = Instant::now();
        }
        // Announce the wait, then re-check: an append after the announcement wakes us.
        ha.announce_writer_wait();
        if store.ha_read(next, 1).is_some() {
            continue;
        }
        let _ = rt::timeout(IDLE_WAIT, wake.recv()).await;
    }
}

async fn send(
    stream: &mut TcpStream,
    header: &[u8],
    body: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    let work = async {
        stream.write_all(header).await?;
        if !body.is_empty() {
            stream.write_all(body).await?;
        }
        stream.flush().await
    };
    match rt::timeout(timeout, work).await {
        Some(r) => r,
        None => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "slave stopped reading",
        )),
    }
}
