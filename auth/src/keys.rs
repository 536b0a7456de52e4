//! The issuer's signing keys: its JWKS, found through OpenID Connect discovery (or a
//! configured URL), each key pinned to the one algorithm it may verify.
//!
//! A key's algorithm is its JWK `alg` when present, else what its type implies: RSA → RS256,
//! EC P-256 → ES256, OKP Ed25519 → EdDSA. Only those three are accepted; symmetric (`oct`)
//! keys and keys marked for encryption are dropped, so a token can never be checked as an
//! HMAC over a public key, and `none` never matches a key.

use std::collections::HashMap;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::AuthError;

/// The algorithms a key may be pinned to.
pub const ACCEPTED: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// One verification key and the algorithm it is pinned to.
#[derive(Clone)]
pub(crate) struct PinnedKey {
    pub(crate) key: DecodingKey,
    pub(crate) algorithm: Algorithm,
}

/// The usable keys of one JWKS, by key id.
#[derive(Clone, Default)]
pub(crate) struct Keys {
    by_id: HashMap<String, PinnedKey>,
}

impl Keys {
    /// The usable keys of `set`; keys without a `kid`, of another use, or of an algorithm
    /// not in [`ACCEPTED`] are dropped.
    pub(crate) fn from_set(set: &JwkSet) -> Self {
        let by_id = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let id = jwk.common.key_id.clone()?;
                let algorithm = pinned_algorithm(jwk)?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((id, PinnedKey { key, algorithm }))
            })
            .collect();
        Self { by_id }
    }

    /// The key with id `kid`.
    pub(crate) fn get(&self, kid: &str) -> Option<&PinnedKey> {
        self.by_id.get(kid)
    }

    /// How many usable keys there are.
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

/// The one algorithm `jwk` may verify, if it is a signing key of an accepted kind.
fn pinned_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    let algorithm = match jwk.common.key_algorithm {
        None => implied,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(_) => return None,
    };
    (algorithm == implied).then_some(algorithm)
}

/// The parts of a discovery document used here.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// Fetches the keys: from `jwks_url`, or when it is empty from the `jwks_uri` of `issuer`'s
/// discovery document (whose `issuer` must be `issuer` exactly, as OpenID Connect Discovery
/// requires).
pub(crate) async fn fetch(
    http: &reqwest::Client,
    issuer: &str,
    jwks_url: &str,
) -> Result<Keys, AuthError> {
    let jwks_url = if jwks_url.is_empty() {
        discover(http, issuer).await?
    } else {
        jwks_url.to_owned()
    };
    let set: JwkSet = get_json(http, &jwks_url).await?;
    Ok(Keys::from_set(&set))
}

async fn discover(http: &reqwest::Client, issuer: &str) -> Result<String, AuthError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let discovery: Discovery = get_json(http, &url).await?;
    if discovery.issuer != issuer {
        return Err(AuthError::Unavailable(format!(
            "the discovery document at {url} names issuer {:?}, not {issuer:?}",
            discovery.issuer
        )));
    }
    Ok(discovery.jwks_uri)
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, AuthError> {
    let unavailable = |e: reqwest::Error| AuthError::Unavailable(format!("GET {url}: {e}"));
    http.get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(unavailable)?
        .json()
        .await
        .map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(keys: serde_json::Value) -> JwkSet {
        serde_json::from_value(json!({ "keys": keys })).unwrap_or_else(|e| panic!("{e}"))
    }

    // A real 2048-bit RSA modulus is not needed to pin an algorithm; any base64url value
    // decodes into a key.
    const N: &str = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw";

    #[test]
    fn each_key_is_pinned_to_the_algorithm_its_type_implies() {
        let keys = Keys::from_set(&set(json!([
            {"kty": "RSA", "kid": "rsa", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "rsa-alg", "alg": "RS256", "use": "sig", "n": N, "e": "AQAB"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        ])));
        assert_eq!(keys.len(), 3);
        assert_eq!(keys.get("rsa").map(|k| k.algorithm), Some(Algorithm::RS256));
        assert_eq!(
            keys.get("rsa-alg").map(|k| k.algorithm),
            Some(Algorithm::RS256)
        );
        assert_eq!(keys.get("ed").map(|k| k.algorithm), Some(Algorithm::EdDSA));
    }

    #[test]
    fn symmetric_encryption_mismatched_and_anonymous_keys_are_dropped() {
        let keys = Keys::from_set(&set(json!([
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "claims-es", "alg": "ES256", "n": N, "e": "AQAB"},
            {"kty": "RSA", "n": N, "e": "AQAB"},
        ])));
        assert_eq!(keys.len(), 0);
    }
}
