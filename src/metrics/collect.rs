//! Encodes the per-store figures at scrape time: one family per figure, one series per store
//! (and per bounded label value), read from the stores' atomics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::{
    ENDPOINT_GROUPS, PREFIX, RunOutcome, STATUS_CLASSES, SYNC_KINDS, StoreMap, StoreMetrics,
    UNKNOWN, lock,
};

/// The label value of webhooks refused before a store could be named.
pub const UNATTRIBUTED_STORE: &str = "(unknown)";

#[derive(Debug)]
pub(super) struct StoreCollector {
    pub stores: Arc<Mutex<StoreMap>>,
    pub unattributed_webhooks_rejected: Arc<AtomicU64>,
}

type Fmt = Result<(), std::fmt::Error>;

/// A snapshot of the stores (names read once), so no lock is held while encoding.
struct Snapshot {
    stores: Vec<(String, Arc<StoreMetrics>)>,
    now: i64,
}

fn load(value: &AtomicU64) -> u64 {
    value.load(Ordering::Relaxed)
}

/// One counter family, one series per store.
fn counter(
    encoder: &mut DescriptorEncoder,
    snapshot: &Snapshot,
    name: &str,
    help: &str,
    value: impl Fn(&StoreMetrics) -> u64,
) -> Fmt {
    let full = format!("{PREFIX}_{name}");
    let mut family = encoder.encode_descriptor(&full, help, None, MetricType::Counter)?;
    for (store, metrics) in &snapshot.stores {
        let labels = [("store", store.as_str())];
        ConstCounter::new(value(metrics)).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One gauge family, one series per store that has a value.
fn gauge<N: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    snapshot: &Snapshot,
    name: &str,
    help: &str,
    value: impl Fn(&StoreMetrics) -> Option<N>,
) -> Fmt {
    let full = format!("{PREFIX}_{name}");
    let mut family = encoder.encode_descriptor(&full, help, None, MetricType::Gauge)?;
    for (store, metrics) in &snapshot.stores {
        if let Some(value) = value(metrics) {
            let labels = [("store", store.as_str())];
            ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

fn known(value: i64) -> Option<i64> {
    (value != UNKNOWN).then_some(value)
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        let mut stores: Vec<(String, Arc<StoreMetrics>)> = lock(&self.stores)
            .values()
            .map(|store| (store.name(), store.clone()))
            .collect();
        stores.sort_by(|a, b| a.0.cmp(&b.0));
        let snapshot = Snapshot {
            stores,
            now: Utc::now().timestamp(),
        };
        let e = &mut encoder;
        let s = &snapshot;

        gauge(
            e,
            s,
            "store_up",
            "1 while the store's actor runs, 0 while it is down awaiting a restart.",
            |m| Some(i64::from(m.is_up())),
        )?;
        counter(
            e,
            s,
            "store_restarts",
            "Times the store's actor stopped on a fatal error (and was restarted).",
            |m| load(&m.restarts),
        )?;
        gauge(
            e,
            s,
            "store_health",
            "Health state: 0 healthy, 1 warning, 2 critical, -1 inactive.",
            |m| Some(m.health.load(Ordering::Relaxed)),
        )?;
        gauge(
            e,
            s,
            "sync_interval_seconds",
            "The store's sync interval.",
            |m| Some(load(&m.interval_seconds)),
        )?;
        gauge(
            e,
            s,
            "auto_inventory_sync",
            "1 when the store pushes stock on its own (every interval and after changes).",
            |m| Some(i64::from(m.auto_inventory.load(Ordering::Relaxed))),
        )?;
        counter(
            e,
            s,
            "orders_imported",
            "Orders imported from the shop.",
            |m| load(&m.orders_imported),
        )?;
        counter(
            e,
            s,
            "order_conflicts",
            "Conflicts flagged between the shop's and our order state.",
            |m| load(&m.order_conflicts),
        )?;
        counter(
            e,
            s,
            "orders_cancelled_in_shop",
            "Orders cancelled or deleted in the shop.",
            |m| load(&m.orders_cancelled_in_shop),
        )?;
        gauge(
            e,
            s,
            "feed_lag_seconds",
            "Now minus the time the orders change feed is known to be read up to.",
            |m| known(m.feed_position.load(Ordering::Relaxed)).map(|at| (s.now - at).max(0)),
        )?;
        {
            let full = format!("{PREFIX}_order_freshness_seconds");
            let mut family = e.encode_descriptor(
                &full,
                "Time from an order's creation in the shop to its import here.",
                None,
                MetricType::Histogram,
            )?;
            for (store, metrics) in &s.stores {
                let labels = [("store", store.as_str())];
                metrics
                    .order_freshness
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let full = format!("{PREFIX}_last_success_timestamp_seconds");
            let mut family = e.encode_descriptor(
                &full,
                "When a run of the kind last ended without failing (Unix time).",
                None,
                MetricType::Gauge,
            )?;
            for (store, metrics) in &s.stores {
                for (index, kind) in SYNC_KINDS.iter().enumerate() {
                    if let Some(at) = known(metrics.last_success[index].load(Ordering::Relaxed)) {
                        let labels = [("store", store.as_str()), ("kind", kind)];
                        ConstGauge::new(at).encode(family.encode_family(&labels)?)?;
                    }
                }
            }
        }
        {
            let full = format!("{PREFIX}_sync_running");
            let mut family = e.encode_descriptor(
                &full,
                "1 while a run of the kind is in flight.",
                None,
                MetricType::Gauge,
            )?;
            for (store, metrics) in &s.stores {
                for (index, kind) in SYNC_KINDS.iter().enumerate() {
                    let running = i64::from(metrics.running[index].load(Ordering::Relaxed));
                    let labels = [("store", store.as_str()), ("kind", kind)];
                    ConstGauge::new(running).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        {
            let full = format!("{PREFIX}_run_duration_seconds");
            let mut family = e.encode_descriptor(
                &full,
                "Duration of sync runs by kind and outcome.",
                None,
                MetricType::Histogram,
            )?;
            for (store, metrics) in &s.stores {
                for (index, kind) in SYNC_KINDS.iter().enumerate() {
                    for outcome in RunOutcome::ALL {
                        let histogram = &metrics.run_duration[index][outcome.index()];
                        let labels = [
                            ("store", store.as_str()),
                            ("kind", kind),
                            ("outcome", outcome.label()),
                        ];
                        histogram.encode(family.encode_family(&labels)?)?;
                    }
                }
            }
        }
        {
            let full = format!("{PREFIX}_shoptet_requests");
            let mut family = e.encode_descriptor(
                &full,
                "Shoptet API responses by endpoint group and status class (every attempt).",
                None,
                MetricType::Counter,
            )?;
            for (store, metrics) in &s.stores {
                for (group_index, group) in ENDPOINT_GROUPS.iter().enumerate() {
                    for (class_index, class) in STATUS_CLASSES.iter().enumerate() {
                        let value = load(&metrics.requests[group_index][class_index]);
                        if value == 0 {
                            continue;
                        }
                        let labels = [
                            ("store", store.as_str()),
                            ("endpoint", group),
                            ("status_class", class),
                        ];
                        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
                    }
                }
            }
        }
        counter(
            e,
            s,
            "shoptet_rate_limited",
            "429 Too Many Requests responses.",
            |m| load(&m.rate_limited),
        )?;
        counter(e, s, "shoptet_locked", "423 Locked responses.", |m| {
            load(&m.locked)
        })?;
        counter(
            e,
            s,
            "shoptet_retries",
            "Shoptet requests retried (any cause).",
            |m| load(&m.retries),
        )?;
        {
            let full = format!("{PREFIX}_shoptet_throttle_wait_seconds");
            let mut family = e.encode_descriptor(
                &full,
                "Time requests waited in the client-side throttle.",
                None,
                MetricType::Counter,
            )?;
            for (store, metrics) in &s.stores {
                let seconds = load(&metrics.throttle_wait_micros) as f64 / 1_000_000.0;
                let labels = [("store", store.as_str())];
                ConstCounter::new(seconds).encode(family.encode_family(&labels)?)?;
            }
        }
        gauge(
            e,
            s,
            "shoptet_bucket_filling",
            "The shop's rate-limit bucket filling, from the last X-RateLimit-Bucket-Filling header (drops).",
            |m| {
                let value = f64::from_bits(load(&m.bucket_filling));
                (!value.is_nan()).then_some(value)
            },
        )?;
        gauge(
            e,
            s,
            "shoptet_bucket_capacity",
            "The shop's rate-limit bucket capacity, from the same header (drops).",
            |m| {
                let value = f64::from_bits(load(&m.bucket_capacity));
                (!value.is_nan()).then_some(value)
            },
        )?;
        counter(
            e,
            s,
            "shoptet_token_mints",
            "Requests to the addon token mint.",
            |m| load(&m.token_mints),
        )?;
        gauge(
            e,
            s,
            "outbox_depth",
            "Status pushes waiting to be sent (dead letters excluded).",
            |m| Some(load(&m.outbox_depth)),
        )?;
        gauge(
            e,
            s,
            "outbox_dead_letters",
            "Status pushes given up on (need an operator).",
            |m| Some(load(&m.dead_letters)),
        )?;
        gauge(
            e,
            s,
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest status push still pending (0 when none).",
            |m| {
                Some(
                    known(m.oldest_pending.load(Ordering::Relaxed))
                        .map_or(0, |at| (s.now - at).max(0)),
                )
            },
        )?;
        counter(
            e,
            s,
            "stock_rows_pushed",
            "Stock rows the shop accepted.",
            |m| load(&m.stock_rows_pushed),
        )?;
        counter(
            e,
            s,
            "discrepancies_found",
            "Stock discrepancies the read-back found.",
            |m| load(&m.discrepancies_found),
        )?;
        counter(
            e,
            s,
            "webhooks_received",
            "Webhooks received and accepted.",
            |m| load(&m.webhooks_received),
        )?;
        {
            let full = format!("{PREFIX}_webhooks_rejected");
            let mut family = e.encode_descriptor(
                &full,
                "Webhooks refused (bad signature, unknown shop or event, malformed).",
                None,
                MetricType::Counter,
            )?;
            for (store, metrics) in &s.stores {
                let labels = [("store", store.as_str())];
                ConstCounter::new(load(&metrics.webhooks_rejected))
                    .encode(family.encode_family(&labels)?)?;
            }
            let labels = [("store", UNATTRIBUTED_STORE)];
            ConstCounter::new(load(&self.unattributed_webhooks_rejected))
                .encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
