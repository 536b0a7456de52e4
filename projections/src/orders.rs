//! The `orders` and `order_lines` read models: one summary row per order (status, total,
//! reasons, version) and its lines (with a `reserved` flag), from the Order events.
//!
//! A batch is applied set-based (ADR 0014): each order's unapplied events are folded into
//! one row patch ([`fold`]), then written with one insert (orders and their lines) and one
//! update (orders and the lines they reserve) per batch. [`Projection::apply`] is the
//! one-event form the batch path must agree with.

use causeway_domain::order::{OrderEvent, OrderPlaced, RejectionReason};
use causeway_infra::topics::EventStream;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use crate::batch::{self, Group};
use crate::projection::{Envelope, Projection, parse_domain_event};

/// Builds `orders` and `order_lines` from the Order events.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrdersProjection;

impl OrdersProjection {
    /// The projection's name (consumer group suffix and offsets key).
    pub const NAME: &'static str = "orders";
}

/// What an event after `OrderPlaced` changes on the summary row (and which line it reserves).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Change {
    status: Option<&'static str>,
    rejection_reason: Option<String>,
    cancel_reason: Option<String>,
    reserved_sku: Option<String>,
}

/// The change an event makes; `None` for `OrderPlaced`, which creates the row.
fn change(event: &OrderEvent) -> Option<Change> {
    let status = |s| Change {
        status: Some(s),
        ..Change::default()
    };
    Some(match event {
        OrderEvent::OrderPlaced(_) => return None,
        OrderEvent::OrderLineReserved(e) => Change {
            reserved_sku: Some(e.sku.to_string()),
            ..Change::default()
        },
        OrderEvent::OrderAwaitingPayment(_) => status("awaiting_payment"),
        OrderEvent::OrderConfirmed(_) => status("confirmed"),
        OrderEvent::OrderRejected(e) => Change {
            rejection_reason: Some(describe_rejection(&e.reason)),
            ..status("rejected")
        },
        OrderEvent::OrderCancelled(e) => Change {
            cancel_reason: Some(e.reason.clone()),
            ..status("cancelled")
        },
        OrderEvent::OrderExpired(_) => status("expired"),
    })
}

/// Why an order was rejected, for humans.
pub(crate) fn describe_rejection(reason: &RejectionReason) -> String {
    match reason {
        RejectionReason::OutOfStock { sku } => format!("{sku} is out of stock"),
        RejectionReason::PaymentDeclined { reason } => {
            format!("the payment was declined: {reason}")
        }
    }
}

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
struct OrderPatch<'a> {
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

/// One fold and write of the batch; answers whether every patch was written.
async fn apply_once(
    conn: &mut PgConnection,
    groups: &[Group<'_, OrderEvent>],
) -> Result<bool, sqlx::Error> {
    let stored = batch::stored(&mut *conn, "orders", "order_id", groups).await?;
    let (new, known): (Vec<_>, Vec<_>) = groups
        .iter()
        .filter_map(|(id, events)| fold(id, stored.version(id), events, stored.now))
        .partition(|p| p.new.is_some());
    let written = insert_new(&mut *conn, &new).await? + update_known(conn, &known).await?;
    Ok(written == new.len() + known.len())
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
    if new.is_empty() {
        return Ok(0);
    }
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
    .bind(new.iter().map(|(p, _)| p.order_id).collect::<Vec<_>>())
    .bind(
        new.iter()
            .map(|(_, n)| n.customer_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(new.iter().map(|(p, _)| p.status).collect::<Vec<_>>())
    .bind(
        new.iter()
            .map(|(_, n)| n.currency.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(new.iter().map(|(_, n)| n.total_minor).collect::<Vec<_>>())
    .bind(new.iter().map(|(_, n)| n.placed_at).collect::<Vec<_>>())
    .bind(new.iter().map(|(_, n)| n.deadline).collect::<Vec<_>>())
    .bind(new.iter().map(|(p, _)| p.updated_at).collect::<Vec<_>>())
    .bind(new.iter().map(|(p, _)| p.version).collect::<Vec<_>>())
    .bind(
        new.iter()
            .map(|(p, _)| p.rejection_reason.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        new.iter()
            .map(|(p, _)| p.cancel_reason.as_deref())
            .collect::<Vec<_>>(),
    )
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
    if patches.is_empty() {
        return Ok(0);
    }
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
    .bind(patches.iter().map(|p| p.order_id).collect::<Vec<_>>())
    .bind(patches.iter().map(|p| p.status).collect::<Vec<_>>())
    .bind(
        patches
            .iter()
            .map(|p| p.rejection_reason.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        patches
            .iter()
            .map(|p| p.cancel_reason.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(patches.iter().map(|p| p.updated_at).collect::<Vec<_>>())
    .bind(patches.iter().map(|p| p.version).collect::<Vec<_>>())
    .bind(patches.iter().map(|p| p.base).collect::<Vec<_>>())
    .bind(reserved.iter().map(|(o, _)| *o).collect::<Vec<_>>())
    .bind(reserved.iter().map(|(_, s)| *s).collect::<Vec<_>>())
    .fetch_one(conn)
    .await?;
    Ok(usize::try_from(updated).unwrap_or(0))
}

impl Projection for OrdersProjection {
    type Event = OrderEvent;

    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn streams(&self) -> Vec<EventStream> {
        vec![EventStream::Order]
    }

    fn parse(&self, event_type: &str, data: Value) -> Result<OrderEvent, String> {
        parse_domain_event(event_type, data)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        envelope: &Envelope<OrderEvent>,
    ) -> Result<(), sqlx::Error> {
        let at = envelope.headers.recorded_at;
        match (&envelope.event, change(&envelope.event)) {
            (OrderEvent::OrderPlaced(placed), _) => place(conn, envelope, placed, at).await,
            (_, Some(change)) => update(conn, envelope, change, at).await,
            (_, None) => Ok(()),
        }
    }

    /// One `SELECT` of the batch's orders, one insert and one update, whatever its size.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        envelopes: &[Envelope<OrderEvent>],
    ) -> Result<(), sqlx::Error> {
        let groups = batch::by_aggregate(envelopes);
        if groups.is_empty() {
            return Ok(());
        }
        for _ in 0..batch::ATTEMPTS {
            if apply_once(&mut *conn, &groups).await? {
                return Ok(());
            }
        }
        Err(batch::unsettled("orders"))
    }
}

/// Inserts the summary and its lines; a re-delivered `OrderPlaced` inserts neither.
async fn place(
    conn: &mut PgConnection,
    envelope: &Envelope<OrderEvent>,
    placed: &OrderPlaced,
    at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let skus: Vec<String> = placed.lines.iter().map(|l| l.sku.to_string()).collect();
    let quantities: Vec<i64> = placed
        .lines
        .iter()
        .map(|l| i64::from(l.quantity.get()))
        .collect();
    let prices: Vec<i64> = placed
        .lines
        .iter()
        .map(|l| l.unit_price.amount_minor())
        .collect();
    sqlx::query(
        "WITH o AS (
             INSERT INTO orders (order_id, customer_id, status, currency, total_minor, placed_at,
                                 deadline, updated_at, version)
             VALUES ($1, $2, 'pending', $3, $4, $5, $6, COALESCE($7, now()), $8)
             ON CONFLICT (order_id) DO NOTHING
             RETURNING order_id)
         INSERT INTO order_lines (order_id, sku, quantity, unit_price_minor, position)
         SELECT o.order_id, l.sku, l.quantity, l.price, l.position::int
         FROM o, UNNEST($9::text[], $10::bigint[], $11::bigint[])
                 WITH ORDINALITY AS l(sku, quantity, price, position)",
    )
    .bind(&envelope.aggregate_id)
    .bind(placed.customer_id.to_string())
    .bind(placed.currency.as_str())
    .bind(placed.total.amount_minor())
    .bind(placed.placed_at)
    .bind(placed.deadline)
    .bind(at)
    .bind(envelope.sequence)
    .bind(&skus)
    .bind(&quantities)
    .bind(&prices)
    .execute(conn)
    .await?;
    Ok(())
}

/// Applies a later event to the summary (and reserves its line), unless already applied.
async fn update(
    conn: &mut PgConnection,
    envelope: &Envelope<OrderEvent>,
    change: Change,
    at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH o AS (
             UPDATE orders SET
                 status = COALESCE($3, status),
                 rejection_reason = COALESCE($4, rejection_reason),
                 cancel_reason = COALESCE($5, cancel_reason),
                 updated_at = COALESCE($6, now()),
                 version = $2
             WHERE order_id = $1 AND version < $2
             RETURNING order_id)
         UPDATE order_lines AS l SET reserved = true
         FROM o WHERE l.order_id = o.order_id AND l.sku = $7",
    )
    .bind(&envelope.aggregate_id)
    .bind(envelope.sequence)
    .bind(change.status)
    .bind(change.rejection_reason)
    .bind(change.cancel_reason)
    .bind(at)
    .bind(change.reserved_sku)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use causeway_domain::order::{
        OrderCancelled, OrderConfirmed, OrderLine, OrderLineReserved, OrderRejected,
    };
    use causeway_domain::values::{Currency, CustomerId, Money, Quantity, Sku};

    use super::*;

    fn eur(n: i64) -> Money {
        Money::parse(n, Currency::parse("EUR").unwrap()).unwrap()
    }

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_796_000_000 + second, 0).unwrap()
    }

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

    fn customer() -> CustomerId {
        CustomerId::parse("7b1e1c52-1f0e-4a55-a0a4-3b1f9c1d2e10").unwrap()
    }

    #[test]
    fn a_reserved_line_keeps_the_status_and_names_its_sku() {
        let event = OrderEvent::OrderLineReserved(OrderLineReserved {
            sku: Sku::parse("TEA-1").unwrap(),
        });
        let change = change(&event).unwrap();
        assert_eq!(change.status, None);
        assert_eq!(change.reserved_sku.as_deref(), Some("TEA-1"));
    }

    #[test]
    fn a_rejection_and_a_cancellation_record_their_reasons() {
        let sku = Sku::parse("TEA-1").unwrap();
        let rejected = OrderEvent::OrderRejected(OrderRejected {
            customer_id: customer(),
            reason: RejectionReason::OutOfStock { sku: sku.clone() },
            skus: vec![sku],
        });
        let change_of_rejection = change(&rejected).unwrap();
        assert_eq!(change_of_rejection.status, Some("rejected"));
        assert_eq!(
            change_of_rejection.rejection_reason.as_deref(),
            Some("TEA-1 is out of stock")
        );
        let cancelled = OrderEvent::OrderCancelled(OrderCancelled {
            customer_id: customer(),
            reason: "changed my mind".into(),
            was_confirmed: true,
            skus: vec![],
        });
        let change_of_cancel = change(&cancelled).unwrap();
        assert_eq!(change_of_cancel.status, Some("cancelled"));
        assert_eq!(
            change_of_cancel.cancel_reason.as_deref(),
            Some("changed my mind")
        );
    }

    #[test]
    fn a_declined_payment_is_described_with_its_reason() {
        let reason = RejectionReason::PaymentDeclined {
            reason: "insufficient credit".into(),
        };
        assert_eq!(
            describe_rejection(&reason),
            "the payment was declined: insufficient credit"
        );
    }
}
