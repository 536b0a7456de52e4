//! The HTTP command API's idempotency keys, black-box: a retry with the same key answers the
//! first answer and writes once, a key reused for another request is refused, concurrent
//! duplicates take effect once, and a retry after an attempt died mid-way finishes its work.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use causeway_tests::command_api::{Answer, Api, answer, customer_body, unknown_id};
use causeway_tests::tokens;
use reqwest::StatusCode;
use serde_json::json;

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
    let other = format!("Bearer {}", tokens::token("admin", "someone-else").await);
    let other_caller = api
        .post_with(
            "/api/customers",
            &customer_body(),
            &[key[0], ("authorization", other.as_str())],
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
            .bind(tokens::subject("admin", "tests"))
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
