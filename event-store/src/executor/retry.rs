//! How often and how patiently a conflicting command is retried.

use std::sync::Arc;
use std::time::Duration;

/// A source of randomness for backoff: each call answers a fraction in `[0, 1)`. Passed in
/// (tests pin it); the default draws from a thread-local generator.
pub type Jitter = Arc<dyn Fn() -> f64 + Send + Sync>;

/// Bounded retries with exponential, jittered backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a command is decided at most (at least 1); default 3.
    pub max_attempts: u32,
    /// The backoff ceiling after the first conflict; doubled after each further one.
    pub base_delay: Duration,
    /// No backoff ceiling grows beyond this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(4),
            max_delay: Duration::from_millis(100),
        }
    }
}

impl RetryPolicy {
    /// The pause after the `failed_attempt`-th conflict (1-based): between half of and the
    /// whole ceiling `base_delay × 2^(failed_attempt − 1)` (capped at `max_delay`), placed
    /// by `jitter` so that writers that collided do not collide again in step.
    pub fn delay(&self, failed_attempt: u32, jitter: f64) -> Duration {
        let doublings = failed_attempt.saturating_sub(1).min(16);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        ceiling / 2 + (ceiling / 2).mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_after_each_conflict_up_to_its_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, 1.0), Duration::from_millis(4));
        assert_eq!(policy.delay(2, 1.0), Duration::from_millis(8));
        assert_eq!(policy.delay(3, 1.0), Duration::from_millis(16));
        assert_eq!(policy.delay(30, 1.0), Duration::from_millis(100));
    }

    #[test]
    fn jitter_places_the_backoff_between_half_and_all_of_its_ceiling() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(2, 0.0), Duration::from_millis(4));
        assert_eq!(policy.delay(2, 0.5), Duration::from_millis(6));
        assert_eq!(policy.delay(2, f64::NAN), Duration::from_millis(4));
        assert_eq!(policy.delay(2, 7.0), Duration::from_millis(8));
    }
}
