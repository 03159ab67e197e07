//! Apogee: a RocketMQ-compatible name server and broker.

pub mod acl;
pub mod bench;
pub mod broker;
pub mod config_macro;
pub mod crashloop;
pub mod filter;
pub mod namesrv;
pub mod remoting;
pub mod rt;
pub mod signals;
pub mod store;
