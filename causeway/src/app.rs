//! The running platform: binds the HTTP listener, serves the routes of its HTTP roles and
//! runs its background roles (relay, …) until told to stop.

use causeway_auth::Verifier;
use causeway_auth::http::authenticated;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use causeway_commands::api::{self, Admission, ApiConfig};
use causeway_event_store::CommandStore;
use causeway_infra::avro::EventCodec;
use causeway_infra::health::HealthChecker;
use causeway_infra::{InfraError, Settings, db};
use causeway_projections::registry::{self, Visitor};
use causeway_projections::{Projection, ProjectionWorker};
use causeway_read_api::ReadApiConfig;
use causeway_relay::Relay;
use causeway_sagas::{Backoff, DeadlineWatcher, Participant, ParticipantWorker, Reactor};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::http;
use crate::roles::{Role, Roles};

/// How long open connections may finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(10);
/// How long the background roles may take to stop after that.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// A built (bound, not yet serving) platform.
pub struct Application {
    listener: TcpListener,
    router: Router,
    workers: Vec<Worker>,
}

/// A background role: started with a stop signal, finishes when it turns true.
type Worker = Box<
    dyn FnOnce(watch::Receiver<bool>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send,
>;

impl Application {
    /// Every role in one process.
    pub async fn build(settings: &Settings) -> Result<Self, InfraError> {
        Self::build_with_roles(settings, &Roles::all()).await
    }

    /// Binds the configured address and wires the routes and workers of `roles`.
    /// Dependencies are reached lazily, so the server starts (and says it is not ready)
    /// while one of them is down.
    pub async fn build_with_roles(settings: &Settings, roles: &Roles) -> Result<Self, InfraError> {
        let pool = db::lazy_pool(&settings.database);
        let health = HealthChecker::new(settings, pool.clone())?;
        let address = format!("{}:{}", settings.http.host, settings.http.port);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| InfraError::Bind {
                address: address.clone(),
                source,
            })?;
        let limit = RequestBodyLimitLayer::new(settings.http.body_limit_bytes);
        let metrics = causeway_infra::metrics::install()?;
        let mut routes = http::health::routes(health)
            .merge(http::metrics::routes(metrics))
            .merge(http::openapi::routes())
            .layer(limit);
        let admission = Admission::bounded(settings.admission.max_saga_backlog);
        // Every /api/* route needs a verified caller; health, metrics and the OpenAPI
        // document stay open.
        causeway_auth::install_crypto();
        let verifier = Verifier::new(&settings.auth).map_err(|e| InfraError::InvalidSetting {
            key: "auth",
            reason: e.to_string(),
        })?;
        if roles.has(Role::CommandApi) {
            let api = command_api(settings, &pool, admission.clone());
            routes = routes.merge(authenticated(api, verifier.clone()));
        }
        if roles.has(Role::ReadApi) {
            let api =
                causeway_read_api::router(pool.clone(), ReadApiConfig::from(&settings.read_api));
            routes = routes.merge(authenticated(api, verifier));
        }
        let router = with_layers(routes, settings);
        let mut workers = workers(settings, roles, &pool)?;
        if roles.has(Role::CommandApi) && admission.is_bounded() {
            let (settings, kafka) = (settings.admission.clone(), settings.kafka.clone());
            workers.push(Box::new(move |stop| {
                Box::pin(crate::admission::run(admission, settings, kafka, stop))
            }));
        }
        Ok(Self {
            listener,
            router,
            workers,
        })
    }

    /// The port actually bound (settings may ask for 0).
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight and stops the
    /// background roles.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let mut running = JoinSet::new();
        for worker in self.workers {
            running.spawn(worker(stopped.clone()));
        }
        tracing::info!(port = self.listener.local_addr()?.port(), "serving HTTP");
        let (requested, shutting_down) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            shutdown.await;
            let _ = requested.send(());
        };
        let serving = axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown);
        // Connections get `DRAIN` to finish once shutdown starts; one left open (a client
        // holding a keep-alive connection) must not keep the roles from stopping.
        let served = tokio::select! {
            served = serving => served,
            () = async {
                let _ = shutting_down.await;
                tokio::time::sleep(DRAIN).await;
            } => {
                tracing::warn!(drain = ?DRAIN, "connections still open after the drain; closing them");
                Ok(())
            }
        };
        let _ = stop.send(true);
        let stopping = async { while running.join_next().await.is_some() {} };
        if tokio::time::timeout(STOP_WAIT, stopping).await.is_err() {
            tracing::warn!(wait = ?STOP_WAIT, "background roles still running; leaving them");
        }
        served
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

fn with_layers(router: Router, settings: &Settings) -> Router {
    let timeout = Duration::from_millis(settings.http.request_timeout_ms);
    router
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // Failures are logged once, where they happen (the API's error mapping), with their
        // cause chain; the trace layer would log every 5xx a second time.
        .layer(TraceLayer::new_for_http().on_failure(()))
        // Outermost: counts every answer, the timeout's 408 included.
        .layer(axum::middleware::from_fn(http::metrics::track))
}

/// The command API. It enforces `http.body_limit_bytes` itself, so that its 413 is
/// problem+json like its other errors: it is merged outside the `RequestBodyLimitLayer`.
fn command_api(settings: &Settings, pool: &PgPool, admission: Admission) -> Router {
    let store = CommandStore::from_settings(pool.clone(), &settings.event_store);
    let mut config = ApiConfig::new(settings.http.body_limit_bytes);
    config.order_timeout = Duration::from_millis(settings.sagas.order_timeout_ms);
    config.admission = admission;
    api::router(store, pool.clone(), config)
}

fn workers(settings: &Settings, roles: &Roles, pool: &PgPool) -> Result<Vec<Worker>, InfraError> {
    let mut workers: Vec<Worker> = Vec::new();
    if roles.has(Role::Relay) {
        let codec =
            EventCodec::new(&settings.registry).map_err(|e| InfraError::Registry(e.to_string()))?;
        let relay = Relay::new(
            &settings.relay,
            &settings.kafka,
            &settings.database,
            pool.clone(),
            codec,
        );
        workers.push(Box::new(move |stop| Box::pin(relay.run(stop))));
    }
    if roles.has(Role::Projections) {
        let codec =
            EventCodec::new(&settings.registry).map_err(|e| InfraError::Registry(e.to_string()))?;
        registry::for_each(&mut ProjectionWorkers {
            settings,
            pool,
            codec: &codec,
            workers: &mut workers,
        });
    }
    if roles.has(Role::Sagas) {
        workers.extend(saga_workers(settings, pool)?);
    }
    Ok(workers)
}

/// Adds one worker (its own consumer group) per projection of the registry.
struct ProjectionWorkers<'a> {
    settings: &'a Settings,
    pool: &'a PgPool,
    codec: &'a EventCodec,
    workers: &'a mut Vec<Worker>,
}

impl Visitor for ProjectionWorkers<'_> {
    fn visit<P: Projection>(&mut self, projection: P, _tables: &'static [&'static str]) {
        let worker = ProjectionWorker::new(
            &self.settings.kafka,
            &self.settings.telemetry,
            self.pool.clone(),
            self.codec.clone(),
            projection,
        );
        self.workers
            .push(Box::new(move |stop| Box::pin(worker.run(stop))));
    }
}

/// The configured saga participants, and the deadline watcher when the order participant
/// runs here.
fn saga_workers(settings: &Settings, pool: &PgPool) -> Result<Vec<Worker>, InfraError> {
    let store = CommandStore::from_settings(pool.clone(), &settings.event_store);
    let backoff = Backoff::from_settings(&settings.sagas);
    let mut workers: Vec<Worker> = Vec::new();
    for name in &settings.sagas.participants {
        let participant: Participant =
            name.parse().map_err(|reason| InfraError::InvalidSetting {
                key: "sagas.participants",
                reason,
            })?;
        let codec =
            EventCodec::new(&settings.registry).map_err(|e| InfraError::Registry(e.to_string()))?;
        let reactor = Reactor::new(store.clone(), pool.clone(), participant.name(), backoff);
        if participant == Participant::Order {
            let poll = Duration::from_millis(settings.sagas.deadline_poll_ms);
            let watcher = DeadlineWatcher::new(pool.clone(), reactor.clone(), poll);
            workers.push(Box::new(move |stop| Box::pin(watcher.run(stop))));
        }
        let worker = ParticipantWorker::new(
            participant,
            &settings.kafka,
            &settings.sagas,
            &settings.telemetry,
            codec,
            reactor,
        );
        workers.push(Box::new(move |stop| Box::pin(worker.run(stop))));
    }
    Ok(workers)
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
