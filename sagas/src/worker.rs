//! The participant worker: one consumer group per participant (`saga.<name>`,
//! `read_committed`), at-least-once with idempotent reactions.
//!
//! A batch is what has arrived when the worker asks (no wait for more). Its reactions are
//! grouped by the aggregate they act on: each group runs in message order (so a release
//! follows its reservation), up to 32 groups at once, and a hot aggregate sees its commands
//! one at a time instead of racing for its version. The batch's deadline changes go to
//! Postgres together, in one transaction (`deadlines::apply`). Offsets are committed after
//! the whole batch is handled, so a crash redelivers at most the batch in flight, and the
//! domain turns every repeated command into a no-op. A message that cannot be decoded, or whose reaction keeps
//! failing after the bounded retries, goes to `<topic>.dlq` with its original bytes and the
//! error; the participant carries on.
//!
//! Each reaction's span continues the trace of the event it reacts to, unless the event was
//! recorded longer than `telemetry.replay_age_ms` ago (a replay): then it only links to it.
//! The participant's consumer lag is measured every few seconds on a blocking thread.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use causeway_consumer::ConsumerLag;
use causeway_consumer::{ConsumerConfig, DeadLetters, Owner, Undecodable, decode_with};
use causeway_domain::{EventStream, SagaOutcome, ShopEvent};
use causeway_infra::avro::EventCodec;
use causeway_infra::error::error_chain;
use causeway_infra::metrics::{SAGA_OUTCOMES, SAGA_REACTIONS, label};
use causeway_infra::settings::{KafkaSettings, SagaSettings, TelemetrySettings};
use causeway_infra::telemetry::{self, EventTrace};
use causeway_infra::topics::Topics;
use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::stream::{self, StreamExt};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

use crate::SagaError;
use crate::deadlines::DeadlineChange;
use crate::reaction::{Participant, Reaction};
use crate::reactor::{Cause, Outcome, Reactor};

const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// Runs one participant until told to stop.
pub struct ParticipantWorker {
    participant: Participant,
    kafka: KafkaSettings,
    /// `sagas.batch_size`.
    batch_size: usize,
    /// `telemetry.replay_age_ms`.
    replay_age: Duration,
    codec: EventCodec,
    reactor: Reactor,
}

/// One message, decoded.
struct Incoming {
    aggregate_id: String,
    sequence: i64,
    event: ShopEvent,
    cause: Cause,
    /// When the event was stored (`recorded_at` header).
    recorded_at: Option<DateTime<Utc>>,
}

/// One message with its reactions, ready to run.
struct Handled<'m> {
    message: &'m OwnedMessage,
    incoming: Incoming,
    reactions: Vec<Reaction>,
    span: tracing::Span,
}

/// Targets (aggregates) whose reactions run at the same time.
const CONCURRENT_TARGETS: usize = 32;

impl ParticipantWorker {
    /// A worker for `participant` over the configured Kafka; of the saga settings it uses
    /// the batch size, of the telemetry settings the replay age.
    pub fn new(
        participant: Participant,
        kafka: &KafkaSettings,
        sagas: &SagaSettings,
        telemetry: &TelemetrySettings,
        codec: EventCodec,
        reactor: Reactor,
    ) -> Self {
        Self {
            participant,
            kafka: kafka.clone(),
            batch_size: sagas.batch_size,
            replay_age: Duration::from_millis(telemetry.replay_age_ms),
            codec,
            reactor,
        }
    }

    /// The consumer group: `<kafka.topic_prefix>saga.<participant>`.
    pub fn group_id(&self) -> String {
        group_id(&self.kafka, self.participant)
    }

    /// Consumes until `stop` turns true; a failure rebuilds the consumer, which resumes from
    /// the committed offsets.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let participant = self.participant.name();
        tracing::info!(participant, group = %self.group_id(), "saga participant started");
        while !*stop.borrow() {
            match self.consume(&mut stop).await {
                Ok(()) => break,
                Err(error) => {
                    tracing::error!(participant, error = %error_chain(&error), "saga participant restarts");
                    tokio::select! {
                        () = tokio::time::sleep(RESTART_PAUSE) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
        tracing::info!(participant, "saga participant stopped");
    }

    async fn consume(&self, stop: &mut watch::Receiver<bool>) -> Result<(), SagaError> {
        let consumer = Arc::new(self.consumer().await?);
        let owner = Owner::Participant(self.participant.name());
        let dead_letters = DeadLetters::new(&self.kafka, owner)?;
        // Reports the participant running to /health/ready, and its lag, until this returns.
        let running = ConsumerLag::new(&self.kafka.topic_prefix, owner.consumer(), stop);
        let _measuring = running.measure_beside(Arc::clone(&consumer), &Handle::current());
        loop {
            let batch = tokio::select! {
                batch = self.next_batch(&consumer) => batch,
                _ = stop.changed() => return Ok(()),
            };
            if *stop.borrow() {
                return Ok(());
            }
            self.handle_batch(&dead_letters, &batch).await?;
            commit(&consumer, &batch)?;
        }
    }

    async fn consumer(&self) -> Result<StreamConsumer, SagaError> {
        let consumer: StreamConsumer =
            ConsumerConfig::member(self.group_id()).create(&self.kafka)?;
        causeway_consumer::subscribe(&consumer, &self.kafka, &self.participant.streams()).await?;
        Ok(consumer)
    }

    /// Waits for a message, then takes what else has already arrived, up to the configured
    /// batch size. No wait for more: at idle a reaction starts at once, and under load the
    /// messages that arrived while the previous batch ran make the next one large.
    async fn next_batch(&self, consumer: &StreamConsumer) -> Vec<OwnedMessage> {
        let mut batch = Vec::new();
        while batch.is_empty() {
            self.take(consumer.recv().await, &mut batch);
        }
        while batch.len() < self.batch_size.max(1) {
            match consumer.recv().now_or_never() {
                Some(received) => self.take(received, &mut batch),
                None => break,
            }
        }
        batch
    }

    fn take(&self, received: KafkaResult<BorrowedMessage<'_>>, batch: &mut Vec<OwnedMessage>) {
        match received {
            Ok(message) => batch.push(message.detach()),
            Err(error) => {
                tracing::debug!(participant = self.participant.name(), %error, "kafka poll error");
            }
        }
    }

    /// Decodes the batch, then runs its reactions grouped by the aggregate they act on:
    /// each group in message order, the groups concurrently. A hot aggregate (a popular SKU)
    /// then sees its commands one after the other instead of racing for its version, and
    /// per-aggregate order is kept. Messages that cannot be decoded or handled are
    /// dead-lettered.
    async fn handle_batch(
        &self,
        dead_letters: &DeadLetters,
        batch: &[OwnedMessage],
    ) -> Result<(), SagaError> {
        let mut handled: Vec<Handled<'_>> = Vec::with_capacity(batch.len());
        for message in batch {
            match self.prepare(message).await {
                Ok(prepared) => handled.push(prepared),
                Err(Undecodable::Transient(error)) => {
                    return Err(SagaError::Registry(error.to_string()));
                }
                Err(Undecodable::Poison(reason)) => dead_letters.send(message, &reason).await?,
            }
        }
        // Deadline changes go to Postgres together; the other reactions, as (message,
        // reaction) indices per target, in message order.
        let mut changes: Vec<(usize, usize, DeadlineChange)> = Vec::new();
        let mut groups: Vec<Vec<(usize, usize)>> = Vec::new();
        let mut index_of: HashMap<String, usize> = HashMap::new();
        for (at, prepared) in handled.iter().enumerate() {
            for (nth, reaction) in prepared.reactions.iter().enumerate() {
                if let Some(change) = self.deadline_change(prepared, reaction) {
                    changes.push((at, nth, change));
                    continue;
                }
                let group = *index_of.entry(reaction.target()).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[group].push((at, nth));
            }
        }
        let deadline_failures = self.apply_deadlines(&handled, &changes).await;
        let failures: Vec<(usize, String)> = stream::iter(groups)
            .map(|group| self.run_group(&handled, group))
            .buffer_unordered(CONCURRENT_TARGETS)
            .flat_map(stream::iter)
            .collect()
            .await;
        let mut failed: BTreeMap<usize, String> = BTreeMap::new();
        for (at, failure) in deadline_failures.into_iter().chain(failures) {
            failed.entry(at).or_insert(failure);
        }
        for (at, failure) in &failed {
            let reason = format!("reaction failed after retries: {failure}");
            dead_letters.send(handled[*at].message, &reason).await?;
        }
        let done = handled
            .iter()
            .enumerate()
            .filter(|(at, _)| !failed.contains_key(at));
        for (_, prepared) in done {
            causeway_consumer::delay::handled(
                self.participant.name(),
                prepared.incoming.recorded_at,
            );
        }
        Ok(())
    }

    /// The deadline change `reaction` makes, if it is one, with the flow of its message.
    fn deadline_change(
        &self,
        prepared: &Handled<'_>,
        reaction: &Reaction,
    ) -> Option<DeadlineChange> {
        match reaction {
            Reaction::ScheduleDeadline { order_id, deadline } => Some(DeadlineChange::Schedule {
                order_id: *order_id,
                deadline: *deadline,
                metadata: prepared
                    .span
                    .in_scope(|| self.reactor.metadata(&prepared.incoming.cause)),
            }),
            Reaction::ClearDeadline { order_id } => Some(DeadlineChange::Clear {
                order_id: *order_id,
            }),
            _ => None,
        }
    }

    /// Applies the batch's deadline changes in one transaction and counts each reaction;
    /// answers the messages whose change failed.
    async fn apply_deadlines(
        &self,
        handled: &[Handled<'_>],
        changes: &[(usize, usize, DeadlineChange)],
    ) -> Vec<(usize, String)> {
        if changes.is_empty() {
            return Vec::new();
        }
        let batch: Vec<DeadlineChange> = changes.iter().map(|(_, _, c)| c.clone()).collect();
        match self.reactor.apply_deadlines(&batch).await {
            Ok(changed) => {
                for (at, nth, change) in changes {
                    let outcome = match change {
                        DeadlineChange::Schedule { order_id, .. }
                        | DeadlineChange::Clear { order_id } => {
                            if changed.contains(order_id) {
                                Outcome::Applied
                            } else {
                                Outcome::Unchanged
                            }
                        }
                    };
                    self.note(&handled[*at].reactions[*nth], &outcome);
                }
                Vec::new()
            }
            Err(error) => changes
                .iter()
                .map(|(at, nth, _)| {
                    let name = handled[*at].reactions[*nth].name();
                    (*at, format!("{name}: {}", error_chain(&error)))
                })
                .collect(),
        }
    }

    /// Runs one target's reactions in order; answers the messages whose reaction failed.
    /// Several commands for one aggregate (a hot SKU or customer) go as one group commit
    /// ([`Reactor::run_each`]); a lone one, or each of a group that failed (it stored
    /// nothing), runs by itself with its retries, so only a reaction that keeps failing is
    /// dead-lettered.
    async fn run_group(
        &self,
        handled: &[Handled<'_>],
        group: Vec<(usize, usize)>,
    ) -> Vec<(usize, String)> {
        if group.len() > 1 {
            let reactions: Vec<(&Reaction, &Cause, &tracing::Span)> = group
                .iter()
                .map(|&(at, nth)| {
                    let prepared = &handled[at];
                    (
                        &prepared.reactions[nth],
                        &prepared.incoming.cause,
                        &prepared.span,
                    )
                })
                .collect();
            match self.reactor.run_each(&reactions).await {
                Ok(outcomes) => {
                    for ((reaction, _, _), outcome) in reactions.iter().zip(&outcomes) {
                        self.note(reaction, outcome);
                    }
                    return Vec::new();
                }
                Err(error) => {
                    tracing::warn!(
                        participant = self.participant.name(),
                        reactions = group.len(),
                        error = %error_chain(&error),
                        "group of reactions failed; running each alone"
                    );
                }
            }
        }
        let mut failures = Vec::new();
        for (at, nth) in group {
            let prepared = &handled[at];
            let reaction = &prepared.reactions[nth];
            let run = self.reactor.run(reaction, &prepared.incoming.cause);
            match run.instrument(prepared.span.clone()).await {
                Ok(outcome) => self.note(reaction, &outcome),
                Err(error) => {
                    failures.push((at, format!("{}: {}", reaction.name(), error_chain(&error))));
                }
            }
        }
        failures
    }

    fn note(&self, reaction: &Reaction, outcome: &Outcome) {
        if let Outcome::Refused(code) = outcome {
            tracing::info!(
                reaction = reaction.name(),
                code,
                "reaction refused: the saga has moved on"
            );
        }
        metrics::counter!(SAGA_REACTIONS, label::PARTICIPANT => self.participant.name(),
            label::REACTION => reaction.name(), label::OUTCOME => outcome.label())
        .increment(1);
    }

    /// Decodes one message and works out its reactions, under a span that continues its
    /// trace.
    async fn prepare<'m>(&self, message: &'m OwnedMessage) -> Result<Handled<'m>, Undecodable> {
        let incoming = self.decode(message).await?;
        causeway_consumer::delay::received(self.participant.name(), incoming.recorded_at);
        let reactions = self
            .participant
            .react(&incoming.aggregate_id, &incoming.event)
            .map_err(Undecodable::Poison)?;
        count_outcome(self.participant, &incoming.event);
        let span = tracing::info_span!(
            parent: None,
            "saga.react",
            otel.name = %format!("{} reacts to {}", self.participant, incoming.event.event_type()),
            otel.kind = "consumer",
            participant = self.participant.name(),
            event_type = incoming.event.event_type(),
            aggregate_id = %incoming.aggregate_id,
            sequence = incoming.sequence,
            messaging.destination = message.topic(),
            replay = tracing::field::Empty,
        );
        if let Some(traceparent) = &incoming.cause.traceparent {
            let relation = EventTrace::by_age(incoming.recorded_at, Utc::now(), self.replay_age);
            span.record("replay", relation == EventTrace::Link);
            telemetry::follow_event(&span, traceparent, relation);
        }
        Ok(Handled {
            message,
            incoming,
            reactions,
            span,
        })
    }

    async fn decode(&self, message: &OwnedMessage) -> Result<Incoming, Undecodable> {
        let topics = Topics::new(&self.kafka);
        let stream = EventStream::ALL
            .into_iter()
            .find(|s| topics.events(s.base_topic()) == message.topic())
            .ok_or_else(|| Undecodable::Poison(format!("unexpected topic {}", message.topic())))?;
        let envelope = decode_with(&self.codec, message, |event_type, data| {
            // Parsed as an event of the topic's stream only, like the stream's own enum would.
            let event = ShopEvent::parse(event_type, data).and_then(|event| {
                (event.stream() == stream)
                    .then_some(event)
                    .ok_or_else(|| format!("not an event of {stream}"))
            });
            event.map_err(|e| format!("{event_type}: {e}"))
        })
        .await?;
        let headers = &envelope.headers;
        let uuid = |value: &Option<String>| value.as_deref().and_then(|v| Uuid::parse_str(v).ok());
        Ok(Incoming {
            cause: Cause {
                event_id: uuid(&headers.event_id),
                correlation_id: uuid(&headers.correlation_id),
                traceparent: headers.traceparent.clone(),
            },
            recorded_at: headers.recorded_at,
            aggregate_id: envelope.aggregate_id,
            sequence: envelope.sequence,
            event: envelope.event,
        })
    }
}

/// The consumer group of `participant`: `<kafka.topic_prefix>saga.<participant>`.
pub fn group_id(kafka: &KafkaSettings, participant: Participant) -> String {
    format!("{}saga.{}", kafka.topic_prefix, participant)
}

/// Counts a saga outcome when the order participant sees an order's final event (each order
/// reaches one; a redelivery counts it again).
fn count_outcome(participant: Participant, event: &ShopEvent) {
    let ShopEvent::Order(event) = event else {
        return;
    };
    if let Some(outcome) = SagaOutcome::of(event)
        && participant == Participant::Order
    {
        metrics::counter!(SAGA_OUTCOMES, label::OUTCOME => outcome.as_str()).increment(1);
    }
}

/// Commits, per partition of the batch, the offset after its last message.
fn commit(consumer: &StreamConsumer, batch: &[OwnedMessage]) -> Result<(), SagaError> {
    let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for message in batch {
        next.insert((message.topic(), message.partition()), message.offset() + 1);
    }
    if next.is_empty() {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in next {
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    if let Err(error) = consumer.commit(&tpl, CommitMode::Async) {
        // A rebalance took the partitions: their new owner redelivers, and reactions are
        // idempotent.
        tracing::warn!(%error, "offset commit failed");
    }
    Ok(())
}
