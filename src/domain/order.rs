//! A Shoptet order imported for fulfilment, its items and its lifecycle.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::IntegrationId;

/// An amount of money in a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: Decimal,
    /// ISO 4217 code, e.g. `CZK`.
    pub currency: String,
}

/// A postal address (the delivery address, or billing when they are equal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub full_name: Option<String>,
    pub company: Option<String>,
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub city: Option<String>,
    pub zip: Option<String>,
    pub country_code: Option<String>,
}

/// Fulfilment status on the warehouse side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OrderStatus {
    Imported,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    /// Flagged for review (e.g. the shop changed the order after import).
    Error,
}

/// The kind of an order row, as Shoptet's `itemType`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ItemType {
    Product,
    Shipping,
    Billing,
    Discount,
    /// Any other Shoptet item type, kept verbatim (`bazar`, `service`, `gift`, …).
    Other(String),
}

/// One row of an order. Shoptet rows have no id of their own and a code may repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    pub item_type: ItemType,
    /// The variant code (warehouse SKU); `None` for shipping, billing and discount rows.
    pub product_code: Option<String>,
    pub name: String,
    pub variant_name: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub total_price: Decimal,
}

/// An imported Shoptet order, keyed by the shop's order `code`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: Uuid,
    pub integration_id: IntegrationId,
    /// The shop's order code (a string, e.g. `2025000318`); unique per integration.
    pub code: String,
    pub guid: Option<String>,
    pub total: Money,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub shipping_address: Option<Address>,
    /// The shop's status id when last seen.
    pub shop_status_id: Option<i64>,
    /// The shop's `changeTime` when last seen.
    pub shop_changed_at: Option<DateTime<Utc>>,
    pub shop_created_at: Option<DateTime<Utc>>,
    pub status: OrderStatus,
    pub imported_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// At most 32 characters (Shoptet's limit).
    pub tracking_number: Option<String>,
    pub picking_session_id: Option<String>,
    pub transport_box_id: Option<String>,
    pub notes: Option<String>,
    /// Why the order is flagged for review.
    pub review_reason: Option<String>,
    pub items: Vec<OrderItem>,
}
