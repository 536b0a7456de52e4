//! The platform process: migrations and health endpoints, against the real stack.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use causeway_infra::db;
use causeway_tests::{TestApp, TestDatabase, settings};
use serde_json::Value;

#[tokio::test]
async fn migrate_creates_the_event_store_with_relay_columns_and_can_run_twice() {
    let database = TestDatabase::empty().await;
    db::migrate(&database.pool).await.unwrap();
    db::migrate(&database.pool)
        .await
        .expect("a second run is a no-op");

    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
         WHERE table_name = 'events' ORDER BY ordinal_position",
    )
    .fetch_all(&database.pool)
    .await
    .unwrap();
    for expected in [
        "aggregate_type",
        "aggregate_id",
        "sequence",
        "payload",
        "metadata",
        "global_position",
        "transaction_id",
    ] {
        assert!(
            columns.iter().any(|c| c == expected),
            "events lacks {expected}: {columns:?}"
        );
    }
    let snapshots: i64 = sqlx::query_scalar("SELECT count(*) FROM snapshots")
        .fetch_one(&database.pool)
        .await
        .unwrap();
    assert_eq!(snapshots, 0);
}

#[tokio::test]
async fn the_event_store_refuses_a_second_event_at_the_same_sequence() {
    let database = TestDatabase::migrated().await;
    let insert = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                  VALUES ('Order', 'o-1', 1, 'OrderPlaced', '1', '{}', '{}')";
    sqlx::query(insert).execute(&database.pool).await.unwrap();
    let error = sqlx::query(insert)
        .execute(&database.pool)
        .await
        .unwrap_err();
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("23505"), "{error}");
}

#[tokio::test]
async fn events_record_their_global_position_and_writing_transaction() {
    let database = TestDatabase::migrated().await;
    let mut tx = database.pool.begin().await.unwrap();
    for sequence in 1..=2_i64 {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             VALUES ('Order', 'o-1', $1, 'OrderPlaced', '1', '{}', '{}')",
        )
        .bind(sequence)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    let current: String = sqlx::query_scalar("SELECT pg_current_xact_id()::text")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT global_position, transaction_id::text FROM events ORDER BY sequence",
    )
    .fetch_all(&database.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0].0 < rows[1].0,
        "positions grow in insert order: {rows:?}"
    );
    assert!(
        rows.iter().all(|(_, xid)| *xid == current),
        "both rows carry the writing transaction: {rows:?}"
    );
}

#[tokio::test]
async fn live_answers_200() {
    let app = TestApp::spawn(settings()).await;
    let response = app.get("/health/live").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn ready_answers_200_when_every_dependency_answers() {
    let app = TestApp::spawn(settings()).await;
    let response = app.get_management("/health/ready").await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    // The public listener says ready, and nothing about what it checked.
    let public: Value = app.get("/health/ready").await.json().await.unwrap();
    assert_eq!(public, serde_json::json!({"status": "ready"}));
    let names: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["postgres", "kafka", "registry"]);
}

#[tokio::test]
async fn ready_answers_503_naming_the_registry_when_it_does_not_answer() {
    let mut settings = settings();
    // Port 9 (discard) has no listener on loopback here: nothing answers.
    settings.registry.url = "http://127.0.0.1:9/apis/ccompat/v7".to_owned();
    assert_not_ready(settings, "registry").await;
}

#[tokio::test]
async fn ready_answers_503_naming_postgres_when_it_does_not_answer() {
    let mut settings = settings();
    settings.database.port = 9;
    assert_not_ready(settings, "postgres").await;
}

#[tokio::test]
async fn ready_answers_503_naming_kafka_when_it_does_not_answer() {
    let mut settings = settings();
    settings.kafka.bootstrap_servers = "127.0.0.1:9".to_owned();
    assert_not_ready(settings, "kafka").await;
}

async fn assert_not_ready(settings: causeway_infra::Settings, down: &str) {
    let app = TestApp::spawn(settings).await;
    let response = app.get_management("/health/ready").await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["down"], serde_json::json!([down]), "{body}");
    assert!(body["detail"].as_str().unwrap().contains(down), "{body}");
    // The public listener says not ready and leaks no host, port or error chain.
    let public = app.get("/health/ready").await;
    assert_eq!(public.status(), 503);
    let public: Value = public.json().await.unwrap();
    assert_eq!(public["code"], "not_ready", "{public}");
    assert_eq!(public["detail"], "not ready", "{public}");
    let text = public.to_string();
    for leak in [down, "127.0.0.1", ":9", "checks", "roles"] {
        assert!(!text.contains(leak), "{leak} in {public}");
    }
}
