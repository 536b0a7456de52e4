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

use causeway_consumer::{
    ConsumerConfig, ConsumerLag, DeadLetters, Owner, Undecodable, decode_with,
};
use causeway_infra::avro::EventCodec;
use causeway_infra::error::error_chain;
use causeway_infra::settings::{KafkaSettings, TelemetrySettings};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedMessage};
use sqlx::PgPool;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::ProjectionError;
use crate::offsets::{self, TopicPartition};
use crate::projection::{Envelope, Projection};
use context::SeekingContext;

/// Batching and retry knobs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Most messages applied in one transaction.
    pub batch_size: usize,
    /// Longest a batch waits to fill once its first message arrived (zero: it takes what
    /// has already arrived, so an idle read model is current within one round trip).
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
            batch_wait: Duration::ZERO,
            retry_pause: Duration::from_secs(1),
            replay_age: Duration::from_secs(600),
        }
    }
}

const POLL: Duration = Duration::from_millis(100);

/// Runs one [`Projection`] until told to stop.
pub struct ProjectionWorker<P> {
    kafka: KafkaSettings,
    pool: PgPool,
    codec: EventCodec,
    projection: P,
    config: WorkerConfig,
}

impl<P: Projection> ProjectionWorker<P> {
    /// A worker over the configured Kafka and Postgres; of the telemetry settings, it uses
    /// the replay age.
    pub fn new(
        kafka: &KafkaSettings,
        telemetry: &TelemetrySettings,
        pool: PgPool,
        codec: EventCodec,
        projection: P,
    ) -> Self {
        Self {
            kafka: kafka.clone(),
            pool,
            codec,
            projection,
            config: WorkerConfig {
                replay_age: Duration::from_millis(telemetry.replay_age_ms),
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
        group_id(&self.kafka, self.projection.name())
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
        let consumer = Arc::new(self.consumer(handle)?);
        let dead_letters =
            DeadLetters::new(&self.kafka, Owner::Projection(self.projection.name()))?;
        let scope = &self.kafka.topic_prefix;
        let name = format!("projection.{}", self.projection.name());
        let _measuring =
            ConsumerLag::new(scope, name, stop).measure_beside(Arc::clone(&consumer), handle);
        while !stopping(stop) {
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
        let config = ConsumerConfig {
            offsets_kept_elsewhere: true,
            // Eager: every assignment follows a full revocation (see the module docs).
            eager_rebalance: true,
            ..ConsumerConfig::member(self.group_id())
        };
        let consumer: BaseConsumer<SeekingContext> =
            config.create_with_context(&self.kafka, context)?;
        let streams = self.projection.streams();
        handle.block_on(causeway_consumer::subscribe(
            &consumer,
            &self.kafka,
            &streams,
        ))?;
        Ok(consumer)
    }

    /// Up to `batch_size` messages: waits up to [`POLL`] for the first, then takes what else
    /// arrives within `batch_wait` (by default nothing more than has already arrived).
    fn next_batch(&self, consumer: &BaseConsumer<SeekingContext>) -> Vec<OwnedMessage> {
        let mut batch = Vec::new();
        let mut deadline = Instant::now() + POLL;
        while batch.len() < self.config.batch_size {
            let left = deadline.saturating_duration_since(Instant::now());
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
                None if left.is_zero() || !batch.is_empty() => break,
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
            let decoded = decode_with(&self.codec, message, |event_type, data| {
                self.projection.parse(event_type, data)
            });
            match decoded.await {
                Ok(envelope) => {
                    causeway_consumer::delay::received(name, envelope.headers.recorded_at);
                    spans.applied(message, &event_info(&envelope));
                    events.push(envelope);
                }
                Err(Undecodable::Transient(error)) => {
                    return Err(ProjectionError::Registry(error.to_string()));
                }
                Err(Undecodable::Poison(reason)) => dead_letters.send(message, &reason).await?,
            }
        }
        let mut tx = self.pool.begin().await?;
        // Held until commit: a rebuild's swap waits for this batch, or this batch for it.
        crate::rebuild::fence(&mut tx, name).await?;
        self.projection.apply_batch(&mut tx, &events).await?;
        offsets::store(&mut tx, name, &next).await?;
        tx.commit().await?;
        for envelope in &events {
            causeway_consumer::delay::handled(name, envelope.headers.recorded_at);
        }
        tracing::debug!(projection = name, events = events.len(), "batch applied");
        Ok(())
    }
}

/// What the span of one applied event records.
fn event_info<E>(envelope: &Envelope<E>) -> spans::EventInfo<'_> {
    spans::EventInfo {
        aggregate_id: &envelope.aggregate_id,
        sequence: envelope.sequence,
        event_type: envelope.headers.event_type.clone(),
        traceparent: envelope.headers.traceparent.as_deref(),
        recorded_at: envelope.headers.recorded_at,
    }
}

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

/// The consumer group of the projection named `name`: `<kafka.topic_prefix>projection.<name>`.
pub fn group_id(kafka: &KafkaSettings, name: &str) -> String {
    format!("{}projection.{name}", kafka.topic_prefix)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn the_group_id_carries_the_topic_prefix_and_the_projection_name() {
        let mut settings = causeway_infra::Settings::load(None).unwrap();
        settings.kafka.topic_prefix = "t1.".into();
        let pool = causeway_infra::db::lazy_pool(&settings.database);
        let codec = EventCodec::new(&settings.registry).unwrap();
        let worker = ProjectionWorker::new(
            &settings.kafka,
            &settings.telemetry,
            pool,
            codec,
            crate::InventoryProjection,
        );
        assert_eq!(worker.group_id(), "t1.projection.inventory");
    }
}
