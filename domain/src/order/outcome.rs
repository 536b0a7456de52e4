//! How a place-order saga ends: the outcome an order's final event records, named once for
//! metrics, span attributes and reports.

use super::OrderStatus;
use super::event::OrderEvent;

/// How a place-order saga ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SagaOutcome {
    /// The order was confirmed (`OrderConfirmed`).
    Confirmed,
    /// The order was rejected (`OrderRejected`).
    Rejected,
    /// The order was cancelled (`OrderCancelled`).
    Cancelled,
    /// The order expired (`OrderExpired`).
    Expired,
}

impl SagaOutcome {
    /// Every outcome.
    pub const ALL: [SagaOutcome; 4] = [
        Self::Confirmed,
        Self::Rejected,
        Self::Cancelled,
        Self::Expired,
    ];

    /// The outcome's name, e.g. `"confirmed"`: the name of the order status it leaves.
    pub fn as_str(self) -> &'static str {
        self.status().as_str()
    }

    /// The order status the outcome leaves the order in.
    pub fn status(self) -> OrderStatus {
        match self {
            Self::Confirmed => OrderStatus::Confirmed,
            Self::Rejected => OrderStatus::Rejected,
            Self::Cancelled => OrderStatus::Cancelled,
            Self::Expired => OrderStatus::Expired,
        }
    }

    /// The outcome `event` ends its saga with; `None` for an event that does not end one.
    pub fn of(event: &OrderEvent) -> Option<Self> {
        Self::of_event_type(event.event_type())
    }

    /// The outcome an order event of type `event_type` ends its saga with; `None` for any
    /// other event type.
    pub fn of_event_type(event_type: &str) -> Option<Self> {
        match event_type {
            "OrderConfirmed" => Some(Self::Confirmed),
            "OrderRejected" => Some(Self::Rejected),
            "OrderCancelled" => Some(Self::Cancelled),
            "OrderExpired" => Some(Self::Expired),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_is_named_after_the_final_status_it_leaves() {
        let names: Vec<&str> = SagaOutcome::ALL.map(SagaOutcome::as_str).to_vec();
        assert_eq!(names, ["confirmed", "rejected", "cancelled", "expired"]);
        for outcome in SagaOutcome::ALL {
            assert_eq!(OrderStatus::parse(outcome.as_str()), Some(outcome.status()));
        }
    }

    #[test]
    fn only_the_closing_order_events_have_an_outcome() {
        let with_outcome: Vec<&str> = OrderEvent::EVENT_TYPES
            .into_iter()
            .filter(|t| SagaOutcome::of_event_type(t).is_some())
            .collect();
        assert_eq!(
            with_outcome,
            [
                "OrderConfirmed",
                "OrderRejected",
                "OrderCancelled",
                "OrderExpired"
            ]
        );
    }

    #[test]
    fn every_status_has_one_name() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::AwaitingPayment.as_str(), "awaiting_payment");
    }
}
