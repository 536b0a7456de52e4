//! The HTTP command API: JSON in, domain commands out, answered with the aggregate's new
//! version (the consistency token).
//!
//! | route | command | success |
//! |---|---|---|
//! | `POST /api/customers` | `Register` (new customer id) | 201 `{customer_id, version}` |
//! | `POST /api/customers/{id}/credit-limit` | `ChangeCreditLimit` | 200 `{customer_id, version}` |
//! | `POST /api/inventory/{sku}/restock` | `Restock` (creates the item) | 200 `{sku, version}` |
//! | `POST /api/orders` | `Place` (new order id) | 202 `{order_id, version}` |
//! | `POST /api/orders/{id}/cancel` | `Cancel` | 200 `{order_id, version}` |
//!
//! Every answer that names a version also carries it as `X-Consistency-Token`. Errors are
//! `application/problem+json` with a `code` member, mapped in one place ([`ApiError`]).
//!
//! # Layout
//!
//! - `routes`: the router and its thin handlers.
//! - `extract`: the body and path extractors, whose rejections are [`ApiError`]s.
//! - `requests`: request DTOs and their parsing into domain values (parse, don't validate).
//! - `context`: command metadata from headers (correlation id, caller, idempotency key,
//!   traceparent) and the span each command runs in.
//! - `service`: IO lookups before `decide` (the customer of an order, remembered once
//!   found), then the store.
//! - `idempotency`: `Idempotency-Key` handling (docs/adr/0005) over the event store's
//!   idempotency records.
//! - `admission`: [`Admission`], refusing new orders while the sagas are too far behind.
//! - `answer`: success and stored answers; `error`: [`ApiError`] and its HTTP mapping.

mod admission;
mod answer;
mod context;
mod error;
mod extract;
mod idempotency;
mod requests;
mod routes;
mod service;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use causeway_domain::CustomerId;
use causeway_event_store::CommandStore;
use causeway_event_store::idempotency::IdempotencyRecords;
use sqlx::PgPool;

pub use admission::Admission;
pub use answer::{CONSISTENCY_TOKEN, IDEMPOTENT_REPLAYED};
pub use context::{CORRELATION_ID, IDEMPOTENCY_KEY, TRACEPARENT};
pub use error::ApiError;
pub use routes::CommandApiDoc;

/// How the command API behaves.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted request body, in bytes (answered 413 beyond).
    pub body_limit_bytes: usize,
    /// How long after placement an order that is still unfinished expires.
    pub order_timeout: Duration,
    /// How long a request waits for another one with the same idempotency key to finish
    /// before answering 409 `request_in_progress`.
    pub idempotency_wait: Duration,
    /// When new orders are refused (by default never).
    pub admission: Admission,
}

impl ApiConfig {
    /// The default order timeout.
    pub const DEFAULT_ORDER_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default wait for a concurrent request with the same idempotency key.
    pub const DEFAULT_IDEMPOTENCY_WAIT: Duration = Duration::from_secs(2);

    /// Defaults, with the body limit of the HTTP settings.
    pub fn new(body_limit_bytes: usize) -> Self {
        Self {
            body_limit_bytes,
            order_timeout: Self::DEFAULT_ORDER_TIMEOUT,
            idempotency_wait: Self::DEFAULT_IDEMPOTENCY_WAIT,
            admission: Admission::open(),
        }
    }
}

/// How many customers [`CommandApi`] remembers as registered (about 40 bytes each).
const KNOWN_CUSTOMERS: usize = 100_000;

/// The state every handler shares.
#[derive(Clone)]
pub(crate) struct CommandApi {
    store: CommandStore,
    idempotency: idempotency::IdempotencyStore,
    config: ApiConfig,
    /// Customers seen registered. No event unregisters a customer, so a customer once
    /// found stays found: an order for one needs no read of the store.
    known_customers: Arc<quick_cache::sync::Cache<CustomerId, ()>>,
}

/// The command routes (`/api/customers`, `/api/inventory`, `/api/orders`), ready to merge
/// into the application's router. `pool` holds the idempotency keys (the event store's
/// database).
pub fn router(store: CommandStore, pool: PgPool, config: ApiConfig) -> Router {
    let records = IdempotencyRecords::new(pool, config.idempotency_wait);
    let idempotency = idempotency::IdempotencyStore::new(records);
    routes::routes(CommandApi {
        store,
        idempotency,
        config,
        known_customers: Arc::new(quick_cache::sync::Cache::new(KNOWN_CUSTOMERS)),
    })
}
