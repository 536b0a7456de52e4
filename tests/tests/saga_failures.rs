//! The sagas under stress and failure, on the real stack: stock and credit races, every saga
//! event delivered a second time, a SIGKILL of the saga process mid-flow, and a reaction that
//! keeps failing (dead-lettered, then redriven; alone, when it was part of a hot aggregate's
//! group commit).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::time::Duration;

use causeway_domain::EventStream;
use causeway_infra::Settings;
use causeway_infra::kafka::client_config;
use causeway_infra::topics::Topics;
use causeway_tests::process::RoleProcess;
use causeway_tests::shop::{FINAL, Shop, forget_saga_offsets, new_sku};
use causeway_tests::{TestDatabase, eventually};
use futures::future::join_all;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

const WITHIN: Duration = Duration::from_secs(120);

/// Makes the event store refuse (raise `message` on) every event for which the SQL condition
/// `NEW.aggregate_type = {matches}` holds, through a trigger and function named `name`.
async fn refuse_events(pool: &sqlx::PgPool, name: &str, matches: &str, message: &str) {
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.aggregate_type = {matches} THEN
             RAISE EXCEPTION '{message}';
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER {name} BEFORE INSERT ON events
           FOR EACH ROW EXECUTE FUNCTION {name}();"
    ))
    .execute(pool)
    .await
    .unwrap();
}

/// Places `count` orders of one unit of `sku` at `price`, spread over `customers`, with up to
/// 16 requests in flight.
async fn place_many(
    shop: &Shop,
    customers: &[String],
    sku: &str,
    count: usize,
    price: i64,
) -> Vec<String> {
    let mut orders = Vec::with_capacity(count);
    let indices: Vec<usize> = (0..count).collect();
    for chunk in indices.chunks(16) {
        let placed = join_all(chunk.iter().map(|i| async move {
            let customer = &customers[i % customers.len()];
            shop.order(customer, &[(sku, 1, price)]).await
        }))
        .await;
        orders.extend(placed);
    }
    orders
}

async fn statuses(shop: &Shop, orders: &[String]) -> Vec<(String, String)> {
    sqlx::query_as("SELECT order_id, status FROM orders WHERE order_id = ANY($1)")
        .bind(orders)
        .fetch_all(&shop.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_orders_sell_exactly_the_stock_there_is_and_never_exceed_a_credit_limit() {
    let shop = Shop::start().await;
    // 200 orders race for 50 units; credit is ample.
    let sku = new_sku("scarce");
    shop.restock(&sku, 50).await;
    let mut customers = Vec::new();
    for _ in 0..20 {
        customers.push(shop.customer(1_000_000).await);
    }
    let orders = place_many(&shop, &customers, &sku, 200, 100).await;
    // 30 orders of one customer race for credit worth 10 of them; stock is ample.
    let plenty = new_sku("plenty");
    shop.restock(&plenty, 1_000).await;
    let frugal = shop.customer(1_000).await;
    let credit_orders = place_many(&shop, std::slice::from_ref(&frugal), &plenty, 30, 100).await;

    let outcomes = shop.wait_all_final(&orders, WITHIN).await;
    assert_eq!(outcomes.get("confirmed"), Some(&50), "{outcomes:?}");
    assert_eq!(outcomes.get("rejected"), Some(&150), "{outcomes:?}");
    shop.wait_stock(&sku, (50, 50, 0), WITHIN).await;
    // Credit reserved for exactly the confirmed orders, once the rejected ones released it.
    shop.wait_stored_reserved_total(&customers, 50 * 100, WITHIN)
        .await;
    shop.wait_reserved_total(&customers, 50 * 100, WITHIN).await;

    let outcomes = shop.wait_all_final(&credit_orders, WITHIN).await;
    assert_eq!(outcomes.get("confirmed"), Some(&10), "{outcomes:?}");
    assert_eq!(outcomes.get("rejected"), Some(&20), "{outcomes:?}");
    shop.wait_credit(&frugal, (1_000, 1_000, 0), WITHIN).await;
    shop.wait_stock(&plenty, (1_000, 10, 990), WITHIN).await;
    shop.stop().await;
}

/// The offsets every saga group has committed, per group, topic and partition.
fn saga_offsets(settings: &Settings) -> BTreeMap<(String, String, i32), i64> {
    let topics = Topics::new(&settings.kafka);
    let participants: [(&str, &[EventStream]); 3] = [
        ("inventory", &[EventStream::Order]),
        ("payment", &[EventStream::Order, EventStream::Customer]),
        (
            "order",
            &[
                EventStream::Order,
                EventStream::InventoryItem,
                EventStream::Payment,
            ],
        ),
    ];
    let mut offsets = BTreeMap::new();
    for (participant, streams) in participants {
        let group = format!("{}saga.{participant}", settings.kafka.topic_prefix);
        let consumer: BaseConsumer = client_config(&settings.kafka)
            .set("group.id", &group)
            .create()
            .unwrap();
        for stream in streams {
            let topic = topics.events(stream.base_topic());
            let metadata = consumer
                .fetch_metadata(Some(&topic), Duration::from_secs(5))
                .unwrap();
            let mut asked = TopicPartitionList::new();
            for p in metadata.topics()[0].partitions() {
                asked.add_partition(&topic, p.id());
            }
            let committed = consumer
                .committed_offsets(asked, Duration::from_secs(5))
                .unwrap();
            for element in committed.elements() {
                let offset = match element.offset() {
                    Offset::Offset(o) => o,
                    _ => 0,
                };
                offsets.insert((group.clone(), topic.clone(), element.partition()), offset);
            }
        }
    }
    offsets
}

/// Waits until the saga groups' committed offsets stop moving; answers them.
async fn settled_offsets(settings: &Settings) -> BTreeMap<(String, String, i32), i64> {
    eventually(WITHIN, "the sagas to settle", || async {
        let before = saga_offsets(settings);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = saga_offsets(settings);
        (before == after && after.values().any(|o| *o > 0)).then_some(after)
    })
    .await
}

/// Everything the read models say about the shop, for before/after comparisons.
async fn read_models(shop: &Shop) -> Vec<String> {
    let queries = [
        "SELECT order_id || ':' || status || ':' || version FROM orders ORDER BY 1",
        "SELECT sku || ':' || on_hand || ':' || reserved || ':' || version FROM inventory_view ORDER BY 1",
        "SELECT customer_id || ':' || reserved_credit || ':' || version FROM customers ORDER BY 1",
        "SELECT order_id || ':' || status || ':' || version FROM payments ORDER BY 1",
        "SELECT order_id || ':' || kind FROM notifications ORDER BY 1",
    ];
    let mut rows = Vec::new();
    for query in queries {
        let part: Vec<String> = sqlx::query_scalar(query)
            .fetch_all(&shop.pool)
            .await
            .unwrap();
        rows.extend(part);
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delivering_every_saga_event_a_second_time_changes_nothing() {
    let shop = Shop::start().await;
    let sku = new_sku("item");
    shop.restock(&sku, 6).await;
    let rich = shop.customer(100_000).await;
    let poor = shop.customer(150).await;
    let mut orders = place_many(&shop, std::slice::from_ref(&rich), &sku, 8, 100).await;
    orders.extend(place_many(&shop, std::slice::from_ref(&poor), &sku, 2, 100).await);
    shop.wait_all_final(&orders, WITHIN).await;
    let confirmed = statuses(&shop, &orders)
        .await
        .into_iter()
        .find(|(_, s)| s == "confirmed")
        .unwrap()
        .0;
    shop.cancel(&confirmed, "redelivery test").await;
    shop.wait_for(&confirmed, "cancelled", WITHIN).await;
    let consumed = settled_offsets(&shop.settings).await;
    shop.wait_read_models_caught_up(WITHIN).await;
    let events_before = shop.event_count().await;
    let models_before = read_models(&shop).await;
    let (pool, settings) = shop.stop().await;

    forget_saga_offsets(&settings).await;
    let shop = Shop::start_with(pool, settings, &causeway::roles::Roles::all()).await;
    eventually(WITHIN, "the sagas to consume everything again", || async {
        let again = saga_offsets(&shop.settings);
        consumed
            .iter()
            .all(|(key, offset)| again.get(key).is_some_and(|o| o >= offset))
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    shop.wait_read_models_caught_up(WITHIN).await;

    assert_eq!(
        shop.event_count().await,
        events_before,
        "a redelivered event stored nothing"
    );
    assert_eq!(read_models(&shop).await, models_before);
    shop.stop().await;
}

/// How many of `orders` the orders read model shows final.
async fn final_count(shop: &Shop, orders: &[String]) -> usize {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders WHERE order_id = ANY($1) AND status = ANY($2)",
    )
    .bind(orders)
    .bind(FINAL.map(str::to_owned).to_vec())
    .fetch_one(&shop.pool)
    .await
    .unwrap();
    usize::try_from(count).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_saga_reaches_a_final_state_after_the_saga_process_is_killed_mid_flow() {
    let db = TestDatabase::migrated().await;
    let mut settings = causeway_tests::shop::shop_settings(&db.settings);
    // Deadlines are not what this test is about: none may pass while the process is down.
    settings.sagas.order_timeout_ms = 600_000;
    let shop = Shop::start_with(
        db.pool.clone(),
        settings.clone(),
        &Shop::roles_without_sagas(),
    )
    .await;
    let sku = new_sku("item");
    shop.restock(&sku, 100).await;
    let mut customers = Vec::new();
    for _ in 0..8 {
        customers.push(shop.customer(1_500).await);
    }
    let mut sagas = RoleProcess::start("sagas", &settings);
    let orders = place_many(&shop, &customers, &sku, 120, 100).await;
    // Kill it once some, but not all, orders are final. Counted with one query: asking the
    // read API for 120 orders takes long enough for every saga to finish meanwhile.
    eventually(WITHIN, "some orders to be final", || async {
        let done = final_count(&shop, &orders).await;
        (done >= 10).then_some(done)
    })
    .await;
    sagas.kill();
    let done_at_kill = final_count(&shop, &orders).await;
    assert!(
        done_at_kill < orders.len(),
        "the kill came mid-flow ({done_at_kill} final)"
    );

    sagas.restart();
    let outcomes = shop.wait_all_final(&orders, WITHIN).await;

    // Credit is ample (8 customers × 15 orders each fit their limits); 100 units for 120.
    assert_eq!(outcomes.get("confirmed"), Some(&100), "{outcomes:?}");
    assert_eq!(outcomes.get("rejected"), Some(&20), "{outcomes:?}");
    shop.wait_stock(&sku, (100, 100, 0), WITHIN).await;
    // The orders rejected for stock reserved credit beside it; the payment participant
    // releases it after their final event, so the sagas run until then.
    shop.wait_stored_reserved_total(&customers, 100 * 100, WITHIN)
        .await;
    shop.wait_reserved_total(&customers, 100 * 100, WITHIN)
        .await;
    sagas.kill();
    let duplicated: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT payload->'data'->>'order_id' FROM events
         WHERE event_type IN ('StockReserved', 'CreditReserved')
         GROUP BY event_type, aggregate_id, payload->'data'->>'order_id' HAVING count(*) > 1) d",
    )
    .fetch_one(&shop.pool)
    .await
    .unwrap();
    assert_eq!(duplicated, 0, "no reservation was made twice");
    shop.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reaction_that_keeps_failing_is_dead_lettered_and_redriven_once_fixed() {
    let shop = Shop::start().await;
    let sku = new_sku("item");
    shop.restock(&sku, 10).await;
    let good = shop.customer(10_000).await;
    let bad = shop.customer(10_000).await;
    // The event store refuses every payment event of `bad`: its authorization keeps failing.
    refuse_events(
        &shop.pool,
        "refuse_payments",
        &format!("'Payment' AND NEW.payload->'data'->>'customer_id' = '{bad}'"),
        "payments of this customer are refused",
    )
    .await;

    let stuck = shop.order(&bad, &[(&sku, 1, 100)]).await;
    let fine = shop.order(&good, &[(&sku, 1, 100)]).await;

    shop.wait_for(&fine, "confirmed", WITHIN).await;
    let letters = eventually(WITHIN, "the failed reaction in the DLQ", || async {
        let letters = causeway::dlq::list(&shop.settings, &[EventStream::Customer]).unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert!(!letter.redriven);
    assert_eq!(
        letter.header("event_type").as_deref(),
        Some("CreditReserved")
    );
    assert_eq!(letter.header("aggregate_id").as_deref(), Some(bad.as_str()));
    let dead = letter.dead_letter();
    assert_eq!(dead.consumer.as_deref(), Some("saga.payment"));
    let error = dead.error.unwrap();
    assert!(error.contains("Payment.Authorize"), "{error}");
    assert!(error.contains("refused"), "{error}");
    assert_eq!(
        shop.status(&stuck).await.as_deref(),
        Some("awaiting_payment")
    );

    sqlx::raw_sql("DROP TRIGGER refuse_payments ON events")
        .execute(&shop.pool)
        .await
        .unwrap();
    let redriven = causeway::dlq::redrive(&shop.settings, &EventStream::ALL)
        .await
        .unwrap();
    assert_eq!(redriven, 1);

    shop.wait_for(&stuck, "confirmed", WITHIN).await;
    shop.wait_stock(&sku, (10, 2, 8), WITHIN).await;
    let letters = causeway::dlq::list(&shop.settings, &[EventStream::Customer]).unwrap();
    assert!(letters.iter().all(|l| l.redriven));
    let again = causeway::dlq::redrive(&shop.settings, &EventStream::ALL)
        .await
        .unwrap();
    assert_eq!(again, 0, "a message is redriven once");
    shop.stop().await;
}

/// Two orders for one SKU reach the inventory participant in one batch, so their
/// reservations go to the item as one group commit; the store refuses the stock events of
/// one of them. The group fails as a whole, each reservation then runs alone: the good order
/// is confirmed, only the bad one's message is dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_reaction_in_a_group_commit_is_dead_lettered_alone() {
    let db = TestDatabase::migrated().await;
    let settings = causeway_tests::shop::shop_settings(&db.settings);
    let shop = Shop::start_with(
        db.pool.clone(),
        settings.clone(),
        &Shop::roles_without_sagas(),
    )
    .await;
    let sku = new_sku("hot");
    shop.restock(&sku, 10).await;
    let customer = shop.customer(10_000).await;
    let good = shop.order(&customer, &[(&sku, 1, 100)]).await;
    let bad = shop.order(&customer, &[(&sku, 1, 100)]).await;
    refuse_events(
        &shop.pool,
        "refuse_stock",
        &format!("'InventoryItem' AND NEW.payload->'data'->>'order_id' = '{bad}'"),
        "stock events of this order are refused",
    )
    .await;

    let _sagas = RoleProcess::start("sagas", &settings);

    shop.wait_for(&good, "confirmed", WITHIN).await;
    let letters = eventually(WITHIN, "the failed reservation in the DLQ", || async {
        let letters = causeway::dlq::list(&shop.settings, &[EventStream::Order]).unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!(letters.len(), 1, "only the bad order's message");
    let letter = &letters[0];
    assert_eq!(letter.header("aggregate_id").as_deref(), Some(bad.as_str()));
    assert_eq!(letter.header("event_type").as_deref(), Some("OrderPlaced"));
    let dead = letter.dead_letter();
    assert_eq!(dead.consumer.as_deref(), Some("saga.inventory"));
    assert!(dead.error.unwrap().contains("refused"));
    shop.wait_stock(&sku, (10, 1, 9), WITHIN).await;
    assert_eq!(shop.status(&bad).await.as_deref(), Some("pending"));
    let grouped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'InventoryItem' AND aggregate_id = $1",
    )
    .bind(&sku)
    .fetch_one(&shop.pool)
    .await
    .unwrap();
    assert_eq!(grouped, 2, "the restock and the good order's reservation");
    shop.stop().await;
}
