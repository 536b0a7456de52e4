//! `/health/live` (the process runs) and `/health/ready` (its dependencies answer and its
//! background roles say they are ready: the relay leads or stands by, consumers run).
//!
//! On the management listener `/health/ready` names every check and role; on the public one
//! it says ready or not and nothing else (no hosts, ports or error chains).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use causeway_infra::health::HealthChecker;
use causeway_infra::problem::problem_response;
use serde_json::json;

/// How much `/health/ready` tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Every check and role report (the management listener).
    Full,
    /// Ready or not (the public listener).
    Summary,
}

/// The health routes, with their checker as state.
pub fn routes(checker: HealthChecker, detail: Detail) -> Router {
    let router = Router::new().route("/health/live", get(live));
    let router = match detail {
        Detail::Full => router.route("/health/ready", get(ready)),
        Detail::Summary => router.route("/health/ready", get(ready_summary)),
    };
    router.with_state(checker)
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "live" }))
}

/// 200 `{"status":"ready"}`, or 503 `not_ready` without saying why (the management
/// listener's `/health/ready` does).
async fn ready_summary(State(checker): State<HealthChecker>) -> Response {
    if checker.check().await.is_ready() {
        return Json(json!({ "status": "ready" })).into_response();
    }
    problem_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        "not ready".to_owned(),
        None,
    )
}

/// 200 with every check and role report when all dependencies answer and every role is
/// ready (a standby relay is); otherwise 503 as problem+json naming what is not.
async fn ready(State(checker): State<HealthChecker>) -> Response {
    let readiness = checker.check().await;
    if readiness.is_ready() {
        let body =
            json!({ "status": "ready", "checks": readiness.checks, "roles": readiness.roles });
        return Json(body).into_response();
    }
    let mut reasons = Vec::new();
    if !readiness.down().is_empty() {
        reasons.push(format!("{} unreachable", readiness.down().join(", ")));
    }
    if !readiness.roles_down().is_empty() {
        reasons.push(format!("{} not running", readiness.roles_down().join(", ")));
    }
    let detail = format!("not ready: {}", reasons.join("; "));
    tracing::warn!(%detail, "not ready");
    let extra = json!({
        "down": readiness.down(),
        "roles_down": readiness.roles_down(),
        "checks": readiness.checks,
        "roles": readiness.roles,
    });
    problem_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        detail,
        Some(extra),
    )
}
