//! [`ProjectionError`], the one error type of the projection workers.

/// Why a projection worker could not make progress. Every variant is transient from the
/// worker's point of view: it retries the batch, or rebuilds its consumer.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// Postgres refused or could not be reached.
    #[error("read model database error")]
    Database(#[from] sqlx::Error),
    /// Kafka refused or could not be reached.
    #[error("kafka error")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The schema registry could not be reached while decoding.
    #[error("schema registry unavailable: {0}")]
    Registry(String),
    /// The stored offsets could not be read when partitions were assigned.
    #[error("could not seek to the stored offsets on assignment")]
    SeekFailed,
}
