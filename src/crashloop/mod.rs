//! `apogee-crashloop`: kill the node with SIGKILL under load, restart it on the same store
//! and prove that no acknowledged message was lost.
//!
//! One cycle: start the `apogee` binary (fresh ports, the same store), pull everything it
//! serves and check it against the ledger ([`verify`]), run the producers ([`produce`]) for a
//! random time, SIGKILL the node while requests are in flight. After the last cycle the node
//! is started once more, checked, and stopped with SIGTERM. The run fails when any check
//! finds a corrupt, unknown or duplicated message, or (with SYNC_FLUSH) a lost one; with
//! ASYNC_FLUSH losses are reported (a process kill should lose nothing: the page cache
//! survives it).
//!
//! Output: one line per cycle on stderr, one JSON summary on stdout.

pub mod ledger;
pub mod node;
pub mod produce;
pub mod verify;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use ledger::Ledger;
use node::NodeSpec;

pub const USAGE: &str = "\
usage: apogee-crashloop [--cycles N] [--flush sync|async] [--seed S] [--producers P]
                        [--min-ms MS] [--max-ms MS] [--node PATH] [--dir DIR] [--keep]

  --cycles    SIGKILLs to deliver (default 10)
  --flush     flushDiskType of the node: sync (default) or async
  --seed      seed of the kill moments (default: from the clock; printed in the summary)
  --producers producer connections, one request in flight each (default 4)
  --min-ms / --max-ms  the node is killed this long after producers start (default 200..1500)
  --node      the node binary (default: `apogee` next to this binary)
  --dir       work directory (default: a new directory under the system temp dir)
  --keep      keep the work directory (store and node log) after the run";

/// Parsed command line.
#[derive(Debug, Clone)]
pub struct Args {
    pub cycles: u32,
    pub sync: bool,
    pub seed: u64,
    pub producers: usize,
    pub min_ms: u64,
    pub max_ms: u64,
    pub node: Option<PathBuf>,
    pub dir: Option<PathBuf>,
    pub keep: bool,
}

impl Args {
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut a = Args {
            cycles: 10,
            sync: true,
            seed: crate::bench::now_micros(),
            producers: 4,
            min_ms: 200,
            max_ms: 1500,
            node: None,
            dir: None,
            keep: false,
        };
        let mut it = argv.iter();
        while let Some(k) = it.next() {
            let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
            fn num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, String> {
                v.parse().map_err(|_| format!("{k}: not a number: {v}"))
            }
            match k.as_str() {
                "--cycles" => a.cycles = num(k, v()?)?,
                "--flush" => {
                    a.sync = match v()?.as_str() {
                        "sync" | "SYNC_FLUSH" => true,
                        "async" | "ASYNC_FLUSH" => false,
                        other => return Err(format!("--flush: sync or async, not {other}")),
                    }
                }
                "--seed" => a.seed = num(k, v()?)?,
                "--producers" => a.producers = num(k, v()?)?,
                "--min-ms" => a.min_ms = num(k, v()?)?,
                "--max-ms" => a.max_ms = num(k, v()?)?,
                "--node" => a.node = Some(PathBuf::from(v()?)),
                "--dir" => a.dir = Some(PathBuf::from(v()?)),
                "--keep" => a.keep = true,
                "-h" | "--help" => return Err(USAGE.into()),
                other => return Err(format!("unknown option {other}\n{USAGE}")),
            }
        }
        if a.max_ms < a.min_ms || a.producers == 0 {
            return Err("need --min-ms <= --max-ms and --producers >= 1".into());
        }
        Ok(a)
    }
}

/// The JSON summary.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub ok: bool,
    pub flush: &'static str,
    pub seed: u64,
    pub cycles: u32,
    pub producers: usize,
    /// Requests written (including those in flight at a kill).
    pub sent: u64,
    pub acked: u64,
    /// Answers other than SUCCESS.
    pub refused: u64,
    /// Checks run (one after every start).
    pub checks: u32,
    /// Worst figures over all checks; `lost` is from the last one.
    pub lost: u64,
    pub max_lost: u64,
    pub corrupt: u64,
    pub unknown: u64,
    pub duplicates: u64,
    /// Messages served by the last check (acknowledged + stored-but-unanswered).
    pub served: u64,
    pub unacked_stored: u64,
    pub elapsed_s: f64,
    pub examples: Vec<String>,
    pub error: Option<String>,
}

fn create_topic(broker: &str) -> Result<(), String> {
    crate::bench::client::create_topic_on_broker(broker, produce::TOPIC, produce::QUEUES as usize)
}

fn node_binary(a: &Args) -> Result<PathBuf, String> {
    if let Some(p) = &a.node {
        return Ok(p.clone());
    }
    let me = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let p = me.with_file_name("apogee");
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("{} not found; pass --node", p.display()))
    }
}

/// Run the cycles; fills `s` as it goes (so a failure still reports what was done).
fn run_cycles(a: &Args, dir: &std::path::Path, s: &mut Summary) -> Result<(), String> {
    let flush = if a.sync { "SYNC_FLUSH" } else { "ASYNC_FLUSH" };
    // Small files: the producers cross CommitLog and consume-queue file boundaries often.
    let spec = NodeSpec::new(
        node_binary(a)?,
        dir,
        &[
            ("brokerName", "crashloop".into()),
            ("flushDiskType", flush.into()),
            ("mappedFileSizeCommitLog", (1024 * 1024).to_string()),
            ("mappedFileSizeConsumeQueue", (20 * 1000).to_string()),
            ("autoCreateTopicEnable", "true".into()),
        ],
    )?;
    let ledger = Arc::new(Ledger::default());
    let mut rng = fastrand::Rng::with_seed(a.seed);
    let started = Instant::now();
    for cycle in 0..=a.cycles {
        let node = spec.start()?;
        if cycle == 0 {
            create_topic(&node.broker)?;
        }
        let chk = verify::check(&node.broker, &ledger.snapshot())?;
        s.checks += 1;
        s.lost = chk.lost;
        s.max_lost = s.max_lost.max(chk.lost);
        s.corrupt = s.corrupt.max(chk.corrupt);
        s.unknown = s.unknown.max(chk.unknown);
        s.duplicates = s.duplicates.max(chk.duplicates);
        s.served = chk.served;
        s.unacked_stored = chk.unacked_stored;
        for e in &chk.examples {
            if s.examples.len() < 20 {
                s.examples.push(format!("check {cycle}: {e}"));
            }
        }
        eprintln!(
            "cycle {cycle}: served {} (acked {} of {} sent), lost {}, corrupt {}, unknown {}, \
             duplicates {}",
            chk.served, s.acked, s.sent, chk.lost, chk.corrupt, chk.unknown, chk.duplicates
        );
        if !chk.integrity_ok() || (a.sync && chk.lost > 0) {
            node.kill();
            return Err(format!("check after start {cycle} failed"));
        }
        if cycle == a.cycles {
            node.stop()?;
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let handles = produce::spawn(
            &node.broker,
            a.producers,
            &format!("c{cycle}"),
            &ledger,
            &stop,
        );
        let wait = rng.u64(a.min_ms..=a.max_ms);
        std::thread::sleep(Duration::from_millis(wait));
        node.kill();
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let st = h.join().map_err(|_| "a producer thread panicked")?;
            s.sent += st.sent;
            s.acked += st.acked;
            s.refused += st.refused;
        }
    }
    s.elapsed_s = started.elapsed().as_secs_f64();
    Ok(())
}

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let a = match Args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let (dir, tmp) = match &a.dir {
        Some(d) => (d.clone(), None),
        None => match tempdir() {
            Ok(d) => (d.clone(), Some(d)),
            Err(e) => {
                eprintln!("apogee-crashloop: {e}");
                return 1;
            }
        },
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("apogee-crashloop: {}: {e}", dir.display());
        return 1;
    }
    let mut s = Summary {
        flush: if a.sync { "SYNC_FLUSH" } else { "ASYNC_FLUSH" },
        seed: a.seed,
        cycles: a.cycles,
        producers: a.producers,
        ..Default::default()
    };
    let r = run_cycles(&a, &dir, &mut s);
    s.ok = r.is_ok();
    s.error = r.err();
    if let Some(e) = &s.error {
        eprintln!(
            "apogee-crashloop: {e} (node log: {})",
            dir.join("node.log").display()
        );
    }
    println!(
        "{}",
        serde_json::to_string(&s).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    );
    if let Some(t) = tmp {
        if !a.keep && s.ok {
            let _ = std::fs::remove_dir_all(t);
        }
    }
    if s.ok {
        0
    } else {
        1
    }
}

/// A new private directory under the system temp dir.
fn tempdir() -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    for i in 0..100u32 {
        let p = base.join(format!(
            "apogee-crashloop-{}-{}-{i}",
            std::process::id(),
            crate::bench::now_micros()
        ));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("{}: {e}", p.display())),
        }
    }
    Err("cannot create a temp directory".into())
}
