//! Reading a projection's events from the event store in global commit order, through the
//! event store's commit-order reader (`causeway_event_store::commit_order`, the read the
//! relay publishes from): only committed rows, one keyset page at a time so memory stays
//! bounded. Here they become the envelopes the projection would get from Kafka.

use causeway_event_store::commit_order::{self, Position, StoredEvent};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::PgPool;

use crate::projection::{Envelope, EventHeaders};

/// The envelope a projection would get from Kafka for `row`: the relay's headers, rebuilt
/// from the row (`event_id` is the same UUID v5, `recorded_at` the same instant).
pub(crate) fn envelope<E>(row: &StoredEvent, event: E) -> Envelope<E> {
    Envelope {
        aggregate_id: row.aggregate_id.clone(),
        sequence: row.sequence,
        event,
        headers: EventHeaders {
            event_id: Some(row.event_id().to_string()),
            traceparent: row.traceparent.clone(),
            correlation_id: row.correlation_id.clone(),
            causation_id: row.causation_id.clone(),
            recorded_at: Some(micros(row.recorded_at)),
            ..EventHeaders::default()
        },
    }
}

/// The instant as the relay's `recorded_at` header carries it (RFC 3339, microseconds).
fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let text = at.to_rfc3339_opts(SecondsFormat::Micros, true);
    DateTime::parse_from_rfc3339(&text).map_or(at, |t| t.with_timezone(&Utc))
}

/// Up to `limit` committed events of `aggregate_types` after `after`, in commit order.
pub(crate) async fn page(
    pool: &PgPool,
    aggregate_types: &[String],
    after: Position,
    limit: usize,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let limit = u32::try_from(limit).unwrap_or(u32::MAX);
    commit_order::fetch_after_of(pool, aggregate_types, after, limit).await
}

/// How many events of `aggregate_types` the store holds (for the progress bar).
pub(crate) async fn count(pool: &PgPool, aggregate_types: &[String]) -> Result<i64, sqlx::Error> {
    commit_order::count_of(pool, aggregate_types).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_row_becomes_the_envelope_the_relays_headers_would_give() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T01:02:03.456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let row = StoredEvent {
            transaction_id: 7,
            global_position: 9,
            aggregate_type: "Order".into(),
            aggregate_id: "o-1".into(),
            sequence: 2,
            event_type: "OrderConfirmed".into(),
            event_version: "1".into(),
            data: serde_json::json!({}),
            correlation_id: Some("c".into()),
            causation_id: None,
            traceparent: Some("00-x".into()),
            recorded_at: at,
        };
        let envelope = envelope(&row, ());
        assert_eq!(envelope.sequence, 2);
        assert_eq!(envelope.headers.traceparent.as_deref(), Some("00-x"));
        assert_eq!(envelope.headers.correlation_id.as_deref(), Some("c"));
        assert_eq!(envelope.headers.causation_id, None);
        assert_eq!(envelope.headers.recorded_at, Some(at));
        let expected = causeway_event_store::event_id("Order", "o-1", 2).to_string();
        assert_eq!(envelope.headers.event_id, Some(expected));
        assert_eq!(
            row.position(),
            Position {
                transaction_id: 7,
                global_position: 9
            }
        );
    }
}
