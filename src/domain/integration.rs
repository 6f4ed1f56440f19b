//! A Shoptet store connected to the warehouse, its credentials, schedule and health.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::log::{ErrorLog, SyncLog, SyncStatus, SyncType};
use super::order::{Order, OrderStatus};
use super::product::Product;
use super::{DomainError, required_text};

/// Shoptet's public API host; overridden only for tests and the simulator.
pub const DEFAULT_API_BASE_URL: &str = "https://api.myshoptet.com";
/// How often a store is synced unless configured otherwise.
pub const DEFAULT_SYNC_INTERVAL_MINUTES: u32 = 15;
/// Allowed sync intervals: at least every minute, at most once a day.
pub const SYNC_INTERVAL_MINUTES: std::ops::RangeInclusive<u32> = 1..=1440;
/// The shop stock that receives our movements unless configured otherwise.
pub const DEFAULT_SHOPTET_STOCK_ID: i64 = 1;
/// Stock at or below this (and above zero) is "low" unless configured otherwise.
pub const DEFAULT_LOW_STOCK_THRESHOLD: Decimal = Decimal::from_parts(5, 0, 0, false, 0);
/// The warehouse a new integration sells from unless configured otherwise.
pub const DEFAULT_WAREHOUSE_CODE: &str = "MAIN";
/// Longest accepted integration name (it appears in ctl tables and log lines).
pub const MAX_NAME_CHARS: usize = 100;

/// Health: more unresolved recent errors than this is critical.
pub const CRITICAL_UNRESOLVED_ERRORS: usize = 10;
/// Health: more unresolved recent errors than this is a warning.
pub const WARNING_UNRESOLVED_ERRORS: usize = 5;
/// Health: errors count as recent within this window.
pub const HEALTH_ERROR_WINDOW: TimeDelta = TimeDelta::hours(24);
/// Health: a last sync older than this is critical.
pub const CRITICAL_SYNC_AGE: TimeDelta = TimeDelta::hours(2);
/// Health: a last sync older than this is a warning.
pub const WARNING_SYNC_AGE: TimeDelta = TimeDelta::hours(1);

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IntegrationStatus {
    Inactive,
    Active,
    Error,
    Suspended,
}

/// Health of an integration, from its errors and the age of its last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    #[serde(with = "rust_decimal::serde::str")]
    pub low_stock_threshold: Decimal,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Credentials {
    /// Refuses an empty token, so activation can rely on credentials being usable.
    fn validate(&self) -> Result<(), DomainError> {
        let (field, secret) = match self {
            Credentials::PrivateToken(s) => ("private API token", s),
            Credentials::AddonOAuth(s) => ("addon OAuth token", s),
        };
        if secret.expose().trim().is_empty() {
            return Err(DomainError::InvalidArgument {
                field,
                reason: "must not be empty".into(),
            });
        }
        Ok(())
    }

    /// What kind of credentials these are, for display (never the secret).
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::PrivateToken(_) => "private API token",
            Credentials::AddonOAuth(_) => "addon OAuth token",
        }
    }
}

/// How a sync run ended, as reported by the code that ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncOutcome {
    /// The run went through (possibly with per-record errors).
    Finished,
    /// The run went through without talking to the shop (nothing to send): logged as
    /// completed, but it moves no sync time — it proves nothing about the shop, and a store
    /// whose shop is unreachable must keep ageing in health.
    FinishedOffline,
    /// The run as a whole failed (e.g. the shop was unreachable).
    Failed,
    /// The run was stopped before it finished (e.g. shutdown).
    Cancelled,
}

/// Everything known about one finished sync run, passed to [`Integration::record_sync`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRun {
    pub sync_type: SyncType,
    /// When the run really started.
    pub started_at: DateTime<Utc>,
    /// When the run really ended.
    pub finished_at: DateTime<Utc>,
    pub records_processed: u64,
    pub error_count: u64,
    pub outcome: SyncOutcome,
    pub notes: Option<String>,
}

/// Order and product counts of one integration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationCounts {
    pub total_orders: u64,
    /// Orders imported and not yet being processed.
    pub pending_orders: u64,
    pub total_products: u64,
    /// Products active in the shop.
    pub active_products: u64,
}

impl IntegrationCounts {
    /// Counts the orders and products that belong to `integration_id` (others are ignored).
    pub fn of<'a>(
        integration_id: IntegrationId,
        orders: impl IntoIterator<Item = &'a Order>,
        products: impl IntoIterator<Item = &'a Product>,
    ) -> Self {
        let mut counts = Self::default();
        for order in orders
            .into_iter()
            .filter(|o| o.integration_id == integration_id)
        {
            counts.total_orders += 1;
            if order.status == OrderStatus::Imported {
                counts.pending_orders += 1;
            }
        }
        for product in products
            .into_iter()
            .filter(|p| p.integration_id == integration_id)
        {
            counts.total_products += 1;
            if product.active {
                counts.active_products += 1;
            }
        }
        counts
    }
}

/// Checks an absolute http(s) URL and drops a trailing slash, so paths can be appended.
/// A URL with `user:password@` before its host is refused (checked before anything that quotes
/// the URL, so no message repeats the password): the URL is shown to every ctl reader, while
/// credentials belong in the integration's sealed credentials.
fn validated_url(field: &'static str, value: &str) -> Result<String, DomainError> {
    if embeds_credentials(value) {
        return Err(DomainError::InvalidArgument {
            field,
            reason: "must not embed credentials (user:password@host); set the API token with \
                     `shoptetctl integration credentials` instead"
                .into(),
        });
    }
    let url = required_text(field, value)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| DomainError::InvalidArgument {
            field,
            reason: format!("'{url}' must start with https:// or http://"),
        })?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(DomainError::InvalidArgument {
            field,
            reason: format!("'{url}' has no host or contains spaces"),
        });
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Whether `value` carries user information (`user@`, `user:password@`) before its host.
fn embeds_credentials(value: &str) -> bool {
    let value = value.trim();
    let after_scheme = value.split_once("://").map_or(value, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    authority.contains('@')
}

impl Integration {
    /// A new, inactive integration with the documented defaults.
    ///
    /// The name must be unique across integrations; that is checked by the store,
    /// which sees them all.
    pub fn new(name: &str, eshop_url: &str, now: DateTime<Utc>) -> Result<Self, DomainError> {
        let name = required_text("name", name)?;
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(DomainError::InvalidArgument {
                field: "name",
                reason: format!("must be at most {MAX_NAME_CHARS} characters"),
            });
        }
        Ok(Self {
            id: Uuid::new_v4(),
            name,
            eshop_url: validated_url("e-shop URL", eshop_url)?,
            api_base_url: DEFAULT_API_BASE_URL.to_owned(),
            credentials: None,
            status: IntegrationStatus::Inactive,
            status_reason: None,
            last_sync: None,
            last_order_sync: None,
            last_inventory_sync: None,
            auto_order_import: true,
            auto_inventory_sync: true,
            auto_status_update: true,
            sync_interval_minutes: DEFAULT_SYNC_INTERVAL_MINUTES,
            default_warehouse_code: DEFAULT_WAREHOUSE_CODE.to_owned(),
            shoptet_stock_id: DEFAULT_SHOPTET_STOCK_ID,
            status_mapping: StatusMapping::default(),
            low_stock_threshold: DEFAULT_LOW_STOCK_THRESHOLD,
            created_at: now,
            updated_at: now,
        })
    }

    /// Whether the integration is active (only active integrations sync).
    pub fn is_active(&self) -> bool {
        self.status == IntegrationStatus::Active
    }

    /// A System log entry describing a change of this integration.
    fn event(&self, message: String, now: DateTime<Utc>) -> SyncLog {
        SyncLog::event(self.id, message, now)
    }

    /// Activates the integration. Fails without credentials.
    /// Returns the System log entry to persist with the change.
    pub fn activate(&mut self, now: DateTime<Utc>) -> Result<SyncLog, DomainError> {
        if self.credentials.is_none() {
            return Err(DomainError::MissingCredentials {
                integration: self.name.clone(),
            });
        }
        self.status = IntegrationStatus::Active;
        self.status_reason = None;
        self.updated_at = now;
        Ok(self.event("Integration activated".into(), now))
    }

    /// Deactivates the integration and records why.
    pub fn deactivate(&mut self, reason: &str, now: DateTime<Utc>) -> SyncLog {
        let reason = reason.trim();
        self.status = IntegrationStatus::Inactive;
        self.status_reason = (!reason.is_empty()).then(|| reason.to_owned());
        self.updated_at = now;
        self.event(format!("Integration deactivated: {reason}"), now)
    }

    /// Puts the integration into Error (e.g. the shop rejects our token), with the reason.
    pub fn mark_error(&mut self, reason: &str, now: DateTime<Utc>) -> SyncLog {
        let reason = reason.trim();
        self.status = IntegrationStatus::Error;
        self.status_reason = Some(reason.to_owned());
        self.updated_at = now;
        self.event(format!("Integration in error: {reason}"), now)
    }

    /// Suspends the integration (e.g. the shop suspended our addon), with the reason.
    pub fn suspend(&mut self, reason: &str, now: DateTime<Utc>) -> SyncLog {
        let reason = reason.trim();
        self.status = IntegrationStatus::Suspended;
        self.status_reason = Some(reason.to_owned());
        self.updated_at = now;
        self.event(format!("Integration suspended: {reason}"), now)
    }

    /// Replaces the credentials. The returned log entry names only their kind,
    /// never the secret.
    pub fn update_credentials(
        &mut self,
        credentials: Credentials,
        now: DateTime<Utc>,
    ) -> Result<SyncLog, DomainError> {
        credentials.validate()?;
        let kind = credentials.kind();
        self.credentials = Some(credentials);
        self.updated_at = now;
        Ok(self.event(format!("API credentials updated ({kind})"), now))
    }

    /// Sets the sync interval (1..=1440 minutes).
    pub fn set_sync_interval(
        &mut self,
        minutes: u32,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if !SYNC_INTERVAL_MINUTES.contains(&minutes) {
            return Err(DomainError::InvalidArgument {
                field: "sync interval",
                reason: format!(
                    "{minutes} minutes is outside {}..={}",
                    SYNC_INTERVAL_MINUTES.start(),
                    SYNC_INTERVAL_MINUTES.end()
                ),
            });
        }
        self.sync_interval_minutes = minutes;
        self.updated_at = now;
        Ok(())
    }

    /// Points the integration at another API host (tests, the simulator).
    pub fn set_api_base_url(&mut self, url: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        self.api_base_url = validated_url("API base URL", url)?;
        self.updated_at = now;
        Ok(())
    }

    /// Sets the warehouse whose stock this shop sells.
    pub fn set_default_warehouse_code(
        &mut self,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        self.default_warehouse_code = required_text("warehouse code", code)?;
        self.updated_at = now;
        Ok(())
    }

    /// Sets the low-stock threshold (not negative).
    pub fn set_low_stock_threshold(
        &mut self,
        threshold: Decimal,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if threshold.is_sign_negative() && !threshold.is_zero() {
            return Err(DomainError::InvalidArgument {
                field: "low-stock threshold",
                reason: format!("{threshold} is negative"),
            });
        }
        self.low_stock_threshold = threshold;
        self.updated_at = now;
        Ok(())
    }

    /// Records a finished sync run and returns its log entry.
    ///
    /// The log keeps the run's REAL start and end: the original design wrote
    /// "now minus one minute" as the start, which made durations and
    /// records-per-second meaningless.
    ///
    /// Only a run that went through (`Finished`, with or without record errors)
    /// moves `last_sync` and the per-type times: a failed run exchanged no data, so
    /// health must keep ageing and the next tick must try again. Times never move
    /// backwards if runs are recorded out of order. System entries move nothing.
    pub fn record_sync(&mut self, run: SyncRun) -> Result<SyncLog, DomainError> {
        if run.finished_at < run.started_at {
            return Err(DomainError::InvalidArgument {
                field: "sync finish time",
                reason: format!("{} is before the start {}", run.finished_at, run.started_at),
            });
        }
        let status = match run.outcome {
            SyncOutcome::Failed => SyncStatus::Failed,
            SyncOutcome::Cancelled => SyncStatus::Cancelled,
            SyncOutcome::Finished | SyncOutcome::FinishedOffline if run.error_count > 0 => {
                SyncStatus::CompletedWithErrors
            }
            SyncOutcome::Finished | SyncOutcome::FinishedOffline => SyncStatus::Completed,
        };
        if run.outcome == SyncOutcome::Finished && run.sync_type != SyncType::System {
            let advance = |slot: &mut Option<DateTime<Utc>>| {
                if slot.is_none_or(|t| t < run.finished_at) {
                    *slot = Some(run.finished_at);
                }
            };
            advance(&mut self.last_sync);
            match run.sync_type {
                SyncType::Orders => advance(&mut self.last_order_sync),
                SyncType::Inventory => advance(&mut self.last_inventory_sync),
                SyncType::Products | SyncType::Prices | SyncType::System => {}
            }
            self.updated_at = self.updated_at.max(run.finished_at);
        }
        Ok(SyncLog {
            id: Uuid::new_v4(),
            integration_id: self.id,
            sync_type: run.sync_type,
            started_at: run.started_at,
            finished_at: run.finished_at,
            records_processed: run.records_processed,
            error_count: run.error_count,
            status,
            notes: run.notes,
        })
    }

    /// The sync interval as a duration.
    pub fn sync_interval(&self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.sync_interval_minutes))
    }

    /// Time since the last sync that went through; `None` if there never was one.
    pub fn time_since_last_sync(&self, now: DateTime<Utc>) -> Option<TimeDelta> {
        self.last_sync.map(|t| now - t)
    }

    /// Due when never synced or once a full interval has passed since the last sync.
    pub fn needs_sync(&self, now: DateTime<Utc>) -> bool {
        self.time_since_last_sync(now)
            .is_none_or(|age| age >= self.sync_interval())
    }

    /// Health from the unresolved errors of the last 24 h among `errors` (entries of
    /// other integrations are ignored) and the age of the last sync. An entry that counts
    /// repeated failures (one per outage) weighs as many failures.
    pub fn health(&self, now: DateTime<Utc>, errors: &[ErrorLog]) -> HealthStatus {
        let recent_unresolved = errors
            .iter()
            .filter(|e| e.integration_id == self.id)
            .filter(|e| !e.is_resolved() && now - e.occurred_at <= HEALTH_ERROR_WINDOW)
            .map(|e| usize::try_from(e.repeats()).unwrap_or(usize::MAX))
            .fold(0usize, usize::saturating_add);
        self.health_with_error_count(now, recent_unresolved)
    }

    /// Health when the caller already counted the unresolved errors of the last 24 h.
    /// Never synced counts as infinitely old (Critical).
    pub fn health_with_error_count(
        &self,
        now: DateTime<Utc>,
        recent_unresolved_errors: usize,
    ) -> HealthStatus {
        if !self.is_active() {
            return HealthStatus::Inactive;
        }
        let age = self.time_since_last_sync(now);
        let older_than = |limit: TimeDelta| age.is_none_or(|a| a > limit);
        if recent_unresolved_errors > CRITICAL_UNRESOLVED_ERRORS || older_than(CRITICAL_SYNC_AGE) {
            HealthStatus::Critical
        } else if recent_unresolved_errors > WARNING_UNRESOLVED_ERRORS
            || older_than(WARNING_SYNC_AGE)
        {
            HealthStatus::Warning
        } else {
            HealthStatus::Healthy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::log::ErrorSeverity;
    use crate::domain::testutil::{dec, t0};

    fn active(now: DateTime<Utc>) -> Integration {
        let mut i = Integration::new("Shop A", "https://shop-a.example/", now).unwrap();
        i.update_credentials(Credentials::PrivateToken(Secret::new("tok-123")), now)
            .unwrap();
        i.activate(now).unwrap();
        i
    }

    fn run(sync_type: SyncType, start: DateTime<Utc>, secs: i64, outcome: SyncOutcome) -> SyncRun {
        SyncRun {
            sync_type,
            started_at: start,
            finished_at: start + TimeDelta::seconds(secs),
            records_processed: 10,
            error_count: 0,
            outcome,
            notes: None,
        }
    }

    fn error(i: &Integration, at: DateTime<Utc>) -> ErrorLog {
        ErrorLog::new(i.id, "boom", None, None, ErrorSeverity::Medium, at).unwrap()
    }

    #[test]
    fn new_applies_documented_defaults() {
        let i = Integration::new("  Shop A ", "https://shop-a.example/", t0()).unwrap();
        assert_eq!(i.name, "Shop A");
        assert_eq!(i.eshop_url, "https://shop-a.example");
        assert_eq!(i.api_base_url, "https://api.myshoptet.com");
        assert_eq!(i.status, IntegrationStatus::Inactive);
        assert!(i.auto_order_import && i.auto_inventory_sync && i.auto_status_update);
        assert_eq!(i.sync_interval_minutes, 15);
        assert_eq!(i.shoptet_stock_id, 1);
        assert_eq!(
            (
                i.status_mapping.processing,
                i.status_mapping.shipped,
                i.status_mapping.cancelled
            ),
            (-2, -3, -4)
        );
        assert_eq!(i.low_stock_threshold, dec("5"));
        assert_eq!(i.default_warehouse_code, "MAIN");
        assert!(i.credentials.is_none() && i.last_sync.is_none());
    }

    #[test]
    fn new_rejects_bad_name_and_url() {
        assert!(Integration::new("", "https://x.example", t0()).is_err());
        assert!(Integration::new(&"n".repeat(101), "https://x.example", t0()).is_err());
        assert!(Integration::new("x", "shop.example", t0()).is_err());
        assert!(Integration::new("x", "https://", t0()).is_err());
        assert!(Integration::new("x", "https://a b.example", t0()).is_err());
    }

    #[test]
    fn sync_interval_must_be_within_a_day() {
        let mut i = Integration::new("x", "https://x.example", t0()).unwrap();
        assert!(i.set_sync_interval(0, t0()).is_err());
        assert!(i.set_sync_interval(1441, t0()).is_err());
        i.set_sync_interval(1, t0()).unwrap();
        i.set_sync_interval(1440, t0()).unwrap();
        assert_eq!(i.sync_interval_minutes, 1440);
    }

    #[test]
    fn activate_requires_credentials() {
        let mut i = Integration::new("Shop A", "https://x.example", t0()).unwrap();
        assert!(matches!(
            i.activate(t0()),
            Err(DomainError::MissingCredentials { .. })
        ));
        assert_eq!(i.status, IntegrationStatus::Inactive);
        i.update_credentials(Credentials::AddonOAuth(Secret::new("oauth")), t0())
            .unwrap();
        let log = i.activate(t0()).unwrap();
        assert!(i.is_active());
        assert_eq!(log.sync_type, SyncType::System);
        assert_eq!(log.notes.as_deref(), Some("Integration activated"));
    }

    #[test]
    fn empty_token_is_refused() {
        let mut i = Integration::new("Shop A", "https://x.example", t0()).unwrap();
        assert!(
            i.update_credentials(Credentials::PrivateToken(Secret::new("  ")), t0())
                .is_err()
        );
        assert!(i.credentials.is_none());
    }

    #[test]
    fn credentials_update_is_logged_without_the_secret() {
        let mut i = Integration::new("Shop A", "https://x.example", t0()).unwrap();
        let log = i
            .update_credentials(Credentials::PrivateToken(Secret::new("s3cr3t-token")), t0())
            .unwrap();
        let notes = log.notes.unwrap_or_default();
        assert!(notes.starts_with("API credentials updated"));
        assert!(!format!("{notes} {:?}", i).contains("s3cr3t-token"));
    }

    #[test]
    fn deactivate_records_reason() {
        let mut i = active(t0());
        let log = i.deactivate("shop closed", t0());
        assert_eq!(i.status, IntegrationStatus::Inactive);
        assert_eq!(i.status_reason.as_deref(), Some("shop closed"));
        assert_eq!(
            log.notes.as_deref(),
            Some("Integration deactivated: shop closed")
        );
    }

    #[test]
    fn record_sync_keeps_real_times_and_status() {
        let mut i = active(t0());
        let start = t0() + TimeDelta::minutes(3);
        let mut r = run(SyncType::Orders, start, 42, SyncOutcome::Finished);
        r.error_count = 2;
        let log = i.record_sync(r).unwrap();
        assert_eq!(log.started_at, start);
        assert_eq!(log.finished_at, start + TimeDelta::seconds(42));
        assert_eq!(log.status, SyncStatus::CompletedWithErrors);
        assert_eq!(i.last_sync, Some(log.finished_at));
        assert_eq!(i.last_order_sync, Some(log.finished_at));
        assert_eq!(i.last_inventory_sync, None);

        let log = i
            .record_sync(run(SyncType::Inventory, start, 5, SyncOutcome::Finished))
            .unwrap();
        assert_eq!(log.status, SyncStatus::Completed);
        assert_eq!(i.last_inventory_sync, Some(start + TimeDelta::seconds(5)));
        // An older run recorded late does not move last_sync back.
        assert_eq!(i.last_sync, Some(start + TimeDelta::seconds(42)));
    }

    #[test]
    fn failed_sync_is_logged_but_does_not_count_as_synced() {
        let mut i = active(t0());
        let log = i
            .record_sync(run(SyncType::Orders, t0(), 3, SyncOutcome::Failed))
            .unwrap();
        assert_eq!(log.status, SyncStatus::Failed);
        assert_eq!(i.last_sync, None);
        assert_eq!(i.last_order_sync, None);
        let log = i
            .record_sync(run(SyncType::Orders, t0(), 3, SyncOutcome::Cancelled))
            .unwrap();
        assert_eq!(log.status, SyncStatus::Cancelled);
        assert_eq!(i.last_sync, None);
        // A System entry is an event, not a sync.
        i.record_sync(run(
            SyncType::Inventory,
            t0(),
            0,
            SyncOutcome::FinishedOffline,
        ))
        .unwrap();
        assert_eq!(
            (i.last_sync, i.last_inventory_sync),
            (None, None),
            "a run that did not talk to the shop moves no sync time"
        );
        i.record_sync(run(SyncType::System, t0(), 0, SyncOutcome::Finished))
            .unwrap();
        assert_eq!(i.last_sync, None);
    }

    #[test]
    fn record_sync_rejects_end_before_start() {
        let mut i = active(t0());
        assert!(
            i.record_sync(run(SyncType::Orders, t0(), -1, SyncOutcome::Finished))
                .is_err()
        );
    }

    #[test]
    fn needs_sync_follows_the_interval() {
        let mut i = active(t0());
        assert!(i.needs_sync(t0()));
        i.record_sync(run(SyncType::Orders, t0(), 0, SyncOutcome::Finished))
            .unwrap();
        assert!(!i.needs_sync(t0() + TimeDelta::minutes(14)));
        assert!(i.needs_sync(t0() + TimeDelta::minutes(15)));
        i.set_sync_interval(60, t0()).unwrap();
        assert!(!i.needs_sync(t0() + TimeDelta::minutes(59)));
    }

    #[test]
    fn health_thresholds() {
        let mut i = Integration::new("x", "https://x.example", t0()).unwrap();
        assert_eq!(i.health(t0(), &[]), HealthStatus::Inactive);
        i.update_credentials(Credentials::PrivateToken(Secret::new("t")), t0())
            .unwrap();
        i.activate(t0()).unwrap();
        // Never synced: critical.
        assert_eq!(i.health(t0(), &[]), HealthStatus::Critical);
        i.record_sync(run(SyncType::Orders, t0(), 0, SyncOutcome::Finished))
            .unwrap();
        assert_eq!(
            i.health(t0() + TimeDelta::minutes(60), &[]),
            HealthStatus::Healthy
        );
        assert_eq!(
            i.health(t0() + TimeDelta::minutes(61), &[]),
            HealthStatus::Warning
        );
        assert_eq!(
            i.health(t0() + TimeDelta::minutes(120), &[]),
            HealthStatus::Warning
        );
        assert_eq!(
            i.health(t0() + TimeDelta::minutes(121), &[]),
            HealthStatus::Critical
        );

        let now = t0() + TimeDelta::minutes(10);
        let errs: Vec<ErrorLog> = (0..11).map(|_| error(&i, now)).collect();
        assert_eq!(i.health(now, &errs[..5]), HealthStatus::Healthy);
        assert_eq!(i.health(now, &errs[..6]), HealthStatus::Warning);
        assert_eq!(i.health(now, &errs[..10]), HealthStatus::Warning);
        assert_eq!(i.health(now, &errs), HealthStatus::Critical);

        // Resolved, old and foreign errors do not count.
        let mut errs = errs;
        errs[0].resolve("ops", "fixed", now).unwrap();
        assert_eq!(i.health(now, &errs), HealthStatus::Warning);
        errs[0] = error(&i, now - TimeDelta::hours(25));
        assert_eq!(i.health(now, &errs), HealthStatus::Warning);
        errs[0].integration_id = Uuid::new_v4();
        errs[1] = error(&i, now);
        errs[1].integration_id = Uuid::new_v4();
        assert_eq!(i.health(now, &errs), HealthStatus::Warning);
        assert_eq!(i.health_with_error_count(now, 11), HealthStatus::Critical);
    }

    #[test]
    fn counts_pending_orders_and_active_products() {
        use crate::domain::order::tests::sample_order;
        let i = active(t0());
        let mut a = sample_order(i.id, "1");
        let b = sample_order(i.id, "2");
        let foreign = sample_order(Uuid::new_v4(), "3");
        a.start_processing("pick-1", t0()).unwrap();
        let mut p1 = Product::new(i.id, "SKU-1", "One", dec("10"), dec("1"), true, t0()).unwrap();
        let p2 = Product::new(i.id, "SKU-2", "Two", dec("10"), dec("1"), true, t0()).unwrap();
        p1.active = false;
        let c = IntegrationCounts::of(i.id, [&a, &b, &foreign], [&p1, &p2]);
        assert_eq!(
            c,
            IntegrationCounts {
                total_orders: 2,
                pending_orders: 1,
                total_products: 2,
                active_products: 1
            }
        );
    }
}
