//! A customer's name and e-mail address.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ValidationError, reject_control_characters};

/// A customer's name: 1 to 200 characters once surrounding whitespace is trimmed, with no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerName(String);

impl CustomerName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Trims and checks a name.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let trimmed = input.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "name",
                format!("must be 1 to {} characters long", Self::MAX_CHARS),
            ));
        }
        reject_control_characters("name", trimmed)?;
        Ok(Self(trimmed.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CustomerName {
    type Error = ValidationError;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Self::parse(&input)
    }
}

impl From<CustomerName> for String {
    fn from(name: CustomerName) -> Self {
        name.0
    }
}

impl fmt::Display for CustomerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address, sanity-checked only: at most 254 characters, exactly one `@` with
/// something on both sides, no whitespace and no control characters. Whether it receives
/// mail is not our business.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// The longest address accepted, in characters.
    pub const MAX_CHARS: usize = 254;

    /// Trims and checks an address.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let trimmed = input.trim();
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(invalid_email(format!(
                "must be at most {} characters long",
                Self::MAX_CHARS
            )));
        }
        reject_control_characters("email", trimmed)?;
        if trimmed.chars().any(char::is_whitespace) {
            return Err(invalid_email("must not contain whitespace"));
        }
        match trimmed.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(Self(trimmed.to_owned()))
            }
            _ => Err(invalid_email(
                "must be local-part@domain with exactly one '@'",
            )),
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn invalid_email(message: impl Into<String>) -> ValidationError {
    ValidationError::new("email", message)
}

impl TryFrom<String> for Email {
    type Error = ValidationError;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Self::parse(&input)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
