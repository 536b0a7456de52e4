//! Order scenarios, with builders for a two-line EUR order: 2 × APPLE at 1.50 and
//! 1 × PEAR at 2.50, total 5.50, placed at 10:00 with a 10:15 deadline.

mod cancel_and_expire;
mod confirm_and_reject;
mod mark_line_reserved;
mod place;

use causeway_domain::order::{
    OrderAwaitingPayment, OrderCancelled, OrderConfirmed, OrderExpired, OrderLineReserved,
    OrderPaymentAuthorized, OrderPlaced, OrderRejected,
};
use causeway_domain::testing::{self, Given};
use causeway_domain::{Currency, Order, OrderCommand, OrderEvent, OrderLine, RejectionReason};
use chrono::{DateTime, Utc};

use crate::fixtures::{at, customer_id, eur, qty, sku};

pub(crate) fn given(history: &[OrderEvent]) -> Given<Order> {
    testing::given(history)
}

pub(crate) fn placed_at() -> DateTime<Utc> {
    at("2030-01-01T10:00:00Z")
}

pub(crate) fn deadline() -> DateTime<Utc> {
    at("2030-01-01T10:15:00Z")
}

pub(crate) fn line(code: &str, units: u32, unit_price: i64) -> OrderLine {
    OrderLine {
        sku: sku(code),
        quantity: qty(units),
        unit_price: eur(unit_price),
    }
}

pub(crate) fn two_lines() -> Vec<OrderLine> {
    vec![line("APPLE", 2, 150), line("PEAR", 1, 250)]
}

pub(crate) fn place(lines: Vec<OrderLine>) -> OrderCommand {
    OrderCommand::Place {
        customer_id: customer_id(7),
        currency: Currency::parse("EUR").unwrap(),
        lines,
        placed_at: placed_at(),
        deadline: deadline(),
    }
}

pub(crate) fn placed() -> OrderEvent {
    OrderEvent::OrderPlaced(OrderPlaced {
        customer_id: customer_id(7),
        currency: Currency::parse("EUR").unwrap(),
        lines: two_lines(),
        total: eur(550),
        placed_at: placed_at(),
        deadline: deadline(),
    })
}

pub(crate) fn line_reserved(code: &str) -> OrderEvent {
    OrderEvent::OrderLineReserved(OrderLineReserved { sku: sku(code) })
}

pub(crate) fn awaiting_payment() -> OrderEvent {
    OrderEvent::OrderAwaitingPayment(OrderAwaitingPayment {
        customer_id: customer_id(7),
        amount: eur(550),
    })
}

pub(crate) fn payment_authorized() -> OrderEvent {
    OrderEvent::OrderPaymentAuthorized(OrderPaymentAuthorized { amount: eur(550) })
}

pub(crate) fn confirmed() -> OrderEvent {
    OrderEvent::OrderConfirmed(OrderConfirmed {
        customer_id: customer_id(7),
        total: eur(550),
    })
}

pub(crate) fn out_of_stock(code: &str) -> RejectionReason {
    RejectionReason::OutOfStock { sku: sku(code) }
}

pub(crate) fn rejected(reason: RejectionReason) -> OrderEvent {
    OrderEvent::OrderRejected(OrderRejected {
        customer_id: customer_id(7),
        reason,
        skus: vec![sku("APPLE"), sku("PEAR")],
    })
}

pub(crate) fn cancelled(was_confirmed: bool) -> OrderEvent {
    OrderEvent::OrderCancelled(OrderCancelled {
        customer_id: customer_id(7),
        reason: "changed my mind".to_owned(),
        was_confirmed,
        skus: vec![sku("APPLE"), sku("PEAR")],
    })
}

pub(crate) fn cancel() -> OrderCommand {
    OrderCommand::Cancel {
        reason: "changed my mind".to_owned(),
    }
}

pub(crate) fn expired(now: &str) -> OrderEvent {
    OrderEvent::OrderExpired(OrderExpired {
        customer_id: customer_id(7),
        deadline: deadline(),
        expired_at: at(now),
        skus: vec![sku("APPLE"), sku("PEAR")],
    })
}

pub(crate) fn expire(now: &str) -> OrderCommand {
    OrderCommand::Expire { now: at(now) }
}

/// Every line reserved: the order awaits payment.
pub(crate) fn awaiting() -> Vec<OrderEvent> {
    vec![
        placed(),
        line_reserved("APPLE"),
        line_reserved("PEAR"),
        awaiting_payment(),
    ]
}

/// `awaiting()`, then `extra`.
pub(crate) fn awaiting_then(extra: OrderEvent) -> Vec<OrderEvent> {
    let mut history = awaiting();
    history.push(extra);
    history
}

/// One history per final state: rejected, cancelled, expired.
pub(crate) fn final_histories() -> [Vec<OrderEvent>; 3] {
    [
        vec![placed(), rejected(out_of_stock("PEAR"))],
        vec![placed(), cancelled(false)],
        vec![placed(), expired("2030-01-01T10:15:00Z")],
    ]
}
