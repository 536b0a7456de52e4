//! Event metadata and wire shape: every event type has a sample here, its `type` tag is
//! its `event_type()`, it round-trips through JSON, and its payload stays Avro-friendly.

// Test code: a failed unwrap is a failed test, with the value in its message.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use causeway_domain::customer::{self, *};
use causeway_domain::inventory::{self, *};
use causeway_domain::order::{self, *};
use causeway_domain::payment::{self, *};
use causeway_domain::testing::assert_json_round_trip;
use causeway_domain::{
    Aggregate, Currency, Customer, CustomerId, CustomerName, DomainEvent, Email, InventoryItem,
    Money, Order, OrderId, OrderLine, Payment, Quantity, RejectionReason, Sku,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

fn eur(amount_minor: i64) -> Money {
    Money::parse(amount_minor, Currency::parse("EUR").unwrap()).unwrap()
}

fn order_id() -> OrderId {
    OrderId::try_from(Uuid::from_u128(1)).unwrap()
}

fn customer_id() -> CustomerId {
    CustomerId::try_from(Uuid::from_u128(2)).unwrap()
}

fn sku() -> Sku {
    Sku::parse("APPLE").unwrap()
}

fn qty() -> Quantity {
    Quantity::parse(3).unwrap()
}

fn time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-01-01T10:00:00.123456Z")
        .unwrap()
        .to_utc()
}

fn customer_samples() -> Vec<CustomerEvent> {
    vec![
        CustomerEvent::CustomerRegistered(CustomerRegistered {
            name: CustomerName::parse("Ada").unwrap(),
            email: Email::parse("ada@example.com").unwrap(),
            credit_limit: eur(1_000),
            owner: Some("customer-ada".to_owned()),
        }),
        CustomerEvent::CreditLimitChanged(CreditLimitChanged { limit: eur(2_000) }),
        CustomerEvent::CreditReserved(CreditReserved {
            order_id: order_id(),
            amount: eur(5),
        }),
        CustomerEvent::CreditReservationDeclined(CreditReservationDeclined {
            order_id: order_id(),
            amount: eur(5),
            available: eur(4),
            reason: CreditDeclineReason::InsufficientCredit,
        }),
        CustomerEvent::CreditReleased(CreditReleased {
            order_id: order_id(),
            amount: eur(5),
        }),
    ]
}

fn inventory_samples() -> Vec<InventoryEvent> {
    vec![
        InventoryEvent::StockRestocked(StockRestocked { quantity: qty() }),
        InventoryEvent::StockReserved(StockReserved {
            order_id: order_id(),
            quantity: qty(),
        }),
        InventoryEvent::StockReservationRejected(StockReservationRejected {
            order_id: order_id(),
            requested: qty(),
            available: 2,
        }),
        InventoryEvent::StockReleased(StockReleased {
            order_id: order_id(),
            quantity: qty(),
        }),
    ]
}

fn order_placed() -> OrderEvent {
    OrderEvent::OrderPlaced(OrderPlaced {
        customer_id: customer_id(),
        currency: Currency::parse("EUR").unwrap(),
        lines: vec![OrderLine {
            sku: sku(),
            quantity: qty(),
            unit_price: eur(150),
        }],
        total: eur(450),
        placed_at: time(),
        deadline: time() + chrono::Duration::minutes(15),
    })
}

fn order_samples() -> Vec<OrderEvent> {
    let (customer_id, skus) = (customer_id(), vec![sku()]);
    vec![
        order_placed(),
        OrderEvent::OrderLineReserved(OrderLineReserved { sku: sku() }),
        OrderEvent::OrderAwaitingPayment(OrderAwaitingPayment {
            customer_id,
            amount: eur(450),
        }),
        OrderEvent::OrderPaymentAuthorized(OrderPaymentAuthorized { amount: eur(450) }),
        OrderEvent::OrderConfirmed(OrderConfirmed {
            customer_id,
            total: eur(450),
        }),
        OrderEvent::OrderRejected(OrderRejected {
            customer_id,
            reason: RejectionReason::OutOfStock { sku: sku() },
            skus: skus.clone(),
        }),
        OrderEvent::OrderCancelled(OrderCancelled {
            customer_id,
            reason: "changed my mind".to_owned(),
            was_confirmed: true,
            skus: skus.clone(),
        }),
        OrderEvent::OrderExpired(OrderExpired {
            customer_id,
            deadline: time(),
            expired_at: time(),
            skus,
        }),
    ]
}

fn payment_samples() -> Vec<PaymentEvent> {
    let customer_id = customer_id();
    let authorization = Authorization {
        customer_id,
        amount: eur(450),
    };
    vec![
        PaymentEvent::PaymentAuthorized(PaymentAuthorized {
            customer_id,
            amount: eur(450),
        }),
        PaymentEvent::PaymentDeclined(PaymentDeclined {
            customer_id,
            amount: eur(450),
            reason: "insufficient credit".to_owned(),
        }),
        PaymentEvent::PaymentVoided(PaymentVoided {
            voided_authorization: Some(authorization),
        }),
        PaymentEvent::PaymentRefunded(PaymentRefunded {
            customer_id,
            amount: eur(450),
        }),
    ]
}

/// Checks the samples of one aggregate against its published event types and version.
fn check_samples<A: Aggregate>(samples: &[A::Event], types: &[&str], version: &str) {
    let sampled: BTreeSet<_> = samples.iter().map(DomainEvent::event_type).collect();
    assert_eq!(
        sampled,
        types.iter().copied().collect(),
        "every event type has a sample"
    );
    for event in samples {
        let json = assert_json_round_trip(event);
        assert_eq!(json["type"], json!(event.event_type()));
        assert_eq!(event.event_version(), version);
        assert_avro_friendly(&json["data"], event.event_type());
    }
}

/// No floating-point numbers anywhere, and records (objects) all the way down.
fn assert_avro_friendly(value: &Value, path: &str) {
    match value {
        Value::Number(n) => assert!(n.is_i64() || n.is_u64(), "{path} is not an integer"),
        Value::Array(items) => items.iter().for_each(|v| assert_avro_friendly(v, path)),
        Value::Object(fields) => {
            for (name, v) in fields {
                assert_avro_friendly(v, &format!("{path}.{name}"));
            }
        }
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

#[test]
fn every_customer_event_type_round_trips_with_its_type_tag() {
    check_samples::<Customer>(&customer_samples(), &CustomerEvent::EVENT_TYPES, "1");
}

#[test]
fn every_inventory_event_type_round_trips_with_its_type_tag() {
    check_samples::<InventoryItem>(&inventory_samples(), &InventoryEvent::EVENT_TYPES, "1");
}

#[test]
fn every_order_event_type_round_trips_with_its_type_tag() {
    check_samples::<Order>(&order_samples(), &OrderEvent::EVENT_TYPES, "1");
}

#[test]
fn every_payment_event_type_round_trips_with_its_type_tag() {
    check_samples::<Payment>(&payment_samples(), &PaymentEvent::EVENT_TYPES, "1");
}

/// `apply` holds no rules, so even a history `decide` would never produce must not panic.
fn apply_stray_pairs<A: Aggregate>(samples: &[A::Event]) {
    for first in samples {
        for second in samples {
            let mut state = A::default();
            for event in [second, first, second, first] {
                state.apply(event);
            }
        }
    }
}

#[test]
fn applying_events_in_any_order_never_panics() {
    apply_stray_pairs::<Customer>(&customer_samples());
    apply_stray_pairs::<InventoryItem>(&inventory_samples());
    apply_stray_pairs::<Order>(&order_samples());
    apply_stray_pairs::<Payment>(&payment_samples());
}

#[test]
fn aggregate_type_names_are_fixed() {
    assert_eq!(
        [
            Customer::TYPE,
            InventoryItem::TYPE,
            Order::TYPE,
            Payment::TYPE
        ],
        ["Customer", "InventoryItem", "Order", "Payment"]
    );
    assert_eq!(customer::AGGREGATE_TYPE, "Customer");
    assert_eq!(inventory::AGGREGATE_TYPE, "InventoryItem");
    assert_eq!(order::AGGREGATE_TYPE, "Order");
    assert_eq!(payment::AGGREGATE_TYPE, "Payment");
}

#[test]
fn an_order_placed_event_has_the_documented_json_shape() {
    let expected = json!({
        "type": "OrderPlaced",
        "data": {
            "customer_id": "00000000-0000-0000-0000-000000000002",
            "currency": "EUR",
            "lines": [{
                "sku": "APPLE",
                "quantity": 3,
                "unit_price": {"amount_minor": 150, "currency": "EUR"}
            }],
            "total": {"amount_minor": 450, "currency": "EUR"},
            "placed_at": "2030-01-01T10:00:00.123456Z",
            "deadline": "2030-01-01T10:15:00.123456Z"
        }
    });
    assert_eq!(serde_json::to_value(order_placed()).unwrap(), expected);
}

#[test]
fn a_rejection_reason_is_stored_as_one_flat_record() {
    let out_of_stock = RejectionReason::OutOfStock { sku: sku() };
    assert_eq!(
        serde_json::to_value(&out_of_stock).unwrap(),
        json!({"kind": "OutOfStock", "sku": "APPLE", "payment_reason": null})
    );
    let declined = RejectionReason::PaymentDeclined {
        reason: "no credit".to_owned(),
    };
    assert_eq!(
        serde_json::to_value(&declined).unwrap(),
        json!({"kind": "PaymentDeclined", "sku": null, "payment_reason": "no credit"})
    );
}

#[test]
fn a_rejection_reason_record_missing_its_detail_is_refused() {
    let no_sku = json!({"kind": "OutOfStock", "sku": null, "payment_reason": null});
    assert!(serde_json::from_value::<RejectionReason>(no_sku).is_err());
    let no_reason = json!({"kind": "PaymentDeclined", "sku": null, "payment_reason": null});
    assert!(serde_json::from_value::<RejectionReason>(no_reason).is_err());
}

#[test]
fn a_voided_payment_that_was_never_authorized_stores_a_null_authorization() {
    let voided = PaymentEvent::PaymentVoided(PaymentVoided {
        voided_authorization: None,
    });
    let json = assert_json_round_trip(&voided);
    assert_eq!(json["data"], json!({"voided_authorization": null}));
}
