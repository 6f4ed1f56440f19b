//! `shoptet-syncd --demo`: the daemon against an in-process simulated shop, so a newcomer sees
//! real syncing within seconds.
//!
//! Under `./shoptet-demo/` it keeps the store (`data/`) and the control socket
//! (`control.sock`); a second run reuses them. The simulated shop has a few thousand products
//! and receives a new order every few seconds; the integration `demo` imports orders every
//! minute (and at once on start) and pushes stock, status and prices back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rust_decimal::Decimal;

use super::daemon::{self, DaemonError, Overrides, ServeSpec};
use super::logging;
use crate::actors::messages::{IntegrationUpdate, NewIntegrationSpec};
use crate::actors::{Daemon, SyncKind, SyncSettings};
use crate::config::{DaemonConfig, LogOutput, LogSettings};
use crate::domain::{Credentials, IntegrationStatus, Secret};
use crate::sim::{LimitConfig, OrderStream, SimConfig, SimHandle, Simulator};

/// The folder the demo keeps its state in, relative to the current directory.
pub const DEMO_DIR: &str = "shoptet-demo";
/// The demo integration's name.
pub const DEMO_INTEGRATION: &str = "demo";
/// The warehouse the demo shop sells from.
pub const DEMO_WAREHOUSE: &str = "DEMO";
/// Products in the simulated shop (most with variants).
pub const DEMO_PRODUCTS: usize = 2000;
/// New orders per second in the simulated shop (one every 2.5 s).
pub const DEMO_ORDER_RATE: f64 = 0.4;

/// Where the demo keeps things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoPaths {
    /// `./shoptet-demo`, absolute.
    pub base: PathBuf,
    /// The store.
    pub data_dir: PathBuf,
    /// The control socket.
    pub socket: PathBuf,
}

impl DemoPaths {
    /// The layout under `base`.
    pub fn under(base: &Path) -> Result<Self, DaemonError> {
        let base = daemon::absolute(base)?;
        Ok(Self {
            data_dir: base.join("data"),
            socket: daemon::socket_override(&base.join("control.sock"))?,
            base,
        })
    }
}

/// The demo's configuration: defaults with the demo's paths, readable logs on stderr at info.
pub fn demo_config(paths: &DemoPaths) -> DaemonConfig {
    let mut config = DaemonConfig::default();
    Overrides {
        data_dir: Some(paths.data_dir.clone()),
        socket_path: Some(paths.socket.clone()),
    }
    .apply(&mut config);
    config.log = LogSettings {
        output: LogOutput::Stderr,
        level: "info".to_owned(),
    };
    config.shutdown_timeout = Duration::from_secs(10);
    // Beside the store, not in it (a copy of the data directory must not carry the key).
    config.secrets.key_file = paths.base.join("secrets.key");
    // Webhooks on loopback, so orders placed in the demo shop arrive within seconds.
    config.webhooks = Some(crate::config::WebhookSettings {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        public_url: "http://127.0.0.1:0/shoptet".to_owned(),
    });
    config
}

/// The simulated shop: a few thousand products, some open orders, generous API limits (the
/// point is to watch syncing, not throttling).
pub fn demo_shop() -> SimConfig {
    SimConfig {
        products: DEMO_PRODUCTS,
        variants_per_product: 2,
        // No product sets: the shop computes their stock, and the demo should show a clean run.
        product_sets: 0,
        orders: 40,
        stock_range: (5, 60),
        limits: LimitConfig {
            bucket_capacity: 5000,
            bucket_drain_per_sec: 500.0,
            ..LimitConfig::default()
        },
        ..SimConfig::default()
    }
}

/// Runs the demo until Ctrl-C: state under `base` (normally `./shoptet-demo`).
pub fn run(base: &Path) -> Result<(), DaemonError> {
    let paths = DemoPaths::under(base)?;
    std::fs::create_dir_all(&paths.base).map_err(|e| DaemonError::DataDir {
        path: paths.base.clone(),
        reason: format!("cannot create it: {e}"),
    })?;
    let config = demo_config(&paths);
    let log = logging::init(&config.log)
        .map_err(|e| DaemonError::Runtime(format!("cannot set up logging: {e}")))?;
    let settings = SyncSettings {
        start_delay: Duration::from_secs(2),
        ..daemon::sync_settings(&config)
    };
    let spec = ServeSpec {
        config_path: None,
        overrides: Overrides::default(),
        config,
        log,
        settings,
    };
    daemon::run_system(spec, move |daemon| start_shop(daemon, paths))
}

/// Kept until the daemon stops: the shop and its order stream.
struct DemoShop {
    _sim: SimHandle,
    stream: OrderStream,
}

impl Drop for DemoShop {
    fn drop(&mut self) {
        self.stream.stop();
    }
}

async fn start_shop(daemon: Daemon, paths: DemoPaths) -> Result<DemoShop, DaemonError> {
    tracing::info!(products = DEMO_PRODUCTS, "starting the simulated shop");
    let sim = Simulator::start(demo_shop())
        .await
        .map_err(|e| DaemonError::Runtime(format!("cannot start the simulated shop: {e}")))?;
    let fail = |what: &str, err: crate::actors::ActorError| {
        DaemonError::Runtime(format!("demo: cannot {what}: {err}"))
    };
    let credentials = Credentials::PrivateToken(Secret::new(sim.private_token()));
    let existing = daemon
        .list_integrations()
        .await
        .map_err(|e| fail("list integrations", e))?
        .into_iter()
        .find(|i| i.name == DEMO_INTEGRATION);
    let status = match existing {
        None => {
            let spec = NewIntegrationSpec {
                name: DEMO_INTEGRATION.to_owned(),
                eshop_url: sim.eshop_url(),
                api_base_url: Some(sim.base_url()),
                credentials: Some(credentials),
                settings: IntegrationUpdate {
                    default_warehouse_code: Some(DEMO_WAREHOUSE.to_owned()),
                    sync_interval_minutes: Some(1),
                    low_stock_threshold: Some(Decimal::from(5)),
                    ..IntegrationUpdate::default()
                },
            };
            let created = daemon
                .create_integration(spec)
                .await
                .map_err(|e| fail("create the demo integration", e))?;
            // The warehouse starts with what the shop shows, so the first push changes nothing.
            let items: Vec<(String, Decimal)> = sim
                .stock_levels()
                .into_iter()
                .map(|(code, level)| (code, level.real_stock))
                .collect();
            let count = items.len();
            daemon
                .bulk_set_stock(DEMO_INTEGRATION, items)
                .await
                .map_err(|e| fail("stock the demo warehouse", e))?;
            tracing::info!(
                codes = count,
                warehouse = DEMO_WAREHOUSE,
                "demo warehouse stocked"
            );
            created.status
        }
        Some(current) => {
            // A new run's shop listens on a new port.
            let update = IntegrationUpdate {
                eshop_url: Some(sim.eshop_url()),
                api_base_url: Some(sim.base_url()),
                ..IntegrationUpdate::default()
            };
            daemon
                .update_integration(DEMO_INTEGRATION, update)
                .await
                .map_err(|e| fail("point the demo integration at the new shop", e))?;
            if current.credentials.as_ref() != Some(&credentials) {
                daemon
                    .set_credentials(DEMO_INTEGRATION, credentials)
                    .await
                    .map_err(|e| fail("update the demo token", e))?;
            }
            tracing::info!("reusing the demo integration from the previous run");
            current.status
        }
    };
    if status != IntegrationStatus::Active {
        daemon
            .activate(DEMO_INTEGRATION)
            .await
            .map_err(|e| fail("activate the demo integration", e))?;
    }
    // Orders first, so they show up within seconds; then everything else.
    let syncing = daemon.clone();
    actix_rt::spawn(async move {
        match syncing.sync(DEMO_INTEGRATION, SyncKind::Orders, true).await {
            Ok(report) => tracing::info!(records = report.records, "demo: first orders sync done"),
            Err(err) => tracing::warn!(error = %err, "demo: first orders sync failed"),
        }
        match syncing.full_sync(DEMO_INTEGRATION, true).await {
            Ok(reports) => tracing::info!(syncs = reports.len(), "demo: full sync done"),
            Err(err) => tracing::warn!(error = %err, "demo: full sync failed"),
        }
    });
    let stream = sim.start_order_stream(DEMO_ORDER_RATE, Duration::from_secs(7 * 24 * 3600));
    println!("{}", banner(&paths, &sim));
    Ok(DemoShop { _sim: sim, stream })
}

/// What to try, printed once the demo runs.
fn banner(paths: &DemoPaths, sim: &SimHandle) -> String {
    let socket = paths.socket.display();
    let ctl = format!("shoptetctl --socket {socket}");
    let mut text = String::new();
    let mut line = |l: String| {
        text.push_str(&l);
        text.push('\n');
    };
    line(String::new());
    line("shoptet-syncd demo is running (Ctrl-C stops it).".to_owned());
    line(format!("  state:          {}", paths.base.display()));
    line(format!("  control socket: {socket}"));
    line(format!(
        "  simulated shop: {} ({DEMO_PRODUCTS} products, a new order every {:.1} s)",
        sim.base_url(),
        1.0 / DEMO_ORDER_RATE
    ));
    line(String::new());
    line(
        "Try, in another terminal (from a checkout: `cargo run --release --bin shoptetctl -- ...`):"
            .to_owned(),
    );
    for command in [
        "status",
        "orders list demo",
        "order get demo CODE",
        "order process demo CODE",
        "order ship demo CODE --tracking DR1234567890E",
        "products list demo --low-stock",
        "stock set demo PRODUCT-CODE 42",
        "health demo",
        "sync history demo",
        "sync orders demo --force",
        "errors demo",
    ] {
        line(format!("  {ctl} {command}"));
    }
    line(format!(
        "  {ctl} backup {}",
        paths.base.join("demo.backup").display()
    ));
    line(String::new());
    line(format!(
        "(or `export SHOPTET_SYNC_SOCKET={socket}` and leave out --socket)"
    ));
    text
}
