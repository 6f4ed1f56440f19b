//! A TEST DOUBLE of the daemon's request handler, for protocol and socket tests only: a small
//! in-memory map of integrations and stock, nothing like the real actors. A few ops have test
//! behaviours: `sync.orders` waits on a gate, `sync.full` never finishes, `sync.prices` panics.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use shoptet_sync::control::protocol::*;
use shoptet_sync::domain::*;
use tokio::sync::Notify;
use uuid::Uuid;

#[derive(Default)]
pub struct State {
    pub integrations: BTreeMap<String, Integration>,
    /// (integration, code) → on hand.
    pub stock: BTreeMap<(String, String), Decimal>,
    pub callers: Vec<Caller>,
}

#[derive(Default)]
pub struct MemoryHandler {
    pub state: Mutex<State>,
    /// Opened by the test to let a waiting `sync.orders` finish.
    pub gate: Notify,
    /// Set once a `sync.orders` call is waiting on the gate.
    pub gate_entered: AtomicBool,
    pub calls: AtomicUsize,
}

fn fixed_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap()
}

impl MemoryHandler {
    fn integration(&self, name: &str) -> Result<Integration, ControlError> {
        self.state
            .lock()
            .unwrap()
            .integrations
            .get(name)
            .cloned()
            .ok_or_else(|| ControlError::not_found(format!("no integration named `{name}`")))
    }

    fn serve(&self, caller: &Caller, request: Request) -> Result<Response, ControlError> {
        match request {
            Request::IntegrationCreate(new) => {
                let mut state = self.state.lock().unwrap();
                if state.integrations.contains_key(&new.name) {
                    return Err(ControlError::conflict(format!(
                        "an integration named `{}` already exists",
                        new.name
                    )));
                }
                let integration = Integration {
                    id: Uuid::new_v4(),
                    name: new.name.clone(),
                    eshop_url: new.eshop_url,
                    api_base_url: new
                        .api_base_url
                        .unwrap_or_else(|| "https://api.myshoptet.com".into()),
                    credentials: new.credentials.map(Credentials::from),
                    status: IntegrationStatus::Inactive,
                    status_reason: None,
                    last_sync: None,
                    last_order_sync: None,
                    last_inventory_sync: None,
                    auto_order_import: new.auto_order_import.unwrap_or(true),
                    auto_inventory_sync: new.auto_inventory_sync.unwrap_or(true),
                    auto_status_update: new.auto_status_update.unwrap_or(true),
                    sync_interval_minutes: new.sync_interval_minutes.unwrap_or(15),
                    default_warehouse_code: new.default_warehouse_code.unwrap_or("MAIN".into()),
                    shoptet_stock_id: new.shoptet_stock_id.unwrap_or(1),
                    status_mapping: new.status_mapping.unwrap_or_default(),
                    low_stock_threshold: new.low_stock_threshold.unwrap_or(Decimal::new(5, 0)),
                    created_at: fixed_time(),
                    updated_at: fixed_time(),
                };
                let view = IntegrationView::from(&integration);
                state.integrations.insert(new.name, integration);
                Ok(Response::Integration(view))
            }
            Request::IntegrationGet { name } => Ok(Response::Integration(IntegrationView::from(
                &self.integration(&name)?,
            ))),
            Request::IntegrationList { .. } => Ok(Response::Integrations(
                self.state
                    .lock()
                    .unwrap()
                    .integrations
                    .values()
                    .map(IntegrationView::from)
                    .collect(),
            )),
            Request::IntegrationActivate { name } => {
                let mut state = self.state.lock().unwrap();
                let integration = state.integrations.get_mut(&name).ok_or_else(|| {
                    ControlError::not_found(format!("no integration named `{name}`"))
                })?;
                if integration.credentials.is_none() {
                    return Err(ControlError::conflict(format!(
                        "`{name}` has no credentials; set them with `integration credentials`"
                    )));
                }
                integration.status = IntegrationStatus::Active;
                Ok(Response::Integration(IntegrationView::from(&*integration)))
            }
            Request::IntegrationDelete { name } => {
                let mut state = self.state.lock().unwrap();
                state.integrations.remove(&name).ok_or_else(|| {
                    ControlError::not_found(format!("no integration named `{name}`"))
                })?;
                Ok(Response::Ack(Ack {
                    message: format!("deleted `{name}`"),
                }))
            }
            Request::StockSet {
                integration,
                code,
                quantity,
            } => {
                let warehouse = self.integration(&integration)?.default_warehouse_code;
                self.state
                    .lock()
                    .unwrap()
                    .stock
                    .insert((integration, code.clone()), quantity);
                Ok(Response::Stock(StockLevel {
                    warehouse_code: warehouse,
                    product_code: code,
                    on_hand: quantity,
                    updated_at: fixed_time(),
                }))
            }
            Request::StockBulkSet { integration, items } => {
                let warehouse = self.integration(&integration)?.default_warehouse_code;
                let mut state = self.state.lock().unwrap();
                let (mut updated, mut unchanged) = (0, 0);
                for item in items {
                    let key = (integration.clone(), item.code);
                    if state.stock.get(&key) == Some(&item.quantity) {
                        unchanged += 1;
                    } else {
                        state.stock.insert(key, item.quantity);
                        updated += 1;
                    }
                }
                Ok(Response::StockBulk(StockBulkResult {
                    warehouse_code: warehouse,
                    updated,
                    unchanged,
                }))
            }
            Request::OrderGet { integration, code } => {
                self.integration(&integration)?;
                Err(ControlError::not_found(format!(
                    "no order `{code}` in `{integration}`"
                )))
            }
            Request::ErrorResolve {
                integration,
                id,
                resolution,
            } => {
                let integration = self.integration(&integration)?;
                Ok(Response::Error(ErrorLog {
                    id,
                    integration_id: integration.id,
                    message: "test error".into(),
                    details: None,
                    sync_type: None,
                    severity: ErrorSeverity::Low,
                    occurred_at: fixed_time(),
                    resolved_at: Some(fixed_time()),
                    resolved_by: Some(caller.user_name.clone()),
                    resolution: Some(resolution),
                }))
            }
            Request::DaemonStatus {} => Ok(Response::DaemonStatus(DaemonStatus {
                version: "test".into(),
                protocol: PROTOCOL_VERSION,
                uptime_secs: 1,
                stores: self
                    .state
                    .lock()
                    .unwrap()
                    .integrations
                    .values()
                    .map(|i| StoreStatus {
                        name: i.name.clone(),
                        status: i.status,
                        health: HealthStatus::Healthy,
                        last_sync: i.last_sync,
                        last_order_sync: i.last_order_sync,
                        last_inventory_sync: i.last_inventory_sync,
                        outbox_pending: 0,
                        outbox_dead_letters: 0,
                        running: Vec::new(),
                        bucket_filling: None,
                        bucket_capacity: None,
                        feed_lag_secs: None,
                        freshness: Default::default(),
                    })
                    .collect(),
            })),
            Request::SyncPrices { .. } => panic!("test double: simulated handler bug"),
            other => Err(ControlError::unavailable(format!(
                "`{}` is not implemented by the test double",
                other.op_name()
            ))),
        }
    }
}

impl ControlHandler for MemoryHandler {
    async fn handle(&self, caller: &Caller, request: Request) -> Result<Response, ControlError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.state.lock().unwrap().callers.push(caller.clone());
        match &request {
            Request::SyncOrders { .. } => {
                let opened = self.gate.notified();
                self.gate_entered.store(true, Ordering::SeqCst);
                opened.await;
                Ok(Response::Sync(SyncResult {
                    sync_type: SyncType::Orders,
                    status: SyncStatus::Completed,
                    records: 3,
                    errors: 0,
                    performed: true,
                    started_at: fixed_time(),
                    finished_at: fixed_time(),
                    message: "Imported 3 orders".into(),
                }))
            }
            Request::SyncFull { .. } => std::future::pending().await,
            _ => self.serve(caller, request),
        }
    }
}
