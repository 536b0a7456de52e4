//! The HTTP command API's success paths, black-box: each command's answer (status, id,
//! version, deadline), a conflict that outlasts the retries, and the metadata every command
//! records; assertions on the answers and on the `events` table of a fresh database.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use causeway_domain::OrderId;
use causeway_tests::command_api::{Api, customer_body, order_body};
use causeway_tests::tokens;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

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
async fn every_command_records_its_correlation_id_verified_caller_key_and_traceparent() {
    let api = Api::spawn().await;
    let correlation = Uuid::new_v4().to_string();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let answer = api
        .post_with(
            "/api/inventory/mug-9/restock",
            &json!({"quantity": 1}),
            &[
                ("x-correlation-id", correlation.as_str()),
                // Never recorded: the caller is the token's subject.
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
    assert_eq!(metadata["caller"], tokens::subject("admin", "tests"));
    assert_eq!(metadata["idempotency_key"], "restock-mug-9-a");
    assert_eq!(metadata["traceparent"], traceparent);
    assert!(metadata.get("causation_id").is_none(), "{metadata}");
}

#[tokio::test]
async fn a_command_without_metadata_headers_gets_a_new_correlation_id_and_its_token_subject() {
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
    assert_eq!(metadata["caller"], tokens::subject("admin", "tests"));
    assert!(metadata.get("idempotency_key").is_none(), "{metadata}");
}
