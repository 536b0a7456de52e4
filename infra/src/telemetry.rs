//! Logs and traces, set up once per process by [`init`] (the binary and the tests alike).
//!
//! Spans go to the log (pretty or JSON) and, when an OTLP endpoint is configured, to Jaeger
//! through OpenTelemetry. The W3C trace-context propagator is installed globally, so a
//! `traceparent` can be carried through event metadata and Kafka headers.
//!
//! Every log line written inside a traced span carries its trace id (`trace_id` in JSON, a
//! `trace_id=…` prefix on a terminal), so an error in the log leads to its trace in Jaeger.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::dispatcher::WeakDispatch;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
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
        .with(fmt_layer(settings.log_format, std::io::stdout))
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

/// The log layer: lines in `format`, each with the trace id of its span (see
/// [`WithTraceId`]), written to `writer`.
fn fmt_layer<S, W>(format: LogFormat, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let dispatch = DispatchCell::default();
    let layer = match format {
        LogFormat::Pretty => fmt::layer()
            .with_writer(writer)
            .event_format(WithTraceId {
                inner: fmt::format().with_target(true),
                format,
                dispatch: dispatch.clone(),
            })
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_writer(writer)
            .event_format(WithTraceId {
                inner: fmt::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
                format,
                dispatch: dispatch.clone(),
            })
            .boxed(),
    };
    layer.and_then(dispatch).boxed()
}

/// The subscriber's dispatch, kept when the subscriber is installed: inside a subscriber
/// callback `Span::current()` sees no subscriber, so the log formatter asks the
/// OpenTelemetry layer for a span's context through this.
#[derive(Clone, Default)]
struct DispatchCell(Arc<OnceLock<WeakDispatch>>);

impl<S: tracing::Subscriber> Layer<S> for DispatchCell {
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.0.set(subscriber.downgrade());
    }
}

impl DispatchCell {
    /// The trace id of the span with `id`, when OpenTelemetry tracks it. Takes the span's
    /// extensions: the caller must not hold them.
    fn trace_id(&self, id: &tracing::span::Id) -> Option<String> {
        use opentelemetry::trace::TraceContextExt as _;
        let dispatch = self.0.get()?.upgrade()?;
        let context = tracing_opentelemetry::get_otel_context(id, &dispatch)?;
        let span = context.span();
        let span_context = span.span_context();
        span_context
            .is_valid()
            .then(|| span_context.trace_id().to_string())
    }
}

/// An event formatter that adds the trace id of the current span to what `inner` writes: a
/// `trace_id` member of the JSON object, or a `trace_id=…` prefix on a terminal line.
struct WithTraceId<F> {
    inner: F,
    format: LogFormat,
    dispatch: DispatchCell,
}

impl<S, N, F> FormatEvent<S, N> for WithTraceId<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        // Asked before formatting: the formatter holds span extensions while it writes.
        let span = ctx.parent_span().map(|span| span.id());
        let Some(trace_id) = span.and_then(|id| self.dispatch.trace_id(&id)) else {
            return self.inner.format_event(ctx, writer, event);
        };
        match self.format {
            LogFormat::Json => {
                let mut line = String::new();
                self.inner
                    .format_event(ctx, Writer::new(&mut line), event)?;
                writer.write_str(&with_json_member(&line, "trace_id", &trace_id))
            }
            LogFormat::Pretty if writer.has_ansi_escapes() => {
                write!(writer, "\x1b[2mtrace_id={trace_id}\x1b[0m ")?;
                self.inner.format_event(ctx, writer, event)
            }
            LogFormat::Pretty => {
                write!(writer, "trace_id={trace_id} ")?;
                self.inner.format_event(ctx, writer, event)
            }
        }
    }
}

/// `line` (one JSON object) with `"name":"value"` as its first member; `value` must need no
/// escaping. A line that is not an object is left as it is.
fn with_json_member(line: &str, name: &str, value: &str) -> String {
    let Some(rest) = line.strip_prefix('{') else {
        return line.to_owned();
    };
    let separator = if rest.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    format!("{{\"{name}\":\"{value}\"{separator}{rest}")
}

/// The 32-hex-digit trace id of the current span, when OpenTelemetry tracks it.
pub fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
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

/// How a consumer's span relates to the trace of the event it handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTrace {
    /// Live: the span is a child of the event's span, so the saga stays one trace.
    Continue,
    /// Replay or rebuild: the span starts a trace of its own and only links to the event's
    /// span, so re-consuming old events never grows old traces.
    Link,
}

impl EventTrace {
    /// How a consumer relates to an event recorded at `recorded_at`, seen at `now`: an
    /// event older than `replay_age` is being re-consumed (offsets reset, a consumer restored
    /// far behind), so its spans only link to its trace; anything younger, or without a
    /// recorded time, continues it.
    pub fn by_age(
        recorded_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        replay_age: Duration,
    ) -> Self {
        let age = recorded_at
            .and_then(|at| (now - at).to_std().ok())
            .unwrap_or_default();
        if age > replay_age {
            Self::Link
        } else {
            Self::Continue
        }
    }
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Log lines written to memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("log buffer").clone()).expect("UTF-8 log")
        }
    }

    /// Logs an error inside a traced span and one outside any span, in `format`; answers the
    /// log and the span's trace id.
    fn log_in_a_trace(format: LogFormat) -> (String, String) {
        let lines = Lines::default();
        let writer = lines.clone();
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(fmt_layer(format, move || writer.clone()))
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let trace_id = tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside any span");
            let span = tracing::info_span!("reaction");
            let _entered = span.enter();
            tracing::error!(error = "boom", "reaction failed");
            current_trace_id().expect("a traced span has a trace id")
        });
        (lines.text(), trace_id)
    }

    #[test]
    fn a_json_line_logged_in_a_trace_carries_its_trace_id() {
        let (log, trace_id) = log_in_a_trace(LogFormat::Json);
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
            .collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert_eq!(lines[0].get("trace_id"), None, "{log}");
        assert_eq!(lines[1]["trace_id"], trace_id.as_str(), "{log}");
        assert_eq!(lines[1]["error"], "boom", "{log}");
        assert_eq!(trace_id.len(), 32);
    }

    #[test]
    fn a_terminal_line_logged_in_a_trace_starts_with_its_trace_id() {
        let (log, trace_id) = log_in_a_trace(LogFormat::Pretty);
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert!(!lines[0].contains("trace_id"), "{log}");
        assert!(
            lines[1].contains(&format!("trace_id={trace_id}"))
                && lines[1].contains("reaction failed"),
            "{log}"
        );
    }

    #[test]
    fn a_json_member_goes_first_in_the_object() {
        assert_eq!(
            with_json_member(r#"{"a":1}"#, "t", "x"),
            r#"{"t":"x","a":1}"#
        );
        assert_eq!(with_json_member("{}\n", "t", "x"), "{\"t\":\"x\"}\n");
        assert_eq!(with_json_member("not json", "t", "x"), "not json");
    }

    #[test]
    fn an_event_older_than_the_replay_age_is_only_linked() {
        let now = Utc::now();
        let age = Duration::from_secs(600);
        let recorded = |secs| Some(now - chrono::Duration::seconds(secs));
        assert_eq!(
            EventTrace::by_age(recorded(5), now, age),
            EventTrace::Continue
        );
        assert_eq!(
            EventTrace::by_age(recorded(601), now, age),
            EventTrace::Link
        );
        assert_eq!(EventTrace::by_age(None, now, age), EventTrace::Continue);
        // A clock a little behind the recorder's: not a replay.
        assert_eq!(
            EventTrace::by_age(recorded(-3), now, age),
            EventTrace::Continue
        );
    }
}
