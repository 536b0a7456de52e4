//! Choreographed saga participants (docs/architecture.md §1.6, §2): consumer groups that react to
//! events by issuing commands to their own aggregates, and compensate. No orchestrator.
//!
//! # Layout
//!
//! - [`reaction`]: pure. Each [`Participant`] (inventory, payment, order) maps an event to
//!   the [`Reaction`]s it issues; the table of the whole place-order saga is there.
//!   Participants react to `causeway_domain::ShopEvent`s, decoded from Kafka by the consumer
//!   kit (`causeway_consumer`), which also dead-letters and measures lag.
//! - [`reactor`]: carries a reaction out through the event store with the triggering event
//!   as causation, continuing its trace, retried with backoff.
//! - [`worker`]: [`ParticipantWorker`], the consumer group of one participant (batches split
//!   by partition, offsets committed after the batch, poison and failures to the DLQ).
//! - [`deadlines`]: durable order deadlines and the [`DeadlineWatcher`] that expires them.
//! - [`SagaError`]: the one error type of this layer.
//!
//! Delivery: at least once from Kafka; every command is idempotent in the domain, so a
//! redelivered event changes nothing. Notifications are a projection (`notifications` read
//! model), so a replay never sends twice.

pub mod deadlines;
mod error;
pub mod reaction;
pub mod reactor;
pub mod worker;

pub use deadlines::DeadlineWatcher;
pub use error::SagaError;
pub use reaction::{Participant, Reaction};
pub use reactor::{Backoff, Cause, Outcome, Reactor};
pub use worker::ParticipantWorker;
