//! The roles one `causeway serve` process can run (docs/architecture.md §7): all of them by default,
//! or a subset with `--roles`, so each scales on its own in Kubernetes.

use std::fmt;
use std::str::FromStr;

/// One role of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Role {
    /// The HTTP command API.
    CommandApi,
    /// Publishes stored events to Kafka.
    Relay,
    /// Builds the read models.
    Projections,
    /// Saga participants.
    Sagas,
    /// The HTTP query API.
    ReadApi,
}

impl Role {
    /// Every role, in start order.
    pub const ALL: [Role; 5] = [
        Role::Relay,
        Role::Projections,
        Role::Sagas,
        Role::CommandApi,
        Role::ReadApi,
    ];
}

/// The set of roles a process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl Roles {
    /// Every role.
    pub fn all() -> Self {
        Self(Role::ALL.to_vec())
    }

    /// Exactly these roles.
    pub fn only(roles: impl IntoIterator<Item = Role>) -> Self {
        let mut list: Vec<Role> = Vec::new();
        for role in roles {
            if !list.contains(&role) {
                list.push(role);
            }
        }
        Self(list)
    }

    /// Whether `role` runs here.
    pub fn has(&self, role: Role) -> bool {
        self.0.contains(&role)
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(|r| format!("{r:?}")).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Role as clap::ValueEnum>::from_str(s, true)
    }
}
