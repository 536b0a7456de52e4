//! What a read model implements to be run by a [`crate::ProjectionWorker`].

use std::future::Future;

pub use causeway_consumer::Envelope;
use causeway_domain::EventStream;
pub use causeway_infra::kafka::headers::{EventHeaders, trace_id};
use serde_json::Value;
use sqlx::PgConnection;

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
    /// has already applied `envelope.sequence`. The state projections keep it as the
    /// one-event reference their set-based [`Projection::apply_batch`] is tested against.
    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        envelope: &'a Envelope<Self::Event>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

    /// Applies a batch of events, in order, inside the batch's transaction: what applying
    /// them one by one with [`Projection::apply`] gives. The default does exactly that; every
    /// shop projection overrides it with a constant number of statements per batch (ADR 0009
    /// for the insert-only ones, ADR 0014 for those holding an aggregate's state).
    fn apply_batch<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        envelopes: &'a [Envelope<Self::Event>],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a {
        async move {
            for envelope in envelopes {
                self.apply(&mut *conn, envelope).await?;
            }
            Ok(())
        }
    }
}
