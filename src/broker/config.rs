//! `BrokerConfig` under RocketMQ 4.9.8's property names, and loading `broker.conf` (which mixes
//! broker and store keys).

use std::net::IpAddr;

use log::warn;

use crate::config_struct;
use crate::store::store_config::MessageStoreConfig;

fn default_broker_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "broker-a".into())
}

config_struct! {
    /// Broker settings (Java's `BrokerConfig` and `NettyServerConfig` keys).
    pub struct BrokerConfig {
        rocketmq_home: String = String::new() => "rocketmqHome",
        namesrv_addr: String = String::new() => "namesrvAddr",
        /// Empty: detected (a non-loopback local address, else 127.0.0.1).
        broker_ip1: String = String::new() => "brokerIP1",
        broker_ip2: String = String::new() => "brokerIP2",
        broker_name: String = default_broker_name() => "brokerName",
        broker_cluster_name: String = "DefaultCluster".into() => "brokerClusterName",
        broker_id: i64 = 0 => "brokerId",
        listen_port: u16 = 10911 => "listenPort",
        broker_permission: i32 = 6 => "brokerPermission",
        default_topic_queue_nums: i32 = 8 => "defaultTopicQueueNums",
        auto_create_topic_enable: bool = true => "autoCreateTopicEnable",
        cluster_topic_enable: bool = true => "clusterTopicEnable",
        broker_topic_enable: bool = true => "brokerTopicEnable",
        auto_create_subscription_group: bool = true => "autoCreateSubscriptionGroup",
        trace_topic_enable: bool = false => "traceTopicEnable",
        msg_trace_topic_name: String = "RMQ_SYS_TRACE_TOPIC".into() => "msgTraceTopicName",
        long_polling_enable: bool = true => "longPollingEnable",
        short_polling_time_mills: u64 = 1000 => "shortPollingTimeMills",
        notify_consumer_ids_changed_enable: bool = true => "notifyConsumerIdsChangedEnable",
        transfer_msg_by_heap: bool = true => "transferMsgByHeap",
        slave_read_enable: bool = false => "slaveReadEnable",
        flush_consumer_offset_interval: u64 = 5000 => "flushConsumerOffsetInterval",
        reject_transaction_message: bool = false => "rejectTransactionMessage",
        transaction_time_out: u64 = 6000 => "transactionTimeOut",
        transaction_check_max: i32 = 15 => "transactionCheckMax",
        transaction_check_interval: u64 = 60_000 => "transactionCheckInterval",
        register_name_server_period: u64 = 30_000 => "registerNameServerPeriod",
        register_broker_timeout_mills: u64 = 6000 => "registerBrokerTimeoutMills",
        force_register: bool = true => "forceRegister",
        compressed_register: bool = false => "compressedRegister",
        broker_fast_failure_enable: bool = true => "brokerFastFailureEnable",
        enable_property_filter: bool = false => "enablePropertyFilter",
        acl_enable: bool = false => "aclEnable",
        /// The plain ACL file, relative to `rocketmqHome` unless absolute (Java's system
        /// property of the same name).
        acl_plain_file: String = "conf/plain_acl.yml".into() => "rocketmq.acl.plain.file",
        /// How often the ACL file is checked for changes (Java polls every 5 s).
        acl_watch_interval_mills: u64 = 5000 => "aclWatchIntervalMills",
        store_reply_message_enable: bool = true => "storeReplyMessageEnable",
        server_channel_max_idle_time_seconds: u64 = 120 => "serverChannelMaxIdleTimeSeconds",
        region_id: String = "DefaultRegion".into() => "regionId",
        trace_on: bool = true => "traceOn",
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
        /// Talk to the name servers over TLS (Java's client-side `tls.enable`).
        tls_enable: bool = false => "tls.enable",
        /// PEM roots the name servers' certificates must chain to (needed with `tls.enable`).
        tls_client_trust_cert_path: String = String::new() => "tls.client.trustCertPath",
        /// PEM certificate chain the broker presents to name servers that ask for one.
        tls_client_cert_path: String = String::new() => "tls.client.certPath",
        /// PEM private key of `tls.client.certPath`.
        tls_client_key_path: String = String::new() => "tls.client.keyPath",
        /// Largest frame accepted (`com.rocketmq.remoting.frameMaxLength`).
        frame_max_length: usize = 16 * 1024 * 1024 => "frameMaxLength",
    }
}

impl BrokerConfig {
    /// The client side of `tls.enable`: `None` for plaintext.
    pub fn client_tls(&self) -> Result<Option<std::sync::Arc<crate::remoting::ClientTls>>, String> {
        if !self.tls_enable {
            return Ok(None);
        }
        let trust = self.tls_client_trust_cert_path.trim();
        if trust.is_empty() {
            return Err("tls.enable=true needs tls.client.trustCertPath (name server certificates are always verified)".into());
        }
        let (cert, key) = (
            self.tls_client_cert_path.trim(),
            self.tls_client_key_path.trim(),
        );
        let identity = if cert.is_empty() || key.is_empty() {
            None
        } else {
            Some((std::path::Path::new(cert), std::path::Path::new(key)))
        };
        crate::remoting::ClientTls::from_files(std::path::Path::new(trust), identity).map(Some)
    }

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

    /// The address clients reach the broker on (`brokerIP1`).
    pub fn broker_ip(&self) -> IpAddr {
        if let Ok(ip) = self.broker_ip1.trim().parse() {
            return ip;
        }
        detect_local_ip().unwrap_or(IpAddr::from([127, 0, 0, 1]))
    }

    /// `namesrvAddr` (or `NAMESRV_ADDR`), split on `;`.
    pub fn name_servers(&self) -> Vec<String> {
        let raw = if self.namesrv_addr.trim().is_empty() {
            std::env::var("NAMESRV_ADDR").unwrap_or_default()
        } else {
            self.namesrv_addr.clone()
        };
        raw.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// `registerNameServerPeriod` clamped to [10 s, 60 s] as Java does.
    pub fn register_period_ms(&self) -> u64 {
        self.register_name_server_period.clamp(10_000, 60_000)
    }
}

/// A non-loopback local address: the source address the kernel would use for an outside
/// destination (no packet is sent).
pub fn detect_local_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// Apply `broker.conf` properties to both configs. Unknown keys are logged and ignored
/// (returned); an ill-typed value is an error naming the key.
pub fn apply_properties(
    text: &str,
    broker: &mut BrokerConfig,
    store: &mut MessageStoreConfig,
) -> Result<Vec<String>, String> {
    let mut unknown = Vec::new();
    for (k, v) in apogee_codec::body::properties::parse(text) {
        let known_b = broker.set(&k, &v)?;
        let known_s = store.set(&k, &v)?;
        if !known_b && !known_s {
            if k.starts_with("maped") {
                warn!(
                    "config key '{k}' is the pre-4.6 spelling and is ignored (as 4.9.8 does); \
                     use '{}'",
                    k.replacen("maped", "mapped", 1)
                );
            } else {
                warn!("unknown config key '{k}' ignored");
            }
            unknown.push(k);
        }
    }
    Ok(unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_conf_mixes_broker_and_store_keys() {
        let mut b = BrokerConfig::default();
        let mut s = MessageStoreConfig::default();
        let text = "brokerClusterName=C1\nbrokerName = broker-x\nlistenPort=40911\n\
                    flushDiskType=SYNC_FLUSH\nmapedFileSizeCommitLog=1024\nwhatever=1\n\
                    # comment\nnamesrvAddr=127.0.0.1:9876;127.0.0.2:9876\n";
        let unknown = apply_properties(text, &mut b, &mut s).unwrap();
        assert_eq!(b.broker_cluster_name, "C1");
        assert_eq!(b.broker_name, "broker-x");
        assert_eq!(b.listen_port, 40911);
        assert_eq!(s.flush_disk_type, "SYNC_FLUSH");
        assert_eq!(
            s.mapped_file_size_commit_log,
            1 << 30,
            "old spelling ignored"
        );
        assert_eq!(unknown, vec!["mapedFileSizeCommitLog", "whatever"]);
        assert_eq!(b.name_servers().len(), 2);
        let e = apply_properties("listenPort=abc", &mut b, &mut s).unwrap_err();
        assert!(e.contains("listenPort"));
        assert_eq!(b.register_period_ms(), 30_000);
    }

    #[test]
    fn slave_broker_conf_and_the_ha_port() {
        use crate::store::store_config::BrokerRole;
        let mut b = BrokerConfig::default();
        let mut s = MessageStoreConfig::default();
        let text = "brokerName=broker-a\nbrokerId=1\nbrokerRole=SLAVE\nlistenPort=20911\n\
                    haMasterAddress=10.0.0.1:10912\nslaveReadEnable=true\n\
                    haTransferBatchSize=65536\nhaSendHeartbeatInterval=1000\n\
                    haHousekeepingInterval=9000\nhaSlaveFallbehindMax=1024\nslaveTimeout=500\n";
        let unknown = apply_properties(text, &mut b, &mut s).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(s.broker_role(), BrokerRole::Slave);
        assert_eq!(b.broker_id, 1);
        assert!(b.slave_read_enable);
        assert_eq!(s.ha_master_address, "10.0.0.1:10912");
        assert_eq!(
            (s.ha_transfer_batch_size, s.ha_send_heartbeat_interval),
            (65536, 1000)
        );
        assert_eq!(
            (
                s.ha_housekeeping_interval,
                s.ha_slave_fallbehind_max,
                s.slave_timeout
            ),
            (9000, 1024, 500)
        );
        // Default haListenPort: listenPort + 1, as 4.9.8 sets it.
        assert_eq!(crate::broker::ha_listen_port(&b, &s), 20912);
        // Set explicitly: used as given.
        apply_properties("haListenPort=30000", &mut b, &mut s).unwrap();
        assert_eq!(crate::broker::ha_listen_port(&b, &s), 30000);
        // listenPort 0 (any free port) with the default HA port: any free port too.
        let (b0, s0) = (
            BrokerConfig {
                listen_port: 0,
                ..Default::default()
            },
            MessageStoreConfig::default(),
        );
        assert_eq!(crate::broker::ha_listen_port(&b0, &s0), 0);
    }
}
