//! Deciding the commands of a placed order: its state machine.

use chrono::{DateTime, Utc};

use super::{
    OrderAwaitingPayment, OrderCancelled, OrderConfirmed, OrderEvent, OrderExpired,
    OrderLineReserved, OrderPaymentAuthorized, OrderRejected, OrderRejection, OrderStatus,
    PlacedOrder, RejectionReason,
};
use crate::values::Sku;

type Decision = Result<Vec<OrderEvent>, OrderRejection>;

impl PlacedOrder {
    /// Stock and credit are reserved at the same time (docs/architecture.md §2), so the
    /// payment may be authorized before or after the last line is reserved: the order is
    /// confirmed by whichever of the two comes last.
    pub(super) fn mark_line_reserved(&self, sku: &Sku) -> Decision {
        if self.status != OrderStatus::Pending || self.reserved_skus.contains(sku) {
            return Ok(vec![]);
        }
        if !self.details.lines.iter().any(|line| line.sku == *sku) {
            return Err(OrderRejection::LineNotFound { sku: sku.clone() });
        }
        let sku = sku.clone();
        let mut events = vec![OrderEvent::OrderLineReserved(OrderLineReserved { sku })];
        if self.reserved_skus.len() + 1 == self.details.lines.len() {
            events.push(if self.payment_authorized {
                self.confirmed()
            } else {
                OrderEvent::OrderAwaitingPayment(OrderAwaitingPayment {
                    customer_id: self.details.customer_id,
                    amount: self.details.total.clone(),
                })
            });
        }
        Ok(events)
    }

    /// The payment was authorized: confirms an order whose lines are all reserved, and
    /// records the authorization on one still waiting for stock.
    pub(super) fn confirm(&self) -> Decision {
        match self.status {
            OrderStatus::AwaitingPayment => Ok(vec![self.confirmed()]),
            OrderStatus::Pending if self.payment_authorized => Ok(vec![]),
            OrderStatus::Pending => Ok(vec![OrderEvent::OrderPaymentAuthorized(
                OrderPaymentAuthorized {
                    amount: self.details.total.clone(),
                },
            )]),
            OrderStatus::Confirmed => Ok(vec![]),
            OrderStatus::Rejected | OrderStatus::Cancelled | OrderStatus::Expired => {
                Err(self.already_final())
            }
        }
    }

    fn confirmed(&self) -> OrderEvent {
        OrderEvent::OrderConfirmed(OrderConfirmed {
            customer_id: self.details.customer_id,
            total: self.details.total.clone(),
        })
    }

    pub(super) fn reject(&self, reason: &RejectionReason) -> Decision {
        match self.status {
            OrderStatus::Pending | OrderStatus::AwaitingPayment => {
                Ok(vec![OrderEvent::OrderRejected(OrderRejected {
                    customer_id: self.details.customer_id,
                    reason: reason.clone(),
                    skus: self.skus(),
                })])
            }
            OrderStatus::Confirmed => Err(OrderRejection::AlreadyConfirmed),
            OrderStatus::Rejected | OrderStatus::Cancelled | OrderStatus::Expired => Ok(vec![]),
        }
    }

    pub(super) fn cancel(&self, reason: &str) -> Decision {
        if self.status.is_final() {
            return Err(self.already_final());
        }
        Ok(vec![OrderEvent::OrderCancelled(OrderCancelled {
            customer_id: self.details.customer_id,
            reason: reason.to_owned(),
            was_confirmed: self.status == OrderStatus::Confirmed,
            skus: self.skus(),
        })])
    }

    pub(super) fn expire(&self, now: DateTime<Utc>) -> Decision {
        if !self.status.is_unfinished() {
            return Ok(vec![]);
        }
        let deadline = self.details.deadline;
        if now < deadline {
            return Err(OrderRejection::DeadlineNotReached { deadline });
        }
        Ok(vec![OrderEvent::OrderExpired(OrderExpired {
            customer_id: self.details.customer_id,
            deadline,
            expired_at: now,
            skus: self.skus(),
        })])
    }

    fn already_final(&self) -> OrderRejection {
        OrderRejection::AlreadyFinal {
            status: self.status,
        }
    }

    fn skus(&self) -> Vec<Sku> {
        self.details
            .lines
            .iter()
            .map(|line| line.sku.clone())
            .collect()
    }
}
