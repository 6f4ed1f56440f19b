//! Sync logs and the error log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::IntegrationId;

/// What a sync (or a logged system event) was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SyncType {
    Orders,
    Inventory,
    Products,
    Prices,
    System,
}

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SyncStatus {
    Completed,
    CompletedWithErrors,
    Failed,
    Cancelled,
}

/// One sync run with its real start and end times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncLog {
    pub id: Uuid,
    pub integration_id: IntegrationId,
    pub sync_type: SyncType,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub records_processed: u64,
    pub error_count: u64,
    pub status: SyncStatus,
    pub notes: Option<String>,
}

/// How urgent an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ErrorSeverity {
    Low,
    Medium,
    High,
    Critical,
}

/// One logged error, resolvable by an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorLog {
    pub id: Uuid,
    pub integration_id: IntegrationId,
    pub message: String,
    pub details: Option<String>,
    pub sync_type: Option<SyncType>,
    pub severity: ErrorSeverity,
    pub occurred_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
}
