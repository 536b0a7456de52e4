//! Money: integer minor units with a currency, never floating point.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Quantity, ValidationError};

/// An ISO 4217-style currency code: exactly three upper-case ASCII letters, e.g. `EUR`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    /// Parses a currency code; lower-case letters are refused rather than guessed at.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let valid = input.len() == 3 && input.bytes().all(|b| b.is_ascii_uppercase());
        if valid {
            Ok(Self(input.to_owned()))
        } else {
            Err(ValidationError::new(
                "currency",
                format!("{input:?} is not three upper-case ASCII letters"),
            ))
        }
    }

    /// The three-letter code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = ValidationError;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Self::parse(&input)
    }
}

impl TryFrom<&str> for Currency {
    type Error = ValidationError;

    fn try_from(input: &str) -> Result<Self, Self::Error> {
        Self::parse(input)
    }
}

impl FromStr for Currency {
    type Err = ValidationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why money arithmetic failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The two amounts are in different currencies.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: Currency,
        /// The currency of the right operand.
        right: Currency,
    },
    /// The result would overflow `i64` minor units or fall below zero.
    #[error("amount out of range")]
    OutOfRange,
}

/// A non-negative amount of money in minor units (cents for EUR) of one currency.
///
/// Serialises as `{"amount_minor": <long>, "currency": "<code>"}`. No amount in this
/// domain is negative: releases and refunds are their own events, not negative amounts.
///
/// Amounts taken from input (credit limits, unit prices) are also bounded by
/// [`Money::MAX_AMOUNT_MINOR`]: build them with [`Money::parse_bounded`]. [`Money::parse`]
/// and deserialisation only refuse negative amounts, so that events stored before the bound
/// existed stay readable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "MoneyRecord")]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

/// The unchecked wire shape of [`Money`], validated on the way in.
#[derive(Deserialize)]
struct MoneyRecord {
    amount_minor: i64,
    currency: Currency,
}

impl TryFrom<MoneyRecord> for Money {
    type Error = ValidationError;

    fn try_from(record: MoneyRecord) -> Result<Self, Self::Error> {
        Self::parse(record.amount_minor, record.currency)
    }
}

impl Money {
    /// The largest amount a shop accepts from input, in minor units: 10^13, i.e. 100 billion
    /// in major units of a currency with 1/100 minor units (100 000 000 000.00 EUR).
    ///
    /// Far above any real credit limit or price, yet small enough that sums stay far from
    /// `i64::MAX` (≈ 9.2 × 10^18): 100 000 such amounts add up without overflow. Order
    /// totals are held to the same bound (`amount_overflow`), so credit reserved, which
    /// never exceeds a limit, is bounded too.
    pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000_000;

    /// An amount of `amount_minor` minor units; negative amounts are refused.
    pub fn parse(amount_minor: i64, currency: Currency) -> Result<Self, ValidationError> {
        if amount_minor < 0 {
            return Err(ValidationError::new(
                "amount_minor",
                format!("must not be negative, got {amount_minor}"),
            ));
        }
        Ok(Self {
            amount_minor,
            currency,
        })
    }

    /// An amount taken from input: as [`Money::parse`], and refused above
    /// [`Money::MAX_AMOUNT_MINOR`].
    pub fn parse_bounded(amount_minor: i64, currency: Currency) -> Result<Self, ValidationError> {
        if amount_minor > Self::MAX_AMOUNT_MINOR {
            return Err(ValidationError::new(
                "amount_minor",
                format!(
                    "must be at most {} minor units, got {amount_minor}",
                    Self::MAX_AMOUNT_MINOR
                ),
            ));
        }
        Self::parse(amount_minor, currency)
    }

    /// Nothing, in `currency`.
    pub fn zero(currency: Currency) -> Self {
        Self {
            amount_minor: 0,
            currency,
        }
    }

    /// The amount in minor units.
    pub fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    /// The currency.
    pub fn currency(&self) -> &Currency {
        &self.currency
    }

    /// `self + other`, failing on a currency mismatch or overflow.
    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.combine(other, i64::checked_add)
    }

    /// `self - other`, failing on a currency mismatch or a result below zero.
    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.combine(other, i64::checked_sub)
    }

    /// `self × quantity`, failing on overflow.
    pub fn checked_mul(&self, quantity: Quantity) -> Result<Money, MoneyError> {
        let amount = self.amount_minor.checked_mul(i64::from(quantity.get()));
        self.with_amount(amount)
    }

    fn combine(&self, other: &Money, op: fn(i64, i64) -> Option<i64>) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch {
                left: self.currency.clone(),
                right: other.currency.clone(),
            });
        }
        self.with_amount(op(self.amount_minor, other.amount_minor))
    }

    fn with_amount(&self, amount_minor: Option<i64>) -> Result<Money, MoneyError> {
        match amount_minor {
            Some(amount_minor) if amount_minor >= 0 => Ok(Money {
                amount_minor,
                currency: self.currency.clone(),
            }),
            _ => Err(MoneyError::OutOfRange),
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (minor units)", self.amount_minor, self.currency)
    }
}
