//! `GET /openapi.json`: an OpenAPI 3 document of the whole HTTP API, and an honest one: every
//! route the routers serve is in it (read from the routers' source, then probed over HTTP),
//! every documented route is served, with exactly the documented methods.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use causeway_tests::{TestApp, TestDatabase};
use serde_json::{Value, json};

/// The routes the API must have, with their methods.
const EXPECTED: [(&str, &str); 15] = [
    ("/api/customers", "post"),
    ("/api/customers/{id}/credit-limit", "post"),
    ("/api/inventory/{sku}/restock", "post"),
    ("/api/orders", "post"),
    ("/api/orders/{id}/cancel", "post"),
    ("/api/orders/{id}", "get"),
    ("/api/orders", "get"),
    ("/api/customers/{id}", "get"),
    ("/api/inventory/{sku}", "get"),
    ("/api/orders/{id}/payment", "get"),
    ("/api/notifications", "get"),
    ("/api/orders/{id}/saga", "get"),
    ("/health/live", "get"),
    ("/health/ready", "get"),
    ("/openapi.json", "get"),
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn fetch_document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json().await.unwrap()
}

/// `(path, method)` of every operation in the document.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("a paths object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item object");
            METHODS
                .iter()
                .filter(|m| item.contains_key(**m))
                .map(move |m| (path.clone(), (*m).to_owned()))
        })
        .collect()
}

fn operation<'a>(document: &'a Value, path: &str, method: &str) -> &'a Value {
    let operation = &document["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is documented");
    operation
}

fn parameter_names(operation: &Value) -> BTreeSet<(String, String)> {
    operation["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let name = p["name"].as_str().unwrap().to_ascii_lowercase();
                    (name, p["in"].as_str().unwrap().to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every `$ref` in `value`.
fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                match (key.as_str(), member) {
                    ("$ref", Value::String(target)) => found.push(target.clone()),
                    _ => refs(member, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_with_every_route_its_bodies_errors_and_headers() {
    let db = TestDatabase::migrated().await;
    let app = TestApp::spawn(db.settings.clone()).await;
    let document = fetch_document(&app).await;

    let version = document["openapi"].as_str().expect("an `openapi` member");
    assert!(version.starts_with("3."), "OpenAPI 3.x, not {version}");
    assert!(document["info"]["title"].is_string() && document["info"]["version"].is_string());
    let documented = documented(&document);
    for (path, method) in EXPECTED {
        assert!(
            documented.contains(&(path.to_owned(), method.to_owned())),
            "{method} {path} is documented; documented: {documented:?}"
        );
    }

    let schemas = document["components"]["schemas"].as_object().unwrap();
    for (path, method) in EXPECTED.iter().filter(|(_, m)| *m == "post") {
        let operation = operation(&document, path, method);
        let body = &operation["requestBody"]["content"]["application/json"]["schema"];
        let target = body["$ref"].as_str().expect("a request body schema");
        let name = target.trim_start_matches("#/components/schemas/");
        let schema = &schemas[name];
        assert_eq!(schema["type"], "object", "{path}: {schema}");
        assert!(
            !schema["properties"].as_object().unwrap().is_empty(),
            "{path}"
        );
        let params = parameter_names(operation);
        for header in ["idempotency-key", "x-correlation-id", "traceparent"] {
            assert!(
                params.contains(&(header.to_owned(), "header".to_owned())),
                "{path}: {params:?}"
            );
        }
        for status in ["400", "409", "413", "422", "500"] {
            let problem = &operation["responses"][status]["content"]["application/problem+json"];
            assert_eq!(
                problem["schema"]["$ref"], "#/components/schemas/Problem",
                "{path} {status}"
            );
        }
        let success = operation["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(status, _)| status.starts_with('2'))
            .map(|(_, response)| response)
            .expect("a success response");
        assert!(
            success["headers"].as_object().is_some_and(|h| h
                .keys()
                .any(|k| k.eq_ignore_ascii_case("x-consistency-token"))),
            "{path}: {success}"
        );
    }
    let place = &schemas["PlaceOrderRequest"];
    let required: Vec<&str> = place["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["customer_id", "currency", "lines"], "{place}");

    for path in [
        "/api/orders/{id}",
        "/api/customers/{id}",
        "/api/inventory/{sku}",
        "/api/orders/{id}/payment",
    ] {
        let operation = operation(&document, path, "get");
        let params = parameter_names(operation);
        let name = path.rsplit('{').next().unwrap().split('}').next().unwrap();
        for expected in [
            (name, "path"),
            ("min_version", "query"),
            ("x-consistency-token", "header"),
        ] {
            let expected = (expected.0.to_owned(), expected.1.to_owned());
            assert!(params.contains(&expected), "{path}: {params:?}");
        }
        for status in ["200", "400", "404", "503"] {
            assert!(
                operation["responses"][status].is_object(),
                "{path} {status}"
            );
        }
        let behind = &operation["responses"]["503"]["content"]["application/problem+json"];
        assert_eq!(behind["schema"]["$ref"], "#/components/schemas/Problem");
    }
    for (path, filters) in [
        (
            "/api/orders",
            vec!["customer_id", "status", "limit", "cursor"],
        ),
        ("/api/notifications", vec!["customer_id", "limit", "cursor"]),
    ] {
        let params = parameter_names(operation(&document, path, "get"));
        for filter in filters {
            assert!(
                params.contains(&(filter.to_owned(), "query".to_owned())),
                "{path}: {params:?}"
            );
        }
    }
    let notification = &schemas["NotificationView"]["properties"];
    assert!(
        notification.get("id").is_none(),
        "a skipped field is not documented"
    );

    let mut targets = Vec::new();
    refs(&document, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("a local schema reference: {target}"));
        assert!(schemas.contains_key(name), "{target} resolves");
    }
}

/// `(path, method)` of every `.route("…", get(…).post(…))` in the routers' source: the
/// command API, the query API and the process routes (health, this document), not the
/// management listener's `/metrics` (`causeway/src/http/metrics.rs`).
fn routes_in_source() -> BTreeSet<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files: Vec<PathBuf> = vec![
        root.join("commands/src/api/routes.rs"),
        root.join("read-api/src/lib.rs"),
        root.join("causeway/src/app.rs"),
    ];
    let http = root.join("causeway/src/http");
    files.extend(
        std::fs::read_dir(&http)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "rs"))
            .filter(|path| !path.ends_with("metrics.rs")),
    );
    let mut routes = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        routes.extend(routes_in(&source));
    }
    routes
}

fn routes_in(source: &str) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for chunk in source.split(".route(").skip(1) {
        let Some(path) = chunk.split('"').nth(1) else {
            continue;
        };
        // The method router runs to the next chained call on the router.
        let rest = chunk.split(['\n']).take(6).collect::<Vec<_>>().join("\n");
        let rest = rest.split(".route").next().unwrap_or_default();
        let rest = rest.split(".with_state").next().unwrap_or_default();
        for method in METHODS {
            let call = format!("{method}(");
            let found = rest.match_indices(&call).any(|(at, _)| {
                at == 0
                    || !rest.as_bytes()[at - 1].is_ascii_alphanumeric()
                        && rest.as_bytes()[at - 1] != b'_'
            });
            if found {
                routes.push((path.to_owned(), method.to_owned()));
            }
        }
    }
    routes
}

/// A concrete URL for a documented path.
fn concrete(path: &str) -> String {
    path.replace("{id}", "0b5f6bd6-6c1f-4a4e-9d3e-2f6b1f3c9a10")
        .replace("{sku}", "no-such-sku")
}

#[tokio::test]
async fn every_route_the_routers_serve_is_documented_and_every_documented_one_is_served() {
    let db = TestDatabase::migrated().await;
    let app = TestApp::spawn(db.settings.clone()).await;
    let document = fetch_document(&app).await;
    let documented = documented(&document);

    let served = routes_in_source();
    assert!(
        served.len() >= EXPECTED.len(),
        "the router source was read: {served:?}"
    );
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but undocumented: {undocumented:?}"
    );

    let mut by_path: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (path, method) in &documented {
        by_path.entry(path).or_default().insert(method);
    }
    for (path, methods) in by_path {
        let url = format!("{}{}", app.address, concrete(path));
        for method in METHODS {
            let request = match method {
                "get" => app.client.get(&url),
                "post" => app.client.post(&url).json(&json!({})),
                "put" => app.client.put(&url),
                "patch" => app.client.patch(&url),
                _ => app.client.delete(&url),
            };
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            if methods.contains(method) {
                // A handler answered: not the router's 405, and a 404 only as a problem
                // document (an unknown id), never the router's empty "no such route".
                assert_ne!(status, 405, "{method} {path} is served");
                assert!(
                    status != 404 || content_type == "application/problem+json",
                    "{method} {path} is served, got a bare 404"
                );
            } else {
                assert_eq!(status, 405, "{method} {path} is not served");
            }
        }
    }
}
