//! The remoting transport: connections, the server, the client.

pub mod client;
pub mod connection;
pub mod server;

pub use client::{RejectAll, RemotingClient};
pub use connection::{Connection, ConnectionOptions, Handler, Outgoing, RemotingError, Reply};
pub use server::{serve, serve_listener, ServerHandle};

#[cfg(test)]
mod tests;
