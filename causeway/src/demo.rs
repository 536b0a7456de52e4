//! `causeway demo`: realistic shop traffic against a running platform (DESIGN.md §7).
//!
//! It registers customers (most with ample credit, a `--decline-ratio` share of the orders go
//! to customers whose credit is too small: payment declined), restocks SKUs (plenty of most,
//! little of one scarce SKU: out of stock), then places orders at a steady `--rate` over HTTP
//! and follows each through the read API until it is final, cancelling a `--cancel-ratio`
//! share of the confirmed ones (refund and compensation). Orders are followed by one scan of
//! the newest orders every [`SCAN_EVERY`] (not one poll per order), so following costs the
//! platform about the same however many orders are in flight. A live summary shows orders/s, the
//! outcomes so far and the p50/p99 time from `POST /api/orders` to a final state. An order
//! expires only when a participant is down past its deadline: stop the `sagas` role to see it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use causeway_infra::Settings;
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};
use uuid::Uuid;

/// How often the followed orders are looked up.
pub const SCAN_EVERY: Duration = Duration::from_millis(50);
/// Scans read back to this long before the oldest followed order was placed (clock skew
/// between the demo and the platform).
const SCAN_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// Most orders one scan page holds (the query API's largest page).
const SCAN_PAGE: usize = 500;
const FINAL: [&str; 4] = ["confirmed", "rejected", "cancelled", "expired"];

/// `causeway demo` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Base URL of the platform (default: this machine's `http` settings).
    #[arg(long)]
    pub url: Option<String>,
    /// Base URL of the query API, when another process serves it (default: `--url`).
    #[arg(long)]
    pub read_url: Option<String>,
    /// Customers to register.
    #[arg(long, default_value_t = 20)]
    pub customers: usize,
    /// Orders to place; 0 places orders until interrupted.
    #[arg(long, default_value_t = 0)]
    pub orders: u64,
    /// Orders placed per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Share of orders placed by customers whose credit is too small.
    #[arg(long, default_value_t = 0.1)]
    pub decline_ratio: f64,
    /// Share of orders that ask for the scarce SKU (rejected for stock once it runs out).
    #[arg(long, default_value_t = 0.1)]
    pub scarce_ratio: f64,
    /// Share of confirmed orders then cancelled.
    #[arg(long, default_value_t = 0.05)]
    pub cancel_ratio: f64,
    /// Longest wait for one order to become final before it counts as unfinished.
    #[arg(long, default_value_t = 60)]
    pub final_timeout_secs: u64,
}

/// How one order ended, as the read API says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Confirmed,
    RejectedStock,
    RejectedPayment,
    Cancelled,
    Expired,
    Unfinished,
    Failed,
}

/// Counters and the time-to-final histogram, shared by the order tasks.
#[derive(Debug)]
struct Stats {
    placed: u64,
    outcomes: [u64; 7],
    to_final: Histogram<u64>,
    /// When each of the last [`RATE_WINDOW`] final orders was seen final, in seconds since
    /// the orders started (bounded: the demo may run for days).
    final_at: VecDeque<f64>,
}

/// How many of the latest final orders the completion rate is taken over.
const RATE_WINDOW: usize = 10_000;

impl Stats {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            placed: 0,
            outcomes: [0; 7],
            to_final: Histogram::new_with_bounds(1, 3_600_000, 3)?,
            final_at: VecDeque::with_capacity(RATE_WINDOW),
        })
    }

    /// Notes an order seen final `at` seconds after the orders started, forgetting the oldest
    /// beyond [`RATE_WINDOW`].
    fn final_seen(&mut self, at: f64) {
        if self.final_at.len() == RATE_WINDOW {
            self.final_at.pop_front();
        }
        self.final_at.push_back(at);
    }

    /// Orders seen final per second, between the moments a tenth and nine tenths of the last
    /// [`RATE_WINDOW`] were: the rate the platform carried. Unlike final ÷ elapsed it is not lowered by the
    /// time the first and the last orders take, so a platform that keeps up scores the rate
    /// asked for. `None` before 10 orders are final.
    fn completed_per_sec(&self) -> Option<f64> {
        let n = self.final_at.len();
        if n < 10 {
            return None;
        }
        let mut at: Vec<f64> = self.final_at.iter().copied().collect();
        at.sort_unstable_by(f64::total_cmp);
        let (first, last) = (n / 10, n * 9 / 10);
        let span = at[last] - at[first];
        (span > 0.0).then(|| (last - first) as f64 / span)
    }

    /// Orders that reached a final state (not unfinished, not failed).
    fn finished(&self) -> u64 {
        self.outcomes[..5].iter().sum()
    }

    fn line(&self, elapsed: Duration) -> String {
        let [
            confirmed,
            stock,
            payment,
            cancelled,
            expired,
            unfinished,
            failed,
        ] = self.outcomes;
        let secs = elapsed.as_secs_f64().max(0.001);
        let completed = self
            .completed_per_sec()
            .map_or_else(|| "-".to_owned(), |rate| format!("{rate:.1}/s"));
        format!(
            "{:>6.1}s placed={} ({:.1}/s) final={} completed={completed} confirmed={confirmed} rejected_stock={stock} rejected_payment={payment} cancelled={cancelled} expired={expired} unfinished={unfinished} failed={failed} p50={}ms p99={}ms",
            secs,
            self.placed,
            self.placed as f64 / secs,
            self.finished(),
            self.to_final.value_at_quantile(0.50),
            self.to_final.value_at_quantile(0.99),
        )
    }
}

/// What the order tasks share.
struct Demo {
    client: Client,
    url: String,
    read_url: String,
    args: DemoArgs,
    rich: Vec<String>,
    poor: Vec<String>,
    skus: Vec<String>,
    scarce: String,
    stats: Mutex<Stats>,
    started: Instant,
    followed: Mutex<HashMap<String, Followed>>,
}

/// An order waiting for a state.
struct Followed {
    /// Waiting for `cancelled` (after a cancel), not just any final state.
    cancelled: bool,
    /// Shortly before it was placed (the demo's clock).
    since: DateTime<Utc>,
    done: oneshot::Sender<Value>,
}

/// Runs the demo until `--orders` are final (or forever with 0), printing a live summary.
#[allow(clippy::print_stdout)]
pub async fn run(args: DemoArgs, settings: &Settings) -> anyhow::Result<()> {
    if !args.rate.is_finite() || args.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    let url = args.url.clone().unwrap_or_else(|| {
        let host = if settings.http.host == "0.0.0.0" {
            "127.0.0.1"
        } else {
            &settings.http.host
        };
        format!("http://{host}:{}", settings.http.port)
    });
    let client = Client::builder().timeout(Duration::from_secs(30)).build()?;
    let demo = Arc::new(setup(client, url, args).await?);
    println!(
        "demo: {} customers, {} SKUs (+1 scarce) at {}; placing orders at {}/s",
        demo.rich.len() + demo.poor.len(),
        demo.skus.len(),
        demo.url,
        demo.args.rate
    );
    let started = demo.started;
    let reporter = tokio::spawn(report(demo.clone(), started));
    let follower = tokio::spawn(follow(demo.clone()));
    let result = place_orders(demo.clone()).await;
    reporter.abort();
    follower.abort();
    let stats = demo
        .stats
        .lock()
        .map_err(|_| anyhow::anyhow!("stats poisoned"))?;
    println!("{}", stats.line(started.elapsed()));
    result
}

/// Registers the customers and restocks the SKUs.
async fn setup(client: Client, url: String, args: DemoArgs) -> anyhow::Result<Demo> {
    let run = Uuid::new_v4().simple().to_string();
    let run = &run[..8];
    let skus: Vec<String> = ["TEA", "COFFEE", "MUG", "KETTLE", "BISCUIT", "SPOON"]
        .iter()
        .map(|name| format!("{name}-{run}").to_uppercase())
        .collect();
    let scarce = format!("LIMITED-{run}").to_uppercase();
    let read_url = args.read_url.clone().unwrap_or_else(|| url.clone());
    let demo = Demo {
        client,
        url,
        read_url,
        rich: Vec::new(),
        poor: Vec::new(),
        skus,
        scarce,
        stats: Mutex::new(Stats::new()?),
        started: Instant::now(),
        followed: Mutex::new(HashMap::new()),
        args,
    };
    for sku in &demo.skus {
        demo.post(
            &format!("/api/inventory/{sku}/restock"),
            json!({"quantity": 1_000_000}),
        )
        .await?;
    }
    let scarce_units = (demo.args.orders.max(1000) as f64 * demo.args.scarce_ratio / 4.0)
        .ceil()
        .max(1.0);
    demo.post(
        &format!("/api/inventory/{}/restock", demo.scarce),
        json!({"quantity": scarce_units as u64}),
    )
    .await?;
    let mut demo = demo;
    let poor_count = ((demo.args.customers as f64) * demo.args.decline_ratio)
        .ceil()
        .max(1.0) as usize;
    for i in 0..demo.args.customers.max(2) {
        let poor = i < poor_count;
        let limit = if poor { 500 } else { 1_000_000_000 };
        let answer = demo
            .post("/api/customers", json!({"name": format!("Demo customer {i}"), "email": format!("demo-{run}-{i}@example.com"), "credit_limit_cents": limit, "currency": "EUR"}))
            .await?;
        let id = answer["customer_id"]
            .as_str()
            .context("customer_id in the answer")?
            .to_owned();
        if poor {
            demo.poor.push(id)
        } else {
            demo.rich.push(id)
        }
    }
    demo.started = Instant::now();
    Ok(demo)
}

/// Places orders at the configured rate, each followed by its own task.
#[allow(clippy::print_stdout)]
async fn place_orders(demo: Arc<Demo>) -> anyhow::Result<()> {
    let in_flight = Arc::new(Semaphore::new(2_000));
    // Order i is due at i / rate from the start; one sent late is followed at once by those
    // due meanwhile (tokio's default, Burst). Delaying the schedule instead let every late
    // wake-up of this task on a busy machine lower the rate offered.
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / demo.args.rate));
    let mut tasks = tokio::task::JoinSet::new();
    let mut placed = 0u64;
    loop {
        if demo.args.orders > 0 && placed >= demo.args.orders {
            break;
        }
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let permit = in_flight.clone().acquire_owned().await?;
        let demo = demo.clone();
        tasks.spawn(async move {
            let outcome = demo.one_order().await;
            demo.record(outcome);
            drop(permit);
        });
        placed += 1;
        while tasks.try_join_next().is_some() {}
    }
    let placing = demo.started.elapsed();
    println!(
        "demo: {placed} orders sent in {:.1}s ({:.1}/s sustained); waiting for them to finish",
        placing.as_secs_f64(),
        placed as f64 / placing.as_secs_f64().max(0.001)
    );
    tokio::select! {
        _ = async { while tasks.join_next().await.is_some() {} } => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

#[allow(clippy::print_stdout)]
async fn report(demo: Arc<Demo>, started: Instant) {
    let mut every = tokio::time::interval(Duration::from_secs(2));
    every.tick().await;
    loop {
        every.tick().await;
        if let Ok(stats) = demo.stats.lock() {
            println!("{}", stats.line(started.elapsed()));
        }
    }
}

impl Demo {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path} answered {status}: {answer}");
        }
        Ok(answer)
    }

    fn record(&self, (outcome, to_final): (Outcome, Option<Duration>)) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.outcomes[outcome as usize] += 1;
            if let Some(elapsed) = to_final {
                stats.final_seen(self.started.elapsed().as_secs_f64());
                let ms = u64::try_from(elapsed.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1);
                let _ = stats.to_final.record(ms);
            }
        }
    }

    /// Places one order and follows it to its final state.
    async fn one_order(&self) -> (Outcome, Option<Duration>) {
        let poor = fastrand::f64() < self.args.decline_ratio;
        let customers = if poor && !self.poor.is_empty() {
            &self.poor
        } else {
            &self.rich
        };
        let customer = &customers[fastrand::usize(..customers.len())];
        let mut lines = Vec::new();
        let mut skus = self.skus.clone();
        fastrand::shuffle(&mut skus);
        for sku in skus.iter().take(fastrand::usize(1..=3)) {
            lines.push(json!({"sku": sku, "quantity": fastrand::u32(1..=3), "unit_price_cents": fastrand::i64(150..=2_500)}));
        }
        if fastrand::f64() < self.args.scarce_ratio {
            lines.push(json!({"sku": self.scarce, "quantity": 1, "unit_price_cents": 9_900}));
        }
        let started = Instant::now();
        let since = Utc::now();
        let placed = self
            .post(
                "/api/orders",
                json!({"customer_id": customer, "currency": "EUR", "lines": lines}),
            )
            .await;
        if let Ok(mut stats) = self.stats.lock() {
            stats.placed += 1;
        }
        let Some(order) = placed
            .ok()
            .and_then(|a| a["order_id"].as_str().map(str::to_owned))
        else {
            return (Outcome::Failed, None);
        };
        let timeout = Duration::from_secs(self.args.final_timeout_secs);
        let Some(first) = self.wait_for(&order, false, since, timeout).await else {
            return (Outcome::Unfinished, None);
        };
        let to_final = started.elapsed();
        let outcome = classify(&first);
        if outcome == Outcome::Confirmed && fastrand::f64() < self.args.cancel_ratio {
            if self
                .post(
                    &format!("/api/orders/{order}/cancel"),
                    json!({"reason": "changed my mind (demo)"}),
                )
                .await
                .is_err()
            {
                return (Outcome::Failed, Some(to_final));
            }
            return match self
                .wait_for(&order, true, since, timeout)
                .await
                .map(|o| classify(&o))
            {
                Some(Outcome::Cancelled) => (Outcome::Cancelled, Some(to_final)),
                _ => (Outcome::Unfinished, Some(to_final)),
            };
        }
        (outcome, Some(to_final))
    }

    /// Waits until [`follow`] sees the order final (`cancelled`: cancelled), or `timeout`.
    async fn wait_for(
        &self,
        order: &str,
        cancelled: bool,
        since: DateTime<Utc>,
        timeout: Duration,
    ) -> Option<Value> {
        let (done, seen) = oneshot::channel();
        if let Ok(mut followed) = self.followed.lock() {
            followed.insert(
                order.to_owned(),
                Followed {
                    cancelled,
                    since,
                    done,
                },
            );
        }
        let view = tokio::time::timeout(timeout, seen).await.ok()?.ok();
        if view.is_none()
            && let Ok(mut followed) = self.followed.lock()
        {
            followed.remove(order);
        }
        view
    }

    /// The oldest followed order's `since`, and how many are followed.
    fn followed_window(&self) -> Option<(DateTime<Utc>, usize)> {
        let followed = self.followed.lock().ok()?;
        let oldest = followed.values().map(|f| f.since).min()?;
        Some((oldest, followed.len()))
    }

    /// Hands the orders of `page` that reached what they wait for to their waiters; answers
    /// whether any order is still followed.
    fn settle(&self, page: &[Value]) -> bool {
        let Ok(mut followed) = self.followed.lock() else {
            return false;
        };
        for view in page {
            let (Some(id), Some(status)) = (view["order_id"].as_str(), view["status"].as_str())
            else {
                continue;
            };
            let reached = followed.get(id).is_some_and(|f| {
                if f.cancelled {
                    status == "cancelled"
                } else {
                    FINAL.contains(&status)
                }
            });
            if let Some(waiter) = reached.then(|| followed.remove(id)).flatten() {
                let _ = waiter.done.send(view.clone());
            }
        }
        !followed.is_empty()
    }

    /// One page of the newest orders (`GET /api/orders`), and the cursor of the next.
    async fn orders_page(
        &self,
        limit: usize,
        cursor: Option<&str>,
    ) -> Option<(Vec<Value>, Option<String>)> {
        let mut url = reqwest::Url::parse(&format!("{}/api/orders", self.read_url)).ok()?;
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string());
        if let Some(cursor) = cursor {
            url.query_pairs_mut().append_pair("cursor", cursor);
        }
        let response = self.client.get(url).send().await.ok()?;
        if response.status() != StatusCode::OK {
            return None;
        }
        let mut page = response.json::<Value>().await.ok()?;
        let items = match page["items"].take() {
            Value::Array(items) => items,
            _ => Vec::new(),
        };
        let next = page["next_cursor"].as_str().map(str::to_owned);
        Some((items, next))
    }
}

/// Every [`SCAN_EVERY`], reads the newest orders (newest first) back to shortly before the
/// oldest followed one was placed, and settles the followed orders found there.
async fn follow(demo: Arc<Demo>) {
    let mut every = tokio::time::interval(SCAN_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some((oldest, count)) = demo.followed_window() else {
            continue;
        };
        let floor = oldest - SCAN_MARGIN;
        let limit = (count * 2).clamp(50, SCAN_PAGE);
        let mut cursor: Option<String> = None;
        while let Some((page, next)) = demo.orders_page(limit, cursor.as_deref()).await {
            let more = demo.settle(&page);
            let past_floor = page
                .last()
                .and_then(|v| v["placed_at"].as_str())
                .and_then(|at| at.parse::<DateTime<Utc>>().ok())
                .is_none_or(|at| at < floor);
            match next {
                Some(next) if more && !past_floor => cursor = Some(next),
                _ => break,
            }
        }
    }
}

fn classify(view: &Value) -> Outcome {
    match view["status"].as_str().unwrap_or_default() {
        "confirmed" => Outcome::Confirmed,
        "cancelled" => Outcome::Cancelled,
        "expired" => Outcome::Expired,
        "rejected"
            if view["rejection_reason"]
                .as_str()
                .is_some_and(|r| r.contains("out of stock")) =>
        {
            Outcome::RejectedStock
        }
        "rejected" => Outcome::RejectedPayment,
        _ => Outcome::Unfinished,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn stats_with(final_at: Vec<f64>) -> Stats {
        let mut stats = Stats::new().unwrap();
        stats.final_at = final_at.into();
        stats
    }

    #[test]
    fn a_platform_that_keeps_up_completes_orders_at_the_rate_asked() {
        // 1,000 orders at 50/s, each final 2 s after it was placed, seen in any order.
        let mut at: Vec<f64> = (0..1000).map(|i| f64::from(i) / 50.0 + 2.0).collect();
        at.reverse();
        let rate = stats_with(at).completed_per_sec().unwrap();
        assert!((rate - 50.0).abs() < 0.01, "{rate}");
    }

    #[test]
    fn a_platform_that_falls_behind_completes_at_its_own_rate() {
        // Asked for 100/s, it finishes one order every 12.5 ms (80/s) as its queue grows.
        let at: Vec<f64> = (0..2000).map(|i| 0.5 + f64::from(i) / 80.0).collect();
        let rate = stats_with(at).completed_per_sec().unwrap();
        assert!((rate - 80.0).abs() < 0.01, "{rate}");
    }

    #[test]
    fn the_rate_is_taken_over_the_latest_orders_only() {
        let mut stats = Stats::new().unwrap();
        // 5,000 orders at 10/s, then 10,000 at 100/s: only the latter are in the window.
        for i in 0..5_000 {
            stats.final_seen(f64::from(i) / 10.0);
        }
        for i in 0..RATE_WINDOW as u32 {
            stats.final_seen(500.0 + f64::from(i) / 100.0);
        }
        assert_eq!(stats.final_at.len(), RATE_WINDOW);
        let rate = stats.completed_per_sec().unwrap();
        assert!((rate - 100.0).abs() < 0.01, "{rate}");
    }

    #[test]
    fn too_few_final_orders_give_no_rate() {
        assert_eq!(stats_with(vec![1.0; 9]).completed_per_sec(), None);
    }
}
