use causeway_domain::payment::{
    Authorization, PaymentAuthorized, PaymentDeclined, PaymentRefunded, PaymentVoided,
};
use causeway_domain::testing::{self, Given};
use causeway_domain::{Payment, PaymentCommand, PaymentEvent, PaymentStatus};

use crate::fixtures::{customer_id, eur};

fn given(history: &[PaymentEvent]) -> Given<Payment> {
    testing::given(history)
}

fn authorize(amount: i64) -> PaymentCommand {
    PaymentCommand::Authorize {
        customer_id: customer_id(1),
        amount: eur(amount),
    }
}

fn decline(amount: i64) -> PaymentCommand {
    PaymentCommand::Decline {
        customer_id: customer_id(1),
        amount: eur(amount),
        reason: "insufficient credit".to_owned(),
    }
}

fn authorized(amount: i64) -> PaymentEvent {
    PaymentEvent::PaymentAuthorized(PaymentAuthorized {
        customer_id: customer_id(1),
        amount: eur(amount),
    })
}

fn declined(amount: i64) -> PaymentEvent {
    PaymentEvent::PaymentDeclined(PaymentDeclined {
        customer_id: customer_id(1),
        amount: eur(amount),
        reason: "insufficient credit".to_owned(),
    })
}

fn voided(authorized_amount: Option<i64>) -> PaymentEvent {
    PaymentEvent::PaymentVoided(PaymentVoided {
        voided_authorization: authorized_amount.map(|amount| Authorization {
            customer_id: customer_id(1),
            amount: eur(amount),
        }),
    })
}

fn refunded(amount: i64) -> PaymentEvent {
    PaymentEvent::PaymentRefunded(PaymentRefunded {
        customer_id: customer_id(1),
        amount: eur(amount),
    })
}

#[test]
fn authorizing_a_new_payment_records_the_authorization() {
    let payment = given(&[]).when(authorize(500)).then(&[authorized(500)]);
    assert_eq!(payment.status(), Some(PaymentStatus::Authorized));
    assert_eq!(
        payment.authorization().map(|a| a.amount.clone()),
        Some(eur(500))
    );
}

#[test]
fn authorizing_again_with_the_same_amount_changes_nothing() {
    given(&[authorized(500)])
        .when(authorize(500))
        .then_nothing();
}

#[test]
fn authorizing_again_with_another_amount_is_rejected() {
    given(&[authorized(500)])
        .when(authorize(600))
        .then_rejected("payment_already_authorized");
}

#[test]
fn authorizing_a_voided_payment_changes_nothing() {
    given(&[voided(None)]).when(authorize(500)).then_nothing();
}

#[test]
fn authorizing_a_declined_payment_changes_nothing() {
    given(&[declined(500)]).when(authorize(500)).then_nothing();
}

#[test]
fn authorizing_a_refunded_payment_changes_nothing() {
    given(&[authorized(500), refunded(500)])
        .when(authorize(500))
        .then_nothing();
}

#[test]
fn declining_a_new_payment_records_the_decline() {
    let payment = given(&[]).when(decline(500)).then(&[declined(500)]);
    assert_eq!(payment.status(), Some(PaymentStatus::Declined));
}

#[test]
fn declining_again_changes_nothing() {
    given(&[declined(500)]).when(decline(500)).then_nothing();
}

#[test]
fn declining_an_authorized_payment_is_rejected() {
    given(&[authorized(500)])
        .when(decline(500))
        .then_rejected("payment_already_authorized");
}

#[test]
fn declining_a_voided_payment_changes_nothing() {
    given(&[voided(None)]).when(decline(500)).then_nothing();
}

#[test]
fn voiding_an_authorized_payment_releases_its_authorization() {
    let payment = given(&[authorized(500)])
        .when(PaymentCommand::Void)
        .then(&[voided(Some(500))]);
    assert_eq!(payment.status(), Some(PaymentStatus::Voided));
}

#[test]
fn voiding_a_payment_never_authorized_closes_it() {
    let payment = given(&[]).when(PaymentCommand::Void).then(&[voided(None)]);
    assert_eq!(payment.status(), Some(PaymentStatus::Voided));
}

#[test]
fn voiding_twice_changes_nothing() {
    given(&[authorized(500), voided(Some(500))])
        .when(PaymentCommand::Void)
        .then_nothing();
}

#[test]
fn voiding_a_declined_payment_changes_nothing() {
    given(&[declined(500)])
        .when(PaymentCommand::Void)
        .then_nothing();
}

#[test]
fn voiding_a_refunded_payment_changes_nothing() {
    given(&[authorized(500), refunded(500)])
        .when(PaymentCommand::Void)
        .then_nothing();
}

#[test]
fn refunding_an_authorized_payment_refunds_the_authorized_amount() {
    let payment = given(&[authorized(500)])
        .when(PaymentCommand::Refund)
        .then(&[refunded(500)]);
    assert_eq!(payment.status(), Some(PaymentStatus::Refunded));
}

#[test]
fn refunding_twice_changes_nothing() {
    given(&[authorized(500), refunded(500)])
        .when(PaymentCommand::Refund)
        .then_nothing();
}

#[test]
fn refunding_a_declined_payment_changes_nothing() {
    given(&[declined(500)])
        .when(PaymentCommand::Refund)
        .then_nothing();
}

#[test]
fn refunding_a_payment_never_authorized_changes_nothing() {
    given(&[]).when(PaymentCommand::Refund).then_nothing();
}

#[test]
fn refunding_a_voided_payment_changes_nothing() {
    given(&[authorized(500), voided(Some(500))])
        .when(PaymentCommand::Refund)
        .then_nothing();
}
