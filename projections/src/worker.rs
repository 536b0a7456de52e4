//! The generic projection worker: one consumer group per projection (`read_committed`, no
//! auto-commit), batches applied to the read model together with their offsets in one
//! Postgres transaction, and a seek to the stored offsets on every assignment.
//!
//! The consumer runs on a blocking thread: rebalance callbacks fire inside `poll` there, so
//! the assignment can read the stored offsets before any message of it is fetched. Eager
//! rebalancing (`range`) revokes everything before each assignment; messages polled before a
//! revocation are dropped, and the next assignment seeks back to what Postgres holds.

mod context;
mod spans;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use causeway_infra::Settings;
use causeway_infra::avro::{CodecError, EventCodec};
use causeway_infra::error::error_chain;
use causeway_infra::kafka::client_config;
use causeway_infra::metrics::{PROJECTION_DEAD_LETTERS, label};
use causeway_infra::topics::Topics;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedMessage};
use sqlx::PgPool;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::ProjectionError;
use crate::dlq::DeadLetters;
use crate::lag::ConsumerLag;
use crate::offsets::{self, TopicPartition};
use crate::projection::{Envelope, EventHeaders, Projection};
use context::SeekingContext;

/// Batching and retry knobs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Most messages applied in one transaction.
    pub batch_size: usize,
    /// Longest a batch waits to fill once its first message arrived.
    pub batch_wait: Duration,
    /// Pause before rebuilding the consumer after a failure.
    pub retry_pause: Duration,
    /// An event recorded longer ago than this is being re-consumed (offsets reset, a
    /// consumer restored far behind): its span links to the event's trace instead of joining
    /// it, so replays never grow old traces (see `spans`). `telemetry.replay_age_ms`.
    pub replay_age: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            batch_wait: Duration::from_millis(20),
            retry_pause: Duration::from_secs(1),
            replay_age: Duration::from_secs(600),
        }
    }
}

const POLL: Duration = Duration::from_millis(100);

/// Runs one [`Projection`] until told to stop.
pub struct ProjectionWorker<P> {
    settings: Settings,
    pool: PgPool,
    codec: EventCodec,
    projection: P,
    config: WorkerConfig,
}

/// Why one message was not turned into an event.
pub(crate) enum Undecodable {
    /// It never will be: dead-letter it.
    Poison(String),
    /// It may be later: retry the batch.
    Transient(ProjectionError),
}

impl<P: Projection> ProjectionWorker<P> {
    /// A worker over the configured Kafka and Postgres.
    pub fn new(settings: &Settings, pool: PgPool, codec: EventCodec, projection: P) -> Self {
        Self {
            settings: settings.clone(),
            pool,
            codec,
            projection,
            config: WorkerConfig {
                replay_age: Duration::from_millis(settings.telemetry.replay_age_ms),
                ..WorkerConfig::default()
            },
        }
    }

    /// The same worker with other batching knobs.
    pub fn with_config(mut self, config: WorkerConfig) -> Self {
        self.config = config;
        self
    }

    /// The consumer group: `<kafka.topic_prefix>projection.<name>`.
    pub fn group_id(&self) -> String {
        format!(
            "{}projection.{}",
            self.settings.kafka.topic_prefix,
            self.projection.name()
        )
    }

    /// Consumes until `stop` turns true. Failures rebuild the consumer, which resumes from the
    /// stored offsets.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let handle = Handle::current();
        let worker = Arc::new(self);
        let name = worker.projection.name();
        if let Err(error) =
            tokio::task::spawn_blocking(move || worker.run_blocking(&handle, &stop)).await
        {
            tracing::error!(projection = name, %error, "projection worker panicked");
        }
    }

    fn run_blocking(&self, handle: &Handle, stop: &watch::Receiver<bool>) {
        let name = self.projection.name();
        tracing::info!(projection = name, group = %self.group_id(), "projection worker started");
        while !stopping(stop) {
            match self.consume(handle, stop) {
                Ok(()) => break,
                Err(error) => {
                    tracing::error!(projection = name, error = %error_chain(&error), "projection worker restarts");
                    pause(self.config.retry_pause, stop);
                }
            }
        }
        tracing::info!(projection = name, "projection worker stopped");
    }

    fn consume(
        &self,
        handle: &Handle,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), ProjectionError> {
        let consumer = self.consumer(handle)?;
        let dead_letters = DeadLetters::new(&self.settings.kafka)?;
        let scope = &self.settings.kafka.topic_prefix;
        let name = format!("projection.{}", self.projection.name());
        let mut lag = ConsumerLag::new(scope, name, stop);
        while !stopping(stop) {
            lag.tick(&consumer);
            let batch = self.next_batch(&consumer);
            if consumer.context().seek_failed() {
                return Err(ProjectionError::SeekFailed);
            }
            if !batch.is_empty() {
                handle.block_on(self.process(&dead_letters, &batch))?;
            }
        }
        Ok(())
    }

    fn consumer(&self, handle: &Handle) -> Result<BaseConsumer<SeekingContext>, ProjectionError> {
        let context =
            SeekingContext::new(self.pool.clone(), handle.clone(), self.projection.name());
        let consumer: BaseConsumer<SeekingContext> = client_config(&self.settings.kafka)
            .set("group.id", self.group_id())
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // Eager: every assignment follows a full revocation (see the module docs).
            .set("partition.assignment.strategy", "range")
            // A worker killed without leaving its group holds its partitions until its
            // session expires: keep that short, so a restarted one resumes within seconds.
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            // Notice topics the relay creates after this worker subscribed.
            .set("topic.metadata.refresh.interval.ms", "2000")
            .create_with_context(context)?;
        let topics = Topics::new(&self.settings.kafka);
        let names: Vec<String> = self
            .projection
            .streams()
            .into_iter()
            .map(|s| topics.events(s))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        Ok(consumer)
    }

    /// Up to `batch_size` messages, waiting at most `batch_wait` once the first arrived.
    fn next_batch(&self, consumer: &BaseConsumer<SeekingContext>) -> Vec<OwnedMessage> {
        let mut batch = Vec::new();
        let mut deadline = Instant::now() + POLL;
        while batch.len() < self.config.batch_size {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let polled = consumer.poll(left);
            if consumer.context().take_revoked() {
                // The next assignment seeks back to the stored offsets: these are stale.
                batch.clear();
            }
            match polled {
                Some(Ok(message)) => {
                    if batch.is_empty() {
                        deadline = Instant::now() + self.config.batch_wait;
                    }
                    batch.push(message.detach());
                }
                Some(Err(error)) => log_poll_error(self.projection.name(), &error),
                None => {}
            }
        }
        batch
    }

    /// Decodes the batch (dead-lettering poison), then applies it and stores the next
    /// offsets in one transaction.
    async fn process(
        &self,
        dead_letters: &DeadLetters,
        batch: &[OwnedMessage],
    ) -> Result<(), ProjectionError> {
        let name = self.projection.name();
        let mut next: HashMap<TopicPartition, i64> = HashMap::new();
        let mut events = Vec::with_capacity(batch.len());
        // Open until the transaction commits: one span per applied event, linked to this one.
        let mut spans = spans::BatchSpans::new(name, batch.len(), self.config.replay_age);
        for message in batch {
            next.insert(
                (message.topic().to_owned(), message.partition()),
                message.offset() + 1,
            );
            match self.decode(message).await {
                Ok(envelope) => {
                    spans.applied(message, &event_info(message, &envelope));
                    events.push(envelope);
                }
                Err(Undecodable::Transient(error)) => return Err(error),
                Err(Undecodable::Poison(reason)) => {
                    dead_letters.send(message, name, &reason).await?;
                    metrics::counter!(PROJECTION_DEAD_LETTERS, label::PROJECTION => name,
                        label::TOPIC => message.topic().to_owned())
                    .increment(1);
                    tracing::warn!(projection = name, topic = message.topic(), partition = message.partition(),
                        offset = message.offset(), %reason, "message dead-lettered");
                }
            }
        }
        let mut tx = self.pool.begin().await?;
        // Held until commit: a rebuild's swap waits for this batch, or this batch for it.
        crate::rebuild::fence(&mut tx, name).await?;
        self.projection.apply_batch(&mut tx, &events).await?;
        offsets::store(&mut tx, name, &next).await?;
        tx.commit().await?;
        tracing::debug!(projection = name, events = events.len(), "batch applied");
        Ok(())
    }

    async fn decode(&self, message: &OwnedMessage) -> Result<Envelope<P::Event>, Undecodable> {
        let aggregate_id = message
            .key()
            .and_then(|key| std::str::from_utf8(key).ok())
            .ok_or_else(|| Undecodable::Poison("the key is not a UTF-8 aggregate id".into()))?
            .to_owned();
        let sequence = header(message, "sequence")
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| Undecodable::Poison("no numeric `sequence` header".into()))?;
        let decoded = self
            .codec
            .decode(message.payload().unwrap_or_default())
            .await
            .map_err(classify)?;
        let event = self
            .projection
            .parse(&decoded.event_type, decoded.data)
            .map_err(Undecodable::Poison)?;
        Ok(Envelope {
            aggregate_id,
            sequence,
            event,
            headers: event_headers(message),
        })
    }
}

/// What the span of one applied event records.
fn event_info<'a, E>(message: &OwnedMessage, envelope: &'a Envelope<E>) -> spans::EventInfo<'a> {
    spans::EventInfo {
        aggregate_id: &envelope.aggregate_id,
        sequence: envelope.sequence,
        event_type: header(message, "event_type"),
        traceparent: envelope.headers.traceparent.as_deref(),
        recorded_at: envelope.headers.recorded_at,
    }
}

/// A registry that cannot be reached (or fails) is transient; everything else is poison.
pub(crate) fn classify(error: CodecError) -> Undecodable {
    match error {
        CodecError::Registry { status, .. } if status.is_none_or(|s| s >= 500) => {
            Undecodable::Transient(ProjectionError::Registry(error.to_string()))
        }
        other => Undecodable::Poison(other.to_string()),
    }
}

/// The optional headers; a malformed `recorded_at` is treated as absent, not as poison.
pub(crate) fn event_headers(message: &OwnedMessage) -> EventHeaders {
    EventHeaders {
        event_id: header(message, "event_id"),
        traceparent: header(message, "traceparent"),
        correlation_id: header(message, "correlation_id"),
        causation_id: header(message, "causation_id"),
        recorded_at: header(message, "recorded_at")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)),
    }
}

pub(crate) use causeway_infra::kafka::header;

fn log_poll_error(projection: &str, error: &KafkaError) {
    match error.rdkafka_error_code() {
        // The relay has not created the topic yet.
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            tracing::debug!(projection, %error, "topic not there yet");
        }
        _ => tracing::warn!(projection, %error, "kafka poll error"),
    }
}

/// Whether the worker should stop: told so, or whoever could tell it is gone (a dropped
/// sender would otherwise leave the worker polling forever).
fn stopping(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Sleeps `duration` in small steps, returning early when `stop` turns true.
fn pause(duration: Duration, stop: &watch::Receiver<bool>) {
    let until = Instant::now() + duration;
    while Instant::now() < until && !stopping(stop) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn registry(status: Option<u16>) -> CodecError {
        CodecError::Registry {
            action: "fetching schema id 7".into(),
            status,
            message: "boom".into(),
        }
    }

    #[test]
    fn an_unreachable_or_failing_registry_is_retried_not_dead_lettered() {
        assert!(matches!(
            classify(registry(None)),
            Undecodable::Transient(_)
        ));
        assert!(matches!(
            classify(registry(Some(503))),
            Undecodable::Transient(_)
        ));
    }

    #[test]
    fn an_unknown_schema_id_or_bad_framing_is_poison() {
        assert!(matches!(
            classify(registry(Some(404))),
            Undecodable::Poison(_)
        ));
        let framing = CodecError::NotConfluentFramed {
            reason: "too short".into(),
        };
        assert!(matches!(classify(framing), Undecodable::Poison(_)));
    }

    #[tokio::test]
    async fn the_group_id_carries_the_topic_prefix_and_the_projection_name() {
        let mut settings = causeway_infra::Settings::load(None).unwrap();
        settings.kafka.topic_prefix = "t1.".into();
        let pool = causeway_infra::db::lazy_pool(&settings.database);
        let codec = EventCodec::new(&settings.registry).unwrap();
        let worker = ProjectionWorker::new(&settings, pool, codec, crate::InventoryProjection);
        assert_eq!(worker.group_id(), "t1.projection.inventory");
    }
}
