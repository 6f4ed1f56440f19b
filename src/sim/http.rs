//! The Shoptet routes: `/api/*` and the OAuth token endpoint, with the request pipeline
//! (auth → in-flight limit → bucket → write lock → faults → handler → envelope and headers).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::Shared;
use super::auth::Principal;
use super::faults::{AfterApply, Corruption, FaultPlan, corrupt};
use super::net::ConnKill;
use super::state::{
    ActionPrice, ChangeKind, Movement, NotesPatch, OrderFilter, PriceBasis, PriceFields,
    PricePatch, ProductType, ShopError,
};
use super::wire::{self, ErrorObject, OrderIncludes, ProductIncludes};

/// Largest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Most rows in one stock-movement or price-list PATCH.
const MAX_BATCH_ROWS: usize = 300;

/// A handler's answer; the middleware wraps it in the envelope with the request id.
#[derive(Debug, Clone)]
pub struct Reply {
    status: StatusCode,
    data: Option<Value>,
    errors: Vec<ErrorObject>,
    /// Answer this body as is, without the envelope (OAuth endpoint).
    raw: Option<Value>,
}

impl Reply {
    pub(crate) fn ok(data: Value) -> Self {
        Self {
            status: StatusCode::OK,
            data: Some(data),
            errors: Vec::new(),
            raw: None,
        }
    }

    /// The same answer with another HTTP status (201 created, 202 accepted).
    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn empty() -> Self {
        Self {
            status: StatusCode::OK,
            data: None,
            errors: Vec::new(),
            raw: None,
        }
    }

    pub(crate) fn error(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        instance: impl Into<String>,
    ) -> Self {
        Self {
            status,
            data: None,
            errors: vec![ErrorObject::new(code, message, instance)],
            raw: None,
        }
    }

    pub(crate) fn errors(status: StatusCode, errors: Vec<ErrorObject>) -> Self {
        Self {
            status,
            data: None,
            errors,
            raw: None,
        }
    }

    fn raw(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            data: None,
            errors: Vec::new(),
            raw: Some(body),
        }
    }

    pub(crate) fn from_shop(e: &ShopError) -> Self {
        let status = match e {
            ShopError::OrderNotFound(_)
            | ShopError::ProductNotFound(_)
            | ShopError::StockNotFound(_)
            | ShopError::PricelistNotFound(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::error(status, e.error_code(), e.to_string(), e.instance())
    }

    fn body_bytes(&self, request_id: &str) -> Vec<u8> {
        let value = match &self.raw {
            Some(raw) => raw.clone(),
            None => wire::envelope(self.data.clone(), &self.errors, request_id),
        };
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut r = self.status.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

pub(crate) type Res = Result<Reply, Reply>;

pub(crate) fn invalid_param(name: &str, message: impl Into<String>) -> Reply {
    Reply::error(StatusCode::BAD_REQUEST, "invalid-parameter", message, name)
}

pub(crate) fn schema_error(instance: impl Into<String>, message: impl Into<String>) -> Reply {
    Reply::error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-request-data",
        message,
        instance,
    )
}

/// Query parameters in order.
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, Reply> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    invalid_param(name, format!("Parameter \"{name}\" must be an integer."))
                })
            })
            .transpose()
    }

    pub(crate) fn flag(&self, name: &str) -> Result<bool, Reply> {
        match self.get(name).map(str::trim) {
            None => Ok(false),
            Some("true" | "1") => Ok(true),
            Some("false" | "0" | "") => Ok(false),
            Some(_) => Err(invalid_param(
                name,
                format!("Parameter \"{name}\" must be a boolean."),
            )),
        }
    }

    pub(crate) fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, Reply> {
        self.get(name)
            .map(|v| {
                parse_time(v).ok_or_else(|| {
                    invalid_param(
                        name,
                        format!("Parameter \"{name}\" must be a date-time like 2025-03-14T09:41:07+0100."),
                    )
                })
            })
            .transpose()
    }

    /// `(page, itemsPerPage)` with silent clamping to `max`.
    pub(crate) fn paging(&self, default: usize, max: usize) -> Result<(usize, usize), Reply> {
        let page = match self.int("page")? {
            None => 1,
            Some(p) if p >= 1 => usize::try_from(p).unwrap_or(usize::MAX),
            Some(_) => {
                return Err(invalid_param(
                    "page",
                    "Parameter \"page\" must be at least 1.",
                ));
            }
        };
        let per = match self.int("itemsPerPage")? {
            None => default,
            Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX).min(max),
            Some(_) => {
                return Err(invalid_param(
                    "itemsPerPage",
                    "Parameter \"itemsPerPage\" must be at least 1.",
                ));
            }
        };
        Ok((page, per))
    }

    pub(crate) fn list(&self, name: &str, max: usize) -> Result<Option<Vec<String>>, Reply> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let items: Vec<String> = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if items.len() > max {
            return Err(invalid_param(
                name,
                format!("Parameter \"{name}\" allows at most {max} values."),
            ));
        }
        Ok(Some(items))
    }
}

/// Parses Shoptet's `YYYY-MM-DDThh:mm:ss+hhmm` (a colon in the offset is tolerated).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%:z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Slices one page; a page past the end is 404 `page-not-found`.
pub(crate) fn page_of<T: Clone>(items: &[T], page: usize, per: usize) -> Result<Vec<T>, Reply> {
    let count = wire::page_count(items.len(), per);
    if page > count.max(1) {
        return Err(Reply::error(
            StatusCode::NOT_FOUND,
            "page-not-found",
            format!("Page {page} not found, max page is {count}."),
            "page",
        ));
    }
    let start = (page - 1).saturating_mul(per);
    Ok(items.iter().skip(start).take(per).cloned().collect())
}

pub(crate) fn paged(key: &str, rows: Vec<Value>, total: usize, page: usize, per: usize) -> Value {
    let on_page = rows.len();
    json!({ key: rows, "paginator": wire::paginator(total, page, per, on_page) })
}

/// The Shoptet routes with their middleware.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/eshop", get(eshop))
        .route("/api/orders", get(orders_list))
        .route("/api/orders/changes", get(orders_changes))
        .route("/api/orders/statuses", get(order_statuses))
        .route("/api/orders/status-change", patch(bulk_status))
        .route("/api/orders/{code}", get(order_detail))
        .route("/api/orders/{code}/status", patch(order_status))
        .route("/api/orders/{code}/notes", patch(order_notes))
        .route("/api/products", get(products_list))
        .route("/api/products/changes", get(products_changes))
        .route("/api/products/code/{*code}", get(product_by_code))
        .route("/api/products/{guid}", get(product_by_guid))
        .route("/api/stocks", get(stocks))
        .route("/api/stocks/{id}/supplies", get(supplies))
        .route("/api/stocks/{id}/movements", patch(movements))
        .route("/api/pricelists", get(pricelists))
        .route(
            "/api/pricelists/{id}",
            get(pricelist_read).patch(pricelist_patch),
        )
        .route(
            "/action/ApiOAuthServer/getAccessToken",
            get(mint_token).post(mint_token),
        )
        .merge(super::webhooks::routes())
        .merge(super::jobs::routes())
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            pipeline,
        ))
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let rid = sh.next_request_id();
    let endpoint = "unmatched";
    {
        let mut c = super::lock(&sh.counters);
        c.record_request(endpoint);
        c.record_status(endpoint, "404");
    }
    let reply = Reply::error(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("Path \"{}\" not found.", req.uri().path()),
        "unknown",
    );
    json_response(StatusCode::NOT_FOUND, reply.body_bytes(&rid), &rid)
}

fn json_response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    r
}

fn http_date_after(wait: Duration) -> String {
    // An HTTP date has whole seconds and formatting truncates, so round the instant itself up:
    // the client must never wake before a drop has leaked (and waits at least a second).
    let target = SystemTime::now() + wait.max(Duration::from_secs(1));
    let since_epoch = target
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let whole = since_epoch.as_secs() + u64::from(since_epoch.subsec_nanos() > 0);
    httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(whole))
}

async fn sleep_or_shutdown(sh: &Shared, d: Duration) {
    if d.is_zero() {
        return;
    }
    let mut stop = sh.shutdown.clone();
    tokio::select! {
        () = tokio::time::sleep(d) => {}
        _ = stop.wait_for(|s| *s) => {}
    }
}

fn injected_error(status: u16) -> Response {
    let (code, message) = match status {
        503 => (
            "system-maintenance",
            "The e-shop is under maintenance. Please try again later.",
        ),
        500 => ("unknown-error", "Unknown error occurred."),
        429 => ("too-many-requests", "Too many requests."),
        _ => ("unknown-error", "Injected error."),
    };
    let st = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = Reply::error(st, code, message, "unknown").into_response();
    if status == 429
        && let Ok(v) = HeaderValue::from_str(&http_date_after(Duration::from_secs(1)))
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// The request pipeline around every Shoptet route.
async fn pipeline(State(sh): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let endpoint = format!(
        "{} {}",
        req.method(),
        req.extensions()
            .get::<MatchedPath>()
            .map_or(path.as_str(), MatchedPath::as_str)
    );
    let kill = req
        .extensions()
        .get::<ConnectInfo<ConnKill>>()
        .map(|c| c.0.clone());
    let rid = sh.next_request_id();
    super::lock(&sh.counters).record_request(&endpoint);
    let is_api = path.starts_with("/api/");
    // The shop's clock as the request arrived: what a handler reads is at least this recent.
    let date = http_date(sh.now());

    let (response, principal, corruption, _guards) =
        run_pipeline(&sh, req, next, is_api, &path, kill.as_ref()).await;
    let Some(response) = response else {
        super::lock(&sh.counters).record_status(&endpoint, "reset");
        // The connection is dead; this response is never written.
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut out = finish(&sh, response, &rid, principal.as_ref(), corruption).await;
    super::lock(&sh.counters).record_status(&endpoint, out.status().as_str());
    if let Ok(value) = HeaderValue::from_str(&date) {
        out.headers_mut().insert(header::DATE, value);
    }
    out
}

/// An HTTP date (whole seconds, truncated) of a simulated-clock time.
fn http_date(at: DateTime<Utc>) -> String {
    httpdate::fmt_http_date(SystemTime::from(at))
}

/// Guards that must live until the response is built.
type Guards = (
    Option<super::limits::InFlightGuard>,
    Option<super::limits::WriteLockGuard>,
);

async fn run_pipeline(
    sh: &Arc<Shared>,
    req: Request,
    next: Next,
    is_api: bool,
    path: &str,
    kill: Option<&ConnKill>,
) -> (
    Option<Response>,
    Option<Principal>,
    Option<Corruption>,
    Guards,
) {
    let mut guards: Guards = (None, None);
    if is_api
        && sh.strict_content_type
        && let Some(refusal) = content_type_refusal(req.headers())
    {
        return (Some(refusal), None, None, guards);
    }
    let principal = if is_api {
        let now = sh.now();
        match super::lock(&sh.tokens).authenticate(req.headers(), now) {
            Ok(p) => Some(p),
            Err(e) => {
                let (code, message) = e.code_and_message();
                let r = Reply::error(StatusCode::UNAUTHORIZED, code, message, "unknown");
                return (Some(r.into_response()), None, None, guards);
            }
        }
    } else {
        None
    };
    if let Some(p) = &principal {
        match sh.limiter.enter(&p.in_flight_key()) {
            Some(g) => guards.0 = Some(g),
            None => {
                // The connection limit comes from nginx: no JSON envelope, no Retry-After.
                let mut r = Response::new(Body::from(
                    "<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>",
                ));
                *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
                return (Some(r), principal, None, guards);
            }
        }
        if let Err(wait) = sh.limiter.admit(p.bucket_key(), Instant::now()) {
            let mut r = Reply::error(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Rate limit exceeded, the request bucket is full.",
                "unknown",
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&http_date_after(wait)) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return (Some(r), principal, None, guards);
        }
    }
    // Identical concurrent writes (same method, URL and body) are locked out with 423.
    let req = if is_api && req.method() != Method::GET {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(b) => b,
            Err(_) => {
                let r = Reply::error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    "Request body is too large.",
                    "payload",
                );
                return (Some(r.into_response()), principal, None, guards);
            }
        };
        let mut h = DefaultHasher::new();
        parts.method.as_str().hash(&mut h);
        parts.uri.to_string().hash(&mut h);
        bytes.hash(&mut h);
        match sh.limiter.lock_write(h.finish()) {
            Some(g) => guards.1 = Some(g),
            None => {
                let r = Reply::error(
                    StatusCode::LOCKED,
                    "locked",
                    "The same request is already being processed. Try again in a few seconds.",
                    "unknown",
                );
                return (Some(r.into_response()), principal, None, guards);
            }
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        req
    };
    let plan: FaultPlan = super::lock(&sh.faults).plan(path);
    sleep_or_shutdown(sh, plan.delay).await;
    if plan.reset
        && let Some(k) = kill
    {
        k.kill();
        return (None, principal, None, guards);
    }
    if let Some(hang) = plan.hang {
        sleep_or_shutdown(sh, hang).await;
    }
    if let Some(status) = plan.error {
        return (Some(injected_error(status)), principal, None, guards);
    }
    let response = next.run(req).await;
    // The request is applied; now its response may be lost.
    match plan.after_apply {
        Some(AfterApply::Reset) => {
            if let Some(k) = kill {
                k.kill();
                return (None, principal, None, guards);
            }
        }
        Some(AfterApply::Hang(hang)) => sleep_or_shutdown(sh, hang).await,
        None => {}
    }
    (Some(response), principal, plan.corrupt, guards)
}

/// Strict mode: the reference lists `Content-Type: application/json` as required on every
/// operation (GET included) and the official SDK sends `application/vnd.shoptet.v1.0`; anything
/// else (or nothing) is refused with 415, the HTTP status for an unsupported media type.
fn content_type_refusal(headers: &axum::http::HeaderMap) -> Option<Response> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match media_type.as_deref() {
        Some("application/json" | "application/vnd.shoptet.v1.0") => None,
        _ => Some(
            Reply::error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid-request-data",
                "Content-Type must be application/json or application/vnd.shoptet.v1.0.",
                "Content-Type",
            )
            .into_response(),
        ),
    }
}

fn generic_error(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("invalid-parameter", "Invalid request parameters."),
        404 => ("not-found", "Not found."),
        405 => ("method-not-allowed", "Method not allowed."),
        413 => ("payload-too-large", "Request body is too large."),
        415 | 422 => ("invalid-request-data", "Request body is not valid."),
        _ => ("unknown-error", "Unknown error occurred."),
    }
}

async fn finish(
    sh: &Shared,
    response: Response,
    rid: &str,
    principal: Option<&Principal>,
    corruption: Option<Corruption>,
) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes: Vec<u8> = if let Some(reply) = parts.extensions.remove::<Reply>() {
        reply.body_bytes(rid)
    } else {
        let raw = axum::body::to_bytes(body, MAX_BODY)
            .await
            .unwrap_or_default();
        let is_json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let is_nginx_429 = parts.status == StatusCode::TOO_MANY_REQUESTS && !is_json;
        if parts.status.is_client_error() && !is_json && !is_nginx_429
            || parts.status.is_server_error() && !is_json
        {
            // An extractor rejection or similar: answer in the envelope like the real API.
            let (code, default_msg) = generic_error(parts.status);
            let text = String::from_utf8_lossy(&raw).trim().to_string();
            let message = if text.is_empty() {
                default_msg.to_string()
            } else {
                text
            };
            parts.headers.remove(header::CONTENT_TYPE);
            Reply::error(parts.status, code, message, "unknown").body_bytes(rid)
        } else {
            raw.to_vec()
        }
    };
    let bytes = match corruption {
        Some(how) => corrupt(&bytes, how),
        None => bytes,
    };
    if !parts.headers.contains_key(header::CONTENT_TYPE) {
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Ok(v) = HeaderValue::from_str(rid) {
        parts.headers.insert("x-request-id", v);
    }
    if let Some(p) = principal {
        let now = Instant::now();
        let level = if parts.status == StatusCode::TOO_MANY_REQUESTS {
            sh.limiter.level(p.bucket_key(), now)
        } else {
            sh.limiter.charge(p.bucket_key(), bytes.len(), now)
        };
        if let Ok(v) = HeaderValue::from_str(&sh.limiter.filling_header(level)) {
            parts.headers.insert("x-ratelimit-bucket-filling", v);
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

// ---------------------------------------------------------------- handlers: shop and orders

async fn eshop(State(sh): State<Arc<Shared>>, Query(q): Query<Vec<(String, String)>>) -> Reply {
    let p = Params(q);
    let include_statuses = p.get("include").is_some_and(|v| {
        v.split(',')
            .any(|s| s.trim().eq_ignore_ascii_case("orderStatuses"))
    });
    Reply::ok(wire::eshop(&sh.shop(), include_statuses))
}

async fn orders_list(State(sh): State<Arc<Shared>>, Query(q): Query<Vec<(String, String)>>) -> Res {
    let p = Params(q);
    let (page, per) = p.paging(50, 50)?;
    let filter = order_filter(&p)?;
    let shop = sh.shop();
    let all = shop.filter_orders(&filter);
    let rows = page_of(&all, page, per)?;
    let rows: Vec<Value> = rows.iter().map(|o| wire::order_summary(&shop, o)).collect();
    Ok(Reply::ok(paged("orders", rows, all.len(), page, per)))
}

/// The list filters of `GET /api/orders` (also accepted by the order snapshot).
pub(crate) fn order_filter(p: &Params) -> Result<OrderFilter, Reply> {
    Ok(OrderFilter {
        status_id: p.int("statusId")?,
        creation_from: p.time("creationTimeFrom")?,
        creation_to: p.time("creationTimeTo")?,
        change_from: p.time("changeTimeFrom")?,
        change_to: p.time("changeTimeTo")?,
        codes: p.list("orderCodes", 50)?,
        email: p.get("email").map(str::to_string),
        product_code: p.get("productCode").map(str::to_string),
    })
}

fn change_kind(p: &Params) -> Result<Option<ChangeKind>, Reply> {
    match p.get("changeType") {
        None => Ok(None),
        Some("edit") => Ok(Some(ChangeKind::Edit)),
        Some("delete") => Ok(Some(ChangeKind::Delete)),
        Some(_) => Err(invalid_param(
            "changeType",
            "Parameter \"changeType\" must be edit or delete.",
        )),
    }
}

fn required_from(p: &Params) -> Result<DateTime<Utc>, Reply> {
    p.time("from")?.ok_or_else(|| {
        Reply::error(
            StatusCode::BAD_REQUEST,
            "missing-parameter",
            "Parameter \"from\" is required.",
            "from",
        )
    })
}

async fn orders_changes(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Res {
    let p = Params(q);
    let mut from = required_from(&p)?;
    let kind = change_kind(&p)?;
    let (mut page, per) = p.paging(20, 1000)?;
    if super::lock(&sh.faults).config().frozen_order_feed {
        from = DateTime::<Utc>::UNIX_EPOCH;
        page = 1;
    }
    let now = sh.now();
    let all = sh.shop().order_changes(from, kind, now);
    let rows = page_of(&all, page, per)?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|(code, c)| json!({"code": code, "changeTime": wire::fmt_time(c.time), "changeType": c.kind.as_str()}))
        .collect();
    Ok(Reply::ok(paged("changes", rows, all.len(), page, per)))
}

async fn order_statuses(State(sh): State<Arc<Shared>>) -> Reply {
    Reply::ok(wire::statuses(&sh.shop()))
}

async fn order_detail(
    State(sh): State<Arc<Shared>>,
    Path(code): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Res {
    let p = Params(q);
    let inc = OrderIncludes::parse(p.get("include"));
    let shop = sh.shop();
    let order = shop
        .orders
        .get(&code)
        .ok_or_else(|| Reply::from_shop(&ShopError::OrderNotFound(code.clone())))?;
    Ok(Reply::ok(
        json!({ "order": wire::order_detail(&shop, order, inc) }),
    ))
}

pub(crate) fn parse_body(bytes: &Bytes) -> Result<Value, Reply> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| schema_error("payload", format!("Request body is not valid JSON: {e}")))?;
    Ok(v)
}

pub(crate) fn data_object(body: &Value) -> Result<&Map<String, Value>, Reply> {
    body.get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| schema_error("data", "Request body must have an object under \"data\"."))
}

pub(crate) fn data_array(body: &Value) -> Result<&Vec<Value>, Reply> {
    body.get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| schema_error("data", "Request body must have an array under \"data\"."))
}

/// Optional string-or-null key: outer `None` = absent.
fn opt_string(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<Option<String>>, Reply> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(schema_error(
            format!("{path}.{key}"),
            format!("\"{key}\" must be a string or null."),
        )),
    }
}

async fn order_status(
    State(sh): State<Arc<Shared>>,
    Path(code): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Res {
    let p = Params(q);
    let suppress_email = p.flag("suppressEmailSending")?;
    let suppress_sms = p.flag("suppressSmsSending")?;
    let suppress_docs = p.flag("suppressDocumentGeneration")?;
    let body = parse_body(&body)?;
    let data = data_object(&body)?;
    let status_id = match data.get("statusId") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| schema_error("data.statusId", "\"statusId\" must be an integer."))?,
        ),
    };
    let paid = match data.get("paid") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_bool()
                .ok_or_else(|| schema_error("data.paid", "\"paid\" must be a boolean."))?,
        ),
    };
    let billing = match data.get("billingMethodId") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().filter(|b| (1..=4).contains(b)).ok_or_else(|| {
            schema_error(
                "data.billingMethodId",
                "\"billingMethodId\" must be 1 to 4.",
            )
        })?),
    };
    if status_id.is_none() && paid.is_none() && billing.is_none() {
        return Err(schema_error(
            "data",
            "Give at least one of statusId, paid, billingMethodId.",
        ));
    }
    let now = sh.now();
    let mut shop = sh.shop();
    let before = shop.orders.get(&code).map(|o| o.status_id);
    let changed = shop
        .set_status(&code, status_id, paid, now)
        .map_err(|e| Reply::from_shop(&e))?;
    if let (Some(b), Some(order)) = (billing, shop.orders.get_mut(&code))
        && let Some(m) = order.payment.as_mut()
    {
        m.billing_method_id = Some(b);
    }
    let status_changed = changed && before != status_id && status_id.is_some();
    if status_changed {
        let mut c = super::lock(&sh.counters);
        c.emails_sent += u64::from(!suppress_email);
        c.sms_sent += u64::from(!suppress_sms);
        c.documents_generated += u64::from(!suppress_docs);
    }
    let order = shop
        .orders
        .get(&code)
        .ok_or_else(|| Reply::from_shop(&ShopError::OrderNotFound(code.clone())))?;
    Ok(Reply::ok(
        json!({ "order": wire::order_detail(&shop, order, OrderIncludes::default()) }),
    ))
}

async fn order_notes(State(sh): State<Arc<Shared>>, Path(code): Path<String>, body: Bytes) -> Res {
    let body = parse_body(&body)?;
    let data = data_object(&body)?;
    let mut patch = NotesPatch {
        customer_remark: opt_string(data, "customerRemark", "data")?,
        eshop_remark: opt_string(data, "eshopRemark", "data")?,
        tracking_number: opt_string(data, "trackingNumber", "data")?,
        tracking_url: opt_string(data, "trackingUrl", "data")?,
        additional_fields: Vec::new(),
    };
    if let Some(fields) = data.get("additionalFields") {
        let arr = fields.as_array().ok_or_else(|| {
            schema_error(
                "data.additionalFields",
                "\"additionalFields\" must be an array.",
            )
        })?;
        for f in arr {
            let obj = f.as_object().ok_or_else(|| {
                schema_error(
                    "data.additionalFields",
                    "Each additional field must be an object.",
                )
            })?;
            let index = obj.get("index").and_then(Value::as_u64).ok_or_else(|| {
                schema_error(
                    "data.additionalFields.index",
                    "\"index\" must be an integer.",
                )
            })?;
            let text = opt_string(obj, "text", "data.additionalFields")?.flatten();
            patch
                .additional_fields
                .push((usize::try_from(index).unwrap_or(usize::MAX), text));
        }
    }
    let now = sh.now();
    sh.shop()
        .patch_notes(&code, patch, now)
        .map_err(|e| Reply::from_shop(&e))?;
    Ok(Reply::empty())
}

async fn bulk_status(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Res {
    let p = Params(q);
    let suppress_email = p.flag("suppressEmailSending")?;
    let suppress_sms = p.flag("suppressSmsSending")?;
    let suppress_docs = p.flag("suppressDocumentGeneration")?;
    let body = parse_body(&body)?;
    let data = data_object(&body)?;
    let codes: Vec<String> = data
        .get("orderCodes")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            schema_error(
                "data.orderCodes",
                "\"orderCodes\" must be an array of strings.",
            )
        })?;
    if codes.is_empty() || codes.len() > 100 {
        return Err(schema_error(
            "data.orderCodes",
            "\"orderCodes\" must have 1 to 100 items.",
        ));
    }
    let status_id = data
        .get("statusId")
        .and_then(Value::as_i64)
        .ok_or_else(|| schema_error("data.statusId", "\"statusId\" must be an integer."))?;
    let now = sh.now();
    let mut shop = sh.shop();
    if shop.status(status_id).is_none() {
        return Err(Reply::from_shop(&ShopError::StatusNotFound(status_id)));
    }
    let mut errors = Vec::new();
    let mut changed_count = 0u64;
    for code in &codes {
        let before = shop.orders.get(code).map(|o| o.status_id);
        match shop.set_status(code, Some(status_id), None, now) {
            Ok(changed) => {
                if changed && before != Some(status_id) {
                    changed_count += 1;
                }
            }
            Err(e) => errors.push(ErrorObject::new(
                e.error_code(),
                e.to_string(),
                "data.orderCodes",
            )),
        }
    }
    drop(shop);
    {
        let mut c = super::lock(&sh.counters);
        c.emails_sent += changed_count * u64::from(!suppress_email);
        c.sms_sent += changed_count * u64::from(!suppress_sms);
        c.documents_generated += changed_count * u64::from(!suppress_docs);
    }
    if errors.len() == codes.len() {
        return Err(Reply::errors(StatusCode::BAD_REQUEST, errors));
    }
    Ok(Reply::errors(StatusCode::OK, errors))
}

// ---------------------------------------------------------------- handlers: products

async fn products_list(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Res {
    let p = Params(q);
    let (page, per) = p.paging(20, 1000)?;
    let codes = p.list("productCodes", 50)?;
    let guids = p.list("productGuids", 50)?;
    if codes.is_some() && guids.is_some() {
        return Err(invalid_param(
            "productCodes",
            "Use either productCodes or productGuids, not both.",
        ));
    }
    let shop = sh.shop();
    let all: Vec<&super::state::Product> = shop
        .products
        .iter()
        .filter(|prod| {
            codes.as_ref().is_none_or(|cs| {
                cs.iter().any(|c| {
                    let c = c.to_uppercase();
                    prod.code == c || prod.variants.iter().any(|v| v.code == c)
                })
            })
        })
        .filter(|prod| guids.as_ref().is_none_or(|gs| gs.contains(&prod.guid)))
        .collect();
    let rows = page_of(&all, page, per)?;
    let rows: Vec<Value> = rows.iter().map(|prod| wire::product_head(prod)).collect();
    Ok(Reply::ok(paged("products", rows, all.len(), page, per)))
}

async fn products_changes(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Res {
    let p = Params(q);
    let from = required_from(&p)?;
    let kind = change_kind(&p)?;
    let (page, per) = p.paging(1000, 1000)?;
    let now = sh.now();
    let all = sh.shop().product_changes(from, kind, now);
    let rows = page_of(&all, page, per)?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|(guid, c)| json!({"guid": guid, "changeTime": wire::fmt_time(c.time), "changeType": c.kind.as_str()}))
        .collect();
    Ok(Reply::ok(paged("changes", rows, all.len(), page, per)))
}

async fn product_by_guid(
    State(sh): State<Arc<Shared>>,
    Path(guid): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Res {
    let inc = ProductIncludes::parse(Params(q).get("include"));
    let shop = sh.shop();
    let product = shop
        .product_by_guid(&guid)
        .ok_or_else(|| Reply::from_shop(&ShopError::ProductNotFound(guid.clone())))?;
    Ok(Reply::ok(wire::product_detail(
        &shop,
        product,
        inc,
        sh.supplies_amount,
    )))
}

async fn product_by_code(
    State(sh): State<Arc<Shared>>,
    Path(code): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Res {
    let inc = ProductIncludes::parse(Params(q).get("include"));
    let shop = sh.shop();
    let product = shop
        .product_by_code(&code)
        .ok_or_else(|| Reply::from_shop(&ShopError::ProductNotFound(code.clone())))?;
    Ok(Reply::ok(wire::product_detail(
        &shop,
        product,
        inc,
        sh.supplies_amount,
    )))
}

// ---------------------------------------------------------------- handlers: stocks

async fn stocks(State(sh): State<Arc<Shared>>) -> Reply {
    Reply::ok(wire::stocks(&sh.shop()))
}

fn stock_id(raw: &str) -> Result<i64, Reply> {
    raw.parse::<i64>().map_err(|_| {
        Reply::error(
            StatusCode::NOT_FOUND,
            "stock-not-found",
            format!("Stock with id \"{raw}\" not found."),
            raw.to_string(),
        )
    })
}

async fn supplies(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Res {
    let id = stock_id(&id)?;
    let p = Params(q);
    let (page, per) = p.paging(1000, 1000)?;
    let only_claim = p.flag("onlyWithClaim")?;
    let code = p.get("code").map(str::to_uppercase);
    let guid = p.get("productGuid");
    let shop = sh.shop();
    if !shop.has_stock(id) {
        return Err(Reply::from_shop(&ShopError::StockNotFound(id)));
    }
    let mut all = Vec::new();
    for prod in &shop.products {
        if prod.product_type == ProductType::ProductSet || guid.is_some_and(|g| g != prod.guid) {
            continue;
        }
        for v in &prod.variants {
            if code.as_ref().is_some_and(|c| *c != v.code) {
                continue;
            }
            let lvl = shop.level(id, &v.code).unwrap_or_default();
            if only_claim && lvl.claim.is_zero() {
                continue;
            }
            all.push(json!({
                "productGuid": prod.guid,
                "code": v.code,
                "amount": wire::dec3(wire::supplies_amount(lvl.real_stock, lvl.claim, sh.supplies_amount)),
                "claim": wire::dec3(lvl.claim),
                "location": null,
            }));
        }
    }
    let total = all.len();
    let rows = page_of(&all, page, per)?;
    Ok(Reply::ok(paged("supplies", rows, total, page, per)))
}

/// A JSON number as a Decimal (integers, decimals and exponent forms).
fn number_to_decimal(n: &serde_json::Number) -> Option<Decimal> {
    let s = n.to_string();
    Decimal::from_str(&s)
        .or_else(|_| Decimal::from_scientific(&s))
        .ok()
}

fn parse_movement_row(i: usize, row: &Value) -> Result<(String, Movement), ErrorObject> {
    let bad = |field: &str, msg: String| {
        ErrorObject::new("invalid-request-data", msg, format!("data[{i}]{field}"))
    };
    let obj = row
        .as_object()
        .ok_or_else(|| bad("", "Each row must be an object.".into()))?;
    let code = obj
        .get("productCode")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| {
            bad(
                ".productCode",
                "\"productCode\" is required and must be a string.".into(),
            )
        })?;
    let present: Vec<(&str, &Value)> = ["amountChange", "quantity", "realStock"]
        .into_iter()
        .filter_map(|k| obj.get(k).filter(|v| !v.is_null()).map(|v| (k, v)))
        .collect();
    let [(key, value)] = present.as_slice() else {
        return Err(bad(
            "",
            "Exactly one of \"amountChange\", \"quantity\", \"realStock\" is required.".into(),
        ));
    };
    let amount = value
        .as_number()
        .and_then(number_to_decimal)
        .ok_or_else(|| bad(&format!(".{key}"), format!("\"{key}\" must be a number.")))?
        .round_dp(3);
    let movement = match *key {
        "amountChange" => Movement::AmountChange(amount),
        "quantity" => Movement::Quantity(amount),
        _ => Movement::RealStock(amount),
    };
    Ok((code.to_string(), movement))
}

/// Parses a batch write's body (`{"data": [...]}`) the way Shoptet checks it before applying
/// anything: more than [`MAX_BATCH_ROWS`] rows → 413, no rows or any row failing the schema →
/// 422; nothing is applied in either case.
fn parse_batch<T>(
    body: &Bytes,
    parse_row: impl Fn(usize, &Value) -> Result<T, ErrorObject>,
) -> Result<Vec<T>, Reply> {
    let body = parse_body(body)?;
    let rows = data_array(&body)?;
    if rows.len() > MAX_BATCH_ROWS {
        return Err(Reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-items",
            format!(
                "At most {MAX_BATCH_ROWS} items per request, got {}. Nothing was updated.",
                rows.len()
            ),
            "data",
        ));
    }
    if rows.is_empty() {
        return Err(schema_error(
            "data",
            "\"data\" must have at least one item.",
        ));
    }
    let mut parsed = Vec::with_capacity(rows.len());
    let mut schema_errors = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match parse_row(i, row) {
            Ok(r) => parsed.push(r),
            Err(e) => schema_errors.push(e),
        }
    }
    if !schema_errors.is_empty() {
        return Err(Reply::errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            schema_errors,
        ));
    }
    Ok(parsed)
}

async fn movements(State(sh): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Res {
    let id = stock_id(&id)?;
    if !sh.shop().has_stock(id) {
        return Err(Reply::from_shop(&ShopError::StockNotFound(id)));
    }
    let parsed = parse_batch(&body, parse_movement_row)?;
    let mut shop = sh.shop();
    let mut errors = Vec::new();
    for (code, movement) in &parsed {
        if let Err(e) = shop.apply_movement(id, code, *movement) {
            errors.push(ErrorObject::new(
                e.error_code(),
                e.to_string(),
                e.instance(),
            ));
        }
    }
    if errors.len() == parsed.len() {
        return Err(Reply::errors(StatusCode::BAD_REQUEST, errors));
    }
    Ok(Reply::errors(StatusCode::OK, errors))
}

// ---------------------------------------------------------------- handlers: price lists

async fn pricelists(State(sh): State<Arc<Shared>>) -> Reply {
    let shop = sh.shop();
    let rows: Vec<Value> = shop
        .pricelists
        .iter()
        .map(|p| json!({"id": p.id, "name": p.name}))
        .collect();
    Reply::ok(json!({ "pricelists": rows }))
}

fn pricelist_id(raw: &str) -> Result<i64, Reply> {
    raw.parse::<i64>().map_err(|_| {
        Reply::error(
            StatusCode::NOT_FOUND,
            "pricelist-not-found",
            format!("Price list with id \"{raw}\" not found."),
            raw.to_string(),
        )
    })
}

async fn pricelist_read(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Res {
    let id = pricelist_id(&id)?;
    let p = Params(q);
    let (page, per) = p.paging(100, 100)?;
    let code = p.get("code").map(str::to_uppercase);
    let guid = p.get("guid");
    let shop = sh.shop();
    let pl = shop
        .pricelists
        .iter()
        .find(|pl| pl.id == id)
        .ok_or_else(|| Reply::from_shop(&ShopError::PricelistNotFound(id)))?;
    let all: Vec<Value> = pl
        .entries
        .iter()
        .filter(|(c, _)| code.as_ref().is_none_or(|want| want == *c))
        .filter(|(c, _)| {
            guid.is_none_or(|g| shop.variant(c).is_some_and(|(prod, _)| prod.guid == g))
        })
        .map(|(c, e)| wire::pricelist_row(pl, c, e))
        .collect();
    let total = all.len();
    let rows = page_of(&all, page, per)?;
    Ok(Reply::ok(paged("pricelist", rows, total, page, per)))
}

/// Parses a dec2 string value: `Err(schema)` for wrong JSON types, `Ok(Err(row))` for bad text.
type Parsed<T> = Result<Result<T, ShopError>, ErrorObject>;

fn price_value(v: &Value, path: &str, code: &str, nullable: bool) -> Parsed<Option<Decimal>> {
    match v {
        Value::Null if nullable => Ok(Ok(None)),
        Value::String(s) => Ok(match Decimal::from_str(s.trim()) {
            Ok(d) => Ok(Some(d)),
            Err(_) => Err(ShopError::InvalidData {
                instance: code.to_string(),
                message: format!("Value \"{s}\" of \"{path}\" is not a decimal number."),
            }),
        }),
        _ => Err(ErrorObject::new(
            "invalid-request-data",
            format!(
                "\"{path}\" must be a decimal string{}.",
                if nullable { " or null" } else { "" }
            ),
            path.to_string(),
        )),
    }
}

fn date_value(v: Option<&Value>, path: &str, code: &str) -> Parsed<Option<NaiveDate>> {
    match v {
        None | Some(Value::Null) => Ok(Ok(None)),
        Some(Value::String(s)) => {
            Ok(NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| ShopError::InvalidData {
                    instance: code.to_string(),
                    message: format!("\"{path}\" must be a date YYYY-MM-DD."),
                }))
        }
        Some(_) => Err(ErrorObject::new(
            "invalid-request-data",
            format!("\"{path}\" must be a date string or null."),
            path.to_string(),
        )),
    }
}

macro_rules! try_row {
    ($e:expr) => {
        match $e? {
            Ok(v) => v,
            Err(row_error) => return Ok(Err(row_error)),
        }
    };
}

fn parse_price_fields(obj: &Map<String, Value>, path: &str, code: &str) -> Parsed<PriceFields> {
    let mut f = PriceFields::default();
    if let Some(v) = obj.get("price") {
        f.price = try_row!(price_value(v, &format!("{path}.price"), code, false));
    }
    if let Some(v) = obj.get("commonPrice") {
        f.common_price = Some(try_row!(price_value(
            v,
            &format!("{path}.commonPrice"),
            code,
            true
        )));
    }
    if let Some(v) = obj.get("buyPrice") {
        f.buy_price = Some(try_row!(price_value(
            v,
            &format!("{path}.buyPrice"),
            code,
            true
        )));
    }
    if let Some(v) = obj.get("priceRatio") {
        f.price_ratio = try_row!(price_value(v, &format!("{path}.priceRatio"), code, false));
    }
    if let Some(v) = obj.get("actionPrice") {
        f.action_price = Some(match v {
            Value::Null => None,
            Value::Object(a) => {
                let ap = format!("{path}.actionPrice");
                let price = match a.get("price") {
                    Some(pv) => try_row!(price_value(pv, &format!("{ap}.price"), code, false)),
                    None => None,
                };
                let Some(price) = price else {
                    return Ok(Err(ShopError::InvalidData {
                        instance: code.to_string(),
                        message: format!("\"{ap}.price\" is required."),
                    }));
                };
                Some(ActionPrice {
                    price,
                    from_date: try_row!(date_value(
                        a.get("fromDate"),
                        &format!("{ap}.fromDate"),
                        code
                    )),
                    to_date: try_row!(date_value(a.get("toDate"), &format!("{ap}.toDate"), code)),
                })
            }
            _ => {
                return Err(ErrorObject::new(
                    "invalid-request-data",
                    format!("\"{path}.actionPrice\" must be an object or null."),
                    format!("{path}.actionPrice"),
                ));
            }
        });
    }
    Ok(Ok(f))
}

fn parse_price_row(i: usize, row: &Value) -> Parsed<PricePatch> {
    let path = format!("data[{i}]");
    let obj = row.as_object().ok_or_else(|| {
        ErrorObject::new(
            "invalid-request-data",
            "Each row must be an object.",
            path.clone(),
        )
    })?;
    let code = obj
        .get("code")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| {
            ErrorObject::new(
                "invalid-request-data",
                "\"code\" is required and must be a string.",
                format!("{path}.code"),
            )
        })?
        .to_uppercase();
    let mut patch = PricePatch {
        code: code.clone(),
        ..PricePatch::default()
    };
    for (key, basis) in [
        ("price", PriceBasis::AsIs),
        ("priceWithVat", PriceBasis::Gross),
        ("priceWithoutVat", PriceBasis::Net),
    ] {
        match obj.get(key) {
            None => {}
            Some(Value::Object(o)) => {
                let fields = try_row!(parse_price_fields(o, &format!("{path}.{key}"), &code));
                patch.prices.push((basis, fields));
            }
            Some(_) => {
                return Err(ErrorObject::new(
                    "invalid-request-data",
                    format!("\"{key}\" must be an object."),
                    format!("{path}.{key}"),
                ));
            }
        }
    }
    if let Some(v) = obj.get("vatRate") {
        patch.vat_rate = try_row!(price_value(v, &format!("{path}.vatRate"), &code, false));
    }
    if let Some(v) = obj.get("orderableAmount") {
        let o = v.as_object().ok_or_else(|| {
            ErrorObject::new(
                "invalid-request-data",
                "\"orderableAmount\" must be an object.",
                format!("{path}.orderableAmount"),
            )
        })?;
        if let Some(m) = o.get("minimumAmount") {
            patch.min_amount = Some(try_row!(price_value(
                m,
                &format!("{path}.orderableAmount.minimumAmount"),
                &code,
                true
            )));
        }
        if let Some(m) = o.get("maximumAmount") {
            patch.max_amount = Some(try_row!(price_value(
                m,
                &format!("{path}.orderableAmount.maximumAmount"),
                &code,
                true
            )));
        }
    }
    let accepted_only = ["includingVat", "currencyCode", "sales", "prices"]
        .iter()
        .any(|k| obj.contains_key(*k));
    if patch.prices.is_empty()
        && patch.vat_rate.is_none()
        && patch.min_amount.is_none()
        && patch.max_amount.is_none()
        && !accepted_only
    {
        return Ok(Err(ShopError::InvalidData {
            instance: code,
            message:
                "Nothing to update: give price, priceWithVat, priceWithoutVat or another field."
                    .into(),
        }));
    }
    Ok(Ok(patch))
}

async fn pricelist_patch(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Res {
    let id = pricelist_id(&id)?;
    if !sh.shop().pricelists.iter().any(|p| p.id == id) {
        return Err(Reply::from_shop(&ShopError::PricelistNotFound(id)));
    }
    let parsed = parse_batch(&body, parse_price_row)?;
    let now = sh.now();
    let mut shop = sh.shop();
    let mut errors = Vec::new();
    for row in &parsed {
        let result = match row {
            Ok(patch) => shop.patch_price(id, patch, now),
            Err(e) => Err(e.clone()),
        };
        if let Err(e) = result {
            errors.push(ErrorObject::new(
                e.error_code(),
                e.to_string(),
                e.instance(),
            ));
        }
    }
    if errors.len() == parsed.len() {
        return Err(Reply::errors(StatusCode::BAD_REQUEST, errors));
    }
    Ok(Reply::errors(StatusCode::OK, errors))
}

// ---------------------------------------------------------------- OAuth

async fn mint_token(State(sh): State<Arc<Shared>>, headers: HeaderMap) -> Reply {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let now = sh.now();
    match super::lock(&sh.tokens).mint(auth, now) {
        Ok((token, expires_in)) => Reply::raw(
            StatusCode::OK,
            json!({ "access_token": token, "expires_in": expires_in }),
        ),
        Err(e) => Reply::raw(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::UNAUTHORIZED),
            json!({ "error": e.error }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_with_and_without_colon() {
        let a = parse_time("2025-03-14T09:41:07+0100").unwrap();
        let b = parse_time("2025-03-14T09:41:07+01:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_rfc3339(), "2025-03-14T08:41:07+00:00");
        // An unencoded '+' arrives as a space.
        assert!(parse_time("2025-03-14T09:41:07 0100").is_none());
    }

    #[test]
    fn movement_rows_need_exactly_one_number() {
        let ok = parse_movement_row(0, &json!({"productCode": "A", "realStock": 14})).unwrap();
        assert_eq!(ok.1, Movement::RealStock(Decimal::from(14)));
        let ok = parse_movement_row(0, &json!({"productCode": "A", "amountChange": -1.5})).unwrap();
        assert_eq!(ok.1, Movement::AmountChange(Decimal::new(-15, 1)));
        assert!(parse_movement_row(0, &json!({"productCode": "A", "realStock": "14"})).is_err());
        assert!(
            parse_movement_row(
                0,
                &json!({"productCode": "A", "realStock": 1, "quantity": 2})
            )
            .is_err()
        );
        assert!(parse_movement_row(0, &json!({"productCode": "A"})).is_err());
        assert!(parse_movement_row(0, &json!({"realStock": 1})).is_err());
    }

    #[test]
    fn price_rows_separate_schema_and_row_errors() {
        let r = parse_price_row(
            0,
            &json!({"code": "a", "priceWithVat": {"price": "649.00", "commonPrice": null}}),
        );
        let patch = r.unwrap().unwrap();
        assert_eq!(patch.code, "A");
        assert_eq!(patch.prices[0].1.common_price, Some(None));
        assert!(parse_price_row(0, &json!({"code": "a", "price": {"price": 649}})).is_err());
        assert!(
            parse_price_row(0, &json!({"code": "a", "price": {"price": "abc"}}))
                .unwrap()
                .is_err()
        );
        assert!(parse_price_row(0, &json!({"code": "a"})).unwrap().is_err());
    }

    #[test]
    fn pages_past_the_end_are_404() {
        let items: Vec<u32> = (0..5).collect();
        assert_eq!(page_of(&items, 2, 3).unwrap(), vec![3, 4]);
        assert!(page_of(&items, 3, 3).is_err());
        let none: Vec<u32> = Vec::new();
        assert!(page_of(&none, 1, 3).unwrap().is_empty());
    }
}
