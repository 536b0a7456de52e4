//! RFC 9457 problem documents (`application/problem+json`): the one shape every HTTP error
//! of every role answers with.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::Ref;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document as an answer: `status`, `Content-Type: application/problem+json` and
/// [`problem_body`]. Callers add their own headers (`Retry-After`, `WWW-Authenticate`).
pub fn problem_response(
    status: StatusCode,
    code: &str,
    detail: String,
    extra: Option<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = problem_body(status, code, detail, extra);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, PROBLEM_JSON)],
        body.to_string(),
    )
        .into_response()
}

/// A problem document: `type`, `title` (the status' reason), `status`, `detail`, a
/// machine-readable `code`, and the members of `extra` when it is an object.
pub fn problem_body(status: StatusCode, code: &str, detail: String, extra: Option<Value>) -> Value {
    let mut body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    });
    if let (Some(Value::Object(members)), Some(object)) = (extra, body.as_object_mut()) {
        object.extend(members);
    }
    body
}

/// OpenAPI responses answered with a problem document: `(status, description)` pairs, for a
/// role's `utoipa::IntoResponses` sets. The body is the `Problem` schema, which the binary's
/// merged `/openapi.json` holds.
pub fn problem_responses(errors: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    errors
        .iter()
        .map(|&(status, description)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build();
            let response = ResponseBuilder::new()
                .description(description)
                .content(PROBLEM_JSON, content)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_members_join_the_standard_ones() {
        let body = problem_body(
            StatusCode::CONFLICT,
            "version_conflict",
            "retried 3 times".to_owned(),
            Some(json!({"attempts": 3})),
        );
        assert_eq!(body["title"], "Conflict");
        assert_eq!(body["status"], 409);
        assert_eq!(body["code"], "version_conflict");
        assert_eq!(body["attempts"], 3);
    }
}
