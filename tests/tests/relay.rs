//! The relay publishes every stored event to Kafka in per-aggregate order across a SIGKILL, a
//! late commit, and a leader change, losing none: with `relay.delivery = "transactional"`
//! exactly once for `read_committed` consumers; with `"idempotent"` (the default) a crash
//! may publish the unacknowledged suffix of an aggregate's events again, in order, and the
//! read model built from them still counts each event once. The relay runs as a real
//! `causeway serve --roles relay` process.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use causeway_infra::settings::RelayDelivery;
use causeway_tests::process::RoleProcess;
use causeway_tests::relay_support::{
    Published, count_published, create_single_partition_topic, high_watermarks, insert_restock,
    insert_restocks, insert_restocks_from, isolated_relay_settings, leader_pid, partition_count,
    read_all,
};
use causeway_tests::{TestDatabase, eventually};

const AGGREGATES: usize = 200;
const EVENTS_EACH: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_relay_killed_mid_stream_loses_and_duplicates_nothing_after_restart() {
    let db = TestDatabase::migrated().await;
    // Small transactions, so the kill lands between or inside one of hundreds of them.
    let mut settings = isolated_relay_settings(&db.settings, 50);
    settings.relay.delivery = RelayDelivery::Transactional;
    let total = AGGREGATES * EVENTS_EACH;
    let mut relay = kill_mid_stream(&db, &settings).await;

    relay.restart();
    let records = wait_for(&settings, total, Duration::from_secs(90)).await;
    assert_exactly_once_in_order(&records, AGGREGATES, EVENTS_EACH);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_relay_killed_mid_stream_loses_nothing_and_its_replay_changes_no_effect() {
    let db = TestDatabase::migrated().await;
    let settings = isolated_relay_settings(&db.settings, 50);
    assert_eq!(
        settings.relay.delivery,
        RelayDelivery::Idempotent,
        "the default"
    );
    let total = AGGREGATES * EVENTS_EACH;
    let _projections = RoleProcess::start("projections", &settings);
    let mut relay = kill_mid_stream(&db, &settings).await;

    relay.restart();
    let records = wait_for_every_sequence(&settings, AGGREGATES, EVENTS_EACH).await;
    assert_in_order_with_replayed_suffixes(&records, AGGREGATES, EVENTS_EACH, 1);
    // Every SKU was restocked EVENTS_EACH times by one each: a replayed event counted twice
    // would show as more on hand.
    let on_hand = eventually(Duration::from_secs(90), "the inventory read model", || {
        let pool = db.pool.clone();
        async move {
            let rows: Vec<(i64, i64)> =
                sqlx::query_as("SELECT on_hand, version FROM inventory_view ORDER BY sku")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            let done =
                rows.len() == AGGREGATES && rows.iter().all(|&(_, v)| v == EVENTS_EACH as i64);
            done.then_some(rows)
        }
    })
    .await;
    assert!(
        on_hand.iter().all(|&(n, _)| n == EVENTS_EACH as i64),
        "each event counted once: {:?}",
        on_hand
            .iter()
            .filter(|&&(n, _)| n != EVENTS_EACH as i64)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(records.len() >= total);
}

/// Stores AGGREGATES × EVENTS_EACH restocks, starts a relay and SIGKILLs it once it has
/// published some of them but not all.
async fn kill_mid_stream(db: &TestDatabase, settings: &causeway_infra::Settings) -> RoleProcess {
    insert_restocks(&db.pool, AGGREGATES, EVENTS_EACH, 2000).await;
    let total = AGGREGATES * EVENTS_EACH;
    let mut relay = RoleProcess::start("relay", settings);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while high_watermarks(settings, "InventoryItem").await < 1000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay never started publishing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.kill();
    let seen = count_published(settings, "InventoryItem").await;
    assert!(
        seen < total,
        "the kill must land mid-stream (saw {seen} of {total} already)"
    );
    relay
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_commits_late_is_published_not_skipped() {
    let db = TestDatabase::migrated().await;
    let settings = isolated_relay_settings(&db.settings, 100);
    create_single_partition_topic(&settings, "InventoryItem").await;
    let _relay = RoleProcess::start("relay", &settings);

    // Transaction A takes its id first and stays open; B commits after it.
    let mut late = db.pool.begin().await.unwrap();
    insert_restock(&mut *late, "LATE-1", 1).await;
    insert_restock(&db.pool, "EARLY-1", 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = read_all(&settings, "InventoryItem", 2).await;
    assert!(
        before.is_empty(),
        "nothing after an open transaction is published: {before:?}"
    );

    late.commit().await.unwrap();
    let records = wait_for(&settings, 2, Duration::from_secs(30)).await;
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        ["LATE-1", "EARLY-1"],
        "published in the order their transactions began"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_relay_takes_over_when_the_leader_dies() {
    let db = TestDatabase::migrated().await;
    let settings = isolated_relay_settings(&db.settings, 100);
    let mut first = RoleProcess::start("relay", &settings);
    let mut second = RoleProcess::start("relay", &settings);
    let leader = eventually(Duration::from_secs(30), "a leader", || {
        let pool = db.pool.clone();
        async move { leader_pid(&pool).await }
    })
    .await;
    assert!(
        leader == first.pid() || leader == second.pid(),
        "the leader is one of ours"
    );

    insert_restocks(&db.pool, 10, 10, 100).await;
    wait_for(&settings, 100, Duration::from_secs(60)).await;
    if leader == first.pid() {
        first.kill();
    } else {
        second.kill();
    }

    insert_restocks_from(&db.pool, 10, 10, 11, 100).await;
    let records = wait_for(&settings, 200, Duration::from_secs(60)).await;
    // The new leader may publish again what the old one had not checkpointed yet.
    assert_in_order_with_replayed_suffixes(&records, 10, 20, 1);
    let new_leader = leader_pid(&db.pool).await.unwrap();
    assert_ne!(new_leader, leader, "the standby leads now");
}

/// Reads the inventory topic until `count` events are visible to `read_committed`.
async fn wait_for(
    settings: &causeway_infra::Settings,
    count: usize,
    deadline: Duration,
) -> Vec<Published> {
    eventually(deadline, &format!("{count} published events"), || {
        let settings = settings.clone();
        async move {
            let records = read_all(&settings, "InventoryItem", usize::MAX).await;
            (records.len() >= count).then_some(records)
        }
    })
    .await
}

/// Reads the inventory topic until every aggregate's last sequence (`each`) is visible.
async fn wait_for_every_sequence(
    settings: &causeway_infra::Settings,
    aggregates: usize,
    each: usize,
) -> Vec<Published> {
    eventually(Duration::from_secs(90), "every sequence published", || {
        let settings = settings.clone();
        async move {
            let records = read_all(&settings, "InventoryItem", usize::MAX).await;
            let complete: HashSet<&str> = records
                .iter()
                .filter(|r| r.sequence == each as i64)
                .map(|r| r.key.as_str())
                .collect();
            (complete.len() == aggregates).then_some(records)
        }
    })
    .await
}

/// Every aggregate's sequences 1..=n appear, in order of offset, except that at most
/// `replays` times an aggregate starts again at an earlier sequence and goes on from there
/// in order (a republished suffix): nothing is missing, nothing is out of order.
fn assert_in_order_with_replayed_suffixes(
    records: &[Published],
    aggregates: usize,
    each: usize,
    replays: usize,
) {
    let mut last: HashMap<&str, i64> = HashMap::new();
    let mut restarts: HashMap<&str, usize> = HashMap::new();
    for record in records {
        let key = record.key.as_str();
        let previous = last.insert(key, record.sequence).unwrap_or(0);
        if record.sequence != previous + 1 {
            assert!(
                record.sequence <= previous,
                "{key} skipped from #{previous} to #{}",
                record.sequence
            );
            let count = restarts.entry(key).or_default();
            *count += 1;
            assert!(
                *count <= replays,
                "{key} went back more than {replays} time(s)"
            );
        }
    }
    assert_eq!(last.len(), aggregates);
    assert!(
        last.values().all(|&n| n == each as i64),
        "every aggregate complete: {last:?}"
    );
}

/// Every aggregate's sequences 1..=n appear once each, in order of offset.
fn assert_exactly_once_in_order(records: &[Published], aggregates: usize, each: usize) {
    let mut seen = HashSet::new();
    let mut last: HashMap<&str, i64> = HashMap::new();
    for record in records {
        let first_time = seen.insert((record.key.as_str(), record.sequence));
        assert!(first_time, "duplicate {} #{}", record.key, record.sequence);
        let previous = last
            .insert(record.key.as_str(), record.sequence)
            .unwrap_or(0);
        assert_eq!(record.sequence, previous + 1, "{} out of order", record.key);
    }
    assert_eq!(last.len(), aggregates);
    assert!(
        last.values().all(|&n| n == each as i64),
        "every aggregate complete: {last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_creates_every_events_topic_and_dlq_with_the_configured_partitions() {
    let db = TestDatabase::migrated().await;
    let mut settings = isolated_relay_settings(&db.settings, 100);
    settings.kafka.event_partitions = 4;
    let _relay = RoleProcess::command("relay", &settings)
        .env("CAUSEWAY_KAFKA__EVENT_PARTITIONS", "4")
        .start();
    let topics = causeway_infra::topics::Topics::new(&settings.kafka);
    for stream in causeway_domain::EventStream::ALL {
        let base = stream.base_topic();
        for topic in [topics.events(base), topics.dlq(base)] {
            let partitions = eventually(Duration::from_secs(30), &topic, || {
                let (settings, topic) = (settings.clone(), topic.clone());
                async move { partition_count(&settings, &topic).await.filter(|&n| n > 0) }
            })
            .await;
            assert_eq!(partitions, 4, "{topic}");
        }
    }
}
