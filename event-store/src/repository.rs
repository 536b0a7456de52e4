//! [`PgEventRepository`]: cqrs-es' `PersistedEventRepository` on sqlx 0.8, against
//! Causeway's own `events` and `snapshots` tables (`migrations/`).
//!
//! It replaces postgres-es, which (in 0.5.0) commits the events before it checks the
//! snapshot update, and so answers "conflict" for a write it has stored (docs/adr/0003).
//! Here a write is all or nothing: the events (one multi-row `INSERT`) and the snapshot
//! (an upsert guarded by the snapshot version that was loaded) go in one transaction, and
//! a snapshot guard that matches no row rolls everything back before the commit. A write
//! without a snapshot is the `INSERT` alone, atomic by itself, and shares that statement
//! with the other commands writing at the same moment (`group`, docs/adr/0015).
//!
//! Commands load through `load` (the snapshot and the events after it in one statement)
//! rather than cqrs-es' `load_aggregate`, which makes two.

mod group;
mod load;
mod stream;

pub(crate) use load::new_context;

use causeway_infra::metrics::{EVENTS_APPENDED, SNAPSHOTS_WRITTEN, label};
use std::sync::Arc;

use cqrs_es::persist::{
    PersistedEventRepository, PersistedEventStore, PersistenceError, ReplayStream, SerializedEvent,
    SerializedSnapshot,
};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::StoreError;
use group::GroupWriter;

const SELECT_EVENTS_AFTER: &str = "
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
  FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
 ORDER BY sequence";

const SELECT_SNAPSHOT: &str = "
SELECT last_sequence, snapshot_version, payload
  FROM snapshots
 WHERE aggregate_type = $1 AND aggregate_id = $2";

// One statement for any number of events. `global_position`, `transaction_id` and
// `recorded_at` keep their defaults; ORDER BY hands out positions in sequence order.
const INSERT_EVENTS: &str = "
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT $1, e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
  FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
       AS e (aggregate_id, sequence, event_type, event_version, payload, metadata)
 ORDER BY e.sequence";

const INSERT_EVENT: &str = "
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7)";

// Inserts the first snapshot or replaces the one that was loaded (version $6); matches no
// row when another writer replaced it since. A writer that loaded no snapshot ($6 = 0)
// although a row exists found it unreadable (cqrs-es then replays every event): it may
// replace an older one, or the aggregate could never snapshot again.
const UPSERT_SNAPSHOT: &str = "
INSERT INTO snapshots AS s (aggregate_type, aggregate_id, last_sequence, snapshot_version, payload)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
   SET last_sequence = EXCLUDED.last_sequence,
       snapshot_version = EXCLUDED.snapshot_version,
       payload = EXCLUDED.payload
 WHERE s.snapshot_version = $6
    OR ($6 = 0 AND s.last_sequence < EXCLUDED.last_sequence)";

/// How many events a replay stream buffers ahead of its reader.
const STREAM_BUFFER: usize = 256;

/// The event repository: cheap to clone (it holds the pool).
#[derive(Debug, Clone)]
pub struct PgEventRepository {
    pool: PgPool,
    snapshot_every: u64,
    group: Arc<GroupWriter>,
}

/// What a write came to, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Stored,
    Conflict,
}

impl PgEventRepository {
    /// A repository on `pool` whose stores snapshot every `snapshot_every` events of an
    /// aggregate; 0 takes no snapshots.
    pub fn new(pool: PgPool, snapshot_every: u64) -> Self {
        Self {
            group: Arc::new(GroupWriter::new(pool.clone())),
            pool,
            snapshot_every,
        }
    }

    /// Events between snapshots; 0 when snapshots are off.
    pub fn snapshot_every(&self) -> u64 {
        self.snapshot_every
    }

    /// A cqrs-es event store on this repository: a snapshot store every
    /// [`snapshot_every`](Self::snapshot_every) events, or a plain event store when that is
    /// 0. The one place both agree on the snapshot interval, which the repository needs to
    /// know which sequence a snapshot stands for.
    pub fn event_store<A: cqrs_es::Aggregate>(&self) -> PersistedEventStore<Self, A> {
        match usize::try_from(self.snapshot_every) {
            Ok(0) => PersistedEventStore::new_event_store(self.clone()),
            Ok(every) => PersistedEventStore::new_snapshot_store(self.clone(), every),
            Err(_) => PersistedEventStore::new_snapshot_store(self.clone(), usize::MAX),
        }
    }

    #[tracing::instrument(
        skip_all,
        fields(aggregate_type = %aggregate_type, aggregate_id = %aggregate_id, after = after),
        err
    )]
    async fn select_events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: i64,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let rows = sqlx::query(SELECT_EVENTS_AFTER)
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    #[tracing::instrument(
        skip_all,
        fields(aggregate_type = %aggregate_type, aggregate_id = %aggregate_id),
        err
    )]
    async fn select_snapshot(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, StoreError> {
        let row = sqlx::query(SELECT_SNAPSHOT)
            .bind(aggregate_type)
            .bind(aggregate_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SerializedSnapshot {
            aggregate_id: aggregate_id.to_owned(),
            current_sequence: to_usize(row.try_get("last_sequence")?)?,
            current_snapshot: to_usize(row.try_get("snapshot_version")?)?,
            aggregate: row.try_get("payload")?,
        }))
    }

    /// Stores `events` and the snapshot update, all or nothing. A conflict is an outcome
    /// here, not an error: it is expected under contention and the caller retries.
    #[tracing::instrument(
        skip_all,
        fields(aggregate_type = %aggregate_type, aggregate_id, events = events.len(), outcome),
        err
    )]
    pub(crate) async fn write(
        &self,
        aggregate_type: &str,
        events: &[SerializedEvent],
        snapshot: Option<(String, Value, usize)>,
    ) -> Result<Written, StoreError> {
        let span = tracing::Span::current();
        if let Some(first) = events.first() {
            span.record("aggregate_id", first.aggregate_id.as_str());
        }
        let snapshotted = snapshot.is_some();
        let written = match self.try_write(aggregate_type, events, snapshot).await {
            Ok(()) => {
                count_written(aggregate_type, events.len(), snapshotted);
                Written::Stored
            }
            Err(StoreError::Conflict) => Written::Conflict,
            Err(error) => return Err(error),
        };
        span.record("outcome", tracing::field::debug(written));
        Ok(written)
    }

    async fn try_write(
        &self,
        aggregate_type: &str,
        events: &[SerializedEvent],
        snapshot: Option<(String, Value, usize)>,
    ) -> Result<(), StoreError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let Some((aggregate_id, payload, version)) = snapshot else {
            // One statement, atomic by itself, shared with concurrent appends.
            return self.group.append(aggregate_type, events).await;
        };
        let snapshot = Snapshot {
            aggregate_type,
            aggregate_id: &aggregate_id,
            sequence: self.snapshot_sequence_of(events, last)?,
            version: to_i64(version)?,
            payload: &payload,
        };
        let mut tx = self.pool.begin().await?;
        insert_events(&mut *tx, aggregate_type, events).await?;
        if !snapshot.upsert(&mut tx).await? {
            // The events must not outlive the failed guard: roll back before answering.
            tx.rollback().await?;
            return Err(StoreError::Conflict);
        }
        tx.commit().await?;
        Ok(())
    }

    /// The sequence the snapshot of a commit of `events` stands for.
    fn snapshot_sequence_of(
        &self,
        events: &[SerializedEvent],
        last: &SerializedEvent,
    ) -> Result<i64, StoreError> {
        if self.snapshot_every == 0 {
            return Err(StoreError::Invalid(
                "a snapshot was written to a repository that takes none".to_owned(),
            ));
        }
        let first = events.first().map_or(last.sequence, |e| e.sequence);
        let sequence = snapshot_sequence(to_u64(last.sequence), self.snapshot_every);
        if sequence < to_u64(first) {
            return Err(StoreError::Invalid(format!(
                "a snapshot at {sequence} for events {first}..={}",
                last.sequence
            )));
        }
        i64::try_from(sequence).map_err(|_| StoreError::Invalid(format!("sequence {sequence}")))
    }
}

/// Counts the events (and the snapshot) of a stored write.
fn count_written(aggregate_type: &str, events: usize, snapshotted: bool) {
    let aggregate = aggregate_type.to_owned();
    metrics::counter!(EVENTS_APPENDED, label::AGGREGATE => aggregate.clone())
        .increment(to_u64(events));
    if snapshotted {
        metrics::counter!(SNAPSHOTS_WRITTEN, label::AGGREGATE => aggregate).increment(1);
    }
}

/// The sequence a snapshot written with a commit that ends at `last` stands for.
///
/// cqrs-es hands the repository the snapshot's payload and version but not its sequence,
/// and the payload holds the state after the last multiple of `every` that the commit
/// reaches, not after its last event (`commit_snapshot_with_addl_events`). Storing the
/// last event's sequence, as postgres-es does, would skip the events after that multiple
/// on the next load.
pub(crate) fn snapshot_sequence(last: u64, every: u64) -> u64 {
    last - last % every
}

struct Snapshot<'a> {
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    sequence: i64,
    version: i64,
    payload: &'a Value,
}

impl Snapshot<'_> {
    /// Writes the snapshot if the stored one is still the one that was loaded (version − 1,
    /// or none for version 1). Answers whether it was written.
    async fn upsert(&self, tx: &mut Transaction<'_, Postgres>) -> Result<bool, StoreError> {
        let written = sqlx::query(UPSERT_SNAPSHOT)
            .bind(self.aggregate_type)
            .bind(self.aggregate_id)
            .bind(self.sequence)
            .bind(self.version)
            .bind(self.payload)
            .bind(self.version - 1)
            .execute(&mut **tx)
            .await?;
        Ok(written.rows_affected() == 1)
    }
}

async fn insert_events(
    executor: impl sqlx::PgExecutor<'_>,
    aggregate_type: &str,
    events: &[SerializedEvent],
) -> Result<(), StoreError> {
    if let [event] = events {
        return insert_event(executor, aggregate_type, event).await;
    }
    let sequences = events
        .iter()
        .map(|e| to_i64(e.sequence))
        .collect::<Result<Vec<_>, _>>()?;
    let column = |f: fn(&SerializedEvent) -> &String| events.iter().map(f).collect::<Vec<_>>();
    let json = |f: fn(&SerializedEvent) -> &Value| events.iter().map(f).collect::<Vec<_>>();
    sqlx::query(INSERT_EVENTS)
        .bind(aggregate_type)
        .bind(column(|e| &e.aggregate_id))
        .bind(sequences)
        .bind(column(|e| &e.event_type))
        .bind(column(|e| &e.event_version))
        .bind(json(|e| &e.payload))
        .bind(json(|e| &e.metadata))
        .execute(executor)
        .await?;
    Ok(())
}

/// One event: a plain `VALUES` row, which Postgres executes for about 15% less than the
/// same row through `UNNEST` (pgbench, prepared statements).
async fn insert_event(
    executor: impl sqlx::PgExecutor<'_>,
    aggregate_type: &str,
    event: &SerializedEvent,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_EVENT)
        .bind(aggregate_type)
        .bind(&event.aggregate_id)
        .bind(to_i64(event.sequence)?)
        .bind(&event.event_type)
        .bind(&event.event_version)
        .bind(&event.payload)
        .bind(&event.metadata)
        .execute(executor)
        .await?;
    Ok(())
}

fn event_from_row(row: &PgRow) -> Result<SerializedEvent, StoreError> {
    Ok(SerializedEvent::new(
        row.try_get("aggregate_id")?,
        to_usize(row.try_get("sequence")?)?,
        row.try_get("aggregate_type")?,
        row.try_get("event_type")?,
        row.try_get("event_version")?,
        row.try_get("payload")?,
        row.try_get("metadata")?,
    ))
}

fn to_i64(n: usize) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("{n} does not fit a bigint")))
}

fn to_usize(n: i64) -> Result<usize, StoreError> {
    usize::try_from(n).map_err(|_| StoreError::Invalid(format!("stored sequence {n}")))
}

/// Lossless: usize is at most 64 bits on every target Rust supports.
pub(super) fn to_u64(n: usize) -> u64 {
    n as u64
}

impl PersistedEventRepository for PgEventRepository {
    async fn get_events<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        Ok(self.select_events(A::TYPE, aggregate_id, -1).await?)
    }

    async fn get_last_events<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let after = to_i64(last_sequence)?;
        Ok(self.select_events(A::TYPE, aggregate_id, after).await?)
    }

    async fn get_snapshot<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        Ok(self.select_snapshot(A::TYPE, aggregate_id).await?)
    }

    async fn persist<A: cqrs_es::Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        match self.write(A::TYPE, events, snapshot_update).await? {
            Written::Stored => Ok(()),
            Written::Conflict => Err(PersistenceError::OptimisticLockError),
        }
    }

    async fn stream_events<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        let query = stream::of_aggregate(A::TYPE, aggregate_id);
        Ok(stream::spawn(self.pool.clone(), query, STREAM_BUFFER))
    }

    async fn stream_all_events<A: cqrs_es::Aggregate>(
        &self,
    ) -> Result<ReplayStream, PersistenceError> {
        let query = stream::of_type(A::TYPE);
        Ok(stream::spawn(self.pool.clone(), query, STREAM_BUFFER))
    }
}

#[cfg(test)]
mod tests {
    use super::snapshot_sequence;

    #[test]
    fn a_snapshot_stands_for_the_last_multiple_of_its_interval_that_the_commit_reaches() {
        assert_eq!(snapshot_sequence(3, 3), 3);
        // Loaded at 2, two events (3, 4): cqrs-es snapshots the state after 3.
        assert_eq!(snapshot_sequence(4, 3), 3);
        // Loaded at 5, eight events with an interval of 4: the state after 12.
        assert_eq!(snapshot_sequence(13, 4), 12);
        assert_eq!(snapshot_sequence(100, 100), 100);
    }
}
