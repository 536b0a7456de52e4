//! The saga sequence the read-model tests project: three orders of one customer, with the
//! steps only saga participants take run through the command store, each order in a trace of
//! its own.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use causeway_domain::{
    Aggregate, Currency, Customer, CustomerCommand, CustomerId, InventoryCommand, InventoryItem,
    Money, Order, OrderCommand, OrderId, Payment, PaymentCommand, Quantity, RejectionReason, Sku,
};
use causeway_event_store::CommandMetadata;
use serde_json::json;
use uuid::Uuid;

use super::Stack;

/// What [`Stack::run_sagas`] did.
#[derive(Debug, Clone)]
pub struct SagaRun {
    /// The customer of all three orders.
    pub customer: String,
    /// The customer's version after the last step on it.
    pub customer_version: u64,
    /// Order 1: confirmed, then cancelled.
    pub o1: String,
    /// Order 1's version after its cancellation.
    pub o1_version: u64,
    /// Order 2: rejected, out of stock.
    pub o2: String,
    /// Order 3: confirmed.
    pub o3: String,
    /// Order 1's trace id.
    pub trace_o1: String,
    /// Order 2's trace id.
    pub trace_o2: String,
}

impl Stack {
    /// Order 1 is confirmed then cancelled (refund, stock and credit released); order 2 is
    /// rejected out of stock; order 3 is confirmed and stays so. The steps the saga
    /// participants would take run through the command store, in the trace of their order.
    pub async fn run_sagas(&self) -> SagaRun {
        let customer = self.register("ada@example.com").await;
        for (sku, units) in [("TEA-1", 10), ("CUP-2", 5), ("MUG-9", 3)] {
            let answer = self
                .post(
                    &format!("/api/inventory/{sku}/restock"),
                    json!({"quantity": units}),
                    None,
                )
                .await;
            assert_eq!(answer.0, 200, "{answer:?}");
        }
        let (trace_o1, trace_o2, trace_o3) = (trace(), trace(), trace());
        let o1 = self
            .place_lines(
                &customer,
                json!([
                    {"sku": "tea-1", "quantity": 2, "unit_price_cents": 450},
                    {"sku": "cup-2", "quantity": 1, "unit_price_cents": 1200},
                ]),
                &trace_o1,
            )
            .await;
        self.confirm(
            &o1,
            &customer,
            &[("TEA-1", 2), ("CUP-2", 1)],
            2100,
            &trace_o1,
        )
        .await;
        let cancel = self
            .post(
                &format!("/api/orders/{o1}/cancel"),
                json!({"reason": "changed my mind"}),
                Some(&trace_o1),
            )
            .await;
        assert_eq!(cancel.0, 200, "{cancel:?}");
        let o1_version = cancel.1["version"].as_u64().unwrap();
        self.step::<Payment>(&o1, PaymentCommand::Refund, &trace_o1)
            .await;
        for sku in ["TEA-1", "CUP-2"] {
            self.step::<InventoryItem>(
                sku,
                InventoryCommand::Release {
                    order_id: order_id(&o1),
                },
                &trace_o1,
            )
            .await;
        }
        self.step::<Customer>(
            &customer,
            CustomerCommand::ReleaseCredit {
                order_id: order_id(&o1),
            },
            &trace_o1,
        )
        .await;

        let o2 = self
            .place_lines(
                &customer,
                json!([{"sku": "mug-9", "quantity": 50, "unit_price_cents": 100}]),
                &trace_o2,
            )
            .await;
        let reserve = InventoryCommand::Reserve {
            order_id: order_id(&o2),
            quantity: Quantity::parse(50).unwrap(),
        };
        self.step::<InventoryItem>("MUG-9", reserve, &trace_o2)
            .await;
        let reject = OrderCommand::Reject {
            reason: RejectionReason::OutOfStock {
                sku: Sku::parse("MUG-9").unwrap(),
            },
        };
        self.step::<Order>(&o2, reject, &trace_o2).await;

        let limit = self
            .post(
                &format!("/api/customers/{customer}/credit-limit"),
                json!({"credit_limit_cents": 150_000}),
                None,
            )
            .await;
        assert_eq!(limit.0, 200, "{limit:?}");
        let o3 = self
            .place_lines(
                &customer,
                json!([{"sku": "tea-1", "quantity": 1, "unit_price_cents": 450}]),
                &trace_o3,
            )
            .await;
        let customer_version = self
            .confirm(&o3, &customer, &[("TEA-1", 1)], 450, &trace_o3)
            .await;
        SagaRun {
            customer,
            customer_version,
            o1,
            o1_version,
            o2,
            o3,
            trace_o1,
            trace_o2,
        }
    }

    /// Reserves every line and the credit, authorizes and confirms; answers the customer's
    /// version after its credit reservation.
    pub async fn confirm(
        &self,
        order: &str,
        customer: &str,
        lines: &[(&str, u32)],
        total: i64,
        trace: &str,
    ) -> u64 {
        for (sku, units) in lines {
            let reserve = InventoryCommand::Reserve {
                order_id: order_id(order),
                quantity: Quantity::parse(*units).unwrap(),
            };
            self.step::<InventoryItem>(sku, reserve, trace).await;
            let mark = OrderCommand::MarkLineReserved {
                sku: Sku::parse(sku).unwrap(),
            };
            self.step::<Order>(order, mark, trace).await;
        }
        let reserve = CustomerCommand::ReserveCredit {
            order_id: order_id(order),
            amount: eur(total),
        };
        let customer_version = self.step::<Customer>(customer, reserve, trace).await;
        let customer_id = CustomerId::parse(customer).unwrap();
        self.step::<Payment>(
            order,
            PaymentCommand::Authorize {
                customer_id,
                amount: eur(total),
            },
            trace,
        )
        .await;
        self.step::<Order>(order, OrderCommand::Confirm, trace)
            .await;
        customer_version
    }

    /// Runs one command as a saga participant would, in `trace`; answers the new version.
    pub async fn step<A: Aggregate>(&self, id: &str, command: A::Command, trace: &str) -> u64 {
        let mut metadata = CommandMetadata::new(Uuid::new_v4(), "read-model-tests");
        metadata.traceparent = Some(traceparent(trace));
        match self.store.execute::<A>(id, command, &metadata).await {
            Ok(committed) => {
                assert!(
                    !committed.events.is_empty(),
                    "{id}: the step stored an event"
                );
                committed.version
            }
            Err(error) => panic!("{id}: {error:?}"),
        }
    }
}

/// A new trace id (32 hex digits).
pub fn trace() -> String {
    Uuid::new_v4().simple().to_string()
}

/// A W3C `traceparent` header in `trace`, with a new parent span id.
pub fn traceparent(trace: &str) -> String {
    format!(
        "00-{trace}-{}-01",
        &Uuid::new_v4().simple().to_string()[..16]
    )
}

fn order_id(id: &str) -> OrderId {
    OrderId::parse(id).unwrap()
}

fn eur(minor: i64) -> Money {
    Money::parse(minor, Currency::parse("EUR").unwrap()).unwrap()
}
