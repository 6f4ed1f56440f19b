//! The business rules of shoptet-sync: pure types and functions, no I/O.
//!
//! Times are UTC and always passed in (`now` arguments) so that rules are
//! deterministic and tests never sleep. Money and quantities are `Decimal`.
//!
//! Persisted types go through bincode 2's serde support, which cannot do
//! `deserialize_any`: so no `#[serde(flatten)]`, no untagged enums, no
//! `skip_serializing_if`, and every `Decimal` field is marked
//! `#[serde(with = "rust_decimal::serde::str")]` (the crate's default impl asks for
//! `deserialize_any`). Decimals therefore appear as strings in JSON too.

pub mod feed;
pub mod integration;
pub mod log;
pub mod order;
pub mod outbox;
pub mod price;
pub mod product;
pub mod report;
pub mod reservations;
pub mod stock;

pub use feed::ReadMark;
pub use integration::{
    Credentials, HealthStatus, Integration, IntegrationCounts, IntegrationId, IntegrationStatus,
    Secret, StatusMapping, SyncOutcome, SyncRun,
};
pub use log::{ErrorLog, ErrorSeverity, SyncLog, SyncStatus, SyncType};
pub use order::{
    Address, ConflictResolution, FulfillmentGrade, FulfillmentSummary, ImportOutcome,
    IncomingOrder, ItemType, Money, Order, OrderContent, OrderItem, OrderStatus, ShopCancelOutcome,
};
pub use outbox::{OutboxAction, OutboxEntry, OutboxState};
pub use price::PriceChange;
pub use product::{Product, ShopProductUpdate};
pub use report::{FulfillmentReport, HealthReport, InventoryReport};
pub use reservations::Reservations;
pub use stock::StockLevel;

/// A business rule was broken. The message is shown to operators as-is, so it
/// says what was refused and why, and never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// An operation is not allowed in the entity's current state.
    #[error("{0}")]
    InvalidState(String),
    /// An argument failed validation.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The offending field.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// Activation needs credentials first.
    #[error(
        "integration '{integration}' has no API credentials; set a private API token or an addon OAuth token before activating it"
    )]
    MissingCredentials {
        /// The integration's name.
        integration: String,
    },
    /// An order cannot make this step from its current status.
    #[error("cannot {action} order {order_code}: it is {status}{hint}")]
    OrderTransition {
        /// What was attempted (`start processing`, `ship`, `cancel`, …).
        action: &'static str,
        /// The shop's order code.
        order_code: String,
        /// The order's current status.
        status: OrderStatus,
        /// Extra guidance, starting with `; ` when present.
        hint: &'static str,
    },
    /// `resolve_conflict` was called on an order without a conflicting shop version.
    #[error("order {order_code} has no conflicting shop version to resolve")]
    NoConflict {
        /// The shop's order code.
        order_code: String,
    },
    /// An error log entry was resolved twice.
    #[error("error {id} is already resolved")]
    AlreadyResolved {
        /// The error log entry's id.
        id: uuid::Uuid,
    },
}

/// Largest quantity accepted (an order row, a stock level), in absolute value: far above any
/// real figure, and far below where sums of many of them could overflow `Decimal`.
pub const MAX_QUANTITY: rust_decimal::Decimal =
    rust_decimal::Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
/// Largest price or order total accepted (10^12), in absolute value.
pub const MAX_PRICE: rust_decimal::Decimal =
    rust_decimal::Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

/// Refuses a figure whose absolute value exceeds `max` (shop data is not trusted to be sane,
/// and the sums built from it must never overflow).
pub(crate) fn bounded_figure(
    field: &'static str,
    value: rust_decimal::Decimal,
    max: rust_decimal::Decimal,
) -> Result<rust_decimal::Decimal, DomainError> {
    if value.abs() > max {
        return Err(DomainError::InvalidArgument {
            field,
            reason: format!("{value} is beyond the accepted range of ±{max}"),
        });
    }
    Ok(value)
}

/// Trims `value` and refuses it when empty or when it holds control characters
/// (they would corrupt logs and the line-based ctl output).
pub(crate) fn required_text(field: &'static str, value: &str) -> Result<String, DomainError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(DomainError::InvalidArgument {
            field,
            reason: "must not be empty".into(),
        });
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return Err(DomainError::InvalidArgument {
            field,
            reason: "must not contain control characters".into(),
        });
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Shared helpers for the domain unit tests.
    use chrono::{DateTime, TimeZone, Utc};
    use rust_decimal::Decimal;

    /// Parses a decimal literal.
    pub fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// A fixed instant, so tests never depend on the wall clock.
    pub fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 14, 9, 0, 0).single().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_bounds() {
        use rust_decimal::Decimal;
        assert_eq!(MAX_QUANTITY, Decimal::from(1_000_000_000_i64));
        assert_eq!(MAX_PRICE, Decimal::from(1_000_000_000_000_i64));
        assert!(bounded_figure("q", MAX_QUANTITY, MAX_QUANTITY).is_ok());
        assert!(bounded_figure("q", -MAX_QUANTITY, MAX_QUANTITY).is_ok());
        let err = bounded_figure("q", MAX_QUANTITY + Decimal::ONE, MAX_QUANTITY).unwrap_err();
        assert!(
            err.to_string().contains("beyond the accepted range"),
            "{err}"
        );
        assert!(bounded_figure("q", Decimal::MIN, MAX_QUANTITY).is_err());
    }

    #[test]
    fn required_text_trims_and_rejects_blank_and_control_characters() {
        assert_eq!(required_text("name", "  shop  ").unwrap(), "shop");
        assert!(matches!(
            required_text("name", "   "),
            Err(DomainError::InvalidArgument { field: "name", .. })
        ));
        assert!(required_text("name", "a\u{7}b").is_err());
    }

    #[test]
    fn order_transition_message_names_order_and_status() {
        let e = DomainError::OrderTransition {
            action: "ship",
            order_code: "2025000318".into(),
            status: OrderStatus::Imported,
            hint: "; start processing it first",
        };
        assert_eq!(
            e.to_string(),
            "cannot ship order 2025000318: it is imported; start processing it first"
        );
    }

    /// Encodes with bincode 2 serde (as the store does) and decodes back.
    fn roundtrip<T>(value: &T) -> T
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(value, config).unwrap();
        let (decoded, read) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(read, bytes.len());
        decoded
    }

    #[test]
    fn persisted_types_roundtrip_through_bincode() {
        use crate::domain::order::tests::{incoming, sample_order};
        use crate::domain::testutil::{dec, t0};
        use chrono::TimeDelta;

        let mut integration = Integration::new("Shop", "https://shop.example", t0()).unwrap();
        integration
            .update_credentials(Credentials::AddonOAuth(Secret::new("oauth-1")), t0())
            .unwrap();
        let event = integration.activate(t0()).unwrap();
        assert_eq!(roundtrip(&integration), integration);
        assert_eq!(roundtrip(&event), event);

        // An order carrying every optional part: a pending shop version, an "other"
        // item type, dismissed content and decimals with scale.
        let mut order = sample_order(integration.id, "2025000318");
        order.items[0].item_type = ItemType::Other("gift".into());
        order.items[0].quantity = dec("1.500");
        let mut changed = incoming("2025000318");
        changed.items[0].quantity = dec("3");
        let ImportOutcome::Conflict(mut order) =
            order::import(Some(&order), &changed, integration.id, t0()).unwrap()
        else {
            panic!("expected a conflict");
        };
        order.dismissed_shop_content = Some(incoming("x").content());
        let back = roundtrip(&order);
        assert_eq!(back, order);
        assert_eq!(back.items[0].quantity.to_string(), "1.500");

        let mut product =
            Product::new(integration.id, "A", "A", dec("10.50"), dec("2"), true, t0()).unwrap();
        let change = product
            .update_price(dec("12"), "ctl:alice", t0())
            .unwrap()
            .unwrap();
        assert_eq!(roundtrip(&product), product);
        assert_eq!(roundtrip(&change), change);

        let stock = StockLevel::new("MAIN", "A", dec("4"), t0()).unwrap();
        assert_eq!(roundtrip(&stock), stock);

        let mut error = ErrorLog::new(
            integration.id,
            "boom",
            Some("details"),
            Some(SyncType::Orders),
            ErrorSeverity::High,
            t0(),
        )
        .unwrap();
        error
            .resolve("ops", "fixed", t0() + TimeDelta::hours(1))
            .unwrap();
        assert_eq!(roundtrip(&error), error);

        let mut entry = OutboxEntry::new(
            integration.id,
            u64::MAX,
            "2025000318",
            OutboxAction::SetTrackingNumber {
                tracking_number: "T1".into(),
            },
            t0(),
        );
        entry.record_failure("503", t0(), 3);
        assert_eq!(roundtrip(&entry), entry);

        let report = FulfillmentReport::build(
            &integration,
            &[order],
            t0(),
            t0() + TimeDelta::hours(1),
            t0(),
        )
        .unwrap();
        assert_eq!(roundtrip(&report), report);
        // Reports also travel as JSON (enum map keys become strings).
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"Error\":1"), "{json}");
        let back: FulfillmentReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }
}
