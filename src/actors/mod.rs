//! The actor system: a supervisor, one integration actor per store and the warehouse ledger.
//!
//! - [`supervisor::Supervisor`] loads every integration at start, runs one
//!   [`integration::IntegrationActor`] per integration, creates/deletes/replaces them at run time,
//!   restarts one that stopped on a fatal error (with backoff) and shuts everything down in order.
//! - [`integration::IntegrationActor`] owns one store's aggregate in memory and in sled (it is its
//!   only writer), answers queries at once and runs every network sync as a spawned future.
//! - [`ledger::WarehouseLedger`] owns on-hand stock per warehouse (the only writer of the stock
//!   tree) and each store's reservations, and tells stores sharing a warehouse when to push.
//! - [`handle::Daemon`] is the cheap-to-clone async API the control layer and the daemon use.
//!
//! The rules that keep the mailboxes responsive: network work never runs under `ctx.wait` or
//! `AtomicResponse`; only local sled commits (milliseconds) do, which is what makes "apply to
//! memory, commit, answer" one indivisible step of the actor. See docs/architecture.md.

pub mod control_bridge;
mod convert;
pub mod floor;
pub mod handle;
pub mod integration;
pub mod ledger;
pub mod messages;
pub mod supervisor;

use std::time::Duration;

use chrono::TimeDelta;

use crate::domain::DomainError;
use crate::shoptet::{ClientConfig, ShoptetError};
use crate::store::StoreError;

pub use handle::Daemon;
pub use messages::SyncKind;

/// Why an actor operation failed. Messages are shown to operators as-is and never hold a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorError {
    /// A business rule refused the operation.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The named integration, order, product, error or outbox entry does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The operation conflicts with the current state (duplicate name, …).
    #[error("{0}")]
    Conflict(String),
    /// A sync of this kind is already running for the store.
    #[error("{kind} sync is already running for '{integration}'")]
    AlreadyRunning { kind: SyncKind, integration: String },
    /// The shop could not be reached or refused the request.
    #[error("{0}")]
    Shop(String),
    /// The local database failed; the actor restarts from disk.
    #[error("storage failure: {0}")]
    Store(String),
    /// The daemon is shutting down or the actor stopped.
    #[error("{0}")]
    Unavailable(String),
    /// The actor did not answer in time.
    #[error("{0} did not answer within {1} s")]
    Timeout(String, u64),
}

impl From<StoreError> for ActorError {
    fn from(error: StoreError) -> Self {
        ActorError::Store(error_chain(&error))
    }
}

impl From<ShoptetError> for ActorError {
    fn from(error: ShoptetError) -> Self {
        ActorError::Shop(shop_error_message(&error))
    }
}

/// The message and its causes, joined by `: ` (the store's errors keep causes in `source`).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The error-log message of a failed shop call: outages read "unable to connect to Shoptet API".
pub(crate) fn shop_error_message(error: &ShoptetError) -> String {
    if is_outage(error) {
        format!("{UNABLE_TO_CONNECT}: {error}")
    } else {
        error.to_string()
    }
}

/// The error-log message of a sync that could not reach the shop.
pub const UNABLE_TO_CONNECT: &str = "unable to connect to Shoptet API";

/// The shop could not be reached or kept failing (after the client's own retries).
pub(crate) fn is_outage(error: &ShoptetError) -> bool {
    matches!(
        error,
        ShoptetError::Unavailable { .. }
            | ShoptetError::RateLimited { .. }
            | ShoptetError::Locked { .. }
            | ShoptetError::TokenLimitReached
    )
}

/// Timings and limits of the actor system. The defaults are production values; tests shrink them.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Delay that coalesces a burst of stock changes into one push.
    pub stock_debounce: Duration,
    /// Delay that coalesces price changes into one push.
    pub price_debounce: Duration,
    /// How far the orders cursor is moved back on each run, to re-read late commits.
    pub order_overlap: TimeDelta,
    /// How far the products cursor is moved back on each run, to re-read late commits.
    pub products_overlap: TimeDelta,
    /// How far back the first orders run reads (the shop keeps 30 days).
    pub initial_import_window: TimeDelta,
    /// Change-feed entries read (and committed) per page.
    pub orders_page_size: u32,
    /// Replaces the integration's interval (minutes) when set; tests use milliseconds.
    pub interval_override: Option<Duration>,
    /// Random spread of each scheduled run, as a fraction of its delay (0.1 = ±10 %).
    pub jitter: f64,
    /// Delay before the first scheduled runs after an actor starts.
    pub start_delay: Duration,
    /// First delay after a failed sync; doubled per further failure.
    pub failure_backoff_base: Duration,
    /// Longest delay after failures.
    pub failure_backoff_max: Duration,
    /// The discrepancy check runs every this many intervals.
    pub discrepancy_every: u32,
    /// The product catalogue is pulled every this many intervals.
    pub products_every: u32,
    /// First outbox retry delay; doubled per further failure.
    pub outbox_retry_base: Duration,
    /// Longest outbox retry delay.
    pub outbox_retry_max: Duration,
    /// Attempts before an outbox entry becomes a dead letter.
    pub outbox_max_attempts: u32,
    /// The client settings of every store (the base URL comes from the integration).
    pub client: ClientConfig,
    /// First restart delay of an actor that stopped on a fatal error; doubled per restart.
    pub restart_backoff_base: Duration,
    /// Longest restart delay.
    pub restart_backoff_max: Duration,
    /// How long a [`Daemon`] call waits for an answer.
    pub request_timeout: Duration,
    /// How long a [`Daemon`] call that runs a sync waits for it to end.
    pub sync_timeout: Duration,
    /// How long shutdown waits for each actor to finish its in-flight work.
    pub shutdown_timeout: Duration,
    /// A store whose shop cannot be reached for this long logs an error (journald priority 3),
    /// and again every this long while the outage lasts; shorter outages log warnings.
    pub unreachable_alert_after: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            stock_debounce: Duration::from_secs(2),
            price_debounce: Duration::from_secs(2),
            order_overlap: TimeDelta::minutes(10),
            products_overlap: TimeDelta::minutes(10),
            initial_import_window: TimeDelta::days(7),
            orders_page_size: 100,
            interval_override: None,
            jitter: 0.1,
            start_delay: Duration::from_secs(5),
            failure_backoff_base: Duration::from_secs(30),
            failure_backoff_max: Duration::from_secs(30 * 60),
            discrepancy_every: 4,
            products_every: 4,
            outbox_retry_base: Duration::from_secs(5),
            outbox_retry_max: Duration::from_secs(10 * 60),
            outbox_max_attempts: crate::domain::outbox::DEFAULT_MAX_ATTEMPTS,
            client: ClientConfig::default(),
            restart_backoff_base: Duration::from_secs(1),
            restart_backoff_max: Duration::from_secs(5 * 60),
            request_timeout: Duration::from_secs(120),
            sync_timeout: Duration::from_secs(60 * 60),
            shutdown_timeout: Duration::from_secs(30),
            unreachable_alert_after: Duration::from_secs(60 * 60),
        }
    }
}

/// `base × 2^(failures−1)`, capped at `max`; zero failures → zero.
pub(crate) fn backoff(base: Duration, max: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let doublings = failures.saturating_sub(1).min(20);
    base.saturating_mul(1u32 << doublings).min(max)
}

/// `delay` spread by ±`fraction` at random, so stores do not align.
pub(crate) fn jittered(delay: Duration, fraction: f64) -> Duration {
    use rand::Rng;
    if fraction <= 0.0 || delay.is_zero() {
        return delay;
    }
    let factor = 1.0 + rand::thread_rng().gen_range(-fraction..=fraction);
    delay.mul_f64(factor.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_secs(5);
        let max = Duration::from_secs(60);
        assert_eq!(backoff(base, max, 0), Duration::ZERO);
        assert_eq!(backoff(base, max, 1), Duration::from_secs(5));
        assert_eq!(backoff(base, max, 3), Duration::from_secs(20));
        assert_eq!(backoff(base, max, 10), max);
        assert_eq!(backoff(base, max, u32::MAX), max);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let delay = Duration::from_secs(100);
        for _ in 0..100 {
            let d = jittered(delay, 0.1);
            assert!(
                d >= Duration::from_secs(90) && d <= Duration::from_secs(110),
                "{d:?}"
            );
        }
        assert_eq!(jittered(delay, 0.0), delay);
    }
}
