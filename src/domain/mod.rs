//! The business rules of shoptet-sync: pure types and functions, no I/O.
//!
//! Times are UTC and always passed in (`now` arguments) so that rules are
//! deterministic and tests never sleep. Money and quantities are `Decimal`.

pub mod integration;
pub mod log;
pub mod order;
pub mod outbox;
pub mod price;
pub mod product;
pub mod report;
pub mod stock;

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
}
