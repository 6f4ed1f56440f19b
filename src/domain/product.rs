//! A shop product variant, keyed by its variant code (the warehouse SKU).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::IntegrationId;

/// One sellable variant in one shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub integration_id: IntegrationId,
    /// The variant code; unique per integration.
    pub code: String,
    /// The parent product's GUID in the shop.
    pub shop_product_guid: Option<String>,
    pub name: String,
    pub price: Decimal,
    /// Stock as last seen in or pushed to the shop.
    pub stock_quantity: Decimal,
    pub active: bool,
    pub sync_enabled: bool,
    pub category: Option<String>,
    pub description: Option<String>,
    pub last_sync: Option<DateTime<Utc>>,
    pub last_price_update: Option<DateTime<Utc>>,
    pub last_stock_update: Option<DateTime<Utc>>,
}
