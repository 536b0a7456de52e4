//! What a read model implements to be run by a [`crate::ProjectionWorker`].

use std::future::Future;

use causeway_infra::topics::EventStream;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sqlx::PgConnection;

/// One event taken from Kafka, with its aggregate id (the key) and sequence (header).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<E> {
    /// The aggregate id.
    pub aggregate_id: String,
    /// The event's sequence within its aggregate: the version it brings the aggregate to.
    pub sequence: i64,
    /// The typed event.
    pub event: E,
}

/// A read model built from events.
pub trait Projection: Send + Sync + 'static {
    /// The typed event this projection applies.
    type Event: Send + Sync;

    /// A stable name: the consumer group and the key of its stored offsets.
    fn name(&self) -> &'static str;

    /// The streams whose topics it consumes.
    fn streams(&self) -> Vec<EventStream>;

    /// Turns a decoded event (`event_type` and the JSON of its `data`) into the typed event.
    /// An error means the message is poison: it goes to the dead-letter topic.
    fn parse(&self, event_type: &str, data: Value) -> Result<Self::Event, String>;

    /// Applies one event inside the batch's transaction. Must change nothing when the row
    /// has already applied `envelope.sequence`.
    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        envelope: &'a Envelope<Self::Event>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;
}

/// Parses the domain's stored JSON envelope `{"type": …, "data": …}` into its event enum.
pub fn parse_domain_event<E: DeserializeOwned>(event_type: &str, data: Value) -> Result<E, String> {
    serde_json::from_value(json!({ "type": event_type, "data": data })).map_err(|e| e.to_string())
}
