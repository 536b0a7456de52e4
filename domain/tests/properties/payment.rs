use causeway_domain::{Payment, PaymentCommand, PaymentEvent, PaymentStatus};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{customer_id, event_types_reached, money, run};

fn command() -> impl Strategy<Value = PaymentCommand> {
    prop_oneof![
        3 => (customer_id(), money(3))
            .prop_map(|(customer_id, amount)| PaymentCommand::Authorize { customer_id, amount }),
        2 => (customer_id(), money(3)).prop_map(|(customer_id, amount)| PaymentCommand::Decline {
            customer_id,
            amount,
            reason: "insufficient credit".to_owned(),
        }),
        1 => Just(PaymentCommand::Void),
        1 => Just(PaymentCommand::Refund),
    ]
}

fn commands() -> impl Strategy<Value = Vec<PaymentCommand>> {
    prop::collection::vec(command(), 1..12)
}

/// A closed payment stays closed, with the status of the event that closed it.
fn closed_stays_closed(payment: &Payment, history: &[PaymentEvent]) -> Result<(), TestCaseError> {
    let closing = history
        .iter()
        .find(|e| !matches!(e, PaymentEvent::PaymentAuthorized(_)));
    let expected = match closing {
        Some(PaymentEvent::PaymentDeclined(_)) => Some(PaymentStatus::Declined),
        Some(PaymentEvent::PaymentVoided(_)) => Some(PaymentStatus::Voided),
        Some(PaymentEvent::PaymentRefunded(_)) => Some(PaymentStatus::Refunded),
        _ => history.first().map(|_| PaymentStatus::Authorized),
    };
    prop_assert_eq!(payment.status(), expected);
    prop_assert!(
        history.len() <= 2,
        "at most an authorization and a closing: {:?}",
        history
    );
    Ok(())
}

fn every_payment_command_is_repeatable(_: &PaymentCommand) -> bool {
    true
}

proptest! {
    #[test]
    fn a_payment_closes_once_and_replay_matches_live(commands in commands()) {
        run::<Payment>(&commands, closed_stays_closed, every_payment_command_is_repeatable)?;
    }
}

#[test]
fn the_generated_payment_sequences_reach_every_event_type() {
    let reached = event_types_reached::<Payment>(commands());
    assert_eq!(reached, PaymentEvent::EVENT_TYPES.into_iter().collect());
}
