//! The `causeway` binary as a library, so tests start the platform exactly as the binary does.
//!
//! - [`cli`]: the command line (`migrate`, `serve`, …), parsed with clap.
//! - [`admission`]: measures the saga backlog for the command API's admission gate.
//! - [`app`]: [`app::Application`], the HTTP server every role is mounted on:
//!   `build(settings)`, `port()`, `run_until_stopped()`.
//! - [`roles`]: the roles `serve --roles` can pick (command-api, relay, projections, sagas, read-api).
//! - [`http`]: routes that belong to the process rather than to a role (`/health/*`, `/metrics`).
//! - [`schemas`]: `schemas check|register`: the Avro contracts against the domain, git and
//!   the registry, with the schema-governance checks ([`schemas::compat`],
//!   [`schemas::contract`], [`schemas::evolution`], [`schemas::history`]).
//! - [`projections_cli`]: `projections list|status|rebuild`.
//! - [`dlq`]: `dlq list|redrive`: the dead-letter topics.
//! - [`demo`]: `demo`: shop traffic against a running platform, with a live summary.

pub mod admission;
pub mod app;
pub mod cli;
pub mod demo;
pub mod dlq;
pub mod http;
pub mod projections_cli;
pub mod roles;
pub mod schemas;
