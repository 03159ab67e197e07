//! What both clients' scenarios share: the deployment under test and small checks.
use std::future::Future;
use std::time::{Duration, Instant};

pub struct Ctx {
    pub namesrv: String,
    pub brokers: Vec<String>,
}

impl Ctx {
    /// A fresh topic with `queues` queues on every broker of the deployment.
    pub fn topic(&self, prefix: &str, queues: u32) -> Result<String, String> {
        admin::new_topic(&self.namesrv, &self.brokers, prefix, queues)
    }
}

use crate::admin;

pub type R = Result<(), String>;

/// The body of message `i`: its own number plus a length varying with it.
pub fn body_of(i: usize) -> String {
    format!("body-{i}-{}", "x".repeat(i % 200))
}

pub fn check(cond: bool, why: impl FnOnce() -> String) -> R {
    if cond {
        Ok(())
    } else {
        Err(why())
    }
}

/// Polls `pred` every 100 ms until it holds or `secs` pass; returns its last value.
pub async fn wait_for(secs: u64, mut pred: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if pred() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pred()
}

pub async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Runs `f`, failing with a message when it takes longer than `secs`.
pub async fn bounded<T>(secs: u64, what: &str, f: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .map_err(|_| format!("{what} did not finish within {secs}s"))
}
