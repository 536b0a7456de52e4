//! Identity and access of HTTP callers (docs/security.md).
//!
//! Every `/api/*` request carries `Authorization: Bearer <JWT access token>` from one OpenID
//! Connect issuer (`auth.*` settings). The token is verified against the issuer's published
//! keys, each pinned to one algorithm (RS256, ES256 or EdDSA), and must carry `exp`, `iss`,
//! `aud` and `sub`; `nbf` is checked when present. Its `sub` becomes the caller recorded in
//! every event the request writes, and its roles (from a configurable claim) decide what the
//! caller may do, through one permission table.
//!
//! - [`access`]: roles, permissions, [`PERMISSIONS`](access::PERMISSIONS) (the table), the
//!   [`Principal`]. Pure.
//! - `keys`: the issuer's JWKS through discovery, keys pinned to their algorithm.
//! - [`Verifier`]: verifies a token with cached keys, refetched when stale or when a token
//!   names an unknown key (rate-limited).
//! - [`RateLimits`]: request quotas per verified subject (by role) and, for requests that
//!   fail authentication, per peer address.
//! - [`http`]: the axum middleware (`authenticated`, `require`) and the [`http::Caller`]
//!   extractor.
//! - [`AuthError`]: 401 / 403 / 429 / 503 as problem+json with an RFC 6750 challenge.

pub mod access;
mod error;
pub mod http;
mod keys;
mod limit;
mod verifier;

pub use access::{Permission, Principal, Role};
pub use error::{AUTH_REFUSED, AuthError};
pub use keys::ACCEPTED as ACCEPTED_ALGORITHMS;
pub use limit::RateLimits;
pub use verifier::Verifier;

/// Installs the one crypto backend token signatures are checked with (aws-lc-rs) as the
/// process default. Call it at start-up, before the first token is verified; later calls do
/// nothing.
pub fn install_crypto() {
    // An error means a provider is installed already: this one, by an earlier call.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}
