//! Routes control-channel requests to the actor system: [`Daemon`] implements the control
//! layer's [`ControlHandler`]. Each request becomes one typed message to the right actor; the
//! answers are turned into the protocol's response types here (no secret ever crosses).

use std::path::Path;
use std::time::Duration;

use chrono::Utc;

use super::handle::Daemon;
use super::messages::{
    IntegrationUpdate, NewIntegrationSpec, OrderListQuery, OrderSort, ProductListQuery, SyncReport,
};
use super::{ActorError, SyncKind};
use crate::control::protocol::{
    self as proto, Ack, Caller, ControlError, ControlHandler, ErrorCode, IntegrationView, Request,
    Response,
};
use crate::domain::{self, Credentials};

impl From<ActorError> for ControlError {
    fn from(error: ActorError) -> Self {
        let message = error.to_string();
        match error {
            ActorError::Domain(domain) => ControlError::from(domain),
            ActorError::NotFound(_) => ControlError::new(ErrorCode::NotFound, message),
            ActorError::Conflict(_) | ActorError::AlreadyRunning { .. } => {
                ControlError::new(ErrorCode::Conflict, message)
            }
            ActorError::Shop(_) | ActorError::Unavailable(_) => {
                ControlError::new(ErrorCode::Unavailable, message)
            }
            ActorError::Timeout(..) => ControlError::new(ErrorCode::Busy, message),
            ActorError::Store(_) => ControlError::new(ErrorCode::Internal, message),
        }
    }
}

fn sync_result(report: SyncReport) -> proto::SyncResult {
    proto::SyncResult {
        sync_type: report.sync_type,
        status: report.status,
        records: report.records,
        errors: report.errors,
        performed: report.performed,
        started_at: report.started_at,
        finished_at: report.finished_at,
        message: report.message,
    }
}

fn view(integration: &domain::Integration) -> Response {
    Response::Integration(IntegrationView::from(integration))
}

fn order_sort(key: proto::OrderSortKey) -> OrderSort {
    match key {
        proto::OrderSortKey::Created => OrderSort::Created,
        proto::OrderSortKey::Imported => OrderSort::Imported,
        proto::OrderSortKey::Code => OrderSort::Code,
        proto::OrderSortKey::Total => OrderSort::Total,
        proto::OrderSortKey::Status => OrderSort::Status,
    }
}

impl Daemon {
    async fn sync_one(
        &self,
        integration: &str,
        kind: SyncKind,
        force: bool,
    ) -> Result<Response, ActorError> {
        Ok(Response::Sync(sync_result(
            self.sync(integration, kind, force).await?,
        )))
    }

    /// Serves one control request.
    pub async fn serve(&self, caller: &Caller, request: Request) -> Result<Response, ActorError> {
        let user = caller.user_name.clone();
        Ok(match request {
            Request::IntegrationCreate(new) => {
                let spec = NewIntegrationSpec {
                    name: new.name,
                    eshop_url: new.eshop_url,
                    api_base_url: new.api_base_url,
                    credentials: new.credentials.map(Credentials::from),
                    settings: IntegrationUpdate {
                        rename: None,
                        eshop_url: None,
                        api_base_url: None,
                        default_warehouse_code: new.default_warehouse_code,
                        shoptet_stock_id: new.shoptet_stock_id,
                        sync_interval_minutes: new.sync_interval_minutes,
                        auto_order_import: new.auto_order_import,
                        auto_inventory_sync: new.auto_inventory_sync,
                        auto_status_update: new.auto_status_update,
                        status_mapping: new.status_mapping,
                        low_stock_threshold: new.low_stock_threshold,
                    },
                };
                view(&self.create_integration(spec).await?)
            }
            Request::IntegrationGet { name } => view(&self.get_integration(name).await?),
            Request::IntegrationList {} => Response::Integrations(
                self.list_integrations()
                    .await?
                    .iter()
                    .map(IntegrationView::from)
                    .collect(),
            ),
            Request::IntegrationUpdate(patch) => {
                let update = IntegrationUpdate {
                    rename: patch.rename,
                    eshop_url: patch.eshop_url,
                    api_base_url: patch.api_base_url,
                    default_warehouse_code: patch.default_warehouse_code,
                    shoptet_stock_id: patch.shoptet_stock_id,
                    sync_interval_minutes: patch.sync_interval_minutes,
                    auto_order_import: patch.auto_order_import,
                    auto_inventory_sync: patch.auto_inventory_sync,
                    auto_status_update: patch.auto_status_update,
                    status_mapping: patch.status_mapping,
                    low_stock_threshold: patch.low_stock_threshold,
                };
                view(&self.update_integration(patch.name, update).await?)
            }
            Request::IntegrationDelete { name } => {
                self.delete_integration(name.as_str()).await?;
                Response::Ack(Ack {
                    message: format!("integration '{name}' deleted"),
                })
            }
            Request::IntegrationActivate { name } => view(&self.activate(name).await?),
            Request::IntegrationDeactivate { name, reason } => {
                view(&self.deactivate(name, &reason).await?)
            }
            Request::IntegrationUpdateCredentials { name, credentials } => {
                view(&self.set_credentials(name, credentials.into()).await?)
            }
            Request::SyncOrders { integration, force } => {
                self.sync_one(&integration, SyncKind::Orders, force).await?
            }
            Request::SyncInventory { integration, force } => {
                self.sync_one(&integration, SyncKind::Inventory, force)
                    .await?
            }
            Request::SyncProducts { integration, force } => {
                self.sync_one(&integration, SyncKind::Products, force)
                    .await?
            }
            Request::SyncPrices { integration, force } => {
                self.sync_one(&integration, SyncKind::Prices, force).await?
            }
            Request::SyncFull { integration, force } => Response::SyncFull(
                self.full_sync(integration, force)
                    .await?
                    .into_iter()
                    .map(sync_result)
                    .collect(),
            ),
            Request::OrdersList(query) => {
                let page = self
                    .list_orders(
                        query.integration,
                        OrderListQuery {
                            status: query.status,
                            from: query.from,
                            to: query.to,
                            sort: order_sort(query.sort),
                            descending: query.descending,
                            page: query.page,
                            page_size: query.page_size,
                        },
                    )
                    .await?;
                Response::OrderPage(proto::OrderPage {
                    items: page.items.iter().map(proto::OrderSummary::from).collect(),
                    total: page.total,
                    page: page.page,
                    page_size: page.page_size,
                })
            }
            Request::OrderGet { integration, code } => {
                Response::Order(self.get_order(integration, &code).await?)
            }
            Request::OrderProcess {
                integration,
                code,
                picking_session,
            } => Response::Order(
                self.process_order(integration, &code, picking_session.as_deref())
                    .await?,
            ),
            Request::OrderShip {
                integration,
                code,
                tracking_number,
                transport_box,
            } => Response::Order(
                self.ship_order(
                    integration,
                    &code,
                    tracking_number.as_deref(),
                    transport_box.as_deref(),
                )
                .await?,
            ),
            Request::OrderCancel {
                integration,
                code,
                reason,
            } => Response::Order(self.cancel_order(integration, &code, &reason).await?),
            Request::OrderAddNote {
                integration,
                code,
                note,
            } => Response::Order(self.add_order_note(integration, &code, &note).await?),
            Request::OrderResolve {
                integration,
                code,
                resolution,
            } => {
                let resolution = match resolution {
                    proto::ConflictResolution::AcceptShop => domain::ConflictResolution::AcceptShop,
                    proto::ConflictResolution::KeepOurs => domain::ConflictResolution::KeepOurs,
                };
                Response::Order(
                    self.resolve_conflict(integration, &code, resolution)
                        .await?,
                )
            }
            Request::PickList {
                integration,
                picking_session,
            } => {
                let list = self
                    .pick_list(integration.as_str(), &picking_session)
                    .await?;
                Response::PickList(proto::PickList {
                    integration,
                    picking_session: list.picking_session,
                    order_codes: list.order_codes,
                    lines: list
                        .lines
                        .into_iter()
                        .map(|l| proto::PickLine {
                            product_code: l.product_code,
                            name: l.name,
                            quantity: l.quantity,
                            order_codes: l.order_codes,
                        })
                        .collect(),
                })
            }
            Request::ProductsList(query) => {
                let page = self
                    .list_products(
                        query.integration,
                        ProductListQuery {
                            out_of_stock: query.out_of_stock,
                            low_stock: query.low_stock,
                            sync_disabled: query.sync_disabled,
                            search: query.search,
                            page: query.page,
                            page_size: query.page_size,
                        },
                    )
                    .await?;
                Response::ProductPage(proto::ProductPage {
                    items: page.items,
                    total: page.total,
                    page: page.page,
                    page_size: page.page_size,
                })
            }
            Request::ProductUpdatePrice {
                integration,
                code,
                price,
            } => Response::Product(
                self.update_price(integration, &code, price, &format!("ctl:{user}"))
                    .await?,
            ),
            Request::ProductToggleSync {
                integration,
                code,
                enabled,
            } => Response::Product(
                self.toggle_product_sync(integration, &code, enabled, &user)
                    .await?,
            ),
            Request::StockSet {
                integration,
                code,
                quantity,
            } => Response::Stock(self.set_stock(integration, &code, quantity).await?),
            Request::StockBulkSet { integration, items } => {
                let result = self
                    .bulk_set_stock(
                        integration,
                        items.into_iter().map(|i| (i.code, i.quantity)).collect(),
                    )
                    .await?;
                Response::StockBulk(proto::StockBulkResult {
                    warehouse_code: result.warehouse_code,
                    updated: result.updated,
                    unchanged: result.unchanged,
                })
            }
            Request::SyncHistory { integration, days } => {
                Response::SyncHistory(self.sync_history(integration, days).await?)
            }
            Request::ErrorsList { integration, all } => {
                Response::Errors(self.errors(integration, all).await?)
            }
            Request::ErrorResolve {
                integration,
                id,
                resolution,
            } => Response::Error(
                self.resolve_error(integration, id, &user, &resolution)
                    .await?,
            ),
            Request::OutboxList { integration, state } => {
                Response::Outbox(self.outbox(integration, state).await?)
            }
            Request::OutboxRetry { integration, id } => {
                let change = self.retry_outbox(integration, id).await?;
                Response::OutboxChange(proto::OutboxChange {
                    affected: change.affected,
                    message: change.message,
                })
            }
            Request::OutboxDrop { integration, id } => {
                let change = self.drop_outbox(integration, id).await?;
                Response::OutboxChange(proto::OutboxChange {
                    affected: change.affected,
                    message: change.message,
                })
            }
            Request::Health { integration } => {
                Response::Health(self.health(integration.as_str()).await?.report)
            }
            Request::FulfillmentReport {
                integration,
                from,
                to,
            } => Response::Fulfillment(self.fulfillment(integration.as_str(), from, to).await?),
            Request::InventoryReport { integration } => {
                Response::Inventory(self.inventory(integration.as_str()).await?.report)
            }
            Request::DaemonStatus {} => {
                let status = self.status().await?;
                let uptime = (Utc::now() - status.started_at)
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                Response::DaemonStatus(proto::DaemonStatus {
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    protocol: proto::PROTOCOL_VERSION,
                    uptime_secs: uptime.as_secs(),
                    stores: status
                        .stores
                        .into_iter()
                        .map(|s| proto::StoreStatus {
                            name: s.name,
                            status: s.status,
                            health: s.health,
                            last_sync: s.last_sync,
                            last_order_sync: s.last_order_sync,
                            last_inventory_sync: s.last_inventory_sync,
                            outbox_pending: s.outbox_pending,
                            outbox_dead_letters: s.outbox_dead_letters,
                        })
                        .collect(),
                })
            }
            Request::Backup { path } => {
                let bytes = self.backup(Path::new(&path)).await?;
                Response::Backup(proto::BackupResult { path, bytes })
            }
            floor @ (Request::ErrorSeverity { .. } | Request::ProductHistory { .. }) => {
                self.serve_floor(caller, floor).await?
            }
        })
    }
}

impl ControlHandler for Daemon {
    fn handle(
        &self,
        caller: &Caller,
        request: Request,
    ) -> impl std::future::Future<Output = Result<Response, ControlError>> + Send {
        let daemon = self.clone();
        let caller = caller.clone();
        async move {
            daemon
                .serve(&caller, request)
                .await
                .map_err(ControlError::from)
        }
    }
}
