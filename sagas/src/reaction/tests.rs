//! The saga table, one row at a time.

#![allow(clippy::unwrap_used)]

use causeway_domain::customer::{CreditReservationDeclined, CreditReserved};
use causeway_domain::inventory::{StockReservationRejected, StockReserved};
use causeway_domain::order::{
    OrderAwaitingPayment, OrderCancelled, OrderConfirmed, OrderExpired, OrderLine,
    OrderPaymentAuthorized, OrderPlaced, OrderRejected,
};
use causeway_domain::payment::{PaymentAuthorized, PaymentDeclined, PaymentVoided};
use causeway_domain::{Currency, Money, Quantity};
use chrono::TimeZone;

use super::*;

const ORDER: &str = "0b5f6bd6-6c1f-4a4e-9d3e-2f6b1f3c9a10";
const CUSTOMER: &str = "5d2b7e44-1f0a-4c8e-9a51-7c3e2b1d0f99";

fn order_id() -> OrderId {
    OrderId::parse(ORDER).unwrap()
}
fn customer() -> CustomerId {
    CustomerId::parse(CUSTOMER).unwrap()
}
fn eur(cents: i64) -> Money {
    Money::parse(cents, Currency::parse("EUR").unwrap()).unwrap()
}
fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}
fn qty(n: u32) -> Quantity {
    Quantity::parse(n).unwrap()
}
fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, hour, 0, 0).unwrap()
}
fn placed() -> ShopEvent {
    ShopEvent::Order(OrderEvent::OrderPlaced(OrderPlaced {
        customer_id: customer(),
        currency: Currency::parse("EUR").unwrap(),
        lines: vec![
            OrderLine {
                sku: sku("A-1"),
                quantity: qty(2),
                unit_price: eur(100),
            },
            OrderLine {
                sku: sku("B-2"),
                quantity: qty(1),
                unit_price: eur(50),
            },
        ],
        total: eur(250),
        placed_at: at(10),
        deadline: at(11),
    }))
}
fn reserve(s: &str, n: u32) -> Reaction {
    Reaction::Inventory {
        sku: sku(s),
        command: InventoryCommand::Reserve {
            order_id: order_id(),
            quantity: qty(n),
        },
    }
}
fn release(s: &str) -> Reaction {
    Reaction::Inventory {
        sku: sku(s),
        command: InventoryCommand::Release {
            order_id: order_id(),
        },
    }
}
fn to_order(command: OrderCommand) -> Vec<Reaction> {
    vec![Reaction::Order {
        order_id: order_id(),
        command,
    }]
}
fn close_payment(command: PaymentCommand) -> Vec<Reaction> {
    vec![
        Reaction::Payment {
            order_id: order_id(),
            command,
        },
        Reaction::Customer {
            customer_id: customer(),
            command: CustomerCommand::ReleaseCredit {
                order_id: order_id(),
            },
        },
    ]
}
fn skus() -> Vec<Sku> {
    vec![sku("A-1"), sku("B-2")]
}
fn rejected() -> ShopEvent {
    ShopEvent::Order(OrderEvent::OrderRejected(OrderRejected {
        customer_id: customer(),
        reason: RejectionReason::OutOfStock { sku: sku("A-1") },
        skus: skus(),
    }))
}
fn cancelled(was_confirmed: bool) -> ShopEvent {
    ShopEvent::Order(OrderEvent::OrderCancelled(OrderCancelled {
        customer_id: customer(),
        reason: "changed my mind".into(),
        was_confirmed,
        skus: skus(),
    }))
}
fn expired() -> ShopEvent {
    ShopEvent::Order(OrderEvent::OrderExpired(OrderExpired {
        customer_id: customer(),
        deadline: at(11),
        expired_at: at(12),
        skus: skus(),
    }))
}

#[test]
fn inventory_reserves_every_line_of_a_placed_order() {
    let reactions = Participant::Inventory.react(ORDER, &placed()).unwrap();
    assert_eq!(reactions, vec![reserve("A-1", 2), reserve("B-2", 1)]);
}

#[test]
fn inventory_releases_every_sku_of_an_order_that_ends_without_delivery() {
    for event in [rejected(), cancelled(false), cancelled(true), expired()] {
        let reactions = Participant::Inventory.react(ORDER, &event).unwrap();
        assert_eq!(reactions, vec![release("A-1"), release("B-2")], "{event:?}");
    }
}

#[test]
fn payment_reserves_credit_for_the_total_as_the_order_is_placed_beside_the_stock() {
    let reactions = Participant::Payment.react(ORDER, &placed()).unwrap();
    assert_eq!(
        reactions,
        vec![Reaction::Customer {
            customer_id: customer(),
            command: CustomerCommand::ReserveCredit {
                order_id: order_id(),
                amount: eur(250),
            },
        }]
    );
    let awaiting = ShopEvent::Order(OrderEvent::OrderAwaitingPayment(OrderAwaitingPayment {
        customer_id: customer(),
        amount: eur(250),
    }));
    let paid = ShopEvent::Order(OrderEvent::OrderPaymentAuthorized(OrderPaymentAuthorized {
        amount: eur(250),
    }));
    for event in [awaiting, paid] {
        assert_eq!(
            Participant::Payment.react(ORDER, &event).unwrap(),
            vec![],
            "{event:?}"
        );
    }
}

#[test]
fn payment_authorizes_on_reserved_credit_and_declines_on_a_declined_one() {
    let reserved = ShopEvent::Customer(CustomerEvent::CreditReserved(CreditReserved {
        order_id: order_id(),
        amount: eur(250),
    }));
    assert_eq!(
        Participant::Payment.react(CUSTOMER, &reserved).unwrap(),
        vec![Reaction::Payment {
            order_id: order_id(),
            command: PaymentCommand::Authorize {
                customer_id: customer(),
                amount: eur(250),
            },
        }]
    );
    let declined = ShopEvent::Customer(CustomerEvent::CreditReservationDeclined(
        CreditReservationDeclined {
            order_id: order_id(),
            amount: eur(250),
            available: eur(100),
            reason: CreditDeclineReason::InsufficientCredit,
        },
    ));
    let reactions = Participant::Payment.react(CUSTOMER, &declined).unwrap();
    let [
        Reaction::Payment {
            command: PaymentCommand::Decline { reason, amount, .. },
            ..
        },
    ] = reactions.as_slice()
    else {
        panic!("{reactions:?}");
    };
    assert_eq!(amount, &eur(250));
    assert!(reason.contains("insufficient credit"), "{reason}");
}

#[test]
fn payment_voids_on_rejection_and_expiry_refunds_a_confirmed_cancellation_and_always_releases_credit()
 {
    let react = |event| Participant::Payment.react(ORDER, &event).unwrap();
    assert_eq!(react(rejected()), close_payment(PaymentCommand::Void));
    assert_eq!(react(expired()), close_payment(PaymentCommand::Void));
    assert_eq!(react(cancelled(false)), close_payment(PaymentCommand::Void));
    assert_eq!(
        react(cancelled(true)),
        close_payment(PaymentCommand::Refund)
    );
}

#[test]
fn order_marks_lines_rejects_for_stock_confirms_and_rejects_for_payment() {
    let stock_reserved = ShopEvent::Inventory(InventoryEvent::StockReserved(StockReserved {
        order_id: order_id(),
        quantity: qty(2),
    }));
    assert_eq!(
        Participant::Order.react("A-1", &stock_reserved).unwrap(),
        to_order(OrderCommand::MarkLineReserved { sku: sku("A-1") })
    );
    let stock_rejected = ShopEvent::Inventory(InventoryEvent::StockReservationRejected(
        StockReservationRejected {
            order_id: order_id(),
            requested: qty(2),
            available: 1,
        },
    ));
    assert_eq!(
        Participant::Order.react("A-1", &stock_rejected).unwrap(),
        to_order(OrderCommand::Reject {
            reason: RejectionReason::OutOfStock { sku: sku("A-1") }
        })
    );
    let authorized = ShopEvent::Payment(PaymentEvent::PaymentAuthorized(PaymentAuthorized {
        customer_id: customer(),
        amount: eur(250),
    }));
    assert_eq!(
        Participant::Order.react(ORDER, &authorized).unwrap(),
        to_order(OrderCommand::Confirm)
    );
    let declined = ShopEvent::Payment(PaymentEvent::PaymentDeclined(PaymentDeclined {
        customer_id: customer(),
        amount: eur(250),
        reason: "insufficient credit".into(),
    }));
    assert_eq!(
        Participant::Order.react(ORDER, &declined).unwrap(),
        to_order(OrderCommand::Reject {
            reason: RejectionReason::PaymentDeclined {
                reason: "insufficient credit".into()
            }
        })
    );
}

#[test]
fn order_schedules_the_deadline_when_placed_and_clears_it_when_settled() {
    assert_eq!(
        Participant::Order.react(ORDER, &placed()).unwrap(),
        vec![Reaction::ScheduleDeadline {
            order_id: order_id(),
            deadline: at(11),
        }]
    );
    let confirmed = ShopEvent::Order(OrderEvent::OrderConfirmed(OrderConfirmed {
        customer_id: customer(),
        total: eur(250),
    }));
    for event in [confirmed, rejected(), cancelled(true), expired()] {
        assert_eq!(
            Participant::Order.react(ORDER, &event).unwrap(),
            vec![Reaction::ClearDeadline {
                order_id: order_id()
            }],
            "{event:?}"
        );
    }
}

#[test]
fn events_a_participant_does_not_handle_cause_nothing() {
    let voided = ShopEvent::Payment(PaymentEvent::PaymentVoided(PaymentVoided {
        voided_authorization: None,
    }));
    for participant in Participant::ALL {
        assert_eq!(participant.react(ORDER, &voided).unwrap(), vec![]);
    }
    assert_eq!(
        Participant::Inventory
            .react(
                CUSTOMER,
                &ShopEvent::Customer(CustomerEvent::CreditReserved(CreditReserved {
                    order_id: order_id(),
                    amount: eur(1)
                }),)
            )
            .unwrap(),
        vec![]
    );
}

#[test]
fn an_aggregate_id_that_does_not_parse_is_poison() {
    let error = Participant::Inventory
        .react("not-a-uuid", &placed())
        .unwrap_err();
    assert!(error.contains("not-a-uuid"), "{error}");
}

#[test]
fn participants_parse_from_their_names() {
    for participant in Participant::ALL {
        assert_eq!(participant.name().parse::<Participant>(), Ok(participant));
    }
    assert!("billing".parse::<Participant>().is_err());
}
