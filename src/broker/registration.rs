//! (being written)

use std::sync::Arc;

use super::BrokerInner;

/// Register with the name servers now and every `registerNameServerPeriod`.
pub fn start(_b: &Arc<BrokerInner>) {}

/// UNREGISTER_BROKER to every name server.
pub async fn unregister_all(_b: &Arc<BrokerInner>) {}
