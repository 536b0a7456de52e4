//! `causeway`: see the crate docs of the `causeway` library for the layout.

use std::process::ExitCode;

use anyhow::Context;
use causeway::app::Application;
use causeway::cli::{Cli, Command};
use causeway::roles::{Role, Roles};
use causeway_infra::{Settings, db, telemetry};
use clap::Parser;

/// mimalloc rather than glibc's malloc: the platform allocates small, short-lived buffers on
/// every event (JSON, Avro, Kafka headers), and glibc's allocator took 18% of a saga run's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            return fail_before_logging(&anyhow::Error::new(error).context("loading settings"));
        }
    };
    name_service_after_role(&cli.command, &mut settings);
    let telemetry = match telemetry::init(&settings.telemetry) {
        Ok(guard) => guard,
        Err(error) => {
            return fail_before_logging(&anyhow::Error::new(error).context("starting telemetry"));
        }
    };
    let code = match run(cli.command, &settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Logged once, with the whole cause chain.
            tracing::error!(error = format!("{error:#}"), "causeway failed");
            ExitCode::FAILURE
        }
    };
    // The last spans are exported on a blocking flush that needs the runtime running.
    let _ = tokio::task::spawn_blocking(move || drop(telemetry)).await;
    code
}

/// A process serving one role reports as `causeway-<role>` (e.g. `causeway-relay`) unless a
/// service name was configured, so each role is its own service in Jaeger.
fn name_service_after_role(command: &Command, settings: &mut Settings) {
    const DEFAULT_NAME: &str = "causeway";
    if let Command::Serve { roles } = command
        && let [role] = roles.as_slice()
        && settings.telemetry.service_name == DEFAULT_NAME
    {
        let role = clap::ValueEnum::to_possible_value(role)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        settings.telemetry.service_name = format!("{DEFAULT_NAME}-{role}");
    }
}

/// Before the subscriber exists, stderr is the only place to say what went wrong.
#[allow(clippy::print_stderr)]
fn fail_before_logging(error: &anyhow::Error) -> ExitCode {
    eprintln!("causeway: {error:#}");
    ExitCode::FAILURE
}

async fn run(command: Command, settings: &Settings) -> anyhow::Result<()> {
    match command {
        Command::Migrate => migrate(settings).await,
        Command::Schemas { action } => causeway::schemas::run(action, settings).await,
        Command::Serve { roles } => serve(settings, roles).await,
        Command::Projections { action } => causeway::projections_cli::run(action, settings).await,
        Command::Dlq { action } => causeway::dlq::run(action, settings).await,
        Command::Demo(args) => causeway::demo::run(args, settings).await,
    }
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let pool = db::connect(&settings.database)
        .await
        .context("connecting to Postgres")?;
    db::migrate(&pool).await.context("applying migrations")?;
    tracing::info!(database = %settings.database.database_name, "migrations applied");
    Ok(())
}

async fn serve(settings: &Settings, roles: Vec<Role>) -> anyhow::Result<()> {
    let roles = if roles.is_empty() {
        Roles::all()
    } else {
        Roles::only(roles)
    };
    tracing::info!(%roles, "starting");
    let app = Application::build_with_roles(settings, &roles)
        .await
        .context("building the platform")?;
    app.run_until_stopped().await.context("serving HTTP")
}
