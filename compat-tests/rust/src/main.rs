//! Compatibility scenarios for the Rust RocketMQ clients, one scenario per process:
//!
//!     rust-compat <client> <scenario> <namesrv addr> <broker addr[,broker addr...]>
//!
//! `<client>` is `rust` (crates.io `rocketmq-client-rust =1.0.0`) or `v4` (crates.io
//! `rocketmq-client-v4 =0.4.2`). Prints `RESULT ok` or `RESULT fail <why>` and leaves with
//! `process::exit` right after, so a client that hangs in its shutdown cannot change the verdict.
mod admin;
mod common;
mod rust_client;
mod v4_client;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        println!("RESULT fail usage: rust-compat <rust|v4> <scenario> <namesrv> <brokers>");
        std::process::exit(2);
    }
    let ctx = common::Ctx {
        namesrv: args[3].clone(),
        brokers: args[4].split(',').map(str::to_string).collect(),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            println!("RESULT fail tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let scenario = args[2].clone();
    let outcome = rt.block_on(async move {
        let fut = async {
            match args[1].as_str() {
                "rust" => rust_client::run(&scenario, &ctx).await,
                "v4" => v4_client::run(&scenario, &ctx).await,
                other => Err(format!("unknown client {other}")),
            }
        };
        match tokio::time::timeout(std::time::Duration::from_secs(170), fut).await {
            Ok(r) => r,
            Err(_) => Err("scenario timed out after 170s".to_string()),
        }
    });
    match outcome {
        Ok(()) => println!("RESULT ok"),
        Err(why) => println!("RESULT fail {}", why.replace('\n', " ")),
    }
    std::process::exit(0);
}
