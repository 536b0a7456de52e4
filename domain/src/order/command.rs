//! Order commands and the values they carry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::values::{Currency, CustomerId, Money, MoneyError, Quantity, Sku, ValidationError};

/// A command to an Order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    /// Places the order; creates the aggregate. Placing it again with the same customer,
    /// currency and lines changes nothing (the timestamps may differ on a retry).
    Place {
        /// The ordering customer.
        customer_id: CustomerId,
        /// The order's currency; every line's unit price must be in it.
        currency: Currency,
        /// What is ordered: 1 to [`Order::MAX_LINES`](super::Order::MAX_LINES) lines, at
        /// most one per SKU.
        lines: Vec<OrderLine>,
        /// When the order was placed.
        placed_at: DateTime<Utc>,
        /// When a still unfinished order expires; after `placed_at`.
        deadline: DateTime<Utc>,
    },
    /// Records that stock was reserved for one line (the saga saw `StockReserved`).
    MarkLineReserved {
        /// The SKU of the line.
        sku: Sku,
    },
    /// Confirms an order awaiting payment (the saga saw `PaymentAuthorized`).
    Confirm,
    /// Rejects an unfinished order (out of stock, or payment declined).
    Reject {
        /// Why.
        reason: RejectionReason,
    },
    /// Cancels an order that is not final yet, confirmed or not.
    Cancel {
        /// Why, for humans; the command API takes it through
        /// [`CancelReason`](crate::CancelReason).
        reason: String,
    },
    /// Expires an unfinished order whose deadline has passed.
    Expire {
        /// The current time, as the caller's clock reads it.
        now: DateTime<Utc>,
    },
}

/// One line of an order: a SKU, how many, and at what unit price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// What is ordered.
    pub sku: Sku,
    /// How many units.
    pub quantity: Quantity,
    /// The price of one unit.
    pub unit_price: Money,
}

impl OrderLine {
    /// `unit_price × quantity`, failing on overflow.
    pub fn line_total(&self) -> Result<Money, MoneyError> {
        self.unit_price.checked_mul(self.quantity)
    }
}

/// Why an order was rejected.
///
/// Serialised as one flat record `{kind, sku, payment_reason}` (nullable fields, an enum
/// symbol for `kind`) so that it maps onto a single Avro record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "RejectionReasonRecord", try_from = "RejectionReasonRecord")]
pub enum RejectionReason {
    /// A line could not be reserved.
    OutOfStock {
        /// The SKU that was out of stock.
        sku: Sku,
    },
    /// The payment was declined.
    PaymentDeclined {
        /// Why the payment was declined, for humans.
        reason: String,
    },
}

/// The kind of a [`RejectionReason`], as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum RejectionKind {
    OutOfStock,
    PaymentDeclined,
}

/// The stored shape of a [`RejectionReason`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RejectionReasonRecord {
    kind: RejectionKind,
    sku: Option<Sku>,
    payment_reason: Option<String>,
}

impl From<RejectionReason> for RejectionReasonRecord {
    fn from(reason: RejectionReason) -> Self {
        match reason {
            RejectionReason::OutOfStock { sku } => Self {
                kind: RejectionKind::OutOfStock,
                sku: Some(sku),
                payment_reason: None,
            },
            RejectionReason::PaymentDeclined { reason } => Self {
                kind: RejectionKind::PaymentDeclined,
                sku: None,
                payment_reason: Some(reason),
            },
        }
    }
}

impl TryFrom<RejectionReasonRecord> for RejectionReason {
    type Error = ValidationError;

    fn try_from(record: RejectionReasonRecord) -> Result<Self, Self::Error> {
        match (record.kind, record.sku, record.payment_reason) {
            (RejectionKind::OutOfStock, Some(sku), _) => Ok(Self::OutOfStock { sku }),
            (RejectionKind::PaymentDeclined, _, Some(reason)) => {
                Ok(Self::PaymentDeclined { reason })
            }
            (RejectionKind::OutOfStock, None, _) => Err(ValidationError::new(
                "sku",
                "an OutOfStock rejection names its SKU",
            )),
            (RejectionKind::PaymentDeclined, _, None) => Err(ValidationError::new(
                "payment_reason",
                "a PaymentDeclined rejection says why",
            )),
        }
    }
}
