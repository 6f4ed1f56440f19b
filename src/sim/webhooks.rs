//! Shoptet webhooks in the simulator (reference §9): the registration API, the signature key,
//! signed deliveries with configurable delay, loss and retries, and the notifications log.
//!
//! Shop changes are recorded as [`super::state::ShopEvent`]s; the dispatcher task drains them
//! every few milliseconds, finds the registrations for each event and delivers one signed POST
//! per registration, exactly as Shoptet would (compact JSON, `Shoptet-Webhook-Signature`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::http::{Params, Reply, Res, data_array, data_object, page_of, paged, parse_body};
use super::state::ShopEvent;
use super::wire::{self, ErrorObject};
use super::{Shared, lock};
use crate::shoptet::webhooks::{SIGNATURE_HEADER, sign_body};

/// Most registrations in one `POST /api/webhooks`.
const MAX_PER_CALL: usize = 50;
/// Longest accepted webhook URL.
const MAX_URL_CHARS: usize = 2000;
/// Ports Shoptet delivers to (https only, except on loopback in the simulator).
const ALLOWED_PORTS: [u16; 4] = [80, 8080, 443, 8443];
/// How long the notifications log keeps an entry.
const NOTIFICATION_RETENTION_DAYS: i64 = 7;
/// Upper bound of the log, whatever its age.
const MAX_NOTIFICATIONS: usize = 50_000;

/// Events the registration API accepts (system `addon:*` events are configured elsewhere).
pub const KNOWN_EVENTS: &[&str] = &[
    "order:create",
    "order:update",
    "order:delete",
    "order:paid",
    "order:cancel",
    "order:massCreate",
    "order:massUpdate",
    "order:massPaid",
    "orderStatusesList:change",
    "stock:movement",
    "stock:inStock",
    "stock:soldOut",
    "stock:minStockSupplyReached",
    "product:create",
    "product:update",
    "product:delete",
    "productVariant:create",
    "productVariant:update",
    "productVariant:delete",
    "productVariantPrice:update",
    "customer:create",
    "customer:update",
    "customer:disableOrders",
    "customer:enableOrders",
    "job:finished",
    "eshop:projectDomain",
];

/// Registrations that cannot coexist (409).
const EXCLUSIVE: &[(&str, &str)] = &[
    ("order:update", "order:cancel"),
    ("customer:update", "customer:disableOrders"),
    ("customer:update", "customer:enableOrders"),
];

/// How deliveries behave (Shoptet's retry count and timeout are unconfirmed, so configurable).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WebhookDelivery {
    /// Wait between the event and the first attempt.
    pub delay_ms: u64,
    /// Probability that one attempt never reaches the receiver (0.0–1.0).
    pub loss_rate: f64,
    /// Further attempts after a failed or lost one.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_interval_ms: u64,
    /// An attempt not answered within this counts as failed.
    pub timeout_ms: u64,
}

impl Default for WebhookDelivery {
    fn default() -> Self {
        Self {
            delay_ms: 0,
            loss_rate: 0.0,
            retries: 3,
            retry_interval_ms: 1000,
            timeout_ms: 4000,
        }
    }
}

/// One registration as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    /// Id.
    pub id: i64,
    /// Event name.
    pub event: String,
    /// Target URL.
    pub url: String,
}

/// One entry of the notifications log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    /// Id.
    pub id: i64,
    /// Registration it was sent for.
    pub webhook_id: i64,
    /// Event name.
    pub event: String,
    /// `eventInstance`.
    pub event_instance: String,
    /// Attempts made.
    pub attempts: u32,
    /// `new`, `success` or `failed`.
    pub status: String,
}

/// Delivery counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookStats {
    /// Deliveries answered with 2xx.
    pub delivered: u64,
    /// Attempts lost on the way (never reached the receiver).
    pub lost: u64,
    /// Attempts answered with a non-2xx status or not answered in time.
    pub failed: u64,
    /// Deliveries given up after the last retry.
    pub given_up: u64,
}

#[derive(Debug, Clone)]
struct Registration {
    id: i64,
    event: String,
    url: String,
    created: DateTime<Utc>,
    updated: Option<DateTime<Utc>>,
    send_payload: Option<String>,
}

#[derive(Debug, Clone)]
struct Notification {
    id: i64,
    webhook_id: i64,
    webhook_url: String,
    event: String,
    event_created: DateTime<Utc>,
    event_instance: String,
    created: DateTime<Utc>,
    attempted: Option<DateTime<Utc>>,
    attempts: u32,
    status: &'static str,
}

/// One delivery to make.
struct Delivery {
    notification_id: i64,
    url: String,
    body: Vec<u8>,
}

/// Webhook state of the shop (one installation).
pub(crate) struct WebhookHub {
    registrations: BTreeMap<i64, Registration>,
    next_id: i64,
    signature_key: String,
    notifications: VecDeque<Notification>,
    next_notification_id: i64,
    delivery: WebhookDelivery,
    rng: StdRng,
    stats: WebhookStats,
    http: reqwest::Client,
}

impl WebhookHub {
    pub(crate) fn new(seed: u64, delivery: WebhookDelivery) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x00AB_0000);
        let signature_key = random_key(&mut rng);
        Self {
            registrations: BTreeMap::new(),
            next_id: 1,
            signature_key,
            notifications: VecDeque::new(),
            next_notification_id: 1,
            delivery,
            rng,
            stats: WebhookStats::default(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    /// Whether any registration exists for `event`.
    pub(crate) fn has(&self, event: &str) -> bool {
        self.registrations.values().any(|r| r.event == event)
    }

    pub(crate) fn views(&self) -> Vec<WebhookView> {
        self.registrations
            .values()
            .map(|r| WebhookView {
                id: r.id,
                event: r.event.clone(),
                url: r.url.clone(),
            })
            .collect()
    }

    pub(crate) fn notification_views(&self) -> Vec<NotificationView> {
        self.notifications
            .iter()
            .map(|n| NotificationView {
                id: n.id,
                webhook_id: n.webhook_id,
                event: n.event.clone(),
                event_instance: n.event_instance.clone(),
                attempts: n.attempts,
                status: n.status.to_string(),
            })
            .collect()
    }

    pub(crate) fn signature_key(&self) -> String {
        self.signature_key.clone()
    }

    pub(crate) fn stats(&self) -> WebhookStats {
        self.stats
    }

    pub(crate) fn delivery(&self) -> WebhookDelivery {
        self.delivery.clone()
    }

    pub(crate) fn set_delivery(&mut self, delivery: WebhookDelivery) {
        self.delivery = delivery;
    }

    /// Logs one notification per registration of the event and returns what to send.
    fn plan(&mut self, eshop_id: i64, ev: &ShopEvent, now: DateTime<Utc>) -> Vec<Delivery> {
        let targets: Vec<(i64, String)> = self
            .registrations
            .values()
            .filter(|r| r.event == ev.event)
            .map(|r| (r.id, r.url.clone()))
            .collect();
        if targets.is_empty() {
            return Vec::new();
        }
        // Compact, keys in Shoptet's order (serde_json's map sorts them, which matches).
        let body = json!({
            "eshopId": eshop_id,
            "event": ev.event,
            "eventCreated": wire::fmt_time(ev.created),
            "eventInstance": ev.instance,
        });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut out = Vec::new();
        for (webhook_id, url) in targets {
            let id = self.next_notification_id;
            self.next_notification_id += 1;
            self.notifications.push_back(Notification {
                id,
                webhook_id,
                webhook_url: url.clone(),
                event: ev.event.to_string(),
                event_created: ev.created,
                event_instance: ev.instance.clone(),
                created: now,
                attempted: None,
                attempts: 0,
                status: "new",
            });
            out.push(Delivery {
                notification_id: id,
                url,
                body: body.clone(),
            });
        }
        self.prune(now);
        out
    }

    fn prune(&mut self, now: DateTime<Utc>) {
        let horizon = now - chrono::Duration::days(NOTIFICATION_RETENTION_DAYS);
        while self
            .notifications
            .front()
            .is_some_and(|n| n.created < horizon || self.notifications.len() > MAX_NOTIFICATIONS)
        {
            self.notifications.pop_front();
        }
    }

    fn record_attempt(&mut self, id: i64, now: DateTime<Utc>, status: &'static str) {
        if let Some(n) = self.notifications.iter_mut().rev().find(|n| n.id == id) {
            n.attempts += 1;
            n.attempted = Some(now);
            n.status = status;
        }
    }
}

fn random_key(rng: &mut StdRng) -> String {
    format!("{:032x}", rng.r#gen::<u128>())
}

/// Checks a webhook URL: https on ports 80/8080/443/8443; loopback (the simulator's tests and
/// demo) may use plain http and any port.
pub fn check_url(raw: &str) -> Result<(), String> {
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(format!("URL is longer than {MAX_URL_CHARS} characters."));
    }
    let url = reqwest::Url::parse(raw).map_err(|_| "URL is not valid.".to_string())?;
    let host = url
        .host_str()
        .ok_or_else(|| "URL has no host.".to_string())?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback && matches!(url.scheme(), "http" | "https") {
        return Ok(());
    }
    if url.scheme() != "https" {
        return Err("Only https URLs are allowed.".into());
    }
    let port = url.port_or_known_default().unwrap_or(0);
    if !ALLOWED_PORTS.contains(&port) {
        return Err(format!(
            "Port {port} is not allowed; use one of 80, 8080, 443, 8443."
        ));
    }
    Ok(())
}

/// The webhook routes (wrapped in the API pipeline by [`super::http::router`]).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/webhooks", get(list).post(create))
        .route("/api/webhooks/renew-signature-key", post(renew_key))
        .route("/api/webhooks/notifications", get(notifications))
        .route(
            "/api/webhooks/{id}",
            get(read_one).patch(patch_one).delete(delete_one),
        )
}

fn reg_json(r: &Registration) -> Value {
    json!({
        "id": r.id,
        "event": r.event,
        "url": r.url,
        "created": wire::fmt_time(r.created),
        "updated": r.updated.map(wire::fmt_time),
        "sendPayload": r.send_payload,
    })
}

fn not_found(id: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        "webhook-not-found",
        format!("Webhook \"{id}\" not found."),
        id.to_string(),
    )
}

fn validation(instance: String, message: impl Into<String>) -> ErrorObject {
    ErrorObject::new("validation-error", message, instance)
}

async fn list(State(sh): State<Arc<Shared>>, Query(q): Query<Vec<(String, String)>>) -> Res {
    let p = Params(q);
    let (page, per) = p.paging(20, 500)?;
    let hub = lock(&sh.webhooks);
    let all: Vec<Value> = hub.registrations.values().map(reg_json).collect();
    let rows = page_of(&all, page, per)?;
    Ok(Reply::ok(paged("webhooks", rows, all.len(), page, per)))
}

/// Reads `{event, url, sendPayload}` of one registration.
fn parse_reg(
    row: &Value,
    path: &str,
) -> Result<(String, String, Option<String>), Vec<ErrorObject>> {
    let mut errors = Vec::new();
    let event = row.get("event").and_then(Value::as_str).unwrap_or_default();
    if !KNOWN_EVENTS.contains(&event) {
        errors.push(validation(
            format!("{path}.event"),
            format!("Event \"{event}\" is not supported."),
        ));
    }
    let url = row.get("url").and_then(Value::as_str).unwrap_or_default();
    if let Err(message) = check_url(url) {
        errors.push(validation(format!("{path}.url"), message));
    }
    let send_payload = row
        .get("sendPayload")
        .and_then(Value::as_str)
        .map(str::to_string);
    if errors.is_empty() {
        Ok((event.to_string(), url.to_string(), send_payload))
    } else {
        Err(errors)
    }
}

fn exclusive_with<'a>(event: &str, others: impl Iterator<Item = &'a str>) -> Option<String> {
    let others: Vec<&str> = others.collect();
    EXCLUSIVE.iter().find_map(|(a, b)| {
        if event == *a && others.contains(b) {
            Some((*b).to_string())
        } else if event == *b && others.contains(a) {
            Some((*a).to_string())
        } else {
            None
        }
    })
}

async fn create(State(sh): State<Arc<Shared>>, body: Bytes) -> Res {
    let body = parse_body(&body)?;
    let rows = data_array(&body)?;
    if rows.is_empty() || rows.len() > MAX_PER_CALL {
        return Err(Reply::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
            format!("Between 1 and {MAX_PER_CALL} webhooks can be registered in one call."),
            "data",
        ));
    }
    let now = sh.now();
    let mut hub = lock(&sh.webhooks);
    let mut invalid = Vec::new();
    let mut conflicts = Vec::new();
    let mut accepted: Vec<(String, String, Option<String>)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let path = format!("data[{i}]");
        match parse_reg(row, &path) {
            Err(mut e) => invalid.append(&mut e),
            Ok((event, url, send_payload)) => {
                let taken = hub.has(&event) || accepted.iter().any(|(e, _, _)| *e == event);
                if taken {
                    invalid.push(ErrorObject::new(
                        "validation-error",
                        "Webhook already exists for this event.",
                        format!("{path}.event"),
                    ));
                    continue;
                }
                let existing = hub
                    .registrations
                    .values()
                    .map(|r| r.event.as_str())
                    .chain(accepted.iter().map(|(e, _, _)| e.as_str()));
                if let Some(other) = exclusive_with(&event, existing) {
                    conflicts.push(ErrorObject::new(
                        "webhook-conflict",
                        format!(
                            "Event \"{event}\" cannot be registered together with \"{other}\"."
                        ),
                        format!("{path}.event"),
                    ));
                    continue;
                }
                accepted.push((event, url, send_payload));
            }
        }
    }
    if !invalid.is_empty() {
        invalid.extend(conflicts);
        return Err(Reply::errors(StatusCode::UNPROCESSABLE_ENTITY, invalid));
    }
    if !conflicts.is_empty() {
        return Err(Reply::errors(StatusCode::CONFLICT, conflicts));
    }
    let mut created = Vec::new();
    for (event, url, send_payload) in accepted {
        let id = hub.next_id;
        hub.next_id += 1;
        let reg = Registration {
            id,
            event,
            url,
            created: now,
            updated: None,
            send_payload,
        };
        created.push(reg_json(&reg));
        hub.registrations.insert(id, reg);
    }
    Ok(Reply::ok(json!({ "webhooks": created })).with_status(StatusCode::CREATED))
}

fn webhook_id(raw: &str) -> Result<i64, Reply> {
    raw.parse::<i64>().map_err(|_| not_found(raw))
}

async fn read_one(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Res {
    let n = webhook_id(&id)?;
    let hub = lock(&sh.webhooks);
    let reg = hub.registrations.get(&n).ok_or_else(|| not_found(&id))?;
    Ok(Reply::ok(json!({ "webhook": reg_json(reg) })))
}

async fn patch_one(State(sh): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Res {
    let n = webhook_id(&id)?;
    let body = parse_body(&body)?;
    let data = Value::Object(data_object(&body)?.clone());
    let (event, url, send_payload) =
        parse_reg(&data, "data").map_err(|e| Reply::errors(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let now = sh.now();
    let mut hub = lock(&sh.webhooks);
    if !hub.registrations.contains_key(&n) {
        return Err(not_found(&id));
    }
    if hub
        .registrations
        .values()
        .any(|r| r.id != n && r.event == event)
    {
        return Err(Reply::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
            "Webhook already exists for this event.",
            "data.event",
        ));
    }
    let others: Vec<String> = hub
        .registrations
        .values()
        .filter(|r| r.id != n)
        .map(|r| r.event.clone())
        .collect();
    if let Some(other) = exclusive_with(&event, others.iter().map(String::as_str)) {
        return Err(Reply::error(
            StatusCode::CONFLICT,
            "webhook-conflict",
            format!("Event \"{event}\" cannot be registered together with \"{other}\"."),
            "data.event",
        ));
    }
    let reg = hub
        .registrations
        .get_mut(&n)
        .ok_or_else(|| not_found(&id))?;
    reg.event = event;
    reg.url = url;
    reg.send_payload = send_payload;
    reg.updated = Some(now);
    Ok(Reply::ok(json!({ "webhook": reg_json(reg) })))
}

async fn delete_one(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Res {
    let n = webhook_id(&id)?;
    lock(&sh.webhooks)
        .registrations
        .remove(&n)
        .ok_or_else(|| not_found(&id))?;
    Ok(Reply::empty())
}

async fn renew_key(State(sh): State<Arc<Shared>>) -> Reply {
    let mut hub = lock(&sh.webhooks);
    let key = random_key(&mut hub.rng);
    hub.signature_key = key.clone();
    Reply::ok(json!({ "signatureKey": key }))
}

async fn notifications(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Res {
    let p = Params(q);
    let (page, per) = p.paging(20, 500)?;
    let from = p.time("from")?;
    let status = p.get("status").map(str::to_string);
    let event = p.get("event").map(str::to_string);
    let eshop_id = sh.shop().eshop.id;
    let hub = lock(&sh.webhooks);
    let all: Vec<Value> = hub
        .notifications
        .iter()
        .filter(|n| status.as_deref().is_none_or(|s| s == n.status))
        .filter(|n| event.as_deref().is_none_or(|e| e == n.event))
        .filter(|n| from.is_none_or(|f| n.created >= f))
        .map(|n| {
            json!({
                "id": n.id,
                "webhookId": n.webhook_id,
                "webhookUrl": n.webhook_url,
                "event": n.event,
                "eventCreated": wire::fmt_time(n.event_created),
                "created": wire::fmt_time(n.created),
                "attempted": n.attempted.map(wire::fmt_time),
                "attempts": n.attempts,
                "status": n.status,
                "active": hub.registrations.contains_key(&n.webhook_id),
                "data": {
                    "eshopId": eshop_id,
                    "event": n.event,
                    "eventCreated": wire::fmt_time(n.event_created),
                    "eventInstance": n.event_instance,
                },
            })
        })
        .collect();
    let rows = page_of(&all, page, per)?;
    Ok(Reply::ok(paged(
        "notifications",
        rows,
        all.len(),
        page,
        per,
    )))
}

/// The dispatcher: completes due jobs, drains shop events and delivers them, until shutdown.
/// Deliveries run in a set owned by this task, so stopping it stops them all.
pub(crate) async fn run_dispatcher(sh: Arc<Shared>) {
    // Busy only while something can happen: with no registration there is nothing to deliver
    // and no job can be queued, so an idle simulator wakes rarely (tests measure daemon CPU
    // with the simulator in the same process).
    const BUSY_TICK: Duration = Duration::from_millis(10);
    const IDLE_TICK: Duration = Duration::from_millis(250);
    let mut stop = sh.shutdown.clone();
    let mut deliveries = JoinSet::new();
    loop {
        let idle = lock(&sh.webhooks).registrations.is_empty() && lock(&sh.jobs).is_idle();
        let wait = if idle { IDLE_TICK } else { BUSY_TICK };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        while deliveries.try_join_next().is_some() {}
        super::jobs::advance(&sh);
        let (events, eshop_id) = {
            let mut shop = sh.shop();
            (shop.take_events(), shop.eshop.id)
        };
        if events.is_empty() {
            continue;
        }
        let now = sh.now();
        let planned: Vec<Delivery> = {
            let mut hub = lock(&sh.webhooks);
            events
                .iter()
                .flat_map(|ev| hub.plan(eshop_id, ev, now))
                .collect()
        };
        for d in planned {
            deliveries.spawn(deliver(Arc::clone(&sh), d));
        }
    }
    deliveries.abort_all();
}

async fn deliver(sh: Arc<Shared>, d: Delivery) {
    let (config, http) = {
        let hub = lock(&sh.webhooks);
        (hub.delivery.clone(), hub.http.clone())
    };
    tokio::time::sleep(Duration::from_millis(config.delay_ms)).await;
    let mut wait = Duration::from_millis(config.retry_interval_ms);
    for attempt in 0..=config.retries {
        if attempt > 0 {
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
        let (lost, key) = {
            let mut hub = lock(&sh.webhooks);
            let lost = config.loss_rate > 0.0 && hub.rng.r#gen::<f64>() < config.loss_rate;
            (lost, hub.signature_key.clone())
        };
        let ok = if lost {
            false
        } else {
            let signature = sign_body(key.as_bytes(), &d.body);
            http.post(&d.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature)
                .timeout(Duration::from_millis(config.timeout_ms))
                .body(d.body.clone())
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        };
        let now = sh.now();
        let mut hub = lock(&sh.webhooks);
        if ok {
            hub.stats.delivered += 1;
            hub.record_attempt(d.notification_id, now, "success");
            return;
        }
        if lost {
            hub.stats.lost += 1;
        } else {
            hub.stats.failed += 1;
        }
        hub.record_attempt(d.notification_id, now, "failed");
    }
    lock(&sh.webhooks).stats.given_up += 1;
}
