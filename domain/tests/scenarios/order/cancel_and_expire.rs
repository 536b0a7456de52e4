use causeway_domain::OrderStatus;

use super::{
    awaiting, awaiting_then, cancel, cancelled, confirmed, expire, expired, final_histories, given,
    out_of_stock, placed, rejected,
};

#[test]
fn cancelling_an_order_never_placed_is_rejected() {
    given(&[]).when(cancel()).then_rejected("order_not_found");
}

#[test]
fn cancelling_a_pending_order_records_that_it_was_not_confirmed() {
    let order = given(&[placed()]).when(cancel()).then(&[cancelled(false)]);
    assert_eq!(order.status(), Some(OrderStatus::Cancelled));
}

#[test]
fn cancelling_an_order_awaiting_payment_records_that_it_was_not_confirmed() {
    given(&awaiting()).when(cancel()).then(&[cancelled(false)]);
}

#[test]
fn cancelling_a_confirmed_order_records_that_it_was_confirmed() {
    given(&awaiting_then(confirmed()))
        .when(cancel())
        .then(&[cancelled(true)]);
}

#[test]
fn cancelling_a_cancelled_order_again_is_rejected() {
    given(&[placed(), cancelled(false)])
        .when(cancel())
        .then_rejected("order_already_final");
}

#[test]
fn cancelling_a_rejected_or_expired_order_is_rejected() {
    let late = "2030-01-01T11:00:00Z";
    for last in [rejected(out_of_stock("PEAR")), expired(late)] {
        given(&[placed(), last])
            .when(cancel())
            .then_rejected("order_already_final");
    }
}

#[test]
fn expiring_an_order_never_placed_is_rejected() {
    given(&[])
        .when(expire("2030-01-01T11:00:00Z"))
        .then_rejected("order_not_found");
}

#[test]
fn expiring_a_pending_order_at_its_deadline_expires_it() {
    let now = "2030-01-01T10:15:00Z";
    let order = given(&[placed()]).when(expire(now)).then(&[expired(now)]);
    assert_eq!(order.status(), Some(OrderStatus::Expired));
}

#[test]
fn expiring_an_order_awaiting_payment_after_its_deadline_expires_it() {
    let now = "2030-01-01T12:00:00Z";
    given(&awaiting()).when(expire(now)).then(&[expired(now)]);
}

#[test]
fn expiring_an_order_before_its_deadline_is_rejected() {
    given(&[placed()])
        .when(expire("2030-01-01T10:14:59.999999Z"))
        .then_rejected("deadline_not_reached");
}

#[test]
fn expiring_a_confirmed_order_changes_nothing() {
    given(&awaiting_then(confirmed()))
        .when(expire("2030-01-01T12:00:00Z"))
        .then_nothing();
}

#[test]
fn expiring_a_final_order_changes_nothing() {
    for history in final_histories() {
        given(&history)
            .when(expire("2030-01-01T12:00:00Z"))
            .then_nothing();
    }
}
