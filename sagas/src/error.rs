//! [`SagaError`]: the one error type of the saga participants.

use causeway_event_store::StoreError;
use rdkafka::error::KafkaError;

/// Why a reaction, a batch or a participant failed.
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// Kafka refused or failed (consumer, commit, dead-letter producer).
    #[error("kafka")]
    Kafka(#[from] KafkaError),
    /// The event store failed.
    #[error("event store")]
    Store(#[from] StoreError),
    /// Other writers kept changing the aggregate through every store-level retry.
    #[error("the aggregate kept changing concurrently ({attempts} attempts)")]
    Conflict {
        /// Attempts the store made.
        attempts: u32,
    },
    /// Postgres failed (deadlines).
    #[error("postgres")]
    Database(#[from] sqlx::Error),
    /// A group of reactions run as one did not all act on one aggregate (a bug).
    #[error("reactions grouped as one aggregate's act on another: {0}")]
    Mixed(String),
    /// The schema registry could not be reached to decode a message.
    #[error("schema registry: {0}")]
    Registry(String),
}
