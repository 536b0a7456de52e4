//! Request bodies (DTOs) and their conversion into domain values: parse, don't validate.
//!
//! DTOs hold wide wire types (`String`, `i64`) so that every rule on a value is the domain's
//! own `parse`; a failure is answered 400 naming the field as a path into the body
//! (`lines[2].quantity`). Unknown members are refused, so a misspelt field is not silently
//! ignored. Amounts are bounded ([`Money::parse_bounded`]), free text refuses control
//! characters, and an order has at most [`Order::MAX_LINES`] lines.

use causeway_domain::{
    CancelReason, Currency, CustomerCommand, CustomerId, CustomerName, Email, Money, Order,
    OrderLine, Quantity, Sku, ValidationError,
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
    /// The credit limit, in minor units of `currency`: 0 to 10^13.
    #[schema(example = 50000)]
    credit_limit_cents: i64,
    /// ISO 4217 currency code.
    #[schema(example = "EUR")]
    currency: String,
}

impl RegisterCustomerRequest {
    /// Whether it asks for any credit (a customer registering itself may not).
    pub(crate) fn asks_for_credit(&self) -> bool {
        self.credit_limit_cents != 0
    }

    /// The `Register` command, owned by `owner` when a customer registers itself.
    pub(crate) fn parse(self, owner: Option<String>) -> Result<CustomerCommand, ApiError> {
        let currency = Currency::parse(&self.currency).map_err(at(""))?;
        Ok(CustomerCommand::Register {
            name: CustomerName::parse(&self.name).map_err(at(""))?,
            email: Email::parse(&self.email).map_err(at(""))?,
            credit_limit: money(self.credit_limit_cents, currency, "credit_limit_cents")
                .map_err(at(""))?,
            owner,
        })
    }
}

/// `POST /api/customers/{id}/credit-limit`. `currency` defaults to the customer's.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeCreditLimitRequest {
    /// The new limit, in minor units: 0 to 10^13.
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
    /// 1 to 100 lines, one per SKU.
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
    /// Price of one unit, in minor units of the order's currency: 0 to 10^13.
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
    /// The order's values; at most [`Order::MAX_LINES`] lines, checked before any is read.
    /// The other rules across lines (none empty, one per SKU) are the domain's.
    pub(crate) fn parse(self) -> Result<NewOrder, ApiError> {
        Order::check_line_count(self.lines.len()).map_err(at(""))?;
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
    /// Why (1 to 500 characters, no control characters).
    reason: String,
}

impl CancelOrderRequest {
    /// The reason, trimmed and checked by [`CancelReason`].
    pub(crate) fn parse(self) -> Result<String, ApiError> {
        let reason = CancelReason::parse(&self.reason).map_err(at(""))?;
        Ok(reason.into())
    }
}

/// Money from minor units of input, bounded by [`Money::MAX_AMOUNT_MINOR`]; a failure names
/// `field` rather than `amount_minor`.
fn money(cents: i64, currency: Currency, field: &'static str) -> Result<Money, ValidationError> {
    Money::parse_bounded(cents, currency).map_err(|e| e.with_field(field))
}

/// Reports a domain validation error at `prefix` + its field.
fn at(prefix: &str) -> impl Fn(ValidationError) -> ApiError + '_ {
    move |error| {
        let field = format!("{prefix}{}", error.field);
        ApiError::invalid_field(field.clone(), format!("{field}: {}", error.message))
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use super::*;

    fn request<T: DeserializeOwned>(body: Value) -> T {
        serde_json::from_value(body).unwrap()
    }

    /// The field a refused request names.
    fn refused_field<T: std::fmt::Debug>(result: Result<T, ApiError>) -> String {
        match result {
            Err(ApiError::BadRequest {
                code: "invalid_field",
                field: Some(field),
                ..
            }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    fn registration(name: &str, email: &str, credit_limit_cents: i64) -> RegisterCustomerRequest {
        request(json!({
            "name": name, "email": email,
            "credit_limit_cents": credit_limit_cents, "currency": "EUR",
        }))
    }

    fn order(lines: usize, unit_price_cents: i64) -> PlaceOrderRequest {
        let lines: Vec<Value> = (0..lines)
            .map(|n| json!({"sku": format!("sku-{n}"), "quantity": 1, "unit_price_cents": unit_price_cents}))
            .collect();
        request(json!({
            "customer_id": "0190f7a4-1b2c-7d3e-8f40-123456789abc",
            "currency": "EUR",
            "lines": lines,
        }))
    }

    #[test]
    fn a_control_character_in_a_name_or_email_names_its_field() {
        let max = Money::MAX_AMOUNT_MINOR;
        assert!(
            registration("Ada", "ada@example.com", max)
                .parse(None)
                .is_ok()
        );
        let name = registration("Ada\u{0}", "ada@example.com", 100).parse(None);
        assert_eq!(refused_field(name), "name");
        let email = registration("Ada", "ada\u{0}@example.com", 100).parse(None);
        assert_eq!(refused_field(email), "email");
    }

    #[test]
    fn a_credit_limit_above_the_bound_names_credit_limit_cents() {
        let register = registration("Ada", "ada@example.com", i64::MAX).parse(None);
        assert_eq!(refused_field(register), "credit_limit_cents");
        let over = Money::MAX_AMOUNT_MINOR + 1;
        let change: ChangeCreditLimitRequest =
            request(json!({"credit_limit_cents": over, "currency": "EUR"}));
        assert_eq!(refused_field(change.parse()), "credit_limit_cents");
        let later: ChangeCreditLimitRequest = request(json!({"credit_limit_cents": over}));
        let limit = later.parse().unwrap();
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(refused_field(limit.in_currency(eur)), "credit_limit_cents");
    }

    #[test]
    fn an_order_of_more_than_max_lines_lines_names_lines() {
        assert!(order(Order::MAX_LINES, 100).parse().is_ok());
        assert_eq!(
            refused_field(order(Order::MAX_LINES + 1, 100).parse()),
            "lines"
        );
        assert_eq!(refused_field(order(1_000, 100).parse()), "lines");
    }

    #[test]
    fn a_unit_price_above_the_bound_names_its_line() {
        let order = order(2, Money::MAX_AMOUNT_MINOR + 1).parse();
        assert_eq!(refused_field(order), "lines[0].unit_price_cents");
    }

    #[test]
    fn a_cancel_reason_is_trimmed_and_refused_blank_too_long_or_with_control_characters() {
        let cancel = |reason: &str| request::<CancelOrderRequest>(json!({"reason": reason}));
        assert_eq!(
            cancel(" changed my mind ").parse().unwrap(),
            "changed my mind"
        );
        let too_long = "x".repeat(CancelReason::MAX_CHARS + 1);
        for bad in ["", "  ", too_long.as_str(), "why\u{0}", "why\u{1b}[2J"] {
            assert_eq!(refused_field(cancel(bad).parse()), "reason", "{bad:?}");
        }
    }
}
