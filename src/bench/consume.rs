//! `consume`: pull every readable queue of a topic, count messages, measure end-to-end
//! latency of bodies written by `produce` (send time in the body's first 8 bytes).
//!
//! Each connection is one thread that keeps up to `--inflight-per-queue` PULL_MESSAGE
//! requests in flight for each of its queues. With more than one, requests are issued
//! speculatively at `offset + i × batch`; answers are accepted strictly in offset order
//! (an early one waits, one that no longer matches the consumed offset is discarded), so
//! every message is counted once.

use std::collections::{BTreeMap, HashMap};
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apogee_codec::codes::{request, response};
use apogee_codec::message::iter_records;
use apogee_codec::RemotingCommand;
use bytes::BytesMut;

use super::args::{ConsumeArgs, Limit};
use super::client::{self, Conn, QueueRef};
use super::report::{self, Live, Part};
use super::{now_micros, BODY_MAGIC};

/// An answer that was read but not yet accepted.
struct Answer {
    code: i32,
    next: i64,
    msgs: u64,
    bytes: u64,
    e2e: Vec<u64>,
}

struct QState {
    q: QueueRef,
    /// Consumed up to here.
    expected: i64,
    /// Next offset to request.
    next_req: i64,
    outstanding: usize,
    stash: BTreeMap<i64, Answer>,
    /// Stop here (drain mode).
    target: Option<i64>,
    retry_at: Option<Instant>,
}

fn offset_call(c: &mut Conn, code: i32, topic: &str, q: i32) -> Result<i64, String> {
    let mut cmd = RemotingCommand::request(code, 0);
    cmd.ext_mut().insert("topic", topic);
    cmd.ext_mut().insert("queueId", q.to_string());
    let r = c
        .call(cmd, Duration::from_secs(5))
        .map_err(|e| format!("offset query: {e}"))?;
    if r.code != response::SUCCESS {
        return Err(format!(
            "offset query (code {code}) for queue {q}: response {}",
            r.code
        ));
    }
    r.ext("offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "offset query: no offset in the answer".into())
}

struct Worker {
    conn: Conn,
    qs: Vec<QState>,
    a: ConsumeArgs,
}

impl Worker {
    fn pull(&self, q: &QState, offset: i64, opaque: i32, out: &mut BytesMut) {
        let mut c = RemotingCommand::request(request::PULL_MESSAGE, opaque);
        let e = c.ext_mut();
        e.insert("consumerGroup", self.a.group.as_str());
        e.insert("topic", self.a.topic.as_str());
        e.insert("queueId", q.q.queue_id.to_string());
        e.insert("queueOffset", offset.to_string());
        e.insert("maxMsgNums", self.a.batch.to_string());
        // SUSPEND (long polling) | SUBSCRIPTION (no heartbeat needed).
        e.insert("sysFlag", if self.a.long_polling { "6" } else { "4" });
        e.insert("commitOffset", "0");
        e.insert(
            "suspendTimeoutMillis",
            if self.a.long_polling { "15000" } else { "0" },
        );
        e.insert("subscription", "*");
        e.insert("subVersion", "0");
        e.insert("expressionType", "TAG");
        e.insert("bname", q.q.broker_name.as_str());
        let _ = c.encode(out);
    }

    fn run(mut self, live: &Live, count: Option<u64>) -> Part {
        let mut part = Part::new();
        let mut pending: HashMap<i32, (usize, i64, Instant)> = HashMap::new();
        let mut opaque = 1i32;
        let mut wbuf = BytesMut::with_capacity(64 * 1024);
        let _ = self
            .conn
            .stream
            .set_read_timeout(Some(Duration::from_millis(20)));
        loop {
            if live.stop.load(Ordering::Relaxed) {
                break;
            }
            let now = Instant::now();
            let mut active = false;
            for i in 0..self.qs.len() {
                let q = &self.qs[i];
                let done = q.target.is_some_and(|t| q.expected >= t);
                if done {
                    continue;
                }
                active = true;
                if q.retry_at.is_some_and(|t| t > now) {
                    continue;
                }
                let mut q_out = q.outstanding;
                let mut next = q.next_req.max(q.expected);
                while q_out < self.a.inflight_per_queue && q.target.is_none_or(|t| next < t) {
                    opaque = opaque.wrapping_add(1).max(1);
                    self.pull(q, next, opaque, &mut wbuf);
                    pending.insert(opaque, (i, next, Instant::now()));
                    q_out += 1;
                    next += self.a.batch as i64;
                    part.requests += 1;
                }
                let q = &mut self.qs[i];
                q.outstanding = q_out;
                q.next_req = next;
                q.retry_at = None;
            }
            if !active {
                break;
            }
            if !wbuf.is_empty() {
                if let Err(e) = self.conn.stream.write_all(&wbuf) {
                    part.io_errors
                        .push(format!("write to {}: {e}", self.conn.peer));
                    break;
                }
                wbuf.clear();
            }
            let mut answers = Vec::new();
            let r = self.conn.read_responses(|resp| {
                if let Some((qi, off, t0)) = pending.remove(&resp.opaque) {
                    answers.push((qi, off, t0, resp));
                }
            });
            match r {
                Ok(true) => {}
                Ok(false) => {
                    part.io_errors
                        .push(format!("{} closed the connection", self.conn.peer));
                    break;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => {
                    part.io_errors
                        .push(format!("read from {}: {e}", self.conn.peer));
                    break;
                }
            }
            let now_us = now_micros();
            for (qi, off, t0, resp) in answers {
                let _ = part.lat.record(t0.elapsed().as_nanos().max(1) as u64);
                *part.codes.entry(resp.code).or_default() += 1;
                let next = resp
                    .ext("nextBeginOffset")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(off);
                let mut ans = Answer {
                    code: resp.code,
                    next,
                    msgs: 0,
                    bytes: 0,
                    e2e: Vec::new(),
                };
                if resp.code == response::SUCCESS {
                    for rec in iter_records(&resp.body) {
                        let Ok(rec) = rec else { break };
                        ans.msgs += 1;
                        ans.bytes += rec.body.len() as u64;
                        if rec.body.get(8..12) == Some(&BODY_MAGIC[..]) {
                            if let Some(ts) = rec
                                .body
                                .get(..8)
                                .and_then(|b| b.try_into().ok())
                                .map(u64::from_be_bytes)
                            {
                                ans.e2e.push(now_us.saturating_sub(ts) * 1000);
                            }
                        }
                    }
                } else if !matches!(
                    resp.code,
                    response::PULL_NOT_FOUND
                        | response::PULL_RETRY_IMMEDIATELY
                        | response::PULL_OFFSET_MOVED
                ) {
                    live.errors.fetch_add(1, Ordering::Relaxed);
                }
                let q = &mut self.qs[qi];
                q.outstanding -= 1;
                q.stash.insert(off, ans);
                // Accept in order.
                while let Some(a) = q.stash.remove(&q.expected) {
                    part.msgs += a.msgs;
                    part.bytes += a.bytes;
                    live.msgs.fetch_add(a.msgs, Ordering::Relaxed);
                    for v in a.e2e {
                        let _ = part.e2e.record(v.max(1));
                    }
                    let full = a.msgs as usize >= self.a.batch;
                    if a.code == response::SUCCESS
                        || a.code == response::PULL_OFFSET_MOVED
                        || a.code == response::PULL_NOT_FOUND
                        || a.code == response::PULL_RETRY_IMMEDIATELY
                    {
                        q.expected = a.next;
                    } else {
                        q.retry_at = Some(Instant::now() + Duration::from_secs(1));
                    }
                    if !full {
                        // Speculative requests past a short answer are off: restart there.
                        q.next_req = q.expected;
                        if a.code == response::PULL_NOT_FOUND && !self.a.long_polling {
                            q.retry_at = Some(Instant::now() + Duration::from_millis(1));
                        }
                    }
                }
                let exp = q.expected;
                q.stash.retain(|k, _| *k > exp);
            }
            if count.is_some_and(|c| live.msgs.load(Ordering::Relaxed) >= c) {
                live.stop.store(true, Ordering::Relaxed);
            }
        }
        part
    }
}

pub fn run(a: ConsumeArgs) -> Result<(), String> {
    let route = client::route(&a.namesrv, &a.topic)?
        .ok_or_else(|| format!("no route for topic {}", a.topic))?;
    let all = client::queues(&route, false);
    if all.is_empty() {
        return Err(format!("no readable queue in the route of {}", a.topic));
    }
    let mut brokers: Vec<String> = all.iter().map(|q| q.addr.clone()).collect();
    brokers.dedup();
    let drain = a.limit.is_none();
    let mut workers = Vec::new();
    let mut backlog = 0i64;
    for addr in &brokers {
        let qs: Vec<&QueueRef> = all.iter().filter(|q| &q.addr == addr).collect();
        for ci in 0..a.connections {
            let mut conn = Conn::connect(addr).map_err(|e| format!("broker {addr}: {e}"))?;
            let mut states = Vec::new();
            for q in qs.iter().skip(ci).step_by(a.connections) {
                let max = offset_call(&mut conn, request::GET_MAX_OFFSET, &a.topic, q.queue_id)?;
                let start = if a.from_start {
                    offset_call(&mut conn, request::GET_MIN_OFFSET, &a.topic, q.queue_id)?
                } else {
                    max
                };
                backlog += (max - start).max(0);
                states.push(QState {
                    q: (*q).clone(),
                    expected: start,
                    next_req: start,
                    outstanding: 0,
                    stash: BTreeMap::new(),
                    target: drain.then_some(max),
                    retry_at: None,
                });
            }
            if !states.is_empty() {
                workers.push(Worker {
                    conn,
                    qs: states,
                    a: a.clone(),
                });
            }
        }
    }
    if !a.json {
        eprintln!(
            "consume: {} ({} queues on {:?}), group {}, pulls of {}, {} in flight per queue, {}",
            a.topic,
            all.len(),
            brokers,
            a.group,
            a.batch,
            a.inflight_per_queue,
            if drain {
                format!("draining a backlog of {backlog} messages")
            } else {
                "until the limit".into()
            }
        );
    }
    let live = Arc::new(Live::default());
    let count = match a.limit {
        Some(Limit::Count(n)) => Some(n),
        _ => None,
    };
    let t0 = Instant::now();
    let handles: Vec<_> = workers
        .into_iter()
        .map(|w| {
            let live = Arc::clone(&live);
            std::thread::spawn(move || w.run(&live, count))
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let prog = {
        let (live, done) = (Arc::clone(&live), Arc::clone(&done));
        let total = count.or(drain.then_some(backlog as u64));
        let quiet = a.json;
        std::thread::spawn(move || report::progress(live, total, quiet, done))
    };
    if let Some(Limit::Duration(d)) = a.limit {
        while t0.elapsed() < d && !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        live.stop.store(true, Ordering::Relaxed);
    }
    let mut total = Part::new();
    for h in handles {
        total.merge(h.join().map_err(|_| "a worker panicked")?);
    }
    let elapsed = t0.elapsed();
    done.store(true, Ordering::Release);
    let _ = prog.join();
    report::summary(
        "consume",
        &total,
        elapsed,
        a.json,
        serde_json::json!({
            "topic": a.topic, "group": a.group, "queues": all.len(), "batch": a.batch,
            "inflight_per_queue": a.inflight_per_queue, "backlog_at_start": backlog,
            "long_polling": a.long_polling,
        }),
    );
    Ok(())
}
