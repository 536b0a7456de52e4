//! The `notifications` read model: what would be sent to a customer when an order is
//! confirmed, rejected, cancelled or expired, or its payment refunded. One row per
//! (order, kind): neither re-delivery nor a replay records it twice.

use causeway_domain::EventStream;
use causeway_domain::ShopEvent;
use causeway_domain::order::OrderEvent;
use causeway_domain::payment::PaymentEvent;
use causeway_domain::values::Money;
use serde_json::Value;
use sqlx::PgConnection;

use crate::batch::{column, rows};
use crate::projection::{Envelope, Projection};

/// Builds `notifications` from the Order and Payment events.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotificationsProjection;

impl NotificationsProjection {
    /// The projection's name (consumer group suffix and offsets key).
    pub const NAME: &'static str = "notifications";
}

/// One notification: its kind, to whom, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Notification {
    kind: &'static str,
    customer_id: String,
    message: String,
}

/// The notification an event of order `order_id` causes, if any.
fn notification(order_id: &str, event: &ShopEvent) -> Option<Notification> {
    let (kind, customer_id, message) = match event {
        ShopEvent::Order(OrderEvent::OrderConfirmed(e)) => (
            "order_confirmed",
            &e.customer_id,
            format!(
                "Your order {order_id} is confirmed; {} will be charged.",
                amount(&e.total)
            ),
        ),
        ShopEvent::Order(OrderEvent::OrderRejected(e)) => (
            "order_rejected",
            &e.customer_id,
            format!(
                "Your order {order_id} was rejected: {}.",
                crate::orders::describe_rejection(&e.reason)
            ),
        ),
        ShopEvent::Order(OrderEvent::OrderCancelled(e)) => (
            "order_cancelled",
            &e.customer_id,
            format!("Your order {order_id} was cancelled: {}.", e.reason),
        ),
        ShopEvent::Order(OrderEvent::OrderExpired(e)) => (
            "order_expired",
            &e.customer_id,
            format!(
                "Your order {order_id} expired: it was not completed by {}.",
                e.deadline
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ),
        ShopEvent::Payment(PaymentEvent::PaymentRefunded(e)) => (
            "payment_refunded",
            &e.customer_id,
            format!(
                "{} was refunded for your order {order_id}.",
                amount(&e.amount)
            ),
        ),
        _ => return None,
    };
    Some(Notification {
        kind,
        customer_id: customer_id.to_string(),
        message,
    })
}

/// `12.34 EUR`: minor units shown with two decimals (every currency the shop takes).
fn amount(money: &Money) -> String {
    let minor = money.amount_minor();
    format!("{}.{:02} {}", minor / 100, minor % 100, money.currency())
}

impl Projection for NotificationsProjection {
    type Event = ShopEvent;

    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn streams(&self) -> Vec<EventStream> {
        vec![EventStream::Order, EventStream::Payment]
    }

    fn parse(&self, event_type: &str, data: Value) -> Result<ShopEvent, String> {
        ShopEvent::parse(event_type, data)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        envelope: &Envelope<ShopEvent>,
    ) -> Result<(), sqlx::Error> {
        self.apply_batch(conn, std::slice::from_ref(envelope)).await
    }

    /// One multi-row insert per batch; `(order_id, kind)` is unique, so a notification
    /// already recorded (re-delivery, replay) is left alone.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        envelopes: &[Envelope<ShopEvent>],
    ) -> Result<(), sqlx::Error> {
        let rows = rows(envelopes, notification);
        if rows.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO notifications (order_id, kind, customer_id, message, occurred_at, event_id)
             SELECT o, k, c, m, COALESCE(t, now()), e
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                         $6::text[]) AS x(o, k, c, m, t, e)
             ON CONFLICT (order_id, kind) DO NOTHING",
        )
        .bind(column(&rows, |(e, _)| e.aggregate_id.as_str()))
        .bind(column(&rows, |(_, n)| n.kind))
        .bind(column(&rows, |(_, n)| n.customer_id.as_str()))
        .bind(column(&rows, |(_, n)| n.message.as_str()))
        .bind(column(&rows, |(e, _)| e.headers.recorded_at))
        .bind(column(&rows, |(e, _)| e.headers.event_id.as_deref()))
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use causeway_domain::order::{OrderAwaitingPayment, OrderConfirmed};
    use causeway_domain::payment::PaymentRefunded;

    use super::*;
    use crate::fixtures::{customer, eur};

    #[test]
    fn a_confirmation_tells_the_customer_what_will_be_charged() {
        let event = ShopEvent::Order(OrderEvent::OrderConfirmed(OrderConfirmed {
            customer_id: customer(),
            total: eur(1205),
        }));
        let n = notification("o-1", &event).unwrap();
        assert_eq!(n.kind, "order_confirmed");
        assert_eq!(n.customer_id, customer().to_string());
        assert_eq!(
            n.message,
            "Your order o-1 is confirmed; 12.05 EUR will be charged."
        );
    }

    #[test]
    fn a_refund_is_a_notification_and_a_step_in_between_is_not() {
        let refund = ShopEvent::Payment(PaymentEvent::PaymentRefunded(PaymentRefunded {
            customer_id: customer(),
            amount: eur(7),
        }));
        let n = notification("o-2", &refund).unwrap();
        assert_eq!(n.kind, "payment_refunded");
        assert_eq!(n.message, "0.07 EUR was refunded for your order o-2.");
        let waiting = ShopEvent::Order(OrderEvent::OrderAwaitingPayment(OrderAwaitingPayment {
            customer_id: customer(),
            amount: eur(7),
        }));
        assert_eq!(notification("o-2", &waiting), None);
    }
}
