//! The shape every aggregate shares, so that the write side can adapt all of them to its
//! event-sourcing framework with one generic wrapper, and tests can drive any of them.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A pure, synchronous aggregate: `decide` holds every business rule, `apply` none.
///
/// `Default` is the state of an aggregate that has not been created yet.
pub trait Aggregate:
    Default + Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync
{
    /// The aggregate type name stored with its events, e.g. `"Order"`.
    const TYPE: &'static str;

    /// What can be asked of the aggregate.
    type Command: Clone + fmt::Debug + Send + Sync;

    /// What can happen to the aggregate.
    type Event: DomainEvent
        + Clone
        + fmt::Debug
        + PartialEq
        + Serialize
        + DeserializeOwned
        + Send
        + Sync;

    /// Why a command can be refused.
    type Rejection: DomainRejection;

    /// Decides what `command` does to the current state: the events to record (none when
    /// its effect already happened), or a rejection.
    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Rejection>;

    /// Records that `event` happened. Holds no rules and never panics, whatever the event.
    fn apply(&mut self, event: &Self::Event);

    /// The state reached by applying `events`, in order, to a not-yet-created aggregate.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }
}

/// Metadata every event carries besides its payload.
pub trait DomainEvent {
    /// The event type name, e.g. `"OrderPlaced"`: also the name of its Avro record.
    fn event_type(&self) -> &'static str;

    /// The version of the event enum's payload shapes.
    fn event_version(&self) -> &'static str;
}

/// A business rejection with a stable, machine-readable code.
pub trait DomainRejection: std::error::Error + Clone + PartialEq + Send + Sync + 'static {
    /// A snake_case code that never changes once published, e.g. `"order_already_final"`.
    fn code(&self) -> &'static str;
}
