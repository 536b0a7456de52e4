//! Small builders of valid values, so scenarios read as the rules they check.

use causeway_domain::{Currency, CustomerId, Money, OrderId, Quantity, Sku};
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub(crate) fn eur(amount_minor: i64) -> Money {
    Money::parse(amount_minor, Currency::parse("EUR").unwrap()).unwrap()
}

pub(crate) fn usd(amount_minor: i64) -> Money {
    Money::parse(amount_minor, Currency::parse("USD").unwrap()).unwrap()
}

pub(crate) fn order_id(n: u128) -> OrderId {
    OrderId::try_from(Uuid::from_u128(n)).unwrap()
}

pub(crate) fn customer_id(n: u128) -> CustomerId {
    CustomerId::try_from(Uuid::from_u128(n)).unwrap()
}

pub(crate) fn sku(text: &str) -> Sku {
    Sku::parse(text).unwrap()
}

pub(crate) fn qty(units: u32) -> Quantity {
    Quantity::parse(units).unwrap()
}

pub(crate) fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}
