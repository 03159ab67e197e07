//! `NamesrvConfig`: the name server's settings under the property names of RocketMQ 4.9.8
//! (`NamesrvConfig` plus the `NettyServerConfig` keys a `namesrv.conf` may carry), with their
//! Java defaults. A few 5.x keys that change behaviour here are accepted too.
//!
//! Keys kept only so that existing config files load and `-p` / GET_NAMESRV_CONFIG show what
//! Java shows (thread counts, socket buffer sizes, …) have no effect: the async transport has
//! no such knobs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::config_struct;

/// `${user.home}`, as Java resolves it (`.` when `HOME` is unset).
fn home() -> String {
    std::env::var("HOME").unwrap_or_else(|_| ".".into())
}

fn default_kv_config_path() -> String {
    format!("{}/namesrv/kvConfig.json", home())
}

fn default_config_store_path() -> String {
    format!("{}/namesrv/namesrv.properties", home())
}

config_struct! {
    /// Name server settings (Java `NamesrvConfig` + `NettyServerConfig`).
    pub struct NamesrvConfig {
        /// `ROCKETMQ_HOME`; informational only (Java reads its logback config from there).
        rocketmq_home: String = std::env::var("ROCKETMQ_HOME").unwrap_or_default() => "rocketmqHome",
        /// Where the KV config table is persisted.
        kv_config_path: String = default_kv_config_path() => "kvConfigPath",
        /// Where UPDATE_NAMESRV_CONFIG persists the merged settings (the `-c` file when one
        /// is given, as in Java).
        config_store_path: String = default_config_store_path() => "configStorePath",
        /// Used only by Java's cluster-test mode.
        product_env_name: String = "center".into() => "productEnvName",
        /// Java's cluster-test processor (route look-ups forwarded to another environment).
        /// Not supported: logged and ignored.
        cluster_test: bool = false => "clusterTest",
        /// Fill `orderTopicConf` of routes from KV namespace `ORDER_TOPIC_CONFIG`.
        order_message_enable: bool = false => "orderMessageEnable",
        /// `;`-separated keys UPDATE_NAMESRV_CONFIG may not change (on top of the built-in
        /// `configBlackList`, `configStorePath`, `kvConfigPath`, `rocketmqHome`).
        config_black_list: String = "configBlackList;configStorePath;kvConfigPath".into() => "configBlackList",
        /// 5.x: answer GET_ALL_TOPIC_LIST_FROM_NAMESERVER (SYSTEM_ERROR "disable" when false).
        enable_all_topic_list: bool = true => "enableAllTopicList",
        /// 5.x: a master's registration drops the topics it no longer lists (4.9.8 never
        /// drops them while the broker lives).
        delete_topic_with_broker_registration: bool = false => "deleteTopicWithBrokerRegistration",
        /// How often silent brokers are looked for, ms (4.9.8: 10 s; 5.x: 5 s).
        scan_not_active_broker_interval: u64 = 10_000 => "scanNotActiveBrokerInterval",
        /// Address to bind (5.x `NettyServerConfig.bindAddress`).
        bind_address: String = "0.0.0.0".into() => "bindAddress",
        /// The port clients and brokers connect to.
        listen_port: u16 = 9876 => "listenPort",
        server_worker_threads: i32 = 8 => "serverWorkerThreads",
        server_callback_executor_threads: i32 = 0 => "serverCallbackExecutorThreads",
        server_selector_threads: i32 = 3 => "serverSelectorThreads",
        server_oneway_semaphore_value: i32 = 256 => "serverOnewaySemaphoreValue",
        server_async_semaphore_value: i32 = 64 => "serverAsyncSemaphoreValue",
        /// A connection that sends nothing for this long is closed.
        server_channel_max_idle_time_seconds: u64 = 120 => "serverChannelMaxIdleTimeSeconds",
        server_socket_snd_buf_size: i32 = 0 => "serverSocketSndBufSize",
        server_socket_rcv_buf_size: i32 = 0 => "serverSocketRcvBufSize",
        write_buffer_high_water_mark: i32 = 0 => "writeBufferHighWaterMark",
        write_buffer_low_water_mark: i32 = 0 => "writeBufferLowWaterMark",
        server_socket_backlog: i32 = 1024 => "serverSocketBacklog",
        server_pooled_byte_buf_allocator_enable: bool = true => "serverPooledByteBufAllocatorEnable",
        use_epoll_native_selector: bool = false => "useEpollNativeSelector",
        /// TLS on the listening ports: `disabled`, `permissive` (TLS and plaintext, Java's
        /// default) or `enforcing` (see `remoting::tls`).
        tls_server_mode: String = "permissive".into() => "tls.server.mode",
        /// PEM certificate chain of the server (leaf first).
        tls_server_cert_path: String = String::new() => "tls.server.certPath",
        /// PEM private key of the server (unencrypted).
        tls_server_key_path: String = String::new() => "tls.server.keyPath",
        /// Encrypted keys are not supported: must stay empty.
        tls_server_key_password: String = String::new() => "tls.server.keyPassword",
        /// `none`, `optional` or `require`: ask clients for a certificate.
        tls_server_need_client_auth: String = "none".into() => "tls.server.need.client.auth",
        /// PEM roots client certificates are verified against.
        tls_server_trust_cert_path: String = String::new() => "tls.server.trustCertPath",
    }
}

impl NamesrvConfig {
    /// The `tls.server.*` keys.
    pub fn tls_settings(&self) -> crate::remoting::tls::ServerTlsSettings {
        crate::remoting::tls::ServerTlsSettings {
            mode: self.tls_server_mode.clone(),
            cert_path: self.tls_server_cert_path.clone(),
            key_path: self.tls_server_key_path.clone(),
            key_password: self.tls_server_key_password.clone(),
            need_client_auth: self.tls_server_need_client_auth.clone(),
            trust_cert_path: self.tls_server_trust_cert_path.clone(),
        }
    }

    /// Keys UPDATE_NAMESRV_CONFIG refuses to change: the built-in ones plus `configBlackList`.
    pub fn black_list(&self) -> Vec<String> {
        let mut keys: Vec<String> = [
            "configBlackList",
            "configStorePath",
            "kvConfigPath",
            "rocketmqHome",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for k in self.config_black_list.split(';') {
            let k = k.trim();
            if !k.is_empty() && !keys.iter().any(|x| x == k) {
                keys.push(k.to_owned());
            }
        }
        keys
    }

    /// The socket address to listen on (`bindAddress:listenPort`); an unparsable bind address
    /// is an error naming the key.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        let ip: IpAddr = if self.bind_address.trim().is_empty() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            self.bind_address.trim().parse().map_err(|_| {
                format!(
                    "config key 'bindAddress': {:?} is not an IP address",
                    self.bind_address
                )
            })?
        };
        Ok(SocketAddr::new(ip, self.listen_port))
    }
}
