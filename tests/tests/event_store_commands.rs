//! The event store (`causeway_event_store`) against real Postgres: executed commands
//! store their events with metadata and answer the new version, a command on a minted id,
//! and the replay streams that read an aggregate's events, and all of its type, back.

use causeway_domain::{
    Aggregate, InventoryEvent, InventoryItem, Order, OrderRejection, OrderStatus,
};
use causeway_event_store::{Aggregated, CommandError, CommandStore};
use causeway_tests::TestDatabase;
use causeway_tests::event_store::{
    accept, correlation_of, line, mark, metadata, order_id, payloads, place, restock, stored_events,
};
use cqrs_es::persist::PersistedEventRepository;
use uuid::Uuid;

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
