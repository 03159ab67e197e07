//! Hostile input over the wire against the real `apogee` binary (broker and name server):
//! the fuzzing client runs a few seconds next to 10,000 idle connections and a consumer that
//! never reads, while a canary keeps sending and pulling. The node must stay up, answer every
//! well-formed request, and keep its memory bounded.

use std::path::PathBuf;
use std::time::Duration;

use apogee::bench::wirefuzz::{fuzz, raise_nofile, FuzzArgs};
use apogee::crashloop::node::NodeSpec;

/// Idle connections held during the run (when the open-file limit allows it).
const IDLE: usize = 10_000;

#[test]
fn hostile_clients_do_not_take_the_node_down() {
    // Raised before the node starts: it inherits the limit.
    let nofile = raise_nofile();
    let idle = if nofile >= IDLE as u64 + 1_000 {
        IDLE
    } else {
        eprintln!(
            "open-file limit {nofile} is too low for {IDLE} idle connections: \
             skipping the idle-connection part"
        );
        0
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = NodeSpec::new(
        PathBuf::from(env!("CARGO_BIN_EXE_apogee")),
        dir.path(),
        &[("mappedFileSizeCommitLog", (4 << 20).to_string())],
    )
    .unwrap();
    let node = spec.start().unwrap();
    let a = FuzzArgs {
        broker: node.broker.clone(),
        namesrv: Some(node.namesrv.clone()),
        duration: Duration::from_secs(4),
        seed: 7,
        workers: 3,
        idle,
        stuck: 2,
        rss_pid: Some(node.pid()),
        rss_limit_mb: Some(1024),
        json: true,
    };
    let r = fuzz(&a);
    let text = serde_json::to_string(&r).unwrap();
    eprintln!("{text}");
    assert!(r.error.is_none(), "{text}");
    assert!(r.server_alive, "{text}");
    assert!(r.canary_ok > 0 && r.canary_failed == 0, "{text}");
    assert_eq!(r.requests, r.answered, "{text}");
    assert!(r.unanswered.is_empty(), "{text}");
    assert!(r.attacks.len() >= 8, "too few kinds of attack ran: {text}");
    assert!(r.stuck_requests_written > 0, "{text}");
    assert_eq!(r.idle_held, idle, "{text}");
    if idle > 0 {
        // An idle connection must not cost its queue bounds up front.
        let per_conn = r
            .rss_after_idle_kb
            .unwrap()
            .saturating_sub(r.rss_start_kb.unwrap())
            * 1024
            / idle as u64;
        assert!(
            per_conn < 64 * 1024,
            "{per_conn} bytes per idle connection: {text}"
        );
    }
    assert!(r.ok, "{text}");
    node.stop().unwrap();
}
