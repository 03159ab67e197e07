//! What the broker hands the store to append (Java's `MessageExtBrokerInner` and
//! `MessageExtBatch`).

use std::net::SocketAddr;

use bytes::Bytes;

/// One message to store. `properties` is the exact properties string to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInner {
    pub topic: String,
    pub queue_id: i32,
    pub flag: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: Bytes,
    pub properties: Vec<u8>,
}

/// A SEND_BATCH_MESSAGE body to store: every entry becomes its own record with consecutive
/// queue offsets; `batch_properties` (e.g. `CLUSTER`) are appended to each entry's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInner {
    pub topic: String,
    pub queue_id: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    /// The client's batch encoding (see `apogee_codec::message::iter_batch`).
    pub body: Bytes,
    pub batch_properties: Vec<u8>,
}
