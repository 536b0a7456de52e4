//! Extractors whose every rejection is an [`ApiError`] (so problem+json): the command body
//! with its metadata ([`CommandRequest`]) and a path segment ([`PathParam`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use causeway_auth::Principal;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::CommandApi;
use super::context::RequestContext;
use super::error::ApiError;

/// A JSON command body deserialised into `T`, with the request's metadata.
#[derive(Debug)]
pub(crate) struct CommandRequest<T> {
    /// The request DTO (not validated yet: see [`super::requests`]).
    pub(crate) body: T,
    /// Metadata and idempotency key.
    pub(crate) context: RequestContext,
}

impl<T: DeserializeOwned> FromRequest<CommandApi> for CommandRequest<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, api: &CommandApi) -> Result<Self, ApiError> {
        require_json(request.headers())?;
        // Put there by the authentication layer; a request without it never gets here.
        let caller = request
            .extensions()
            .get::<Principal>()
            .map(|p| p.subject.clone())
            .ok_or(causeway_auth::AuthError::Missing)?;
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let headers = request.headers().clone();
        let bytes = Bytes::from_request(request, api)
            .await
            .map_err(|rejection| body_rejection(&rejection, api.config.body_limit_bytes))?;
        let Json(body) = Json::<T>::from_bytes(&bytes).map_err(json_rejection)?;
        let fingerprint = fingerprint(&method, &path, &bytes);
        let context = RequestContext::from_headers(&headers, caller, fingerprint)?;
        Ok(Self { body, context })
    }
}

/// SHA-256 of method, path and body bytes: what "the same request" means for an
/// idempotency key.
fn fingerprint(method: &Method, path: &str, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().into()
}

/// Accepts `application/json` and `application/<anything>+json`, with parameters.
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase());
    let is_json = essence.as_deref().is_some_and(|e| {
        e == "application/json" || (e.starts_with("application/") && e.ends_with("+json"))
    });
    if is_json {
        return Ok(());
    }
    Err(ApiError::BadRequest {
        code: "unsupported_media_type",
        field: Some(header::CONTENT_TYPE.as_str().to_owned()),
        detail: "the body must be JSON sent with Content-Type: application/json".to_owned(),
    })
}

fn body_rejection(rejection: &BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::PayloadTooLarge { limit };
    }
    ApiError::BadRequest {
        code: "unreadable_body",
        field: None,
        detail: rejection.body_text(),
    }
}

type PathError = serde_path_to_error::Error<serde_json::Error>;

fn json_rejection(rejection: JsonRejection) -> ApiError {
    if let JsonRejection::JsonDataError(error) = &rejection
        && let Some(error) = find_source::<PathError>(error)
    {
        return data_error(error);
    }
    ApiError::BadRequest {
        code: "malformed_json",
        field: None,
        detail: inner_detail(&rejection),
    }
}

/// Names the field a data error is about: serde's path, which ends at the field itself
/// except for a missing one, reported at its enclosing object (`missing field `x``).
fn data_error(error: &PathError) -> ApiError {
    let message = without_position(error.inner());
    let path = error.path().to_string();
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let field = match (path.as_str(), missing) {
        (".", Some(name)) => name.to_owned(),
        (path, Some(name)) => format!("{path}.{name}"),
        (path, None) => path.to_owned(),
    };
    let code = if missing.is_some() {
        "missing_field"
    } else if message.starts_with("unknown field `") {
        "unknown_field"
    } else {
        "invalid_field"
    };
    ApiError::BadRequest {
        code,
        detail: format!("{field}: {message}"),
        field: Some(field),
    }
}

/// serde_json's message without its ` at line L column C` suffix.
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    message
        .strip_suffix(&suffix)
        .map_or_else(|| message.clone(), str::to_owned)
}

fn inner_detail(rejection: &JsonRejection) -> String {
    match find_source::<PathError>(rejection) {
        Some(error) => format!("malformed JSON: {}", error.inner()),
        None => rejection.body_text(),
    }
}

fn find_source<'a, E: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// One path segment, as text (parsed into a domain value by the handler).
#[derive(Debug)]
pub(crate) struct PathParam(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(segment)| Self(segment))
            .map_err(|rejection| ApiError::BadRequest {
                code: "invalid_path",
                field: None,
                detail: rejection.body_text(),
            })
    }
}
