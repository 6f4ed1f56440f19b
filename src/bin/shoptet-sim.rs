//! shoptet-sim: a local Shoptet API simulator; prints its base URL and tokens, runs until Ctrl-C.
//!
//! Usage (loopback only; port 0 picks a free port):
//! - `shoptet-sim --listen 127.0.0.1:8765 --products 200 --orders 1000` — a seeded shop; prints
//!   `base_url=…`, `private_token=…` (send as `Shoptet-Private-Api-Token`) and `oauth_token=…`
//!   (mint API tokens at `GET {base_url}/action/ApiOAuthServer/getAccessToken`).
//! - `--latency-ms 50 --jitter-ms 20` adds delay; `--fault 500=0.05 --fault 429=0.02
//!   --fault reset=0.01 --fault hang=0.01 --hang-ms 30000 --fault truncate=0.01` injects faults.
//! - `--max-in-flight 3 --bucket-capacity 200 --bucket-drain 10` are Shoptet's real limits (the
//!   defaults); `--token-ttl-secs 60` shortens API token lifetime; `--allow-oversell`.
//! - The test-control API (orders, stock, prices, counters, faults) lives under `{base_url}/_sim/`.
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use shoptet_sync::sim::{FaultConfig, LimitConfig, SimConfig, Simulator};

/// A faithful local Shoptet API simulator (loopback only).
#[derive(Parser, Debug)]
#[command(
    version,
    about = "A faithful local Shoptet API simulator (loopback only)"
)]
struct Args {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Number of products.
    #[arg(long, default_value_t = 50)]
    products: usize,
    /// Variants per multi-variant product.
    #[arg(long, default_value_t = 3)]
    variants: usize,
    /// Number of historical orders.
    #[arg(long, default_value_t = 100)]
    orders: usize,
    /// Seed of all generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Fixed latency per request in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Random extra latency up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Fault injection, repeatable: STATUS=RATE (e.g. 500=0.05, 503=0.01, 429=0.02) or
    /// reset=RATE, hang=RATE, truncate=RATE, garbage=RATE, or apply-reset=RATE and
    /// apply-hang=RATE (the request is applied, then its response is lost).
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Hang duration for hang faults, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    hang_ms: u64,
    /// API access token lifetime in seconds.
    #[arg(long, default_value_t = 1800)]
    token_ttl_secs: u64,
    /// Leaky bucket capacity (drops).
    #[arg(long, default_value_t = 200)]
    bucket_capacity: u32,
    /// Leaky bucket drain rate (drops per second).
    #[arg(long, default_value_t = 10.0)]
    bucket_drain: f64,
    /// Maximum requests in flight per token.
    #[arg(long, default_value_t = 3)]
    max_in_flight: u32,
    /// Accept orders beyond available stock.
    #[arg(long)]
    allow_oversell: bool,
    /// Refuse requests without a JSON Content-Type (415), as the API reference requires.
    #[arg(long)]
    strict_content_type: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if !args.listen.ip().is_loopback() {
        bail!("--listen must be a loopback address, got {}", args.listen);
    }
    let mut faults = FaultConfig {
        latency_ms: args.latency_ms,
        jitter_ms: args.jitter_ms,
        hang_ms: args.hang_ms,
        ..FaultConfig::default()
    };
    for spec in &args.faults {
        faults
            .apply_spec(spec)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("bad --fault {spec}"))?;
    }
    let config = SimConfig {
        seed: args.seed,
        products: args.products,
        variants_per_product: args.variants,
        orders: args.orders,
        listen: args.listen,
        allow_oversell: args.allow_oversell,
        strict_content_type: args.strict_content_type,
        token_ttl: Duration::from_secs(args.token_ttl_secs),
        limits: LimitConfig {
            max_in_flight: args.max_in_flight,
            bucket_capacity: args.bucket_capacity,
            bucket_drain_per_sec: args.bucket_drain,
            ..LimitConfig::default()
        },
        faults,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config)
        .await
        .context("cannot start the simulator")?;
    // Printing the tokens is the point of this tool: it is a local test shop.
    println!("base_url={}", sim.base_url());
    println!("private_token={}", sim.private_token());
    println!("oauth_token={}", sim.oauth_token());
    println!("control=${{base_url}}/_sim/");
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}
