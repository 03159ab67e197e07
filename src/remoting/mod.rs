//! The remoting transport: connections, the server, the client.

pub mod client;
pub mod connection;
pub mod server;
pub mod tls;

pub use client::{RejectAll, RemotingClient};
pub use connection::{Connection, ConnectionOptions, Handler, Outgoing, RemotingError, Reply};
pub use server::{serve, serve_listener, ServerHandle};
pub use tls::{ClientTls, ServerTls, TlsMode};

#[cfg(test)]
mod tests;
