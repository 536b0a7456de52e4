//! The `customers` read model: profile, credit limit, reserved and available credit.
//!
//! A batch is applied set-based (ADR 0014): each customer's unapplied events are folded into
//! one row patch ([`fold`]), then written with one insert and one update per batch.
//! [`Projection::apply`] is the one-event statement the batch path must agree with.

use causeway_domain::EventStream;
use causeway_domain::customer::{CustomerEvent, CustomerRegistered};
use causeway_domain::shop::parse_event;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use crate::batch::{self, StateProjection, Write, column};
use crate::projection::{Envelope, Projection};

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

/// A customer's row as a batch creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NewCustomer {
    name: String,
    email: String,
    currency: String,
    credit_limit: i64,
    reserved: i64,
}

/// What a batch does to one customer's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CustomerPatch<'a> {
    customer_id: &'a str,
    /// The row's version the patch applies to; `None`: the batch registers the customer.
    base: Option<i64>,
    /// The registration, for a new row (`base` is `None`).
    new: Option<NewCustomer>,
    /// The last limit set, if any (for a new row, already in `new`).
    credit_limit: Option<i64>,
    /// Added to the reserved credit (for a new row, already in `new`).
    reserved: i64,
    updated_at: DateTime<Utc>,
    version: i64,
}

/// Folds the events of one customer that its row (at version `base`, `None` when absent)
/// has not applied, in order, as the one-event statements would apply them: a registration
/// creates the row (and is ignored once there is one); a later event changes an existing row
/// whose version is below its sequence, and nothing when there is no row. `now` stands for
/// the transaction's `now()` (an event with no `recorded_at`). `None`: nothing to write.
fn fold<'a>(
    customer_id: &'a str,
    base: Option<i64>,
    events: &[&Envelope<CustomerEvent>],
    now: DateTime<Utc>,
) -> Option<CustomerPatch<'a>> {
    let mut patch: Option<CustomerPatch<'a>> = None;
    for envelope in events {
        let current = patch.as_ref().map(|p| p.version).or(base);
        let at = envelope.headers.recorded_at.unwrap_or(now);
        match (&envelope.event, current) {
            (CustomerEvent::CustomerRegistered(r), None) => {
                patch = Some(CustomerPatch {
                    customer_id,
                    base: None,
                    new: Some(NewCustomer {
                        name: r.name.as_str().to_owned(),
                        email: r.email.as_str().to_owned(),
                        currency: r.credit_limit.currency().as_str().to_owned(),
                        credit_limit: r.credit_limit.amount_minor(),
                        reserved: 0,
                    }),
                    credit_limit: None,
                    reserved: 0,
                    updated_at: at,
                    version: envelope.sequence,
                });
            }
            (CustomerEvent::CustomerRegistered(_), Some(_)) | (_, None) => {}
            (event, Some(version)) if envelope.sequence > version => {
                let p = patch.get_or_insert(CustomerPatch {
                    customer_id,
                    base,
                    new: None,
                    credit_limit: None,
                    reserved: 0,
                    updated_at: at,
                    version,
                });
                let (limit, reserved) = credit_change(event);
                match &mut p.new {
                    Some(new) => {
                        new.credit_limit = limit.unwrap_or(new.credit_limit);
                        new.reserved += reserved;
                    }
                    None => {
                        p.credit_limit = limit.or(p.credit_limit);
                        p.reserved += reserved;
                    }
                }
                p.updated_at = at;
                p.version = envelope.sequence;
            }
            _ => {}
        }
    }
    patch
}

impl StateProjection for CustomersProjection {
    const TABLE: &'static str = "customers";
    const KEY: &'static str = "customer_id";
    type Patch<'a> = CustomerPatch<'a>;

    fn fold<'a>(
        id: &'a str,
        base: Option<i64>,
        events: &[&Envelope<CustomerEvent>],
        now: DateTime<Utc>,
    ) -> Option<CustomerPatch<'a>> {
        fold(id, base, events, now)
    }

    fn is_new(patch: &CustomerPatch<'_>) -> bool {
        patch.new.is_some()
    }

    fn insert<'a>(conn: &'a mut PgConnection, patches: &'a [Self::Patch<'_>]) -> Write<'a> {
        Box::pin(insert(conn, patches))
    }

    fn update<'a>(conn: &'a mut PgConnection, patches: &'a [Self::Patch<'_>]) -> Write<'a> {
        Box::pin(update(conn, patches))
    }
}

/// Inserts the customers the batch registers; one that has a row meanwhile is left alone.
async fn insert(
    conn: &mut PgConnection,
    patches: &[CustomerPatch<'_>],
) -> Result<usize, sqlx::Error> {
    let new: Vec<(&CustomerPatch<'_>, &NewCustomer)> = patches
        .iter()
        .filter_map(|p| p.new.as_ref().map(|n| (p, n)))
        .collect();
    let done = sqlx::query(
        "INSERT INTO customers (customer_id, name, email, currency, credit_limit, reserved_credit,
                                available_credit, updated_at, version)
         SELECT i, n, e, c, l, r, l - r, t, v
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
                     $7::timestamptz[], $8::bigint[]) AS p(i, n, e, c, l, r, t, v)
         ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(column(&new, |(p, _)| p.customer_id))
    .bind(column(&new, |(_, n)| n.name.as_str()))
    .bind(column(&new, |(_, n)| n.email.as_str()))
    .bind(column(&new, |(_, n)| n.currency.as_str()))
    .bind(column(&new, |(_, n)| n.credit_limit))
    .bind(column(&new, |(_, n)| n.reserved))
    .bind(column(&new, |(p, _)| p.updated_at))
    .bind(column(&new, |(p, _)| p.version))
    .execute(conn)
    .await?;
    Ok(batch::count(done.rows_affected()))
}

/// Applies the patches to the rows still at the version they were folded from.
async fn update(
    conn: &mut PgConnection,
    patches: &[CustomerPatch<'_>],
) -> Result<usize, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE customers AS c SET
             credit_limit = COALESCE(p.l, c.credit_limit),
             reserved_credit = c.reserved_credit + p.r,
             available_credit = COALESCE(p.l, c.credit_limit) - (c.reserved_credit + p.r),
             updated_at = p.t,
             version = p.v
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::bigint[],
                     $6::bigint[]) AS p(i, l, r, t, v, b)
         WHERE c.customer_id = p.i AND c.version = p.b",
    )
    .bind(column(patches, |p| p.customer_id))
    .bind(column(patches, |p| p.credit_limit))
    .bind(column(patches, |p| p.reserved))
    .bind(column(patches, |p| p.updated_at))
    .bind(column(patches, |p| p.version))
    .bind(column(patches, |p| p.base))
    .execute(conn)
    .await?;
    Ok(batch::count(done.rows_affected()))
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
        parse_event(event_type, data)
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

    /// One `SELECT` of the batch's customers, one insert and one update, whatever its size.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        envelopes: &[Envelope<CustomerEvent>],
    ) -> Result<(), sqlx::Error> {
        batch::apply::<Self>(conn, envelopes).await
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
    use causeway_domain::values::{Currency, CustomerName, Email, Money};

    use super::*;
    use crate::fixtures::{at, eur, order};

    /// Events 1..: a registration with a limit of 1000, then `rest`.
    fn history(rest: Vec<CustomerEvent>) -> Vec<Envelope<CustomerEvent>> {
        let registered = CustomerEvent::CustomerRegistered(CustomerRegistered {
            name: CustomerName::parse("Ada").unwrap(),
            email: Email::parse("ada@example.com").unwrap(),
            credit_limit: eur(1000),
            owner: None,
        });
        std::iter::once(registered)
            .chain(rest)
            .enumerate()
            .map(|(i, event)| Envelope {
                aggregate_id: "c-1".into(),
                sequence: i as i64 + 1,
                event,
                headers: crate::projection::EventHeaders {
                    recorded_at: (i != 2).then(|| at(i as i64)),
                    ..Default::default()
                },
            })
            .collect()
    }

    fn reserve(n: i64) -> CustomerEvent {
        CustomerEvent::CreditReserved(CreditReserved {
            order_id: order(),
            amount: eur(n),
        })
    }

    #[test]
    fn a_batch_that_registers_a_customer_inserts_the_row_its_later_events_made() {
        let limit = CustomerEvent::CreditLimitChanged(CreditLimitChanged { limit: eur(500) });
        let events = history(vec![reserve(40), limit, reserve(5)]);
        let refs: Vec<_> = events.iter().collect();
        let patch = fold("c-1", None, &refs, at(99)).unwrap();
        let new = patch.new.unwrap();
        assert_eq!((new.credit_limit, new.reserved), (500, 45));
        assert_eq!((patch.version, patch.updated_at), (4, at(3)));
    }

    #[test]
    fn a_stored_customer_gets_only_the_later_events_and_now_for_an_event_without_a_time() {
        let events = history(vec![reserve(40), reserve(7)]);
        let refs: Vec<_> = events.iter().collect();
        let patch = fold("c-1", Some(2), &refs, at(99)).unwrap();
        assert_eq!(patch.new, None, "the registration is not applied again");
        assert_eq!(
            (patch.base, patch.reserved, patch.credit_limit),
            (Some(2), 7, None)
        );
        assert_eq!(
            (patch.version, patch.updated_at),
            (3, at(99)),
            "no recorded_at: now()"
        );
        assert_eq!(fold("c-1", Some(3), &refs, at(99)), None);
    }

    #[test]
    fn events_of_a_customer_with_no_row_and_no_registration_in_the_batch_change_nothing() {
        let events = history(vec![reserve(40), reserve(7)]);
        let later: Vec<_> = events.iter().skip(1).collect();
        assert_eq!(fold("c-1", None, &later, at(99)), None);
    }

    #[test]
    fn reservations_move_the_reserved_credit_and_a_new_limit_replaces_the_old() {
        let eur = Currency::parse("EUR").unwrap();
        let money = |n| Money::parse(n, eur.clone()).unwrap();
        let order = order();
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
