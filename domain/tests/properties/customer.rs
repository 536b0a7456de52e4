use std::collections::BTreeSet;

use causeway_domain::{Customer, CustomerCommand, CustomerEvent, CustomerName, Email};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{event_types_reached, money, order_id, run};

fn register() -> impl Strategy<Value = CustomerCommand> {
    let name = prop_oneof![9 => Just("Ada"), 1 => Just("Grace")];
    (name, money(5_000)).prop_map(|(name, credit_limit)| CustomerCommand::Register {
        name: CustomerName::parse(name).unwrap(),
        email: Email::parse("someone@example.com").unwrap(),
        credit_limit,
        owner: None,
    })
}

fn command() -> impl Strategy<Value = CustomerCommand> {
    prop_oneof![
        1 => register(),
        2 => money(5_000).prop_map(|limit| CustomerCommand::ChangeCreditLimit { limit }),
        5 => (order_id(), money(2_000))
            .prop_map(|(order_id, amount)| CustomerCommand::ReserveCredit { order_id, amount }),
        3 => order_id().prop_map(|order_id| CustomerCommand::ReleaseCredit { order_id }),
    ]
}

fn commands() -> impl Strategy<Value = Vec<CustomerCommand>> {
    (register(), prop::collection::vec(command(), 0..40)).prop_map(|(first, mut rest)| {
        rest.insert(0, first);
        rest
    })
}

fn reserved_within_limit(customer: &Customer, _: &[CustomerEvent]) -> Result<(), TestCaseError> {
    let (Some(limit), Some(reserved)) = (customer.credit_limit(), customer.reserved_credit())
    else {
        return Ok(());
    };
    prop_assert!(
        reserved.amount_minor() <= limit.amount_minor(),
        "{reserved} > {limit}"
    );
    let available = limit.checked_sub(&reserved).unwrap();
    prop_assert_eq!(customer.available_credit(), Some(available));
    Ok(())
}

fn every_customer_command_is_repeatable(_: &CustomerCommand) -> bool {
    true
}

fn credit_reserved_for(event: &CustomerEvent) -> Option<causeway_domain::OrderId> {
    match event {
        CustomerEvent::CreditReserved(reserved) => Some(reserved.order_id),
        _ => None,
    }
}

proptest! {
    #[test]
    fn reserved_credit_never_exceeds_the_limit_and_replay_matches_live(commands in commands()) {
        run::<Customer>(&commands, reserved_within_limit, every_customer_command_is_repeatable)?;
    }

    #[test]
    fn credit_is_reserved_at_most_once_per_order(commands in commands()) {
        let history = run::<Customer>(&commands, |_, _| Ok(()), |_| false)?;
        let reserved: Vec<_> = history.iter().filter_map(credit_reserved_for).collect();
        let distinct: BTreeSet<_> = reserved.iter().collect();
        prop_assert_eq!(distinct.len(), reserved.len());
    }
}

#[test]
fn the_generated_customer_sequences_reach_every_event_type() {
    let reached = event_types_reached::<Customer>(commands());
    assert_eq!(reached, CustomerEvent::EVENT_TYPES.into_iter().collect());
}
