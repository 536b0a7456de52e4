//! The metadata every command carries, read from the request headers, and the span each
//! command request runs in.
//!
//! | header | becomes | when absent |
//! |---|---|---|
//! | `X-Correlation-Id` (a UUID) | `correlation_id`, echoed on the answer | a new UUID v7 |
//! | `Idempotency-Key` | `idempotency_key` (see [`super::idempotency`]) | none |
//! | `traceparent` (W3C) | the parent of the command span; `traceparent` | a new trace |
//!
//! The `caller` is the verified subject of the request's bearer token (`causeway-auth`),
//! never something the client asserts; idempotency keys are scoped by it.
//!
//! The stored `traceparent` is the command span's own context when OpenTelemetry is
//! installed (so the relay and consumers continue this very span), else the incoming header.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use causeway_event_store::CommandMetadata;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use super::error::ApiError;
use super::idempotency::IdempotencyKey;

/// Names the flow a command belongs to; echoed on every answer.
pub const CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");
/// Makes a retried command take effect at most once.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The W3C trace context of the caller.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The longest `Idempotency-Key` accepted.
const MAX_KEY_LEN: usize = 255;

/// Names the ids derived from idempotency keys (UUID v5), so they collide with no other v5.
const DERIVED_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5f1e_4a0c_9b7d_4c21_a3f6_2d8e_0b91_c7e4);

/// What one command request carries besides its body.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    /// The metadata stored with every event the command writes.
    pub(crate) metadata: CommandMetadata,
    /// The idempotency key with the request's fingerprint, when the caller sent one.
    pub(crate) idempotency: Option<IdempotencyKey>,
}

impl RequestContext {
    /// Reads the headers of a request by `caller` (the verified subject); `fingerprint`
    /// identifies the request (method, path, body).
    pub(crate) fn from_headers(
        headers: &HeaderMap,
        caller: String,
        fingerprint: [u8; 32],
    ) -> Result<Self, ApiError> {
        let correlation_id = correlation_id(headers)?;
        let key = idempotency_key(headers)?;
        let idempotency = key
            .clone()
            .map(|key| IdempotencyKey::new(caller.clone(), key, fingerprint));
        let metadata = CommandMetadata {
            correlation_id,
            causation_id: None,
            caller,
            idempotency_key: key,
            traceparent: causeway_infra::telemetry::current_traceparent()
                .or_else(|| incoming_traceparent(headers)),
        };
        Ok(Self {
            metadata,
            idempotency,
        })
    }

    /// The id of an aggregate this request creates: derived from the idempotency key when
    /// there is one, so that a retry addresses the same aggregate; else a new UUID v7.
    pub(crate) fn new_aggregate_id(&self, aggregate_type: &str) -> Uuid {
        match &self.idempotency {
            Some(request) => {
                let name = format!("{aggregate_type}\n{}\n{}", request.caller(), request.key());
                Uuid::new_v5(&DERIVED_ID_NAMESPACE, name.as_bytes())
            }
            None => Uuid::now_v7(),
        }
    }

    /// Whether [`Self::new_aggregate_id`] mints a new id (no idempotency key), which no
    /// stored aggregate can have yet; a key's derived id is that of its first request.
    pub(crate) fn mints_ids(&self) -> bool {
        self.idempotency.is_none()
    }
}

fn correlation_id(headers: &HeaderMap) -> Result<Uuid, ApiError> {
    let Some(value) = headers.get(CORRELATION_ID) else {
        return Ok(Uuid::now_v7());
    };
    value
        .to_str()
        .ok()
        .and_then(|text| Uuid::parse_str(text.trim()).ok())
        .ok_or_else(|| invalid_header(&CORRELATION_ID, "must be a UUID"))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    headers
        .get(IDEMPOTENCY_KEY)
        .map(|value| {
            token(value, MAX_KEY_LEN)
                .ok_or_else(|| invalid_header(&IDEMPOTENCY_KEY, token_rule(MAX_KEY_LEN)))
        })
        .transpose()
}

/// 1 to `max_len` visible ASCII characters (no spaces).
fn token(value: &HeaderValue, max_len: usize) -> Option<String> {
    let bytes = value.as_bytes();
    let valid = (1..=max_len).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_graphic);
    valid.then(|| String::from_utf8_lossy(bytes).into_owned())
}

fn token_rule(max_len: usize) -> String {
    format!("must be 1 to {max_len} visible ASCII characters")
}

fn invalid_header(name: &HeaderName, rule: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_header",
        field: Some(name.as_str().to_owned()),
        detail: format!("header {}: {}", name.as_str(), rule.into()),
    }
}

/// The incoming `traceparent` when well-formed (W3C: an invalid one is ignored).
fn incoming_traceparent(headers: &HeaderMap) -> Option<String> {
    let text = headers.get(TRACEPARENT)?.to_str().ok()?.trim();
    let parts: Vec<&str> = text.split('-').collect();
    let [version, trace_id, parent_id, flags] = parts.as_slice() else {
        return None;
    };
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let not_zero = |s: &str| s.bytes().any(|b| b != b'0');
    let valid = *version == "00"
        && hex(trace_id, 32)
        && not_zero(trace_id)
        && hex(parent_id, 16)
        && not_zero(parent_id)
        && hex(flags, 2);
    valid.then(|| text.to_owned())
}

/// Runs a command request in its own span, continuing the caller's trace when it sent a
/// `traceparent`, and echoes (or assigns) its correlation id.
pub(crate) async fn command_span(mut request: Request, next: Next) -> Response {
    let correlation = match request.headers().get(CORRELATION_ID) {
        Some(value) => Some(value.clone()),
        None => assign_correlation_id(request.headers_mut()),
    };
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let span = tracing::info_span!(
        "command",
        otel.name = %format!("{} {route}", request.method()),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = %route,
        correlation_id = correlation.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default(),
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    if parent.span().span_context().is_remote() {
        // Without an OpenTelemetry layer there is nothing to continue; that is fine.
        let _ = span.set_parent(parent);
    }
    let mut response = next.run(request).instrument(span).await;
    if let Some(correlation) = correlation {
        response.headers_mut().insert(CORRELATION_ID, correlation);
    }
    response
}

/// Gives a request without `X-Correlation-Id` a new one, read by the metadata like any.
fn assign_correlation_id(headers: &mut HeaderMap) -> Option<HeaderValue> {
    let value = HeaderValue::try_from(Uuid::now_v7().to_string()).ok()?;
    headers.insert(CORRELATION_ID, value.clone());
    Some(value)
}

/// Reads trace context from HTTP headers.
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_well_formed_traceparent_is_kept_and_a_malformed_one_ignored() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let traceparent = |value| incoming_traceparent(&headers(&[("traceparent", value)]));
        assert_eq!(traceparent(valid).as_deref(), Some(valid));
        for invalid in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert_eq!(traceparent(invalid), None, "{invalid}");
        }
    }

    #[test]
    fn ids_derived_from_a_key_depend_on_the_key_the_caller_and_the_aggregate_type() {
        let context = |caller: &str, key: &str| {
            let map = headers(&[("idempotency-key", key)]);
            RequestContext::from_headers(&map, caller.to_owned(), [0; 32]).unwrap()
        };
        let id = context("shop", "k1").new_aggregate_id("Order");
        assert_eq!(id, context("shop", "k1").new_aggregate_id("Order"));
        assert_eq!(id.get_version_num(), 5);
        assert_ne!(id, context("shop", "k2").new_aggregate_id("Order"));
        assert_ne!(id, context("other", "k1").new_aggregate_id("Order"));
        assert_ne!(id, context("shop", "k1").new_aggregate_id("Customer"));
        let keyless =
            RequestContext::from_headers(&HeaderMap::new(), "shop".into(), [0; 32]).unwrap();
        assert_ne!(
            keyless.new_aggregate_id("Order"),
            keyless.new_aggregate_id("Order")
        );
    }

    #[test]
    fn metadata_headers_are_checked_and_defaulted() {
        let defaults =
            RequestContext::from_headers(&HeaderMap::new(), "shop".into(), [0; 32]).unwrap();
        assert_eq!(defaults.metadata.caller, "shop");
        assert_eq!(defaults.metadata.causation_id, None);
        assert!(defaults.idempotency.is_none());
        for (name, value) in [("x-correlation-id", "not-a-uuid"), ("idempotency-key", "")] {
            let error =
                RequestContext::from_headers(&headers(&[(name, value)]), "shop".into(), [0; 32])
                    .expect_err(name);
            assert!(
                matches!(&error, ApiError::BadRequest { field: Some(f), .. } if f == name),
                "{error:?}"
            );
        }
    }
}
