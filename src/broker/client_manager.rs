//! (being written)

use std::sync::Arc;

use super::BrokerInner;
use crate::remoting::Connection;

/// Producer and consumer groups and their connections.
pub struct ClientManager {}

impl ClientManager {
    pub fn new() -> Self {
        ClientManager {}
    }

    /// A connection closed: drop its registrations.
    pub fn on_connection_closed(&self, _b: &Arc<BrokerInner>, _conn: &Arc<Connection>) {}
}

impl Default for ClientManager {
    fn default() -> Self {
        Self::new()
    }
}

/// Expire silent clients every 10 s.
pub fn start_housekeeping(_b: &Arc<BrokerInner>) {}
