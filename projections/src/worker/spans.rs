//! The projection worker's spans: one `projection.batch` span per Postgres transaction, and
//! one `projection.apply` span per applied event, linked to its batch, carrying the event's
//! aggregate id, type and sequence (and the saga outcome on the order event that ends one).
//!
//! A live event's span is a child of the span in its `traceparent` header (the relay's
//! publication), so the update shows in the saga's trace. An event recorded longer ago than
//! [`super::WorkerConfig::replay_age`] is being re-consumed (offsets reset, a consumer
//! restored far behind): its span starts a trace of its own and only links to the event's,
//! so replays never grow old traces (docs/adr/0012-tracing.md). Rebuilds
//! (`crate::rebuild`) apply events without these spans at all.
//!
//! The spans stay open until the batch's transaction has committed.

use std::time::Duration;

use causeway_domain::SagaOutcome;
use causeway_infra::telemetry::{self, EventTrace, attribute};
use chrono::{DateTime, Utc};
use rdkafka::message::{Message, OwnedMessage};
use tracing::Span;

/// The spans of one batch, kept open until its transaction commits.
pub(super) struct BatchSpans {
    projection: &'static str,
    replay_age: Duration,
    batch: Span,
    events: Vec<Span>,
}

/// What the span of one event needs from its message.
pub(super) struct EventInfo<'a> {
    pub(super) aggregate_id: &'a str,
    pub(super) sequence: i64,
    pub(super) event_type: Option<String>,
    pub(super) traceparent: Option<&'a str>,
    pub(super) recorded_at: Option<DateTime<Utc>>,
}

impl BatchSpans {
    /// A batch of `messages` messages of `projection`, a root span of its own.
    pub(super) fn new(projection: &'static str, messages: usize, replay_age: Duration) -> Self {
        let batch = tracing::info_span!(
            parent: None,
            "projection.batch",
            otel.name = %format!("{projection} applies a batch"),
            otel.kind = "consumer",
            projection,
            messages,
        );
        Self {
            projection,
            replay_age,
            batch,
            events: Vec::with_capacity(messages),
        }
    }

    /// Opens the span of one decoded event of `message`.
    pub(super) fn applied(&mut self, message: &OwnedMessage, event: &EventInfo<'_>) {
        let event_type = event.event_type.as_deref().unwrap_or("unknown");
        let span = tracing::info_span!(
            parent: None,
            "projection.apply",
            otel.name = %format!("{} applies {event_type}", self.projection),
            otel.kind = "consumer",
            projection = self.projection,
            { attribute::AGGREGATE_ID } = %event.aggregate_id,
            { attribute::EVENT_TYPE } = %event_type,
            { attribute::SEQUENCE } = event.sequence,
            { attribute::SAGA_OUTCOME } = tracing::field::Empty,
            messaging.destination.name = %message.topic(),
            messaging.kafka.partition = message.partition(),
            messaging.kafka.offset = message.offset(),
            replay = tracing::field::Empty,
        );
        if let Some(outcome) = SagaOutcome::of_event_type(event_type) {
            span.record(attribute::SAGA_OUTCOME, outcome.as_str());
        }
        if let Some(traceparent) = event.traceparent {
            let relation = self.relation(event.recorded_at);
            span.record("replay", relation == EventTrace::Link);
            telemetry::follow_event(&span, traceparent, relation);
        }
        telemetry::link_to(&span, &self.batch);
        self.events.push(span);
    }

    /// Continue a live event's trace; only link to an old one's.
    fn relation(&self, recorded_at: Option<DateTime<Utc>>) -> EventTrace {
        EventTrace::by_age(recorded_at, Utc::now(), self.replay_age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recent_event_continues_its_trace_and_an_old_one_only_links() {
        let spans = BatchSpans::new("orders", 1, Duration::from_secs(600));
        let recorded = |ago: i64| Some(Utc::now() - chrono::Duration::seconds(ago));
        assert_eq!(spans.relation(recorded(5)), EventTrace::Continue);
        assert_eq!(spans.relation(recorded(601)), EventTrace::Link);
        assert_eq!(spans.relation(None), EventTrace::Continue);
    }
}
