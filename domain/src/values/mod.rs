//! Validated value types. Each is built only through `parse` or `TryFrom`, so a value that
//! exists is valid; serde deserialisation goes through the same checks.

mod contact;
mod ids;
mod money;
mod reason;
mod stock;

pub use contact::{CustomerName, Email};
pub use ids::{CustomerId, OrderId};
pub use money::{Currency, Money, MoneyError};
pub use reason::CancelReason;
pub use stock::{Quantity, Sku};

/// Why an input could not become a value: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The name of the offending field, e.g. `"sku"`.
    pub field: &'static str,
    /// What is wrong with it, for humans.
    pub message: String,
}

impl ValidationError {
    /// A validation error on `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }

    /// The same error reported against another field name, for callers whose input names
    /// the value differently (e.g. `credit_limit` rather than `amount_minor`).
    #[must_use]
    pub fn with_field(self, field: &'static str) -> Self {
        Self { field, ..self }
    }
}

/// Refuses text holding a control character (`char::is_control`: NUL, the other C0 and C1
/// controls, DEL). Free text ends up in JSON payloads and `jsonb` columns, where NUL is not
/// allowed and the others are never meant.
fn reject_control_characters(field: &'static str, text: &str) -> Result<(), ValidationError> {
    match text.chars().find(|c| c.is_control()) {
        None => Ok(()),
        Some(control) => Err(ValidationError::new(
            field,
            format!("must not contain control characters, found {control:?}"),
        )),
    }
}
