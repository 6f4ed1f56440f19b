//! One actor per store: owns the aggregate, answers queries from memory, runs the syncs.
//!
//! State changes follow one pattern: mutate memory, build one [`Changeset`], commit it under
//! `ctx.wait` (local disk, milliseconds) so nothing else runs in between, then answer. A failed
//! commit is fatal: the actor stops, the supervisor restarts it from disk. Network work always
//! runs as a spawned future (`ctx.spawn` / `ResponseActFuture`); its result is applied in the
//! future's `map` closure, with one commit.

mod commands;
pub(crate) use commands::apply_update;
mod floor;
mod flows;
mod order_book;
mod order_reads;
mod outbox;
mod queries;
mod reachability;
mod schedule;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::ledger::WarehouseLedger;
use super::messages::*;
use super::{ActorError, SyncSettings};
use crate::domain::{
    ErrorLog, ErrorSeverity, Integration, IntegrationId, OutboxEntry, PriceChange, Product,
    SyncType,
};
use crate::shoptet::{ClientConfig, ShoptetClient};
use crate::store::{Changeset, IntegrationState, Store};
use reachability::{Contact, Reachability};

/// Meta names of the persisted sync state.
pub(crate) mod meta {
    /// Orders change-feed cursor (shop time).
    pub const ORDERS_CURSOR: &str = "orders.cursor";
    /// Orders whose detail could not be read, read again every run (code → [`OrderRetry`]).
    pub const ORDERS_RETRY: &str = "orders.retry";
    /// Products change-feed cursor (shop time); absent until the first full catalogue pull.
    pub const PRODUCTS_CURSOR: &str = "products.cursor";
    /// Physical stock per code last acknowledged by the shop.
    pub const PUSHED_STOCK: &str = "inventory.pushed";
    /// Codes whose price waits for the price push.
    pub const PRICE_QUEUE: &str = "prices.queue";
    /// Shop status ids that resolve the stock claim, learned at activation.
    pub const CLAIM_RESOLVING: &str = "shop.claim_resolving";
    /// The shop's default price list id, learned at activation.
    pub const PRICELIST: &str = "shop.pricelist";
    /// Next outbox sequence number.
    pub const OUTBOX_SEQ: &str = "outbox.next_seq";
}

/// The sync state persisted as meta values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SyncState {
    pub orders_cursor: Option<DateTime<Utc>>,
    pub order_retry: BTreeMap<String, OrderRetry>,
    pub products_cursor: Option<DateTime<Utc>>,
    pub pushed: BTreeMap<String, Decimal>,
    pub price_queue: BTreeSet<String>,
    pub claim_resolving: Vec<i64>,
    pub pricelist: Option<i64>,
}

/// An order whose detail could not be read (not an outage: a body that did not decode, a
/// refused request). The orders cursor moves on, so the order is read again by code every run
/// until it succeeds, the shop deletes it, or an operator resolves its error-log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OrderRetry {
    /// The error-log entry written at the first failure; resolving it drops the retry.
    pub error_id: uuid::Uuid,
    /// When it first failed.
    pub since: DateTime<Utc>,
    /// The change time the feed named for the failed read.
    pub change_time: Option<DateTime<Utc>>,
    pub attempts: u32,
    /// The operator resolved the error: not read again, and the feed's changes up to
    /// `change_time` are skipped (the overlap would bring them back) until the cursor passes.
    pub dismissed: bool,
}

crate::stored_record!(std::collections::BTreeMap<String, OrderRetry>);

/// Per-kind run and schedule state.
#[derive(Default)]
struct KindState {
    running: Option<SpawnHandle>,
    started_at: Option<DateTime<Utc>>,
    timer: Option<(SpawnHandle, Instant)>,
    failures: u32,
    waiters: Vec<oneshot::Sender<Result<SyncReport, ActorError>>>,
    /// Run again as soon as it is not running and not blocked.
    pending: bool,
    /// When a change last asked for this push (stock: the debounce's quiet period).
    last_change: Option<Instant>,
    /// The next (or current) run was asked for with `force`.
    forced: bool,
    /// When the last run that did not fail ended (also one that did not talk to the shop):
    /// a request without `force` is not due again within the interval.
    last_run: Option<DateTime<Utc>>,
}

/// What a finished run reports back to the actor.
#[derive(Debug, Default)]
pub(crate) struct RunEnd {
    pub started_at: DateTime<Utc>,
    pub records: u64,
    pub errors: u64,
    pub failed: Option<FailedRun>,
    pub notes: Option<String>,
    /// Nothing was done and nobody forced the run: no sync log entry (the log shows work).
    pub quiet: bool,
    /// The run talked to the shop and it answered. Drives the outage clock (failed runs say it
    /// in [`FailedRun::contact`]); a successful run that did not talk to the shop (nothing to
    /// send) is logged but moves no sync time.
    pub reached_shop: bool,
}

/// Why a run failed as a whole.
#[derive(Debug, Clone)]
pub(crate) struct FailedRun {
    pub message: String,
    /// The shop was unreachable (outage): "unable to connect to Shoptet API".
    pub outage: bool,
    /// The credentials or installation are bad: the integration goes to Error.
    pub needs_operator: bool,
    /// Whether the shop answered, for the outage clock.
    pub contact: Contact,
    /// What the operator must do when the shop refused our credentials or installation.
    pub auth_action: Option<&'static str>,
    /// Shoptet's request id of the failed response, for support.
    pub request_id: Option<String>,
}

impl FailedRun {
    pub(crate) fn from_shop(error: &crate::shoptet::ShoptetError) -> Self {
        use crate::shoptet::ShoptetError as E;
        let contact = match error {
            // The shop answered, but with a refusal that says nothing about reachability.
            E::TokenLimitReached => Contact::NotTried,
            E::Config(_) => Contact::NotTried,
            _ if super::is_outage(error) => Contact::Unreachable,
            _ => Contact::Reached,
        };
        FailedRun {
            message: super::shop_error_message(error),
            outage: super::is_outage(error),
            needs_operator: error.needs_operator(),
            contact,
            auth_action: auth_action(error),
            request_id: error.request_id().map(str::to_owned),
        }
    }

    /// A failure before anything reached the shop (no client, the ledger did not answer).
    pub(crate) fn local(message: String) -> Self {
        FailedRun {
            message,
            outage: false,
            needs_operator: false,
            contact: Contact::NotTried,
            auth_action: None,
            request_id: None,
        }
    }
}

/// What an operator must do about an authentication or authorisation failure; `None` for
/// every other error.
pub(crate) fn auth_action(error: &crate::shoptet::ShoptetError) -> Option<&'static str> {
    use crate::shoptet::ShoptetError as E;
    match error {
        E::Unauthorized { .. } => Some(
            "the shop refused the API token: set a valid one with `shoptetctl integration credentials NAME`, then `shoptetctl integration activate NAME`",
        ),
        E::Forbidden { .. } => Some(
            "the token lacks a right or the shop lacks a module: grant it in the shop admin (API access), then `shoptetctl integration activate NAME`",
        ),
        E::AddonSuspended { .. } => Some(
            "the addon is suspended, not approved or not installed for this shop: resolve it in the shop admin or the Shoptet partner portal, then `shoptetctl integration activate NAME`",
        ),
        E::TokenLimitReached => Some(
            "the shop has 5 live API access tokens for this addon: stop other copies using the same addon token (syncs retry with backoff)",
        ),
        _ => None,
    }
}

/// The `sync_type` log field of `kind` (see `service::logging`): orders, inventory, products,
/// prices or system.
pub(crate) fn sync_type_field(kind: SyncKind) -> &'static str {
    match kind.sync_type() {
        SyncType::Orders => "orders",
        SyncType::Inventory => "inventory",
        SyncType::Products => "products",
        SyncType::Prices => "prices",
        SyncType::System => "system",
    }
}

/// The actor of one integration.
pub struct IntegrationActor {
    id: IntegrationId,
    incarnation: u64,
    store: Store,
    ledger: Addr<WarehouseLedger>,
    supervisor: Option<Recipient<IntegrationStopped>>,
    renamed: Option<Recipient<IntegrationRenamed>>,
    settings: Arc<SyncSettings>,
    integration: Integration,
    client: Option<ShoptetClient>,
    client_error: Option<String>,
    /// Held orders and what the open ones reserve.
    orders: order_book::OrderBook,
    /// Orders read from the shop but not kept (finished there before we saw them), so the
    /// feed's overlap does not read them again every run; forgotten once the cursor passes.
    unheld_reads: HashMap<String, crate::domain::ReadMark>,
    products: BTreeMap<String, Product>,
    outbox: BTreeMap<u64, OutboxEntry>,
    /// Price changes not yet pushed, per code (loaded once at start, so the price push never
    /// scans the history).
    pending_prices: BTreeMap<String, Vec<PriceChange>>,
    /// Unresolved error-log entries (loaded once at start, kept in step with every commit), so
    /// status and health never decode the whole error log.
    open_errors: BTreeMap<uuid::Uuid, ErrorLog>,
    /// The open "unable to connect" entry of the outage each kind is in: repeated failures
    /// count there instead of adding an entry per try. Cleared by the kind's next success.
    outage_errors: HashMap<SyncKind, uuid::Uuid>,
    next_seq: u64,
    sync: SyncState,
    kinds: HashMap<SyncKind, KindState>,
    /// Claim-resolving status pushes created by this incarnation and never attempted: the shop
    /// has certainly not resolved their claim yet, so their quantities are added back.
    fresh_claims: HashSet<u64>,
    activating: bool,
    stopping: bool,
    fatal: Option<String>,
    /// When the shop last answered, for the "unreachable for over an hour" alert.
    reachability: Reachability,
}

impl IntegrationActor {
    /// An actor over the state loaded from the store.
    pub fn new(
        state: IntegrationState,
        incarnation: u64,
        store: Store,
        ledger: Addr<WarehouseLedger>,
        settings: Arc<SyncSettings>,
    ) -> Result<Self, ActorError> {
        let meta = &state.meta;
        let sync = SyncState {
            orders_cursor: meta.get(meta::ORDERS_CURSOR)?,
            order_retry: meta.get(meta::ORDERS_RETRY)?.unwrap_or_default(),
            products_cursor: meta.get(meta::PRODUCTS_CURSOR)?,
            pushed: meta.get(meta::PUSHED_STOCK)?.unwrap_or_default(),
            price_queue: meta.get(meta::PRICE_QUEUE)?.unwrap_or_default(),
            claim_resolving: meta.get(meta::CLAIM_RESOLVING)?.unwrap_or_default(),
            pricelist: meta.get(meta::PRICELIST)?,
        };
        let stored_seq: u64 = meta.get(meta::OUTBOX_SEQ)?.unwrap_or_default();
        let next_seq = state
            .outbox
            .iter()
            .map(|e| e.seq.saturating_add(1))
            .max()
            .unwrap_or(0)
            .max(stored_seq);
        let mut pending_prices: BTreeMap<String, Vec<PriceChange>> = BTreeMap::new();
        match store.price_history(state.integration.id, None) {
            Ok(history) => {
                for change in history.into_iter().filter(|c| c.is_pending()) {
                    pending_prices
                        .entry(change.product_code.clone())
                        .or_default()
                        .push(change);
                }
            }
            // Bookkeeping only: the push itself follows the price queue.
            Err(err) => tracing::warn!(
                store = %state.integration.name,
                sync_type = "prices",
                error = %err,
                "price history unreadable; its pending entries stay unmarked"
            ),
        }
        let open_errors = store
            .errors(state.integration.id, true)?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let mut actor = Self {
            id: state.integration.id,
            incarnation,
            store,
            ledger,
            supervisor: None,
            renamed: None,
            settings,
            integration: state.integration,
            client: None,
            client_error: None,
            orders: order_book::OrderBook::new(state.orders),
            unheld_reads: HashMap::new(),
            products: state
                .products
                .into_iter()
                .map(|p| (p.code.clone(), p))
                .collect(),
            outbox: state.outbox.into_iter().map(|e| (e.seq, e)).collect(),
            pending_prices,
            open_errors,
            outage_errors: HashMap::new(),
            next_seq,
            sync,
            kinds: HashMap::new(),
            fresh_claims: HashSet::new(),
            activating: false,
            stopping: false,
            fatal: None,
            reachability: Reachability::default(),
        };
        actor.rebuild_client();
        Ok(actor)
    }

    /// Where to report a stop and a rename (the supervisor).
    pub(crate) fn with_supervisor(
        mut self,
        stopped: Recipient<IntegrationStopped>,
        renamed: Recipient<IntegrationRenamed>,
    ) -> Self {
        self.supervisor = Some(stopped);
        self.renamed = Some(renamed);
        self
    }

    fn name(&self) -> &str {
        &self.integration.name
    }

    /// Builds the Shoptet client from the integration's URLs and credentials.
    fn rebuild_client(&mut self) {
        self.client = None;
        self.client_error = None;
        let Some(credentials) = self.integration.credentials.clone() else {
            return;
        };
        let config = ClientConfig {
            api_base_url: self.integration.api_base_url.clone(),
            eshop_url: Some(self.integration.eshop_url.clone()),
            ..self.settings.client.clone()
        };
        match ShoptetClient::new(config, credentials) {
            Ok(client) => self.client = Some(client),
            Err(err) => {
                tracing::warn!(
                    store = %self.integration.name,
                    sync_type = "system",
                    error = %err,
                    "cannot build the Shoptet client; syncs fail until the integration's URLs or credentials are fixed"
                );
                self.client_error = Some(err.to_string());
            }
        }
    }

    /// The client, or why there is none.
    fn client(&self) -> Result<ShoptetClient, ActorError> {
        match (&self.client, &self.client_error) {
            (Some(client), _) => Ok(client.clone()),
            (None, Some(err)) => Err(ActorError::Conflict(format!(
                "integration '{}' cannot reach Shoptet: {err}",
                self.integration.name
            ))),
            (None, None) => Err(ActorError::Domain(
                crate::domain::DomainError::MissingCredentials {
                    integration: self.integration.name.clone(),
                },
            )),
        }
    }

    /// Stops the actor after a failure that makes its memory untrustworthy; the supervisor
    /// restarts it from disk.
    fn fatal(&mut self, ctx: &mut Context<Self>, reason: String) {
        tracing::error!(
            store = %self.integration.name,
            sync_type = "system",
            %reason,
            "integration actor stops on a fatal error; the supervisor restarts it from disk"
        );
        self.fatal = Some(reason);
        ctx.stop();
    }

    /// Commits `changeset` with the mailbox paused (local disk only), then runs `then`.
    fn commit_then<F>(&mut self, ctx: &mut Context<Self>, changeset: Changeset, then: F)
    where
        F: FnOnce(&mut Self, &mut Context<Self>) + 'static,
    {
        if changeset.is_empty() {
            then(self, ctx);
            return;
        }
        self.note_errors(&changeset);
        let store = self.store.clone();
        ctx.wait(
            async move { store.commit(changeset).await }
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(()) => then(act, ctx),
                    Err(err) => {
                        let reason = format!("store commit failed: {}", super::error_chain(&err));
                        act.fatal(ctx, reason);
                    }
                }),
        );
    }

    /// Commits under `ctx.wait` from inside a spawned future; resolves once it is on disk.
    fn commit_waited(
        &mut self,
        ctx: &mut Context<Self>,
        changeset: Changeset,
    ) -> impl ActorFuture<Self, Output = Result<(), ActorError>> + use<> {
        let (tx, rx) = oneshot::channel();
        self.commit_then(ctx, changeset, move |_act, _ctx| {
            let _ = tx.send(());
        });
        fut::wrap_future::<_, Self>(rx).map(|result, _act, _ctx| {
            result.map_err(|_| ActorError::Store("the commit failed; the store restarts".into()))
        })
    }

    /// Commits and answers `value` (for command handlers).
    fn commit_reply<T: 'static>(
        &mut self,
        changeset: Changeset,
        value: T,
    ) -> AtomicResponse<Self, Result<T, ActorError>> {
        self.note_errors(&changeset);
        let store = self.store.clone();
        AtomicResponse::new(Box::pin(
            async move { store.commit(changeset).await }
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(()) => {
                        act.after_change(ctx);
                        Ok(value)
                    }
                    Err(err) => {
                        let reason = format!("store commit failed: {}", super::error_chain(&err));
                        act.fatal(ctx, reason.clone());
                        Err(ActorError::Store(reason))
                    }
                }),
        ))
    }

    /// Keeps the in-memory open errors in step with the error-log entries `changeset` writes
    /// (before the commit: a failed commit stops the actor and discards memory).
    fn note_errors(&mut self, changeset: &Changeset) {
        for error in changeset.errors() {
            if error.is_resolved() {
                self.open_errors.remove(&error.id);
            } else {
                self.open_errors.insert(error.id, error.clone());
            }
        }
    }

    /// Unresolved errors, oldest first.
    pub(super) fn unresolved_errors(&self) -> Vec<ErrorLog> {
        let mut errors: Vec<ErrorLog> = self.open_errors.values().cloned().collect();
        errors.sort_by_key(|e| e.occurred_at);
        errors
    }

    /// After any committed change: report reservations and wake the outbox.
    fn after_change(&mut self, ctx: &mut Context<Self>) {
        self.report_reservations();
        if self.outbox_next_due().is_some_and(|at| at <= Utc::now()) {
            self.schedule(ctx, SyncKind::Outbox, std::time::Duration::ZERO);
        }
    }

    /// Tells the ledger what this store's open orders reserve, when it changed.
    fn report_reservations(&mut self) {
        let changes = self.orders.take_reservation_changes();
        if changes.is_empty() {
            return;
        }
        self.ledger.do_send(ReportReservations {
            id: self.id,
            changes,
        });
    }

    fn register_with_ledger(&mut self, ctx: &mut Context<Self>) {
        // The whole figure set: anything changed before is in it.
        self.orders.take_reservation_changes();
        self.ledger.do_send(RegisterStore {
            id: self.id,
            warehouse: self.integration.default_warehouse_code.clone(),
            reservations: self.orders.reservations().to_map(),
            notify: ctx.address().recipient(),
        });
    }

    /// An error-log entry of this integration (message and details are bounded by the domain).
    fn error_entry(
        &self,
        message: &str,
        details: Option<&str>,
        sync_type: Option<SyncType>,
        severity: ErrorSeverity,
    ) -> Option<ErrorLog> {
        ErrorLog::new(self.id, message, details, sync_type, severity, Utc::now()).ok()
    }

    fn outbox_counts(&self) -> (u64, u64) {
        let dead = self
            .outbox
            .values()
            .filter(|e| e.state == crate::domain::OutboxState::DeadLetter)
            .count() as u64;
        (self.outbox.len() as u64 - dead, dead)
    }

    fn store_status(&self) -> StoreStatus {
        let now = Utc::now();
        let recent = self
            .open_errors
            .values()
            .filter(|e| now - e.occurred_at <= crate::domain::integration::HEALTH_ERROR_WINDOW)
            .map(|e| usize::try_from(e.repeats()).unwrap_or(usize::MAX))
            .fold(0usize, usize::saturating_add);
        let (pending, dead) = self.outbox_counts();
        let mut running: Vec<SyncKind> = self
            .kinds
            .iter()
            .filter(|(_, k)| k.running.is_some())
            .map(|(kind, _)| *kind)
            .collect();
        running.sort();
        StoreStatus {
            id: self.id,
            name: self.integration.name.clone(),
            status: self.integration.status,
            health: self.integration.health_with_error_count(now, recent),
            last_sync: self.integration.last_sync,
            last_order_sync: self.integration.last_order_sync,
            last_inventory_sync: self.integration.last_inventory_sync,
            outbox_pending: pending,
            outbox_dead_letters: dead,
            running,
        }
    }
}

impl Actor for IntegrationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Commands from the control channel queue here; do_send from the ledger ignores the cap.
        ctx.set_mailbox_capacity(256);
        self.register_with_ledger(ctx);
        tracing::info!(
            store = %self.integration.name,
            orders = self.orders.len(),
            products = self.products.len(),
            outbox = self.outbox.len(),
            "integration actor started"
        );
        if self.integration.is_active() {
            self.schedule_all(ctx, self.settings.start_delay);
        }
        // Outbox entries left by a previous run are sent regardless of the schedule.
        if !self.outbox.is_empty() {
            self.schedule(ctx, SyncKind::Outbox, self.settings.start_delay);
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        for state in self.kinds.values_mut() {
            for waiter in state.waiters.drain(..) {
                let _ = waiter.send(Err(ActorError::Unavailable(format!(
                    "integration '{}' stopped before the sync finished",
                    self.integration.name
                ))));
            }
        }
        if let Some(supervisor) = &self.supervisor {
            supervisor.do_send(IntegrationStopped {
                id: self.id,
                incarnation: self.incarnation,
                fatal: self.fatal.take(),
            });
        }
        tracing::info!(store = %self.integration.name, "integration actor stopped");
    }
}

impl Handler<StockChanged> for IntegrationActor {
    type Result = ();
    fn handle(&mut self, _msg: StockChanged, ctx: &mut Self::Context) {
        if self.integration.is_active() && self.integration.auto_inventory_sync {
            self.schedule_stock_push(ctx);
        }
    }
}

/// Test hook: makes the actor stop as on a failed store commit (memory discarded, the
/// supervisor restarts it from disk).
#[cfg(test)]
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct InjectFatal(pub String);

#[cfg(test)]
impl Handler<InjectFatal> for IntegrationActor {
    type Result = ();
    fn handle(&mut self, InjectFatal(reason): InjectFatal, ctx: &mut Self::Context) {
        self.fatal(ctx, reason);
    }
}

impl Handler<GetStoreStatus> for IntegrationActor {
    type Result = MessageResult<GetStoreStatus>;
    fn handle(&mut self, _msg: GetStoreStatus, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.store_status())
    }
}

impl Handler<StopIntegration> for IntegrationActor {
    /// Answers once the final commit is on disk and the actor is stopping, so the caller's
    /// next step (deleting the data, flushing at shutdown) comes after every write of it.
    type Result = AtomicResponse<Self, ()>;
    fn handle(&mut self, _msg: StopIntegration, ctx: &mut Self::Context) -> Self::Result {
        self.stopping = true;
        // Cancel timers and in-flight runs: every write of a run is one atomic commit, so a
        // cancelled run leaves either a whole page/push or nothing. Record the cancellation.
        let now = Utc::now();
        let mut changeset = Changeset::new();
        let mut cancelled = Vec::new();
        for (kind, state) in self.kinds.iter_mut() {
            if let Some((timer, _)) = state.timer.take() {
                ctx.cancel_future(timer);
            }
            if let Some(running) = state.running.take() {
                ctx.cancel_future(running);
                cancelled.push((*kind, state.started_at.take().unwrap_or(now)));
            }
        }
        for (kind, started_at) in cancelled {
            if kind == SyncKind::Outbox {
                continue;
            }
            let run = crate::domain::SyncRun {
                sync_type: kind.sync_type(),
                started_at,
                finished_at: now.max(started_at),
                records_processed: 0,
                error_count: 0,
                outcome: crate::domain::SyncOutcome::Cancelled,
                notes: Some(format!("{kind} sync cancelled by shutdown")),
            };
            if let Ok(log) = self.integration.record_sync(run) {
                changeset.put_sync_log(&log);
            }
        }
        // The store stays registered with the ledger: on daemon shutdown the other stores must
        // keep subtracting its reservations until they stop too (a delete unregisters it).
        let store = self.store.clone();
        AtomicResponse::new(Box::pin(
            async move {
                if changeset.is_empty() {
                    Ok(())
                } else {
                    store.commit(changeset).await
                }
            }
            .into_actor(self)
            .map(|result, act, ctx| {
                if let Err(err) = result {
                    act.fatal = Some(format!("store commit failed: {}", super::error_chain(&err)));
                }
                ctx.stop();
            }),
        ))
    }
}
