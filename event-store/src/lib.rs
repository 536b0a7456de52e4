//! The event store: the `events` table and everything that reads or writes it. Commands
//! (from the HTTP API and from the saga participants) are executed here; the relay and the
//! store rebuild of a projection read it here, in commit order.
//!
//! cqrs-es 0.5.0 is the framework for appending and loading, with its two snapshot defects
//! fixed where they live (docs/adr/0003-own-event-repository.md).
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
//! - [`commit_order`]: the read of committed events in commit order, never skipping a late
//!   commit ([`StoredEvent`], [`Position`], [`commit_order::fetch_after`] for every
//!   aggregate, [`commit_order::fetch_after_of`] for some aggregate types,
//!   [`commit_order::head`]). The relay publishes from it; a store rebuild replays from it.
//! - `event_id`: [`event_id`], the stable id of a stored event (UUID v5 of type, id and
//!   sequence): the relay's `event_id` header and a store rebuild's envelopes.
//! - [`idempotency`]: the `idempotency_keys` records behind the command API's
//!   `Idempotency-Key` (claim under an advisory lock, record the answer, recover an
//!   unfinished attempt from the events it wrote; docs/adr/0005).

mod adapter;
pub mod commit_order;
mod error;
mod event_id;
mod executor;
pub mod idempotency;
pub mod metadata;
mod repository;

pub use adapter::{AdaptedEvent, Aggregated};
pub use commit_order::{Position, StoredEvent};
pub use error::StoreError;
pub use event_id::event_id;
pub use executor::{CommandError, CommandStore, Committed, Each, Jitter, RetryPolicy};
pub use metadata::CommandMetadata;
pub use repository::PgEventRepository;
