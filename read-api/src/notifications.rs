//! `GET /api/notifications?customer_id=&limit=&cursor=`: what would have been sent to one
//! customer, oldest first, in keyset pages over `notifications` (ordered by its `id`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use causeway_auth::http::Caller;
use causeway_domain::values::CustomerId;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::access::{list_customer, scope};
use crate::error::ListProblems;
use crate::pagination::{self, Page, PageQuery};
use crate::{QueryError, ReadState};

/// One row of `notifications`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub(crate) struct NotificationView {
    #[serde(skip)]
    id: i64,
    order_id: String,
    kind: String,
    customer_id: String,
    message: String,
    occurred_at: DateTime<Utc>,
    event_id: Option<String>,
}

/// The customer asked for (required, a UUID), in canonical form.
fn customer(query: &HashMap<String, String>) -> Result<String, QueryError> {
    let bad = |reason| QueryError::BadParameter {
        name: "customer_id",
        reason,
    };
    let text = query.get("customer_id").ok_or(bad("is required"))?;
    CustomerId::parse(text)
        .map(|c| c.to_string())
        .map_err(|_| bad("must be a UUID"))
}

fn after(query: &HashMap<String, String>) -> Result<Option<i64>, QueryError> {
    pagination::cursor(query, 1)?
        .map(|parts| {
            parts[0]
                .parse::<i64>()
                .map_err(|_| QueryError::BadParameter {
                    name: pagination::CURSOR,
                    reason: "is not a cursor this API issued",
                })
        })
        .transpose()
}

#[utoipa::path(
    get,
    path = "/api/notifications",
    operation_id = "list_notifications",
    tag = "notifications",
    summary = "What would have been sent to one customer, oldest first, in keyset pages",
    params(
        ("customer_id" = String, Query, description = "The customer (a UUID)"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "One page, and the cursor of the next", body = Page<NotificationView>),
        ListProblems,
    ),
)]
pub(crate) async fn list_notifications(
    State(state): State<ReadState>,
    Caller(caller): Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Page<NotificationView>>, QueryError> {
    let asked = customer(&query)?;
    let after = after(&query)?;
    let limit = pagination::limit(&query)?;
    // Another customer's notifications: none the caller may see.
    let Ok(Some(customer_id)) = list_customer(Some(asked), scope(&caller)) else {
        return Ok(Json(Page::from_rows(
            Vec::new(),
            limit,
            |row: &NotificationView| vec![row.id.to_string()],
        )));
    };
    let rows: Vec<NotificationView> = sqlx::query_as(
        "SELECT id, order_id, kind, customer_id, message, occurred_at, event_id
         FROM notifications
         WHERE customer_id = $1 AND id > COALESCE($2, 0)
         ORDER BY id LIMIT $3",
    )
    .bind(&customer_id)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |row| {
        vec![row.id.to_string()]
    })))
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

    #[test]
    fn the_customer_is_required_and_must_be_a_uuid() {
        for pairs in [vec![], vec![("customer_id", "bob")]] {
            match customer(&query(&pairs)) {
                Err(QueryError::BadParameter { name, .. }) => assert_eq!(name, "customer_id"),
                other => panic!("{pairs:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn the_cursor_carries_the_last_id_seen() {
        let cursor = encode(&["41".to_owned()]);
        assert_eq!(after(&query(&[("cursor", &cursor)])).unwrap(), Some(41));
        let not_a_number = encode(&["x".to_owned()]);
        assert!(after(&query(&[("cursor", &not_a_number)])).is_err());
    }
}
