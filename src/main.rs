//! `apogee`: the standalone node (name server + broker in one process).

fn main() {
    eprintln!(
        "apogee {}: the RocketMQ wire codec and storage engine are built; the serving node \
         (name server on 9876, broker on 10911) is not available in this build yet.",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
