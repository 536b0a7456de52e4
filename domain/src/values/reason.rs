//! Free-text reasons given by people.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ValidationError, reject_control_characters};

/// Why an order is cancelled, for humans: 1 to 500 characters once surrounding whitespace is
/// trimmed, with no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CancelReason(String);

impl CancelReason {
    /// The longest reason accepted, in characters.
    pub const MAX_CHARS: usize = 500;

    /// Trims and checks a reason.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let trimmed = input.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "reason",
                format!("must be 1 to {} characters long", Self::MAX_CHARS),
            ));
        }
        reject_control_characters("reason", trimmed)?;
        Ok(Self(trimmed.to_owned()))
    }

    /// The reason.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CancelReason {
    type Error = ValidationError;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Self::parse(&input)
    }
}

impl From<CancelReason> for String {
    fn from(reason: CancelReason) -> Self {
        reason.0
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
