//! [`ApiError`], the one error type of the command API, and its one mapping to HTTP:
//! `application/problem+json` (RFC 9457) with a machine-readable `code` member.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use causeway_domain::DomainRejection;
use causeway_infra::error::error_chain;
use causeway_infra::problem::problem_body;
use serde_json::{Value, json};

use super::answer::Answer;
use causeway_event_store::{CommandError, StoreError};

/// Everything the command API can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request could not be read as a command: bad JSON, a missing or invalid field, a
    /// bad header or path segment, a body that is not JSON.
    #[error("{detail}")]
    BadRequest {
        /// Machine-readable kind, e.g. `invalid_field`.
        code: &'static str,
        /// The offending field, as a path into the body (`lines[2].quantity`) or a header name.
        field: Option<String>,
        /// What is wrong, for humans.
        detail: String,
    },
    /// The body is larger than the configured limit.
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The aggregate the command addresses (or one it refers to) does not exist.
    #[error("{detail}")]
    NotFound {
        /// The rejection's code, ending in `_not_found`.
        code: &'static str,
        /// What was not found, for humans.
        detail: String,
    },
    /// The aggregate refused the command.
    #[error("{detail}")]
    Rejected {
        /// The rejection's stable code.
        code: &'static str,
        /// Why, for humans.
        detail: String,
    },
    /// The idempotency key was first used for a different request.
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// A request with the same idempotency key is still running.
    #[error("a request with the same Idempotency-Key is still in progress; retry later")]
    RequestInProgress,
    /// Concurrent writers kept changing the aggregate through every retry.
    #[error("the aggregate kept changing concurrently ({attempts} attempts); retry")]
    Conflict {
        /// How many times the command was decided.
        attempts: u32,
    },
    /// The sagas are further behind than admission control allows: a new order now would
    /// likely expire before it finishes.
    #[error(
        "the platform is behind: the sagas have {backlog} messages left to handle (bound {bound}); retry after {retry_after_secs} s"
    )]
    Overloaded {
        /// Messages left, as last measured.
        backlog: u64,
        /// The configured bound.
        bound: u64,
        /// When to try again.
        retry_after_secs: u64,
    },
    /// The request reached a command without a verified caller (a route outside the
    /// authentication layer): refused, never run as nobody.
    #[error(transparent)]
    Auth(#[from] causeway_auth::AuthError),
    /// Anything else: opaque to the client, logged once with its cause chain.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl ApiError {
    /// A 400 on a field of the request.
    pub(crate) fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "invalid_field",
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    /// A 500 wrapping its cause.
    pub(crate) fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(error))
    }

    /// A business rejection: 404 when its code says something was not found, else 422.
    pub(crate) fn rejected(rejection: &impl DomainRejection) -> Self {
        let code = rejection.code();
        let detail = rejection.to_string();
        if code.ends_with("_not_found") {
            Self::NotFound { code, detail }
        } else {
            Self::Rejected { code, detail }
        }
    }

    /// Whether this answer is final for its request: a retry with the same idempotency key
    /// is answered with it again. Conflicts and internal errors are not: the retry runs.
    pub(crate) fn is_final(&self) -> bool {
        matches!(self, Self::NotFound { .. } | Self::Rejected { .. })
    }

    /// The HTTP status, `code` member and extra members: the one mapping to HTTP.
    fn classify(&self) -> (StatusCode, &'static str, Option<Value>) {
        match self {
            Self::BadRequest { code, field, .. } => (
                StatusCode::BAD_REQUEST,
                code,
                field.as_ref().map(|f| json!({ "field": f })),
            ),
            Self::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                Some(json!({ "limit_bytes": limit })),
            ),
            Self::NotFound { code, .. } => (StatusCode::NOT_FOUND, code, None),
            Self::Rejected { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code, None),
            Self::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                None,
            ),
            Self::RequestInProgress => (StatusCode::CONFLICT, "request_in_progress", None),
            Self::Conflict { attempts } => (
                StatusCode::CONFLICT,
                "version_conflict",
                Some(json!({ "attempts": attempts })),
            ),
            Self::Overloaded {
                backlog,
                bound,
                retry_after_secs,
            } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                Some(
                    json!({ "backlog": backlog, "bound": bound, "retry_after_secs": retry_after_secs }),
                ),
            ),
            Self::Auth(_) => (StatusCode::UNAUTHORIZED, "unauthenticated", None),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", None),
        }
    }

    /// The problem document answering this error.
    pub(crate) fn to_answer(&self) -> Answer {
        let (status, code, extra) = self.classify();
        let body = problem_body(status, code, self.to_string(), extra);
        Answer::problem(status, body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Auth(error) = self {
            return error.into_response();
        }
        if let Self::Internal(_) = &self {
            // The one place a 500 is logged; the client sees nothing of the cause.
            tracing::error!(error = %error_chain(&self), "command API internal error");
        }
        let retry_after = match &self {
            Self::Overloaded {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let mut response = self.to_answer().into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl<R: DomainRejection> From<CommandError<R>> for ApiError {
    fn from(error: CommandError<R>) -> Self {
        match error {
            CommandError::Rejected(rejection) => Self::rejected(&rejection),
            CommandError::Conflict { attempts } => Self::Conflict { attempts },
            CommandError::Store(store) => Self::internal(store),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::internal(error)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::internal(error)
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use causeway_domain::{CustomerRejection, OrderRejection, OrderStatus};

    use super::*;

    async fn problem(error: ApiError) -> (StatusCode, String, Value) {
        let response = error.into_response();
        let status = response.status();
        let content_type = response.headers()[axum::http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (
            status,
            content_type,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn every_error_is_problem_json_with_its_status_and_code() {
        let cases = [
            (
                ApiError::invalid_field("lines[0].sku", "bad"),
                400,
                "invalid_field",
            ),
            (
                ApiError::PayloadTooLarge { limit: 10 },
                413,
                "payload_too_large",
            ),
            (
                ApiError::rejected(&OrderRejection::NotFound),
                404,
                "order_not_found",
            ),
            (
                ApiError::rejected(&OrderRejection::NoLines),
                422,
                "order_has_no_lines",
            ),
            (
                ApiError::IdempotencyKeyReused,
                422,
                "idempotency_key_reused",
            ),
            (ApiError::RequestInProgress, 409, "request_in_progress"),
            (ApiError::Conflict { attempts: 5 }, 409, "version_conflict"),
            (ApiError::internal(std::fmt::Error), 500, "internal_error"),
        ];
        for (error, status, code) in cases {
            let (actual, content_type, body) = problem(error).await;
            assert_eq!(actual.as_u16(), status, "{body}");
            assert_eq!(content_type, "application/problem+json");
            assert_eq!(body["code"], code, "{body}");
            assert_eq!(body["status"], status, "{body}");
            assert!(
                body["title"].is_string() && body["detail"].is_string(),
                "{body}"
            );
        }
    }

    #[tokio::test]
    async fn a_rejection_keeps_its_code_and_says_why() {
        let rejection = OrderRejection::AlreadyFinal {
            status: OrderStatus::Cancelled,
        };
        let (status, _, body) = problem(ApiError::rejected(&rejection)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["code"], "order_already_final");
        assert_eq!(body["detail"], rejection.to_string());
        let (status, _, _) = problem(ApiError::rejected(&CustomerRejection::NotFound)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn an_internal_error_tells_the_client_nothing_of_its_cause() {
        let cause = std::io::Error::other("password=hunter2 at db.internal");
        let (status, _, body) = problem(ApiError::internal(cause)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("hunter2"), "{body}");
        assert_eq!(body["detail"], "internal error");
    }

    #[test]
    fn a_store_conflict_after_every_retry_is_a_409_and_not_final() {
        let error = ApiError::from(CommandError::<OrderRejection>::Conflict { attempts: 3 });
        assert!(matches!(error, ApiError::Conflict { attempts: 3 }));
        assert!(!error.is_final());
        assert!(ApiError::rejected(&OrderRejection::NoLines).is_final());
    }

    #[test]
    fn the_field_member_names_the_offending_input() {
        let answer = ApiError::invalid_field("lines[2].quantity", "too many").to_answer();
        assert_eq!(answer.body()["field"], "lines[2].quantity");
    }
}
