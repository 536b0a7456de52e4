//! The Kafka topic of each aggregate type: `<prefix><aggregate>.events`, and its dead-letter
//! topic `<prefix><aggregate>.events.dlq` (DESIGN.md §1, §6).
//!
//! Names are a type, not strings scattered through the code: [`EventStream`] lists the
//! aggregate types whose events are published, [`Topics`] turns them into the configured
//! names (`kafka.topic_prefix`, empty by default; tests use a unique prefix).

use std::fmt;

use crate::settings::KafkaSettings;

/// An aggregate type whose events are published to a topic of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventStream {
    /// `Customer` events → `customers.events`.
    Customer,
    /// `Order` events → `orders.events`.
    Order,
    /// `InventoryItem` events → `inventory.events`.
    InventoryItem,
    /// `Payment` events → `payments.events`.
    Payment,
}

impl EventStream {
    /// Every stream.
    pub const ALL: [EventStream; 4] = [
        Self::Customer,
        Self::Order,
        Self::InventoryItem,
        Self::Payment,
    ];

    /// The aggregate type name stored with the events, e.g. `"InventoryItem"`.
    pub fn aggregate_type(self) -> &'static str {
        match self {
            Self::Customer => "Customer",
            Self::Order => "Order",
            Self::InventoryItem => "InventoryItem",
            Self::Payment => "Payment",
        }
    }

    /// The stream of an aggregate type name, e.g. `"Order"`.
    pub fn from_aggregate_type(aggregate_type: &str) -> Result<Self, UnknownAggregateType> {
        Self::ALL
            .into_iter()
            .find(|stream| stream.aggregate_type() == aggregate_type)
            .ok_or_else(|| UnknownAggregateType(aggregate_type.to_owned()))
    }

    /// The topic name without prefix, e.g. `"orders.events"`.
    pub fn base_topic(self) -> &'static str {
        match self {
            Self::Customer => "customers.events",
            Self::Order => "orders.events",
            Self::InventoryItem => "inventory.events",
            Self::Payment => "payments.events",
        }
    }

    /// The folder of `schemas/` holding this stream's event schemas, which is also the last
    /// part of their Avro namespace (`causeway.<folder>`), e.g. `"inventory"`.
    pub fn schema_folder(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Order => "order",
            Self::InventoryItem => "inventory",
            Self::Payment => "payment",
        }
    }

    /// The stream whose schemas live in `folder` of `schemas/`.
    pub fn from_schema_folder(folder: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|stream| stream.schema_folder() == folder)
    }
}

impl fmt::Display for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.aggregate_type())
    }
}

/// An aggregate type that has no topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no topic for aggregate type {0:?}")]
pub struct UnknownAggregateType(pub String);

/// The configured topic names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// The topic names under `settings.topic_prefix`.
    pub fn new(settings: &KafkaSettings) -> Self {
        Self::with_prefix(settings.topic_prefix.clone())
    }

    /// The topic names under `prefix`, prepended verbatim (`"staging."` gives
    /// `staging.orders.events`).
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix prepended to every name.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The events topic of `stream`, e.g. `orders.events`.
    pub fn events(&self, stream: EventStream) -> String {
        format!("{}{}", self.prefix, stream.base_topic())
    }

    /// The dead-letter topic of `stream`, e.g. `orders.events.dlq`.
    pub fn dlq(&self, stream: EventStream) -> String {
        dlq_of(&self.events(stream))
    }

    /// The events topic of an aggregate type name, e.g. `"Order"` → `orders.events`.
    pub fn events_topic(&self, aggregate_type: &str) -> Result<String, UnknownAggregateType> {
        EventStream::from_aggregate_type(aggregate_type).map(|stream| self.events(stream))
    }

    /// The dead-letter topic of an aggregate type name, e.g. `"Order"` → `orders.events.dlq`.
    pub fn dlq_topic(&self, aggregate_type: &str) -> Result<String, UnknownAggregateType> {
        EventStream::from_aggregate_type(aggregate_type).map(|stream| self.dlq(stream))
    }

    /// Every events topic, in [`EventStream::ALL`] order.
    pub fn all_events(&self) -> Vec<String> {
        EventStream::ALL.map(|stream| self.events(stream)).to_vec()
    }
}

/// The dead-letter topic of any topic: `<topic>.dlq`.
pub fn dlq_of(topic: &str) -> String {
    format!("{topic}.dlq")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn each_aggregate_type_has_its_own_events_topic() {
        let topics = Topics::default();
        assert_eq!(topics.events_topic("Customer").unwrap(), "customers.events");
        assert_eq!(topics.events_topic("Order").unwrap(), "orders.events");
        assert_eq!(
            topics.events_topic("InventoryItem").unwrap(),
            "inventory.events"
        );
        assert_eq!(topics.events_topic("Payment").unwrap(), "payments.events");
    }

    #[test]
    fn the_dead_letter_topic_is_the_events_topic_with_a_dlq_suffix() {
        let topics = Topics::with_prefix("t1.");
        assert_eq!(topics.dlq(EventStream::Order), "t1.orders.events.dlq");
        assert_eq!(
            topics.dlq_topic("Payment").unwrap(),
            "t1.payments.events.dlq"
        );
    }

    #[test]
    fn the_prefix_is_prepended_to_every_topic() {
        let topics = Topics::with_prefix("staging.");
        assert!(
            topics
                .all_events()
                .iter()
                .all(|t| t.starts_with("staging."))
        );
        assert_eq!(topics.all_events().len(), EventStream::ALL.len());
    }

    #[test]
    fn an_unknown_aggregate_type_has_no_topic() {
        let error = Topics::default().events_topic("Invoice").unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"no topic for aggregate type "Invoice""#
        );
    }

    #[test]
    fn every_stream_round_trips_through_its_aggregate_type_and_schema_folder() {
        for stream in EventStream::ALL {
            assert_eq!(
                EventStream::from_aggregate_type(stream.aggregate_type()),
                Ok(stream)
            );
            assert_eq!(
                EventStream::from_schema_folder(stream.schema_folder()),
                Some(stream)
            );
        }
    }
}
