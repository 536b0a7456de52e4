//! Request bodies (DTOs) and their conversion into domain values: parse, don't validate.
//!
//! DTOs hold wide wire types (`String`, `i64`) so that every rule on a value is the domain's
//! own `parse`; a failure is answered 400 naming the field as a path into the body
//! (`lines[2].quantity`). Unknown members are refused, so a misspelt field is not silently
//! ignored.

use causeway_domain::{
    Currency, CustomerCommand, CustomerId, CustomerName, Email, Money, OrderLine, Quantity, Sku,
    ValidationError,
};
use serde::Deserialize;

use super::error::ApiError;

/// `POST /api/customers`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterCustomerRequest {
    /// The customer's name.
    #[schema(example = "Ada Lovelace")]
    name: String,
    /// The customer's email address.
    #[schema(example = "ada@example.com")]
    email: String,
    /// The credit limit, in minor units of `currency`.
    #[schema(example = 50000)]
    credit_limit_cents: i64,
    /// ISO 4217 currency code.
    #[schema(example = "EUR")]
    currency: String,
}

impl RegisterCustomerRequest {
    /// The `Register` command.
    pub(crate) fn parse(self) -> Result<CustomerCommand, ApiError> {
        let currency = Currency::parse(&self.currency).map_err(at(""))?;
        Ok(CustomerCommand::Register {
            name: CustomerName::parse(&self.name).map_err(at(""))?,
            email: Email::parse(&self.email).map_err(at(""))?,
            credit_limit: money(self.credit_limit_cents, currency, "credit_limit_cents")
                .map_err(at(""))?,
        })
    }
}

/// `POST /api/customers/{id}/credit-limit`. `currency` defaults to the customer's.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeCreditLimitRequest {
    /// The new limit, in minor units.
    credit_limit_cents: i64,
    /// ISO 4217 currency code; the customer's when absent.
    #[serde(default)]
    currency: Option<String>,
}

/// A new credit limit whose currency may still have to be looked up.
#[derive(Debug)]
pub(crate) struct NewCreditLimit {
    cents: i64,
    /// The currency the caller named, if it did.
    pub(crate) currency: Option<Currency>,
}

impl NewCreditLimit {
    /// The limit in `currency`.
    pub(crate) fn in_currency(&self, currency: Currency) -> Result<Money, ApiError> {
        money(self.cents, currency, "credit_limit_cents").map_err(at(""))
    }
}

impl ChangeCreditLimitRequest {
    /// The new limit; checked at once when the currency is given.
    pub(crate) fn parse(self) -> Result<NewCreditLimit, ApiError> {
        let currency = self
            .currency
            .as_deref()
            .map(Currency::parse)
            .transpose()
            .map_err(at(""))?;
        let limit = NewCreditLimit {
            cents: self.credit_limit_cents,
            currency,
        };
        if let Some(currency) = &limit.currency {
            limit.in_currency(currency.clone())?;
        }
        Ok(limit)
    }
}

/// `POST /api/inventory/{sku}/restock`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestockRequest {
    /// Units to add (positive).
    #[schema(example = 10)]
    quantity: i64,
}

impl RestockRequest {
    /// The units to add.
    pub(crate) fn parse(self) -> Result<Quantity, ApiError> {
        Quantity::try_from(self.quantity).map_err(at(""))
    }
}

/// `POST /api/orders`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlaceOrderRequest {
    /// The ordering customer (a UUID).
    customer_id: String,
    /// ISO 4217 currency code of every price.
    #[schema(example = "EUR")]
    currency: String,
    /// At least one line, one per SKU.
    lines: Vec<OrderLineRequest>,
}

/// One line of [`PlaceOrderRequest`], priced in the order's currency.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct OrderLineRequest {
    /// The stock-keeping unit.
    #[schema(example = "mug-1")]
    sku: String,
    /// Units ordered (positive).
    #[schema(example = 2)]
    quantity: i64,
    /// Price of one unit, in minor units of the order's currency.
    #[schema(example = 1250)]
    unit_price_cents: i64,
}

/// What a `Place` command needs besides the clock.
#[derive(Debug)]
pub(crate) struct NewOrder {
    /// The ordering customer.
    pub(crate) customer_id: CustomerId,
    /// The order's currency.
    pub(crate) currency: Currency,
    /// The lines, in request order.
    pub(crate) lines: Vec<OrderLine>,
}

impl PlaceOrderRequest {
    /// The order's values; rules across lines (none empty, one per SKU) are the domain's.
    pub(crate) fn parse(self) -> Result<NewOrder, ApiError> {
        let customer_id = CustomerId::parse(&self.customer_id).map_err(at(""))?;
        let currency = Currency::parse(&self.currency).map_err(at(""))?;
        let lines = self
            .lines
            .into_iter()
            .enumerate()
            .map(|(index, line)| line.parse(&currency, &format!("lines[{index}].")))
            .collect::<Result<_, _>>()?;
        Ok(NewOrder {
            customer_id,
            currency,
            lines,
        })
    }
}

impl OrderLineRequest {
    fn parse(self, currency: &Currency, prefix: &str) -> Result<OrderLine, ApiError> {
        Ok(OrderLine {
            sku: Sku::parse(&self.sku).map_err(at(prefix))?,
            quantity: Quantity::try_from(self.quantity).map_err(at(prefix))?,
            unit_price: money(self.unit_price_cents, currency.clone(), "unit_price_cents")
                .map_err(at(prefix))?,
        })
    }
}

/// `POST /api/orders/{id}/cancel`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CancelOrderRequest {
    /// Why (1 to 500 characters).
    reason: String,
}

impl CancelOrderRequest {
    /// The longest reason accepted, in characters.
    const MAX_REASON_CHARS: usize = 500;

    /// The reason, trimmed: 1 to 500 characters.
    pub(crate) fn parse(self) -> Result<String, ApiError> {
        let reason = self.reason.trim();
        let chars = reason.chars().count();
        if chars == 0 || chars > Self::MAX_REASON_CHARS {
            let rule = format!("must be 1 to {} characters long", Self::MAX_REASON_CHARS);
            return Err(ApiError::invalid_field("reason", format!("reason: {rule}")));
        }
        Ok(reason.to_owned())
    }
}

/// Money from minor units; a failure names `field` rather than `amount_minor`.
fn money(cents: i64, currency: Currency, field: &'static str) -> Result<Money, ValidationError> {
    Money::parse(cents, currency).map_err(|e| e.with_field(field))
}

/// Reports a domain validation error at `prefix` + its field.
fn at(prefix: &str) -> impl Fn(ValidationError) -> ApiError + '_ {
    move |error| {
        let field = format!("{prefix}{}", error.field);
        ApiError::invalid_field(field.clone(), format!("{field}: {}", error.message))
    }
}
