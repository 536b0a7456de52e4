use causeway_domain::order::OrderAwaitingPayment;
use causeway_domain::{Aggregate, Order, OrderCommand, OrderEvent, OrderStatus};

use super::{
    awaiting, awaiting_payment, confirmed, final_histories, given, line, line_reserved,
    payment_authorized, place, placed,
};
use crate::fixtures::{customer_id, eur, sku};

fn mark(code: &str) -> OrderCommand {
    OrderCommand::MarkLineReserved { sku: sku(code) }
}

#[test]
fn marking_a_line_of_an_order_never_placed_is_rejected() {
    given(&[])
        .when(mark("APPLE"))
        .then_rejected("order_not_found");
}

#[test]
fn marking_one_of_two_lines_reserved_records_it_and_keeps_waiting_for_stock() {
    let order = given(&[placed()])
        .when(mark("APPLE"))
        .then(&[line_reserved("APPLE")]);
    assert_eq!(order.status(), Some(OrderStatus::Pending));
    assert_eq!(
        order.reserved_skus().collect::<Vec<_>>(),
        vec![&sku("APPLE")]
    );
}

#[test]
fn marking_the_last_line_reserved_of_a_paid_order_confirms_it() {
    let order = given(&[placed(), line_reserved("PEAR"), payment_authorized()])
        .when(mark("APPLE"))
        .then(&[line_reserved("APPLE"), confirmed()]);
    assert_eq!(order.status(), Some(OrderStatus::Confirmed));
}

#[test]
fn marking_a_line_of_a_paid_order_that_still_waits_for_another_only_records_it() {
    let order = given(&[placed(), payment_authorized()])
        .when(mark("PEAR"))
        .then(&[line_reserved("PEAR")]);
    assert_eq!(order.status(), Some(OrderStatus::Pending));
}

#[test]
fn marking_the_last_line_reserved_also_awaits_payment_of_the_total() {
    let order = given(&[placed(), line_reserved("PEAR")])
        .when(mark("APPLE"))
        .then(&[line_reserved("APPLE"), awaiting_payment()]);
    assert_eq!(order.status(), Some(OrderStatus::AwaitingPayment));
}

#[test]
fn marking_the_only_line_of_a_one_line_order_awaits_payment_at_once() {
    let history = Order::default()
        .decide(&place(vec![line("APPLE", 2, 150)]))
        .unwrap();
    let awaiting_300 = OrderEvent::OrderAwaitingPayment(OrderAwaitingPayment {
        customer_id: customer_id(7),
        amount: eur(300),
    });
    given(&history)
        .when(mark("apple"))
        .then(&[line_reserved("APPLE"), awaiting_300]);
}

#[test]
fn marking_a_line_twice_changes_nothing() {
    given(&[placed(), line_reserved("APPLE")])
        .when(mark("APPLE"))
        .then_nothing();
}

#[test]
fn marking_a_line_the_order_does_not_have_is_rejected() {
    given(&[placed()])
        .when(mark("BANANA"))
        .then_rejected("order_line_not_found");
}

#[test]
fn marking_a_line_of_an_order_awaiting_payment_changes_nothing() {
    given(&awaiting()).when(mark("PEAR")).then_nothing();
}

#[test]
fn marking_a_line_of_a_final_order_changes_nothing() {
    for history in final_histories() {
        given(&history).when(mark("APPLE")).then_nothing();
        given(&history).when(mark("BANANA")).then_nothing();
    }
}
