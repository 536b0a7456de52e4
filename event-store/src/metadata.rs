//! [`CommandMetadata`]: what every stored event carries besides its payload.

use std::collections::HashMap;

use uuid::Uuid;

/// Key of the correlation id in an event's `metadata` object.
pub const CORRELATION_ID: &str = "correlation_id";
/// Key of the causation id (the triggering event or request), when there is one.
pub const CAUSATION_ID: &str = "causation_id";
/// Key of the caller identity.
pub const CALLER: &str = "caller";
/// Key of the idempotency key, when the caller sent one.
pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
/// Key of the W3C `traceparent` of the command's span, when there is one.
pub const TRACEPARENT: &str = "traceparent";

/// Metadata of one command, stored in each of its events' `metadata` jsonb as a flat object
/// of strings under the snake_case keys above. Absent optional values are left out of the
/// object rather than stored as `null` (cqrs-es carries metadata as `HashMap<String, String>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMetadata {
    /// Shared by every command and event of one flow (a saga, an HTTP request).
    pub correlation_id: Uuid,
    /// The event or request that caused this command.
    pub causation_id: Option<Uuid>,
    /// Who issued the command (user, service or saga participant).
    pub caller: String,
    /// The caller's idempotency key, if it sent one.
    pub idempotency_key: Option<String>,
    /// The W3C traceparent to continue the trace from.
    pub traceparent: Option<String>,
}

impl CommandMetadata {
    /// Metadata with a correlation id and a caller, and nothing optional.
    pub fn new(correlation_id: Uuid, caller: impl Into<String>) -> Self {
        Self {
            correlation_id,
            causation_id: None,
            caller: caller.into(),
            idempotency_key: None,
            traceparent: None,
        }
    }

    /// The flat string map stored with each event.
    pub fn to_map(&self) -> HashMap<String, String> {
        let optional = [
            (CAUSATION_ID, self.causation_id.map(|id| id.to_string())),
            (IDEMPOTENCY_KEY, self.idempotency_key.clone()),
            (TRACEPARENT, self.traceparent.clone()),
        ];
        let required = [
            (CORRELATION_ID, Some(self.correlation_id.to_string())),
            (CALLER, Some(self.caller.clone())),
        ];
        required
            .into_iter()
            .chain(optional)
            .filter_map(|(key, value)| Some((key.to_owned(), value?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_maps_to_its_snake_case_keys_and_leaves_absent_values_out() {
        let correlation = Uuid::from_u128(7);
        let mut metadata = CommandMetadata::new(correlation, "tests");
        metadata.traceparent =
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
        let map = metadata.to_map();
        assert_eq!(map.get(CORRELATION_ID), Some(&correlation.to_string()));
        assert_eq!(map.get(CALLER).map(String::as_str), Some("tests"));
        assert!(map.contains_key(TRACEPARENT));
        assert!(!map.contains_key(CAUSATION_ID));
        assert!(!map.contains_key(IDEMPOTENCY_KEY));
        assert_eq!(map.len(), 3);
    }
}
