//! The routes and their handlers. A handler only turns the request into domain values and
//! hands them on: every business rule is in the aggregates' `decide`.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::post;
use causeway_domain::{
    Aggregate, Customer, CustomerId, CustomerRejection, InventoryItem, Order, OrderId, Sku,
};
use causeway_infra::problem::problem_responses;
use utoipa::openapi::RefOr;
use utoipa::openapi::response::Response;

use super::CommandApi;
use super::answer::{Answer, Target};
use super::context::command_span;
use super::error::ApiError;
use super::extract::{CommandRequest, PathParam};
use super::requests::{
    CancelOrderRequest, ChangeCreditLimitRequest, PlaceOrderRequest, RegisterCustomerRequest,
    RestockRequest,
};

use causeway_auth::http::{Caller, require};
use causeway_auth::{AuthError, Permission};

type Answered = Result<Answer, ApiError>;

/// Every command route, with `api` as state.
pub(crate) fn routes(api: CommandApi) -> Router {
    let limit = api.config.body_limit_bytes;
    let allowed = |permission| middleware::from_fn_with_state(permission, require);
    Router::new()
        .route(
            "/api/customers",
            post(register_customer).route_layer(allowed(Permission::RegisterCustomer)),
        )
        .route(
            "/api/customers/{id}/credit-limit",
            post(change_credit_limit).route_layer(allowed(Permission::ChangeCreditLimit)),
        )
        .route(
            "/api/inventory/{sku}/restock",
            post(restock).route_layer(allowed(Permission::Restock)),
        )
        .route(
            "/api/orders",
            post(place_order).route_layer(allowed(Permission::PlaceOrder)),
        )
        .route(
            "/api/orders/{id}/cancel",
            post(cancel_order).route_layer(allowed(Permission::CancelOrder)),
        )
        .route_layer(middleware::from_fn(command_span))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(api)
}

/// `POST /api/customers` → 201 `{customer_id, version}`.
#[utoipa::path(
    post,
    path = "/api/customers",
    operation_id = "register_customer",
    tag = "commands",
    summary = "Register a customer",
    params(
        CommandHeaders,
    ),
    request_body(content = RegisterCustomerRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered", body = CustomerAnswer,
            headers(("X-Consistency-Token" = u64, description = "The aggregate's new version"),
                ("X-Correlation-Id" = String, description = "The correlation id, echoed or assigned"))),
        CommandProblems,
    ),
)]
async fn register_customer(
    State(api): State<CommandApi>,
    Caller(caller): Caller,
    request: CommandRequest<RegisterCustomerRequest>,
) -> Answered {
    let context = &request.context;
    // A customer registers itself: its id derives from its subject, it owns the customer,
    // and only an admin grants it credit. Anyone else mints a new id.
    let (id, owner) = match caller.own_customer() {
        Some(_) if request.body.asks_for_credit() => {
            return Err(AuthError::Forbidden(Permission::ChangeCreditLimit.name()).into());
        }
        Some(own) => (own, Some(caller.subject.clone())),
        None => (context.new_aggregate_id(Customer::TYPE), None),
    };
    let minted = owner.is_none() && context.mints_ids();
    let command = request.body.parse(owner)?;
    let id = CustomerId::try_from(id).map_err(ApiError::internal)?;
    let target = Target::new(Customer::TYPE, id, "customer_id", StatusCode::CREATED).minted(minted);
    api.answer(context, &target, || {
        api.execute::<Customer>(&target, command, context)
    })
    .await
}

/// `POST /api/customers/{id}/credit-limit` → 200 `{customer_id, version}`.
#[utoipa::path(
    post,
    path = "/api/customers/{id}/credit-limit",
    operation_id = "change_credit_limit",
    tag = "commands",
    summary = "Change a customer's credit limit",
    params(
        ("id" = String, Path, description = "The customer id (a UUID)"),
        CommandHeaders,
    ),
    request_body(content = ChangeCreditLimitRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed", body = CustomerAnswer,
            headers(("X-Consistency-Token" = u64, description = "The aggregate's new version"),
                ("X-Correlation-Id" = String, description = "The correlation id, echoed or assigned"))),
        UnknownAggregate,
        CommandProblems,
    ),
)]
async fn change_credit_limit(
    State(api): State<CommandApi>,
    PathParam(id): PathParam,
    request: CommandRequest<ChangeCreditLimitRequest>,
) -> Answered {
    let id = CustomerId::parse(&id).map_err(path_error)?;
    let limit = request.body.parse()?;
    let context = &request.context;
    let target = Target::new(Customer::TYPE, id, "customer_id", StatusCode::OK);
    api.answer(context, &target, || {
        api.change_credit_limit(&target, id, limit, context)
    })
    .await
}

/// `POST /api/inventory/{sku}/restock` → 200 `{sku, version}`; the first restock creates
/// the item.
#[utoipa::path(
    post,
    path = "/api/inventory/{sku}/restock",
    operation_id = "restock",
    tag = "commands",
    summary = "Restock a SKU (the first restock creates the item)",
    params(
        ("sku" = String, Path, description = "The stock-keeping unit"),
        CommandHeaders,
    ),
    request_body(content = RestockRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Restocked", body = SkuAnswer,
            headers(("X-Consistency-Token" = u64, description = "The aggregate's new version"),
                ("X-Correlation-Id" = String, description = "The correlation id, echoed or assigned"))),
        CommandProblems,
    ),
)]
async fn restock(
    State(api): State<CommandApi>,
    PathParam(sku): PathParam,
    request: CommandRequest<RestockRequest>,
) -> Answered {
    let sku = Sku::parse(&sku).map_err(path_error)?;
    let quantity = request.body.parse()?;
    let context = &request.context;
    let target = Target::new(InventoryItem::TYPE, sku, "sku", StatusCode::OK);
    let command = causeway_domain::InventoryCommand::Restock { quantity };
    api.answer(context, &target, || {
        api.execute::<InventoryItem>(&target, command, context)
    })
    .await
}

/// `POST /api/orders` → 202 `{order_id, version}`: placed, the saga takes it from there.
#[utoipa::path(
    post,
    path = "/api/orders",
    operation_id = "place_order",
    tag = "commands",
    summary = "Place an order: the saga takes it from there",
    params(
        CommandHeaders,
    ),
    request_body(content = PlaceOrderRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Placed (Pending)", body = OrderAnswer,
            headers(("X-Consistency-Token" = u64, description = "The aggregate's new version"),
                ("X-Correlation-Id" = String, description = "The correlation id, echoed or assigned"))),
        UnknownAggregate,
        Overloaded,
        CommandProblems,
    ),
)]
async fn place_order(
    State(api): State<CommandApi>,
    Caller(caller): Caller,
    request: CommandRequest<PlaceOrderRequest>,
) -> Answered {
    api.config.admission.admit()?;
    let order = request.body.parse()?;
    // A customer orders for itself only; another customer is as unknown as a missing one.
    if !caller.may_see_customer(&order.customer_id.as_uuid()) {
        return Err(ApiError::rejected(&CustomerRejection::NotFound));
    }
    let context = &request.context;
    let id =
        OrderId::try_from(context.new_aggregate_id(Order::TYPE)).map_err(ApiError::internal)?;
    let target =
        Target::new(Order::TYPE, id, "order_id", StatusCode::ACCEPTED).minted(context.mints_ids());
    api.answer(context, &target, || {
        api.place_order(&target, order, context)
    })
    .await
}

/// `POST /api/orders/{id}/cancel` → 200 `{order_id, version}`.
#[utoipa::path(
    post,
    path = "/api/orders/{id}/cancel",
    operation_id = "cancel_order",
    tag = "commands",
    summary = "Cancel an order",
    params(
        ("id" = String, Path, description = "The order id (a UUID)"),
        CommandHeaders,
    ),
    request_body(content = CancelOrderRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Cancelled", body = OrderAnswer,
            headers(("X-Consistency-Token" = u64, description = "The aggregate's new version"),
                ("X-Correlation-Id" = String, description = "The correlation id, echoed or assigned"))),
        UnknownAggregate,
        CommandProblems,
    ),
)]
async fn cancel_order(
    State(api): State<CommandApi>,
    Caller(caller): Caller,
    PathParam(id): PathParam,
    request: CommandRequest<CancelOrderRequest>,
) -> Answered {
    let id = OrderId::parse(&id).map_err(path_error)?;
    let reason = request.body.parse()?;
    if caller.own_customer().is_some() {
        api.ensure_order_of(&caller, id).await?;
    }
    let context = &request.context;
    let target = Target::new(Order::TYPE, id, "order_id", StatusCode::OK);
    let command = causeway_domain::OrderCommand::Cancel { reason };
    api.answer(context, &target, || {
        api.execute::<Order>(&target, command, context)
    })
    .await
}

fn path_error(error: causeway_domain::ValidationError) -> ApiError {
    ApiError::invalid_field(error.field, format!("{}: {}", error.field, error.message))
}

/// The OpenAPI description of the command routes (merged into `/openapi.json` by the binary).
/// Problem documents refer to `#/components/schemas/Problem`, which the merged document holds.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(register_customer, change_credit_limit, restock, place_order, cancel_order),
    components(schemas(
        RegisterCustomerRequest,
        ChangeCreditLimitRequest,
        RestockRequest,
        PlaceOrderRequest,
        CancelOrderRequest,
        CustomerAnswer,
        SkuAnswer,
        OrderAnswer,
    )),
    tags((name = "commands", description = "Commands: JSON in, the aggregate's new version out"))
)]
pub struct CommandApiDoc;

/// The problems every command route can answer (documentation only).
struct CommandProblems;

impl utoipa::IntoResponses for CommandProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[
            (
                400,
                "Malformed input: bad JSON, a missing or invalid field or header",
            ),
            (
                409,
                "Concurrent writers through every retry, or the same Idempotency-Key still in progress",
            ),
            (413, "The body is larger than the configured limit"),
            (
                422,
                "A business rejection, or an Idempotency-Key reused for another request",
            ),
            (500, "Internal error (opaque)"),
        ])
    }
}

/// The problem of a new order refused by admission control (documentation only).
struct Overloaded;

impl utoipa::IntoResponses for Overloaded {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[(
            503,
            "The sagas are further behind than admission control allows (`overloaded`); retry after the `Retry-After` seconds",
        )])
    }
}

/// The problem of a command on an aggregate that does not exist, or that refers to one
/// (documentation only).
struct UnknownAggregate;

impl utoipa::IntoResponses for UnknownAggregate {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[(404, "The aggregate (or one it refers to) does not exist")])
    }
}

/// The metadata headers every command accepts (documentation only: read by `context`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // documentation only
struct CommandHeaders {
    /// Makes a retried command take effect at most once (1 to 255 visible ASCII characters).
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
    /// Names the flow the command belongs to (a UUID); assigned when absent.
    #[param(rename = "X-Correlation-Id")]
    correlation_id: Option<uuid::Uuid>,
    /// The caller's W3C trace context: the command span continues it.
    #[param(rename = "traceparent")]
    traceparent: Option<String>,
}

/// The answer to a customer command (documentation only: built by `Target::answer`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only
struct CustomerAnswer {
    /// The customer id.
    customer_id: uuid::Uuid,
    /// The customer's new version: the consistency token.
    version: u64,
}

/// The answer to a restock (documentation only: built by `Target::answer`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only
struct SkuAnswer {
    /// The stock-keeping unit.
    sku: String,
    /// The item's new version: the consistency token.
    version: u64,
}

/// The answer to an order command (documentation only: built by `Target::answer`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only
struct OrderAnswer {
    /// The order id.
    order_id: uuid::Uuid,
    /// The order's new version: the consistency token.
    version: u64,
}
