//! Projection workers: Kafka consumer groups that build the Postgres read models, storing
//! their offsets in the same transaction as the rows they write (docs/architecture.md §1.5, ADR 0008).
//!
//! - [`projection`]: the [`Projection`] trait a read model implements; the [`Envelope`] of
//!   one event it applies comes from the consumer kit (`causeway_consumer`), which also
//!   decodes, dead-letters and measures lag for the worker.
//! - [`worker`]: the generic [`ProjectionWorker`]: one consumer group per projection,
//!   batches applied with their offsets in one Postgres transaction, seek on assignment.
//! - [`offsets`]: the `projection_offsets` table.
//! - `batch`: set-based batches for the state read models (ADR 0014): one `SELECT` of the
//!   batch's versions, a pure fold per aggregate, one insert and one update per table. Each
//!   state read model implements `batch::StateProjection` (its table, fold and two writes)
//!   and `batch::apply` runs the rest; `batch::column` builds the array parameters of every
//!   multi-row `unnest` statement, the insert-only read models' included.
//! - [`inventory`]: the `inventory_view` read model.
//! - [`orders`]: the `orders` and `order_lines` read models.
//! - [`customers`]: the `customers` read model (credit limit, reserved, available).
//! - [`payments`]: the `payments` read model (one per order).
//! - [`notifications`]: what would be sent to customers, one row per (order, kind).
//! - [`timeline`]: the `saga_timeline` of every order, from all four streams.
//! - [`registry`]: every projection, listed once ([`registry::for_each`]) with the tables it
//!   alone writes; the server, `projections list|status` and the rebuild all iterate it.
//! - [`rebuild`]: `causeway projections rebuild`: shadow tables built from the store or from
//!   offset 0, swapped in under the projection's fence (ADR 0010).
//! - [`status`]: each projection's stored offset, end offset and lag per partition.
//! - `fixtures` (tests only): the ids, amounts and times the unit tests share.
//!
//! Delivery: at least once from Kafka, effectively once in Postgres. A batch, its rows and
//! its offsets commit together; rows remember the last sequence applied to their aggregate,
//! so a message delivered again changes nothing.

mod batch;
pub mod customers;
mod error;
#[cfg(test)]
mod fixtures;
pub mod inventory;
pub mod notifications;
pub mod offsets;
pub mod orders;
pub mod payments;
pub mod projection;
pub mod rebuild;
pub mod registry;
pub mod status;
pub mod timeline;
pub mod worker;

pub use customers::CustomersProjection;
pub use error::ProjectionError;
pub use inventory::InventoryProjection;
pub use notifications::NotificationsProjection;
pub use orders::OrdersProjection;
pub use payments::PaymentsProjection;
pub use projection::{Envelope, EventHeaders, Projection};
pub use timeline::SagaTimelineProjection;
pub use worker::{ProjectionWorker, WorkerConfig};
