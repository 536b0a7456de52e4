//! Payment events. Each variant wraps a struct of the same name: its Avro record.

use serde::{Deserialize, Serialize};

use crate::aggregate::DomainEvent;
use crate::values::{CustomerId, Money};

/// Something that happened to a Payment. Stored as `{"type": …, "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PaymentEvent {
    /// The order's amount was authorized against the customer's credit.
    PaymentAuthorized(PaymentAuthorized),
    /// The payment was declined; it is closed.
    PaymentDeclined(PaymentDeclined),
    /// The payment was voided before the order was confirmed (or closed before it was ever
    /// authorized); it is closed.
    PaymentVoided(PaymentVoided),
    /// The authorized amount was refunded after the confirmed order was cancelled; it is
    /// closed.
    PaymentRefunded(PaymentRefunded),
}

impl PaymentEvent {
    /// The version of these payload shapes.
    pub const EVENT_VERSION: &'static str = "1";

    /// Every event type of the Payment aggregate.
    pub const EVENT_TYPES: [&'static str; 4] = [
        "PaymentAuthorized",
        "PaymentDeclined",
        "PaymentVoided",
        "PaymentRefunded",
    ];

    /// The event type name, e.g. `"PaymentAuthorized"`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::PaymentAuthorized(_) => "PaymentAuthorized",
            Self::PaymentDeclined(_) => "PaymentDeclined",
            Self::PaymentVoided(_) => "PaymentVoided",
            Self::PaymentRefunded(_) => "PaymentRefunded",
        }
    }
}

impl DomainEvent for PaymentEvent {
    fn event_type(&self) -> &'static str {
        PaymentEvent::event_type(self)
    }

    fn event_version(&self) -> &'static str {
        Self::EVENT_VERSION
    }
}

/// Who pays how much: the content of an authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// The paying customer.
    pub customer_id: CustomerId,
    /// The amount authorized.
    pub amount: Money,
}

/// Payload of [`PaymentEvent::PaymentAuthorized`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAuthorized {
    /// The paying customer.
    pub customer_id: CustomerId,
    /// The amount authorized.
    pub amount: Money,
}

/// Payload of [`PaymentEvent::PaymentDeclined`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDeclined {
    /// The customer who would have paid.
    pub customer_id: CustomerId,
    /// The amount that was declined.
    pub amount: Money,
    /// Why, for humans.
    pub reason: String,
}

/// Payload of [`PaymentEvent::PaymentVoided`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentVoided {
    /// The authorization this void releases; `None` when the payment was closed before it
    /// was ever authorized.
    pub voided_authorization: Option<Authorization>,
}

/// Payload of [`PaymentEvent::PaymentRefunded`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefunded {
    /// The customer refunded.
    pub customer_id: CustomerId,
    /// The amount refunded: the amount that was authorized.
    pub amount: Money,
}
