//! The cqrs-es adapter: [`Aggregated`] makes any pure [`causeway_domain::Aggregate`] a
//! [`cqrs_es::Aggregate`], and [`AdaptedEvent`] makes its events [`cqrs_es::DomainEvent`]s.
//!
//! # Why `handle` never mutates `self`
//!
//! cqrs-es 0.5.0's `EventSink::write` applies each event to the aggregate it is given, and
//! `PersistedEventStore::commit` applies the same events again to the loaded aggregate
//! before serialising the snapshot. An aggregate that writes against `self` therefore
//! stores a snapshot that counts every event twice. [`Aggregated::handle`] writes against a
//! scratch clone, so `self` stays the loaded state and `commit` applies each event once.

use causeway_domain::{Aggregate, DomainEvent};
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

/// A pure aggregate seen through cqrs-es. Serialises exactly as the wrapped state, so a
/// snapshot payload is the domain state's own JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Aggregated<A> {
    state: A,
}

impl<A: Aggregate> Aggregated<A> {
    /// Wraps a state.
    pub fn new(state: A) -> Self {
        Self { state }
    }

    /// The domain state.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Unwraps the domain state.
    pub fn into_state(self) -> A {
        self.state
    }
}

/// A domain event seen through cqrs-es; serialises exactly as the wrapped event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AdaptedEvent<E>(pub E);

impl<E> cqrs_es::DomainEvent for AdaptedEvent<E>
where
    E: DomainEvent
        + Clone
        + std::fmt::Debug
        + PartialEq
        + Serialize
        + serde::de::DeserializeOwned
        + Send
        + Sync,
{
    fn event_type(&self) -> String {
        self.0.event_type().to_owned()
    }

    fn event_version(&self) -> String {
        self.0.event_version().to_owned()
    }
}

impl<A: Aggregate> cqrs_es::Aggregate for Aggregated<A> {
    const TYPE: &'static str = A::TYPE;
    type Command = A::Command;
    type Event = AdaptedEvent<A::Event>;
    type Error = A::Rejection;
    /// IO lookups happen before `decide` and travel in the command, so there are none here.
    type Services = ();

    /// Decides with the pure `decide` and hands the events to the sink, written against a
    /// scratch clone: `self` stays the state the command was decided on.
    async fn handle(
        &mut self,
        command: A::Command,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), A::Rejection> {
        let events = self.state.decide(&command)?;
        let mut scratch = self.clone();
        for event in events {
            sink.write(AdaptedEvent(event), &mut scratch).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: AdaptedEvent<A::Event>) {
        self.state.apply(&event.0);
    }
}

#[cfg(test)]
mod tests;
