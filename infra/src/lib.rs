//! Causeway's shared plumbing: everything the roles need to talk to the outside world,
//! and nothing about the shop.
//!
//! - [`settings`]: the one typed settings tree (file defaults, then `CAUSEWAY_…` environment).
//! - [`telemetry`]: tracing subscriber, OpenTelemetry export to Jaeger, W3C propagation.
//! - [`db`]: the Postgres pool and the embedded `migrations/`.
//! - [`kafka`]: librdkafka client configuration from settings, topic creation, and the typed
//!   event headers ([`kafka::headers`]: one writer, one reader).
//! - [`avro`]: the event schemas of `schemas/` and the Avro codec (Confluent framing).
//! - [`topics`]: topic names from base names (`<prefix><base>`, `<prefix><base>.dlq`).
//! - [`registry`]: the Confluent-compatible schema registry client settings.
//! - [`problem`]: RFC 9457 problem documents, the shape of every HTTP error.
//! - [`health`]: readiness checks of Postgres, Kafka and the registry.
//! - [`metrics`]: every Prometheus metric name and label, and the process's recorder.
//! - [`error`]: [`InfraError`], the one error type of this layer.

pub mod avro;
pub mod db;
pub mod error;
pub mod health;
pub mod kafka;
pub mod metrics;
pub mod problem;
pub mod registry;
pub mod settings;
pub mod telemetry;
pub mod topics;

pub use error::InfraError;
pub use settings::Settings;
