//! The HTTP command API: JSON in, domain commands out through the event store
//! (`causeway_event_store::CommandStore`), answered with the aggregate's new version.
//!
//! - [`api`]: the axum routes of the command API (`/api/customers`, `/api/inventory`,
//!   `/api/orders`), `Idempotency-Key` handling over the event store's idempotency records,
//!   and problem+json errors.
//!
//! The event store itself (append, load, command execution, idempotency records) is the
//! `causeway-event-store` crate; publishing stored events to Kafka is `causeway-relay`.

pub mod api;
