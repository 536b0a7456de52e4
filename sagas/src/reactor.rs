//! Carrying out a [`Reaction`]: one command through the event store (or one deadline row),
//! with the triggering event as causation and its trace continued, retried with backoff.

use std::time::Duration;

use causeway_domain::{Aggregate, Customer, DomainRejection, InventoryItem, Order, Payment};
use causeway_event_store::{CommandError, CommandMetadata, CommandStore, Committed};
use causeway_infra::settings::SagaSettings;
use causeway_infra::telemetry::current_traceparent;
use sqlx::PgPool;
use tracing::Instrument;
use uuid::Uuid;

use crate::SagaError;
use crate::deadlines;
use crate::reaction::Reaction;

/// The event a reaction answers: its ids become the command's causation and correlation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cause {
    /// The triggering event's id (`event_id` header).
    pub event_id: Option<Uuid>,
    /// The flow it belongs to (`correlation_id` header).
    pub correlation_id: Option<Uuid>,
    /// Its W3C trace context (`traceparent` header), used when no span is being exported.
    pub traceparent: Option<String>,
}

/// What a reaction achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It stored events (or changed a deadline).
    Applied,
    /// Its effect had already happened: nothing changed (redelivery, or a race lost).
    Unchanged,
    /// The aggregate refused it: the saga has moved on (e.g. confirming an expired order).
    Refused(&'static str),
}

impl Outcome {
    /// `applied`, `unchanged` or `refused`, for spans and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Unchanged => "unchanged",
            Self::Refused(_) => "refused",
        }
    }
}

/// Bounded retry with exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all.
    pub attempts: u32,
    /// Pause before the second attempt.
    pub first: Duration,
    /// Longest pause.
    pub max: Duration,
}

impl Backoff {
    /// From the `sagas` settings.
    pub fn from_settings(settings: &SagaSettings) -> Self {
        Self {
            attempts: settings.reaction_attempts.max(1),
            first: Duration::from_millis(settings.reaction_backoff_ms),
            max: Duration::from_millis(settings.reaction_backoff_max_ms),
        }
    }

    /// The pause after failed attempt `attempt` (1-based), with up to 50 % jitter.
    pub fn pause(&self, attempt: u32, jitter: f64) -> Duration {
        let doubled = self
            .first
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        doubled
            .min(self.max)
            .mul_f64(1.0 + jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// Executes reactions for one participant.
#[derive(Debug, Clone)]
pub struct Reactor {
    store: CommandStore,
    pool: PgPool,
    caller: String,
    backoff: Backoff,
}

impl Reactor {
    /// A reactor issuing commands as `saga:<participant>`.
    pub fn new(store: CommandStore, pool: PgPool, participant: &str, backoff: Backoff) -> Self {
        Self {
            store,
            pool,
            caller: format!("saga:{participant}"),
            backoff,
        }
    }

    /// Runs `reaction`, retrying failures (never refusals) up to the backoff's attempts.
    pub async fn run(&self, reaction: &Reaction, cause: &Cause) -> Result<Outcome, SagaError> {
        let span = tracing::info_span!(
            "saga.command",
            otel.name = reaction.name(),
            outcome = tracing::field::Empty,
            attempts = tracing::field::Empty,
        );
        async {
            let mut attempt = 1;
            loop {
                match self.once(reaction, cause).await {
                    Ok(outcome) => {
                        let span = tracing::Span::current();
                        span.record("outcome", outcome.label());
                        span.record("attempts", attempt);
                        return Ok(outcome);
                    }
                    Err(error) if attempt < self.backoff.attempts => {
                        tracing::warn!(reaction = reaction.name(), attempt, error = %causeway_infra::error::error_chain(&error), "reaction failed; retrying");
                        tokio::time::sleep(self.backoff.pause(attempt, fastrand::f64())).await;
                        attempt += 1;
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Runs `reactions`, commands that all act on one aggregate (one [`Reaction::target`]),
    /// as one group commit: decided in order on one load, stored in one write
    /// ([`CommandStore::execute_each`]), each with its own metadata and `saga.command` span
    /// (a child of the span given with it). Tried once: a store failure or a conflict
    /// stored nothing of the group, and the caller then runs each reaction alone
    /// ([`Self::run`], with its retries), so that one reaction that keeps failing is
    /// dead-lettered alone.
    pub async fn run_each(
        &self,
        reactions: &[(&Reaction, &Cause, &tracing::Span)],
    ) -> Result<Vec<Outcome>, SagaError> {
        let spans: Vec<tracing::Span> = reactions
            .iter()
            .map(|(reaction, _, parent)| {
                tracing::info_span!(
                    parent: *parent,
                    "saga.command",
                    otel.name = reaction.name(),
                    outcome = tracing::field::Empty,
                    attempts = tracing::field::Empty,
                )
            })
            .collect();
        let metadata: Vec<CommandMetadata> = reactions
            .iter()
            .zip(&spans)
            .map(|((_, cause, _), span)| span.in_scope(|| self.metadata(cause)))
            .collect();
        let outcomes = match reactions.first().map(|(reaction, _, _)| *reaction) {
            Some(Reaction::Inventory { sku, .. }) => {
                let commands = commands(reactions, &metadata, |r| match r {
                    Reaction::Inventory { command, .. } => Some(command.clone()),
                    _ => None,
                })?;
                self.each::<InventoryItem>(sku.as_str(), commands).await
            }
            Some(Reaction::Customer { customer_id, .. }) => {
                let commands = commands(reactions, &metadata, |r| match r {
                    Reaction::Customer { command, .. } => Some(command.clone()),
                    _ => None,
                })?;
                self.each::<Customer>(&customer_id.to_string(), commands)
                    .await
            }
            Some(Reaction::Payment { order_id, .. }) => {
                let commands = commands(reactions, &metadata, |r| match r {
                    Reaction::Payment { command, .. } => Some(command.clone()),
                    _ => None,
                })?;
                self.each::<Payment>(&order_id.to_string(), commands).await
            }
            Some(Reaction::Order { order_id, .. }) => {
                let commands = commands(reactions, &metadata, |r| match r {
                    Reaction::Order { command, .. } => Some(command.clone()),
                    _ => None,
                })?;
                self.each::<Order>(&order_id.to_string(), commands).await
            }
            Some(Reaction::ScheduleDeadline { .. } | Reaction::ClearDeadline { .. }) => Err(
                SagaError::Mixed("deadline changes are applied per batch".to_owned()),
            ),
            None => Ok(Vec::new()),
        };
        if let Ok(outcomes) = &outcomes {
            for (span, outcome) in spans.iter().zip(outcomes) {
                span.record("outcome", outcome.label());
                span.record("attempts", 1);
            }
        }
        outcomes
    }

    /// One [`CommandStore::execute_each`] (it retries conflicts itself); the outcomes.
    async fn each<A: Aggregate>(
        &self,
        aggregate_id: &str,
        commands: Vec<(A::Command, CommandMetadata)>,
    ) -> Result<Vec<Outcome>, SagaError> {
        match self.store.execute_each::<A>(aggregate_id, &commands).await {
            Ok(answers) => Ok(answers.into_iter().map(outcome).collect()),
            Err(CommandError::Conflict { attempts }) => Err(SagaError::Conflict { attempts }),
            Err(CommandError::Store(error)) => Err(SagaError::Store(error)),
            Err(CommandError::Rejected(never)) => match never {},
        }
    }

    /// Applies a batch's deadline changes in one transaction ([`deadlines::apply`]), retried
    /// like a reaction; answers the orders whose row changed.
    pub async fn apply_deadlines(
        &self,
        changes: &[deadlines::DeadlineChange],
    ) -> Result<std::collections::HashSet<causeway_domain::OrderId>, SagaError> {
        let mut attempt = 1;
        loop {
            match deadlines::apply(&self.pool, changes).await {
                Ok(changed) => return Ok(changed),
                Err(error) if attempt < self.backoff.attempts => {
                    tracing::warn!(attempt, %error, "deadline batch failed; retrying");
                    tokio::time::sleep(self.backoff.pause(attempt, fastrand::f64())).await;
                    attempt += 1;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// One attempt.
    async fn once(&self, reaction: &Reaction, cause: &Cause) -> Result<Outcome, SagaError> {
        let metadata = self.metadata(cause);
        match reaction {
            Reaction::Inventory { sku, command } => {
                self.command::<InventoryItem>(sku.as_str(), command, &metadata)
                    .await
            }
            Reaction::Customer {
                customer_id,
                command,
            } => {
                self.command::<Customer>(&customer_id.to_string(), command, &metadata)
                    .await
            }
            Reaction::Payment { order_id, command } => {
                self.command::<Payment>(&order_id.to_string(), command, &metadata)
                    .await
            }
            Reaction::Order { order_id, command } => {
                self.command::<Order>(&order_id.to_string(), command, &metadata)
                    .await
            }
            Reaction::ScheduleDeadline { order_id, deadline } => {
                let scheduled =
                    deadlines::schedule(&self.pool, *order_id, *deadline, &metadata).await?;
                Ok(if scheduled {
                    Outcome::Applied
                } else {
                    Outcome::Unchanged
                })
            }
            Reaction::ClearDeadline { order_id } => {
                let cleared = deadlines::clear(&self.pool, *order_id).await?;
                Ok(if cleared {
                    Outcome::Applied
                } else {
                    Outcome::Unchanged
                })
            }
        }
    }

    async fn command<A: Aggregate>(
        &self,
        aggregate_id: &str,
        command: &A::Command,
        metadata: &CommandMetadata,
    ) -> Result<Outcome, SagaError> {
        match self
            .store
            .execute::<A>(aggregate_id, command.clone(), metadata)
            .await
        {
            Ok(committed) => Ok(outcome::<A::Rejection>(Ok(committed))),
            Err(CommandError::Rejected(rejection)) => Ok(outcome(Err(rejection))),
            Err(CommandError::Conflict { attempts }) => Err(SagaError::Conflict { attempts }),
            Err(CommandError::Store(error)) => Err(SagaError::Store(error)),
        }
    }

    /// The metadata of a command (or deadline) caused by `cause`, in the current span.
    pub(crate) fn metadata(&self, cause: &Cause) -> CommandMetadata {
        let mut metadata = CommandMetadata::new(
            cause.correlation_id.unwrap_or_else(Uuid::now_v7),
            self.caller.clone(),
        );
        metadata.causation_id = cause.event_id;
        metadata.traceparent = current_traceparent().or_else(|| cause.traceparent.clone());
        metadata
    }
}

/// What a command's answer from the store means for the saga: stored events, nothing to
/// do (its effect had happened), or refused by the aggregate.
fn outcome<R: DomainRejection>(answer: Result<Committed, R>) -> Outcome {
    match answer {
        Ok(committed) if committed.events.is_empty() => Outcome::Unchanged,
        Ok(_) => Outcome::Applied,
        Err(rejection) => Outcome::Refused(rejection.code()),
    }
}

/// The commands of `reactions` with their metadata, each taken out by `command`; an error
/// when one reaction is not of the kind `command` takes (a group mixes aggregates).
fn commands<C>(
    reactions: &[(&Reaction, &Cause, &tracing::Span)],
    metadata: &[CommandMetadata],
    command: impl Fn(&Reaction) -> Option<C>,
) -> Result<Vec<(C, CommandMetadata)>, SagaError> {
    reactions
        .iter()
        .zip(metadata)
        .map(|((reaction, _, _), metadata)| {
            command(reaction)
                .map(|command| (command, metadata.clone()))
                .ok_or_else(|| SagaError::Mixed(reaction.target()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_from_the_first_and_stops_at_the_max() {
        let backoff = Backoff {
            attempts: 8,
            first: Duration::from_millis(50),
            max: Duration::from_millis(300),
        };
        let pauses: Vec<u128> = (1..=5).map(|a| backoff.pause(a, 0.0).as_millis()).collect();
        assert_eq!(pauses, [50, 100, 200, 300, 300]);
        assert_eq!(backoff.pause(2, 1.0).as_millis(), 150);
    }
}
