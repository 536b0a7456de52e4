//! A command API process killed (SIGKILL) while 16 clients place orders: after a restart,
//! every client retries what it sent with the same `Idempotency-Key`, and every key ends
//! with exactly one order, as its first answer said when there was one. Orders are written
//! through the group commit (several commands' events in one statement), so the kill lands
//! while groups are in flight.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use causeway_tests::process::RoleProcess;
use causeway_tests::{TestDatabase, eventually, free_port, register_customer};
use serde_json::{Value, json};

const CLIENTS: usize = 16;

fn order_body(customer: &str, n: usize) -> Value {
    json!({"customer_id": customer, "currency": "EUR",
           "lines": [{"sku": format!("SKU-{}", n % 7), "quantity": 1, "unit_price_cents": 100}]})
}

/// Sends `body` with `key`; answers the order id of a 202 (or a replayed first answer).
async fn place(client: &reqwest::Client, base: &str, key: &str, body: &Value) -> Option<String> {
    let response = client
        .post(format!("{base}/api/orders"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .ok()?;
    if response.status() != 202 {
        return None;
    }
    let answer: Value = response.json().await.ok()?;
    answer["order_id"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn every_order_sent_around_a_kill_is_stored_exactly_once_after_retries() {
    let db = TestDatabase::migrated().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = causeway_tests::tokens::admin_client().await;
    let mut server = RoleProcess::command("command-api", &db.settings)
        .port(port)
        .start();
    server.wait_until_live(&client).await;
    let customer = register_customer(&client, &base, "Crash").await;

    // Each client sends orders until the server is gone; it records every key it sent and
    // the order id of each 202 it got.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (client, base, customer, stop) = (
                client.clone(),
                base.clone(),
                customer.clone(),
                Arc::clone(&stop),
            );
            tokio::spawn(async move {
                let mut sent: Vec<(String, Value, Option<String>)> = Vec::new();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (key, body) = (format!("crash-{c}-{n}"), order_body(&customer, n));
                    let answered = place(&client, &base, &key, &body).await;
                    sent.push((key, body, answered));
                }
                sent
            })
        })
        .collect();
    // Kill once a few hundred orders are in, with commands still in flight.
    eventually(Duration::from_secs(60), "300 orders stored", || async {
        let stored = orders_stored(&db).await;
        (stored >= 300).then_some(())
    })
    .await;
    // No request starts after this; the ones in flight are cut by the kill.
    stop.store(true, Ordering::Relaxed);
    server.kill();
    let mut sent = Vec::new();
    for client in clients {
        sent.extend(client.await.unwrap());
    }
    let unanswered = sent
        .iter()
        .filter(|(_, _, answer)| answer.is_none())
        .count();
    let stored_at_kill = orders_stored(&db).await;
    eprintln!(
        "killed after {} requests: {unanswered} cut off, {stored_at_kill} orders stored",
        sent.len()
    );

    // Restart and retry everything with its key: the first answer where there was one.
    server.restart();
    server.wait_until_live(&client).await;
    let mut orders: HashMap<String, String> = HashMap::new();
    for (key, body, first) in &sent {
        let retried = eventually(Duration::from_secs(30), "a retry to be answered", || {
            place(&client, &base, key, body)
        })
        .await;
        if let Some(first) = first {
            assert_eq!(&retried, first, "{key}: the retry answered another order");
        }
        assert!(
            orders.insert(retried.clone(), key.clone()).is_none(),
            "{key}: order {retried} was answered to two keys"
        );
    }

    // One stored order per key sent, each placed exactly once.
    let placed: Vec<(String, i64)> = sqlx::query_as(
        "SELECT aggregate_id, count(*) FROM events
          WHERE aggregate_type = 'Order' AND event_type = 'OrderPlaced' GROUP BY aggregate_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(
        placed.iter().all(|(_, count)| *count == 1),
        "an order placed twice"
    );
    assert_eq!(
        placed.len(),
        sent.len(),
        "{} keys sent ({unanswered} unanswered at the kill, {stored_at_kill} orders stored then)",
        sent.len()
    );
    for (order, _) in &placed {
        assert!(orders.contains_key(order), "order {order} answers no key");
    }
    assert!(unanswered > 0, "the kill interrupted no request");
}

async fn orders_stored(db: &TestDatabase) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Order'")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}
