//! `GET /api/orders/{id}/saga`: the saga timeline of one order from `saga_timeline`, in the
//! order the steps happened (event time, then aggregate and sequence), each with its trace id
//! and, when a Jaeger UI is configured, a link to its trace.

use axum::Json;
use axum::extract::{Path, State};
use causeway_auth::http::Caller;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::access::scope;
use crate::error::LookupProblems;
use crate::orders::canonical_id;
use crate::{QueryError, ReadState};

/// One step of a saga.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub(crate) struct Step {
    participant: String,
    event_type: String,
    outcome: String,
    timestamp: DateTime<Utc>,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    trace_id: Option<String>,
    event_id: Option<String>,
    #[sqlx(skip)]
    jaeger_url: Option<String>,
}

/// An order's timeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Timeline {
    order_id: String,
    steps: Vec<Step>,
}

/// `<base>/trace/<trace id>`, the Jaeger UI page of a trace.
fn jaeger_url(base: Option<&str>, trace_id: Option<&str>) -> Option<String> {
    Some(format!(
        "{}/trace/{}",
        base?.trim_end_matches('/'),
        trace_id?
    ))
}

#[utoipa::path(
    get,
    path = "/api/orders/{id}/saga",
    operation_id = "get_saga_timeline",
    tag = "orders",
    summary = "The saga timeline of one order, each step with its trace",
    params(("id" = String, Path, description = "The order id (a UUID)")),
    responses(
        (status = 200, description = "The steps, in the order they happened", body = Timeline),
        LookupProblems,
    ),
)]
pub(crate) async fn get_timeline(
    State(state): State<ReadState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Timeline>, QueryError> {
    let order_id = canonical_id(&id);
    let mut steps: Vec<Step> = sqlx::query_as(
        "SELECT participant, event_type, outcome, occurred_at AS timestamp, aggregate_type,
                aggregate_id, sequence, trace_id, event_id
         FROM saga_timeline WHERE order_id = $1
           AND ($2::text IS NULL OR EXISTS
                 (SELECT 1 FROM orders o WHERE o.order_id = $1 AND o.customer_id = $2))
         ORDER BY occurred_at, aggregate_type, aggregate_id, sequence",
    )
    .bind(&order_id)
    .bind(scope(&caller))
    .fetch_all(&state.pool)
    .await?;
    if steps.is_empty() {
        return Err(QueryError::NotFound {
            what: "saga of order",
            id: order_id,
        });
    }
    let base = state.config.jaeger_ui_url.as_deref();
    for step in &mut steps {
        step.jaeger_url = jaeger_url(base, step.trace_id.as_deref());
    }
    Ok(Json(Timeline { order_id, steps }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jaeger_link_needs_both_a_base_and_a_trace_id() {
        let trace = "0af7651916cd43dd8448eb211c80319c";
        assert_eq!(
            jaeger_url(Some("http://jaeger:16686/"), Some(trace)).as_deref(),
            Some("http://jaeger:16686/trace/0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(jaeger_url(None, Some(trace)), None);
        assert_eq!(jaeger_url(Some("http://jaeger:16686"), None), None);
    }
}
