//! The broker's request handler: routes each request code to its module. Any code without a
//! processor is answered with REQUEST_CODE_NOT_SUPPORTED (never left unanswered). The fast
//! ("VIP") port serves everything but pulls, as Java does. With `aclEnable=true` every request
//! is checked by the plain ACL (`crate::acl`) first; a refused one is answered here and never
//! reaches a processor.

use std::sync::Arc;

use apogee_codec::codes::{request as rc, response};
use apogee_codec::RemotingCommand;
use futures::future::BoxFuture;

use super::{
    admin, client, consumer_admin, offsets, pull, query, rebalance_lock, send, send_back,
    transaction, BrokerInner,
};
use crate::remoting::{Connection, Handler, Reply};

/// Handler for one broker port.
pub struct BrokerProcessor {
    broker: Arc<BrokerInner>,
    /// The fast port: no pulls.
    vip: bool,
}

impl BrokerProcessor {
    pub fn new(broker: Arc<BrokerInner>, vip: bool) -> Self {
        BrokerProcessor { broker, vip }
    }
}

/// The answer to a code nobody handles (Java's remark text).
pub fn not_supported(req: &RemotingCommand) -> Reply {
    RemotingCommand::error_to(
        req,
        response::REQUEST_CODE_NOT_SUPPORTED,
        format!(" request type {} not supported", req.code),
    )
    .into()
}

/// A required header field was missing or ill-typed: Java fails such requests with
/// SYSTEM_ERROR; the remark names the field.
pub fn bad_header(req: &RemotingCommand, e: &apogee_codec::CodecError) -> Reply {
    RemotingCommand::error_to(req, response::SYSTEM_ERROR, e.to_string()).into()
}

/// The ACL admin requests, on the blocking pool (they read and write the ACL file).
async fn acl_admin(b: &Arc<BrokerInner>, req: RemotingCommand) -> Reply {
    let acl = b.acl.clone();
    let who = crate::acl::admin::BrokerIdentity {
        broker_name: b.config.broker_name.clone(),
        broker_addr: b.broker_addr(),
        cluster_name: b.config.broker_cluster_name.clone(),
    };
    crate::rt::unblock(move || crate::acl::admin::process(acl.as_deref(), &who, &req))
        .await
        .into()
}

impl Handler for BrokerProcessor {
    fn handle(
        self: Arc<Self>,
        conn: Arc<Connection>,
        req: RemotingCommand,
    ) -> BoxFuture<'static, Reply> {
        Box::pin(async move {
            let b = &self.broker;
            // Access control runs before any processor: a refused request is answered here.
            if let Some(acl) = &b.acl {
                if let Err(denied) = acl.validate(conn.peer(), &req) {
                    log::debug!(
                        "{conn:?}: request {} refused by the ACL: {}",
                        req.code,
                        denied.0
                    );
                    return denied.response_to(&req).into();
                }
            }
            match req.code {
                rc::SEND_MESSAGE
                | rc::SEND_MESSAGE_V2
                | rc::SEND_BATCH_MESSAGE
                | rc::SEND_REPLY_MESSAGE
                | rc::SEND_REPLY_MESSAGE_V2 => send::process(b, &conn, req).await,
                rc::PULL_MESSAGE | rc::LITE_PULL_MESSAGE if !self.vip => {
                    pull::process(b, &conn, req).await
                }
                rc::QUERY_CONSUMER_OFFSET
                | rc::UPDATE_CONSUMER_OFFSET
                | rc::SEARCH_OFFSET_BY_TIMESTAMP
                | rc::GET_MAX_OFFSET
                | rc::GET_MIN_OFFSET
                | rc::GET_EARLIEST_MSG_STORETIME => offsets::process(b, &conn, req).await,
                rc::HEART_BEAT
                | rc::UNREGISTER_CLIENT
                | rc::GET_CONSUMER_LIST_BY_GROUP
                | rc::CHECK_CLIENT_CONFIG => client::process(b, &conn, req).await,
                rc::QUERY_MESSAGE | rc::VIEW_MESSAGE_BY_ID => query::process(b, &conn, req).await,
                rc::END_TRANSACTION => transaction::process(b, &conn, req).await,
                rc::CONSUMER_SEND_MSG_BACK => send_back::process(b, &conn, req).await,
                rc::LOCK_BATCH_MQ | rc::UNLOCK_BATCH_MQ => {
                    rebalance_lock::process(b, &conn, req).await
                }
                code if crate::acl::admin::handles(code) => acl_admin(b, req).await,
                code if consumer_admin::handles(code) => {
                    consumer_admin::process(b, &conn, req).await
                }
                _ => admin::process(b, &conn, req).await,
            }
        })
    }

    fn on_close(&self, conn: &Arc<Connection>) {
        self.broker.clients.on_connection_closed(&self.broker, conn);
    }
}
