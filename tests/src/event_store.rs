//! Helpers of the event-store tests (`event_store_*`): reading the `events` and `snapshots`
//! tables back, command metadata, and the domain values and commands the tests issue.

use causeway_domain::{
    Aggregate, Currency, CustomerId, InventoryCommand, Money, OrderCommand, OrderId, OrderLine,
    Quantity, Sku,
};
use causeway_event_store::{CommandMetadata, CommandStore, Committed};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// One row of the `events` table.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredEvent {
    /// The aggregate's sequence number.
    pub sequence: i64,
    /// The event type.
    pub event_type: String,
    /// The event, as JSON.
    pub payload: Value,
    /// The command's metadata, as JSON.
    pub metadata: Value,
}

/// The rows of one aggregate, in sequence order.
pub async fn stored_events(pool: &PgPool, aggregate_type: &str, id: &str) -> Vec<StoredEvent> {
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
pub fn payloads<A: Aggregate>(rows: &[StoredEvent]) -> Vec<A::Event> {
    let event = |row: &StoredEvent| serde_json::from_value(row.payload.clone()).expect("event");
    rows.iter().map(event).collect()
}

/// `(last_sequence, snapshot_version, payload)` of an aggregate's snapshot row.
pub async fn snapshot_row(
    pool: &PgPool,
    aggregate_type: &str,
    id: &str,
) -> Option<(i64, i64, Value)> {
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

/// Metadata with every field set: new correlation and causation ids, a key, a traceparent.
pub fn metadata() -> CommandMetadata {
    CommandMetadata {
        correlation_id: Uuid::new_v4(),
        causation_id: Some(Uuid::new_v4()),
        caller: "event-store-tests".to_owned(),
        idempotency_key: Some(Uuid::new_v4().simple().to_string()),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
    }
}

/// The correlation id a stored row records.
pub fn correlation_of(row: &StoredEvent) -> Option<&str> {
    row.metadata["correlation_id"].as_str()
}

/// A valid quantity of `units`.
pub fn quantity(units: u32) -> Quantity {
    Quantity::parse(units).expect("valid quantity")
}

/// Restock `units`.
pub fn restock(units: u32) -> InventoryCommand {
    InventoryCommand::Restock {
        quantity: quantity(units),
    }
}

/// `amount_minor` cents of EUR.
pub fn eur(amount_minor: i64) -> Money {
    Money::parse(amount_minor, Currency::parse("EUR").expect("EUR")).expect("valid money")
}

/// The order id of the uuid `n` (not 0).
pub fn order_id(n: u128) -> OrderId {
    OrderId::try_from(Uuid::from_u128(n)).expect("not nil")
}

/// The customer id of the uuid `n` (not 0).
pub fn customer_id(n: u128) -> CustomerId {
    CustomerId::try_from(Uuid::from_u128(n)).expect("not nil")
}

/// A fixed time orders are placed at.
pub fn placed_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).expect("valid timestamp")
}

/// A line of 2 units of `sku` at 1.50 EUR.
pub fn line(sku: &str) -> OrderLine {
    let sku = Sku::parse(sku).expect("valid sku");
    OrderLine {
        sku,
        quantity: quantity(2),
        unit_price: eur(150),
    }
}

/// Place an order of customer 1 with `lines`, due 15 minutes after [`placed_at`].
pub fn place(lines: Vec<OrderLine>) -> OrderCommand {
    OrderCommand::Place {
        customer_id: customer_id(1),
        currency: Currency::parse("EUR").expect("EUR"),
        lines,
        placed_at: placed_at(),
        deadline: placed_at() + Duration::minutes(15),
    }
}

/// Mark the line of `sku` reserved.
pub fn mark(sku: &str) -> OrderCommand {
    OrderCommand::MarkLineReserved {
        sku: Sku::parse(sku).expect("valid sku"),
    }
}

/// Executes `command` on `id`, panicking unless it is accepted.
pub async fn accept<A: Aggregate>(
    store: &CommandStore,
    id: &str,
    command: A::Command,
) -> Committed {
    match store.execute::<A>(id, command, &metadata()).await {
        Ok(committed) => committed,
        Err(error) => panic!("command on {id} failed: {error:?}"),
    }
}
