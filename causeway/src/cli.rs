//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Run the platform: HTTP API with health checks.
    Serve,
}
