//! The broker: serves producers, consumers and admin tools over the remoting protocol on top of
//! the store.
//!
//! Pieces (one file each):
//! * `processor`: the request handler; routes every code to its module, answers anything else
//!   with REQUEST_CODE_NOT_SUPPORTED.
//! * `send`: SEND_MESSAGE(_V2), SEND_BATCH_MESSAGE, reply messages, topic auto-create.
//! * `pull` + `long_polling`: PULL_MESSAGE and the held pulls woken by the dispatcher.
//! * `client_manager` + `client`: heartbeats, producer/consumer groups, channel expiry,
//!   NOTIFY_CONSUMER_IDS_CHANGED, consumer lists.
//! * `offsets`: consumer offsets and queue offsets.
//! * `query`: QUERY_MESSAGE, VIEW_MESSAGE_BY_ID.
//! * `admin`: topic administration and the admin requests.
//! * `registration`: REGISTER_BROKER / UNREGISTER_BROKER to the name servers.
//! * `send_back`, `rebalance_lock`, `consumer_admin`: retries/DLQ, orderly locks, consumer
//!   administration and relays to clients.
//! * `schedule`: delayed delivery, one actor per delay level.
//! * `timer`: 5.x timer messages (arbitrary delivery time), a timing wheel and timer log on
//!   disk and one delivery actor.
//! * `transaction`: END_TRANSACTION, op messages and the check-back service.
//! * `slave_sync`: on a slave, copies topics, groups and offsets from the master every 10 s.
//!   The replication itself (HA listener and client) lives in `store::ha`; the broker binds
//!   the HA port and starts it.

pub mod admin;
pub mod client;
pub mod client_manager;
pub mod config;
pub mod consumer_admin;
pub mod long_polling;
pub mod offsets;
pub mod processor;
pub mod pull;
pub mod query;
pub mod rebalance_lock;
pub mod registration;
pub mod schedule;
pub mod send;
pub mod send_back;
pub mod slave_sync;
pub mod timer;
pub mod transaction;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::{info, warn};

use crate::remoting::{self, ConnectionOptions, RejectAll, RemotingClient, ServerHandle};
use crate::rt;
use crate::store::config_files::{ConfigFiles, TopicSettings};
use crate::store::fs::Fs;
use crate::store::ha;
use crate::store::message_store::MessageStore;
use crate::store::store_config::{BrokerRole, MessageStoreConfig};

pub use config::BrokerConfig;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("store: {0}")]
    Store(#[from] crate::store::message_store::StoreError),
    #[error("config files: {0}")]
    Config(#[from] crate::store::config_files::ConfigFileError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Everything the request processors share.
pub struct BrokerInner {
    pub config: BrokerConfig,
    pub store: MessageStore,
    pub configs: ConfigFiles,
    pub clients: client_manager::ClientManager,
    pub pull_hold: long_polling::PullRequestHold,
    /// Queue locks of orderly consumers (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ).
    pub rebalance_lock: rebalance_lock::RebalanceLockManager,
    /// The address written into stored records and message ids (`brokerIP1:listenPort`).
    pub store_host: SocketAddr,
    /// Client to the name servers (and, on a slave, to the master for config sync).
    pub ns_client: RemotingClient,
    /// The HA listener's address (`brokerIP1` and the bound HA port).
    pub ha_addr: SocketAddr,
    /// On a slave: the master's broker address, as the name server answered it.
    pub master_addr: Mutex<Option<String>>,
    /// The plain ACL when `aclEnable=true`: checked before any processor runs.
    pub acl: Option<Arc<crate::acl::PlainAcl>>,
    shutdown: AtomicBool,
    servers: Mutex<Vec<ServerHandle>>,
}

impl BrokerInner {
    /// `ip:port` clients use (route data, registration).
    pub fn broker_addr(&self) -> String {
        self.store_host.to_string()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    pub fn is_slave(&self) -> bool {
        self.store.config().broker_role() == BrokerRole::Slave
    }

    /// The master's broker address (a slave's config-sync target).
    pub fn master_addr(&self) -> Option<String> {
        self.master_addr.lock().ok().and_then(|m| m.clone())
    }

    /// Record the master's broker address (from the name server's registration answer).
    pub fn set_master_addr(&self, addr: &str) {
        let addr = addr.trim();
        if addr.is_empty() {
            return;
        }
        if let Ok(mut m) = self.master_addr.lock() {
            if m.as_deref() != Some(addr) {
                info!("master broker address is now {addr}");
                *m = Some(addr.to_owned());
            }
        }
    }
}

/// The HA listener port: `haListenPort` when set to anything but its default (0 = any free
/// port), else `listenPort + 1` as 4.9.8's BrokerStartup sets it (any free port when
/// `listenPort` is 0).
pub fn ha_listen_port(config: &BrokerConfig, store: &MessageStoreConfig) -> u16 {
    let default = MessageStoreConfig::default().ha_listen_port;
    if store.ha_listen_port != default {
        store.ha_listen_port
    } else if config.listen_port == 0 {
        0
    } else {
        config.listen_port.saturating_add(1)
    }
}

/// A running broker.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<BrokerInner>,
}

impl Broker {
    /// Open the store, load the config files and start serving on `listenPort` (0 = any free
    /// port) and the fast port `listenPort - 2` (skipped when `listenPort` is 0 or < 2).
    pub async fn start(
        config: BrokerConfig,
        mut store_config: MessageStoreConfig,
        fs: Fs,
    ) -> Result<Broker, BrokerError> {
        if store_config.broker_role() == BrokerRole::Slave {
            if config.broker_id <= 0 {
                return Err(BrokerError::Invalid(
                    "a SLAVE needs brokerId > 0 (brokerId 0 is the master)".into(),
                ));
            }
            // As BrokerStartup does: a slave serves from memory less eagerly.
            store_config.access_message_in_memory_max_ratio -= 10;
        }
        let ip = config.broker_ip();
        let bind_ip: std::net::IpAddr = if config.broker_ip1.trim().is_empty() {
            std::net::IpAddr::from([0, 0, 0, 0])
        } else {
            ip
        };
        let main_bind = SocketAddr::new(bind_ip, config.listen_port);
        // Bind first: with port 0 the real port is needed for the store host.
        let listener = rt::bind(main_bind).await?;
        let port = listener.local_addr()?.port();
        let store_host = SocketAddr::new(ip, port);
        let ha_listener = rt::bind(SocketAddr::new(
            bind_ip,
            ha_listen_port(&config, &store_config),
        ))
        .await?;
        let ha_addr = SocketAddr::new(ip, ha_listener.local_addr()?.port());

        let tls_server = crate::remoting::ServerTls::from_settings(&config.tls_settings())
            .map_err(BrokerError::Invalid)?;
        let ns_tls = config.client_tls().map_err(BrokerError::Invalid)?;
        let acl = if config.acl_enable {
            let path = crate::acl::acl_file_path(&config.rocketmq_home, &config.acl_plain_file)
                .map_err(BrokerError::Invalid)?;
            let acl = rt::unblock(move || crate::acl::PlainAcl::open(path))
                .await
                .map_err(BrokerError::Invalid)?;
            acl.watch(Duration::from_millis(config.acl_watch_interval_mills));
            Some(acl)
        } else {
            None
        };

        let store_cfg = store_config.clone();
        let fs2 = fs.clone();
        let store = rt::unblock(move || MessageStore::open(store_cfg, fs2)).await?;
        let mut settings = TopicSettings::new(
            config.broker_cluster_name.clone(),
            config.broker_name.clone(),
        );
        settings.auto_create_topic_enable = config.auto_create_topic_enable;
        settings.default_topic_queue_nums = config.default_topic_queue_nums;
        settings.cluster_topic_enable = config.cluster_topic_enable;
        settings.broker_topic_enable = config.broker_topic_enable;
        settings.trace_topic_enable = config.trace_topic_enable;
        settings.trace_topic_name = config.msg_trace_topic_name.clone();
        let configs = ConfigFiles::new(&fs, &store_config.config_dir(), settings);
        configs.load_all()?;

        let opts = ConnectionOptions {
            tls_server,
            max_frame: config.frame_max_length,
            idle_timeout: Duration::from_secs(config.server_channel_max_idle_time_seconds.max(1)),
            ..Default::default()
        };
        let inner = Arc::new(BrokerInner {
            pull_hold: long_polling::PullRequestHold::new(&config),
            clients: client_manager::ClientManager::new(),
            rebalance_lock: rebalance_lock::RebalanceLockManager::new(),
            ns_client: RemotingClient::new(
                Arc::new(RejectAll),
                ConnectionOptions {
                    tls_client: ns_tls,
                    ..ConnectionOptions::default()
                },
            ),
            config,
            store,
            configs,
            store_host,
            ha_addr,
            master_addr: Mutex::new(None),
            acl,
            shutdown: AtomicBool::new(false),
            servers: Mutex::new(Vec::new()),
        });
        long_polling::attach(&inner);

        let main = remoting::serve_listener(
            listener,
            Arc::new(processor::BrokerProcessor::new(Arc::clone(&inner), false)),
            opts.clone(),
            "broker",
        )?;
        let mut servers = vec![main];
        if port >= 2 && inner.config.listen_port != 0 {
            match remoting::serve(
                SocketAddr::new(bind_ip, port - 2),
                Arc::new(processor::BrokerProcessor::new(Arc::clone(&inner), true)),
                opts,
                "broker (fast port)",
            )
            .await
            {
                Ok(s) => servers.push(s),
                Err(e) => warn!("fast port {} not available: {e}", port - 2),
            }
        }
        if let Ok(mut s) = inner.servers.lock() {
            *s = servers;
        }
        ha::master::start(ha_listener, inner.store.clone())?;
        if inner.is_slave() {
            ha::slave::start(inner.store.clone());
            slave_sync::start(&inner);
        }
        client_manager::start_housekeeping(&inner);
        offsets::start_persisting(&inner);
        schedule::start(&inner);
        timer::start(&inner).await;
        transaction::start(&inner);
        registration::start(&inner);
        info!(
            "broker {} (cluster {}, {:?}, id {}) serving on {} (HA {}) with the {} executor",
            inner.config.broker_name,
            inner.config.broker_cluster_name,
            inner.store.config().broker_role(),
            if inner.is_slave() {
                inner.config.broker_id
            } else {
                0
            },
            store_host,
            ha_addr,
            rt::executor_name()
        );
        Ok(Broker { inner })
    }

    pub fn inner(&self) -> &Arc<BrokerInner> {
        &self.inner
    }

    /// The main port's address as clients see it.
    pub fn addr(&self) -> SocketAddr {
        self.inner.store_host
    }

    pub fn store(&self) -> &MessageStore {
        &self.inner.store
    }

    /// Unregister from the name servers, stop serving, persist config files, flush and close
    /// the store (the abort file goes when everything is flushed).
    pub async fn shutdown(&self) {
        let i = &self.inner;
        if i.shutdown.swap(true, Ordering::AcqRel) {
            return;
        }
        registration::unregister_all(i).await;
        if let Ok(servers) = i.servers.lock() {
            for s in servers.iter() {
                s.stop();
            }
        }
        i.pull_hold.wake_all();
        schedule::shutdown(i).await;
        timer::shutdown(i).await;
        transaction::stop(i).await;
        if let Err(e) = i.configs.persist_all() {
            warn!("persisting config files at shutdown: {e}");
        }
        if let Some(acl) = &i.acl {
            acl.stop();
        }
        let store = i.store.clone();
        rt::unblock(move || store.shutdown()).await;
        i.ns_client.close_all();
        info!("broker {} stopped", i.config.broker_name);
    }
}
