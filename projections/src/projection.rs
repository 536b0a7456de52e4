//! What a read model implements to be run by a [`crate::ProjectionWorker`].

use std::future::Future;

use causeway_infra::topics::EventStream;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sqlx::PgConnection;

/// One event taken from Kafka, with its aggregate id (the key) and sequence (header).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<E> {
    /// The aggregate id.
    pub aggregate_id: String,
    /// The event's sequence within its aggregate: the version it brings the aggregate to.
    pub sequence: i64,
    /// The typed event.
    pub event: E,
    /// The optional headers the relay adds (absent from older or foreign records).
    pub headers: EventHeaders,
}

#[cfg(test)]
impl Envelope<()> {
    /// An envelope without an event or headers, for tests of grouping and routing.
    pub(crate) fn bare(aggregate_id: &str, sequence: i64) -> Self {
        Self {
            aggregate_id: aggregate_id.to_owned(),
            sequence,
            event: (),
            headers: EventHeaders::default(),
        }
    }
}

/// The optional Kafka headers of an event record, as the relay writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventHeaders {
    /// The event's stable id (`event_id`).
    pub event_id: Option<String>,
    /// The W3C `traceparent` of the command that stored the event.
    pub traceparent: Option<String>,
    /// The flow the event belongs to (`correlation_id`).
    pub correlation_id: Option<String>,
    /// The event or request that caused it (`causation_id`).
    pub causation_id: Option<String>,
    /// When the event was stored (`recorded_at`, RFC 3339).
    pub recorded_at: Option<DateTime<Utc>>,
}

impl EventHeaders {
    /// The 32-hex-digit trace id of [`EventHeaders::traceparent`], if it is well formed.
    pub fn trace_id(&self) -> Option<&str> {
        self.traceparent.as_deref().and_then(trace_id)
    }
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`); `None` when it is
/// malformed or the all-zero (invalid) id.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let valid = hex(version, 2)
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0');
    valid.then_some(trace)
}

/// A read model built from events.
pub trait Projection: Send + Sync + 'static {
    /// The typed event this projection applies.
    type Event: Send + Sync;

    /// A stable name: the consumer group and the key of its stored offsets.
    fn name(&self) -> &'static str;

    /// The streams whose topics it consumes.
    fn streams(&self) -> Vec<EventStream>;

    /// Turns a decoded event (`event_type` and the JSON of its `data`) into the typed event.
    /// An error means the message is poison: it goes to the dead-letter topic.
    fn parse(&self, event_type: &str, data: Value) -> Result<Self::Event, String>;

    /// Applies one event inside the batch's transaction. Must change nothing when the row
    /// has already applied `envelope.sequence`. The state projections keep it as the
    /// one-event reference their set-based [`Projection::apply_batch`] is tested against.
    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        envelope: &'a Envelope<Self::Event>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

    /// Applies a batch of events, in order, inside the batch's transaction: what applying
    /// them one by one with [`Projection::apply`] gives. The default does exactly that; every
    /// shop projection overrides it with a constant number of statements per batch (ADR 0009
    /// for the insert-only ones, ADR 0014 for those holding an aggregate's state).
    fn apply_batch<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        envelopes: &'a [Envelope<Self::Event>],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a {
        async move {
            for envelope in envelopes {
                self.apply(&mut *conn, envelope).await?;
            }
            Ok(())
        }
    }
}

/// Parses the domain's stored JSON envelope `{"type": …, "data": …}` into its event enum.
pub fn parse_domain_event<E: DeserializeOwned>(event_type: &str, data: Value) -> Result<E, String> {
    serde_json::from_value(json!({ "type": event_type, "data": data })).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_id_is_the_second_field_of_a_well_formed_traceparent() {
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert_eq!(trace_id(parent), Some("0af7651916cd43dd8448eb211c80319c"));
        let headers = EventHeaders {
            traceparent: Some(parent.to_owned()),
            ..EventHeaders::default()
        };
        assert_eq!(headers.trace_id(), Some("0af7651916cd43dd8448eb211c80319c"));
    }

    #[test]
    fn a_malformed_or_all_zero_traceparent_has_no_trace_id() {
        for parent in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        ] {
            assert_eq!(trace_id(parent), None, "{parent:?}");
        }
        assert_eq!(EventHeaders::default().trace_id(), None);
    }
}
