//! `/health/live` (the process runs) and `/health/ready` (its dependencies answer).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use causeway_infra::health::HealthChecker;
use causeway_infra::problem::{PROBLEM_JSON, problem_body};
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
    let detail = format!("not ready: {down} unreachable");
    let extra = json!({ "down": readiness.down(), "checks": readiness.checks });
    let body = problem_body(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        detail,
        Some(extra),
    );
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, PROBLEM_JSON)],
        body.to_string(),
    )
        .into_response()
}
