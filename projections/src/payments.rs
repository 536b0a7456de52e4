//! The `payments` read model: one row per payment (its aggregate id is its order's id) with
//! its status, amount, customer and the time of each step.
//!
//! A batch is applied set-based (ADR 0014): each payment's unapplied events are folded into
//! one row patch ([`fold`]), then written with one insert and one update per batch.
//! [`Projection::apply`] is the one-event upsert the batch path must agree with.

use causeway_domain::EventStream;
use causeway_domain::payment::PaymentEvent;
use causeway_domain::shop::parse_event;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use crate::batch::{self, StateProjection, Write, column};
use crate::projection::{Envelope, Projection};

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

/// What a batch does to one payment's row: for a new row its values, for an existing one the
/// values that replace the stored ones (`None` keeps what is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaymentPatch<'a> {
    order_id: &'a str,
    /// The row's version the patch applies to; `None`: there is no row, insert one.
    base: Option<i64>,
    status: &'static str,
    customer_id: Option<String>,
    amount_minor: Option<i64>,
    currency: Option<String>,
    decline_reason: Option<String>,
    /// When it was last authorized, declined, voided, refunded (in this batch).
    steps: [Option<DateTime<Utc>>; 4],
    updated_at: DateTime<Utc>,
    version: i64,
}

/// The statuses in the order of [`PaymentPatch::steps`].
const STEPS: [&str; 4] = ["authorized", "declined", "voided", "refunded"];

/// Folds the events of one payment that its row (at version `base`, `None` when absent) has
/// not applied, in order, as the one-event upsert would apply them one by one. `now` stands
/// for the transaction's `now()`. `None`: nothing to write.
fn fold<'a>(
    order_id: &'a str,
    base: Option<i64>,
    events: &[&Envelope<PaymentEvent>],
    now: DateTime<Utc>,
) -> Option<PaymentPatch<'a>> {
    let mut patch: Option<PaymentPatch<'a>> = None;
    for envelope in events {
        let current = patch.as_ref().map(|p| p.version).or(base);
        if current.is_some_and(|v| envelope.sequence <= v) {
            continue;
        }
        let change = payment_change(&envelope.event);
        let at = envelope.headers.recorded_at.unwrap_or(now);
        let p = patch.get_or_insert(PaymentPatch {
            order_id,
            base,
            status: change.status,
            customer_id: None,
            amount_minor: None,
            currency: None,
            decline_reason: None,
            steps: [None; 4],
            updated_at: at,
            version: envelope.sequence,
        });
        p.status = change.status;
        p.customer_id = change.customer_id.or(p.customer_id.take());
        p.amount_minor = change.amount_minor.or(p.amount_minor);
        p.currency = change.currency.or(p.currency.take());
        p.decline_reason = change.decline_reason.or(p.decline_reason.take());
        if let Some(step) = STEPS.iter().position(|s| *s == change.status) {
            p.steps[step] = Some(at);
        }
        p.updated_at = at;
        p.version = envelope.sequence;
    }
    patch
}

impl StateProjection for PaymentsProjection {
    const TABLE: &'static str = "payments";
    const KEY: &'static str = "order_id";
    type Patch<'a> = PaymentPatch<'a>;

    fn fold<'a>(
        id: &'a str,
        base: Option<i64>,
        events: &[&Envelope<PaymentEvent>],
        now: DateTime<Utc>,
    ) -> Option<PaymentPatch<'a>> {
        fold(id, base, events, now)
    }

    fn is_new(patch: &PaymentPatch<'_>) -> bool {
        patch.base.is_none()
    }

    fn insert<'a>(conn: &'a mut PgConnection, patches: &'a [Self::Patch<'_>]) -> Write<'a> {
        Box::pin(write(conn, patches, INSERT))
    }

    fn update<'a>(conn: &'a mut PgConnection, patches: &'a [Self::Patch<'_>]) -> Write<'a> {
        Box::pin(write(conn, patches, UPDATE))
    }
}

/// The rows of payments that had none; one that has a row meanwhile is left alone.
const INSERT: &str = "
    INSERT INTO payments (order_id, status, customer_id, amount_minor, currency, decline_reason,
                          authorized_at, declined_at, voided_at, refunded_at, updated_at, version)
    SELECT i, s, c, a, cur, dr, ta, td, tv, tr, t, v
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[],
                $11::timestamptz[], $12::bigint[], $13::bigint[])
         AS p(i, s, c, a, cur, dr, ta, td, tv, tr, t, v, b)
    ON CONFLICT (order_id) DO NOTHING";

/// The patches, on the rows still at the version they were folded from.
const UPDATE: &str = "
    UPDATE payments AS p SET
        status = x.s,
        customer_id = COALESCE(x.c, p.customer_id),
        amount_minor = COALESCE(x.a, p.amount_minor),
        currency = COALESCE(x.cur, p.currency),
        decline_reason = COALESCE(x.dr, p.decline_reason),
        authorized_at = COALESCE(x.ta, p.authorized_at),
        declined_at = COALESCE(x.td, p.declined_at),
        voided_at = COALESCE(x.tv, p.voided_at),
        refunded_at = COALESCE(x.tr, p.refunded_at),
        updated_at = x.t,
        version = x.v
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[],
                $11::timestamptz[], $12::bigint[], $13::bigint[])
         AS x(i, s, c, a, cur, dr, ta, td, tv, tr, t, v, b)
    WHERE p.order_id = x.i AND p.version = x.b";

/// Runs `sql` (one of [`INSERT`], [`UPDATE`]) over `patches`; answers the rows written.
async fn write(
    conn: &mut PgConnection,
    patches: &[PaymentPatch<'_>],
    sql: &'static str,
) -> Result<usize, sqlx::Error> {
    let step = |i: usize| column(patches, move |p| p.steps[i]);
    let done = sqlx::query(sql)
        .bind(column(patches, |p| p.order_id))
        .bind(column(patches, |p| p.status))
        .bind(column(patches, |p| p.customer_id.as_deref()))
        .bind(column(patches, |p| p.amount_minor))
        .bind(column(patches, |p| p.currency.as_deref()))
        .bind(column(patches, |p| p.decline_reason.as_deref()))
        .bind(step(0))
        .bind(step(1))
        .bind(step(2))
        .bind(step(3))
        .bind(column(patches, |p| p.updated_at))
        .bind(column(patches, |p| p.version))
        .bind(column(patches, |p| p.base))
        .execute(conn)
        .await?;
    Ok(batch::count(done.rows_affected()))
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
        parse_event(event_type, data)
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

    /// One `SELECT` of the batch's payments, one insert and one update, whatever its size.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        envelopes: &[Envelope<PaymentEvent>],
    ) -> Result<(), sqlx::Error> {
        batch::apply::<Self>(conn, envelopes).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use causeway_domain::payment::{Authorization, PaymentDeclined, PaymentVoided};

    use super::*;
    use crate::fixtures::{at, customer, eur};

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
    fn a_folded_payment_keeps_each_steps_time_and_the_last_known_customer_and_amount() {
        let events: Vec<_> = [
            PaymentEvent::PaymentAuthorized(causeway_domain::payment::PaymentAuthorized {
                customer_id: customer(),
                amount: eur(70),
            }),
            PaymentEvent::PaymentVoided(PaymentVoided {
                voided_authorization: None,
            }),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, event)| Envelope {
            aggregate_id: "o-1".into(),
            sequence: i as i64 + 1,
            event,
            headers: crate::projection::EventHeaders {
                recorded_at: (i == 0).then(|| at(0)),
                ..Default::default()
            },
        })
        .collect();
        let refs: Vec<_> = events.iter().collect();
        let new = fold("o-1", None, &refs, at(99)).unwrap();
        assert_eq!(
            (new.status, new.amount_minor, new.version),
            ("voided", Some(70), 2)
        );
        assert_eq!(new.customer_id, Some(customer().to_string()));
        assert_eq!(
            new.steps,
            [Some(at(0)), None, Some(at(99)), None],
            "now() for no time"
        );
        let later = fold("o-1", Some(1), &refs, at(99)).unwrap();
        assert_eq!(
            (later.base, later.amount_minor, later.steps[0]),
            (Some(1), None, None)
        );
        assert_eq!(fold("o-1", Some(2), &refs, at(99)), None);
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
