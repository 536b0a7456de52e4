//! The query API over the read models (axum), with consistency tokens (DESIGN.md §5).
//!
//! - [`router`]: the routes, given a pool and a [`ReadApiConfig`].
//! - `error`: [`QueryError`], answered as `application/problem+json` in one place.
//! - `consistency`: the bounded wait for `min_version` / `X-Consistency-Token`.
//! - `inventory`: `GET /api/inventory/{sku}` over `inventory_view`.

mod consistency;
mod error;
mod inventory;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sqlx::PgPool;

pub use error::QueryError;

/// Knobs of the query API.
#[derive(Debug, Clone)]
pub struct ReadApiConfig {
    /// Longest a request waits for a read model to reach its `min_version`.
    pub consistency_wait: Duration,
    /// How often it looks again while waiting.
    pub consistency_poll: Duration,
}

impl Default for ReadApiConfig {
    fn default() -> Self {
        Self {
            consistency_wait: Duration::from_secs(5),
            consistency_poll: Duration::from_millis(25),
        }
    }
}

/// Shared by the handlers.
#[derive(Debug, Clone)]
struct ReadState {
    pool: PgPool,
    config: ReadApiConfig,
}

/// The query routes.
pub fn router(pool: PgPool, config: ReadApiConfig) -> Router {
    Router::new()
        .route("/api/inventory/{sku}", get(inventory::get_item))
        .with_state(ReadState { pool, config })
}
