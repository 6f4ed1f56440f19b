//! What a store's open orders reserve per product code, kept up to date one order change at a
//! time: the same figures as [`super::stock::reserved_by_orders`] over all held orders, without
//! going over them (work per change is the size of the changed order, not of the store).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::Decimal;

use super::order::Order;

/// Running reservation sums of a set of orders, with the codes changed since they were last
/// reported.
#[derive(Debug, Clone, Default)]
pub struct Reservations {
    /// Raw sum per code over the reserving orders' physical rows (negative correction rows
    /// included, so it may be zero or negative; only positive sums reserve). A code whose sum
    /// is back to zero is removed.
    sums: HashMap<String, Decimal>,
    /// Codes whose figure may have changed since [`Reservations::take_changes`].
    changed: BTreeSet<String>,
}

/// The rows an order reserves: its physical rows while its status reserves stock.
fn reserving_rows(order: Option<&Order>) -> impl Iterator<Item = (&str, Decimal)> {
    order
        .filter(|o| o.status.reserves_stock())
        .into_iter()
        .flat_map(|o| o.items.iter().filter_map(|item| item.physical_quantity()))
}

impl Reservations {
    /// The reservations of `orders`, from scratch (at start).
    pub fn from_orders<'a>(orders: impl IntoIterator<Item = &'a Order>) -> Self {
        let mut reservations = Self::default();
        for order in orders {
            reservations.replace(None, Some(order));
        }
        reservations.changed.clear();
        reservations
    }

    /// One order changed from `before` to `after` (`None`: it was not held / is no longer
    /// held): its old rows leave the sums, its new rows join them.
    pub fn replace(&mut self, before: Option<&Order>, after: Option<&Order>) {
        for (code, quantity) in reserving_rows(before) {
            self.add(code, -quantity);
        }
        for (code, quantity) in reserving_rows(after) {
            self.add(code, quantity);
        }
    }

    fn add(&mut self, code: &str, quantity: Decimal) {
        if quantity.is_zero() {
            return;
        }
        // Saturates rather than panics, like the from-scratch sum: quantities are bounded on
        // import (10^9), so a real sum never comes near the limit.
        let sum = self.sums.entry(code.to_owned()).or_default();
        *sum = sum.saturating_add(quantity);
        if sum.is_zero() {
            self.sums.remove(code);
        }
        if !self.changed.contains(code) {
            self.changed.insert(code.to_owned());
        }
    }

    /// What is reserved of `code` (zero when nothing).
    pub fn reserved(&self, code: &str) -> Decimal {
        self.sums
            .get(code)
            .copied()
            .unwrap_or_default()
            .max(Decimal::ZERO)
    }

    /// Every code with something reserved and its quantity: equal to
    /// [`super::stock::reserved_by_orders`] over the same orders.
    pub fn to_map(&self) -> BTreeMap<String, Decimal> {
        self.sums
            .iter()
            .filter(|(_, quantity)| **quantity > Decimal::ZERO)
            .map(|(code, quantity)| (code.clone(), *quantity))
            .collect()
    }

    /// The figure of every code changed since the last call (zero: nothing reserved any more),
    /// and forgets them.
    pub fn take_changes(&mut self) -> BTreeMap<String, Decimal> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|code| {
                let reserved = self.reserved(&code);
                (code, reserved)
            })
            .collect()
    }

    /// The figure of every code `before` or `after` touches, as it would be after
    /// [`Reservations::replace`] with them (nothing changes here).
    pub fn preview(
        &self,
        before: Option<&Order>,
        after: Option<&Order>,
    ) -> BTreeMap<String, Decimal> {
        let mut deltas: BTreeMap<String, Decimal> = BTreeMap::new();
        for (code, quantity) in reserving_rows(before) {
            let delta = deltas.entry(code.to_owned()).or_default();
            *delta = delta.saturating_sub(quantity);
        }
        for (code, quantity) in reserving_rows(after) {
            let delta = deltas.entry(code.to_owned()).or_default();
            *delta = delta.saturating_add(quantity);
        }
        deltas
            .into_iter()
            .map(|(code, delta)| {
                let sum = self.sums.get(&code).copied().unwrap_or_default();
                let figure = sum.saturating_add(delta).max(Decimal::ZERO);
                (code, figure)
            })
            .collect()
    }

    /// Whether any figure may have changed since [`Reservations::take_changes`].
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::tests::{product_row, sample_order};
    use crate::domain::order::{ItemType, OrderStatus};
    use crate::domain::stock::reserved_by_orders;
    use crate::domain::testutil::dec;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use uuid::Uuid;

    const CODES: [&str; 6] = ["A", "B", "C", "D", "E", "F"];

    fn random_order(rng: &mut StdRng, code: &str) -> Order {
        let mut order = sample_order(Uuid::nil(), code);
        order.items = (0..rng.gen_range(0..5))
            .map(|_| {
                let sku = CODES[rng.gen_range(0..CODES.len())];
                // Mostly goods; some correction rows (negative) and some rows that are not goods.
                let quantity = match rng.gen_range(0..10) {
                    0 => format!("-{}", rng.gen_range(1..3)),
                    1 => format!("{}.{:03}", rng.gen_range(0..4), rng.gen_range(0..1000)),
                    _ => rng.gen_range(1..6).to_string(),
                };
                let mut row = product_row(sku, &quantity, "10");
                if rng.gen_range(0..8) == 0 {
                    row.item_type = ItemType::Shipping;
                }
                row
            })
            .collect();
        order.status = OrderStatus::Imported;
        order
    }

    const STATUSES: [OrderStatus; 6] = [
        OrderStatus::Imported,
        OrderStatus::Processing,
        OrderStatus::Error,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    /// Random imports, re-imports with other rows, ships, cancels, reviews and removals: after
    /// every step the running figures equal a recomputation over all orders.
    #[test]
    fn running_figures_equal_a_recomputation_after_random_changes() {
        for seed in 0..20u64 {
            let mut rng = StdRng::seed_from_u64(0x5eed_0000 + seed);
            let mut orders: BTreeMap<String, Order> = BTreeMap::new();
            let mut running = Reservations::default();
            for step in 0..400 {
                let code = format!("ORD-{}", rng.gen_range(0..40));
                let before = orders.get(&code).cloned();
                let after = match (rng.gen_range(0..10), &before) {
                    // Import (new) or re-import with different rows.
                    (0..=3, _) | (_, None) => Some(random_order(&mut rng, &code)),
                    // A status step: process, ship, deliver, cancel, flag, reopen.
                    (4..=7, Some(order)) => {
                        let mut order = order.clone();
                        order.status = STATUSES[rng.gen_range(0..STATUSES.len())];
                        Some(order)
                    }
                    // Forgotten (e.g. an integration's orders leaving memory).
                    (_, Some(_)) => None,
                };
                running.replace(before.as_ref(), after.as_ref());
                match after {
                    Some(order) => orders.insert(code, order),
                    None => orders.remove(&code),
                };
                let expected = reserved_by_orders(orders.values());
                assert_eq!(running.to_map(), expected, "seed {seed}, step {step}");
                for sku in CODES {
                    let want = expected.get(sku).copied().unwrap_or_default();
                    assert_eq!(
                        running.reserved(sku),
                        want,
                        "seed {seed}, step {step}, {sku}"
                    );
                }
            }
            let rebuilt = Reservations::from_orders(orders.values());
            assert_eq!(rebuilt.to_map(), running.to_map(), "seed {seed}");
        }
    }

    #[test]
    fn changes_name_every_code_touched_with_its_new_figure() {
        let mut running = Reservations::default();
        let mut order = sample_order(Uuid::nil(), "1");
        order.items = vec![product_row("A", "2", "1"), product_row("B", "1", "1")];
        order.status = OrderStatus::Imported;
        running.replace(None, Some(&order));
        let changes = running.take_changes();
        assert_eq!(changes.get("A"), Some(&dec("2")));
        assert_eq!(changes.get("B"), Some(&dec("1")));
        assert!(!running.has_changes());
        let mut shipped = order.clone();
        shipped.status = OrderStatus::Shipped;
        running.replace(Some(&order), Some(&shipped));
        let changes = running.take_changes();
        assert_eq!(changes.get("A"), Some(&Decimal::ZERO));
        assert_eq!(changes.get("B"), Some(&Decimal::ZERO));
        assert!(running.to_map().is_empty());
    }
}
