//! [`ShopEvent`]: an event of any of the shop's aggregates, with the one parser that turns a
//! stored or decoded event (`event_type` and the JSON of its `data`) into it. Projections,
//! saga participants and rebuilds all parse through it.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::stream::EventStream;
use crate::{CustomerEvent, InventoryEvent, OrderEvent, PaymentEvent};

/// An event of one of the shop's aggregates. Event type names are unique across aggregates,
/// so the type alone says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShopEvent {
    /// A Customer event, from `customers.events`.
    Customer(CustomerEvent),
    /// An Order event, from `orders.events`.
    Order(OrderEvent),
    /// An InventoryItem event, from `inventory.events`.
    Inventory(InventoryEvent),
    /// A Payment event, from `payments.events`.
    Payment(PaymentEvent),
}

impl ShopEvent {
    /// Parses the stored `data` of an event of type `event_type`, of any aggregate. An error
    /// means the event can never be handled (poison), and says why.
    pub fn parse(event_type: &str, data: Value) -> Result<Self, String> {
        match Self::stream_of(event_type) {
            Some(EventStream::Customer) => parse_event(event_type, data).map(Self::Customer),
            Some(EventStream::Order) => parse_event(event_type, data).map(Self::Order),
            Some(EventStream::InventoryItem) => parse_event(event_type, data).map(Self::Inventory),
            Some(EventStream::Payment) => parse_event(event_type, data).map(Self::Payment),
            None => Err(format!("unknown event type {event_type:?}")),
        }
    }

    /// The stream whose aggregate has the event type `event_type`, if any.
    pub fn stream_of(event_type: &str) -> Option<EventStream> {
        EventStream::ALL
            .into_iter()
            .find(|stream| stream.event_types().contains(&event_type))
    }

    /// The event type name, e.g. `"StockReserved"`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Customer(e) => e.event_type(),
            Self::Order(e) => e.event_type(),
            Self::Inventory(e) => e.event_type(),
            Self::Payment(e) => e.event_type(),
        }
    }

    /// The stream (aggregate) the event belongs to.
    pub fn stream(&self) -> EventStream {
        match self {
            Self::Customer(_) => EventStream::Customer,
            Self::Order(_) => EventStream::Order,
            Self::Inventory(_) => EventStream::InventoryItem,
            Self::Payment(_) => EventStream::Payment,
        }
    }

    /// The aggregate type name, e.g. `"InventoryItem"`.
    pub fn aggregate_type(&self) -> &'static str {
        self.stream().aggregate_type()
    }
}

/// Parses the domain's stored JSON envelope `{"type": …, "data": …}` into one aggregate's
/// event enum `E`; the error is serde's, for an event type or payload `E` does not know.
pub fn parse_event<E: DeserializeOwned>(event_type: &str, data: Value) -> Result<E, String> {
    serde_json::from_value(json!({ "type": event_type, "data": data })).map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::customer::CreditLimitChanged;
    use crate::inventory::StockRestocked;
    use crate::order::OrderLineReserved;
    use crate::payment::PaymentVoided;
    use crate::{Currency, Money, Quantity, Sku};

    /// One event of every variant, with the stream it must belong to, in
    /// [`EventStream::ALL`] order.
    pub(crate) fn one_event_per_stream() -> Vec<(EventStream, ShopEvent)> {
        let eur = Currency::parse("EUR").unwrap();
        vec![
            (
                EventStream::Customer,
                ShopEvent::Customer(CustomerEvent::CreditLimitChanged(CreditLimitChanged {
                    limit: Money::parse(500, eur).unwrap(),
                })),
            ),
            (
                EventStream::Order,
                ShopEvent::Order(OrderEvent::OrderLineReserved(OrderLineReserved {
                    sku: Sku::parse("SKU-1").unwrap(),
                })),
            ),
            (
                EventStream::InventoryItem,
                ShopEvent::Inventory(InventoryEvent::StockRestocked(StockRestocked {
                    quantity: Quantity::parse(3).unwrap(),
                })),
            ),
            (
                EventStream::Payment,
                ShopEvent::Payment(PaymentEvent::PaymentVoided(PaymentVoided {
                    voided_authorization: None,
                })),
            ),
        ]
    }

    #[test]
    fn an_event_parses_into_the_variant_of_its_aggregate() {
        let event = InventoryEvent::StockRestocked(StockRestocked {
            quantity: Quantity::parse(3).unwrap(),
        });
        let data = serde_json::to_value(&event).unwrap()["data"].clone();
        let parsed = ShopEvent::parse("StockRestocked", data).unwrap();
        assert_eq!(parsed, ShopEvent::Inventory(event));
        assert_eq!(parsed.aggregate_type(), "InventoryItem");
        assert_eq!(parsed.event_type(), "StockRestocked");
    }

    #[test]
    fn an_unknown_event_type_is_refused_by_name() {
        let error = ShopEvent::parse("Nope", serde_json::json!({})).unwrap_err();
        assert!(error.contains("Nope"), "{error}");
    }
}
