//! (being written)

use std::sync::Arc;

use apogee_codec::RemotingCommand;

use super::processor::not_supported;
use super::BrokerInner;
use crate::remoting::{Connection, Reply};

pub async fn process(
    _b: &Arc<BrokerInner>,
    _conn: &Arc<Connection>,
    req: RemotingCommand,
) -> Reply {
    not_supported(&req)
}
