//! The running platform: binds the public and management HTTP listeners, serves the routes
//! of its HTTP roles and runs its background roles (relay, …) until told to stop.
//!
//! The public listener carries `/api/*` (behind authentication and rate limits), the
//! OpenAPI document and a yes/no `/health/*`; the management listener carries `/metrics` and
//! the detailed `/health/ready`. Layers of the public router, outermost first: sensitive
//! `Authorization` (never logged), request metrics, CORS, tracing, the request timeout; the
//! `/api/*` routers add load shedding (`http.max_in_flight`, then 503) and authentication.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use causeway_auth::http::{Gate, authenticated};
use causeway_auth::{RateLimits, Verifier};
use causeway_commands::api::{self, Admission, ApiConfig};
use causeway_event_store::CommandStore;
use causeway_infra::avro::EventCodec;
use causeway_infra::health::HealthChecker;
use causeway_infra::problem::problem_response;
use causeway_infra::{InfraError, Settings, db};
use causeway_projections::registry::{self, Visitor};
use causeway_projections::{Projection, ProjectionWorker};
use causeway_read_api::ReadApiConfig;
use causeway_relay::Relay;
use causeway_sagas::{Backoff, DeadlineWatcher, Participant, ParticipantWorker, Reactor};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::http;
use crate::http::health::Detail;
use crate::http::server::{self, ConnectionLimits};
use crate::roles::{Role, Roles};

/// How long open connections may finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(10);
/// How long the background roles may take to stop after that.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// A built (bound, not yet serving) platform.
pub struct Application {
    listener: TcpListener,
    router: Router,
    management: TcpListener,
    management_router: Router,
    limits: ConnectionLimits,
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
        let listener = bind(&settings.http.host, settings.http.port).await?;
        let management_host = settings
            .http
            .management_host
            .as_deref()
            .unwrap_or(&settings.http.host);
        let management = bind(management_host, settings.http.management_port).await?;
        let metrics = causeway_infra::metrics::install()?;
        let management_router = http::health::routes(health.clone(), Detail::Full)
            .merge(http::metrics::routes(metrics))
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
            ]));
        let limit = RequestBodyLimitLayer::new(settings.http.body_limit_bytes);
        let mut routes = http::health::routes(health, Detail::Summary)
            .merge(http::openapi::routes())
            .layer(limit);
        let admission = Admission::bounded(settings.admission.max_saga_backlog);
        // Every /api/* route needs a verified caller within its quota, and past
        // `max_in_flight` API requests at once (both APIs together) the next is answered 503
        // at once. Health and the OpenAPI document stay outside both, so a busy process is
        // not restarted.
        let gate = gate(settings)?;
        let in_flight = Arc::new(Semaphore::new(settings.http.max_in_flight));
        if roles.has(Role::CommandApi) {
            let api = command_api(settings, &pool, admission.clone());
            routes = routes.merge(shed(authenticated(api, gate.clone()), &in_flight));
        }
        if roles.has(Role::ReadApi) {
            let api =
                causeway_read_api::router(pool.clone(), ReadApiConfig::from(&settings.read_api));
            routes = routes.merge(shed(authenticated(api, gate), &in_flight));
        }
        let router = with_layers(routes, settings)?;
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
            management,
            management_router,
            limits: ConnectionLimits {
                header_read_timeout: Duration::from_millis(settings.http.header_read_timeout_ms),
                max_connections: settings.http.max_connections,
                drain: DRAIN,
            },
            workers,
        })
    }

    /// The public port actually bound (settings may ask for 0).
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// The management port actually bound.
    pub fn management_port(&self) -> u16 {
        self.management
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
        tracing::info!(
            port = self.listener.local_addr()?.port(),
            management_port = self.management.local_addr()?.port(),
            "serving HTTP"
        );
        let (requested, shutting_down) = watch::channel(false);
        let shutdown = async move {
            shutdown.await;
            let _ = requested.send(true);
        };
        let stopped_serving = |mut signal: watch::Receiver<bool>| async move {
            let _ = signal.wait_for(|stopping| *stopping).await;
        };
        let public = server::serve(
            self.listener,
            self.router,
            self.limits,
            stopped_serving(shutting_down.clone()),
        );
        let management = server::serve(
            self.management,
            self.management_router,
            self.limits,
            stopped_serving(shutting_down),
        );
        tokio::join!(shutdown, public, management);
        let _ = stop.send(true);
        let stopping = async { while running.join_next().await.is_some() {} };
        if tokio::time::timeout(STOP_WAIT, stopping).await.is_err() {
            tracing::warn!(wait = ?STOP_WAIT, "background roles still running; leaving them");
        }
        Ok(())
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

async fn bind(host: &str, port: u16) -> Result<TcpListener, InfraError> {
    let address = format!("{host}:{port}");
    TcpListener::bind(&address)
        .await
        .map_err(|source| InfraError::Bind { address, source })
}

/// What `/api/*` checks callers with: the token verifier and the rate limits.
fn gate(settings: &Settings) -> Result<Gate, InfraError> {
    causeway_auth::install_crypto();
    let verifier = Verifier::new(&settings.auth).map_err(|e| InfraError::InvalidSetting {
        key: "auth",
        reason: e.to_string(),
    })?;
    let limits =
        RateLimits::new(&settings.rate_limit).map_err(|reason| InfraError::InvalidSetting {
            key: "rate_limit",
            reason,
        })?;
    Ok(Gate { verifier, limits })
}

/// `router` with load shedding: while every permit of `in_flight` is held, a request is
/// answered 503 (`overloaded`) at once instead of waiting.
fn shed(router: Router, in_flight: &Arc<Semaphore>) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                overloaded()
            }))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::with_semaphore(
                in_flight.clone(),
            )),
    )
}

fn with_layers(router: Router, settings: &Settings) -> Result<Router, InfraError> {
    let timeout = Duration::from_millis(settings.http.request_timeout_ms);
    let router = router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // Failures are logged once, where they happen (the API's error mapping), with their
        // cause chain; the trace layer would log every 5xx a second time.
        .layer(TraceLayer::new_for_http().on_failure(()));
    let router = match cors(&settings.http.cors_allowed_origins)? {
        Some(cors) => router.layer(cors),
        None => router,
    };
    Ok(router
        // Counts every answer, the timeout's 408 and the shed 503 included.
        .layer(axum::middleware::from_fn(http::metrics::track))
        // Outermost: `Authorization` is marked sensitive before anything could log it.
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ])))
}

/// The answer to a request shed because `http.max_in_flight` are being handled.
fn overloaded() -> Response {
    let mut response = problem_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "the server is handling as many requests as it may; retry shortly".to_owned(),
        None,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// CORS for the listed origins; none listed: no CORS headers, so browsers refuse
/// cross-origin calls.
fn cors(origins: &[String]) -> Result<Option<CorsLayer>, InfraError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|origin| {
            HeaderValue::from_str(origin).map_err(|_| InfraError::InvalidSetting {
                key: "http.cors_allowed_origins",
                reason: format!("`{origin}` is not a valid origin"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-correlation-id"),
                HeaderName::from_static("traceparent"),
            ])
            .expose_headers([
                header::LOCATION,
                header::RETRY_AFTER,
                HeaderName::from_static("x-consistency-token"),
                HeaderName::from_static("idempotent-replayed"),
            ])
            .max_age(Duration::from_secs(600)),
    ))
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
