//! The dead-letter topic: a message that cannot be decoded is produced, unchanged (key, bytes,
//! headers), to `<topic>.dlq` with headers saying why and where it came from. The send is
//! awaited (acks=all, idempotent) before the batch that skips it commits its offsets.

use std::time::Duration;

use causeway_infra::kafka::client_config;
use causeway_infra::settings::KafkaSettings;
use causeway_infra::topics::dlq_of;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Header naming why the message was dead-lettered.
pub const ERROR_HEADER: &str = "dlq_error";
/// Header naming the projection that could not decode it.
pub const PROJECTION_HEADER: &str = "dlq_projection";
/// Headers naming where it was read.
pub const SOURCE_HEADERS: [&str; 3] = [
    "dlq_source_topic",
    "dlq_source_partition",
    "dlq_source_offset",
];

const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// A producer to the dead-letter topics.
pub struct DeadLetters {
    producer: FutureProducer,
}

impl DeadLetters {
    /// A durable producer (acks from every in-sync replica, idempotent).
    pub fn new(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        let producer = client_config(settings)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .create()?;
        Ok(Self { producer })
    }

    /// Produces `message` to its topic's DLQ and waits until Kafka has it.
    pub async fn send(
        &self,
        message: &OwnedMessage,
        projection: &str,
        error: &str,
    ) -> Result<(), KafkaError> {
        let topic = dlq_of(message.topic());
        let mut record = FutureRecord::to(&topic).headers(headers(message, projection, error));
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        self.producer
            .send(record, SEND_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }
}

/// The original headers, then the error and source headers.
fn headers(message: &OwnedMessage, projection: &str, error: &str) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(original) = message.headers() {
        for header in original.iter() {
            headers = headers.insert(header);
        }
    }
    let source = [
        message.topic().to_owned(),
        message.partition().to_string(),
        message.offset().to_string(),
    ];
    headers = headers
        .insert(text(ERROR_HEADER, error))
        .insert(text(PROJECTION_HEADER, projection));
    for (key, value) in SOURCE_HEADERS.iter().zip(&source) {
        headers = headers.insert(text(key, value));
    }
    headers
}

fn text<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}
