//! A faithful in-memory Shoptet API simulator served over HTTP on loopback.
//!
//! [`Simulator::start`] seeds a shop from a [`SimConfig`], binds (by default) `127.0.0.1:0` and
//! returns a [`SimHandle`] with the base URL, the tokens and direct test controls that mirror the
//! HTTP control API under `/_sim/` (which is ours, not Shoptet's). Layout:
//! - [`state`]: the shop model (pure); [`seed`]: deterministic Czech data;
//! - [`wire`]: JSON emission in Shoptet's formats; [`http`]: the Shoptet routes;
//! - [`limits`], [`faults`], [`auth`], [`net`]: limits, fault injection, tokens, killable sockets;
//! - [`control`]: the `/_sim/` routes and their request/response types;
//! - [`webhooks`], [`jobs`]: webhook registration and signed deliveries, snapshot jobs.

pub mod auth;
pub mod control;
pub mod faults;
pub mod http;
pub mod jobs;
pub mod limits;
pub mod net;
pub mod seed;
pub mod state;
pub mod webhooks;
pub mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rust_decimal::Decimal;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use control::{
    ItemSpec, OrderEditSpec, OrderSpec, OrderStream, OrderView, PriceView, StockLevelView,
};
pub use faults::FaultConfig;
pub use jobs::{JobConfig, JobOutcome, JobView};
pub use limits::LimitConfig;
pub use state::{Address, STATUS_CANCELLED, STATUS_COMPLETED, STATUS_NEW, STATUS_PROCESSING};
pub use webhooks::{NotificationView, WebhookDelivery, WebhookStats, WebhookView};
pub use wire::SuppliesAmount;

/// The simulator could not start or a control call was refused.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding the listen address failed.
    #[error("cannot bind the simulator to {addr}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Only loopback addresses are allowed.
    #[error("the simulator only listens on loopback addresses, not {0}")]
    NotLoopback(SocketAddr),
    /// The shop refused the operation.
    #[error(transparent)]
    Shop(#[from] state::ShopError),
    /// A configuration value is out of range.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
}

/// Everything the simulator can be configured with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of all generated data, tokens and fault decisions.
    pub seed: u64,
    /// Ordinary products.
    pub products: usize,
    /// Variants of multi-variant products.
    pub variants_per_product: usize,
    /// Product sets on top of `products`.
    pub product_sets: usize,
    /// Historical orders.
    pub orders: usize,
    /// Inclusive range of initial physical stock per variant.
    pub stock_range: (u32, u32),
    /// Accept orders beyond available stock (counted as oversold).
    pub allow_oversell: bool,
    /// Listen address (loopback only); port 0 picks a free port.
    pub listen: SocketAddr,
    /// Shop id.
    pub eshop_id: i64,
    /// Lifetime of minted API access tokens.
    pub token_ttl: Duration,
    /// Live access tokens allowed per OAuth token.
    pub max_live_tokens: usize,
    /// In-flight and bucket limits.
    pub limits: LimitConfig,
    /// Faults from the start.
    pub faults: FaultConfig,
    /// What supplies `amount` reports.
    pub supplies_amount: SuppliesAmount,
    /// Simulated clock at start (defaults to the real time).
    pub start_time: Option<DateTime<Utc>>,
    /// Fixed private token instead of a seeded one.
    pub private_token: Option<String>,
    /// Fixed OAuth token instead of a seeded one.
    pub oauth_token: Option<String>,
    /// Refuse API requests whose `Content-Type` is not `application/json` or
    /// `application/vnd.shoptet.v1.0` (GET included) with 415, as the reference requires the
    /// header; off by default because real shops are lenient in practice.
    pub strict_content_type: bool,
    /// How webhook deliveries behave (delay, loss, retries).
    pub webhooks: WebhookDelivery,
    /// How snapshot jobs behave (run time, outcome, result lifetime).
    pub jobs: JobConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            products: 50,
            variants_per_product: 3,
            product_sets: 1,
            orders: 100,
            stock_range: (0, 50),
            allow_oversell: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            eshop_id: 470123,
            token_ttl: Duration::from_secs(1800),
            max_live_tokens: 5,
            limits: LimitConfig::default(),
            faults: FaultConfig::default(),
            supplies_amount: SuppliesAmount::default(),
            start_time: None,
            private_token: None,
            oauth_token: None,
            strict_content_type: false,
            webhooks: WebhookDelivery::default(),
            jobs: JobConfig::default(),
        }
    }
}

/// Request counters per endpoint (`"GET /api/orders/{code}"`) and status (`"200"`, `"reset"`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounters {
    /// All requests to Shoptet routes.
    pub total: u64,
    /// Per endpoint.
    pub endpoints: BTreeMap<String, EndpointCounters>,
    /// Highest simultaneous in-flight requests of one token.
    pub peak_in_flight: u32,
    /// Status changes that would have sent an e-mail (not suppressed).
    pub emails_sent: u64,
    /// Status changes that would have sent an SMS.
    pub sms_sent: u64,
    /// Status changes that would have generated documents.
    pub documents_generated: u64,
    /// Access tokens minted.
    pub tokens_minted: u64,
    /// Faults injected (since faults were last set).
    pub faults_injected: u64,
}

/// Counters of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointCounters {
    /// Requests received.
    pub requests: u64,
    /// Responses by status (`"reset"` for killed connections).
    pub statuses: BTreeMap<String, u64>,
}

impl RequestCounters {
    /// Requests received by an endpoint, e.g. `"PATCH /api/stocks/{id}/movements"`.
    pub fn requests(&self, endpoint: &str) -> u64 {
        self.endpoints.get(endpoint).map_or(0, |e| e.requests)
    }

    /// Responses of an endpoint with a status.
    pub fn status(&self, endpoint: &str, status: u16) -> u64 {
        self.endpoints
            .get(endpoint)
            .and_then(|e| e.statuses.get(&status.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Responses with a status over all endpoints.
    pub fn with_status(&self, status: u16) -> u64 {
        let key = status.to_string();
        self.endpoints
            .values()
            .filter_map(|e| e.statuses.get(&key))
            .sum()
    }

    /// Connections reset by fault injection.
    pub fn resets(&self) -> u64 {
        self.endpoints
            .values()
            .filter_map(|e| e.statuses.get("reset"))
            .sum()
    }

    pub(crate) fn record_request(&mut self, endpoint: &str) {
        self.total += 1;
        self.endpoints
            .entry(endpoint.to_string())
            .or_default()
            .requests += 1;
    }

    pub(crate) fn record_status(&mut self, endpoint: &str, status: &str) {
        *self
            .endpoints
            .entry(endpoint.to_string())
            .or_default()
            .statuses
            .entry(status.to_string())
            .or_default() += 1;
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// State shared by the HTTP handlers and the handle.
pub(crate) struct Shared {
    pub(crate) shop: Mutex<state::Shop>,
    pub(crate) tokens: Mutex<auth::TokenStore>,
    pub(crate) limiter: Arc<limits::Limiter>,
    pub(crate) faults: Mutex<faults::Faults>,
    pub(crate) counters: Mutex<RequestCounters>,
    clock_offset: Mutex<chrono::Duration>,
    /// The simulated clock stands still at this time (tests of same-second edits).
    clock_frozen: Mutex<Option<DateTime<Utc>>>,
    request_seq: AtomicU64,
    stream_seq: AtomicU64,
    pub(crate) order_rng: Mutex<StdRng>,
    pub(crate) seed: u64,
    pub(crate) supplies_amount: SuppliesAmount,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) streams: Mutex<Vec<tokio::task::AbortHandle>>,
    /// See [`SimConfig::strict_content_type`].
    pub(crate) strict_content_type: bool,
    /// Registrations, signature key, notifications log.
    pub(crate) webhooks: Mutex<webhooks::WebhookHub>,
    /// Asynchronous jobs and their result files.
    pub(crate) jobs: Mutex<jobs::JobBoard>,
    /// `http://127.0.0.1:PORT`: the shop's own host, where result files are served.
    pub(crate) base_url: String,
}

impl Shared {
    /// The simulated clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        if let Some(frozen) = *lock(&self.clock_frozen) {
            return frozen;
        }
        Utc::now() + *lock(&self.clock_offset)
    }

    pub(crate) fn advance_clock(&self, by: chrono::Duration) {
        if let Some(frozen) = lock(&self.clock_frozen).as_mut() {
            *frozen += by;
        }
        *lock(&self.clock_offset) += by;
    }

    /// Stops the simulated clock at its current time, or lets it run on from there.
    pub(crate) fn freeze_clock(&self, frozen: bool) {
        let now = self.now();
        let mut slot = lock(&self.clock_frozen);
        if frozen {
            *slot = Some(now);
        } else if slot.take().is_some() {
            *lock(&self.clock_offset) = now - Utc::now();
        }
    }

    pub(crate) fn shop(&self) -> MutexGuard<'_, state::Shop> {
        lock(&self.shop)
    }

    /// A UUID-shaped request id, deterministic from the seed and the request number.
    pub(crate) fn next_request_id(&self) -> String {
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed);
        let hi = 0x0195_6f3a_2c4e_7000 | (self.seed & 0xfff);
        uuid::Uuid::from_u64_pair(hi, 0x9d2a_0000_0000_0000 | n).to_string()
    }

    pub(crate) fn next_stream_seed(&self) -> u64 {
        self.seed
            .wrapping_add(0x5EED_0000)
            .wrapping_add(self.stream_seq.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn counters_snapshot(&self) -> RequestCounters {
        let mut c = lock(&self.counters).clone();
        c.peak_in_flight = self.limiter.peak_in_flight();
        c.tokens_minted = lock(&self.tokens).minted;
        c.faults_injected = lock(&self.faults).injected();
        c
    }
}

/// Starts simulators.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Seeds the shop, binds the listener and serves until [`SimHandle::shutdown`].
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        if !config.listen.ip().is_loopback() {
            return Err(SimError::NotLoopback(config.listen));
        }
        if config.limits.bucket_drain_per_sec < 0.0 || config.limits.max_in_flight == 0 {
            return Err(SimError::Config(
                "max_in_flight must be at least 1 and the drain rate non-negative".into(),
            ));
        }
        let ttl = chrono::Duration::from_std(config.token_ttl)
            .map_err(|_| SimError::Config("token TTL is too large".into()))?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
        let base_url = format!("http://{addr}");
        let real_now = Utc::now();
        let start = config.start_time.unwrap_or(real_now);
        let spec = seed::SeedSpec {
            seed: config.seed,
            products: config.products,
            variants_per_product: config.variants_per_product,
            product_sets: config.product_sets,
            orders: config.orders,
            stock_range: config.stock_range,
            allow_oversell: config.allow_oversell,
            eshop_id: config.eshop_id,
            eshop_url: format!("{base_url}/"),
        };
        let shop = seed::seed_shop(&spec, start);
        let tokens = auth::TokenStore::new(
            config.seed,
            config.eshop_id,
            ttl,
            config.max_live_tokens,
            config.private_token.clone(),
            config.oauth_token.clone(),
        );
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            shop: Mutex::new(shop),
            tokens: Mutex::new(tokens),
            limiter: limits::Limiter::new(config.limits.clone()),
            faults: Mutex::new(faults::Faults::new(config.faults.clone(), config.seed)),
            counters: Mutex::new(RequestCounters::default()),
            clock_offset: Mutex::new(start - real_now),
            clock_frozen: Mutex::new(None),
            request_seq: AtomicU64::new(1),
            stream_seq: AtomicU64::new(0),
            order_rng: Mutex::new(StdRng::seed_from_u64(config.seed ^ 0x0DE5)),
            seed: config.seed,
            supplies_amount: config.supplies_amount,
            shutdown: shutdown_rx.clone(),
            streams: Mutex::new(Vec::new()),
            strict_content_type: config.strict_content_type,
            webhooks: Mutex::new(webhooks::WebhookHub::new(
                config.seed,
                config.webhooks.clone(),
            )),
            jobs: Mutex::new(jobs::JobBoard::new(config.seed, config.jobs.clone())),
            base_url: base_url.clone(),
        });
        // Seeding placed orders: their events predate any registration.
        drop(shared.shop().take_events());
        let dispatcher = tokio::spawn(webhooks::run_dispatcher(Arc::clone(&shared)));
        lock(&shared.streams).push(dispatcher.abort_handle());
        let app = http::router(Arc::clone(&shared)).merge(control::router(Arc::clone(&shared)));
        let mut signal = shutdown_rx;
        let server = tokio::spawn(async move {
            let serve = axum::serve(
                net::KillableListener::new(listener),
                app.into_make_service_with_connect_info::<net::ConnKill>(),
            )
            .with_graceful_shutdown(async move {
                let _ = signal.wait_for(|stop| *stop).await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "simulator server stopped with an error");
            }
        });
        Ok(SimHandle {
            shared,
            base_url,
            addr,
            shutdown_tx,
            server: Some(server),
        })
    }
}

/// A running simulator: URLs, tokens and direct test controls.
pub struct SimHandle {
    shared: Arc<Shared>,
    base_url: String,
    addr: SocketAddr,
    shutdown_tx: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl Drop for SimHandle {
    /// A handle dropped without [`SimHandle::shutdown`] still stops the server.
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
        for task in lock(&self.shared.streams).drain(..) {
            task.abort();
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` (no trailing slash); API paths and the OAuth endpoint hang off it.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The e-shop URL used for OAuth minting (same as the base URL).
    pub fn eshop_url(&self) -> String {
        self.base_url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The private API token (`Shoptet-Private-Api-Token`).
    pub fn private_token(&self) -> String {
        lock(&self.shared.tokens).private_token().to_string()
    }

    /// The addon OAuth token (`Authorization: Bearer` at `getAccessToken`).
    pub fn oauth_token(&self) -> String {
        lock(&self.shared.tokens).oauth_token().to_string()
    }

    /// Stops serving: in-flight requests get a moment to finish, then the server is aborted.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        for task in lock(&self.shared.streams).drain(..) {
            task.abort();
        }
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// The simulated clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.now()
    }

    /// Moves the simulated clock forward (token expiry, order and change times).
    pub fn advance_clock(&self, by: Duration) {
        self.shared
            .advance_clock(chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX));
    }

    /// Stops the simulated clock (`true`) so that edits and reads fall in one shop second, or
    /// lets it run on from where it stood (`false`); [`Self::advance_clock`] still moves it.
    pub fn freeze_clock(&self, frozen: bool) {
        self.shared.freeze_clock(frozen);
    }

    /// Places an order as a customer would; refused beyond availability unless overselling.
    pub fn create_order(&self, spec: &OrderSpec) -> Result<String, SimError> {
        control::create_order(&self.shared, spec)
    }

    /// Places `n` random orders; returns the codes of those accepted.
    pub fn create_random_orders(&self, n: usize) -> Vec<String> {
        (0..n)
            .filter_map(|_| control::create_order(&self.shared, &OrderSpec::default()).ok())
            .collect()
    }

    /// Starts a stream of random orders at `rate_per_sec` for `duration`.
    pub fn start_order_stream(&self, rate_per_sec: f64, duration: Duration) -> OrderStream {
        control::start_order_stream(&self.shared, rate_per_sec, duration)
    }

    /// Edits an order as a shop admin would (records an `edit` change).
    pub fn edit_order(&self, code: &str, edit: &OrderEditSpec) -> Result<(), SimError> {
        control::edit_order(&self.shared, code, edit)
    }

    /// Cancels an order (claim released).
    pub fn cancel_order(&self, code: &str) -> Result<(), SimError> {
        let now = self.shared.now();
        self.shared.shop().cancel_order(code, now)?;
        Ok(())
    }

    /// Deletes an order (records a `delete` change).
    pub fn delete_order(&self, code: &str) -> Result<(), SimError> {
        let now = self.shared.now();
        self.shared.shop().delete_order(code, now)?;
        Ok(())
    }

    /// Renames a product as the shop admin would (an `edit` in the product change feed).
    pub fn rename_product(&self, guid: &str, name: &str) -> Result<(), SimError> {
        let now = self.shared.now();
        self.shared.shop().rename_product(guid, name, now)?;
        Ok(())
    }

    /// Deletes a product and its variants (a `delete` in the product change feed).
    pub fn delete_product(&self, guid: &str) -> Result<(), SimError> {
        let now = self.shared.now();
        self.shared.shop().delete_product(guid, now)?;
        Ok(())
    }

    /// Sets an order's status as the shop admin would.
    pub fn set_order_status(&self, code: &str, status_id: i64) -> Result<(), SimError> {
        let now = self.shared.now();
        self.shared
            .shop()
            .set_status(code, Some(status_id), None, now)?;
        Ok(())
    }

    /// An order as the shop holds it, or `None` (also after deletion).
    pub fn order(&self, code: &str) -> Option<OrderView> {
        control::order_view(&self.shared.shop(), code)
    }

    /// Codes of all current orders, in creation order.
    pub fn order_codes(&self) -> Vec<String> {
        self.shared.shop().orders.keys().cloned().collect()
    }

    /// Every variant code in catalogue order (sets included).
    pub fn variant_codes(&self) -> Vec<String> {
        self.shared.shop().variant_codes()
    }

    /// Sets physical stock in the default stock as a shop admin would.
    pub fn set_real_stock(
        &self,
        code: &str,
        real_stock: Decimal,
    ) -> Result<StockLevelView, SimError> {
        let stock = self.shared.shop().default_stock_id;
        self.set_real_stock_in(stock, code, real_stock)
    }

    /// Sets physical stock in a given stock.
    pub fn set_real_stock_in(
        &self,
        stock_id: i64,
        code: &str,
        real_stock: Decimal,
    ) -> Result<StockLevelView, SimError> {
        let lvl = self
            .shared
            .shop()
            .admin_set_real_stock(stock_id, code, real_stock)?;
        Ok(StockLevelView::from(lvl))
    }

    /// Level of a variant in the default stock (`None` for unknown codes and sets).
    pub fn stock_level(&self, code: &str) -> Option<StockLevelView> {
        let shop = self.shared.shop();
        shop.level(shop.default_stock_id, &code.to_uppercase())
            .map(StockLevelView::from)
    }

    /// Level of a variant in a given stock.
    pub fn stock_level_in(&self, stock_id: i64, code: &str) -> Option<StockLevelView> {
        self.shared
            .shop()
            .level(stock_id, &code.to_uppercase())
            .map(StockLevelView::from)
    }

    /// Levels of every non-set variant in the default stock.
    pub fn stock_levels(&self) -> BTreeMap<String, StockLevelView> {
        control::stock_levels(&self.shared.shop())
    }

    /// Price of a variant in the default price list.
    pub fn price(&self, code: &str) -> Option<PriceView> {
        let shop = self.shared.shop();
        let id = shop.pricelists.first().map(|p| p.id)?;
        control::price_view(&shop, id, code)
    }

    /// Price of a variant in a given price list.
    pub fn price_in(&self, pricelist_id: i64, code: &str) -> Option<PriceView> {
        control::price_view(&self.shared.shop(), pricelist_id, code)
    }

    /// Id of the default price list.
    pub fn default_pricelist_id(&self) -> i64 {
        self.shared.shop().pricelists.first().map_or(1, |p| p.id)
    }

    /// Request counters (plus peak in-flight, notifications, minted tokens, injected faults).
    pub fn counters(&self) -> RequestCounters {
        self.shared.counters_snapshot()
    }

    /// Resets request counters, the in-flight peak and the buckets.
    pub fn reset_counters(&self) {
        *lock(&self.shared.counters) = RequestCounters::default();
        self.shared.limiter.reset_peaks();
        self.shared.limiter.reset_buckets();
    }

    /// Units claimed beyond what was available for ordering (only with overselling allowed).
    pub fn oversold(&self) -> Decimal {
        self.shared.shop().oversold
    }

    /// Orders refused for lack of stock.
    pub fn refused_orders(&self) -> u64 {
        self.shared.shop().refused_orders
    }

    /// Allows or forbids overselling from now on.
    pub fn set_allow_oversell(&self, allow: bool) {
        self.shared.shop().allow_oversell = allow;
    }

    /// Current faults.
    pub fn faults(&self) -> FaultConfig {
        lock(&self.shared.faults).config().clone()
    }

    /// Replaces the faults (and resets the fault budget).
    pub fn set_faults(&self, faults: FaultConfig) {
        lock(&self.shared.faults).set_config(faults);
    }

    /// Switches the maintenance window (503 `system-maintenance`) on or off.
    pub fn set_maintenance(&self, on: bool) {
        lock(&self.shared.faults).set_maintenance(on);
    }

    /// Current limits.
    pub fn limits(&self) -> LimitConfig {
        self.shared.limiter.config()
    }

    /// Replaces the limits.
    pub fn set_limits(&self, limits: LimitConfig) {
        self.shared.limiter.set_config(limits);
    }

    /// Current bucket level of the private token, or of the addon when `addon` is true.
    pub fn bucket_level(&self, addon: bool) -> f64 {
        let key = if addon { "addon" } else { "private" };
        self.shared.limiter.level(key, std::time::Instant::now())
    }

    /// Suspends the addon: minting answers 401 `addon_suspended`, addon tokens get 401.
    pub fn set_addon_suspended(&self, on: bool) {
        lock(&self.shared.tokens).addon_suspended = on;
    }

    /// "Addon installation is not approved." mode for addon tokens.
    pub fn set_addon_not_approved(&self, on: bool) {
        lock(&self.shared.tokens).addon_not_approved = on;
    }

    /// Expires every minted access token now.
    pub fn expire_access_tokens(&self) {
        let now = self.shared.now();
        lock(&self.shared.tokens).expire_all(now);
    }

    /// Changes the lifetime of tokens minted from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        if let Ok(ttl) = chrono::Duration::from_std(ttl) {
            lock(&self.shared.tokens).set_ttl(ttl);
        }
    }

    /// Webhook registrations, in id order.
    pub fn webhooks(&self) -> Vec<WebhookView> {
        lock(&self.shared.webhooks).views()
    }

    /// The notifications log (oldest first).
    pub fn webhook_notifications(&self) -> Vec<NotificationView> {
        lock(&self.shared.webhooks).notification_views()
    }

    /// The current signature key (what `renew-signature-key` last returned).
    pub fn webhook_signature_key(&self) -> String {
        lock(&self.shared.webhooks).signature_key()
    }

    /// Delivery counters.
    pub fn webhook_stats(&self) -> WebhookStats {
        lock(&self.shared.webhooks).stats()
    }

    /// Current delivery behaviour.
    pub fn webhook_delivery(&self) -> WebhookDelivery {
        lock(&self.shared.webhooks).delivery()
    }

    /// Changes delivery behaviour (delay, loss rate, retries) from now on.
    pub fn set_webhook_delivery(&self, delivery: WebhookDelivery) {
        lock(&self.shared.webhooks).set_delivery(delivery);
    }

    /// Emits an event as the shop would (e.g. `orderStatusesList:change`); delivered to its
    /// registrations like any other.
    pub fn emit_event(&self, event: &'static str, instance: &str) {
        let now = self.shared.now();
        self.shared.shop().emit(event, instance, now);
    }

    /// Current job behaviour.
    pub fn job_config(&self) -> JobConfig {
        lock(&self.shared.jobs).config()
    }

    /// Changes how jobs queued from now on behave.
    pub fn set_job_config(&self, config: JobConfig) {
        lock(&self.shared.jobs).set_config(config);
    }

    /// Every job, by id.
    pub fn jobs(&self) -> Vec<JobView> {
        let now = self.shared.now();
        lock(&self.shared.jobs).views(now)
    }

    /// Access tokens alive now.
    pub fn live_access_tokens(&self) -> usize {
        let now = self.shared.now();
        lock(&self.shared.tokens).live_tokens(now)
    }
}
