//! The typed Kafka headers of an event record (ADR 0006): one writer (the relay, when it
//! publishes an event) and one reader (every consumer, through the consumer kit).
//!
//! Every header is text. The relay writes them in the order of [`name::ALL`], skipping the
//! optional ones it does not have. Readers treat every header as optional: a record written
//! by an older relay or by hand may lack any of them, and a malformed `sequence` or
//! `recorded_at` reads as absent.

use chrono::{DateTime, SecondsFormat, Utc};
use rdkafka::message::{Header, OwnedHeaders};

use super::header;

/// The header names.
pub mod name {
    /// The event type, e.g. `OrderPlaced`.
    pub const EVENT_TYPE: &str = "event_type";
    /// The event's stable id (a UUID).
    pub const EVENT_ID: &str = "event_id";
    /// The aggregate type, e.g. `Order`.
    pub const AGGREGATE_TYPE: &str = "aggregate_type";
    /// The aggregate id (also the record's key).
    pub const AGGREGATE_ID: &str = "aggregate_id";
    /// The event's sequence within its aggregate.
    pub const SEQUENCE: &str = "sequence";
    /// The version of the event's payload shape.
    pub const EVENT_VERSION: &str = "event_version";
    /// When the event was stored (RFC 3339, microseconds, UTC).
    pub const RECORDED_AT: &str = "recorded_at";
    /// The flow the event belongs to.
    pub const CORRELATION_ID: &str = "correlation_id";
    /// The event or request that caused it.
    pub const CAUSATION_ID: &str = "causation_id";
    /// The W3C trace context of the command that stored it (or of its publication).
    pub const TRACEPARENT: &str = "traceparent";

    /// Every header, in the order they are written.
    pub const ALL: [&str; 10] = [
        EVENT_TYPE,
        EVENT_ID,
        AGGREGATE_TYPE,
        AGGREGATE_ID,
        SEQUENCE,
        EVENT_VERSION,
        RECORDED_AT,
        CORRELATION_ID,
        CAUSATION_ID,
        TRACEPARENT,
    ];
}

/// The metadata of an event record, as the relay writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventHeaders {
    /// The event type (`event_type`).
    pub event_type: Option<String>,
    /// The event's stable id (`event_id`).
    pub event_id: Option<String>,
    /// The aggregate type (`aggregate_type`).
    pub aggregate_type: Option<String>,
    /// The aggregate id (`aggregate_id`).
    pub aggregate_id: Option<String>,
    /// The event's sequence within its aggregate (`sequence`).
    pub sequence: Option<i64>,
    /// The payload version (`event_version`).
    pub event_version: Option<String>,
    /// When the event was stored (`recorded_at`).
    pub recorded_at: Option<DateTime<Utc>>,
    /// The flow the event belongs to (`correlation_id`).
    pub correlation_id: Option<String>,
    /// The event or request that caused it (`causation_id`).
    pub causation_id: Option<String>,
    /// The W3C `traceparent` of the command that stored the event.
    pub traceparent: Option<String>,
}

impl EventHeaders {
    /// Reads the headers of `message`; absent or malformed ones are `None`.
    pub fn read(message: &impl rdkafka::Message) -> Self {
        let text = |name| header(message, name);
        Self {
            event_type: text(name::EVENT_TYPE),
            event_id: text(name::EVENT_ID),
            aggregate_type: text(name::AGGREGATE_TYPE),
            aggregate_id: text(name::AGGREGATE_ID),
            sequence: text(name::SEQUENCE).and_then(|s| s.parse().ok()),
            event_version: text(name::EVENT_VERSION),
            recorded_at: text(name::RECORDED_AT).and_then(|t| parse_time(&t)),
            correlation_id: text(name::CORRELATION_ID),
            causation_id: text(name::CAUSATION_ID),
            traceparent: text(name::TRACEPARENT),
        }
    }

    /// The headers as Kafka headers, in the order of [`name::ALL`], without the absent
    /// ones.
    pub fn write(&self) -> OwnedHeaders {
        let sequence = self.sequence.map(|s| s.to_string());
        let recorded_at = self
            .recorded_at
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true));
        let values: [Option<&str>; 10] = [
            self.event_type.as_deref(),
            self.event_id.as_deref(),
            self.aggregate_type.as_deref(),
            self.aggregate_id.as_deref(),
            sequence.as_deref(),
            self.event_version.as_deref(),
            recorded_at.as_deref(),
            self.correlation_id.as_deref(),
            self.causation_id.as_deref(),
            self.traceparent.as_deref(),
        ];
        name::ALL
            .into_iter()
            .zip(values)
            .filter_map(|(key, value)| value.map(|value| (key, value)))
            .fold(
                OwnedHeaders::new_with_capacity(10),
                |headers, (key, value)| {
                    headers.insert(Header {
                        key,
                        value: Some(value.as_bytes()),
                    })
                },
            )
    }

    /// The 32-hex-digit trace id of [`EventHeaders::traceparent`], if it is well formed.
    pub fn trace_id(&self) -> Option<&str> {
        self.traceparent.as_deref().and_then(trace_id)
    }
}

/// An RFC 3339 time, in UTC.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rdkafka::Timestamp;
    use rdkafka::message::{Headers as _, OwnedMessage};

    use super::*;

    fn message(headers: OwnedHeaders) -> OwnedMessage {
        OwnedMessage::new(
            None,
            Some(b"o-1".to_vec()),
            "orders.events".into(),
            Timestamp::NotAvailable,
            0,
            0,
            Some(headers),
        )
    }

    fn full() -> EventHeaders {
        EventHeaders {
            event_type: Some("OrderPlaced".into()),
            event_id: Some("6f1c1f9e-4c3a-5a47-9d0e-1b2c3d4e5f60".into()),
            aggregate_type: Some("Order".into()),
            aggregate_id: Some("o-1".into()),
            sequence: Some(3),
            event_version: Some("1".into()),
            recorded_at: Some("2026-01-02T03:04:05.123456Z".parse().unwrap()),
            correlation_id: Some("c-1".into()),
            causation_id: None,
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        }
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let headers = full();
        assert_eq!(EventHeaders::read(&message(headers.write())), headers);
    }

    #[test]
    fn headers_are_written_in_order_without_the_absent_ones() {
        let written = full().write();
        let keys: Vec<&str> = written.iter().map(|h| h.key).collect();
        let expected: Vec<&str> = name::ALL
            .into_iter()
            .filter(|k| *k != name::CAUSATION_ID)
            .collect();
        assert_eq!(keys, expected);
        let at = written.iter().find(|h| h.key == name::RECORDED_AT).unwrap();
        assert_eq!(at.value, Some(&b"2026-01-02T03:04:05.123456Z"[..]));
    }

    #[test]
    fn a_malformed_sequence_or_time_reads_as_absent() {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: name::SEQUENCE,
                value: Some("three"),
            })
            .insert(Header {
                key: name::RECORDED_AT,
                value: Some("yesterday"),
            });
        let read = EventHeaders::read(&message(headers));
        assert_eq!(read, EventHeaders::default());
    }

    #[test]
    fn the_trace_id_is_the_second_field_of_a_well_formed_traceparent() {
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert_eq!(trace_id(parent), Some("0af7651916cd43dd8448eb211c80319c"));
        assert_eq!(full().trace_id(), Some("0af7651916cd43dd8448eb211c80319c"));
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
