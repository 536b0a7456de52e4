//! Why an Order refuses a command.

use chrono::{DateTime, Utc};

use super::OrderStatus;
use crate::aggregate::DomainRejection;
use crate::values::{Currency, Sku};

/// Why an Order refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderRejection {
    /// The order has not been placed.
    #[error("order not found")]
    NotFound,
    /// The order was already placed, with other content.
    #[error("order already placed with different content")]
    AlreadyPlaced,
    /// The order has no lines.
    #[error("an order needs at least one line")]
    NoLines,
    /// The order has more lines than [`Order::MAX_LINES`](super::Order::MAX_LINES).
    #[error("an order has at most {max} lines, this one has {count}")]
    TooManyLines {
        /// How many lines the order has.
        count: usize,
        /// The most lines an order may have.
        max: usize,
    },
    /// Two lines have the same SKU.
    #[error("SKU {sku} appears on more than one line")]
    DuplicateSku {
        /// The repeated SKU.
        sku: Sku,
    },
    /// A line's price is not in the order's currency.
    #[error("the order is in {expected}, but a line is priced in {found}")]
    CurrencyMismatch {
        /// The order's currency.
        expected: Currency,
        /// The line's currency.
        found: Currency,
    },
    /// A line total or the order total overflows, or the total is above
    /// [`Money::MAX_AMOUNT_MINOR`](crate::Money::MAX_AMOUNT_MINOR).
    #[error("the order total is too large")]
    AmountOverflow,
    /// The deadline is not after the placement time.
    #[error("the deadline {deadline} is not after the placement time {placed_at}")]
    DeadlineNotAfterPlacement {
        /// When the order was placed.
        placed_at: DateTime<Utc>,
        /// The deadline asked for.
        deadline: DateTime<Utc>,
    },
    /// The order has no line with this SKU.
    #[error("the order has no line for SKU {sku}")]
    LineNotFound {
        /// The SKU asked about.
        sku: Sku,
    },
    /// The order is already rejected, cancelled or expired.
    #[error("the order is already final ({status:?})")]
    AlreadyFinal {
        /// Where the order stands.
        status: OrderStatus,
    },
    /// A confirmed order can be cancelled, but not rejected.
    #[error("the order is already confirmed")]
    AlreadyConfirmed,
    /// The order cannot expire before its deadline.
    #[error("deadline not reached: the order expires at {deadline}")]
    DeadlineNotReached {
        /// The order's deadline.
        deadline: DateTime<Utc>,
    },
}

impl DomainRejection for OrderRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "order_not_found",
            Self::AlreadyPlaced => "order_already_placed",
            Self::NoLines => "order_has_no_lines",
            Self::TooManyLines { .. } => "too_many_lines",
            Self::DuplicateSku { .. } => "duplicate_sku",
            Self::CurrencyMismatch { .. } => "currency_mismatch",
            Self::AmountOverflow => "amount_overflow",
            Self::DeadlineNotAfterPlacement { .. } => "deadline_not_after_placement",
            Self::LineNotFound { .. } => "order_line_not_found",
            Self::AlreadyFinal { .. } => "order_already_final",
            Self::AlreadyConfirmed => "order_already_confirmed",
            Self::DeadlineNotReached { .. } => "deadline_not_reached",
        }
    }
}
