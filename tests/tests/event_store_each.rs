//! Group commit per aggregate (`CommandStore::execute_each`) against real Postgres: several
//! commands on one aggregate decided in order on one load and stored in one write, each
//! event with its own command's metadata, a refusal that stops nothing else, snapshots that
//! still stand for their boundary, and answers that match running the commands one by one.

use causeway_domain::{
    Aggregate, InventoryCommand, InventoryItem, Order, OrderCommand, OrderRejection,
};
use causeway_event_store::{CommandMetadata, CommandStore};
use causeway_tests::TestDatabase;
use causeway_tests::event_store::{
    accept, correlation_of, line, mark, metadata, order_id, payloads, place, quantity, restock,
    snapshot_row, stored_events,
};
use uuid::Uuid;

fn reserve(order: u128, units: u32) -> InventoryCommand {
    InventoryCommand::Reserve {
        order_id: order_id(order),
        quantity: quantity(units),
    }
}

fn with_metadata<C>(commands: Vec<C>) -> Vec<(C, CommandMetadata)> {
    commands.into_iter().map(|c| (c, metadata())).collect()
}

/// How many events the aggregate has in the store.
async fn event_count(db: &TestDatabase, aggregate_type: &str, id: &str) -> usize {
    stored_events(&db.pool, aggregate_type, id).await.len()
}

#[tokio::test]
async fn commands_on_one_aggregate_are_decided_in_order_on_one_load_and_each_event_keeps_its_metadata()
 {
    let db = TestDatabase::migrated().await;
    let store = CommandStore::new(db.pool.clone(), 0);
    let sku = format!("EACH-{}", Uuid::new_v4().simple()).to_uppercase();
    accept::<InventoryItem>(&store, &sku, restock(5)).await;

    // 2 + 2 fit in 5; the third asks for 2 of the 1 left; the fourth repeats the first.
    let commands = with_metadata(vec![
        reserve(1, 2),
        reserve(2, 2),
        reserve(3, 2),
        reserve(1, 2),
    ]);
    let answers = store
        .execute_each::<InventoryItem>(&sku, &commands)
        .await
        .expect("stored");

    let events: Vec<Vec<(u64, String)>> = answers
        .iter()
        .map(|a| a.as_ref().expect("accepted").events.clone())
        .collect();
    assert_eq!(
        events,
        [
            vec![(2, "StockReserved".to_owned())],
            vec![(3, "StockReserved".to_owned())],
            vec![(4, "StockReservationRejected".to_owned())],
            vec![],
        ]
    );
    let versions: Vec<u64> = answers
        .iter()
        .map(|a| a.as_ref().expect("accepted").version)
        .collect();
    assert_eq!(versions, [2, 3, 4, 4], "a no-op answers the version it saw");

    let rows = stored_events(&db.pool, "InventoryItem", &sku).await;
    assert_eq!(rows.len(), 4);
    for (row, (_, meta)) in rows[1..].iter().zip(&commands) {
        assert_eq!(
            correlation_of(row),
            Some(meta.correlation_id.to_string().as_str()),
            "each event carries its own command's metadata"
        );
        assert_eq!(
            row.metadata["causation_id"].as_str(),
            meta.causation_id.map(|c| c.to_string()).as_deref()
        );
    }
    let (item, version) = store
        .load::<InventoryItem>(&sku)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(version, 4);
    assert_eq!(
        item,
        InventoryItem::replay(&payloads::<InventoryItem>(&rows))
    );
    assert_eq!((item.on_hand(), item.available()), (5, 1));
}

#[tokio::test]
async fn a_refused_command_stores_nothing_and_the_ones_after_it_are_still_decided() {
    let db = TestDatabase::migrated().await;
    let store = CommandStore::new(db.pool.clone(), 0);
    let id = Uuid::new_v4().to_string();
    accept::<Order>(&store, &id, place(vec![line("APPLE"), line("PEAR")])).await;

    let commands = with_metadata(vec![mark("APPLE"), mark("FIG"), mark("PEAR")]);
    let answers = store
        .execute_each::<Order>(&id, &commands)
        .await
        .expect("stored");

    assert!(matches!(
        answers[1],
        Err(OrderRejection::LineNotFound { .. })
    ));
    let last = answers[2].as_ref().expect("accepted");
    assert_eq!(
        last.events,
        [(3, "OrderLineReserved"), (4, "OrderAwaitingPayment")].map(|(s, t)| (s, t.to_owned()))
    );
    assert_eq!(event_count(&db, "Order", &id).await, 4);
}

#[tokio::test]
async fn a_batch_that_crosses_the_snapshot_interval_snapshots_its_boundary() {
    let db = TestDatabase::migrated().await;
    let store = CommandStore::new(db.pool.clone(), 3);
    let sku = format!("SNAP-{}", Uuid::new_v4().simple()).to_uppercase();
    accept::<InventoryItem>(&store, &sku, restock(100)).await;

    // Sequences 2..=8: snapshots fall at 3 and 6; the one written stands for 6.
    let commands = with_metadata((1..=7).map(|order| reserve(order, 1)).collect());
    store
        .execute_each::<InventoryItem>(&sku, &commands)
        .await
        .expect("stored");

    let (sequence, version, payload) = snapshot_row(&db.pool, "InventoryItem", &sku)
        .await
        .expect("a snapshot");
    assert_eq!((sequence, version), (6, 1));
    let rows = stored_events(&db.pool, "InventoryItem", &sku).await;
    let events = payloads::<InventoryItem>(&rows);
    let at_six: InventoryItem = serde_json::from_value(payload).expect("snapshot state");
    assert_eq!(at_six, InventoryItem::replay(&events[..6]));

    // The next batch loads through that snapshot and goes on from sequence 8.
    let more = with_metadata(vec![reserve(8, 1), restock(1)]);
    let answers = store
        .execute_each::<InventoryItem>(&sku, &more)
        .await
        .expect("stored");
    assert_eq!(answers[1].as_ref().expect("accepted").version, 10);
    let (sequence, version, _) = snapshot_row(&db.pool, "InventoryItem", &sku)
        .await
        .expect("a snapshot");
    assert_eq!((sequence, version), (9, 2));
    let (item, _) = store
        .load::<InventoryItem>(&sku)
        .await
        .expect("load")
        .expect("exists");
    let rows = stored_events(&db.pool, "InventoryItem", &sku).await;
    assert_eq!(
        item,
        InventoryItem::replay(&payloads::<InventoryItem>(&rows))
    );
}

#[tokio::test]
async fn the_answers_are_those_of_running_the_commands_one_by_one() {
    let db = TestDatabase::migrated().await;
    let store = CommandStore::new(db.pool.clone(), 4);
    let (together, alone) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    let commands: Vec<OrderCommand> = vec![
        place(vec![line("APPLE"), line("PEAR")]),
        mark("APPLE"),
        OrderCommand::Confirm,
        mark("APPLE"),
        mark("PEAR"),
        OrderCommand::Confirm,
    ];
    let answers = store
        .execute_each::<Order>(&together, &with_metadata(commands.clone()))
        .await
        .expect("stored");
    for (command, answer) in commands.into_iter().zip(answers) {
        let one = store.execute::<Order>(&alone, command, &metadata()).await;
        match (answer, one) {
            (Ok(a), Ok(b)) => assert_eq!((a.version, a.events), (b.version, b.events)),
            (Err(a), Err(causeway_event_store::CommandError::Rejected(b))) => assert_eq!(a, b),
            (a, b) => panic!("together {a:?}, alone {b:?}"),
        }
    }
    let rows = |id| stored_events(&db.pool, "Order", id);
    let (together_rows, alone_rows) = (rows(&together).await, rows(&alone).await);
    assert_eq!(
        payloads::<Order>(&together_rows),
        payloads::<Order>(&alone_rows)
    );
    assert_eq!(
        snapshot_row(&db.pool, "Order", &together)
            .await
            .map(|s| (s.0, s.1)),
        snapshot_row(&db.pool, "Order", &alone)
            .await
            .map(|s| (s.0, s.1)),
    );
}
