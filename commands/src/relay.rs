//! The relay: publishes every committed event from the event table to Kafka, exactly once
//! as seen by `read_committed` consumers, in per-aggregate order (DESIGN.md §1.3, ADR 0002).
//!
//! - [`source`]: reads committed events in commit order, never skipping a late commit.
//! - [`publisher`]: a transactional producer; each batch and its checkpoint share one
//!   Kafka transaction.
//! - [`checkpoint`]: the checkpoint topic, read back when a relay becomes leader.
//! - [`leader`]: the advisory lock that makes one relay active and the others standbys.
//! - `spans`: a span per published event, child of the command that stored it, linked
//!   to its batch; its context is the `traceparent` header consumers continue.
//!
//! Delivery guarantee: exactly once for `read_committed` consumers. A crash before a Kafka
//! commit aborts the transaction (events and checkpoint together); the next leader fences the
//! old producer, reads the last committed checkpoint and publishes from there.

pub mod checkpoint;
mod error;
pub mod leader;
pub mod publisher;
pub mod source;
mod spans;

use std::time::Duration;

use causeway_infra::avro::EventCodec;
use causeway_infra::health::roles::relay_leads;
use causeway_infra::kafka::{TopicSpec, ensure_topics};
use causeway_infra::metrics::{RELAY_LAG, RELAY_PUBLISHED};
use causeway_infra::settings::Settings;
use causeway_infra::topics::{EventStream, Topics};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

pub use error::RelayError;
use leader::Leadership;
use publisher::{OutgoingRecord, TransactionalPublisher};
use source::{Position, StoredEvent};

const STEP_DOWN_PAUSE: Duration = Duration::from_secs(1);
const LOCK_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Encoded records, the position of the last of them and their highest global position.
struct PreparedBatch {
    records: Vec<OutgoingRecord>,
    last: Position,
    /// Open until the batch is published (dropped with it).
    _spans: spans::BatchSpans,
    newest: i64,
}

/// The relay role.
pub struct Relay {
    settings: Settings,
    pool: PgPool,
    codec: EventCodec,
    topics: Topics,
}

impl Relay {
    /// A relay over the configured event store, Kafka and registry.
    pub fn new(settings: &Settings, pool: PgPool, codec: EventCodec) -> Self {
        let topics = Topics::new(&settings.kafka);
        Self {
            settings: settings.clone(),
            pool,
            codec,
            topics,
        }
    }

    /// Stands by until it is the leader, then publishes until `stop` turns true. A leader
    /// that fails steps down (releasing the lock) and starts over.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            relay_leads(&self.settings.kafka.topic_prefix, false);
            let Some(mut leadership) = Leadership::acquire(&self.settings, &stop).await else {
                return;
            };
            relay_leads(&self.settings.kafka.topic_prefix, true);
            tracing::info!("relay is the leader");
            match self.lead(&mut leadership, &mut stop).await {
                Ok(()) => {
                    relay_leads(&self.settings.kafka.topic_prefix, false);
                    return;
                }
                Err(error) => {
                    tracing::error!(error = %causeway_infra::error::error_chain(&error), "relay stepped down");
                }
            }
            drop(leadership);
            if sleep_or_stop(STEP_DOWN_PAUSE, &mut stop).await {
                return;
            }
        }
    }

    async fn lead(
        &self,
        leadership: &mut Leadership,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), RelayError> {
        ensure_topics(&self.settings.kafka, &self.topic_specs()).await?;
        // Fence any earlier producer before reading the checkpoint it may still have written.
        let publisher = TransactionalPublisher::start(&self.settings).await?;
        let mut position = checkpoint::read(&self.settings).await?;
        tracing::info!(?position, "relay resumes after its checkpoint");
        let poll = Duration::from_millis(self.settings.relay.poll_interval_ms);
        let mut lock_checked = Instant::now();
        let mut newest = position.global_position;
        let mut next = self.prepare(position).await?;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if lock_checked.elapsed() >= LOCK_CHECK_EVERY {
                if !leadership.still_held().await {
                    return Err(RelayError::LostLeadership);
                }
                lock_checked = Instant::now();
                self.report_lag(newest).await;
            }
            next = match next {
                // Behind (a full batch): read and encode the batch after this one while this
                // one commits, since a Kafka commit costs about as long as reading a batch.
                // Caught up: read the next batch only after the commit, so it holds what was
                // stored meanwhile; read earlier, it would miss those and they would wait a
                // whole transaction more (each saga step waits for the relay).
                Some(batch) => {
                    let behind = batch.records.len() >= self.settings.relay.batch_size as usize;
                    let (published, upcoming) = if behind {
                        tokio::join!(
                            publisher.publish(&batch.records, batch.last),
                            self.prepare(batch.last)
                        )
                    } else {
                        let published = publisher.publish(&batch.records, batch.last).await;
                        (published, Ok(None))
                    };
                    published?;
                    metrics::counter!(RELAY_PUBLISHED).increment(batch.records.len() as u64);
                    newest = newest.max(batch.newest);
                    tracing::debug!(events = batch.records.len(), last = ?batch.last, "relay published a batch");
                    position = batch.last;
                    match upcoming? {
                        Some(upcoming) => Some(upcoming),
                        None => self.prepare(position).await?,
                    }
                }
                None if sleep_or_stop(poll, stop).await => return Ok(()),
                None => self.prepare(position).await?,
            };
        }
    }

    /// Every topic the relay writes: the checkpoint, and each events topic with its DLQ.
    fn topic_specs(&self) -> Vec<TopicSpec> {
        let partitions = self.settings.kafka.event_partitions;
        let streams = EventStream::ALL.into_iter();
        let names = streams.flat_map(|s| [self.topics.events(s), self.topics.dlq(s)]);
        let events = names.map(|name| TopicSpec {
            name,
            partitions,
            compacted: false,
        });
        std::iter::once(checkpoint::topic_spec(&self.settings))
            .chain(events)
            .collect()
    }

    /// Reads and encodes the events after `position`, ready to publish; `None` when nothing
    /// is waiting.
    async fn prepare(&self, position: Position) -> Result<Option<PreparedBatch>, RelayError> {
        let batch =
            source::fetch_after(&self.pool, position, self.settings.relay.batch_size).await?;
        let Some(last) = batch.last().map(StoredEvent::position) else {
            return Ok(None);
        };
        let mut records = Vec::with_capacity(batch.len());
        let mut spans = spans::BatchSpans::new(batch.len());
        for event in &batch {
            records.push(spans.publish(self.encode(event).await?, event));
        }
        let newest = batch.iter().map(|e| e.global_position).max().unwrap_or(0);
        Ok(Some(PreparedBatch {
            records,
            last,
            newest,
            _spans: spans,
        }))
    }

    /// Sets [`RELAY_LAG`]: the newest stored global position minus the newest published.
    async fn report_lag(&self, newest_published: i64) {
        match source::head(&self.pool).await {
            Ok(head) => {
                let lag = (head.unwrap_or(0) - newest_published).max(0);
                metrics::gauge!(RELAY_LAG).set(lag as f64);
            }
            Err(error) => tracing::debug!(%error, "relay lag unknown: no event store head"),
        }
    }

    async fn encode(&self, event: &StoredEvent) -> Result<OutgoingRecord, RelayError> {
        let encode_error = |reason: String| RelayError::Encode {
            event_type: event.event_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            reason,
        };
        let topic = self
            .topics
            .events_topic(&event.aggregate_type)
            .map_err(|e| encode_error(e.to_string()))?;
        let value = self
            .codec
            .encode(&topic, &event.event_type, event.data())
            .await
            .map_err(|e| encode_error(e.to_string()))?;
        Ok(OutgoingRecord {
            topic,
            key: event.aggregate_id.clone(),
            value,
            headers: headers(event),
        })
    }
}

/// The Kafka headers of one event.
fn headers(event: &StoredEvent) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("event_type", event.event_type.clone()),
        ("event_id", event_id(event).to_string()),
        ("aggregate_type", event.aggregate_type.clone()),
        ("aggregate_id", event.aggregate_id.clone()),
        ("sequence", event.sequence.to_string()),
        ("event_version", event.event_version.clone()),
        (
            "recorded_at",
            event
                .recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ),
    ];
    for key in ["correlation_id", "causation_id", "traceparent"] {
        if let Some(value) = event.metadata_str(key) {
            headers.push((key, value.to_owned()));
        }
    }
    headers
}

/// A stable id per event (UUID v5 of aggregate type, id and sequence): consumers can use it
/// as a causation id and deduplicate by it.
pub fn event_id(event: &StoredEvent) -> Uuid {
    let name = format!(
        "{}/{}/{}",
        event.aggregate_type, event.aggregate_id, event.sequence
    );
    Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())
}

/// Sleeps, waking early when `stop` turns true; answers whether to stop.
async fn sleep_or_stop(duration: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}
