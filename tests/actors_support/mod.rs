//! Shared set-up of the actor tests: a simulator on loopback, a daemon on a temp store, fast
//! timings, and a deadline-bounded wait.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use shoptet_sync::actors::messages::{IntegrationUpdate, NewIntegrationSpec};
use shoptet_sync::actors::{Daemon, SyncSettings};
use shoptet_sync::domain::{Credentials, Integration, Secret};
use shoptet_sync::shoptet::{ClientConfig, RetryPolicy, ThrottleConfig};
use shoptet_sync::sim::{LimitConfig, SimConfig, SimHandle, Simulator};
use shoptet_sync::store::Store;

/// Polls `check` until it returns `Some`, or panics with `what` after `deadline`.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Client settings that fail fast (tests simulate outages in seconds, not minutes).
pub fn fast_client() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_attempts: 2,
            max_rate_limited_attempts: 20,
            base_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            locked_wait: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(2),
        },
        throttle: ThrottleConfig {
            max_delay: Duration::from_secs(2),
            ..ThrottleConfig::default()
        },
        ..ClientConfig::default()
    }
}

/// Millisecond timings: interval 400 ms, debounce 150 ms, small backoffs.
pub fn fast_settings() -> SyncSettings {
    SyncSettings {
        stock_debounce: Duration::from_millis(150),
        price_debounce: Duration::from_millis(150),
        interval_override: Some(Duration::from_millis(400)),
        start_delay: Duration::from_millis(10),
        failure_backoff_base: Duration::from_millis(100),
        failure_backoff_max: Duration::from_millis(800),
        discrepancy_every: 3,
        products_every: 5,
        outbox_retry_base: Duration::from_millis(100),
        outbox_retry_max: Duration::from_millis(500),
        restart_backoff_base: Duration::from_millis(50),
        restart_backoff_max: Duration::from_millis(500),
        request_timeout: Duration::from_secs(20),
        shutdown_timeout: Duration::from_secs(10),
        client: fast_client(),
        ..SyncSettings::default()
    }
}

/// A small shop: 4 products × 2 variants, no sets, no historical orders, limits scaled up.
pub fn small_shop() -> SimConfig {
    SimConfig {
        products: 4,
        variants_per_product: 2,
        product_sets: 0,
        orders: 0,
        stock_range: (0, 50),
        limits: LimitConfig {
            max_in_flight: 3,
            bucket_capacity: 5000,
            bucket_drain_per_sec: 1000.0,
            ..LimitConfig::default()
        },
        ..SimConfig::default()
    }
}

pub async fn start_sim(config: SimConfig) -> SimHandle {
    Simulator::start(config).await.expect("simulator starts")
}

/// A test environment: a store in a temp dir and a running daemon.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub daemon: Daemon,
}

impl Env {
    /// Must run inside an actix system (`#[actix_rt::test]`).
    pub fn start(settings: SyncSettings) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db")).unwrap();
        store
            .install_sealer_blocking(shoptet_sync::secrets::Sealer::ephemeral())
            .unwrap();
        let daemon = Daemon::start(store.clone(), settings);
        Env { dir, store, daemon }
    }

    /// Creates and activates a store selling from `warehouse` against `sim`.
    pub async fn add_shop(&self, name: &str, sim: &SimHandle, warehouse: &str) -> Integration {
        add_shop(&self.daemon, name, sim, warehouse).await
    }
}

pub async fn add_shop(
    daemon: &Daemon,
    name: &str,
    sim: &SimHandle,
    warehouse: &str,
) -> Integration {
    let spec = NewIntegrationSpec {
        name: name.to_owned(),
        eshop_url: sim.eshop_url(),
        api_base_url: Some(sim.base_url()),
        credentials: Some(Credentials::PrivateToken(Secret::new(sim.private_token()))),
        settings: IntegrationUpdate {
            default_warehouse_code: Some(warehouse.to_owned()),
            ..IntegrationUpdate::default()
        },
    };
    daemon
        .create_integration(spec)
        .await
        .expect("integration created");
    daemon.activate(name).await.expect("integration activates")
}

/// Sets the warehouse on-hand of every non-set variant of the shop to `quantity`.
pub async fn stock_all(daemon: &Daemon, name: &str, sim: &SimHandle, quantity: i64) -> Vec<String> {
    let codes: Vec<String> = sim.stock_levels().keys().cloned().collect();
    let items = codes
        .iter()
        .map(|c| (c.clone(), Decimal::from(quantity)))
        .collect();
    daemon.bulk_set_stock(name, items).await.unwrap();
    codes
}

/// Waits until the daemon knows the shop's products (the first catalogue pull).
pub async fn wait_products(daemon: &Daemon, name: &str, count: usize) {
    wait_for(
        "the product catalogue pull",
        Duration::from_secs(20),
        || async {
            let page = daemon.list_products(name, Default::default()).await.ok()?;
            (page.total as usize >= count).then_some(())
        },
    )
    .await
}

/// Waits until the shop's physical stock of `code` is `expected`.
pub async fn wait_real_stock(sim: &SimHandle, code: &str, expected: i64, deadline: Duration) {
    let expected = Decimal::from(expected);
    wait_for(
        &format!("shop realStock of {code} to become {expected}"),
        deadline,
        || async { (sim.stock_level(code)?.real_stock == expected).then_some(()) },
    )
    .await
}
