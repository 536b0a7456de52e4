//! Loading an aggregate with 10,000 events: through its snapshot, by replaying every event,
//! and, as the baseline, a fresh aggregate with one event. Prints mean load times and ratios.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use causeway_domain::{InventoryCommand, InventoryItem, Quantity};
use causeway_event_store::{CommandMetadata, CommandStore};
use causeway_tests::TestDatabase;

const EVENTS: i64 = 10_000;
const ROUNDS: u32 = 200;

#[tokio::main]
async fn main() {
    let db = TestDatabase::migrated().await;
    let with_snapshots = CommandStore::new(db.pool.clone(), 100);
    let replay_only = CommandStore::new(db.pool.clone(), 0);
    let metadata = CommandMetadata::new(uuid::Uuid::new_v4(), "bench");

    seed_history(&db, "BIG", EVENTS - 10).await;
    for _ in 0..10 {
        restock(&with_snapshots, "BIG", &metadata).await; // the snapshot lands at 10,000
    }
    restock(&with_snapshots, "FRESH", &metadata).await;

    let fresh = mean_load_ms(&with_snapshots, "FRESH").await;
    let snapshot = mean_load_ms(&with_snapshots, "BIG").await;
    let replay = mean_load_ms(&replay_only, "BIG").await;
    println!(
        "load_fresh_ms={fresh:.3} load_10k_snapshot_ms={snapshot:.3} load_10k_replay_ms={replay:.3}"
    );
    println!(
        "snapshot/fresh={:.2} replay/fresh={:.1}",
        snapshot / fresh,
        replay / fresh
    );
}

async fn seed_history(db: &TestDatabase, sku: &str, events: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT 'InventoryItem', $1, g, 'StockRestocked', '1',
                '{\"type\":\"StockRestocked\",\"data\":{\"quantity\":1}}', '{}'
         FROM generate_series(1, $2) AS g",
    )
    .bind(sku)
    .bind(events)
    .execute(&db.pool)
    .await
    .unwrap();
}

async fn restock(store: &CommandStore, sku: &str, metadata: &CommandMetadata) {
    let command = InventoryCommand::Restock {
        quantity: Quantity::parse(1).unwrap(),
    };
    store
        .execute::<InventoryItem>(sku, command, metadata)
        .await
        .unwrap();
}

async fn mean_load_ms(store: &CommandStore, sku: &str) -> f64 {
    store.load::<InventoryItem>(sku).await.unwrap(); // warm the pool and caches
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let (_, version) = store.load::<InventoryItem>(sku).await.unwrap().unwrap();
        assert!(version >= 1);
    }
    started.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS)
}
