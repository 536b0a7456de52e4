//! Relay throughput: publishes N stored events to Kafka through the real relay and prints
//! events/s. `scripts/bench relay` runs it beside Kafka's own ProducerPerformance at the
//! same record size.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use causeway_commands::relay::Relay;
use causeway_commands::relay::checkpoint;
use causeway_commands::relay::source::Position;
use causeway_infra::Settings;
use causeway_infra::avro::EventCodec;
use causeway_tests::TestDatabase;
use causeway_tests::relay_support::isolated_relay_settings;

const AGGREGATES: i64 = 1000;

#[tokio::main]
async fn main() {
    let events: i64 = arg("--events").unwrap_or(200_000);
    let db = TestDatabase::migrated().await;
    let batch: u32 = arg("--batch").unwrap_or(db.settings.relay.batch_size);
    let settings = isolated_relay_settings(&db.settings, batch);
    let inserted = Instant::now();
    seed(&db, events).await;
    let last = last_position(&db).await;
    println!(
        "seeded {events} events in {:.1}s",
        inserted.elapsed().as_secs_f64()
    );

    let codec = EventCodec::new(&settings.registry).unwrap();
    let record_size = record_size(&codec, &settings).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(Relay::new(&settings, db.pool.clone(), codec).run(stopped));
    let started = Instant::now();
    wait_for_checkpoint(&settings, last).await;
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = relay.await;
    println!(
        "relay_events={events} relay_seconds={elapsed:.2} relay_events_per_sec={:.0} record_size={record_size} batch={batch}",
        events as f64 / elapsed
    );
}

fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

async fn seed(db: &TestDatabase, events: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT 'InventoryItem', 'SKU-' || (g % $2), g / $2 + 1, 'StockRestocked', '1',
                '{\"type\":\"StockRestocked\",\"data\":{\"quantity\":1}}',
                '{\"correlation_id\":\"bench\",\"traceparent\":\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\"}'
         FROM generate_series(0, $1 - 1) AS g",
    )
    .bind(events)
    .bind(AGGREGATES)
    .execute(&db.pool)
    .await
    .unwrap();
}

async fn last_position(db: &TestDatabase) -> Position {
    let (transaction_id, global_position): (i64, i64) = sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    Position {
        transaction_id,
        global_position,
    }
}

/// The Avro value size of one benchmark event, for ProducerPerformance's --record-size.
async fn record_size(codec: &EventCodec, settings: &Settings) -> usize {
    let topic = causeway_infra::topics::Topics::new(&settings.kafka)
        .events_topic("InventoryItem")
        .unwrap();
    let data = serde_json::json!({"quantity": 1});
    codec
        .encode(&topic, "StockRestocked", &data)
        .await
        .unwrap()
        .len()
}

async fn wait_for_checkpoint(settings: &Settings, last: Position) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if checkpoint::read(settings)
            .await
            .is_ok_and(|position| position >= last)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the relay did not finish within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
