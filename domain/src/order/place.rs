//! Placing an order: the rules on its lines, currency, deadline and total.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::{Order, OrderEvent, OrderLine, OrderPlaced, OrderRejection};
use crate::values::{Currency, CustomerId, Money};

/// What a `Place` command asks for.
pub(super) struct Placement<'a> {
    pub(super) customer_id: CustomerId,
    pub(super) currency: &'a Currency,
    pub(super) lines: &'a [OrderLine],
    pub(super) placed_at: DateTime<Utc>,
    pub(super) deadline: DateTime<Utc>,
}

/// Decides a `Place` command, given the order as placed so far (if it was).
pub(super) fn decide(
    existing: Option<&OrderPlaced>,
    placement: Placement<'_>,
) -> Result<Vec<OrderEvent>, OrderRejection> {
    match existing {
        Some(existing) if placement.has_same_content(existing) => Ok(vec![]),
        Some(_) => Err(OrderRejection::AlreadyPlaced),
        None => placement
            .into_event()
            .map(|e| vec![OrderEvent::OrderPlaced(e)]),
    }
}

impl Placement<'_> {
    /// Same customer, currency and lines: the timestamps of a retry may differ.
    fn has_same_content(&self, existing: &OrderPlaced) -> bool {
        existing.customer_id == self.customer_id
            && existing.currency == *self.currency
            && existing.lines == self.lines
    }

    fn into_event(self) -> Result<OrderPlaced, OrderRejection> {
        self.check_lines()?;
        self.check_deadline()?;
        Ok(OrderPlaced {
            customer_id: self.customer_id,
            currency: self.currency.clone(),
            lines: self.lines.to_vec(),
            total: self.total()?,
            placed_at: self.placed_at,
            deadline: self.deadline,
        })
    }

    fn check_lines(&self) -> Result<(), OrderRejection> {
        if self.lines.is_empty() {
            return Err(OrderRejection::NoLines);
        }
        if self.lines.len() > Order::MAX_LINES {
            return Err(OrderRejection::TooManyLines {
                count: self.lines.len(),
                max: Order::MAX_LINES,
            });
        }
        let mut seen = BTreeSet::new();
        for line in self.lines {
            if !seen.insert(&line.sku) {
                return Err(OrderRejection::DuplicateSku {
                    sku: line.sku.clone(),
                });
            }
            self.check_currency(&line.unit_price)?;
        }
        Ok(())
    }

    fn check_currency(&self, price: &Money) -> Result<(), OrderRejection> {
        if price.currency() == self.currency {
            return Ok(());
        }
        Err(OrderRejection::CurrencyMismatch {
            expected: self.currency.clone(),
            found: price.currency().clone(),
        })
    }

    fn check_deadline(&self) -> Result<(), OrderRejection> {
        if self.deadline > self.placed_at {
            return Ok(());
        }
        Err(OrderRejection::DeadlineNotAfterPlacement {
            placed_at: self.placed_at,
            deadline: self.deadline,
        })
    }

    /// The sum of the line totals, in checked arithmetic, at most
    /// [`Money::MAX_AMOUNT_MINOR`]: every amount the saga then reserves, authorizes and
    /// projects is bounded like the input it came from.
    fn total(&self) -> Result<Money, OrderRejection> {
        let total = self
            .lines
            .iter()
            .try_fold(Money::zero(self.currency.clone()), |total, line| {
                total.checked_add(&line.line_total()?)
            })
            .map_err(|_| OrderRejection::AmountOverflow)?;
        Money::parse_bounded(total.amount_minor(), self.currency.clone())
            .map_err(|_| OrderRejection::AmountOverflow)
    }
}
