//! The dead-letter topic: a message that cannot be handled is produced, unchanged (key,
//! bytes, headers), to `<topic>.dlq` with headers saying why, who gave up and where it was
//! read. The send is awaited (acks=all, idempotent) before the consumer moves past it, and
//! counted (`causeway_projection_dead_letters_total` or
//! `causeway_saga_dead_letters_total`, by its [`Owner`]).
//!
//! The headers are named `causeway.dlq.*`; messages dead-lettered by earlier versions carry
//! `dlq_error`, `dlq_projection` and `dlq_source_*`, which [`DeadLetterHeaders::read`] still
//! reads.

use std::time::Duration;

use causeway_infra::kafka::{client_config, header};
use causeway_infra::metrics::{PROJECTION_DEAD_LETTERS, SAGA_DEAD_LETTERS, label};
use causeway_infra::settings::KafkaSettings;
use causeway_infra::topics::dlq_of;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// The header names a dead letter carries.
pub mod header_name {
    /// Why the message was dead-lettered.
    pub const ERROR: &str = "causeway.dlq.error";
    /// The consumer that gave up: a projection (`inventory`) or a saga participant
    /// (`saga.payment`).
    pub const CONSUMER: &str = "causeway.dlq.consumer";
    /// Where it was read: topic, partition, offset.
    pub const SOURCE: [&str; 3] = [
        "causeway.dlq.source_topic",
        "causeway.dlq.source_partition",
        "causeway.dlq.source_offset",
    ];
    /// Every dead-letter header starts with this (so does the redrive's).
    pub const PREFIX: &str = "causeway.dlq.";

    /// The names earlier versions wrote, still read.
    pub mod legacy {
        /// Why the message was dead-lettered.
        pub const ERROR: &str = "dlq_error";
        /// The consumer that gave up.
        pub const CONSUMER: &str = "dlq_projection";
        /// Where it was read: topic, partition, offset.
        pub const SOURCE: [&str; 3] = [
            "dlq_source_topic",
            "dlq_source_partition",
            "dlq_source_offset",
        ];
        /// Every legacy dead-letter header starts with this.
        pub const PREFIX: &str = "dlq_";
    }
}

/// Whether `key` is a header the dead-lettering (or a redrive) added, under its current or
/// its legacy name.
pub fn is_dead_letter_header(key: &str) -> bool {
    key.starts_with(header_name::PREFIX) || key.starts_with(header_name::legacy::PREFIX)
}

/// What a dead letter's headers say about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterHeaders {
    /// Why it was dead-lettered.
    pub error: Option<String>,
    /// The consumer that gave up.
    pub consumer: Option<String>,
    /// The topic it was read from.
    pub source_topic: Option<String>,
    /// The partition it was read from.
    pub source_partition: Option<String>,
    /// Its offset there.
    pub source_offset: Option<String>,
}

impl DeadLetterHeaders {
    /// Reads the dead-letter headers of `message`, each under its current name or else its
    /// legacy one.
    pub fn read(message: &impl Message) -> Self {
        let either = |name, legacy| header(message, name).or_else(|| header(message, legacy));
        let source = |i: usize| either(header_name::SOURCE[i], header_name::legacy::SOURCE[i]);
        Self {
            error: either(header_name::ERROR, header_name::legacy::ERROR),
            consumer: either(header_name::CONSUMER, header_name::legacy::CONSUMER),
            source_topic: source(0),
            source_partition: source(1),
            source_offset: source(2),
        }
    }
}

/// Who dead-letters: names the consumer header and the metric that counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A projection worker, by projection name (`inventory`).
    Projection(&'static str),
    /// A saga participant, by participant name (`payment`); its header says `saga.payment`.
    Participant(&'static str),
}

impl Owner {
    /// The consumer named in the dead letter's headers.
    pub fn consumer(self) -> String {
        match self {
            Self::Projection(name) => name.to_owned(),
            Self::Participant(name) => format!("saga.{name}"),
        }
    }

    fn count(self, topic: &str) {
        match self {
            Self::Projection(name) => metrics::counter!(PROJECTION_DEAD_LETTERS,
                label::PROJECTION => name, label::TOPIC => topic.to_owned())
            .increment(1),
            Self::Participant(name) => metrics::counter!(SAGA_DEAD_LETTERS,
                label::PARTICIPANT => name, label::TOPIC => topic.to_owned())
            .increment(1),
        }
    }
}

const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// A producer to the dead-letter topics, for one consumer.
pub struct DeadLetters {
    producer: FutureProducer,
    owner: Owner,
}

impl DeadLetters {
    /// A durable producer (acks from every in-sync replica, idempotent) for `owner`.
    pub fn new(settings: &KafkaSettings, owner: Owner) -> Result<Self, KafkaError> {
        let producer = client_config(settings)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .create()?;
        Ok(Self { producer, owner })
    }

    /// Produces `message` to its topic's DLQ with `error` as the reason, waits until Kafka
    /// has it, then counts and logs it.
    pub async fn send(&self, message: &OwnedMessage, error: &str) -> Result<(), KafkaError> {
        let topic = dlq_of(message.topic());
        let consumer = self.owner.consumer();
        let mut record = FutureRecord::to(&topic).headers(headers(message, &consumer, error));
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        self.producer
            .send(record, SEND_TIMEOUT)
            .await
            .map_err(|(error, _)| error)?;
        self.owner.count(message.topic());
        tracing::warn!(
            consumer,
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            reason = error,
            "message dead-lettered"
        );
        Ok(())
    }
}

/// The original headers, then the error, consumer and source headers.
fn headers(message: &OwnedMessage, consumer: &str, error: &str) -> OwnedHeaders {
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
        .insert(text(header_name::ERROR, error))
        .insert(text(header_name::CONSUMER, consumer));
    for (key, value) in header_name::SOURCE.iter().zip(&source) {
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

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;

    use super::*;

    fn message(headers: OwnedHeaders) -> OwnedMessage {
        OwnedMessage::new(
            Some(b"bytes".to_vec()),
            Some(b"SKU-1".to_vec()),
            "t1.inventory.events".into(),
            Timestamp::NotAvailable,
            2,
            41,
            Some(headers),
        )
    }

    #[test]
    fn a_dead_letter_keeps_the_original_headers_and_says_why_who_and_where() {
        let original = OwnedHeaders::new().insert(text("sequence", "3"));
        let written = message(headers(&message(original), "saga.payment", "boom"));
        assert_eq!(header(&written, "sequence").as_deref(), Some("3"));
        assert_eq!(
            DeadLetterHeaders::read(&written),
            DeadLetterHeaders {
                error: Some("boom".into()),
                consumer: Some("saga.payment".into()),
                source_topic: Some("t1.inventory.events".into()),
                source_partition: Some("2".into()),
                source_offset: Some("41".into()),
            }
        );
    }

    #[test]
    fn the_legacy_header_names_still_read() {
        let legacy = OwnedHeaders::new()
            .insert(text("dlq_error", "old"))
            .insert(text("dlq_projection", "inventory"))
            .insert(text("dlq_source_topic", "inventory.events"));
        let read = DeadLetterHeaders::read(&message(legacy));
        assert_eq!(read.error.as_deref(), Some("old"));
        assert_eq!(read.consumer.as_deref(), Some("inventory"));
        assert_eq!(read.source_topic.as_deref(), Some("inventory.events"));
        assert!(is_dead_letter_header("dlq_error"));
        assert!(is_dead_letter_header(header_name::ERROR));
        assert!(!is_dead_letter_header("event_type"));
    }

    #[test]
    fn a_participant_is_named_as_its_saga_consumer() {
        assert_eq!(Owner::Participant("payment").consumer(), "saga.payment");
        assert_eq!(Owner::Projection("inventory").consumer(), "inventory");
    }
}
