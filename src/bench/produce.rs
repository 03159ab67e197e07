//! `produce`: N connections × K SEND_MESSAGE_V2 (or batch / one-way) requests in flight.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apogee_codec::codes::{request, response};
use apogee_codec::RemotingCommand;
use bytes::{BufMut, Bytes};

use super::args::{Limit, Mode, ProduceArgs};
use super::client::{self, Conn, QueueRef, Template, OPAQUE_BASE, OPAQUE_SPAN};
use super::report::{self, Live, Part};
use super::{now_micros, BODY_MAGIC};

/// A message body: timestamp (patched per send) + magic + filler.
fn body(size: usize) -> Vec<u8> {
    let mut b = vec![b'x'; size];
    if size >= 12 {
        b[8..12].copy_from_slice(BODY_MAGIC);
    }
    b
}

fn send_template(a: &ProduceArgs, q: &QueueRef, default_topic: &str) -> Result<Template, String> {
    let code = if a.mode == Mode::Batch {
        request::SEND_BATCH_MESSAGE
    } else {
        request::SEND_MESSAGE_V2
    };
    let mut c = RemotingCommand::request(code, 0);
    c.serialize_type = a.serialize;
    let born = now_micros() / 1000;
    let e = c.ext_mut();
    e.insert("a", a.group.as_str());
    e.insert("b", a.topic.as_str());
    e.insert("c", default_topic);
    e.insert("d", a.queues.to_string());
    e.insert("e", q.queue_id.to_string());
    e.insert("f", "0");
    e.insert("g", born.to_string());
    e.insert("h", "0");
    e.insert("i", "WAIT\u{1}true\u{2}TAGS\u{1}bench");
    e.insert("j", "0");
    e.insert("k", "false");
    e.insert(
        "m",
        if a.mode == Mode::Batch {
            "true"
        } else {
            "false"
        },
    );
    e.insert("n", q.broker_name.as_str());
    if a.mode == Mode::Oneway {
        c.set_oneway(true);
    }
    let stamp = a.size >= 12;
    if a.mode == Mode::Batch {
        // MessageDecoder.encodeMessages: totalSize, magic 0, bodyCRC 0, flag, bodyLen, body,
        // propertiesLen, properties.
        let props = b"TAGS\x01bench";
        let mut buf = Vec::new();
        let mut stamps = Vec::new();
        for _ in 0..a.batch {
            buf.put_i32((22 + a.size + props.len()) as i32);
            buf.put_i32(0);
            buf.put_i32(0);
            buf.put_i32(0);
            buf.put_i32(a.size as i32);
            stamps.push(buf.len());
            buf.extend_from_slice(&body(a.size));
            buf.put_i16(props.len() as i16);
            buf.extend_from_slice(props);
        }
        c.body = Bytes::from(buf);
        Template::new(c, if stamp { &stamps } else { &[] })
    } else {
        c.body = Bytes::from(body(a.size));
        Template::new(c, if stamp { &[0] } else { &[] })
    }
}

/// Shared budget for `--count`: requests left to start.
struct Budget(AtomicI64);

impl Budget {
    fn take(&self) -> bool {
        self.0.fetch_sub(1, Ordering::Relaxed) > 0
    }
}

struct Worker {
    conn: Conn,
    templates: Vec<Template>,
    next_q: usize,
    inflight_cap: usize,
    mode: Mode,
    batch: u64,
    msg_bytes: u64,
    /// Send time per slot (opaque = base + gen * cap + slot).
    slots: Vec<Option<(i32, Instant)>>,
    free: Vec<usize>,
    gen: i64,
    interval: Option<Duration>,
}

impl Worker {
    fn opaque(&mut self, slot: usize) -> i32 {
        let cap = self.inflight_cap as i64;
        let gens = OPAQUE_SPAN as i64 / cap;
        self.gen = (self.gen + 1) % gens;
        (OPAQUE_BASE as i64 + self.gen * cap + slot as i64) as i32
    }

    fn run(mut self, live: &Live, budget: Option<&Budget>) -> Part {
        let mut part = Part::new();
        let mut wbuf: Vec<u8> = Vec::with_capacity(256 * 1024);
        let mut next_due = Instant::now();
        let mut drain_deadline: Option<Instant> = None;
        let oneway = self.mode == Mode::Oneway;
        loop {
            let stopping = live.stop.load(Ordering::Relaxed);
            // Fill the window.
            if !stopping {
                while (oneway || !self.free.is_empty()) && wbuf.len() < 512 * 1024 {
                    if let Some(iv) = self.interval {
                        let now = Instant::now();
                        if now < next_due {
                            break;
                        }
                        next_due += iv;
                        // Do not build up a burst after a stall of more than 1 s.
                        if now.duration_since(next_due) > Duration::from_secs(1) {
                            next_due = now;
                        }
                    }
                    if let Some(b) = budget {
                        if !b.take() {
                            live.stop.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                    let idx = self.next_q;
                    self.next_q = (idx + 1) % self.templates.len();
                    let slot = if oneway {
                        0
                    } else {
                        self.free.pop().expect("free slot")
                    };
                    let op = self.opaque(slot);
                    let t = &self.templates[idx];
                    let stamp = (!t.stamps.is_empty()).then(now_micros);
                    t.emit(&mut wbuf, op, stamp);
                    part.requests += 1;
                    if oneway {
                        part.msgs += self.batch;
                        part.bytes += self.batch * self.msg_bytes;
                        live.msgs.fetch_add(self.batch, Ordering::Relaxed);
                        if wbuf.len() >= 64 * 1024 {
                            break;
                        }
                    } else {
                        self.slots[slot] = Some((op, Instant::now()));
                    }
                }
            }
            if !wbuf.is_empty() {
                if let Err(e) = self.conn.stream.write_all(&wbuf) {
                    part.io_errors
                        .push(format!("write to {}: {e}", self.conn.peer));
                    live.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                wbuf.clear();
            }
            let inflight_now = self.inflight_cap - self.free.len();
            if oneway || inflight_now == 0 {
                if live.stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(iv) = self.interval {
                    let now = Instant::now();
                    if next_due > now {
                        std::thread::sleep((next_due - now).min(iv));
                    }
                }
                continue;
            }
            if live.stop.load(Ordering::Relaxed) {
                let d =
                    *drain_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(10));
                if Instant::now() > d {
                    part.io_errors.push(format!(
                        "{inflight_now} responses from {} never came",
                        self.conn.peer
                    ));
                    break;
                }
            }
            // Wait for responses; wake for the next scheduled send when rate-limited.
            let timeout = match self.interval {
                Some(_) => Some(
                    next_due
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_micros(50)),
                ),
                None => Some(Duration::from_millis(500)),
            };
            let _ = self.conn.stream.set_read_timeout(timeout);
            let cap = self.inflight_cap as i64;
            let slots = &mut self.slots;
            let free = &mut self.free;
            let (batch, msg_bytes) = (self.batch, self.msg_bytes);
            let r = self.conn.read_responses(|resp| {
                let slot = ((resp.opaque as i64 - OPAQUE_BASE as i64).rem_euclid(cap)) as usize;
                match slots.get_mut(slot) {
                    Some(s @ Some(_)) if s.map(|x| x.0) == Some(resp.opaque) => {
                        let (_, t0) = s.take().expect("checked");
                        free.push(slot);
                        let _ = part.lat.record(t0.elapsed().as_nanos().max(1) as u64);
                        *part.codes.entry(resp.code).or_default() += 1;
                        if resp.code == response::SUCCESS {
                            part.msgs += batch;
                            part.bytes += batch * msg_bytes;
                            live.msgs.fetch_add(batch, Ordering::Relaxed);
                        } else {
                            live.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {}
                }
            });
            match r {
                Ok(true) => {}
                Ok(false) => {
                    part.io_errors
                        .push(format!("{} closed the connection", self.conn.peer));
                    live.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => {
                    part.io_errors
                        .push(format!("read from {}: {e}", self.conn.peer));
                    live.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        part
    }
}

pub fn run(a: ProduceArgs) -> Result<(), String> {
    if a.create {
        client::create_topic(&a.namesrv, &a.topic, a.queues)?;
    }
    // Route: the topic's, or (unknown topic) TBW102's with auto-creation, as the Java client.
    let (route, default_topic) = match client::route(&a.namesrv, &a.topic)? {
        Some(r) => (r, "TBW102"),
        None => (
            client::route(&a.namesrv, "TBW102")?
                .ok_or_else(|| format!("no route for {} nor for TBW102", a.topic))?,
            "TBW102",
        ),
    };
    let all = client::queues(&route, true);
    if all.is_empty() {
        return Err(format!("no writable queue in the route of {}", a.topic));
    }
    // Per broker, its first `--queues` queues.
    let mut brokers: Vec<String> = all.iter().map(|q| q.addr.clone()).collect();
    brokers.dedup();
    let live = Arc::new(Live::default());
    let budget = match a.limit {
        Limit::Count(n) => Some(Arc::new(Budget(AtomicI64::new(
            n.div_ceil(a.batch as u64) as i64
        )))),
        Limit::Duration(_) => None,
    };
    let nconn = a.connections * brokers.len();
    let interval = a
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(nconn as f64 * a.batch as f64 / r));
    let mut workers = Vec::new();
    for (bi, addr) in brokers.iter().enumerate() {
        let qs: Vec<&QueueRef> = all
            .iter()
            .filter(|q| &q.addr == addr)
            .take(a.queues)
            .collect();
        for ci in 0..a.connections {
            let conn = Conn::connect(addr).map_err(|e| format!("broker {addr}: {e}"))?;
            let templates = qs
                .iter()
                .map(|q| send_template(&a, q, default_topic))
                .collect::<Result<Vec<_>, _>>()?;
            let cap = if a.mode == Mode::Oneway {
                1
            } else {
                a.inflight
            };
            workers.push(Worker {
                conn,
                next_q: (ci + bi) % templates.len(),
                templates,
                inflight_cap: cap,
                mode: a.mode,
                batch: a.batch as u64,
                msg_bytes: a.size as u64,
                slots: vec![None; cap],
                free: (0..cap).rev().collect(),
                gen: 0,
                interval,
            });
        }
    }
    if !a.json {
        eprintln!(
            "produce: {} to {} broker(s) {:?}, {} connection(s) × {} in flight, {} B, mode {:?}{}",
            a.topic,
            brokers.len(),
            brokers,
            nconn,
            a.inflight,
            a.size,
            a.mode,
            a.rate
                .map(|r| format!(", rate {r} msg/s"))
                .unwrap_or_default()
        );
    }
    let t0 = Instant::now();
    let handles: Vec<_> = workers
        .into_iter()
        .map(|w| {
            let live = Arc::clone(&live);
            let budget = budget.clone();
            std::thread::spawn(move || w.run(&live, budget.as_deref()))
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let prog = {
        let (live, done) = (Arc::clone(&live), Arc::clone(&done));
        let total = match a.limit {
            Limit::Count(n) => Some(n),
            Limit::Duration(_) => None,
        };
        let quiet = a.json;
        std::thread::spawn(move || report::progress(live, total, quiet, done))
    };
    if let Limit::Duration(d) = a.limit {
        while t0.elapsed() < d && !live.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(10).min(d.saturating_sub(t0.elapsed())));
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
        "produce",
        &total,
        elapsed,
        a.json,
        serde_json::json!({
            "topic": a.topic, "brokers": brokers, "connections": nconn,
            "inflight": a.inflight, "size": a.size, "mode": format!("{:?}", a.mode),
            "batch": a.batch, "rate": a.rate,
        }),
    );
    Ok(())
}
