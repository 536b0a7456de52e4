//! The events participants react to: any of the four aggregates' events, with the aggregate
//! id they belong to.

use causeway_domain::{CustomerEvent, InventoryEvent, OrderEvent, PaymentEvent};
use causeway_infra::topics::EventStream;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// One domain event of any aggregate type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaEvent {
    /// From `customers.events`.
    Customer(CustomerEvent),
    /// From `orders.events`.
    Order(OrderEvent),
    /// From `inventory.events`.
    Inventory(InventoryEvent),
    /// From `payments.events`.
    Payment(PaymentEvent),
}

impl SagaEvent {
    /// Parses the `data` of a decoded event of `stream` into its typed event. An error means
    /// the message can never be handled: it is poison.
    pub fn parse(stream: EventStream, event_type: &str, data: Value) -> Result<Self, String> {
        match stream {
            EventStream::Customer => parse_as(event_type, data).map(Self::Customer),
            EventStream::Order => parse_as(event_type, data).map(Self::Order),
            EventStream::InventoryItem => parse_as(event_type, data).map(Self::Inventory),
            EventStream::Payment => parse_as(event_type, data).map(Self::Payment),
        }
    }

    /// The event type name, e.g. `"OrderPlaced"`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Customer(e) => e.event_type(),
            Self::Order(e) => e.event_type(),
            Self::Inventory(e) => e.event_type(),
            Self::Payment(e) => e.event_type(),
        }
    }
}

fn parse_as<E: DeserializeOwned>(event_type: &str, data: Value) -> Result<E, String> {
    serde_json::from_value(json!({ "type": event_type, "data": data }))
        .map_err(|e| format!("{event_type}: {e}"))
}
