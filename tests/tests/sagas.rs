//! The place-order saga end to end, through HTTP and Kafka, on the real stack: every outcome
//! of docs/architecture.md §2 (confirmed, rejected for stock, rejected for payment, cancelled after
//! confirmation, expired), asserted on the read models (orders, stock, credit, payments,
//! notifications) and the saga timeline.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use causeway::roles::Roles;
use causeway_tests::shop::{Shop, new_sku};
use causeway_tests::{TestDatabase, eventually};

const WITHIN: Duration = Duration::from_secs(60);

/// A SKU of its own, as the domain spells it (upper case).
/// The event types of an order's saga timeline, in timeline order.
async fn timeline(shop: &Shop, order: &str) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT participant, event_type, trace_id FROM saga_timeline WHERE order_id = $1
         ORDER BY occurred_at, aggregate_type, aggregate_id, sequence",
    )
    .bind(order)
    .fetch_all(&shop.pool)
    .await
    .unwrap()
}

async fn wait_timeline(
    shop: &Shop,
    order: &str,
    steps: usize,
) -> Vec<(String, String, Option<String>)> {
    eventually(WITHIN, "the saga timeline", || async {
        let rows = timeline(shop, order).await;
        (rows.len() >= steps).then_some(rows)
    })
    .await
}

fn event_types(rows: &[(String, String, Option<String>)]) -> Vec<&str> {
    let mut types: Vec<&str> = rows.iter().map(|(_, t, _)| t.as_str()).collect();
    types.sort_unstable();
    types
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_with_stock_and_credit_is_confirmed() {
    let shop = Shop::start().await;
    let (a, b) = (new_sku("a"), new_sku("b"));
    shop.restock(&a, 10).await;
    shop.restock(&b, 5).await;
    let customer = shop.customer(10_000).await;

    let order = shop.order(&customer, &[(&a, 2, 100), (&b, 1, 300)]).await;

    shop.wait_for(&order, "confirmed", WITHIN).await;
    shop.wait_stock(&a, (10, 2, 8), WITHIN).await;
    shop.wait_stock(&b, (5, 1, 4), WITHIN).await;
    shop.wait_credit(&customer, (10_000, 500, 9_500), WITHIN)
        .await;
    shop.wait_payment(&order, "authorized", WITHIN).await;
    eventually(WITHIN, "the confirmation notice", || async {
        (shop.notifications(&order).await == ["order_confirmed"]).then_some(())
    })
    .await;
    let steps = wait_timeline(&shop, &order, 9).await;
    // Stock and credit are reserved at the same time: the order records whichever of its
    // last line and its payment came first (awaiting payment, or paid while waiting for stock).
    let mut types = event_types(&steps);
    let first_of_two = ["OrderAwaitingPayment", "OrderPaymentAuthorized"];
    assert_eq!(
        types.iter().filter(|t| first_of_two.contains(t)).count(),
        1,
        "{types:?}"
    );
    types.retain(|t| !first_of_two.contains(t));
    assert_eq!(
        types,
        [
            "CreditReserved",
            "OrderConfirmed",
            "OrderLineReserved",
            "OrderLineReserved",
            "OrderPlaced",
            "PaymentAuthorized",
            "StockReserved",
            "StockReserved",
        ]
    );
    assert_eq!(steps.first().unwrap().1, "OrderPlaced");
    assert_eq!(steps.last().unwrap().1, "OrderConfirmed");
    assert_no_deadline(&shop, &order).await;
    shop.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_line_out_of_stock_rejects_the_order_and_releases_the_lines_already_reserved() {
    let shop = Shop::start().await;
    let (a, b, unknown) = (new_sku("a"), new_sku("b"), new_sku("never"));
    shop.restock(&a, 10).await;
    shop.restock(&b, 1).await;
    let customer = shop.customer(10_000).await;

    let short = shop.order(&customer, &[(&a, 3, 100), (&b, 2, 100)]).await;
    let unknown_sku = shop
        .order(&customer, &[(&a, 1, 100), (&unknown, 1, 100)])
        .await;

    shop.wait_for(&short, "rejected", WITHIN).await;
    shop.wait_for(&unknown_sku, "rejected", WITHIN).await;
    shop.wait_stock(&a, (10, 0, 10), WITHIN).await;
    shop.wait_stock(&b, (1, 0, 1), WITHIN).await;
    let reason: String =
        sqlx::query_scalar("SELECT rejection_reason FROM orders WHERE order_id = $1")
            .bind(&short)
            .fetch_one(&shop.pool)
            .await
            .unwrap();
    assert!(reason.contains(&b), "the reason names the SKU: {reason}");
    // The credit reserved beside the stock is released.
    shop.wait_credit(&customer, (10_000, 0, 10_000), WITHIN)
        .await;
    eventually(WITHIN, "the stock releases in the timeline", || async {
        let steps = timeline(&shop, &short).await;
        let released = steps
            .iter()
            .filter(|(_, t, _)| t == "StockReleased")
            .count();
        (released == 1).then_some(())
    })
    .await;
    // The payment participant closed the payment (authorized beside the stock, or not yet:
    // then a late authorization changes nothing).
    shop.wait_payment(&short, "voided", WITHIN).await;
    eventually(WITHIN, "the rejection notices", || async {
        let both = shop.notifications(&short).await == ["order_rejected"]
            && shop.notifications(&unknown_sku).await == ["order_rejected"];
        both.then_some(())
    })
    .await;
    shop.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn declined_credit_rejects_the_order_and_releases_all_its_stock() {
    let shop = Shop::start().await;
    let sku = new_sku("item");
    shop.restock(&sku, 10).await;
    let customer = shop.customer(1_000).await;

    let order = shop.order(&customer, &[(&sku, 4, 300)]).await;

    shop.wait_for(&order, "rejected", WITHIN).await;
    shop.wait_stock(&sku, (10, 0, 10), WITHIN).await;
    shop.wait_payment(&order, "declined", WITHIN).await;
    shop.wait_credit(&customer, (1_000, 0, 1_000), WITHIN).await;
    let reason: String =
        sqlx::query_scalar("SELECT rejection_reason FROM orders WHERE order_id = $1")
            .bind(&order)
            .fetch_one(&shop.pool)
            .await
            .unwrap();
    assert!(reason.contains("insufficient credit"), "{reason}");
    // Credit is declined beside the stock: the order may be rejected before or after its
    // line is reserved, so the timeline's length varies; these steps are always in it.
    let expected = [
        "CreditReservationDeclined",
        "PaymentDeclined",
        "OrderRejected",
        "StockReleased",
    ];
    eventually(WITHIN, "the rejection's steps in the timeline", || async {
        let steps = timeline(&shop, &order).await;
        let types = event_types(&steps);
        expected.iter().all(|e| types.contains(e)).then_some(())
    })
    .await;
    shop.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_confirmed_order_refunds_it_and_releases_credit_and_stock() {
    let shop = Shop::start().await;
    let sku = new_sku("item");
    shop.restock(&sku, 10).await;
    let customer = shop.customer(5_000).await;
    let order = shop.order(&customer, &[(&sku, 3, 500)]).await;
    shop.wait_for(&order, "confirmed", WITHIN).await;
    shop.wait_credit(&customer, (5_000, 1_500, 3_500), WITHIN)
        .await;

    shop.cancel(&order, "changed my mind").await;

    shop.wait_for(&order, "cancelled", WITHIN).await;
    shop.wait_payment(&order, "refunded", WITHIN).await;
    shop.wait_credit(&customer, (5_000, 0, 5_000), WITHIN).await;
    shop.wait_stock(&sku, (10, 0, 10), WITHIN).await;
    eventually(WITHIN, "the cancellation and refund notices", || async {
        let kinds = shop.notifications(&order).await;
        (kinds == ["order_cancelled", "order_confirmed", "payment_refunded"]).then_some(())
    })
    .await;
    shop.stop().await;
}

/// The inventory participant is down, so the order stays pending; the platform is also
/// stopped before the deadline passes. After a restart the durable deadline expires the
/// order, and every compensation runs once the inventory participant is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pending_order_expires_at_its_deadline_across_a_restart_and_is_compensated() {
    let db = TestDatabase::migrated().await;
    let mut settings = causeway_tests::shop::shop_settings(&db.settings);
    settings.sagas.order_timeout_ms = 15_000;
    settings.sagas.participants = vec!["payment".into(), "order".into()];
    let shop = Shop::start_with(db.pool.clone(), settings.clone(), &Roles::all()).await;
    let sku = new_sku("item");
    shop.restock(&sku, 10).await;
    let customer = shop.customer(5_000).await;
    let order = shop.order(&customer, &[(&sku, 2, 100)]).await;
    eventually(WITHIN, "the deadline to be stored", || async {
        deadline_count(&shop, &order).await.eq(&1).then_some(())
    })
    .await;
    let deadline: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT deadline FROM order_deadlines WHERE order_id = $1")
            .bind(&order)
            .fetch_one(&shop.pool)
            .await
            .unwrap();
    let (pool, mut settings) = shop.stop().await;
    let expired_before = expiries(&pool, &order).await;
    assert_eq!(
        expired_before, 0,
        "the platform stopped before the deadline"
    );
    let left = (deadline - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_secs(1)).await;
    assert_eq!(
        expiries(&pool, &order).await,
        0,
        "nothing runs while it is down"
    );

    settings.sagas.participants = vec!["inventory".into(), "payment".into(), "order".into()];
    let shop = Shop::start_with(pool, settings, &Roles::all()).await;

    shop.wait_for(&order, "expired", WITHIN).await;
    // The inventory participant reserved on OrderPlaced, then released on OrderExpired.
    shop.wait_stock(&sku, (10, 0, 10), WITHIN).await;
    shop.wait_payment(&order, "voided", WITHIN).await;
    shop.wait_credit(&customer, (5_000, 0, 5_000), WITHIN).await;
    assert_no_deadline(&shop, &order).await;
    eventually(WITHIN, "the expiry notice", || async {
        (shop.notifications(&order).await == ["order_expired"]).then_some(())
    })
    .await;
    shop.stop().await;
}

/// Stock and credit are reserved at the same time, so the payment can be authorized before
/// the stock is reserved: here the inventory participant is down at first. The order records
/// the payment and stays pending; once the inventory participant runs, the last line's
/// reservation confirms it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_authorized_before_the_stock_confirms_the_order_once_the_stock_is_reserved() {
    let db = TestDatabase::migrated().await;
    let mut settings = causeway_tests::shop::shop_settings(&db.settings);
    settings.sagas.participants = vec!["payment".into(), "order".into()];
    let shop = Shop::start_with(db.pool.clone(), settings, &Roles::all()).await;
    let sku = new_sku("item");
    shop.restock(&sku, 10).await;
    let customer = shop.customer(5_000).await;
    let order = shop.order(&customer, &[(&sku, 2, 100)]).await;
    eventually(WITHIN, "the payment recorded on the order", || async {
        (order_event_types(&shop.pool, &order).await == ["OrderPlaced", "OrderPaymentAuthorized"])
            .then_some(())
    })
    .await;
    assert_eq!(shop.status(&order).await.as_deref(), Some("pending"));
    shop.wait_credit(&customer, (5_000, 200, 4_800), WITHIN)
        .await;
    let (pool, mut settings) = shop.stop().await;

    settings.sagas.participants = vec!["inventory".into(), "payment".into(), "order".into()];
    let shop = Shop::start_with(pool, settings, &Roles::all()).await;

    shop.wait_for(&order, "confirmed", WITHIN).await;
    assert_eq!(
        order_event_types(&shop.pool, &order).await,
        [
            "OrderPlaced",
            "OrderPaymentAuthorized",
            "OrderLineReserved",
            "OrderConfirmed"
        ]
    );
    shop.wait_stock(&sku, (10, 2, 8), WITHIN).await;
    shop.wait_payment(&order, "authorized", WITHIN).await;
    shop.wait_credit(&customer, (5_000, 200, 4_800), WITHIN)
        .await;
    assert_no_deadline(&shop, &order).await;
    eventually(WITHIN, "the confirmation notice", || async {
        (shop.notifications(&order).await == ["order_confirmed"]).then_some(())
    })
    .await;
    shop.stop().await;
}

/// The order's own events in the store, in sequence order.
async fn order_event_types(pool: &sqlx::PgPool, order: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_type = 'Order' AND aggregate_id = $1
         ORDER BY sequence",
    )
    .bind(order)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn expiries(pool: &sqlx::PgPool, order: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = 'OrderExpired'",
    )
    .bind(order)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn deadline_count(shop: &Shop, order: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM order_deadlines WHERE order_id = $1")
        .bind(order)
        .fetch_one(&shop.pool)
        .await
        .unwrap()
}

async fn assert_no_deadline(shop: &Shop, order: &str) {
    eventually(WITHIN, "the order's deadline to be cleared", || async {
        (deadline_count(shop, order).await == 0).then_some(())
    })
    .await;
}
