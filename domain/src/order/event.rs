//! Order events. Each variant wraps a struct of the same name: its Avro record.
//!
//! The events that end an order carry its customer and SKUs, so that the participants
//! that compensate (release stock, void or refund the payment, release credit) need no
//! lookup.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::command::{OrderLine, RejectionReason};
use crate::aggregate::DomainEvent;
use crate::values::{Currency, CustomerId, Money, Sku};

/// Something that happened to an Order. Stored as `{"type": …, "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum OrderEvent {
    /// The order was placed; it awaits stock (Pending).
    OrderPlaced(OrderPlaced),
    /// Stock was reserved for one line.
    OrderLineReserved(OrderLineReserved),
    /// Every line is reserved; the order awaits payment.
    OrderAwaitingPayment(OrderAwaitingPayment),
    /// The payment was authorized while some line still awaited its stock; the order is
    /// confirmed once the last line is reserved.
    OrderPaymentAuthorized(OrderPaymentAuthorized),
    /// Every line is reserved and the payment authorized; the order is confirmed.
    OrderConfirmed(OrderConfirmed),
    /// The order was rejected (final).
    OrderRejected(OrderRejected),
    /// The order was cancelled (final).
    OrderCancelled(OrderCancelled),
    /// The order's deadline passed before it was confirmed (final).
    OrderExpired(OrderExpired),
}

impl OrderEvent {
    /// The version of these payload shapes.
    pub const EVENT_VERSION: &'static str = "1";

    /// Every event type of the Order aggregate.
    pub const EVENT_TYPES: [&'static str; 8] = [
        "OrderPlaced",
        "OrderLineReserved",
        "OrderAwaitingPayment",
        "OrderPaymentAuthorized",
        "OrderConfirmed",
        "OrderRejected",
        "OrderCancelled",
        "OrderExpired",
    ];

    /// The event type name, e.g. `"OrderPlaced"`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::OrderPlaced(_) => "OrderPlaced",
            Self::OrderLineReserved(_) => "OrderLineReserved",
            Self::OrderAwaitingPayment(_) => "OrderAwaitingPayment",
            Self::OrderPaymentAuthorized(_) => "OrderPaymentAuthorized",
            Self::OrderConfirmed(_) => "OrderConfirmed",
            Self::OrderRejected(_) => "OrderRejected",
            Self::OrderCancelled(_) => "OrderCancelled",
            Self::OrderExpired(_) => "OrderExpired",
        }
    }
}

impl DomainEvent for OrderEvent {
    fn event_type(&self) -> &'static str {
        OrderEvent::event_type(self)
    }

    fn event_version(&self) -> &'static str {
        Self::EVENT_VERSION
    }
}

/// Payload of [`OrderEvent::OrderPlaced`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    /// The ordering customer.
    pub customer_id: CustomerId,
    /// The order's currency.
    pub currency: Currency,
    /// The lines, one per SKU.
    pub lines: Vec<OrderLine>,
    /// The sum of the line totals.
    pub total: Money,
    /// When the order was placed (RFC 3339).
    pub placed_at: DateTime<Utc>,
    /// When the order expires if still unfinished (RFC 3339).
    pub deadline: DateTime<Utc>,
}

/// Payload of [`OrderEvent::OrderLineReserved`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLineReserved {
    /// The SKU of the reserved line.
    pub sku: Sku,
}

/// Payload of [`OrderEvent::OrderAwaitingPayment`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAwaitingPayment {
    /// The customer to charge.
    pub customer_id: CustomerId,
    /// The amount to charge: the order total.
    pub amount: Money,
}

/// Payload of [`OrderEvent::OrderPaymentAuthorized`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPaymentAuthorized {
    /// The amount authorized: the order total.
    pub amount: Money,
}

/// Payload of [`OrderEvent::OrderConfirmed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    /// The ordering customer.
    pub customer_id: CustomerId,
    /// The order total.
    pub total: Money,
}

/// Payload of [`OrderEvent::OrderRejected`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRejected {
    /// The ordering customer.
    pub customer_id: CustomerId,
    /// Why the order was rejected.
    pub reason: RejectionReason,
    /// Every SKU of the order, whose stock reservations are to be released.
    pub skus: Vec<Sku>,
}

/// Payload of [`OrderEvent::OrderCancelled`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// The ordering customer.
    pub customer_id: CustomerId,
    /// Why, for humans.
    pub reason: String,
    /// Whether the order had been confirmed: its payment is refunded rather than voided.
    pub was_confirmed: bool,
    /// Every SKU of the order, whose stock reservations are to be released.
    pub skus: Vec<Sku>,
}

/// Payload of [`OrderEvent::OrderExpired`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderExpired {
    /// The ordering customer.
    pub customer_id: CustomerId,
    /// The deadline that passed (RFC 3339).
    pub deadline: DateTime<Utc>,
    /// When the expiry was decided (RFC 3339).
    pub expired_at: DateTime<Utc>,
    /// Every SKU of the order, whose stock reservations are to be released.
    pub skus: Vec<Sku>,
}
