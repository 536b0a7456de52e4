//! The transactional Kafka producer: each batch of events and the relay's checkpoint are
//! committed in one Kafka transaction, so a `read_committed` consumer sees every event once.

use std::sync::Arc;
use std::time::Duration;

use causeway_event_store::Position;
use causeway_infra::kafka::client_config;
use causeway_infra::settings::{KafkaSettings, RelaySettings};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use super::RelayError;
use super::checkpoint::{CHECKPOINT_KEY, encode_checkpoint};

const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// One event ready to produce: topic, key, Avro value and headers.
#[derive(Debug)]
pub struct OutgoingRecord {
    /// `<aggregate>.events`.
    pub topic: String,
    /// The aggregate id.
    pub key: String,
    /// Confluent-framed Avro.
    pub value: Vec<u8>,
    /// Event type, ids, sequence, correlation, causation, traceparent.
    pub headers: OwnedHeaders,
}

type KafkaProducer = ThreadedProducer<DefaultProducerContext>;

/// A producer whose `transactional.id` fences any earlier instance.
#[derive(Clone)]
pub struct TransactionalPublisher {
    producer: Arc<KafkaProducer>,
    checkpoint_topic: String,
}

impl TransactionalPublisher {
    /// Creates the producer and runs `init_transactions`, which fences a zombie with the same
    /// `transactional.id` and aborts its open transaction.
    pub async fn start(
        settings: &RelaySettings,
        kafka: &KafkaSettings,
    ) -> Result<Self, RelayError> {
        let producer: KafkaProducer = client_config(kafka)
            .set("transactional.id", &settings.transactional_id)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", settings.compression.as_str())
            .set("transaction.timeout.ms", "60000")
            // Right after a commit the coordinator answers CONCURRENT_TRANSACTIONS until its
            // markers are written; the default 100 ms back-off would idle the next batch.
            .set("retry.backoff.ms", "5")
            .create()?;
        let producer = Arc::new(producer);
        blocking(&producer, |p| p.init_transactions(TRANSACTION_TIMEOUT)).await?;
        Ok(Self {
            producer,
            checkpoint_topic: settings.checkpoint_topic.clone(),
        })
    }

    /// Opens a transaction (local: the broker hears of it with its first record).
    pub async fn begin(&self) -> Result<(), RelayError> {
        blocking(&self.producer, |p| p.begin_transaction()).await
    }

    /// Enqueues `records` in the open transaction, in order.
    pub async fn produce(&self, records: Vec<OutgoingRecord>) -> Result<(), RelayError> {
        for record in records {
            self.enqueue(&record.topic, &record.key, &record.value, record.headers)
                .await?;
        }
        Ok(())
    }

    /// Enqueues the checkpoint `to` and commits the open transaction. librdkafka's commit
    /// flushes the transaction and fails (abortably) if any record of it was not delivered,
    /// so per-record delivery reports are not needed.
    pub async fn commit(&self, to: Position) -> Result<(), RelayError> {
        let checkpoint = encode_checkpoint(to);
        let topic = &self.checkpoint_topic;
        self.enqueue(topic, CHECKPOINT_KEY, &checkpoint, OwnedHeaders::new())
            .await?;
        blocking(&self.producer, |p| {
            p.commit_transaction(TRANSACTION_TIMEOUT)
        })
        .await
    }

    /// Enqueues one record, waiting while librdkafka's local queue is full.
    async fn enqueue(
        &self,
        topic: &str,
        key: &str,
        value: &[u8],
        headers: OwnedHeaders,
    ) -> Result<(), RelayError> {
        let mut record = BaseRecord::to(topic)
            .key(key)
            .payload(value)
            .headers(headers);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }

    /// Aborts the open transaction after `error`, unless the producer is fenced or otherwise
    /// unusable: nothing of the transaction becomes visible.
    pub async fn abort_if_possible(&self, error: &RelayError) {
        if error.is_fatal() {
            return;
        }
        if let Err(abort) =
            blocking(&self.producer, |p| p.abort_transaction(TRANSACTION_TIMEOUT)).await
        {
            tracing::warn!(error = %abort, "aborting the relay transaction failed");
        }
    }
}

/// librdkafka's transaction calls block their thread until the broker answers.
async fn blocking<F>(producer: &Arc<KafkaProducer>, call: F) -> Result<(), RelayError>
where
    F: FnOnce(&KafkaProducer) -> Result<(), KafkaError> + Send + 'static,
{
    let producer = Arc::clone(producer);
    tokio::task::spawn_blocking(move || call(&producer))
        .await
        .map_err(|_| RelayError::DeliveryCancelled)?
        .map_err(RelayError::from)
}
