//! The HTTP command API, black-box: requests to the real app, assertions on its answers and
//! on the `events` table of a fresh database.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use causeway_domain::{Currency, Customer, CustomerCommand, Money, OrderId};
use causeway_event_store::{CommandMetadata, CommandStore};
use causeway_tests::{TestApp, TestDatabase};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// The app on a fresh, migrated database of its own.
struct Api {
    app: TestApp,
    db: TestDatabase,
}

/// One answer: status, headers, JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with `status` and `code`; answers its `field` member.
    fn assert_problem(&self, status: StatusCode, code: &str) -> Option<String> {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.content_type(), "application/problem+json", "{self:?}");
        assert_eq!(self.body["code"], code, "{self:?}");
        assert_eq!(self.body["status"], status.as_u16(), "{self:?}");
        self.body["field"].as_str().map(str::to_owned)
    }
}

impl Api {
    async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    async fn spawn_with(adjust: impl FnOnce(&mut causeway_infra::Settings)) -> Self {
        let db = TestDatabase::migrated().await;
        let mut settings = db.settings.clone();
        adjust(&mut settings);
        let app = TestApp::spawn(settings).await;
        Self { app, db }
    }

    fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.post_with(path, body, &[]).await
    }

    async fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
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

    async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<String>) -> Answer {
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

    async fn register_customer(&self) -> String {
        let answer = self.post("/api/customers", &customer_body()).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        answer.body["customer_id"].as_str().unwrap().to_owned()
    }

    async fn place_order(&self, customer_id: &str) -> String {
        let answer = self.post("/api/orders", &order_body(customer_id)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
        answer.body["order_id"].as_str().unwrap().to_owned()
    }

    async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(self.pool())
            .await
            .unwrap()
    }

    /// `(sequence, event_type)` of one aggregate's events.
    async fn events_of(&self, aggregate_id: &str) -> Vec<(i64, String)> {
        sqlx::query_as(
            "SELECT sequence, event_type FROM events WHERE aggregate_id = $1 ORDER BY sequence",
        )
        .bind(aggregate_id)
        .fetch_all(self.pool())
        .await
        .unwrap()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
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

fn customer_body() -> Value {
    json!({
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "credit_limit_cents": 100_000,
        "currency": "EUR",
    })
}

fn order_body(customer_id: &str) -> Value {
    json!({
        "customer_id": customer_id,
        "currency": "EUR",
        "lines": [
            {"sku": "tea-1", "quantity": 2, "unit_price_cents": 450},
            {"sku": "cup-2", "quantity": 1, "unit_price_cents": 1200},
        ],
    })
}

fn unknown_id() -> String {
    Uuid::new_v4().to_string()
}

// ---------------------------------------------------------------- success paths

#[tokio::test]
async fn registering_a_customer_answers_201_with_its_id_and_version_1() {
    let api = Api::spawn().await;
    let answer = api.post("/api/customers", &customer_body()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
    assert_eq!(answer.content_type(), "application/json");
    assert_eq!(answer.body["version"], 1);
    assert_eq!(answer.header("x-consistency-token"), Some("1"));
    let id = answer.body["customer_id"].as_str().unwrap();
    assert!(Uuid::parse_str(id).is_ok(), "{id}");
    assert_eq!(
        api.events_of(id).await,
        vec![(1, "CustomerRegistered".to_owned())]
    );
}

#[tokio::test]
async fn changing_a_credit_limit_answers_200_with_the_next_version() {
    let api = Api::spawn().await;
    let id = api.register_customer().await;
    let path = format!("/api/customers/{id}/credit-limit");
    let answer = api
        .post(&path, &json!({"credit_limit_cents": 250_000}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body, json!({"customer_id": id, "version": 2}));
    assert_eq!(answer.header("x-consistency-token"), Some("2"));
    let events = api.events_of(&id).await;
    assert_eq!(events[1], (2, "CreditLimitChanged".to_owned()));
}

#[tokio::test]
async fn restocking_creates_the_item_on_first_use_and_each_restock_adds_a_version() {
    let api = Api::spawn().await;
    let first = api
        .post("/api/inventory/tea-1/restock", &json!({"quantity": 10}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(first.body, json!({"sku": "TEA-1", "version": 1}));
    let second = api
        .post("/api/inventory/TEA-1/restock", &json!({"quantity": 5}))
        .await;
    assert_eq!(second.body, json!({"sku": "TEA-1", "version": 2}));
    assert_eq!(api.events_of("TEA-1").await.len(), 2);
}

#[tokio::test]
async fn a_conflict_that_outlasts_the_retries_answers_409_stores_nothing_and_is_not_final() {
    let api = Api::spawn().await;
    let first = api
        .post("/api/inventory/pen-1/restock", &json!({"quantity": 10}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    // Another writer wins every race for PEN-1's next version: each append fails as if that
    // version had just been stored.
    for statement in [
        "CREATE FUNCTION another_writer_wins() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             RAISE unique_violation USING MESSAGE = 'version taken by another writer (test)';
         END $$",
        "CREATE TRIGGER another_writer_wins BEFORE INSERT ON events FOR EACH ROW
         WHEN (NEW.aggregate_id = 'PEN-1') EXECUTE FUNCTION another_writer_wins()",
    ] {
        sqlx::query(statement).execute(api.pool()).await.unwrap();
    }
    let key = [("idempotency-key", "restock-pen-1-b")];
    let body = json!({"quantity": 5});
    let conflicted = api
        .post_with("/api/inventory/pen-1/restock", &body, &key)
        .await;
    conflicted.assert_problem(StatusCode::CONFLICT, "version_conflict");
    assert!(
        conflicted.body["attempts"].as_u64().unwrap() > 1,
        "{conflicted:?}"
    );
    assert_eq!(
        api.events_of("PEN-1").await.len(),
        1,
        "the 409 stored nothing"
    );

    // A conflict is not the key's final answer: once the race is over, the same request runs.
    sqlx::query("DROP TRIGGER another_writer_wins ON events")
        .execute(api.pool())
        .await
        .unwrap();
    let retried = api
        .post_with("/api/inventory/pen-1/restock", &body, &key)
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{retried:?}");
    assert_eq!(retried.body, json!({"sku": "PEN-1", "version": 2}));
    assert_eq!(api.events_of("PEN-1").await.len(), 2);
}

#[tokio::test]
async fn placing_an_order_answers_202_with_its_id_and_a_deadline_one_order_timeout_out() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    let answer = api.post("/api/orders", &order_body(&customer)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    assert_eq!(answer.body["version"], 1);
    let order_id = answer.body["order_id"].as_str().unwrap();
    assert!(OrderId::parse(order_id).is_ok());
    let payload: Value = sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_id = $1 AND event_type = 'OrderPlaced'",
    )
    .bind(order_id)
    .fetch_one(api.pool())
    .await
    .unwrap();
    let data = &payload["data"];
    assert_eq!(data["customer_id"], customer.as_str());
    assert_eq!(data["total"]["amount_minor"], 2 * 450 + 1200);
    let instant =
        |field: &str| chrono::DateTime::parse_from_rfc3339(data[field].as_str().unwrap()).unwrap();
    let timeout = causeway_tests::settings().sagas.order_timeout_ms;
    assert_eq!(
        instant("deadline") - instant("placed_at"),
        chrono::Duration::milliseconds(i64::try_from(timeout).unwrap())
    );
}

#[tokio::test]
async fn cancelling_an_order_answers_200_with_the_next_version() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    let order = api.place_order(&customer).await;
    let answer = api
        .post(
            &format!("/api/orders/{order}/cancel"),
            &json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body, json!({"order_id": order, "version": 2}));
    assert_eq!(api.events_of(&order).await[1].1, "OrderCancelled");
}

#[tokio::test]
async fn every_command_records_its_correlation_id_caller_key_and_traceparent() {
    let api = Api::spawn().await;
    let correlation = Uuid::new_v4().to_string();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let answer = api
        .post_with(
            "/api/inventory/mug-9/restock",
            &json!({"quantity": 1}),
            &[
                ("x-correlation-id", correlation.as_str()),
                ("x-caller", "warehouse-service"),
                ("idempotency-key", "restock-mug-9-a"),
                ("traceparent", traceparent),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(
        answer.header("x-correlation-id"),
        Some(correlation.as_str())
    );
    let metadata: Value =
        sqlx::query_scalar("SELECT metadata FROM events WHERE aggregate_id = 'MUG-9'")
            .fetch_one(api.pool())
            .await
            .unwrap();
    assert_eq!(metadata["correlation_id"], correlation.as_str());
    assert_eq!(metadata["caller"], "warehouse-service");
    assert_eq!(metadata["idempotency_key"], "restock-mug-9-a");
    assert_eq!(metadata["traceparent"], traceparent);
    assert!(metadata.get("causation_id").is_none(), "{metadata}");
}

#[tokio::test]
async fn a_command_without_metadata_headers_gets_a_new_correlation_id_and_an_anonymous_caller() {
    let api = Api::spawn().await;
    let answer = api
        .post("/api/inventory/mug-9/restock", &json!({"quantity": 1}))
        .await;
    let echoed = answer.header("x-correlation-id").unwrap().to_owned();
    let metadata: Value = sqlx::query_scalar("SELECT metadata FROM events")
        .fetch_one(api.pool())
        .await
        .unwrap();
    assert_eq!(metadata["correlation_id"], echoed.as_str());
    assert!(Uuid::parse_str(&echoed).is_ok());
    assert_eq!(metadata["caller"], "anonymous");
    assert!(metadata.get("idempotency_key").is_none(), "{metadata}");
}

// ---------------------------------------------------------------- 400 and 413

#[tokio::test]
async fn malformed_json_is_answered_400_problem_json_and_stores_nothing() {
    let api = Api::spawn().await;
    let answer = api
        .post_raw("/api/customers", "application/json", r#"{"name": "Ada", "#)
        .await;
    answer.assert_problem(StatusCode::BAD_REQUEST, "malformed_json");
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_body_not_sent_as_json_is_answered_400_naming_the_content_type() {
    let api = Api::spawn().await;
    let body = customer_body().to_string();
    let answer = api.post_raw("/api/customers", "text/plain", body).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "unsupported_media_type");
    assert_eq!(field.as_deref(), Some("content-type"));
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_missing_field_is_answered_400_naming_it() {
    let api = Api::spawn().await;
    let mut body = customer_body();
    body.as_object_mut().unwrap().remove("email");
    let answer = api.post("/api/customers", &body).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "missing_field");
    assert_eq!(field.as_deref(), Some("email"));

    let customer = api.register_customer().await;
    let mut order = order_body(&customer);
    order["lines"][1].as_object_mut().unwrap().remove("sku");
    let answer = api.post("/api/orders", &order).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "missing_field");
    assert_eq!(field.as_deref(), Some("lines[1].sku"));
    assert_eq!(api.events_of(&customer).await.len(), 1);
    assert_eq!(api.event_count().await, 1, "only the registration");
}

#[tokio::test]
async fn a_misspelt_field_is_answered_400_naming_it() {
    let api = Api::spawn().await;
    let answer = api
        .post(
            "/api/inventory/tea-1/restock",
            &json!({"quantity": 1, "quantiy": 2}),
        )
        .await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "unknown_field");
    assert_eq!(field.as_deref(), Some("quantiy"));
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_bad_email_is_answered_400_naming_the_email_field() {
    let api = Api::spawn().await;
    let mut body = customer_body();
    body["email"] = json!("ada.example.com");
    let answer = api.post("/api/customers", &body).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("email"));
    assert!(answer.body["detail"].as_str().unwrap().contains('@'));
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_negative_credit_limit_is_answered_400_naming_credit_limit_cents() {
    let api = Api::spawn().await;
    let mut body = customer_body();
    body["credit_limit_cents"] = json!(-1);
    let answer = api.post("/api/customers", &body).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("credit_limit_cents"));
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_zero_or_negative_quantity_is_answered_400_naming_its_line() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    for (line, quantity) in [(1, 0), (0, -3)] {
        let mut order = order_body(&customer);
        order["lines"][line]["quantity"] = json!(quantity);
        let answer = api.post("/api/orders", &order).await;
        let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(field, Some(format!("lines[{line}].quantity")), "{answer:?}");
    }
    let restock = api
        .post("/api/inventory/tea-1/restock", &json!({"quantity": 0}))
        .await;
    let field = restock.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("quantity"));
    assert_eq!(api.event_count().await, 1, "only the registration");
}

#[tokio::test]
async fn a_value_of_the_wrong_type_is_answered_400_with_its_path() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    let mut order = order_body(&customer);
    order["lines"][1]["unit_price_cents"] = json!("twelve");
    let answer = api.post("/api/orders", &order).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("lines[1].unit_price_cents"));
    assert_eq!(api.event_count().await, 1, "only the registration");
}

#[tokio::test]
async fn an_id_in_the_path_that_is_not_a_uuid_is_answered_400() {
    let api = Api::spawn().await;
    let answer = api
        .post("/api/orders/not-a-uuid/cancel", &json!({"reason": "x"}))
        .await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("order_id"));
}

#[tokio::test]
async fn an_invalid_idempotency_key_header_is_answered_400_naming_the_header() {
    let api = Api::spawn().await;
    let long_key = "k".repeat(256);
    let answer = api
        .post_with(
            "/api/inventory/tea-1/restock",
            &json!({"quantity": 1}),
            &[("idempotency-key", long_key.as_str())],
        )
        .await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_header");
    assert_eq!(field.as_deref(), Some("idempotency-key"));
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_answered_413_problem_json() {
    let api = Api::spawn_with(|s| s.http.body_limit_bytes = 1024).await;
    let mut body = customer_body();
    body["name"] = json!("x".repeat(2048));
    let answer = api.post("/api/customers", &body).await;
    answer.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(api.event_count().await, 0);
    let small = api.post("/api/customers", &customer_body()).await;
    assert_eq!(
        small.status,
        StatusCode::CREATED,
        "a body under the limit passes"
    );
}

// ---------------------------------------------------------------- 404 and 422

#[tokio::test]
async fn an_order_for_an_unknown_customer_is_answered_404_and_stores_nothing() {
    let api = Api::spawn().await;
    let answer = api.post("/api/orders", &order_body(&unknown_id())).await;
    answer.assert_problem(StatusCode::NOT_FOUND, "customer_not_found");
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn cancelling_an_unknown_order_is_answered_404_order_not_found() {
    let api = Api::spawn().await;
    let path = format!("/api/orders/{}/cancel", unknown_id());
    let answer = api.post(&path, &json!({"reason": "why not"})).await;
    answer.assert_problem(StatusCode::NOT_FOUND, "order_not_found");
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn changing_the_credit_limit_of_an_unknown_customer_is_answered_404() {
    let api = Api::spawn().await;
    let path = format!("/api/customers/{}/credit-limit", unknown_id());
    for body in [
        json!({"credit_limit_cents": 10}),
        json!({"credit_limit_cents": 10, "currency": "EUR"}),
    ] {
        let answer = api.post(&path, &body).await;
        answer.assert_problem(StatusCode::NOT_FOUND, "customer_not_found");
    }
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn cancelling_an_order_twice_is_answered_422_order_already_final() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    let order = api.place_order(&customer).await;
    let path = format!("/api/orders/{order}/cancel");
    let first = api.post(&path, &json!({"reason": "first"})).await;
    assert_eq!(first.status, StatusCode::OK);
    let second = api.post(&path, &json!({"reason": "again"})).await;
    second.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "order_already_final");
    assert_eq!(
        api.events_of(&order).await.len(),
        2,
        "placed, cancelled once"
    );
}

#[tokio::test]
async fn a_credit_limit_in_another_currency_is_answered_422_currency_mismatch() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    let path = format!("/api/customers/{customer}/credit-limit");
    let body = json!({"credit_limit_cents": 5, "currency": "USD"});
    let answer = api.post(&path, &body).await;
    answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "currency_mismatch");
    assert_eq!(api.events_of(&customer).await.len(), 1);
}

#[tokio::test]
async fn an_order_with_two_lines_for_one_sku_is_answered_422_duplicate_sku() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    let mut order = order_body(&customer);
    order["lines"][1]["sku"] = json!("TEA-1");
    let answer = api.post("/api/orders", &order).await;
    answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "duplicate_sku");
    let empty = json!({"customer_id": customer, "currency": "EUR", "lines": []});
    let answer = api.post("/api/orders", &empty).await;
    answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "order_has_no_lines");
    assert_eq!(api.event_count().await, 1, "only the registration");
}

#[tokio::test]
async fn a_credit_limit_below_the_reserved_credit_is_answered_422() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    // The place-order saga reserves credit; here the store does it directly.
    let store = CommandStore::new(api.pool().clone(), 100);
    let eur = Currency::parse("EUR").unwrap();
    let reserve = CustomerCommand::ReserveCredit {
        order_id: OrderId::try_from(Uuid::new_v4()).unwrap(),
        amount: Money::parse(60_000, eur).unwrap(),
    };
    let metadata = CommandMetadata::new(Uuid::new_v4(), "tests");
    store
        .execute::<Customer>(&customer, reserve, &metadata)
        .await
        .unwrap();
    let path = format!("/api/customers/{customer}/credit-limit");
    let answer = api
        .post(&path, &json!({"credit_limit_cents": 59_999}))
        .await;
    answer.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "credit_limit_below_reserved",
    );
    assert_eq!(
        api.events_of(&customer).await.len(),
        2,
        "registered, reserved"
    );
}

// ---------------------------------------------------------------- idempotency

const RESTOCK: &str = "/api/inventory/tea-1/restock";

async fn restock_with_key(api: &Api, key: &str, quantity: i64) -> Answer {
    api.post_with(
        RESTOCK,
        &json!({"quantity": quantity}),
        &[("idempotency-key", key)],
    )
    .await
}

#[tokio::test]
async fn the_same_key_and_body_twice_answers_the_first_answer_and_writes_once() {
    let api = Api::spawn().await;
    let first = restock_with_key(&api, "key-1", 7).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = restock_with_key(&api, "key-1", 7).await;
    assert_eq!(second.status, first.status);
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("x-consistency-token"), Some("1"));
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(api.events_of("TEA-1").await.len(), 1);
    let other_key = restock_with_key(&api, "key-2", 7).await;
    assert_eq!(
        other_key.body["version"], 2,
        "another key is another request"
    );
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_answered_422_and_writes_nothing() {
    let api = Api::spawn().await;
    restock_with_key(&api, "key-1", 7).await;
    let reused = restock_with_key(&api, "key-1", 8).await;
    reused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    let elsewhere = api
        .post_with(
            "/api/inventory/cup-2/restock",
            &json!({"quantity": 7}),
            &[("idempotency-key", "key-1")],
        )
        .await;
    elsewhere.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(api.event_count().await, 1);
}

#[tokio::test]
async fn twenty_concurrent_requests_with_the_same_key_take_effect_once() {
    let api = Api::spawn().await;
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = api.app.client.clone();
        let url = format!("{}{RESTOCK}", api.app.address);
        requests.spawn(async move {
            let response = client
                .post(url)
                .header("idempotency-key", "burst")
                .json(&json!({"quantity": 3}))
                .send()
                .await
                .unwrap();
            answer(response).await
        });
    }
    let answers = requests.join_all().await;
    let ok: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .collect();
    assert!(!ok.is_empty(), "{answers:?}");
    for answer in &answers {
        if answer.status != StatusCode::OK {
            answer.assert_problem(StatusCode::CONFLICT, "request_in_progress");
        }
    }
    assert!(
        ok.iter()
            .all(|a| a.body == json!({"sku": "TEA-1", "version": 1}))
    );
    assert_eq!(api.events_of("TEA-1").await.len(), 1);
}

#[tokio::test]
async fn a_creation_retried_with_the_same_key_answers_the_same_id() {
    let api = Api::spawn().await;
    let key = [("idempotency-key", "register-ada")];
    let first = api
        .post_with("/api/customers", &customer_body(), &key)
        .await;
    let again = api
        .post_with("/api/customers", &customer_body(), &key)
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    let other_caller = api
        .post_with(
            "/api/customers",
            &customer_body(),
            &[key[0], ("x-caller", "someone-else")],
        )
        .await;
    assert_ne!(other_caller.body["customer_id"], first.body["customer_id"]);
    assert_eq!(api.event_count().await, 2);
}

#[tokio::test]
async fn a_rejection_is_a_final_answer_replayed_for_its_key() {
    let api = Api::spawn().await;
    let path = format!("/api/orders/{}/cancel", unknown_id());
    let key = [("idempotency-key", "cancel-1")];
    let first = api.post_with(&path, &json!({"reason": "x"}), &key).await;
    first.assert_problem(StatusCode::NOT_FOUND, "order_not_found");
    let again = api.post_with(&path, &json!({"reason": "x"}), &key).await;
    again.assert_problem(StatusCode::NOT_FOUND, "order_not_found");
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}

/// Turns a completed key back into one whose attempt died before recording its answer.
async fn forget_answer(api: &Api, key: &str) {
    let updated = sqlx::query(
        "UPDATE idempotency_keys
         SET status = 'in_progress', response_status = NULL, response_body = NULL,
             completed_at = NULL
         WHERE idempotency_key = $1",
    )
    .bind(key)
    .execute(api.pool())
    .await
    .unwrap();
    assert_eq!(updated.rows_affected(), 1);
}

#[tokio::test]
async fn a_retry_after_an_attempt_died_having_written_is_answered_from_its_events() {
    let api = Api::spawn().await;
    let first = restock_with_key(&api, "crash-after-write", 4).await;
    assert_eq!(first.status, StatusCode::OK);
    forget_answer(&api, "crash-after-write").await;
    let retry = restock_with_key(&api, "crash-after-write", 4).await;
    assert_eq!(retry.status, StatusCode::OK, "{retry:?}");
    assert_eq!(retry.body, first.body);
    assert_eq!(api.events_of("TEA-1").await.len(), 1, "not restocked twice");
    let status: String =
        sqlx::query_scalar("SELECT status FROM idempotency_keys WHERE idempotency_key = $1")
            .bind("crash-after-write")
            .fetch_one(api.pool())
            .await
            .unwrap();
    assert_eq!(status, "completed");
}

#[tokio::test]
async fn a_retry_after_an_attempt_died_before_writing_runs_the_command() {
    let api = Api::spawn().await;
    restock_with_key(&api, "crash-before-write", 4).await;
    forget_answer(&api, "crash-before-write").await;
    sqlx::query("DELETE FROM events")
        .execute(api.pool())
        .await
        .unwrap();
    let retry = restock_with_key(&api, "crash-before-write", 4).await;
    assert_eq!(retry.status, StatusCode::OK, "{retry:?}");
    assert_eq!(retry.body, json!({"sku": "TEA-1", "version": 1}));
    assert_eq!(api.events_of("TEA-1").await.len(), 1);
}

#[tokio::test]
async fn a_duplicate_waits_for_the_attempt_in_progress_and_then_answers_409() {
    let api = Api::spawn().await;
    // Hold the key's lock as a live attempt would, on a connection of the test's own.
    let mut holder = api.pool().begin().await.unwrap();
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, hashtext($2 || E'\\n' || $3))")
            .bind(0x1de0_0005_i32)
            .bind("anonymous")
            .bind("slow")
            .fetch_one(&mut *holder)
            .await
            .unwrap();
    assert!(locked);
    let started = std::time::Instant::now();
    let answer = restock_with_key(&api, "slow", 1).await;
    answer.assert_problem(StatusCode::CONFLICT, "request_in_progress");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited first"
    );
    holder.rollback().await.unwrap();
    let retry = restock_with_key(&api, "slow", 1).await;
    assert_eq!(retry.status, StatusCode::OK, "{retry:?}");
    assert_eq!(api.events_of("TEA-1").await.len(), 1);
}
