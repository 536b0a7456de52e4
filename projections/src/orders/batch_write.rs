//! The set-based batch of the orders projection (ADR 0014), as a
//! [`StateProjection`] run by `batch::apply`: each order's unapplied events folded into one
//! patch ([`fold`], pure), then one insert of new orders with their lines and one update of
//! stored orders and the lines they reserve.

use causeway_domain::order::{OrderEvent, OrderPlaced};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{OrdersProjection, change};
use crate::batch::{StateProjection, Write, column};
use crate::projection::Envelope;

/// An order as its `OrderPlaced` creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NewOrder {
    customer_id: String,
    currency: String,
    total_minor: i64,
    placed_at: DateTime<Utc>,
    deadline: DateTime<Utc>,
    /// `(sku, quantity, unit price)`, in the order's order.
    lines: Vec<(String, i64, i64)>,
}

impl NewOrder {
    fn of(placed: &OrderPlaced) -> Self {
        Self {
            customer_id: placed.customer_id.to_string(),
            currency: placed.currency.as_str().to_owned(),
            total_minor: placed.total.amount_minor(),
            placed_at: placed.placed_at,
            deadline: placed.deadline,
            lines: placed
                .lines
                .iter()
                .map(|l| {
                    let quantity = i64::from(l.quantity.get());
                    (l.sku.to_string(), quantity, l.unit_price.amount_minor())
                })
                .collect(),
        }
    }
}

/// What a batch does to one order's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderPatch<'a> {
    order_id: &'a str,
    /// The row's version the patch applies to; `None`: the batch places the order.
    base: Option<i64>,
    /// The placed order, for a new row (`base` is `None`).
    new: Option<NewOrder>,
    /// The last status, rejection and cancel reason set, if any.
    status: Option<&'static str>,
    rejection_reason: Option<String>,
    cancel_reason: Option<String>,
    /// The SKUs of the lines reserved, in order of their events.
    reserved_skus: Vec<String>,
    updated_at: DateTime<Utc>,
    version: i64,
}

/// Folds the events of one order that its row (at version `base`, `None` when absent) has
/// not applied, in order, as the one-event statements would apply them: `OrderPlaced`
/// creates the row (and is ignored once there is one); a later event changes an existing row
/// whose version is below its sequence, and nothing when there is no row. `now` stands for
/// the transaction's `now()`. `None`: nothing to write.
fn fold<'a>(
    order_id: &'a str,
    base: Option<i64>,
    events: &[&Envelope<OrderEvent>],
    now: DateTime<Utc>,
) -> Option<OrderPatch<'a>> {
    let mut patch: Option<OrderPatch<'a>> = None;
    for envelope in events {
        let current = patch.as_ref().map(|p| p.version).or(base);
        let at = envelope.headers.recorded_at.unwrap_or(now);
        match (&envelope.event, current) {
            (OrderEvent::OrderPlaced(placed), None) => {
                patch = Some(OrderPatch {
                    order_id,
                    base: None,
                    new: Some(NewOrder::of(placed)),
                    status: None,
                    rejection_reason: None,
                    cancel_reason: None,
                    reserved_skus: Vec::new(),
                    updated_at: at,
                    version: envelope.sequence,
                });
            }
            (event, Some(version)) if envelope.sequence > version => {
                let Some(change) = change(event) else {
                    continue; // a second OrderPlaced: the row exists
                };
                let p = patch.get_or_insert(OrderPatch {
                    order_id,
                    base,
                    new: None,
                    status: None,
                    rejection_reason: None,
                    cancel_reason: None,
                    reserved_skus: Vec::new(),
                    updated_at: at,
                    version,
                });
                p.status = change.status.or(p.status);
                p.rejection_reason = change.rejection_reason.or(p.rejection_reason.take());
                p.cancel_reason = change.cancel_reason.or(p.cancel_reason.take());
                if let Some(sku) = change.reserved_sku
                    && !p.reserved_skus.contains(&sku)
                {
                    p.reserved_skus.push(sku);
                }
                p.updated_at = at;
                p.version = envelope.sequence;
            }
            _ => {}
        }
    }
    patch
}

/// The columns of the lines of new orders.
#[derive(Default)]
struct Lines<'a> {
    order_ids: Vec<&'a str>,
    skus: Vec<&'a str>,
    quantities: Vec<i64>,
    prices: Vec<i64>,
    positions: Vec<i32>,
    reserved: Vec<bool>,
}

impl<'a> Lines<'a> {
    fn of(patches: &'a [OrderPatch<'a>]) -> Self {
        let mut lines = Self::default();
        for p in patches {
            let Some(new) = &p.new else { continue };
            for (i, (sku, quantity, price)) in new.lines.iter().enumerate() {
                lines.order_ids.push(p.order_id);
                lines.skus.push(sku);
                lines.quantities.push(*quantity);
                lines.prices.push(*price);
                lines
                    .positions
                    .push(i32::try_from(i + 1).unwrap_or(i32::MAX));
                lines.reserved.push(p.reserved_skus.contains(sku));
            }
        }
        lines
    }
}

impl StateProjection for OrdersProjection {
    const TABLE: &'static str = "orders";
    const KEY: &'static str = "order_id";
    type Patch<'a> = OrderPatch<'a>;

    fn fold<'a>(
        id: &'a str,
        base: Option<i64>,
        events: &[&Envelope<OrderEvent>],
        now: DateTime<Utc>,
    ) -> Option<OrderPatch<'a>> {
        fold(id, base, events, now)
    }

    fn is_new(patch: &OrderPatch<'_>) -> bool {
        patch.new.is_some()
    }

    fn insert<'a>(conn: &'a mut PgConnection, patches: &'a [Self::Patch<'_>]) -> Write<'a> {
        Box::pin(insert_new(conn, patches))
    }

    fn update<'a>(conn: &'a mut PgConnection, patches: &'a [Self::Patch<'_>]) -> Write<'a> {
        Box::pin(update_known(conn, patches))
    }
}

/// Inserts the orders the batch places, with their lines; an order that has a row meanwhile
/// is left alone, lines included.
async fn insert_new(
    conn: &mut PgConnection,
    patches: &[OrderPatch<'_>],
) -> Result<usize, sqlx::Error> {
    let new: Vec<(&OrderPatch<'_>, &NewOrder)> = patches
        .iter()
        .filter_map(|p| p.new.as_ref().map(|n| (p, n)))
        .collect();
    let lines = Lines::of(patches);
    let inserted: i64 = sqlx::query_scalar(
        "WITH o AS (
             INSERT INTO orders (order_id, customer_id, status, currency, total_minor, placed_at,
                                 deadline, updated_at, version, rejection_reason, cancel_reason)
             SELECT i, c, COALESCE(s, 'pending'), cur, tot, pa, dl, t, v, rr, cr
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                         $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::bigint[],
                         $10::text[], $11::text[])
                  AS p(i, c, s, cur, tot, pa, dl, t, v, rr, cr)
             ON CONFLICT (order_id) DO NOTHING
             RETURNING order_id),
         l AS (
             INSERT INTO order_lines (order_id, sku, quantity, unit_price_minor, position, reserved)
             SELECT l.i, l.sku, l.q, l.pr, l.pos, l.res
             FROM unnest($12::text[], $13::text[], $14::bigint[], $15::bigint[], $16::int[],
                         $17::bool[]) AS l(i, sku, q, pr, pos, res)
             JOIN o ON o.order_id = l.i)
         SELECT count(*) FROM o",
    )
    .bind(column(&new, |(p, _)| p.order_id))
    .bind(column(&new, |(_, n)| n.customer_id.as_str()))
    .bind(column(&new, |(p, _)| p.status))
    .bind(column(&new, |(_, n)| n.currency.as_str()))
    .bind(column(&new, |(_, n)| n.total_minor))
    .bind(column(&new, |(_, n)| n.placed_at))
    .bind(column(&new, |(_, n)| n.deadline))
    .bind(column(&new, |(p, _)| p.updated_at))
    .bind(column(&new, |(p, _)| p.version))
    .bind(column(&new, |(p, _)| p.rejection_reason.as_deref()))
    .bind(column(&new, |(p, _)| p.cancel_reason.as_deref()))
    .bind(&lines.order_ids)
    .bind(&lines.skus)
    .bind(&lines.quantities)
    .bind(&lines.prices)
    .bind(&lines.positions)
    .bind(&lines.reserved)
    .fetch_one(conn)
    .await?;
    Ok(usize::try_from(inserted).unwrap_or(0))
}

/// Applies the patches to the orders still at the version they were folded from, and
/// reserves their lines.
async fn update_known(
    conn: &mut PgConnection,
    patches: &[OrderPatch<'_>],
) -> Result<usize, sqlx::Error> {
    let reserved: Vec<(&str, &str)> = patches
        .iter()
        .flat_map(|p| p.reserved_skus.iter().map(|sku| (p.order_id, sku.as_str())))
        .collect();
    let updated: i64 = sqlx::query_scalar(
        "WITH o AS (
             UPDATE orders AS o SET
                 status = COALESCE(p.s, o.status),
                 rejection_reason = COALESCE(p.rr, o.rejection_reason),
                 cancel_reason = COALESCE(p.cr, o.cancel_reason),
                 updated_at = p.t,
                 version = p.v
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                         $6::bigint[], $7::bigint[]) AS p(i, s, rr, cr, t, v, b)
             WHERE o.order_id = p.i AND o.version = p.b
             RETURNING o.order_id),
         l AS (
             UPDATE order_lines AS l SET reserved = true
             FROM unnest($8::text[], $9::text[]) AS r(i, sku) JOIN o ON o.order_id = r.i
             WHERE l.order_id = r.i AND l.sku = r.sku)
         SELECT count(*) FROM o",
    )
    .bind(column(patches, |p| p.order_id))
    .bind(column(patches, |p| p.status))
    .bind(column(patches, |p| p.rejection_reason.as_deref()))
    .bind(column(patches, |p| p.cancel_reason.as_deref()))
    .bind(column(patches, |p| p.updated_at))
    .bind(column(patches, |p| p.version))
    .bind(column(patches, |p| p.base))
    .bind(column(&reserved, |(o, _)| *o))
    .bind(column(&reserved, |(_, s)| *s))
    .fetch_one(conn)
    .await?;
    Ok(usize::try_from(updated).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use causeway_domain::order::{OrderCancelled, OrderConfirmed, OrderLine, OrderLineReserved};
    use causeway_domain::values::{Currency, Quantity, Sku};

    use super::*;
    use crate::fixtures::{at, customer, eur};

    fn line_reserved(sku: &str) -> OrderEvent {
        OrderEvent::OrderLineReserved(OrderLineReserved {
            sku: Sku::parse(sku).unwrap(),
        })
    }

    /// Events 1..: an order of TEA-1 and CUP-2, then `rest`.
    fn history(rest: Vec<OrderEvent>) -> Vec<Envelope<OrderEvent>> {
        let line = |sku: &str| OrderLine {
            sku: Sku::parse(sku).unwrap(),
            quantity: Quantity::parse(2).unwrap(),
            unit_price: eur(100),
        };
        let placed = OrderEvent::OrderPlaced(OrderPlaced {
            customer_id: customer(),
            currency: Currency::parse("EUR").unwrap(),
            lines: vec![line("TEA-1"), line("CUP-2")],
            total: eur(400),
            placed_at: at(0),
            deadline: at(60),
        });
        std::iter::once(placed)
            .chain(rest)
            .enumerate()
            .map(|(i, event)| Envelope {
                aggregate_id: "o-1".into(),
                sequence: i as i64 + 1,
                event,
                headers: crate::projection::EventHeaders {
                    recorded_at: Some(at(i as i64)),
                    ..Default::default()
                },
            })
            .collect()
    }

    #[test]
    fn a_batch_that_places_an_order_inserts_it_as_its_later_events_left_it() {
        let confirmed = OrderEvent::OrderConfirmed(OrderConfirmed {
            customer_id: customer(),
            total: eur(400),
        });
        let events = history(vec![
            line_reserved("CUP-2"),
            line_reserved("NOPE-9"),
            confirmed,
        ]);
        let refs: Vec<_> = events.iter().collect();
        let patch = fold("o-1", None, &refs, at(99)).unwrap();
        assert_eq!(
            (patch.status, patch.version, patch.updated_at),
            (Some("confirmed"), 4, at(3))
        );
        let patches = [patch];
        let lines = Lines::of(&patches);
        assert_eq!(lines.skus, ["TEA-1", "CUP-2"]);
        assert_eq!(lines.positions, [1, 2]);
        assert_eq!(
            lines.reserved,
            [false, true],
            "a SKU not in the order reserves nothing"
        );
    }

    #[test]
    fn a_stored_order_gets_only_the_later_events_and_keeps_the_last_reason() {
        let cancel = |reason: &str| {
            OrderEvent::OrderCancelled(OrderCancelled {
                customer_id: customer(),
                reason: reason.into(),
                was_confirmed: false,
                skus: vec![],
            })
        };
        let events = history(vec![
            line_reserved("TEA-1"),
            cancel("first"),
            cancel("second"),
        ]);
        let refs: Vec<_> = events.iter().collect();
        let patch = fold("o-1", Some(2), &refs, at(99)).unwrap();
        assert_eq!(patch.new, None, "OrderPlaced is not applied again");
        assert!(
            patch.reserved_skus.is_empty(),
            "the reservation was applied already"
        );
        assert_eq!(patch.cancel_reason.as_deref(), Some("second"));
        assert_eq!((patch.base, patch.version), (Some(2), 4));
        assert_eq!(fold("o-1", Some(4), &refs, at(99)), None);
        let without_placement: Vec<_> = refs[1..].to_vec();
        assert_eq!(fold("o-1", None, &without_placement, at(99)), None);
    }
}
