//! `GET /api/inventory/{sku}`: stock of one SKU from `inventory_view`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::consistency::{ConsistencyHeader, MinVersionQuery, Subject, read_versioned, versioned};
use crate::error::ByIdProblems;
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
        ByIdProblems,
    ),
)]
pub(crate) async fn get_item(
    State(state): State<ReadState>,
    Path(sku): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, QueryError> {
    let subject = Subject {
        model: "inventory",
        what: "inventory item",
        id: &sku,
    };
    let row = read_versioned(
        &state.config,
        &query,
        &headers,
        subject,
        |row: &InventoryView| row.version,
        || fetch(&state.pool, &sku),
    )
    .await?;
    Ok(versioned(row.version, Json(row)))
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
