//! What verifying a bearer token costs each request: `Verifier::verify` (cached keys, the
//! signature, every claim, the roles) on a real token of the local issuer, against the
//! baseline of jsonwebtoken's bare signature check with the same key. Prints microseconds per
//! token and the ratio.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use causeway_auth::Verifier;
use causeway_tests::{settings, tokens};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

const ROUNDS: u32 = 20_000;

#[tokio::main]
async fn main() {
    causeway_auth::install_crypto();
    let settings = settings();
    let token = tokens::token("admin", "bench").await;
    let verifier = Verifier::new(&settings.auth).unwrap();
    verifier.verify(&token).await.expect("a valid token");

    let started = Instant::now();
    for _ in 0..ROUNDS {
        verifier.verify(&token).await.unwrap();
    }
    let verify_us = per_token_us(started);

    let key = decoding_key(&settings.auth.issuer, &token).await;
    let algorithm = decode_header(&token).unwrap().alg;
    let mut bare = Validation::new(algorithm);
    bare.validate_aud = false;
    bare.validate_exp = false;
    bare.required_spec_claims.clear();
    let started = Instant::now();
    for _ in 0..ROUNDS {
        decode::<serde_json::Value>(&token, &key, &bare).unwrap();
    }
    let bare_us = per_token_us(started);
    println!("verify_us={verify_us:.1} bare_signature_us={bare_us:.1} algorithm={algorithm:?}");
    println!("verify/bare={:.2}", verify_us / bare_us);
}

fn per_token_us(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS)
}

/// The issuer's key the token names, from its JWKS (through discovery).
async fn decoding_key(issuer: &str, token: &str) -> DecodingKey {
    let discovery: serde_json::Value = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let jwks: JwkSet = reqwest::get(discovery["jwks_uri"].as_str().unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = decode_header(token).unwrap().kid.unwrap();
    DecodingKey::from_jwk(jwks.find(&kid).unwrap()).unwrap()
}
