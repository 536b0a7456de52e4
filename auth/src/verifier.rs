//! Verifying one bearer token: its key (by `kid`, fetched again when unknown, at most every
//! `auth.unknown_key_refresh_secs`), the algorithm that key is pinned to, its signature, and
//! `exp`, `nbf` (with `auth.leeway_secs`), `iss`, `aud` and `sub`; then its roles.

use std::sync::Arc;
use std::time::Duration;

use causeway_infra::settings::AuthSettings;
use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use crate::AuthError;
use crate::access::{Principal, Role};
use crate::keys::{self, ACCEPTED, Keys};

/// Verifies the tokens of the configured issuer; cheap to clone (one key cache).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    settings: AuthSettings,
    http: reqwest::Client,
    keys: RwLock<Option<Keys>>,
    /// When the keys were last fetched (or tried); held while fetching, so one request
    /// fetches and the others wait for its result.
    fetched: Mutex<Option<Instant>>,
}

/// The claims read here; the rest (of which the roles claim) stay in `other`.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(flatten)]
    other: Map<String, Value>,
}

impl Verifier {
    /// A verifier of `settings`' issuer; its keys are fetched on first use.
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .build()
            .map_err(|e| AuthError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                http,
                keys: RwLock::new(None),
                fetched: Mutex::new(None),
            }),
        })
    }

    /// The caller `token` (the part after `Bearer `) proves, or why it proves nothing.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::invalid(&e))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(AuthError::Invalid(format!("algorithm {:?}", header.alg)));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Invalid("no kid".into()))?;
        let key = self.key(&kid).await?;
        if key.algorithm != header.alg {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} for a key pinned to {:?}",
                header.alg, key.algorithm
            )));
        }
        let data = decode::<Claims>(token, &key.key, &self.validation(key.algorithm))
            .map_err(|e| AuthError::invalid(&e))?;
        Ok(self.principal(data.claims))
    }

    fn validation(&self, algorithm: jsonwebtoken::Algorithm) -> Validation {
        let settings = &self.inner.settings;
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = settings.leeway_secs;
        validation
    }

    fn principal(&self, claims: Claims) -> Principal {
        let settings = &self.inner.settings;
        let mut roles: Vec<Role> = role_values(claims.other.get(&settings.roles_claim))
            .filter_map(|value| value.strip_prefix(settings.role_prefix.as_str()))
            .filter_map(Role::from_name)
            .collect();
        roles.sort();
        roles.dedup();
        Principal {
            subject: claims.sub,
            roles,
        }
    }

    /// The key `kid`: from the cache, or fetched when the cache is stale, empty, or lacks it
    /// (a key rotated in) and was not fetched within `unknown_key_refresh_secs`.
    async fn key(&self, kid: &str) -> Result<keys::PinnedKey, AuthError> {
        let refresh = Duration::from_secs(self.inner.settings.refresh_secs);
        if let Some(key) = self.cached(kid).await
            && !self.fetched_longer_ago_than(refresh).await
        {
            return Ok(key);
        }
        self.fetch_unless_recent(kid).await?;
        self.cached(kid)
            .await
            .ok_or_else(|| AuthError::Invalid(format!("unknown kid {kid:?}")))
    }

    async fn cached(&self, kid: &str) -> Option<keys::PinnedKey> {
        self.inner.keys.read().await.as_ref()?.get(kid).cloned()
    }

    async fn fetched_longer_ago_than(&self, age: Duration) -> bool {
        self.inner
            .fetched
            .lock()
            .await
            .is_none_or(|at| at.elapsed() > age)
    }

    /// Fetches the keys unless they were fetched (or tried) within
    /// `unknown_key_refresh_secs` and hold `kid` or are recent; a failed fetch keeps the
    /// keys there are, and is an error only when there are none.
    async fn fetch_unless_recent(&self, kid: &str) -> Result<(), AuthError> {
        let settings = &self.inner.settings;
        let mut fetched = self.inner.fetched.lock().await;
        let floor = Duration::from_secs(settings.unknown_key_refresh_secs);
        if fetched.is_some_and(|at| at.elapsed() < floor) {
            // Another request fetched just now (or a token named an unknown key just now).
            return match self.inner.keys.read().await.as_ref() {
                Some(_) => Ok(()),
                None => Err(AuthError::Unavailable(
                    "the issuer's keys are unknown".into(),
                )),
            };
        }
        *fetched = Some(Instant::now());
        match keys::fetch(&self.inner.http, &settings.issuer, &settings.jwks_url).await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), kid, "fetched the issuer's signing keys");
                *self.inner.keys.write().await = Some(keys);
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, "fetching the issuer's signing keys failed");
                match self.inner.keys.read().await.as_ref() {
                    Some(_) => Ok(()),
                    None => Err(error),
                }
            }
        }
    }
}

/// The values of a roles claim: a list of strings, or one space-separated string (`scope`).
fn role_values(claim: Option<&Value>) -> Box<dyn Iterator<Item = &str> + '_> {
    match claim {
        Some(Value::Array(values)) => Box::new(values.iter().filter_map(Value::as_str)),
        Some(Value::String(text)) => Box::new(text.split_whitespace()),
        _ => Box::new(std::iter::empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_come_from_a_list_or_a_space_separated_string() {
        let list = json!(["causeway:operator", "openid"]);
        assert_eq!(
            role_values(Some(&list)).collect::<Vec<_>>(),
            ["causeway:operator", "openid"]
        );
        let scope = json!("openid causeway:admin");
        assert_eq!(
            role_values(Some(&scope)).collect::<Vec<_>>(),
            ["openid", "causeway:admin"]
        );
        assert_eq!(role_values(Some(&json!(7))).count(), 0);
        assert_eq!(role_values(None).count(), 0);
    }
}
