use causeway_domain::{Currency, OrderCommand, OrderStatus};

use super::{given, line, place, placed, placed_at, two_lines};
use crate::fixtures::{at, customer_id, eur, usd};

#[test]
fn placing_an_order_records_it_as_pending_with_its_total() {
    let order = given(&[]).when(place(two_lines())).then(&[placed()]);
    assert_eq!(order.status(), Some(OrderStatus::Pending));
    assert_eq!(order.total(), Some(&eur(550)));
    assert_eq!(order.lines(), two_lines().as_slice());
}

#[test]
fn placing_an_order_without_lines_is_rejected() {
    given(&[])
        .when(place(vec![]))
        .then_rejected("order_has_no_lines");
}

#[test]
fn placing_an_order_with_the_same_sku_on_two_lines_is_rejected() {
    given(&[])
        .when(place(vec![line("apple", 1, 150), line("APPLE", 2, 150)]))
        .then_rejected("duplicate_sku");
}

#[test]
fn placing_an_order_with_a_line_priced_in_another_currency_is_rejected() {
    let mut dollar_line = line("PEAR", 1, 0);
    dollar_line.unit_price = usd(250);
    given(&[])
        .when(place(vec![line("APPLE", 2, 150), dollar_line]))
        .then_rejected("currency_mismatch");
}

#[test]
fn placing_an_order_whose_line_total_overflows_is_rejected() {
    given(&[])
        .when(place(vec![line("APPLE", 2, i64::MAX / 2 + 1)]))
        .then_rejected("amount_overflow");
}

#[test]
fn placing_an_order_whose_total_overflows_is_rejected() {
    let half = i64::MAX / 2 + 1;
    given(&[])
        .when(place(vec![line("APPLE", 1, half), line("PEAR", 1, half)]))
        .then_rejected("amount_overflow");
}

#[test]
fn placing_an_order_with_a_deadline_not_after_placement_is_rejected() {
    let command = OrderCommand::Place {
        customer_id: customer_id(7),
        currency: Currency::parse("EUR").unwrap(),
        lines: two_lines(),
        placed_at: placed_at(),
        deadline: placed_at(),
    };
    given(&[])
        .when(command)
        .then_rejected("deadline_not_after_placement");
}

#[test]
fn placing_an_existing_order_again_with_the_same_content_changes_nothing() {
    given(&[placed()]).when(place(two_lines())).then_nothing();
}

#[test]
fn placing_an_existing_order_again_later_with_the_same_content_changes_nothing() {
    let retry = OrderCommand::Place {
        customer_id: customer_id(7),
        currency: Currency::parse("EUR").unwrap(),
        lines: two_lines(),
        placed_at: at("2030-01-01T10:00:03Z"),
        deadline: at("2030-01-01T10:15:03Z"),
    };
    given(&[placed()]).when(retry).then_nothing();
}

#[test]
fn placing_an_existing_order_again_with_other_lines_is_rejected() {
    given(&[placed()])
        .when(place(vec![line("APPLE", 3, 150)]))
        .then_rejected("order_already_placed");
}

#[test]
fn placing_an_existing_order_again_for_another_customer_is_rejected() {
    let other_customer = OrderCommand::Place {
        customer_id: customer_id(8),
        currency: Currency::parse("EUR").unwrap(),
        lines: two_lines(),
        placed_at: placed_at(),
        deadline: super::deadline(),
    };
    given(&[placed()])
        .when(other_customer)
        .then_rejected("order_already_placed");
}
