//! Projection workers: Kafka consumer groups that build the Postgres read models, storing
//! their offsets in the same transaction as the rows they write.
//!
//! Arrives with the read-side issue.
