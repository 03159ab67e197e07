//! The storage engine: a RocketMQ 4.9.8 byte-compatible CommitLog, ConsumeQueues and
//! IndexFiles, built by a dispatcher, with flush, recovery and expiry.

pub mod checkpoint;
pub mod commit_log;
pub mod config_files;
pub mod consume_queue;
pub mod dispatch_request;
pub mod dispatcher;
pub mod flush;
pub mod fs;
pub mod ha;
pub mod index;
pub mod mapped_file;
pub mod mapped_file_queue;
pub mod message_inner;
pub mod message_store;
pub mod results;
pub mod running_flags;
pub mod store_config;
pub mod sys;
pub mod transient_pool;

#[cfg(test)]
pub(crate) mod test_support;
