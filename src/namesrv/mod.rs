//! The name server: a drop-in replacement for RocketMQ 4.9.8's `mqnamesrv`.
//!
//! * [`RouteInfoManager`]: brokers, clusters and topic routes (registration, expiry, look-ups);
//! * [`KvConfigManager`]: the persisted namespace → key → value table;
//! * [`NamesrvProcessor`]: the remoting [`Handler`](crate::remoting::Handler) answering every
//!   name-server request code;
//! * [`NameServer`]: all of it bound to a port, with the task expiring silent brokers.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use apogee::namesrv::{NameServer, NamesrvConfig};
//! let mut config = NamesrvConfig::default();
//! config.listen_port = 9876;
//! let ns = NameServer::start(config).await?;
//! println!("name server on {}", ns.local_addr());
//! ns.shutdown();
//! # Ok(()) }
//! ```

pub mod config;
pub mod kv_config;
pub mod processor;
pub mod route_info;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use config::NamesrvConfig;
pub use kv_config::{KvConfigManager, NAMESPACE_ORDER_TOPIC_CONFIG};
pub use processor::NamesrvProcessor;
pub use route_info::{BrokerRegistration, RegisterBrokerResult, RouteInfoManager};

use crate::remoting::{serve, ConnectionOptions, ServerHandle};
use crate::rt;

/// A running name server. Dropping it does not stop it; call [`NameServer::shutdown`].
pub struct NameServer {
    processor: Arc<NamesrvProcessor>,
    server: ServerHandle,
    stop_scan: async_channel::Sender<()>,
}

impl std::fmt::Debug for NameServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NameServer({})", self.server.local_addr())
    }
}

impl NameServer {
    /// Load the KV config, bind `bindAddress:listenPort` and start serving and expiring
    /// silent brokers.
    pub async fn start(config: NamesrvConfig) -> io::Result<NameServer> {
        Self::start_with(config, BTreeMap::new()).await
    }

    /// [`start`](Self::start), also keeping the config file's properties that are not
    /// `NamesrvConfig` keys (GET_NAMESRV_CONFIG shows them, as Java does).
    pub async fn start_with(
        config: NamesrvConfig,
        extra_properties: BTreeMap<String, String>,
    ) -> io::Result<NameServer> {
        let addr = config
            .listen_addr()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if config.cluster_test {
            log::warn!("clusterTest=true is not supported: serving as a normal name server");
        }
        let kv_path = config.kv_config_path.clone();
        let kv = rt::unblock(move || KvConfigManager::load(kv_path))
            .await
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let routes = Arc::new(RouteInfoManager::new());
        let processor = Arc::new(NamesrvProcessor::new(
            config.clone(),
            extra_properties,
            Arc::clone(&routes),
            Arc::new(kv),
        ));
        let tls_server = crate::remoting::ServerTls::from_settings(&config.tls_settings())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let opts = ConnectionOptions {
            idle_timeout: Duration::from_secs(config.server_channel_max_idle_time_seconds.max(1)),
            tls_server,
            ..ConnectionOptions::default()
        };
        let server = serve(addr, processor.clone(), opts, "name server").await?;
        let (stop_scan, stopped) = async_channel::bounded(1);
        let interval = Duration::from_millis(config.scan_not_active_broker_interval.max(100));
        rt::spawn(scan_loop(routes, interval, stopped));
        Ok(NameServer {
            processor,
            server,
            stop_scan,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn route_info(&self) -> &Arc<RouteInfoManager> {
        self.processor.routes()
    }

    pub fn kv_config(&self) -> &Arc<KvConfigManager> {
        self.processor.kv()
    }

    pub fn processor(&self) -> &Arc<NamesrvProcessor> {
        &self.processor
    }

    /// The current settings (UPDATE_NAMESRV_CONFIG may have changed them).
    pub fn config(&self) -> NamesrvConfig {
        self.processor.config()
    }

    /// Stop accepting, stop the expiry task and close every connection.
    pub fn shutdown(&self) {
        self.server.stop();
        self.stop_scan.close();
        self.processor.close_all_connections();
        log::info!("name server on {} shut down", self.local_addr());
    }
}

/// Every `interval` (the first time after at most 5 s, as Java), drop brokers that stopped
/// registering. Ends when `stop` is closed.
async fn scan_loop(
    routes: Arc<RouteInfoManager>,
    interval: Duration,
    stop: async_channel::Receiver<()>,
) {
    let mut wait = interval.min(Duration::from_secs(5));
    loop {
        if rt::timeout(wait, stop.recv()).await.is_some() {
            break;
        }
        let removed = routes.scan_not_active_brokers();
        if !removed.is_empty() {
            log::warn!("expired brokers removed: {removed:?}");
        }
        wait = interval;
    }
    log::debug!("broker expiry task stopped");
}
