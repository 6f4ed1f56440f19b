//! The test-control API under `/_sim/` (ours, not Shoptet's) and the shared operations behind
//! both it and the [`super::SimHandle`] methods: place, edit, cancel and delete orders as the
//! shop would, set and read stock and prices, read counters and the oversell figure, change faults.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rust_decimal::Decimal;
use serde_json::json;

use super::state::{Address, ClaimState, ItemType, Level, NewOrder, OrderEdit, Shop, ShopError};
use super::{FaultConfig, LimitConfig, RequestCounters, Shared, SimError, lock, seed};

/// Accepts a decimal as a JSON string or number.
mod flex_decimal {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer};
    use std::str::FromStr;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let text = match &v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => {
                return Err(serde::de::Error::custom(
                    "expected a decimal string or number",
                ));
            }
        };
        Decimal::from_str(text.trim())
            .or_else(|_| Decimal::from_scientific(text.trim()))
            .map_err(|_| serde::de::Error::custom(format!("\"{text}\" is not a decimal")))
    }
}

/// One product line of an order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemSpec {
    /// Variant (or set) code.
    pub code: String,
    /// Quantity.
    #[serde(deserialize_with = "flex_decimal::deserialize")]
    pub amount: Decimal,
}

impl ItemSpec {
    /// A line of `amount` units of `code`.
    pub fn new(code: impl Into<String>, amount: impl Into<Decimal>) -> Self {
        Self {
            code: code.into(),
            amount: amount.into(),
        }
    }
}

/// An order to place. Empty `items` = random lines; customer data is random unless given.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderSpec {
    /// Product lines.
    pub items: Vec<ItemSpec>,
    /// Initial status (the default status when absent).
    pub status_id: Option<i64>,
    /// Customer e-mail.
    pub email: Option<String>,
    /// Customer full name.
    pub full_name: Option<String>,
    /// Paid flag.
    pub paid: Option<bool>,
}

/// Changes to an order as a shop admin makes them.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderEditSpec {
    /// New product lines (replace all product rows).
    pub items: Option<Vec<ItemSpec>>,
    /// New billing address.
    pub billing_address: Option<Address>,
    /// New delivery address.
    pub delivery_address: Option<Address>,
    /// New e-mail.
    pub email: Option<String>,
    /// New phone.
    pub phone: Option<String>,
}

/// An order as the shop holds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// Code.
    pub code: String,
    /// Status id.
    pub status_id: i64,
    /// Paid flag.
    pub paid: Option<bool>,
    /// E-mail.
    pub email: Option<String>,
    /// Tracking number.
    pub tracking_number: Option<String>,
    /// Creation time.
    pub creation_time: DateTime<Utc>,
    /// Last change.
    pub change_time: DateTime<Utc>,
    /// Product lines.
    pub items: Vec<ItemSpec>,
    /// Gross total.
    pub total_with_vat: Decimal,
    /// Whether its quantities are still claimed.
    pub claim_open: bool,
}

/// A stock level as the shop shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockLevelView {
    /// Physical stock.
    pub real_stock: Decimal,
    /// Reserved by open orders.
    pub claim: Decimal,
    /// Available for ordering (`real_stock − claim`).
    pub available: Decimal,
}

impl From<Level> for StockLevelView {
    fn from(l: Level) -> Self {
        Self {
            real_stock: l.real_stock,
            claim: l.claim,
            available: l.available(),
        }
    }
}

/// A price as the shop holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceView {
    /// Price list id.
    pub pricelist_id: i64,
    /// Variant code.
    pub code: String,
    /// Price.
    pub price: Decimal,
    /// "Was" price.
    pub common_price: Option<Decimal>,
    /// Sale price.
    pub action_price: Option<Decimal>,
    /// VAT rate.
    pub vat_rate: Decimal,
    /// Whether the list's prices include VAT.
    pub including_vat: bool,
}

/// A running stream of random orders.
#[derive(Debug)]
pub struct OrderStream {
    created: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl OrderStream {
    /// Orders placed so far.
    pub fn created(&self) -> u64 {
        self.created.load(Ordering::SeqCst)
    }

    /// Orders the shop refused (not enough stock) so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    /// Whether the stream has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the stream early.
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Waits for the stream to end; returns `(created, refused)`.
    pub async fn finish(self) -> (u64, u64) {
        let (created, refused) = (self.created, self.refused);
        let _ = self.task.await;
        (
            created.load(Ordering::SeqCst),
            refused.load(Ordering::SeqCst),
        )
    }
}

fn lines(items: &[ItemSpec]) -> Vec<(String, Decimal)> {
    items.iter().map(|i| (i.code.clone(), i.amount)).collect()
}

pub(crate) fn create_order(sh: &Shared, spec: &OrderSpec) -> Result<String, SimError> {
    let now = sh.now();
    let mut shop = sh.shop();
    let mut rng = lock(&sh.order_rng);
    let mut new: NewOrder = if spec.items.is_empty() {
        seed::random_order(&shop, &mut rng)
    } else {
        seed::finish_order(&mut rng, lines(&spec.items))
    };
    drop(rng);
    new.status_id = spec.status_id;
    new.paid = spec.paid;
    if let Some(e) = &spec.email {
        new.email = Some(e.clone());
    }
    if let Some(n) = &spec.full_name {
        new.billing.full_name = Some(n.clone());
    }
    Ok(shop.place_order(new, now)?)
}

pub(crate) fn start_order_stream(
    sh: &Arc<Shared>,
    rate_per_sec: f64,
    duration: Duration,
) -> OrderStream {
    let created = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let (c, r) = (Arc::clone(&created), Arc::clone(&refused));
    let shared = Arc::clone(sh);
    let mut rng = StdRng::seed_from_u64(sh.next_stream_seed());
    let rate = if rate_per_sec.is_finite() && rate_per_sec > 0.0 {
        rate_per_sec.min(10_000.0)
    } else {
        1.0
    };
    let task = tokio::spawn(async move {
        let period = Duration::from_secs_f64(1.0 / rate);
        let deadline = tokio::time::Instant::now() + duration;
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            let now = shared.now();
            let mut shop = shared.shop();
            let new = seed::random_order(&shop, &mut rng);
            match shop.place_order(new, now) {
                Ok(_) => c.fetch_add(1, Ordering::SeqCst),
                Err(_) => r.fetch_add(1, Ordering::SeqCst),
            };
        }
    });
    lock(&sh.streams).push(task.abort_handle());
    OrderStream {
        created,
        refused,
        task,
    }
}

pub(crate) fn edit_order(sh: &Shared, code: &str, spec: &OrderEditSpec) -> Result<(), SimError> {
    let now = sh.now();
    let edit = OrderEdit {
        lines: spec.items.as_ref().map(|i| lines(i)),
        billing: spec.billing_address.clone(),
        delivery: spec.delivery_address.clone().map(Some),
        email: spec.email.clone().map(Some),
        phone: spec.phone.clone().map(Some),
    };
    sh.shop().edit_order(code, edit, now)?;
    Ok(())
}

pub(crate) fn order_view(shop: &Shop, code: &str) -> Option<OrderView> {
    let o = shop.orders.get(code)?;
    Some(OrderView {
        code: o.code.clone(),
        status_id: o.status_id,
        paid: o.paid,
        email: o.email.clone(),
        tracking_number: o.notes.tracking_number.clone(),
        creation_time: o.creation_time,
        change_time: o.change_time,
        items: o
            .items
            .iter()
            .filter(|i| matches!(i.item_type, ItemType::Product | ItemType::ProductSet))
            .filter_map(|i| i.code.as_ref().map(|c| ItemSpec::new(c.clone(), i.amount)))
            .collect(),
        total_with_vat: o.totals().0,
        claim_open: o.claim == ClaimState::Open,
    })
}

pub(crate) fn stock_levels(shop: &Shop) -> BTreeMap<String, StockLevelView> {
    shop.variant_codes()
        .into_iter()
        .filter_map(|c| {
            shop.level(shop.default_stock_id, &c)
                .map(|l| (c, StockLevelView::from(l)))
        })
        .collect()
}

pub(crate) fn price_view(shop: &Shop, pricelist_id: i64, code: &str) -> Option<PriceView> {
    let code = code.to_uppercase();
    let pl = shop.pricelists.iter().find(|p| p.id == pricelist_id)?;
    let e = pl.entries.get(&code)?;
    Some(PriceView {
        pricelist_id,
        code,
        price: e.price,
        common_price: e.common_price,
        action_price: e.action_price.as_ref().map(|a| a.price),
        vat_rate: e.vat_rate,
        including_vat: pl.including_vat,
    })
}

// ---------------------------------------------------------------- HTTP

/// A control-API failure: status plus `{"error", "message"}`.
struct ControlError(StatusCode, String, String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1, "message": self.2}))).into_response()
    }
}

impl From<SimError> for ControlError {
    fn from(e: SimError) -> Self {
        match &e {
            SimError::Shop(s) => {
                let status = match s {
                    ShopError::OrderNotFound(_) | ShopError::ProductNotFound(_) => {
                        StatusCode::NOT_FOUND
                    }
                    ShopError::Insufficient { .. } => StatusCode::CONFLICT,
                    _ => StatusCode::BAD_REQUEST,
                };
                Self(status, s.error_code().into(), s.to_string())
            }
            other => Self(StatusCode::BAD_REQUEST, "invalid".into(), other.to_string()),
        }
    }
}

impl From<ShopError> for ControlError {
    fn from(e: ShopError) -> Self {
        SimError::Shop(e).into()
    }
}

type CResult<T> = Result<T, ControlError>;

/// The `/_sim/` routes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sim/orders", get(list_orders).post(post_order))
        .route("/_sim/orders/random", post(post_random_orders))
        .route("/_sim/orders/stream", post(post_stream))
        .route(
            "/_sim/orders/{code}",
            get(get_order).patch(patch_order).delete(delete_order),
        )
        .route("/_sim/orders/{code}/cancel", post(cancel_order))
        .route("/_sim/orders/{code}/status", put(put_status))
        .route("/_sim/stock", get(get_stock).put(put_stock))
        .route("/_sim/prices", get(get_price))
        .route("/_sim/counters", get(get_counters))
        .route("/_sim/counters/reset", post(reset_counters))
        .route("/_sim/oversell", get(get_oversell).put(put_oversell))
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .route("/_sim/maintenance", put(put_maintenance))
        .route("/_sim/limits", get(get_limits).put(put_limits))
        .route("/_sim/clock/advance", post(advance_clock))
        .route("/_sim/addon", put(put_addon))
        .route("/_sim/tokens/expire", post(expire_tokens))
        .with_state(shared)
}

async fn list_orders(State(sh): State<Arc<Shared>>) -> Json<Vec<String>> {
    Json(sh.shop().orders.keys().cloned().collect())
}

async fn post_order(
    State(sh): State<Arc<Shared>>,
    Json(spec): Json<OrderSpec>,
) -> CResult<impl IntoResponse> {
    let code = create_order(&sh, &spec)?;
    Ok((StatusCode::CREATED, Json(json!({"code": code}))))
}

#[derive(serde::Deserialize)]
struct CountBody {
    count: usize,
}

async fn post_random_orders(
    State(sh): State<Arc<Shared>>,
    Json(b): Json<CountBody>,
) -> impl IntoResponse {
    let mut codes = Vec::new();
    let mut refused = 0u64;
    for _ in 0..b.count.min(100_000) {
        match create_order(&sh, &OrderSpec::default()) {
            Ok(c) => codes.push(c),
            Err(_) => refused += 1,
        }
    }
    (
        StatusCode::CREATED,
        Json(json!({"codes": codes, "refused": refused})),
    )
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamBody {
    rate_per_sec: f64,
    duration_ms: u64,
}

async fn post_stream(
    State(sh): State<Arc<Shared>>,
    Json(b): Json<StreamBody>,
) -> impl IntoResponse {
    // The stream runs on its own; its orders show up in the shop and the change feed.
    let stream = start_order_stream(&sh, b.rate_per_sec, Duration::from_millis(b.duration_ms));
    drop(stream);
    (StatusCode::ACCEPTED, Json(json!({"started": true})))
}

async fn get_order(
    State(sh): State<Arc<Shared>>,
    Path(code): Path<String>,
) -> CResult<Json<OrderView>> {
    order_view(&sh.shop(), &code)
        .map(Json)
        .ok_or_else(|| ShopError::OrderNotFound(code).into())
}

async fn patch_order(
    State(sh): State<Arc<Shared>>,
    Path(code): Path<String>,
    Json(spec): Json<OrderEditSpec>,
) -> CResult<StatusCode> {
    edit_order(&sh, &code, &spec)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_order(
    State(sh): State<Arc<Shared>>,
    Path(code): Path<String>,
) -> CResult<StatusCode> {
    let now = sh.now();
    sh.shop().delete_order(&code, now)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn cancel_order(
    State(sh): State<Arc<Shared>>,
    Path(code): Path<String>,
) -> CResult<StatusCode> {
    let now = sh.now();
    sh.shop().cancel_order(&code, now)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    status_id: i64,
}

async fn put_status(
    State(sh): State<Arc<Shared>>,
    Path(code): Path<String>,
    Json(b): Json<StatusBody>,
) -> CResult<StatusCode> {
    let now = sh.now();
    sh.shop().set_status(&code, Some(b.status_id), None, now)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StockQuery {
    code: Option<String>,
    stock_id: Option<i64>,
}

async fn get_stock(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<StockQuery>,
) -> CResult<Response> {
    let shop = sh.shop();
    let stock_id = q.stock_id.unwrap_or(shop.default_stock_id);
    match q.code {
        Some(code) => {
            let code = code.to_uppercase();
            let lvl = shop
                .level(stock_id, &code)
                .ok_or_else(|| ControlError::from(ShopError::UnknownProduct(code.clone())))?;
            Ok(Json(StockLevelView::from(lvl)).into_response())
        }
        None => Ok(Json(stock_levels(&shop)).into_response()),
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StockBody {
    code: String,
    #[serde(deserialize_with = "flex_decimal::deserialize")]
    real_stock: Decimal,
    stock_id: Option<i64>,
}

async fn put_stock(
    State(sh): State<Arc<Shared>>,
    Json(b): Json<StockBody>,
) -> CResult<Json<StockLevelView>> {
    let mut shop = sh.shop();
    let stock_id = b.stock_id.unwrap_or(shop.default_stock_id);
    let lvl = shop.admin_set_real_stock(stock_id, &b.code, b.real_stock)?;
    Ok(Json(lvl.into()))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriceQuery {
    code: String,
    pricelist_id: Option<i64>,
}

async fn get_price(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<PriceQuery>,
) -> CResult<Json<PriceView>> {
    let shop = sh.shop();
    let id = q
        .pricelist_id
        .or_else(|| shop.pricelists.first().map(|p| p.id))
        .unwrap_or(1);
    price_view(&shop, id, &q.code)
        .map(Json)
        .ok_or_else(|| ShopError::PricelistCodeNotFound(q.code.clone()).into())
}

async fn get_counters(State(sh): State<Arc<Shared>>) -> Json<RequestCounters> {
    Json(sh.counters_snapshot())
}

async fn reset_counters(State(sh): State<Arc<Shared>>) -> StatusCode {
    *lock(&sh.counters) = RequestCounters::default();
    sh.limiter.reset_peaks();
    sh.limiter.reset_buckets();
    StatusCode::NO_CONTENT
}

async fn get_oversell(State(sh): State<Arc<Shared>>) -> impl IntoResponse {
    let shop = sh.shop();
    Json(json!({
        "oversold": shop.oversold,
        "refusedOrders": shop.refused_orders,
        "allowOversell": shop.allow_oversell,
    }))
}

#[derive(serde::Deserialize)]
struct AllowBody {
    allow: bool,
}

async fn put_oversell(State(sh): State<Arc<Shared>>, Json(b): Json<AllowBody>) -> StatusCode {
    sh.shop().allow_oversell = b.allow;
    StatusCode::NO_CONTENT
}

async fn get_faults(State(sh): State<Arc<Shared>>) -> Json<FaultConfig> {
    Json(lock(&sh.faults).config().clone())
}

async fn put_faults(
    State(sh): State<Arc<Shared>>,
    Json(cfg): Json<FaultConfig>,
) -> CResult<StatusCode> {
    let rates_ok = cfg
        .error_rates
        .iter()
        .all(|(s, r)| (400..=599).contains(s) && (0.0..=1.0).contains(r));
    if !rates_ok {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            "invalid".into(),
            "error rates need 4xx/5xx statuses and rates in 0..1".into(),
        ));
    }
    lock(&sh.faults).set_config(cfg);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
struct OnBody {
    on: bool,
}

async fn put_maintenance(State(sh): State<Arc<Shared>>, Json(b): Json<OnBody>) -> StatusCode {
    lock(&sh.faults).set_maintenance(b.on);
    StatusCode::NO_CONTENT
}

async fn get_limits(State(sh): State<Arc<Shared>>) -> Json<LimitConfig> {
    Json(sh.limiter.config())
}

async fn put_limits(
    State(sh): State<Arc<Shared>>,
    Json(cfg): Json<LimitConfig>,
) -> CResult<StatusCode> {
    if cfg.max_in_flight == 0 || cfg.bucket_drain_per_sec < 0.0 {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            "invalid".into(),
            "maxInFlight must be at least 1 and the drain rate non-negative".into(),
        ));
    }
    sh.limiter.set_config(cfg);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
struct SecondsBody {
    seconds: i64,
}

async fn advance_clock(
    State(sh): State<Arc<Shared>>,
    Json(b): Json<SecondsBody>,
) -> impl IntoResponse {
    sh.advance_clock(chrono::Duration::seconds(b.seconds.max(0)));
    Json(json!({"now": super::wire::fmt_time(sh.now())}))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddonBody {
    suspended: Option<bool>,
    not_approved: Option<bool>,
}

async fn put_addon(State(sh): State<Arc<Shared>>, Json(b): Json<AddonBody>) -> StatusCode {
    let mut t = lock(&sh.tokens);
    if let Some(s) = b.suspended {
        t.addon_suspended = s;
    }
    if let Some(n) = b.not_approved {
        t.addon_not_approved = n;
    }
    StatusCode::NO_CONTENT
}

async fn expire_tokens(State(sh): State<Arc<Shared>>) -> StatusCode {
    let now = sh.now();
    lock(&sh.tokens).expire_all(now);
    StatusCode::NO_CONTENT
}
