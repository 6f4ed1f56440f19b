//! The orders an integration actor holds in memory, with their reservations kept in step: every
//! change goes through [`OrderBook::insert`] or [`OrderBook::update`], which move the order's
//! old rows out of the running sums and its new rows in (work per change is one order).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::domain::{Order, Reservations};

/// Held orders by code, and what the open ones reserve.
#[derive(Debug, Default)]
pub(super) struct OrderBook {
    orders: BTreeMap<String, Order>,
    reservations: Reservations,
}

impl OrderBook {
    /// The book of `orders` (as loaded at start).
    pub(super) fn new(orders: Vec<Order>) -> Self {
        let orders: BTreeMap<String, Order> =
            orders.into_iter().map(|o| (o.code.clone(), o)).collect();
        let reservations = Reservations::from_orders(orders.values());
        Self {
            orders,
            reservations,
        }
    }

    /// The order with this code.
    pub(super) fn get(&self, code: &str) -> Option<&Order> {
        self.orders.get(code)
    }

    /// Every held order, by code.
    pub(super) fn values(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// Number of held orders.
    pub(super) fn len(&self) -> usize {
        self.orders.len()
    }

    /// Adds or replaces the order with `order.code`.
    pub(super) fn insert(&mut self, order: Order) {
        let before = self.orders.get(&order.code);
        self.reservations.replace(before, Some(&order));
        self.orders.insert(order.code.clone(), order);
    }

    /// Changes the order with this code in place; `None` when it is not held.
    pub(super) fn update<R>(
        &mut self,
        code: &str,
        change: impl FnOnce(&mut Order) -> R,
    ) -> Option<R> {
        let order = self.orders.get_mut(code)?;
        let before = order.clone();
        let result = change(order);
        self.reservations.replace(Some(&before), Some(order));
        Some(result)
    }

    /// What the open orders reserve.
    pub(super) fn reservations(&self) -> &Reservations {
        &self.reservations
    }

    /// The figures changed since the last call (see [`Reservations::take_changes`]).
    pub(super) fn take_reservation_changes(&mut self) -> BTreeMap<String, Decimal> {
        self.reservations.take_changes()
    }

    /// The figures of the codes `order` touches if it replaced the held order of its code.
    pub(super) fn reservations_with(&self, order: &Order) -> BTreeMap<String, Decimal> {
        self.reservations
            .preview(self.orders.get(&order.code), Some(order))
    }
}
