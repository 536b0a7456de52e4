//! Group commit: appends that need no snapshot, made concurrently by different commands,
//! share one `INSERT` (one statement, one transaction, one WAL flush) instead of paying a
//! round trip and a commit each (docs/adr/0015-command-write-path.md).
//!
//! No timer and no standing task: an append joins the queue and, when fewer than
//! [`FLUSHERS`] flushes are running, spawns one. A flush takes whatever is queued (up to
//! [`MAX_ROWS`] rows), writes it and goes on until the queue is empty. An append that finds
//! the flushers busy waits for one of them, so a batch forms only while Postgres is busy
//! with the previous one, and a lone command is written at once.
//!
//! A batch is all or nothing. When it fails (one of its appends lost an optimistic-lock
//! race, or any other error), every append of it is written again on its own, so each
//! gets exactly the answer it would have had alone: stored, conflict, or its error.

use std::sync::{Arc, Mutex, PoisonError};

use cqrs_es::persist::SerializedEvent;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::oneshot;

use causeway_infra::metrics::{APPEND_STATEMENTS, label};

use super::{StoreError, insert_events, to_i64};

/// Flushes running at once: enough to keep Postgres busy while a batch forms.
pub(super) const FLUSHERS: usize = 4;
/// The most rows one batch inserts.
pub(super) const MAX_ROWS: usize = 500;

// Rows in the order given: each append's events are in sequence order, and the positions
// Postgres hands out follow the rows.
const INSERT_BATCH: &str = "
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
  FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
       WITH ORDINALITY AS e (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, n)
 ORDER BY e.n";

/// Writes appends in groups. Cheap to share: it is held in an `Arc`.
#[derive(Debug)]
pub(super) struct GroupWriter {
    pool: PgPool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    queue: Vec<Append>,
    flushers: usize,
}

/// One command's events, and where its outcome goes.
#[derive(Debug)]
struct Append {
    aggregate_type: String,
    events: Vec<SerializedEvent>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

impl GroupWriter {
    pub(super) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            state: Mutex::new(State::default()),
        }
    }

    /// Stores `events` (one aggregate's, in sequence order) in a group with whatever other
    /// appends are waiting; all or nothing, as a statement of its own would be.
    pub(super) async fn append(
        self: &Arc<Self>,
        aggregate_type: &str,
        events: &[SerializedEvent],
    ) -> Result<(), StoreError> {
        let (done, outcome) = oneshot::channel();
        let append = Append {
            aggregate_type: aggregate_type.to_owned(),
            events: events.to_vec(),
            done,
        };
        if self.enqueue(append) {
            let writer = Arc::clone(self);
            tokio::spawn(async move { writer.flush().await });
        }
        outcome.await.unwrap_or_else(|_| {
            Err(StoreError::Invalid(
                "the group writer dropped an append".to_owned(),
            ))
        })
    }

    /// Queues `append`; answers whether the caller should start a flush.
    fn enqueue(&self, append: Append) -> bool {
        let mut state = self.lock();
        state.queue.push(append);
        let start = state.flushers < FLUSHERS;
        if start {
            state.flushers += 1;
        }
        start
    }

    /// Writes batches until the queue is empty.
    async fn flush(&self) {
        let mut running = Running {
            writer: self,
            counted_out: false,
        };
        while let Some(batch) = running.next_batch() {
            self.write(batch).await;
        }
    }

    /// Takes the next batch, or counts this flush out when the queue is empty (under the
    /// same lock, so that no append is left queued without a flush to take it).
    fn take(&self) -> Option<Vec<Append>> {
        let mut state = self.lock();
        if state.queue.is_empty() {
            state.flushers -= 1;
            return None;
        }
        let mut rows = 0;
        let count = state
            .queue
            .iter()
            .take_while(|append| {
                rows += append.events.len();
                rows <= MAX_ROWS
            })
            .count()
            .max(1);
        Some(state.queue.drain(..count).collect())
    }

    /// Writes `batch` with one statement; a batch of one, or each append of a batch that
    /// failed, is written alone.
    async fn write(&self, batch: Vec<Append>) {
        if batch.len() > 1 {
            let outcome = self.insert_batch(&batch).await;
            count_statement(if outcome.is_ok() {
                "group"
            } else {
                "group_failed"
            });
            match outcome {
                Ok(()) => {
                    for append in batch {
                        // A cancelled command has nobody to tell.
                        let _ = append.done.send(Ok(()));
                    }
                    return;
                }
                Err(error) => {
                    tracing::debug!(%error, appends = batch.len(), "group insert failed; writing each append alone");
                }
            }
        }
        let alone = batch.into_iter().map(|append| async move {
            count_statement("alone");
            let outcome = insert_events(&self.pool, &append.aggregate_type, &append.events).await;
            let _ = append.done.send(outcome);
        });
        futures::future::join_all(alone).await;
    }

    #[tracing::instrument(skip_all, fields(appends = batch.len()), err)]
    async fn insert_batch(&self, batch: &[Append]) -> Result<(), StoreError> {
        let rows = || {
            batch
                .iter()
                .flat_map(|a| a.events.iter().map(move |e| (a, e)))
        };
        let sequences = rows()
            .map(|(_, e)| to_i64(e.sequence))
            .collect::<Result<Vec<_>, _>>()?;
        let text = |f: for<'a> fn(&'a Append, &'a SerializedEvent) -> &'a str| {
            rows().map(|(a, e)| f(a, e)).collect::<Vec<_>>()
        };
        let json =
            |f: fn(&SerializedEvent) -> &Value| rows().map(|(_, e)| f(e)).collect::<Vec<_>>();
        sqlx::query(INSERT_BATCH)
            .bind(text(|a, _| &a.aggregate_type))
            .bind(text(|_, e| &e.aggregate_id))
            .bind(sequences)
            .bind(text(|_, e| &e.event_type))
            .bind(text(|_, e| &e.event_version))
            .bind(json(|e| &e.payload))
            .bind(json(|e| &e.metadata))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn count_statement(write: &'static str) {
    metrics::counter!(APPEND_STATEMENTS, label::WRITE => write).increment(1);
}

/// A running flush. Should it end early (a panic, or its task dropped at shutdown), it
/// still counts itself out, so that later appends start new flushes.
struct Running<'a> {
    writer: &'a GroupWriter,
    counted_out: bool,
}

impl Running<'_> {
    fn next_batch(&mut self) -> Option<Vec<Append>> {
        let batch = self.writer.take();
        self.counted_out = batch.is_none();
        batch
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.counted_out {
            self.writer.lock().flushers -= 1;
        }
    }
}
