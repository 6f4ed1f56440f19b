//! [`Daemon`]: the cheap-to-clone async API of the actor system.
//!
//! Start it inside a running actix `System` (the daemon's main runs in `actix_rt::System`);
//! then call it from any task. Every call is a message send bounded by a timeout, so a stuck
//! actor turns into an error, never a hang.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::integration::IntegrationActor;
use super::ledger::WarehouseLedger;
use super::messages::*;
use super::supervisor::Supervisor;
use super::{ActorError, SyncSettings};
use crate::domain::{
    ConflictResolution, Credentials, DomainError, ErrorLog, FulfillmentReport, Integration, Order,
    OutboxEntry, OutboxState, Product, StockLevel, SyncLog,
};
use crate::store::{Store, StoreError};

/// Handle to the running actor system.
#[derive(Clone)]
pub struct Daemon {
    store: Store,
    supervisor: Addr<Supervisor>,
    ledger: Addr<WarehouseLedger>,
    timeout: Duration,
    sync_timeout: Duration,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon").finish_non_exhaustive()
    }
}

async fn ask<A, M, T>(
    addr: &Addr<A>,
    message: M,
    timeout: Duration,
    what: &str,
) -> Result<T, ActorError>
where
    A: Actor<Context = Context<A>> + Handler<M>,
    M: Message<Result = Result<T, ActorError>> + Send + 'static,
    T: Send + 'static,
{
    match tokio::time::timeout(timeout, addr.send(message)).await {
        Ok(Ok(result)) => result,
        Ok(Err(MailboxError::Closed)) => Err(ActorError::Unavailable(format!(
            "{what} is not running (the daemon may be shutting down)"
        ))),
        Ok(Err(MailboxError::Timeout)) | Err(_) => {
            Err(ActorError::Timeout(what.to_owned(), timeout.as_secs()))
        }
    }
}

impl Daemon {
    /// Starts the ledger and the supervisor (which loads every integration and starts its
    /// actor). Must be called from inside a running actix `System`.
    pub fn start(store: Store, settings: SyncSettings) -> Daemon {
        let timeout = settings.request_timeout;
        let sync_timeout = settings.sync_timeout;
        let settings = Arc::new(settings);
        let ledger = WarehouseLedger::new(store.clone()).start();
        let supervisor = Supervisor::new(store.clone(), ledger.clone(), settings).start();
        Daemon {
            store,
            supervisor,
            ledger,
            timeout,
            sync_timeout,
        }
    }

    /// Stops every store in order (each finishes or cancels its in-flight work and commits),
    /// flushes the ledger and the store. Further calls answer "unavailable".
    pub async fn shutdown(&self) -> Result<(), ActorError> {
        // Each store gets its own shutdown timeout; allow for all of them plus the flush.
        let budget = self.timeout.saturating_mul(2).max(Duration::from_secs(60));
        ask(&self.supervisor, Shutdown, budget, "the supervisor").await
    }

    async fn resolve(
        &self,
        integration: impl Into<IntegrationRef>,
    ) -> Result<Resolved, ActorError> {
        ask(
            &self.supervisor,
            Resolve(integration.into()),
            self.timeout,
            "the supervisor",
        )
        .await
    }

    pub(super) async fn on<M, T>(
        &self,
        integration: impl Into<IntegrationRef>,
        message: M,
    ) -> Result<T, ActorError>
    where
        IntegrationActor: Handler<M>,
        M: Message<Result = Result<T, ActorError>> + Send + 'static,
        T: Send + 'static,
    {
        let resolved = self.resolve(integration).await?;
        let what = format!("integration '{}'", resolved.name);
        ask(&resolved.addr, message, self.timeout, &what).await
    }

    /// Test hook: stops the integration's actor as on a fatal error.
    #[cfg(test)]
    pub(crate) async fn inject_fatal(
        &self,
        integration: impl Into<IntegrationRef>,
        reason: &str,
    ) -> Result<(), ActorError> {
        let resolved = self.resolve(integration).await?;
        resolved
            .addr
            .send(super::integration::InjectFatal(reason.to_owned()))
            .await
            .map_err(|err| ActorError::Unavailable(err.to_string()))
    }

    // --- integrations ---------------------------------------------------------------------

    pub async fn create_integration(
        &self,
        spec: NewIntegrationSpec,
    ) -> Result<Integration, ActorError> {
        ask(
            &self.supervisor,
            CreateIntegration(spec),
            self.timeout,
            "the supervisor",
        )
        .await
    }

    pub async fn get_integration(
        &self,
        integration: impl Into<IntegrationRef>,
    ) -> Result<Integration, ActorError> {
        self.on(integration, GetIntegration).await
    }

    pub async fn list_integrations(&self) -> Result<Vec<Integration>, ActorError> {
        ask(
            &self.supervisor,
            ListIntegrations,
            self.timeout,
            "the supervisor",
        )
        .await
    }

    pub async fn update_integration(
        &self,
        integration: impl Into<IntegrationRef>,
        update: IntegrationUpdate,
    ) -> Result<Integration, ActorError> {
        ask(
            &self.supervisor,
            UpdateIntegrationVia(integration.into(), update),
            self.timeout,
            "the supervisor",
        )
        .await
    }

    pub async fn delete_integration(
        &self,
        integration: impl Into<IntegrationRef>,
    ) -> Result<(), ActorError> {
        ask(
            &self.supervisor,
            DeleteIntegration(integration.into()),
            self.timeout,
            "the supervisor",
        )
        .await
    }

    /// Tests the connection and token, checks the status mapping, then activates.
    pub async fn activate(
        &self,
        integration: impl Into<IntegrationRef>,
    ) -> Result<Integration, ActorError> {
        self.on(integration, Activate).await
    }

    pub async fn deactivate(
        &self,
        integration: impl Into<IntegrationRef>,
        reason: &str,
    ) -> Result<Integration, ActorError> {
        self.on(
            integration,
            Deactivate {
                reason: reason.to_owned(),
            },
        )
        .await
    }

    pub async fn set_credentials(
        &self,
        integration: impl Into<IntegrationRef>,
        credentials: Credentials,
    ) -> Result<Integration, ActorError> {
        self.on(integration, SetCredentials(credentials)).await
    }

    // --- syncs ----------------------------------------------------------------------------

    /// Runs one sync and answers when it ended ("already running" if one is in flight).
    pub async fn sync(
        &self,
        integration: impl Into<IntegrationRef>,
        kind: SyncKind,
        force: bool,
    ) -> Result<SyncReport, ActorError> {
        let resolved = self.resolve(integration).await?;
        let what = format!("{kind} sync of '{}'", resolved.name);
        ask(
            &resolved.addr,
            RunSync { kind, force },
            self.sync_timeout,
            &what,
        )
        .await
    }

    /// Products, then orders, then inventory, then prices. Without `force`, steps whose auto flag
    /// is off or that are not due are skipped (`performed: false`); with `force` all four run.
    pub async fn full_sync(
        &self,
        integration: impl Into<IntegrationRef>,
        force: bool,
    ) -> Result<Vec<SyncReport>, ActorError> {
        let resolved = self.resolve(integration).await?;
        let what = format!("full sync of '{}'", resolved.name);
        ask(
            &resolved.addr,
            RunFullSync { force },
            self.sync_timeout,
            &what,
        )
        .await
    }

    // --- orders ---------------------------------------------------------------------------

    pub async fn list_orders(
        &self,
        integration: impl Into<IntegrationRef>,
        query: OrderListQuery,
    ) -> Result<Page<Order>, ActorError> {
        self.on(integration, ListOrders(query)).await
    }

    /// Orders created in the shop in `[from, to)`.
    pub async fn orders_created(
        &self,
        integration: impl Into<IntegrationRef>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Order>, ActorError> {
        self.on(integration, GetOrdersCreated { from, to }).await
    }

    pub async fn get_order(
        &self,
        integration: impl Into<IntegrationRef>,
        code: &str,
    ) -> Result<Order, ActorError> {
        self.on(
            integration,
            GetOrder {
                code: code.to_owned(),
            },
        )
        .await
    }

    pub async fn process_order(
        &self,
        integration: impl Into<IntegrationRef>,
        code: &str,
        picking_session: Option<&str>,
    ) -> Result<Order, ActorError> {
        let message = ProcessOrder {
            code: code.to_owned(),
            picking_session: picking_session.map(str::to_owned),
        };
        self.on(integration, message).await
    }

    pub async fn ship_order(
        &self,
        integration: impl Into<IntegrationRef>,
        code: &str,
        tracking_number: Option<&str>,
        transport_box: Option<&str>,
    ) -> Result<Order, ActorError> {
        let message = ShipOrder {
            code: code.to_owned(),
            tracking_number: tracking_number.map(str::to_owned),
            transport_box: transport_box.map(str::to_owned),
        };
        self.on(integration, message).await
    }

    pub async fn cancel_order(
        &self,
        integration: impl Into<IntegrationRef>,
        code: &str,
        reason: &str,
    ) -> Result<Order, ActorError> {
        let message = CancelOrder {
            code: code.to_owned(),
            reason: reason.to_owned(),
        };
        self.on(integration, message).await
    }

    pub async fn add_order_note(
        &self,
        integration: impl Into<IntegrationRef>,
        code: &str,
        note: &str,
    ) -> Result<Order, ActorError> {
        let message = AddOrderNote {
            code: code.to_owned(),
            note: note.to_owned(),
        };
        self.on(integration, message).await
    }

    pub async fn resolve_conflict(
        &self,
        integration: impl Into<IntegrationRef>,
        code: &str,
        resolution: ConflictResolution,
    ) -> Result<Order, ActorError> {
        let message = ResolveConflict {
            code: code.to_owned(),
            resolution,
        };
        self.on(integration, message).await
    }

    pub async fn pick_list(
        &self,
        integration: impl Into<IntegrationRef>,
        picking_session: &str,
    ) -> Result<PickList, ActorError> {
        let message = GetPickList {
            picking_session: picking_session.to_owned(),
        };
        self.on(integration, message).await
    }

    // --- products and stock ---------------------------------------------------------------

    pub async fn list_products(
        &self,
        integration: impl Into<IntegrationRef>,
        query: ProductListQuery,
    ) -> Result<Page<Product>, ActorError> {
        self.on(integration, ListProducts(query)).await
    }

    pub async fn update_price(
        &self,
        integration: impl Into<IntegrationRef>,
        code: &str,
        price: Decimal,
        source: &str,
    ) -> Result<Product, ActorError> {
        let message = UpdatePrice {
            code: code.to_owned(),
            price,
            source: source.to_owned(),
        };
        self.on(integration, message).await
    }

    pub async fn toggle_product_sync(
        &self,
        integration: impl Into<IntegrationRef>,
        code: &str,
        enabled: bool,
        by: &str,
    ) -> Result<Product, ActorError> {
        let message = ToggleProductSync {
            code: code.to_owned(),
            enabled,
            by: by.to_owned(),
        };
        self.on(integration, message).await
    }

    /// Sets the on-hand quantity of `code` in the integration's warehouse.
    pub async fn set_stock(
        &self,
        integration: impl Into<IntegrationRef>,
        code: &str,
        on_hand: Decimal,
    ) -> Result<StockLevel, ActorError> {
        let resolved = self.resolve(integration).await?;
        self.set_warehouse_stock(&resolved.warehouse, code, on_hand)
            .await
    }

    /// Sets many codes of the integration's warehouse in one commit.
    pub async fn bulk_set_stock(
        &self,
        integration: impl Into<IntegrationRef>,
        items: Vec<(String, Decimal)>,
    ) -> Result<BulkStockResult, ActorError> {
        let resolved = self.resolve(integration).await?;
        let message = BulkSetStock {
            warehouse: resolved.warehouse,
            items,
        };
        ask(&self.ledger, message, self.timeout, "the warehouse ledger").await
    }

    /// Sets the on-hand quantity of `code` in `warehouse`.
    pub async fn set_warehouse_stock(
        &self,
        warehouse: &str,
        code: &str,
        on_hand: Decimal,
    ) -> Result<StockLevel, ActorError> {
        let message = SetStock {
            warehouse: warehouse.to_owned(),
            code: code.trim().to_owned(),
            on_hand,
        };
        ask(&self.ledger, message, self.timeout, "the warehouse ledger").await
    }

    /// A receipt (+) or issue (−) in `warehouse`.
    pub async fn adjust_stock(
        &self,
        warehouse: &str,
        code: &str,
        delta: Decimal,
    ) -> Result<StockLevel, ActorError> {
        let message = AdjustStock {
            warehouse: warehouse.to_owned(),
            code: code.trim().to_owned(),
            delta,
        };
        ask(&self.ledger, message, self.timeout, "the warehouse ledger").await
    }

    /// On-hand levels of `warehouse`.
    pub async fn stock_levels(&self, warehouse: &str) -> Result<Vec<StockLevel>, ActorError> {
        let message = GetStockLevels {
            warehouse: warehouse.to_owned(),
        };
        ask(&self.ledger, message, self.timeout, "the warehouse ledger").await
    }

    // --- logs, outbox, reports ------------------------------------------------------------

    pub async fn sync_history(
        &self,
        integration: impl Into<IntegrationRef>,
        days: u32,
    ) -> Result<Vec<SyncLog>, ActorError> {
        self.on(integration, GetSyncHistory { days }).await
    }

    pub async fn errors(
        &self,
        integration: impl Into<IntegrationRef>,
        all: bool,
    ) -> Result<Vec<ErrorLog>, ActorError> {
        self.on(integration, ListErrors { all }).await
    }

    pub async fn resolve_error(
        &self,
        integration: impl Into<IntegrationRef>,
        id: Uuid,
        by: &str,
        resolution: &str,
    ) -> Result<ErrorLog, ActorError> {
        let message = ResolveError {
            id,
            by: by.to_owned(),
            resolution: resolution.to_owned(),
        };
        self.on(integration, message).await
    }

    pub async fn outbox(
        &self,
        integration: impl Into<IntegrationRef>,
        state: Option<OutboxState>,
    ) -> Result<Vec<OutboxEntry>, ActorError> {
        self.on(integration, ListOutbox { state }).await
    }

    pub async fn retry_outbox(
        &self,
        integration: impl Into<IntegrationRef>,
        id: Option<Uuid>,
    ) -> Result<OutboxChange, ActorError> {
        self.on(integration, RetryOutbox { id }).await
    }

    pub async fn drop_outbox(
        &self,
        integration: impl Into<IntegrationRef>,
        id: Uuid,
    ) -> Result<OutboxChange, ActorError> {
        self.on(integration, DropOutbox { id }).await
    }

    /// Price changes, oldest first (one product's when `code` is given).
    pub async fn price_history(
        &self,
        integration: impl Into<IntegrationRef>,
        code: Option<&str>,
    ) -> Result<Vec<crate::domain::PriceChange>, ActorError> {
        let message = GetPriceHistory {
            code: code.map(str::to_owned),
        };
        self.on(integration, message).await
    }

    pub async fn health(
        &self,
        integration: impl Into<IntegrationRef>,
    ) -> Result<HealthView, ActorError> {
        self.on(integration, GetHealth).await
    }

    pub async fn fulfillment(
        &self,
        integration: impl Into<IntegrationRef>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<FulfillmentReport, ActorError> {
        self.on(integration, GetFulfillment { from, to }).await
    }

    pub async fn inventory(
        &self,
        integration: impl Into<IntegrationRef>,
    ) -> Result<InventoryView, ActorError> {
        self.on(integration, GetInventory).await
    }

    /// Writes a consistent snapshot of the store to `path`; returns its size in bytes.
    pub async fn backup(&self, path: &std::path::Path) -> Result<u64, ActorError> {
        let stats = self
            .store
            .backup(path.to_path_buf())
            .await
            .map_err(|err| match err {
                // The caller chose the path: a refusal is their argument's fault, said plainly.
                StoreError::BackupTarget { reason, .. } => {
                    ActorError::Domain(DomainError::InvalidArgument {
                        field: "backup path",
                        reason,
                    })
                }
                other => ActorError::from(other),
            })?;
        Ok(stats.bytes)
    }

    pub async fn status(&self) -> Result<DaemonStatusInfo, ActorError> {
        ask(
            &self.supervisor,
            GetDaemonStatus,
            self.timeout,
            "the supervisor",
        )
        .await
    }
}
