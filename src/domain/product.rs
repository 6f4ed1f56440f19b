//! A shop product variant, keyed by its variant code (the warehouse SKU).

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::order::PRICE_TOLERANCE;
use super::price::PriceChange;
use super::{DomainError, IntegrationId, required_text};

/// A sync-enabled product not synced for longer than this needs a sync.
pub const PRODUCT_SYNC_MAX_AGE: TimeDelta = TimeDelta::hours(1);
/// The price-history source of changes seen in the shop.
pub const SHOP_PRICE_SOURCE: &str = "shop";

/// One sellable variant in one shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub integration_id: IntegrationId,
    /// The variant code; unique per integration.
    pub code: String,
    /// The parent product's GUID in the shop.
    pub shop_product_guid: Option<String>,
    pub name: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
    /// Stock as last seen in or pushed to the shop.
    #[serde(with = "rust_decimal::serde::str")]
    pub stock_quantity: Decimal,
    pub active: bool,
    pub sync_enabled: bool,
    pub category: Option<String>,
    pub description: Option<String>,
    pub last_sync: Option<DateTime<Utc>>,
    pub last_price_update: Option<DateTime<Utc>>,
    pub last_stock_update: Option<DateTime<Utc>>,
}

/// What an update from the shop changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopProductUpdate {
    /// The price moved by more than 0.01; already in the shop, so `pushed_at` is set.
    pub price_change: Option<PriceChange>,
    pub stock_changed: bool,
}

fn validated_price(price: Decimal) -> Result<Decimal, DomainError> {
    if price.is_sign_negative() && !price.is_zero() {
        return Err(DomainError::InvalidArgument {
            field: "price",
            reason: format!("{price} is negative"),
        });
    }
    super::bounded_figure("price", price, super::MAX_PRICE)
}

/// Prices within 0.01 of each other are the same price.
fn price_differs(a: Decimal, b: Decimal) -> bool {
    a.saturating_sub(b).abs() > PRICE_TOLERANCE
}

impl Product {
    /// A product as first seen in the shop at `now` (sync enabled).
    pub fn new(
        integration_id: IntegrationId,
        code: &str,
        name: &str,
        price: Decimal,
        stock_quantity: Decimal,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        Ok(Self {
            integration_id,
            code: super::text::single_line("product code", code, super::text::MAX_CODE_CHARS)?,
            shop_product_guid: None,
            name: name.trim().to_owned(),
            price: validated_price(price)?,
            stock_quantity,
            active,
            sync_enabled: true,
            category: None,
            description: None,
            last_sync: Some(now),
            last_price_update: None,
            last_stock_update: None,
        })
    }

    fn price_change(&self, old: Decimal, source: &str, now: DateTime<Utc>) -> PriceChange {
        PriceChange {
            id: Uuid::new_v4(),
            integration_id: self.integration_id,
            product_code: self.code.clone(),
            old_price: old,
            new_price: self.price,
            changed_at: now,
            source: source.to_owned(),
            pushed_at: None,
        }
    }

    /// Takes the shop's current name, price, stock and active flag. A price change
    /// counts (update time and history) only when it exceeds 0.01.
    pub fn update_from_shop(
        &mut self,
        name: &str,
        price: Decimal,
        stock_quantity: Decimal,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<ShopProductUpdate, DomainError> {
        let price = validated_price(price)?;
        let old_price = self.price;
        let price_changed = price_differs(old_price, price);
        let stock_changed = self.stock_quantity != stock_quantity;
        self.name = name.trim().to_owned();
        self.price = price;
        self.stock_quantity = stock_quantity;
        self.active = active;
        self.last_sync = Some(now);
        if stock_changed {
            self.last_stock_update = Some(now);
        }
        let price_change = price_changed.then(|| {
            self.last_price_update = Some(now);
            PriceChange {
                pushed_at: Some(now),
                ..self.price_change(old_price, SHOP_PRICE_SOURCE, now)
            }
        });
        Ok(ShopProductUpdate {
            price_change,
            stock_changed,
        })
    }

    /// Records stock as pushed to (or read from) the shop at `now`.
    pub fn update_stock(&mut self, quantity: Decimal, now: DateTime<Utc>) {
        self.stock_quantity = quantity;
        self.last_stock_update = Some(now);
        self.last_sync = Some(now);
    }

    /// Changes the price on our side (`source` says who, e.g. `ctl:alice`) and returns
    /// the history entry to store, still to be pushed to the shop. A change of 0.01 or
    /// less is not a change: nothing is modified and `None` returned.
    ///
    /// Unlike the original design this does not touch `last_sync`: the shop has not
    /// seen the new price yet.
    pub fn update_price(
        &mut self,
        new_price: Decimal,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PriceChange>, DomainError> {
        let new_price = validated_price(new_price)?;
        let source = required_text("price change source", source)?;
        if !price_differs(self.price, new_price) {
            return Ok(None);
        }
        let old = self.price;
        self.price = new_price;
        self.last_price_update = Some(now);
        Ok(Some(self.price_change(old, &source, now)))
    }

    /// Stops syncing this product and notes why in its description.
    pub fn disable_sync(&mut self, reason: &str) -> Result<(), DomainError> {
        let reason = required_text("reason", reason)?;
        self.sync_enabled = false;
        let line = format!("Sync disabled: {reason}");
        self.description = Some(match self.description.take() {
            Some(d) if !d.trim().is_empty() => format!("{d}\n{line}"),
            _ => line,
        });
        Ok(())
    }

    /// Resumes syncing this product.
    pub fn enable_sync(&mut self) {
        self.sync_enabled = true;
    }

    /// Nothing left to sell.
    pub fn is_out_of_stock(&self) -> bool {
        self.stock_quantity <= Decimal::ZERO
    }

    /// Some stock, but at most `threshold`.
    pub fn is_low_stock(&self, threshold: Decimal) -> bool {
        self.stock_quantity > Decimal::ZERO && self.stock_quantity <= threshold
    }

    /// Sync enabled and never synced or last synced more than an hour ago.
    pub fn needs_sync(&self, now: DateTime<Utc>) -> bool {
        self.sync_enabled
            && self
                .last_sync
                .is_none_or(|t| now - t > PRODUCT_SYNC_MAX_AGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testutil::{dec, t0};

    fn product() -> Product {
        Product::new(
            Uuid::nil(),
            "TRI-042/M",
            "Tričko",
            dec("260"),
            dec("10"),
            true,
            t0(),
        )
        .unwrap()
    }

    fn later(minutes: i64) -> DateTime<Utc> {
        t0() + TimeDelta::minutes(minutes)
    }

    #[test]
    fn new_validates() {
        assert!(Product::new(Uuid::nil(), " ", "x", dec("1"), dec("0"), true, t0()).is_err());
        assert!(Product::new(Uuid::nil(), "A", "x", dec("-1"), dec("0"), true, t0()).is_err());
        let p = product();
        assert!(p.sync_enabled && p.active);
        assert_eq!(p.last_sync, Some(t0()));
    }

    #[test]
    fn shop_update_counts_price_change_only_above_tolerance() {
        let mut p = product();
        let u = p
            .update_from_shop("Tričko", dec("260.01"), dec("10"), true, later(1))
            .unwrap();
        assert_eq!(u.price_change, None);
        assert!(!u.stock_changed);
        assert_eq!(p.price, dec("260.01"));
        assert_eq!(p.last_price_update, None);
        assert_eq!(p.last_stock_update, None);
        assert_eq!(p.last_sync, Some(later(1)));

        let u = p
            .update_from_shop("Tričko nové", dec("270"), dec("8"), false, later(2))
            .unwrap();
        let change = u.price_change.unwrap();
        assert_eq!(
            (change.old_price, change.new_price),
            (dec("260.01"), dec("270"))
        );
        assert_eq!(change.source, SHOP_PRICE_SOURCE);
        assert_eq!(change.pushed_at, Some(later(2)));
        assert!(u.stock_changed);
        assert_eq!(p.last_price_update, Some(later(2)));
        assert_eq!(p.last_stock_update, Some(later(2)));
        assert_eq!(p.name, "Tričko nové");
        assert!(!p.active);
        assert!(
            p.update_from_shop("x", dec("-5"), dec("1"), true, later(3))
                .is_err()
        );
    }

    #[test]
    fn update_price_creates_history_entry() {
        let mut p = product();
        assert_eq!(
            p.update_price(dec("260.005"), "ctl:alice", later(1))
                .unwrap(),
            None
        );
        assert_eq!(p.price, dec("260"));
        assert!(p.update_price(dec("300"), " ", later(1)).is_err());
        assert!(p.update_price(dec("-1"), "ctl:alice", later(1)).is_err());
        let c = p
            .update_price(dec("299.90"), "ctl:alice", later(2))
            .unwrap()
            .unwrap();
        assert_eq!(c.product_code, "TRI-042/M");
        assert_eq!((c.old_price, c.new_price), (dec("260"), dec("299.90")));
        assert_eq!(c.changed_at, later(2));
        assert_eq!(c.source, "ctl:alice");
        assert_eq!(c.pushed_at, None);
        assert_eq!(p.price, dec("299.90"));
        assert_eq!(p.last_price_update, Some(later(2)));
        assert_eq!(p.last_sync, Some(t0()), "the shop has not seen it yet");
    }

    #[test]
    fn update_stock_sets_times() {
        let mut p = product();
        p.update_stock(dec("3"), later(5));
        assert_eq!(p.stock_quantity, dec("3"));
        assert_eq!(p.last_stock_update, Some(later(5)));
        assert_eq!(p.last_sync, Some(later(5)));
    }

    #[test]
    fn disable_sync_appends_reason() {
        let mut p = product();
        assert!(p.disable_sync("").is_err());
        p.disable_sync("discontinued").unwrap();
        assert!(!p.sync_enabled);
        assert_eq!(
            p.description.as_deref(),
            Some("Sync disabled: discontinued")
        );
        p.description = Some("Cotton".into());
        p.disable_sync("supplier gone").unwrap();
        assert_eq!(
            p.description.as_deref(),
            Some("Cotton\nSync disabled: supplier gone")
        );
        p.enable_sync();
        assert!(p.sync_enabled);
    }

    #[test]
    fn stock_levels() {
        let mut p = product();
        let five = dec("5");
        p.stock_quantity = dec("0");
        assert!(p.is_out_of_stock() && !p.is_low_stock(five));
        p.stock_quantity = dec("-1");
        assert!(p.is_out_of_stock() && !p.is_low_stock(five));
        p.stock_quantity = dec("0.5");
        assert!(!p.is_out_of_stock() && p.is_low_stock(five));
        p.stock_quantity = dec("5");
        assert!(p.is_low_stock(five));
        p.stock_quantity = dec("5.001");
        assert!(!p.is_low_stock(five));
    }

    #[test]
    fn needs_sync_after_an_hour_when_enabled() {
        let mut p = product();
        assert!(!p.needs_sync(later(60)));
        assert!(p.needs_sync(later(61)));
        p.last_sync = None;
        assert!(p.needs_sync(t0()));
        p.disable_sync("x").unwrap();
        assert!(!p.needs_sync(later(600)));
    }
}
