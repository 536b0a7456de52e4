//! Identifiers: UUIDs that are never nil, serialised as hyphenated strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ValidationError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            /// Parses a UUID in any of its usual text forms; the nil UUID is refused.
            pub fn parse(input: &str) -> Result<Self, ValidationError> {
                let uuid = Uuid::parse_str(input.trim()).map_err(|error| {
                    ValidationError::new($field, format!("not a UUID: {error}"))
                })?;
                Self::try_from(uuid)
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl TryFrom<Uuid> for $name {
            type Error = ValidationError;

            fn try_from(uuid: Uuid) -> Result<Self, Self::Error> {
                if uuid.is_nil() {
                    return Err(ValidationError::new($field, "must not be the nil UUID"));
                }
                Ok(Self(uuid))
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;

            fn try_from(input: String) -> Result<Self, Self::Error> {
                Self::parse(&input)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;

            fn try_from(input: &str) -> Result<Self, Self::Error> {
                Self::parse(input)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;

            fn from_str(input: &str) -> Result<Self, Self::Err> {
                Self::parse(input)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// Identifies a customer (the id of a Customer aggregate).
    CustomerId,
    "customer_id"
);

uuid_id!(
    /// Identifies an order (the id of its Order and of its Payment aggregate).
    OrderId,
    "order_id"
);
