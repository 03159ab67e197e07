//! `mqnamesrv`: the Apogee name server on its own, with the command line of RocketMQ's
//! `mqnamesrv`:
//!
//! ```text
//! mqnamesrv [-c <file>] [-p] [-n <addr>] [-h]
//! ```
//!
//! * `-c, --configFile <file>`: a properties file of `NamesrvConfig` / `NettyServerConfig`
//!   keys; unknown keys are logged and ignored, a value of the wrong type is an error naming
//!   the key. As in Java, UPDATE_NAMESRV_CONFIG then persists to that file.
//! * `-p, --printConfigItem`: print the effective settings (`key=value`) and exit.
//! * `-n, --namesrvAddr <addr>`: accepted and ignored, as Java's `mqnamesrv` does.
//! * `-h, --help`: usage.
//!
//! Logging follows `RUST_LOG` (default `info`). SIGINT and SIGTERM shut the server down
//! cleanly.

use std::collections::BTreeMap;
use std::process::exit;
use std::time::Duration;

use apogee::namesrv::{NameServer, NamesrvConfig};
use apogee::rt;

const USAGE: &str = "usage: mqnamesrv [-c <file>] [-h] [-n <addr>] [-p]
 -c,--configFile <arg>      Name server config properties file
 -h,--help                  Print help
 -n,--namesrvAddr <arg>     Name server address list (accepted and ignored)
 -p,--printConfigItem       Print all config items";

#[derive(Debug, Default)]
struct Args {
    config_file: Option<String>,
    print_config: bool,
    help: bool,
}

/// Parse the command line; `Err` is the message for a usage error.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut out = Args::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value_of = |name: &str, inline: Option<&str>| -> Result<String, String> {
            match inline {
                Some(v) if !v.is_empty() => Ok(v.to_owned()),
                _ => it
                    .next()
                    .ok_or_else(|| format!("Missing argument for option: {name}")),
            }
        };
        match arg.as_str() {
            "-c" | "--configFile" => out.config_file = Some(value_of("c", None)?),
            "-n" | "--namesrvAddr" => {
                let addr = value_of("n", None)?;
                log::info!("-n {addr} ignored (the name server does not use it)");
            }
            "-p" | "--printConfigItem" => out.print_config = true,
            "-h" | "--help" => out.help = true,
            a if a.starts_with("-c") && a.len() > 2 => {
                out.config_file = Some(value_of("c", a.get(2..))?)
            }
            a if a.starts_with("--configFile=") => {
                out.config_file = Some(value_of("c", a.get("--configFile=".len()..))?)
            }
            a if a.starts_with("-n") && a.len() > 2 => {
                let addr = value_of("n", a.get(2..))?;
                log::info!("-n {addr} ignored (the name server does not use it)");
            }
            a if a.starts_with('-') => return Err(format!("Unrecognized option: {a}")),
            a => return Err(format!("Unexpected argument: {a}")),
        }
    }
    Ok(out)
}

/// Apply a properties file to `config`; returns the keys it does not know.
fn load_config_file(
    path: &str,
    config: &mut NamesrvConfig,
) -> Result<BTreeMap<String, String>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read config file {path}: {e}"))?;
    let mut extra = BTreeMap::new();
    for (k, v) in apogee_codec::body::properties::parse_bytes(&bytes) {
        match config.set(&k, &v) {
            Ok(true) => {}
            Ok(false) => {
                log::warn!("config file {path}: unknown key '{k}' ignored");
                extra.insert(k, v);
            }
            Err(e) => return Err(format!("config file {path}: {e}")),
        }
    }
    // As Java: updates made over the network are persisted to the file the server started
    // with.
    config.config_store_path = path.to_owned();
    Ok(extra)
}

fn main() {
    apogee::signals::block_termination_signals();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();

    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("{USAGE}");
            exit(1);
        }
    };
    if args.help {
        println!("{USAGE}");
        exit(0);
    }

    let mut config = NamesrvConfig::default();
    let mut extra = BTreeMap::new();
    if let Some(path) = &args.config_file {
        match load_config_file(path, &mut config) {
            Ok(e) => extra = e,
            Err(e) => {
                eprintln!("mqnamesrv: {e}");
                exit(1);
            }
        }
        println!("load config properties file OK, {path}");
    }

    if args.print_config {
        for (k, v) in config.to_properties() {
            println!("{k}={v}");
        }
        exit(0);
    }

    let code = rt::block_on(async move {
        let ns = match NameServer::start_with(config, extra).await {
            Ok(ns) => ns,
            Err(e) => {
                eprintln!("mqnamesrv: cannot start the name server: {e}");
                return 1;
            }
        };
        println!(
            "The Name Server boot success. serializeType=JSON, listening on {} ({} executor)",
            ns.local_addr(),
            rt::executor_name()
        );
        let _ = apogee::signals::termination().await;
        log::info!("signal received: shutting down");
        ns.shutdown();
        // Let the connection tasks see the close.
        rt::sleep(Duration::from_millis(100)).await;
        0
    });
    exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Args, String> {
        parse_args(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn command_line() {
        let a = args(&["-c", "ns.conf", "-p"]).unwrap();
        assert_eq!(a.config_file.as_deref(), Some("ns.conf"));
        assert!(a.print_config);
        assert_eq!(
            args(&["-cns.conf"]).unwrap().config_file.as_deref(),
            Some("ns.conf")
        );
        assert!(args(&["-n", "127.0.0.1:9876"]).is_ok());
        assert!(args(&["-h"]).unwrap().help);
        assert!(args(&["-x"]).unwrap_err().contains("-x"));
        assert!(args(&["-c"]).is_err());
        assert!(args(&["stray"]).is_err());
    }

    #[test]
    fn config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ns.conf");
        std::fs::write(
            &path,
            "listenPort=9999\norderMessageEnable=true\nmystery=1\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let mut c = NamesrvConfig::default();
        let extra = load_config_file(p, &mut c).unwrap();
        assert_eq!(c.listen_port, 9999);
        assert!(c.order_message_enable);
        assert_eq!(c.config_store_path, p);
        assert_eq!(extra.get("mystery").map(String::as_str), Some("1"));
        std::fs::write(&path, "listenPort=abc\n").unwrap();
        let e = load_config_file(p, &mut NamesrvConfig::default()).unwrap_err();
        assert!(e.contains("listenPort"), "{e}");
    }
}
