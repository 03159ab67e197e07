//! `apogee-bench`: load generator for RocketMQ 4.x-compatible brokers (see `apogee::bench`).

fn main() {
    std::process::exit(apogee::bench::main());
}
