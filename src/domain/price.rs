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
    #[serde(with = "rust_decimal::serde::str")]
    pub old_price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub new_price: Decimal,
    pub changed_at: DateTime<Utc>,
    /// Who or what changed it (e.g. `ctl:alice`, `shop`).
    pub source: String,
    /// When the shop acknowledged the new price; `None` while the push is pending.
    pub pushed_at: Option<DateTime<Utc>>,
}

impl PriceChange {
    /// The shop acknowledged the new price.
    pub fn mark_pushed(&mut self, now: DateTime<Utc>) {
        self.pushed_at = Some(now);
    }

    /// Still to be pushed to the shop.
    pub fn is_pending(&self) -> bool {
        self.pushed_at.is_none()
    }

    /// New − old.
    pub fn delta(&self) -> Decimal {
        self.new_price.saturating_sub(self.old_price)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testutil::{dec, t0};

    #[test]
    fn pending_until_pushed() {
        let mut c = PriceChange {
            id: Uuid::new_v4(),
            integration_id: Uuid::nil(),
            product_code: "A".into(),
            old_price: dec("10"),
            new_price: dec("12.5"),
            changed_at: t0(),
            source: "ctl:alice".into(),
            pushed_at: None,
        };
        assert!(c.is_pending());
        assert_eq!(c.delta(), dec("2.5"));
        c.mark_pushed(t0());
        assert!(!c.is_pending());
    }
}
