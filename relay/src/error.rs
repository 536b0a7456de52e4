//! The relay's error type.

use rdkafka::error::KafkaError;

/// What can stop a relay batch.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading the event table or holding the leader lock failed.
    #[error("event store")]
    Database(#[from] sqlx::Error),
    /// A Kafka call failed.
    #[error("kafka")]
    Kafka(#[from] KafkaError),
    /// An event could not be Avro-encoded (its schema and payload disagree).
    #[error("encoding {event_type} #{sequence} of {aggregate_id}: {reason}")]
    Encode {
        /// The event type.
        event_type: String,
        /// Its aggregate.
        aggregate_id: String,
        /// Its sequence.
        sequence: i64,
        /// Why.
        reason: String,
    },
    /// The relay's topics could not be created.
    #[error("creating topics")]
    Topics(#[from] causeway_infra::InfraError),
    /// The checkpoint topic could not be read or written.
    #[error("relay checkpoint: {0}")]
    Checkpoint(String),
    /// A delivery report never arrived (the producer went away).
    #[error("delivery report lost")]
    DeliveryCancelled,
    /// The reader's encoding thread panicked or was cancelled.
    #[error("relay reader stopped: {0}")]
    Reader(String),
    /// The leader lock's connection was lost: another relay may lead now.
    #[error("no longer the leader")]
    LostLeadership,
}

impl RelayError {
    /// True when this producer can no longer be used (fenced or otherwise fatal): the relay
    /// must step down and start over without aborting.
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Kafka(KafkaError::Transaction(e)) => e.is_fatal(),
            Self::LostLeadership => true,
            _ => false,
        }
    }
}
