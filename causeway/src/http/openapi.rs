//! `GET /openapi.json`: the OpenAPI 3.1 document of the whole HTTP API, generated with utoipa
//! from the handlers' annotations (docs/architecture.md §1.7).
//!
//! Every HTTP process serves the same document, whatever its roles: the command routes
//! ([`CommandApiDoc`]), the query routes ([`ReadApiDoc`]) and the process routes (health,
//! metrics, this document). A process that does not run a role answers that role's routes
//! 404, so a client should ask the process (or the ingress) that routes to them.
//!
//! Errors everywhere are `application/problem+json` (RFC 9457): one `Problem` schema, which
//! the per-crate documents refer to by `#/components/schemas/Problem`.

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use causeway_commands::api::CommandApiDoc;
use causeway_read_api::ReadApiDoc;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, PathsBuilder, Ref, ResponseBuilder};
use utoipa::{OpenApi, ToSchema};

/// The process-level part of the document: this route and the shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Causeway",
        description = "Event-sourced shop: commands over HTTP (answered with the aggregate's \
                       new version, the consistency token), queries over the read models \
                       (`min_version` / `X-Consistency-Token` wait for it), saga timelines. \
                       Every error is `application/problem+json` with a `code` member.",
        license(name = "Apache-2.0")
    ),
    paths(openapi_json),
    components(schemas(Problem, HealthStatus)),
    tags((name = "process", description = "Health, metrics and this document"))
)]
struct ProcessDoc;

/// An RFC 9457 problem document, as every error of every role is answered
/// (`causeway_infra::problem::problem_body`). Some codes add members: `field` (400 on an
/// input), `parameter` (400 on a query), `attempts` (409), `limit_bytes` (413),
/// `applied_version` and `min_version` (503 `read_model_behind`), `down` (503 `not_ready`).
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only
struct Problem {
    /// Always `about:blank`: the `code` member says what happened.
    #[schema(example = "about:blank")]
    r#type: String,
    /// The status' reason phrase.
    #[schema(example = "Unprocessable Entity")]
    title: String,
    /// The HTTP status.
    #[schema(example = 422)]
    status: u16,
    /// What went wrong, for humans.
    detail: String,
    /// What went wrong, for machines: e.g. `invalid_field`, `order_not_found`,
    /// `insufficient_credit`, `version_conflict`, `read_model_behind`.
    #[schema(example = "invalid_field")]
    code: String,
    /// The offending input, as a path into the body or a header name (400 only).
    field: Option<String>,
    /// The offending query parameter or header (400 of the query API only).
    parameter: Option<String>,
}

/// The answer of the health routes.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only
struct HealthStatus {
    /// `live` or `ready`.
    #[schema(example = "ready")]
    status: String,
}

/// The whole document: the process routes, the command routes and the query routes.
pub fn document() -> Document {
    let mut document = ProcessDoc::openapi();
    document.merge(CommandApiDoc::openapi());
    document.merge(ReadApiDoc::openapi());
    secure_api_routes(&mut document);
    document.merge(process_routes());
    document
}

/// The bearer scheme, and on every `/api/*` operation: the requirement, 401 and 403
/// (`causeway-auth`; the process routes stay open).
fn secure_api_routes(document: &mut Document) {
    let scheme = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some(
            "A JWT access token of the configured OpenID Connect issuer (`auth.issuer`); \
             its roles decide what the caller may do (docs/security.md)",
        ))
        .build();
    document
        .components
        .get_or_insert_with(Default::default)
        .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    let refusals = causeway_infra::problem::problem_responses(&[
        (
            401,
            "No valid bearer token (`WWW-Authenticate` says why, by RFC 6750 code)",
        ),
        (403, "The caller's roles do not grant this operation"),
        (
            429,
            "The caller (or, unauthenticated, its address) is past its quota; `Retry-After` \
             says when to come back",
        ),
    ]);
    for (path, item) in document.paths.paths.iter_mut() {
        if !path.starts_with("/api/") {
            continue;
        }
        for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
            operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            for (status, response) in &refusals {
                operation
                    .responses
                    .responses
                    .entry(status.clone())
                    .or_insert_with(|| response.clone());
            }
        }
    }
}

/// The name of the bearer security scheme.
const BEARER: &str = "bearer";

/// The route serving [`document`], serialized once: the route's state is cloned for every
/// connection and request, and cloning the document itself (~4,000 allocations) made a
/// burst of connections cost hundreds of megabytes.
pub fn routes() -> Router {
    let json = document()
        .to_json()
        .unwrap_or_else(|error| format!(r#"{{"error":"the OpenAPI document: {error}"}}"#));
    let json = Bytes::from(json);
    let serve = move || {
        let json = json.clone();
        async move { ([(CONTENT_TYPE, "application/json")], json) }
    };
    Router::new().route("/openapi.json", get(serve))
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "process",
    summary = "This OpenAPI document",
    responses((status = 200, description = "The OpenAPI 3.1 document of the HTTP API",
        content_type = "application/json")),
)]
#[allow(dead_code)] // documentation only: `routes` serves the document it serialized once
async fn openapi_json() {}

/// `/health/live` and `/health/ready`, whose handlers (in [`super::health`]) are described
/// here with utoipa's builders. `/metrics` and the detailed readiness answer are on the
/// management listener, not in this document of the public one.
fn process_routes() -> Document {
    let live = operation("health_live", "The process runs")
        .response("200", json_response("Live", HealthStatus::name()));
    let ready = operation(
        "health_ready",
        "Its dependencies (Postgres, Kafka, the schema registry) answer",
    )
    .response("200", json_response("Ready", HealthStatus::name()))
    .response(
        "503",
        ResponseBuilder::new()
            .description(
                "Not ready (the management listener's `/health/ready` says which dependency \
                 or role is not)",
            )
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(Problem::name())))
                    .build(),
            ),
    );
    let paths = PathsBuilder::new()
        .path("/health/live", PathItem::new(HttpMethod::Get, live))
        .path("/health/ready", PathItem::new(HttpMethod::Get, ready));
    Document::builder().paths(paths).build()
}

fn operation(id: &str, summary: &str) -> OperationBuilder {
    OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(summary))
        .tag("process")
}

fn json_response(description: &str, schema: std::borrow::Cow<'static, str>) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build(),
    )
}
