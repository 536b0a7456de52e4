//! The event store: cqrs-es 0.5.0 as the framework, with its two snapshot defects fixed
//! where they live (docs/adr/0003-own-event-repository.md).
//!
//! A command goes: [`CommandStore::execute`] → [`PgEventRepository::load_context`]
//! (snapshot + the events after it, one statement; skipped by
//! [`CommandStore::execute_new`] for an id just minted) → [`Aggregated::handle`] (the pure
//! `decide`) → cqrs-es `PersistedEventStore::commit` → [`PgEventRepository`] (the events'
//! `INSERT` alone, or with the snapshot in one transaction) → the new version, or a
//! bounded number of retries on a conflict. A command without a snapshot to write costs
//! one round trip to load and one to store.
//!
//! # Modules
//!
//! - `adapter`: [`Aggregated`] adapts any [`causeway_domain::Aggregate`] to
//!   [`cqrs_es::Aggregate`] (and [`AdaptedEvent`] its events to [`cqrs_es::DomainEvent`]).
//!   `handle` writes events against a scratch clone and never mutates `self`, so cqrs-es'
//!   `commit` applies each event once before serialising a snapshot.
//! - `repository`: [`PgEventRepository`], cqrs-es' `PersistedEventRepository` on sqlx
//!   against Causeway's own migration (jsonb columns, the relay's extra columns left to
//!   their defaults). Loads an aggregate with one statement. Events go in with one
//!   multi-row `INSERT`; the snapshot upsert is guarded by the loaded snapshot version and
//!   checked before the commit, so a write answered "conflict" stored nothing. Also
//!   streams events for replays.
//! - `executor`: [`CommandStore`], the service the command API and the saga participants
//!   call: load, decide, commit, answer [`Committed`] with the new version; retries
//!   conflicts by [`RetryPolicy`] and answers [`CommandError`] otherwise.
//! - `metadata`: [`CommandMetadata`], stored in every event's `metadata` under fixed keys.
//! - `error`: [`StoreError`], the layer's one error type (SQLSTATE 23505 → conflict).

mod adapter;
mod error;
mod executor;
pub mod metadata;
mod repository;

pub use adapter::{AdaptedEvent, Aggregated};
pub use error::StoreError;
pub use executor::{CommandError, CommandStore, Committed, Jitter, RetryPolicy};
pub use metadata::CommandMetadata;
pub use repository::PgEventRepository;
