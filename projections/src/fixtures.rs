//! Values the unit tests share: one order, one customer, amounts in euros and fixed times.

#![allow(clippy::unwrap_used)]

use causeway_domain::values::{Currency, CustomerId, Money, OrderId};
use chrono::{DateTime, Utc};

/// The id of the order the tests' events belong to.
pub(crate) const ORDER: &str = "0b5f6bd6-6c1f-4a4e-9d3e-2f6b1f3c9a10";

/// [`ORDER`], parsed.
pub(crate) fn order() -> OrderId {
    OrderId::parse(ORDER).unwrap()
}

/// The customer of the tests' orders.
pub(crate) fn customer() -> CustomerId {
    CustomerId::parse("7b1e1c52-1f0e-4a55-a0a4-3b1f9c1d2e10").unwrap()
}

/// `n` euro cents.
pub(crate) fn eur(n: i64) -> Money {
    Money::parse(n, Currency::parse("EUR").unwrap()).unwrap()
}

/// `second` seconds after a fixed instant.
pub(crate) fn at(second: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_796_000_000 + second, 0).unwrap()
}
