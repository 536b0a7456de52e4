//! `/health/live` (the process runs) and `/health/ready` (its dependencies answer).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use causeway_infra::health::HealthChecker;
use serde_json::json;

/// The health routes, with their checker as state.
pub fn routes(checker: HealthChecker) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(checker)
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "live" }))
}

/// 200 with every check when all dependencies answer; otherwise 503 as problem+json naming
/// the ones that did not.
async fn ready(State(checker): State<HealthChecker>) -> Response {
    let readiness = checker.check().await;
    if readiness.is_ready() {
        return Json(json!({ "status": "ready", "checks": readiness.checks })).into_response();
    }
    let down = readiness.down().join(", ");
    tracing::warn!(%down, "not ready");
    let body = json!({
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": format!("not ready: {down} unreachable"),
        "down": readiness.down(),
        "checks": readiness.checks,
    });
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}
