//! Producers: each thread keeps one SEND_MESSAGE_V2 in flight on its own connection and
//! records the key before the request and the acknowledgement after a SUCCESS answer.
//! A connection error (the node was killed) ends the thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use apogee_codec::codes::{request, response};
use apogee_codec::RemotingCommand;
use bytes::Bytes;

use super::ledger::{self, Ledger};
use crate::bench::client::Conn;

/// The topic every cycle writes.
pub const TOPIC: &str = "CrashLoopTopic";
/// Its queue count.
pub const QUEUES: i32 = 4;

/// What one producer thread saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProducerStats {
    pub sent: u64,
    pub acked: u64,
    /// Answers other than SUCCESS (e.g. flow control); those messages are not acknowledged.
    pub refused: u64,
}

/// The send request for `key` on queue `queue_id`.
pub fn send_request(key: &str, queue_id: i32) -> RemotingCommand {
    let mut c = RemotingCommand::request(request::SEND_MESSAGE_V2, 0);
    let e = c.ext_mut();
    e.insert("a", "crashloop-producer");
    e.insert("b", TOPIC);
    e.insert("c", "TBW102");
    e.insert("d", QUEUES.to_string());
    e.insert("e", queue_id.to_string());
    e.insert("f", "0");
    e.insert("g", crate::bench::now_micros().div_euclid(1000).to_string());
    e.insert("h", "0");
    e.insert("i", format!("UNIQ_KEY\u{1}{key}\u{2}WAIT\u{1}true"));
    e.insert("j", "0");
    e.insert("k", "false");
    e.insert("m", "false");
    c.body = Bytes::from(ledger::body(key));
    c
}

/// Send until `stop` or until the connection fails. Keys are `{prefix}-{seq}`.
pub fn run(
    broker: &str,
    prefix: &str,
    first_queue: i32,
    ledger: &Ledger,
    stop: &AtomicBool,
) -> ProducerStats {
    let mut st = ProducerStats::default();
    let Ok(mut conn) = Conn::connect(broker) else {
        return st;
    };
    let mut seq: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let key = format!("{prefix}-{seq}");
        let q = (first_queue + seq as i32).rem_euclid(QUEUES);
        seq += 1;
        ledger.attempt(&key);
        st.sent += 1;
        match conn.call(send_request(&key, q), Duration::from_secs(10)) {
            Ok(r) if r.code == response::SUCCESS => {
                ledger.ack(&key);
                st.acked += 1;
            }
            Ok(_) => st.refused += 1,
            Err(_) => break,
        }
    }
    st
}

/// Start `n` producer threads for cycle `cycle`; they stop on `stop` or when the node dies.
pub fn spawn(
    broker: &str,
    n: usize,
    tag: &str,
    ledger: &Arc<Ledger>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<ProducerStats>> {
    (0..n)
        .map(|p| {
            let (broker, prefix) = (broker.to_owned(), format!("{tag}-p{p}"));
            let (ledger, stop) = (ledger.clone(), stop.clone());
            std::thread::spawn(move || run(&broker, &prefix, p as i32, &ledger, &stop))
        })
        .collect()
}
