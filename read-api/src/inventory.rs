//! `GET /api/inventory/{sku}`: stock of one SKU from `inventory_view`. The path SKU is parsed
//! by the domain's [`Sku::parse`], as the commands do, so `abc-def` finds `ABC-DEF`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use causeway_domain::Sku;
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
    params(("sku" = String, Path, description = "The stock-keeping unit: 1 to 64 ASCII letters, digits, '-' or '_', in any case"), MinVersionQuery, ConsistencyHeader),
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
    let sku = canonical_sku(&sku)?;
    let subject = Subject {
        model: "inventory",
        what: "inventory item",
        id: sku.as_str(),
    };
    let row = read_versioned(
        &state.config,
        &query,
        &headers,
        subject,
        |row: &InventoryView| row.version,
        || fetch(&state.pool, sku.as_str()),
    )
    .await?;
    Ok(versioned(row.version, Json(row)))
}

/// The path SKU in the canonical form the commands store it under (trimmed, upper case);
/// 400 naming `sku` when it is not a SKU at all.
fn canonical_sku(text: &str) -> Result<Sku, QueryError> {
    Sku::parse(text).map_err(|_| QueryError::BadParameter {
        name: "sku",
        reason: "must be 1 to 64 ASCII letters, digits, '-' or '_'",
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_sku_is_looked_up_in_its_canonical_upper_case_form() {
        for text in ["abc-def", "ABC-DEF", "Abc-Def", " abc-def "] {
            let sku = canonical_sku(text).map(|sku| sku.as_str().to_owned());
            assert_eq!(sku.ok().as_deref(), Some("ABC-DEF"), "{text:?}");
        }
    }

    #[test]
    fn a_path_that_is_not_a_sku_is_a_bad_parameter_named_sku() {
        let too_long = "A".repeat(Sku::MAX_LEN + 1);
        for text in ["abc.def", "", "a b", "ä", too_long.as_str()] {
            match canonical_sku(text) {
                Err(QueryError::BadParameter { name, .. }) => assert_eq!(name, "sku"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}
