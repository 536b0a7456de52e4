//! The `inventory_view` read model: on hand, reserved and available units per SKU.

use causeway_domain::inventory::InventoryEvent;
use causeway_infra::topics::EventStream;
use serde_json::Value;
use sqlx::PgConnection;

use crate::projection::{Envelope, Projection, parse_domain_event};

/// Builds `inventory_view` from the InventoryItem events.
#[derive(Debug, Clone, Copy, Default)]
pub struct InventoryProjection;

impl InventoryProjection {
    /// The projection's name (consumer group suffix and offsets key).
    pub const NAME: &'static str = "inventory";
}

/// How one event moves the counters: (on hand, reserved).
fn deltas(event: &InventoryEvent) -> (i64, i64) {
    match event {
        InventoryEvent::StockRestocked(e) => (i64::from(e.quantity.get()), 0),
        InventoryEvent::StockReserved(e) => (0, i64::from(e.quantity.get())),
        InventoryEvent::StockReservationRejected(_) => (0, 0),
        InventoryEvent::StockReleased(e) => (0, -i64::from(e.quantity.get())),
    }
}

impl Projection for InventoryProjection {
    type Event = InventoryEvent;

    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn streams(&self) -> Vec<EventStream> {
        vec![EventStream::InventoryItem]
    }

    fn parse(&self, event_type: &str, data: Value) -> Result<InventoryEvent, String> {
        parse_domain_event(event_type, data)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        envelope: &Envelope<InventoryEvent>,
    ) -> Result<(), sqlx::Error> {
        let (on_hand, reserved) = deltas(&envelope.event);
        // The WHERE makes a re-delivered event (sequence not above the row's version) a no-op.
        sqlx::query(
            "INSERT INTO inventory_view AS v (sku, on_hand, reserved, available, version)
             VALUES ($1, $2, $3, $2 - $3, $4)
             ON CONFLICT (sku) DO UPDATE SET
                 on_hand = v.on_hand + EXCLUDED.on_hand,
                 reserved = v.reserved + EXCLUDED.reserved,
                 available = (v.on_hand + EXCLUDED.on_hand) - (v.reserved + EXCLUDED.reserved),
                 version = EXCLUDED.version,
                 updated_at = now()
             WHERE v.version < EXCLUDED.version",
        )
        .bind(&envelope.aggregate_id)
        .bind(on_hand)
        .bind(reserved)
        .bind(envelope.sequence)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use causeway_domain::inventory::{
        StockReleased, StockReservationRejected, StockReserved, StockRestocked,
    };
    use causeway_domain::values::{OrderId, Quantity};

    use super::*;

    fn order() -> OrderId {
        OrderId::parse("0b5f6bd6-6c1f-4a4e-9d3e-2f6b1f3c9a10").unwrap()
    }

    #[test]
    fn each_event_moves_on_hand_and_reserved_as_the_aggregate_does() {
        let q = Quantity::parse(4).unwrap();
        let cases = [
            (
                InventoryEvent::StockRestocked(StockRestocked { quantity: q }),
                (4, 0),
            ),
            (
                InventoryEvent::StockReserved(StockReserved {
                    order_id: order(),
                    quantity: q,
                }),
                (0, 4),
            ),
            (
                InventoryEvent::StockReservationRejected(StockReservationRejected {
                    order_id: order(),
                    requested: q,
                    available: 1,
                }),
                (0, 0),
            ),
            (
                InventoryEvent::StockReleased(StockReleased {
                    order_id: order(),
                    quantity: q,
                }),
                (0, -4),
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(deltas(&event), expected, "{event:?}");
        }
    }

    #[test]
    fn an_event_of_another_aggregate_does_not_parse() {
        let error = InventoryProjection
            .parse("OrderPlaced", serde_json::json!({}))
            .unwrap_err();
        assert!(error.contains("OrderPlaced"), "{error}");
    }

    #[test]
    fn a_stored_inventory_event_parses_back_to_itself() {
        let event = InventoryEvent::StockRestocked(StockRestocked {
            quantity: Quantity::parse(2).unwrap(),
        });
        let stored = serde_json::to_value(&event).unwrap();
        let parsed = InventoryProjection
            .parse("StockRestocked", stored["data"].clone())
            .unwrap();
        assert_eq!(parsed, event);
    }
}
