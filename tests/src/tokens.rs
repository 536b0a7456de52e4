//! Bearer tokens for the tests, issued by the local stack's OpenID provider (ORY Hydra)
//! through `scripts/token ROLE NAME`, cached per role and name for the test process (they
//! live an hour). Real tokens from a real issuer: the platform verifies them like any.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

static TOKENS: LazyLock<Mutex<HashMap<(String, String), String>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A token of client `<role>-<name>`: subject `<role>-<name>`, holding `role`.
pub async fn token(role: &str, name: &str) -> String {
    let key = (role.to_owned(), name.to_owned());
    if let Some(token) = TOKENS.lock().unwrap().get(&key) {
        return token.clone();
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/token");
    let output = tokio::process::Command::new(&script)
        .args([role, name])
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "scripts/token {role} {name} failed (is the stack up?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    TOKENS.lock().unwrap().insert(key, token.clone());
    token
}

/// The subject of [`token`]`(role, name)`.
pub fn subject(role: &str, name: &str) -> String {
    format!("{role}-{name}")
}

/// An `admin` token: every permission. What the tests use unless they test access itself.
pub async fn admin() -> String {
    token("admin", "tests").await
}

/// An HTTP client sending `token` as its bearer token on every request.
pub fn client_with(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    value.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// An HTTP client of the `admin` role.
pub async fn admin_client() -> reqwest::Client {
    client_with(&admin().await)
}
