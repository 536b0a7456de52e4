//! The relay's spans: one `relay.batch` span per page of events read, and one
//! `relay.publish` span per event, a child of the span stored in the event's metadata (the
//! command that wrote it) and linked to its batch. The publish span's own context replaces
//! the stored `traceparent` header, so consumers continue the publication, which continues
//! the command: one trace per saga (docs/architecture.md §4, docs/adr/0012-tracing.md).
//!
//! The spans live until the transaction publishing their events has committed (or failed),
//! so their duration is encode-to-commit.
//!
//! Without an OpenTelemetry layer a span has no context to put in a header, so the stored
//! `traceparent` travels on unchanged and no per-event span is made at all: the batch span
//! tells which case holds.

use causeway_domain::SagaOutcome;
use causeway_event_store::StoredEvent;
use causeway_infra::telemetry::{self, attribute};
use tracing::Span;

/// The batch span of one page.
pub(super) struct PageSpans {
    batch: Span,
    /// Spans carry an OpenTelemetry context (traces are exported).
    traced: bool,
}

impl PageSpans {
    /// A page of `events` events, a root span of its own.
    pub(super) fn new(events: usize) -> Self {
        let batch = tracing::info_span!(
            parent: None,
            "relay.batch",
            otel.name = "relay publishes a batch",
            otel.kind = "producer",
            events,
        );
        let traced = telemetry::traceparent_of(&batch).is_some();
        Self { batch, traced }
    }

    /// Opens the publish span of `event` (bound for `topic`) and makes `traceparent` (the
    /// stored one) its context. `None` when traces are not exported.
    pub(super) fn publish(
        &self,
        event: &StoredEvent,
        topic: &str,
        traceparent: &mut Option<String>,
    ) -> Option<Span> {
        if !self.traced {
            return None;
        }
        let span = tracing::info_span!(
            parent: None,
            "relay.publish",
            otel.name = %format!("publish {}", event.event_type),
            otel.kind = "producer",
            { attribute::AGGREGATE_ID } = %event.aggregate_id,
            { attribute::EVENT_TYPE } = %event.event_type,
            { attribute::SEQUENCE } = event.sequence,
            { attribute::SAGA_OUTCOME } = tracing::field::Empty,
            messaging.destination.name = %topic,
            global_position = event.global_position,
        );
        if let Some(outcome) = SagaOutcome::of_event_type(&event.event_type) {
            span.record(attribute::SAGA_OUTCOME, outcome.as_str());
        }
        if let Some(stored) = traceparent.as_deref() {
            telemetry::continue_trace(&span, stored);
        }
        telemetry::link_to(&span, &self.batch);
        if let Some(own) = telemetry::traceparent_of(&span) {
            *traceparent = Some(own);
        }
        Some(span)
    }

    /// The batch span, to keep open while the page's events are unpublished.
    pub(super) fn into_batch(self) -> Span {
        self.batch
    }
}
