//! The `inventory_view` read model: on hand, reserved and available units per SKU.
//!
//! A batch is applied set-based (ADR 0014): each SKU's unapplied events are folded into the
//! counters they add ([`fold`]), then written with one insert and one update per batch.
//! [`Projection::apply`] is the one-event statement the batch path must agree with.

use causeway_domain::EventStream;
use causeway_domain::inventory::InventoryEvent;
use causeway_domain::shop::parse_event;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use crate::batch::{self, StateProjection, Write, column};
use crate::projection::{Envelope, Projection};

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

/// What a batch does to one SKU's row: the units it adds (to nothing when the SKU has no row
/// yet) and the version it brings the row to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StockPatch<'a> {
    sku: &'a str,
    /// The row's version the patch applies to; `None`: there is no row, insert one.
    base: Option<i64>,
    on_hand: i64,
    reserved: i64,
    version: i64,
}

/// Folds the events of one SKU that its row (at version `base`, `None` when absent) has not
/// applied, in order, as the one-event upsert would apply them one by one; `None` when every
/// event was already applied.
fn fold<'a>(
    sku: &'a str,
    base: Option<i64>,
    events: &[&Envelope<InventoryEvent>],
) -> Option<StockPatch<'a>> {
    let mut patch: Option<StockPatch<'a>> = None;
    for envelope in events {
        let current = patch.as_ref().map(|p| p.version).or(base);
        if current.is_some_and(|v| envelope.sequence <= v) {
            continue;
        }
        let (on_hand, reserved) = deltas(&envelope.event);
        let p = patch.get_or_insert(StockPatch {
            sku,
            base,
            on_hand: 0,
            reserved: 0,
            version: envelope.sequence,
        });
        p.on_hand += on_hand;
        p.reserved += reserved;
        p.version = envelope.sequence;
    }
    patch
}

impl StateProjection for InventoryProjection {
    const TABLE: &'static str = "inventory_view";
    const KEY: &'static str = "sku";
    type Patch<'a> = StockPatch<'a>;

    /// `now` is not needed: `updated_at` is the writing statement's `now()` (ADR 0010).
    fn fold<'a>(
        sku: &'a str,
        base: Option<i64>,
        events: &[&Envelope<InventoryEvent>],
        _now: DateTime<Utc>,
    ) -> Option<StockPatch<'a>> {
        fold(sku, base, events)
    }

    fn is_new(patch: &StockPatch<'_>) -> bool {
        patch.base.is_none()
    }

    fn insert<'a>(conn: &'a mut PgConnection, patches: &'a [Self::Patch<'_>]) -> Write<'a> {
        Box::pin(insert(conn, patches))
    }

    fn update<'a>(conn: &'a mut PgConnection, patches: &'a [Self::Patch<'_>]) -> Write<'a> {
        Box::pin(update(conn, patches))
    }
}

/// Inserts the rows of SKUs that had none; one a SKU has meanwhile is left alone.
async fn insert(conn: &mut PgConnection, patches: &[StockPatch<'_>]) -> Result<usize, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO inventory_view (sku, on_hand, reserved, available, version)
         SELECT s, h, r, h - r, v
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS p(s, h, r, v)
         ON CONFLICT (sku) DO NOTHING",
    )
    .bind(column(patches, |p| p.sku))
    .bind(column(patches, |p| p.on_hand))
    .bind(column(patches, |p| p.reserved))
    .bind(column(patches, |p| p.version))
    .execute(conn)
    .await?;
    Ok(batch::count(done.rows_affected()))
}

/// Adds the patches to the rows still at the version they were folded from.
async fn update(conn: &mut PgConnection, patches: &[StockPatch<'_>]) -> Result<usize, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE inventory_view AS v SET
             on_hand = v.on_hand + p.h,
             reserved = v.reserved + p.r,
             available = (v.on_hand + p.h) - (v.reserved + p.r),
             version = p.v,
             updated_at = now()
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
              AS p(s, h, r, v, b)
         WHERE v.sku = p.s AND v.version = p.b",
    )
    .bind(column(patches, |p| p.sku))
    .bind(column(patches, |p| p.on_hand))
    .bind(column(patches, |p| p.reserved))
    .bind(column(patches, |p| p.version))
    .bind(column(patches, |p| p.base))
    .execute(conn)
    .await?;
    Ok(batch::count(done.rows_affected()))
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
        parse_event(event_type, data)
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

    /// One `SELECT` of the batch's SKUs, one insert and one update, whatever the batch size.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        envelopes: &[Envelope<InventoryEvent>],
    ) -> Result<(), sqlx::Error> {
        batch::apply::<Self>(conn, envelopes).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use causeway_domain::inventory::{
        StockReleased, StockReservationRejected, StockReserved, StockRestocked,
    };
    use causeway_domain::values::Quantity;

    use super::*;
    use crate::fixtures::order;

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

    fn envelope(sequence: i64, event: InventoryEvent) -> Envelope<InventoryEvent> {
        Envelope {
            aggregate_id: "SKU-1".into(),
            sequence,
            event,
            headers: crate::projection::EventHeaders::default(),
        }
    }

    /// The one-event upsert, modelled on a row's (on hand, reserved, version).
    fn upsert(
        row: Option<(i64, i64, i64)>,
        e: &Envelope<InventoryEvent>,
    ) -> Option<(i64, i64, i64)> {
        let (h, r) = deltas(&e.event);
        match row {
            None => Some((h, r, e.sequence)),
            Some((on_hand, reserved, v)) if v < e.sequence => {
                Some((on_hand + h, reserved + r, e.sequence))
            }
            same => same,
        }
    }

    /// A row with a batch's patch written on it, as `insert` and `update` write it.
    fn patched(
        row: Option<(i64, i64, i64)>,
        patch: Option<StockPatch<'_>>,
    ) -> Option<(i64, i64, i64)> {
        match (row, patch) {
            (row, None) => row,
            (None, Some(p)) => Some((p.on_hand, p.reserved, p.version)),
            (Some((h, r, _)), Some(p)) => Some((h + p.on_hand, r + p.reserved, p.version)),
        }
    }

    #[test]
    fn a_folded_batch_equals_its_events_applied_one_by_one_whatever_was_applied_before() {
        // A small deterministic generator: many batches that re-deliver, skip and repeat.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |below: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % below
        };
        for _ in 0..2000 {
            let row = match next(3) {
                0 => None,
                _ => Some((next(50) as i64, next(20) as i64, next(8) as i64)),
            };
            let events: Vec<_> = (0..next(8))
                .map(|_| {
                    let q = Quantity::parse(1 + next(9) as u32).unwrap();
                    let event = match next(4) {
                        0 => InventoryEvent::StockRestocked(StockRestocked { quantity: q }),
                        1 => InventoryEvent::StockReserved(StockReserved {
                            order_id: order(),
                            quantity: q,
                        }),
                        2 => InventoryEvent::StockReleased(StockReleased {
                            order_id: order(),
                            quantity: q,
                        }),
                        _ => InventoryEvent::StockReservationRejected(StockReservationRejected {
                            order_id: order(),
                            requested: q,
                            available: 0,
                        }),
                    };
                    envelope(1 + next(10) as i64, event)
                })
                .collect();
            let refs: Vec<&Envelope<InventoryEvent>> = events.iter().collect();
            let one_by_one = events.iter().fold(row, upsert);
            let folded = patched(row, fold("SKU-1", row.map(|r| r.2), &refs));
            assert_eq!(folded, one_by_one, "{row:?} {events:?}");
        }
    }

    #[test]
    fn only_the_events_above_the_stored_version_are_folded() {
        let restock = |n| {
            InventoryEvent::StockRestocked(StockRestocked {
                quantity: Quantity::parse(n).unwrap(),
            })
        };
        let events: Vec<_> = (1..=4).map(|s| envelope(s, restock(s as u32))).collect();
        let refs: Vec<_> = events.iter().collect();
        let patch = fold("SKU-1", Some(2), &refs).unwrap();
        assert_eq!(
            (patch.base, patch.on_hand, patch.version),
            (Some(2), 3 + 4, 4)
        );
        assert_eq!(fold("SKU-1", Some(4), &refs), None, "all applied already");
        let new = fold("SKU-1", None, &refs).unwrap();
        assert_eq!((new.base, new.on_hand, new.version), (None, 10, 4));
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
