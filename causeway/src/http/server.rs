//! The listener loop ([`serve`]): HTTP/1.1 connections through hyper, with what
//! `axum::serve` lacks for a public edge: a header-read timeout (a client that opens a
//! connection and sends its headers slowly, or never, is cut off), a cap on open connections,
//! the peer address in every request (`ConnectInfo`, which the per-address rate limit keys
//! on), and a graceful shutdown that gives open connections a bounded drain.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use causeway_infra::metrics::HTTP_CONNECTIONS_REFUSED;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How one listener treats its connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A connection must send a request's complete headers within this long of opening (or
    /// of its previous response).
    pub header_read_timeout: Duration,
    /// Most connections open at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// How long open connections may finish once shutdown starts.
    pub drain: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets open
/// connections finish their requests for up to `limits.drain`, and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // keep serving the others.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!(HTTP_CONNECTIONS_REFUSED).increment(1);
            tracing::debug!(%peer, "connection limit reached; closing");
            continue;
        };
        let connection = builder.serve_connection(
            TokioIo::new(nodelay(stream)),
            hyper::service::service_fn(handler(router.clone(), peer)),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // Header-read timeouts, resets, malformed requests: the client's business.
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(drain = ?limits.drain, "connections still open after the drain; closing them");
    }
}

/// Each request of a connection from `peer`: through `router`, with the peer recorded.
fn handler(
    router: Router,
    peer: SocketAddr,
) -> impl Fn(hyper::Request<Incoming>) -> tower::util::Oneshot<Router, hyper::Request<Incoming>> + Clone
{
    move |mut request| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    }
}

fn nodelay(stream: TcpStream) -> TcpStream {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "TCP_NODELAY not set");
    }
    stream
}
