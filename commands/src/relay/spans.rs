//! The relay's spans: one `relay.batch` span per Kafka transaction, and one `relay.publish`
//! span per event, a child of the span stored in the event's metadata (the command that
//! wrote it) and linked to its batch. The publish span's own context replaces the stored
//! `traceparent` header, so consumers continue the publication, which continues the command:
//! one trace per saga (DESIGN.md §4, docs/adr/0012-tracing.md).
//!
//! The spans live as long as the prepared batch: they end when its transaction has committed
//! (or failed), so their duration is encode-to-commit.

use causeway_infra::telemetry::{self, attribute};
use tracing::Span;

use super::publisher::OutgoingRecord;
use super::source::StoredEvent;

/// The spans of one batch, kept open until the batch is published.
pub(super) struct BatchSpans {
    batch: Span,
    events: Vec<Span>,
}

impl BatchSpans {
    /// A batch of `events` events, a root span of its own.
    pub(super) fn new(events: usize) -> Self {
        let batch = tracing::info_span!(
            parent: None,
            "relay.batch",
            otel.name = "relay publishes a batch",
            otel.kind = "producer",
            events,
        );
        Self {
            batch,
            events: Vec::with_capacity(events),
        }
    }

    /// Opens the publish span of `event` and makes `record` carry it as `traceparent`.
    pub(super) fn publish(
        &mut self,
        mut record: OutgoingRecord,
        event: &StoredEvent,
    ) -> OutgoingRecord {
        let span = tracing::info_span!(
            parent: None,
            "relay.publish",
            otel.name = %format!("publish {}", event.event_type),
            otel.kind = "producer",
            { attribute::AGGREGATE_ID } = %event.aggregate_id,
            { attribute::EVENT_TYPE } = %event.event_type,
            { attribute::SEQUENCE } = event.sequence,
            { attribute::SAGA_OUTCOME } = tracing::field::Empty,
            messaging.destination.name = %record.topic,
            global_position = event.global_position,
        );
        if let Some(outcome) = telemetry::saga_outcome(&event.event_type) {
            span.record(attribute::SAGA_OUTCOME, outcome);
        }
        if let Some(stored) = event.metadata_str("traceparent") {
            telemetry::continue_trace(&span, stored);
        }
        telemetry::link_to(&span, &self.batch);
        if let Some(traceparent) = telemetry::traceparent_of(&span) {
            record.headers.retain(|(name, _)| *name != "traceparent");
            record.headers.push(("traceparent", traceparent));
        }
        self.events.push(span);
        record
    }
}
