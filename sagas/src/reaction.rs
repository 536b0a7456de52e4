//! What each participant does when it sees an event: pure functions from an event to the
//! commands it issues to its own aggregates (docs/architecture.md §2).
//!
//! | participant | reacts to | issues |
//! |---|---|---|
//! | inventory | `OrderPlaced` | `Reserve` per line |
//! | inventory | `OrderRejected`, `OrderCancelled`, `OrderExpired` | `Release` per SKU |
//! | payment | `OrderPlaced` | customer `ReserveCredit` of the total (beside the stock) |
//! | payment | `CreditReserved` / `CreditReservationDeclined` | payment `Authorize` / `Decline` |
//! | payment | `OrderRejected`, `OrderExpired` | payment `Void`, customer `ReleaseCredit` |
//! | payment | `OrderCancelled` | payment `Refund` (if confirmed) or `Void`, `ReleaseCredit` |
//! | order | `StockReserved` / `StockReservationRejected` | `MarkLineReserved` / `Reject` |
//! | order | `PaymentAuthorized` / `PaymentDeclined` | `Confirm` / `Reject` |
//! | order | `OrderPlaced` | schedule the deadline |
//! | order | `OrderConfirmed` and the final events | clear the deadline |
//!
//! Every command is idempotent in the domain (re-issuing one whose effect happened decides no
//! event), so a redelivered event is harmless. Each participant sees one aggregate's events in
//! order, which is what keeps a release behind its reservation: the inventory participant
//! reserves on `OrderPlaced` before it can see the order's final event.

use std::fmt;
use std::str::FromStr;

use causeway_domain::customer::{CreditDeclineReason, CustomerCommand};
use causeway_domain::order::{OrderCommand, RejectionReason};
use causeway_domain::{
    CustomerEvent, CustomerId, EventStream, InventoryCommand, InventoryEvent, OrderEvent, OrderId,
    PaymentCommand, PaymentEvent, ShopEvent, Sku,
};
use chrono::{DateTime, Utc};

/// A saga participant: one consumer group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Participant {
    /// Reserves and releases stock.
    Inventory,
    /// Reserves and releases credit; authorizes, declines, voids and refunds payments.
    Payment,
    /// Moves orders through their state machine and keeps their deadlines.
    Order,
}

impl Participant {
    /// Every participant.
    pub const ALL: [Participant; 3] = [Self::Inventory, Self::Payment, Self::Order];

    /// Its name: `inventory`, `payment`, `order`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Inventory => "inventory",
            Self::Payment => "payment",
            Self::Order => "order",
        }
    }

    /// The streams whose events it reacts to.
    pub fn streams(self) -> Vec<EventStream> {
        match self {
            Self::Inventory => vec![EventStream::Order],
            Self::Payment => vec![EventStream::Order, EventStream::Customer],
            Self::Order => vec![
                EventStream::Order,
                EventStream::InventoryItem,
                EventStream::Payment,
            ],
        }
    }

    /// The commands this participant issues for `event` of the aggregate `aggregate_id`.
    /// An error means the event can never be handled (an id that does not parse): poison.
    pub fn react(self, aggregate_id: &str, event: &ShopEvent) -> Result<Vec<Reaction>, String> {
        match self {
            Self::Inventory => inventory(aggregate_id, event),
            Self::Payment => payment(aggregate_id, event),
            Self::Order => order(aggregate_id, event),
        }
    }
}

impl fmt::Display for Participant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Participant {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("unknown saga participant `{name}` (inventory, payment, order)"))
    }
}

/// One thing a participant does: a command to one aggregate, or a deadline change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// A command to the inventory item of `sku`.
    Inventory {
        /// The item.
        sku: Sku,
        /// The command.
        command: InventoryCommand,
    },
    /// A command to a customer.
    Customer {
        /// The customer.
        customer_id: CustomerId,
        /// The command.
        command: CustomerCommand,
    },
    /// A command to the payment of an order.
    Payment {
        /// The order paid for (the payment's id).
        order_id: OrderId,
        /// The command.
        command: PaymentCommand,
    },
    /// A command to an order.
    Order {
        /// The order.
        order_id: OrderId,
        /// The command.
        command: OrderCommand,
    },
    /// Remember when the order expires.
    ScheduleDeadline {
        /// The order.
        order_id: OrderId,
        /// When it expires if still unfinished.
        deadline: DateTime<Utc>,
    },
    /// Forget the order's deadline: it is confirmed or final.
    ClearDeadline {
        /// The order.
        order_id: OrderId,
    },
}

impl Reaction {
    /// The aggregate it acts on, e.g. `InventoryItem/TEA-1`: reactions to one target run in
    /// order, reactions to different targets may run concurrently. A deadline belongs to its
    /// order.
    pub fn target(&self) -> String {
        match self {
            Self::Inventory { sku, .. } => format!("InventoryItem/{sku}"),
            Self::Customer { customer_id, .. } => format!("Customer/{customer_id}"),
            Self::Payment { order_id, .. } => format!("Payment/{order_id}"),
            Self::Order { order_id, .. }
            | Self::ScheduleDeadline { order_id, .. }
            | Self::ClearDeadline { order_id } => format!("Order/{order_id}"),
        }
    }

    /// A short description for logs and spans, e.g. `Inventory.Reserve`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Inventory { command, .. } => match command {
                InventoryCommand::Restock { .. } => "InventoryItem.Restock",
                InventoryCommand::Reserve { .. } => "InventoryItem.Reserve",
                InventoryCommand::Release { .. } => "InventoryItem.Release",
            },
            Self::Customer { command, .. } => match command {
                CustomerCommand::ReserveCredit { .. } => "Customer.ReserveCredit",
                CustomerCommand::ReleaseCredit { .. } => "Customer.ReleaseCredit",
                _ => "Customer",
            },
            Self::Payment { command, .. } => match command {
                PaymentCommand::Authorize { .. } => "Payment.Authorize",
                PaymentCommand::Decline { .. } => "Payment.Decline",
                PaymentCommand::Void => "Payment.Void",
                PaymentCommand::Refund => "Payment.Refund",
            },
            Self::Order { command, .. } => match command {
                OrderCommand::MarkLineReserved { .. } => "Order.MarkLineReserved",
                OrderCommand::Confirm => "Order.Confirm",
                OrderCommand::Reject { .. } => "Order.Reject",
                OrderCommand::Expire { .. } => "Order.Expire",
                _ => "Order",
            },
            Self::ScheduleDeadline { .. } => "Deadline.Schedule",
            Self::ClearDeadline { .. } => "Deadline.Clear",
        }
    }
}

fn order_id(aggregate_id: &str) -> Result<OrderId, String> {
    OrderId::parse(aggregate_id).map_err(|e| format!("aggregate id `{aggregate_id}`: {e}"))
}

fn sku(aggregate_id: &str) -> Result<Sku, String> {
    Sku::parse(aggregate_id).map_err(|e| format!("aggregate id `{aggregate_id}`: {e}"))
}

fn customer_id(aggregate_id: &str) -> Result<CustomerId, String> {
    CustomerId::parse(aggregate_id).map_err(|e| format!("aggregate id `{aggregate_id}`: {e}"))
}

fn release_all(order_id: OrderId, skus: &[Sku]) -> Vec<Reaction> {
    skus.iter()
        .map(|sku| Reaction::Inventory {
            sku: sku.clone(),
            command: InventoryCommand::Release { order_id },
        })
        .collect()
}

fn inventory(aggregate_id: &str, event: &ShopEvent) -> Result<Vec<Reaction>, String> {
    let ShopEvent::Order(event) = event else {
        return Ok(vec![]);
    };
    Ok(match event {
        OrderEvent::OrderPlaced(placed) => {
            let order_id = order_id(aggregate_id)?;
            placed
                .lines
                .iter()
                .map(|line| Reaction::Inventory {
                    sku: line.sku.clone(),
                    command: InventoryCommand::Reserve {
                        order_id,
                        quantity: line.quantity,
                    },
                })
                .collect()
        }
        OrderEvent::OrderRejected(e) => release_all(order_id(aggregate_id)?, &e.skus),
        OrderEvent::OrderCancelled(e) => release_all(order_id(aggregate_id)?, &e.skus),
        OrderEvent::OrderExpired(e) => release_all(order_id(aggregate_id)?, &e.skus),
        OrderEvent::OrderLineReserved(_)
        | OrderEvent::OrderAwaitingPayment(_)
        | OrderEvent::OrderPaymentAuthorized(_)
        | OrderEvent::OrderConfirmed(_) => vec![],
    })
}

fn payment(aggregate_id: &str, event: &ShopEvent) -> Result<Vec<Reaction>, String> {
    match event {
        ShopEvent::Order(event) => payment_on_order(aggregate_id, event),
        ShopEvent::Customer(event) => payment_on_credit(aggregate_id, event),
        ShopEvent::Inventory(_) | ShopEvent::Payment(_) => Ok(vec![]),
    }
}

fn payment_on_order(aggregate_id: &str, event: &OrderEvent) -> Result<Vec<Reaction>, String> {
    let close = |order_id: OrderId, customer_id: CustomerId, command: PaymentCommand| {
        vec![
            Reaction::Payment { order_id, command },
            Reaction::Customer {
                customer_id,
                command: CustomerCommand::ReleaseCredit { order_id },
            },
        ]
    };
    Ok(match event {
        // Credit is reserved beside the stock, not after it: one hop less for every order.
        OrderEvent::OrderPlaced(e) => vec![Reaction::Customer {
            customer_id: e.customer_id,
            command: CustomerCommand::ReserveCredit {
                order_id: order_id(aggregate_id)?,
                amount: e.total.clone(),
            },
        }],
        OrderEvent::OrderRejected(e) => {
            close(order_id(aggregate_id)?, e.customer_id, PaymentCommand::Void)
        }
        OrderEvent::OrderExpired(e) => {
            close(order_id(aggregate_id)?, e.customer_id, PaymentCommand::Void)
        }
        OrderEvent::OrderCancelled(e) => {
            let command = if e.was_confirmed {
                PaymentCommand::Refund
            } else {
                PaymentCommand::Void
            };
            close(order_id(aggregate_id)?, e.customer_id, command)
        }
        OrderEvent::OrderLineReserved(_)
        | OrderEvent::OrderAwaitingPayment(_)
        | OrderEvent::OrderPaymentAuthorized(_)
        | OrderEvent::OrderConfirmed(_) => vec![],
    })
}

fn payment_on_credit(aggregate_id: &str, event: &CustomerEvent) -> Result<Vec<Reaction>, String> {
    Ok(match event {
        CustomerEvent::CreditReserved(e) => vec![Reaction::Payment {
            order_id: e.order_id,
            command: PaymentCommand::Authorize {
                customer_id: customer_id(aggregate_id)?,
                amount: e.amount.clone(),
            },
        }],
        CustomerEvent::CreditReservationDeclined(e) => vec![Reaction::Payment {
            order_id: e.order_id,
            command: PaymentCommand::Decline {
                customer_id: customer_id(aggregate_id)?,
                amount: e.amount.clone(),
                reason: decline_reason(e.reason, &e.available),
            },
        }],
        CustomerEvent::CustomerRegistered(_)
        | CustomerEvent::CreditLimitChanged(_)
        | CustomerEvent::CreditReleased(_) => vec![],
    })
}

fn decline_reason(reason: CreditDeclineReason, available: &causeway_domain::Money) -> String {
    match reason {
        CreditDeclineReason::InsufficientCredit => {
            format!("insufficient credit: {available} available")
        }
        CreditDeclineReason::CurrencyMismatch => {
            format!("the customer's credit is in {}", available.currency())
        }
    }
}

fn order(aggregate_id: &str, event: &ShopEvent) -> Result<Vec<Reaction>, String> {
    let order_command = |order_id, command| vec![Reaction::Order { order_id, command }];
    Ok(match event {
        ShopEvent::Inventory(InventoryEvent::StockReserved(e)) => order_command(
            e.order_id,
            OrderCommand::MarkLineReserved {
                sku: sku(aggregate_id)?,
            },
        ),
        ShopEvent::Inventory(InventoryEvent::StockReservationRejected(e)) => order_command(
            e.order_id,
            OrderCommand::Reject {
                reason: RejectionReason::OutOfStock {
                    sku: sku(aggregate_id)?,
                },
            },
        ),
        ShopEvent::Payment(PaymentEvent::PaymentAuthorized(_)) => {
            order_command(order_id(aggregate_id)?, OrderCommand::Confirm)
        }
        ShopEvent::Payment(PaymentEvent::PaymentDeclined(e)) => order_command(
            order_id(aggregate_id)?,
            OrderCommand::Reject {
                reason: RejectionReason::PaymentDeclined {
                    reason: e.reason.clone(),
                },
            },
        ),
        ShopEvent::Order(OrderEvent::OrderPlaced(e)) => vec![Reaction::ScheduleDeadline {
            order_id: order_id(aggregate_id)?,
            deadline: e.deadline,
        }],
        ShopEvent::Order(
            OrderEvent::OrderConfirmed(_)
            | OrderEvent::OrderRejected(_)
            | OrderEvent::OrderCancelled(_)
            | OrderEvent::OrderExpired(_),
        ) => vec![Reaction::ClearDeadline {
            order_id: order_id(aggregate_id)?,
        }],
        _ => vec![],
    })
}

#[cfg(test)]
mod tests;
