//! Relay throughput: publishes N stored events to Kafka through the real relay and prints
//! events/s. `scripts/bench relay` runs it beside Kafka's own ProducerPerformance at the
//! same record size.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use causeway_event_store::Position;
use causeway_infra::Settings;
use causeway_infra::avro::EventCodec;
use causeway_infra::kafka::{client_config, ensure_topics};
use causeway_relay::Relay;
use causeway_relay::checkpoint;
use causeway_tests::TestDatabase;
use causeway_tests::bench::arg;
use causeway_tests::relay_support::isolated_relay_settings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

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
    // Created before the clock starts (the relay finds it there), so the watcher can follow
    // it from the start.
    ensure_topics(&settings.kafka, &[checkpoint::topic_spec(&settings.relay)])
        .await
        .unwrap();
    let watcher = checkpoint_watcher(&settings);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let relay = tokio::spawn(
        Relay::new(
            &settings.relay,
            &settings.kafka,
            &settings.database,
            db.pool.clone(),
            codec,
        )
        .run(stopped),
    );
    let elapsed = tokio::task::spawn_blocking(move || wait_for_checkpoint(&watcher, last, started))
        .await
        .unwrap()
        .as_secs_f64();
    let _ = stop.send(true);
    let _ = relay.await;
    println!(
        "relay_events={events} relay_seconds={elapsed:.2} relay_events_per_sec={:.0} record_size={record_size} batch={batch}",
        events as f64 / elapsed
    );
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
        .events(causeway_domain::EventStream::InventoryItem.base_topic());
    let data = serde_json::json!({"quantity": 1});
    codec
        .encode(&topic, "StockRestocked", &data)
        .await
        .unwrap()
        .len()
}

/// A `read_committed` consumer of the checkpoint topic from its start.
fn checkpoint_watcher(settings: &Settings) -> BaseConsumer {
    let consumer: BaseConsumer = client_config(&settings.kafka)
        .set(
            "group.id",
            format!("{}-bench", settings.relay.transactional_id),
        )
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&settings.relay.checkpoint_topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    consumer
}

/// The time from `started` until a committed checkpoint reaches `last`: follows the
/// checkpoint topic, so the end is seen within milliseconds of the relay's last commit.
fn wait_for_checkpoint(watcher: &BaseConsumer, last: Position, started: Instant) -> Duration {
    let deadline = started + Duration::from_secs(600);
    while Instant::now() < deadline {
        let Some(message) = watcher.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.unwrap();
        let position: Option<Position> = message
            .payload()
            .and_then(|bytes| serde_json::from_slice(bytes).ok());
        if position.is_some_and(|position| position >= last) {
            return started.elapsed();
        }
    }
    panic!("the relay did not finish within 10 minutes");
}
