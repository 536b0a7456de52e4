//! The write side: the HTTP command API, the Postgres event store (optimistic concurrency,
//! snapshots) and the relay that publishes stored events to Kafka exactly once.
//!
//! Arrives with the write-side issue; for now this crate only fixes its place in the
//! dependency graph (domain ← roles ← binary).
