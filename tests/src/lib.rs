//! Helpers for Causeway's black-box tests, which run against the real stack started by
//! `scripts/stack up` (Postgres, Kafka, the schema registry, Jaeger).
//!
//! Every test gets its own database (`causeway_test_<uuid>`), topic names and consumer
//! groups, so tests run in parallel without seeing each other. `scripts/test` drops the
//! databases of earlier runs.
//!
//! Layout: this file holds what every test uses (settings, a migrated [`TestDatabase`], the
//! platform in-process as a [`TestApp`], [`eventually`], ports and the binary's path);
//! [`process`] is the one way to run a role as a `causeway serve` child process; the other
//! modules serve one area of tests each: [`command_api`] (`command_api_*`), [`event_store`]
//! (`event_store_*`), [`read_models`] (`read_models_*`), [`relay_support`] (relay, projection
//! and rebuild tests), [`shop`] (saga tests), [`bench`] (the bench binaries).

pub mod bench;
pub mod command_api;
pub mod event_store;
pub mod process;
pub mod read_models;
pub mod relay_support;
pub mod shop;
pub mod tokens;

use std::path::PathBuf;
use std::time::Duration;

use causeway::app::Application;
use causeway::roles::{Role, Roles};
use causeway_infra::{Settings, db};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::oneshot;
use uuid::Uuid;

/// Settings as the binary would read them (defaults + `CAUSEWAY_…` environment), but for
/// the `admin` role's rate limit, which is off: the tests drive the platform as `admin` as
/// fast as they like (`tests/tests/edge.rs` checks the quotas).
pub fn settings() -> Settings {
    let mut settings = Settings::load(None).expect("settings load");
    settings
        .rate_limit
        .per_role_per_minute
        .insert("admin".to_owned(), 0);
    settings
}

/// A worker of `projection` on `pool`, built from `settings` as `causeway serve` builds it.
pub fn projection_worker<P: causeway_projections::Projection>(
    settings: &Settings,
    pool: &PgPool,
    projection: P,
) -> causeway_projections::ProjectionWorker<P> {
    let codec = causeway_infra::avro::EventCodec::new(&settings.registry).expect("codec");
    causeway_projections::ProjectionWorker::new(
        &settings.kafka,
        &settings.telemetry,
        pool.clone(),
        codec,
        projection,
    )
}

/// A unique, readable name: `prefix-<uuid>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

/// Where Jaeger's query API answers.
pub fn jaeger_query_url() -> String {
    std::env::var("CAUSEWAY_TEST_JAEGER_QUERY_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:16686".to_owned())
}

/// A fresh, migrated database of its own, and settings that point at it.
pub struct TestDatabase {
    /// Settings whose `database.database_name` is this database.
    pub settings: Settings,
    /// A pool on it.
    pub pool: PgPool,
}

impl TestDatabase {
    /// Creates an empty database (no migrations applied).
    pub async fn empty() -> Self {
        let mut settings = settings();
        let name = format!("causeway_test_{}", Uuid::new_v4().simple());
        let admin = PgPoolOptions::new()
            .max_connections(1)
            // Many tests start at once on a busy machine.
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(settings.database.connect_options())
            .await
            .expect("connect to the configured database to create a test database");
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        settings.database.database_name = name;
        let pool = db::connect(&settings.database)
            .await
            .expect("connect to test database");
        Self { settings, pool }
    }

    /// Creates a database with every migration applied.
    pub async fn migrated() -> Self {
        let database = Self::empty().await;
        db::migrate(&database.pool)
            .await
            .expect("migrate test database");
        database
    }
}

/// The platform running in this test process on a free port.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// `http://127.0.0.1:<management port>`: `/metrics` and the detailed `/health/ready`.
    pub management: String,
    /// An HTTP client for it, sending an `admin` bearer token ([`tokens`]).
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Builds and serves the platform with `settings` (the port is forced to 0).
    /// Background roles (relay, consumers) are started by the tests that need them, with
    /// settings of their own.
    pub async fn spawn(settings: Settings) -> Self {
        Self::spawn_with_roles(settings, &Roles::only([Role::CommandApi, Role::ReadApi])).await
    }

    /// Builds and serves the platform running `roles` (both ports are forced to 0).
    pub async fn spawn_with_roles(mut settings: Settings, roles: &Roles) -> Self {
        settings.http.port = 0;
        settings.http.management_port = 0;
        let app = Application::build_with_roles(&settings, roles)
            .await
            .expect("build application");
        let address = format!("http://127.0.0.1:{}", app.port());
        let management = format!("http://127.0.0.1:{}", app.management_port());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        let client = tokens::admin_client().await;
        Self {
            address,
            management,
            client,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops serving and waits until every background role has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// GET `path` on the app.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request to the app")
    }

    /// GET `path` on the app's management listener (no token).
    pub async fn get_management(&self, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}{path}", self.management))
            .send()
            .await
            .expect("request to the management listener")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Polls `probe` every 200 ms until it returns `Some`, or panics after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `causeway` binary built alongside these tests (`cargo test --workspace` builds it):
/// beside the running executable (a bench binary) or one level up (a test in `deps/`), unless
/// `CAUSEWAY_TEST_BINARY` names another (a benchmark comparing two builds).
pub fn causeway_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CAUSEWAY_TEST_BINARY") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let beside = exe.parent().map(|dir| dir.join("causeway"));
    let above = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("causeway"));
    match [beside, above]
        .into_iter()
        .flatten()
        .find(|path| path.exists())
    {
        Some(path) => path,
        None => panic!(
            "the causeway binary is not built: run `cargo build -p causeway` (or `cargo test --workspace`)"
        ),
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; a server binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// Waits up to 30 s for the server at `base` to answer `/health/live` with success.
pub async fn wait_until_live(client: &reqwest::Client, base: &str) {
    eventually(
        Duration::from_secs(30),
        &format!("{base} to listen"),
        || async {
            let live = client.get(format!("{base}/health/live")).send().await;
            live.ok().filter(|r| r.status().is_success()).map(|_| ())
        },
    )
    .await;
}

/// Registers a customer with ample EUR credit through the command API at `base`; answers
/// its id.
pub async fn register_customer(client: &reqwest::Client, base: &str, name: &str) -> String {
    let body = serde_json::json!({"name": name, "email": format!("{}@example.com", unique("c")),
                                  "credit_limit_cents": 1_000_000_000_i64, "currency": "EUR"});
    let answer: serde_json::Value = client
        .post(format!("{base}/api/customers"))
        .json(&body)
        .send()
        .await
        .expect("POST /api/customers")
        .json()
        .await
        .expect("a JSON answer");
    answer["customer_id"]
        .as_str()
        .expect("customer_id in the answer")
        .to_owned()
}
