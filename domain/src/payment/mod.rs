//! The Payment aggregate (id: the [`OrderId`](crate::OrderId) it pays for; one per order).
//!
//! A payment is authorized or declined once. An authorized payment ends voided (the order
//! never got confirmed) or refunded (the order was confirmed, then cancelled). Voiding a
//! payment that was never authorized closes it, so that a late authorization changes
//! nothing. Commands that arrive after the payment is closed change nothing: the saga
//! redelivers them freely.

mod event;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainRejection};
use crate::values::{CustomerId, Money};

pub use event::{
    Authorization, PaymentAuthorized, PaymentDeclined, PaymentEvent, PaymentRefunded, PaymentVoided,
};

/// The aggregate type name of payments.
pub const AGGREGATE_TYPE: &str = "Payment";

/// A command to a Payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentCommand {
    /// Authorizes the order's amount (its credit has been reserved).
    Authorize {
        /// The paying customer.
        customer_id: CustomerId,
        /// The amount to authorize.
        amount: Money,
    },
    /// Declines the payment (its credit could not be reserved).
    Decline {
        /// The customer who would have paid.
        customer_id: CustomerId,
        /// The amount declined.
        amount: Money,
        /// Why, for humans.
        reason: String,
    },
    /// Voids an authorized payment whose order was not confirmed, or closes a payment that
    /// was never authorized.
    Void,
    /// Refunds an authorized payment whose order was confirmed, then cancelled.
    Refund,
}

/// Why a Payment refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRejection {
    /// The payment was already authorized, for another customer or amount, or cannot be
    /// declined any more.
    #[error("payment already authorized for {} of customer {}", .0.amount, .0.customer_id)]
    AlreadyAuthorized(Authorization),
}

impl DomainRejection for PaymentRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::AlreadyAuthorized(_) => "payment_already_authorized",
        }
    }
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PaymentStatus {
    /// Authorized, still open.
    Authorized,
    /// Declined (closed).
    Declined,
    /// Voided (closed).
    Voided,
    /// Refunded (closed).
    Refunded,
}

/// The state of a Payment; `Default` is a payment not started yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    status: Option<PaymentStatus>,
    authorization: Option<Authorization>,
}

impl Payment {
    /// Where the payment stands; `None` before any authorization, decline or void.
    pub fn status(&self) -> Option<PaymentStatus> {
        self.status
    }

    /// The authorization, if the payment was ever authorized.
    pub fn authorization(&self) -> Option<&Authorization> {
        self.authorization.as_ref()
    }

    fn authorize(&self, requested: Authorization) -> Result<Vec<PaymentEvent>, PaymentRejection> {
        match (self.status, &self.authorization) {
            (None, _) => Ok(vec![PaymentEvent::PaymentAuthorized(PaymentAuthorized {
                customer_id: requested.customer_id,
                amount: requested.amount,
            })]),
            (Some(PaymentStatus::Authorized), Some(current)) if *current != requested => {
                Err(PaymentRejection::AlreadyAuthorized(current.clone()))
            }
            (Some(_), _) => Ok(vec![]),
        }
    }

    fn decline(&self, declined: &PaymentDeclined) -> Result<Vec<PaymentEvent>, PaymentRejection> {
        match (self.status, &self.authorization) {
            (None, _) => Ok(vec![PaymentEvent::PaymentDeclined(declined.clone())]),
            (Some(PaymentStatus::Authorized), Some(current)) => {
                Err(PaymentRejection::AlreadyAuthorized(current.clone()))
            }
            (Some(_), _) => Ok(vec![]),
        }
    }

    fn void(&self) -> Vec<PaymentEvent> {
        match self.status {
            None | Some(PaymentStatus::Authorized) => {
                let voided_authorization = self.authorization.clone();
                vec![PaymentEvent::PaymentVoided(PaymentVoided {
                    voided_authorization,
                })]
            }
            Some(_) => vec![],
        }
    }

    fn refund(&self) -> Vec<PaymentEvent> {
        match (self.status, &self.authorization) {
            (Some(PaymentStatus::Authorized), Some(authorization)) => {
                vec![PaymentEvent::PaymentRefunded(PaymentRefunded {
                    customer_id: authorization.customer_id,
                    amount: authorization.amount.clone(),
                })]
            }
            _ => vec![],
        }
    }
}

impl Aggregate for Payment {
    const TYPE: &'static str = AGGREGATE_TYPE;
    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Rejection = PaymentRejection;

    fn decide(&self, command: &PaymentCommand) -> Result<Vec<PaymentEvent>, PaymentRejection> {
        match command {
            PaymentCommand::Authorize {
                customer_id,
                amount,
            } => self.authorize(Authorization {
                customer_id: *customer_id,
                amount: amount.clone(),
            }),
            PaymentCommand::Decline {
                customer_id,
                amount,
                reason,
            } => self.decline(&PaymentDeclined {
                customer_id: *customer_id,
                amount: amount.clone(),
                reason: reason.clone(),
            }),
            PaymentCommand::Void => Ok(self.void()),
            PaymentCommand::Refund => Ok(self.refund()),
        }
    }

    fn apply(&mut self, event: &PaymentEvent) {
        match event {
            PaymentEvent::PaymentAuthorized(e) => {
                self.status = Some(PaymentStatus::Authorized);
                self.authorization = Some(Authorization {
                    customer_id: e.customer_id,
                    amount: e.amount.clone(),
                });
            }
            PaymentEvent::PaymentDeclined(_) => self.status = Some(PaymentStatus::Declined),
            PaymentEvent::PaymentVoided(_) => self.status = Some(PaymentStatus::Voided),
            PaymentEvent::PaymentRefunded(_) => self.status = Some(PaymentStatus::Refunded),
        }
    }
}
