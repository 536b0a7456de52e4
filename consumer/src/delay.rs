//! The consumer side of the per-hop breakdown (`causeway_event_delay_seconds`, docs/adr/
//! 0018): how long after it was stored an event reached a consumer, and how long until the
//! consumer's effect of it was stored. The relay records the `published` stage.

use causeway_infra::metrics::{EVENT_DELAY, label, stage};
use chrono::{DateTime, Utc};

/// `consumer` received an event stored at `recorded_at`.
pub fn received(consumer: &str, recorded_at: Option<DateTime<Utc>>) {
    record(consumer, stage::RECEIVED, recorded_at);
}

/// `consumer`'s effect of an event stored at `recorded_at` is stored.
pub fn handled(consumer: &str, recorded_at: Option<DateTime<Utc>>) {
    record(consumer, stage::HANDLED, recorded_at);
}

fn record(consumer: &str, stage: &'static str, recorded_at: Option<DateTime<Utc>>) {
    let Some(recorded_at) = recorded_at else {
        return;
    };
    let delay = (Utc::now() - recorded_at).to_std().unwrap_or_default();
    metrics::histogram!(EVENT_DELAY, label::STAGE => stage, label::CONSUMER => consumer.to_owned())
        .record(delay.as_secs_f64());
}
