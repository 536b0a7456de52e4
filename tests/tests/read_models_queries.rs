//! The read models' query API: keyset pages that return every order exactly once in a stable
//! order, and the answers to bad parameters, unknown ids and a version not projected yet.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::time::Duration;

use causeway_tests::read_models::{Stack, text, time};
use causeway_tests::{TestApp, TestDatabase};
use chrono::{DateTime, FixedOffset};
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyset_pages_return_every_order_exactly_once_in_a_stable_order() {
    let mut stack = Stack::start().await;
    let s = &stack;
    let ada = s.register("ada@example.com").await;
    let bob = s.register("bob@example.com").await;
    let mut adas = BTreeSet::new();
    for _ in 0..23 {
        adas.insert(s.place(&ada, "TEA-1", None).await.0);
    }
    for _ in 0..4 {
        s.place(&bob, "TEA-1", None).await;
    }
    s.wait_for_orders(27).await;

    // Ada's orders in pages of 5; two newer orders arrive after the first page.
    let mut seen: Vec<Value> = Vec::new();
    let mut path = format!("/api/orders?customer_id={ada}&limit=5");
    let mut pages = 0;
    loop {
        let page = s.get_ok(&path).await;
        pages += 1;
        seen.extend(page["items"].as_array().unwrap().iter().cloned());
        if pages == 1 {
            s.place(&ada, "TEA-1", None).await;
            s.place(&ada, "TEA-1", None).await;
            s.wait_for_orders(29).await;
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/orders?customer_id={ada}&limit=5&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 5, "23 orders in pages of 5");
    let ids: Vec<String> = seen.iter().map(|o| text(&o["order_id"])).collect();
    assert_eq!(
        ids.iter().cloned().collect::<BTreeSet<_>>(),
        adas,
        "every order exactly once"
    );
    assert_eq!(ids.len(), 23, "no order twice");
    let keys: Vec<(DateTime<FixedOffset>, String)> = seen
        .iter()
        .map(|o| (time(&o["placed_at"]), text(&o["order_id"])))
        .collect();
    let mut newest_first = keys.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, newest_first, "placed_at, then order_id, newest first");

    // Everyone's orders, filtered by status, and the default limit.
    let all = collect_pages(s, "/api/orders?limit=7").await;
    assert_eq!(all.len(), 29);
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 29);
    let pending = s
        .get_ok(&format!("/api/orders?customer_id={bob}&status=pending"))
        .await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 4);
    assert_eq!(pending["next_cursor"], Value::Null);
    let confirmed = s
        .get_ok(&format!("/api/orders?customer_id={bob}&status=confirmed"))
        .await;
    assert_eq!(confirmed["items"], json!([]));
    stack.workers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_parameters_are_400_naming_them_unknown_ids_404_and_a_late_version_503() {
    let db = TestDatabase::migrated().await;
    let app = TestApp::spawn(db.settings.clone()).await;
    let get = |path: String| {
        let app = &app;
        async move {
            let response = app.get(&path).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }
    };
    let customer = Uuid::new_v4();
    for (path, parameter) in [
        ("/api/orders?limit=0".to_owned(), "limit"),
        ("/api/orders?limit=501".to_owned(), "limit"),
        ("/api/orders?limit=ten".to_owned(), "limit"),
        ("/api/orders?status=shipped".to_owned(), "status"),
        ("/api/orders?customer_id=bob".to_owned(), "customer_id"),
        ("/api/orders?cursor=zz".to_owned(), "cursor"),
        ("/api/notifications".to_owned(), "customer_id"),
        (
            format!("/api/notifications?customer_id={customer}&cursor=00"),
            "cursor",
        ),
        (
            format!("/api/notifications?customer_id={customer}&limit=-1"),
            "limit",
        ),
        (
            format!("/api/orders/{customer}?min_version=soon"),
            "min_version",
        ),
        (
            format!("/api/customers/{customer}?min_version=-2"),
            "min_version",
        ),
    ] {
        let (status, body) = get(path.clone()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], "invalid_parameter", "{path}");
        assert_eq!(body["parameter"], parameter, "{path}: {body}");
    }
    let unknown = Uuid::new_v4();
    for path in [
        format!("/api/orders/{unknown}"),
        format!("/api/customers/{unknown}"),
        format!("/api/orders/{unknown}/payment"),
        format!("/api/orders/{unknown}/saga"),
    ] {
        let (status, body) = get(path.clone()).await;
        assert_eq!(
            (status, text(&body["code"])),
            (404, "not_found".to_owned()),
            "{path}"
        );
    }
    let (status, empty) = get(format!("/api/notifications?customer_id={customer}")).await;
    assert_eq!(status, 200);
    assert_eq!(empty, json!({"items": [], "next_cursor": null}));

    // A customer at version 2 asked for version 3: a bounded wait, then 503, never stale data.
    let id = Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO customers (customer_id, name, email, currency, credit_limit,
                                reserved_credit, available_credit, updated_at, version)
         VALUES ($1, 'Ada', 'ada@example.com', 'EUR', 100, 0, 100, now(), 2)",
    )
    .bind(&id)
    .execute(&db.pool)
    .await
    .unwrap();
    let (status, body) = get(format!("/api/customers/{id}?min_version=2")).await;
    assert_eq!((status, body["version"].clone()), (200, json!(2)));
    let started = tokio::time::Instant::now();
    let (status, body) = get(format!("/api/customers/{id}?min_version=3")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "read_model_behind");
    assert_eq!(
        (body["applied_version"].clone(), body["min_version"].clone()),
        (json!(2), json!(3))
    );
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "it waited before giving up"
    );
    let (status, _) = get(format!("/api/orders/{unknown}?min_version=1")).await;
    assert_eq!(
        status, 503,
        "an order not projected yet is behind, not missing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sku_is_read_in_any_case_like_the_commands_take_it_and_an_invalid_one_is_400() {
    let db = TestDatabase::migrated().await;
    let app = TestApp::spawn(db.settings.clone()).await;
    let get = |path: String| {
        let app = &app;
        async move {
            let response = app.get(&path).await;
            let status = response.status().as_u16();
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: Value = response.json().await.unwrap();
            (status, content_type, body)
        }
    };

    // The command side canonicalises the SKU of a lower-case path…
    let restock = app
        .client
        .post(format!("{}/api/inventory/abc-def/restock", app.address))
        .json(&json!({"quantity": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(restock.status().as_u16(), 200);
    let answer: Value = restock.json().await.unwrap();
    assert_eq!(answer["sku"], "ABC-DEF", "{answer}");
    // …and the inventory projection (not running here) keys its row by that text.
    sqlx::query(
        "INSERT INTO inventory_view (sku, on_hand, reserved, available, version)
         VALUES ($1, 10, 0, 10, 1)",
    )
    .bind(text(&answer["sku"]))
    .execute(&db.pool)
    .await
    .unwrap();

    // So the query side finds it by the same path, in any case, with or without min_version.
    for path in [
        "/api/inventory/abc-def",
        "/api/inventory/Abc-Def",
        "/api/inventory/ABC-DEF",
        "/api/inventory/abc-def?min_version=1",
    ] {
        let (status, _, body) = get(path.to_owned()).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["sku"], "ABC-DEF", "{path}");
        assert_eq!(body["available"], 10, "{path}");
    }
    let (status, _, body) = get("/api/inventory/xyz-9".to_owned()).await;
    assert_eq!((status, text(&body["code"])), (404, "not_found".to_owned()));

    // Text that is no SKU at all is a bad parameter, as the command side says too.
    let too_long = "a".repeat(65);
    for sku in ["abc.def", "abc%20def", "%C3%A4pfel", too_long.as_str()] {
        let path = format!("/api/inventory/{sku}");
        let (status, content_type, body) = get(path.clone()).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(content_type, "application/problem+json", "{path}");
        assert_eq!(body["code"], "invalid_parameter", "{path}");
        assert_eq!(body["parameter"], "sku", "{path}: {body}");
    }
}

async fn collect_pages(stack: &Stack, first: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut path = first.to_owned();
    loop {
        let page = stack.get_ok(&path).await;
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| text(&o["order_id"])),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first}&cursor={cursor}"),
            None => return ids,
        }
    }
}
