//! `causeway projections rebuild|status` against the real stack: a rebuild from the store or
//! from Kafka while commands and queries keep coming loses nothing, applies nothing twice and
//! fails no query; what it swaps in equals a fresh rebuild and what the events say; `status`
//! shows lag that grows with published events and shrinks as the worker applies them.
//! The CLI runs as the `causeway` binary; the platform (every role) in this process.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use causeway_infra::Settings;
use causeway_projections::InventoryProjection;
use causeway_tests::process::RoleProcess;
use causeway_tests::relay_support::{
    count_published, insert_restocks, insert_restocks_from, isolated_relay_settings,
};
use causeway_tests::shop::Shop;
use causeway_tests::{TestDatabase, causeway_binary, eventually, projection_worker};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{Mutex, watch};

const WAIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_under_traffic_swaps_in_exactly_what_the_events_say_and_no_query_fails() {
    let shop = Shop::start().await;
    let customer = shop.customer(100_000_000).await;
    for sku in ["TEA-1", "CUP-2"] {
        shop.restock(sku, 1_000_000).await;
    }
    let mut seeded = Vec::new();
    for _ in 0..20 {
        seeded.push(shop.order(&customer, &[("TEA-1", 1, 450)]).await);
    }
    shop.wait_all_final(&seeded, WAIT).await;

    let shop = Arc::new(shop);
    let stop = Arc::new(AtomicBool::new(false));
    let placed = Arc::new(Mutex::new(seeded.clone()));
    let writer = tokio::spawn(place_orders(
        shop.clone(),
        customer,
        placed.clone(),
        stop.clone(),
    ));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = tokio::spawn(query_orders(
        shop.clone(),
        seeded,
        reads.clone(),
        stop.clone(),
    ));

    // Both sources, two projections (one of one topic, one of four), while traffic flows.
    let first = rebuild(&shop.settings, "orders", "store");
    let reads_before = reads.load(Ordering::SeqCst);
    assert!(first["events"].as_u64().unwrap() >= 20 * 3, "{first}");
    let second = rebuild(&shop.settings, "saga_timeline", "kafka");
    assert!(second["events"].as_u64().unwrap() > 0, "{second}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let failures = reader.await.unwrap();
    assert!(
        failures.is_empty(),
        "queries failed during the rebuild: {failures:?}"
    );
    assert!(
        reads.load(Ordering::SeqCst) > reads_before,
        "the reader kept reading through the swaps"
    );

    let orders = placed.lock().await.clone();
    assert!(orders.len() > 20, "orders kept coming during the rebuilds");
    shop.wait_all_final(&orders, WAIT).await;
    wait_caught_up(&shop.pool).await;
    assert_orders_match_events(&shop.pool).await;
    assert_timeline_matches_events(&shop.pool).await;

    // A fresh rebuild of each, from the other source, changes nothing.
    let live = snapshot(&shop.pool).await;
    rebuild(&shop.settings, "orders", "kafka");
    rebuild(&shop.settings, "saga_timeline", "store");
    assert_eq!(snapshot(&shop.pool).await, live, "a fresh rebuild differs");
    let offsets_now = offsets(&shop.pool).await;
    wait_caught_up(&shop.pool).await;
    assert_eq!(
        snapshot(&shop.pool).await,
        live,
        "the live worker changed the rebuilt tables"
    );
    assert_eq!(
        offsets(&shop.pool).await,
        offsets_now,
        "nothing new to consume"
    );
    Arc::try_unwrap(shop).ok().unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kafka_rebuild_with_no_live_worker_stores_the_offsets_it_reached() {
    let db = TestDatabase::migrated().await;
    let settings = isolated_relay_settings(&db.settings, 500);
    insert_restocks(&db.pool, 50, 40, 1000).await;
    let relay = RoleProcess::start("relay", &settings);
    wait_published(&settings, 2000).await;
    drop(relay);

    let report = rebuild(&settings, "inventory", "kafka");
    assert_eq!(report["events"], 2000, "{report}");
    assert_eq!(report["caught_up_under_fence"], 0, "{report}");
    assert_eq!(stock(&db.pool).await, expected_stock(50, 40));
    // The stored offsets are the ends of the partitions, less at most a commit marker.
    for row in status(&settings)
        .iter()
        .filter(|r| r["projection"] == "inventory")
    {
        assert!(row["lag"].as_i64().unwrap() <= 1, "{row}");
        assert!(row["stored_offset"].is_i64(), "{row}");
    }
    // A live worker started now applies nothing again (each event would add a unit).
    let worker = LiveWorker::start(&settings, &db.pool);
    tokio::time::sleep(Duration::from_secs(3)).await;
    worker.stop().await;
    assert_eq!(stock(&db.pool).await, expected_stock(50, 40));

    // A store rebuild gives the same rows.
    let report = rebuild(&settings, "inventory", "store");
    assert_eq!(report["events"], 2000, "{report}");
    assert_eq!(stock(&db.pool).await, expected_stock(50, 40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_shows_lag_growing_with_published_events_and_falling_as_they_are_applied() {
    let db = TestDatabase::migrated().await;
    let settings = isolated_relay_settings(&db.settings, 500);
    insert_restocks(&db.pool, 20, 30, 1000).await;
    let _relay = RoleProcess::start("relay", &settings);
    wait_published(&settings, 600).await;
    let before = inventory_lag(&settings);
    assert!(before.0 >= 600, "600 published, none applied: {before:?}");
    assert!(before.1.iter().all(Option::is_none), "nothing stored yet");

    let worker = LiveWorker::start(&settings, &db.pool);
    let partitions = before.1.len() as i64;
    eventually(WAIT, "the lag to fall to the commit markers", || {
        let settings = settings.clone();
        async move { (inventory_lag(&settings).0 <= partitions).then_some(()) }
    })
    .await;
    worker.stop().await;

    insert_restocks_from(&db.pool, 20, 10, 31, 1000).await;
    wait_published(&settings, 800).await;
    let after = inventory_lag(&settings);
    assert!(
        after.0 >= 200,
        "200 more published while the worker is stopped: {after:?}"
    );
    assert!(after.0 <= 200 + 2 * partitions + 2, "only those: {after:?}");
}

// ---- the CLI ----

fn cli(settings: &Settings, args: &[&str]) -> String {
    let output = Command::new(causeway_binary())
        .args(args)
        .env(
            "CAUSEWAY_DATABASE__DATABASE_NAME",
            &settings.database.database_name,
        )
        .env("CAUSEWAY_KAFKA__TOPIC_PREFIX", &settings.kafka.topic_prefix)
        .env("CAUSEWAY_TELEMETRY__OTLP_ENDPOINT", "")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the causeway binary");
    assert!(
        output.status.success(),
        "causeway {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn rebuild(settings: &Settings, name: &str, from: &str) -> Value {
    let out = cli(
        settings,
        &[
            "projections",
            "rebuild",
            name,
            "--from",
            from,
            "--json",
            "--batch-size",
            "200",
        ],
    );
    // Logs may share stdout: the report is the last line.
    let report = out.lines().rev().find(|l| l.starts_with('{'));
    serde_json::from_str(report.unwrap_or_default())
        .unwrap_or_else(|e| panic!("rebuild {name} from {from} printed no report ({e}): {out}"))
}

fn status(settings: &Settings) -> Vec<Value> {
    serde_json::from_str(&cli(settings, &["projections", "status", "--json"])).unwrap()
}

/// The inventory projection's total lag, and its stored offset per partition.
fn inventory_lag(settings: &Settings) -> (i64, Vec<Option<i64>>) {
    let rows: Vec<Value> = status(settings)
        .into_iter()
        .filter(|r| r["projection"] == "inventory")
        .collect();
    assert!(!rows.is_empty(), "the inventory topic has partitions");
    (
        rows.iter().map(|r| r["lag"].as_i64().unwrap()).sum(),
        rows.iter().map(|r| r["stored_offset"].as_i64()).collect(),
    )
}

/// Until no projection's stored offsets move for 1.5 s, twice in a row.
async fn wait_caught_up(pool: &PgPool) {
    for _ in 0..2 {
        let settle = || async {
            let before = offsets(pool).await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            (offsets(pool).await == before).then_some(())
        };
        eventually(WAIT, "the projections to settle", settle).await;
    }
}

async fn wait_published(settings: &Settings, events: usize) {
    eventually(WAIT, "the relay to publish", || {
        let settings = settings.clone();
        async move { (count_published(&settings, "InventoryItem").await >= events).then_some(()) }
    })
    .await;
}

// ---- traffic ----

async fn place_orders(
    shop: Arc<Shop>,
    customer: String,
    placed: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let lines: &[(&str, u32, i64)] = if n % 3 == 0 {
            &[("TEA-1", 1, 450), ("CUP-2", 2, 1200)]
        } else {
            &[("CUP-2", 1, 1200)]
        };
        let order = shop.order(&customer, lines).await;
        if n % 5 == 0 {
            shop.cancel(&order, "changed my mind").await;
        }
        placed.lock().await.push(order);
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads known orders and pages of the list until told to stop; answers every failure.
async fn query_orders(
    shop: Arc<Shop>,
    known: Vec<String>,
    reads: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let path = if i % 4 == 0 {
            "/api/orders?limit=10".to_owned()
        } else {
            format!("/api/orders/{}", known[i % known.len()])
        };
        let response = shop
            .app
            .client
            .get(format!("{}{path}", shop.app.address))
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {
                let body: Value = r.json().await.unwrap();
                if !path.contains('?') && body["order_id"] != known[i % known.len()].as_str() {
                    failures.push(format!("{path}: {body}"));
                }
                reads.fetch_add(1, Ordering::SeqCst);
            }
            Ok(r) => failures.push(format!("{path}: {}", r.status())),
            Err(error) => failures.push(format!("{path}: {error}")),
        }
        i += 1;
    }
    failures
}

// ---- what the events say ----

/// Every order row: version is its last sequence, status follows its last status event,
/// it has the lines its `OrderPlaced` named, reserved as its `OrderLineReserved` events say.
async fn assert_orders_match_events(pool: &PgPool) {
    let events: Vec<(String, i64, String, Value)> = sqlx::query_as(
        "SELECT aggregate_id, sequence, event_type, payload -> 'data' FROM events
         WHERE aggregate_type = 'Order' ORDER BY aggregate_id, sequence",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut expected: BTreeMap<String, (i64, String, usize, BTreeSet<String>)> = BTreeMap::new();
    for (id, sequence, event_type, data) in events {
        let entry = expected.entry(id).or_default();
        entry.0 = sequence;
        match event_type.as_str() {
            "OrderPlaced" => {
                entry.1 = "pending".into();
                entry.2 = data["lines"].as_array().unwrap().len();
            }
            "OrderLineReserved" => {
                entry.3.insert(data["sku"].as_str().unwrap().to_owned());
            }
            "OrderAwaitingPayment" => entry.1 = "awaiting_payment".into(),
            // A payment recorded before the last line leaves the order pending.
            "OrderPaymentAuthorized" => {}
            "OrderConfirmed" => entry.1 = "confirmed".into(),
            "OrderRejected" => entry.1 = "rejected".into(),
            "OrderCancelled" => entry.1 = "cancelled".into(),
            "OrderExpired" => entry.1 = "expired".into(),
            other => panic!("unexpected order event {other}"),
        }
    }
    let rows: Vec<(String, i64, String, i64, Vec<String>)> = sqlx::query_as(
        "SELECT o.order_id, o.version, o.status, count(l.sku),
                COALESCE(array_agg(l.sku ORDER BY l.sku) FILTER (WHERE l.reserved), '{}')
         FROM orders o LEFT JOIN order_lines l USING (order_id)
         GROUP BY o.order_id, o.version, o.status ORDER BY o.order_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let actual: BTreeMap<String, (i64, String, usize, BTreeSet<String>)> = rows
        .into_iter()
        .map(|(id, v, s, n, reserved)| (id, (v, s, n as usize, reserved.into_iter().collect())))
        .collect();
    assert_eq!(actual.len(), expected.len(), "one row per order");
    assert_eq!(actual, expected);
}

/// One timeline row per event of a saga: everything but restocks, registrations and
/// credit-limit changes.
async fn timeline_mismatch(pool: &PgPool) -> Option<String> {
    let expected: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence FROM events
         WHERE event_type NOT IN ('StockRestocked', 'CustomerRegistered', 'CreditLimitChanged')
         ORDER BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let actual: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence FROM saga_timeline ORDER BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(!expected.is_empty());
    let (expected, actual): (BTreeSet<_>, BTreeSet<_>) =
        (expected.into_iter().collect(), actual.into_iter().collect());
    let missing: Vec<_> = expected.difference(&actual).take(10).collect();
    let extra: Vec<_> = actual.difference(&expected).take(10).collect();
    (!missing.is_empty() || !extra.is_empty())
        .then(|| format!("timeline rows missing: {missing:?}, not from an event: {extra:?}"))
}

/// The live workers may still be applying the last events: waits, then says what differs.
async fn assert_timeline_matches_events(pool: &PgPool) {
    let started = tokio::time::Instant::now();
    while let Some(mismatch) = timeline_mismatch(pool).await {
        assert!(started.elapsed() < WAIT, "{mismatch}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every row of the rebuilt tables, as JSON text.
async fn snapshot(pool: &PgPool) -> BTreeMap<&'static str, Vec<String>> {
    let mut tables = BTreeMap::new();
    for table in ["orders", "order_lines", "saga_timeline"] {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(t)::text FROM {table} t ORDER BY 1"
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

async fn stock(pool: &PgPool) -> BTreeMap<String, (i64, i64)> {
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT sku, on_hand, version FROM inventory_view")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter().map(|(s, h, v)| (s, (h, v))).collect()
}

/// `skus` SKUs restocked `each` times by one unit: on hand and version are both `each`.
fn expected_stock(skus: usize, each: i64) -> BTreeMap<String, (i64, i64)> {
    (0..skus)
        .map(|a| (format!("SKU-{a}"), (each, each)))
        .collect()
}

/// The inventory projection's worker, in this process.
struct LiveWorker {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl LiveWorker {
    fn start(settings: &Settings, pool: &PgPool) -> Self {
        let worker = projection_worker(settings, pool, InventoryProjection);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(worker.run(stopped));
        Self { stop, task }
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}
