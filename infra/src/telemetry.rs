//! Logs and traces, set up once per process by [`init`] (the binary and the tests alike).
//!
//! Spans go to the log (pretty or JSON) and, when an OTLP endpoint is configured, to Jaeger
//! through OpenTelemetry. The W3C trace-context propagator is installed globally, so a
//! `traceparent` can be carried through event metadata and Kafka headers.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::InfraError;
use crate::settings::{LogFormat, TelemetrySettings};

/// Keeps the trace pipeline alive; flushes and shuts it down when dropped (a blocking call:
/// drop it on a blocking thread when inside a runtime).
#[must_use = "traces stop being exported when the guard is dropped"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Exports every finished span now. Blocks: call it from a blocking thread
    /// (`spawn_blocking`), since the exporter needs the runtime to make progress.
    pub fn flush(&self) {
        if let Some(Err(e)) = self.provider.as_ref().map(SdkTracerProvider::force_flush) {
            tracing::warn!(error = %e, "flushing spans failed");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Nothing useful can be done with a failure here: the process is ending.
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber. Must run inside a Tokio runtime when traces are exported
/// (the gRPC exporter needs one). Fails if a global subscriber is already installed.
pub fn init(settings: &TelemetrySettings) -> Result<TelemetryGuard, InfraError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = tracer_provider(settings)?;
    let otel_layer = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer().with_tracer(p.tracer(settings.service_name.clone()))
    });
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_filter))
        .map_err(|e| InfraError::Telemetry(format!("log filter: {e}")))?;
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer(settings.log_format))
        .with(otel_layer)
        .try_init()
        .map_err(|e| InfraError::Telemetry(e.to_string()))?;
    Ok(TelemetryGuard { provider })
}

/// A tracer provider exporting to `settings.otlp_endpoint` over gRPC, or `None` when the
/// endpoint is empty.
pub fn tracer_provider(
    settings: &TelemetrySettings,
) -> Result<Option<SdkTracerProvider>, InfraError> {
    if settings.otlp_endpoint.trim().is_empty() {
        return Ok(None);
    }
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(settings.otlp_endpoint.clone())
        .build()
        .map_err(|e| InfraError::Telemetry(format!("OTLP exporter: {e}")))?;
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .build();
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    ))
}

fn fmt_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    match format {
        LogFormat::Pretty => fmt::layer().with_target(true).boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    }
}

/// The W3C `traceparent` of the current span, when OpenTelemetry tracks it and the global
/// propagator writes W3C trace context: what a command stores so consumers continue it.
pub fn current_traceparent() -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = std::collections::HashMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut carrier);
    });
    carrier.remove("traceparent")
}

/// Makes `span` a child of the remote span named by a W3C `traceparent` (a Kafka header, a
/// stored event's metadata). A malformed value, or no OpenTelemetry layer, leaves it a root.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let carrier =
        std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&carrier));
    if parent.span().span_context().is_remote() {
        let _ = span.set_parent(parent);
    }
}

/// Span attribute names every event span carries (relay publication, saga reaction,
/// projection update), so one query finds every step of one event across services.
pub mod attribute {
    /// The aggregate the event belongs to.
    pub const AGGREGATE_ID: &str = "aggregate_id";
    /// The event type, e.g. `OrderPlaced`.
    pub const EVENT_TYPE: &str = "event_type";
    /// The event's sequence in its aggregate.
    pub const SEQUENCE: &str = "sequence";
    /// How the saga ended, on the span of the order event that ends it.
    pub const SAGA_OUTCOME: &str = "saga.outcome";
}

/// The saga outcome an order event ends its saga with (`confirmed`, `rejected`, `cancelled`,
/// `expired`), or `None` for an event that does not end one.
pub fn saga_outcome(event_type: &str) -> Option<&'static str> {
    match event_type {
        "OrderConfirmed" => Some("confirmed"),
        "OrderRejected" => Some("rejected"),
        "OrderCancelled" => Some("cancelled"),
        "OrderExpired" => Some("expired"),
        _ => None,
    }
}

/// How a consumer's span relates to the trace of the event it handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTrace {
    /// Live: the span is a child of the event's span, so the saga stays one trace.
    Continue,
    /// Replay or rebuild: the span starts a trace of its own and only links to the event's
    /// span, so re-consuming old events never grows old traces.
    Link,
}

/// Relates `span` to the remote span named by `traceparent` (see [`EventTrace`]). A
/// malformed value, or no OpenTelemetry layer, leaves `span` a root without a link.
pub fn follow_event(span: &tracing::Span, traceparent: &str, relation: EventTrace) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    match relation {
        EventTrace::Continue => continue_trace(span, traceparent),
        EventTrace::Link => {
            let carrier = std::collections::HashMap::from([(
                "traceparent".to_owned(),
                traceparent.to_owned(),
            )]);
            let remote = opentelemetry::global::get_text_map_propagator(|propagator| {
                propagator.extract(&carrier)
            });
            let context = remote.span().span_context().clone();
            if context.is_valid() {
                span.add_link(context);
            }
        }
    }
}

/// Links `span` to `other` (e.g. one event's span to the batch it was handled in).
pub fn link_to(span: &tracing::Span, other: &tracing::Span) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = other.context().span().span_context().clone();
    if context.is_valid() {
        span.add_link(context);
    }
}

/// The W3C `traceparent` of `span`, when OpenTelemetry tracks it: what a producer puts in a
/// message header so that consumers continue that very span.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    span.in_scope(current_traceparent)
}
