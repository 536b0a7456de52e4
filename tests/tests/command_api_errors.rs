//! The HTTP command API's refusals, black-box: 400 for what cannot be read (naming the field,
//! header or content type), 413 for a body over the limit, 404 for what does not exist and
//! 422 for what the domain refuses: each a problem+json answer, and nothing refused stored.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use causeway_domain::{Currency, Customer, CustomerCommand, Money, OrderId};
use causeway_event_store::{CommandMetadata, CommandStore};
use causeway_tests::command_api::{Api, customer_body, order_body, unknown_id};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

// ---------------------------------------------------------------- 400 and 413

#[tokio::test]
async fn malformed_json_is_answered_400_problem_json_and_stores_nothing() {
    let api = Api::spawn().await;
    let answer = api
        .post_raw("/api/customers", "application/json", r#"{"name": "Ada", "#)
        .await;
    answer.assert_problem(StatusCode::BAD_REQUEST, "malformed_json");
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_body_not_sent_as_json_is_answered_400_naming_the_content_type() {
    let api = Api::spawn().await;
    let body = customer_body().to_string();
    let answer = api.post_raw("/api/customers", "text/plain", body).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "unsupported_media_type");
    assert_eq!(field.as_deref(), Some("content-type"));
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_missing_field_is_answered_400_naming_it() {
    let api = Api::spawn().await;
    let mut body = customer_body();
    body.as_object_mut().unwrap().remove("email");
    let answer = api.post("/api/customers", &body).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "missing_field");
    assert_eq!(field.as_deref(), Some("email"));

    let customer = api.register_customer().await;
    let mut order = order_body(&customer);
    order["lines"][1].as_object_mut().unwrap().remove("sku");
    let answer = api.post("/api/orders", &order).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "missing_field");
    assert_eq!(field.as_deref(), Some("lines[1].sku"));
    assert_eq!(api.events_of(&customer).await.len(), 1);
    assert_eq!(api.event_count().await, 1, "only the registration");
}

#[tokio::test]
async fn a_misspelt_field_is_answered_400_naming_it() {
    let api = Api::spawn().await;
    let answer = api
        .post(
            "/api/inventory/tea-1/restock",
            &json!({"quantity": 1, "quantiy": 2}),
        )
        .await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "unknown_field");
    assert_eq!(field.as_deref(), Some("quantiy"));
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_bad_email_is_answered_400_naming_the_email_field() {
    let api = Api::spawn().await;
    let mut body = customer_body();
    body["email"] = json!("ada.example.com");
    let answer = api.post("/api/customers", &body).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("email"));
    assert!(answer.body["detail"].as_str().unwrap().contains('@'));
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_negative_credit_limit_is_answered_400_naming_credit_limit_cents() {
    let api = Api::spawn().await;
    let mut body = customer_body();
    body["credit_limit_cents"] = json!(-1);
    let answer = api.post("/api/customers", &body).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("credit_limit_cents"));
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_control_character_in_a_name_or_email_is_answered_400_naming_it_and_stores_nothing() {
    let api = Api::spawn().await;
    for (field, value) in [
        ("name", "Ada\u{0}Lovelace"),
        ("name", "Ada\u{1b}Lovelace"),
        ("email", "ada\u{0}@example.com"),
    ] {
        let mut body = customer_body();
        body[field] = json!(value);
        let answer = api.post("/api/customers", &body).await;
        let named = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(named.as_deref(), Some(field), "{value:?}");
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains("control characters"), "{detail}");
    }
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_control_character_in_a_cancel_reason_is_answered_400_naming_reason() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    let order = api.place_order(&customer).await;
    let path = format!("/api/orders/{order}/cancel");
    let answer = api.post(&path, &json!({"reason": "oops\u{0}"})).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("reason"));
    assert_eq!(
        api.events_of(&order).await.len(),
        1,
        "placed, not cancelled"
    );
}

#[tokio::test]
async fn an_order_of_more_than_a_hundred_lines_is_answered_400_naming_lines() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    let lines: Vec<_> = (0..101)
        .map(|n| json!({"sku": format!("sku-{n}"), "quantity": 1, "unit_price_cents": 10}))
        .collect();
    let order = json!({"customer_id": customer, "currency": "EUR", "lines": lines});
    let answer = api.post("/api/orders", &order).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("lines"));
    assert_eq!(api.event_count().await, 1, "only the registration");
}

#[tokio::test]
async fn an_amount_above_the_bound_is_answered_400_naming_its_field() {
    let api = Api::spawn().await;
    let mut body = customer_body();
    body["credit_limit_cents"] = json!(i64::MAX);
    let answer = api.post("/api/customers", &body).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("credit_limit_cents"));
    assert_eq!(api.event_count().await, 0);

    let customer = api.register_customer().await;
    let path = format!("/api/customers/{customer}/credit-limit");
    for body in [
        json!({"credit_limit_cents": 9_223_372_036_854_775_807_i64}),
        json!({"credit_limit_cents": 10_000_000_000_001_i64, "currency": "EUR"}),
    ] {
        let answer = api.post(&path, &body).await;
        let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(field.as_deref(), Some("credit_limit_cents"), "{body}");
    }
    let mut order = order_body(&customer);
    order["lines"][1]["unit_price_cents"] = json!(10_000_000_000_001_i64);
    let answer = api.post("/api/orders", &order).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("lines[1].unit_price_cents"));
    assert_eq!(api.event_count().await, 1, "only the registration");
}

#[tokio::test]
async fn a_zero_or_negative_quantity_is_answered_400_naming_its_line() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    for (line, quantity) in [(1, 0), (0, -3)] {
        let mut order = order_body(&customer);
        order["lines"][line]["quantity"] = json!(quantity);
        let answer = api.post("/api/orders", &order).await;
        let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(field, Some(format!("lines[{line}].quantity")), "{answer:?}");
    }
    let restock = api
        .post("/api/inventory/tea-1/restock", &json!({"quantity": 0}))
        .await;
    let field = restock.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("quantity"));
    assert_eq!(api.event_count().await, 1, "only the registration");
}

#[tokio::test]
async fn a_value_of_the_wrong_type_is_answered_400_with_its_path() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    let mut order = order_body(&customer);
    order["lines"][1]["unit_price_cents"] = json!("twelve");
    let answer = api.post("/api/orders", &order).await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("lines[1].unit_price_cents"));
    assert_eq!(api.event_count().await, 1, "only the registration");
}

#[tokio::test]
async fn an_id_in_the_path_that_is_not_a_uuid_is_answered_400() {
    let api = Api::spawn().await;
    let answer = api
        .post("/api/orders/not-a-uuid/cancel", &json!({"reason": "x"}))
        .await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("order_id"));
}

#[tokio::test]
async fn an_invalid_idempotency_key_header_is_answered_400_naming_the_header() {
    let api = Api::spawn().await;
    let long_key = "k".repeat(256);
    let answer = api
        .post_with(
            "/api/inventory/tea-1/restock",
            &json!({"quantity": 1}),
            &[("idempotency-key", long_key.as_str())],
        )
        .await;
    let field = answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_header");
    assert_eq!(field.as_deref(), Some("idempotency-key"));
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_answered_413_problem_json() {
    let api = Api::spawn_with(|s| s.http.body_limit_bytes = 1024).await;
    let mut body = customer_body();
    body["name"] = json!("x".repeat(2048));
    let answer = api.post("/api/customers", &body).await;
    answer.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(api.event_count().await, 0);
    let small = api.post("/api/customers", &customer_body()).await;
    assert_eq!(
        small.status,
        StatusCode::CREATED,
        "a body under the limit passes"
    );
}

// ---------------------------------------------------------------- 404 and 422

#[tokio::test]
async fn an_order_for_an_unknown_customer_is_answered_404_and_stores_nothing() {
    let api = Api::spawn().await;
    let answer = api.post("/api/orders", &order_body(&unknown_id())).await;
    answer.assert_problem(StatusCode::NOT_FOUND, "customer_not_found");
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn cancelling_an_unknown_order_is_answered_404_order_not_found() {
    let api = Api::spawn().await;
    let path = format!("/api/orders/{}/cancel", unknown_id());
    let answer = api.post(&path, &json!({"reason": "why not"})).await;
    answer.assert_problem(StatusCode::NOT_FOUND, "order_not_found");
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn changing_the_credit_limit_of_an_unknown_customer_is_answered_404() {
    let api = Api::spawn().await;
    let path = format!("/api/customers/{}/credit-limit", unknown_id());
    for body in [
        json!({"credit_limit_cents": 10}),
        json!({"credit_limit_cents": 10, "currency": "EUR"}),
    ] {
        let answer = api.post(&path, &body).await;
        answer.assert_problem(StatusCode::NOT_FOUND, "customer_not_found");
    }
    assert_eq!(api.event_count().await, 0);
}

#[tokio::test]
async fn cancelling_an_order_twice_is_answered_422_order_already_final() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    let order = api.place_order(&customer).await;
    let path = format!("/api/orders/{order}/cancel");
    let first = api.post(&path, &json!({"reason": "first"})).await;
    assert_eq!(first.status, StatusCode::OK);
    let second = api.post(&path, &json!({"reason": "again"})).await;
    second.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "order_already_final");
    assert_eq!(
        api.events_of(&order).await.len(),
        2,
        "placed, cancelled once"
    );
}

#[tokio::test]
async fn a_credit_limit_in_another_currency_is_answered_422_currency_mismatch() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    let path = format!("/api/customers/{customer}/credit-limit");
    let body = json!({"credit_limit_cents": 5, "currency": "USD"});
    let answer = api.post(&path, &body).await;
    answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "currency_mismatch");
    assert_eq!(api.events_of(&customer).await.len(), 1);
}

#[tokio::test]
async fn an_order_with_two_lines_for_one_sku_is_answered_422_duplicate_sku() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    let mut order = order_body(&customer);
    order["lines"][1]["sku"] = json!("TEA-1");
    let answer = api.post("/api/orders", &order).await;
    answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "duplicate_sku");
    let empty = json!({"customer_id": customer, "currency": "EUR", "lines": []});
    let answer = api.post("/api/orders", &empty).await;
    answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "order_has_no_lines");
    assert_eq!(api.event_count().await, 1, "only the registration");
}

#[tokio::test]
async fn a_credit_limit_below_the_reserved_credit_is_answered_422() {
    let api = Api::spawn().await;
    let customer = api.register_customer().await;
    // The place-order saga reserves credit; here the store does it directly.
    let store = CommandStore::new(api.pool().clone(), 100);
    let eur = Currency::parse("EUR").unwrap();
    let reserve = CustomerCommand::ReserveCredit {
        order_id: OrderId::try_from(Uuid::new_v4()).unwrap(),
        amount: Money::parse(60_000, eur).unwrap(),
    };
    let metadata = CommandMetadata::new(Uuid::new_v4(), "tests");
    store
        .execute::<Customer>(&customer, reserve, &metadata)
        .await
        .unwrap();
    let path = format!("/api/customers/{customer}/credit-limit");
    let answer = api
        .post(&path, &json!({"credit_limit_cents": 59_999}))
        .await;
    answer.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "credit_limit_below_reserved",
    );
    assert_eq!(
        api.events_of(&customer).await.len(),
        2,
        "registered, reserved"
    );
}
