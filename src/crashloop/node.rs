//! The node under test: the `apogee` binary started on a fixed store with free ports, killed
//! with SIGKILL or stopped with SIGTERM.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a start (including recovery) may take before the run fails.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running node. Dropping it kills the process (never leaves one behind).
pub struct Node {
    child: Child,
    /// Broker address (`127.0.0.1:port`).
    pub broker: String,
    /// Name server address (`127.0.0.1:port`).
    pub namesrv: String,
}

/// Where the node binary, its store and its log live, and its configuration.
pub struct NodeSpec {
    pub binary: PathBuf,
    pub store: PathBuf,
    pub conf: PathBuf,
    /// stderr of every start is appended here (recovery reports what it did).
    pub log: PathBuf,
}

impl NodeSpec {
    /// Write `broker.conf` into `dir` with `props` and set up the paths.
    pub fn new(binary: PathBuf, dir: &Path, props: &[(&str, String)]) -> Result<Self, String> {
        let conf = dir.join("broker.conf");
        let text: String = props.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
        Ok(NodeSpec {
            binary,
            store: dir.join("store"),
            conf,
            log: dir.join("node.log"),
        })
    }

    /// Start the node and wait for its ready line.
    pub fn start(&self) -> Result<Node, String> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let mut child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.conf)
            .arg("--store")
            .arg(&self.store)
            .args(["--namesrv-port", "0", "--broker-port", "0"])
            .args(["--broker-ip", "127.0.0.1"])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.binary.display()))?;
        let Some(out) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("node stdout not captured".into());
        };
        // A reader thread keeps draining stdout so the node never blocks on a full pipe.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if line.contains(" ready in ") {
                    let _ = tx.send(line);
                }
            }
        });
        let mut node = Node {
            child,
            broker: String::new(),
            namesrv: String::new(),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let line = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => break l,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = node.child.try_wait() {
                        return Err(format!(
                            "node exited during start ({status}); see {}",
                            self.log.display()
                        ));
                    }
                    if Instant::now() > deadline {
                        return Err(format!("node not ready after {READY_TIMEOUT:?}"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "node closed its output during start; see {}",
                        self.log.display()
                    ))
                }
            }
        };
        // "apogee X ready in N ms: name server on A, broker NAME on 127.0.0.1:P (store ...)"
        node.broker = line
            .split(" on ")
            .nth(2)
            .and_then(|r| r.split(' ').next())
            .map(str::to_owned)
            .ok_or_else(|| format!("cannot parse the ready line: {line}"))?;
        node.namesrv = line
            .split("name server on ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|a| a.rsplit(':').next())
            .map(|port| format!("127.0.0.1:{port}"))
            .ok_or_else(|| format!("cannot parse the ready line: {line}"))?;
        Ok(node)
    }
}

impl Node {
    /// Process id (to read its memory use from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no flush, no checkpoint, no clean-shutdown marker.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait (bounded) for a clean exit; SIGKILL after the bound.
    pub fn stop(mut self) -> Result<(), String> {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) if s.success() => return Ok(()),
                Ok(Some(s)) => return Err(format!("node exited with {s} on SIGTERM")),
                Ok(None) if Instant::now() > deadline => {
                    return Err("node did not stop within 30 s of SIGTERM".into())
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("wait: {e}")),
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
