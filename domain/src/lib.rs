//! Causeway's shop domain, pure: aggregates decide on commands and apply events, with no IO,
//! no clock and no randomness inside (callers pass time and ids in as values).
//!
//! This crate depends on no IO crate (no sqlx, tokio, rdkafka, axum); CI checks that with
//! `cargo tree`.
//!
//! # Layout
//!
//! - [`values`]: validated newtypes ([`CustomerId`], [`OrderId`], [`Sku`], [`Quantity`],
//!   [`Currency`], [`Money`], [`CustomerName`], [`Email`], [`CancelReason`]), built only
//!   through `parse` or `TryFrom`, failing with a [`ValidationError`] that names the field.
//!   Free text refuses control characters; amounts taken from input are bounded by
//!   [`Money::MAX_AMOUNT_MINOR`] ([`Money::parse_bounded`]).
//! - [`aggregate`]: the [`Aggregate`] trait every aggregate implements (`decide` holds
//!   every rule, `apply` none), with [`DomainEvent`] and [`DomainRejection`].
//! - One module per aggregate, each with its state, command enum, event enum (one struct
//!   per event type), rejection enum and `AGGREGATE_TYPE`:
//!   [`customer`] (credit), [`inventory`] (stock per SKU), [`order`] (the state machine),
//!   [`payment`] (one per order).
//! - The event vocabulary every consumer shares: [`stream`] ([`EventStream`]: each
//!   aggregate's base topic and schema folder) and [`shop`] ([`ShopEvent`], an event of any
//!   aggregate, with its one parser). Order statuses ([`OrderStatus::as_str`]) and saga
//!   outcomes ([`SagaOutcome`]) are named in [`order`].
//! - [`testing`]: given/when/then for aggregate tests.
//!
//! # Place-order saga
//!
//! `OrderPlaced` → at the same time, inventory reserves each line (`StockReserved` /
//! `StockReservationRejected`) and the customer reserves credit for the total
//! (`CreditReserved` / `CreditReservationDeclined`) → the order marks lines reserved (at the
//! last one `OrderAwaitingPayment`) while the payment is authorized or declined → the order
//! is confirmed by whichever comes last (a payment authorized first is recorded as
//! `OrderPaymentAuthorized`), or rejected. Closing events (`OrderRejected`, `OrderCancelled`,
//! `OrderExpired`) carry what compensation needs. Each participant's command is idempotent:
//! re-issuing one whose effect already happened decides no event, so redelivery is safe.
//!
//! # Event payloads
//!
//! Each event enum is stored as JSON `{"type": "<event type>", "data": {…}}`; the `data`
//! struct is named after the event type and maps onto one Avro record. Payloads hold
//! strings, integers, booleans, arrays of records and nullable fields only: ids and SKUs are
//! strings, money is `{amount_minor, currency}`, timestamps are RFC 3339 strings. The
//! aggregate's own id is not repeated in its payloads: it travels in the envelope (store
//! row, Kafka key).

pub mod aggregate;
pub mod customer;
pub mod inventory;
pub mod order;
pub mod payment;
pub mod shop;
pub mod stream;
pub mod testing;
pub mod values;

pub use aggregate::{Aggregate, DomainEvent, DomainRejection};
pub use customer::{Customer, CustomerCommand, CustomerEvent, CustomerRejection};
pub use inventory::{InventoryCommand, InventoryEvent, InventoryItem, InventoryRejection};
pub use order::{
    Order, OrderCommand, OrderEvent, OrderLine, OrderRejection, OrderStatus, RejectionReason,
    SagaOutcome,
};
pub use payment::{Payment, PaymentCommand, PaymentEvent, PaymentRejection, PaymentStatus};
pub use shop::ShopEvent;
pub use stream::{EventStream, UnknownAggregateType};
pub use values::{
    CancelReason, Currency, CustomerId, CustomerName, Email, Money, MoneyError, OrderId, Quantity,
    Sku, ValidationError,
};
