use causeway_domain::customer::{
    CreditDeclineReason, CreditLimitChanged, CreditReleased, CreditReservationDeclined,
    CreditReserved, CustomerRegistered,
};
use causeway_domain::testing::{self, Given};
use causeway_domain::{Customer, CustomerCommand, CustomerEvent, CustomerName, Email, Money};

use crate::fixtures::{eur, order_id, usd};

fn given(history: &[CustomerEvent]) -> Given<Customer> {
    testing::given(history)
}

fn registration(limit: Money) -> CustomerRegistered {
    CustomerRegistered {
        name: CustomerName::parse("Ada Lovelace").unwrap(),
        email: Email::parse("ada@example.com").unwrap(),
        credit_limit: limit,
        owner: None,
    }
}

fn registered(limit: i64) -> CustomerEvent {
    CustomerEvent::CustomerRegistered(registration(eur(limit)))
}

fn register(details: CustomerRegistered) -> CustomerCommand {
    CustomerCommand::Register {
        name: details.name,
        email: details.email,
        credit_limit: details.credit_limit,
        owner: details.owner,
    }
}

fn reserved(order: u128, amount: i64) -> CustomerEvent {
    CustomerEvent::CreditReserved(CreditReserved {
        order_id: order_id(order),
        amount: eur(amount),
    })
}

fn released(order: u128, amount: i64) -> CustomerEvent {
    CustomerEvent::CreditReleased(CreditReleased {
        order_id: order_id(order),
        amount: eur(amount),
    })
}

fn declined(
    order: u128,
    amount: Money,
    available: i64,
    reason: CreditDeclineReason,
) -> CustomerEvent {
    CustomerEvent::CreditReservationDeclined(CreditReservationDeclined {
        order_id: order_id(order),
        amount,
        available: eur(available),
        reason,
    })
}

fn reserve(order: u128, amount: Money) -> CustomerCommand {
    CustomerCommand::ReserveCredit {
        order_id: order_id(order),
        amount,
    }
}

fn release(order: u128) -> CustomerCommand {
    CustomerCommand::ReleaseCredit {
        order_id: order_id(order),
    }
}

fn change_limit(limit: Money) -> CustomerCommand {
    CustomerCommand::ChangeCreditLimit { limit }
}

fn limit_changed(limit: i64) -> CustomerEvent {
    CustomerEvent::CreditLimitChanged(CreditLimitChanged { limit: eur(limit) })
}

#[test]
fn registering_a_new_customer_records_the_registration() {
    let customer = given(&[])
        .when(register(registration(eur(10_000))))
        .then(&[registered(10_000)]);
    assert_eq!(customer.credit_limit(), Some(&eur(10_000)));
    assert_eq!(customer.available_credit(), Some(eur(10_000)));
}

#[test]
fn registering_again_with_the_same_details_changes_nothing() {
    given(&[registered(10_000)])
        .when(register(registration(eur(10_000))))
        .then_nothing();
}

#[test]
fn registering_again_after_the_limit_changed_still_changes_nothing() {
    given(&[registered(10_000), limit_changed(20_000)])
        .when(register(registration(eur(10_000))))
        .then_nothing();
}

#[test]
fn registering_again_with_other_details_is_rejected() {
    given(&[registered(10_000)])
        .when(register(registration(eur(99))))
        .then_rejected("customer_already_registered");
}

#[test]
fn a_customer_registering_itself_is_recorded_as_its_owner_and_another_owner_is_rejected() {
    let owned = CustomerRegistered {
        owner: Some("customer-alice".to_owned()),
        ..registration(eur(0))
    };
    let event = CustomerEvent::CustomerRegistered(owned.clone());
    given(&[])
        .when(register(owned.clone()))
        .then(std::slice::from_ref(&event));
    given(std::slice::from_ref(&event))
        .when(register(owned.clone()))
        .then_nothing();
    let stolen = CustomerRegistered {
        owner: Some("customer-mallory".to_owned()),
        ..owned
    };
    given(&[event])
        .when(register(stolen))
        .then_rejected("customer_already_registered");
}

#[test]
fn changing_the_credit_limit_of_an_unregistered_customer_is_rejected() {
    given(&[])
        .when(change_limit(eur(5_000)))
        .then_rejected("customer_not_found");
}

#[test]
fn raising_the_credit_limit_records_the_new_limit() {
    let customer = given(&[registered(10_000)])
        .when(change_limit(eur(15_000)))
        .then(&[limit_changed(15_000)]);
    assert_eq!(customer.credit_limit(), Some(&eur(15_000)));
}

#[test]
fn lowering_the_credit_limit_to_exactly_the_reserved_credit_is_accepted() {
    given(&[registered(10_000), reserved(1, 4_000)])
        .when(change_limit(eur(4_000)))
        .then(&[limit_changed(4_000)]);
}

#[test]
fn lowering_the_credit_limit_below_the_reserved_credit_is_rejected() {
    given(&[registered(10_000), reserved(1, 4_000)])
        .when(change_limit(eur(3_999)))
        .then_rejected("credit_limit_below_reserved");
}

#[test]
fn changing_the_credit_limit_to_another_currency_is_rejected() {
    given(&[registered(10_000)])
        .when(change_limit(usd(10_000)))
        .then_rejected("currency_mismatch");
}

#[test]
fn setting_the_credit_limit_it_already_has_changes_nothing() {
    given(&[registered(10_000)])
        .when(change_limit(eur(10_000)))
        .then_nothing();
}

#[test]
fn reserving_credit_for_an_unregistered_customer_is_rejected() {
    given(&[])
        .when(reserve(1, eur(100)))
        .then_rejected("customer_not_found");
}

#[test]
fn reserving_credit_within_the_limit_records_the_reservation() {
    let customer = given(&[registered(10_000), reserved(1, 3_000)])
        .when(reserve(2, eur(2_000)))
        .then(&[reserved(2, 2_000)]);
    assert_eq!(customer.reserved_credit(), Some(eur(5_000)));
    assert_eq!(customer.available_credit(), Some(eur(5_000)));
    assert_eq!(customer.reservation(&order_id(2)), Some(&eur(2_000)));
}

#[test]
fn reserving_exactly_the_available_credit_is_accepted() {
    given(&[registered(10_000), reserved(1, 3_000)])
        .when(reserve(2, eur(7_000)))
        .then(&[reserved(2, 7_000)]);
}

#[test]
fn reserving_more_than_the_available_credit_emits_a_decline() {
    let insufficient = CreditDeclineReason::InsufficientCredit;
    let customer = given(&[registered(10_000), reserved(1, 3_000)])
        .when(reserve(2, eur(7_001)))
        .then(&[declined(2, eur(7_001), 7_000, insufficient)]);
    assert_eq!(customer.reserved_credit(), Some(eur(3_000)));
}

#[test]
fn reserving_credit_in_another_currency_emits_a_decline() {
    let mismatch = CreditDeclineReason::CurrencyMismatch;
    given(&[registered(10_000)])
        .when(reserve(1, usd(100)))
        .then(&[declined(1, usd(100), 10_000, mismatch)]);
}

#[test]
fn reserving_again_for_an_order_already_reserved_changes_nothing() {
    given(&[registered(10_000), reserved(1, 3_000)])
        .when(reserve(1, eur(3_000)))
        .then_nothing();
}

#[test]
fn reserving_again_for_a_declined_order_changes_nothing_even_with_more_credit() {
    let insufficient = CreditDeclineReason::InsufficientCredit;
    given(&[
        registered(100),
        declined(1, eur(500), 100, insufficient),
        limit_changed(1_000),
    ])
    .when(reserve(1, eur(500)))
    .then_nothing();
}

#[test]
fn reserving_for_an_order_whose_credit_was_released_changes_nothing() {
    given(&[registered(10_000), reserved(1, 3_000), released(1, 3_000)])
        .when(reserve(1, eur(3_000)))
        .then_nothing();
}

#[test]
fn releasing_credit_of_an_unregistered_customer_is_rejected() {
    given(&[])
        .when(release(1))
        .then_rejected("customer_not_found");
}

#[test]
fn releasing_reserved_credit_records_the_amount_and_frees_it() {
    let customer = given(&[registered(10_000), reserved(1, 3_000), reserved(2, 1_000)])
        .when(release(1))
        .then(&[released(1, 3_000)]);
    assert_eq!(customer.reserved_credit(), Some(eur(1_000)));
    assert_eq!(customer.reservation(&order_id(1)), None);
}

#[test]
fn releasing_credit_for_an_order_without_a_reservation_changes_nothing() {
    given(&[registered(10_000), reserved(1, 3_000)])
        .when(release(2))
        .then_nothing();
}

#[test]
fn releasing_credit_twice_changes_nothing() {
    given(&[registered(10_000), reserved(1, 3_000), released(1, 3_000)])
        .when(release(1))
        .then_nothing();
}
