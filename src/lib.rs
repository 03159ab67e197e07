//! Apogee: a RocketMQ-compatible name server and broker.

pub mod store;
