//! The Customer aggregate (id: [`CustomerId`](crate::CustomerId)): profile, credit limit,
//! and the credit reserved for each open order.
//!
//! Credit is reserved and released by the place-order saga. A reservation that does not fit
//! is declined with an event (the saga reacts to it), not refused with a rejection. Every
//! order gets at most one credit decision: once reserved, declined or released, asking again
//! for the same order changes nothing.

mod event;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainRejection};
use crate::values::{Currency, CustomerName, Email, Money, OrderId};

pub use event::{
    CreditDeclineReason, CreditLimitChanged, CreditReleased, CreditReservationDeclined,
    CreditReserved, CustomerEvent, CustomerRegistered,
};

/// The aggregate type name of customers.
pub const AGGREGATE_TYPE: &str = "Customer";

/// A command to a Customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerCommand {
    /// Registers the customer; creates the aggregate. Registering again with the same
    /// details changes nothing.
    Register {
        /// The customer's name.
        name: CustomerName,
        /// The customer's e-mail address.
        email: Email,
        /// How much credit the customer may have reserved at once; fixes its currency.
        credit_limit: Money,
        /// The subject (a verified token's `sub`) that registered itself as this customer
        /// and owns it; `None` when a shop service or an admin registered it.
        owner: Option<String>,
    },
    /// Sets a new credit limit, in the customer's currency, not below the credit reserved.
    ChangeCreditLimit {
        /// The new limit.
        limit: Money,
    },
    /// Reserves credit for an order, or declines to when it does not fit.
    ReserveCredit {
        /// The order the credit is for.
        order_id: OrderId,
        /// The amount to reserve.
        amount: Money,
    },
    /// Releases the credit reserved for an order, if any.
    ReleaseCredit {
        /// The order whose credit is released.
        order_id: OrderId,
    },
}

/// Why a Customer refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomerRejection {
    /// The customer has not been registered.
    #[error("customer not found")]
    NotFound,
    /// The customer is already registered, with other details.
    #[error("customer is already registered with different details")]
    AlreadyRegistered,
    /// The amount is not in the customer's currency.
    #[error("the customer's credit is in {expected}, not {found}")]
    CurrencyMismatch {
        /// The customer's currency.
        expected: Currency,
        /// The currency asked for.
        found: Currency,
    },
    /// The new limit would be below the credit already reserved.
    #[error("credit limit {limit} is below the {reserved} already reserved")]
    CreditLimitBelowReserved {
        /// The limit asked for.
        limit: Money,
        /// The credit reserved now.
        reserved: Money,
    },
}

impl DomainRejection for CustomerRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "customer_not_found",
            Self::AlreadyRegistered => "customer_already_registered",
            Self::CurrencyMismatch { .. } => "currency_mismatch",
            Self::CreditLimitBelowReserved { .. } => "credit_limit_below_reserved",
        }
    }
}

/// The state of a Customer; `Default` is a customer not registered yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    profile: Option<Profile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Profile {
    registration: CustomerRegistered,
    credit_limit: Money,
    reservations: BTreeMap<OrderId, Money>,
    /// Orders whose credit was declined or released: their credit decision is made.
    closed_orders: BTreeSet<OrderId>,
}

impl Customer {
    /// Whether the customer has been registered.
    pub fn is_registered(&self) -> bool {
        self.profile.is_some()
    }

    /// The customer's name, once registered.
    pub fn name(&self) -> Option<&CustomerName> {
        self.profile.as_ref().map(|p| &p.registration.name)
    }

    /// The customer's e-mail address, once registered.
    pub fn email(&self) -> Option<&Email> {
        self.profile.as_ref().map(|p| &p.registration.email)
    }

    /// The current credit limit, once registered.
    pub fn credit_limit(&self) -> Option<&Money> {
        self.profile.as_ref().map(|p| &p.credit_limit)
    }

    /// The credit reserved across all open orders, once registered.
    pub fn reserved_credit(&self) -> Option<Money> {
        self.profile.as_ref().map(Profile::reserved)
    }

    /// The credit still available (limit − reserved), once registered.
    pub fn available_credit(&self) -> Option<Money> {
        self.profile.as_ref().map(Profile::available)
    }

    /// The credit reserved for `order_id`, if any.
    pub fn reservation(&self, order_id: &OrderId) -> Option<&Money> {
        self.profile.as_ref()?.reservations.get(order_id)
    }

    fn registered(&self) -> Result<&Profile, CustomerRejection> {
        self.profile.as_ref().ok_or(CustomerRejection::NotFound)
    }

    fn register(
        &self,
        registration: CustomerRegistered,
    ) -> Result<Vec<CustomerEvent>, CustomerRejection> {
        match &self.profile {
            None => Ok(vec![CustomerEvent::CustomerRegistered(registration)]),
            Some(profile) if profile.registration == registration => Ok(vec![]),
            Some(_) => Err(CustomerRejection::AlreadyRegistered),
        }
    }
}

impl Profile {
    fn reserved(&self) -> Money {
        let total = self
            .reservations
            .values()
            .map(Money::amount_minor)
            .fold(0_i64, i64::saturating_add);
        let currency = self.credit_limit.currency().clone();
        Money::parse(total, currency.clone()).unwrap_or_else(|_| Money::zero(currency))
    }

    fn available(&self) -> Money {
        let currency = self.credit_limit.currency().clone();
        let available = self.credit_limit.checked_sub(&self.reserved());
        // `decide` keeps reserved ≤ limit, so this is never below zero.
        available.unwrap_or_else(|_| Money::zero(currency))
    }

    fn change_credit_limit(&self, limit: &Money) -> Result<Vec<CustomerEvent>, CustomerRejection> {
        self.same_currency(limit)?;
        if *limit == self.credit_limit {
            return Ok(vec![]);
        }
        let reserved = self.reserved();
        if limit.amount_minor() < reserved.amount_minor() {
            let limit = limit.clone();
            return Err(CustomerRejection::CreditLimitBelowReserved { limit, reserved });
        }
        let limit = limit.clone();
        Ok(vec![CustomerEvent::CreditLimitChanged(
            CreditLimitChanged { limit },
        )])
    }

    fn same_currency(&self, amount: &Money) -> Result<(), CustomerRejection> {
        if amount.currency() == self.credit_limit.currency() {
            return Ok(());
        }
        Err(CustomerRejection::CurrencyMismatch {
            expected: self.credit_limit.currency().clone(),
            found: amount.currency().clone(),
        })
    }

    fn reserve_credit(&self, order_id: OrderId, amount: &Money) -> Vec<CustomerEvent> {
        if self.reservations.contains_key(&order_id) || self.closed_orders.contains(&order_id) {
            return vec![];
        }
        let available = self.available();
        let amount = amount.clone();
        match decline_reason(&available, &amount) {
            None => vec![CustomerEvent::CreditReserved(CreditReserved {
                order_id,
                amount,
            })],
            Some(reason) => vec![CustomerEvent::CreditReservationDeclined(
                CreditReservationDeclined {
                    order_id,
                    amount,
                    available,
                    reason,
                },
            )],
        }
    }

    fn release_credit(&self, order_id: OrderId) -> Vec<CustomerEvent> {
        match self.reservations.get(&order_id) {
            Some(amount) => vec![CustomerEvent::CreditReleased(CreditReleased {
                order_id,
                amount: amount.clone(),
            })],
            None => vec![],
        }
    }
}

fn decline_reason(available: &Money, amount: &Money) -> Option<CreditDeclineReason> {
    if available.currency() != amount.currency() {
        Some(CreditDeclineReason::CurrencyMismatch)
    } else if amount.amount_minor() > available.amount_minor() {
        Some(CreditDeclineReason::InsufficientCredit)
    } else {
        None
    }
}

impl Aggregate for Customer {
    const TYPE: &'static str = AGGREGATE_TYPE;
    type Command = CustomerCommand;
    type Event = CustomerEvent;
    type Rejection = CustomerRejection;

    fn decide(&self, command: &CustomerCommand) -> Result<Vec<CustomerEvent>, CustomerRejection> {
        match command {
            CustomerCommand::Register {
                name,
                email,
                credit_limit,
                owner,
            } => self.register(CustomerRegistered {
                name: name.clone(),
                email: email.clone(),
                credit_limit: credit_limit.clone(),
                owner: owner.clone(),
            }),
            CustomerCommand::ChangeCreditLimit { limit } => {
                self.registered()?.change_credit_limit(limit)
            }
            CustomerCommand::ReserveCredit { order_id, amount } => {
                Ok(self.registered()?.reserve_credit(*order_id, amount))
            }
            CustomerCommand::ReleaseCredit { order_id } => {
                Ok(self.registered()?.release_credit(*order_id))
            }
        }
    }

    fn apply(&mut self, event: &CustomerEvent) {
        if let CustomerEvent::CustomerRegistered(registered) = event {
            self.profile = Some(Profile::new(registered));
        } else if let Some(profile) = &mut self.profile {
            profile.apply(event);
        }
    }
}

impl Profile {
    fn new(registration: &CustomerRegistered) -> Self {
        Self {
            registration: registration.clone(),
            credit_limit: registration.credit_limit.clone(),
            reservations: BTreeMap::new(),
            closed_orders: BTreeSet::new(),
        }
    }

    fn apply(&mut self, event: &CustomerEvent) {
        match event {
            // Registering twice is refused by `decide`; a stray repeat changes nothing.
            CustomerEvent::CustomerRegistered(_) => {}
            CustomerEvent::CreditLimitChanged(e) => self.credit_limit = e.limit.clone(),
            CustomerEvent::CreditReserved(e) => {
                self.reservations.insert(e.order_id, e.amount.clone());
            }
            CustomerEvent::CreditReservationDeclined(e) => {
                self.closed_orders.insert(e.order_id);
            }
            CustomerEvent::CreditReleased(e) => {
                self.reservations.remove(&e.order_id);
                self.closed_orders.insert(e.order_id);
            }
        }
    }
}
