//! The query API over the read models (axum), with consistency tokens (docs/architecture.md §5).
//!
//! - [`router`]: the routes, given a pool and a [`ReadApiConfig`].
//! - `error`: [`QueryError`], answered as `application/problem+json` in one place.
//! - `access`: the caller's scope: a customer sees its own customer's rows only, another
//!   customer's answering as missing.
//! - `consistency`: the bounded wait for `min_version` / `X-Consistency-Token`.
//! - `pagination`: keyset pages (`limit`, opaque `cursor`, `next_cursor`).
//! - `inventory`: `GET /api/inventory/{sku}` over `inventory_view`.
//! - `orders`: `GET /api/orders/{id}` (with lines) and `GET /api/orders` (keyset list).
//! - `customers`: `GET /api/customers/{id}`.
//! - `payments`: `GET /api/orders/{id}/payment`.
//! - `notifications`: `GET /api/notifications?customer_id=` (keyset list).
//! - `saga`: `GET /api/orders/{id}/saga`, the saga timeline of an order.
//!
//! Reads by id accept `min_version` / `X-Consistency-Token`; unknown ids answer 404, bad
//! parameters 400 naming the parameter.

mod access;
mod consistency;
mod customers;
mod error;
mod inventory;
mod notifications;
mod orders;
mod pagination;
mod payments;
mod saga;

use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use causeway_infra::settings::ReadApiSettings;
use sqlx::PgPool;

pub use error::QueryError;

/// The OpenAPI description of the query routes (merged into `/openapi.json` by the binary).
/// Problem documents refer to `#/components/schemas/Problem`, which the merged document holds.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        inventory::get_item,
        orders::list_orders,
        orders::get_order,
        payments::get_payment,
        saga::get_timeline,
        customers::get_customer,
        notifications::list_notifications,
    ),
    tags(
        (name = "orders", description = "Orders and their saga timelines"),
        (name = "customers", description = "Customers' profiles and credit"),
        (name = "inventory", description = "Stock per SKU"),
        (name = "payments", description = "Payments per order"),
        (name = "notifications", description = "What would have been sent to customers"),
    )
)]
pub struct ReadApiDoc;

/// Knobs of the query API.
#[derive(Debug, Clone)]
pub struct ReadApiConfig {
    /// Longest a request waits for a read model to reach its `min_version`.
    pub consistency_wait: Duration,
    /// How often it looks again while waiting.
    pub consistency_poll: Duration,
    /// The Jaeger UI base URL (e.g. `http://127.0.0.1:16686`): when set, saga timeline steps
    /// carry a `jaeger_url` to their trace.
    pub jaeger_ui_url: Option<String>,
}

impl From<&ReadApiSettings> for ReadApiConfig {
    fn from(settings: &ReadApiSettings) -> Self {
        Self {
            consistency_wait: Duration::from_millis(settings.consistency_wait_ms),
            consistency_poll: Duration::from_millis(settings.consistency_poll_ms.max(1)),
            jaeger_ui_url: settings
                .jaeger_ui_url
                .clone()
                .filter(|url| !url.trim().is_empty()),
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
    use causeway_auth::Permission::{ReadCustomers, ReadInventory, ReadNotifications, ReadOrders};
    let allowed = |permission| from_fn_with_state(permission, causeway_auth::http::require);
    Router::new()
        .route(
            "/api/inventory/{sku}",
            get(inventory::get_item).route_layer(allowed(ReadInventory)),
        )
        .route(
            "/api/orders",
            get(orders::list_orders).route_layer(allowed(ReadOrders)),
        )
        .route(
            "/api/orders/{id}",
            get(orders::get_order).route_layer(allowed(ReadOrders)),
        )
        .route(
            "/api/orders/{id}/payment",
            get(payments::get_payment).route_layer(allowed(ReadOrders)),
        )
        .route(
            "/api/orders/{id}/saga",
            get(saga::get_timeline).route_layer(allowed(ReadOrders)),
        )
        .route(
            "/api/customers/{id}",
            get(customers::get_customer).route_layer(allowed(ReadCustomers)),
        )
        .route(
            "/api/notifications",
            get(notifications::list_notifications).route_layer(allowed(ReadNotifications)),
        )
        .with_state(ReadState { pool, config })
}
