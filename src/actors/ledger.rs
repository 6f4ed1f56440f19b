//! The warehouse ledger: on-hand stock per (warehouse, code) and every store's reservations.
//!
//! It is the only writer of the `stock` tree. Stores that sell from the same warehouse share
//! its stock: when on-hand changes, or one store's reservations change, the other stores of the
//! warehouse get [`StockChanged`] and schedule a (debounced) push. A store's own reservations
//! never change its own push figure: the shop subtracts its own open orders itself (its claim).

use std::collections::{BTreeMap, HashMap};

use actix::prelude::*;
use chrono::Utc;
use rust_decimal::Decimal;

use super::ActorError;
use super::messages::*;
use crate::domain::{IntegrationId, StockLevel};
use crate::store::{Changeset, Store};

struct StoreEntry {
    warehouse: String,
    reservations: BTreeMap<String, Decimal>,
    notify: Recipient<StockChanged>,
}

/// Owns warehouse stock and store reservations.
pub struct WarehouseLedger {
    store: Store,
    /// On-hand levels per warehouse, loaded from the store on first use.
    levels: HashMap<String, HashMap<String, StockLevel>>,
    stores: HashMap<IntegrationId, StoreEntry>,
}

impl WarehouseLedger {
    /// A ledger over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            levels: HashMap::new(),
            stores: HashMap::new(),
        }
    }

    fn warehouse(
        &mut self,
        warehouse: &str,
    ) -> Result<&mut HashMap<String, StockLevel>, ActorError> {
        if !self.levels.contains_key(warehouse) {
            let loaded = self
                .store
                .stock_levels(warehouse)?
                .into_iter()
                .map(|level| (level.product_code.clone(), level))
                .collect();
            self.levels.insert(warehouse.to_owned(), loaded);
        }
        self.levels
            .get_mut(warehouse)
            .ok_or_else(|| ActorError::Store(format!("warehouse {warehouse} not loaded")))
    }

    fn on_hand(&mut self, warehouse: &str, code: &str) -> Result<Decimal, ActorError> {
        Ok(self
            .warehouse(warehouse)?
            .get(code)
            .map(|level| level.on_hand)
            .unwrap_or_default())
    }

    /// Tells every store of `warehouse` except `except` to schedule a push.
    fn notify_warehouse(&self, warehouse: &str, except: Option<IntegrationId>) {
        for (id, entry) in &self.stores {
            if entry.warehouse == warehouse && Some(*id) != except {
                entry.notify.do_send(StockChanged);
            }
        }
    }

    /// New level for `code` (created at zero when unknown), not yet committed.
    fn level_with(
        &mut self,
        warehouse: &str,
        code: &str,
        on_hand: Decimal,
    ) -> Result<StockLevel, ActorError> {
        let now = Utc::now();
        let existing = self.warehouse(warehouse)?.get(code).cloned();
        let level = match existing {
            Some(mut level) => {
                level.set_on_hand(on_hand, now)?;
                level
            }
            None => StockLevel::new(warehouse, code, on_hand, now)?,
        };
        Ok(level)
    }

    /// Commits under `ctx.wait` (local disk only), then applies `levels` to memory, notifies the
    /// warehouse's stores and answers `value`.
    fn commit_levels<T: 'static>(
        &mut self,
        changeset: Changeset,
        levels: Vec<StockLevel>,
        warehouse: String,
        except: Option<IntegrationId>,
        value: T,
    ) -> AtomicResponse<Self, Result<T, ActorError>> {
        let store = self.store.clone();
        AtomicResponse::new(Box::pin(
            async move { store.commit(changeset).await }
                .into_actor(self)
                .map(move |result, act, _ctx| {
                    result?;
                    let changed = !levels.is_empty();
                    if let Ok(map) = act.warehouse(&warehouse) {
                        for level in levels {
                            map.insert(level.product_code.clone(), level);
                        }
                    }
                    if changed {
                        act.notify_warehouse(&warehouse, except);
                    }
                    Ok(value)
                }),
        ))
    }
}

/// Applies a store's changed figures (zero: nothing reserved); tells whether any differed.
fn apply_reservation_changes(
    reservations: &mut BTreeMap<String, Decimal>,
    changes: BTreeMap<String, Decimal>,
) -> bool {
    let mut changed = false;
    for (code, quantity) in changes {
        if quantity > Decimal::ZERO {
            changed |= reservations.insert(code, quantity) != Some(quantity);
        } else {
            changed |= reservations.remove(&code).is_some();
        }
    }
    changed
}

impl Actor for WarehouseLedger {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Shipments and bulk sets wait here; a deep mailbox keeps do_send callers from blocking.
        ctx.set_mailbox_capacity(1024);
    }
}

impl Handler<RegisterStore> for WarehouseLedger {
    type Result = ();
    fn handle(&mut self, msg: RegisterStore, _ctx: &mut Self::Context) {
        let previous = self.stores.insert(
            msg.id,
            StoreEntry {
                warehouse: msg.warehouse.clone(),
                reservations: msg.reservations,
                notify: msg.notify,
            },
        );
        // The store's reservations (or warehouse) may differ from what others last saw.
        if let Some(previous) = previous
            && previous.warehouse != msg.warehouse
        {
            self.notify_warehouse(&previous.warehouse, Some(msg.id));
        }
        self.notify_warehouse(&msg.warehouse, Some(msg.id));
    }
}

impl Handler<UnregisterStore> for WarehouseLedger {
    type Result = ();
    fn handle(&mut self, msg: UnregisterStore, _ctx: &mut Self::Context) {
        if let Some(entry) = self.stores.remove(&msg.id)
            && !entry.reservations.is_empty()
        {
            self.notify_warehouse(&entry.warehouse, None);
        }
    }
}

impl Handler<ReportReservations> for WarehouseLedger {
    type Result = ();
    fn handle(&mut self, msg: ReportReservations, _ctx: &mut Self::Context) {
        let Some(entry) = self.stores.get_mut(&msg.id) else {
            return;
        };
        if !apply_reservation_changes(&mut entry.reservations, msg.changes) {
            return;
        }
        let warehouse = entry.warehouse.clone();
        self.notify_warehouse(&warehouse, Some(msg.id));
    }
}

impl Handler<PushFigures> for WarehouseLedger {
    type Result = Result<BTreeMap<String, Decimal>, ActorError>;
    fn handle(&mut self, msg: PushFigures, _ctx: &mut Self::Context) -> Self::Result {
        let Some(warehouse) = self.stores.get(&msg.id).map(|e| e.warehouse.clone()) else {
            return Err(ActorError::NotFound(format!(
                "store {} is not registered with the warehouse ledger",
                msg.id
            )));
        };
        let mut others: HashMap<&str, Decimal> = HashMap::new();
        for (id, entry) in &self.stores {
            if *id != msg.id && entry.warehouse == warehouse {
                for (code, quantity) in &entry.reservations {
                    let sum = others.entry(code.as_str()).or_default();
                    *sum = sum.saturating_add(*quantity);
                }
            }
        }
        let others: HashMap<String, Decimal> =
            others.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let levels = self.warehouse(&warehouse)?;
        // A code the warehouse has never recorded is unknown here, not out of stock: it gets no
        // figure, so connecting a shop before its stock is loaded never zeroes the shop. An
        // explicit on-hand of 0 is pushed as 0.
        Ok(msg
            .codes
            .into_iter()
            .filter_map(|code| {
                let on_hand = levels.get(&code)?.on_hand;
                let reserved = others.get(&code).copied().unwrap_or_default();
                Some((code, on_hand.saturating_sub(reserved)))
            })
            .collect())
    }
}

impl Handler<SetStock> for WarehouseLedger {
    type Result = AtomicResponse<Self, Result<StockLevel, ActorError>>;
    fn handle(&mut self, msg: SetStock, _ctx: &mut Self::Context) -> Self::Result {
        let prepared = self.level_with(&msg.warehouse, &msg.code, msg.on_hand);
        let level = match prepared {
            Ok(level) => level,
            Err(err) => return AtomicResponse::new(Box::pin(fut::err(err))),
        };
        let mut changeset = Changeset::new();
        changeset.put_stock(&level);
        self.commit_levels(changeset, vec![level.clone()], msg.warehouse, None, level)
    }
}

impl Handler<AdjustStock> for WarehouseLedger {
    type Result = AtomicResponse<Self, Result<StockLevel, ActorError>>;
    fn handle(&mut self, msg: AdjustStock, _ctx: &mut Self::Context) -> Self::Result {
        let prepared = self.on_hand(&msg.warehouse, &msg.code).and_then(|on_hand| {
            let after = on_hand.checked_add(msg.delta).ok_or_else(|| {
                ActorError::Domain(crate::domain::DomainError::InvalidArgument {
                    field: "stock adjustment",
                    reason: format!("{} is beyond the accepted range", msg.delta),
                })
            })?;
            self.level_with(&msg.warehouse, &msg.code, after)
        });
        let level = match prepared {
            Ok(level) => level,
            Err(err) => return AtomicResponse::new(Box::pin(fut::err(err))),
        };
        let mut changeset = Changeset::new();
        changeset.put_stock(&level);
        self.commit_levels(changeset, vec![level.clone()], msg.warehouse, None, level)
    }
}

impl Handler<BulkSetStock> for WarehouseLedger {
    type Result = AtomicResponse<Self, Result<BulkStockResult, ActorError>>;
    fn handle(&mut self, msg: BulkSetStock, _ctx: &mut Self::Context) -> Self::Result {
        let mut changeset = Changeset::new();
        let mut levels = Vec::new();
        let mut unchanged = 0u64;
        for (code, on_hand) in &msg.items {
            let current = match self.warehouse(&msg.warehouse) {
                Ok(map) => map.get(code).map(|l| l.on_hand),
                Err(err) => return AtomicResponse::new(Box::pin(fut::err(err))),
            };
            if current == Some(*on_hand) {
                unchanged += 1;
                continue;
            }
            match self.level_with(&msg.warehouse, code, *on_hand) {
                Ok(level) => {
                    changeset.put_stock(&level);
                    levels.push(level);
                }
                Err(err) => return AtomicResponse::new(Box::pin(fut::err(err))),
            }
        }
        let result = BulkStockResult {
            warehouse_code: msg.warehouse.clone(),
            updated: levels.len() as u64,
            unchanged,
        };
        self.commit_levels(changeset, levels, msg.warehouse, None, result)
    }
}

impl Handler<GetStockLevels> for WarehouseLedger {
    type Result = Result<Vec<StockLevel>, ActorError>;
    fn handle(&mut self, msg: GetStockLevels, _ctx: &mut Self::Context) -> Self::Result {
        let mut levels: Vec<StockLevel> =
            self.warehouse(&msg.warehouse)?.values().cloned().collect();
        levels.sort_by(|a, b| a.product_code.cmp(&b.product_code));
        Ok(levels)
    }
}

impl Handler<CommitShipment> for WarehouseLedger {
    type Result = AtomicResponse<Self, Result<(), ActorError>>;
    fn handle(&mut self, msg: CommitShipment, _ctx: &mut Self::Context) -> Self::Result {
        let Some(warehouse) = self.stores.get(&msg.id).map(|e| e.warehouse.clone()) else {
            return AtomicResponse::new(Box::pin(fut::err(ActorError::NotFound(format!(
                "store {} is not registered with the warehouse ledger",
                msg.id
            )))));
        };
        let mut changeset = msg.changeset;
        let mut levels: Vec<StockLevel> = Vec::new();
        // Sum repeated codes first: an order may list a code twice.
        let mut issued: BTreeMap<String, Decimal> = BTreeMap::new();
        for (code, quantity) in msg.issued {
            let sum = issued.entry(code).or_default();
            *sum = sum.saturating_add(quantity);
        }
        for (code, quantity) in issued {
            let on_hand = match self.on_hand(&warehouse, &code) {
                Ok(on_hand) => on_hand,
                Err(err) => return AtomicResponse::new(Box::pin(fut::err(err))),
            };
            // The goods left: a count that says otherwise was wrong, so stop at zero.
            let after = on_hand.saturating_sub(quantity).max(Decimal::ZERO);
            if on_hand < quantity {
                tracing::warn!(
                    warehouse = %warehouse,
                    code = %code,
                    %on_hand,
                    shipped = %quantity,
                    "shipped more than the recorded on-hand quantity; on hand set to 0"
                );
            }
            match self.level_with(&warehouse, &code, after) {
                Ok(level) => {
                    changeset.put_stock(&level);
                    levels.push(level);
                }
                Err(err) => return AtomicResponse::new(Box::pin(fut::err(err))),
            }
        }
        if let Some(entry) = self.stores.get_mut(&msg.id) {
            apply_reservation_changes(&mut entry.reservations, msg.reservations);
        }
        // Every store re-checks: for the others the lower on-hand and the dropped reservation
        // cancel out; for the shipping store the compensation keeps its figure until the shop
        // acknowledges the status (see docs/architecture.md). A re-check that finds nothing
        // changed sends nothing.
        self.commit_levels(changeset, levels, warehouse, None, ())
    }
}

impl Handler<FlushLedger> for WarehouseLedger {
    type Result = ResponseFuture<Result<(), ActorError>>;
    fn handle(&mut self, _msg: FlushLedger, _ctx: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        Box::pin(async move { store.flush().await.map_err(ActorError::from) })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::actors::SyncSettings;
    use crate::actors::integration::IntegrationActor;
    use crate::domain::Integration;
    use crate::domain::order::tests::sample_order;

    const CODE: &str = "TRI-042/M";

    #[actix_rt::test]
    async fn a_store_stopped_at_shutdown_keeps_its_reservations_for_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db")).unwrap();
        let now = Utc::now();
        let mut changeset = Changeset::new();
        let mut ids = Vec::new();
        for name in ["a", "b"] {
            let mut integration =
                Integration::new(name, &format!("https://{name}.example.cz"), now).unwrap();
            integration.set_default_warehouse_code("MAIN", now).unwrap();
            changeset.put_integration(&integration);
            ids.push(integration.id);
        }
        // Store a holds an open order of 2 × CODE.
        changeset.put_order(&sample_order(ids[0], "1001"));
        store.commit(changeset).await.unwrap();
        let ledger = WarehouseLedger::new(store.clone()).start();
        ledger
            .send(SetStock {
                warehouse: "MAIN".into(),
                code: CODE.into(),
                on_hand: Decimal::from(10),
            })
            .await
            .unwrap()
            .unwrap();
        let settings = Arc::new(SyncSettings::default());
        let mut actors = Vec::new();
        for id in &ids {
            let state = store.load_state(*id).unwrap().unwrap();
            let actor =
                IntegrationActor::new(state, 1, store.clone(), ledger.clone(), settings.clone())
                    .unwrap();
            actors.push(actor.start());
        }
        let figure_of_b = || async {
            let figures = ledger
                .send(PushFigures {
                    id: ids[1],
                    codes: vec![CODE.into()],
                })
                .await
                .unwrap()
                .ok()?;
            figures.get(CODE).copied()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while figure_of_b().await != Some(Decimal::from(8)) {
            assert!(Instant::now() < deadline, "both stores registered");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // Daemon shutdown stops a first; b, still running, must go on subtracting a's order.
        actors[0].send(StopIntegration).await.unwrap();
        while actors[0].connected() {
            assert!(Instant::now() < deadline, "store a stopped");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            figure_of_b().await,
            Some(Decimal::from(8)),
            "store b would offer the goods store a still owes"
        );
    }
}
