//! Concurrent writers on the event store (`causeway_event_store`) against real Postgres:
//! conflicts store nothing, concurrent commands store every accepted event once and gap-free,
//! and the group commit (concurrent appends share one INSERT; a conflicting one is refused
//! alone).

use std::sync::Arc;

use causeway_domain::{Aggregate, Customer, CustomerCommand, CustomerName, Email, InventoryItem};
use causeway_event_store::PgEventRepository;
use causeway_event_store::{
    Aggregated, CommandError, CommandMetadata, CommandStore, Committed, RetryPolicy,
};
use causeway_tests::TestDatabase;
use causeway_tests::event_store::{
    accept, correlation_of, eur, metadata, restock, snapshot_row, stored_events,
};
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use sqlx::PgPool;
use tokio::sync::Barrier;
use uuid::Uuid;

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
        owner: None,
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
