//! The name server's request processor (Java `DefaultRequestProcessor`, 4.9.8, with the 5.x
//! additions a 5.x broker or admin tool may send).
//!
//! Every request gets an answer (unless it is one-way): codes this server does not handle get
//! REQUEST_CODE_NOT_SUPPORTED with remark `" request type <code> not supported"`, as a 5.x
//! name server answers (4.9.8 stays silent, which makes Java clients time out and drop the
//! connection). Responses use the request's serialization and carry version 409 (V4_9_8).
//!
//! A required header field that is missing or ill-typed is answered with SYSTEM_ERROR and a
//! remark naming the header and the field; the connection stays open. Unknown `extFields`
//! keys (`Signature`, `AccessKey`, `OnsChannel`, `bname`, …) are ignored.
//!
//! Route data is always written as standard JSON (`"brokerAddrs":{"0":"…"}`), which every
//! client accepts, whatever the request's version or `acceptStandardJsonOnly`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock, Weak};

use apogee_codec::body::{
    properties, DataVersion, KVTable, RegisterBrokerBody, TopicConfigSerializeWrapper,
    TopicRouteData,
};
use apogee_codec::codes::{request, response};
use apogee_codec::header::{
    AddWritePermOfBrokerRequestHeader, AddWritePermOfBrokerResponseHeader,
    DeleteKVConfigRequestHeader, DeleteTopicFromNamesrvRequestHeader, GetKVConfigRequestHeader,
    GetKVConfigResponseHeader, GetKVListByNamespaceRequestHeader, GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader, PutKVConfigRequestHeader, QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader, RegisterBrokerRequestHeader, RegisterBrokerResponseHeader,
    RegisterTopicRequestHeader, UnRegisterBrokerRequestHeader, WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
};
use apogee_codec::{CommandHeader, RemotingCommand};
use futures::future::BoxFuture;

use super::config::NamesrvConfig;
use super::kv_config::{KvConfigManager, NAMESPACE_ORDER_TOPIC_CONFIG};
use super::route_info::{now_ms, BrokerRegistration, ConnRef, RouteInfoManager};
use crate::remoting::{Connection, Handler, Reply};
use crate::rt;
use crate::store::config_files::ConfigFile;
use crate::store::fs::Fs;

/// What Java appends to "not found" remarks (`FAQUrl.suggestTodo(APPLY_TOPIC_URL)`).
const FAQ_SUFFIX: &str = "\nSee http://rocketmq.apache.org/docs/faq/ for further details.";

/// The answer to a request: `Ok` normally, `Err` for an early error answer (boxed: a command
/// is large and most answers are successes).
type Answer = Result<RemotingCommand, Box<RemotingCommand>>;

/// An error answer to `req`.
fn fail(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> Box<RemotingCommand> {
    Box::new(RemotingCommand::error_to(req, code, remark))
}

/// The settings the processor reads per request (changed by UPDATE_NAMESRV_CONFIG).
#[derive(Debug, Clone)]
struct Settings {
    config: NamesrvConfig,
    /// Properties of the `-c` file that are not `NamesrvConfig` keys: shown by
    /// GET_NAMESRV_CONFIG and updatable, as Java keeps them too.
    extra: BTreeMap<String, String>,
}

/// The name server's [`Handler`]: routes every request code to the route and KV managers.
pub struct NamesrvProcessor {
    routes: Arc<RouteInfoManager>,
    kv: Arc<KvConfigManager>,
    settings: RwLock<Settings>,
    /// Open connections, to close them at shutdown.
    conns: Mutex<HashMap<u64, Weak<Connection>>>,
    /// Serialises UPDATE_NAMESRV_CONFIG (validate, apply, persist).
    config_update: futures::lock::Mutex<()>,
}

impl std::fmt::Debug for NamesrvProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamesrvProcessor").finish_non_exhaustive()
    }
}

fn header<H: CommandHeader>(req: &RemotingCommand) -> Result<H, Box<RemotingCommand>> {
    req.read_header::<H>()
        .map_err(|e| fail(req, response::SYSTEM_ERROR, e.to_string()))
}

/// A required `extFields` value of a header the codec has no struct for.
fn ext_str<'a>(
    req: &'a RemotingCommand,
    ctx: &'static str,
    key: &'static str,
) -> Result<&'a str, Box<RemotingCommand>> {
    req.ext(key).ok_or_else(|| {
        fail(
            req,
            response::SYSTEM_ERROR,
            apogee_codec::CodecError::missing(ctx, key).to_string(),
        )
    })
}

impl NamesrvProcessor {
    /// A processor over the given tables. `extra` holds config-file properties that are not
    /// `NamesrvConfig` keys.
    pub fn new(
        config: NamesrvConfig,
        extra: BTreeMap<String, String>,
        routes: Arc<RouteInfoManager>,
        kv: Arc<KvConfigManager>,
    ) -> Self {
        NamesrvProcessor {
            routes,
            kv,
            settings: RwLock::new(Settings { config, extra }),
            conns: Mutex::new(HashMap::new()),
            config_update: futures::lock::Mutex::new(()),
        }
    }

    pub fn routes(&self) -> &Arc<RouteInfoManager> {
        &self.routes
    }

    pub fn kv(&self) -> &Arc<KvConfigManager> {
        &self.kv
    }

    /// The current settings.
    pub fn config(&self) -> NamesrvConfig {
        self.settings().config.clone()
    }

    fn settings(&self) -> std::sync::RwLockReadGuard<'_, Settings> {
        self.settings.read().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Weak<Connection>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Close every open connection (shutdown).
    pub fn close_all_connections(&self) {
        let conns: Vec<Weak<Connection>> = self.lock_conns().drain().map(|(_, c)| c).collect();
        for c in conns {
            if let Some(c) = c.upgrade() {
                c.close();
            }
        }
    }

    /// Answer one request. `conn` is the connection it came on (`None` for in-process
    /// callers; a broker registered that way is only removed by expiry or unregistration).
    pub async fn process(
        &self,
        conn: Option<&Arc<Connection>>,
        req: &RemotingCommand,
    ) -> RemotingCommand {
        log::debug!(
            "request {} from {}",
            req,
            conn.map(|c| c.peer().to_string())
                .unwrap_or_else(|| "in-process".into())
        );
        let answer = match req.code {
            request::PUT_KV_CONFIG => self.put_kv_config(req).await,
            request::GET_KV_CONFIG => self.get_kv_config(req),
            request::DELETE_KV_CONFIG => self.delete_kv_config(req).await,
            request::QUERY_DATA_VERSION => self.query_data_version(req),
            request::REGISTER_BROKER => self.register_broker(conn, req),
            request::UNREGISTER_BROKER => self.unregister_broker(req),
            request::BROKER_HEARTBEAT => self.broker_heartbeat(req),
            request::GET_BROKER_MEMBER_GROUP => self.get_broker_member_group(req),
            request::GET_ROUTEINFO_BY_TOPIC => self.get_route_info(req),
            request::GET_BROKER_CLUSTER_INFO => {
                Ok(RemotingCommand::success_to(req).with_body(self.routes.cluster_info().encode()))
            }
            request::WIPE_WRITE_PERM_OF_BROKER => self.wipe_write_perm(conn, req),
            request::ADD_WRITE_PERM_OF_BROKER => self.add_write_perm(conn, req),
            request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => self.get_all_topic_list(req),
            request::DELETE_TOPIC_IN_NAMESRV => self.delete_topic(req),
            request::REGISTER_TOPIC_IN_NAMESRV => self.register_topic(req),
            request::GET_KVLIST_BY_NAMESPACE => self.get_kv_list(req),
            request::GET_TOPICS_BY_CLUSTER => self.get_topics_by_cluster(req),
            request::GET_SYSTEM_TOPIC_LIST_FROM_NS => Ok(
                RemotingCommand::success_to(req).with_body(self.routes.system_topics().encode())
            ),
            request::GET_UNIT_TOPIC_LIST => {
                Ok(RemotingCommand::success_to(req).with_body(self.routes.unit_topics().encode()))
            }
            request::GET_HAS_UNIT_SUB_TOPIC_LIST => Ok(RemotingCommand::success_to(req)
                .with_body(self.routes.has_unit_sub_topics().encode())),
            request::GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST => Ok(RemotingCommand::success_to(req)
                .with_body(self.routes.has_unit_sub_ununit_topics().encode())),
            request::UPDATE_NAMESRV_CONFIG => self.update_config(conn, req).await,
            request::GET_NAMESRV_CONFIG => {
                Ok(RemotingCommand::success_to(req).with_body(self.config_text().into_bytes()))
            }
            code => {
                log::debug!("request code {code} not supported");
                Err(fail(
                    req,
                    response::REQUEST_CODE_NOT_SUPPORTED,
                    format!(" request type {code} not supported"),
                ))
            }
        };
        answer.unwrap_or_else(|e| *e)
    }

    // ---- KV config --------------------------------------------------------------------

    async fn persist_kv(&self) {
        let kv = Arc::clone(&self.kv);
        if let Err(e) = rt::unblock(move || kv.persist()).await {
            // Java logs and answers SUCCESS too: the table in memory is up to date.
            log::error!("persisting the KV config failed: {e}");
        }
    }

    async fn put_kv_config(&self, req: &RemotingCommand) -> Answer {
        let h: PutKVConfigRequestHeader = header(req)?;
        self.kv.put(&h.namespace, &h.key, &h.value);
        self.persist_kv().await;
        Ok(RemotingCommand::success_to(req))
    }

    fn get_kv_config(&self, req: &RemotingCommand) -> Answer {
        let h: GetKVConfigRequestHeader = header(req)?;
        match self.kv.get(&h.namespace, &h.key) {
            Some(value) => Ok(RemotingCommand::success_to(req)
                .with_header(&GetKVConfigResponseHeader { value: Some(value) })),
            None => Err(Box::new(
                RemotingCommand::error_to(
                    req,
                    response::QUERY_NOT_FOUND,
                    format!("No config item, Namespace: {} Key: {}", h.namespace, h.key),
                )
                .with_header(&GetKVConfigResponseHeader { value: None }),
            )),
        }
    }

    async fn delete_kv_config(&self, req: &RemotingCommand) -> Answer {
        let h: DeleteKVConfigRequestHeader = header(req)?;
        self.kv.delete(&h.namespace, &h.key);
        self.persist_kv().await;
        Ok(RemotingCommand::success_to(req))
    }

    fn get_kv_list(&self, req: &RemotingCommand) -> Answer {
        let h: GetKVListByNamespaceRequestHeader = header(req)?;
        match self.kv.namespace(&h.namespace) {
            Some(table) => {
                Ok(RemotingCommand::success_to(req).with_body(KVTable { table }.encode()))
            }
            None => Err(fail(
                req,
                response::QUERY_NOT_FOUND,
                format!("No config item, Namespace: {}", h.namespace),
            )),
        }
    }

    // ---- brokers ----------------------------------------------------------------------

    fn register_broker(&self, conn: Option<&Arc<Connection>>, req: &RemotingCommand) -> Answer {
        let h: RegisterBrokerRequestHeader = header(req)?;
        if h.body_crc32 != 0 {
            let crc = (crc32fast::hash(&req.body) & 0x7FFF_FFFF) as i32;
            if crc != h.body_crc32 {
                log::warn!(
                    "REGISTER_BROKER from {} ({}): body crc32 {} does not match header {}",
                    conn.map(|c| c.peer().to_string()).unwrap_or_default(),
                    h.broker_addr,
                    crc,
                    h.body_crc32
                );
                return Err(fail(req, response::SYSTEM_ERROR, "crc32 not match"));
            }
        }
        let (wrapper, filter_servers) =
            decode_registration(&req.body, h.compressed).map_err(|e| {
                log::warn!("REGISTER_BROKER from {}: {e}", h.broker_addr);
                fail(req, response::SYSTEM_ERROR, e)
            })?;
        let result = self.routes.register_broker(
            BrokerRegistration {
                cluster_name: h.cluster_name,
                broker_addr: h.broker_addr,
                broker_name: h.broker_name,
                broker_id: h.broker_id,
                ha_server_addr: h.ha_server_addr,
                topic_config_wrapper: wrapper,
                filter_server_list: filter_servers,
                conn: conn.map(ConnRef::new),
                heartbeat_timeout_ms: h.heartbeat_timeout_millis,
            },
            self.settings().config.delete_topic_with_broker_registration,
        );
        let mut resp =
            RemotingCommand::success_to(req).with_header(&RegisterBrokerResponseHeader {
                ha_server_addr: result.ha_server_addr,
                master_addr: result.master_addr,
            });
        if let Some(table) = self.kv.namespace(NAMESPACE_ORDER_TOPIC_CONFIG) {
            resp = resp.with_body(KVTable { table }.encode());
        }
        Ok(resp)
    }

    fn unregister_broker(&self, req: &RemotingCommand) -> Answer {
        let h: UnRegisterBrokerRequestHeader = header(req)?;
        self.routes
            .unregister_broker(&h.cluster_name, &h.broker_addr, &h.broker_name, h.broker_id);
        Ok(RemotingCommand::success_to(req))
    }

    fn query_data_version(&self, req: &RemotingCommand) -> Answer {
        let h: QueryDataVersionRequestHeader = header(req)?;
        let version = DataVersion::decode(&req.body).map_err(|e| {
            fail(
                req,
                response::SYSTEM_ERROR,
                format!("bad DataVersion body: {e}"),
            )
        })?;
        let changed = self
            .routes
            .is_broker_topic_config_changed(&h.broker_addr, &version);
        if !changed {
            self.routes
                .update_broker_timestamp(&h.broker_addr, now_ms());
        }
        let mut resp = RemotingCommand::success_to(req)
            .with_header(&QueryDataVersionResponseHeader { changed });
        if let Some(ours) = self.routes.broker_data_version(&h.broker_addr) {
            resp = resp.with_body(ours.encode());
        }
        Ok(resp)
    }

    /// 5.x BROKER_HEARTBEAT: keeps a registered broker alive.
    fn broker_heartbeat(&self, req: &RemotingCommand) -> Answer {
        const CTX: &str = "BrokerHeartbeatRequestHeader";
        ext_str(req, CTX, "clusterName")?;
        ext_str(req, CTX, "brokerName")?;
        let addr = ext_str(req, CTX, "brokerAddr")?;
        self.routes.update_broker_timestamp(addr, now_ms());
        Ok(RemotingCommand::success_to(req))
    }

    /// 5.x GET_BROKER_MEMBER_GROUP: the addresses of one broker group.
    fn get_broker_member_group(&self, req: &RemotingCommand) -> Answer {
        const CTX: &str = "GetBrokerMemberGroupRequestHeader";
        let cluster = ext_str(req, CTX, "clusterName")?;
        let name = ext_str(req, CTX, "brokerName")?;
        let addrs: BTreeMap<String, String> = self
            .routes
            .broker_addrs(name)
            .into_iter()
            .map(|(id, addr)| (id.to_string(), addr))
            .collect();
        let body = serde_json::json!({
            "brokerMemberGroup": {
                "brokerAddrs": addrs,
                "brokerName": name,
                "cluster": cluster,
            }
        });
        Ok(RemotingCommand::success_to(req)
            .with_body(serde_json::to_vec(&body).unwrap_or_default()))
    }

    // ---- routes -----------------------------------------------------------------------

    fn get_route_info(&self, req: &RemotingCommand) -> Answer {
        let h: GetRouteInfoRequestHeader = header(req)?;
        let Some(mut route) = self.routes.pickup_topic_route_data(&h.topic) else {
            return Err(fail(
                req,
                response::TOPIC_NOT_EXIST,
                format!(
                    "No topic route info in name server for the topic: {}{FAQ_SUFFIX}",
                    h.topic
                ),
            ));
        };
        if self.settings().config.order_message_enable {
            route.order_topic_conf = self.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, &h.topic);
        }
        Ok(RemotingCommand::success_to(req).with_body(route.encode()))
    }

    fn get_all_topic_list(&self, req: &RemotingCommand) -> Answer {
        if !self.settings().config.enable_all_topic_list {
            return Err(fail(req, response::SYSTEM_ERROR, "disable"));
        }
        Ok(RemotingCommand::success_to(req).with_body(self.routes.all_topics().encode()))
    }

    fn get_topics_by_cluster(&self, req: &RemotingCommand) -> Answer {
        let h: GetTopicsByClusterRequestHeader = header(req)?;
        Ok(RemotingCommand::success_to(req)
            .with_body(self.routes.topics_by_cluster(&h.cluster).encode()))
    }

    fn wipe_write_perm(&self, conn: Option<&Arc<Connection>>, req: &RemotingCommand) -> Answer {
        let h: WipeWritePermOfBrokerRequestHeader = header(req)?;
        let count = self.routes.wipe_write_perm_of_broker(&h.broker_name);
        log::info!(
            "write permission of broker {} wiped on {count} topic(s), asked by {}",
            h.broker_name,
            conn.map(|c| c.peer().to_string()).unwrap_or_default()
        );
        Ok(
            RemotingCommand::success_to(req).with_header(&WipeWritePermOfBrokerResponseHeader {
                wipe_topic_count: count,
            }),
        )
    }

    fn add_write_perm(&self, conn: Option<&Arc<Connection>>, req: &RemotingCommand) -> Answer {
        let h: AddWritePermOfBrokerRequestHeader = header(req)?;
        let count = self.routes.add_write_perm_of_broker(&h.broker_name);
        log::info!(
            "write permission of broker {} added on {count} topic(s), asked by {}",
            h.broker_name,
            conn.map(|c| c.peer().to_string()).unwrap_or_default()
        );
        Ok(
            RemotingCommand::success_to(req).with_header(&AddWritePermOfBrokerResponseHeader {
                add_topic_count: count,
            }),
        )
    }

    fn delete_topic(&self, req: &RemotingCommand) -> Answer {
        let h: DeleteTopicFromNamesrvRequestHeader = header(req)?;
        match h.cluster_name.as_deref().filter(|c| !c.is_empty()) {
            Some(cluster) => self.routes.delete_topic_in_cluster(&h.topic, cluster),
            None => self.routes.delete_topic(&h.topic),
        }
        Ok(RemotingCommand::success_to(req))
    }

    fn register_topic(&self, req: &RemotingCommand) -> Answer {
        let h: RegisterTopicRequestHeader = header(req)?;
        if req.body.is_empty() {
            return Ok(RemotingCommand::success_to(req));
        }
        let route = TopicRouteData::decode(&req.body).map_err(|e| {
            fail(
                req,
                response::SYSTEM_ERROR,
                format!("bad TopicRouteData body: {e}"),
            )
        })?;
        self.routes.register_topic(&h.topic, &route.queue_datas);
        Ok(RemotingCommand::success_to(req))
    }

    // ---- name server config -------------------------------------------------------------

    /// The effective settings as properties text (GET_NAMESRV_CONFIG).
    pub fn config_text(&self) -> String {
        let s = self.settings();
        let mut entries: Vec<(String, String)> = s
            .config
            .to_properties()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        for (k, v) in &s.extra {
            if !NamesrvConfig::KEYS.contains(&k.as_str()) {
                entries.push((k.clone(), v.clone()));
            }
        }
        properties::write(entries)
    }

    async fn update_config(&self, conn: Option<&Arc<Connection>>, req: &RemotingCommand) -> Answer {
        log::info!(
            "UPDATE_NAMESRV_CONFIG from {}",
            conn.map(|c| c.peer().to_string()).unwrap_or_default()
        );
        if req.body.is_empty() {
            return Ok(RemotingCommand::success_to(req));
        }
        let props = properties::parse_bytes(&req.body);
        let _serial = self.config_update.lock().await;
        let mut next = self.settings().clone();
        let black_list = next.config.black_list();
        if props.keys().any(|k| black_list.contains(k)) {
            return Err(fail(
                req,
                response::NO_PERMISSION,
                "Can not update config in black list.",
            ));
        }
        for (k, v) in &props {
            match next.config.set(k, v) {
                Ok(true) => {}
                // Like Java, only keys the server knows are updated.
                Ok(false) => {
                    if let Some(slot) = next.extra.get_mut(k) {
                        slot.clone_from(v);
                    } else {
                        log::info!("UPDATE_NAMESRV_CONFIG: unknown key {k} ignored");
                    }
                }
                Err(e) => {
                    return Err(fail(req, response::SYSTEM_ERROR, e));
                }
            }
        }
        let path = next.config.config_store_path.clone();
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = next;
        let text = self.config_text();
        let persisted =
            rt::unblock(move || ConfigFile::new(&Fs::real(), path).persist(text.as_bytes())).await;
        if let Err(e) = persisted {
            log::error!("persisting the name server config failed: {e}");
        }
        Ok(RemotingCommand::success_to(req))
    }
}

/// The topics and filter servers of a REGISTER_BROKER body.
///
/// Uncompressed bodies come in two shapes: `RegisterBrokerBody` (every broker since 3.0.11)
/// and a bare `TopicConfigSerializeWrapper` (older brokers, whose registrations leave the
/// filter server table alone). Java picks by request version; the shape itself is a safer
/// guide for brokers that send no realistic version, so it is looked at instead. An empty body
/// registers no topics with data version 0.
fn decode_registration(
    body: &[u8],
    compressed: bool,
) -> Result<(TopicConfigSerializeWrapper, Option<Vec<String>>), String> {
    if body.is_empty() {
        return Ok((TopicConfigSerializeWrapper::default(), Some(Vec::new())));
    }
    let failed = |e: apogee_codec::CodecError| format!("Failed to decode RegisterBrokerBody: {e}");
    if compressed {
        let b = RegisterBrokerBody::decode_compressed(body).map_err(failed)?;
        return Ok((b.topic_config_serialize_wrapper, Some(b.filter_server_list)));
    }
    let value = apogee_codec::fastjson::parse_value(body).map_err(failed)?;
    let new_shape = value.as_object().is_some_and(|o| {
        o.contains_key("topicConfigSerializeWrapper") || o.contains_key("filterServerList")
    });
    if new_shape || !value.is_object() {
        let b = RegisterBrokerBody::decode(body).map_err(failed)?;
        Ok((b.topic_config_serialize_wrapper, Some(b.filter_server_list)))
    } else {
        let w = TopicConfigSerializeWrapper::decode(body).map_err(failed)?;
        Ok((w, None))
    }
}

impl Handler for NamesrvProcessor {
    fn handle(
        self: Arc<Self>,
        conn: Arc<Connection>,
        req: RemotingCommand,
    ) -> BoxFuture<'static, Reply> {
        Box::pin(async move { Reply::Command(self.process(Some(&conn), &req).await) })
    }

    fn on_open(&self, conn: &Arc<Connection>) {
        self.lock_conns().insert(conn.id(), Arc::downgrade(conn));
    }

    fn on_close(&self, conn: &Arc<Connection>) {
        self.lock_conns().remove(&conn.id());
        self.routes.on_connection_closed(conn.id());
    }
}
