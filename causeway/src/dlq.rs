//! `causeway dlq list|redrive`.

use causeway_infra::Settings;
use clap::Subcommand;

/// `causeway dlq …`.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// The dead-lettered messages.
    List,
}

/// Runs a `dlq` subcommand.
pub async fn run(command: DlqCommand, _settings: &Settings) -> anyhow::Result<()> {
    match command {
        DlqCommand::List => anyhow::bail!("dlq list: being built"),
    }
}
