//! Re-delivery to the read models: every event delivered again to every projection (their
//! stored offsets reset) changes no row of any read model. Real stack; the relay runs as a
//! `causeway serve --roles relay` process and the projection workers in this process.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::time::Duration;

use causeway_tests::eventually;
use causeway_tests::read_models::{Stack, WAIT, Workers, count};
use sqlx::PgPool;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn re_delivering_every_event_to_every_read_model_changes_nothing() {
    let mut stack = Stack::start().await;
    let shop = stack.run_sagas().await;
    stack.wait_for_timeline(&shop.o1, 14).await;
    stack.wait_for_timeline(&shop.o3, 7).await;
    // Everything of the last steps is in: the customer's final version, five notifications.
    let path = format!(
        "/api/customers/{}?min_version={}",
        shop.customer, shop.customer_version
    );
    stack.get_ok(&path).await;
    eventually(WAIT, "five notifications", || async {
        (count(&stack.db.pool, "notifications").await == 5).then_some(())
    })
    .await;
    // Every projection has consumed everything once its stored offsets stop moving; only
    // then are the rows and offsets compared against a complete re-delivery.
    let mut last = offsets(&stack.db.pool).await;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = offsets(&stack.db.pool).await;
        if now == last {
            break;
        }
        last = now;
    }
    stack.workers.stop().await;
    let before = snapshot(&stack.db.pool).await;
    let consumed = offsets(&stack.db.pool).await;
    let reset = sqlx::query("UPDATE projection_offsets SET next_offset = 0")
        .execute(&stack.db.pool)
        .await
        .unwrap();
    assert!(
        reset.rows_affected() >= 9,
        "nine (projection, topic) pairs at least"
    );

    stack.workers = Workers::start(&stack.settings, &stack.db.pool);
    eventually(
        WAIT,
        "every projection to re-consume up to where it was",
        || {
            let pool = stack.db.pool.clone();
            let consumed = consumed.clone();
            async move { (offsets(&pool).await == consumed).then_some(()) }
        },
    )
    .await;
    stack.workers.stop().await;
    let after = snapshot(&stack.db.pool).await;
    for (table, rows) in &before {
        assert!(!rows.is_empty(), "{table} has rows to compare");
        assert_eq!(rows, &after[table], "re-delivery changed {table}");
    }
}

const TABLES: [&str; 6] = [
    "orders",
    "order_lines",
    "customers",
    "payments",
    "notifications",
    "saga_timeline",
];

/// Every row of every read model, as JSON text, in a fixed order.
async fn snapshot(pool: &PgPool) -> BTreeMap<&'static str, Vec<String>> {
    let mut tables = BTreeMap::new();
    for table in TABLES {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(t)::text AS r FROM {table} t ORDER BY 1"
        ))
        .fetch_all(pool)
        .await
        .unwrap();
        tables.insert(table, rows);
    }
    tables
}

async fn offsets(pool: &PgPool) -> BTreeMap<(String, String, i32), i64> {
    let rows: Vec<(String, String, i32, i64)> =
        sqlx::query_as("SELECT projection, topic, partition, next_offset FROM projection_offsets")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(p, t, n, o)| ((p, t, n), o))
        .collect()
}
