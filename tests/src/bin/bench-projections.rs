//! Projection throughput, in one run on one database: the live inventory worker (Kafka →
//! Postgres), rebuilds of 1,000,000 events from the event store and from Kafka (the release
//! `causeway projections rebuild` binary, its peak RSS sampled), a raw Postgres bulk insert of
//! as many rows (multi-row INSERT and COPY) as the baseline, and `GET /api/orders/{id}` with 32
//! concurrent clients against `causeway serve --roles read-api` (beside the same lookup as raw
//! SQL). `scripts/bench projections` builds it in release mode and runs it.
//!
//! The events are inserted straight into `events` with SQL and published by the real relay:
//! `StockRestocked` of 10,000 SKUs, interleaved (a batch of 5,000 holds each SKU at most
//! once, so set-based batches gain nothing from folding, only from fewer statements). Each
//! rebuild also prints where its time went (read, decode, apply, indexes, swap).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use causeway_event_store::Position;
use causeway_infra::Settings;
use causeway_infra::avro::EventCodec;
use causeway_projections::InventoryProjection;
use causeway_relay::{Relay, checkpoint};
use causeway_tests::bench::{arg, client_for, closed_loop, peak_rss_kb, percentile};
use causeway_tests::process::RoleProcess;
use causeway_tests::relay_support::isolated_relay_settings;
use causeway_tests::{TestDatabase, causeway_binary, free_port};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

const SKUS: i64 = 10_000;
const CLIENTS: usize = 32;
const ORDERS: i64 = 10_000;

#[tokio::main]
async fn main() {
    let events: i64 = arg("--events").unwrap_or(1_000_000);
    let live_seconds: u64 = arg("--live-seconds").unwrap_or(40);
    let read_seconds: u64 = arg("--read-seconds").unwrap_or(10);
    let db = TestDatabase::migrated().await;
    let settings = isolated_relay_settings(&db.settings, 5000);
    let started = Instant::now();
    seed(&db.pool, events).await;
    println!(
        "seeded={events} seed_seconds={:.1}",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    publish(&settings, &db.pool).await;
    println!(
        "published={events} publish_seconds={:.1}",
        started.elapsed().as_secs_f64()
    );

    let (applied, seconds) = live(&settings, &db.pool, events, live_seconds).await;
    println!(
        "live_events={applied} live_seconds={seconds:.1} live_events_per_sec={:.0}",
        applied as f64 / seconds
    );
    let insert = baseline_insert(&db.pool, events).await;
    println!(
        "baseline_insert_seconds={insert:.2} baseline_insert_rows_per_sec={:.0}",
        events as f64 / insert
    );
    let copy = baseline_copy(&db.pool, events).await;
    println!(
        "baseline_copy_seconds={copy:.2} baseline_copy_rows_per_sec={:.0}",
        events as f64 / copy
    );
    for from in ["store", "kafka"] {
        let (report, wall, rss_mb) = rebuild(&settings, from);
        let rebuilt = report["events"].as_i64().unwrap();
        assert_eq!(rebuilt, events, "every event rebuilt: {report}");
        check_view(&db.pool, events).await;
        println!(
            "rebuild_{from}_events={rebuilt} rebuild_{from}_seconds={wall:.2} rebuild_{from}_events_per_sec={:.0} rebuild_{from}_peak_rss_mb={rss_mb:.1} rebuild_{from}_vs_insert={:.2} rebuild_{from}_vs_copy={:.2}",
            rebuilt as f64 / wall,
            insert / wall,
            copy / wall,
        );
        let t = &report["timings"];
        println!(
            "rebuild_{from}_read_s={} rebuild_{from}_decode_s={} rebuild_{from}_apply_s={} rebuild_{from}_index_s={} rebuild_{from}_swap_s={}",
            t["read_seconds"],
            t["decode_seconds"],
            t["apply_seconds"],
            t["index_seconds"],
            t["swap_seconds"],
        );
    }
    let ids = seed_orders(&db.pool).await;
    let (rate, p50, p99, rss_mb) = read_api(&db, &ids, read_seconds).await;
    println!(
        "get_order_per_sec={rate:.0} get_order_p50_ms={p50:.2} get_order_p99_ms={p99:.2} read_api_peak_rss_mb={rss_mb:.1} clients={CLIENTS}"
    );
    let (sql_rate, sql_p99) = raw_lookup(&db, &ids, read_seconds).await;
    println!(
        "sql_lookup_per_sec={sql_rate:.0} sql_lookup_p99_ms={sql_p99:.2} get_order_vs_sql={:.2}",
        rate / sql_rate
    );
    println!("database={}", db.settings.database.database_name);
}

/// `events` restocks of one unit, SKU after SKU in turn (sequence = round + 1).
async fn seed(pool: &PgPool, events: i64) {
    for start in (0..events).step_by(200_000) {
        let end = (start + 200_000).min(events);
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT 'InventoryItem', 'SKU-' || (g % $3), g / $3 + 1, 'StockRestocked', '1',
                    '{\"type\":\"StockRestocked\",\"data\":{\"quantity\":1}}',
                    '{\"correlation_id\":\"bench\",\"traceparent\":\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\"}'
             FROM generate_series($1, $2 - 1) AS g",
        )
        .bind(start)
        .bind(end)
        .bind(SKUS)
        .execute(pool)
        .await
        .unwrap();
    }
}

/// Runs the relay until its checkpoint reaches the last stored event.
async fn publish(settings: &Settings, pool: &PgPool) {
    let (transaction_id, global_position): (i64, i64) = sqlx::query_as(
        "SELECT transaction_id::text::bigint, global_position FROM events
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let last = Position {
        transaction_id,
        global_position,
    };
    let codec = EventCodec::new(&settings.registry).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(
        Relay::new(
            &settings.relay,
            &settings.kafka,
            &settings.database,
            pool.clone(),
            codec,
        )
        .run(stopped),
    );
    while !checkpoint::read(&settings.relay, &settings.kafka)
        .await
        .is_ok_and(|p| p >= last)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop.send(true);
    let _ = relay.await;
}

/// Events applied per second by the live worker (default batching), for at most `seconds`.
async fn live(settings: &Settings, pool: &PgPool, events: i64, seconds: u64) -> (i64, f64) {
    let worker = causeway_tests::projection_worker(settings, pool, InventoryProjection);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(stopped));
    let applied = || async {
        sqlx::query_scalar::<_, Option<i64>>("SELECT sum(version)::bigint FROM inventory_view")
            .fetch_one(pool)
            .await
            .unwrap()
            .unwrap_or(0)
    };
    // From the first applied batch, so the consumer group's join is not counted.
    while applied().await == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (first, started) = (applied().await, Instant::now());
    let deadline = started + Duration::from_secs(seconds);
    let mut now = first;
    while now < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        now = applied().await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = task.await;
    (now - first, elapsed)
}

async fn baseline_table(pool: &PgPool, name: &str) {
    sqlx::query(&format!(
        "CREATE TABLE {name} (sku text NOT NULL, on_hand bigint NOT NULL, reserved bigint NOT NULL,
            available bigint NOT NULL, version bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (sku, version))"
    ))
    .execute(pool)
    .await
    .unwrap();
}

/// 1 row per event, 5,000 per multi-row INSERT: seconds.
async fn baseline_insert(pool: &PgPool, events: i64) -> f64 {
    baseline_table(pool, "bench_insert").await;
    let started = Instant::now();
    for start in (0..events).step_by(5000) {
        let range = start..(start + 5000).min(events);
        let skus: Vec<String> = range.clone().map(|g| format!("SKU-{}", g % SKUS)).collect();
        let versions: Vec<i64> = range.map(|g| g / SKUS + 1).collect();
        sqlx::query(
            "INSERT INTO bench_insert (sku, on_hand, reserved, available, version)
             SELECT s, v, 0, v, v FROM UNNEST($1::text[], $2::bigint[]) AS t(s, v)",
        )
        .bind(&skus)
        .bind(&versions)
        .execute(pool)
        .await
        .unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// 1 row per event through one COPY: seconds.
async fn baseline_copy(pool: &PgPool, events: i64) -> f64 {
    baseline_table(pool, "bench_copy").await;
    let started = Instant::now();
    let mut conn = pool.acquire().await.unwrap();
    let mut copy = conn
        .copy_in_raw("COPY bench_copy (sku, on_hand, reserved, available, version) FROM STDIN")
        .await
        .unwrap();
    let mut chunk = String::with_capacity(1 << 20);
    for g in 0..events {
        let v = g / SKUS + 1;
        chunk.push_str(&format!("SKU-{}\t{v}\t0\t{v}\t{v}\n", g % SKUS));
        if chunk.len() > (1 << 20) - 64 {
            copy.send(chunk.as_bytes()).await.unwrap();
            chunk.clear();
        }
    }
    copy.send(chunk.as_bytes()).await.unwrap();
    copy.finish().await.unwrap();
    started.elapsed().as_secs_f64()
}

/// Runs `causeway projections rebuild inventory --from FROM`: its report, wall seconds and
/// peak RSS (sampled from /proc while it runs).
fn rebuild(settings: &Settings, from: &str) -> (Value, f64, f64) {
    let started = Instant::now();
    let mut child = Command::new(causeway_binary())
        .args([
            "projections",
            "rebuild",
            "inventory",
            "--from",
            from,
            "--json",
        ])
        .envs(env(settings))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start causeway projections rebuild");
    let mut peak_kb = 0;
    while child.try_wait().unwrap().is_none() {
        peak_kb = peak_kb.max(peak_rss_kb(child.id()));
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = started.elapsed().as_secs_f64();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "rebuild from {from} failed");
    let out = String::from_utf8(output.stdout).unwrap();
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_default();
    let report: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {out}"));
    (report, wall, peak_kb as f64 / 1024.0)
}

/// Every SKU restocked `events / SKUS` times by one unit.
async fn check_view(pool: &PgPool, events: i64) {
    let (rows, units): (i64, Option<i64>) =
        sqlx::query_as("SELECT count(*), sum(on_hand)::bigint FROM inventory_view")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(
        (rows, units),
        (SKUS.min(events), Some(events)),
        "the rebuilt view"
    );
}

fn env(settings: &Settings) -> Vec<(&'static str, String)> {
    vec![
        (
            "CAUSEWAY_DATABASE__DATABASE_NAME",
            settings.database.database_name.clone(),
        ),
        (
            "CAUSEWAY_KAFKA__TOPIC_PREFIX",
            settings.kafka.topic_prefix.clone(),
        ),
        ("CAUSEWAY_TELEMETRY__OTLP_ENDPOINT", String::new()),
        ("RUST_LOG", "warn".into()),
    ]
}

/// `ORDERS` orders of two lines each, straight into the read model; answers their ids.
async fn seed_orders(pool: &PgPool) -> Arc<Vec<String>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "WITH o AS (
             INSERT INTO orders (order_id, customer_id, status, currency, total_minor, placed_at,
                                 deadline, updated_at, version)
             SELECT gen_random_uuid()::text, gen_random_uuid()::text, 'confirmed', 'EUR', 2048,
                    now(), now() + interval '1 minute', now(), 4
             FROM generate_series(1, $1)
             RETURNING order_id),
         l AS (
             INSERT INTO order_lines (order_id, sku, quantity, unit_price_minor, reserved, position)
             SELECT order_id, sku, 1, 1024, true, p FROM o,
                    (VALUES ('SKU-1', 1), ('SKU-2', 2)) AS x(sku, p))
         SELECT order_id FROM o",
    )
    .bind(ORDERS)
    .fetch_all(pool)
    .await
    .unwrap();
    Arc::new(ids)
}

/// `GET /api/orders/{id}` from `CLIENTS` clients for `seconds`: rate, p50, p99, server RSS.
async fn read_api(db: &TestDatabase, ids: &Arc<Vec<String>>, seconds: u64) -> (f64, f64, f64, f64) {
    let mut server = RoleProcess::command("read-api", &db.settings)
        .port(free_port())
        .env("CAUSEWAY_DATABASE__MAX_CONNECTIONS", CLIENTS.to_string())
        .start();
    let base = server.base_url();
    let client = client_for(&server, CLIENTS).await;
    let get = {
        let (client, base) = (client.clone(), base.clone());
        move |id: String| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let response = client
                    .get(format!("{base}/api/orders/{id}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "GET order");
                response.bytes().await.unwrap();
            }
        }
    };
    load(ids, Duration::from_secs(2), get.clone()).await; // warm-up
    let started = Instant::now();
    let latencies = load(ids, Duration::from_secs(seconds), get).await;
    let elapsed = started.elapsed().as_secs_f64();
    let rss = peak_rss_kb(server.pid()) as f64 / 1024.0;
    server.kill();
    (
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        rss,
    )
}

/// The same lookup as raw SQL over `CLIENTS` connections: rate and p99.
async fn raw_lookup(db: &TestDatabase, ids: &Arc<Vec<String>>, seconds: u64) -> (f64, f64) {
    let pool = PgPoolOptions::new()
        .max_connections(CLIENTS as u32)
        .connect_with(db.settings.database.connect_options())
        .await
        .unwrap();
    let get = move |id: String| {
        let pool = pool.clone();
        async move {
            let _: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT o.order_id, l.sku, l.quantity FROM orders o JOIN order_lines l USING (order_id)
                 WHERE o.order_id = $1",
            )
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap();
        }
    };
    let started = Instant::now();
    let latencies = load(ids, Duration::from_secs(seconds), get).await;
    let elapsed = started.elapsed().as_secs_f64();
    (
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.99),
    )
}

/// Runs `call` from `CLIENTS` clients over the ids for `duration`; answers latencies in ms,
/// sorted. Client `w` starts at id `w × 7919` and walks on one id at a time.
async fn load<F, Fut>(ids: &Arc<Vec<String>>, duration: Duration, call: F) -> Vec<f64>
where
    F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let ids = Arc::clone(ids);
    closed_loop(CLIENTS, duration, move |worker, k| {
        call(ids[(worker * 7919 + k) % ids.len()].clone())
    })
    .await
}
