//! Test support: given/when/then for any [`Aggregate`], and a JSON round-trip check.
//!
//! ```
//! use causeway_domain::testing::given;
//! use causeway_domain::{InventoryCommand, InventoryEvent, InventoryItem, Quantity};
//! use causeway_domain::inventory::StockRestocked;
//!
//! let quantity = Quantity::parse(5).unwrap();
//! given::<InventoryItem>(&[])
//!     .when(InventoryCommand::Restock { quantity })
//!     .then(&[InventoryEvent::StockRestocked(StockRestocked { quantity })]);
//! ```
//!
//! Part of the public API (not behind `cfg(test)`) so that the crates that adapt these
//! aggregates and drive the sagas can test with it too. It panics on a failed expectation,
//! like `assert!`, and has no other effect.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::aggregate::{Aggregate, DomainRejection};

/// Starts a scenario from the state that `history` leads to.
pub fn given<A: Aggregate>(history: &[A::Event]) -> Given<A> {
    Given {
        state: A::replay(history),
    }
}

/// An aggregate with a history, waiting for a command.
#[derive(Debug)]
pub struct Given<A> {
    state: A,
}

impl<A: Aggregate> Given<A> {
    /// Decides `command` against the state given.
    pub fn when(self, command: A::Command) -> When<A> {
        let outcome = self.state.decide(&command);
        When {
            state: self.state,
            command,
            outcome,
        }
    }
}

/// The outcome of a command, waiting to be checked.
#[derive(Debug)]
pub struct When<A: Aggregate> {
    state: A,
    command: A::Command,
    outcome: Result<Vec<A::Event>, A::Rejection>,
}

impl<A: Aggregate> When<A> {
    /// Asserts the command was accepted with exactly `expected`, and returns the state
    /// after applying them.
    #[track_caller]
    pub fn then(self, expected: &[A::Event]) -> A {
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "unexpected events for {:?}", self.command);
                let mut state = self.state;
                events.iter().for_each(|event| state.apply(event));
                state
            }
            Err(rejection) => panic!(
                "expected events for {:?}, but it was rejected: {} ({rejection})",
                self.command,
                rejection.code()
            ),
        }
    }

    /// Asserts the command was accepted with no event: its effect had already happened.
    #[track_caller]
    pub fn then_nothing(self) {
        self.then(&[]);
    }

    /// Asserts the command was rejected with `code`, and that the rejection explains
    /// itself to humans.
    #[track_caller]
    pub fn then_rejected(self, code: &str) {
        match self.outcome {
            Err(rejection) => {
                assert_eq!(rejection.code(), code, "unexpected rejection {rejection:?}");
                assert!(
                    !rejection.to_string().is_empty(),
                    "{rejection:?} has no message"
                );
            }
            Ok(events) => panic!(
                "expected rejection {code} for {:?}, but got {events:?}",
                self.command
            ),
        }
    }
}

/// Asserts `value` survives a JSON round trip unchanged, and returns its JSON.
#[track_caller]
pub fn assert_json_round_trip<T>(value: &T) -> serde_json::Value
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = match serde_json::to_value(value) {
        Ok(json) => json,
        Err(error) => panic!("{value:?} does not serialise: {error}"),
    };
    match serde_json::from_value::<T>(json.clone()) {
        Ok(back) => assert_eq!(&back, value, "JSON round trip changed the value: {json}"),
        Err(error) => panic!("{json} does not deserialise: {error}"),
    }
    json
}
