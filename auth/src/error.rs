//! [`AuthError`] and its one mapping to an answer: 401, 403, 429 or 503, problem+json, with the
//! `WWW-Authenticate` challenge of RFC 6750. The answer never says which check failed beyond
//! the standard error code; the log says why, at debug level.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use causeway_infra::problem::problem_response;

/// Why a request was not let in.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header.
    #[error("no bearer token")]
    Missing,
    /// The token is malformed, forged, expired, not yet valid, for another issuer or
    /// audience, or signed with an unknown key or algorithm.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The caller is known but its roles do not hold the permission.
    #[error("the caller may not {0}")]
    Forbidden(&'static str),
    /// The issuer's keys cannot be fetched (and none are cached).
    #[error("the token issuer is unavailable: {0}")]
    Unavailable(String),
    /// The caller (or, unauthenticated, its address) is past its quota.
    #[error("rate limited for {retry_after:?}")]
    RateLimited {
        /// When the next request would be let in.
        retry_after: std::time::Duration,
    },
}

impl AuthError {
    /// An invalid token, from the verification library's error.
    pub(crate) fn invalid(error: &jsonwebtoken::errors::Error) -> Self {
        Self::Invalid(error.to_string())
    }

    /// The bounded label of `causeway_auth_refused_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid(_) => "invalid",
            Self::Forbidden(_) => "forbidden",
            Self::Unavailable(_) => "unavailable",
            Self::RateLimited { .. } => "rate_limited",
        }
    }
}

/// Answers refused for authentication or authorization, by reason.
pub const AUTH_REFUSED: &str = "causeway_auth_refused_total";

/// Seconds a client is told to wait while the issuer is unavailable.
const RETRY_AFTER_SECS: u32 = 5;

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        metrics::counter!(AUTH_REFUSED, "reason" => self.reason()).increment(1);
        tracing::debug!(error = %self, "request refused");
        let (status, code, detail, challenge) = match &self {
            Self::Missing => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "this API needs an `Authorization: Bearer <access token>` header".to_owned(),
                Some(r#"Bearer realm="causeway""#.to_owned()),
            ),
            Self::Invalid(_) => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is not valid".to_owned(),
                Some(r#"Bearer realm="causeway", error="invalid_token""#.to_owned()),
            ),
            Self::Forbidden(permission) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("the caller's roles do not grant {permission}"),
                Some(r#"Bearer realm="causeway", error="insufficient_scope""#.to_owned()),
            ),
            Self::Unavailable(reason) => {
                tracing::warn!(%reason, "cannot verify tokens");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "auth_unavailable",
                    "access tokens cannot be verified right now".to_owned(),
                    None,
                )
            }
            Self::RateLimited { retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many requests; retry in {} s",
                    retry_after_secs(*retry_after)
                ),
                None,
            ),
        };
        let mut response = problem_response(status, code, detail, None);
        let headers = response.headers_mut();
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        match self {
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            Self::RateLimited { retry_after } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(retry_after)),
                );
            }
            _ => {}
        }
        response
    }
}

/// Whole seconds, rounded up: `Retry-After` has no fractions.
fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}
