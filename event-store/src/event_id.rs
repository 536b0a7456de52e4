//! [`event_id`]: the stable id of a stored event, the same wherever it is derived (the
//! relay's `event_id` header, a store rebuild's envelopes).

use uuid::Uuid;

/// A stable id per event: UUID v5 (OID namespace) of `aggregate_type/aggregate_id/sequence`.
/// Consumers can use it as a causation id and deduplicate by it.
pub fn event_id(aggregate_type: &str, aggregate_id: &str, sequence: i64) -> Uuid {
    let name = format!("{aggregate_type}/{aggregate_id}/{sequence}");
    Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_the_uuid_v5_of_type_id_and_sequence() {
        let id = event_id("Order", "o-1", 3);
        assert_eq!(id, Uuid::new_v5(&Uuid::NAMESPACE_OID, b"Order/o-1/3"));
        assert_ne!(id, event_id("Order", "o-1", 4));
        assert_ne!(id, event_id("Payment", "o-1", 3));
    }
}
