//! Loading an aggregate in one round trip: its snapshot and the events after it come back
//! from a single statement, where cqrs-es' `PersistedEventStore::load_aggregate` asks the
//! repository twice (`get_snapshot`, then `get_last_events`).
//!
//! The result is the same context cqrs-es builds, field for field, so its `commit` computes
//! the same sequences and snapshot versions from it: the snapshot's state, sequence and
//! version when it is readable, else the default state replayed from the first event (a
//! snapshot whose payload no longer fits the aggregate, as cqrs-es does).

use cqrs_es::persist::EventStoreAggregateContext;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PgEventRepository, StoreError, to_usize};

// Row 0 is the snapshot, when snapshots are on ($3) and one exists; the events after it
// follow in sequence order. A snapshot row carries `last_sequence` as its sequence and its
// version in `snapshot_version`; event rows leave that NULL.
const SELECT_AGGREGATE: &str = "
WITH snapshot AS (
  SELECT last_sequence, snapshot_version, payload
    FROM snapshots
   WHERE $3 AND aggregate_type = $1 AND aggregate_id = $2
)
SELECT 0 AS part, last_sequence AS sequence, snapshot_version, payload
  FROM snapshot
 UNION ALL
SELECT 1, sequence, NULL, payload
  FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2
   AND sequence > COALESCE((SELECT last_sequence FROM snapshot), 0)
 ORDER BY part, sequence";

const SELECT_PAYLOADS_AFTER: &str = "
SELECT sequence, payload
  FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
 ORDER BY sequence";

impl PgEventRepository {
    /// The aggregate `aggregate_id` as cqrs-es would load it (snapshot plus the events after
    /// it), read with one statement; a default context at sequence 0 when it has no event.
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id = %aggregate_id), err)]
    pub async fn load_context<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<EventStoreAggregateContext<A>, StoreError> {
        let rows = sqlx::query(SELECT_AGGREGATE)
            .bind(A::TYPE)
            .bind(aggregate_id)
            .bind(self.snapshot_every > 0)
            .fetch_all(&self.pool)
            .await?;
        let snapshot = match rows.first() {
            Some(row) if row.try_get::<i32, _>("part")? == 0 => {
                Some(from_snapshot(aggregate_id, row)?)
            }
            _ => None,
        };
        match snapshot {
            None => apply(new_context(aggregate_id), &rows),
            Some(Some(context)) => apply(context, &rows[1..]),
            Some(None) => {
                let rows = self.select_payloads_after(A::TYPE, aggregate_id, 0).await?;
                apply(new_context(aggregate_id), &rows)
            }
        }
    }

    /// Sequence and payload of the aggregate's events after `after`, for a replay that
    /// cannot start from its snapshot.
    async fn select_payloads_after(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: i64,
    ) -> Result<Vec<PgRow>, StoreError> {
        Ok(sqlx::query(SELECT_PAYLOADS_AFTER)
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(after)
            .fetch_all(&self.pool)
            .await?)
    }
}

/// A context at sequence 0 with the default state: the aggregate before its first event.
pub(crate) fn new_context<A: cqrs_es::Aggregate>(
    aggregate_id: &str,
) -> EventStoreAggregateContext<A> {
    EventStoreAggregateContext {
        aggregate_id: aggregate_id.to_owned(),
        aggregate: A::default(),
        current_sequence: 0,
        current_snapshot: None,
    }
}

/// The context a snapshot row stands for; `None` when its payload no longer fits the
/// aggregate, which calls for a full replay.
fn from_snapshot<A: cqrs_es::Aggregate>(
    aggregate_id: &str,
    row: &PgRow,
) -> Result<Option<EventStoreAggregateContext<A>>, StoreError> {
    let current_sequence = to_usize(row.try_get("sequence")?)?;
    let version = to_usize(row.try_get("snapshot_version")?)?;
    let Ok(aggregate) = serde_json::from_value(row.try_get("payload")?) else {
        return Ok(None);
    };
    Ok(Some(EventStoreAggregateContext {
        aggregate_id: aggregate_id.to_owned(),
        aggregate,
        current_sequence,
        current_snapshot: Some(version),
    }))
}

/// Applies event rows (sequence, payload) to `context`, in order.
fn apply<A: cqrs_es::Aggregate>(
    mut context: EventStoreAggregateContext<A>,
    rows: &[PgRow],
) -> Result<EventStoreAggregateContext<A>, StoreError> {
    for row in rows {
        let event: A::Event = serde_json::from_value(row.try_get("payload")?)?;
        context.current_sequence = to_usize(row.try_get("sequence")?)?;
        context.aggregate.apply(event);
    }
    Ok(context)
}
