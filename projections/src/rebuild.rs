//! Rebuilding a read model without downtime (docs/architecture.md §3, ADR 0010): the projection's own
//! `apply` code writes empty copies of its tables (shadow tables, [`shadow`]) from the event
//! store in commit order ([`store`]) or from its topics at offset 0 ([`kafka`]), through
//! several connections ([`writers`]); then, holding the projection's fence, it catches up with
//! the live worker and swaps the copies in, in one transaction.
//!
//! The fence is a transaction-level advisory lock: every batch of the live worker takes it
//! shared ([`fence`]); the swap takes it exclusive, so no batch commits between the moment the
//! swap reads the live offsets and the moment the copies become the live tables.

mod kafka;
pub mod shadow;
pub mod store;
mod writers;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use causeway_infra::Settings;
use causeway_infra::avro::EventCodec;
use rdkafka::message::{Message, OwnedMessage};
use sqlx::{Connection, Executor, PgConnection, PgPool};

use crate::ProjectionError;
use crate::offsets::{self, TopicPartition};
use crate::projection::{Envelope, Projection};
use crate::registry::{self, VisitOne};
use causeway_event_store::{Position, StoredEvent};
use kafka::{Goal, KafkaSource};
use shadow::Shadow;
use writers::Writers;

/// The first key of the advisory locks fencing a projection's batches from a swap.
const FENCE_NAMESPACE: i32 = 0x4357_0001;
/// The first key of the advisory lock held by the one rebuild of a projection.
const REBUILD_NAMESPACE: i32 = 0x4357_0002;
/// Passes over the source before the swap, each catching up with what arrived meanwhile.
const MAX_PASSES: usize = 5;

/// Takes the projection's fence shared, inside a live batch's transaction: a swap (which
/// takes it exclusive) waits for the batch to commit, and the next batch waits for the swap.
pub async fn fence(conn: &mut PgConnection, projection: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1, hashtext($2))")
        .bind(FENCE_NAMESPACE)
        .bind(projection)
        .execute(conn)
        .await?;
    Ok(())
}

async fn fence_exclusive(conn: &mut PgConnection, projection: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(FENCE_NAMESPACE)
        .bind(projection)
        .execute(conn)
        .await?;
    Ok(())
}

/// Where a rebuild reads its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The event store, in global commit order.
    Store,
    /// The projection's topics, from offset 0.
    Kafka,
}

/// How a rebuild runs.
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    /// Where the events come from.
    pub source: Source,
    /// Events read and applied per step.
    pub batch_size: usize,
    /// Connections writing the shadow tables (1 for projections whose row ids follow the
    /// order of events).
    pub writers: usize,
    /// How long the swap waits for the live tables' locks before it gives up and retries.
    pub lock_timeout: Duration,
    /// Swap attempts before the rebuild fails.
    pub swap_attempts: u32,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        Self {
            source: Source::Store,
            batch_size: 5000,
            writers: 4,
            lock_timeout: Duration::from_secs(5),
            swap_attempts: 5,
        }
    }
}

/// What a rebuild reports as it goes (the CLI draws a progress bar).
pub trait Progress: Send + Sync {
    /// A phase starts; `total` events are expected, when known.
    fn phase(&self, name: &str, total: Option<u64>);
    /// `events` more were applied.
    fn advance(&self, events: u64);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}

/// What a finished rebuild did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RebuildReport {
    /// The projection.
    pub projection: String,
    /// Events applied to the shadow tables (the catch-up under the fence included).
    pub events: u64,
    /// Events that could not be decoded or parsed, skipped (the live worker dead-letters them).
    pub skipped: u64,
    /// Events applied while holding the fence.
    pub caught_up_under_fence: u64,
    /// Wall time, in seconds.
    pub seconds: f64,
    /// The live offsets after the swap, as `(topic, partition, next offset)`.
    pub offsets: Vec<(String, i32, i64)>,
    /// Where the time went.
    pub timings: Timings,
}

/// Seconds spent in each step of a rebuild. Reading the next store page overlaps applying
/// the current one, so the steps may add up to more than the wall time.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    /// Reading pages of the store or messages from Kafka.
    pub read_seconds: f64,
    /// Decoding (Avro, from Kafka) and parsing events.
    pub decode_seconds: f64,
    /// Applying batches to the shadow tables (every writer's slice, in parallel).
    pub apply_seconds: f64,
    /// Creating the secondary indexes after the bulk load.
    pub index_seconds: f64,
    /// Catching up under the fence and swapping.
    pub swap_seconds: f64,
}

/// Why a rebuild failed. The live tables are untouched unless it says the swap happened.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// No projection has this name.
    #[error("unknown projection {0:?}: {1}")]
    Unknown(String, String),
    /// Another rebuild of the projection holds its lock.
    #[error("a rebuild of {0} is already running")]
    AlreadyRunning(String),
    /// Postgres failed.
    #[error("database error during the rebuild")]
    Database(#[from] sqlx::Error),
    /// Kafka or the registry failed.
    #[error("reading the topics failed")]
    Source(#[from] ProjectionError),
    /// No message arrived for a minute while the live offsets were still ahead.
    #[error("kafka stalled below the live offsets")]
    Stalled,
    /// The swap could not take the live tables' locks.
    #[error("the swap could not lock the live tables in {0} attempts")]
    SwapGaveUp(u32),
}

impl From<rdkafka::error::KafkaError> for RebuildError {
    fn from(error: rdkafka::error::KafkaError) -> Self {
        Self::Source(ProjectionError::Kafka(error))
    }
}

/// Rebuilds projection `name` into shadow tables and swaps them in.
pub async fn rebuild(
    settings: &Settings,
    pool: &PgPool,
    codec: &EventCodec,
    name: &str,
    options: &RebuildOptions,
    progress: &dyn Progress,
) -> Result<RebuildReport, RebuildError> {
    let Some(tables) = registry::tables(name) else {
        return Err(RebuildError::Unknown(
            name.to_owned(),
            registry::names().join(", "),
        ));
    };
    let mut guard = PgConnection::connect_with(&settings.database.connect_options()).await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
        .bind(REBUILD_NAMESPACE)
        .bind(name)
        .fetch_one(&mut guard)
        .await?;
    if !locked {
        return Err(RebuildError::AlreadyRunning(name.to_owned()));
    }
    let run = Run {
        settings,
        pool,
        codec,
        options,
        progress,
        tables,
    };
    let report = registry::with_projection(name, run)
        .ok_or_else(|| RebuildError::Unknown(name.to_owned(), String::new()))?
        .await;
    let _ = guard.close().await;
    report
}

/// One rebuild, before the projection's type is known.
struct Run<'a> {
    settings: &'a Settings,
    pool: &'a PgPool,
    codec: &'a EventCodec,
    options: &'a RebuildOptions,
    progress: &'a dyn Progress,
    tables: &'static [&'static str],
}

type Boxed<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<RebuildReport, RebuildError>> + Send + 'a>,
>;

impl<'a> VisitOne for Run<'a> {
    type Output = Boxed<'a>;
    fn visit<P: Projection>(self, projection: P) -> Boxed<'a> {
        Box::pin(async move { Typed::start(self, projection).await?.run().await })
    }
}

/// One rebuild of projection `P`.
struct Typed<'a, P> {
    run: Run<'a>,
    projection: P,
    shadow: Shadow,
    writers: Writers,
    started: Instant,
    events: u64,
    skipped: u64,
    timings: Timings,
}

mod drive;
