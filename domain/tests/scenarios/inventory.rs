use causeway_domain::inventory::{
    StockReleased, StockReservationRejected, StockReserved, StockRestocked,
};
use causeway_domain::testing::{self, Given};
use causeway_domain::{Aggregate, InventoryCommand, InventoryEvent, InventoryItem};

use crate::fixtures::{order_id, qty};

fn given(history: &[InventoryEvent]) -> Given<InventoryItem> {
    testing::given(history)
}

fn restocked(units: u32) -> InventoryEvent {
    InventoryEvent::StockRestocked(StockRestocked {
        quantity: qty(units),
    })
}

fn reserved(order: u128, units: u32) -> InventoryEvent {
    InventoryEvent::StockReserved(StockReserved {
        order_id: order_id(order),
        quantity: qty(units),
    })
}

fn rejected(order: u128, requested: u32, available: u32) -> InventoryEvent {
    InventoryEvent::StockReservationRejected(StockReservationRejected {
        order_id: order_id(order),
        requested: qty(requested),
        available,
    })
}

fn released(order: u128, units: u32) -> InventoryEvent {
    InventoryEvent::StockReleased(StockReleased {
        order_id: order_id(order),
        quantity: qty(units),
    })
}

fn restock(units: u32) -> InventoryCommand {
    InventoryCommand::Restock {
        quantity: qty(units),
    }
}

fn reserve(order: u128, units: u32) -> InventoryCommand {
    InventoryCommand::Reserve {
        order_id: order_id(order),
        quantity: qty(units),
    }
}

fn release(order: u128) -> InventoryCommand {
    InventoryCommand::Release {
        order_id: order_id(order),
    }
}

#[test]
fn the_first_restock_creates_the_item() {
    let item = given(&[]).when(restock(10)).then(&[restocked(10)]);
    assert!(item.exists());
    assert_eq!((item.on_hand(), item.available()), (10, 10));
}

#[test]
fn restocking_adds_to_the_stock_on_hand_and_available() {
    let item = given(&[restocked(10), reserved(1, 4)])
        .when(restock(5))
        .then(&[restocked(5)]);
    assert_eq!(
        (item.on_hand(), item.reserved(), item.available()),
        (15, 4, 11)
    );
}

#[test]
fn restocking_past_the_largest_count_is_rejected() {
    let mut history = vec![restocked(1_000_000); 4_294];
    history.push(restocked(967_295));
    assert_eq!(InventoryItem::replay(&history).on_hand(), u32::MAX);
    given(&history)
        .when(restock(1))
        .then_rejected("stock_overflow");
}

#[test]
fn reserving_stock_of_an_item_never_restocked_is_refused_once_with_nothing_available() {
    given(&[]).when(reserve(1, 3)).then(&[rejected(1, 3, 0)]);
    given(&[rejected(1, 3, 0)])
        .when(reserve(1, 3))
        .then_nothing();
}

#[test]
fn reserving_available_stock_records_the_reservation() {
    let item = given(&[restocked(10)])
        .when(reserve(1, 4))
        .then(&[reserved(1, 4)]);
    assert_eq!(
        (item.on_hand(), item.reserved(), item.available()),
        (10, 4, 6)
    );
    assert_eq!(item.reservation(&order_id(1)), Some(qty(4)));
}

#[test]
fn reserving_exactly_the_available_stock_is_accepted() {
    given(&[restocked(10), reserved(1, 4)])
        .when(reserve(2, 6))
        .then(&[reserved(2, 6)]);
}

#[test]
fn reserving_more_than_available_emits_a_rejection_event() {
    let item = given(&[restocked(10), reserved(1, 4)])
        .when(reserve(2, 7))
        .then(&[rejected(2, 7, 6)]);
    assert_eq!(item.reservation(&order_id(2)), None);
    assert_eq!(item.available(), 6);
}

#[test]
fn reserving_again_for_the_same_order_changes_nothing() {
    given(&[restocked(10), reserved(1, 4)])
        .when(reserve(1, 4))
        .then_nothing();
}

#[test]
fn reserving_again_after_a_rejection_changes_nothing_even_after_a_restock() {
    given(&[restocked(1), rejected(1, 5, 1), restocked(10)])
        .when(reserve(1, 5))
        .then_nothing();
}

#[test]
fn reserving_after_the_orders_reservation_was_released_changes_nothing() {
    given(&[restocked(10), reserved(1, 4), released(1, 4)])
        .when(reserve(1, 4))
        .then_nothing();
}

#[test]
fn releasing_stock_of_an_item_never_restocked_changes_nothing() {
    given(&[]).when(release(1)).then_nothing();
}

#[test]
fn releasing_a_reservation_makes_its_units_available_again() {
    let item = given(&[restocked(10), reserved(1, 4), reserved(2, 3)])
        .when(release(1))
        .then(&[released(1, 4)]);
    assert_eq!(
        (item.on_hand(), item.reserved(), item.available()),
        (10, 3, 7)
    );
}

#[test]
fn releasing_when_nothing_is_reserved_for_the_order_changes_nothing() {
    given(&[restocked(10), reserved(1, 4)])
        .when(release(2))
        .then_nothing();
}

#[test]
fn releasing_twice_changes_nothing() {
    given(&[restocked(10), reserved(1, 4), released(1, 4)])
        .when(release(1))
        .then_nothing();
}
