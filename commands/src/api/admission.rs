//! Admission control for new orders (docs/adr/0018-idempotent-relay.md): while the saga
//! participants are further behind than a bound, `POST /api/orders` answers 503
//! `overloaded` with `Retry-After` instead of accepting an order that would wait out its
//! deadline in their queue. Cancels and the other commands are always admitted (a cancel
//! relieves the pipeline).
//!
//! The gate holds the last measurement; whoever measures (the binary, with
//! `causeway_infra::kafka::backlog`) reports to it. Until the first report it admits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use causeway_infra::metrics::{ADMISSION_BACKLOG, ADMISSION_REFUSED};

use super::ApiError;

/// The admission gate; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    gate: Option<Arc<Gate>>,
}

#[derive(Debug)]
struct Gate {
    bound: u64,
    backlog: AtomicU64,
    retry_after_secs: AtomicU64,
}

impl Admission {
    /// Admits every order.
    pub fn open() -> Self {
        Self::default()
    }

    /// Refuses new orders while the reported backlog is above `bound` (0: admits all).
    pub fn bounded(bound: u64) -> Self {
        if bound == 0 {
            return Self::open();
        }
        Self {
            gate: Some(Arc::new(Gate {
                bound,
                backlog: AtomicU64::new(0),
                retry_after_secs: AtomicU64::new(1),
            })),
        }
    }

    /// Whether a bound is set (someone should measure).
    pub fn is_bounded(&self) -> bool {
        self.gate.is_some()
    }

    /// The newest measurement: `backlog` messages left, drained at `drain_per_sec`.
    /// A refused caller is told to come back once the excess over the bound should be gone
    /// at that rate (1 to 30 s; 5 s when nothing drains).
    pub fn report(&self, backlog: u64, drain_per_sec: f64) {
        let Some(gate) = &self.gate else {
            return;
        };
        gate.backlog.store(backlog, Ordering::Relaxed);
        gate.retry_after_secs.store(
            retry_after(backlog.saturating_sub(gate.bound), drain_per_sec).as_secs(),
            Ordering::Relaxed,
        );
        metrics::gauge!(ADMISSION_BACKLOG).set(backlog as f64);
    }

    /// Admits a new order, or says why not.
    pub(crate) fn admit(&self) -> Result<(), ApiError> {
        let Some(gate) = &self.gate else {
            return Ok(());
        };
        let backlog = gate.backlog.load(Ordering::Relaxed);
        if backlog <= gate.bound {
            return Ok(());
        }
        metrics::counter!(ADMISSION_REFUSED).increment(1);
        Err(ApiError::Overloaded {
            backlog,
            bound: gate.bound,
            retry_after_secs: gate.retry_after_secs.load(Ordering::Relaxed),
        })
    }
}

/// How long `excess` messages take to drain at `per_sec`, within 1 to 30 s.
fn retry_after(excess: u64, per_sec: f64) -> Duration {
    if per_sec < 1.0 {
        return Duration::from_secs(5);
    }
    let secs = (excess as f64 / per_sec).ceil().clamp(1.0, 30.0);
    Duration::from_secs(secs as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_bound_and_refuses_beyond_it() {
        let admission = Admission::bounded(100);
        assert!(admission.admit().is_ok(), "nothing measured yet");
        admission.report(100, 50.0);
        assert!(admission.admit().is_ok());
        admission.report(101, 50.0);
        let refused = admission.admit().unwrap_err();
        assert!(matches!(
            refused,
            ApiError::Overloaded {
                backlog: 101,
                bound: 100,
                retry_after_secs: 1
            }
        ));
        admission.report(40, 50.0);
        assert!(
            admission.admit().is_ok(),
            "it recovers once the backlog is down"
        );
    }

    #[test]
    fn an_unbounded_gate_admits_everything() {
        let admission = Admission::bounded(0);
        admission.report(u64::MAX, 0.0);
        assert!(admission.admit().is_ok());
        assert!(!admission.is_bounded());
    }

    #[test]
    fn retry_after_is_the_time_to_drain_the_excess() {
        assert_eq!(retry_after(1_000, 200.0), Duration::from_secs(5));
        assert_eq!(retry_after(10, 200.0), Duration::from_secs(1));
        assert_eq!(retry_after(1_000_000, 200.0), Duration::from_secs(30));
        assert_eq!(retry_after(1_000, 0.0), Duration::from_secs(5));
    }
}
