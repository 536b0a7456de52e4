//! [`QueryError`] and its one mapping to `application/problem+json` (RFC 9457).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use causeway_infra::error::error_chain;
use causeway_infra::problem::{problem_body, problem_responses};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::openapi::RefOr;
use utoipa::openapi::response::Response as ResponseDoc;

/// Why a query was not answered with data.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A query parameter (or header) is malformed.
    #[error("{name} {reason}")]
    BadParameter {
        /// The parameter or header name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Nothing with this id in the read model.
    #[error("no {what} {id:?}")]
    NotFound {
        /// The kind of thing, e.g. `inventory item`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The read model has not applied the asked version within the wait.
    #[error("the {model} read model has applied version {applied} of {id:?}, not yet {wanted}")]
    Behind {
        /// The read model.
        model: &'static str,
        /// The id asked for.
        id: String,
        /// The version it has (0 when it has nothing).
        applied: i64,
        /// The version asked for.
        wanted: i64,
    },
    /// Postgres failed.
    #[error("read model query failed")]
    Database(#[from] sqlx::Error),
}

impl QueryError {
    fn classify(&self) -> (StatusCode, &'static str, Option<Value>) {
        match self {
            Self::BadParameter { name, .. } => (
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                Some(json!({ "parameter": name })),
            ),
            Self::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found", None),
            Self::Behind {
                applied, wanted, ..
            } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "read_model_behind",
                Some(json!({ "applied_version": applied, "min_version": wanted })),
            ),
            Self::Database(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", None),
        }
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        if let Self::Database(_) = &self {
            // The one place a 500 is logged; the client sees nothing of the cause.
            tracing::error!(error = %error_chain(&self), "query API internal error");
        }
        let (status, code, extra) = self.classify();
        let body = problem_body(status, code, self.to_string(), extra);
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// How each [`QueryError`] is documented in OpenAPI (documentation only).
const MALFORMED: (u16, &str) = (400, "A malformed parameter or header, named in `parameter`");
const NOT_FOUND: (u16, &str) = (404, "Nothing with this id in the read model");
const BEHIND: (u16, &str) = (
    503,
    "The read model has not reached `min_version` within the wait (`Retry-After: 1`)",
);
const INTERNAL: (u16, &str) = (500, "Internal error (opaque)");

/// The problems of a read of one row by id with `min_version` (documentation only).
pub(crate) struct ByIdProblems;

impl utoipa::IntoResponses for ByIdProblems {
    fn responses() -> BTreeMap<String, RefOr<ResponseDoc>> {
        problem_responses(&[MALFORMED, NOT_FOUND, BEHIND, INTERNAL])
    }
}

/// The problems of a list query (documentation only).
pub(crate) struct ListProblems;

impl utoipa::IntoResponses for ListProblems {
    fn responses() -> BTreeMap<String, RefOr<ResponseDoc>> {
        problem_responses(&[MALFORMED, INTERNAL])
    }
}

/// The problems of a read by id without `min_version` (documentation only).
pub(crate) struct LookupProblems;

impl utoipa::IntoResponses for LookupProblems {
    fn responses() -> BTreeMap<String, RefOr<ResponseDoc>> {
        problem_responses(&[NOT_FOUND, INTERNAL])
    }
}
