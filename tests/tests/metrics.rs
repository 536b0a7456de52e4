//! `GET /metrics`: the platform with every role in this process, scraped before and after
//! shop traffic (a customer, a restock, an order confirmed then cancelled, a cancel refused,
//! a malformed body). The recorder is global to the process, so the assertions are on
//! deltas.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::time::Duration;

use causeway_tests::eventually;
use causeway_tests::shop::Shop;

/// One sample: metric name (with `_bucket`, `_sum`, … suffixes), labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone)]
struct Scrape(Vec<Sample>);

impl Scrape {
    async fn of(shop: &Shop) -> Self {
        let response = shop.app.get_management("/metrics").await;
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        Self::parse(&response.text().await.unwrap())
    }

    fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(parse_sample)
            .collect();
        Self(samples)
    }

    /// The sum of the samples of `name` whose labels include every one of `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.0.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

/// `name{a="x",b="y"} 1.5` (label values may hold `{`, `}`, `,` and escaped quotes).
fn parse_sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').unwrap();
    let value = value.parse().unwrap();
    let Some((name, rest)) = series.split_once('{') else {
        return Sample {
            name: series.to_owned(),
            labels: BTreeMap::new(),
            value,
        };
    };
    let mut labels = BTreeMap::new();
    let mut rest = rest.strip_suffix('}').unwrap();
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut chars = after.char_indices();
        let mut label = String::new();
        let end = loop {
            match chars.next().unwrap() {
                (_, '\\') => label.push(chars.next().unwrap().1),
                (i, '"') => break i,
                (_, c) => label.push(c),
            }
        };
        labels.insert(key.trim_start_matches(',').to_owned(), label);
        rest = &after[end + 1..];
    }
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

const REQUESTS: &str = "causeway_http_requests_total";
const COMMANDS: &str = "causeway_commands_total";

#[tokio::test]
async fn metrics_count_requests_commands_events_relay_sagas_and_consumer_lag() {
    let shop = Shop::start().await;
    let before = Scrape::of(&shop).await;

    let customer = shop.customer(1_000_000).await;
    let sku = causeway_tests::unique("SKU");
    shop.restock(&sku, 10).await;
    let order = shop.order(&customer, &[(&sku, 2, 1_500)]).await;
    let malformed = shop
        .app
        .client
        .post(format!("{}/api/orders", shop.app.address))
        .header("content-type", "application/json")
        .body("{\"customer_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    shop.wait_for(&order, "confirmed", Duration::from_secs(60))
        .await;
    shop.cancel(&order, "changed my mind").await;
    let again = shop
        .app
        .client
        .post(format!("{}/api/orders/{order}/cancel", shop.app.address))
        .json(&serde_json::json!({ "reason": "twice" }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 422);
    shop.wait_for(&order, "cancelled", Duration::from_secs(60))
        .await;

    let after = Scrape::of(&shop).await;
    let delta =
        |name: &str, labels: &[(&str, &str)]| after.sum(name, labels) - before.sum(name, labels);
    let post = |route: &'static str, status: &'static str| {
        [("route", route), ("method", "POST"), ("status", status)]
    };
    assert_eq!(delta(REQUESTS, &post("/api/customers", "201")), 1.0);
    assert_eq!(
        delta(REQUESTS, &post("/api/inventory/{sku}/restock", "200")),
        1.0
    );
    assert_eq!(delta(REQUESTS, &post("/api/orders", "202")), 1.0);
    assert_eq!(delta(REQUESTS, &post("/api/orders", "400")), 1.0);
    assert_eq!(
        delta(REQUESTS, &post("/api/orders/{id}/cancel", "200")),
        1.0
    );
    assert_eq!(
        delta(REQUESTS, &post("/api/orders/{id}/cancel", "422")),
        1.0
    );
    let placed = post("/api/orders", "202");
    let orders_buckets: Vec<&Sample> = after
        .matching("causeway_http_request_duration_seconds_bucket", &placed)
        .collect();
    assert!(orders_buckets.len() > 5, "{orders_buckets:?}");
    assert!(
        orders_buckets
            .iter()
            .any(|s| s.labels["le"] == "+Inf" && s.value >= 1.0),
        "{orders_buckets:?}"
    );

    let accepted = |aggregate: &'static str, command: &'static str| {
        [
            ("aggregate", aggregate),
            ("command", command),
            ("outcome", "accepted"),
        ]
    };
    assert_eq!(delta(COMMANDS, &accepted("Customer", "Register")), 1.0);
    assert_eq!(delta(COMMANDS, &accepted("InventoryItem", "Restock")), 1.0);
    assert_eq!(delta(COMMANDS, &accepted("Order", "Place")), 1.0);
    // Saga commands go through the same store: counted too.
    assert!(delta(COMMANDS, &accepted("InventoryItem", "Reserve")) >= 1.0);
    assert!(delta(COMMANDS, &accepted("Order", "Confirm")) >= 1.0);
    assert!(delta(COMMANDS, &accepted("Payment", "Authorize")) >= 1.0);
    assert!(
        after
            .matching(
                "causeway_command_duration_seconds_bucket",
                &accepted("Order", "Place")
            )
            .count()
            > 5
    );
    let rejected = [
        ("aggregate", "Order"),
        ("command", "Cancel"),
        ("outcome", "rejected"),
        ("code", "order_already_final"),
    ];
    assert_eq!(delta(COMMANDS, &rejected), 1.0);
    assert_eq!(delta(COMMANDS, &accepted("Order", "Cancel")), 1.0);
    assert!(delta("causeway_saga_outcomes_total", &[("outcome", "confirmed")]) >= 1.0);
    assert!(delta("causeway_saga_outcomes_total", &[("outcome", "cancelled")]) >= 1.0);

    // Once the saga has settled, every stored event was counted appended and published, the
    // relay has nothing left to publish and no projection or saga participant of this shop
    // lags.
    let prefix = shop.settings.kafka.topic_prefix.clone();
    eventually(
        Duration::from_secs(30),
        "events appended = published = stored, relay and consumer lag 0",
        || async {
            let now = Scrape::of(&shop).await;
            let moved = |name: &str| now.sum(name, &[]) - before.sum(name, &[]);
            let stored = shop.event_count().await as f64;
            let lags: Vec<f64> = now
                .matching("causeway_consumer_lag_messages", &[])
                .filter(|s| s.labels["topic"].starts_with(&prefix))
                .filter(|s| {
                    let consumer = &s.labels["consumer"];
                    consumer.starts_with("projection.") || consumer.starts_with("saga.")
                })
                .map(|s| s.value)
                .collect();
            let participants_measured = ["saga.inventory", "saga.payment", "saga.order"]
                .iter()
                .all(|participant| {
                    now.matching(
                        "causeway_consumer_lag_messages",
                        &[("consumer", *participant)],
                    )
                    .any(|s| s.labels["topic"].starts_with(&prefix))
                });
            let consumers = now
                .matching("causeway_consumer_lag_messages", &[])
                .filter(|s| s.labels["topic"] == format!("{prefix}orders.events"))
                .filter(|s| s.labels["consumer"] == "projection.orders")
                .count();
            let settled = moved("causeway_events_appended_total") == stored
                && moved("causeway_relay_published_events_total") == stored
                && now.sum("causeway_relay_lag_events", &[]) == 0.0
                && now.sum("causeway_relay_leader", &[]) == 1.0
                && consumers > 0
                && participants_measured
                && lags.iter().all(|lag| *lag == 0.0);
            settled.then_some(())
        },
    )
    .await;
    let appended_orders = delta("causeway_events_appended_total", &[("aggregate", "Order")]);
    let stored_orders: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Order'")
            .fetch_one(&shop.pool)
            .await
            .unwrap();
    assert_eq!(appended_orders, stored_orders as f64);
    // Every append went in through some statement, and no statement carried nothing.
    let statements = |write| {
        delta(
            "causeway_event_store_append_statements_total",
            &[("write", write)],
        )
    };
    let (grouped, alone) = (statements("group"), statements("alone"));
    let appended = delta("causeway_events_appended_total", &[]);
    assert!(
        grouped + alone >= 1.0 && grouped + alone <= appended,
        "{grouped} group and {alone} single statements for {appended} events"
    );
    shop.stop().await;
}

#[test]
fn the_scrape_parser_reads_label_values_with_braces_and_escapes() {
    let scrape =
        Scrape::parse("# TYPE x counter\nx{route=\"/a/{id}\",q=\"say \\\"hi\\\", ok\"} 3\ny 1.5\n");
    assert_eq!(scrape.sum("x", &[("route", "/a/{id}")]), 3.0);
    assert_eq!(scrape.sum("x", &[("q", "say \"hi\", ok")]), 3.0);
    assert_eq!(scrape.sum("y", &[]), 1.5);
}
