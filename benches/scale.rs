//! Scale figures of issue 11, each printed next to its goal: memory and start-up with many
//! stored orders, CPU per imported order at 0 / 10k / 50k / 100k held orders, `orders.list`
//! latency, detail reads per order change, stock freshness and the 10k stock push.
//!
//! Everything runs in one process against the in-process simulator, so CPU and RSS figures
//! include the simulator's share (its HTTP server, JSON); what matters for "flat" is how the
//! figure moves with the number of held orders. The store sizes are scaled down from the goals
//! (one store, up to 100k orders) so the bench runs in a few minutes; every extrapolation is
//! printed as such. Run: `cargo bench --bench scale` (an argument filters sections by name:
//! `held`, `rereads`, `freshness`, `push`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use rust_decimal::Decimal;
use shoptet_sync::actors::messages::OrderListQuery;
use shoptet_sync::actors::{Daemon, SyncKind, SyncSettings};
use shoptet_sync::domain::{
    Credentials, IncomingOrder, Integration, IntegrationId, ItemType, Money, Order, OrderItem,
    OrderStatus, Product, Secret,
};
use shoptet_sync::sim::{
    FaultConfig, LimitConfig, OrderEditSpec, STATUS_PROCESSING, SimConfig, SimHandle, Simulator,
};
use shoptet_sync::store::{Changeset, Store};

/// Resident set size of this process, MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the stat line (index 11 and 12 after the name).
    let total = ticks(11) + ticks(12);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(total * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "meets goal" } else { "MISSES goal" }
}

fn fast_sim(products: usize, variants: usize) -> SimConfig {
    SimConfig {
        products,
        variants_per_product: variants,
        product_sets: 0,
        orders: 0,
        stock_range: (20, 50),
        allow_oversell: true,
        start_time: Some(Utc::now() - TimeDelta::hours(2)),
        limits: LimitConfig {
            max_in_flight: 3,
            bucket_capacity: 100_000,
            bucket_drain_per_sec: 100_000.0,
            ..LimitConfig::default()
        },
        ..SimConfig::default()
    }
}

fn real_sim(products: usize, variants: usize) -> SimConfig {
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

/// Nothing runs on a schedule: the bench starts each sync itself (stock changes still push).
fn settings() -> SyncSettings {
    SyncSettings {
        interval_override: Some(Duration::from_secs(24 * 3600)),
        start_delay: Duration::from_secs(24 * 3600),
        initial_import_window: TimeDelta::days(30),
        sync_timeout: Duration::from_secs(3600),
        ..SyncSettings::default()
    }
}

/// An active integration against `sim`, written straight into the store with `codes` as
/// products.
fn seed_integration(store: &Store, sim: &SimHandle, codes: &[String], push: bool) -> Integration {
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
    integration.auto_inventory_sync = push;
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

/// A stored order as an import would have made it: two goods rows.
fn stored_order(id: IntegrationId, n: usize, codes: &[String], open: bool) -> Order {
    let now = Utc::now();
    let row = |code: &String| OrderItem {
        item_type: ItemType::Product,
        product_code: Some(code.clone()),
        name: format!("Product {code}"),
        variant_name: None,
        quantity: Decimal::ONE,
        unit_price: Decimal::from(100),
        total_price: Decimal::from(100),
    };
    let incoming = IncomingOrder {
        code: format!("H{n:07}"),
        guid: Some(format!("guid-{n}")),
        created_at: Some(now - TimeDelta::days(20)),
        changed_at: Some(now - TimeDelta::days(20)),
        shop_status_id: Some(-1),
        total: Money::new(Decimal::from(200), "CZK"),
        customer_email: Some(format!("customer{n}@example.com")),
        customer_name: Some(format!("Customer {n}")),
        shipping_address: None,
        items: vec![
            row(&codes[n % codes.len()]),
            row(&codes[(n * 7) % codes.len()]),
        ],
    };
    let mut order = Order::from_incoming(&incoming, id, now - TimeDelta::days(20));
    if !open {
        order.status = OrderStatus::Shipped;
        order.shipped_at = Some(now - TimeDelta::days(19));
    }
    order
}

/// Writes `count` orders (5 % open) in commits of 5,000.
fn seed_orders(store: &Store, id: IntegrationId, codes: &[String], count: usize) {
    let mut n = 0;
    while n < count {
        let mut changeset = Changeset::new();
        for i in n..(n + 5000).min(count) {
            changeset.put_order(&stored_order(id, i, codes, i % 20 == 0));
        }
        store.commit_blocking(changeset).unwrap();
        n += 5000;
    }
}

/// Waits until the store's actor answers a query; returns how long that took.
async fn until_ready(daemon: &Daemon) -> Duration {
    let started = Instant::now();
    loop {
        let query = OrderListQuery {
            page_size: 1,
            ..OrderListQuery::default()
        };
        if daemon.list_orders("bench", query).await.is_ok() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "store never ready"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One level of held orders: start-up, idle RSS, `orders.list` latency, CPU per import.
struct Level {
    held: usize,
    startup: Duration,
    rss_mib: f64,
    list_p50: Duration,
    list_p99: Duration,
    cpu_per_order: Duration,
    imported: u64,
}

async fn held_level(held: usize, imports: usize) -> Level {
    let sim = Simulator::start(fast_sim(200, 2)).await.unwrap();
    let codes: Vec<String> = sim.stock_levels().keys().cloned().collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    let integration = seed_integration(&store, &sim, &codes, false);
    seed_orders(&store, integration.id, &codes, held);
    drop(store);
    let store = Store::open(dir.path().join("db")).unwrap();

    let started = Instant::now();
    let daemon = Daemon::start(store, settings());
    until_ready(&daemon).await;
    let startup = started.elapsed();
    let rss = rss_mib();

    let mut samples = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        daemon
            .list_orders("bench", OrderListQuery::default())
            .await
            .unwrap();
        samples.push(started.elapsed());
    }
    samples.sort();

    sim.create_random_orders(imports);
    let cpu_before = cpu_time();
    let report = daemon.sync("bench", SyncKind::Orders, true).await.unwrap();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let imported = report.records.max(1);
    daemon.shutdown().await.unwrap();
    sim.shutdown().await;
    Level {
        held,
        startup,
        rss_mib: rss,
        list_p50: percentile(&samples, 50.0),
        list_p99: percentile(&samples, 99.0),
        cpu_per_order: cpu / u32::try_from(imported).unwrap_or(u32::MAX),
        imported: report.records,
    }
}

async fn held_orders() {
    println!("== held orders: start-up, idle RSS, orders.list, CPU per imported order");
    let imports = 1000;
    let mut levels = Vec::new();
    for held in [0, 10_000, 50_000, 100_000] {
        let level = held_level(held, imports).await;
        println!(
            "held {:>6}: start-up to ready {:>7.1} ms | RSS {:>6.1} MiB | orders.list p50 {:>6.2} ms, p99 {:>6.2} ms | CPU per imported order {:>5} µs ({} imported; process CPU incl. the simulator)",
            level.held,
            ms(level.startup),
            level.rss_mib,
            ms(level.list_p50),
            ms(level.list_p99),
            level.cpu_per_order.as_micros(),
            level.imported,
        );
        levels.push(level);
    }
    let first = &levels[0];
    let last = &levels[levels.len() - 1];
    let per_order_kib =
        (last.rss_mib - first.rss_mib) * 1024.0 / (last.held - first.held).max(1) as f64;
    println!(
        "CPU per imported order: {} µs at 0 held, {} µs at 100k held (goal ≤ 100 µs, flat): {}",
        first.cpu_per_order.as_micros(),
        last.cpu_per_order.as_micros(),
        verdict(last.cpu_per_order <= Duration::from_micros(100))
    );
    println!(
        "orders.list at 100k held: p50 {:.2} ms, p99 {:.2} ms (goal p99 ≤ 2 ms): {}",
        ms(last.list_p50),
        ms(last.list_p99),
        verdict(last.list_p99 <= Duration::from_millis(2))
    );
    let rss_goal_case = first.rss_mib + per_order_kib * 1_000_000.0 / 1024.0;
    println!(
        "RSS per stored order ≈ {:.2} KiB (0 → 100k, 5 % open; includes sled's cache): 10 stores × 100k orders extrapolates to ≈ {:.0} MiB (goal ≤ 150 MiB): {}",
        per_order_kib,
        rss_goal_case,
        verdict(rss_goal_case <= 150.0)
    );
    let per_order_start = (last.startup.saturating_sub(first.startup)).as_secs_f64()
        / (last.held - first.held).max(1) as f64;
    let million = first.startup.as_secs_f64() + per_order_start * 1_000_000.0;
    println!(
        "start-up: {:.0} ms at 100k orders, extrapolated to 1M orders ≈ {:.1} s (goal ≤ 1 s): {}",
        ms(last.startup),
        million,
        verdict(million <= 1.0)
    );
}

/// Ten minutes of a 10-second poll (60 runs, the shop's clock moved 10 s before each): new
/// orders, admin edits and status changes; counts detail reads per order change.
async fn rereads() {
    println!("== detail reads per order change (10 min at a 10 s poll, simulated clock)");
    let sim = Simulator::start(fast_sim(50, 2)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    seed_integration(&store, &sim, &[], false);
    let daemon = Daemon::start(store, settings());
    until_ready(&daemon).await;
    let mut placed: Vec<String> = Vec::new();
    let mut changes = 0u64;
    sim.reset_counters();
    for run in 0..60usize {
        sim.advance_clock(Duration::from_secs(10));
        placed.extend(sim.create_random_orders(3));
        changes += 3;
        if placed.len() > 10 {
            let edited = &placed[(run * 7) % placed.len()];
            let edit = OrderEditSpec {
                email: Some(format!("run{run}@example.com")),
                ..OrderEditSpec::default()
            };
            if sim.edit_order(edited, &edit).is_ok() {
                changes += 1;
            }
            let moved = &placed[(run * 11 + 3) % placed.len()];
            if moved != edited && sim.set_order_status(moved, STATUS_PROCESSING).is_ok() {
                changes += 1;
            }
        }
        daemon.sync("bench", SyncKind::Orders, true).await.unwrap();
    }
    let reads = sim.counters().requests("GET /api/orders/{code}");
    let ratio = reads as f64 / changes.max(1) as f64;
    println!(
        "{reads} detail reads for {changes} order changes over 60 runs: {ratio:.3} per change (goal ≤ 1.05): {}",
        verdict(ratio <= 1.05)
    );
    daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// Isolated stock changes (a quiet period before each), sim latency 50 ms: time from
/// `stock set` until the shop shows the figure.
async fn freshness() {
    println!("== stock freshness (isolated changes, sim latency 50 ms, real limits)");
    let sim = Simulator::start(real_sim(20, 2)).await.unwrap();
    let codes: Vec<String> = sim.stock_levels().keys().cloned().collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    seed_integration(&store, &sim, &codes, true);
    let settings = settings();
    let quiet = settings.stock_debounce + Duration::from_millis(200);
    let daemon = Daemon::start(store, settings);
    until_ready(&daemon).await;
    let mut samples = Vec::new();
    for i in 0..12u32 {
        tokio::time::sleep(quiet).await;
        let code = &codes[i as usize % codes.len()];
        let figure = Decimal::from(100 + i);
        let started = Instant::now();
        daemon.set_stock("bench", code, figure).await.unwrap();
        loop {
            if sim
                .stock_level(code)
                .is_some_and(|l| l.real_stock == figure)
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "never pushed");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        samples.push(started.elapsed());
    }
    samples.sort();
    let p95 = percentile(&samples, 95.0);
    println!(
        "stock set → shop shows it: p50 {:.0} ms, p95 {:.0} ms over {} changes (goal p95 ≤ 300 ms): {}",
        ms(percentile(&samples, 50.0)),
        ms(p95),
        samples.len(),
        verdict(p95 <= Duration::from_millis(300))
    );
    daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// 10,000 stock levels pushed with the real limits: requests and 429s.
async fn push_10k() {
    println!("== 10k stock push (real limits, sim latency 50 ms)");
    let sim = Simulator::start(real_sim(4000, 4)).await.unwrap();
    let codes: Vec<String> = sim.stock_levels().keys().take(10_000).cloned().collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    seed_integration(&store, &sim, &codes, false);
    let daemon = Daemon::start(store, settings());
    let items: Vec<(String, Decimal)> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), Decimal::from(i % 40)))
        .collect();
    daemon.bulk_set_stock("bench", items).await.unwrap();
    sim.reset_counters();
    let started = Instant::now();
    let report = daemon
        .sync("bench", SyncKind::Inventory, true)
        .await
        .unwrap();
    let took = started.elapsed();
    let counters = sim.counters();
    println!(
        "{} levels pushed: {} requests, {} x 429, {:.2} s (goal: 34 requests, the floor ceil(10000/300)): {}",
        report.records,
        counters.total,
        counters.with_status(429),
        took.as_secs_f64(),
        verdict(counters.total <= 34)
    );
    daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

fn main() {
    // `cargo bench` passes --bench; any other argument filters by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    actix_rt::System::new().block_on(async {
        if wanted("held") {
            held_orders().await;
        }
        if wanted("rereads") {
            rereads().await;
        }
        if wanted("freshness") {
            freshness().await;
        }
        if wanted("push") {
            push_10k().await;
        }
    });
}
