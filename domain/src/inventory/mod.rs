//! The InventoryItem aggregate (id: [`Sku`](crate::Sku)): units on hand and the units
//! reserved for each order; available = on hand − reserved.
//!
//! Like credit, stock is reserved and released by the place-order saga, a reservation that
//! does not fit is rejected with an event, and every order gets at most one stock decision
//! per SKU: once reserved, rejected or released, asking again changes nothing. An item never
//! restocked has nothing available: reserving it is rejected with an event (the order then
//! fails for stock, as it should for an unknown SKU) and releasing it changes nothing.

mod event;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainRejection};
use crate::values::{OrderId, Quantity};

pub use event::{
    InventoryEvent, StockReleased, StockReservationRejected, StockReserved, StockRestocked,
};

/// The aggregate type name of inventory items.
pub const AGGREGATE_TYPE: &str = "InventoryItem";

/// A command to an InventoryItem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryCommand {
    /// Adds units to the stock on hand; the first restock creates the item.
    Restock {
        /// The units that arrived.
        quantity: Quantity,
    },
    /// Reserves units for an order, or rejects the reservation when too few are available.
    Reserve {
        /// The order the units are for.
        order_id: OrderId,
        /// The units wanted.
        quantity: Quantity,
    },
    /// Releases an order's reservation, if any.
    Release {
        /// The order whose reservation is released.
        order_id: OrderId,
    },
}

/// Why an InventoryItem refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryRejection {
    /// The restock would take the units on hand past `u32::MAX`.
    #[error("restocking {quantity} units would overflow the {on_hand} on hand")]
    StockOverflow {
        /// The units on hand.
        on_hand: u32,
        /// The units to add.
        quantity: Quantity,
    },
}

impl DomainRejection for InventoryRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::StockOverflow { .. } => "stock_overflow",
        }
    }
}

/// The state of an InventoryItem; `Default` is an item never restocked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    stock: Option<Stock>,
    /// Orders refused before the item was ever restocked: their stock decision is made.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    refused_unstocked: BTreeSet<OrderId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stock {
    on_hand: u32,
    reservations: BTreeMap<OrderId, Quantity>,
    /// Orders whose reservation was rejected or released: their stock decision is made.
    closed_orders: BTreeSet<OrderId>,
}

impl InventoryItem {
    /// Whether the item has been restocked at least once.
    pub fn exists(&self) -> bool {
        self.stock.is_some()
    }

    /// The units on hand, reserved or not.
    pub fn on_hand(&self) -> u32 {
        self.stock.as_ref().map_or(0, |s| s.on_hand)
    }

    /// The units reserved for open orders.
    pub fn reserved(&self) -> u32 {
        self.stock.as_ref().map_or(0, Stock::reserved)
    }

    /// The units that can still be reserved: on hand − reserved.
    pub fn available(&self) -> u32 {
        self.stock.as_ref().map_or(0, Stock::available)
    }

    /// The units reserved for `order_id`, if any.
    pub fn reservation(&self, order_id: &OrderId) -> Option<Quantity> {
        self.stock.as_ref()?.reservations.get(order_id).copied()
    }

    /// Every open reservation, by order.
    pub fn reservations(&self) -> impl Iterator<Item = (&OrderId, &Quantity)> {
        self.stock.iter().flat_map(|s| s.reservations.iter())
    }

    /// The decision on a reservation for an item never restocked: nothing is available.
    fn refuse_unstocked(&self, order_id: OrderId, requested: Quantity) -> Vec<InventoryEvent> {
        if self.refused_unstocked.contains(&order_id) {
            return vec![];
        }
        let rejected = StockReservationRejected {
            order_id,
            requested,
            available: 0,
        };
        vec![InventoryEvent::StockReservationRejected(rejected)]
    }

    fn restock(&self, quantity: Quantity) -> Result<Vec<InventoryEvent>, InventoryRejection> {
        let on_hand = self.on_hand();
        if on_hand.checked_add(quantity.get()).is_none() {
            return Err(InventoryRejection::StockOverflow { on_hand, quantity });
        }
        Ok(vec![InventoryEvent::StockRestocked(StockRestocked {
            quantity,
        })])
    }
}

impl Stock {
    fn reserved(&self) -> u32 {
        let total: u64 = self.reservations.values().map(|q| u64::from(q.get())).sum();
        u32::try_from(total).unwrap_or(u32::MAX)
    }

    fn available(&self) -> u32 {
        self.on_hand.saturating_sub(self.reserved())
    }

    fn reserve(&self, order_id: OrderId, requested: Quantity) -> Vec<InventoryEvent> {
        if self.reservations.contains_key(&order_id) || self.closed_orders.contains(&order_id) {
            return vec![];
        }
        let available = self.available();
        if available < requested.get() {
            let rejected = StockReservationRejected {
                order_id,
                requested,
                available,
            };
            return vec![InventoryEvent::StockReservationRejected(rejected)];
        }
        let quantity = requested;
        vec![InventoryEvent::StockReserved(StockReserved {
            order_id,
            quantity,
        })]
    }

    fn release(&self, order_id: OrderId) -> Vec<InventoryEvent> {
        match self.reservations.get(&order_id) {
            Some(&quantity) => {
                vec![InventoryEvent::StockReleased(StockReleased {
                    order_id,
                    quantity,
                })]
            }
            None => vec![],
        }
    }

    fn apply(&mut self, event: &InventoryEvent) {
        match event {
            InventoryEvent::StockRestocked(e) => {
                self.on_hand = self.on_hand.saturating_add(e.quantity.get());
            }
            InventoryEvent::StockReserved(e) => {
                self.reservations.insert(e.order_id, e.quantity);
            }
            InventoryEvent::StockReservationRejected(e) => {
                self.closed_orders.insert(e.order_id);
            }
            InventoryEvent::StockReleased(e) => {
                self.reservations.remove(&e.order_id);
                self.closed_orders.insert(e.order_id);
            }
        }
    }
}

impl Aggregate for InventoryItem {
    const TYPE: &'static str = AGGREGATE_TYPE;
    type Command = InventoryCommand;
    type Event = InventoryEvent;
    type Rejection = InventoryRejection;

    fn decide(
        &self,
        command: &InventoryCommand,
    ) -> Result<Vec<InventoryEvent>, InventoryRejection> {
        match command {
            InventoryCommand::Restock { quantity } => self.restock(*quantity),
            InventoryCommand::Reserve { order_id, quantity } => Ok(match &self.stock {
                Some(stock) => stock.reserve(*order_id, *quantity),
                None => self.refuse_unstocked(*order_id, *quantity),
            }),
            InventoryCommand::Release { order_id } => Ok(self
                .stock
                .as_ref()
                .map_or_else(Vec::new, |stock| stock.release(*order_id))),
        }
    }

    fn apply(&mut self, event: &InventoryEvent) {
        match (&mut self.stock, event) {
            (Some(stock), _) => stock.apply(event),
            (None, InventoryEvent::StockRestocked(_)) => {
                self.stock.get_or_insert_default().apply(event);
            }
            (None, InventoryEvent::StockReservationRejected(e)) => {
                self.refused_unstocked.insert(e.order_id);
            }
            // Only a restock creates the item; anything else before it changes nothing.
            (None, _) => {}
        }
    }
}
