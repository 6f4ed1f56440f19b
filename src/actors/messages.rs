//! Typed messages of the actor system and the values they answer with.
//!
//! One message per operation of the original application service, so the control channel only
//! routes. Internal messages (ticks, notifications) are `pub(crate)`.

use std::collections::BTreeMap;
use std::fmt;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ActorError;
use crate::domain::{
    ConflictResolution, Credentials, ErrorLog, FulfillmentReport, HealthReport, HealthStatus,
    Integration, IntegrationId, IntegrationStatus, InventoryReport, Order, OrderStatus,
    OutboxEntry, OutboxState, Product, StatusMapping, StockLevel, SyncLog, SyncStatus, SyncType,
};
use crate::store::Changeset;

/// What a store actor runs on its own schedule (or on request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SyncKind {
    /// Import orders from the shop's change feed.
    Orders,
    /// Push stock levels to the shop.
    Inventory,
    /// Read the shop's stock back and correct what differs.
    Discrepancies,
    /// Pull the product catalogue.
    Products,
    /// Push queued price changes.
    Prices,
    /// Send pending status pushes.
    Outbox,
}

impl SyncKind {
    /// Every kind.
    pub const ALL: [SyncKind; 6] = [
        SyncKind::Orders,
        SyncKind::Inventory,
        SyncKind::Discrepancies,
        SyncKind::Products,
        SyncKind::Prices,
        SyncKind::Outbox,
    ];

    /// The steps of a full sync, in order.
    pub const FULL_SYNC: [SyncKind; 4] = [
        SyncKind::Products,
        SyncKind::Orders,
        SyncKind::Inventory,
        SyncKind::Prices,
    ];

    /// The sync type its log entries carry.
    pub fn sync_type(self) -> SyncType {
        match self {
            SyncKind::Orders => SyncType::Orders,
            SyncKind::Inventory | SyncKind::Discrepancies => SyncType::Inventory,
            SyncKind::Products => SyncType::Products,
            SyncKind::Prices => SyncType::Prices,
            SyncKind::Outbox => SyncType::System,
        }
    }

    /// Lower-case name for logs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::Orders => "orders",
            SyncKind::Inventory => "inventory",
            SyncKind::Discrepancies => "discrepancy check",
            SyncKind::Products => "products",
            SyncKind::Prices => "prices",
            SyncKind::Outbox => "status push",
        }
    }
}

impl fmt::Display for SyncKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Names an integration: by id or by its unique name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IntegrationRef {
    Id(IntegrationId),
    Name(String),
}

impl From<IntegrationId> for IntegrationRef {
    fn from(id: IntegrationId) -> Self {
        IntegrationRef::Id(id)
    }
}
impl From<&str> for IntegrationRef {
    fn from(name: &str) -> Self {
        IntegrationRef::Name(name.to_owned())
    }
}
impl From<String> for IntegrationRef {
    fn from(name: String) -> Self {
        IntegrationRef::Name(name)
    }
}
impl From<&String> for IntegrationRef {
    fn from(name: &String) -> Self {
        IntegrationRef::Name(name.clone())
    }
}

impl fmt::Display for IntegrationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntegrationRef::Id(id) => write!(f, "{id}"),
            IntegrationRef::Name(name) => write!(f, "'{name}'"),
        }
    }
}

/// How one sync run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    pub kind: SyncKind,
    pub sync_type: SyncType,
    pub status: SyncStatus,
    pub records: u64,
    pub errors: u64,
    /// False when the run was not due and not forced (nothing was done).
    pub performed: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub message: String,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Matching items over all pages.
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// Sort key of an order list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderSort {
    /// Creation in the shop (import time when the shop gave none).
    #[default]
    Created,
    Imported,
    Code,
    Total,
    Status,
}

/// Filters of an order list. `from` inclusive, `to` exclusive, on the creation time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderListQuery {
    pub status: Option<OrderStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub sort: OrderSort,
    pub descending: bool,
    /// 1-based.
    pub page: u32,
    pub page_size: u32,
}

impl Default for OrderListQuery {
    fn default() -> Self {
        Self {
            status: None,
            from: None,
            to: None,
            sort: OrderSort::Created,
            descending: true,
            page: 1,
            page_size: 50,
        }
    }
}

/// Filters of a product list (combined with AND); `search` matches code or name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductListQuery {
    pub out_of_stock: bool,
    pub low_stock: bool,
    pub sync_disabled: bool,
    pub search: Option<String>,
    pub page: u32,
    pub page_size: u32,
}

impl Default for ProductListQuery {
    fn default() -> Self {
        Self {
            out_of_stock: false,
            low_stock: false,
            sync_disabled: false,
            search: None,
            page: 1,
            page_size: 50,
        }
    }
}

/// One line of a pick list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickLine {
    pub product_code: String,
    pub name: String,
    pub quantity: Decimal,
    pub order_codes: Vec<String>,
}

/// What to pick for one picking session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickList {
    pub picking_session: String,
    pub order_codes: Vec<String>,
    pub lines: Vec<PickLine>,
}

/// How many outbox entries an operator action affected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxChange {
    pub affected: u64,
    pub message: String,
}

/// Health of a store with its outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthView {
    pub report: HealthReport,
    pub unresolved_error_count: u64,
    pub outbox_pending: u64,
    pub outbox_dead_letters: u64,
}

/// One product's stock: what the shop was last given and what it would be given now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLine {
    pub code: String,
    pub name: String,
    /// Physical stock last acknowledged by the shop (`None`: never pushed).
    pub pushed: Option<Decimal>,
    /// What a push would send now.
    pub current: Decimal,
}

/// The inventory report with the per-code figures that differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryView {
    pub report: InventoryReport,
    pub warehouse_code: String,
    /// Sync-enabled products whose shop figure equals what a push would send.
    pub in_sync: u64,
    /// Sync-enabled products whose shop figure differs (a push is due).
    pub differing: Vec<StockLine>,
}

/// One store in the daemon status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStatus {
    pub id: IntegrationId,
    pub name: String,
    pub status: IntegrationStatus,
    pub health: HealthStatus,
    pub last_sync: Option<DateTime<Utc>>,
    pub last_order_sync: Option<DateTime<Utc>>,
    pub last_inventory_sync: Option<DateTime<Utc>>,
    pub outbox_pending: u64,
    pub outbox_dead_letters: u64,
    /// Kinds running right now.
    pub running: Vec<SyncKind>,
}

/// The daemon's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatusInfo {
    pub started_at: DateTime<Utc>,
    pub stores: Vec<StoreStatus>,
    /// Stores whose actor is down, waiting for a restart.
    pub restarting: Vec<String>,
}

/// The result of a bulk stock set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkStockResult {
    pub warehouse_code: String,
    pub updated: u64,
    pub unchanged: u64,
}

/// A new integration. Unset options take the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIntegrationSpec {
    pub name: String,
    pub eshop_url: String,
    pub api_base_url: Option<String>,
    pub credentials: Option<Credentials>,
    pub settings: IntegrationUpdate,
}

/// Changes to an integration's settings: only the given fields change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntegrationUpdate {
    pub rename: Option<String>,
    pub eshop_url: Option<String>,
    pub api_base_url: Option<String>,
    pub default_warehouse_code: Option<String>,
    pub shoptet_stock_id: Option<i64>,
    pub sync_interval_minutes: Option<u32>,
    pub auto_order_import: Option<bool>,
    pub auto_inventory_sync: Option<bool>,
    pub auto_status_update: Option<bool>,
    pub status_mapping: Option<StatusMapping>,
    pub low_stock_threshold: Option<Decimal>,
}

type R<T> = Result<T, ActorError>;

// ---------------------------------------------------------------------------------------------
// Integration actor: integration settings
// ---------------------------------------------------------------------------------------------

/// The integration as held by its actor (credentials included; never show them).
#[derive(Message)]
#[rtype(result = "R<Integration>")]
pub struct GetIntegration;

/// Applies setting changes (a rename is checked for uniqueness by the supervisor first).
#[derive(Message)]
#[rtype(result = "R<Integration>")]
pub struct UpdateIntegration(pub IntegrationUpdate);

/// Replaces the credentials; the client is rebuilt.
#[derive(Message)]
#[rtype(result = "R<Integration>")]
pub struct SetCredentials(pub Credentials);

/// Tests the connection and token, checks the status mapping and activates.
#[derive(Message)]
#[rtype(result = "R<Integration>")]
pub struct Activate;

/// Deactivates; scheduled syncs stop, queries keep answering.
#[derive(Message)]
#[rtype(result = "R<Integration>")]
pub struct Deactivate {
    pub reason: String,
}

// ---------------------------------------------------------------------------------------------
// Integration actor: syncs
// ---------------------------------------------------------------------------------------------

/// Runs one sync now and answers when it ended. `force` runs it even when it is not due or
/// its auto flag is off.
#[derive(Message)]
#[rtype(result = "R<SyncReport>")]
pub struct RunSync {
    pub kind: SyncKind,
    pub force: bool,
}

/// Products, then orders, then inventory, then prices; one report per step, in that order.
/// Without `force` a step whose auto flag is off or that is not due (the same rule as
/// [`RunSync`]) is skipped and reported with `performed: false`; with `force` all four run
/// regardless of schedule and flags. A step already running is joined, not started twice.
#[derive(Message)]
#[rtype(result = "R<Vec<SyncReport>>")]
pub struct RunFullSync {
    pub force: bool,
}

// ---------------------------------------------------------------------------------------------
// Integration actor: orders
// ---------------------------------------------------------------------------------------------

#[derive(Message)]
#[rtype(result = "R<Page<Order>>")]
pub struct ListOrders(pub OrderListQuery);

/// Orders created in the shop in `[from, to)` (import time when the shop gave none).
#[derive(Message)]
#[rtype(result = "R<Vec<Order>>")]
pub struct GetOrdersCreated {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Message)]
#[rtype(result = "R<Order>")]
pub struct GetOrder {
    pub code: String,
}

/// Starts picking (status push "processing").
#[derive(Message)]
#[rtype(result = "R<Order>")]
pub struct ProcessOrder {
    pub code: String,
    /// A new session id is made when `None`.
    pub picking_session: Option<String>,
}

/// Ships: lowers on-hand stock and queues the tracking number and "shipped" status pushes.
#[derive(Message)]
#[rtype(result = "R<Order>")]
pub struct ShipOrder {
    pub code: String,
    pub tracking_number: Option<String>,
    pub transport_box: Option<String>,
}

/// Cancels (status push "cancelled").
#[derive(Message)]
#[rtype(result = "R<Order>")]
pub struct CancelOrder {
    pub code: String,
    pub reason: String,
}

#[derive(Message)]
#[rtype(result = "R<Order>")]
pub struct AddOrderNote {
    pub code: String,
    pub note: String,
}

/// Settles an order flagged because the shop changed it after import.
#[derive(Message)]
#[rtype(result = "R<Order>")]
pub struct ResolveConflict {
    pub code: String,
    pub resolution: ConflictResolution,
}

#[derive(Message)]
#[rtype(result = "R<PickList>")]
pub struct GetPickList {
    pub picking_session: String,
}

// ---------------------------------------------------------------------------------------------
// Integration actor: products, logs, outbox, reports
// ---------------------------------------------------------------------------------------------

#[derive(Message)]
#[rtype(result = "R<Page<Product>>")]
pub struct ListProducts(pub ProductListQuery);

/// Changes a price on our side; it is queued for the price push.
#[derive(Message)]
#[rtype(result = "R<Product>")]
pub struct UpdatePrice {
    pub code: String,
    pub price: Decimal,
    /// Who changed it, e.g. `ctl:alice`.
    pub source: String,
}

#[derive(Message)]
#[rtype(result = "R<Product>")]
pub struct ToggleProductSync {
    pub code: String,
    pub enabled: bool,
    pub by: String,
}

/// Sync logs of the last `days` days, newest first.
#[derive(Message)]
#[rtype(result = "R<Vec<SyncLog>>")]
pub struct GetSyncHistory {
    pub days: u32,
}

/// Errors, newest first; unresolved only unless `all`.
#[derive(Message)]
#[rtype(result = "R<Vec<ErrorLog>>")]
pub struct ListErrors {
    pub all: bool,
}

#[derive(Message)]
#[rtype(result = "R<ErrorLog>")]
pub struct ResolveError {
    pub id: Uuid,
    pub by: String,
    pub resolution: String,
}

/// Outbox entries in send order, optionally of one state.
#[derive(Message)]
#[rtype(result = "R<Vec<OutboxEntry>>")]
pub struct ListOutbox {
    pub state: Option<OutboxState>,
}

/// Puts one dead letter (or all when `id` is `None`) back in the queue.
#[derive(Message)]
#[rtype(result = "R<OutboxChange>")]
pub struct RetryOutbox {
    pub id: Option<Uuid>,
}

/// Drops one entry without sending it.
#[derive(Message)]
#[rtype(result = "R<OutboxChange>")]
pub struct DropOutbox {
    pub id: Uuid,
}

#[derive(Message)]
#[rtype(result = "R<HealthView>")]
pub struct GetHealth;

/// Price changes, oldest first: all of the integration's or one product's.
#[derive(Message)]
#[rtype(result = "R<Vec<crate::domain::PriceChange>>")]
pub struct GetPriceHistory {
    pub code: Option<String>,
}

/// Orders imported in `[from, to]`.
#[derive(Message)]
#[rtype(result = "R<FulfillmentReport>")]
pub struct GetFulfillment {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Message)]
#[rtype(result = "R<InventoryView>")]
pub struct GetInventory;

#[derive(Message)]
#[rtype(result = "StoreStatus")]
pub struct GetStoreStatus;

/// Finishes or cancels in-flight work, commits, and stops the actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopIntegration;

/// A scheduled run is due.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub(crate) struct Tick(pub SyncKind);

/// Warehouse stock or another store's reservations changed: schedule a debounced push.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct StockChanged;

// ---------------------------------------------------------------------------------------------
// Ledger
// ---------------------------------------------------------------------------------------------

/// A store sells from `warehouse`; its open orders reserve `reservations`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RegisterStore {
    pub id: IntegrationId,
    pub warehouse: String,
    pub reservations: BTreeMap<String, Decimal>,
    pub notify: Recipient<StockChanged>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct UnregisterStore {
    pub id: IntegrationId,
}

/// What the store's open orders now reserve of the codes that changed (zero: nothing any
/// more); codes not named keep their figure.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReportReservations {
    pub id: IntegrationId,
    pub changes: BTreeMap<String, Decimal>,
}

/// Per code: on hand minus what OTHER stores of the same warehouse reserve (may be negative;
/// the caller adds its compensation and clamps at zero). Codes the warehouse has never recorded
/// are left out: unknown stock is not pushed as 0.
#[derive(Message)]
#[rtype(result = "R<BTreeMap<String, Decimal>>")]
pub struct PushFigures {
    pub id: IntegrationId,
    pub codes: Vec<String>,
}

/// Sets the counted on-hand quantity of one code.
#[derive(Message)]
#[rtype(result = "R<StockLevel>")]
pub struct SetStock {
    pub warehouse: String,
    pub code: String,
    pub on_hand: Decimal,
}

/// Sets many codes at once, in one commit (all or nothing).
#[derive(Message)]
#[rtype(result = "R<BulkStockResult>")]
pub struct BulkSetStock {
    pub warehouse: String,
    pub items: Vec<(String, Decimal)>,
}

/// A receipt (+) or an issue (−) of one code.
#[derive(Message)]
#[rtype(result = "R<StockLevel>")]
pub struct AdjustStock {
    pub warehouse: String,
    pub code: String,
    pub delta: Decimal,
}

/// On-hand levels of a warehouse, by code.
#[derive(Message)]
#[rtype(result = "R<Vec<StockLevel>>")]
pub struct GetStockLevels {
    pub warehouse: String,
}

/// A shipment: the store's changeset (order shipped + outbox) is committed together with the
/// on-hand decrease of the shipped quantities, and the store's reservations are replaced.
#[derive(Message)]
#[rtype(result = "R<()>")]
pub struct CommitShipment {
    pub id: IntegrationId,
    pub changeset: Changeset,
    pub issued: Vec<(String, Decimal)>,
    /// The store's reservations of the shipped order's codes after the shipment (zero:
    /// nothing any more); other codes keep their figure.
    pub reservations: BTreeMap<String, Decimal>,
}

/// Waits until the ledger's writes are on disk.
#[derive(Message)]
#[rtype(result = "R<()>")]
pub struct FlushLedger;

// ---------------------------------------------------------------------------------------------
// Supervisor
// ---------------------------------------------------------------------------------------------

#[derive(Message)]
#[rtype(result = "R<Integration>")]
pub struct CreateIntegration(pub NewIntegrationSpec);

/// Stops the actor and deletes the integration with all its data.
#[derive(Message)]
#[rtype(result = "R<()>")]
pub struct DeleteIntegration(pub IntegrationRef);

/// Every integration, by name.
#[derive(Message)]
#[rtype(result = "R<Vec<Integration>>")]
pub struct ListIntegrations;

/// Setting changes routed through the supervisor (a rename updates its name index).
#[derive(Message)]
#[rtype(result = "R<Integration>")]
pub struct UpdateIntegrationVia(pub IntegrationRef, pub IntegrationUpdate);

/// The running actor of an integration.
#[derive(Message)]
#[rtype(result = "R<Resolved>")]
pub struct Resolve(pub IntegrationRef);

/// A resolved integration: its id, current name, warehouse and actor.
#[derive(Clone)]
pub struct Resolved {
    pub id: IntegrationId,
    pub name: String,
    pub warehouse: String,
    pub addr: Addr<super::integration::IntegrationActor>,
}

#[derive(Message)]
#[rtype(result = "R<DaemonStatusInfo>")]
pub struct GetDaemonStatus;

/// Stops every actor in order and flushes the store.
#[derive(Message)]
#[rtype(result = "R<()>")]
pub struct Shutdown;

/// An integration actor stopped (`fatal` says why when it was not asked to).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct IntegrationStopped {
    pub id: IntegrationId,
    pub incarnation: u64,
    pub fatal: Option<String>,
}

/// The integration's name or warehouse changed.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct IntegrationRenamed {
    pub id: IntegrationId,
    pub name: String,
    pub warehouse: String,
}
