//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::roles::Role;

/// Causeway: an event-sourced CQRS platform with choreographed sagas.
#[derive(Debug, Parser)]
#[command(name = "causeway", version, about)]
pub struct Cli {
    /// Settings file read after the built-in defaults and before CAUSEWAY_* variables.
    #[arg(long, global = true, env = "CAUSEWAY_CONFIG")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the database migrations (event store, snapshots, relay columns).
    Migrate,
    /// Check the Avro event schemas of schemas/, or register them with the schema registry.
    Schemas {
        /// check or register.
        #[command(subcommand)]
        action: crate::schemas::SchemasCommand,
    },
    /// List the projections, show their lag, or rebuild one without downtime.
    Projections {
        /// list, status or rebuild.
        #[command(subcommand)]
        action: crate::projections_cli::ProjectionsCommand,
    },
    /// Inspect the dead-letter topics, or send their messages back to be handled again.
    Dlq {
        /// list or redrive.
        #[command(subcommand)]
        action: crate::dlq::DlqCommand,
    },
    /// Generate shop traffic against a running platform and print a live summary.
    Demo(crate::demo::DemoArgs),
    /// Run the platform: every role in this process, or those named with --roles.
    Serve {
        /// Roles to run, comma-separated (default: all).
        #[arg(long, value_delimiter = ',', value_enum)]
        roles: Vec<Role>,
    },
}
