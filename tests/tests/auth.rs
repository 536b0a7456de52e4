//! Identity and access (docs/security.md): real tokens of the local OpenID provider (ORY
//! Hydra) let their roles in and no further, and tokens that should not get in do not:
//! forged, expired, early, for another issuer or audience, `alg: none`, HMAC over a public
//! key, unknown keys. The hostile tokens are signed by a test double of an issuer (its
//! discovery document and JWKS served here, with the keys in `tests/fixtures/auth/`).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use causeway_auth::access::holders;
use causeway_auth::{Permission, Role};
use causeway_tests::command_api::Answer;
use causeway_tests::{TestApp, TestDatabase, command_api::answer, tokens};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ED25519_PEM: &[u8] = include_bytes!("../fixtures/auth/ed25519.pem");
const RSA_PEM: &[u8] = include_bytes!("../fixtures/auth/rsa.pem");
const RSA_PUBLIC_PEM: &[u8] = include_bytes!("../fixtures/auth/rsa.pub.pem");
const ED25519_JWK: &str = include_str!("../fixtures/auth/ed25519.jwk.json");
const RSA_JWK: &str = include_str!("../fixtures/auth/rsa.jwk.json");

async fn call(app: &TestApp, method: &str, path: &str, authorization: Option<&str>) -> Answer {
    let url = format!("{}{path}", app.address);
    // A client of its own: the app's client sends an admin token on every request.
    let client = reqwest::Client::new();
    let mut request = match method {
        "POST" => client.post(url).json(&json!({"quantity": 1})),
        _ => client.get(url),
    };
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    answer(request.send().await.unwrap()).await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_token_of_the_issuer_lets_its_roles_in_and_no_further() {
    let db = TestDatabase::migrated().await;
    let app = TestApp::spawn(db.settings.clone()).await;
    let storefront = bearer(&tokens::token("storefront", "tests").await);
    let operator = bearer(&tokens::token("operator", "tests").await);
    let customer = bearer(&tokens::token("customer", "alice").await);

    let restocked = call(&app, "POST", "/api/inventory/TEA/restock", Some(&operator)).await;
    assert_eq!(restocked.status, StatusCode::OK, "{restocked:?}");
    let metadata: Value = sqlx::query_scalar("SELECT metadata FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(metadata["caller"], tokens::subject("operator", "tests"));

    let refused = call(
        &app,
        "POST",
        "/api/inventory/TEA/restock",
        Some(&storefront),
    )
    .await;
    refused.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        refused.header("www-authenticate"),
        Some(r#"Bearer realm="causeway", error="insufficient_scope""#)
    );
    // Allowed to read the catalogue (no projection runs here: the item is not there yet),
    // not to list orders.
    call(&app, "GET", "/api/inventory/TEA", Some(&customer))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    // Allowed to list orders: its own, none yet (tests/tests/ownership.rs); not to restock.
    let own = call(&app, "GET", "/api/orders", Some(&customer)).await;
    assert_eq!(own.status, StatusCode::OK, "{own:?}");
    assert_eq!(own.body["items"], json!([]), "{own:?}");
    call(&app, "POST", "/api/inventory/TEA/restock", Some(&customer))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let orders = call(&app, "GET", "/api/orders", Some(&storefront)).await;
    assert_eq!(orders.status, StatusCode::OK, "{orders:?}");
    // Only the restock was stored.
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(events, 1);
}

/// Every `/api/*` route and the permission it requires, as the routers declare them.
const ROUTES: [(&str, &str, Permission); 12] = [
    ("POST", "/api/customers", Permission::RegisterCustomer),
    (
        "POST",
        "/api/customers/{id}/credit-limit",
        Permission::ChangeCreditLimit,
    ),
    ("POST", "/api/inventory/{sku}/restock", Permission::Restock),
    ("POST", "/api/orders", Permission::PlaceOrder),
    ("POST", "/api/orders/{id}/cancel", Permission::CancelOrder),
    ("GET", "/api/inventory/{sku}", Permission::ReadInventory),
    ("GET", "/api/customers/{id}", Permission::ReadCustomers),
    ("GET", "/api/orders", Permission::ReadOrders),
    ("GET", "/api/orders/{id}", Permission::ReadOrders),
    ("GET", "/api/orders/{id}/payment", Permission::ReadOrders),
    ("GET", "/api/orders/{id}/saga", Permission::ReadOrders),
    ("GET", "/api/notifications", Permission::ReadNotifications),
];

#[tokio::test]
async fn every_route_refuses_403_to_each_role_the_permission_table_does_not_grant_it() {
    let db = TestDatabase::migrated().await;
    let app = TestApp::spawn(db.settings.clone()).await;
    // The list above is every /api/* operation the OpenAPI document has (which its own test
    // holds to the routers' source): a new route without a row here fails.
    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut documented: Vec<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/api/"))
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|method| ["get", "post"].contains(&method.as_str()))
                .map(|method| (method.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    documented.sort();
    let mut listed: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(method, path, _)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    listed.sort();
    assert_eq!(listed, documented);

    let id = "0b5f6bd6-6c1f-4a4e-9d3e-2f6b1f3c9a10";
    let mut checked = 0;
    for role in Role::ALL {
        let token = bearer(&tokens::token(role.name(), "table").await);
        for (method, path, permission) in ROUTES {
            let path = path.replace("{id}", id).replace("{sku}", "TEA");
            let answer = call(&app, method, &path, Some(&token)).await;
            if holders(permission).contains(&role) {
                // Let in: whatever the handler answers, not a refusal of the caller.
                assert!(
                    ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&answer.status),
                    "{role} {method} {path}: {answer:?}"
                );
            } else {
                answer.assert_problem(StatusCode::FORBIDDEN, "forbidden");
                checked += 1;
            }
        }
    }
    // The table refuses something to every role but admin.
    assert!(checked >= 5, "{checked} refusals checked");
}

#[tokio::test]
async fn without_a_bearer_token_the_api_answers_401_and_the_process_routes_stay_open() {
    let db = TestDatabase::migrated().await;
    let app = TestApp::spawn(db.settings.clone()).await;
    for (method, path) in [
        ("GET", "/api/orders"),
        ("POST", "/api/inventory/TEA/restock"),
    ] {
        let missing = call(&app, method, path, None).await;
        missing.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        assert_eq!(
            missing.header("www-authenticate"),
            Some(r#"Bearer realm="causeway""#)
        );
        call(&app, method, path, Some("Basic YWxhZGRpbjpvcGVuc2VzYW1l"))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        let garbage = call(&app, method, path, Some("Bearer not.a.token")).await;
        garbage.assert_problem(StatusCode::UNAUTHORIZED, "invalid_token");
        assert_eq!(
            garbage.header("www-authenticate"),
            Some(r#"Bearer realm="causeway", error="invalid_token""#)
        );
    }
    for path in ["/health/live", "/health/ready", "/openapi.json"] {
        assert_eq!(
            call(&app, "GET", path, None).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    // Metrics are on the management listener only.
    assert_eq!(
        call(&app, "GET", "/metrics", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get_management("/metrics").await.status(),
        StatusCode::OK
    );
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(events, 0);
}

/// A test double of an OpenID Connect issuer: discovery, a JWKS it can rotate, and a count of
/// JWKS fetches.
struct Issuer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct IssuerState {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Issuer {
    async fn start(keys: Vec<Value>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let state = IssuerState {
            url: url.clone(),
            keys: Arc::new(Mutex::new(keys)),
            fetches: Arc::new(AtomicUsize::new(0)),
        };
        let router = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(|State(s): State<IssuerState>| async move {
                    Json(json!({"issuer": s.url, "jwks_uri": format!("{}jwks", s.url)}))
                }),
            )
            .route(
                "/jwks",
                get(|State(s): State<IssuerState>| async move {
                    s.fetches.fetch_add(1, Ordering::SeqCst);
                    Json(json!({"keys": *s.keys.lock().unwrap()}))
                }),
            )
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            url,
            keys: state.keys,
            fetches: state.fetches,
        }
    }

    async fn app(&self, db: &TestDatabase, unknown_key_refresh_secs: u64) -> TestApp {
        let mut settings = db.settings.clone();
        settings.auth.issuer = self.url.clone();
        settings.auth.jwks_url = String::new();
        settings.auth.unknown_key_refresh_secs = unknown_key_refresh_secs;
        TestApp::spawn(settings).await
    }

    /// Claims of a valid operator token of this issuer, changed by `adjust`.
    fn claims(&self, adjust: impl FnOnce(&mut Value)) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": self.url,
            "sub": "double-operator",
            "aud": ["causeway"],
            "exp": now + 600,
            "iat": now,
            "nbf": now,
            "scp": ["causeway:operator"],
        });
        adjust(&mut claims);
        claims
    }
}

fn jwk(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn signed(algorithm: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, key).unwrap()
}

fn ed25519(kid: &str, claims: &Value) -> String {
    let key = EncodingKey::from_ed_pem(ED25519_PEM).unwrap();
    bearer(&signed(Algorithm::EdDSA, kid, &key, claims))
}

fn unsigned(claims: &Value) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"none","typ":"JWT","kid":"test-ed25519"}"#);
    let payload = b64.encode(claims.to_string());
    bearer(&format!("{header}.{payload}."))
}

#[tokio::test]
async fn forged_expired_early_and_misdirected_tokens_are_refused_without_saying_why() {
    causeway_auth::install_crypto();
    let issuer = Issuer::start(vec![jwk(ED25519_JWK), jwk(RSA_JWK)]).await;
    let db = TestDatabase::migrated().await;
    let app = issuer.app(&db, 10).await;
    let restock = |auth: String| {
        let app = &app;
        async move { call(app, "POST", "/api/inventory/TEA/restock", Some(&auth)).await }
    };
    let now = chrono::Utc::now().timestamp();

    let valid = restock(ed25519("test-ed25519", &issuer.claims(|_| {}))).await;
    assert_eq!(valid.status, StatusCode::OK, "{valid:?}");
    let rsa = EncodingKey::from_rsa_pem(RSA_PEM).unwrap();
    let valid_rsa = signed(Algorithm::RS256, "test-rsa", &rsa, &issuer.claims(|_| {}));
    assert_eq!(restock(bearer(&valid_rsa)).await.status, StatusCode::OK);

    let hostile = [
        (
            "expired",
            ed25519(
                "test-ed25519",
                &issuer.claims(|c| c["exp"] = json!(now - 120)),
            ),
        ),
        (
            "not yet valid",
            ed25519(
                "test-ed25519",
                &issuer.claims(|c| c["nbf"] = json!(now + 120)),
            ),
        ),
        (
            "another audience",
            ed25519(
                "test-ed25519",
                &issuer.claims(|c| c["aud"] = json!(["billing"])),
            ),
        ),
        (
            "no audience",
            ed25519(
                "test-ed25519",
                &issuer.claims(|c| {
                    c.as_object_mut().unwrap().remove("aud");
                }),
            ),
        ),
        (
            "another issuer",
            ed25519(
                "test-ed25519",
                &issuer.claims(|c| c["iss"] = json!("http://evil.example/")),
            ),
        ),
        (
            "no subject",
            ed25519(
                "test-ed25519",
                &issuer.claims(|c| {
                    c.as_object_mut().unwrap().remove("sub");
                }),
            ),
        ),
        (
            "no expiry",
            ed25519(
                "test-ed25519",
                &issuer.claims(|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
        ),
        ("alg none", unsigned(&issuer.claims(|_| {}))),
        (
            "HMAC keyed with the RSA public key",
            bearer(&signed(
                Algorithm::HS256,
                "test-rsa",
                &EncodingKey::from_secret(RSA_PUBLIC_PEM),
                &issuer.claims(|_| {}),
            )),
        ),
        (
            "RS256 under the Ed25519 key's id",
            bearer(&signed(
                Algorithm::RS256,
                "test-ed25519",
                &rsa,
                &issuer.claims(|_| {}),
            )),
        ),
        ("tampered payload", {
            let token = ed25519("test-ed25519", &issuer.claims(|_| {}));
            let other = ed25519(
                "test-ed25519",
                &issuer.claims(|c| c["scp"] = json!(["causeway:admin"])),
            );
            let parts: Vec<&str> = token.split('.').collect();
            let forged: Vec<&str> = other.split('.').collect();
            format!("{}.{}.{}", parts[0], forged[1], parts[2])
        }),
    ];
    for (what, token) in hostile {
        let answer = restock(token).await;
        answer.assert_problem(StatusCode::UNAUTHORIZED, "invalid_token");
        assert_eq!(
            answer.body["detail"], "the access token is not valid",
            "{what}"
        );
    }
    // A token of the issuer without the role: in, but not allowed.
    let shopper = ed25519(
        "test-ed25519",
        &issuer.claims(|c| c["scp"] = json!(["causeway:customer"])),
    );
    restock(shopper)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 2, "only the two valid restocks");
}

#[tokio::test]
async fn a_rotated_key_is_fetched_on_first_use_and_unknown_keys_cannot_make_it_fetch_often() {
    causeway_auth::install_crypto();
    // The RSA key is published later: a rotation.
    let issuer = Issuer::start(vec![jwk(ED25519_JWK)]).await;
    let db = TestDatabase::migrated().await;
    let rsa = EncodingKey::from_rsa_pem(RSA_PEM).unwrap();
    let rotated = bearer(&signed(
        Algorithm::RS256,
        "test-rsa",
        &rsa,
        &issuer.claims(|_| {}),
    ));

    // At most one fetch per 60 s for unknown keys: a burst of them costs one.
    let app = issuer.app(&db, 60).await;
    let first = call(
        &app,
        "POST",
        "/api/inventory/TEA/restock",
        Some(&ed25519("test-ed25519", &issuer.claims(|_| {}))),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    for n in 0..20 {
        let made_up = ed25519(&format!("made-up-{n}"), &issuer.claims(|_| {}));
        call(&app, "GET", "/api/inventory/TEA", Some(&made_up))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    assert_eq!(
        issuer.fetches.load(Ordering::SeqCst),
        1,
        "within the floor, no refetch"
    );
    app.stop().await;

    // With no floor, the rotated key is fetched when a token first names it.
    issuer.keys.lock().unwrap().push(jwk(RSA_JWK));
    let app = issuer.app(&db, 0).await;
    let answer = call(&app, "POST", "/api/inventory/TEA/restock", Some(&rotated)).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

#[tokio::test]
async fn an_issuer_that_cannot_be_reached_makes_the_api_answer_503_not_401() {
    let db = TestDatabase::migrated().await;
    let mut settings = db.settings.clone();
    settings.auth.issuer = format!("http://127.0.0.1:{}/", causeway_tests::free_port());
    settings.auth.jwks_url = String::new();
    let app = TestApp::spawn(settings).await;
    let token = bearer(&tokens::token("operator", "tests").await);
    let answer = call(&app, "GET", "/api/inventory/TEA", Some(&token)).await;
    answer.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "auth_unavailable");
    assert_eq!(answer.header("retry-after"), Some("5"));
}
