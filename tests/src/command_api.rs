//! Helpers of the HTTP command API tests (`command_api_*`): the app on a database of its own,
//! requests to it, its answers, and the bodies the tests send.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{TestApp, TestDatabase};

/// The app on a fresh, migrated database of its own.
pub struct Api {
    /// The app, serving the command and read APIs in this process.
    pub app: TestApp,
    /// Its database.
    pub db: TestDatabase,
}

/// One answer: status, headers, JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The JSON body (`Null` when empty or not JSON).
    pub body: Value,
}

impl Answer {
    /// The `content-type` header (empty if none).
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with `status` and `code`; answers its `field` member.
    pub fn assert_problem(&self, status: StatusCode, code: &str) -> Option<String> {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.content_type(), "application/problem+json", "{self:?}");
        assert_eq!(self.body["code"], code, "{self:?}");
        assert_eq!(self.body["status"], status.as_u16(), "{self:?}");
        self.body["field"].as_str().map(str::to_owned)
    }
}

impl Api {
    /// The app with the default settings on a new database.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// The app on a new database, with settings changed by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut causeway_infra::Settings)) -> Self {
        let db = TestDatabase::migrated().await;
        let mut settings = db.settings.clone();
        adjust(&mut settings);
        let app = TestApp::spawn(settings).await;
        Self { app, db }
    }

    /// The app's database pool.
    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    /// POSTs `body` as JSON to `path`.
    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.post_with(path, body, &[]).await
    }

    /// POSTs `body` as JSON to `path` with extra `headers`.
    pub async fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
        let mut request = self
            .app
            .client
            .post(format!("{}{path}", self.app.address))
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send().await.unwrap()).await
    }

    /// POSTs `body` as is, with `content_type`.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<String>,
    ) -> Answer {
        let response = self
            .app
            .client
            .post(format!("{}{path}", self.app.address))
            .header("content-type", content_type)
            .body(body.into())
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// Registers Ada ([`customer_body`]), asserting a 201; answers her id.
    pub async fn register_customer(&self) -> String {
        let answer = self.post("/api/customers", &customer_body()).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        answer.body["customer_id"].as_str().unwrap().to_owned()
    }

    /// Places [`order_body`] for `customer_id`, asserting a 202; answers the order id.
    pub async fn place_order(&self, customer_id: &str) -> String {
        let answer = self.post("/api/orders", &order_body(customer_id)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
        answer.body["order_id"].as_str().unwrap().to_owned()
    }

    /// How many events are stored.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(self.pool())
            .await
            .unwrap()
    }

    /// `(sequence, event_type)` of one aggregate's events.
    pub async fn events_of(&self, aggregate_id: &str) -> Vec<(i64, String)> {
        sqlx::query_as(
            "SELECT sequence, event_type FROM events WHERE aggregate_id = $1 ORDER BY sequence",
        )
        .bind(aggregate_id)
        .fetch_all(self.pool())
        .await
        .unwrap()
    }
}

/// Reads `response` into an [`Answer`].
pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// A registration of Ada Lovelace with 1000.00 EUR of credit.
pub fn customer_body() -> Value {
    json!({
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "credit_limit_cents": 100_000,
        "currency": "EUR",
    })
}

/// An order of two lines (2 × tea-1 at 4.50, 1 × cup-2 at 12.00) for `customer_id`.
pub fn order_body(customer_id: &str) -> Value {
    json!({
        "customer_id": customer_id,
        "currency": "EUR",
        "lines": [
            {"sku": "tea-1", "quantity": 2, "unit_price_cents": 450},
            {"sku": "cup-2", "quantity": 1, "unit_price_cents": 1200},
        ],
    })
}

/// An id nothing has: a new uuid.
pub fn unknown_id() -> String {
    Uuid::new_v4().to_string()
}
