//! `apogee-crashloop`: SIGKILL the node under load and check that no acknowledged message is
//! lost (see `apogee::crashloop`).

fn main() {
    std::process::exit(apogee::crashloop::main());
}
