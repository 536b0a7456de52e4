//! `GET /api/customers/{id}`: one customer's profile and credit from `customers`, with
//! `min_version`.

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

/// One row of `customers`; amounts in minor units of `currency`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub(crate) struct CustomerView {
    customer_id: String,
    name: String,
    email: String,
    currency: String,
    credit_limit: i64,
    reserved_credit: i64,
    available_credit: i64,
    updated_at: DateTime<Utc>,
    version: i64,
}

#[utoipa::path(
    get,
    path = "/api/customers/{id}",
    operation_id = "get_customer",
    tag = "customers",
    summary = "One customer's profile and credit",
    params(("id" = String, Path, description = "The customer id (a UUID)"), MinVersionQuery, ConsistencyHeader),
    responses(
        (status = 200, description = "Found", body = CustomerView, headers(("X-Consistency-Token" = i64, description = "The version of the row answered"))),
        ByIdProblems,
    ),
)]
pub(crate) async fn get_customer(
    State(state): State<ReadState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, QueryError> {
    let id = canonical_id(&id);
    let subject = Subject {
        model: "customers",
        what: "customer",
        id: &id,
    };
    let row = read_versioned(
        &state.config,
        &query,
        &headers,
        subject,
        |row: &CustomerView| row.version,
        || fetch(&state.pool, &id, scope(&caller)),
    )
    .await?;
    Ok(versioned(row.version, Json(row)))
}

async fn fetch(
    pool: &PgPool,
    id: &str,
    scope: Option<String>,
) -> Result<Option<CustomerView>, QueryError> {
    Ok(sqlx::query_as(
        "SELECT customer_id, name, email, currency, credit_limit, reserved_credit,
                available_credit, updated_at, version
         FROM customers WHERE customer_id = $1 AND ($2::text IS NULL OR customer_id = $2)",
    )
    .bind(id)
    .bind(scope)
    .fetch_optional(pool)
    .await?)
}
