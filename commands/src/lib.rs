//! The write side: the HTTP command API, the Postgres event store (optimistic concurrency,
//! snapshots) and the relay that publishes stored events to Kafka exactly once.
//!
//! - [`store`]: the event store: cqrs-es adapter for the pure aggregates, a Postgres
//!   repository, and the executor that runs one command and answers its new version.
//! - [`api`]: the axum routes of the command API (`/api/customers`, `/api/inventory`,
//!   `/api/orders`), idempotency keys and problem+json errors.
//! - [`relay`]: publishes committed events, in commit order, to `<aggregate>.events`.

pub mod api;
pub mod relay;
pub mod store;
