//! [`CommandStore::execute_each`]: several commands on one aggregate, decided one after the
//! other against a single load and stored in a single write (group commit per aggregate).
//!
//! A saga participant's batch often holds many commands for one hot aggregate (every
//! order's `Reserve` on a popular SKU, every `ReserveCredit` of one customer). Run one at a
//! time, each costs a load and an append, and the aggregate is busy for both round trips;
//! decided together, the batch costs one of each. Each event keeps the metadata of the
//! command that decided it (its causation, correlation and trace), and each command gets
//! its own answer: the events it stored, or its rejection.

use std::convert::Infallible;
use std::time::Instant;

use causeway_domain::{Aggregate, DomainEvent as _, DomainRejection as _};
use cqrs_es::EventEnvelope;
use cqrs_es::persist::{EventStoreAggregateContext, SerializedEvent};
use serde_json::Value;

use super::{CommandError, CommandStore, Committed, measure};
use crate::repository::{Written, to_u64};
use crate::{AdaptedEvent, Aggregated, CommandMetadata, StoreError};

/// One command's answer in [`CommandStore::execute_each`]: what it stored (nothing when its
/// effect had already happened), or why the aggregate refused it.
pub type Each<R> = Result<Committed, R>;

impl CommandStore {
    /// Runs `commands` on the aggregate `aggregate_id`, in order, each decided on the state
    /// the ones before it left, and stores all their events in one write, each event with
    /// its own command's metadata. A refused command stores nothing and does not stop the
    /// ones after it. On an optimistic-lock conflict the whole batch is loaded and decided
    /// again, up to the retry policy's attempts; a conflict or store failure answers for
    /// every command (none of them stored anything).
    #[tracing::instrument(
        skip_all,
        fields(aggregate_type = A::TYPE, aggregate_id = %aggregate_id, commands = commands.len(), attempts)
    )]
    pub async fn execute_each<A: Aggregate>(
        &self,
        aggregate_id: &str,
        commands: &[(A::Command, CommandMetadata)],
    ) -> Result<Vec<Each<A::Rejection>>, CommandError<Infallible>> {
        let started = Instant::now();
        let result = self.each_retrying::<A>(aggregate_id, commands).await;
        let elapsed = started.elapsed();
        for (at, (command, _)) in commands.iter().enumerate() {
            let kind = measure::command_kind(command);
            let outcome = match &result {
                Ok(answers) => match &answers[at] {
                    Ok(_) => measure::Outcome::Accepted,
                    Err(rejection) => measure::Outcome::Rejected(rejection.code()),
                },
                Err(error) => measure::Outcome::of_failure(error),
            };
            measure::count::<A>(kind, outcome, elapsed);
        }
        result
    }

    async fn each_retrying<A: Aggregate>(
        &self,
        aggregate_id: &str,
        commands: &[(A::Command, CommandMetadata)],
    ) -> Result<Vec<Each<A::Rejection>>, CommandError<Infallible>> {
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let context = self
                .repository
                .load_context::<Aggregated<A>>(aggregate_id)
                .await?;
            let decided = decide_each::<A>(&context, commands);
            if decided.envelopes.is_empty() {
                return Ok(with_attempts(decided.answers, attempts));
            }
            let snapshot = self.snapshot_update(&context, &decided.envelopes)?;
            let events = decided
                .envelopes
                .iter()
                .map(SerializedEvent::try_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::Invalid(format!("serializing an event: {e}")))?;
            match self.repository.write(A::TYPE, &events, snapshot).await? {
                Written::Stored => {
                    tracing::Span::current().record("attempts", attempts);
                    return Ok(with_attempts(decided.answers, attempts));
                }
                Written::Conflict if attempts >= max_attempts => {
                    tracing::warn!(attempts, "optimistic-lock conflict after every attempt");
                    return Err(CommandError::Conflict { attempts });
                }
                Written::Conflict => {
                    tracing::debug!(
                        attempts,
                        "optimistic-lock conflict; deciding the batch again"
                    );
                    tokio::time::sleep(self.retry.delay(attempts, (self.jitter)())).await;
                }
            }
        }
    }

    /// The snapshot a write of `envelopes` after `context` carries, as cqrs-es computes it
    /// for a commit: the state after the last multiple of `snapshot_every` the write
    /// reaches, if it reaches one.
    fn snapshot_update<A: Aggregate>(
        &self,
        context: &EventStoreAggregateContext<Aggregated<A>>,
        envelopes: &[EventEnvelope<Aggregated<A>>],
    ) -> Result<Option<(String, Value, usize)>, StoreError> {
        let every = self.repository.snapshot_every();
        let Some(last) = envelopes.last() else {
            return Ok(None);
        };
        if every == 0 {
            return Ok(None);
        }
        let at = crate::repository::snapshot_sequence(to_u64(last.sequence), every);
        if at <= to_u64(context.current_sequence) {
            return Ok(None);
        }
        let mut state = context.aggregate.state().clone();
        for envelope in envelopes.iter().take_while(|e| to_u64(e.sequence) <= at) {
            state.apply(&envelope.payload.0);
        }
        let payload = serde_json::to_value(Aggregated::new(state))
            .map_err(|e| StoreError::Invalid(format!("serializing a snapshot: {e}")))?;
        let version = context.current_snapshot.map_or(1, |v| v + 1);
        Ok(Some((context.aggregate_id.clone(), payload, version)))
    }
}

/// The commands decided on one loaded state: their answers and the events to store.
struct Decided<A: Aggregate> {
    answers: Vec<Each<A::Rejection>>,
    envelopes: Vec<EventEnvelope<Aggregated<A>>>,
}

/// Decides each command on the state the ones before it left (pure).
fn decide_each<A: Aggregate>(
    context: &EventStoreAggregateContext<Aggregated<A>>,
    commands: &[(A::Command, CommandMetadata)],
) -> Decided<A> {
    let aggregate_id = context.aggregate_id.as_str();
    let mut state = context.aggregate.state().clone();
    let mut sequence = context.current_sequence;
    let mut decided = Decided {
        answers: Vec::with_capacity(commands.len()),
        envelopes: Vec::new(),
    };
    for (command, metadata) in commands {
        let events = match state.decide(command) {
            Ok(events) => events,
            Err(rejection) => {
                decided.answers.push(Err(rejection));
                continue;
            }
        };
        let metadata = metadata.to_map();
        let mut stored = Vec::with_capacity(events.len());
        for event in events {
            state.apply(&event);
            sequence += 1;
            stored.push((to_u64(sequence), event.event_type().to_owned()));
            decided.envelopes.push(EventEnvelope {
                aggregate_id: aggregate_id.to_owned(),
                sequence,
                payload: AdaptedEvent(event),
                metadata: metadata.clone(),
            });
        }
        decided.answers.push(Ok(Committed {
            aggregate_id: aggregate_id.to_owned(),
            version: to_u64(sequence),
            events: stored,
            attempts: 1,
        }));
    }
    decided
}

fn with_attempts<R>(answers: Vec<Each<R>>, attempts: u32) -> Vec<Each<R>> {
    answers
        .into_iter()
        .map(|answer| {
            answer.map(|mut committed| {
                committed.attempts = attempts;
                committed
            })
        })
        .collect()
}
