//! `causeway projections list|status|rebuild`.

use causeway_infra::Settings;
use clap::Subcommand;

/// `causeway projections …`.
#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// The projections this binary knows.
    List,
}

/// Runs a `projections` subcommand.
pub async fn run(command: ProjectionsCommand, _settings: &Settings) -> anyhow::Result<()> {
    match command {
        ProjectionsCommand::List => anyhow::bail!("projections list: being built"),
    }
}
