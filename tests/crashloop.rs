//! The crash loop: the real `apogee` binary, SYNC_FLUSH, killed with SIGKILL ten times under
//! load; every acknowledged message must be served intact after every restart. Then the
//! checker itself is shown to fail on a store whose contents it did not send.

use std::process::Command;

fn crashloop(args: &[&str]) -> (bool, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_apogee-crashloop"))
        .args(["--node", env!("CARGO_BIN_EXE_apogee")])
        .args(args)
        .output()
        .expect("run apogee-crashloop");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no summary; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (out.status.success(), summary)
}

#[test]
fn sigkill_under_load_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().to_str().unwrap();
    let (ok, s) = crashloop(&[
        "--cycles",
        "10",
        "--seed",
        "42",
        "--producers",
        "4",
        "--min-ms",
        "100",
        "--max-ms",
        "600",
        "--dir",
        work,
        "--keep",
    ]);
    assert!(ok, "{s}");
    assert_eq!(s["checks"], 11, "{s}");
    assert!(s["acked"].as_u64().unwrap() > 100, "too little load: {s}");
    for k in ["lost", "max_lost", "corrupt", "unknown", "duplicates"] {
        assert_eq!(s[k], 0, "{k}: {s}");
    }
    // Everything acknowledged is served, plus at most one unanswered request per producer
    // and kill.
    let served = s["served"].as_u64().unwrap();
    let acked = s["acked"].as_u64().unwrap();
    assert!(served >= acked && served <= acked + 4 * 10, "{s}");

    // The same store checked against an empty ledger: every message is one the checker never
    // sent, and the run must say so.
    let (ok, s) = crashloop(&["--cycles", "0", "--dir", work]);
    assert!(
        !ok,
        "a checker that accepts unknown messages proves nothing: {s}"
    );
    assert_eq!(s["unknown"].as_u64(), Some(served), "{s}");
}
