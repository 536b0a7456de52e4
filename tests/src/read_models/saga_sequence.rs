//! What every read model and the query API must show after [`Stack::run_sagas`], one step
//! per read model; `read_models_saga_sequence` runs them in order.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{SagaRun, Stack, WAIT, text, time};
use crate::eventually;

/// Orders, read with the consistency token of the last command on each: order 1 cancelled
/// after its confirmation, order 2 rejected out of stock, order 3 confirmed.
pub async fn orders_show_each_outcome_at_the_version_asked_for(s: &Stack, shop: &SagaRun) {
    let o1 = s
        .get_ok(&format!(
            "/api/orders/{}?min_version={}",
            shop.o1, shop.o1_version
        ))
        .await;
    assert_eq!(o1["status"], "cancelled");
    assert_eq!(o1["cancel_reason"], "changed my mind");
    assert_eq!(o1["rejection_reason"], Value::Null);
    assert_eq!(o1["customer_id"], shop.customer.as_str());
    assert_eq!(
        (o1["total_minor"].clone(), o1["currency"].clone()),
        (json!(2100), json!("EUR"))
    );
    assert_eq!(
        o1["version"], 6,
        "placed, 2 lines reserved, awaiting payment, confirmed, cancelled"
    );
    assert_eq!(
        lines(&o1),
        vec![
            ("TEA-1".into(), 2, 450, true),
            ("CUP-2".into(), 1, 1200, true)
        ]
    );
    let o2 = s
        .get_ok(&format!("/api/orders/{}?min_version=2", shop.o2))
        .await;
    assert_eq!(o2["status"], "rejected");
    assert_eq!(o2["rejection_reason"], "MUG-9 is out of stock");
    assert_eq!(lines(&o2), vec![("MUG-9".into(), 50, 100, false)]);
    let o3 = s
        .get_ok(&format!("/api/orders/{}?min_version=4", shop.o3))
        .await;
    assert_eq!(
        (o3["status"].clone(), o3["version"].clone()),
        (json!("confirmed"), json!(4))
    );
    assert_eq!(o3["total_minor"], 450);
}

/// The customer: limit changed to 1500.00, 4.50 still reserved for the confirmed order.
pub async fn the_customer_shows_its_new_limit_and_the_credit_still_reserved(
    s: &Stack,
    shop: &SagaRun,
) {
    let path = format!(
        "/api/customers/{}?min_version={}",
        shop.customer, shop.customer_version
    );
    let customer = s.get_ok(&path).await;
    assert_eq!(customer["name"], "Ada Lovelace");
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["currency"], "EUR");
    assert_eq!(customer["credit_limit"], 150_000);
    assert_eq!(customer["reserved_credit"], 450);
    assert_eq!(customer["available_credit"], 149_550);
    assert_eq!(customer["version"], shop.customer_version);
}

/// Payments: refunded for the cancelled order, authorized for the confirmed one, none for
/// the rejected one.
pub async fn payments_show_the_refund_and_the_authorization(s: &Stack, shop: &SagaRun) {
    let p1 = s
        .get_ok(&format!("/api/orders/{}/payment?min_version=2", shop.o1))
        .await;
    assert_eq!(p1["status"], "refunded");
    assert_eq!(
        (p1["amount_minor"].clone(), p1["currency"].clone()),
        (json!(2100), json!("EUR"))
    );
    assert_eq!(p1["customer_id"], shop.customer.as_str());
    assert!(
        p1["authorized_at"].is_string() && p1["refunded_at"].is_string(),
        "{p1}"
    );
    assert_eq!(p1["voided_at"], Value::Null);
    assert!(
        time(&p1["authorized_at"]) < time(&p1["refunded_at"]),
        "{p1}"
    );
    let p3 = s
        .get_ok(&format!("/api/orders/{}/payment?min_version=1", shop.o3))
        .await;
    assert_eq!(
        (p3["status"].clone(), p3["amount_minor"].clone()),
        (json!("authorized"), json!(450))
    );
    assert_eq!(
        s.get(&format!("/api/orders/{}/payment", shop.o2)).await.0,
        404
    );
}

/// Notifications: exactly what would be sent, once each.
pub async fn notifications_are_each_sent_once(s: &Stack, shop: &SagaRun) {
    let expected: BTreeSet<(String, String, String)> = [
        (
            &shop.o1,
            "order_confirmed",
            format!(
                "Your order {} is confirmed; 21.00 EUR will be charged.",
                shop.o1
            ),
        ),
        (
            &shop.o1,
            "order_cancelled",
            format!("Your order {} was cancelled: changed my mind.", shop.o1),
        ),
        (
            &shop.o1,
            "payment_refunded",
            format!("21.00 EUR was refunded for your order {}.", shop.o1),
        ),
        (
            &shop.o2,
            "order_rejected",
            format!(
                "Your order {} was rejected: MUG-9 is out of stock.",
                shop.o2
            ),
        ),
        (
            &shop.o3,
            "order_confirmed",
            format!(
                "Your order {} is confirmed; 4.50 EUR will be charged.",
                shop.o3
            ),
        ),
    ]
    .into_iter()
    .map(|(o, k, m)| (o.clone(), k.to_owned(), m))
    .collect();
    let notifications = eventually(WAIT, "five notifications", || async {
        let page = s
            .get_ok(&format!("/api/notifications?customer_id={}", shop.customer))
            .await;
        let items = page["items"].as_array().unwrap().clone();
        (items.len() >= expected.len()).then_some(items)
    })
    .await;
    let got: BTreeSet<(String, String, String)> = notifications
        .iter()
        .map(|n| {
            assert_eq!(n["customer_id"], shop.customer.as_str());
            (text(&n["order_id"]), text(&n["kind"]), text(&n["message"]))
        })
        .collect();
    assert_eq!(notifications.len(), 5, "{notifications:?}");
    assert_eq!(got, expected);
}

/// The timeline of order 1: every step of all four participants, in order, one trace, each
/// step at its event's own time.
pub async fn order_1s_timeline_holds_every_step_in_order_in_one_trace(s: &Stack, shop: &SagaRun) {
    let timeline = s.wait_for_timeline(&shop.o1, 14).await;
    let steps: Vec<(String, String, String)> = timeline
        .iter()
        .map(|t| {
            (
                text(&t["participant"]),
                text(&t["event_type"]),
                text(&t["outcome"]),
            )
        })
        .collect();
    let expected_steps = [
        ("order", "OrderPlaced", "placed"),
        ("inventory", "StockReserved", "reserved"),
        ("order", "OrderLineReserved", "line_reserved"),
        ("inventory", "StockReserved", "reserved"),
        ("order", "OrderLineReserved", "line_reserved"),
        ("order", "OrderAwaitingPayment", "awaiting_payment"),
        ("credit", "CreditReserved", "reserved"),
        ("payment", "PaymentAuthorized", "authorized"),
        ("order", "OrderConfirmed", "confirmed"),
        ("order", "OrderCancelled", "cancelled"),
        ("payment", "PaymentRefunded", "refunded"),
        ("inventory", "StockReleased", "released"),
        ("inventory", "StockReleased", "released"),
        ("credit", "CreditReleased", "released"),
    ]
    .map(|(p, e, o)| (p.to_owned(), e.to_owned(), o.to_owned()));
    assert_eq!(steps, expected_steps);
    let mut event_ids = BTreeSet::new();
    for (step, previous) in timeline.iter().skip(1).zip(&timeline) {
        assert!(
            time(&step["timestamp"]) >= time(&previous["timestamp"]),
            "{timeline:?}"
        );
    }
    for step in &timeline {
        assert_eq!(step["trace_id"], shop.trace_o1.as_str(), "{step}");
        // Each step links to its trace in the configured Jaeger UI (read_api.jaeger_ui_url).
        assert_eq!(
            step["jaeger_url"],
            format!("http://127.0.0.1:16686/trace/{}", shop.trace_o1),
            "{step}"
        );
        assert!(
            event_ids.insert(text(&step["event_id"])),
            "event ids are unique"
        );
        // The time is the event's own (the relay's `recorded_at` header), not the projection's.
        let recorded_at: DateTime<Utc> = sqlx::query_scalar(
            "SELECT recorded_at FROM events
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
        )
        .bind(text(&step["aggregate_type"]))
        .bind(text(&step["aggregate_id"]))
        .bind(step["sequence"].as_i64().unwrap())
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
        assert_eq!(time(&step["timestamp"]), recorded_at, "{step}");
    }
}

/// The timeline of order 2: placed, then rejected (twice), all in its own trace.
pub async fn order_2s_timeline_holds_its_rejection_in_its_trace(s: &Stack, shop: &SagaRun) {
    let o2_steps = s.wait_for_timeline(&shop.o2, 3).await;
    let outcomes: Vec<String> = o2_steps.iter().map(|t| text(&t["outcome"])).collect();
    assert_eq!(outcomes, ["placed", "rejected", "rejected"]);
    assert!(
        o2_steps
            .iter()
            .all(|t| t["trace_id"] == shop.trace_o2.as_str())
    );
}

/// `(sku, quantity, unit price, reserved)` of each line of an order's JSON.
fn lines(order: &Value) -> Vec<(String, i64, i64, bool)> {
    order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                text(&l["sku"]),
                l["quantity"].as_i64().unwrap(),
                l["unit_price_minor"].as_i64().unwrap(),
                l["reserved"].as_bool().unwrap(),
            )
        })
        .collect()
}
