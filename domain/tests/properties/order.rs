use std::collections::BTreeSet;

use causeway_domain::{
    Currency, Money, Order, OrderCommand, OrderEvent, OrderLine, OrderStatus, Quantity,
    RejectionReason, Sku,
};
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{customer_id, event_types_reached, run, sku};

fn placed_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).unwrap()
}

fn line(code: &str) -> OrderLine {
    OrderLine {
        sku: Sku::parse(code).unwrap(),
        quantity: Quantity::parse(2).unwrap(),
        unit_price: Money::parse(150, Currency::parse("EUR").unwrap()).unwrap(),
    }
}

fn lines() -> impl Strategy<Value = Vec<OrderLine>> {
    prop_oneof![
        Just(vec![line("APPLE")]),
        Just(vec![line("APPLE"), line("PEAR")]),
        Just(vec![line("APPLE"), line("apple")]),
        Just(vec![]),
    ]
}

fn place() -> impl Strategy<Value = OrderCommand> {
    (customer_id(), lines()).prop_map(|(customer_id, lines)| OrderCommand::Place {
        customer_id,
        currency: Currency::parse("EUR").unwrap(),
        lines,
        placed_at: placed_at(),
        deadline: placed_at() + Duration::minutes(15),
    })
}

fn reason() -> impl Strategy<Value = RejectionReason> {
    prop_oneof![
        sku().prop_map(|sku| RejectionReason::OutOfStock { sku }),
        Just(RejectionReason::PaymentDeclined {
            reason: "insufficient credit".to_owned()
        }),
    ]
}

fn command() -> impl Strategy<Value = OrderCommand> {
    prop_oneof![
        1 => place(),
        6 => sku().prop_map(|sku| OrderCommand::MarkLineReserved { sku }),
        2 => Just(OrderCommand::Confirm),
        1 => reason().prop_map(|reason| OrderCommand::Reject { reason }),
        1 => Just(OrderCommand::Cancel { reason: "changed my mind".to_owned() }),
        1 => prop_oneof![Just(5), Just(15), Just(30)]
            .prop_map(|m| OrderCommand::Expire { now: placed_at() + Duration::minutes(m) }),
    ]
}

fn commands() -> impl Strategy<Value = Vec<OrderCommand>> {
    (place(), prop::collection::vec(command(), 0..30)).prop_map(|(first, mut rest)| {
        rest.insert(0, first);
        rest
    })
}

fn status_after(event: &OrderEvent) -> Option<OrderStatus> {
    match event {
        OrderEvent::OrderPlaced(_) => Some(OrderStatus::Pending),
        OrderEvent::OrderLineReserved(_) | OrderEvent::OrderPaymentAuthorized(_) => None,
        OrderEvent::OrderAwaitingPayment(_) => Some(OrderStatus::AwaitingPayment),
        OrderEvent::OrderConfirmed(_) => Some(OrderStatus::Confirmed),
        OrderEvent::OrderRejected(_) => Some(OrderStatus::Rejected),
        OrderEvent::OrderCancelled(_) => Some(OrderStatus::Cancelled),
        OrderEvent::OrderExpired(_) => Some(OrderStatus::Expired),
    }
}

/// The status follows the machine, nothing happens after a final state, payment is
/// awaited only once every line is reserved, and a payment authorized early is recorded at
/// most once, while the order is still pending.
fn follows_the_state_machine(order: &Order, history: &[OrderEvent]) -> Result<(), TestCaseError> {
    let statuses: Vec<_> = history.iter().filter_map(status_after).collect();
    prop_assert_eq!(order.status(), statuses.last().copied());
    for pair in statuses.windows(2) {
        prop_assert!(allowed(pair[0], pair[1]), "{:?} → {:?}", pair[0], pair[1]);
    }
    let early_payments: Vec<usize> = history
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, OrderEvent::OrderPaymentAuthorized(_)))
        .map(|(i, _)| i)
        .collect();
    prop_assert!(early_payments.len() <= 1, "payment recorded twice");
    if let Some(&at) = early_payments.first() {
        prop_assert!(
            history[..at]
                .iter()
                .all(|e| status_after(e).is_none_or(|s| s == OrderStatus::Pending)),
            "payment recorded after the order left pending"
        );
    }
    if let Some(last_final) = history.iter().rposition(ends_the_order) {
        prop_assert_eq!(last_final, history.len() - 1, "events after a final one");
    }
    let line_skus: BTreeSet<_> = order.lines().iter().map(|l| &l.sku).collect();
    let reserved: BTreeSet<_> = order.reserved_skus().collect();
    prop_assert!(reserved.is_subset(&line_skus));
    if matches!(
        order.status(),
        Some(OrderStatus::AwaitingPayment | OrderStatus::Confirmed)
    ) {
        prop_assert_eq!(reserved, line_skus);
    }
    Ok(())
}

fn allowed(from: OrderStatus, to: OrderStatus) -> bool {
    use OrderStatus::*;
    matches!(
        (from, to),
        (
            Pending,
            AwaitingPayment | Confirmed | Rejected | Cancelled | Expired
        ) | (AwaitingPayment, Confirmed | Rejected | Cancelled | Expired)
            | (Confirmed, Cancelled)
    )
}

fn ends_the_order(event: &OrderEvent) -> bool {
    status_after(event).is_some_and(OrderStatus::is_final)
}

/// Cancelling twice is refused rather than ignored: a person asked, and learns it's closed.
fn is_repeatable(command: &OrderCommand) -> bool {
    !matches!(command, OrderCommand::Cancel { .. })
}

proptest! {
    #[test]
    fn an_order_follows_its_state_machine_and_replay_matches_live(commands in commands()) {
        run::<Order>(&commands, follows_the_state_machine, is_repeatable)?;
    }
}

#[test]
fn the_generated_order_sequences_reach_every_event_type() {
    let reached = event_types_reached::<Order>(commands());
    assert_eq!(reached, OrderEvent::EVENT_TYPES.into_iter().collect());
}
