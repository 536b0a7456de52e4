//! Customer events. Each variant wraps a struct of the same name: its Avro record.

use serde::{Deserialize, Serialize};

use crate::aggregate::DomainEvent;
use crate::values::{CustomerName, Email, Money, OrderId};

/// Something that happened to a Customer. Stored as `{"type": "<event type>", "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CustomerEvent {
    /// The customer was registered.
    CustomerRegistered(CustomerRegistered),
    /// The customer's credit limit was changed.
    CreditLimitChanged(CreditLimitChanged),
    /// Credit was reserved for an order.
    CreditReserved(CreditReserved),
    /// Credit could not be reserved for an order; the order's credit decision is final.
    CreditReservationDeclined(CreditReservationDeclined),
    /// The credit reserved for an order was released; the order's credit decision is final.
    CreditReleased(CreditReleased),
}

impl CustomerEvent {
    /// The version of these payload shapes.
    pub const EVENT_VERSION: &'static str = "1";

    /// Every event type of the Customer aggregate.
    pub const EVENT_TYPES: [&'static str; 5] = [
        "CustomerRegistered",
        "CreditLimitChanged",
        "CreditReserved",
        "CreditReservationDeclined",
        "CreditReleased",
    ];

    /// The event type name, e.g. `"CreditReserved"`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::CustomerRegistered(_) => "CustomerRegistered",
            Self::CreditLimitChanged(_) => "CreditLimitChanged",
            Self::CreditReserved(_) => "CreditReserved",
            Self::CreditReservationDeclined(_) => "CreditReservationDeclined",
            Self::CreditReleased(_) => "CreditReleased",
        }
    }
}

impl DomainEvent for CustomerEvent {
    fn event_type(&self) -> &'static str {
        CustomerEvent::event_type(self)
    }

    fn event_version(&self) -> &'static str {
        Self::EVENT_VERSION
    }
}

/// Payload of [`CustomerEvent::CustomerRegistered`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRegistered {
    /// The customer's name.
    pub name: CustomerName,
    /// The customer's e-mail address.
    pub email: Email,
    /// The credit limit the customer starts with; its currency is the customer's.
    pub credit_limit: Money,
    /// The subject (a verified token's `sub`) that registered itself as this customer and
    /// owns it; `None` when a shop service or an admin registered it (and in events stored
    /// before owners were recorded).
    #[serde(default)]
    pub owner: Option<String>,
}

/// Payload of [`CustomerEvent::CreditLimitChanged`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditLimitChanged {
    /// The new limit.
    pub limit: Money,
}

/// Payload of [`CustomerEvent::CreditReserved`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditReserved {
    /// The order the credit is reserved for.
    pub order_id: OrderId,
    /// The amount reserved.
    pub amount: Money,
}

/// Why credit was not reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CreditDeclineReason {
    /// The amount is more than the credit available.
    InsufficientCredit,
    /// The amount is not in the customer's currency.
    CurrencyMismatch,
}

/// Payload of [`CustomerEvent::CreditReservationDeclined`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditReservationDeclined {
    /// The order whose credit was declined.
    pub order_id: OrderId,
    /// The amount asked for.
    pub amount: Money,
    /// The credit that was available, in the customer's currency.
    pub available: Money,
    /// Why it was declined.
    pub reason: CreditDeclineReason,
}

/// Payload of [`CustomerEvent::CreditReleased`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditReleased {
    /// The order whose credit was released.
    pub order_id: OrderId,
    /// The amount released.
    pub amount: Money,
}
