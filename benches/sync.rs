//! Sync throughput against the simulator with Shoptet's real limits (3 requests in flight per
//! token, leaky bucket of 200 drops draining 10 per second) and 50 ms latency per request:
//! an inventory push of 10,000 products and an import of 1,000 orders. Prints requests made,
//! 429s received and wall time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::Utc;
use rust_decimal::Decimal;
use shoptet_sync::actors::{Daemon, SyncKind, SyncSettings};
use shoptet_sync::domain::{Credentials, Integration, Product, Secret};
use shoptet_sync::sim::{FaultConfig, LimitConfig, SimConfig, SimHandle, Simulator};
use shoptet_sync::store::{Changeset, Store};

fn real_limits(products: usize, variants: usize) -> SimConfig {
    SimConfig {
        products,
        variants_per_product: variants,
        product_sets: 0,
        orders: 0,
        stock_range: (20, 50),
        limits: LimitConfig::default(),
        faults: FaultConfig {
            latency_ms: 50,
            ..FaultConfig::default()
        },
        ..SimConfig::default()
    }
}

/// Nothing runs on a schedule: the bench starts each sync itself.
fn settings() -> SyncSettings {
    SyncSettings {
        interval_override: Some(Duration::from_secs(24 * 3600)),
        start_delay: Duration::from_secs(24 * 3600),
        initial_import_window: chrono::TimeDelta::days(30),
        sync_timeout: Duration::from_secs(3600),
        ..SyncSettings::default()
    }
}

/// An active integration against `sim`, written straight into the store with `products`.
fn seed_store(store: &Store, sim: &SimHandle, codes: &[String]) -> Integration {
    let now = Utc::now();
    let mut integration = Integration::new("bench", &sim.eshop_url(), now).unwrap();
    integration.set_api_base_url(&sim.base_url(), now).unwrap();
    integration
        .update_credentials(
            Credentials::PrivateToken(Secret::new(sim.private_token())),
            now,
        )
        .unwrap();
    integration.activate(now).unwrap();
    integration.auto_inventory_sync = false;
    let mut changeset = Changeset::new();
    changeset.put_integration(&integration);
    changeset.put_meta(integration.id, "shop.claim_resolving", &vec![-3i64, 1]);
    for code in codes {
        let product = Product::new(
            integration.id,
            code,
            code,
            Decimal::from(100),
            Decimal::ZERO,
            true,
            now,
        )
        .unwrap();
        changeset.put_product(&product);
    }
    store.commit_blocking(changeset).unwrap();
    integration
}

fn report(what: &str, sim: &SimHandle, took: Duration, records: u64) {
    let counters = sim.counters();
    println!(
        "{what}: {records} records, {} requests, {} x 429, wall time {:.1} s",
        counters.total,
        counters.with_status(429),
        took.as_secs_f64()
    );
}

async fn inventory_push() {
    // Products have 1–4 variants: seed enough and sync the first 10,000 codes.
    let sim = Simulator::start(real_limits(4000, 4)).await.unwrap();
    let codes: Vec<String> = sim.stock_levels().keys().take(10_000).cloned().collect();
    assert_eq!(codes.len(), 10_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    store
        .install_sealer_blocking(shoptet_sync::secrets::Sealer::ephemeral())
        .unwrap();
    seed_store(&store, &sim, &codes);
    let daemon = Daemon::start(store, settings());
    let items: Vec<(String, Decimal)> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), Decimal::from(i % 40)))
        .collect();
    daemon.bulk_set_stock("bench", items).await.unwrap();
    sim.reset_counters();
    let started = Instant::now();
    let result = daemon
        .sync("bench", SyncKind::Inventory, true)
        .await
        .unwrap();
    let took = started.elapsed();
    report(
        "inventory push of 10,000 products",
        &sim,
        took,
        result.records,
    );
    assert_eq!(result.records, 10_000, "{result:?}");
    assert_eq!(
        sim.stock_level(&codes[39]).unwrap().real_stock,
        Decimal::from(39)
    );
    daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

async fn order_import() {
    let sim = Simulator::start(real_limits(300, 3)).await.unwrap();
    let placed = sim.create_random_orders(1000);
    assert_eq!(placed.len(), 1000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    store
        .install_sealer_blocking(shoptet_sync::secrets::Sealer::ephemeral())
        .unwrap();
    seed_store(&store, &sim, &[]);
    let daemon = Daemon::start(store, settings());
    sim.reset_counters();
    let started = Instant::now();
    let result = daemon.sync("bench", SyncKind::Orders, true).await.unwrap();
    let took = started.elapsed();
    report("import of 1,000 orders", &sim, took, result.records);
    assert_eq!(result.records, 1000, "{result:?}");
    daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

fn main() {
    // `cargo bench` passes --bench; any other argument filters by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    actix_rt::System::new().block_on(async {
        if wanted("inventory") {
            inventory_push().await;
        }
        if wanted("orders") {
            order_import().await;
        }
    });
}
