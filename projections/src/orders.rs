//! The `orders` and `order_lines` read models: one summary row per order (status, total,
//! reasons, version) and its lines (with a `reserved` flag), from the Order events.
//!
//! A batch is applied set-based (ADR 0014): each order's unapplied events are folded into
//! one row patch (`batch_write::fold`), then written with one insert (orders and their
//! lines) and one update (orders and the lines they reserve) per batch.
//! [`Projection::apply`] is the one-event form the batch path must agree with.

use causeway_domain::order::{OrderEvent, OrderPlaced, RejectionReason};
use causeway_domain::shop::parse_event;
use causeway_domain::{EventStream, OrderStatus};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use crate::batch;
use crate::projection::{Envelope, Projection};

mod batch_write;

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
    let status = |s: OrderStatus| Change {
        status: Some(s.as_str()),
        ..Change::default()
    };
    Some(match event {
        OrderEvent::OrderPlaced(_) => return None,
        // The order stays pending until its last line is reserved, then it is confirmed.
        OrderEvent::OrderPaymentAuthorized(_) => Change::default(),
        OrderEvent::OrderLineReserved(e) => Change {
            reserved_sku: Some(e.sku.to_string()),
            ..Change::default()
        },
        OrderEvent::OrderAwaitingPayment(_) => status(OrderStatus::AwaitingPayment),
        OrderEvent::OrderConfirmed(_) => status(OrderStatus::Confirmed),
        OrderEvent::OrderRejected(e) => Change {
            rejection_reason: Some(describe_rejection(&e.reason)),
            ..status(OrderStatus::Rejected)
        },
        OrderEvent::OrderCancelled(e) => Change {
            cancel_reason: Some(e.reason.clone()),
            ..status(OrderStatus::Cancelled)
        },
        OrderEvent::OrderExpired(_) => status(OrderStatus::Expired),
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

impl Projection for OrdersProjection {
    type Event = OrderEvent;

    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn streams(&self) -> Vec<EventStream> {
        vec![EventStream::Order]
    }

    fn parse(&self, event_type: &str, data: Value) -> Result<OrderEvent, String> {
        parse_event(event_type, data)
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
        batch::apply::<Self>(conn, envelopes).await
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

    use causeway_domain::order::{OrderCancelled, OrderLineReserved, OrderRejected};
    use causeway_domain::values::Sku;

    use super::*;
    use crate::fixtures::customer;

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
