//! The routes and their handlers. A handler only turns the request into domain values and
//! hands them on: every business rule is in the aggregates' `decide`.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::post;
use causeway_domain::{Aggregate, Customer, CustomerId, InventoryItem, Order, OrderId, Sku};

use super::CommandApi;
use super::answer::{Answer, Target};
use super::context::command_span;
use super::error::ApiError;
use super::extract::{CommandRequest, PathParam};
use super::requests::{
    CancelOrderRequest, ChangeCreditLimitRequest, PlaceOrderRequest, RegisterCustomerRequest,
    RestockRequest,
};

type Answered = Result<Answer, ApiError>;

/// Every command route, with `api` as state.
pub(crate) fn routes(api: CommandApi) -> Router {
    let limit = api.config.body_limit_bytes;
    Router::new()
        .route("/api/customers", post(register_customer))
        .route(
            "/api/customers/{id}/credit-limit",
            post(change_credit_limit),
        )
        .route("/api/inventory/{sku}/restock", post(restock))
        .route("/api/orders", post(place_order))
        .route("/api/orders/{id}/cancel", post(cancel_order))
        .route_layer(middleware::from_fn(command_span))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(api)
}

/// `POST /api/customers` → 201 `{customer_id, version}`.
async fn register_customer(
    State(api): State<CommandApi>,
    request: CommandRequest<RegisterCustomerRequest>,
) -> Answered {
    let command = request.body.parse()?;
    let context = &request.context;
    let id = CustomerId::try_from(context.new_aggregate_id(Customer::TYPE))
        .map_err(ApiError::internal)?;
    let target = Target::new(Customer::TYPE, id, "customer_id", StatusCode::CREATED);
    api.answer(context, &target, || {
        api.execute::<Customer>(&target, command, context)
    })
    .await
}

/// `POST /api/customers/{id}/credit-limit` → 200 `{customer_id, version}`.
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
async fn place_order(
    State(api): State<CommandApi>,
    request: CommandRequest<PlaceOrderRequest>,
) -> Answered {
    let order = request.body.parse()?;
    let context = &request.context;
    let id =
        OrderId::try_from(context.new_aggregate_id(Order::TYPE)).map_err(ApiError::internal)?;
    let target = Target::new(Order::TYPE, id, "order_id", StatusCode::ACCEPTED);
    api.answer(context, &target, || {
        api.place_order(&target, order, context)
    })
    .await
}

/// `POST /api/orders/{id}/cancel` → 200 `{order_id, version}`.
async fn cancel_order(
    State(api): State<CommandApi>,
    PathParam(id): PathParam,
    request: CommandRequest<CancelOrderRequest>,
) -> Answered {
    let id = OrderId::parse(&id).map_err(path_error)?;
    let reason = request.body.parse()?;
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
