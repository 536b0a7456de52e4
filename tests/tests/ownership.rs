//! Ownership (docs/security.md): a `customer` registers itself with its own token, owns that
//! customer (recorded in the `CustomerRegistered` event) and acts on it alone. Every one of
//! another customer's resources answers it 404 exactly as an unknown id does, for reads and
//! for commands, and lists never hold another customer's rows. Real tokens of the local
//! OpenID provider; the whole platform in this process.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use causeway_tests::command_api::{Answer, answer};
use causeway_tests::shop::{FINAL, Shop, new_sku};
use causeway_tests::{eventually, tokens};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A caller with its own token.
struct Caller {
    token: String,
    base: String,
}

impl Caller {
    async fn new(shop: &Shop, role: &str, name: &str) -> Self {
        Self {
            token: tokens::token(role, name).await,
            base: shop.app.address.clone(),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        let request = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        answer(request.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        let request = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body);
        answer(request.send().await.unwrap()).await
    }

    async fn register(&self, name: &str, credit_limit_cents: i64) -> Answer {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        self.post(
            "/api/customers",
            json!({"name": name, "email": email, "credit_limit_cents": credit_limit_cents,
                   "currency": "EUR"}),
        )
        .await
    }

    async fn order(&self, customer: &str, sku: &str) -> Answer {
        self.post(
            "/api/orders",
            json!({"customer_id": customer, "currency": "EUR",
                   "lines": [{"sku": sku, "quantity": 1, "unit_price_cents": 500}]}),
        )
        .await
    }
}

fn not_found(answer: &Answer, code: &str, what: &str) {
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{what}: {answer:?}");
    assert_eq!(answer.body["code"], code, "{what}: {answer:?}");
}

/// The ids of a list page.
fn ids(page: &Answer, field: &str) -> Vec<String> {
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_customer_registers_itself_and_sees_and_acts_on_its_own_resources_only() {
    let shop = Shop::start().await;
    let alice = Caller::new(&shop, "customer", "alice").await;
    let bob = Caller::new(&shop, "customer", "bob").await;
    let operator = Caller::new(&shop, "operator", "ownership").await;
    let admin = Caller::new(&shop, "admin", "ownership").await;

    // Self-registration: no credit asked for, the customer is the caller's.
    let refused = alice.register("Alice", 50_000).await;
    refused.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let registered = alice.register("Alice", 0).await;
    assert_eq!(registered.status, StatusCode::CREATED, "{registered:?}");
    let alice_id = registered.body["customer_id"].as_str().unwrap().to_owned();
    // Registering again with the same details changes nothing; the id is the same.
    let again = alice.register("Alice", 0).await;
    assert_eq!(again.body["customer_id"], alice_id.as_str(), "{again:?}");
    alice.register("Alice Other", 0).await.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "customer_already_registered",
    );
    let bob_id = bob.register("Bob", 0).await.body["customer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(alice_id, bob_id);
    // The link is in the event, not in a side table.
    let owner: Value = sqlx::query_scalar(
        "SELECT jsonb_path_query_first(payload, '$.**.owner') FROM events
         WHERE aggregate_type = 'Customer' AND aggregate_id = $1 AND sequence = 1",
    )
    .bind(&alice_id)
    .fetch_one(&shop.pool)
    .await
    .unwrap();
    assert_eq!(owner, json!(tokens::subject("customer", "alice")));

    // An admin grants credit; an operator restocks; alice orders for herself.
    let limit = admin
        .post(
            &format!("/api/customers/{alice_id}/credit-limit"),
            json!({"credit_limit_cents": 100_000}),
        )
        .await;
    assert_eq!(limit.status, StatusCode::OK, "{limit:?}");
    let sku = new_sku("owned");
    let restocked = operator
        .post(
            &format!("/api/inventory/{sku}/restock"),
            json!({"quantity": 10}),
        )
        .await;
    assert_eq!(restocked.status, StatusCode::OK, "{restocked:?}");
    let placed = alice.order(&alice_id, &sku).await;
    assert_eq!(placed.status, StatusCode::ACCEPTED, "{placed:?}");
    let order = placed.body["order_id"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(60), "alice's order final", || async {
        let status = shop.status(&order).await?;
        FINAL.contains(&status.as_str()).then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "alice's notifications", || async {
        let page = alice
            .get(&format!("/api/notifications?customer_id={alice_id}"))
            .await;
        (!ids(&page, "order_id").is_empty()).then_some(())
    })
    .await;

    // Alice sees her own.
    for path in [
        format!("/api/customers/{alice_id}"),
        format!("/api/orders/{order}"),
        format!("/api/orders/{order}/payment"),
        format!("/api/orders/{order}/saga"),
    ] {
        let own = alice.get(&path).await;
        assert_eq!(own.status, StatusCode::OK, "{path}: {own:?}");
    }
    assert_eq!(
        ids(&alice.get("/api/orders").await, "order_id"),
        std::slice::from_ref(&order)
    );

    // Bob sees nothing of hers: 404 as for ids that do not exist.
    let unknown = "0b5f6bd6-6c1f-4a4e-9d3e-2f6b1f3c9a10";
    for (path, code) in [
        ("/api/customers/{id}", "not_found"),
        ("/api/orders/{id}", "not_found"),
        ("/api/orders/{id}/payment", "not_found"),
        ("/api/orders/{id}/saga", "not_found"),
    ] {
        let id = if path.starts_with("/api/customers") {
            &alice_id
        } else {
            &order
        };
        let theirs = bob.get(&path.replace("{id}", id)).await;
        let missing = bob.get(&path.replace("{id}", unknown)).await;
        not_found(&theirs, code, path);
        not_found(&missing, code, path);
        assert_eq!(theirs.body["title"], missing.body["title"], "{path}");
    }
    // Nor does a bounded wait for a version tell them apart: both answer as missing.
    let waited = bob
        .get(&format!("/api/customers/{alice_id}?min_version=1"))
        .await;
    let waited_unknown = bob
        .get(&format!("/api/customers/{unknown}?min_version=1"))
        .await;
    assert_eq!(waited.status, waited_unknown.status, "{waited:?}");
    assert_eq!(waited.body["code"], waited_unknown.body["code"]);

    // Lists: bob's own (none), whatever customer he asks for.
    assert!(ids(&bob.get("/api/orders").await, "order_id").is_empty());
    assert!(
        ids(
            &bob.get(&format!("/api/orders?customer_id={alice_id}"))
                .await,
            "order_id"
        )
        .is_empty()
    );
    assert!(
        ids(
            &bob.get(&format!("/api/notifications?customer_id={alice_id}"))
                .await,
            "order_id"
        )
        .is_empty()
    );

    // Commands on her resources: 404 as for unknown ones, and nothing stored.
    let events = shop.event_count().await;
    not_found(
        &bob.order(&alice_id, &sku).await,
        "customer_not_found",
        "order for alice",
    );
    not_found(
        &bob.post(
            &format!("/api/orders/{order}/cancel"),
            json!({"reason": "mine now"}),
        )
        .await,
        "order_not_found",
        "cancel alice's order",
    );
    not_found(
        &bob.post(
            &format!("/api/orders/{unknown}/cancel"),
            json!({"reason": "no such"}),
        )
        .await,
        "order_not_found",
        "cancel an unknown order",
    );
    assert_eq!(
        shop.event_count().await,
        events,
        "bob's attempts stored nothing"
    );
    // A customer may not raise its own credit or restock.
    alice
        .post(
            &format!("/api/customers/{alice_id}/credit-limit"),
            json!({"credit_limit_cents": 1_000_000}),
        )
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");

    // Staff see everyone.
    let seen = operator.get(&format!("/api/orders/{order}")).await;
    assert_eq!(seen.status, StatusCode::OK, "{seen:?}");
    assert!(ids(&operator.get("/api/orders").await, "order_id").contains(&order));
}
