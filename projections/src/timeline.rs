//! The `saga_timeline` read model: every event of an order's saga, from all four streams,
//! with its participant, outcome, time and trace id. One row per event (its aggregate type,
//! id and sequence), so re-delivery is a no-op.
//!
//! Participants: `order` (Order events), `inventory` (stock reserved, rejected, released for
//! the order), `credit` (the customer's credit reserved, declined, released for the order)
//! and `payment` (Payment events; a payment's id is its order's id).

use causeway_domain::{
    CustomerEvent, EventStream, InventoryEvent, OrderEvent, OrderStatus, PaymentEvent, SagaOutcome,
    ShopEvent,
};
use serde_json::Value;
use sqlx::PgConnection;

use crate::batch::{column, rows};
use crate::projection::{Envelope, Projection};

/// Builds `saga_timeline` from the Order, InventoryItem, Customer and Payment events.
#[derive(Debug, Clone, Copy, Default)]
pub struct SagaTimelineProjection;

impl SagaTimelineProjection {
    /// The projection's name (consumer group suffix and offsets key).
    pub const NAME: &'static str = "saga_timeline";
}

/// Where an event stands in an order's saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The order whose saga it belongs to.
    pub order_id: String,
    /// `order`, `inventory`, `credit` or `payment`.
    pub participant: &'static str,
    /// One word: `placed`, `reserved`, `rejected`, `released`, `authorized`, …
    pub outcome: &'static str,
}

/// The saga step of an event of aggregate `aggregate_id`; `None` when it belongs to no
/// order's saga (a restock, a registration, a credit limit change).
pub fn step(aggregate_id: &str, event: &ShopEvent) -> Option<Step> {
    let (order_id, participant, outcome) = match event {
        ShopEvent::Order(e) => (aggregate_id.to_owned(), "order", order_outcome(e)),
        ShopEvent::Payment(e) => (aggregate_id.to_owned(), "payment", payment_outcome(e)),
        ShopEvent::Inventory(e) => {
            let (order, outcome) = match e {
                InventoryEvent::StockRestocked(_) => return None,
                InventoryEvent::StockReserved(e) => (&e.order_id, "reserved"),
                InventoryEvent::StockReservationRejected(e) => (&e.order_id, "rejected"),
                InventoryEvent::StockReleased(e) => (&e.order_id, "released"),
            };
            (order.to_string(), "inventory", outcome)
        }
        ShopEvent::Customer(e) => {
            let (order, outcome) = match e {
                CustomerEvent::CustomerRegistered(_) | CustomerEvent::CreditLimitChanged(_) => {
                    return None;
                }
                CustomerEvent::CreditReserved(e) => (&e.order_id, "reserved"),
                CustomerEvent::CreditReservationDeclined(e) => (&e.order_id, "declined"),
                CustomerEvent::CreditReleased(e) => (&e.order_id, "released"),
            };
            (order.to_string(), "credit", outcome)
        }
    };
    Some(Step {
        order_id,
        participant,
        outcome,
    })
}

fn order_outcome(event: &OrderEvent) -> &'static str {
    match event {
        OrderEvent::OrderPlaced(_) => "placed",
        OrderEvent::OrderLineReserved(_) => "line_reserved",
        OrderEvent::OrderAwaitingPayment(_) => OrderStatus::AwaitingPayment.as_str(),
        OrderEvent::OrderPaymentAuthorized(_) => "payment_authorized",
        OrderEvent::OrderConfirmed(_) => SagaOutcome::Confirmed.as_str(),
        OrderEvent::OrderRejected(_) => SagaOutcome::Rejected.as_str(),
        OrderEvent::OrderCancelled(_) => SagaOutcome::Cancelled.as_str(),
        OrderEvent::OrderExpired(_) => SagaOutcome::Expired.as_str(),
    }
}

fn payment_outcome(event: &PaymentEvent) -> &'static str {
    match event {
        PaymentEvent::PaymentAuthorized(_) => "authorized",
        PaymentEvent::PaymentDeclined(_) => "declined",
        PaymentEvent::PaymentVoided(_) => "voided",
        PaymentEvent::PaymentRefunded(_) => "refunded",
    }
}

impl Projection for SagaTimelineProjection {
    type Event = ShopEvent;

    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn streams(&self) -> Vec<EventStream> {
        vec![
            EventStream::Order,
            EventStream::InventoryItem,
            EventStream::Customer,
            EventStream::Payment,
        ]
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

    /// One multi-row insert per batch; a row already there (same event) is left alone.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        envelopes: &[Envelope<ShopEvent>],
    ) -> Result<(), sqlx::Error> {
        let rows = rows(envelopes, step);
        if rows.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO saga_timeline (aggregate_type, aggregate_id, sequence, order_id,
                                        participant, event_type, outcome, occurred_at,
                                        trace_id, event_id)
             SELECT a, i, s, o, p, ty, oc, COALESCE(t, now()), tr, e
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::timestamptz[], $9::text[], $10::text[])
                  AS x(a, i, s, o, p, ty, oc, t, tr, e)
             ON CONFLICT (aggregate_type, aggregate_id, sequence) DO NOTHING",
        )
        .bind(column(&rows, |(e, _)| e.event.aggregate_type()))
        .bind(column(&rows, |(e, _)| e.aggregate_id.as_str()))
        .bind(column(&rows, |(e, _)| e.sequence))
        .bind(column(&rows, |(_, s)| s.order_id.as_str()))
        .bind(column(&rows, |(_, s)| s.participant))
        .bind(column(&rows, |(e, _)| e.event.event_type()))
        .bind(column(&rows, |(_, s)| s.outcome))
        .bind(column(&rows, |(e, _)| e.headers.recorded_at))
        .bind(column(&rows, |(e, _)| e.headers.trace_id()))
        .bind(column(&rows, |(e, _)| e.headers.event_id.as_deref()))
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use causeway_domain::customer::{CreditDeclineReason, CustomerRegistered};
    use causeway_domain::customer::{CreditReservationDeclined, CreditReserved};
    use causeway_domain::inventory::{StockReleased, StockRestocked};
    use causeway_domain::payment::PaymentVoided;
    use causeway_domain::values::{CustomerName, Email, Quantity};

    use super::*;
    use crate::fixtures::{ORDER, eur, order};

    fn step_of(
        aggregate_id: &str,
        event: ShopEvent,
    ) -> Option<(String, &'static str, &'static str)> {
        step(aggregate_id, &event).map(|s| (s.order_id, s.participant, s.outcome))
    }

    #[test]
    fn stock_and_credit_events_belong_to_the_order_named_in_their_payload() {
        let released = ShopEvent::Inventory(InventoryEvent::StockReleased(StockReleased {
            order_id: order(),
            quantity: Quantity::parse(2).unwrap(),
        }));
        assert_eq!(
            step_of("TEA-1", released),
            Some((ORDER.to_owned(), "inventory", "released"))
        );
        let reserved = ShopEvent::Customer(CustomerEvent::CreditReserved(CreditReserved {
            order_id: order(),
            amount: eur(5),
        }));
        assert_eq!(
            step_of("c-1", reserved),
            Some((ORDER.to_owned(), "credit", "reserved"))
        );
        let declined = ShopEvent::Customer(CustomerEvent::CreditReservationDeclined(
            CreditReservationDeclined {
                order_id: order(),
                amount: eur(5),
                available: eur(1),
                reason: CreditDeclineReason::InsufficientCredit,
            },
        ));
        assert_eq!(step_of("c-1", declined).unwrap().2, "declined");
    }

    #[test]
    fn order_and_payment_events_belong_to_the_order_they_are_keyed_by() {
        let voided = ShopEvent::Payment(PaymentEvent::PaymentVoided(PaymentVoided {
            voided_authorization: None,
        }));
        assert_eq!(
            step_of(ORDER, voided),
            Some((ORDER.to_owned(), "payment", "voided"))
        );
    }

    #[test]
    fn restocks_and_customer_profile_changes_are_in_no_saga() {
        let restock = ShopEvent::Inventory(InventoryEvent::StockRestocked(StockRestocked {
            quantity: Quantity::parse(2).unwrap(),
        }));
        assert_eq!(step_of("TEA-1", restock), None);
        let registered =
            ShopEvent::Customer(CustomerEvent::CustomerRegistered(CustomerRegistered {
                name: CustomerName::parse("Ada").unwrap(),
                email: Email::parse("ada@example.com").unwrap(),
                credit_limit: eur(100),
                owner: None,
            }));
        assert_eq!(step_of("c-1", registered), None);
    }
}
