//! Reading committed events from the event table in commit order: the one read the relay
//! publishes from and the store rebuild of a projection replays.
//!
//! Only rows written by transactions that have ended are read:
//! `transaction_id < pg_snapshot_xmin(pg_current_snapshot())`. A transaction still open holds
//! back every row after it, so a row that commits late is never skipped (ADR 0002).
//!
//! [`fetch_after`] reads every aggregate's events, [`fetch_after_of`] those of some aggregate
//! types; both are one query, keyset-paged on `(transaction_id, global_position)`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// Where a commit-order read stands (the relay: the last published row), in
/// `(transaction_id, global_position)` order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    /// The writing transaction's id (`xid8`).
    pub transaction_id: i64,
    /// The row's `global_position`.
    pub global_position: i64,
}

/// One stored event, as the relay publishes it and a store rebuild replays it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    /// The writing transaction's id.
    pub transaction_id: i64,
    /// Insertion order.
    pub global_position: i64,
    /// `Customer`, `Order`, `InventoryItem`, `Payment`.
    pub aggregate_type: String,
    /// The aggregate's id (the Kafka key).
    pub aggregate_id: String,
    /// The event's sequence within its aggregate (1-based).
    pub sequence: i64,
    /// e.g. `OrderPlaced`.
    pub event_type: String,
    /// The event's schema version.
    pub event_version: String,
    /// The stored payload's `data` (the Avro record); the whole payload if it is not wrapped.
    pub data: serde_json::Value,
    /// The metadata's `correlation_id`, when it is text.
    pub correlation_id: Option<String>,
    /// The metadata's `causation_id`, when it is text.
    pub causation_id: Option<String>,
    /// The metadata's `traceparent` (the storing command's span), when it is text.
    pub traceparent: Option<String>,
    /// When the event was stored (its writing transaction's start): the event's time.
    pub recorded_at: DateTime<Utc>,
}

impl StoredEvent {
    /// This row's place in commit order.
    pub fn position(&self) -> Position {
        Position {
            transaction_id: self.transaction_id,
            global_position: self.global_position,
        }
    }

    /// This event's stable id ([`crate::event_id`]).
    pub fn event_id(&self) -> Uuid {
        crate::event_id(&self.aggregate_type, &self.aggregate_id, self.sequence)
    }
}

/// Up to `limit` committed events after `after`, in commit order.
#[tracing::instrument(skip(pool), err)]
pub async fn fetch_after(
    pool: &PgPool,
    after: Position,
    limit: u32,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    read(pool, None, after, limit).await
}

/// Up to `limit` committed events of `aggregate_types` after `after`, in commit order.
#[tracing::instrument(skip(pool, aggregate_types), err)]
pub async fn fetch_after_of(
    pool: &PgPool,
    aggregate_types: &[String],
    after: Position,
    limit: u32,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    read(pool, Some(aggregate_types), after, limit).await
}

/// The one commit-order query: events after `after`, of `aggregate_types` when given.
async fn read(
    pool: &PgPool,
    aggregate_types: Option<&[String]>,
    after: Position,
    limit: u32,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    // Without statistics (a table just bulk-loaded, not yet analyzed) the planner estimates
    // too many rows after `after` and sorts all of them (an external sort: 0.5 s a page at
    // 200k events) instead of walking the (transaction_id, global_position) index, which
    // already yields them in order and stops after `limit`. Sorting is never the better plan
    // here, so it is off for this read.
    let mut transaction = pool.begin().await?;
    sqlx::query("SET LOCAL enable_sort = off")
        .execute(&mut *transaction)
        .await?;
    let events = sqlx::query_as::<_, StoredEvent>(
        // Only what is published (or replayed): the payload's data, and the three metadata
        // values the headers carry (decoding whole JSON documents was most of a page's read).
        "SELECT transaction_id::text::bigint AS transaction_id, global_position, aggregate_type,
                aggregate_id, sequence, event_type, event_version,
                COALESCE(payload->'data', payload) AS data,
                CASE WHEN jsonb_typeof(metadata->'correlation_id') = 'string'
                     THEN metadata->>'correlation_id' END AS correlation_id,
                CASE WHEN jsonb_typeof(metadata->'causation_id') = 'string'
                     THEN metadata->>'causation_id' END AS causation_id,
                CASE WHEN jsonb_typeof(metadata->'traceparent') = 'string'
                     THEN metadata->>'traceparent' END AS traceparent,
                recorded_at
         FROM events
         WHERE (transaction_id, global_position) > ($1::bigint::text::xid8, $2)
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           AND ($4::text[] IS NULL OR aggregate_type = ANY($4))
         -- The table's columns, not the bigint output column of the same name: only these
         -- are ordered by the (transaction_id, global_position) index (a bare
         -- `transaction_id` would sort the whole table for every page).
         ORDER BY events.transaction_id, events.global_position
         LIMIT $3",
    )
    .bind(after.transaction_id)
    .bind(after.global_position)
    .bind(i64::from(limit))
    .bind(aggregate_types)
    .fetch_all(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(events)
}

/// How many events of `aggregate_types` the store holds, committed or not (a rebuild's
/// progress bar).
pub async fn count_of(pool: &PgPool, aggregate_types: &[String]) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = ANY($1)")
        .bind(aggregate_types)
        .fetch_one(pool)
        .await
}

/// The newest stored position, committed or not (the head the relay lag is measured against).
pub async fn head(pool: &PgPool) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(pool)
        .await
}
