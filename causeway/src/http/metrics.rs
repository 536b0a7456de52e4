//! `GET /metrics` (Prometheus text format) and the layer that counts and times every HTTP
//! request by matched route and status.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use causeway_infra::metrics::{HTTP_DURATION, HTTP_REQUESTS, label};
use metrics_exporter_prometheus::PrometheusHandle;

/// The content type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `/metrics` route, rendering `handle`.
pub fn routes(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(handle)
}

async fn render(State(handle): State<PrometheusHandle>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], handle.render())
}

/// Middleware (`axum::middleware::from_fn`) recording [`HTTP_REQUESTS`] and
/// [`HTTP_DURATION`]. Applied with `Router::layer`, it runs after routing, so the matched
/// path is known: labels stay bounded whatever ids the paths carry.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        (label::ROUTE, route),
        (label::METHOD, method),
        (label::STATUS, status),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}
