//! Stock values: SKUs and quantities.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// A stock-keeping unit: 1 to 64 ASCII letters, digits, `-` or `_`, normalised to upper
/// case (so `ab-1` and `AB-1` are the same SKU). Surrounding whitespace is ignored.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    /// The longest SKU accepted.
    pub const MAX_LEN: usize = 64;

    /// Parses and normalises a SKU.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.len() > Self::MAX_LEN {
            return Err(ValidationError::new(
                "sku",
                format!("must be 1 to {} characters long", Self::MAX_LEN),
            ));
        }
        if let Some(bad) = trimmed.chars().find(|c| !is_sku_char(*c)) {
            return Err(ValidationError::new(
                "sku",
                format!("{bad:?} is not allowed: use ASCII letters, digits, '-' or '_'"),
            ));
        }
        Ok(Self(trimmed.to_ascii_uppercase()))
    }

    /// The normalised SKU text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_sku_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

impl TryFrom<String> for Sku {
    type Error = ValidationError;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Self::parse(&input)
    }
}

impl TryFrom<&str> for Sku {
    type Error = ValidationError;

    fn try_from(input: &str) -> Result<Self, Self::Error> {
        Self::parse(input)
    }
}

impl FromStr for Sku {
    type Err = ValidationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl From<Sku> for String {
    fn from(sku: Sku) -> Self {
        sku.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A number of units in one order line or stock movement: 1 to 1 000 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    /// The smallest quantity accepted.
    pub const MIN: u32 = 1;
    /// The largest quantity accepted.
    pub const MAX: u32 = 1_000_000;

    /// Checks that `units` lies within [`Quantity::MIN`]..=[`Quantity::MAX`].
    pub fn parse(units: u32) -> Result<Self, ValidationError> {
        if (Self::MIN..=Self::MAX).contains(&units) {
            Ok(Self(units))
        } else {
            Err(out_of_range(units))
        }
    }

    /// The number of units.
    pub fn get(self) -> u32 {
        self.0
    }
}

fn out_of_range(units: impl fmt::Display) -> ValidationError {
    ValidationError::new(
        "quantity",
        format!(
            "must be between {} and {}, got {units}",
            Quantity::MIN,
            Quantity::MAX
        ),
    )
}

impl TryFrom<u32> for Quantity {
    type Error = ValidationError;

    fn try_from(units: u32) -> Result<Self, Self::Error> {
        Self::parse(units)
    }
}

impl TryFrom<i64> for Quantity {
    type Error = ValidationError;

    fn try_from(units: i64) -> Result<Self, Self::Error> {
        u32::try_from(units)
            .map_err(|_| out_of_range(units))
            .and_then(Self::parse)
    }
}

impl From<Quantity> for u32 {
    fn from(quantity: Quantity) -> Self {
        quantity.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
