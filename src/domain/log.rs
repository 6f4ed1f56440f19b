//! Sync logs and the error log.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DomainError, IntegrationId, required_text};

/// The message of an error that reports a stock mismatch between warehouse and shop;
/// the inventory report counts unresolved errors with exactly this message.
pub const INVENTORY_DISCREPANCY_MESSAGE: &str = "inventory discrepancy detected";
/// Longest stored error message or details; longer text is cut (a shop can answer
/// with a huge body and one bad record must not bloat the log).
pub const MAX_ERROR_TEXT_CHARS: usize = 2000;

/// What a sync (or a logged system event) was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SyncType {
    Orders,
    Inventory,
    Products,
    Prices,
    System,
}

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

/// Cuts `text` to at most `MAX_ERROR_TEXT_CHARS` characters, marking the cut.
fn bounded(text: &str) -> String {
    if text.chars().count() <= MAX_ERROR_TEXT_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_ERROR_TEXT_CHARS).collect();
    cut.push('…');
    cut
}

impl SyncLog {
    /// A System entry recording an event (activation, credentials change, …) at `now`.
    pub fn event(integration_id: IntegrationId, message: String, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            integration_id,
            sync_type: SyncType::System,
            started_at: now,
            finished_at: now,
            records_processed: 0,
            error_count: 0,
            status: SyncStatus::Completed,
            notes: Some(message),
        }
    }

    /// How long the run took.
    pub fn duration(&self) -> TimeDelta {
        self.finished_at - self.started_at
    }

    /// Records per second over the run's real duration (millisecond precision),
    /// rounded to two decimals; zero when the run took no measurable time.
    pub fn records_per_second(&self) -> Decimal {
        let millis = self.duration().num_milliseconds();
        if millis <= 0 {
            return Decimal::ZERO;
        }
        (Decimal::from(self.records_processed) * Decimal::from(1000) / Decimal::from(millis))
            .round_dp(2)
    }

    /// Completed without any error.
    pub fn is_successful(&self) -> bool {
        self.status == SyncStatus::Completed
    }

    /// Some records failed.
    pub fn has_errors(&self) -> bool {
        self.error_count > 0
    }
}

impl ErrorLog {
    /// A new unresolved error. Message and details are cut to a bounded length.
    pub fn new(
        integration_id: IntegrationId,
        message: &str,
        details: Option<&str>,
        sync_type: Option<SyncType>,
        severity: ErrorSeverity,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let message = bounded(&required_text("error message", message)?);
        Ok(Self {
            id: Uuid::new_v4(),
            integration_id,
            message,
            details: details
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(bounded),
            sync_type,
            severity,
            occurred_at: now,
            resolved_at: None,
            resolved_by: None,
            resolution: None,
        })
    }

    /// A stock mismatch between what we last pushed and what the shop shows.
    pub fn inventory_discrepancy(
        integration_id: IntegrationId,
        product_code: &str,
        expected: Decimal,
        found: Decimal,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            integration_id,
            message: INVENTORY_DISCREPANCY_MESSAGE.to_owned(),
            details: Some(bounded(&format!(
                "product {product_code}: expected {expected}, shop shows {found}"
            ))),
            sync_type: Some(SyncType::Inventory),
            severity: ErrorSeverity::High,
            occurred_at: now,
            resolved_at: None,
            resolved_by: None,
            resolution: None,
        }
    }

    /// Whether an operator resolved it.
    pub fn is_resolved(&self) -> bool {
        self.resolved_at.is_some()
    }

    /// How often the failure this entry records happened in a row (see [`ErrorLog::repeated`]);
    /// 1 for an entry never repeated.
    pub fn repeats(&self) -> u64 {
        self.details
            .as_deref()
            .and_then(|d| d.strip_prefix("failed "))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(1)
    }

    /// The same failure happened again (e.g. the next try during one outage): one open entry
    /// counts them instead of a new entry per try. The details say how often, since when and
    /// the latest reason.
    pub fn repeated(&mut self, latest: &str, now: DateTime<Utc>) {
        let times = self.repeats().saturating_add(1);
        self.details = Some(bounded(&format!(
            "failed {times} times in a row since {}; last at {now}: {}",
            self.occurred_at,
            latest.trim()
        )));
    }

    /// Marks the error resolved by `by` with a resolution note. Resolving twice is refused
    /// so the first resolution is never overwritten.
    pub fn resolve(
        &mut self,
        by: &str,
        resolution: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if self.is_resolved() {
            return Err(DomainError::AlreadyResolved { id: self.id });
        }
        let by = required_text("resolved by", by)?;
        let resolution = required_text("resolution", resolution)?;
        self.resolved_at = Some(now);
        self.resolved_by = Some(by);
        self.resolution = Some(bounded(&resolution));
        Ok(())
    }

    /// Changes how urgent the error is.
    pub fn update_severity(&mut self, severity: ErrorSeverity) {
        self.severity = severity;
    }

    /// An unresolved stock-discrepancy error.
    pub fn is_open_discrepancy(&self) -> bool {
        !self.is_resolved() && self.message == INVENTORY_DISCREPANCY_MESSAGE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testutil::{dec, t0};

    fn sync(secs_millis: i64, records: u64) -> SyncLog {
        SyncLog {
            id: Uuid::new_v4(),
            integration_id: Uuid::new_v4(),
            sync_type: SyncType::Orders,
            started_at: t0(),
            finished_at: t0() + TimeDelta::milliseconds(secs_millis),
            records_processed: records,
            error_count: 0,
            status: SyncStatus::Completed,
            notes: None,
        }
    }

    #[test]
    fn duration_and_rate() {
        let log = sync(4_000, 10);
        assert_eq!(log.duration(), TimeDelta::seconds(4));
        assert_eq!(log.records_per_second(), dec("2.5"));
        assert_eq!(sync(1_500, 3).records_per_second(), dec("2"));
        assert_eq!(sync(3_000, 10).records_per_second(), dec("3.33"));
    }

    #[test]
    fn rate_is_zero_without_duration() {
        assert_eq!(sync(0, 10).records_per_second(), Decimal::ZERO);
    }

    #[test]
    fn success_and_errors_flags() {
        let mut log = sync(1000, 1);
        assert!(log.is_successful() && !log.has_errors());
        log.error_count = 1;
        log.status = SyncStatus::CompletedWithErrors;
        assert!(!log.is_successful() && log.has_errors());
    }

    #[test]
    fn error_resolution_happens_once() {
        let mut e = ErrorLog::new(
            Uuid::new_v4(),
            "Order import failed",
            Some("  "),
            Some(SyncType::Orders),
            ErrorSeverity::Medium,
            t0(),
        )
        .unwrap();
        assert_eq!(e.details, None);
        assert!(!e.is_resolved());
        assert!(e.resolve("", "fixed", t0()).is_err());
        let later = t0() + TimeDelta::hours(1);
        e.resolve("alice", "re-imported", later).unwrap();
        assert!(e.is_resolved());
        assert_eq!(e.resolved_at, Some(later));
        assert_eq!(e.resolved_by.as_deref(), Some("alice"));
        assert_eq!(
            e.resolve("bob", "again", later),
            Err(DomainError::AlreadyResolved { id: e.id })
        );
        assert_eq!(e.resolved_by.as_deref(), Some("alice"));
    }

    #[test]
    fn severity_update_and_empty_message() {
        let mut e =
            ErrorLog::new(Uuid::new_v4(), "x", None, None, ErrorSeverity::Low, t0()).unwrap();
        e.update_severity(ErrorSeverity::Critical);
        assert_eq!(e.severity, ErrorSeverity::Critical);
        assert!(ErrorLog::new(Uuid::new_v4(), " ", None, None, ErrorSeverity::Low, t0()).is_err());
    }

    #[test]
    fn long_text_is_bounded() {
        let long = "x".repeat(MAX_ERROR_TEXT_CHARS + 50);
        let e = ErrorLog::new(
            Uuid::new_v4(),
            &long,
            Some(&long),
            None,
            ErrorSeverity::Low,
            t0(),
        )
        .unwrap();
        assert_eq!(e.message.chars().count(), MAX_ERROR_TEXT_CHARS + 1);
        assert!(e.message.ends_with('…'));
    }

    #[test]
    fn discrepancy_is_open_until_resolved() {
        let mut e =
            ErrorLog::inventory_discrepancy(Uuid::new_v4(), "SKU-1", dec("5"), dec("3"), t0());
        assert!(e.is_open_discrepancy());
        assert!(e.details.as_deref().unwrap_or_default().contains("SKU-1"));
        e.resolve("ops", "recounted", t0()).unwrap();
        assert!(!e.is_open_discrepancy());
    }

    #[test]
    fn a_repeated_failure_counts_in_one_entry() {
        let mut e = ErrorLog::new(
            Uuid::new_v4(),
            "unable to connect to Shoptet API: 503",
            None,
            Some(SyncType::Orders),
            ErrorSeverity::High,
            t0(),
        )
        .unwrap();
        assert_eq!(e.repeats(), 1);
        e.repeated(
            "unable to connect to Shoptet API: timeout",
            t0() + TimeDelta::seconds(30),
        );
        e.repeated(&"x".repeat(5000), t0() + TimeDelta::seconds(90));
        assert_eq!(e.repeats(), 3);
        let details = e.details.clone().unwrap();
        assert!(
            details.starts_with("failed 3 times in a row since"),
            "{details}"
        );
        assert!(details.chars().count() <= MAX_ERROR_TEXT_CHARS + 1);
        assert_eq!(
            e.occurred_at,
            t0(),
            "the same entry (its key keeps its time)"
        );
    }
}
