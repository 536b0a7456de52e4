//! Projection workers: Kafka consumer groups that build the Postgres read models, storing
//! their offsets in the same transaction as the rows they write (DESIGN.md §1.5, ADR 0008).
//!
//! - [`projection`]: the [`Projection`] trait a read model implements, and the
//!   [`Envelope`] of one event it applies.
//! - [`worker`]: the generic [`ProjectionWorker`]: one consumer group per projection,
//!   batches applied with their offsets in one Postgres transaction, seek on assignment.
//! - [`offsets`]: the `projection_offsets` table.
//! - [`dlq`]: messages that cannot be decoded go to the topic's dead-letter topic.
//! - [`inventory`]: the `inventory_view` read model.
//!
//! Delivery: at least once from Kafka, effectively once in Postgres. A batch, its rows and
//! its offsets commit together; rows remember the last sequence applied to their aggregate,
//! so a message delivered again changes nothing.

pub mod dlq;
mod error;
pub mod inventory;
pub mod offsets;
pub mod projection;
pub mod worker;

pub use error::ProjectionError;
pub use inventory::InventoryProjection;
pub use projection::{Envelope, Projection};
pub use worker::{ProjectionWorker, WorkerConfig};
