//! Shared harness for the integration tests: start a real broker (and name server) on
//! 127.0.0.1 with port 0 and a temporary store, and talk to it with raw frames.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use apogee::broker::{Broker, BrokerConfig};
use apogee::remoting::{ConnectionOptions, RejectAll, RemotingClient};
use apogee::rt;
use apogee::store::fs::Fs;
use apogee::store::store_config::MessageStoreConfig;
use apogee_codec::RemotingCommand;

/// A broker on a temporary store.
pub struct TestBroker {
    pub broker: Broker,
    pub dir: tempfile::TempDir,
}

/// Small files so tests roll files quickly; no name server unless `namesrv` is given.
pub fn configs(
    dir: &std::path::Path,
    namesrv: Option<SocketAddr>,
) -> (BrokerConfig, MessageStoreConfig) {
    let mut b = BrokerConfig {
        broker_ip1: "127.0.0.1".into(),
        listen_port: 0,
        broker_name: "broker-test".into(),
        ..Default::default()
    };
    if let Some(ns) = namesrv {
        b.namesrv_addr = ns.to_string();
    }
    let s = MessageStoreConfig {
        store_path_root_dir: dir.to_string_lossy().into_owned(),
        mapped_file_size_commit_log: 4 * 1024 * 1024,
        mapped_file_size_consume_queue: 20 * 1000,
        max_hash_slot_num: 1000,
        max_index_num: 4000,
        warm_maped_file_enable: false,
        // Tests must not depend on how full the host's disk is.
        disk_max_used_space_ratio: 95,
        disk_space_warning_level_ratio: 100,
        disk_space_clean_forcibly_ratio: 100,
        ..Default::default()
    };
    (b, s)
}

pub fn start_broker_with(
    b: BrokerConfig,
    s: MessageStoreConfig,
    dir: tempfile::TempDir,
) -> TestBroker {
    let broker = rt::block_on(Broker::start(b, s, Fs::real())).expect("broker starts");
    TestBroker { broker, dir }
}

pub fn start_broker() -> TestBroker {
    let dir = tempfile::tempdir().expect("temp dir");
    let (b, s) = configs(dir.path(), None);
    start_broker_with(b, s, dir)
}

impl TestBroker {
    pub fn addr(&self) -> SocketAddr {
        self.broker.addr()
    }

    pub fn stop(self) {
        rt::block_on(self.broker.shutdown());
    }
}

/// A raw client.
pub fn client() -> RemotingClient {
    RemotingClient::new(Arc::new(RejectAll), ConnectionOptions::default())
}

/// Send `cmd` and wait at most 10 s for the answer.
pub fn call(c: &RemotingClient, addr: SocketAddr, cmd: RemotingCommand) -> RemotingCommand {
    rt::block_on(c.invoke(addr, cmd, Duration::from_secs(10))).expect("response")
}
