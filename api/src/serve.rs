//! Serving the app on a TCP socket, with graceful shutdown.
//!
//! Binding is separate from serving so that a caller can bind port 0 and learn the port
//! before requests arrive (tests do; so can a supervisor).

use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::{Endpoint, Server};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Binds `address` (`host:port`; port 0 picks a free one).
pub async fn bind(address: impl Into<String>) -> io::Result<TcpAcceptor> {
    TcpListener::bind(address.into()).into_acceptor().await
}

/// The address an acceptor listens on.
pub fn local_addr(acceptor: &TcpAcceptor) -> Option<SocketAddr> {
    acceptor.local_addr().first().and_then(|addr| addr.as_socket_addr().copied())
}

/// Serves `endpoint` until `shutdown` completes, then stops accepting connections and lets
/// requests in flight finish for at most `grace` before dropping them.
pub async fn serve<E>(
    acceptor: TcpAcceptor,
    endpoint: E,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()>
where
    E: Endpoint + 'static,
{
    Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(endpoint, shutdown, Some(grace)).await?;
    tracing::info!("http server stopped");
    Ok(())
}
