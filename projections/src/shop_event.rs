//! [`ShopEvent`]: an event of any of the four aggregates, for the projections that consume
//! several streams (notifications, the saga timeline).

use causeway_domain::{CustomerEvent, InventoryEvent, OrderEvent, PaymentEvent};

use crate::projection::parse_domain_event;

/// An event of one of the shop's aggregates. Event type names are unique across aggregates,
/// so the type alone says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShopEvent {
    /// An Order event.
    Order(OrderEvent),
    /// An InventoryItem event.
    Inventory(InventoryEvent),
    /// A Customer event.
    Customer(CustomerEvent),
    /// A Payment event.
    Payment(PaymentEvent),
}

impl ShopEvent {
    /// Parses the stored `data` of an event of type `event_type`, of any aggregate.
    pub fn parse(event_type: &str, data: serde_json::Value) -> Result<Self, String> {
        if OrderEvent::EVENT_TYPES.contains(&event_type) {
            parse_domain_event(event_type, data).map(Self::Order)
        } else if InventoryEvent::EVENT_TYPES.contains(&event_type) {
            parse_domain_event(event_type, data).map(Self::Inventory)
        } else if CustomerEvent::EVENT_TYPES.contains(&event_type) {
            parse_domain_event(event_type, data).map(Self::Customer)
        } else if PaymentEvent::EVENT_TYPES.contains(&event_type) {
            parse_domain_event(event_type, data).map(Self::Payment)
        } else {
            Err(format!("unknown event type {event_type:?}"))
        }
    }

    /// The event type name, e.g. `"StockReserved"`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Order(e) => e.event_type(),
            Self::Inventory(e) => e.event_type(),
            Self::Customer(e) => e.event_type(),
            Self::Payment(e) => e.event_type(),
        }
    }

    /// The aggregate type name, e.g. `"InventoryItem"`.
    pub fn aggregate_type(&self) -> &'static str {
        match self {
            Self::Order(_) => causeway_domain::order::AGGREGATE_TYPE,
            Self::Inventory(_) => causeway_domain::inventory::AGGREGATE_TYPE,
            Self::Customer(_) => causeway_domain::customer::AGGREGATE_TYPE,
            Self::Payment(_) => causeway_domain::payment::AGGREGATE_TYPE,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use causeway_domain::inventory::StockRestocked;
    use causeway_domain::values::Quantity;

    use super::*;

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
