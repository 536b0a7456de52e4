//! Set-based batches of the read models, against real Postgres: applying a batch at once
//! writes exactly what applying its events one by one writes, checked by a property test.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use causeway_domain::{Currency, CustomerId, Money, OrderId, Quantity, RejectionReason, Sku};
use causeway_projections::{
    CustomersProjection, Envelope, OrdersProjection, PaymentsProjection, Projection,
};
use causeway_tests::TestDatabase;
use chrono::{DateTime, Utc};
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use sqlx::PgPool;
use uuid::Uuid;

/// What the workers and rebuilds do (one set-based `apply_batch` per batch) writes exactly
/// what applying each event of each batch one by one (`apply`) writes, for every read model
/// that holds an aggregate's state: deliveries overlap what was already applied, skip ahead,
/// hold several events of one aggregate, re-deliver within themselves. Real Postgres, one
/// database per way; proptest shrinks a failing case to a small history.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn applying_a_batch_set_based_writes_exactly_what_applying_its_events_one_by_one_writes() {
    let one_by_one = TestDatabase::migrated().await;
    let batched = TestDatabase::migrated().await;
    let handle = tokio::runtime::Handle::current();
    let config = ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&batches::case(), |case| {
            handle
                .block_on(batches::check(&one_by_one.pool, &batched.pool, &case))
                .map_err(TestCaseError::fail)
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// Histories and deliveries for the batch property test.
mod batches {
    use causeway_domain::customer::{
        CreditDeclineReason, CreditLimitChanged, CreditReleased, CreditReservationDeclined,
        CreditReserved, CustomerRegistered,
    };
    use causeway_domain::inventory::{
        StockReleased, StockReservationRejected, StockReserved, StockRestocked,
    };
    use causeway_domain::order::{
        OrderAwaitingPayment, OrderCancelled, OrderConfirmed, OrderExpired, OrderLineReserved,
        OrderPlaced, OrderRejected,
    };
    use causeway_domain::payment::{
        Authorization, PaymentAuthorized, PaymentDeclined, PaymentRefunded, PaymentVoided,
    };
    use causeway_domain::{
        CustomerEvent, CustomerName, Email, InventoryEvent, OrderEvent, OrderLine, PaymentEvent,
    };
    use causeway_projections::{EventHeaders, InventoryProjection};
    use proptest::prelude::*;

    use super::*;

    /// One event of the history: (aggregate, kind, amount); and the deliveries, as
    /// (start, length) slices of the history, each one batch.
    #[derive(Debug, Clone)]
    pub(super) struct Case {
        events: Vec<(usize, u8, u32)>,
        deliveries: Vec<(usize, usize)>,
    }

    pub(super) fn case() -> impl Strategy<Value = Case> {
        let events = prop::collection::vec((0..4usize, 0..8u8, 1..50u32), 1..24);
        events.prop_flat_map(|events| {
            let n = events.len();
            let deliveries = prop::collection::vec((0..n, 1..=n), 1..7);
            (Just(events), deliveries).prop_map(|(events, deliveries)| Case { events, deliveries })
        })
    }

    /// Both ways, for each state projection; the first difference found.
    pub(super) async fn check(a: &PgPool, b: &PgPool, case: &Case) -> Result<(), String> {
        let stream = history(case, |_, kind, n, first| inventory(kind, n, first));
        compare(
            &InventoryProjection,
            a,
            b,
            &stream,
            case,
            &["inventory_view"],
        )
        .await?;
        let stream = history(case, customer);
        compare(&CustomersProjection, a, b, &stream, case, &["customers"]).await?;
        let stream = history(case, order);
        let tables = ["orders", "order_lines"];
        compare(&OrdersProjection, a, b, &stream, case, &tables).await?;
        let stream = history(case, |_, kind, n, _| payment(kind, n));
        compare(&PaymentsProjection, a, b, &stream, case, &["payments"]).await
    }

    /// The case's events as envelopes: sequences per aggregate, a distinct event time each.
    fn history<E>(case: &Case, event: impl Fn(usize, u8, u32, bool) -> E) -> Vec<Envelope<E>> {
        let mut sequences = [0i64; 4];
        let start = DateTime::parse_from_rfc3339("2026-11-30T00:00:00Z").unwrap();
        case.events
            .iter()
            .enumerate()
            .map(|(i, &(aggregate, kind, n))| {
                sequences[aggregate] += 1;
                let at = start + chrono::Duration::seconds(i as i64);
                Envelope {
                    aggregate_id: format!("agg-{aggregate}"),
                    sequence: sequences[aggregate],
                    event: event(aggregate, kind, n, sequences[aggregate] == 1),
                    headers: EventHeaders {
                        recorded_at: Some(at.with_timezone(&Utc)),
                        ..EventHeaders::default()
                    },
                }
            })
            .collect()
    }

    async fn compare<P: Projection>(
        projection: &P,
        one_by_one: &PgPool,
        batched: &PgPool,
        stream: &[Envelope<P::Event>],
        case: &Case,
        tables: &[&str],
    ) -> Result<(), String> {
        for pool in [one_by_one, batched] {
            sqlx::query(&format!("TRUNCATE {}", tables.join(", ")))
                .execute(pool)
                .await
                .unwrap();
        }
        for &(start, len) in &case.deliveries {
            let slice = &stream[start..(start + len).min(stream.len())];
            let mut tx = one_by_one.begin().await.unwrap();
            for envelope in slice {
                projection.apply(&mut tx, envelope).await.unwrap();
            }
            tx.commit().await.unwrap();
            let mut tx = batched.begin().await.unwrap();
            projection.apply_batch(&mut tx, slice).await.unwrap();
            tx.commit().await.unwrap();
        }
        for table in tables {
            let (expected, actual) = (rows(one_by_one, table).await, rows(batched, table).await);
            if expected != actual {
                return Err(format!(
                    "{table} differs\none by one: {expected:#?}\nbatched:    {actual:#?}"
                ));
            }
        }
        Ok(())
    }

    /// Every row of `table` as JSON text, without `inventory_view.updated_at` (`now()`).
    async fn rows(pool: &PgPool, table: &str) -> Vec<String> {
        sqlx::query_scalar(&format!(
            "SELECT (to_jsonb(t) - CASE WHEN $1 = 'inventory_view' THEN 'updated_at' ELSE '' END)::text
             FROM {table} t ORDER BY 1"
        ))
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap()
    }

    fn eur(minor: u32) -> Money {
        Money::parse(i64::from(minor), Currency::parse("EUR").unwrap()).unwrap()
    }

    fn customer_id(n: u32) -> CustomerId {
        CustomerId::parse(&Uuid::from_u128(u128::from(n % 3) + 1).to_string()).unwrap()
    }

    fn order_ref(n: u32) -> OrderId {
        OrderId::parse(&Uuid::from_u128(u128::from(n) + 100).to_string()).unwrap()
    }

    fn sku(n: u32) -> Sku {
        Sku::parse(&format!("SKU-{}", n % 3)).unwrap()
    }

    fn quantity(n: u32) -> Quantity {
        Quantity::parse(n).unwrap()
    }

    fn inventory(kind: u8, n: u32, _first: bool) -> InventoryEvent {
        match kind % 4 {
            0 => InventoryEvent::StockRestocked(StockRestocked {
                quantity: quantity(n),
            }),
            1 => InventoryEvent::StockReserved(StockReserved {
                order_id: order_ref(n),
                quantity: quantity(n),
            }),
            2 => InventoryEvent::StockReservationRejected(StockReservationRejected {
                order_id: order_ref(n),
                requested: quantity(n),
                available: n / 2,
            }),
            _ => InventoryEvent::StockReleased(StockReleased {
                order_id: order_ref(n),
                quantity: quantity(n),
            }),
        }
    }

    /// A registration first; later, mostly credit moves, sometimes a second registration.
    fn customer(aggregate: usize, kind: u8, n: u32, first: bool) -> CustomerEvent {
        match if first { 0 } else { kind % 5 } {
            0 => CustomerEvent::CustomerRegistered(CustomerRegistered {
                name: CustomerName::parse(&format!("Customer {aggregate} {n}")).unwrap(),
                email: Email::parse(&format!("c{aggregate}.{n}@example.com")).unwrap(),
                credit_limit: eur(n * 100),
                owner: None,
            }),
            1 => CustomerEvent::CreditLimitChanged(CreditLimitChanged { limit: eur(n * 10) }),
            2 => CustomerEvent::CreditReserved(CreditReserved {
                order_id: order_ref(n),
                amount: eur(n),
            }),
            3 => CustomerEvent::CreditReleased(CreditReleased {
                order_id: order_ref(n),
                amount: eur(n),
            }),
            _ => CustomerEvent::CreditReservationDeclined(CreditReservationDeclined {
                order_id: order_ref(n),
                amount: eur(n),
                available: eur(1),
                reason: CreditDeclineReason::InsufficientCredit,
            }),
        }
    }

    /// A placement first; later every other order event, sometimes a second placement.
    fn order(_aggregate: usize, kind: u8, n: u32, first: bool) -> OrderEvent {
        let customer_id = customer_id(n);
        let skus = vec![sku(n)];
        match if first { 0 } else { kind % 8 } {
            0 => {
                let lines: Vec<OrderLine> = (0..1 + n % 3)
                    .map(|i| OrderLine {
                        sku: sku(i),
                        quantity: quantity(1 + i),
                        unit_price: eur(n + i),
                    })
                    .collect();
                let at = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap();
                OrderEvent::OrderPlaced(OrderPlaced {
                    customer_id,
                    currency: Currency::parse("EUR").unwrap(),
                    total: eur(n * 3),
                    placed_at: at.with_timezone(&Utc) + chrono::Duration::seconds(n.into()),
                    deadline: at.with_timezone(&Utc) + chrono::Duration::hours(1),
                    lines,
                })
            }
            1 | 2 => OrderEvent::OrderLineReserved(OrderLineReserved { sku: sku(n) }),
            3 => OrderEvent::OrderAwaitingPayment(OrderAwaitingPayment {
                customer_id,
                amount: eur(n),
            }),
            4 => OrderEvent::OrderConfirmed(OrderConfirmed {
                customer_id,
                total: eur(n),
            }),
            5 => OrderEvent::OrderRejected(OrderRejected {
                customer_id,
                reason: if n.is_multiple_of(2) {
                    RejectionReason::OutOfStock { sku: sku(n) }
                } else {
                    RejectionReason::PaymentDeclined {
                        reason: format!("declined {n}"),
                    }
                },
                skus,
            }),
            6 => OrderEvent::OrderCancelled(OrderCancelled {
                customer_id,
                reason: format!("changed my mind {n}"),
                was_confirmed: n.is_multiple_of(2),
                skus,
            }),
            _ => {
                let at = DateTime::parse_from_rfc3339("2026-11-29T11:00:00Z").unwrap();
                OrderEvent::OrderExpired(OrderExpired {
                    customer_id,
                    deadline: at.with_timezone(&Utc),
                    expired_at: at.with_timezone(&Utc) + chrono::Duration::seconds(n.into()),
                    skus,
                })
            }
        }
    }

    fn payment(kind: u8, n: u32) -> PaymentEvent {
        match kind % 5 {
            0 => PaymentEvent::PaymentAuthorized(PaymentAuthorized {
                customer_id: customer_id(n),
                amount: eur(n),
            }),
            1 => PaymentEvent::PaymentDeclined(PaymentDeclined {
                customer_id: customer_id(n),
                amount: eur(n),
                reason: format!("insufficient credit {n}"),
            }),
            2 => PaymentEvent::PaymentVoided(PaymentVoided {
                voided_authorization: None,
            }),
            3 => PaymentEvent::PaymentVoided(PaymentVoided {
                voided_authorization: Some(Authorization {
                    customer_id: customer_id(n),
                    amount: eur(n),
                }),
            }),
            _ => PaymentEvent::PaymentRefunded(PaymentRefunded {
                customer_id: customer_id(n),
                amount: eur(n),
            }),
        }
    }
}
