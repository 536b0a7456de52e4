//! Admission control on the real stack: while the saga participants are further behind than
//! `admission.max_saga_backlog`, `POST /api/orders` answers 503 `overloaded` (problem+json,
//! `Retry-After`) and stores nothing; once they catch up it admits orders again by itself,
//! and every order it accepted reaches a final state.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use causeway_tests::process::RoleProcess;
use causeway_tests::shop::{Shop, new_sku, shop_settings};
use causeway_tests::{TestDatabase, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(120);

/// One `POST /api/orders`: its status, `Retry-After` and body.
async fn place(shop: &Shop, customer: &str, sku: &str) -> (StatusCode, Option<String>, Value) {
    let response = shop
        .app
        .client
        .post(format!("{}/api/orders", shop.app.address))
        .json(&json!({"customer_id": customer, "currency": "EUR",
            "lines": [{"sku": sku, "quantity": 1, "unit_price_cents": 100}]}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        assert_eq!(content_type, "application/problem+json");
    }
    (status, retry_after, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_are_refused_while_the_sagas_are_behind_and_admitted_again_once_they_catch_up() {
    let db = TestDatabase::migrated().await;
    let mut settings = shop_settings(&db.settings);
    settings.admission.max_saga_backlog = 20;
    settings.admission.measure_every_ms = 50;
    settings.sagas.order_timeout_ms = 600_000;
    // No saga participant runs: every order placed adds to their backlog.
    let shop = Shop::start_with(
        db.pool.clone(),
        settings.clone(),
        &Shop::roles_without_sagas(),
    )
    .await;
    let sku = new_sku("gate");
    shop.restock(&sku, 1_000).await;
    let customer = shop.customer(1_000_000).await;

    // Orders go in one at a time until the gate shuts (the backlog is measured every 50 ms;
    // each order adds one message for each of the three participants).
    let mut accepted = Vec::new();
    let started = tokio::time::Instant::now();
    let refusal = loop {
        assert!(started.elapsed() < WITHIN, "no order was refused");
        let (status, retry_after, body) = place(&shop, &customer, &sku).await;
        if status != StatusCode::ACCEPTED {
            break (status, retry_after, body);
        }
        accepted.push(body["order_id"].as_str().unwrap().to_owned());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (status, retry_after, body) = refusal;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "overloaded", "{body}");
    assert_eq!(body["bound"], 20, "{body}");
    assert!(body["backlog"].as_u64().unwrap() > 20, "{body}");
    let seconds: u64 = retry_after.expect("a Retry-After header").parse().unwrap();
    assert!((1..=30).contains(&seconds), "Retry-After {seconds}");
    assert!(
        !accepted.is_empty(),
        "orders were admitted before the bound was reached"
    );

    // A refused order stored nothing.
    let placed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'OrderPlaced'")
            .fetch_one(&shop.pool)
            .await
            .unwrap();
    assert_eq!(
        placed,
        accepted.len() as i64,
        "only admitted orders are stored"
    );

    let _sagas = RoleProcess::start("sagas", &settings);
    let admitted = eventually(WITHIN, "admission again", || async {
        let (status, _, body) = place(&shop, &customer, &sku).await;
        (status == StatusCode::ACCEPTED).then(|| body["order_id"].as_str().unwrap().to_owned())
    })
    .await;
    accepted.push(admitted);
    let outcomes = shop.wait_all_final(&accepted, WITHIN).await;
    assert_eq!(
        outcomes.get("confirmed").copied().unwrap_or(0),
        accepted.len(),
        "{outcomes:?}"
    );
    shop.stop().await;
}
