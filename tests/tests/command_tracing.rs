//! A command continues its caller's W3C trace in a span of its own, and stores that span as
//! the event's `traceparent`. Alone in its test binary: it installs a global subscriber,
//! which must not race other tests' span call sites.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use causeway_tests::{TestApp, TestDatabase};
use opentelemetry::trace::TracerProvider as _;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt as _;

#[tokio::test]
async fn a_command_continues_the_callers_trace_in_a_span_of_its_own() {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("command-api-test"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel)).unwrap();

    let db = TestDatabase::migrated().await;
    let app = TestApp::spawn(db.settings.clone()).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let response = app
        .client
        .post(format!("{}/api/inventory/mug-9/restock", app.address))
        .header("traceparent", &traceparent)
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let stored: String = sqlx::query_scalar("SELECT metadata ->> 'traceparent' FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let parts: Vec<&str> = stored.split('-').collect();
    assert_eq!(parts.len(), 4, "{stored}");
    assert_eq!(parts[1], trace_id, "the caller's trace goes on: {stored}");
    assert_ne!(
        parts[2], caller_span,
        "the command has a span of its own: {stored}"
    );
}
