//! `causeway demo`: realistic shop traffic against a running platform (docs/architecture.md §7).
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
//!
//! Laid out by role:
//! - [`pace`]: the order schedule, `--rate` orders a second, and what each order is
//!   (a random basket of a random customer, cancelled now and then).
//! - [`client`]: the HTTP calls to the command API and the read API.
//! - [`follow`]: the scan of the newest orders that hands each followed order its final state.
//! - [`stats`]: the outcome counts, the time-to-final latencies and the completed rate over
//!   its window.
//! - [`report`]: the printed summary line, every 2 s and at the end.

mod client;
mod follow;
mod pace;
mod report;
mod stats;
mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use causeway_infra::Settings;
use reqwest::Client;
use serde_json::json;
use uuid::Uuid;

pub use follow::SCAN_EVERY;
use follow::{Followed, follow};
use pace::place_orders;
use report::report;
use stats::Stats;
use token::Bearer;

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
    /// SKUs in stock (besides the scarce one); an order asks for one to three of them. Few
    /// SKUs make each a hot aggregate that every order's reservation contends for.
    #[arg(long, default_value_t = 6)]
    pub skus: usize,
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
    /// Bearer token sent with every request; its roles must allow registering customers,
    /// restocking and placing orders (`admin`, or `storefront` with `operator`).
    #[arg(long, env = "CAUSEWAY_DEMO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A command printing a bearer token on its last line, run at start and every 20
    /// minutes, e.g. `scripts/token admin demo`.
    #[arg(long, env = "CAUSEWAY_DEMO_TOKEN_COMMAND")]
    pub token_command: Option<String>,
}

/// What the order tasks share.
struct Demo {
    client: Client,
    bearer: Bearer,
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
    let bearer = Bearer::start(args.token.clone(), args.token_command.clone()).await?;
    let demo = Arc::new(setup(client, bearer, url, args).await?);
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

/// `count` SKU names for this run: the shop's six, then numbered ones.
fn sku_names(count: usize, run: &str) -> Vec<String> {
    const NAMED: [&str; 6] = ["TEA", "COFFEE", "MUG", "KETTLE", "BISCUIT", "SPOON"];
    (0..count)
        .map(|i| match NAMED.get(i) {
            Some(name) => format!("{name}-{run}"),
            None => format!("ITEM{i}-{run}"),
        })
        .map(|name| name.to_uppercase())
        .collect()
}

/// Waits until the shop just set up is in the read models (its last SKU and customer at
/// their first version), so the first orders neither wait behind the set-up's events nor
/// count them in their time.
async fn settle(demo: &Demo) -> anyhow::Result<()> {
    const WITHIN: Duration = Duration::from_secs(120);
    demo.wait_visible(
        &format!("/api/inventory/{}?min_version=1", demo.scarce),
        WITHIN,
    )
    .await?;
    let last = demo.rich.last().or(demo.poor.last());
    if let Some(customer) = last {
        demo.wait_visible(&format!("/api/customers/{customer}?min_version=1"), WITHIN)
            .await?;
    }
    Ok(())
}

/// Registers the customers and restocks the SKUs.
async fn setup(
    client: Client,
    bearer: Bearer,
    url: String,
    args: DemoArgs,
) -> anyhow::Result<Demo> {
    let run = Uuid::new_v4().simple().to_string();
    let run = &run[..8];
    let skus = sku_names(args.skus.max(1), run);
    let scarce = format!("LIMITED-{run}").to_uppercase();
    let read_url = args.read_url.clone().unwrap_or_else(|| url.clone());
    let demo = Demo {
        client,
        bearer,
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
    settle(&demo).await?;
    demo.started = Instant::now();
    Ok(demo)
}
