//! Price-change history, kept for audit.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::IntegrationId;

/// One change of one product's price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceChange {
    pub id: Uuid,
    pub integration_id: IntegrationId,
    pub product_code: String,
    pub old_price: Decimal,
    pub new_price: Decimal,
    pub changed_at: DateTime<Utc>,
    /// Who or what changed it (e.g. `ctl:alice`, `shop`).
    pub source: String,
    /// When the shop acknowledged the new price; `None` while the push is pending.
    pub pushed_at: Option<DateTime<Utc>>,
}
