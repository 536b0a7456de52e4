use causeway_domain::{OrderCommand, OrderStatus, RejectionReason};

use super::{
    awaiting, awaiting_then, cancelled, confirmed, expired, final_histories, given, line_reserved,
    out_of_stock, payment_authorized, placed, rejected,
};

fn reject(reason: RejectionReason) -> OrderCommand {
    OrderCommand::Reject { reason }
}

fn payment_declined() -> RejectionReason {
    RejectionReason::PaymentDeclined {
        reason: "insufficient credit".to_owned(),
    }
}

#[test]
fn confirming_an_order_never_placed_is_rejected() {
    given(&[])
        .when(OrderCommand::Confirm)
        .then_rejected("order_not_found");
}

#[test]
fn confirming_an_order_awaiting_payment_confirms_it() {
    let order = given(&awaiting())
        .when(OrderCommand::Confirm)
        .then(&[confirmed()]);
    assert_eq!(order.status(), Some(OrderStatus::Confirmed));
}

#[test]
fn confirming_a_confirmed_order_changes_nothing() {
    given(&awaiting_then(confirmed()))
        .when(OrderCommand::Confirm)
        .then_nothing();
}

#[test]
fn a_payment_authorized_before_the_last_line_is_recorded_and_the_order_keeps_waiting_for_stock() {
    let order = given(&[placed(), line_reserved("APPLE")])
        .when(OrderCommand::Confirm)
        .then(&[payment_authorized()]);
    assert_eq!(order.status(), Some(OrderStatus::Pending));
}

#[test]
fn a_payment_authorized_twice_before_the_last_line_is_recorded_once() {
    given(&[placed(), payment_authorized()])
        .when(OrderCommand::Confirm)
        .then_nothing();
}

#[test]
fn a_paid_order_waiting_for_stock_can_still_be_rejected_for_stock() {
    let order = given(&[placed(), payment_authorized()])
        .when(reject(out_of_stock("PEAR")))
        .then(&[rejected(out_of_stock("PEAR"))]);
    assert_eq!(order.status(), Some(OrderStatus::Rejected));
}

#[test]
fn confirming_a_rejected_order_is_rejected() {
    given(&awaiting_then(rejected(payment_declined())))
        .when(OrderCommand::Confirm)
        .then_rejected("order_already_final");
}

#[test]
fn confirming_a_cancelled_or_expired_order_is_rejected() {
    let late = "2030-01-01T11:00:00Z";
    for last in [cancelled(false), expired(late)] {
        given(&awaiting_then(last))
            .when(OrderCommand::Confirm)
            .then_rejected("order_already_final");
    }
}

#[test]
fn rejecting_an_order_never_placed_is_rejected() {
    given(&[])
        .when(reject(out_of_stock("PEAR")))
        .then_rejected("order_not_found");
}

#[test]
fn rejecting_a_pending_order_for_lack_of_stock_lists_its_skus_for_release() {
    let order = given(&[placed(), line_reserved("APPLE")])
        .when(reject(out_of_stock("PEAR")))
        .then(&[rejected(out_of_stock("PEAR"))]);
    assert_eq!(order.status(), Some(OrderStatus::Rejected));
}

#[test]
fn rejecting_an_order_awaiting_payment_for_a_declined_payment_rejects_it() {
    given(&awaiting())
        .when(reject(payment_declined()))
        .then(&[rejected(payment_declined())]);
}

#[test]
fn rejecting_a_final_order_again_changes_nothing() {
    for history in final_histories() {
        given(&history)
            .when(reject(payment_declined()))
            .then_nothing();
    }
}

#[test]
fn rejecting_a_confirmed_order_is_rejected() {
    given(&awaiting_then(confirmed()))
        .when(reject(payment_declined()))
        .then_rejected("order_already_confirmed");
}
