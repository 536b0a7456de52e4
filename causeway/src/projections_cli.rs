//! `causeway projections list|status|rebuild`: what the projections are, how far behind
//! their topics they are, and rebuilding one without downtime (ADR 0010).

use std::time::Duration;

use anyhow::Context;
use causeway_infra::avro::EventCodec;
use causeway_infra::{Settings, db};
use causeway_projections::rebuild::{self, Progress, RebuildOptions, Source};
use causeway_projections::{registry, status};
use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

/// `causeway projections …`.
#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// The projections this binary knows: name, consumer group, topics, tables.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Per projection and partition: stored offset, end offset (high watermark), lag.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild a projection's tables into shadow tables, then swap them in while the live
    /// worker and the read API keep running.
    Rebuild {
        /// The projection (see `causeway projections list`).
        name: String,
        /// Where to read the events.
        #[arg(long, value_enum, default_value_t = From::Store)]
        from: From,
        /// Events read and applied per step.
        #[arg(long, default_value_t = 5000)]
        batch_size: usize,
        /// Connections writing the shadow tables.
        #[arg(long, default_value_t = 4)]
        writers: usize,
        /// No progress bar; print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where `rebuild` reads the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum From {
    /// The event store, in global commit order.
    Store,
    /// The projection's Kafka topics, from offset 0.
    Kafka,
}

/// Runs a `projections` subcommand, printing its answer.
#[allow(clippy::print_stdout)]
pub async fn run(command: ProjectionsCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        ProjectionsCommand::List { json } => {
            let list = registry::list(settings);
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{}", render_list(&list));
            }
        }
        ProjectionsCommand::Status { json } => {
            let pool = db::connect(&settings.database).await?;
            let rows = status::status(settings, &pool)
                .await
                .context("reading offsets and watermarks")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{}", status::render(&rows));
            }
        }
        ProjectionsCommand::Rebuild {
            name,
            from,
            batch_size,
            writers,
            json,
        } => {
            let options = RebuildOptions {
                source: match from {
                    From::Store => Source::Store,
                    From::Kafka => Source::Kafka,
                },
                batch_size,
                writers,
                ..RebuildOptions::default()
            };
            let report = rebuild_with_bar(settings, &name, &options, json).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "rebuilt {} from {from:?}: {} events ({} skipped, {} under the fence) in {:.1} s, {:.0} events/s",
                    report.projection,
                    report.events,
                    report.skipped,
                    report.caught_up_under_fence,
                    report.seconds,
                    report.events as f64 / report.seconds.max(1e-9),
                );
            }
        }
    }
    Ok(())
}

async fn rebuild_with_bar(
    settings: &Settings,
    name: &str,
    options: &RebuildOptions,
    quiet: bool,
) -> anyhow::Result<rebuild::RebuildReport> {
    let pool = db::connect(&settings.database).await?;
    let codec = EventCodec::new(&settings.registry)?;
    let bar = Bar::new(quiet);
    let report = rebuild::rebuild(settings, &pool, &codec, name, options, &bar)
        .await
        .with_context(|| format!("rebuilding {name}"))?;
    bar.0.finish_and_clear();
    Ok(report)
}

/// The progress bar: events/s and ETA while reading, a spinner while indexing and swapping.
struct Bar(ProgressBar);

impl Bar {
    fn new(hidden: bool) -> Self {
        let bar = if hidden {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        bar.enable_steady_tick(Duration::from_millis(200));
        Self(bar)
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        let template = match total {
            Some(_) => "{prefix:>8} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta}",
            None => "{prefix:>8} [{elapsed_precise}] {spinner} {pos} events",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.0.set_style(style);
        }
        if let Some(total) = total {
            self.0.set_length(total);
            self.0.reset_eta();
        }
        self.0.set_prefix(name.to_owned());
    }

    fn advance(&self, events: u64) {
        self.0.inc(events);
    }
}

fn render_list(list: &[registry::ProjectionInfo]) -> String {
    let body: Vec<[String; 4]> = list
        .iter()
        .map(|p| {
            [
                p.name.to_owned(),
                p.group.clone(),
                p.topics.join(","),
                p.tables.join(","),
            ]
        })
        .collect();
    status::table(&["NAME", "GROUP", "TOPICS", "TABLES"], &body)
}
