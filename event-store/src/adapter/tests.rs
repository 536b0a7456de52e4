//! The adapter against cqrs-es' own `PersistedEventStore`, on an in-memory repository.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use causeway_domain::Aggregate as _;
use causeway_domain::inventory::StockRestocked;
use causeway_domain::{InventoryCommand, InventoryEvent, InventoryItem, OrderId, Quantity};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{
    PersistedEventRepository, PersistedEventStore, PersistenceError, ReplayStream, SerializedEvent,
    SerializedSnapshot,
};
use cqrs_es::{Aggregate as _, AggregateContext as _, EventStore as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{AdaptedEvent, Aggregated};
use crate::repository::snapshot_sequence;

const SNAPSHOT_EVERY: usize = 2;

#[derive(Default)]
struct Stored {
    events: Vec<SerializedEvent>,
    /// (payload, last sequence, snapshot version)
    snapshot: Option<(Value, usize, usize)>,
}

/// Keeps events and the one snapshot in memory; tests read them through the shared handle.
#[derive(Clone, Default)]
struct MemoryRepository(Arc<Mutex<Stored>>);

impl MemoryRepository {
    fn snapshot(&self) -> Option<(Value, usize, usize)> {
        self.0.lock().expect("not poisoned").snapshot.clone()
    }
}

impl PersistedEventRepository for MemoryRepository {
    async fn get_events<A: cqrs_es::Aggregate>(
        &self,
        _: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        Ok(self.0.lock().expect("not poisoned").events.clone())
    }

    async fn get_last_events<A: cqrs_es::Aggregate>(
        &self,
        _: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let stored = self.0.lock().expect("not poisoned");
        let tail = stored.events.iter().filter(|e| e.sequence > last_sequence);
        Ok(tail.cloned().collect())
    }

    async fn get_snapshot<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        let snapshot = self
            .snapshot()
            .map(|(aggregate, sequence, version)| SerializedSnapshot {
                aggregate_id: aggregate_id.to_owned(),
                aggregate,
                current_sequence: sequence,
                current_snapshot: version,
            });
        Ok(snapshot)
    }

    async fn persist<A: cqrs_es::Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let mut stored = self.0.lock().expect("not poisoned");
        stored.events.extend_from_slice(events);
        if let (Some((_, payload, version)), Some(last)) = (snapshot_update, events.last()) {
            let sequence = snapshot_sequence(last.sequence as u64, SNAPSHOT_EVERY as u64);
            stored.snapshot = Some((payload, sequence as usize, version));
        }
        Ok(())
    }

    async fn stream_events<A: cqrs_es::Aggregate>(
        &self,
        _: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        Err(PersistenceError::UnknownError("not needed here".into()))
    }

    async fn stream_all_events<A: cqrs_es::Aggregate>(
        &self,
    ) -> Result<ReplayStream, PersistenceError> {
        Err(PersistenceError::UnknownError("not needed here".into()))
    }
}

fn restock(units: u32) -> InventoryCommand {
    let quantity = Quantity::parse(units).expect("valid quantity");
    InventoryCommand::Restock { quantity }
}

fn restocked(units: u32) -> InventoryEvent {
    let quantity = Quantity::parse(units).expect("valid quantity");
    InventoryEvent::StockRestocked(StockRestocked { quantity })
}

/// Runs one command the way the executor does: load, handle, commit.
async fn execute<T>(store: &PersistedEventStore<MemoryRepository, T>, command: T::Command)
where
    T: cqrs_es::Aggregate<Services = ()>,
{
    let mut context = store.load_aggregate("sku-1").await.expect("load");
    let sink = EventSink::default();
    let handled = context.aggregate().handle(command, &(), &sink).await;
    handled.unwrap_or_else(|e| panic!("rejected: {e}"));
    let events = sink.collect().await;
    store
        .commit(events, context, HashMap::new())
        .await
        .expect("commit");
}

#[tokio::test]
async fn handling_a_command_sinks_the_decided_events_and_leaves_the_aggregate_as_it_was() {
    let before = Aggregated::new(InventoryItem::replay(&[restocked(5)]));
    let mut aggregate = before.clone();
    let sink = EventSink::default();
    aggregate
        .handle(restock(3), &(), &sink)
        .await
        .expect("accepted");
    assert_eq!(aggregate, before);
    assert_eq!(sink.collect().await, vec![AdaptedEvent(restocked(3))]);
}

#[tokio::test]
async fn a_rejection_is_the_handle_error_and_sinks_nothing() {
    let mut aggregate = Aggregated::<causeway_domain::Customer>::default();
    let sink = EventSink::default();
    let release = causeway_domain::CustomerCommand::ReleaseCredit {
        order_id: OrderId::try_from(Uuid::from_u128(1)).expect("not nil"),
    };
    let rejection = aggregate.handle(release, &(), &sink).await;
    assert_eq!(rejection, Err(causeway_domain::CustomerRejection::NotFound));
    assert!(sink.collect().await.is_empty());
}

#[tokio::test]
async fn a_snapshot_holds_the_state_before_the_command_plus_its_events_once() {
    let repository = MemoryRepository::default();
    let store = PersistedEventStore::<_, Aggregated<InventoryItem>>::new_snapshot_store(
        repository.clone(),
        SNAPSHOT_EVERY,
    );
    execute(&store, restock(10)).await;
    execute(&store, restock(20)).await;

    let (payload, sequence, version) = repository.snapshot().expect("snapshot after 2 events");
    let expected = InventoryItem::replay(&[restocked(10), restocked(20)]);
    assert_eq!((sequence, version), (2, 1));
    assert_eq!(
        payload,
        serde_json::to_value(&expected).expect("serialises")
    );

    execute(&store, restock(1)).await;
    let mut loaded = store.load_aggregate("sku-1").await.expect("load");
    assert_eq!(loaded.aggregate().state().on_hand(), 31);
}

/// What cqrs-es' documented style (`sink.write(event, self)`) does to a snapshot: the
/// control that shows the test above can fail.
#[derive(Debug, Default, Serialize, Deserialize)]
struct WritesAgainstSelf(Aggregated<InventoryItem>);

impl cqrs_es::Aggregate for WritesAgainstSelf {
    const TYPE: &'static str = "InventoryItem";
    type Command = InventoryCommand;
    type Event = AdaptedEvent<InventoryEvent>;
    type Error = causeway_domain::InventoryRejection;
    type Services = ();

    async fn handle(
        &mut self,
        command: InventoryCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.0.state().decide(&command)? {
            sink.write(AdaptedEvent(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.0.apply(event);
    }
}

#[tokio::test]
async fn cqrs_es_counts_events_twice_in_a_snapshot_when_handle_writes_against_self() {
    let repository = MemoryRepository::default();
    let store = PersistedEventStore::<_, WritesAgainstSelf>::new_snapshot_store(
        repository.clone(),
        SNAPSHOT_EVERY,
    );
    execute(&store, restock(10)).await;
    execute(&store, restock(20)).await;

    let (payload, _, _) = repository.snapshot().expect("snapshot after 2 events");
    let snapshot: InventoryItem = serde_json::from_value(payload).expect("deserialises");
    assert_eq!(snapshot.on_hand(), 50, "the defect this adapter avoids");
}
