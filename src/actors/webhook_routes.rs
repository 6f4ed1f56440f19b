//! The table the daemon's webhook listener routes deliveries by (unguessable path token →
//! store), and the check of one delivery: size, signature over the raw bytes (constant time)
//! before anything is parsed, the shop id, then the only thing a delivery may do — wake a
//! reader ([`crate::domain::webhook::delivery_action`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::integration::{JobFinished, WakeOrders};
use crate::domain::Secret;
use crate::domain::webhook::{DeliveryAction, MAX_DELIVERY_BYTES, delivery_action, is_path_token};
use crate::shoptet::webhooks::{WebhookDeliveryBody, verify_signature};

/// Webhooks as configured for the daemon: where Shoptet reaches us, and the routing table.
#[derive(Clone)]
pub struct WebhookSetup {
    /// `[webhooks] public_url`: each store's URL is this plus `/<token>`.
    pub public_url: String,
    /// Shared with the listener.
    pub routes: Arc<WebhookRoutes>,
}

impl std::fmt::Debug for WebhookSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSetup")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// Delivery counters of one store (kept by its actor across route changes).
#[derive(Debug, Default)]
pub struct WebhookCounters {
    delivered: AtomicU64,
    rejected: AtomicU64,
    last_delivery: Mutex<Option<DateTime<Utc>>>,
}

impl WebhookCounters {
    /// Verified deliveries.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Refused deliveries.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// When the last verified delivery arrived.
    pub fn last_delivery(&self) -> Option<DateTime<Utc>> {
        self.last_delivery.lock().ok().and_then(|g| *g)
    }
}

/// Where one store's deliveries go.
pub struct Route {
    /// Store name (logs).
    pub store: String,
    /// The signature key (from `renew-signature-key`).
    pub key: Secret,
    /// The shop's id; learned from the first verified delivery when the shop did not say.
    pub eshop_id: Mutex<Option<i64>>,
    /// The store's order reader.
    pub wake: Recipient<WakeOrders>,
    /// The store's snapshot waiter.
    pub jobs: Recipient<JobFinished>,
    /// Counters.
    pub counters: Arc<WebhookCounters>,
    /// The store's figures in the metrics registry (webhooks received and rejected).
    pub metrics: Arc<crate::metrics::StoreMetrics>,
}

impl Route {
    /// Counts a refused delivery (status counters and metrics).
    fn reject(&self) {
        self.counters.rejected.fetch_add(1, Ordering::Relaxed);
        self.metrics.webhook_rejected();
    }
}

/// Path token → route.
#[derive(Default)]
pub struct WebhookRoutes {
    map: RwLock<HashMap<String, Arc<Route>>>,
}

/// How the listener answers one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Verified; 200.
    Accepted,
    /// Bad or missing signature, or another shop's id; 401.
    Unauthorized,
    /// Signed but not a delivery body; 400.
    Malformed,
    /// Larger than [`MAX_DELIVERY_BYTES`]; 413.
    TooLarge,
    /// No store has this path; 404.
    UnknownPath,
}

impl WebhookRoutes {
    /// Routes `token` to `route` (replacing an older route of the token).
    pub fn install(&self, token: &str, route: Route) {
        if let Ok(mut map) = self.map.write() {
            map.insert(token.to_owned(), Arc::new(route));
        }
    }

    /// Stops routing `token`.
    pub fn remove(&self, token: &str) {
        if let Ok(mut map) = self.map.write() {
            map.remove(token);
        }
    }

    fn get(&self, token: &str) -> Option<Arc<Route>> {
        self.map.read().ok()?.get(token).cloned()
    }

    /// Checks one delivery to `token` and, when it is genuine, wakes the store. Nothing is
    /// parsed before the signature over the exact raw bytes verifies; the body is never logged.
    pub fn deliver(&self, token: &str, signature: Option<&str>, body: &[u8]) -> Verdict {
        if !is_path_token(token) {
            return Verdict::UnknownPath;
        }
        let Some(route) = self.get(token) else {
            return Verdict::UnknownPath;
        };
        if body.len() > MAX_DELIVERY_BYTES {
            route.reject();
            return Verdict::TooLarge;
        }
        let genuine =
            signature.is_some_and(|sig| verify_signature(route.key.expose().as_bytes(), body, sig));
        if !genuine {
            route.reject();
            tracing::warn!(
                store = %route.store,
                signature = if signature.is_some() { "wrong" } else { "missing" },
                "webhook delivery refused: bad or missing signature"
            );
            return Verdict::Unauthorized;
        }
        let Ok(delivery) = serde_json::from_slice::<WebhookDeliveryBody>(body) else {
            route.reject();
            tracing::warn!(store = %route.store, "webhook delivery refused: not a delivery body");
            return Verdict::Malformed;
        };
        {
            let Ok(mut expected) = route.eshop_id.lock() else {
                route.reject();
                return Verdict::Unauthorized;
            };
            match *expected {
                Some(id) if id != delivery.eshop_id => {
                    route.reject();
                    tracing::warn!(
                        store = %route.store,
                        eshop_id = delivery.eshop_id,
                        expected = id,
                        "webhook delivery refused: another shop's id"
                    );
                    return Verdict::Unauthorized;
                }
                Some(_) => {}
                None => *expected = Some(delivery.eshop_id),
            }
        }
        route.counters.delivered.fetch_add(1, Ordering::Relaxed);
        route.metrics.webhook_received();
        if let Ok(mut last) = route.counters.last_delivery.lock() {
            *last = Some(Utc::now());
        }
        match delivery_action(&delivery.event, &delivery.event_instance) {
            DeliveryAction::WakeOrders => route.wake.do_send(WakeOrders),
            DeliveryAction::JobFinished(job_id) => route.jobs.do_send(JobFinished(job_id)),
            DeliveryAction::Ignore => {}
        }
        Verdict::Accepted
    }
}
