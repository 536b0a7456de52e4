//! `causeway demo`: shop traffic against a running platform.

use causeway_infra::Settings;

/// `causeway demo` options.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// Runs the demo.
pub async fn run(_args: DemoArgs, _settings: &Settings) -> anyhow::Result<()> {
    anyhow::bail!("demo: being built")
}
