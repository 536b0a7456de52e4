//! Reading a projection's events from the event store in global commit order:
//! `(transaction_id, global_position)`, only below `pg_snapshot_xmin(pg_current_snapshot())`
//! (as the relay does, ADR 0002), one keyset page at a time so memory stays bounded.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::projection::{Envelope, EventHeaders};

/// Where a store read stands: the last row read, in commit order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct StorePosition {
    /// The writing transaction's id (`xid8`).
    pub transaction_id: i64,
    /// The row's `global_position`.
    pub global_position: i64,
}

/// One stored event, as the relay would publish it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct StoredRow {
    pub(crate) transaction_id: i64,
    pub(crate) global_position: i64,
    pub(crate) aggregate_type: String,
    pub(crate) aggregate_id: String,
    pub(crate) sequence: i64,
    pub(crate) event_type: String,
    pub(crate) data: Value,
    pub(crate) metadata: Value,
    pub(crate) recorded_at: DateTime<Utc>,
}

impl StoredRow {
    pub(crate) fn position(&self) -> StorePosition {
        StorePosition {
            transaction_id: self.transaction_id,
            global_position: self.global_position,
        }
    }

    /// The envelope a projection would get from Kafka for this row: the relay's headers,
    /// rebuilt from the row (`event_id` is the same UUID v5, `recorded_at` the same instant).
    pub(crate) fn envelope<E>(&self, event: E) -> Envelope<E> {
        let meta = |key: &str| {
            self.metadata
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Envelope {
            aggregate_id: self.aggregate_id.clone(),
            sequence: self.sequence,
            event,
            headers: EventHeaders {
                event_id: Some(event_id(
                    &self.aggregate_type,
                    &self.aggregate_id,
                    self.sequence,
                )),
                traceparent: meta("traceparent"),
                correlation_id: meta("correlation_id"),
                causation_id: meta("causation_id"),
                recorded_at: Some(micros(self.recorded_at)),
                ..EventHeaders::default()
            },
        }
    }
}

/// The relay's event id: UUID v5 (OID namespace) of `type/id/sequence`.
pub(crate) fn event_id(aggregate_type: &str, aggregate_id: &str, sequence: i64) -> String {
    let name = format!("{aggregate_type}/{aggregate_id}/{sequence}");
    Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

/// The instant as the relay's `recorded_at` header carries it (RFC 3339, microseconds).
fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let text = at.to_rfc3339_opts(SecondsFormat::Micros, true);
    DateTime::parse_from_rfc3339(&text).map_or(at, |t| t.with_timezone(&Utc))
}

/// Up to `limit` committed events of `aggregate_types` after `after`, in commit order.
///
/// `ORDER BY` names the table's columns: a bare `transaction_id` would be the selected
/// `bigint` of the same name, which no index orders, so every page would sort the whole
/// table (a full scan per page: quadratic in the store's size).
pub(crate) async fn page(
    pool: &PgPool,
    aggregate_types: &[String],
    after: StorePosition,
    limit: usize,
) -> Result<Vec<StoredRow>, sqlx::Error> {
    sqlx::query_as::<_, StoredRow>(
        "SELECT transaction_id::text::bigint AS transaction_id, global_position, aggregate_type,
                aggregate_id, sequence, event_type, COALESCE(payload -> 'data', payload) AS data,
                metadata, recorded_at
         FROM events
         WHERE (transaction_id, global_position) > ($1::bigint::text::xid8, $2)
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           AND aggregate_type = ANY($3)
         ORDER BY events.transaction_id, events.global_position
         LIMIT $4",
    )
    .bind(after.transaction_id)
    .bind(after.global_position)
    .bind(aggregate_types)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
}

/// How many events of `aggregate_types` the store holds (for the progress bar).
pub(crate) async fn count(pool: &PgPool, aggregate_types: &[String]) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = ANY($1)")
        .bind(aggregate_types)
        .fetch_one(pool)
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_event_id_is_the_relays_uuid_v5() {
        let id = event_id("Order", "o-1", 3);
        let expected = Uuid::new_v5(&Uuid::NAMESPACE_OID, b"Order/o-1/3").to_string();
        assert_eq!(id, expected);
        assert_ne!(id, event_id("Order", "o-1", 4));
    }

    #[test]
    fn a_row_becomes_the_envelope_the_relays_headers_would_give() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T01:02:03.456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let row = StoredRow {
            transaction_id: 7,
            global_position: 9,
            aggregate_type: "Order".into(),
            aggregate_id: "o-1".into(),
            sequence: 2,
            event_type: "OrderConfirmed".into(),
            data: serde_json::json!({}),
            metadata: serde_json::json!({"traceparent": "00-x", "correlation_id": "c", "caller": "z"}),
            recorded_at: at,
        };
        let envelope = row.envelope(());
        assert_eq!(envelope.sequence, 2);
        assert_eq!(envelope.headers.traceparent.as_deref(), Some("00-x"));
        assert_eq!(envelope.headers.correlation_id.as_deref(), Some("c"));
        assert_eq!(envelope.headers.causation_id, None);
        assert_eq!(envelope.headers.recorded_at, Some(at));
        assert_eq!(envelope.headers.event_id, Some(event_id("Order", "o-1", 2)));
        assert_eq!(
            row.position(),
            StorePosition {
                transaction_id: 7,
                global_position: 9
            }
        );
    }
}
