//! Queries, answered from memory at once (logs and errors are read from the store, which
//! takes no lock for reads).

use std::collections::BTreeMap;

use actix::prelude::*;
use chrono::{TimeDelta, Utc};
use rust_decimal::Decimal;

use super::IntegrationActor;
use crate::actors::ActorError;
use crate::actors::messages::*;
use crate::domain::report::RECENT_SYNC_WINDOW;
use crate::domain::{
    FulfillmentReport, HealthReport, Integration, InventoryReport, Order, OutboxEntry, Product,
    SyncLog,
};

fn page_of<T: Clone>(items: Vec<&T>, page: u32, page_size: u32) -> Page<T> {
    let page = page.max(1);
    let page_size = page_size.clamp(1, 1000);
    let total = items.len() as u64;
    let start = (page as usize - 1).saturating_mul(page_size as usize);
    Page {
        items: items
            .into_iter()
            .skip(start)
            .take(page_size as usize)
            .cloned()
            .collect(),
        total,
        page,
        page_size,
    }
}

impl Handler<GetIntegration> for IntegrationActor {
    type Result = Result<Integration, ActorError>;
    fn handle(&mut self, _msg: GetIntegration, _ctx: &mut Self::Context) -> Self::Result {
        Ok(self.integration.clone())
    }
}

impl Handler<ListOrders> for IntegrationActor {
    type Result = Result<Page<Order>, ActorError>;
    fn handle(&mut self, ListOrders(query): ListOrders, _ctx: &mut Self::Context) -> Self::Result {
        let created = |o: &Order| o.shop_created_at.unwrap_or(o.imported_at);
        let mut orders: Vec<&Order> = self
            .orders
            .values()
            .filter(|o| query.status.is_none_or(|s| o.status == s))
            .filter(|o| query.from.is_none_or(|from| created(o) >= from))
            .filter(|o| query.to.is_none_or(|to| created(o) < to))
            .collect();
        orders.sort_by(|a, b| {
            let ordering = match query.sort {
                OrderSort::Created => created(a).cmp(&created(b)),
                OrderSort::Imported => a.imported_at.cmp(&b.imported_at),
                OrderSort::Code => a.code.cmp(&b.code),
                OrderSort::Total => a.total.amount.cmp(&b.total.amount),
                OrderSort::Status => a.status.cmp(&b.status),
            }
            .then_with(|| a.code.cmp(&b.code));
            if query.descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
        Ok(page_of(orders, query.page, query.page_size))
    }
}

impl Handler<GetOrder> for IntegrationActor {
    type Result = Result<Order, ActorError>;
    fn handle(&mut self, msg: GetOrder, _ctx: &mut Self::Context) -> Self::Result {
        self.order(&msg.code).cloned()
    }
}

impl Handler<GetPickList> for IntegrationActor {
    type Result = Result<PickList, ActorError>;
    fn handle(&mut self, msg: GetPickList, _ctx: &mut Self::Context) -> Self::Result {
        let session = msg.picking_session.trim();
        let orders: Vec<&Order> = self
            .orders
            .values()
            .filter(|o| o.picking_session_id.as_deref() == Some(session))
            .filter(|o| o.status.reserves_stock())
            .collect();
        if orders.is_empty() {
            return Err(ActorError::NotFound(format!(
                "no open orders in picking session {session} of integration '{}'",
                self.integration.name
            )));
        }
        let mut lines: BTreeMap<String, PickLine> = BTreeMap::new();
        for order in &orders {
            for item in &order.items {
                let Some((code, quantity)) = item.physical_quantity() else {
                    continue;
                };
                let line = lines.entry(code.to_owned()).or_insert_with(|| PickLine {
                    product_code: code.to_owned(),
                    name: item.name.clone(),
                    quantity: Decimal::ZERO,
                    order_codes: Vec::new(),
                });
                line.quantity = line.quantity.saturating_add(quantity);
                if !line.order_codes.contains(&order.code) {
                    line.order_codes.push(order.code.clone());
                }
            }
        }
        Ok(PickList {
            picking_session: session.to_owned(),
            order_codes: orders.iter().map(|o| o.code.clone()).collect(),
            lines: lines.into_values().collect(),
        })
    }
}

impl Handler<ListProducts> for IntegrationActor {
    type Result = Result<Page<Product>, ActorError>;
    fn handle(
        &mut self,
        ListProducts(query): ListProducts,
        _ctx: &mut Self::Context,
    ) -> Self::Result {
        let threshold = self.integration.low_stock_threshold;
        let search = query
            .search
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        let products: Vec<&Product> = self
            .products
            .values()
            .filter(|p| !query.out_of_stock || p.is_out_of_stock())
            .filter(|p| !query.low_stock || p.is_low_stock(threshold))
            .filter(|p| !query.sync_disabled || !p.sync_enabled)
            .filter(|p| {
                search.as_ref().is_none_or(|s| {
                    p.code.to_lowercase().contains(s) || p.name.to_lowercase().contains(s)
                })
            })
            .collect();
        Ok(page_of(products, query.page, query.page_size))
    }
}

impl Handler<GetSyncHistory> for IntegrationActor {
    type Result = Result<Vec<SyncLog>, ActorError>;
    fn handle(&mut self, msg: GetSyncHistory, _ctx: &mut Self::Context) -> Self::Result {
        let since = Utc::now() - TimeDelta::days(i64::from(msg.days.max(1)));
        let mut logs = self.store.sync_logs(self.id, since)?;
        logs.reverse();
        Ok(logs)
    }
}

impl Handler<ListErrors> for IntegrationActor {
    type Result = Result<Vec<crate::domain::ErrorLog>, ActorError>;
    fn handle(&mut self, msg: ListErrors, _ctx: &mut Self::Context) -> Self::Result {
        let mut errors = self.store.errors(self.id, !msg.all)?;
        errors.reverse();
        Ok(errors)
    }
}

impl Handler<ListOutbox> for IntegrationActor {
    type Result = Result<Vec<OutboxEntry>, ActorError>;
    fn handle(&mut self, msg: ListOutbox, _ctx: &mut Self::Context) -> Self::Result {
        Ok(self
            .outbox
            .values()
            .filter(|e| msg.state.is_none_or(|s| e.state == s))
            .cloned()
            .collect())
    }
}

impl Handler<GetHealth> for IntegrationActor {
    type Result = Result<HealthView, ActorError>;
    fn handle(&mut self, _msg: GetHealth, _ctx: &mut Self::Context) -> Self::Result {
        let now = Utc::now();
        let orders: Vec<Order> = self.orders.values().cloned().collect();
        let products: Vec<Product> = self.products.values().cloned().collect();
        let logs = self.store.sync_logs(self.id, now - RECENT_SYNC_WINDOW)?;
        let errors = self.unresolved_errors();
        let outbox: Vec<OutboxEntry> = self.outbox.values().cloned().collect();
        let report = HealthReport::build(
            &self.integration,
            &orders,
            &products,
            &logs,
            &errors,
            &outbox,
            now,
        );
        let (pending, dead) = self.outbox_counts();
        Ok(HealthView {
            report,
            unresolved_error_count: errors.len() as u64,
            outbox_pending: pending,
            outbox_dead_letters: dead,
        })
    }
}

impl Handler<GetFulfillment> for IntegrationActor {
    type Result = Result<FulfillmentReport, ActorError>;
    fn handle(&mut self, msg: GetFulfillment, _ctx: &mut Self::Context) -> Self::Result {
        let orders: Vec<Order> = self.orders.values().cloned().collect();
        Ok(FulfillmentReport::build(
            &self.integration,
            &orders,
            msg.from,
            msg.to,
            Utc::now(),
        )?)
    }
}

impl Handler<GetInventory> for IntegrationActor {
    type Result = ResponseActFuture<Self, Result<InventoryView, ActorError>>;
    fn handle(&mut self, _msg: GetInventory, _ctx: &mut Self::Context) -> Self::Result {
        let codes: Vec<String> = self
            .products
            .values()
            .filter(|p| p.sync_enabled)
            .map(|p| p.code.clone())
            .collect();
        let ledger = self.ledger.clone();
        let id = self.id;
        Box::pin(
            async move { ledger.send(PushFigures { id, codes }).await }
                .into_actor(self)
                .map(|result, act, _ctx| {
                    let figures = result.map_err(|err| {
                        ActorError::Unavailable(format!("warehouse ledger: {err}"))
                    })??;
                    let adjust = super::flows::PushAdjustment {
                        added: act.compensation(),
                        removed: act.own_resolved(),
                    };
                    let now = Utc::now();
                    let products: Vec<Product> = act.products.values().cloned().collect();
                    let errors = act.unresolved_errors();
                    let report = InventoryReport::build(&act.integration, &products, &errors, now);
                    let mut in_sync = 0u64;
                    let mut differing = Vec::new();
                    for (code, base) in figures {
                        let Some(current) = adjust.figure(&code, base) else {
                            continue;
                        };
                        let pushed = act.sync.pushed.get(&code).copied();
                        if pushed == Some(current) {
                            in_sync += 1;
                        } else {
                            differing.push(StockLine {
                                name: act
                                    .products
                                    .get(&code)
                                    .map(|p| p.name.clone())
                                    .unwrap_or_default(),
                                code,
                                pushed,
                                current,
                            });
                        }
                    }
                    Ok(InventoryView {
                        report,
                        warehouse_code: act.integration.default_warehouse_code.clone(),
                        in_sync,
                        differing,
                    })
                }),
        )
    }
}

impl Handler<GetPriceHistory> for IntegrationActor {
    type Result = Result<Vec<crate::domain::PriceChange>, ActorError>;
    fn handle(&mut self, msg: GetPriceHistory, _ctx: &mut Self::Context) -> Self::Result {
        let code = match &msg.code {
            Some(code) => Some(self.product(code)?.code.clone()),
            None => None,
        };
        Ok(self.store.price_history(self.id, code.as_deref())?)
    }
}

impl Handler<GetOrdersCreated> for IntegrationActor {
    type Result = Result<Vec<Order>, ActorError>;
    fn handle(&mut self, msg: GetOrdersCreated, _ctx: &mut Self::Context) -> Self::Result {
        Ok(self
            .orders
            .values()
            .filter(|o| {
                let created = o.shop_created_at.unwrap_or(o.imported_at);
                created >= msg.from && created < msg.to
            })
            .cloned()
            .collect())
    }
}
