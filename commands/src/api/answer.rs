//! What a command is answered with: [`Target`] names the aggregate a command writes to and
//! how its success reads; [`Answer`] is a status and a JSON body, the unit the idempotency
//! store keeps and replays.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Carries the aggregate's new version (the consistency token of docs/architecture.md §5) on every
/// answer that names one; the read API accepts it back as `X-Consistency-Token`.
pub const CONSISTENCY_TOKEN: HeaderName = HeaderName::from_static("x-consistency-token");

/// Set to `true` on an answer replayed for a repeated `Idempotency-Key`.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The aggregate a command writes to, and how its success is answered.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The aggregate type, as stored with its events.
    pub(crate) aggregate_type: &'static str,
    /// The aggregate id, as stored with its events.
    pub(crate) aggregate_id: String,
    /// The member naming the id in the answer, e.g. `order_id`.
    id_member: &'static str,
    /// The status of a success.
    status: StatusCode,
    /// The id was minted for this request: the aggregate has no event yet.
    pub(crate) minted: bool,
}

impl Target {
    /// A command on `aggregate_type` `aggregate_id`, answered `status` on success.
    pub(crate) fn new(
        aggregate_type: &'static str,
        aggregate_id: impl Into<String>,
        id_member: &'static str,
        status: StatusCode,
    ) -> Self {
        Self {
            aggregate_type,
            aggregate_id: aggregate_id.into(),
            id_member,
            status,
            minted: false,
        }
    }

    /// Marks the id as minted for this request when `minted`: no event of the aggregate
    /// can exist, so the command need not load it.
    #[must_use]
    pub(crate) fn minted(self, minted: bool) -> Self {
        Self { minted, ..self }
    }

    /// The success answer: `{<id_member>: <id>, "version": <version>}`.
    pub(crate) fn answer(&self, version: u64) -> Answer {
        let mut body = json!({ "version": version });
        if let Some(object) = body.as_object_mut() {
            object.insert(self.id_member.to_owned(), json!(self.aggregate_id));
        }
        Answer {
            status: self.status,
            body,
            replayed: false,
        }
    }
}

/// A status and a JSON body (a problem document when the status is an error).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    status: StatusCode,
    body: Value,
    replayed: bool,
}

impl Answer {
    /// A problem document.
    pub(crate) fn problem(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body,
            replayed: false,
        }
    }

    /// An answer stored earlier, given again.
    pub(crate) fn replayed(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body,
            replayed: true,
        }
    }

    /// The status.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub(crate) fn body(&self) -> &Value {
        &self.body
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let content_type = if self.status.is_client_error() || self.status.is_server_error() {
            "application/problem+json"
        } else {
            "application/json"
        };
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            self.body.to_string(),
        )
            .into_response();
        let headers = response.headers_mut();
        if let Some(version) = self.body.get("version").and_then(Value::as_u64) {
            headers.insert(CONSISTENCY_TOKEN, HeaderValue::from(version));
        }
        if self.replayed {
            headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
        }
        response
    }
}
