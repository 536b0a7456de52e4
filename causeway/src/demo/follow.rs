//! Following orders to their final state: an order task registers what it waits for
//! ([`Demo::wait_for`]), and one scan of the newest orders every [`SCAN_EVERY`] ([`follow`])
//! hands each followed order its view once it got there.

use std::sync::Arc;
use std::time::Duration;

use causeway_domain::OrderStatus;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::oneshot;

use super::Demo;

/// How often the followed orders are looked up.
pub const SCAN_EVERY: Duration = Duration::from_millis(50);
/// Scans read back to this long before the oldest followed order was placed (clock skew
/// between the demo and the platform).
const SCAN_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// Most orders one scan page holds (the query API's largest page).
const SCAN_PAGE: usize = 500;

/// An order waiting for a state.
pub(super) struct Followed {
    /// Waiting for `cancelled` (after a cancel), not just any final state.
    cancelled: bool,
    /// Shortly before it was placed (the demo's clock).
    since: DateTime<Utc>,
    done: oneshot::Sender<Value>,
}

impl Demo {
    /// Waits until [`follow`] sees the order final (`cancelled`: cancelled), or `timeout`.
    pub(super) async fn wait_for(
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
            let status = OrderStatus::parse(status);
            let reached = followed.get(id).is_some_and(|f| {
                if f.cancelled {
                    status == Some(OrderStatus::Cancelled)
                } else {
                    reached_an_outcome(status)
                }
            });
            if let Some(waiter) = reached.then(|| followed.remove(id)).flatten() {
                let _ = waiter.done.send(view.clone());
            }
        }
        !followed.is_empty()
    }
}

/// Every [`SCAN_EVERY`], reads the newest orders (newest first) back to shortly before the
/// oldest followed one was placed, and settles the followed orders found there.
pub(super) async fn follow(demo: Arc<Demo>) {
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

/// Whether an order in `status` has reached its saga's outcome (confirmed counts, though a
/// confirmed order can still be cancelled).
fn reached_an_outcome(status: Option<OrderStatus>) -> bool {
    status.is_some_and(|status| !status.is_unfinished())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_status_ends_the_wait_and_no_other() {
        let ended: Vec<&str> = OrderStatus::ALL
            .into_iter()
            .filter(|status| reached_an_outcome(Some(*status)))
            .map(OrderStatus::as_str)
            .collect();
        assert_eq!(ended, ["confirmed", "rejected", "cancelled", "expired"]);
        assert!(!reached_an_outcome(None));
    }
}
