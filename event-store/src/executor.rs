//! [`CommandStore`]: runs one command on one aggregate (load, decide, commit) and answers
//! the aggregate's new version, retrying a bounded number of times on conflicts.
//!
//! It drives cqrs-es' `EventStore` itself rather than through `CqrsFramework::execute`,
//! which discards the committed envelopes and so the version a caller needs as its
//! consistency token (docs/architecture.md §5).

mod each;
mod measure;
mod retry;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use causeway_domain::Aggregate;
use causeway_infra::settings::EventStoreSettings;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate as _, DomainEvent as _, EventEnvelope, EventStore as _};
use sqlx::PgPool;

use super::repository::{new_context, to_u64};
use super::{Aggregated, CommandMetadata, PgEventRepository, StoreError};
pub use each::Each;
pub use retry::{Jitter, RetryPolicy};

type Store<A> = PersistedEventStore<PgEventRepository, Aggregated<A>>;

/// The outcome of an accepted command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The aggregate the command ran on.
    pub aggregate_id: String,
    /// The sequence of the last event stored, or the current version when the command
    /// decided no event (its effect had already happened): the consistency token.
    pub version: u64,
    /// Sequence and event type of each event stored, in order; empty for a no-op.
    pub events: Vec<(u64, String)>,
    /// How many times the command was decided: 1, plus one per conflict retried, plus one
    /// when [`CommandStore::execute_new`] found the aggregate existing.
    pub attempts: u32,
}

/// Why a command did not store its events.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<R> {
    /// The aggregate refused the command: a business rule (422).
    #[error("command rejected: {0}")]
    Rejected(R),
    /// Other writers kept changing the aggregate; nothing of this command was stored (409).
    #[error("the aggregate kept changing concurrently; gave up after {attempts} attempts")]
    Conflict {
        /// How many times the command was decided and refused by the store.
        attempts: u32,
    },
    /// The store failed (500).
    #[error("event store failure")]
    Store(#[from] StoreError),
}

/// Executes commands against the Postgres event store. Cheap to clone: clones share the
/// pool.
#[derive(Clone)]
pub struct CommandStore {
    repository: PgEventRepository,
    retry: RetryPolicy,
    jitter: Jitter,
}

impl std::fmt::Debug for CommandStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandStore")
            .field("repository", &self.repository)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl CommandStore {
    /// A store on `pool` that snapshots every `snapshot_every` events of an aggregate (0:
    /// never), with the default [`RetryPolicy`] and jitter from a thread-local generator.
    pub fn new(pool: PgPool, snapshot_every: u64) -> Self {
        Self {
            repository: PgEventRepository::new(pool, snapshot_every),
            retry: RetryPolicy::default(),
            jitter: Arc::new(fastrand::f64),
        }
    }

    /// A store configured by the `event_store` settings.
    pub fn from_settings(pool: PgPool, settings: &EventStoreSettings) -> Self {
        Self::new(pool, settings.snapshot_every)
    }

    /// Replaces the retry policy.
    #[must_use]
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        Self { retry, ..self }
    }

    /// Replaces the jitter source: each call answers a fraction in `[0, 1)`.
    #[must_use]
    pub fn with_jitter(self, jitter: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        let jitter: Jitter = Arc::new(jitter);
        Self { jitter, ..self }
    }

    /// The repository underneath, for replays (`stream_events`, `stream_all_events`).
    pub fn repository(&self) -> &PgEventRepository {
        &self.repository
    }

    /// Runs `command` on the aggregate `aggregate_id` and answers its new version. On an
    /// optimistic-lock conflict it reloads and decides again, up to the policy's attempts.
    /// A rejected or conflicting command has stored nothing.
    #[tracing::instrument(
        skip_all,
        fields(aggregate_type = A::TYPE, aggregate_id = %aggregate_id, version, attempts)
    )]
    pub async fn execute<A: Aggregate>(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: &CommandMetadata,
    ) -> Result<Committed, CommandError<A::Rejection>> {
        self.execute_measured::<A>(aggregate_id, command, metadata, Known::Maybe)
            .await
    }

    /// [`Self::execute`] on an aggregate whose id was just minted, so that it has no event
    /// yet: the first attempt decides on the default state without reading the store. Were
    /// the id taken after all, that attempt would be refused (the insert of sequence 1
    /// conflicts, or the default state rejects the command) and the next one loads.
    // The same span name as `execute`: the trace of a command reads alike either way.
    #[tracing::instrument(
        name = "execute",
        skip_all,
        fields(aggregate_type = A::TYPE, aggregate_id = %aggregate_id, version, attempts)
    )]
    pub async fn execute_new<A: Aggregate>(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: &CommandMetadata,
    ) -> Result<Committed, CommandError<A::Rejection>> {
        self.execute_measured::<A>(aggregate_id, command, metadata, Known::New)
            .await
    }

    /// Runs the command, retrying conflicts, and records its metrics.
    async fn execute_measured<A: Aggregate>(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: &CommandMetadata,
        known: Known,
    ) -> Result<Committed, CommandError<A::Rejection>> {
        let started = Instant::now();
        let kind = measure::command_kind(&command);
        let result = self
            .execute_retrying::<A>(aggregate_id, command, metadata, known)
            .await;
        measure::record::<A>(kind, &result, started.elapsed());
        result
    }

    /// [`Self::execute`] without the metrics.
    async fn execute_retrying<A: Aggregate>(
        &self,
        aggregate_id: &str,
        command: A::Command,
        metadata: &CommandMetadata,
        mut known: Known,
    ) -> Result<Committed, CommandError<A::Rejection>> {
        let store = self.repository.event_store::<Aggregated<A>>();
        let metadata = metadata.to_map();
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let context = match known {
                Known::New => new_context::<Aggregated<A>>(aggregate_id),
                Known::Maybe => self.repository.load_context(aggregate_id).await?,
            };
            let assumed_new = known == Known::New;
            known = Known::Maybe;
            match attempt::<A>(&store, context, &command, &metadata).await {
                Ok(committed) => return Ok(record(committed, attempts)),
                // Decided on a state assumed rather than read: the aggregate may exist after
                // all. Decide again, at once, on the stored state.
                Err(CommandError::Rejected(_) | CommandError::Store(StoreError::Conflict))
                    if assumed_new =>
                {
                    tracing::debug!("refused as a new aggregate; loading it");
                }
                Err(CommandError::Store(error)) if error.is_conflict() => {
                    if attempts >= max_attempts {
                        tracing::warn!(attempts, "optimistic-lock conflict after every attempt");
                        return Err(CommandError::Conflict { attempts });
                    }
                    tracing::debug!(attempts, "optimistic-lock conflict; retrying");
                    let delay = self.retry.delay(attempts, (self.jitter)());
                    tokio::time::sleep(delay).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The current state and version of the aggregate `aggregate_id` (snapshot plus the
    /// events after it), or `None` when it has no event.
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id = %aggregate_id))]
    pub async fn load<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<(A, u64)>, StoreError> {
        let context = self
            .repository
            .load_context::<Aggregated<A>>(aggregate_id)
            .await?;
        if context.current_sequence == 0 {
            return Ok(None);
        }
        let version = to_u64(context.current_sequence);
        Ok(Some((context.aggregate.into_state(), version)))
    }
}

/// Notes the attempts in the answer and the outcome on the command's span.
fn record(mut committed: Committed, attempts: u32) -> Committed {
    committed.attempts = attempts;
    let span = tracing::Span::current();
    span.record("version", committed.version);
    span.record("attempts", attempts);
    committed
}

/// What is known of an aggregate's events before a command runs on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// It may have some: load it.
    Maybe,
    /// Its id was just minted: it has none.
    New,
}

/// One decide–commit round on the loaded `context`.
async fn attempt<A: Aggregate>(
    store: &Store<A>,
    mut context: EventStoreAggregateContext<Aggregated<A>>,
    command: &A::Command,
    metadata: &HashMap<String, String>,
) -> Result<Committed, CommandError<A::Rejection>> {
    let aggregate_id = context.aggregate_id.clone();
    let aggregate_id = aggregate_id.as_str();
    let loaded = to_u64(context.current_sequence);
    let sink = EventSink::default();
    let handled = context.aggregate.handle(command.clone(), &(), &sink).await;
    handled.map_err(CommandError::Rejected)?;
    let events = sink.collect().await;
    if events.is_empty() {
        return Ok(committed::<A>(aggregate_id, loaded, &[]));
    }
    let envelopes = store
        .commit(events, context, metadata.clone())
        .await
        .map_err(StoreError::from)?;
    Ok(committed(aggregate_id, loaded, &envelopes))
}

fn committed<A: Aggregate>(
    aggregate_id: &str,
    loaded: u64,
    envelopes: &[EventEnvelope<Aggregated<A>>],
) -> Committed {
    let events: Vec<(u64, String)> = envelopes
        .iter()
        .map(|e| (to_u64(e.sequence), e.payload.event_type()))
        .collect();
    Committed {
        aggregate_id: aggregate_id.to_owned(),
        version: events.last().map_or(loaded, |(sequence, _)| *sequence),
        events,
        attempts: 1,
    }
}
