//! `mqbroker`: the broker alone, with Java's flags: `-n namesrvAddr`, `-c broker.conf`,
//! `-p` (print the effective configuration and exit).

use apogee::broker::config::apply_properties;
use apogee::broker::{Broker, BrokerConfig};
use apogee::store::fs::Fs;
use apogee::store::store_config::MessageStoreConfig;

fn usage() -> ! {
    eprintln!("usage: mqbroker [-c broker.conf] [-n namesrvAddr] [-p]");
    std::process::exit(2);
}

fn main() {
    apogee::signals::block_termination_signals();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut broker = BrokerConfig::default();
    let mut store = MessageStoreConfig::default();
    let mut print = false;
    let mut namesrv = None;
    let mut conf = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-c" | "--configFile" => conf = Some(args.next().unwrap_or_else(|| usage())),
            "-n" | "--namesrvAddr" => namesrv = Some(args.next().unwrap_or_else(|| usage())),
            "-p" | "--printConfigItem" => print = true,
            "-h" | "--help" => usage(),
            other => {
                eprintln!("mqbroker: unknown option {other}");
                usage();
            }
        }
    }
    if let Some(path) = conf {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("mqbroker: cannot read {path}: {e}");
                std::process::exit(1);
            }
        };
        if let Err(e) = apply_properties(&text, &mut broker, &mut store) {
            eprintln!("mqbroker: {path}: {e}");
            std::process::exit(1);
        }
    }
    if let Some(n) = namesrv {
        broker.namesrv_addr = n;
    }
    if let Err(e) = store.validate() {
        eprintln!("mqbroker: {e}");
        std::process::exit(1);
    }
    if print {
        for (k, v) in broker
            .to_properties()
            .into_iter()
            .chain(store.to_properties())
        {
            println!("{k}={v}");
        }
        return;
    }
    let code = apogee::rt::block_on(async move {
        let b = match Broker::start(broker, store, Fs::real()).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("mqbroker: cannot start: {e}");
                return 1;
            }
        };
        println!(
            "The broker[{}] boot success. serving on {} (HA on {})",
            b.inner().config.broker_name,
            b.addr(),
            b.inner().ha_addr
        );
        let _ = apogee::signals::termination().await;
        b.shutdown().await;
        0
    });
    std::process::exit(code);
}
