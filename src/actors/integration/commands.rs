//! Operator commands: order steps, prices, product sync flags, settings, credentials,
//! activation, errors and the outbox. Each is one domain step and one commit.

use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use futures::FutureExt;
use tracing::Instrument;

use super::{IntegrationActor, meta};
use crate::actors::ActorError;
use crate::actors::messages::*;
use crate::domain::{DomainError, Integration, Order, OutboxEntry, OutboxState, Product};
use crate::store::Changeset;

type Reply<T> = AtomicResponse<IntegrationActor, Result<T, ActorError>>;

fn fail<T: 'static>(err: ActorError) -> Reply<T> {
    AtomicResponse::new(Box::pin(fut::err(err)))
}

impl IntegrationActor {
    pub(super) fn order(&self, code: &str) -> Result<&Order, ActorError> {
        let code = code.trim();
        self.orders
            .get(code)
            .or_else(|| {
                // Shop codes are case-sensitive strings, but operators type them by hand.
                self.orders
                    .values()
                    .find(|o| o.code.eq_ignore_ascii_case(code))
            })
            .ok_or_else(|| {
                ActorError::NotFound(format!(
                    "order {code} not found in integration '{}'",
                    self.integration.name
                ))
            })
    }

    pub(super) fn product(&self, code: &str) -> Result<&Product, ActorError> {
        let code = code.trim();
        self.products
            .get(code)
            .or_else(|| {
                self.products
                    .values()
                    .find(|p| p.code.eq_ignore_ascii_case(code))
            })
            .ok_or_else(|| {
                ActorError::NotFound(format!(
                    "product {code} not found in integration '{}'",
                    self.integration.name
                ))
            })
    }

    /// Queues the status pushes an order's new status asks for.
    fn queue_pushes(&mut self, order: &Order, changeset: &mut Changeset) {
        let entries =
            OutboxEntry::for_order_status(&self.integration, order, self.next_seq, Utc::now());
        let already_resolved = self.shop_resolved_claim_of(order);
        for entry in entries {
            self.next_seq = self.next_seq.max(entry.seq + 1);
            if self.resolves_claim(&entry.action) && !already_resolved {
                self.fresh_claims.insert(entry.seq);
            }
            changeset.put_outbox(&entry);
            self.outbox.insert(entry.seq, entry);
        }
        changeset.put_meta(self.id, meta::OUTBOX_SEQ, &self.next_seq);
    }

    /// Applies an order step to a copy, stores it with its pushes, and commits.
    fn order_step<F>(&mut self, code: &str, step: F) -> Reply<Order>
    where
        F: FnOnce(&mut Order) -> Result<(), DomainError>,
    {
        let mut order = match self.order(code) {
            Ok(order) => order.clone(),
            Err(err) => return fail(err),
        };
        let before = order.status;
        if let Err(err) = step(&mut order) {
            return fail(err.into());
        }
        let mut changeset = Changeset::new();
        changeset.put_order(&order);
        if order.status != before {
            self.queue_pushes(&order, &mut changeset);
        }
        self.orders.insert(order.clone());
        self.commit_reply(changeset, order)
    }
}

impl Handler<ProcessOrder> for IntegrationActor {
    type Result = Reply<Order>;
    fn handle(&mut self, msg: ProcessOrder, _ctx: &mut Self::Context) -> Self::Result {
        let session = msg
            .picking_session
            .unwrap_or_else(|| format!("pick-{}", Utc::now().format("%Y%m%d-%H%M%S")));
        self.order_step(&msg.code, |order| {
            order.start_processing(&session, Utc::now())
        })
    }
}

impl Handler<CancelOrder> for IntegrationActor {
    type Result = Reply<Order>;
    fn handle(&mut self, msg: CancelOrder, _ctx: &mut Self::Context) -> Self::Result {
        self.order_step(&msg.code, |order| order.cancel(&msg.reason, Utc::now()))
    }
}

impl Handler<AddOrderNote> for IntegrationActor {
    type Result = Reply<Order>;
    fn handle(&mut self, msg: AddOrderNote, _ctx: &mut Self::Context) -> Self::Result {
        self.order_step(&msg.code, |order| order.add_note(&msg.note))
    }
}

impl Handler<ResolveConflict> for IntegrationActor {
    type Result = Reply<Order>;
    fn handle(&mut self, msg: ResolveConflict, _ctx: &mut Self::Context) -> Self::Result {
        self.order_step(&msg.code, |order| {
            order.resolve_conflict(msg.resolution, Utc::now())
        })
    }
}

impl Handler<ShipOrder> for IntegrationActor {
    type Result = Reply<Order>;
    fn handle(&mut self, msg: ShipOrder, _ctx: &mut Self::Context) -> Self::Result {
        let mut order = match self.order(&msg.code) {
            Ok(order) => order.clone(),
            Err(err) => return fail(err),
        };
        let tracking = msg.tracking_number.unwrap_or_default();
        if let Err(err) = order.ship(&tracking, msg.transport_box.as_deref(), Utc::now()) {
            return fail(err.into());
        }
        let issued: Vec<(String, rust_decimal::Decimal)> = order
            .items
            .iter()
            .filter_map(|i| i.physical_quantity())
            .map(|(code, quantity)| (code.to_owned(), quantity))
            .collect();
        // Memory changes only after the ledger committed the order, its pushes and the stock
        // issue together; until then nothing else runs in this actor.
        let saved_seq = self.next_seq;
        let mut changeset = Changeset::new();
        changeset.put_order(&order);
        let entries =
            OutboxEntry::for_order_status(&self.integration, &order, self.next_seq, Utc::now());
        let next_seq = entries.iter().map(|e| e.seq + 1).max().unwrap_or(saved_seq);
        for entry in &entries {
            changeset.put_outbox(entry);
        }
        changeset.put_meta(self.id, meta::OUTBOX_SEQ, &next_seq);
        // The figures of this order's codes once it has shipped (the ledger applies them).
        let reservations = self.orders.reservations_with(&order);
        let ledger = self.ledger.clone();
        let request = CommitShipment {
            id: self.id,
            changeset,
            issued,
            reservations: reservations.clone(),
        };
        AtomicResponse::new(Box::pin(
            async move { ledger.send(request).await }
                .into_actor(self)
                .map(move |result, act, ctx| {
                    match result {
                        Ok(Ok(())) => {}
                        Ok(Err(err)) => return Err(err),
                        Err(err) => {
                            return Err(ActorError::Unavailable(format!(
                                "warehouse ledger: {err}"
                            )));
                        }
                    }
                    act.next_seq = act.next_seq.max(next_seq);
                    // Finished in the shop before it shipped: the shop's claim is gone already,
                    // there is nothing to compensate.
                    let already_resolved = act.shop_resolved_claim_of(&order);
                    for entry in entries {
                        if act.resolves_claim(&entry.action) && !already_resolved {
                            act.fresh_claims.insert(entry.seq);
                        }
                        act.outbox.insert(entry.seq, entry);
                    }
                    act.orders.insert(order.clone());
                    act.after_change(ctx);
                    Ok(order)
                }),
        ))
    }
}

impl Handler<UpdatePrice> for IntegrationActor {
    type Result = Reply<Product>;
    fn handle(&mut self, msg: UpdatePrice, ctx: &mut Self::Context) -> Self::Result {
        let mut product = match self.product(&msg.code) {
            Ok(product) => product.clone(),
            Err(err) => return fail(err),
        };
        let change = match product.update_price(msg.price, &msg.source, Utc::now()) {
            Ok(change) => change,
            Err(err) => return fail(err.into()),
        };
        let Some(change) = change else {
            return AtomicResponse::new(Box::pin(fut::ok(product)));
        };
        let mut changeset = Changeset::new();
        changeset.put_product(&product);
        changeset.put_price_change(&change);
        self.pending_prices
            .entry(product.code.clone())
            .or_default()
            .push(change);
        self.sync.price_queue.insert(product.code.clone());
        changeset.put_meta(self.id, meta::PRICE_QUEUE, &self.sync.price_queue);
        self.products.insert(product.code.clone(), product.clone());
        if self.integration.is_active() {
            let debounce = self.settings.price_debounce;
            self.schedule(ctx, SyncKind::Prices, debounce);
        }
        self.commit_reply(changeset, product)
    }
}

impl Handler<ToggleProductSync> for IntegrationActor {
    type Result = Reply<Product>;
    fn handle(&mut self, msg: ToggleProductSync, ctx: &mut Self::Context) -> Self::Result {
        let mut product = match self.product(&msg.code) {
            Ok(product) => product.clone(),
            Err(err) => return fail(err),
        };
        if msg.enabled {
            product.enable_sync();
            if self.integration.is_active() && self.integration.auto_inventory_sync {
                let debounce = self.settings.stock_debounce;
                self.schedule(ctx, SyncKind::Inventory, debounce);
            }
        } else if product.sync_enabled {
            let by = if msg.by.trim().is_empty() {
                "operator"
            } else {
                msg.by.trim()
            };
            if let Err(err) = product.disable_sync(&format!("by {by}")) {
                return fail(err.into());
            }
        }
        let mut changeset = Changeset::new();
        changeset.put_product(&product);
        self.products.insert(product.code.clone(), product.clone());
        self.commit_reply(changeset, product)
    }
}

impl Handler<ResolveError> for IntegrationActor {
    type Result = Reply<crate::domain::ErrorLog>;
    fn handle(&mut self, msg: ResolveError, _ctx: &mut Self::Context) -> Self::Result {
        // An open one from memory; only an unknown or resolved id needs the whole log.
        let found = match self.open_errors.get(&msg.id) {
            Some(error) => Some(error.clone()),
            None => match self.store.errors(self.id, false) {
                Ok(errors) => errors.into_iter().find(|e| e.id == msg.id),
                Err(err) => return fail(err.into()),
            },
        };
        let Some(mut error) = found else {
            return fail(ActorError::NotFound(format!(
                "error {} not found in integration '{}'",
                msg.id, self.integration.name
            )));
        };
        if let Err(err) = error.resolve(&msg.by, &msg.resolution, Utc::now()) {
            return fail(err.into());
        }
        let mut changeset = Changeset::new();
        changeset.put_error(&error);
        // An unreadable order is no longer read again once its error is resolved.
        let mut dismissed = false;
        for retry in self.sync.order_retry.values_mut() {
            if retry.error_id == error.id && !retry.dismissed {
                retry.dismissed = true;
                dismissed = true;
            }
        }
        if dismissed {
            changeset.put_meta(self.id, meta::ORDERS_RETRY, &self.sync.order_retry);
        }
        self.commit_reply(changeset, error)
    }
}

impl Handler<RetryOutbox> for IntegrationActor {
    type Result = Reply<OutboxChange>;
    fn handle(&mut self, msg: RetryOutbox, ctx: &mut Self::Context) -> Self::Result {
        let now = Utc::now();
        let targets: Vec<u64> = match msg.id {
            Some(id) => match self.outbox.values().find(|e| e.id == id) {
                Some(entry) => vec![entry.seq],
                None => {
                    return fail(ActorError::NotFound(format!(
                        "outbox entry {id} not found in integration '{}'",
                        self.integration.name
                    )));
                }
            },
            None => self
                .outbox
                .values()
                .filter(|e| e.state == OutboxState::DeadLetter)
                .map(|e| e.seq)
                .collect(),
        };
        let mut changeset = Changeset::new();
        let mut affected = 0u64;
        for seq in targets {
            let Some(entry) = self.outbox.get_mut(&seq) else {
                continue;
            };
            match entry.state {
                OutboxState::DeadLetter => {
                    if let Err(err) = entry.retry(now) {
                        return fail(err.into());
                    }
                }
                // A pending entry waiting for its backoff is simply made due now.
                OutboxState::Pending => entry.next_attempt_at = now,
            }
            changeset.put_outbox(entry);
            affected += 1;
        }
        self.schedule(ctx, SyncKind::Outbox, Duration::ZERO);
        self.commit_reply(
            changeset,
            OutboxChange {
                affected,
                message: format!("{affected} outbox entries queued for sending"),
            },
        )
    }
}

impl Handler<DropOutbox> for IntegrationActor {
    type Result = Reply<OutboxChange>;
    fn handle(&mut self, msg: DropOutbox, _ctx: &mut Self::Context) -> Self::Result {
        let Some(seq) = self.outbox.values().find(|e| e.id == msg.id).map(|e| e.seq) else {
            return fail(ActorError::NotFound(format!(
                "outbox entry {} not found in integration '{}'",
                msg.id, self.integration.name
            )));
        };
        if self.is_running(SyncKind::Outbox) {
            return fail(ActorError::Conflict(
                "status pushes are being sent right now; try again in a moment".into(),
            ));
        }
        self.outbox.remove(&seq);
        self.fresh_claims.remove(&seq);
        let mut changeset = Changeset::new();
        changeset.delete_outbox(self.id, seq);
        self.commit_reply(
            changeset,
            OutboxChange {
                affected: 1,
                message: format!("outbox entry {} dropped", msg.id),
            },
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Integration settings, credentials, activation
// ---------------------------------------------------------------------------------------------

/// Validates a name or e-shop URL through the domain constructor (its rules live there).
fn validated_name_and_url(name: &str, url: &str) -> Result<(String, String), DomainError> {
    let probe = Integration::new(name, url, Utc::now())?;
    Ok((probe.name, probe.eshop_url))
}

/// Applies setting changes through the domain's rules (shared by create and update).
pub(crate) fn apply_update(
    integration: &mut Integration,
    update: &IntegrationUpdate,
    now: chrono::DateTime<Utc>,
) -> Result<(), DomainError> {
    if update.rename.is_some() || update.eshop_url.is_some() {
        let name = update.rename.as_deref().unwrap_or(&integration.name);
        let url = update
            .eshop_url
            .as_deref()
            .unwrap_or(&integration.eshop_url);
        let (name, url) = validated_name_and_url(name, url)?;
        integration.name = name;
        integration.eshop_url = url;
    }
    if let Some(url) = &update.api_base_url {
        integration.set_api_base_url(url, now)?;
    }
    if let Some(code) = &update.default_warehouse_code {
        integration.set_default_warehouse_code(code, now)?;
    }
    if let Some(id) = update.shoptet_stock_id {
        if id <= 0 {
            return Err(DomainError::InvalidArgument {
                field: "Shoptet stock id",
                reason: format!("{id} is not a stock id"),
            });
        }
        integration.shoptet_stock_id = id;
    }
    if let Some(minutes) = update.sync_interval_minutes {
        integration.set_sync_interval(minutes, now)?;
    }
    if let Some(flag) = update.auto_order_import {
        integration.auto_order_import = flag;
    }
    if let Some(flag) = update.auto_inventory_sync {
        integration.auto_inventory_sync = flag;
    }
    if let Some(flag) = update.auto_status_update {
        integration.auto_status_update = flag;
    }
    if let Some(mapping) = update.status_mapping {
        integration.status_mapping = mapping;
    }
    if let Some(threshold) = update.low_stock_threshold {
        integration.set_low_stock_threshold(threshold, now)?;
    }
    integration.updated_at = now;
    Ok(())
}

impl Handler<UpdateIntegration> for IntegrationActor {
    type Result = Reply<Integration>;
    fn handle(
        &mut self,
        UpdateIntegration(update): UpdateIntegration,
        ctx: &mut Self::Context,
    ) -> Self::Result {
        // Activation checks the mapping's ids against the shop's statuses (and learns which
        // resolve the claim); an active integration must go through it again.
        if self.integration.is_active()
            && update
                .status_mapping
                .is_some_and(|m| m != self.integration.status_mapping)
        {
            return fail(ActorError::Conflict(format!(
                "the status mapping of '{}' cannot change while it is active: deactivate it, change the mapping, then activate it again (activation checks the statuses against the shop)",
                self.integration.name
            )));
        }
        let now = Utc::now();
        let mut integration = self.integration.clone();
        let result = apply_update(&mut integration, &update, now);
        if let Err(err) = result {
            return fail(err.into());
        }
        let urls_changed = integration.api_base_url != self.integration.api_base_url
            || integration.eshop_url != self.integration.eshop_url;
        let warehouse_changed =
            integration.default_warehouse_code != self.integration.default_warehouse_code;
        let stock_changed = integration.shoptet_stock_id != self.integration.shoptet_stock_id;
        self.integration = integration.clone();
        if urls_changed {
            self.rebuild_client();
        }
        if warehouse_changed {
            self.register_with_ledger(ctx);
        }
        if stock_changed {
            // Another shop stock: nothing there was pushed by us yet.
            self.sync.pushed.clear();
        }
        if let Some(renamed) = &self.renamed {
            renamed.do_send(IntegrationRenamed {
                id: self.id,
                name: integration.name.clone(),
                warehouse: integration.default_warehouse_code.clone(),
            });
        }
        if self.integration.is_active() {
            self.cancel_timers(ctx);
            self.schedule_all(ctx, Duration::ZERO);
            // The outbox timer went with the others: a backing-off push still needs it.
            self.schedule_outbox(ctx);
        }
        let mut changeset = Changeset::new();
        changeset.put_integration(&integration);
        if stock_changed {
            changeset.put_meta(self.id, meta::PUSHED_STOCK, &self.sync.pushed);
        }
        self.commit_reply(changeset, integration)
    }
}

impl Handler<SetCredentials> for IntegrationActor {
    type Result = Reply<Integration>;
    fn handle(
        &mut self,
        SetCredentials(credentials): SetCredentials,
        _ctx: &mut Self::Context,
    ) -> Self::Result {
        let mut integration = self.integration.clone();
        let log = match integration.update_credentials(credentials, Utc::now()) {
            Ok(log) => log,
            Err(err) => return fail(err.into()),
        };
        self.integration = integration.clone();
        self.rebuild_client();
        let mut changeset = Changeset::new();
        changeset.put_integration(&integration);
        changeset.put_sync_log(&log);
        self.commit_reply(changeset, integration)
    }
}

impl Handler<Deactivate> for IntegrationActor {
    type Result = Reply<Integration>;
    fn handle(&mut self, msg: Deactivate, ctx: &mut Self::Context) -> Self::Result {
        let log = self.integration.deactivate(&msg.reason, Utc::now());
        self.cancel_timers(ctx);
        // Promised status pushes still go out.
        self.schedule_outbox(ctx);
        let mut changeset = Changeset::new();
        changeset.put_integration(&self.integration);
        changeset.put_sync_log(&log);
        let integration = self.integration.clone();
        self.commit_reply(changeset, integration)
    }
}

/// What activation learned from the shop.
struct ShopCheck {
    pricelist: Option<i64>,
    claim_resolving: Vec<i64>,
}

impl Handler<Activate> for IntegrationActor {
    type Result = ResponseActFuture<Self, Result<Integration, ActorError>>;
    fn handle(&mut self, _msg: Activate, _ctx: &mut Self::Context) -> Self::Result {
        // Credentials first (a domain rule), then the shop.
        let mut probe = self.integration.clone();
        if let Err(err) = probe.activate(Utc::now()) {
            return Box::pin(fut::err(err.into()));
        }
        if self.activating {
            return Box::pin(fut::err(ActorError::Conflict(format!(
                "integration '{}' is already being activated",
                self.integration.name
            ))));
        }
        let client = match self.client() {
            Ok(client) => client,
            Err(err) => return Box::pin(fut::err(err)),
        };
        self.activating = true;
        let mapping = self.integration.status_mapping;
        let name = self.integration.name.clone();
        let span = tracing::error_span!("activate", store = %name, sync_type = "system");
        let check = async move {
            let refused = |err: crate::shoptet::ShoptetError| {
                ActorError::Shop(format!(
                    "cannot activate '{name}': {}",
                    crate::actors::shop_error_message(&err)
                ))
            };
            let info = client.eshop_info().await.map_err(refused)?;
            let statuses = client.order_statuses().await.map_err(refused)?;
            for (what, id) in [
                ("processing", mapping.processing),
                ("shipped", mapping.shipped),
                ("cancelled", mapping.cancelled),
            ] {
                if !statuses.statuses.iter().any(|s| s.id == id) {
                    return Err(ActorError::Conflict(format!(
                        "cannot activate '{name}': the status mapping's {what} status {id} does not exist in the shop (its statuses: {})",
                        statuses
                            .statuses
                            .iter()
                            .map(|s| format!("{} {}", s.id, s.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
            let claim_resolving: Vec<i64> = statuses
                .statuses
                .iter()
                .filter(|s| s.stock_claim_resolved)
                .map(|s| s.id)
                .collect();
            if !claim_resolving.contains(&mapping.shipped) {
                tracing::warn!(
                    store = %name,
                    status = mapping.shipped,
                    "the shipped status does not resolve the shop's stock claim; shipped orders stay claimed in the shop"
                );
            }
            Ok(ShopCheck {
                pricelist: info.default_pricelist_id(),
                claim_resolving,
            })
        }
        .instrument(span)
        .boxed_local();
        Box::pin(check.into_actor(self).then(|result, act, ctx| {
            act.activating = false;
            let check = match result {
                Ok(check) => check,
                Err(err) => return futures::future::Either::Left(fut::err(err)),
            };
            let log = match act.integration.activate(Utc::now()) {
                Ok(log) => log,
                Err(err) => return futures::future::Either::Left(fut::err(err.into())),
            };
            act.sync.claim_resolving = check.claim_resolving;
            act.sync.pricelist = check.pricelist.or(act.sync.pricelist);
            let mut changeset = Changeset::new();
            changeset.put_integration(&act.integration);
            changeset.put_sync_log(&log);
            changeset.put_meta(act.id, meta::CLAIM_RESOLVING, &act.sync.claim_resolving);
            if let Some(pricelist) = act.sync.pricelist {
                changeset.put_meta(act.id, meta::PRICELIST, &pricelist);
            }
            act.cancel_timers(ctx);
            act.schedule_all(ctx, Duration::ZERO);
            act.schedule_outbox(ctx);
            let integration = act.integration.clone();
            futures::future::Either::Right(act.commit_waited(ctx, changeset).map(
                move |result, act: &mut Self, ctx| {
                    result?;
                    act.after_change(ctx);
                    Ok(integration)
                },
            ))
        }))
    }
}
