//! From a Kafka message to an [`Envelope`] of a typed event: the key is the aggregate id,
//! the `sequence` header its version, the payload Confluent-framed Avro decoded through the
//! codec, the other headers read through `causeway_infra::kafka::headers`.
//!
//! A message that cannot be decoded is either poison (it never will be: dead-letter it) or
//! transient (the schema registry is unreachable or failing: retry). [`classify`] is that
//! policy for a codec error.

use causeway_domain::ShopEvent;
use causeway_infra::avro::{CodecError, EventCodec};
use causeway_infra::kafka::headers::EventHeaders;
use rdkafka::message::Message;
use serde_json::Value;

/// One event taken from Kafka, with its aggregate id (the key) and sequence (header).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<E> {
    /// The aggregate id.
    pub aggregate_id: String,
    /// The event's sequence within its aggregate: the version it brings the aggregate to.
    pub sequence: i64,
    /// The typed event.
    pub event: E,
    /// The headers the relay adds (any may be absent from older or foreign records).
    pub headers: EventHeaders,
}

impl<E> Envelope<E> {
    /// An envelope of `event` without headers.
    pub fn new(aggregate_id: impl Into<String>, sequence: i64, event: E) -> Self {
        Self {
            aggregate_id: aggregate_id.into(),
            sequence,
            event,
            headers: EventHeaders::default(),
        }
    }
}

/// Why one message was not turned into an event.
#[derive(Debug)]
pub enum Undecodable {
    /// It never will be: dead-letter it (the reason says why).
    Poison(String),
    /// It may be later (the registry could not answer): retry.
    Transient(CodecError),
}

/// A registry that cannot be reached (or fails) is transient; everything else is poison.
pub fn classify(error: CodecError) -> Undecodable {
    match error {
        CodecError::Registry { status, .. } if status.is_none_or(|s| s >= 500) => {
            Undecodable::Transient(error)
        }
        other => Undecodable::Poison(other.to_string()),
    }
}

/// Decodes `message` into a [`ShopEvent`].
pub async fn decode(
    codec: &EventCodec,
    message: &impl Message,
) -> Result<Envelope<ShopEvent>, Undecodable> {
    decode_with(codec, message, ShopEvent::parse).await
}

/// Decodes `message`, turning its event type and `data` into the caller's typed event with
/// `parse` (an error is poison). Checks, in order: a UTF-8 key, a numeric `sequence`
/// header, the payload, the parse.
pub async fn decode_with<E>(
    codec: &EventCodec,
    message: &impl Message,
    parse: impl FnOnce(&str, Value) -> Result<E, String>,
) -> Result<Envelope<E>, Undecodable> {
    let aggregate_id = message
        .key()
        .and_then(|key| std::str::from_utf8(key).ok())
        .ok_or_else(|| Undecodable::Poison("the key is not a UTF-8 aggregate id".into()))?
        .to_owned();
    let headers = EventHeaders::read(message);
    let sequence = headers
        .sequence
        .ok_or_else(|| Undecodable::Poison("no numeric `sequence` header".into()))?;
    let decoded = codec
        .decode(message.payload().unwrap_or_default())
        .await
        .map_err(classify)?;
    let event = parse(&decoded.event_type, decoded.data).map_err(Undecodable::Poison)?;
    Ok(Envelope {
        aggregate_id,
        sequence,
        event,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(status: Option<u16>) -> CodecError {
        CodecError::Registry {
            action: "fetching schema id 7".into(),
            status,
            message: "boom".into(),
        }
    }

    #[test]
    fn an_unreachable_or_failing_registry_is_retried_not_dead_lettered() {
        assert!(matches!(
            classify(registry(None)),
            Undecodable::Transient(_)
        ));
        assert!(matches!(
            classify(registry(Some(503))),
            Undecodable::Transient(_)
        ));
    }

    #[test]
    fn an_unknown_schema_id_or_bad_framing_is_poison() {
        assert!(matches!(
            classify(registry(Some(404))),
            Undecodable::Poison(_)
        ));
        let framing = CodecError::NotConfluentFramed {
            reason: "too short".into(),
        };
        assert!(matches!(classify(framing), Undecodable::Poison(_)));
    }
}
