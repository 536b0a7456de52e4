//! What each background role of this process says about itself, for `/health/ready`: the
//! relay is the leader or stands by (both ready: a standby is healthy), a consumer runs or
//! is restarting after a failure (not ready).
//!
//! A process-wide registry, like the metrics recorder, keyed by scope and role. The scope is
//! the Kafka topic prefix, which is what tells apart the platforms a test process builds
//! (each with its own prefix); in production a process runs one platform.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

use crate::metrics::RELAY_LEADER;

/// The relay holds the leader lock and publishes.
pub const LEADER: &str = "leader";
/// The relay waits for the leader lock.
pub const STANDBY: &str = "standby";
/// A consumer is consuming.
pub const RUNNING: &str = "running";
/// A consumer failed and is being rebuilt (or has stopped).
pub const RESTARTING: &str = "restarting";

/// One role's own account of itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoleStatus {
    /// `relay`, `projection.<name>` or `saga.<participant>`.
    pub role: String,
    /// One of [`LEADER`], [`STANDBY`], [`RUNNING`], [`RESTARTING`].
    pub state: &'static str,
    /// Whether the role counts as ready.
    pub ready: bool,
}

type Registry = BTreeMap<(String, String), (&'static str, bool)>;

static ROLES: Mutex<Registry> = Mutex::new(BTreeMap::new());

/// Records the state of `role` in `scope`.
pub fn report(scope: &str, role: &str, state: &'static str, ready: bool) {
    let mut roles = ROLES.lock().unwrap_or_else(PoisonError::into_inner);
    roles.insert((scope.to_owned(), role.to_owned()), (state, ready));
}

/// Forgets `role` in `scope` (it stopped with its platform).
pub fn forget(scope: &str, role: &str) {
    let mut roles = ROLES.lock().unwrap_or_else(PoisonError::into_inner);
    roles.remove(&(scope.to_owned(), role.to_owned()));
}

/// Records whether the relay of `scope` leads (ready either way) and sets [`RELAY_LEADER`].
pub fn relay_leads(scope: &str, leader: bool) {
    metrics::gauge!(RELAY_LEADER).set(if leader { 1.0 } else { 0.0 });
    report(scope, "relay", if leader { LEADER } else { STANDBY }, true);
}

/// Every role reported in `scope`, by name.
pub fn of_scope(scope: &str) -> Vec<RoleStatus> {
    let roles = ROLES.lock().unwrap_or_else(PoisonError::into_inner);
    roles
        .iter()
        .filter(|((s, _), _)| s == scope)
        .map(|((_, role), (state, ready))| RoleStatus {
            role: role.clone(),
            state,
            ready: *ready,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_reported_per_scope_and_the_latest_state_wins() {
        report("scope-a.", "projection.orders", RUNNING, true);
        report("scope-a.", "projection.orders", RESTARTING, false);
        relay_leads("scope-a.", false);
        report("scope-b.", "saga.order", RUNNING, true);
        let a = of_scope("scope-a.");
        assert_eq!(
            a,
            [
                RoleStatus {
                    role: "projection.orders".into(),
                    state: RESTARTING,
                    ready: false
                },
                RoleStatus {
                    role: "relay".into(),
                    state: STANDBY,
                    ready: true
                },
            ]
        );
        assert_eq!(of_scope("scope-b.").len(), 1);
        forget("scope-b.", "saga.order");
        assert!(of_scope("scope-b.").is_empty());
    }
}
