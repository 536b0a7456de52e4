//! What the demo measures: how each order ended, the time from `POST /api/orders` to its
//! final state, and the rate orders completed at over the latest [`RATE_WINDOW`] of them.

use std::collections::VecDeque;
use std::time::Duration;

use causeway_domain::OrderStatus;
use hdrhistogram::Histogram;
use serde_json::Value;

use super::Demo;

/// How one order ended, as the read API says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Confirmed,
    RejectedStock,
    RejectedPayment,
    Cancelled,
    Expired,
    Unfinished,
    Failed,
    /// The command API said no (503 `overloaded`): nothing was accepted.
    Refused,
}

/// Counters and the time-to-final histogram, shared by the order tasks.
#[derive(Debug)]
pub(super) struct Stats {
    /// Orders sent (answered or not).
    pub(super) placed: u64,
    /// How many orders ended each way, indexed by [`Outcome`].
    pub(super) outcomes: [u64; 8],
    /// Milliseconds from `POST /api/orders` to a final state.
    pub(super) to_final: Histogram<u64>,
    /// When each of the last [`RATE_WINDOW`] final orders was seen final, in seconds since
    /// the orders started (bounded: the demo may run for days).
    final_at: VecDeque<f64>,
}

/// How many of the latest final orders the completion rate is taken over.
const RATE_WINDOW: usize = 10_000;
/// The shortest stretch of time a completion rate is given over: orders that became final
/// within a few milliseconds of each other (the first ones, all at once) say nothing of a rate.
const MIN_RATE_SPAN_SECS: f64 = 2.0;

impl Stats {
    pub(super) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            placed: 0,
            outcomes: [0; 8],
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
    /// asked for. `None` before 10 orders are final, and until they span
    /// [`MIN_RATE_SPAN_SECS`].
    pub(super) fn completed_per_sec(&self) -> Option<f64> {
        let n = self.final_at.len();
        if n < 10 {
            return None;
        }
        let mut at: Vec<f64> = self.final_at.iter().copied().collect();
        at.sort_unstable_by(f64::total_cmp);
        let (first, last) = (n / 10, n * 9 / 10);
        let span = at[last] - at[first];
        (span >= MIN_RATE_SPAN_SECS).then(|| (last - first) as f64 / span)
    }

    /// Orders that reached a final state (not unfinished, not failed).
    pub(super) fn finished(&self) -> u64 {
        self.outcomes[..5].iter().sum()
    }
}

impl Demo {
    pub(super) fn record(&self, (outcome, to_final): (Outcome, Option<Duration>)) {
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
}

pub(super) fn classify(view: &Value) -> Outcome {
    let status = view["status"].as_str().and_then(OrderStatus::parse);
    match status {
        Some(OrderStatus::Confirmed) => Outcome::Confirmed,
        Some(OrderStatus::Cancelled) => Outcome::Cancelled,
        Some(OrderStatus::Expired) => Outcome::Expired,
        Some(OrderStatus::Rejected)
            if view["rejection_reason"]
                .as_str()
                .is_some_and(|r| r.contains("out of stock")) =>
        {
            Outcome::RejectedStock
        }
        Some(OrderStatus::Rejected) => Outcome::RejectedPayment,
        Some(OrderStatus::Pending | OrderStatus::AwaitingPayment) | None => Outcome::Unfinished,
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
    fn orders_final_all_at_once_give_no_rate_yet() {
        // The first 40 orders, final within 30 ms of each other: no rate, not 1,300/s.
        let at: Vec<f64> = (0..40).map(|i| 1.0 + f64::from(i) * 0.00075).collect();
        assert_eq!(stats_with(at).completed_per_sec(), None);
    }

    #[test]
    fn too_few_final_orders_give_no_rate() {
        assert_eq!(stats_with(vec![1.0; 9]).completed_per_sec(), None);
    }
}
