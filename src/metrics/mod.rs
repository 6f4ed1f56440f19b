//! Prometheus metrics: per-store figures the actors and the Shoptet client publish into shared
//! atomics, process figures read from `/proc/self`, and their encoding in the text exposition
//! format (via `prometheus-client`).
//!
//! The hot paths only touch atomics of an `Arc`'d [`StoreMetrics`] (and a histogram's short
//! lock); a scrape reads those and never asks an actor anything, so it answers at once even
//! while a store is in the middle of a heavy sync. Labels are bounded: `store` (the
//! integration's name) plus small fixed sets (sync kind, outcome, endpoint group, status
//! class); never an order code or anything else that grows with the data.

mod collect;
mod process;
pub mod server;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use uuid::Uuid;

pub use server::{MetricsServer, Probe};

/// Every metric name starts with this.
pub const PREFIX: &str = "shoptet_sync";

/// Why the metrics layer failed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The listen address is not a loopback address and `allow_remote` is off.
    #[error(
        "refusing to serve metrics on {0}: not a loopback address (set [metrics] allow_remote = true to allow it)"
    )]
    RemoteRefused(std::net::SocketAddr),
    /// The listener could not be bound.
    #[error("cannot listen for metrics on {address}")]
    Bind {
        /// The configured address.
        address: std::net::SocketAddr,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The listener's thread or runtime could not be started.
    #[error("cannot start the metrics listener: {0}")]
    Start(String),
    /// Encoding the exposition text failed.
    #[error("cannot encode the metrics")]
    Encode,
}

/// The sync kinds, in the order of [`StoreMetrics`]' per-kind arrays (the `kind` label).
pub const SYNC_KINDS: [&str; 6] = [
    "orders",
    "inventory",
    "discrepancies",
    "products",
    "prices",
    "outbox",
];

/// How a run ended (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Finished and talked to the shop.
    Ok,
    /// Finished without needing the shop (nothing to send).
    Offline,
    /// Failed.
    Failed,
}

impl RunOutcome {
    const ALL: [RunOutcome; 3] = [RunOutcome::Ok, RunOutcome::Offline, RunOutcome::Failed];

    fn label(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Offline => "offline",
            RunOutcome::Failed => "failed",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Endpoint groups of the Shoptet API (the `endpoint` label): the first path segment after
/// `/api/`, and `token` for the addon token mint.
pub const ENDPOINT_GROUPS: [&str; 7] = [
    "orders",
    "products",
    "stocks",
    "pricelists",
    "eshop",
    "token",
    "other",
];

/// HTTP status classes (the `status_class` label); `error` is a timeout or connection failure.
pub const STATUS_CLASSES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "error"];

/// The endpoint group of an API path such as `/api/orders/123`.
pub fn endpoint_group(path: &str) -> usize {
    let segment = path
        .strip_prefix("/api/")
        .unwrap_or("")
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    ENDPOINT_GROUPS
        .iter()
        .position(|group| *group == segment && *group != "token" && *group != "other")
        .unwrap_or(ENDPOINT_GROUPS.len() - 1)
}

/// The index of the `token` endpoint group.
pub const TOKEN_ENDPOINT: usize = 5;

/// The status class index of an HTTP status (`None`: no response).
pub fn status_class(status: Option<u16>) -> usize {
    match status {
        Some(200..=299) => 0,
        Some(300..=399) => 1,
        Some(400..=499) => 2,
        Some(500..=599) => 3,
        _ => 4,
    }
}

/// The health state gauge's values (`shoptet_sync_store_health`).
pub mod health {
    /// Healthy.
    pub const HEALTHY: i64 = 0;
    /// Warning: errors piling up or the last sync getting old.
    pub const WARNING: i64 = 1;
    /// Critical: many errors or no sync for long.
    pub const CRITICAL: i64 = 2;
    /// The integration is not active (no syncs expected).
    pub const INACTIVE: i64 = -1;
}

/// Seconds (order freshness: imported − created in the shop).
fn freshness_buckets() -> Vec<f64> {
    vec![
        5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
    ]
}

/// Seconds (one sync run).
fn duration_buckets() -> Vec<f64> {
    vec![
        0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
    ]
}

/// "Not known" for the timestamp atomics.
const UNKNOWN: i64 = i64::MIN;

/// The figures of one store, shared by its actor, its Shoptet client and the scrape. Every
/// method is a few atomic operations.
#[derive(Debug)]
pub struct StoreMetrics {
    name: RwLock<String>,
    up: AtomicBool,
    pub(crate) restarts: AtomicU64,
    pub(crate) orders_imported: AtomicU64,
    pub(crate) order_conflicts: AtomicU64,
    pub(crate) orders_cancelled_in_shop: AtomicU64,
    pub(crate) order_freshness: Histogram,
    /// Unix seconds the orders feed is known to be read up to.
    pub(crate) feed_position: AtomicI64,
    pub(crate) last_success: [AtomicI64; SYNC_KINDS.len()],
    /// `[kind][outcome]`.
    pub(crate) run_duration: Vec<Vec<Histogram>>,
    /// `[endpoint group][status class]`.
    pub(crate) requests: [[AtomicU64; STATUS_CLASSES.len()]; ENDPOINT_GROUPS.len()],
    pub(crate) rate_limited: AtomicU64,
    pub(crate) locked: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) throttle_wait_micros: AtomicU64,
    /// `f64` bits; NaN until a header was seen.
    pub(crate) bucket_filling: AtomicU64,
    pub(crate) bucket_capacity: AtomicU64,
    pub(crate) token_mints: AtomicU64,
    pub(crate) outbox_depth: AtomicU64,
    pub(crate) dead_letters: AtomicU64,
    /// Unix seconds of the oldest pending push's creation.
    pub(crate) oldest_pending: AtomicI64,
    pub(crate) stock_rows_pushed: AtomicU64,
    pub(crate) discrepancies_found: AtomicU64,
    pub(crate) webhooks_received: AtomicU64,
    pub(crate) webhooks_rejected: AtomicU64,
    pub(crate) health: AtomicI64,
    pub(crate) interval_seconds: AtomicU64,
    pub(crate) auto_inventory: AtomicBool,
    pub(crate) running: [AtomicBool; SYNC_KINDS.len()],
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl StoreMetrics {
    fn new(name: &str) -> Self {
        Self {
            name: RwLock::new(name.to_owned()),
            up: AtomicBool::new(false),
            restarts: AtomicU64::new(0),
            orders_imported: AtomicU64::new(0),
            order_conflicts: AtomicU64::new(0),
            orders_cancelled_in_shop: AtomicU64::new(0),
            order_freshness: Histogram::new(freshness_buckets()),
            feed_position: AtomicI64::new(UNKNOWN),
            last_success: std::array::from_fn(|_| AtomicI64::new(UNKNOWN)),
            run_duration: SYNC_KINDS
                .iter()
                .map(|_| {
                    RunOutcome::ALL
                        .iter()
                        .map(|_| Histogram::new(duration_buckets()))
                        .collect()
                })
                .collect(),
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            rate_limited: AtomicU64::new(0),
            locked: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            throttle_wait_micros: AtomicU64::new(0),
            bucket_filling: AtomicU64::new(f64::NAN.to_bits()),
            bucket_capacity: AtomicU64::new(f64::NAN.to_bits()),
            token_mints: AtomicU64::new(0),
            outbox_depth: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            oldest_pending: AtomicI64::new(UNKNOWN),
            stock_rows_pushed: AtomicU64::new(0),
            discrepancies_found: AtomicU64::new(0),
            webhooks_received: AtomicU64::new(0),
            webhooks_rejected: AtomicU64::new(0),
            health: AtomicI64::new(health::INACTIVE),
            interval_seconds: AtomicU64::new(0),
            auto_inventory: AtomicBool::new(false),
            running: std::array::from_fn(|_| AtomicBool::new(false)),
        }
    }

    /// A store's figures outside any registry (unit tests, a client without a daemon).
    pub fn detached(name: &str) -> Arc<Self> {
        Arc::new(Self::new(name))
    }

    /// The `store` label.
    pub fn name(&self) -> String {
        match self.name.read() {
            Ok(name) => name.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Follows a rename (the series continue under the new name).
    pub fn set_name(&self, name: &str) {
        let mut guard = match self.name.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if *guard != name {
            *guard = name.to_owned();
        }
    }

    /// Whether the store's actor is running.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The shop's rate-limit bucket (filling, capacity) from the last header, if one was seen.
    pub fn bucket_state(&self) -> Option<(f64, f64)> {
        let filling = f64::from_bits(self.bucket_filling.load(Ordering::Relaxed));
        let capacity = f64::from_bits(self.bucket_capacity.load(Ordering::Relaxed));
        (!filling.is_nan() && !capacity.is_nan()).then_some((filling, capacity))
    }

    /// Seconds from the time the orders feed is known to be read up to until `now`.
    pub fn feed_lag(&self, now: DateTime<Utc>) -> Option<i64> {
        let at = self.feed_position.load(Ordering::Relaxed);
        (at != UNKNOWN).then(|| (now.timestamp() - at).max(0))
    }

    /// Orders imported, with their age at import (imported − created in the shop) when known.
    pub fn order_imported(&self, age: Option<chrono::TimeDelta>) {
        add(&self.orders_imported, 1);
        if let Some(age) = age {
            self.order_freshness
                .observe((age.num_milliseconds() as f64 / 1000.0).max(0.0));
        }
    }

    /// A conflict between the shop and us was flagged on an order.
    pub fn order_conflict(&self) {
        add(&self.order_conflicts, 1);
    }

    /// An order was cancelled (or deleted) in the shop.
    pub fn order_cancelled_in_shop(&self) {
        add(&self.orders_cancelled_in_shop, 1);
    }

    /// The orders feed has been read up to `at` (feed lag = now − `at`).
    pub fn feed_read_up_to(&self, at: DateTime<Utc>) {
        self.feed_position.store(at.timestamp(), Ordering::Relaxed);
    }

    /// A run of `kind` (one of [`SYNC_KINDS`]) started or ended.
    pub fn set_running(&self, kind: &str, running: bool) {
        if let Some(index) = SYNC_KINDS.iter().position(|k| *k == kind) {
            self.running[index].store(running, Ordering::Relaxed);
        }
    }

    /// A run of `kind` ended after `duration`; a success also moves the kind's last success.
    pub fn run_finished(
        &self,
        kind: &str,
        outcome: RunOutcome,
        duration: Duration,
        ended: DateTime<Utc>,
    ) {
        let Some(index) = SYNC_KINDS.iter().position(|k| *k == kind) else {
            return;
        };
        self.running[index].store(false, Ordering::Relaxed);
        self.run_duration[index][outcome.index()].observe(duration.as_secs_f64());
        if outcome != RunOutcome::Failed {
            self.last_success[index].store(ended.timestamp(), Ordering::Relaxed);
        }
    }

    /// Seeds the last success of `kind` from the store (runs before this process started).
    pub fn seed_last_success(&self, kind: &str, at: Option<DateTime<Utc>>) {
        if let (Some(index), Some(at)) = (SYNC_KINDS.iter().position(|k| *k == kind), at) {
            let _ = self.last_success[index].compare_exchange(
                UNKNOWN,
                at.timestamp(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// Stock rows the shop accepted.
    pub fn stock_rows_pushed(&self, rows: u64) {
        add(&self.stock_rows_pushed, rows);
    }

    /// Discrepancies the read-back found.
    pub fn discrepancies_found(&self, found: u64) {
        add(&self.discrepancies_found, found);
    }

    /// A webhook for this store was received and accepted.
    pub fn webhook_received(&self) {
        add(&self.webhooks_received, 1);
    }

    /// A webhook for this store was refused (bad signature, unknown event, too large…).
    pub fn webhook_rejected(&self) {
        add(&self.webhooks_rejected, 1);
    }

    /// The state gauges, published by the actor after every change and on a timer.
    pub fn publish_state(&self, state: &StoreState) {
        self.outbox_depth
            .store(state.outbox_depth, Ordering::Relaxed);
        self.dead_letters
            .store(state.dead_letters, Ordering::Relaxed);
        self.oldest_pending.store(
            state.oldest_pending.map_or(UNKNOWN, |at| at.timestamp()),
            Ordering::Relaxed,
        );
        self.health.store(state.health, Ordering::Relaxed);
        self.interval_seconds
            .store(state.interval.as_secs(), Ordering::Relaxed);
        self.auto_inventory
            .store(state.auto_inventory_sync, Ordering::Relaxed);
    }
}

/// What an actor publishes about its state (see [`StoreMetrics::publish_state`]).
#[derive(Debug, Clone, Default)]
pub struct StoreState {
    /// Outbox entries not yet sent (dead letters excluded).
    pub outbox_depth: u64,
    /// Outbox entries given up on.
    pub dead_letters: u64,
    /// Creation time of the oldest pending push.
    pub oldest_pending: Option<DateTime<Utc>>,
    /// One of [`health`]'s values.
    pub health: i64,
    /// The store's sync interval.
    pub interval: Duration,
    /// Stock is pushed on its own (every interval and after changes).
    pub auto_inventory_sync: bool,
}

impl crate::shoptet::RequestObserver for StoreMetrics {
    fn response(&self, path: &str, status: Option<u16>) {
        add(
            &self.requests[endpoint_group(path)][status_class(status)],
            1,
        );
        match status {
            Some(429) => add(&self.rate_limited, 1),
            Some(423) => add(&self.locked, 1),
            _ => {}
        }
    }

    fn token_mint(&self, status: Option<u16>) {
        add(&self.token_mints, 1);
        add(&self.requests[TOKEN_ENDPOINT][status_class(status)], 1);
    }

    fn retry(&self) {
        add(&self.retries, 1);
    }

    fn throttled(&self, wait: Duration) {
        add(
            &self.throttle_wait_micros,
            u64::try_from(wait.as_micros()).unwrap_or(u64::MAX),
        );
    }

    fn bucket(&self, filling: f64, capacity: f64) {
        self.bucket_filling
            .store(filling.to_bits(), Ordering::Relaxed);
        self.bucket_capacity
            .store(capacity.to_bits(), Ordering::Relaxed);
    }
}

/// Stores by integration id.
type StoreMap = BTreeMap<Uuid, Arc<StoreMetrics>>;

fn lock(stores: &Mutex<StoreMap>) -> MutexGuard<'_, StoreMap> {
    match stores.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

struct Shared {
    registry: Registry,
    stores: Arc<Mutex<StoreMap>>,
    store_open: AtomicBool,
    /// Webhooks refused before a store could be named (unknown shop, unreadable body).
    unattributed_webhooks_rejected: Arc<AtomicU64>,
}

/// The daemon's metrics: a registry of per-store figures and process figures. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry (process start time taken now).
    pub fn new() -> Self {
        let stores = Arc::new(Mutex::new(StoreMap::new()));
        let unattributed = Arc::new(AtomicU64::new(0));
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collect::StoreCollector {
            stores: stores.clone(),
            unattributed_webhooks_rejected: unattributed.clone(),
        }));
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        Self {
            shared: Arc::new(Shared {
                registry,
                stores,
                store_open: AtomicBool::new(false),
                unattributed_webhooks_rejected: unattributed,
            }),
        }
    }

    /// The figures of integration `id` (created on first use), named `name`.
    pub fn store(&self, id: Uuid, name: &str) -> Arc<StoreMetrics> {
        let mut stores = lock(&self.shared.stores);
        let entry = stores
            .entry(id)
            .or_insert_with(|| Arc::new(StoreMetrics::new(name)));
        entry.set_name(name);
        entry.clone()
    }

    /// The figures of the store named `name`, if there is one (e.g. to count its webhooks).
    pub fn store_named(&self, name: &str) -> Option<Arc<StoreMetrics>> {
        lock(&self.shared.stores)
            .values()
            .find(|store| store.name() == name)
            .cloned()
    }

    /// The store's actor started (`up`) or went down awaiting a restart.
    pub fn set_store_up(&self, id: Uuid, up: bool) {
        if let Some(store) = lock(&self.shared.stores).get(&id) {
            store.up.store(up, Ordering::Relaxed);
            if !up {
                add(&store.restarts, 1);
            }
        }
    }

    /// The integration was deleted: its series go.
    pub fn remove_store(&self, id: Uuid) {
        lock(&self.shared.stores).remove(&id);
    }

    /// A webhook refused before it could be attributed to a store.
    pub fn webhook_rejected_unattributed(&self) {
        add(&self.shared.unattributed_webhooks_rejected, 1);
    }

    /// The store (sled) is open and usable.
    pub fn set_store_open(&self, open: bool) {
        self.shared.store_open.store(open, Ordering::Relaxed);
    }

    /// Ready: the store is open and no store's actor is down.
    pub fn readiness(&self) -> Result<(), String> {
        if !self.shared.store_open.load(Ordering::Relaxed) {
            return Err("the store is not open".to_owned());
        }
        let down: Vec<String> = lock(&self.shared.stores)
            .values()
            .filter(|store| !store.is_up())
            .map(|store| store.name())
            .collect();
        if down.is_empty() {
            Ok(())
        } else {
            Err(format!("stores down: {}", down.join(", ")))
        }
    }

    /// The exposition text (OpenMetrics text format, which Prometheus reads).
    pub fn encode(&self) -> Result<String, MetricsError> {
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.shared.registry)
            .map_err(|_| MetricsError::Encode)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests;
