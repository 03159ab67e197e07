//! (being written)

use std::sync::Arc;

use super::{BrokerConfig, BrokerInner};

/// Held pulls.
pub struct PullRequestHold {}

impl PullRequestHold {
    pub fn new(_config: &BrokerConfig) -> Self {
        PullRequestHold {}
    }

    /// Answer every held pull (shutdown).
    pub fn wake_all(&self) {}
}

/// Subscribe to the store's arrivals.
pub fn attach(_b: &Arc<BrokerInner>) {}
