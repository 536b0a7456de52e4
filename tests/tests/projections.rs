//! The inventory projection builds `inventory_view` from Kafka exactly as the events say:
//! across re-delivery, a SIGKILL of its process in the middle of a batch (then equal to a
//! full rebuild) and a poison message; and the query API
//! waits (bounded) for a consistency token. Real Postgres, Kafka and registry; the relay runs
//! as a `causeway serve --roles relay` process.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use causeway_domain::EventStream;
use causeway_domain::inventory::{
    InventoryEvent, StockReleased, StockReservationRejected, StockReserved, StockRestocked,
};
use causeway_domain::values::{OrderId, Quantity};
use causeway_domain::{Aggregate, InventoryItem};
use causeway_infra::Settings;
use causeway_infra::kafka::client_config;
use causeway_infra::topics::Topics;
use causeway_projections::{InventoryProjection, WorkerConfig};
use causeway_tests::process::RoleProcess;
use causeway_tests::relay_support::{
    count_published, insert_restocks, insert_restocks_from, isolated_relay_settings,
};
use causeway_tests::{TestApp, TestDatabase, causeway_binary, eventually, projection_worker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One `inventory_view` row: on hand, reserved, available, version.
type Row = (i64, i64, i64, i64);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_inventory_view_equals_the_state_computed_from_the_events() {
    let db = TestDatabase::migrated().await;
    let settings = isolated_relay_settings(&db.settings, 100);
    let history = mixed_history(20);
    store_history(&db.pool, &history).await;
    let _relay = RoleProcess::start("relay", &settings);
    let worker = InProcessWorker::start(&settings, &db.pool);

    let expected = expected_view(&history);
    wait_for_view(&db.pool, &expected, Duration::from_secs(60)).await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn re_delivered_events_change_nothing() {
    let db = TestDatabase::migrated().await;
    let settings = isolated_relay_settings(&db.settings, 100);
    let history = mixed_history(10);
    store_history(&db.pool, &history).await;
    let _relay = RoleProcess::start("relay", &settings);
    let expected = expected_view(&history);
    let worker = InProcessWorker::start(&settings, &db.pool);
    wait_for_view(&db.pool, &expected, Duration::from_secs(60)).await;
    worker.stop().await;
    let consumed = stored_offsets(&db.pool).await;

    sqlx::query("UPDATE projection_offsets SET next_offset = 0")
        .execute(&db.pool)
        .await
        .unwrap();
    let worker = InProcessWorker::start(&settings, &db.pool);
    eventually(
        Duration::from_secs(60),
        "the offsets to catch up again",
        || {
            let pool = db.pool.clone();
            let consumed = consumed.clone();
            async move { (stored_offsets(&pool).await == consumed).then_some(()) }
        },
    )
    .await;
    worker.stop().await;
    assert_eq!(
        view(&db.pool).await,
        expected,
        "re-delivery changed the view"
    );
}

/// Issue #4: SIGKILL the projection process while a batch is half written (its transaction
/// open, waiting on a row the test holds), restart it: the view is what the events say and
/// equals what a full rebuild from the store produces (nothing lost, nothing applied twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_projection_killed_in_the_middle_of_a_batch_ends_equal_to_a_full_rebuild() {
    const SKUS: usize = 200;
    const EACH: usize = 50;
    let db = TestDatabase::migrated().await;
    let settings = isolated_relay_settings(&db.settings, 1000);
    insert_restocks(&db.pool, SKUS, EACH, 5000).await;
    insert_restocks_from(&db.pool, SKUS, EACH, EACH + 1, 5000).await;
    let total = SKUS * EACH * 2;
    let relay = RoleProcess::start("relay", &settings);
    eventually(Duration::from_secs(120), "the relay to publish everything", || {
        let settings = settings.clone();
        async move { (count_published(&settings, "InventoryItem").await == total).then_some(()) }
    })
    .await;
    drop(relay);
    // SKU-137's row as the first half leaves it, held: the worker skips its first half and
    // stops half way through the first batch that updates it with the second.
    sqlx::query(
        "INSERT INTO inventory_view (sku, on_hand, reserved, available, version)
         VALUES ('SKU-137', $1, 0, $1, $1)",
    )
    .bind(EACH as i64)
    .execute(&db.pool)
    .await
    .unwrap();
    let mut hold = db.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM inventory_view WHERE sku = 'SKU-137' FOR UPDATE")
        .execute(&mut *hold)
        .await
        .unwrap();

    let mut projection = RoleProcess::start("projections", &settings);
    eventually(
        Duration::from_secs(120),
        "a batch of the worker to wait on the held row",
        || batch_waiting(&db),
    )
    .await;
    assert!(
        !stored_offsets(&db.pool).await.is_empty(),
        "earlier batches committed: the restart resumes from stored offsets"
    );
    projection.kill();
    hold.rollback().await.unwrap();
    let before = applied(&db.pool).await;
    assert!(
        before < total as i64,
        "the kill must land mid-stream (applied {before} of {total} already)"
    );

    projection.restart();
    let each = 2 * EACH as i64;
    let expected: BTreeMap<String, Row> = (0..SKUS)
        .map(|a| (format!("SKU-{a}"), (each, 0, each, each)))
        .collect();
    wait_for_view(&db.pool, &expected, Duration::from_secs(240)).await;
    projection.kill();
    let live = view(&db.pool).await;

    let report = rebuild(&settings, "inventory", "store");
    assert_eq!(report["events"], total, "{report}");
    assert_eq!(
        view(&db.pool).await,
        live,
        "a full rebuild gives another view than the killed and restarted worker"
    );
}

/// Whether a transaction writing `inventory_view` waits on a lock (the row the test holds).
async fn batch_waiting(db: &TestDatabase) -> Option<()> {
    let waiting: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = $1 AND wait_event_type = 'Lock' AND xact_start IS NOT NULL
           AND query ILIKE '%inventory_view%'",
    )
    .bind(&db.settings.database.database_name)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    (waiting > 0).then_some(())
}

/// Runs `causeway projections rebuild NAME --from FROM --json`: its report.
fn rebuild(settings: &Settings, name: &str, from: &str) -> serde_json::Value {
    let output = Command::new(causeway_binary())
        .args(["projections", "rebuild", name, "--from", from, "--json"])
        .env(
            "CAUSEWAY_DATABASE__DATABASE_NAME",
            &settings.database.database_name,
        )
        .env("CAUSEWAY_KAFKA__TOPIC_PREFIX", &settings.kafka.topic_prefix)
        .env("CAUSEWAY_TELEMETRY__OTLP_ENDPOINT", "")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the causeway binary");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "rebuild failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = out.lines().rev().find(|l| l.starts_with('{'));
    serde_json::from_str(report.unwrap_or_default())
        .unwrap_or_else(|e| panic!("rebuild printed no report ({e}): {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_message_goes_to_the_dlq_and_later_events_are_still_projected() {
    let db = TestDatabase::migrated().await;
    let settings = isolated_relay_settings(&db.settings, 100);
    let _relay = RoleProcess::start("relay", &settings);
    let worker = InProcessWorker::start(&settings, &db.pool);
    let first = vec![restock("SKU-P", 1, 5)];
    store_history(&db.pool, &first).await;
    wait_for_view(&db.pool, &expected_view(&first), Duration::from_secs(60)).await;

    let garbage = b"\x07 definitely not avro".to_vec();
    produce_raw(&settings, "SKU-P", &garbage).await;
    let mut history = first.clone();
    history.push(restock("SKU-P", 2, 7));
    store_history(&db.pool, &history[1..]).await;
    wait_for_view(&db.pool, &expected_view(&history), Duration::from_secs(60)).await;
    worker.stop().await;

    let dead = read_dlq(&settings).await;
    assert_eq!(dead.len(), 1, "exactly the poison message is dead-lettered");
    let (key, value, headers) = &dead[0];
    assert_eq!(key, "SKU-P");
    assert_eq!(value, &garbage, "the original bytes are kept");
    let error = headers.get("causeway.dlq.error").expect("an error header");
    assert!(error.contains("Confluent"), "the error says why: {error}");
    assert_eq!(headers.get("test_header").map(String::as_str), Some("kept"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_query_with_min_version_waits_for_that_version_and_times_out_with_503() {
    let db = TestDatabase::migrated().await;
    let mut settings = isolated_relay_settings(&db.settings, 100);
    // The event stored after 1.5 s goes through a relay process, Kafka and the worker: on a
    // loaded 2-core CI machine that has taken longer than the default 5 s wait.
    settings.read_api.consistency_wait_ms = 30_000;
    let _relay = RoleProcess::start("relay", &settings);
    let worker = InProcessWorker::start(&settings, &db.pool);
    let app = TestApp::spawn(settings.clone()).await;
    let mut hasty = settings.clone();
    hasty.read_api.consistency_wait_ms = 1_000;
    let hasty = TestApp::spawn(hasty).await;
    let first = vec![restock("SKU-Q", 1, 4)];
    store_history(&db.pool, &first).await;
    wait_for_view(&db.pool, &expected_view(&first), Duration::from_secs(60)).await;

    let pool = db.pool.clone();
    let later = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        store_history(&pool, &[restock("SKU-Q", 2, 6)]).await;
    });
    let started = tokio::time::Instant::now();
    let waited = app.get("/api/inventory/SKU-Q?min_version=2").await;
    assert_eq!(waited.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "answered before the event existed"
    );
    let body: serde_json::Value = waited.json().await.unwrap();
    assert_eq!(body["version"], 2);
    assert_eq!(body["on_hand"], 10);
    later.await.unwrap();

    let asked = tokio::time::Instant::now();
    let behind = hasty.get("/api/inventory/SKU-Q?min_version=3").await;
    assert!(
        asked.elapsed() >= Duration::from_millis(1_000),
        "it waited first"
    );
    assert_eq!(behind.status(), 503);
    assert_problem(behind, "read_model_behind").await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queries_answer_404_for_an_unknown_sku_and_400_naming_a_bad_parameter() {
    let db = TestDatabase::migrated().await;
    let app = TestApp::spawn(db.settings.clone()).await;
    store_view_row(&db.pool, "SKU-R", 3).await;

    let found = app.get("/api/inventory/SKU-R").await;
    assert_eq!(found.status(), 200);
    let body: serde_json::Value = found.json().await.unwrap();
    assert_eq!(body["version"], 3);
    let by_header = app
        .client
        .get(format!("{}/api/inventory/SKU-R", app.address))
        .header("X-Consistency-Token", "3")
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), 200);

    let missing = app.get("/api/inventory/NOPE").await;
    assert_eq!(missing.status(), 404);
    assert_problem(missing, "not_found").await;
    let bad = app.get("/api/inventory/SKU-R?min_version=soon").await;
    assert_eq!(bad.status(), 400);
    let body = assert_problem(bad, "invalid_parameter").await;
    assert_eq!(body["parameter"], "min_version");
}

// ---- helpers ----

async fn assert_problem(response: reqwest::Response, code: &str) -> serde_json::Value {
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    body
}

/// An InventoryItem event of `sku` at `sequence`.
#[derive(Debug, Clone)]
struct Stored {
    sku: String,
    sequence: i64,
    event: InventoryEvent,
}

fn restock(sku: &str, sequence: i64, units: u32) -> Stored {
    Stored {
        sku: sku.to_owned(),
        sequence,
        event: InventoryEvent::StockRestocked(StockRestocked {
            quantity: Quantity::parse(units).unwrap(),
        }),
    }
}

/// Per SKU: restock, reserve, reject, reserve, release, restock.
fn mixed_history(skus: usize) -> Vec<Stored> {
    let q = |n| Quantity::parse(n).unwrap();
    let mut history = Vec::new();
    for s in 0..skus {
        let sku = format!("SKU-{s}");
        let (a, b, c) = (order_id(), order_id(), order_id());
        let events = [
            InventoryEvent::StockRestocked(StockRestocked {
                quantity: q(10 + s as u32),
            }),
            InventoryEvent::StockReserved(StockReserved {
                order_id: a,
                quantity: q(3),
            }),
            InventoryEvent::StockReservationRejected(StockReservationRejected {
                order_id: c,
                requested: q(500),
                available: 7,
            }),
            InventoryEvent::StockReserved(StockReserved {
                order_id: b,
                quantity: q(2),
            }),
            InventoryEvent::StockReleased(StockReleased {
                order_id: a,
                quantity: q(3),
            }),
            InventoryEvent::StockRestocked(StockRestocked { quantity: q(5) }),
        ];
        for (i, event) in events.into_iter().enumerate() {
            history.push(Stored {
                sku: sku.clone(),
                sequence: i as i64 + 1,
                event,
            });
        }
    }
    history
}

fn order_id() -> OrderId {
    OrderId::parse(&uuid::Uuid::new_v4().to_string()).unwrap()
}

async fn store_history(pool: &PgPool, history: &[Stored]) {
    for stored in history {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             VALUES ('InventoryItem', $1, $2, $3, '1', $4, '{\"correlation_id\":\"test\"}')",
        )
        .bind(&stored.sku)
        .bind(stored.sequence)
        .bind(stored.event.event_type())
        .bind(serde_json::to_value(&stored.event).unwrap())
        .execute(pool)
        .await
        .unwrap();
    }
}

/// The view the domain's own `apply` gives for `history`.
fn expected_view(history: &[Stored]) -> BTreeMap<String, Row> {
    let mut by_sku: BTreeMap<String, Vec<&Stored>> = BTreeMap::new();
    for stored in history {
        by_sku.entry(stored.sku.clone()).or_default().push(stored);
    }
    by_sku
        .into_iter()
        .map(|(sku, events)| {
            let item = InventoryItem::replay(events.iter().map(|s| &s.event));
            let version = events.iter().map(|s| s.sequence).max().unwrap();
            let row = (
                i64::from(item.on_hand()),
                i64::from(item.reserved()),
                i64::from(item.available()),
                version,
            );
            (sku, row)
        })
        .collect()
}

async fn view(pool: &PgPool) -> BTreeMap<String, Row> {
    let rows: Vec<(String, i64, i64, i64, i64)> =
        sqlx::query_as("SELECT sku, on_hand, reserved, available, version FROM inventory_view")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(sku, on_hand, reserved, available, version)| {
            (sku, (on_hand, reserved, available, version))
        })
        .collect()
}

async fn wait_for_view(pool: &PgPool, expected: &BTreeMap<String, Row>, deadline: Duration) {
    let start = tokio::time::Instant::now();
    loop {
        let actual = view(pool).await;
        if &actual == expected {
            return;
        }
        let versions_reached = expected
            .iter()
            .all(|(sku, row)| actual.get(sku).is_some_and(|a| a.3 >= row.3));
        assert!(
            !versions_reached,
            "every version was applied but the view differs:\n{actual:?}\n!=\n{expected:?}"
        );
        assert!(
            start.elapsed() < deadline,
            "the view never reached the expected state: {} of {} rows",
            actual.len(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn stored_offsets(pool: &PgPool) -> BTreeMap<(String, i32), i64> {
    let rows: Vec<(String, i32, i64)> =
        sqlx::query_as("SELECT topic, partition, next_offset FROM projection_offsets")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect()
}

/// Events applied so far (sum of versions: every test event here restocks one unit).
async fn applied(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT COALESCE(SUM(version), 0)::bigint FROM inventory_view")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn store_view_row(pool: &PgPool, sku: &str, version: i64) {
    sqlx::query(
        "INSERT INTO inventory_view (sku, on_hand, reserved, available, version)
         VALUES ($1, 5, 1, 4, $2)",
    )
    .bind(sku)
    .bind(version)
    .execute(pool)
    .await
    .unwrap();
}

/// The inventory projection running in this test process, with its own stop channel.
struct InProcessWorker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl InProcessWorker {
    fn start(settings: &Settings, pool: &PgPool) -> Self {
        let config = WorkerConfig {
            batch_size: 50,
            ..WorkerConfig::default()
        };
        let worker = projection_worker(settings, pool, InventoryProjection).with_config(config);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(worker.run(stopped));
        Self { stop, task }
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the worker stops when told")
            .unwrap();
    }
}

async fn produce_raw(settings: &Settings, key: &str, value: &[u8]) {
    let topic = Topics::new(&settings.kafka).events(EventStream::InventoryItem.base_topic());
    let producer: FutureProducer = client_config(&settings.kafka).create().unwrap();
    let header = |key, value| rdkafka::message::Header {
        key,
        value: Some(value),
    };
    // Framed like a relay record, so only the bytes themselves are wrong.
    let headers = rdkafka::message::OwnedHeaders::new()
        .insert(header("sequence", "99"))
        .insert(header("test_header", "kept"));
    producer
        .send(
            FutureRecord::to(&topic)
                .key(key)
                .payload(value)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
}

type DeadLetter = (String, Vec<u8>, BTreeMap<String, String>);

async fn read_dlq(settings: &Settings) -> Vec<DeadLetter> {
    let topic = Topics::new(&settings.kafka).dlq(EventStream::InventoryItem.base_topic());
    let consumer: BaseConsumer = client_config(&settings.kafka)
        .set("group.id", causeway_tests::unique("dlq-reader"))
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    tokio::task::spawn_blocking(move || {
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .unwrap();
        let partitions = metadata.topics()[0].partitions().len();
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions as i32 {
            assignment
                .add_partition_offset(&topic, partition, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut records = Vec::new();
        let mut finished = 0;
        while finished < partitions {
            let message = match consumer.poll(Duration::from_secs(10)) {
                Some(Ok(message)) => message,
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {
                    finished += 1;
                    continue;
                }
                other => panic!("reading {topic}: {other:?}"),
            };
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            let value = String::from_utf8_lossy(h.value.unwrap_or_default());
                            (h.key.to_owned(), value.into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
            records.push((key, message.payload().unwrap_or_default().to_vec(), headers));
        }
        records
    })
    .await
    .unwrap()
}
