//! The `payments` read model: one row per payment (its aggregate id is its order's id) with
//! its status, amount, customer and the time of each step.

use causeway_domain::payment::PaymentEvent;
use causeway_infra::topics::EventStream;
use serde_json::Value;
use sqlx::PgConnection;

use crate::projection::{Envelope, Projection, parse_domain_event};

/// Builds `payments` from the Payment events.
#[derive(Debug, Clone, Copy, Default)]
pub struct PaymentsProjection;

impl PaymentsProjection {
    /// The projection's name (consumer group suffix and offsets key).
    pub const NAME: &'static str = "payments";
}

/// What an event says about the payment; unknown values stay as they were.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PaymentChange {
    status: &'static str,
    customer_id: Option<String>,
    amount_minor: Option<i64>,
    currency: Option<String>,
    decline_reason: Option<String>,
}

fn payment_change(event: &PaymentEvent) -> PaymentChange {
    let change =
        |status, customer: Option<String>, amount: Option<&causeway_domain::Money>| PaymentChange {
            status,
            customer_id: customer,
            amount_minor: amount.map(causeway_domain::Money::amount_minor),
            currency: amount.map(|a| a.currency().to_string()),
            decline_reason: None,
        };
    match event {
        PaymentEvent::PaymentAuthorized(e) => change(
            "authorized",
            Some(e.customer_id.to_string()),
            Some(&e.amount),
        ),
        PaymentEvent::PaymentDeclined(e) => PaymentChange {
            decline_reason: Some(e.reason.clone()),
            ..change("declined", Some(e.customer_id.to_string()), Some(&e.amount))
        },
        PaymentEvent::PaymentVoided(e) => match &e.voided_authorization {
            Some(a) => change("voided", Some(a.customer_id.to_string()), Some(&a.amount)),
            None => change("voided", None, None),
        },
        PaymentEvent::PaymentRefunded(e) => {
            change("refunded", Some(e.customer_id.to_string()), Some(&e.amount))
        }
    }
}

impl Projection for PaymentsProjection {
    type Event = PaymentEvent;

    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn streams(&self) -> Vec<EventStream> {
        vec![EventStream::Payment]
    }

    fn parse(&self, event_type: &str, data: Value) -> Result<PaymentEvent, String> {
        parse_domain_event(event_type, data)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        envelope: &Envelope<PaymentEvent>,
    ) -> Result<(), sqlx::Error> {
        let change = payment_change(&envelope.event);
        // One upsert for every event: the step's own time column is set from the event time,
        // and the WHERE makes a re-delivered event a no-op.
        sqlx::query(
            "INSERT INTO payments AS p (order_id, status, customer_id, amount_minor, currency,
                                        decline_reason, authorized_at, declined_at, voided_at,
                                        refunded_at, updated_at, version)
             SELECT $1, $3, $4, $5, $6, $7,
                    CASE WHEN $3 = 'authorized' THEN t END,
                    CASE WHEN $3 = 'declined' THEN t END,
                    CASE WHEN $3 = 'voided' THEN t END,
                    CASE WHEN $3 = 'refunded' THEN t END,
                    t, $2
             FROM (SELECT COALESCE($8, now()) AS t) AS x
             ON CONFLICT (order_id) DO UPDATE SET
                 status = EXCLUDED.status,
                 customer_id = COALESCE(EXCLUDED.customer_id, p.customer_id),
                 amount_minor = COALESCE(EXCLUDED.amount_minor, p.amount_minor),
                 currency = COALESCE(EXCLUDED.currency, p.currency),
                 decline_reason = COALESCE(EXCLUDED.decline_reason, p.decline_reason),
                 authorized_at = COALESCE(EXCLUDED.authorized_at, p.authorized_at),
                 declined_at = COALESCE(EXCLUDED.declined_at, p.declined_at),
                 voided_at = COALESCE(EXCLUDED.voided_at, p.voided_at),
                 refunded_at = COALESCE(EXCLUDED.refunded_at, p.refunded_at),
                 updated_at = EXCLUDED.updated_at,
                 version = EXCLUDED.version
             WHERE p.version < EXCLUDED.version",
        )
        .bind(&envelope.aggregate_id)
        .bind(envelope.sequence)
        .bind(change.status)
        .bind(change.customer_id)
        .bind(change.amount_minor)
        .bind(change.currency)
        .bind(change.decline_reason)
        .bind(envelope.headers.recorded_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use causeway_domain::payment::{Authorization, PaymentDeclined, PaymentVoided};
    use causeway_domain::values::{Currency, CustomerId, Money};

    use super::*;

    fn customer() -> CustomerId {
        CustomerId::parse("7b1e1c52-1f0e-4a55-a0a4-3b1f9c1d2e10").unwrap()
    }

    fn eur(n: i64) -> Money {
        Money::parse(n, Currency::parse("EUR").unwrap()).unwrap()
    }

    #[test]
    fn a_decline_records_its_reason_customer_and_amount() {
        let change = payment_change(&PaymentEvent::PaymentDeclined(PaymentDeclined {
            customer_id: customer(),
            amount: eur(500),
            reason: "insufficient credit".into(),
        }));
        assert_eq!(change.status, "declined");
        assert_eq!(change.amount_minor, Some(500));
        assert_eq!(change.currency.as_deref(), Some("EUR"));
        assert_eq!(
            change.decline_reason.as_deref(),
            Some("insufficient credit")
        );
        assert_eq!(change.customer_id, Some(customer().to_string()));
    }

    #[test]
    fn a_void_of_a_never_authorized_payment_knows_no_customer_nor_amount() {
        let never = payment_change(&PaymentEvent::PaymentVoided(PaymentVoided {
            voided_authorization: None,
        }));
        assert_eq!((never.status, never.amount_minor), ("voided", None));
        assert_eq!(never.customer_id, None);
        let authorized = payment_change(&PaymentEvent::PaymentVoided(PaymentVoided {
            voided_authorization: Some(Authorization {
                customer_id: customer(),
                amount: eur(70),
            }),
        }));
        assert_eq!(authorized.amount_minor, Some(70));
    }
}
