//! `relay.delivery = "idempotent"`, the default (ADR 0018): an idempotent producer
//! (`acks=all`, `enable.gapless.guarantee`) publishes each page as soon as it is read, and
//! the checkpoint follows once Kafka has acknowledged every event before it. No transaction
//! commit sits between a stored event and its consumers: a hop costs one broker round trip.
//!
//! What it guarantees:
//! - Every stored event reaches Kafka (nothing is checkpointed before it is acknowledged),
//!   in commit order per partition, so per aggregate (the producer keeps order, and with the
//!   gapless guarantee a lost message fails the producer instead of leaving a hole).
//! - Within one relay session no event is written twice (the idempotent producer's retries
//!   are deduplicated by the broker). A relay that crashes, or loses the lead, leaves the
//!   events after its last checkpoint to the next leader, which publishes them again: a plain
//!   consumer may then see that suffix of an aggregate's events twice, each time in order.
//!   Every Causeway consumer makes its effect once per (aggregate, sequence) (ADR 0009, 0013).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use causeway_event_store::Position;
use causeway_infra::kafka::client_config;
use causeway_infra::metrics::{EVENT_DELAY, label, stage};
use causeway_infra::settings::{KafkaSettings, RelaySettings};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use tokio::time::Instant;

use super::checkpoint::{CHECKPOINT_KEY, encode_checkpoint};
use super::reader::{Page, Reader};
use super::{LOCK_CHECK_EVERY, RelayError, Term, checkpoint, reader_gone, wake};

/// Pages handed to Kafka and not yet acknowledged, at most: the relay's memory bound
/// (with `relay.page_size`).
const IN_FLIGHT_PAGES: usize = 4;
/// Pages read and encoded ahead of the producer.
const READ_AHEAD: usize = 2;
/// While pages keep coming, the checkpoint is written at most this often; caught up, after
/// every acknowledged page.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// On a clean stop, how long to wait for the last acknowledgements.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A page's events, acknowledged.
struct Acked {
    events: usize,
    last: Position,
    newest: i64,
}

type Acknowledgement = Pin<Box<dyn Future<Output = Result<Acked, RelayError>> + Send>>;

/// Publishes pages as they are read until the term ends.
pub(super) async fn lead(term: &mut Term<'_>) -> Result<(), RelayError> {
    let relay = term.relay;
    let publisher = IdempotentPublisher::start(&relay.settings, &relay.kafka)?;
    let position = checkpoint::read(&relay.settings, &relay.kafka).await?;
    tracing::info!(?position, "relay resumes after its checkpoint");
    term.newest = position.global_position;
    let wake = wake::listen(&relay.pool).await;
    let page_size = relay.settings.page_size.max(1);
    // The reader stops when it is dropped, on any return from here.
    let (_reader, mut pages) =
        Reader::start(relay.reader_config(page_size, READ_AHEAD, wake), position);
    let mut in_flight: FuturesOrdered<Acknowledgement> = FuturesOrdered::new();
    let mut checkpoint = Checkpoint::new(position);
    loop {
        if term.stopping() {
            return drain(term, &publisher, in_flight, checkpoint).await;
        }
        term.check_lock().await?;
        tokio::select! {
            biased;
            acked = in_flight.next(), if !in_flight.is_empty() => {
                let acked = acked.ok_or(RelayError::DeliveryCancelled)??;
                term.published(acked.events, acked.newest);
                checkpoint.acked(acked.last);
                if in_flight.is_empty() || checkpoint.due() {
                    publisher.checkpoint(checkpoint.take())?;
                }
            }
            page = pages.recv(), if in_flight.len() < IN_FLIGHT_PAGES => {
                let page = page.ok_or_else(reader_gone)??;
                if !page.events.is_empty() {
                    in_flight.push_back(publisher.publish(page).await?);
                }
            }
            changed = term.stop.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            () = tokio::time::sleep(LOCK_CHECK_EVERY) => {}
        }
    }
}

/// A clean stop: waits (bounded) for what is in flight, writes the last checkpoint and
/// flushes, so the next leader republishes as little as possible.
async fn drain(
    term: &mut Term<'_>,
    publisher: &IdempotentPublisher,
    mut in_flight: FuturesOrdered<Acknowledgement>,
    mut checkpoint: Checkpoint,
) -> Result<(), RelayError> {
    let acknowledged = async {
        while let Some(acked) = in_flight.next().await {
            let acked = acked?;
            term.published(acked.events, acked.newest);
            checkpoint.acked(acked.last);
        }
        Ok::<(), RelayError>(())
    };
    match tokio::time::timeout(DRAIN_TIMEOUT, acknowledged).await {
        Ok(result) => result?,
        Err(_) => tracing::warn!("relay stopped before Kafka acknowledged its last events"),
    }
    if checkpoint.pending {
        publisher.checkpoint(checkpoint.take())?;
    }
    publisher.flush()
}

/// The newest acknowledged position and when it was last written.
struct Checkpoint {
    position: Position,
    pending: bool,
    written: Instant,
}

impl Checkpoint {
    fn new(position: Position) -> Self {
        Self {
            position,
            pending: false,
            written: Instant::now(),
        }
    }

    /// Every event up to `last` is acknowledged (pages are acknowledged in order).
    fn acked(&mut self, last: Position) {
        self.position = last;
        self.pending = true;
    }

    fn due(&self) -> bool {
        self.pending && self.written.elapsed() >= CHECKPOINT_EVERY
    }

    fn take(&mut self) -> Position {
        self.pending = false;
        self.written = Instant::now();
        self.position
    }
}

/// An idempotent producer that keeps order and leaves no gap.
pub(super) struct IdempotentPublisher {
    producer: FutureProducer,
    checkpoint_topic: String,
}

impl IdempotentPublisher {
    fn start(settings: &RelaySettings, kafka: &KafkaSettings) -> Result<Self, RelayError> {
        let producer: FutureProducer = client_config(kafka)
            .set("enable.idempotence", "true")
            // A message that fails for good fails the producer: no later message of its
            // partition is written after a hole. The relay steps down and starts over from
            // its checkpoint.
            .set("enable.gapless.guarantee", "true")
            .set("acks", "all")
            // Caught up, a page goes out at once; behind, pages are large and batch anyway.
            .set("linger.ms", "1")
            .set("compression.type", settings.compression.as_str())
            .set("queue.buffering.max.kbytes", "65536")
            .create()?;
        Ok(Self {
            producer,
            checkpoint_topic: settings.checkpoint_topic.clone(),
        })
    }

    /// Hands `page` to the producer; answers the future of its acknowledgement, which also
    /// records each event's [`stage::PUBLISHED`] delay and ends its publish span.
    async fn publish(&self, page: Page) -> Result<Acknowledgement, RelayError> {
        let mut deliveries = Vec::with_capacity(page.events.len());
        let mut spans = Vec::with_capacity(page.events.len() + 1);
        let mut acked = Acked {
            events: page.events.len(),
            last: Position::default(),
            newest: 0,
        };
        for event in page.events {
            acked.last = event.position;
            acked.newest = acked.newest.max(event.position.global_position);
            let record = event.record;
            let delivery = self
                .send(&record.topic, &record.key, &record.value, record.headers)
                .await?;
            deliveries.push((delivery, event.recorded_at));
            spans.extend(event.span);
        }
        spans.push(page.span);
        Ok(Box::pin(async move {
            for (delivery, recorded_at) in deliveries {
                acknowledged(delivery.await)?;
                record_delay(recorded_at);
            }
            drop(spans);
            Ok(acked)
        }))
    }

    /// Writes the checkpoint `to`, without waiting: a failed delivery fails the producer
    /// (gapless), and the next send says so.
    fn checkpoint(&self, to: Position) -> Result<(), RelayError> {
        let value = encode_checkpoint(to);
        let record = FutureRecord::to(&self.checkpoint_topic)
            .key(CHECKPOINT_KEY)
            .payload(&value);
        self.producer
            .send_result(record)
            .map(drop)
            .map_err(|(error, _)| error.into())
    }

    fn flush(&self) -> Result<(), RelayError> {
        Ok(self.producer.flush(DRAIN_TIMEOUT)?)
    }

    /// Enqueues one record, waiting while librdkafka's local queue is full.
    async fn send(
        &self,
        topic: &str,
        key: &str,
        value: &[u8],
        headers: OwnedHeaders,
    ) -> Result<DeliveryFuture, RelayError> {
        let mut record = FutureRecord::to(topic)
            .key(key)
            .payload(value)
            .headers(headers);
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }
}

/// A delivery report, as the relay's result.
fn acknowledged(
    report: Result<
        rdkafka::producer::future_producer::OwnedDeliveryResult,
        futures::channel::oneshot::Canceled,
    >,
) -> Result<(), RelayError> {
    match report {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((error, _))) => Err(error.into()),
        Err(_) => Err(RelayError::DeliveryCancelled),
    }
}

fn record_delay(recorded_at: DateTime<Utc>) {
    let delay = (Utc::now() - recorded_at).to_std().unwrap_or_default();
    metrics::histogram!(EVENT_DELAY, label::STAGE => stage::PUBLISHED, label::CONSUMER => "relay")
        .record(delay.as_secs_f64());
}
