//! Command throughput over HTTP: 16 concurrent clients place orders against a real
//! `causeway serve --roles command-api` process (release build), then prints orders/s,
//! p50/p99 latency and the server's peak RSS. `scripts/bench commands` runs it beside a
//! pgbench baseline of single-row event inserts.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use causeway_tests::bench::{arg, client_for, closed_loop, peak_rss_kb, percentile};
use causeway_tests::process::RoleProcess;
use causeway_tests::{TestDatabase, free_port, register_customer};
use serde_json::json;

const CLIENTS: usize = 16;
const CUSTOMERS: usize = 64;

#[tokio::main]
async fn main() {
    let seconds: u64 = arg("--seconds").unwrap_or(15);
    let db = TestDatabase::migrated().await;
    let port = free_port();
    let mut server = RoleProcess::command("command-api", &db.settings)
        .port(port)
        .start();
    let base = server.base_url();
    let client = client_for(&server, CLIENTS).await;
    let customers = Arc::new(register_customers(&client, &base).await);

    run_for(&client, &base, &customers, Duration::from_secs(2)).await; // warm-up
    let started = Instant::now();
    let latencies = run_for(&client, &base, &customers, Duration::from_secs(seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let rss_kb = peak_rss_kb(server.pid());
    server.kill();

    let count = latencies.len();
    println!(
        "orders={count} seconds={elapsed:.1} orders_per_sec={:.0} p50_ms={:.2} p99_ms={:.2} peak_rss_mb={:.1} clients={CLIENTS}",
        count as f64 / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        rss_kb as f64 / 1024.0
    );
    println!("database={}", db.settings.database.database_name);
}

async fn register_customers(client: &reqwest::Client, base: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(CUSTOMERS);
    for i in 0..CUSTOMERS {
        ids.push(register_customer(client, base, &format!("Bench {i}")).await);
    }
    ids
}

/// Places orders from `CLIENTS` concurrent clients for `duration`; answers each latency in ms,
/// sorted.
async fn run_for(
    client: &reqwest::Client,
    base: &str,
    customers: &Arc<Vec<String>>,
    duration: Duration,
) -> Vec<f64> {
    let (client, base, customers) = (client.clone(), base.to_owned(), Arc::clone(customers));
    closed_loop(CLIENTS, duration, move |worker, k| {
        let (client, base, customers) = (client.clone(), base.clone(), Arc::clone(&customers));
        async move {
            let n = worker + k * CLIENTS;
            let body = json!({"customer_id": customers[n % customers.len()], "currency": "EUR",
                              "lines": [{"sku": format!("SKU-{}", n % 50), "quantity": 1, "unit_price_cents": 1250},
                                        {"sku": format!("SKU-{}", (n + 1) % 50 + 50), "quantity": 2, "unit_price_cents": 399}]});
            let status = client.post(format!("{base}/api/orders")).json(&body).send().await.unwrap().status();
            assert_eq!(status, 202, "placing an order");
        }
    })
    .await
}
