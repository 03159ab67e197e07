//! `apogee`: a standalone node — a name server and a broker in one process.
//!
//! ```text
//! apogee [-c broker.conf] [--store DIR] [--namesrv-port N] [--broker-port N] [--broker-ip IP] [-p]
//! ```
//!
//! Defaults: name server on 9876, broker on 10911 (fast port 10909), store in `./apogee-data`,
//! `autoCreateTopicEnable=true`. The broker registers with the embedded name server.
//! `-c` takes Java's `broker.conf` keys. Logging follows `RUST_LOG` (default `info`).
//! SIGINT/SIGTERM shut down cleanly (flush, checkpoint, unregister).

use std::process::exit;

use apogee::broker::config::apply_properties;
use apogee::broker::{Broker, BrokerConfig};
use apogee::namesrv::{NameServer, NamesrvConfig};
use apogee::store::fs::Fs;
use apogee::store::store_config::MessageStoreConfig;

const USAGE: &str = "usage: apogee [-c broker.conf] [--store DIR] [--namesrv-port N] \
[--broker-port N] [--broker-ip IP] [-p]";

struct Args {
    conf: Option<String>,
    store: Option<String>,
    namesrv_port: Option<u16>,
    broker_port: Option<u16>,
    broker_ip: Option<String>,
    print: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        conf: None,
        store: None,
        namesrv_port: None,
        broker_port: None,
        broker_ip: None,
        print: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-c" | "--config" => a.conf = Some(val("-c")?),
            "--store" => a.store = Some(val("--store")?),
            "--namesrv-port" => {
                a.namesrv_port = Some(
                    val("--namesrv-port")?
                        .parse()
                        .map_err(|_| "--namesrv-port: not a port".to_owned())?,
                )
            }
            "--broker-port" => {
                a.broker_port = Some(
                    val("--broker-port")?
                        .parse()
                        .map_err(|_| "--broker-port: not a port".to_owned())?,
                )
            }
            "--broker-ip" => a.broker_ip = Some(val("--broker-ip")?),
            "-p" | "--printConfigItem" => a.print = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn main() {
    apogee::signals::block_termination_signals();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            exit(2);
        }
    };
    let mut broker = BrokerConfig {
        broker_name: "broker-a".into(),
        ..Default::default()
    };
    let mut store = MessageStoreConfig {
        store_path_root_dir: "./apogee-data".into(),
        ..Default::default()
    };
    if let Some(path) = &args.conf {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("apogee: cannot read {path}: {e}");
                exit(1);
            }
        };
        if let Err(e) = apply_properties(&text, &mut broker, &mut store) {
            eprintln!("apogee: {path}: {e}");
            exit(1);
        }
    }
    if let Some(s) = args.store {
        store.store_path_root_dir = s;
        store.store_path_commit_log = String::new();
    }
    if let Some(p) = args.broker_port {
        broker.listen_port = p;
    }
    if let Some(ip) = args.broker_ip {
        broker.broker_ip1 = ip;
    }
    let root = std::path::PathBuf::from(&store.store_path_root_dir);
    let mut ns = NamesrvConfig {
        kv_config_path: root
            .join("namesrv/kvConfig.json")
            .to_string_lossy()
            .into_owned(),
        config_store_path: root
            .join("namesrv/namesrv.properties")
            .to_string_lossy()
            .into_owned(),
        ..Default::default()
    };
    if let Some(p) = args.namesrv_port {
        ns.listen_port = p;
    }
    if let Err(e) = store.validate() {
        eprintln!("apogee: {e}");
        exit(1);
    }
    if args.print {
        for (k, v) in ns
            .to_properties()
            .into_iter()
            .chain(broker.to_properties())
            .chain(store.to_properties())
        {
            println!("{k}={v}");
        }
        return;
    }
    let code = apogee::rt::block_on(async move {
        let started = std::time::Instant::now();
        let ns = match NameServer::start(ns).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("apogee: name server cannot start: {e}");
                return 1;
            }
        };
        let ns_addr = ns.local_addr();
        if broker.name_servers().is_empty() {
            broker.namesrv_addr = format!("127.0.0.1:{}", ns_addr.port());
        }
        let b = match Broker::start(broker, store, Fs::real()).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("apogee: broker cannot start: {e}");
                ns.shutdown();
                return 1;
            }
        };
        println!(
            "apogee {} ready in {} ms: name server on {}, broker {} on {} (store {})",
            env!("CARGO_PKG_VERSION"),
            started.elapsed().as_millis(),
            ns_addr,
            b.inner().config.broker_name,
            b.addr(),
            root.display()
        );
        println!(
            "clients connect with namesrvAddr=127.0.0.1:{} (Java: -Drocketmq.namesrv.addr=..., \
             or the NAMESRV_ADDR environment variable)",
            ns_addr.port()
        );
        let _ = apogee::signals::termination().await;
        b.shutdown().await;
        ns.shutdown();
        0
    });
    exit(code);
}
