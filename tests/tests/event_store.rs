//! The event store (`causeway_event_store`) against real Postgres: versions and
//! metadata, snapshots that agree with a replay of the stored events for every aggregate,
//! conflicts that store nothing, concurrent writers, and a long-lived aggregate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use causeway_domain::inventory::StockRestocked;
use causeway_domain::{
    Aggregate, Currency, Customer, CustomerCommand, CustomerId, CustomerName, DomainEvent, Email,
    InventoryCommand, InventoryEvent, InventoryItem, Money, Order, OrderCommand, OrderId,
    OrderLine, OrderRejection, OrderStatus, Payment, PaymentCommand, Quantity, RejectionReason,
    Sku,
};
use causeway_event_store::PgEventRepository;
use causeway_event_store::{
    Aggregated, CommandError, CommandMetadata, CommandStore, Committed, RetryPolicy,
};
use causeway_tests::TestDatabase;
use chrono::{DateTime, Duration, Utc};
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::Barrier;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// One row of the `events` table.
#[derive(Debug, sqlx::FromRow)]
struct StoredEvent {
    sequence: i64,
    event_type: String,
    payload: Value,
    metadata: Value,
}

async fn stored_events(pool: &PgPool, aggregate_type: &str, id: &str) -> Vec<StoredEvent> {
    sqlx::query_as(
        "SELECT sequence, event_type, payload, metadata FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
    )
    .bind(aggregate_type)
    .bind(id)
    .fetch_all(pool)
    .await
    .expect("read events back")
}

/// The domain events of stored rows, deserialised as any reader of the table would.
fn payloads<A: Aggregate>(rows: &[StoredEvent]) -> Vec<A::Event> {
    let event = |row: &StoredEvent| serde_json::from_value(row.payload.clone()).expect("event");
    rows.iter().map(event).collect()
}

/// `(last_sequence, snapshot_version, payload)` of an aggregate's snapshot row.
async fn snapshot_row(pool: &PgPool, aggregate_type: &str, id: &str) -> Option<(i64, i64, Value)> {
    sqlx::query_as(
        "SELECT last_sequence, snapshot_version, payload FROM snapshots
          WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(aggregate_type)
    .bind(id)
    .fetch_optional(pool)
    .await
    .expect("read snapshot")
}

fn metadata() -> CommandMetadata {
    CommandMetadata {
        correlation_id: Uuid::new_v4(),
        causation_id: Some(Uuid::new_v4()),
        caller: "event-store-tests".to_owned(),
        idempotency_key: Some(Uuid::new_v4().simple().to_string()),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
    }
}

fn correlation_of(row: &StoredEvent) -> Option<&str> {
    row.metadata["correlation_id"].as_str()
}

fn quantity(units: u32) -> Quantity {
    Quantity::parse(units).expect("valid quantity")
}

fn restock(units: u32) -> InventoryCommand {
    InventoryCommand::Restock {
        quantity: quantity(units),
    }
}

fn eur(amount_minor: i64) -> Money {
    Money::parse(amount_minor, Currency::parse("EUR").expect("EUR")).expect("valid money")
}

fn order_id(n: u128) -> OrderId {
    OrderId::try_from(Uuid::from_u128(n)).expect("not nil")
}

fn customer_id(n: u128) -> CustomerId {
    CustomerId::try_from(Uuid::from_u128(n)).expect("not nil")
}

fn placed_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).expect("valid timestamp")
}

fn line(sku: &str) -> OrderLine {
    let sku = Sku::parse(sku).expect("valid sku");
    OrderLine {
        sku,
        quantity: quantity(2),
        unit_price: eur(150),
    }
}

fn place(lines: Vec<OrderLine>) -> OrderCommand {
    OrderCommand::Place {
        customer_id: customer_id(1),
        currency: Currency::parse("EUR").expect("EUR"),
        lines,
        placed_at: placed_at(),
        deadline: placed_at() + Duration::minutes(15),
    }
}

fn mark(sku: &str) -> OrderCommand {
    OrderCommand::MarkLineReserved {
        sku: Sku::parse(sku).expect("valid sku"),
    }
}

async fn accept<A: Aggregate>(store: &CommandStore, id: &str, command: A::Command) -> Committed {
    match store.execute::<A>(id, command, &metadata()).await {
        Ok(committed) => committed,
        Err(error) => panic!("command on {id} failed: {error:?}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------
// Versions, metadata, rejections
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn executed_commands_store_their_events_with_metadata_and_answer_the_new_version() {
    let db = TestDatabase::migrated().await;
    let store = CommandStore::new(db.pool.clone(), 100);
    let id = Uuid::new_v4().to_string();

    let placed = accept::<Order>(&store, &id, place(vec![line("APPLE"), line("PEAR")])).await;
    assert_eq!(placed.version, 1);
    assert_eq!(placed.events, vec![(1, "OrderPlaced".to_owned())]);
    assert_eq!(accept::<Order>(&store, &id, mark("APPLE")).await.version, 2);
    let both = accept::<Order>(&store, &id, mark("PEAR")).await;
    let expected = [(3, "OrderLineReserved"), (4, "OrderAwaitingPayment")];
    assert_eq!(both.events, expected.map(|(s, t)| (s, t.to_owned())));
    assert_eq!(
        (both.version, both.aggregate_id.as_str(), both.attempts),
        (4, id.as_str(), 1)
    );

    let meta = metadata();
    let again = store
        .execute::<Order>(&id, mark("PEAR"), &meta)
        .await
        .expect("no-op");
    assert_eq!(
        (again.version, again.events.len()),
        (4, 0),
        "a no-op answers the version"
    );

    let other_lines = place(vec![line("FIG")]);
    let rejected = store.execute::<Order>(&id, other_lines, &meta).await;
    assert!(matches!(
        rejected,
        Err(CommandError::Rejected(OrderRejection::AlreadyPlaced))
    ));

    let rows = stored_events(&db.pool, "Order", &id).await;
    assert_eq!(
        rows.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    for row in &rows {
        for key in [
            "correlation_id",
            "causation_id",
            "caller",
            "idempotency_key",
            "traceparent",
        ] {
            assert!(
                row.metadata[key].is_string(),
                "{key} missing in {}",
                row.metadata
            );
        }
        assert_ne!(
            correlation_of(row),
            Some(meta.correlation_id.to_string().as_str())
        );
    }
    assert_eq!(rows[3].event_type, "OrderAwaitingPayment");
    let (state, version) = store
        .load::<Order>(&id)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(
        (state.status(), version),
        (Some(OrderStatus::AwaitingPayment), 4)
    );
    assert_eq!(state, Order::replay(&payloads::<Order>(&rows)));
    assert!(
        store
            .load::<Order>("never-written")
            .await
            .expect("load")
            .is_none()
    );
}

#[tokio::test]
async fn a_command_on_a_minted_id_skips_the_load_and_decides_on_the_stored_state_if_it_exists() {
    let db = TestDatabase::migrated().await;
    let store = CommandStore::new(db.pool.clone(), 100);
    let fresh = order_id(0xA1).to_string();
    let first = store
        .execute_new::<Order>(&fresh, place(vec![line("SKU-1")]), &metadata())
        .await
        .expect("placed");
    assert_eq!((first.version, first.attempts), (1, 1));

    // Were a minted id taken after all, the insert of sequence 1 conflicts (or the default
    // state refuses the command), the next attempt loads, and the order decides as it would
    // have: a re-placed order is a no-op, a reservation is accepted.
    let again = store
        .execute_new::<Order>(&fresh, place(vec![line("SKU-1")]), &metadata())
        .await
        .expect("no-op");
    assert_eq!((again.version, again.attempts), (1, 2));
    assert!(again.events.is_empty(), "{again:?}");
    let marked = store
        .execute_new::<Order>(&fresh, mark("SKU-1"), &metadata())
        .await
        .expect("decided on the stored order");
    assert_eq!((marked.version, marked.attempts), (3, 2));
    let rows = stored_events(&db.pool, Order::TYPE, &fresh).await;
    let types: Vec<&str> = rows.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["OrderPlaced", "OrderLineReserved", "OrderAwaitingPayment"]
    );
}

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

// ---------------------------------------------------------------------------------------
// Conflicts store nothing
// ---------------------------------------------------------------------------------------

/// Makes every event insert move the aggregate's snapshot version on, inside the writing
/// transaction: to a writer, someone else replaced the snapshot between load and commit.
const BUMP_SNAPSHOT_ON_INSERT: &str = "
CREATE FUNCTION bump_snapshot_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE snapshots SET snapshot_version = snapshot_version + 1
   WHERE aggregate_type = NEW.aggregate_type AND aggregate_id = NEW.aggregate_id;
  RETURN NEW;
END $$;
CREATE TRIGGER bump_snapshot_version BEFORE INSERT ON events
  FOR EACH ROW EXECUTE FUNCTION bump_snapshot_version();";

#[tokio::test]
async fn a_command_answered_conflict_in_snapshot_mode_has_stored_nothing() {
    let db = TestDatabase::migrated().await;
    sqlx::raw_sql(BUMP_SNAPSHOT_ON_INSERT)
        .execute(&db.pool)
        .await
        .expect("trigger");
    let store = CommandStore::new(db.pool.clone(), 3).with_jitter(|| 0.0);
    let id = Uuid::new_v4().to_string();
    let register = CustomerCommand::Register {
        name: CustomerName::parse("Ada").expect("name"),
        email: Email::parse("ada@example.com").expect("email"),
        credit_limit: eur(1_000),
    };
    let limits = (1..=9).map(|n| CustomerCommand::ChangeCreditLimit {
        limit: eur(1_000 + n),
    });
    let (mut accepted, mut conflicted) = (Vec::new(), Vec::new());
    for command in std::iter::once(register).chain(limits) {
        let meta = metadata();
        match store.execute::<Customer>(&id, command, &meta).await {
            Ok(committed) => accepted.push(committed),
            Err(CommandError::Conflict { attempts }) => conflicted.push((meta, attempts)),
            Err(error) => panic!("unexpected {error:?}"),
        }
    }
    // Sequences 1–3 write the first snapshot; 4 and 5 commit and move its version on; the
    // write of 6 needs the snapshot it loaded and finds it replaced, every time.
    assert_eq!(
        accepted.iter().map(|c| c.version).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(conflicted.len(), 5);
    assert!(
        conflicted.iter().all(|(_, attempts)| *attempts == 3),
        "{conflicted:?}"
    );

    let rows = stored_events(&db.pool, "Customer", &id).await;
    let accepted_events: usize = accepted.iter().map(|c| c.events.len()).sum();
    assert_eq!(rows.len(), accepted_events);
    for (meta, _) in &conflicted {
        let correlation = meta.correlation_id.to_string();
        assert!(
            rows.iter()
                .all(|r| correlation_of(r) != Some(correlation.as_str()))
        );
    }
    let (state, version) = store
        .load::<Customer>(&id)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!((state.credit_limit(), version), (Some(&eur(1_004)), 5));
    assert_eq!(
        snapshot_row(&db.pool, "Customer", &id).await.map(|s| s.1),
        Some(3)
    );

    sqlx::raw_sql("DROP TRIGGER bump_snapshot_version ON events")
        .execute(&db.pool)
        .await
        .expect("drop");
    let limit = CustomerCommand::ChangeCreditLimit { limit: eur(2_000) };
    assert_eq!(accept::<Customer>(&store, &id, limit).await.version, 6);
}

/// Runs one restock per task on `sku`, all released at once.
async fn restock_concurrently(
    store: &CommandStore,
    sku: &str,
    tasks: usize,
) -> Vec<(
    CommandMetadata,
    Result<Committed, CommandError<causeway_domain::InventoryRejection>>,
)> {
    let barrier = Arc::new(Barrier::new(tasks));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (store, sku, barrier) = (store.clone(), sku.to_owned(), Arc::clone(&barrier));
            tokio::spawn(async move {
                let meta = metadata();
                barrier.wait().await;
                let outcome = store
                    .execute::<InventoryItem>(&sku, restock(1), &meta)
                    .await;
                (meta, outcome)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(handle.await.expect("task"));
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commands_store_every_accepted_event_once_and_gap_free() {
    let db = TestDatabase::migrated().await;
    let store = CommandStore::new(db.pool.clone(), 3);
    let sku = Uuid::new_v4().simple().to_string();
    accept::<InventoryItem>(&store, &sku, restock(1)).await;

    let first = restock_concurrently(&store, &sku, 16).await;
    let patient = store.clone().with_retry(RetryPolicy {
        max_attempts: 100,
        ..RetryPolicy::default()
    });
    let second = restock_concurrently(&patient, &sku, 16).await;

    let rows = stored_events(&db.pool, "InventoryItem", &sku).await;
    let mut accepted = 0;
    for (meta, outcome) in first.iter().chain(&second) {
        let correlation = meta.correlation_id.to_string();
        let stored: Vec<_> = rows
            .iter()
            .filter(|r| correlation_of(r) == Some(&correlation))
            .collect();
        match outcome {
            Ok(committed) => {
                assert_eq!(stored.len(), 1, "an accepted restock is stored once");
                assert_eq!(stored[0].sequence as u64, committed.version);
                accepted += 1;
            }
            Err(CommandError::Conflict { attempts }) => {
                assert_eq!(*attempts, 3, "Conflict only after every attempt");
                assert!(stored.is_empty(), "a conflicting restock stored nothing");
            }
            Err(error) => panic!("unexpected {error:?}"),
        }
    }
    let sequences: Vec<i64> = rows.iter().map(|r| r.sequence).collect();
    assert_eq!(
        sequences,
        (1..=rows.len() as i64).collect::<Vec<_>>(),
        "gap-free"
    );
    assert_eq!(rows.len(), 1 + accepted);
    assert!(
        second.iter().all(|(_, outcome)| outcome.is_ok()),
        "patient writers all succeed"
    );
    let retried = |outcomes: &[(_, Result<Committed, _>)]| {
        outcomes
            .iter()
            .any(|(_, o)| o.as_ref().map_or(true, |c: &Committed| c.attempts > 1))
    };
    assert!(
        retried(&first) && retried(&second),
        "16 writers at once conflict and retry"
    );
    let (item, version) = store
        .load::<InventoryItem>(&sku)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(
        (item.on_hand() as usize, version as usize),
        (rows.len(), rows.len())
    );
}

// ---------------------------------------------------------------------------------------
// Group commit: concurrent appends share one INSERT, and a failing one is refused alone
// ---------------------------------------------------------------------------------------

/// A `StockRestocked` event of `sku` at `sequence`, as cqrs-es hands it to the repository.
fn restocked(sku: &str, sequence: usize) -> SerializedEvent {
    SerializedEvent::new(
        sku.to_owned(),
        sequence,
        InventoryItem::TYPE.to_owned(),
        "StockRestocked".to_owned(),
        "1".to_owned(),
        serde_json::json!({"type": "StockRestocked", "data": {"quantity": 1}}),
        serde_json::json!({"caller": "test"}),
    )
}

/// Holds every insert into `events` until the returned transaction ends.
async fn block_inserts(db: &TestDatabase) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut lock = db.pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("lock events");
    lock
}

/// Runs each append in its own task while inserts are blocked, waits until they are all
/// queued or blocked, releases the lock, and answers each append's outcome.
async fn append_while_blocked(
    db: &TestDatabase,
    repository: &PgEventRepository,
    appends: Vec<SerializedEvent>,
) -> Vec<Result<(), cqrs_es::persist::PersistenceError>> {
    let lock = block_inserts(db).await;
    let tasks: Vec<_> = appends
        .into_iter()
        .map(|event| {
            let repository = repository.clone();
            tokio::spawn(async move {
                repository
                    .persist::<Aggregated<InventoryItem>>(&[event], None)
                    .await
            })
        })
        .collect();
    let blocked = || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = $1 AND wait_event_type = 'Lock' AND query ILIKE '%INSERT INTO events%'",
        )
        .bind(&db.settings.database.database_name)
        .fetch_one(&db.pool)
        .await
        .expect("pg_stat_activity");
        (waiting > 0).then_some(())
    };
    causeway_tests::eventually(
        std::time::Duration::from_secs(10),
        "an insert blocked",
        blocked,
    )
    .await;
    // The appends that found every flush busy queue without a statement to show.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    lock.rollback().await.expect("release the lock");
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("append task"));
    }
    outcomes
}

/// Asserts that each of `skus` has exactly one stored event.
async fn assert_each_stored_once(pool: &PgPool, skus: &[String]) {
    for sku in skus {
        let stored = stored_events(pool, InventoryItem::TYPE, sku).await;
        assert_eq!(stored.len(), 1, "{sku}");
    }
}

/// How many distinct transactions stored the events of `skus`.
async fn transactions_of(pool: &PgPool, skus: &[String]) -> i64 {
    sqlx::query_scalar(
        "SELECT count(DISTINCT transaction_id) FROM events
          WHERE aggregate_type = 'InventoryItem' AND aggregate_id = ANY($1)",
    )
    .bind(skus)
    .fetch_one(pool)
    .await
    .expect("count transactions")
}

#[tokio::test]
async fn appends_made_while_postgres_is_busy_share_one_insert() {
    let db = TestDatabase::migrated().await;
    let repository = CommandStore::new(db.pool.clone(), 0).repository().clone();
    let skus: Vec<String> = (0..24).map(|n| format!("SKU-GROUP-{n}")).collect();
    let appends = skus.iter().map(|sku| restocked(sku, 1)).collect();

    let outcomes = append_while_blocked(&db, &repository, appends).await;

    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_each_stored_once(&db.pool, &skus).await;
    // At most four flushes were blocked; the other appends queued behind them and went in
    // together once the lock was released.
    let transactions = transactions_of(&db.pool, &skus).await;
    assert!(
        transactions <= 8,
        "24 appends in {transactions} transactions"
    );
}

#[tokio::test]
async fn an_append_that_conflicts_inside_a_group_is_refused_and_the_others_are_stored() {
    let db = TestDatabase::migrated().await;
    let store = CommandStore::new(db.pool.clone(), 0);
    let repository = store.repository().clone();
    accept::<InventoryItem>(&store, "SKU-TAKEN", restock(3)).await;
    let skus: Vec<String> = (0..12).map(|n| format!("SKU-FREE-{n}")).collect();
    let mut appends: Vec<_> = skus.iter().map(|sku| restocked(sku, 1)).collect();
    appends.insert(5, restocked("SKU-TAKEN", 1));

    let mut outcomes = append_while_blocked(&db, &repository, appends).await;

    let conflict = outcomes.remove(5);
    assert!(
        matches!(
            conflict,
            Err(cqrs_es::persist::PersistenceError::OptimisticLockError)
        ),
        "{conflict:?}"
    );
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_each_stored_once(&db.pool, &skus).await;
    let taken = stored_events(&db.pool, InventoryItem::TYPE, "SKU-TAKEN").await;
    assert_eq!(taken.len(), 1);
    assert_ne!(taken[0].payload, restocked("SKU-TAKEN", 1).payload);
}

// ---------------------------------------------------------------------------------------
// A long-lived aggregate; replay streams
// ---------------------------------------------------------------------------------------

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

#[tokio::test]
async fn replay_streams_yield_an_aggregates_events_and_all_events_of_its_type_in_order() {
    let db = TestDatabase::migrated().await;
    let store = CommandStore::new(db.pool.clone(), 2);
    let (first, second) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    for (sku, units) in [
        (&first, 1),
        (&second, 2),
        (&first, 3),
        (&second, 4),
        (&first, 5),
    ] {
        accept::<InventoryItem>(&store, sku, restock(units)).await;
    }
    let repository = store.repository();
    let mut stream = repository
        .stream_events::<Aggregated<InventoryItem>>(&first)
        .await
        .expect("stream");
    let mut sequences = Vec::new();
    while let Some(envelope) = stream.next::<Aggregated<InventoryItem>>(&[]).await {
        let envelope = envelope.expect("event");
        assert_eq!(envelope.aggregate_id, first);
        sequences.push(envelope.sequence);
    }
    assert_eq!(sequences, [1, 2, 3]);

    let mut all = repository
        .stream_all_events::<Aggregated<InventoryItem>>()
        .await
        .expect("stream");
    let mut seen = Vec::new();
    while let Some(envelope) = all.next::<Aggregated<InventoryItem>>(&[]).await {
        let envelope = envelope.expect("event");
        let InventoryEvent::StockRestocked(restocked) = envelope.payload.0 else {
            panic!("only restocks were stored");
        };
        seen.push(restocked.quantity.get());
    }
    assert_eq!(seen, [1, 2, 3, 4, 5], "insertion order across aggregates");
}
