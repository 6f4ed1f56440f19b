//! Warehouse stock: what is on hand, what open orders reserve, what may be offered.
//!
//! Several shops may sell from one warehouse. Each Shoptet shop already subtracts its
//! own open orders from what it offers (its "claim"), so what we push to a shop as its
//! physical stock (`realStock`) must subtract only what the OTHER shops' open orders
//! reserve; subtracting its own orders too would count them twice.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::order::Order;
use super::{DomainError, MAX_QUANTITY, bounded_figure};

/// On-hand quantity of one product code in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub warehouse_code: String,
    pub product_code: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub on_hand: Decimal,
    pub updated_at: DateTime<Utc>,
}

fn validated_on_hand(on_hand: Decimal) -> Result<Decimal, DomainError> {
    if on_hand < Decimal::ZERO {
        return Err(DomainError::InvalidArgument {
            field: "on-hand quantity",
            reason: format!("{on_hand} is negative; a physical count cannot be"),
        });
    }
    bounded_figure("on-hand quantity", on_hand, MAX_QUANTITY)
}

impl StockLevel {
    /// A counted stock level (not negative).
    pub fn new(
        warehouse_code: &str,
        product_code: &str,
        on_hand: Decimal,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        Ok(Self {
            warehouse_code: super::text::single_line(
                "warehouse code",
                warehouse_code,
                super::text::MAX_CODE_CHARS,
            )?,
            product_code: super::text::product_code("product code", product_code)?,
            on_hand: validated_on_hand(on_hand)?,
            updated_at: now,
        })
    }

    /// Sets the counted quantity (not negative).
    pub fn set_on_hand(&mut self, on_hand: Decimal, now: DateTime<Utc>) -> Result<(), DomainError> {
        self.on_hand = validated_on_hand(on_hand)?;
        self.updated_at = now;
        Ok(())
    }

    /// Applies a receipt (+) or issue (−); refused if it would go below zero or beyond
    /// [`MAX_QUANTITY`].
    pub fn adjust(&mut self, delta: Decimal, now: DateTime<Utc>) -> Result<(), DomainError> {
        let on_hand =
            self.on_hand
                .checked_add(delta)
                .ok_or_else(|| DomainError::InvalidArgument {
                    field: "stock adjustment",
                    reason: format!("{delta} is beyond the accepted range"),
                })?;
        self.set_on_hand(on_hand, now)
    }
}

/// Quantity per product code that the given orders still owe: physical rows of orders
/// that are neither shipped/delivered nor cancelled. Imported, Processing and Error
/// (flagged) orders all reserve — a flagged order may still ship once reviewed.
/// Negative correction rows reduce the figure; a code never goes below zero and codes
/// with nothing reserved are left out.
pub fn reserved_by_orders<'a>(
    orders: impl IntoIterator<Item = &'a Order>,
) -> BTreeMap<String, Decimal> {
    let mut reserved: BTreeMap<String, Decimal> = BTreeMap::new();
    for order in orders.into_iter().filter(|o| o.status.reserves_stock()) {
        for (code, quantity) in order.items.iter().filter_map(|i| i.physical_quantity()) {
            // Saturates rather than panics: quantities are bounded on import, and too much
            // reserved only ever makes the shops offer less.
            let sum = reserved.entry(code.to_owned()).or_default();
            *sum = sum.saturating_add(quantity);
        }
    }
    reserved.retain(|_, q| *q > Decimal::ZERO);
    reserved
}

/// What may still be sold: on hand minus reserved, never below zero.
pub fn available_to_sell(on_hand: Decimal, reserved: Decimal) -> Decimal {
    on_hand.saturating_sub(reserved).max(Decimal::ZERO)
}

/// The physical figure (`realStock`) we push to one shop: on hand minus what the other
/// shops' open orders reserve, never below zero. The shop subtracts its own open orders
/// itself (its claim), so they must not be subtracted here.
pub fn shop_real_stock(on_hand: Decimal, reserved_by_other_stores: Decimal) -> Decimal {
    on_hand
        .saturating_sub(reserved_by_other_stores)
        .max(Decimal::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::tests::{product_row, sample_order};
    use crate::domain::order::{ItemType, OrderItem, OrderStatus};
    use crate::domain::testutil::{dec, t0};
    use uuid::Uuid;

    fn order_with(rows: Vec<OrderItem>, status: OrderStatus) -> Order {
        let mut o = sample_order(Uuid::nil(), "1");
        o.items = rows;
        o.status = status;
        o
    }

    #[test]
    fn open_orders_reserve_and_closed_ones_do_not() {
        let rows = || vec![product_row("A", "2", "1"), product_row("B", "1", "1")];
        let orders = [
            order_with(rows(), OrderStatus::Imported),
            order_with(rows(), OrderStatus::Processing),
            order_with(rows(), OrderStatus::Error),
            order_with(rows(), OrderStatus::Shipped),
            order_with(rows(), OrderStatus::Delivered),
            order_with(rows(), OrderStatus::Cancelled),
        ];
        let r = reserved_by_orders(&orders);
        assert_eq!(r.get("A"), Some(&dec("6")));
        assert_eq!(r.get("B"), Some(&dec("3")));
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn repeated_codes_add_up_and_non_goods_rows_are_ignored() {
        let mut shipping = product_row("SHIP", "1", "99");
        shipping.item_type = ItemType::Shipping;
        let mut gift = product_row("GIFT-1", "1", "0");
        gift.item_type = ItemType::Other("gift".into());
        let mut set = product_row("SET-1", "1", "100");
        set.item_type = ItemType::Other("product-set".into());
        let mut correction = product_row("A", "-1", "10");
        correction.total_price = dec("-10");
        let o = order_with(
            vec![
                product_row("A", "1.5", "10"),
                product_row("A", "2", "10"),
                correction,
                shipping,
                gift,
                set,
                product_row("C", "-1", "10"),
            ],
            OrderStatus::Imported,
        );
        let r = reserved_by_orders([&o]);
        assert_eq!(r.get("A"), Some(&dec("2.5")));
        assert_eq!(r.get("GIFT-1"), Some(&dec("1")));
        assert!(!r.contains_key("SHIP") && !r.contains_key("SET-1") && !r.contains_key("C"));
    }

    #[test]
    fn available_and_shop_stock_never_negative() {
        assert_eq!(available_to_sell(dec("10"), dec("3")), dec("7"));
        assert_eq!(available_to_sell(dec("2"), dec("3")), dec("0"));
        assert_eq!(shop_real_stock(dec("10"), dec("4")), dec("6"));
        assert_eq!(shop_real_stock(dec("1"), dec("4")), dec("0"));
    }

    #[test]
    fn stock_level_validation() {
        assert!(StockLevel::new("MAIN", "A", dec("-1"), t0()).is_err());
        assert!(StockLevel::new(" ", "A", dec("1"), t0()).is_err());
        let mut s = StockLevel::new("MAIN", "A", dec("5"), t0()).unwrap();
        s.adjust(dec("-2"), t0()).unwrap();
        assert_eq!(s.on_hand, dec("3"));
        assert!(s.adjust(dec("-4"), t0()).is_err());
        assert_eq!(s.on_hand, dec("3"));
    }
}
