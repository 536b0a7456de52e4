//! The event streams: each aggregate type whose events are published to a Kafka topic of its
//! own, with the names that follow from it (aggregate type, base topic, schema folder).
//!
//! `causeway_infra::topics::Topics` turns a base topic into the configured topic names
//! (`<prefix><base>` and its dead-letter topic `<prefix><base>.dlq`); the unit tests below
//! tie every stream to its aggregate's `AGGREGATE_TYPE` and event types.

use std::fmt;

use crate::{customer, inventory, order, payment};

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
            Self::Customer => customer::AGGREGATE_TYPE,
            Self::Order => order::AGGREGATE_TYPE,
            Self::InventoryItem => inventory::AGGREGATE_TYPE,
            Self::Payment => payment::AGGREGATE_TYPE,
        }
    }

    /// Every event type of the stream's aggregate, e.g. `"OrderPlaced"`.
    pub fn event_types(self) -> &'static [&'static str] {
        match self {
            Self::Customer => &crate::CustomerEvent::EVENT_TYPES,
            Self::Order => &crate::OrderEvent::EVENT_TYPES,
            Self::InventoryItem => &crate::InventoryEvent::EVENT_TYPES,
            Self::Payment => &crate::PaymentEvent::EVENT_TYPES,
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

    /// The stream whose base topic is `base`, e.g. `"orders.events"`.
    pub fn from_base_topic(base: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|stream| stream.base_topic() == base)
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

/// An aggregate type that has no event stream (so no topic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no topic for aggregate type {0:?}")]
pub struct UnknownAggregateType(pub String);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{Aggregate, Customer, InventoryItem, Order, Payment, ShopEvent};

    #[test]
    fn every_stream_carries_its_aggregates_type() {
        assert_eq!(EventStream::Customer.aggregate_type(), Customer::TYPE);
        assert_eq!(EventStream::Order.aggregate_type(), Order::TYPE);
        assert_eq!(
            EventStream::InventoryItem.aggregate_type(),
            InventoryItem::TYPE
        );
        assert_eq!(EventStream::Payment.aggregate_type(), Payment::TYPE);
    }

    #[test]
    fn every_event_type_of_every_aggregate_parses_into_a_shop_event_of_its_stream() {
        for stream in EventStream::ALL {
            for event_type in stream.event_types() {
                assert_eq!(
                    ShopEvent::stream_of(event_type),
                    Some(stream),
                    "{event_type}"
                );
                // An empty payload: parsed, or refused for its fields by an enum that knows
                // the event type.
                match ShopEvent::parse(event_type, serde_json::json!({})) {
                    Ok(event) => assert_eq!(event.stream(), stream, "{event_type}"),
                    Err(error) => assert!(
                        !error.contains("unknown variant") && !error.contains("unknown event"),
                        "{event_type}: {error}"
                    ),
                }
            }
        }
        let samples = crate::shop::tests::one_event_per_stream();
        for (stream, event) in samples {
            let stored = match &event {
                ShopEvent::Customer(e) => serde_json::to_value(e),
                ShopEvent::Order(e) => serde_json::to_value(e),
                ShopEvent::Inventory(e) => serde_json::to_value(e),
                ShopEvent::Payment(e) => serde_json::to_value(e),
            }
            .unwrap();
            let parsed =
                ShopEvent::parse(stored["type"].as_str().unwrap(), stored["data"].clone()).unwrap();
            assert_eq!(parsed.stream(), stream);
            assert_eq!(parsed, event);
        }
    }

    #[test]
    fn every_shop_event_variant_has_a_stream() {
        let streams: Vec<EventStream> = crate::shop::tests::one_event_per_stream()
            .into_iter()
            .map(|(_, event)| event.stream())
            .collect();
        assert_eq!(streams, EventStream::ALL.to_vec());
    }

    #[test]
    fn every_stream_round_trips_through_its_names() {
        for stream in EventStream::ALL {
            assert_eq!(
                EventStream::from_aggregate_type(stream.aggregate_type()),
                Ok(stream)
            );
            assert_eq!(
                EventStream::from_schema_folder(stream.schema_folder()),
                Some(stream)
            );
            assert_eq!(
                EventStream::from_base_topic(stream.base_topic()),
                Some(stream)
            );
        }
        assert_eq!(
            EventStream::from_aggregate_type("Invoice")
                .unwrap_err()
                .to_string(),
            r#"no topic for aggregate type "Invoice""#
        );
    }
}
