use std::collections::BTreeSet;

use causeway_domain::{InventoryCommand, InventoryEvent, InventoryItem, OrderId, Quantity};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{event_types_reached, order_id, run};

fn quantity() -> impl Strategy<Value = Quantity> {
    (1_u32..=12).prop_map(|units| Quantity::parse(units).unwrap())
}

fn restock() -> impl Strategy<Value = InventoryCommand> {
    quantity().prop_map(|quantity| InventoryCommand::Restock { quantity })
}

fn command() -> impl Strategy<Value = InventoryCommand> {
    prop_oneof![
        2 => restock(),
        5 => (order_id(), quantity())
            .prop_map(|(order_id, quantity)| InventoryCommand::Reserve { order_id, quantity }),
        3 => order_id().prop_map(|order_id| InventoryCommand::Release { order_id }),
    ]
}

fn commands() -> impl Strategy<Value = Vec<InventoryCommand>> {
    (
        proptest::option::weighted(0.9, restock()),
        prop::collection::vec(command(), 0..40),
    )
        .prop_map(|(first, rest)| first.into_iter().chain(rest).collect())
}

fn stock_adds_up(item: &InventoryItem, history: &[InventoryEvent]) -> Result<(), TestCaseError> {
    let restocked: u32 = history.iter().map(restocked_units).sum();
    prop_assert_eq!(item.on_hand(), restocked);
    prop_assert!(item.reserved() <= item.on_hand());
    prop_assert_eq!(item.reserved() + item.available(), item.on_hand());
    let by_order: u32 = item.reservations().map(|(_, q)| q.get()).sum();
    prop_assert_eq!(by_order, item.reserved());
    Ok(())
}

fn restocked_units(event: &InventoryEvent) -> u32 {
    match event {
        InventoryEvent::StockRestocked(restocked) => restocked.quantity.get(),
        _ => 0,
    }
}

fn reserved_for(event: &InventoryEvent) -> Option<OrderId> {
    match event {
        InventoryEvent::StockReserved(reserved) => Some(reserved.order_id),
        _ => None,
    }
}

/// A restock has no id to recognise a repeat by: issuing it twice restocks twice.
fn is_repeatable(command: &InventoryCommand) -> bool {
    !matches!(command, InventoryCommand::Restock { .. })
}

proptest! {
    #[test]
    fn stock_adds_up_and_replay_matches_live(commands in commands()) {
        run::<InventoryItem>(&commands, stock_adds_up, is_repeatable)?;
    }

    #[test]
    fn stock_is_reserved_at_most_once_per_order_ever(commands in commands()) {
        let history = run::<InventoryItem>(&commands, |_, _| Ok(()), |_| false)?;
        let reserved: Vec<_> = history.iter().filter_map(reserved_for).collect();
        let distinct: BTreeSet<_> = reserved.iter().collect();
        prop_assert_eq!(distinct.len(), reserved.len());
    }
}

#[test]
fn the_generated_inventory_sequences_reach_every_event_type() {
    let reached = event_types_reached::<InventoryItem>(commands());
    assert_eq!(reached, InventoryEvent::EVENT_TYPES.into_iter().collect());
}
