//! The `customers` read model: profile, credit limit, reserved and available credit.

use causeway_domain::customer::{CustomerEvent, CustomerRegistered};
use causeway_infra::topics::EventStream;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use crate::projection::{Envelope, Projection, parse_domain_event};

/// Builds `customers` from the Customer events.
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomersProjection;

impl CustomersProjection {
    /// The projection's name (consumer group suffix and offsets key).
    pub const NAME: &'static str = "customers";
}

/// How an event after the registration moves the credit: (new limit, reserved delta).
fn credit_change(event: &CustomerEvent) -> (Option<i64>, i64) {
    match event {
        CustomerEvent::CustomerRegistered(_) | CustomerEvent::CreditReservationDeclined(_) => {
            (None, 0)
        }
        CustomerEvent::CreditLimitChanged(e) => (Some(e.limit.amount_minor()), 0),
        CustomerEvent::CreditReserved(e) => (None, e.amount.amount_minor()),
        CustomerEvent::CreditReleased(e) => (None, -e.amount.amount_minor()),
    }
}

impl Projection for CustomersProjection {
    type Event = CustomerEvent;

    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn streams(&self) -> Vec<EventStream> {
        vec![EventStream::Customer]
    }

    fn parse(&self, event_type: &str, data: Value) -> Result<CustomerEvent, String> {
        parse_domain_event(event_type, data)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        envelope: &Envelope<CustomerEvent>,
    ) -> Result<(), sqlx::Error> {
        let at = envelope.headers.recorded_at;
        if let CustomerEvent::CustomerRegistered(registered) = &envelope.event {
            return register(conn, envelope, registered, at).await;
        }
        let (limit, reserved) = credit_change(&envelope.event);
        // The WHERE makes a re-delivered event (sequence not above the row's version) a no-op.
        sqlx::query(
            "UPDATE customers SET
                 credit_limit = COALESCE($3, credit_limit),
                 reserved_credit = reserved_credit + $4,
                 available_credit = COALESCE($3, credit_limit) - (reserved_credit + $4),
                 updated_at = COALESCE($5, now()),
                 version = $2
             WHERE customer_id = $1 AND version < $2",
        )
        .bind(&envelope.aggregate_id)
        .bind(envelope.sequence)
        .bind(limit)
        .bind(reserved)
        .bind(at)
        .execute(conn)
        .await?;
        Ok(())
    }
}

async fn register(
    conn: &mut PgConnection,
    envelope: &Envelope<CustomerEvent>,
    registered: &CustomerRegistered,
    at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO customers (customer_id, name, email, currency, credit_limit, reserved_credit,
                                available_credit, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, 0, $5, COALESCE($6, now()), $7)
         ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(&envelope.aggregate_id)
    .bind(registered.name.as_str())
    .bind(registered.email.as_str())
    .bind(registered.credit_limit.currency().as_str())
    .bind(registered.credit_limit.amount_minor())
    .bind(at)
    .bind(envelope.sequence)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use causeway_domain::customer::{
        CreditDeclineReason, CreditLimitChanged, CreditReleased, CreditReservationDeclined,
        CreditReserved,
    };
    use causeway_domain::values::{Currency, Money, OrderId};

    use super::*;

    #[test]
    fn reservations_move_the_reserved_credit_and_a_new_limit_replaces_the_old() {
        let eur = Currency::parse("EUR").unwrap();
        let money = |n| Money::parse(n, eur.clone()).unwrap();
        let order = OrderId::parse("0b5f6bd6-6c1f-4a4e-9d3e-2f6b1f3c9a10").unwrap();
        let cases = [
            (
                CustomerEvent::CreditLimitChanged(CreditLimitChanged { limit: money(900) }),
                (Some(900), 0),
            ),
            (
                CustomerEvent::CreditReserved(CreditReserved {
                    order_id: order,
                    amount: money(40),
                }),
                (None, 40),
            ),
            (
                CustomerEvent::CreditReservationDeclined(CreditReservationDeclined {
                    order_id: order,
                    amount: money(4000),
                    available: money(10),
                    reason: CreditDeclineReason::InsufficientCredit,
                }),
                (None, 0),
            ),
            (
                CustomerEvent::CreditReleased(CreditReleased {
                    order_id: order,
                    amount: money(40),
                }),
                (None, -40),
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(credit_change(&event), expected, "{event:?}");
        }
    }
}
