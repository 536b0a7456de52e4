//! The query API over the read models (axum), with consistency tokens and keyset pagination.
//!
//! Arrives with the read-side issue.
