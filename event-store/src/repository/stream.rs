//! Replay streams: events read by a background task and fed to cqrs-es' `ReplayStream`,
//! so a reader holds a bounded buffer, not a whole table.

use cqrs_es::persist::{PersistenceError, ReplayStream, SerializedEvent};
use futures::TryStreamExt;
use sqlx::PgPool;
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;
use tracing::Instrument;

use super::{StoreError, event_from_row};

type OwnedQuery = Query<'static, Postgres, PgArguments>;

const AGGREGATE_EVENTS: &str = "
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
  FROM events
 WHERE aggregate_type = $1 AND aggregate_id = $2
 ORDER BY sequence";

// Insertion order across aggregates; within one aggregate it is sequence order, since a
// writer of sequence n + 1 has read sequence n committed before inserting.
const TYPE_EVENTS: &str = "
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
  FROM events
 WHERE aggregate_type = $1
 ORDER BY global_position";

/// The events of one aggregate, in sequence order.
pub(super) fn of_aggregate(aggregate_type: &str, aggregate_id: &str) -> OwnedQuery {
    sqlx::query(AGGREGATE_EVENTS)
        .bind(aggregate_type.to_owned())
        .bind(aggregate_id.to_owned())
}

/// Every event of one aggregate type, in insertion order.
pub(super) fn of_type(aggregate_type: &str) -> OwnedQuery {
    sqlx::query(TYPE_EVENTS).bind(aggregate_type.to_owned())
}

/// Runs `query` in a task that feeds each row to the returned stream. The first error is
/// fed as the stream's last item (postgres-es panics in its task instead).
pub(super) fn spawn(pool: PgPool, query: OwnedQuery, buffer: usize) -> ReplayStream {
    let (mut feed, stream) = ReplayStream::new(buffer);
    let task = async move {
        let mut rows = query.fetch(&pool);
        loop {
            let next: Result<SerializedEvent, PersistenceError> = match rows.try_next().await {
                Ok(Some(row)) => event_from_row(&row).map_err(Into::into),
                Ok(None) => return,
                Err(error) => Err(StoreError::from(error).into()),
            };
            let failed = next.is_err();
            // A closed feed means the reader went away: nothing left to do.
            if feed.push(next).await.is_err() || failed {
                return;
            }
        }
    };
    tokio::spawn(task.instrument(tracing::debug_span!("replay_stream")));
    stream
}
