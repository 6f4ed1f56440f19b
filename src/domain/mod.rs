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
    Credentials, HealthStatus, Integration, IntegrationId, IntegrationStatus, Secret, StatusMapping,
};
pub use log::{ErrorLog, ErrorSeverity, SyncLog, SyncStatus, SyncType};
pub use order::{Address, ItemType, Money, Order, OrderItem, OrderStatus};
pub use outbox::{OutboxAction, OutboxEntry, OutboxState};
pub use price::PriceChange;
pub use product::Product;
pub use stock::StockLevel;

/// A business rule was broken. The message is shown to operators as-is.
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
}
