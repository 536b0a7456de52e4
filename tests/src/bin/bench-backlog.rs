//! How fast the projections drain a backlog: orders are placed over HTTP while only the
//! command API and the relay run (16 clients for `--seconds`), the relay publishes them all,
//! then a `causeway serve --roles projections` process starts and the time each projection
//! takes to store offsets at the end of every partition it reads is measured. Baseline, in
//! the same run: one bare `read_committed` consumer reading the same topics to their end
//! (no decoding, no Postgres). Prints messages/s per projection (over a time that includes
//! starting the process and joining the consumer groups), the ratio to the baseline, and the
//! projections process's peak RSS.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use causeway_infra::Settings;
use causeway_infra::kafka::client_config;
use causeway_projections::registry::{self, ProjectionInfo};
use causeway_tests::bench::{arg, client_for, closed_loop, peak_rss_kb};
use causeway_tests::process::RoleProcess;
use causeway_tests::relay_support::isolated_relay_settings;
use causeway_tests::{TestDatabase, free_port, register_customer, unique};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::json;
use sqlx::PgPool;

const CLIENTS: usize = 16;
const CUSTOMERS: usize = 64;
/// Partitions of a topic: (topic, partition) → high watermark.
type Ends = BTreeMap<(String, i32), i64>;

#[tokio::main]
async fn main() {
    let seconds: u64 = arg("--seconds").unwrap_or(10);
    let db = TestDatabase::migrated().await;
    let settings = isolated_relay_settings(&db.settings, 10_000);

    let (mut writer, orders) = place_orders(&settings, seconds).await;
    let stored = wait_published(&db.pool, &settings).await;
    writer.kill();
    let infos = registry::list(&settings);
    let ends = ends_of(&settings, &infos).await;

    let (bare_rate, per_topic) = bare_read(&settings, &ends).await;
    let bare_read: i64 = per_topic.values().sum();
    println!("orders={orders} events={stored}");
    println!("baseline: bare read_committed consumer read {bare_read} records at {bare_rate:.0}/s");

    let started = Instant::now();
    let mut projections = RoleProcess::start("projections", &settings);
    let drained = wait_drained(&db.pool, &infos, &ends, &per_topic, started).await;
    let rss_mb = peak_rss_kb(projections.pid()) as f64 / 1024.0;
    projections.kill();
    for (name, (records, took)) in drained.iter().filter(|(_, (records, _))| *records > 0) {
        let rate = *records as f64 / took.as_secs_f64();
        println!(
            "projection={name} records={records} seconds={:.2} records_per_sec={rate:.0} ratio_to_bare={:.2}",
            took.as_secs_f64(),
            rate / bare_rate
        );
    }
    println!("projections_peak_rss_mb={rss_mb:.1}");
    println!("database={}", db.settings.database.database_name);
}

/// Places orders over HTTP for `seconds` with only the command API and the relay running;
/// answers that process (the relay still publishing) and how many orders were placed.
async fn place_orders(settings: &Settings, seconds: u64) -> (RoleProcess, usize) {
    // No saga participant runs here, so their backlog only grows: admission control would
    // refuse every order after the first 2,000 messages.
    let server = RoleProcess::command("command-api,relay", settings)
        .env("CAUSEWAY_ADMISSION__MAX_SAGA_BACKLOG", "0")
        .port(free_port())
        .start();
    let base = server.base_url();
    let client = client_for(&server, CLIENTS).await;
    let mut ids = Vec::with_capacity(CUSTOMERS);
    for i in 0..CUSTOMERS {
        ids.push(register_customer(&client, &base, &format!("Backlog {i}")).await);
    }
    let customers = Arc::new(ids);
    let placed = closed_loop(CLIENTS, Duration::from_secs(seconds), move |worker, k| {
        let (client, base, customers) = (client.clone(), base.clone(), Arc::clone(&customers));
        async move {
            let n = worker + k * CLIENTS;
            let body = json!({"customer_id": customers[n % customers.len()], "currency": "EUR",
                              "lines": [{"sku": format!("SKU-{}", n % 50), "quantity": 1, "unit_price_cents": 1250}]});
            let status = client.post(format!("{base}/api/orders")).json(&body).send().await.unwrap().status();
            assert_eq!(status, 202, "placing an order");
        }
    })
    .await;
    (server, placed.len())
}

/// Waits until a `read_committed` reader of the events topics sees as many events as the
/// store holds; answers that count.
async fn wait_published(pool: &PgPool, settings: &Settings) -> i64 {
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let infos = registry::list(settings);
        let ends = ends_of(settings, &infos).await;
        let (_, per_topic) = bare_read(settings, &ends).await;
        let read: i64 = per_topic.values().sum();
        if read >= stored {
            return stored;
        }
        assert!(
            Instant::now() < deadline,
            "the relay published {read} of {stored} events"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The high watermark of every partition of every topic some projection reads.
async fn ends_of(settings: &Settings, infos: &[ProjectionInfo]) -> Ends {
    let topics: Vec<String> = infos.iter().flat_map(|i| i.topics.clone()).collect();
    let kafka = settings.kafka.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = client_config(&kafka).create().unwrap();
        let mut ends = Ends::new();
        for topic in topics {
            for partition in 0..kafka.event_partitions {
                let timeout = Duration::from_secs(5);
                let (_, high) = consumer
                    .fetch_watermarks(&topic, partition, timeout)
                    .unwrap_or((0, 0));
                ends.insert((topic.clone(), partition), high);
            }
        }
        ends
    })
    .await
    .unwrap()
}

/// Reads every partition of `ends` from the start to its end with one bare `read_committed`
/// consumer: records per second, and the records of each topic.
async fn bare_read(settings: &Settings, ends: &Ends) -> (f64, BTreeMap<String, i64>) {
    let mut config = client_config(&settings.kafka);
    config
        .set("group.id", unique("bare"))
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true");
    let consumer: BaseConsumer = config.create().unwrap();
    let mut assignment = TopicPartitionList::new();
    for ((topic, partition), high) in ends {
        if *high > 0 {
            assignment
                .add_partition_offset(topic, *partition, Offset::Beginning)
                .unwrap();
        }
    }
    let partitions = assignment.count();
    tokio::task::spawn_blocking(move || {
        consumer.assign(&assignment).unwrap();
        let started = Instant::now();
        let (mut per_topic, mut read, mut ended) = (BTreeMap::new(), 0_i64, 0);
        while ended < partitions && started.elapsed() < Duration::from_secs(120) {
            match consumer.poll(Duration::from_millis(500)) {
                Some(Ok(message)) => {
                    read += 1;
                    *per_topic.entry(message.topic().to_owned()).or_default() += 1;
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => ended += 1,
                _ => {}
            }
        }
        (read as f64 / started.elapsed().as_secs_f64(), per_topic)
    })
    .await
    .unwrap()
}

/// Waits until each projection has stored offsets at the end of every non-empty partition it
/// reads (one short of the high watermark: the last record is followed by its transaction's
/// marker); answers, per projection, the records it read and how long it took.
async fn wait_drained(
    pool: &PgPool,
    infos: &[ProjectionInfo],
    ends: &Ends,
    per_topic: &BTreeMap<String, i64>,
    started: Instant,
) -> BTreeMap<String, (i64, Duration)> {
    let mut drained = BTreeMap::new();
    let deadline = started + Duration::from_secs(900);
    while drained.len() < infos.len() {
        assert!(
            Instant::now() < deadline,
            "projections still behind: {drained:?}"
        );
        let stored: Vec<(String, String, i32, i64)> = sqlx::query_as(
            "SELECT projection, topic, partition, next_offset FROM projection_offsets",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        for info in infos {
            if drained.contains_key(info.name) {
                continue;
            }
            let done = ends
                .iter()
                .filter(|((topic, _), high)| **high > 0 && info.topics.contains(topic))
                .all(|((topic, partition), high)| {
                    stored.iter().any(|(p, t, n, next)| {
                        p == info.name && t == topic && n == partition && *next >= high - 1
                    })
                });
            if done {
                let records = info.topics.iter().filter_map(|t| per_topic.get(t)).sum();
                drained.insert(info.name.to_owned(), (records, started.elapsed()));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drained
}
