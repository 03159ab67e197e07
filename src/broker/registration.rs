//! Registration with the name servers (Java `BrokerController.registerBrokerAll` and
//! `BrokerOuterAPI`, 4.9.8).
//!
//! * REGISTER_BROKER (103) to every name server in parallel, each bounded by
//!   `registerBrokerTimeoutMills`: header clusterName, brokerAddr (`brokerIP1:listenPort`),
//!   brokerName, brokerId (0 for a master), haServerAddr (`brokerIP2:listenPort+1`),
//!   compressed, bodyCrc32 (`crc32(body) & 0x7FFFFFFF`); body = `RegisterBrokerBody` with the
//!   whole topic table and its data version and an empty filter-server list, JSON or (with
//!   `compressedRegister`) the deflated form.
//! * When the broker is not both readable and writable (`brokerPermission`), every topic is
//!   registered with the broker's permission instead of its own.
//! * Once right at start, then every `registerNameServerPeriod` (clamped to [10 s, 60 s]);
//!   periodic rounds with `forceRegister=false` first ask QUERY_DATA_VERSION and register
//!   only if some name server has another data version. [`register_now`] (after a topic
//!   change) and [`register_soon`] always register.
//! * The first successful answer's body (the name server's `ORDER_TOPIC_CONFIG` KV table)
//!   decides which topics are ordered.
//! * UNREGISTER_BROKER (104) to every name server at shutdown.
//!
//! Failures are logged, never fatal: a name server that is down gets the next round. Rounds
//! are serialized so that the name servers see the data versions in order.

use std::collections::BTreeSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apogee_codec::body::{DataVersion, KVTable, RegisterBrokerBody, TopicConfig};
use apogee_codec::codes::{request as rc, response};
use apogee_codec::header::namesrv::{
    QueryDataVersionRequestHeader, QueryDataVersionResponseHeader, RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader, UnRegisterBrokerRequestHeader,
};
use apogee_codec::RemotingCommand;
use bytes::Bytes;
use futures::future::join_all;
use log::{debug, info, warn};

use super::admin;
use super::{BrokerConfig, BrokerInner};
use crate::rt;
use crate::store::config_files::topics::perm;
use crate::store::store_config::BrokerRole;

/// Java's UNREGISTER_BROKER timeout.
const UNREGISTER_TIMEOUT: Duration = Duration::from_millis(3000);
/// Extra time allowed for resolving and connecting beyond a request's timeout.
const RESOLVE_SLACK: Duration = Duration::from_millis(500);
/// How often the periodic task looks at the shutdown flag while it waits.
const WAKE_SLICE: Duration = Duration::from_millis(200);

/// Register with the name servers now and every `registerNameServerPeriod`, until the broker
/// shuts down (or is dropped).
pub fn start(b: &Arc<BrokerInner>) {
    admin::init(b);
    let weak = Arc::downgrade(b);
    rt::spawn(async move {
        let mut first = true;
        loop {
            let period = {
                let Some(b) = weak.upgrade() else { return };
                if b.is_shutting_down() {
                    return;
                }
                let cfg = admin::admin_state(&b).broker_config();
                register_all(&b, first || cfg.force_register).await;
                cfg.register_period_ms()
            };
            first = false;
            let deadline = Instant::now() + Duration::from_millis(period);
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                rt::sleep(WAKE_SLICE.min(deadline - now)).await;
                match weak.upgrade() {
                    Some(b) if !b.is_shutting_down() => {}
                    _ => return,
                }
            }
        }
    });
}

/// Register with every name server now (after a topic change); returns when every name
/// server answered or timed out.
pub async fn register_now(b: &Arc<BrokerInner>) {
    register_all(b, true).await;
}

/// Register with every name server in the background.
pub fn register_soon(b: &Arc<BrokerInner>) {
    let b = Arc::clone(b);
    rt::spawn(async move { register_all(&b, true).await });
}

/// UNREGISTER_BROKER to every name server (at shutdown). Waits for a registration in flight
/// first (bounded), so that it cannot land after the unregistration.
pub async fn unregister_all(b: &Arc<BrokerInner>) {
    let st = admin::admin_state(b);
    let cfg = st.broker_config();
    let servers = cfg.name_servers();
    if servers.is_empty() {
        return;
    }
    let _guard = rt::timeout(register_timeout(&cfg), st.register_lock.lock()).await;
    let header = UnRegisterBrokerRequestHeader {
        broker_name: cfg.broker_name.clone(),
        broker_addr: b.broker_addr(),
        cluster_name: cfg.broker_cluster_name.clone(),
        broker_id: broker_id(b, &cfg),
    };
    let calls = servers.iter().map(|ns| {
        let cmd = RemotingCommand::request(rc::UNREGISTER_BROKER, 0).with_header(&header);
        async move { (ns, invoke(b, ns, cmd, UNREGISTER_TIMEOUT).await) }
    });
    for (ns, r) in join_all(calls).await {
        match r {
            Ok(resp) if resp.code == response::SUCCESS => {
                info!("unregisterBroker OK, NamesrvAddr: {ns}")
            }
            Ok(resp) => warn!(
                "unregisterBroker at {ns} failed: code {} {}",
                resp.code,
                resp.remark.unwrap_or_default()
            ),
            Err(e) => warn!("unregisterBroker at {ns} failed: {e}"),
        }
    }
}

fn register_timeout(cfg: &BrokerConfig) -> Duration {
    Duration::from_millis(cfg.register_broker_timeout_mills.max(1))
}

/// Java forces brokerId 0 on masters.
fn broker_id(b: &BrokerInner, cfg: &BrokerConfig) -> i64 {
    if b.store.config().broker_role() == BrokerRole::Slave {
        cfg.broker_id
    } else {
        0
    }
}

/// `brokerIP2:haListenPort` (the bound HA port; `listenPort + 1` by default).
fn ha_server_addr(b: &BrokerInner, cfg: &BrokerConfig) -> String {
    let ip = match cfg.broker_ip2.trim() {
        "" => b.ha_addr.ip().to_string(),
        ip2 => ip2.to_owned(),
    };
    format!("{ip}:{}", b.ha_addr.port())
}

/// The topic table as registered: with the broker's permission on every topic when the
/// broker is not both readable and writable.
fn topic_wrapper(
    b: &BrokerInner,
    cfg: &BrokerConfig,
) -> apogee_codec::body::TopicConfigSerializeWrapper {
    let mut w = b.configs.topics.serialize_wrapper();
    let bp = cfg.broker_permission;
    if !(perm::is_readable(bp) && perm::is_writeable(bp)) {
        for tc in w.topic_config_table.values_mut() {
            *tc = TopicConfig {
                read_queue_nums: tc.read_queue_nums,
                write_queue_nums: tc.write_queue_nums,
                perm: bp,
                ..TopicConfig::new(tc.topic_name.clone())
            };
        }
    }
    w
}

/// Resolve `host:port` and send `cmd`, bounded by `timeout` (plus a little for resolving).
async fn invoke(
    b: &BrokerInner,
    ns: &str,
    cmd: RemotingCommand,
    timeout: Duration,
) -> Result<RemotingCommand, String> {
    let work = async {
        let addr = resolve(ns).await?;
        b.ns_client
            .invoke(addr, cmd, timeout)
            .await
            .map_err(|e| e.to_string())
    };
    // The request's own timeout fires first (and retires the connection, as Java does); the
    // outer bound also covers name resolution and connecting.
    match rt::timeout(timeout + RESOLVE_SLACK, work).await {
        Some(r) => r,
        None => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

pub(crate) async fn resolve(ns: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = ns.parse::<SocketAddr>() {
        return Ok(a);
    }
    let name = ns.to_owned();
    rt::unblock(move || {
        name.to_socket_addrs()
            .map_err(|e| format!("cannot resolve {name}: {e}"))?
            .next()
            .ok_or_else(|| format!("cannot resolve {name}"))
    })
    .await
}

/// One registration round.
async fn register_all(b: &Arc<BrokerInner>, force: bool) {
    let st = admin::admin_state(b);
    let _guard = st.register_lock.lock().await;
    if b.is_shutting_down() {
        return;
    }
    let cfg = st.broker_config();
    let servers = cfg.name_servers();
    if servers.is_empty() {
        return;
    }
    let timeout = register_timeout(&cfg);
    let wrapper = topic_wrapper(b, &cfg);
    if !force && !need_register(b, &cfg, &servers, &wrapper.data_version, timeout).await {
        debug!(
            "name servers have data version {:?}; not registering",
            wrapper.data_version
        );
        return;
    }
    let body = RegisterBrokerBody {
        filter_server_list: Vec::new(),
        topic_config_serialize_wrapper: wrapper,
    }
    .encode_with(cfg.compressed_register);
    let header = RegisterBrokerRequestHeader {
        broker_name: cfg.broker_name.clone(),
        broker_addr: b.broker_addr(),
        cluster_name: cfg.broker_cluster_name.clone(),
        ha_server_addr: ha_server_addr(b, &cfg),
        broker_id: broker_id(b, &cfg),
        heartbeat_timeout_millis: None,
        enable_acting_master: None,
        compressed: cfg.compressed_register,
        body_crc32: (crc32fast::hash(&body) & 0x7FFF_FFFF) as i32,
    };
    let body = Bytes::from(body);
    let calls = servers.iter().map(|ns| {
        let cmd = RemotingCommand::request(rc::REGISTER_BROKER, 0)
            .with_header(&header)
            .with_body(body.clone());
        async move { (ns, invoke(b, ns, cmd, timeout).await) }
    });
    let mut order_table: Option<Option<KVTable>> = None;
    for (ns, r) in join_all(calls).await {
        match r {
            Ok(resp) if resp.code == response::SUCCESS => {
                if b.is_slave() {
                    // The master's addresses: HA for replication, broker for config sync.
                    if let Ok(h) = resp.read_header::<RegisterBrokerResponseHeader>() {
                        if let Some(ha) = h.ha_server_addr.as_deref() {
                            b.store.ha().update_master_addr(ha);
                        }
                        if let Some(m) = h.master_addr.as_deref() {
                            b.set_master_addr(m);
                        }
                    }
                }
                debug!(
                    "register broker[{}] to name server {ns} OK",
                    header.broker_id
                );
                if order_table.is_none() {
                    order_table = Some(resp.body().and_then(|body| match KVTable::decode(body) {
                        Ok(kv) => Some(kv),
                        Err(e) => {
                            warn!("REGISTER_BROKER answer of {ns}: bad KV table: {e}");
                            None
                        }
                    }));
                }
            }
            Ok(resp) => warn!(
                "registerBroker at {ns} failed: code {} {}",
                resp.code,
                resp.remark.unwrap_or_default()
            ),
            Err(e) => warn!("registerBroker at {ns} failed: {e}"),
        }
    }
    if let Some(Some(kv)) = order_table {
        let b2 = Arc::clone(b);
        rt::unblock(move || update_order_topics(&b2, &kv)).await;
    }
}

/// Java `TopicConfigManager.updateOrderTopicConfig`: the topics in the name server's
/// ORDER_TOPIC_CONFIG table are ordered, every other topic is not.
fn update_order_topics(b: &BrokerInner, kv: &KVTable) {
    let ordered: BTreeSet<&str> = kv.table.keys().map(String::as_str).collect();
    for (name, mut tc) in b.configs.topics.table() {
        let want = ordered.contains(name.as_str());
        if tc.order == want {
            continue;
        }
        info!("update order topic config, topic={name}, order={want}");
        tc.order = want;
        if let Err(e) = b.configs.topics.update_topic_config(tc) {
            warn!("updating the order flag of {name}: {e}");
        }
    }
}

/// Java `needRegister`: ask every name server for its data version of this broker; register
/// when one differs, did not answer properly, or failed.
async fn need_register(
    b: &BrokerInner,
    cfg: &BrokerConfig,
    servers: &[String],
    ours: &DataVersion,
    timeout: Duration,
) -> bool {
    let header = QueryDataVersionRequestHeader {
        broker_name: cfg.broker_name.clone(),
        broker_addr: b.broker_addr(),
        cluster_name: cfg.broker_cluster_name.clone(),
        broker_id: broker_id(b, cfg),
    };
    let body = Bytes::from(ours.encode());
    let calls = servers.iter().map(|ns| {
        let cmd = RemotingCommand::request(rc::QUERY_DATA_VERSION, 0)
            .with_header(&header)
            .with_body(body.clone());
        async move { (ns, invoke(b, ns, cmd, timeout).await) }
    });
    let mut changed = false;
    for (ns, r) in join_all(calls).await {
        let this = match r {
            Ok(resp) if resp.code == response::SUCCESS => {
                let flag = resp
                    .read_header::<QueryDataVersionResponseHeader>()
                    .map(|h| h.changed)
                    .unwrap_or(true);
                let differs = resp.body().is_some_and(|body| {
                    DataVersion::decode(body)
                        .map(|theirs| {
                            theirs.counter != ours.counter || theirs.timestamp != ours.timestamp
                        })
                        .unwrap_or(true)
                });
                flag || differs
            }
            Ok(_) => false,
            Err(e) => {
                warn!("Query data version from name server {ns} failed: {e}");
                true
            }
        };
        changed |= this;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_is_clamped() {
        let c = BrokerConfig {
            register_name_server_period: 1000,
            ..Default::default()
        };
        assert_eq!(c.register_period_ms(), 10_000);
        let c = BrokerConfig {
            register_name_server_period: 600_000,
            ..Default::default()
        };
        assert_eq!(c.register_period_ms(), 60_000);
    }
}
