//! A Shoptet store connected to the warehouse, its credentials, schedule and health.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Identifies one integration (one Shoptet e-shop).
pub type IntegrationId = Uuid;

/// A secret string (API token). Its `Debug` never shows the value and it has no `Display`.
/// It is serialised in full only by the store; control responses never carry it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret value, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the daemon authenticates against one shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Credentials {
    /// A Premium shop's private API token (`Shoptet-Private-Api-Token`).
    PrivateToken(Secret),
    /// An addon OAuth access token, used only to mint 30-minute API access tokens.
    AddonOAuth(Secret),
}

/// Lifecycle of an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IntegrationStatus {
    Inactive,
    Active,
    Error,
    Suspended,
}

/// Health of an integration, from its errors and the age of its last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HealthStatus {
    Healthy,
    Warning,
    Critical,
    Inactive,
}

/// Our order statuses mapped to the shop's status ids (system statuses are negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusMapping {
    pub processing: i64,
    pub shipped: i64,
    pub cancelled: i64,
}

impl Default for StatusMapping {
    fn default() -> Self {
        Self {
            processing: -2,
            shipped: -3,
            cancelled: -4,
        }
    }
}

/// One connected Shoptet e-shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    pub id: IntegrationId,
    /// Unique, human-chosen name used by operators and the ctl.
    pub name: String,
    /// The e-shop's own URL (OAuth token minting happens there).
    pub eshop_url: String,
    /// API base URL, `https://api.myshoptet.com` unless overridden (tests, simulator).
    pub api_base_url: String,
    pub credentials: Option<Credentials>,
    pub status: IntegrationStatus,
    /// Why the integration was deactivated, suspended or put in error.
    pub status_reason: Option<String>,
    pub last_sync: Option<DateTime<Utc>>,
    pub last_order_sync: Option<DateTime<Utc>>,
    pub last_inventory_sync: Option<DateTime<Utc>>,
    pub auto_order_import: bool,
    pub auto_inventory_sync: bool,
    pub auto_status_update: bool,
    /// 1..=1440.
    pub sync_interval_minutes: u32,
    /// The warehouse whose stock this shop sells; shops sharing a code share stock.
    pub default_warehouse_code: String,
    /// The shop's stock id that receives our stock movements.
    pub shoptet_stock_id: i64,
    pub status_mapping: StatusMapping,
    pub low_stock_threshold: Decimal,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
