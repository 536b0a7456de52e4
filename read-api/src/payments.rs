//! `GET /api/orders/{id}/payment`: the payment of one order from `payments`, with
//! `min_version` (the payment's own version).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use causeway_auth::http::Caller;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::access::scope;
use crate::consistency::{ConsistencyHeader, MinVersionQuery, Subject, read_versioned, versioned};
use crate::error::ByIdProblems;
use crate::orders::canonical_id;
use crate::{QueryError, ReadState};

/// One row of `payments`; a payment voided before it was authorized has no customer nor
/// amount.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub(crate) struct PaymentView {
    order_id: String,
    status: String,
    customer_id: Option<String>,
    amount_minor: Option<i64>,
    currency: Option<String>,
    decline_reason: Option<String>,
    authorized_at: Option<DateTime<Utc>>,
    declined_at: Option<DateTime<Utc>>,
    voided_at: Option<DateTime<Utc>>,
    refunded_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    version: i64,
}

#[utoipa::path(
    get,
    path = "/api/orders/{id}/payment",
    operation_id = "get_payment",
    tag = "payments",
    summary = "The payment of one order",
    params(("id" = String, Path, description = "The order id (a UUID)"), MinVersionQuery, ConsistencyHeader),
    responses(
        (status = 200, description = "Found", body = PaymentView, headers(("X-Consistency-Token" = i64, description = "The version of the row answered"))),
        ByIdProblems,
    ),
)]
pub(crate) async fn get_payment(
    State(state): State<ReadState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, QueryError> {
    let id = canonical_id(&id);
    let subject = Subject {
        model: "payments",
        what: "payment of order",
        id: &id,
    };
    let row = read_versioned(
        &state.config,
        &query,
        &headers,
        subject,
        |row: &PaymentView| row.version,
        || fetch(&state.pool, &id, scope(&caller)),
    )
    .await?;
    Ok(versioned(row.version, Json(row)))
}

async fn fetch(
    pool: &PgPool,
    id: &str,
    scope: Option<String>,
) -> Result<Option<PaymentView>, QueryError> {
    Ok(sqlx::query_as(
        "SELECT order_id, status, customer_id, amount_minor, currency, decline_reason,
                authorized_at, declined_at, voided_at, refunded_at, updated_at, version
         FROM payments WHERE order_id = $1 AND ($2::text IS NULL OR customer_id = $2)",
    )
    .bind(id)
    .bind(scope)
    .fetch_optional(pool)
    .await?)
}
