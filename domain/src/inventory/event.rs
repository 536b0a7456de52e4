//! InventoryItem events. Each variant wraps a struct of the same name: its Avro record.

use serde::{Deserialize, Serialize};

use crate::aggregate::DomainEvent;
use crate::values::{OrderId, Quantity};

/// Something that happened to an InventoryItem. Stored as `{"type": …, "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum InventoryEvent {
    /// Units arrived; the first restock creates the item.
    StockRestocked(StockRestocked),
    /// Units were reserved for an order.
    StockReserved(StockReserved),
    /// Units could not be reserved for an order; the order's stock decision is final.
    StockReservationRejected(StockReservationRejected),
    /// An order's reservation was released; the order's stock decision is final.
    StockReleased(StockReleased),
}

impl InventoryEvent {
    /// The version of these payload shapes.
    pub const EVENT_VERSION: &'static str = "1";

    /// Every event type of the InventoryItem aggregate.
    pub const EVENT_TYPES: [&'static str; 4] = [
        "StockRestocked",
        "StockReserved",
        "StockReservationRejected",
        "StockReleased",
    ];

    /// The event type name, e.g. `"StockReserved"`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::StockRestocked(_) => "StockRestocked",
            Self::StockReserved(_) => "StockReserved",
            Self::StockReservationRejected(_) => "StockReservationRejected",
            Self::StockReleased(_) => "StockReleased",
        }
    }
}

impl DomainEvent for InventoryEvent {
    fn event_type(&self) -> &'static str {
        InventoryEvent::event_type(self)
    }

    fn event_version(&self) -> &'static str {
        Self::EVENT_VERSION
    }
}

/// Payload of [`InventoryEvent::StockRestocked`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRestocked {
    /// The units added to the stock on hand.
    pub quantity: Quantity,
}

/// Payload of [`InventoryEvent::StockReserved`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReserved {
    /// The order the units are reserved for.
    pub order_id: OrderId,
    /// The units reserved.
    pub quantity: Quantity,
}

/// Payload of [`InventoryEvent::StockReservationRejected`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReservationRejected {
    /// The order whose reservation was rejected.
    pub order_id: OrderId,
    /// The units asked for.
    pub requested: Quantity,
    /// The units that were available.
    pub available: u32,
}

/// Payload of [`InventoryEvent::StockReleased`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReleased {
    /// The order whose reservation was released.
    pub order_id: OrderId,
    /// The units made available again.
    pub quantity: Quantity,
}
