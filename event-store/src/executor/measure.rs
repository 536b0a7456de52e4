//! What [`super::CommandStore::execute`] records of each command: its count by outcome and
//! its latency (names in `causeway_infra::metrics`).

use std::time::Duration;

use causeway_domain::{Aggregate, DomainRejection};
use causeway_infra::metrics::{COMMAND_DURATION, COMMANDS, label, outcome};

use super::{CommandError, Committed};

/// The command's variant name (`Place` of `OrderCommand::Place { .. }`), read from its
/// `Debug` form: commands carry no name of their own.
pub(super) fn command_kind(command: &impl std::fmt::Debug) -> String {
    let debug = format!("{command:?}");
    let end = debug
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(debug.len());
    debug[..end].to_owned()
}

/// How a command ended, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Stored its events (or had nothing to store).
    Accepted,
    /// Refused by the aggregate, with the rejection's code.
    Rejected(&'static str),
    /// Lost to concurrent writers.
    Conflict,
    /// The store failed.
    Error,
}

impl Outcome {
    /// The outcome of a command that failed with `error` before any rejection.
    pub(super) fn of_failure<R>(error: &CommandError<R>) -> Self {
        match error {
            CommandError::Conflict { .. } => Self::Conflict,
            _ => Self::Error,
        }
    }
}

/// Counts the command under its outcome and records how long it took.
pub(super) fn record<A: Aggregate>(
    kind: String,
    result: &Result<Committed, CommandError<A::Rejection>>,
    elapsed: Duration,
) {
    let outcome = match result {
        Ok(_) => Outcome::Accepted,
        Err(CommandError::Rejected(rejection)) => Outcome::Rejected(rejection.code()),
        Err(error) => Outcome::of_failure(error),
    };
    count::<A>(kind, outcome, elapsed);
}

/// Counts a command of kind `kind` under `outcome` and records how long it took.
pub(super) fn count<A: Aggregate>(kind: String, outcome: Outcome, elapsed: Duration) {
    let (outcome, code) = match outcome {
        Outcome::Accepted => (outcome::ACCEPTED, ""),
        Outcome::Rejected(code) => (outcome::REJECTED, code),
        Outcome::Conflict => (outcome::CONFLICT, ""),
        Outcome::Error => (outcome::ERROR, ""),
    };
    metrics::histogram!(COMMAND_DURATION, label::AGGREGATE => A::TYPE,
        label::COMMAND => kind.clone(), label::OUTCOME => outcome)
    .record(elapsed.as_secs_f64());
    metrics::counter!(COMMANDS, label::AGGREGATE => A::TYPE, label::COMMAND => kind,
        label::OUTCOME => outcome, label::CODE => code)
    .increment(1);
}

#[cfg(test)]
mod tests {
    use super::command_kind;

    #[derive(Debug)]
    #[allow(dead_code)]
    enum Command {
        Place { quantity: u32 },
        Confirm,
        Mark(u8),
    }

    #[test]
    fn the_kind_of_a_command_is_its_variant_name() {
        assert_eq!(command_kind(&Command::Place { quantity: 2 }), "Place");
        assert_eq!(command_kind(&Command::Confirm), "Confirm");
        assert_eq!(command_kind(&Command::Mark(1)), "Mark");
    }
}
