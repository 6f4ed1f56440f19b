//! Shoptet client throughput against the simulator with Shoptet's real limits (3 requests in
//! flight per token, a 200-drop bucket draining 10 drops/s) and 50 ms latency per request:
//! (a) reading 1,000 orders with their details (changes feed, then one detail per order) and
//! (b) pushing 10,000 absolute stock levels (`realStock` rows, 300 per request).
//!
//! Prints request counts, 429s, retries and wall time. Run with `cargo bench --bench shoptet`.
//! Reading details is bucket-bound by design: every request costs at least one drop, so past
//! the first ~150 requests the client's throttle paces it to the drain rate (~10 requests/s).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use shoptet_sync::domain::{Credentials, Secret};
use shoptet_sync::shoptet::{ClientConfig, ClientStats, ShoptetClient, StockUpdateRow};
use shoptet_sync::sim::{FaultConfig, LimitConfig, RequestCounters, SimConfig, Simulator};

const ORDERS: usize = 1_000;
const STOCK_ROWS: usize = 10_000;
const LATENCY_MS: u64 = 50;
/// Concurrent detail readers sharing one client (the client caps in-flight requests at 3).
const READERS: usize = 3;

fn real_limits() -> LimitConfig {
    LimitConfig {
        max_in_flight: 3,
        bucket_capacity: 200,
        bucket_drain_per_sec: 10.0,
        ..LimitConfig::default()
    }
}

fn sim_config(products: usize) -> SimConfig {
    SimConfig {
        seed: 2025,
        products,
        orders: 0,
        stock_range: (5_000, 10_000),
        limits: real_limits(),
        faults: FaultConfig {
            latency_ms: LATENCY_MS,
            ..FaultConfig::default()
        },
        ..SimConfig::default()
    }
}

fn report(title: &str, wall: Duration, stats: ClientStats, sim: &RequestCounters) {
    println!("{title}");
    println!("  wall time            {:>10.2} s", wall.as_secs_f64());
    println!("  requests (client)    {:>10}", stats.requests_sent);
    println!("  requests (simulator) {:>10}", sim.total);
    println!("  429 received         {:>10}", stats.rate_limited);
    println!("  429 sent by sim      {:>10}", sim.with_status(429));
    println!("  retries              {:>10}", stats.retries);
    println!("  throttle pauses      {:>10}", stats.throttle_waits);
    println!(
        "  peak in flight       {:>10} (client) {} (simulator)",
        stats.in_flight_peak, sim.peak_in_flight
    );
    println!(
        "  requests per second  {:>10.1}",
        stats.requests_sent as f64 / wall.as_secs_f64()
    );
}

async fn read_orders_with_details() {
    let sim = Simulator::start(sim_config(200)).await.unwrap();
    let from = sim.now() - chrono::Duration::seconds(1);
    let created = sim.create_random_orders(ORDERS);
    assert_eq!(created.len(), ORDERS, "the seeded stock covers every order");
    sim.reset_counters();
    let client = ShoptetClient::new(
        ClientConfig::with_base_url(sim.base_url()),
        Credentials::PrivateToken(Secret::new(sim.private_token())),
    )
    .unwrap();

    let started = Instant::now();
    let changes = client.all_order_changes(from).await.unwrap();
    assert_eq!(changes.len(), ORDERS);
    let codes: Vec<String> = changes.into_iter().map(|c| c.code).collect();
    let chunks: Vec<Vec<String>> = codes
        .chunks(ORDERS.div_ceil(READERS))
        .map(<[String]>::to_vec)
        .collect();
    let readers: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut items = 0usize;
                for code in chunk {
                    items += client.order_detail(&code).await.unwrap().items.len();
                }
                items
            })
        })
        .collect();
    let mut items = 0;
    for reader in readers {
        items += reader.await.unwrap();
    }
    let wall = started.elapsed();
    report(
        &format!(
            "(a) read {ORDERS} orders with details (changes feed + detail each, {READERS} readers, \
             {items} rows)"
        ),
        wall,
        client.stats(),
        &sim.counters(),
    );
    sim.shutdown().await;
}

async fn push_stock_levels() {
    // ~2.2 stocked variants per product: enough codes for 10,000 rows.
    let sim = Simulator::start(sim_config(4_700)).await.unwrap();
    let codes: Vec<String> = sim.stock_levels().into_keys().take(STOCK_ROWS).collect();
    assert_eq!(codes.len(), STOCK_ROWS, "enough variants for the push");
    sim.reset_counters();
    let client = ShoptetClient::new(
        ClientConfig::with_base_url(sim.base_url()),
        Credentials::PrivateToken(Secret::new(sim.private_token())),
    )
    .unwrap();
    let rows: Vec<StockUpdateRow> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| StockUpdateRow::real_stock(code.clone(), Decimal::from(i % 50)))
        .collect();

    let started = Instant::now();
    let outcome = client.update_stock(1, &rows).await.unwrap();
    let wall = started.elapsed();
    assert_eq!(outcome.applied, STOCK_ROWS);
    assert!(outcome.is_complete());
    for (i, code) in codes.iter().enumerate().step_by(997) {
        assert_eq!(
            sim.stock_level(code).unwrap().real_stock,
            Decimal::from(i % 50)
        );
    }
    report(
        &format!(
            "(b) push {STOCK_ROWS} stock levels (realStock, {} PATCH requests of ≤300 rows)",
            outcome.requests
        ),
        wall,
        client.stats(),
        &sim.counters(),
    );
    sim.shutdown().await;
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "Shoptet client vs simulator: {LATENCY_MS} ms latency, 3 in flight per token, \
         bucket 200 drops draining 10/s"
    );
    runtime.block_on(async {
        push_stock_levels().await;
        read_orders_with_details().await;
    });
}
