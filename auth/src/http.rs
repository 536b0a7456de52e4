//! The axum side: [`authenticate`] turns a bearer token into a [`Principal`] in the request's
//! extensions (or answers 401/503, and 429 past a quota), and [`require`] answers 403 unless
//! that principal holds a permission. Handlers read the caller with [`Caller`].
//!
//! A token in a header other than `Authorization: Bearer` (a cookie, a query parameter) is
//! never looked at.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::Response;

use crate::access::{Permission, Principal};
use crate::{AuthError, RateLimits, Verifier};

/// What [`authenticate`] checks a request with.
#[derive(Clone)]
pub struct Gate {
    /// Verifies bearer tokens.
    pub verifier: Verifier,
    /// Quotas per subject and, for failed authentication, per peer address.
    pub limits: RateLimits,
}

/// Every route of `router` needs a valid bearer token and a caller within its quota; the
/// principal is put in the request's extensions for [`require`] and [`Caller`]. A path no
/// route matches is still 404 (and a method none serves 405) without a token.
pub fn authenticated(router: Router, gate: Gate) -> Router {
    router.route_layer(middleware::from_fn_with_state(gate, authenticate))
}

/// The middleware of [`authenticated`]. The peer address comes from the connection
/// (`ConnectInfo`), never from a header.
pub async fn authenticate(
    State(gate): State<Gate>,
    mut request: Request,
    next: Next,
) -> Result<Response, AuthError> {
    let verified = match bearer_token(&request) {
        Ok(token) => gate.verifier.verify(token).await,
        Err(error) => Err(error),
    };
    let principal = verified.map_err(|error| gate.limits.refuse(peer(&request), error))?;
    gate.limits.admit(&principal)?;
    tracing::Span::current().record("enduser.id", principal.subject.as_str());
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// The address of the connection the request came on, when the server recorded it.
fn peer(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(request: &Request) -> Result<&str, AuthError> {
    let value = request
        .headers()
        .get(AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Invalid("Authorization is not text".into()))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| AuthError::Invalid("Authorization is not `Bearer <token>`".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Missing);
    }
    Ok(token.trim())
}

/// A route middleware answering 403 unless the caller's roles hold the permission given as
/// its state: `.route_layer(from_fn_with_state(Permission::PlaceOrder, require))` on each
/// route, so the check runs before the body is read.
pub async fn require(
    State(permission): State<Permission>,
    request: Request,
    next: Next,
) -> Result<Response, AuthError> {
    let principal = request
        .extensions()
        .get::<Principal>()
        // A route outside `authenticated`: fail closed.
        .ok_or(AuthError::Missing)?;
    if !principal.may(permission) {
        return Err(AuthError::Forbidden(permission.name()));
    }
    Ok(next.run(request).await)
}

/// The verified caller of a request that went through [`authenticated`].
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            // A route outside `authenticated`: fail closed.
            .ok_or(AuthError::Missing)
    }
}
