//! `GET /api/inventory/{sku}`: stock of one SKU from `inventory_view`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::consistency::{self, ConsistencyHeader, MinVersionQuery, read_at_least};
use crate::{QueryError, ReadState};

/// One row of `inventory_view`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub(crate) struct InventoryView {
    sku: String,
    on_hand: i64,
    reserved: i64,
    available: i64,
    version: i64,
    updated_at: DateTime<Utc>,
}

#[utoipa::path(
    get,
    path = "/api/inventory/{sku}",
    operation_id = "get_inventory_item",
    tag = "inventory",
    summary = "Stock of one SKU",
    params(("sku" = String, Path, description = "The stock-keeping unit"), MinVersionQuery, ConsistencyHeader),
    responses(
        (status = 200, description = "Found", body = InventoryView, headers(("X-Consistency-Token" = i64, description = "The version of the row answered"))),
        (status = 400, description = "A malformed parameter or header, named in `parameter`", body = ref("#/components/schemas/Problem"), content_type = "application/problem+json"),
        (status = 404, description = "Nothing with this id in the read model", body = ref("#/components/schemas/Problem"), content_type = "application/problem+json"),
        (status = 503, description = "The read model has not reached `min_version` within the wait (`Retry-After: 1`)", body = ref("#/components/schemas/Problem"), content_type = "application/problem+json"),
        (status = 500, description = "Internal error (opaque)", body = ref("#/components/schemas/Problem"), content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn get_item(
    State(state): State<ReadState>,
    Path(sku): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, QueryError> {
    let wanted = consistency::min_version(&query, &headers)?;
    let row = read_at_least(
        &state.config,
        wanted,
        |row: &InventoryView| row.version,
        |applied, wanted| QueryError::Behind {
            model: "inventory",
            id: sku.clone(),
            applied,
            wanted,
        },
        || fetch(&state.pool, &sku),
    )
    .await?;
    let row = row.ok_or_else(|| QueryError::NotFound {
        what: "inventory item",
        id: sku.clone(),
    })?;
    let token = [(consistency::TOKEN_HEADER, row.version.to_string())];
    Ok((token, Json(row)).into_response())
}

async fn fetch(pool: &PgPool, sku: &str) -> Result<Option<InventoryView>, QueryError> {
    Ok(sqlx::query_as(
        "SELECT sku, on_hand, reserved, available, version, updated_at
         FROM inventory_view WHERE sku = $1",
    )
    .bind(sku)
    .fetch_optional(pool)
    .await?)
}
