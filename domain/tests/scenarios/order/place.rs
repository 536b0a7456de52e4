use causeway_domain::order::OrderPlaced;
use causeway_domain::{
    Currency, Money, Order, OrderCommand, OrderEvent, OrderLine, OrderStatus, Quantity,
};

use super::{deadline, given, line, place, placed, placed_at, two_lines};
use crate::fixtures::{at, customer_id, eur, usd};

/// `count` lines of distinct SKUs, each `units` × `unit_price`.
fn many_lines(count: usize, units: u32, unit_price: i64) -> Vec<OrderLine> {
    (0..count)
        .map(|n| line(&format!("SKU-{n}"), units, unit_price))
        .collect()
}

/// Places `lines`, asserting the order is placed with `total`.
fn placed_with_total(lines: Vec<OrderLine>, total: i64) -> Order {
    let event = OrderEvent::OrderPlaced(OrderPlaced {
        customer_id: customer_id(7),
        currency: Currency::parse("EUR").unwrap(),
        lines: lines.clone(),
        total: eur(total),
        placed_at: placed_at(),
        deadline: deadline(),
    });
    given(&[]).when(place(lines)).then(&[event])
}

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
fn placing_an_order_of_max_lines_lines_is_accepted() {
    let order = placed_with_total(many_lines(Order::MAX_LINES, 1, 100), 10_000);
    assert_eq!(order.lines().len(), Order::MAX_LINES);
}

#[test]
fn placing_an_order_of_more_than_max_lines_lines_is_rejected() {
    for count in [Order::MAX_LINES + 1, 1_000] {
        given(&[])
            .when(place(many_lines(count, 1, 100)))
            .then_rejected("too_many_lines");
    }
}

#[test]
fn placing_an_order_whose_total_is_the_bound_is_accepted() {
    let half = Money::MAX_AMOUNT_MINOR / 2;
    let lines = vec![line("APPLE", 1, half), line("PEAR", 1, half)];
    let order = placed_with_total(lines, Money::MAX_AMOUNT_MINOR);
    assert_eq!(order.status(), Some(OrderStatus::Pending));
}

#[test]
fn placing_an_order_whose_total_is_above_the_bound_is_rejected() {
    let half = Money::MAX_AMOUNT_MINOR / 2;
    given(&[])
        .when(place(vec![
            line("APPLE", 1, half),
            line("PEAR", 1, half + 1),
        ]))
        .then_rejected("amount_overflow");
    given(&[])
        .when(place(vec![line("APPLE", 2, half + 1)]))
        .then_rejected("amount_overflow");
}

#[test]
fn the_largest_order_the_api_can_send_is_rejected_without_overflowing() {
    let lines = many_lines(Order::MAX_LINES, Quantity::MAX, Money::MAX_AMOUNT_MINOR);
    given(&[])
        .when(place(lines))
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
