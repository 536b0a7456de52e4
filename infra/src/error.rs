//! The error type of the infrastructure layer.

/// Anything that can go wrong while talking to Causeway's dependencies.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// The settings could not be read or do not fit the settings tree.
    #[error("invalid settings")]
    Settings(#[from] config::ConfigError),
    /// A setting has a value the platform does not know.
    #[error("invalid setting {key}: {reason}")]
    InvalidSetting {
        /// The setting, e.g. `sagas.participants`.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A Postgres call failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Applying `migrations/` failed.
    #[error("database migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A Kafka client call failed.
    #[error("kafka error")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The schema registry refused or could not be reached.
    #[error("schema registry error: {0}")]
    Registry(String),
    /// A listening socket could not be bound.
    #[error("cannot bind {address}")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why the OS refused.
        source: std::io::Error,
    },
    /// Tracing or metrics could not be set up.
    #[error("telemetry setup failed: {0}")]
    Telemetry(String),
}

/// An error and all its causes on one line: `outer: middle: root`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some libraries repeat their cause in their own message; say it once.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
