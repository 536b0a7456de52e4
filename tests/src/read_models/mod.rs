//! The read-model tests' stack: a database of its own, the relay as a process, the five
//! projection workers (orders, customers, payments, notifications, saga timeline) in the test
//! process and the HTTP API; and a fixed saga sequence run through it.
//!
//! - this module: [`Stack`] (start it, speak HTTP to it, wait for what it projects) and the
//!   small readers of JSON answers and tables the tests share;
//! - [`workers`]: the projection workers, stopped and restarted by the re-delivery test;
//! - [`saga_run`]: [`Stack::run_sagas`], the three orders whose outcomes the tests read back;
//! - [`saga_sequence`]: what every read model must show after that run, one step a read model.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

pub mod saga_run;
pub mod saga_sequence;
pub mod workers;

use std::time::Duration;

use causeway_event_store::CommandStore;
use causeway_infra::Settings;
use chrono::{DateTime, FixedOffset};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::process::RoleProcess;
use crate::relay_support::isolated_relay_settings;
use crate::{TestApp, TestDatabase, eventually};
pub use saga_run::SagaRun;
pub use workers::Workers;

/// How long the read-model tests wait for anything to be projected.
pub const WAIT: Duration = Duration::from_secs(90);

/// A database, the relay, the projection workers and the HTTP API.
pub struct Stack {
    /// The stack's own database.
    pub db: TestDatabase,
    /// Its settings (isolated topics and relay).
    pub settings: Settings,
    /// The HTTP API (command and read roles) in this process.
    pub app: TestApp,
    /// The command store, for the steps only saga participants take.
    pub store: CommandStore,
    /// The projection workers in this process.
    pub workers: Workers,
    _relay: RoleProcess,
}

impl Stack {
    /// A new database, the relay process, the workers and the API.
    pub async fn start() -> Self {
        let db = TestDatabase::migrated().await;
        let settings = isolated_relay_settings(&db.settings, 100);
        let relay = RoleProcess::start("relay", &settings);
        let workers = Workers::start(&settings, &db.pool);
        let app = TestApp::spawn(settings.clone()).await;
        let store = CommandStore::new(db.pool.clone(), 100);
        Self {
            db,
            settings,
            app,
            store,
            workers,
            _relay: relay,
        }
    }

    /// Registers a customer named Ada Lovelace with `email`; answers its id.
    pub async fn register(&self, email: &str) -> String {
        let body = json!({"name": "Ada Lovelace", "email": email, "credit_limit_cents": 100_000, "currency": "EUR"});
        let answer = self.post("/api/customers", body, None).await;
        assert_eq!(answer.0, 201, "{answer:?}");
        text(&answer.1["customer_id"])
    }

    /// Places an order of one unit of `sku`; answers its id and version.
    pub async fn place(&self, customer: &str, sku: &str, trace: Option<&str>) -> (String, u64) {
        let lines = json!([{"sku": sku, "quantity": 1, "unit_price_cents": 100}]);
        let body = json!({"customer_id": customer, "currency": "EUR", "lines": lines});
        let answer = self.post("/api/orders", body, trace).await;
        assert_eq!(answer.0, 202, "{answer:?}");
        (
            text(&answer.1["order_id"]),
            answer.1["version"].as_u64().unwrap(),
        )
    }

    /// Places an order of `lines` in `trace`; answers its id.
    pub async fn place_lines(&self, customer: &str, lines: Value, trace: &str) -> String {
        let body = json!({"customer_id": customer, "currency": "EUR", "lines": lines});
        let answer = self.post("/api/orders", body, Some(trace)).await;
        assert_eq!(answer.0, 202, "{answer:?}");
        text(&answer.1["order_id"])
    }

    /// POSTs `body` to `path`, in `trace` if given; answers status and JSON body.
    pub async fn post(&self, path: &str, body: Value, trace: Option<&str>) -> (u16, Value) {
        let mut request = self
            .app
            .client
            .post(format!("{}{path}", self.app.address))
            .json(&body);
        if let Some(trace) = trace {
            request = request.header("traceparent", saga_run::traceparent(trace));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// GETs `path`; answers status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.app.get(path).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// GETs `path`, asserting a 200; answers the JSON body.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// Waits until `order`'s saga timeline has `steps` steps; answers them.
    pub async fn wait_for_timeline(&self, order: &str, steps: usize) -> Vec<Value> {
        eventually(WAIT, &format!("{steps} steps of {order}"), || async {
            let (status, body) = self.get(&format!("/api/orders/{order}/saga")).await;
            let found = body["steps"].as_array().cloned().unwrap_or_default();
            (status == 200 && found.len() >= steps).then_some(found)
        })
        .await
    }

    /// Waits until the orders read model holds `n` orders.
    pub async fn wait_for_orders(&self, n: i64) {
        eventually(WAIT, &format!("{n} orders projected"), || async {
            (count(&self.db.pool, "orders").await >= n).then_some(())
        })
        .await;
    }
}

/// The JSON string `value` (panics on anything else).
pub fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_owned()
}

/// The RFC 3339 time in the JSON string `value`.
pub fn time(value: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(&text(value)).unwrap()
}

/// The number of rows of `table`.
pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}
