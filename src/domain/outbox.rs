//! The persistent outbox of status pushes to the shop.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::IntegrationId;

/// What one outbox entry asks the shop to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboxAction {
    /// Set the order's status to this shop status id.
    SetStatus { status_id: i64 },
    /// Write the tracking number into the order's notes.
    SetTrackingNumber { tracking_number: String },
}

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutboxState {
    Pending,
    /// Gave up after the maximum number of attempts; waits for an operator.
    DeadLetter,
}

/// One push to the shop, written in the same commit as the domain change that caused it.
/// `seq` orders entries per integration; entries of one order are sent in `seq` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: Uuid,
    pub integration_id: IntegrationId,
    pub seq: u64,
    pub order_code: String,
    pub action: OutboxAction,
    pub state: OutboxState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
}
