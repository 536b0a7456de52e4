//! The running platform: binds the HTTP listener and serves every route until told to stop.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use causeway_infra::health::HealthChecker;
use causeway_infra::{InfraError, Settings, db};
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::http;

/// A built (bound, not yet serving) platform.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Binds the configured address and wires the routes. Dependencies are reached lazily,
    /// so the server starts (and says it is not ready) while one of them is down.
    pub async fn build(settings: &Settings) -> Result<Self, InfraError> {
        let pool = db::lazy_pool(&settings.database);
        let health = HealthChecker::new(settings, pool)?;
        let address = format!("{}:{}", settings.http.host, settings.http.port);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| InfraError::Bind {
                address: address.clone(),
                source,
            })?;
        let timeout = Duration::from_millis(settings.http.request_timeout_ms);
        let router = http::health::routes(health)
            .layer(RequestBodyLimitLayer::new(settings.http.body_limit_bytes))
            .layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                timeout,
            ))
            .layer(TraceLayer::new_for_http());
        Ok(Self { listener, router })
    }

    /// The port actually bound (settings may ask for 0).
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(port = self.port(), "serving HTTP");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Completes on Ctrl-C or SIGTERM (what Kubernetes sends before killing a pod).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
