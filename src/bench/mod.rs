//! `apogee-bench`: a load generator for any RocketMQ 4.x name server / broker.
//!
//! Deliberately not built on the async [`crate::remoting`] stack: on a 2-core machine the load
//! generator shares the CPU with the broker, so it must be cheaper per message than the
//! broker. Each connection is one OS thread with a blocking socket that pipelines K requests
//! (opaque-correlated, written in batches, responses parsed in batches), send frames are
//! pre-encoded templates whose opaque and body timestamp are patched in place, and there is
//! no per-request timer, channel or task.
//!
//! Subcommands: `produce`, `consume`, `null-server`, `wirefuzz`, `delay` (see [`USAGE`]).

pub mod args;
pub mod client;
pub mod consume;
pub mod delay;
pub mod null_server;
pub mod produce;
pub mod report;
pub mod wirefuzz;

pub const USAGE: &str = "\
usage:
  apogee-bench produce --namesrv HOST:PORT --topic T [--create] [--connections N] [--inflight K]
                       [--size BYTES] [--queues Q] [--mode sync|oneway|batch] [--batch B]
                       [--duration SECS | --count N] [--rate MSG_PER_S] [--serialize json|rocketmq]
                       [--json]
  apogee-bench consume --namesrv HOST:PORT --topic T --group G [--batch 32]
                       [--inflight-per-queue 1] [--from-start] [--connections N]
                       [--duration SECS | --count N] [--no-long-polling] [--json]
  apogee-bench null-server [--port P] [--queues Q]
  apogee-bench wirefuzz --broker HOST:PORT [--namesrv HOST:PORT] [--duration SECS] [--seed S]
                        [--workers W] [--idle N] [--stuck K] [--rss-pid PID]
                        [--rss-limit-mb MB] [--json]
  apogee-bench delay [--count 100000] [--timer-share 0.5] [--min-delay-ms 10000]
                     [--spread-ms 30000] [--send-secs 10] [--connections 4] [--inflight 32]
                     [--size 256] [--store DIR] [--json]

produce: resolves the topic's route (GET_ROUTEINFO_BY_TOPIC; falls back to TBW102 like the Java
  client when the topic is unknown; --create first sends UPDATE_AND_CREATE_TOPIC to every master),
  opens N connections (default 4) to each master and keeps K (default 64) SEND_MESSAGE_V2
  requests in flight on each. Body: the send time (µs since the epoch, 8 bytes) + 'APGB' +
  filler. Default --duration 10.
consume: pulls every readable queue (PULL_MESSAGE, long polling, subscription '*'), counts
  messages and bytes, and reports end-to-end latency for bodies written by `produce`.
  --from-start without --duration/--count drains the backlog present at start and stops.
null-server: answers every request with a SEND_OK-shaped response and stores nothing;
  GET_ROUTEINFO_BY_TOPIC gets a route pointing at itself (Q queues, default 8).
wirefuzz: hostile input (random and mutated frames, huge lengths, wrong serialize types, JSON
  bombs, invalid UTF-8, missing or hostile header fields, unknown codes, half-open and slow
  connections) for --duration (default 10 s) while a canary sends and pulls; --idle N idle
  connections, --stuck K consumers that never read (default 1); --rss-pid samples the server's
  memory. Exits non-zero when the canary failed, a well-formed request went unanswered or the
  server died.
delay: starts a broker in this process (store in DIR or a temporary directory), sends --count
  delayed messages over N connections, paced over --send-secs: a --timer-share of them as 5.x
  timer messages due min-delay + a uniform share of spread after their send, the others with
  delay level 3 (10 s) or 4 (30 s). Waits for every delivery, then reports lateness (store time
  of the delivered copy - due time) p50/p99/max per kind and the process's peak RSS.";

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        eprintln!("{USAGE}");
        return 2;
    };
    let r = match cmd.as_str() {
        "produce" => args::ProduceArgs::parse(rest).and_then(produce::run),
        "consume" => args::ConsumeArgs::parse(rest).and_then(consume::run),
        "null-server" => args::NullArgs::parse(rest).and_then(null_server::run),
        "wirefuzz" => wirefuzz::FuzzArgs::parse(rest).and_then(wirefuzz::run),
        "delay" => args::DelayArgs::parse(rest).and_then(delay::run),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return 0;
        }
        other => Err(format!("unknown subcommand {other}\n{USAGE}")),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("apogee-bench: {e}");
            1
        }
    }
}

/// Wall clock, µs since the epoch (the body timestamp; comparable across processes).
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Marker after the 8-byte timestamp in bodies written by `produce`.
pub const BODY_MAGIC: &[u8; 4] = b"APGB";
