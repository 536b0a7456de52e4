//! Running one command: the IO lookups that happen before `decide` (their results travel in
//! the command as values), then the event store.

use std::future::Future;

use causeway_auth::Principal;
use causeway_domain::{
    Aggregate, Customer, CustomerCommand, CustomerId, CustomerRejection, Order, OrderCommand,
    OrderId, OrderRejection,
};
use chrono::Utc;

use super::CommandApi;
use super::answer::{Answer, Target};
use super::context::RequestContext;
use super::error::ApiError;
use super::requests::{NewCreditLimit, NewOrder};

impl CommandApi {
    /// Answers the command run by `execute` (which yields the new version): at most once per
    /// idempotency key when the request has one.
    pub(crate) async fn answer<F, Fut>(
        &self,
        context: &RequestContext,
        target: &Target,
        execute: F,
    ) -> Result<Answer, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<u64, ApiError>>,
    {
        match &context.idempotency {
            None => execute().await.map(|version| target.answer(version)),
            Some(request) => self.idempotency.run(request, target, execute).await,
        }
    }

    /// Decides `command` on the target aggregate and stores its events: the new version.
    pub(crate) async fn execute<A: Aggregate>(
        &self,
        target: &Target,
        command: A::Command,
        context: &RequestContext,
    ) -> Result<u64, ApiError> {
        let (id, metadata) = (&target.aggregate_id, &context.metadata);
        let committed = if target.minted {
            self.store.execute_new::<A>(id, command, metadata).await?
        } else {
            self.store.execute::<A>(id, command, metadata).await?
        };
        Ok(committed.version)
    }

    /// Changes a credit limit, in the customer's currency unless the caller named one.
    pub(crate) async fn change_credit_limit(
        &self,
        target: &Target,
        customer_id: CustomerId,
        limit: NewCreditLimit,
        context: &RequestContext,
    ) -> Result<u64, ApiError> {
        let currency = match limit.currency.clone() {
            Some(currency) => currency,
            None => self
                .registered_credit_limit(customer_id)
                .await?
                .currency()
                .clone(),
        };
        let limit = limit.in_currency(currency)?;
        let command = CustomerCommand::ChangeCreditLimit { limit };
        self.execute::<Customer>(target, command, context).await
    }

    /// Places an order for an existing customer, now, expiring after the order timeout.
    pub(crate) async fn place_order(
        &self,
        target: &Target,
        order: NewOrder,
        context: &RequestContext,
    ) -> Result<u64, ApiError> {
        self.ensure_registered(order.customer_id).await?;
        let placed_at = Utc::now();
        let timeout =
            chrono::Duration::from_std(self.config.order_timeout).map_err(ApiError::internal)?;
        let command = OrderCommand::Place {
            customer_id: order.customer_id,
            currency: order.currency,
            lines: order.lines,
            placed_at,
            deadline: placed_at + timeout,
        };
        self.execute::<Order>(target, command, context).await
    }

    /// Succeeds when `caller` may see the order's customer; 404 `order_not_found` for an
    /// order of another customer, exactly as for one that does not exist.
    pub(crate) async fn ensure_order_of(
        &self,
        caller: &Principal,
        id: OrderId,
    ) -> Result<(), ApiError> {
        let loaded = self.store.load::<Order>(&id.to_string()).await?;
        let customer = loaded.and_then(|(order, _version)| order.customer_id());
        match customer {
            Some(customer) if caller.may_see_customer(&customer.as_uuid()) => Ok(()),
            _ => Err(ApiError::rejected(&OrderRejection::NotFound)),
        }
    }

    /// Succeeds for a registered customer; 404 `customer_not_found` otherwise. Reads the
    /// store only for a customer not seen registered before.
    async fn ensure_registered(&self, id: CustomerId) -> Result<(), ApiError> {
        if self.known_customers.get(&id).is_none() {
            self.registered_credit_limit(id).await?;
            self.known_customers.insert(id, ());
        }
        Ok(())
    }

    /// The credit limit of a registered customer; 404 `customer_not_found` otherwise.
    async fn registered_credit_limit(
        &self,
        id: CustomerId,
    ) -> Result<causeway_domain::Money, ApiError> {
        let loaded = self.store.load::<Customer>(&id.to_string()).await?;
        loaded
            .and_then(|(customer, _version)| customer.credit_limit().cloned())
            .ok_or_else(|| ApiError::rejected(&CustomerRejection::NotFound))
    }
}
