//! Read back everything the node serves and hold it against the ledger.
//!
//! Every queue of the topic is pulled over the wire from offset 0 up to its max offset.
//! A served message is *corrupt* when its body is not `body(key)`, its stored body CRC does
//! not match, its UNIQ_KEY differs from the key in its body or its queue offset is not the
//! one asked for; *unknown* when no producer ever sent its key; a *duplicate* when its key is
//! served twice (nothing is retried, so every key is stored at most once). An acknowledged
//! key that is not served is *lost*.

use std::collections::HashMap;
use std::time::Duration;

use apogee_codec::codes::{request, response};
use apogee_codec::message::{body_crc, iter_records};
use apogee_codec::RemotingCommand;
use serde::Serialize;

use super::ledger::{self, Entry};
use super::produce::{QUEUES, TOPIC};
use crate::bench::client::Conn;

/// Outcome of one verification.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Check {
    /// Messages served.
    pub served: u64,
    /// Acknowledged keys not served.
    pub lost: u64,
    /// Sent but unanswered keys that were stored anyway (allowed).
    pub unacked_stored: u64,
    pub corrupt: u64,
    pub unknown: u64,
    pub duplicates: u64,
    /// The first few problems, for the report.
    pub examples: Vec<String>,
}

impl Check {
    fn note(&mut self, what: String) {
        if self.examples.len() < 10 {
            self.examples.push(what);
        }
    }

    /// Nothing lost, corrupt, unknown or duplicated.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.integrity_ok()
    }

    /// Nothing corrupt, unknown or duplicated (loss aside).
    pub fn integrity_ok(&self) -> bool {
        self.corrupt == 0 && self.unknown == 0 && self.duplicates == 0
    }
}

fn offset(c: &mut Conn, code: i32, q: i32) -> Result<i64, String> {
    let mut cmd = RemotingCommand::request(code, 0);
    cmd.ext_mut().insert("topic", TOPIC);
    cmd.ext_mut().insert("queueId", q.to_string());
    let r = c
        .call(cmd, Duration::from_secs(10))
        .map_err(|e| format!("offset query: {e}"))?;
    if r.code != response::SUCCESS {
        return Err(format!("offset query {code} queue {q}: code {}", r.code));
    }
    r.ext("offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "offset query: no offset".into())
}

fn pull(c: &mut Conn, q: i32, off: i64) -> Result<RemotingCommand, String> {
    let mut cmd = RemotingCommand::request(request::PULL_MESSAGE, 0);
    let e = cmd.ext_mut();
    e.insert("consumerGroup", "crashloop-verifier");
    e.insert("topic", TOPIC);
    e.insert("queueId", q.to_string());
    e.insert("queueOffset", off.to_string());
    e.insert("maxMsgNums", "32");
    e.insert("sysFlag", "4");
    e.insert("commitOffset", "0");
    e.insert("suspendTimeoutMillis", "0");
    e.insert("subscription", "*");
    e.insert("subVersion", "0");
    e.insert("expressionType", "TAG");
    c.call(cmd, Duration::from_secs(10))
        .map_err(|e| format!("pull queue {q} at {off}: {e}"))
}

/// Pull every queue and compare with `sent`. An error means the node could not be read
/// (not a verdict about the data).
pub fn check(broker: &str, sent: &HashMap<String, Entry>) -> Result<Check, String> {
    let mut c = Conn::connect(broker).map_err(|e| format!("connect {broker}: {e}"))?;
    let mut chk = Check::default();
    let mut seen: HashMap<String, u32> = HashMap::new();
    for q in 0..QUEUES {
        let min = offset(&mut c, request::GET_MIN_OFFSET, q)?;
        let max = offset(&mut c, request::GET_MAX_OFFSET, q)?;
        if min != 0 {
            chk.corrupt += 1;
            chk.note(format!("queue {q}: min offset {min}, nothing was deleted"));
        }
        let mut off = min;
        let mut idle = 0;
        while off < max {
            let r = pull(&mut c, q, off)?;
            if r.code != response::SUCCESS {
                // The queue is rebuilt in the background right after a start: wait a bit.
                idle += 1;
                if idle > 100 {
                    return Err(format!(
                        "queue {q}: pull at {off} (max {max}) keeps answering {}",
                        r.code
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            idle = 0;
            let mut n = 0;
            for rec in iter_records(&r.body) {
                let rec = match rec {
                    Ok(r) => r,
                    Err(e) => {
                        chk.corrupt += 1;
                        chk.note(format!("queue {q} at {off}: undecodable record: {e}"));
                        break;
                    }
                };
                n += 1;
                chk.served += 1;
                let expect_off = off + n - 1;
                let key = ledger::key_of(rec.body).map(str::to_owned);
                let uniq = rec
                    .properties_iter()
                    .find(|(k, _)| *k == b"UNIQ_KEY")
                    .and_then(|(_, v)| std::str::from_utf8(v).ok().map(str::to_owned));
                let Some(key) = key else {
                    chk.corrupt += 1;
                    chk.note(format!("queue {q} at {expect_off}: body has no key"));
                    continue;
                };
                if rec.body != ledger::body(&key).as_slice()
                    || body_crc(rec.body) != rec.body_crc
                    || uniq.as_deref() != Some(key.as_str())
                    || rec.queue_offset != expect_off
                    || rec.queue_id != q
                {
                    chk.corrupt += 1;
                    chk.note(format!("queue {q} at {expect_off}: corrupt message {key}"));
                }
                match sent.get(&key) {
                    None => {
                        chk.unknown += 1;
                        chk.note(format!("queue {q} at {expect_off}: never sent: {key}"));
                    }
                    Some(e) if !e.acked => chk.unacked_stored += 1,
                    Some(_) => {}
                }
                let count = seen.entry(key.clone()).or_default();
                *count += 1;
                if *count == 2 {
                    chk.duplicates += 1;
                    chk.note(format!("{key} served more than once"));
                }
            }
            let next: i64 = r
                .ext("nextBeginOffset")
                .and_then(|v| v.parse().ok())
                .unwrap_or(off + n);
            if next <= off {
                return Err(format!("queue {q}: pull at {off} made no progress"));
            }
            off = next;
        }
    }
    for (k, e) in sent {
        if e.acked && !seen.contains_key(k) {
            chk.lost += 1;
            chk.note(format!("acknowledged but not served: {k}"));
        }
    }
    Ok(chk)
}
