//! Snapshots of the event store (`causeway_event_store`) against real Postgres: a snapshot
//! inside one command's events, an unreadable one, a long-lived aggregate loaded through its
//! snapshot, and, for every aggregate, a property: snapshot + tail == replay of the table ==
//! the state decided in memory.

use std::sync::atomic::{AtomicUsize, Ordering};

use causeway_domain::inventory::StockRestocked;
use causeway_domain::{
    Aggregate, Currency, Customer, CustomerCommand, CustomerName, DomainEvent, Email,
    InventoryCommand, InventoryEvent, InventoryItem, Money, Order, OrderCommand, OrderId,
    OrderStatus, Payment, PaymentCommand, Quantity, RejectionReason, Sku,
};
use causeway_event_store::{CommandError, CommandStore};
use causeway_tests::TestDatabase;
use causeway_tests::event_store::{
    accept, customer_id, line, mark, metadata, order_id, payloads, place, placed_at, quantity,
    restock, snapshot_row, stored_events,
};
use chrono::Duration;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sqlx::PgPool;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Snapshots of one aggregate
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_snapshot_taken_inside_one_commands_events_stands_for_its_boundary() {
    let db = TestDatabase::migrated().await;
    let store = CommandStore::new(db.pool.clone(), 3);
    let id = Uuid::new_v4().to_string();
    accept::<Order>(&store, &id, place(vec![line("APPLE"), line("PEAR")])).await;
    accept::<Order>(&store, &id, mark("APPLE")).await;
    // Sequences 3 and 4: the interval of 3 falls between them.
    assert_eq!(accept::<Order>(&store, &id, mark("PEAR")).await.version, 4);

    let (sequence, version, payload) = snapshot_row(&db.pool, "Order", &id).await.expect("row");
    assert_eq!((sequence, version), (3, 1));
    let rows = stored_events(&db.pool, "Order", &id).await;
    let events = payloads::<Order>(&rows);
    let at_three: Order = serde_json::from_value(payload).expect("snapshot state");
    assert_eq!(at_three, Order::replay(&events[..3]));
    let (state, version) = store
        .load::<Order>(&id)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(
        (state.status(), version),
        (Some(OrderStatus::AwaitingPayment), 4)
    );
}

#[tokio::test]
async fn an_unreadable_snapshot_is_replayed_around_and_then_replaced() {
    let db = TestDatabase::migrated().await;
    let store = CommandStore::new(db.pool.clone(), 2);
    let sku = Uuid::new_v4().simple().to_string();
    accept::<InventoryItem>(&store, &sku, restock(1)).await;
    accept::<InventoryItem>(&store, &sku, restock(2)).await;
    // As after a change of the state's shape that old snapshots do not fit.
    sqlx::query(
        "UPDATE snapshots SET payload = '\"not an inventory item\"' WHERE aggregate_id = $1",
    )
    .bind(&sku)
    .execute(&db.pool)
    .await
    .expect("spoil snapshot");

    let (item, version) = store
        .load::<InventoryItem>(&sku)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(
        (item.on_hand(), version),
        (3, 2),
        "cqrs-es replays every event instead"
    );
    accept::<InventoryItem>(&store, &sku, restock(3)).await;
    // cqrs-es loaded no snapshot, so it writes "the first" one over the spoilt row.
    let crossing = store
        .execute::<InventoryItem>(&sku, restock(4), &metadata())
        .await;
    assert_eq!(
        crossing
            .expect("not blocked by the spoilt snapshot")
            .version,
        4
    );
    let (sequence, version, payload) = snapshot_row(&db.pool, "InventoryItem", &sku)
        .await
        .expect("row");
    assert_eq!((sequence, version), (4, 1));
    let snapshot: InventoryItem = serde_json::from_value(payload).expect("readable again");
    assert_eq!(snapshot.on_hand(), 10);
}

#[tokio::test]
async fn an_aggregate_with_ten_thousand_events_loads_through_its_snapshot() {
    let db = TestDatabase::migrated().await;
    let store = CommandStore::new(db.pool.clone(), 100);
    let sku = Uuid::new_v4().simple().to_string();
    let one = serde_json::to_value(InventoryEvent::StockRestocked(StockRestocked {
        quantity: quantity(1),
    }))
    .expect("payload");
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT 'InventoryItem', $1, g, 'StockRestocked', $2, $3, '{}' FROM generate_series(1, 9990) g",
    )
    .bind(&sku)
    .bind(InventoryEvent::EVENT_VERSION)
    .bind(&one)
    .execute(&db.pool)
    .await
    .expect("bulk insert");
    for _ in 0..10 {
        accept::<InventoryItem>(&store, &sku, restock(1)).await;
    }
    let snapshot = snapshot_row(&db.pool, "InventoryItem", &sku)
        .await
        .expect("snapshot");
    assert_eq!((snapshot.0, snapshot.1), (10_000, 1));
    let rows = stored_events(&db.pool, "InventoryItem", &sku).await;
    let replayed = InventoryItem::replay(&payloads::<InventoryItem>(&rows));
    let loaded = store.load::<InventoryItem>(&sku).await.expect("load");
    assert_eq!(loaded, Some((replayed, 10_000)));

    // Rewrite history below the snapshot: a load that replayed it would now differ.
    let two = serde_json::to_value(InventoryEvent::StockRestocked(StockRestocked {
        quantity: quantity(2),
    }))
    .expect("payload");
    sqlx::query("UPDATE events SET payload = $2 WHERE aggregate_id = $1 AND sequence <= 9990")
        .bind(&sku)
        .bind(&two)
        .execute(&db.pool)
        .await
        .expect("tamper");
    let (item, version) = store
        .load::<InventoryItem>(&sku)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(
        (item.on_hand(), version),
        (10_000, 10_000),
        "loaded from the snapshot"
    );
    assert_eq!(
        accept::<InventoryItem>(&store, &sku, restock(1))
            .await
            .version,
        10_001
    );
}

// ---------------------------------------------------------------------------------------
// Property: snapshot + tail == replay of the table == state decided in memory
// ---------------------------------------------------------------------------------------

/// Runs `commands` through the store and in memory, then compares the three states.
async fn run_through_store<A: Aggregate>(
    store: &CommandStore,
    pool: &PgPool,
    commands: &[A::Command],
) -> Result<bool, TestCaseError> {
    let id = Uuid::new_v4().to_string();
    let (mut tracked, mut version) = (A::default(), 0_u64);
    for command in commands {
        let outcome = store.execute::<A>(&id, command.clone(), &metadata()).await;
        match (tracked.decide(command), outcome) {
            (Ok(events), Ok(committed)) => {
                let types: Vec<_> = events.iter().map(|e| e.event_type().to_owned()).collect();
                let answered: Vec<_> = committed.events.iter().map(|(_, t)| t.clone()).collect();
                prop_assert_eq!(answered, types);
                prop_assert_eq!(committed.version, version + events.len() as u64);
                events.iter().for_each(|e| tracked.apply(e));
                version = committed.version;
                // Every load goes through the latest snapshot and the events after it.
                let loaded = store.load::<A>(&id).await;
                let loaded = loaded.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(loaded, (version > 0).then(|| (tracked.clone(), version)));
            }
            (Err(expected), Err(CommandError::Rejected(rejection))) => {
                prop_assert_eq!(rejection, expected);
            }
            (expected, outcome) => {
                let message = format!("decided {expected:?} in memory, store said {outcome:?}");
                return Err(TestCaseError::fail(message));
            }
        }
    }
    let rows = stored_events(pool, A::TYPE, &id).await;
    let sequences: Vec<i64> = rows.iter().map(|r| r.sequence).collect();
    prop_assert_eq!(sequences, (1..=version as i64).collect::<Vec<_>>());
    let events = payloads::<A>(&rows);
    prop_assert_eq!(&A::replay(&events), &tracked);
    let loaded = store
        .load::<A>(&id)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(loaded, (version > 0).then(|| (tracked.clone(), version)));

    let snapshot = snapshot_row(pool, A::TYPE, &id).await;
    let every = store.repository().snapshot_every();
    let expected_at = version - version % every;
    prop_assert_eq!(snapshot.is_some(), expected_at > 0);
    if let Some((sequence, _, payload)) = snapshot {
        prop_assert_eq!(sequence as u64, expected_at);
        let state: A =
            serde_json::from_value(payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(state, A::replay(&events[..expected_at as usize]));
    }
    Ok(expected_at > 0)
}

/// Runs 24 random command sequences, each on a fresh aggregate of one migrated database,
/// with a snapshot every `snapshot_every` events.
fn snapshots_agree_with_replay<A: Aggregate>(
    snapshot_every: u64,
    commands: impl Strategy<Value = Vec<A::Command>>,
) {
    let rt = runtime();
    let db = rt.block_on(TestDatabase::migrated());
    let store = CommandStore::new(db.pool.clone(), snapshot_every);
    let config = Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    };
    let snapshotted = AtomicUsize::new(0);
    let result = TestRunner::new(config).run(&commands, |commands| {
        let took_snapshot = rt.block_on(run_through_store::<A>(&store, &db.pool, &commands))?;
        snapshotted.fetch_add(usize::from(took_snapshot), Ordering::Relaxed);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{}: {error}", A::TYPE);
    }
    let snapshotted = snapshotted.into_inner();
    assert!(
        snapshotted >= 6,
        "only {snapshotted} of 24 {} cases took a snapshot",
        A::TYPE
    );
}

fn money() -> impl Strategy<Value = Money> + Clone {
    let currency = prop_oneof![9 => Just("EUR"), 1 => Just("USD")];
    (0_i64..3_000, currency).prop_map(|(amount, currency)| {
        Money::parse(amount, Currency::parse(currency).expect("currency")).expect("money")
    })
}

fn some_order_id() -> impl Strategy<Value = OrderId> + Clone {
    (1_u128..=3).prop_map(order_id)
}

fn some_quantity() -> impl Strategy<Value = Quantity> + Clone {
    (1_u32..=12).prop_map(quantity)
}

/// A creating command first (mostly), then up to 20 more.
fn sequence<C: Clone + std::fmt::Debug>(
    first: impl Strategy<Value = C>,
    rest: impl Strategy<Value = C>,
) -> impl Strategy<Value = Vec<C>> {
    (first, prop::collection::vec(rest, 0..20)).prop_map(|(first, mut rest)| {
        rest.insert(0, first);
        rest
    })
}

fn customer_commands() -> impl Strategy<Value = Vec<CustomerCommand>> {
    let register = (prop_oneof![Just("Ada"), Just("Grace")], money()).prop_map(|(name, limit)| {
        CustomerCommand::Register {
            name: CustomerName::parse(name).expect("name"),
            email: Email::parse("someone@example.com").expect("email"),
            credit_limit: limit,
            owner: None,
        }
    });
    let command = prop_oneof![
        1 => register.clone(),
        2 => money().prop_map(|limit| CustomerCommand::ChangeCreditLimit { limit }),
        5 => (some_order_id(), money())
            .prop_map(|(order_id, amount)| CustomerCommand::ReserveCredit { order_id, amount }),
        3 => some_order_id().prop_map(|order_id| CustomerCommand::ReleaseCredit { order_id }),
    ];
    sequence(register, command)
}

fn inventory_commands() -> impl Strategy<Value = Vec<InventoryCommand>> {
    let restock = some_quantity().prop_map(|quantity| InventoryCommand::Restock { quantity });
    let command = prop_oneof![
        2 => restock.clone(),
        5 => (some_order_id(), some_quantity())
            .prop_map(|(order_id, quantity)| InventoryCommand::Reserve { order_id, quantity }),
        3 => some_order_id().prop_map(|order_id| InventoryCommand::Release { order_id }),
    ];
    sequence(restock, command)
}

fn order_commands() -> impl Strategy<Value = Vec<OrderCommand>> {
    // Two lines make the last reservation's two events straddle a snapshot at 3.
    let lines = prop_oneof![
        1 => Just(vec![line("APPLE")]),
        4 => Just(vec![line("APPLE"), line("PEAR")]),
        2 => Just(vec![line("APPLE"), line("PEAR"), line("FIG")]),
        1 => Just(vec![line("APPLE"), line("apple")]),
    ];
    let placing = lines.prop_map(place);
    let sku = prop_oneof![Just("APPLE"), Just("PEAR"), Just("FIG"), Just("KIWI")];
    let reason = sku.clone().prop_map(|sku| RejectionReason::OutOfStock {
        sku: Sku::parse(sku).expect("sku"),
    });
    let command = prop_oneof![
        1 => placing.clone(),
        8 => sku.prop_map(mark),
        2 => Just(OrderCommand::Confirm),
        1 => reason.prop_map(|reason| OrderCommand::Reject { reason }),
        1 => Just(OrderCommand::Cancel { reason: "changed my mind".to_owned() }),
        1 => prop_oneof![Just(5), Just(30)]
            .prop_map(|m| OrderCommand::Expire { now: placed_at() + Duration::minutes(m) }),
    ];
    sequence(placing, command)
}

fn payment_commands() -> impl Strategy<Value = Vec<PaymentCommand>> {
    let customer = (1_u128..=2).prop_map(customer_id);
    let authorize =
        (customer.clone(), money()).prop_map(|(customer_id, amount)| PaymentCommand::Authorize {
            customer_id,
            amount,
        });
    let command = prop_oneof![
        3 => authorize.clone(),
        2 => (customer, money()).prop_map(|(customer_id, amount)| PaymentCommand::Decline {
            customer_id, amount, reason: "insufficient credit".to_owned(),
        }),
        2 => Just(PaymentCommand::Void),
        2 => Just(PaymentCommand::Refund),
    ];
    sequence(authorize, command)
}

#[test]
fn customers_loaded_through_snapshots_equal_the_replay_of_their_stored_events() {
    snapshots_agree_with_replay::<Customer>(3, customer_commands());
}

#[test]
fn inventory_items_loaded_through_snapshots_equal_the_replay_of_their_stored_events() {
    snapshots_agree_with_replay::<InventoryItem>(3, inventory_commands());
}

#[test]
fn orders_loaded_through_snapshots_equal_the_replay_of_their_stored_events() {
    snapshots_agree_with_replay::<Order>(3, order_commands());
}

#[test]
fn payments_loaded_through_snapshots_equal_the_replay_of_their_stored_events() {
    // A payment stores two events at most: snapshot every one, so the guarded update of an
    // existing snapshot row runs too.
    snapshots_agree_with_replay::<Payment>(1, payment_commands());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}
