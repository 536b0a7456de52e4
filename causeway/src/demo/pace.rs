//! The order schedule: order i is due i / `--rate` seconds after the start, each one a task
//! that places a random basket for a random customer and follows it to its end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use tokio::sync::Semaphore;

use super::Demo;
use super::stats::{Outcome, classify};

/// Places orders at the configured rate, each followed by its own task.
#[allow(clippy::print_stdout)]
pub(super) async fn place_orders(demo: Arc<Demo>) -> anyhow::Result<()> {
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

impl Demo {
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
        let count = fastrand::usize(1..=3).min(self.skus.len());
        let mut picked: Vec<&String> = Vec::with_capacity(count);
        while picked.len() < count {
            let sku = &self.skus[fastrand::usize(..self.skus.len())];
            if !picked.contains(&sku) {
                picked.push(sku);
            }
        }
        for sku in picked {
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
        let placed = match placed {
            Ok(answer) => answer,
            Err(error) if error.is::<super::client::Refused>() => return (Outcome::Refused, None),
            Err(_) => return (Outcome::Failed, None),
        };
        let Some(order) = placed["order_id"].as_str().map(str::to_owned) else {
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
}
