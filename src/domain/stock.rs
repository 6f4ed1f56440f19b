//! Warehouse stock: what is on hand, what open orders reserve, what may be offered.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// On-hand quantity of one product code in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub warehouse_code: String,
    pub product_code: String,
    pub on_hand: Decimal,
    pub updated_at: DateTime<Utc>,
}
