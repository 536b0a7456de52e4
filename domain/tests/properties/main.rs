//! Property tests: random command sequences against every aggregate.
//!
//! For every aggregate, after each accepted command: the live state equals the replay of
//! the JSON round-tripped history from `Default` (replay == live); every event survives a
//! JSON round trip and its `type` tag is its `event_type()`; the state survives a JSON
//! round trip (snapshots); re-issuing the command decides nothing (where the command is
//! idempotent by design). Each module adds its aggregate's own invariants.

// Test code: a failed unwrap is a failed test, with the value in its message.
#![allow(clippy::unwrap_used)]

mod customer;
mod inventory;
mod order;
mod payment;

use std::collections::BTreeSet;

use causeway_domain::testing::assert_json_round_trip;
use causeway_domain::{Aggregate, CustomerId, DomainEvent, Money, OrderId, Sku};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseError, TestRunner};
use uuid::Uuid;

/// Checks of an aggregate's own invariants, given its state and whole history.
pub(crate) type Invariant<A> = fn(&A, &[<A as Aggregate>::Event]) -> Result<(), TestCaseError>;

/// Runs `commands` in order, checking the shared properties and `invariant` after each
/// accepted one. `repeatable` tells which commands must be no-ops the second time.
pub(crate) fn run<A: Aggregate>(
    commands: &[A::Command],
    invariant: Invariant<A>,
    repeatable: fn(&A::Command) -> bool,
) -> Result<Vec<A::Event>, TestCaseError> {
    let mut live = A::default();
    let mut history = Vec::new();
    let mut stored = Vec::new();
    for command in commands {
        let Ok(events) = live.decide(command) else {
            continue;
        };
        for event in &events {
            let json = assert_json_round_trip(event);
            prop_assert_eq!(json["type"].as_str(), Some(event.event_type()));
            stored.push(serde_json::from_value::<A::Event>(json).unwrap());
            live.apply(event);
        }
        history.extend(events.iter().cloned());
        prop_assert_eq!(&A::replay(&stored), &live);
        assert_json_round_trip(&live);
        invariant(&live, &history)?;
        if !events.is_empty() && repeatable(command) {
            prop_assert_eq!(live.decide(command), Ok(vec![]), "re-issued {:?}", command);
        }
    }
    Ok(history)
}

/// The event types reached by 300 deterministic samples of `sequences`: a check that the
/// generators are rich enough for the properties to mean something.
pub(crate) fn event_types_reached<A: Aggregate>(
    sequences: impl Strategy<Value = Vec<A::Command>>,
) -> BTreeSet<&'static str> {
    let mut runner = TestRunner::deterministic();
    let mut reached = BTreeSet::new();
    for _ in 0..300 {
        let commands = sequences.new_tree(&mut runner).unwrap().current();
        let history = run::<A>(&commands, |_, _| Ok(()), |_| false).unwrap();
        reached.extend(history.iter().map(DomainEvent::event_type));
    }
    reached
}

pub(crate) fn order_id() -> impl Strategy<Value = OrderId> {
    (1_u128..=4).prop_map(|n| OrderId::try_from(Uuid::from_u128(n)).unwrap())
}

pub(crate) fn customer_id() -> impl Strategy<Value = CustomerId> {
    (1_u128..=2).prop_map(|n| CustomerId::try_from(Uuid::from_u128(n)).unwrap())
}

/// Amounts in EUR mostly, now and then in USD.
pub(crate) fn money(max_minor: i64) -> impl Strategy<Value = Money> {
    let currency = prop_oneof![9 => Just("EUR"), 1 => Just("USD")];
    (0..=max_minor, currency)
        .prop_map(|(amount, currency)| Money::parse(amount, currency.parse().unwrap()).unwrap())
}

pub(crate) fn sku() -> impl Strategy<Value = Sku> {
    prop_oneof![Just("APPLE"), Just("PEAR"), Just("PLUM")].prop_map(|s| Sku::parse(s).unwrap())
}
