//! What the demo prints: the summary line, every 2 s while it runs ([`report`]) and once at
//! the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Demo;
use super::stats::Stats;

/// Prints the summary line every 2 s, until aborted.
#[allow(clippy::print_stdout)]
pub(super) async fn report(demo: Arc<Demo>, started: Instant) {
    let mut every = tokio::time::interval(Duration::from_secs(2));
    every.tick().await;
    loop {
        every.tick().await;
        if let Ok(stats) = demo.stats.lock() {
            println!("{}", stats.line(started.elapsed()));
        }
    }
}

impl Stats {
    /// The summary line: orders placed and final, their outcomes and the p50/p99 time to
    /// final, `elapsed` after the orders started.
    pub(super) fn line(&self, elapsed: Duration) -> String {
        let [
            confirmed,
            stock,
            payment,
            cancelled,
            expired,
            unfinished,
            failed,
            refused,
        ] = self.outcomes;
        let secs = elapsed.as_secs_f64().max(0.001);
        let completed = self
            .completed_per_sec()
            .map_or_else(|| "-".to_owned(), |rate| format!("{rate:.1}/s"));
        format!(
            "{:>6.1}s placed={} ({:.1}/s) final={} completed={completed} confirmed={confirmed} rejected_stock={stock} rejected_payment={payment} cancelled={cancelled} expired={expired} unfinished={unfinished} failed={failed} refused={refused} p50={}ms p99={}ms",
            secs,
            self.placed,
            self.placed as f64 / secs,
            self.finished(),
            self.to_final.value_at_quantile(0.50),
            self.to_final.value_at_quantile(0.99),
        )
    }
}
