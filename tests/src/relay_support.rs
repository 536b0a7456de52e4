//! Helpers for the relay tests: seeding the event table and reading back what reached
//! Kafka. The relay itself runs as a [`crate::process::RoleProcess`].

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use std::time::Duration;

use causeway_infra::Settings;
use causeway_infra::kafka::client_config;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use sqlx::{PgExecutor, PgPool};

use crate::unique;

/// Settings for one relay test: its own database, topic prefix, checkpoint topic,
/// transactional id and lock key, and `batch_size` events per transaction.
pub fn isolated_relay_settings(database: &Settings, batch_size: u32) -> Settings {
    let mut settings = database.clone();
    let id = unique("t");
    settings.kafka.topic_prefix = format!("{id}.");
    settings.relay.checkpoint_topic = format!("{id}.relay.checkpoint");
    settings.relay.transactional_id = format!("{id}-relay");
    settings.relay.lock_key = i64::from(rand_u32());
    settings.relay.batch_size = batch_size;
    settings.relay.standby_retry_ms = 200;
    settings
}

fn rand_u32() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

/// Creates the aggregate's topic with one partition, so tests can assert a global order.
pub async fn create_single_partition_topic(settings: &Settings, aggregate_type: &str) {
    let admin: AdminClient<DefaultClientContext> = client_config(&settings.kafka).create().unwrap();
    let topic = topic(settings, aggregate_type);
    admin
        .create_topics(
            &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
}

/// The topic the relay publishes `aggregate_type` events to under these settings.
pub fn topic(settings: &Settings, aggregate_type: &str) -> String {
    let stream = causeway_domain::EventStream::from_aggregate_type(aggregate_type)
        .unwrap_or_else(|e| panic!("{e}"));
    causeway_infra::topics::Topics::new(&settings.kafka).events(stream.base_topic())
}

/// The OS pid of the relay holding this database's leader lock, if any.
pub async fn leader_pid(pool: &PgPool) -> Option<u32> {
    let name: Option<String> = sqlx::query_scalar(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()
           AND a.application_name LIKE 'causeway-relay-%'",
    )
    .fetch_optional(pool)
    .await
    .unwrap();
    name?.strip_prefix("causeway-relay-")?.parse().ok()
}

/// Inserts one `StockRestocked` event of `sku` at `sequence`.
pub async fn insert_restock<'e>(executor: impl PgExecutor<'e>, sku: &str, sequence: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('InventoryItem', $1, $2, 'StockRestocked', '1',
                 '{\"type\":\"StockRestocked\",\"data\":{\"quantity\":1}}', '{\"correlation_id\":\"test\"}')",
    )
    .bind(sku)
    .bind(sequence)
    .execute(executor)
    .await
    .unwrap();
}

/// `each` events for each of `aggregates` SKUs, interleaved, `per_transaction` rows a commit.
pub async fn insert_restocks(
    pool: &PgPool,
    aggregates: usize,
    each: usize,
    per_transaction: usize,
) {
    insert_restocks_from(pool, aggregates, each, 1, per_transaction).await;
}

/// Like [`insert_restocks`], with sequences starting at `first`.
pub async fn insert_restocks_from(
    pool: &PgPool,
    aggregates: usize,
    each: usize,
    first: usize,
    per_transaction: usize,
) {
    let rows: Vec<(String, i64)> = (first..first + each)
        .flat_map(|sequence| (0..aggregates).map(move |a| (format!("SKU-{a}"), sequence as i64)))
        .collect();
    for chunk in rows.chunks(per_transaction) {
        let (skus, sequences): (Vec<String>, Vec<i64>) = chunk.iter().cloned().unzip();
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT 'InventoryItem', sku, seq, 'StockRestocked', '1',
                    '{\"type\":\"StockRestocked\",\"data\":{\"quantity\":1}}', '{\"correlation_id\":\"test\"}'
             FROM UNNEST($1::text[], $2::bigint[]) AS t(sku, seq)",
        )
        .bind(&skus)
        .bind(&sequences)
        .execute(pool)
        .await
        .unwrap();
    }
}

/// One record read back from an events topic.
#[derive(Debug, Clone)]
pub struct Published {
    /// The Kafka key (aggregate id).
    pub key: String,
    /// The `sequence` header.
    pub sequence: i64,
    /// The `event_type` header.
    pub event_type: String,
    /// The Avro value.
    pub value: Vec<u8>,
}

/// How many events of `aggregate_type` a `read_committed` consumer sees now.
pub async fn count_published(settings: &Settings, aggregate_type: &str) -> usize {
    read_all(settings, aggregate_type, usize::MAX).await.len()
}

/// Everything a `read_committed` consumer sees on the topic now (up to `at_most`), in offset
/// order per partition.
pub async fn read_all(settings: &Settings, aggregate_type: &str, at_most: usize) -> Vec<Published> {
    let topic = topic(settings, aggregate_type);
    let consumer: BaseConsumer = client_config(&settings.kafka)
        .set("group.id", unique("reader"))
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    tokio::task::spawn_blocking(move || read_blocking(&consumer, &topic, at_most))
        .await
        .unwrap()
}

fn read_blocking(consumer: &BaseConsumer, topic: &str, at_most: usize) -> Vec<Published> {
    let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) else {
        return Vec::new();
    };
    let partitions = metadata
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if partitions == 0 {
        return Vec::new();
    }
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let mut finished = 0;
    while finished < partitions && records.len() < at_most {
        match consumer.poll(Duration::from_secs(5)) {
            Some(Ok(message)) => records.push(published(&message)),
            Some(Err(KafkaError::PartitionEOF(_))) => finished += 1,
            Some(Err(error)) => panic!("reading {topic}: {error}"),
            None => break,
        }
    }
    records
}

fn published(message: &rdkafka::message::BorrowedMessage<'_>) -> Published {
    let header = |name: &str| -> String {
        message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    Published {
        key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
        sequence: header("sequence").parse().unwrap_or(-1),
        event_type: header("event_type"),
        value: message.payload().unwrap_or_default().to_vec(),
    }
}

/// The sum of the topic's high watermarks (records and transaction markers, committed or
/// not): a cheap sign of progress, not a count of visible events.
pub async fn high_watermarks(settings: &Settings, aggregate_type: &str) -> i64 {
    let topic = topic(settings, aggregate_type);
    let consumer: BaseConsumer = client_config(&settings.kafka).create().unwrap();
    tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(5);
        let Ok(metadata) = consumer.fetch_metadata(Some(&topic), timeout) else {
            return 0;
        };
        let partitions = metadata
            .topics()
            .first()
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        (0..partitions as i32)
            .filter_map(|p| consumer.fetch_watermarks(&topic, p, timeout).ok())
            .map(|(_, high)| high)
            .sum()
    })
    .await
    .unwrap()
}

/// The partition count of `topic`, if it exists.
pub async fn partition_count(settings: &Settings, topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = client_config(&settings.kafka).create().unwrap();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .ok()?;
        let found = metadata.topics().first()?;
        found.error().is_none().then(|| found.partitions().len())
    })
    .await
    .unwrap()
}
