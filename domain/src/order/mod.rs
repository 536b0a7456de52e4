//! The Order aggregate (id: [`OrderId`](crate::OrderId)): lines and a state machine.
//!
//! ```text
//! Pending ──last line reserved──► AwaitingPayment ──Confirm──► Confirmed ──Cancel──► Cancelled
//! Pending ──Confirm (payment authorized first)──► Pending, paid ──last line reserved──► Confirmed
//! Pending or AwaitingPayment ──Reject──► Rejected
//!                            ──Cancel──► Cancelled
//!                            ──Expire (now ≥ deadline)──► Expired
//! ```
//!
//! Final states are Rejected, Cancelled and Expired. Reject, Expire and MarkLineReserved
//! arriving late for a final order change nothing (saga redelivery). Cancel and Confirm on a
//! final order are refused (`order_already_final`) so the caller learns the order is closed:
//! a payment authorized after its order ended is voided by the compensation that the final
//! event triggers, not by Confirm.

mod command;
mod decide;
mod event;
mod outcome;
mod place;
mod rejection;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregate;
use crate::values::{Currency, CustomerId, Money, Sku, ValidationError};

pub use command::{OrderCommand, OrderLine, RejectionReason};
pub use event::{
    OrderAwaitingPayment, OrderCancelled, OrderConfirmed, OrderEvent, OrderExpired,
    OrderLineReserved, OrderPaymentAuthorized, OrderPlaced, OrderRejected,
};
pub use outcome::SagaOutcome;
pub use rejection::OrderRejection;

/// The aggregate type name of orders.
pub const AGGREGATE_TYPE: &str = "Order";

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Placed, waiting for its lines' stock.
    Pending,
    /// Every line reserved, waiting for payment.
    AwaitingPayment,
    /// Paid; can still be cancelled.
    Confirmed,
    /// Rejected (final).
    Rejected,
    /// Cancelled (final).
    Cancelled,
    /// Expired (final).
    Expired,
}

impl OrderStatus {
    /// Every status, in the order an order can reach them.
    pub const ALL: [OrderStatus; 6] = [
        Self::Pending,
        Self::AwaitingPayment,
        Self::Confirmed,
        Self::Rejected,
        Self::Cancelled,
        Self::Expired,
    ];

    /// The status's name in read models and query filters, e.g. `"awaiting_payment"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::AwaitingPayment => "awaiting_payment",
            Self::Confirmed => "confirmed",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    /// The status named `name` (see [`OrderStatus::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// Whether nothing more can happen to the order.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Rejected | Self::Cancelled | Self::Expired)
    }

    /// Whether the order is still waiting for stock or payment.
    pub fn is_unfinished(self) -> bool {
        matches!(self, Self::Pending | Self::AwaitingPayment)
    }
}

/// The state of an Order; `Default` is an order not placed yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    placed: Option<PlacedOrder>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PlacedOrder {
    details: OrderPlaced,
    status: OrderStatus,
    reserved_skus: BTreeSet<Sku>,
    /// The payment was authorized (`OrderPaymentAuthorized`) before the last line was
    /// reserved. Snapshots taken before the field existed read it as `false`.
    #[serde(default)]
    payment_authorized: bool,
}

impl Order {
    /// The most lines an order may have. Each line becomes one stock reservation of the
    /// place-order saga, so the bound keeps one order from flooding the saga; with unit
    /// prices bounded by [`Money::MAX_AMOUNT_MINOR`] it also keeps the sum of the unit prices
    /// far from `i64::MAX`.
    pub const MAX_LINES: usize = 100;

    /// Checks the number of lines asked for against [`Order::MAX_LINES`], before the lines
    /// themselves are read. An order without lines is refused by `decide` (`order_has_no_lines`).
    pub fn check_line_count(count: usize) -> Result<(), ValidationError> {
        if count <= Self::MAX_LINES {
            return Ok(());
        }
        Err(ValidationError::new(
            "lines",
            format!("must be at most {} lines, got {count}", Self::MAX_LINES),
        ))
    }

    /// Where the order stands; `None` before it is placed.
    pub fn status(&self) -> Option<OrderStatus> {
        self.placed.as_ref().map(|p| p.status)
    }

    /// The ordering customer.
    pub fn customer_id(&self) -> Option<CustomerId> {
        self.placed.as_ref().map(|p| p.details.customer_id)
    }

    /// The order's currency.
    pub fn currency(&self) -> Option<&Currency> {
        self.placed.as_ref().map(|p| &p.details.currency)
    }

    /// The order's lines (empty before it is placed).
    pub fn lines(&self) -> &[OrderLine] {
        self.placed.as_ref().map_or(&[], |p| &p.details.lines)
    }

    /// The order total.
    pub fn total(&self) -> Option<&Money> {
        self.placed.as_ref().map(|p| &p.details.total)
    }

    /// When the order was placed.
    pub fn placed_at(&self) -> Option<DateTime<Utc>> {
        self.placed.as_ref().map(|p| p.details.placed_at)
    }

    /// When the order expires if still unfinished.
    pub fn deadline(&self) -> Option<DateTime<Utc>> {
        self.placed.as_ref().map(|p| p.details.deadline)
    }

    /// The SKUs of the lines whose stock is reserved.
    pub fn reserved_skus(&self) -> impl Iterator<Item = &Sku> {
        self.placed.iter().flat_map(|p| p.reserved_skus.iter())
    }
}

impl Aggregate for Order {
    const TYPE: &'static str = AGGREGATE_TYPE;
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Rejection = OrderRejection;

    fn decide(&self, command: &OrderCommand) -> Result<Vec<OrderEvent>, OrderRejection> {
        match command {
            OrderCommand::Place {
                customer_id,
                currency,
                lines,
                placed_at,
                deadline,
            } => place::decide(
                self.placed.as_ref().map(|p| &p.details),
                place::Placement {
                    customer_id: *customer_id,
                    currency,
                    lines,
                    placed_at: *placed_at,
                    deadline: *deadline,
                },
            ),
            OrderCommand::MarkLineReserved { sku } => self.placed()?.mark_line_reserved(sku),
            OrderCommand::Confirm => self.placed()?.confirm(),
            OrderCommand::Reject { reason } => self.placed()?.reject(reason),
            OrderCommand::Cancel { reason } => self.placed()?.cancel(reason),
            OrderCommand::Expire { now } => self.placed()?.expire(*now),
        }
    }

    fn apply(&mut self, event: &OrderEvent) {
        match (&mut self.placed, event) {
            (None, OrderEvent::OrderPlaced(details)) => {
                self.placed = Some(PlacedOrder::new(details.clone()));
            }
            (Some(placed), _) => placed.apply(event),
            // Nothing but placement happens to an order that was never placed.
            (None, _) => {}
        }
    }
}

impl Order {
    fn placed(&self) -> Result<&PlacedOrder, OrderRejection> {
        self.placed.as_ref().ok_or(OrderRejection::NotFound)
    }
}

impl PlacedOrder {
    fn new(details: OrderPlaced) -> Self {
        Self {
            details,
            status: OrderStatus::Pending,
            reserved_skus: BTreeSet::new(),
            payment_authorized: false,
        }
    }

    fn apply(&mut self, event: &OrderEvent) {
        match event {
            // Placing twice is refused by `decide`; a stray repeat changes nothing.
            OrderEvent::OrderPlaced(_) => {}
            OrderEvent::OrderLineReserved(e) => {
                self.reserved_skus.insert(e.sku.clone());
            }
            OrderEvent::OrderAwaitingPayment(_) => self.status = OrderStatus::AwaitingPayment,
            OrderEvent::OrderPaymentAuthorized(_) => self.payment_authorized = true,
            OrderEvent::OrderConfirmed(_) => self.status = OrderStatus::Confirmed,
            OrderEvent::OrderRejected(_) => self.status = OrderStatus::Rejected,
            OrderEvent::OrderCancelled(_) => self.status = OrderStatus::Cancelled,
            OrderEvent::OrderExpired(_) => self.status = OrderStatus::Expired,
        }
    }
}
