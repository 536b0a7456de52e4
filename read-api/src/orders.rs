//! `GET /api/orders/{id}` (one order with its lines, with `min_version`) and
//! `GET /api/orders?customer_id=&status=&limit=&cursor=` (keyset pages, newest first, in the
//! stable order `placed_at DESC, order_id DESC`) over `orders` and `order_lines`.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use causeway_auth::http::Caller;
use causeway_domain::OrderStatus;
use causeway_domain::values::CustomerId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::access::{list_customer, scope};
use crate::consistency::{self, ConsistencyHeader, MinVersionQuery, Subject, read_versioned};
use crate::error::{ByIdProblems, ListProblems};
use crate::pagination::{self, Page, PageQuery};
use crate::{QueryError, ReadState};

/// Why a `status` filter was refused: it names every status an order can have.
static STATUS_REASON: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<&str> = OrderStatus::ALL.map(OrderStatus::as_str).to_vec();
    format!("must be one of {}", names.join(", "))
});

/// One row of `orders`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub(crate) struct OrderSummary {
    order_id: String,
    customer_id: String,
    status: String,
    currency: String,
    total_minor: i64,
    placed_at: DateTime<Utc>,
    deadline: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
    rejection_reason: Option<String>,
    cancel_reason: Option<String>,
}

/// One row of `order_lines`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub(crate) struct OrderLineView {
    sku: String,
    quantity: i64,
    unit_price_minor: i64,
    reserved: bool,
}

/// An order with its lines.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct OrderView {
    #[serde(flatten)]
    summary: OrderSummary,
    lines: Vec<OrderLineView>,
}

const SUMMARY_COLUMNS: &str = "order_id, customer_id, status, currency, total_minor, placed_at, \
     deadline, updated_at, version, rejection_reason, cancel_reason";

/// An id as the read models store it: a UUID in its canonical form, anything else as is
/// (it will not be found).
pub(crate) fn canonical_id(id: &str) -> String {
    uuid::Uuid::parse_str(id.trim()).map_or_else(|_| id.to_owned(), |u| u.to_string())
}

#[utoipa::path(
    get,
    path = "/api/orders/{id}",
    operation_id = "get_order",
    tag = "orders",
    summary = "One order with its lines",
    params(("id" = String, Path, description = "The order id (a UUID)"), MinVersionQuery, ConsistencyHeader),
    responses(
        (status = 200, description = "Found", body = OrderView, headers(("X-Consistency-Token" = i64, description = "The version of the row answered"))),
        ByIdProblems,
    ),
)]
pub(crate) async fn get_order(
    State(state): State<ReadState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, QueryError> {
    let id = canonical_id(&id);
    let subject = Subject {
        model: "orders",
        what: "order",
        id: &id,
    };
    let summary = read_versioned(
        &state.config,
        &query,
        &headers,
        subject,
        |row: &OrderSummary| row.version,
        || fetch(&state.pool, &id, scope(&caller)),
    )
    .await?;
    let lines = sqlx::query_as(
        "SELECT sku, quantity, unit_price_minor, reserved FROM order_lines
         WHERE order_id = $1 ORDER BY position",
    )
    .bind(&id)
    .fetch_all(&state.pool)
    .await?;
    Ok(consistency::versioned(
        summary.version,
        Json(OrderView { summary, lines }),
    ))
}

async fn fetch(
    pool: &PgPool,
    id: &str,
    scope: Option<String>,
) -> Result<Option<OrderSummary>, QueryError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM orders
         WHERE order_id = $1 AND ($2::text IS NULL OR customer_id = $2)"
    ))
    .bind(id)
    .bind(scope)
    .fetch_optional(pool)
    .await?)
}

/// The filters of a list request.
#[derive(Debug, Default, PartialEq)]
struct Filter {
    customer_id: Option<String>,
    status: Option<String>,
    after: Option<(DateTime<Utc>, String)>,
    limit: i64,
}

fn filter(query: &HashMap<String, String>) -> Result<Filter, QueryError> {
    let customer_id = query
        .get("customer_id")
        .map(|c| {
            CustomerId::parse(c)
                .map(|c| c.to_string())
                .map_err(|_| QueryError::BadParameter {
                    name: "customer_id",
                    reason: "must be a UUID",
                })
        })
        .transpose()?;
    let status = query
        .get("status")
        .map(|s| {
            OrderStatus::parse(s)
                .map(|status| status.as_str().to_owned())
                .ok_or(QueryError::BadParameter {
                    name: "status",
                    reason: STATUS_REASON.as_str(),
                })
        })
        .transpose()?;
    let after = pagination::cursor(query, 2)?
        .map(|parts| order_key(&parts))
        .transpose()?;
    Ok(Filter {
        customer_id,
        status,
        after,
        limit: pagination::limit(query)?,
    })
}

/// The (placed_at, order_id) key of a cursor: placed_at as microseconds since the epoch.
fn order_key(parts: &[String]) -> Result<(DateTime<Utc>, String), QueryError> {
    let bad = QueryError::BadParameter {
        name: pagination::CURSOR,
        reason: "is not a cursor this API issued",
    };
    let [micros, id] = parts else {
        return Err(bad);
    };
    let placed_at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or(bad)?;
    Ok((placed_at, id.clone()))
}

fn cursor_of(row: &OrderSummary) -> Vec<String> {
    vec![
        row.placed_at.timestamp_micros().to_string(),
        row.order_id.clone(),
    ]
}

#[utoipa::path(
    get,
    path = "/api/orders",
    operation_id = "list_orders",
    tag = "orders",
    summary = "Orders, newest first, in keyset pages",
    params(
        ("customer_id" = Option<String>, Query, description = "Only this customer's orders (a UUID)"),
        ("status" = Option<String>, Query, description = "Only orders in this status",
            example = "confirmed"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "One page, and the cursor of the next", body = Page<OrderSummary>),
        ListProblems,
    ),
)]
pub(crate) async fn list_orders(
    State(state): State<ReadState>,
    Caller(caller): Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Page<OrderSummary>>, QueryError> {
    let mut filter = filter(&query)?;
    // A customer lists its own orders; another customer's: none.
    match list_customer(filter.customer_id.take(), scope(&caller)) {
        Ok(customer_id) => filter.customer_id = customer_id,
        Err(()) => return Ok(Json(Page::from_rows(Vec::new(), filter.limit, cursor_of))),
    }
    let mut sql: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS} FROM orders WHERE true"));
    if let Some(customer_id) = &filter.customer_id {
        sql.push(" AND customer_id = ").push_bind(customer_id);
    }
    if let Some(status) = &filter.status {
        sql.push(" AND status = ").push_bind(status);
    }
    if let Some((placed_at, order_id)) = &filter.after {
        sql.push(" AND (placed_at, order_id) < (")
            .push_bind(placed_at)
            .push(", ")
            .push_bind(order_id)
            .push(")");
    }
    sql.push(" ORDER BY placed_at DESC, order_id DESC LIMIT ")
        .push_bind(filter.limit + 1);
    let rows: Vec<OrderSummary> = sql.build_query_as().fetch_all(&state.pool).await?;
    Ok(Json(Page::from_rows(rows, filter.limit, cursor_of)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::pagination::encode;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn bad_name(result: Result<Filter, QueryError>) -> &'static str {
        match result {
            Err(QueryError::BadParameter { name, .. }) => name,
            other => panic!("expected a bad parameter, got {other:?}"),
        }
    }

    #[test]
    fn the_filters_are_parsed_and_the_customer_id_made_canonical() {
        let customer = "7B1E1C52-1F0E-4A55-A0A4-3B1F9C1D2E10";
        let micros = "1764460800123456";
        let cursor = encode(&[micros.to_owned(), "o-1".to_owned()]);
        let parsed = filter(&query(&[
            ("customer_id", customer),
            ("status", "confirmed"),
            ("cursor", &cursor),
            ("limit", "7"),
        ]))
        .unwrap();
        assert_eq!(
            parsed.customer_id.as_deref(),
            Some("7b1e1c52-1f0e-4a55-a0a4-3b1f9c1d2e10")
        );
        assert_eq!(parsed.status.as_deref(), Some("confirmed"));
        let (placed_at, id) = parsed.after.unwrap();
        assert_eq!(placed_at.timestamp_micros().to_string(), micros);
        assert_eq!(id, "o-1");
        assert_eq!(parsed.limit, 7);
    }

    #[test]
    fn a_bad_filter_is_refused_naming_it() {
        assert_eq!(
            bad_name(filter(&query(&[("customer_id", "bob")]))),
            "customer_id"
        );
        assert_eq!(bad_name(filter(&query(&[("status", "shipped")]))), "status");
        let not_a_time = encode(&["soon".to_owned(), "o-1".to_owned()]);
        assert_eq!(
            bad_name(filter(&query(&[("cursor", &not_a_time)]))),
            "cursor"
        );
        assert_eq!(bad_name(filter(&query(&[("limit", "0")]))), "limit");
    }

    #[test]
    fn an_id_is_made_canonical_only_when_it_is_a_uuid() {
        assert_eq!(
            canonical_id("0B5F6BD6-6C1F-4A4E-9D3E-2F6B1F3C9A10"),
            "0b5f6bd6-6c1f-4a4e-9d3e-2f6b1f3c9a10"
        );
        assert_eq!(canonical_id("nope"), "nope");
    }
}
