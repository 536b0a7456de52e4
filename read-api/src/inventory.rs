//! `GET /api/inventory/{sku}`: stock of one SKU from `inventory_view`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::consistency::{self, read_at_least};
use crate::{QueryError, ReadState};

/// One row of `inventory_view`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub(crate) struct InventoryView {
    sku: String,
    on_hand: i64,
    reserved: i64,
    available: i64,
    version: i64,
    updated_at: DateTime<Utc>,
}

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
