//! The event contracts of `schemas/` and the Avro codec that puts events on Kafka
//! (docs/architecture.md §1.3–1.4, ADR 0004).
//!
//! - [`SchemaCatalog`]: every `.avsc` of `schemas/`, embedded at build time and parsed once,
//!   looked up by event type (`"OrderPlaced"`) or full record name
//!   (`"causeway.order.OrderPlaced"`).
//! - [`EventCodec`]: an event's `data` JSON ⇄ Confluent-framed Avro (magic byte 0, 4-byte
//!   big-endian schema id, Avro binary), subjects named `<topic>-<full record name>`
//!   (TopicRecordNameStrategy). Decoding resolves the writer schema from the registry into the
//!   catalog's reader schema, so events written with any earlier version still read.
//! - [`RegistryAdmin`]: the registry calls the codec does not make: per-subject
//!   compatibility (the codec sets FULL_TRANSITIVE on each subject before its first write),
//!   registration with its version, and the versions a subject holds.
//! - [`named_types`]: the named types a schema defines, by full name.
//!
//! Schema governance (FULL compatibility, the catalog against the domain, the versions in
//! git and in the registry) is the `causeway schemas` CLI's and lives with it, in the
//! `causeway` binary's `schemas` module.
//!
//! The Avro value is the event's `data` only; the aggregate id travels as the Kafka key, the
//! event type and ids as headers.

mod admin;
mod catalog;
mod codec;
mod json;

pub use admin::{COMPATIBILITY_LEVEL, RegisteredVersion, RegistryAdmin};
pub use catalog::{EventSchema, SchemaCatalog, named_types};
pub use codec::{DecodedEvent, EventCodec};

/// Everything that can go wrong while turning an event into Avro bytes or back.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CodecError {
    /// No schema of the catalog has this event type as its record name.
    #[error("unknown event type {event_type:?}: no schema in schemas/ is named so")]
    UnknownEventType {
        /// The event type asked for.
        event_type: String,
    },
    /// The writer schema of a message is a record this binary has no schema for.
    #[error(
        "schema id {schema_id} is the record {full_name:?}, which is not an event schema of this binary"
    )]
    UnknownRecord {
        /// The schema id of the message.
        schema_id: u32,
        /// The full name of the writer schema's record.
        full_name: String,
    },
    /// The bytes do not start with magic byte 0 and a 4-byte schema id.
    #[error("not Confluent-framed: {reason}")]
    NotConfluentFramed {
        /// What is wrong with the first bytes.
        reason: String,
    },
    /// The schema registry refused a call or could not be reached.
    #[error("schema registry error while {action}{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Registry {
        /// What was being done, e.g. `registering orders.events-causeway.order.OrderPlaced`.
        action: String,
        /// The HTTP status, when the registry answered.
        status: Option<u16>,
        /// The registry's or the client's message.
        message: String,
    },
    /// An event's data does not fit its schema, or a writer schema cannot be resolved into
    /// the reader schema.
    #[error("schema mismatch for {event_type}: {detail}")]
    SchemaMismatch {
        /// The event type (record name).
        event_type: String,
        /// Where and how they disagree.
        detail: String,
    },
    /// The Avro bytes after the framing cannot be read with their writer schema.
    #[error("undecodable payload written with {writer}: {detail}")]
    Undecodable {
        /// The writer schema: its id and full name, or its full name.
        writer: String,
        /// What went wrong.
        detail: String,
    },
    /// A schema file is not a valid event schema.
    #[error("invalid schema {path}: {detail}")]
    InvalidSchema {
        /// The file, relative to `schemas/`.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
}
