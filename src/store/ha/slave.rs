//! The slave side of replication (Java's `HAClient`): one task per slave store.
//!
//! It connects to the master's HA address (`haMasterAddress`, or what the name server
//! answered at registration), reports its CommitLog max offset, then for every frame checks
//! that the chunk starts exactly at its own max offset (a non-empty slave whose offset differs
//! is out of step: the connection is dropped and re-made, which re-sends the report), appends
//! the raw bytes there and reports the new max. It also reports every
//! `haSendHeartbeatInterval`, and drops a master silent for `haHousekeepingInterval`.
//! Appends (a copy into the mapped file) run on the blocking pool. After a failure it retries
//! after `haSendHeartbeatInterval` (at most 5 s, Java's retry period).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use log::{info, warn};

use super::wire::{encode_report, FrameParser};
use crate::rt::{self, TcpStream};
use crate::store::message_store::MessageStore;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bytes taken from the socket per read.
const READ_CHUNK: usize = 256 * 1024;
/// Largest chunk accepted (Java's slave read buffer is 4 MiB), unless our own
/// `haTransferBatchSize` is larger.
const MAX_CHUNK: usize = 4 * 1024 * 1024;

/// Run the HA client of `store` until its HA service stops.
pub fn start(store: MessageStore) {
    rt::spawn(async move {
        let ha = Arc::clone(store.ha());
        let retry = ha.settings().heartbeat_interval.min(Duration::from_secs(5));
        let mut last_error = String::new();
        while !ha.is_stopped() {
            let Some(addr) = ha.master_addr() else {
                rt::sleep(retry.min(Duration::from_millis(500))).await;
                continue;
            };
            match session(&store, &addr).await {
                Ok(()) => last_error.clear(),
                Err(e) => {
                    let msg = e.to_string();
                    if msg != last_error {
                        warn!("HA client: master {addr}: {msg}");
                        last_error = msg;
                    }
                }
            }
            if ha.is_stopped() {
                break;
            }
            rt::sleep(retry).await;
        }
        info!("HA client stopped");
    });
}

async fn resolve(addr: &str) -> io::Result<SocketAddr> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(a);
    }
    let name = addr.to_owned();
    rt::unblock(move || {
        name.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("cannot resolve {name}"))
        })
    })
    .await
}

/// One connection to the master, until it fails or the service stops.
async fn session(store: &MessageStore, addr: &str) -> io::Result<()> {
    let ha = Arc::clone(store.ha());
    let s = ha.settings().clone();
    let sock = resolve(addr).await?;
    let mut stream: TcpStream = rt::connect(sock, CONNECT_TIMEOUT).await?;
    let _ = stream.set_nodelay(true);
    let mut reported = store.commit_log_max_offset();
    info!("HA client: connected to master {addr}, reporting offset {reported}");
    report(&mut stream, reported, s.housekeeping_interval).await?;
    let mut last_report = Instant::now();
    let mut last_read = Instant::now();
    // Java's slave reads into a 4 MiB buffer, so no interoperable master sends more at once.
    let max_body = MAX_CHUNK.max(s.transfer_batch_size).min(s.file_size.max(1));
    let mut parser = FrameParser::new(max_body);
    let mut buf = vec![0u8; READ_CHUNK];
    let result = loop {
        if ha.is_stopped() {
            break Ok(());
        }
        let slice = s.heartbeat_interval.min(Duration::from_millis(1000));
        match rt::timeout(slice, stream.read(&mut buf)).await {
            None => {}
            Some(Ok(0)) => {
                break Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "master closed the connection",
                ))
            }
            Some(Ok(n)) => {
                last_read = Instant::now();
                parser.feed(&buf[..n]);
                if let Err(e) = apply_frames(store, &mut parser).await {
                    break Err(e);
                }
            }
            Some(Err(e)) => break Err(e),
        }
        let max = store.commit_log_max_offset();
        if max > reported || last_report.elapsed() >= s.heartbeat_interval {
            report(&mut stream, max, s.housekeeping_interval).await?;
            reported = max;
            last_report = Instant::now();
        }
        if last_read.elapsed() > s.housekeeping_interval {
            break Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "nothing from the master for {} ms",
                    s.housekeeping_interval.as_millis()
                ),
            ));
        }
    };
    let _ = stream.shutdown(std::net::Shutdown::Both);
    result
}

/// Append every complete frame held by `parser`.
async fn apply_frames(store: &MessageStore, parser: &mut FrameParser) -> io::Result<()> {
    while let Some(frame) = parser
        .next_frame()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
    {
        let local = store.commit_log_max_offset();
        if local != 0 && local != frame.offset {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "master sent offset {} but the slave's max offset is {local}",
                    frame.offset
                ),
            ));
        }
        if frame.body.is_empty() {
            continue;
        }
        let st = store.clone();
        let offset = frame.offset;
        let body = frame.body;
        rt::unblock(move || st.append_replicated(offset, &body))
            .await
            .map_err(|e| io::Error::other(format!("appending at {offset}: {e}")))?;
    }
    Ok(())
}

async fn report(stream: &mut TcpStream, max: i64, timeout: Duration) -> io::Result<()> {
    let work = async {
        stream.write_all(&encode_report(max)).await?;
        stream.flush().await
    };
    match rt::timeout(timeout, work).await {
        Some(r) => r,
        None => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "master stopped reading",
        )),
    }
}
