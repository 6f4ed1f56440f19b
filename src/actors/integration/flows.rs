//! The sync flows: orders, inventory push, discrepancy check, products, prices.
//!
//! Each `start_*` spawns the network part and returns its handle; the `map` closure applies
//! the result to memory and commits it in one changeset (see docs/architecture.md for the
//! guarantees of each algorithm).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use actix::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use futures::{StreamExt, stream};
use rust_decimal::Decimal;
use tracing::Instrument;

use super::order_reads::{OrdersBatch, RetryRead, fetch_order_details};
use super::{FailedRun, IntegrationActor, OrderRetry, RunEnd, meta};
use crate::actors::convert::{ShopVariant, incoming_order, shop_variants};
use crate::actors::messages::*;
use crate::actors::{ActorError, shop_error_message};
use crate::domain::order::{
    COMPLETED_IN_SHOP_REASON, ORDER_CONFLICT_REASON, REOPENED_IN_SHOP_REASON, import,
};
use crate::domain::{
    ErrorLog, ErrorSeverity, ImportOutcome, IncomingOrder, OrderStatus, OutboxAction, OutboxState,
    Product, ReadMark, ShopCancelOutcome, SyncType,
};
use crate::shoptet::{PriceUpdateRow, ProductDetail, ShoptetError, StockSupply, StockUpdateRow};
use crate::store::Changeset;

/// Requests in flight per store for product detail reads (Shoptet's cap per token is 3).
const DETAIL_CONCURRENCY: usize = 3;
/// Per-row push errors logged individually per run; the rest are summarised.
const MAX_ROW_ERRORS_LOGGED: usize = 20;

/// Reads of the change feed one orders run makes at most; the rest waits for the next run
/// (the cursor then stops where the reading stopped).
const MAX_FEED_READS_PER_RUN: u32 = 1000;

/// Progress of one orders run across its reads of the change feed.
#[derive(Debug)]
pub(super) struct OrdersRun {
    started_at: DateTime<Utc>,
    /// Every change older than `from` has been read (by this run or an earlier one).
    from: DateTime<Utc>,
    /// The page of the feed from `from`: above 1 only while reading a block of changes with
    /// one and the same time that is larger than a page.
    page: u32,
    /// Changes read this run, by code and change time.
    seen: HashSet<(String, DateTime<Utc>)>,
    /// Newest change time read.
    newest: Option<DateTime<Utc>>,
    /// The last read returned every change from `from` on (no further page).
    complete: bool,
    reads: u32,
    /// The retry set changed since the last commit.
    retry_changed: bool,
    /// Order details read this run.
    detail_reads: u64,
    records: u64,
    errors: u64,
    imported: u64,
    conflicts: u64,
    cancelled: u64,
}

/// Records the shop time of a read of `order`'s current version (`read.changed_at` equal to
/// its `shop_changed_at`) when it is later than the one held; tells whether it changed.
fn note_read(order: &mut crate::domain::Order, read: ReadMark) -> bool {
    if read.changed_at.is_none()
        || read.changed_at != order.shop_changed_at
        || read.read_at <= order.shop_read_at
    {
        return false;
    }
    order.shop_read_at = read.read_at;
    true
}

/// How long the shop keeps the product change feed.
pub(super) const PRODUCT_FEED_HORIZON: TimeDelta = TimeDelta::days(30);

/// What one products run read from the shop.
#[derive(Debug, Default)]
pub(super) struct ProductsRead {
    /// The whole catalogue was read (not the change feed).
    full: bool,
    details: Vec<ProductDetail>,
    /// GUIDs whose detail was read.
    read: HashSet<String>,
    /// GUIDs deleted in the shop (the feed says so, or the detail is gone).
    deleted: HashSet<String>,
    /// GUIDs whose detail could not be read, with the reason.
    errors: Vec<(String, String)>,
    /// Newest change time in the feed.
    newest: Option<DateTime<Utc>>,
}

/// Reads the whole catalogue (`from` = `None`) or the products changed since `from`, and the
/// details of every product to (re)read, three at a time.
async fn fetch_products(
    client: crate::shoptet::ShoptetClient,
    from: Option<DateTime<Utc>>,
) -> Result<ProductsRead, ShoptetError> {
    let mut read = ProductsRead {
        full: from.is_none(),
        ..ProductsRead::default()
    };
    let guids: Vec<String> = match from {
        None => client
            .all_products()
            .await?
            .into_iter()
            .map(|h| h.guid)
            .collect(),
        Some(from) => {
            // The feed keeps the last change per product; pages may still repeat one.
            let mut last: HashMap<String, (DateTime<Utc>, bool)> = HashMap::new();
            for change in client.all_product_changes(from).await? {
                read.newest = read.newest.max(Some(change.change_time));
                let entry = last
                    .entry(change.guid)
                    .or_insert((change.change_time, change.change_type.is_delete()));
                if change.change_time >= entry.0 {
                    *entry = (change.change_time, change.change_type.is_delete());
                }
            }
            let mut edited = Vec::new();
            for (guid, (_, deleted)) in last {
                if deleted {
                    read.deleted.insert(guid);
                } else {
                    edited.push(guid);
                }
            }
            edited.sort();
            edited
        }
    };
    let results: Vec<(String, Result<ProductDetail, ShoptetError>)> = stream::iter(guids)
        .map(|guid| {
            let client = client.clone();
            async move {
                let result = client.product_detail(&guid).await;
                (guid, result)
            }
        })
        .buffered(DETAIL_CONCURRENCY)
        .collect()
        .await;
    for (guid, result) in results {
        match result {
            Ok(detail) => {
                read.read.insert(guid);
                read.details.push(detail);
            }
            // Deleted between the list (or feed) and the detail: gone.
            Err(ShoptetError::NotFound { .. }) => {
                read.deleted.insert(guid);
            }
            Err(err) if err.is_transient() || err.needs_operator() => return Err(err),
            Err(err) => read.errors.push((guid, err.to_string())),
        }
    }
    Ok(read)
}

/// What this store's push figure adds to and removes from the ledger's base figure (on hand −
/// other stores' reservations).
pub(super) struct PushAdjustment {
    /// Shipped orders whose claim-resolving status push the shop has certainly not seen.
    pub added: BTreeMap<String, Decimal>,
    /// Unshipped orders the shop already finished (no claim there any more).
    pub removed: BTreeMap<String, Decimal>,
}

impl PushAdjustment {
    /// The figure to push for `code`, never below zero; `None` when the sum overflows (bounded
    /// inputs make that impossible, but a wrong figure is worse than none).
    pub(super) fn figure(&self, code: &str, base: Decimal) -> Option<Decimal> {
        let added = self.added.get(code).copied().unwrap_or_default();
        let removed = self.removed.get(code).copied().unwrap_or_default();
        let figure = base.checked_add(added)?.checked_sub(removed)?;
        Some(figure.max(Decimal::ZERO))
    }
}

impl IntegrationActor {
    /// Ends a run whose shop call failed (after the client's own retries): nothing to commit.
    fn fail_on_shop_error(
        &mut self,
        ctx: &mut Context<Self>,
        kind: SyncKind,
        started_at: DateTime<Utc>,
        err: &ShoptetError,
    ) {
        let end = RunEnd {
            started_at,
            failed: Some(FailedRun::from_shop(err)),
            ..RunEnd::default()
        };
        self.finish(ctx, kind, end, Changeset::new());
    }

    /// A run that cannot start (no client): it ends Failed at once, through the normal path.
    pub(super) fn fail_now(
        &mut self,
        ctx: &mut Context<Self>,
        kind: SyncKind,
        started_at: DateTime<Utc>,
        error: ActorError,
    ) -> Option<SpawnHandle> {
        let message = error.to_string();
        Some(ctx.spawn(fut::ready(()).map(move |_, act: &mut Self, ctx| {
            let end = RunEnd {
                started_at,
                failed: Some(FailedRun::local(message)),
                ..RunEnd::default()
            };
            act.finish(ctx, kind, end, Changeset::new());
        })))
    }

    /// The span of a run's network work: every line inside (the client's retries too) carries
    /// the store and sync type. Error level, so a `warn` filter keeps the fields.
    pub(super) fn span(&self, kind: SyncKind) -> tracing::Span {
        tracing::error_span!(
            "sync",
            store = %self.integration.name,
            sync_type = super::sync_type_field(kind),
            run = kind.as_str()
        )
    }

    // -----------------------------------------------------------------------------------------
    // Orders
    // -----------------------------------------------------------------------------------------

    pub(super) fn start_orders(
        &mut self,
        ctx: &mut Context<Self>,
        started_at: DateTime<Utc>,
    ) -> Option<SpawnHandle> {
        if let Err(err) = self.client() {
            return self.fail_now(ctx, SyncKind::Orders, started_at, err);
        }
        let from = self
            .sync
            .orders_cursor
            .unwrap_or(started_at - self.settings.initial_import_window);
        let run = OrdersRun {
            started_at,
            from,
            page: 1,
            seen: HashSet::new(),
            newest: None,
            complete: false,
            reads: 0,
            retry_changed: false,
            detail_reads: 0,
            records: 0,
            errors: 0,
            imported: 0,
            conflicts: 0,
            cancelled: 0,
        };
        Some(self.orders_batch(ctx, run))
    }

    fn orders_batch(&mut self, ctx: &mut Context<Self>, run: OrdersRun) -> SpawnHandle {
        let per_page = self.settings.orders_page_size.max(1);
        let span = self.span(SyncKind::Orders);
        let (from, page) = (run.from, run.page);
        let feed =
            match self.client() {
                Ok(client) => futures::future::Either::Left(
                    async move { client.order_changes(from, page, per_page).await }
                        .instrument(span.clone()),
                ),
                Err(err) => futures::future::Either::Right(async move {
                    Err(ShoptetError::Config(err.to_string()))
                }),
            };
        // The feed read first; which details it needs is decided here, against what the actor
        // holds at that moment (one lookup per change), then the details are read.
        ctx.spawn(
            feed.into_actor(self)
                .then(move |result, act, _ctx| {
                    let mut run = run;
                    let details = match (result, act.client()) {
                        (Ok(page), Ok(client)) => {
                            let retry = act.retry_read(run.reads == 0);
                            let plan = act.plan_order_reads(page, &mut run.seen, retry);
                            futures::future::Either::Left(
                                fetch_order_details(client, plan).instrument(span),
                            )
                        }
                        (Err(err), _) => futures::future::Either::Right(fut::ready(Err(err))),
                        (_, Err(err)) => futures::future::Either::Right(fut::ready(Err(
                            ShoptetError::Config(err.to_string()),
                        ))),
                    };
                    details
                        .into_actor(act)
                        .map(move |result, _, _| (run, result))
                })
                .map(move |(run, result), act, ctx| act.apply_orders_batch(ctx, run, result)),
        )
    }

    /// The retry set for one read of the feed: codes to read again go with the run's first read.
    fn retry_read(&self, first: bool) -> RetryRead {
        RetryRead {
            read: if first {
                self.sync
                    .order_retry
                    .iter()
                    .filter(|(_, r)| !r.dismissed)
                    .map(|(code, _)| code.clone())
                    .collect()
            } else {
                Vec::new()
            },
            dismissed: self
                .sync
                .order_retry
                .iter()
                .filter(|(_, r)| r.dismissed)
                .filter_map(|(code, r)| Some((code.clone(), r.change_time?)))
                .collect(),
        }
    }

    fn apply_orders_batch(
        &mut self,
        ctx: &mut Context<Self>,
        mut run: OrdersRun,
        result: Result<OrdersBatch, ShoptetError>,
    ) {
        let batch = match result {
            Ok(batch) => batch,
            Err(err) => {
                let end = RunEnd {
                    started_at: run.started_at,
                    records: run.records,
                    errors: run.errors,
                    failed: Some(FailedRun::from_shop(&err)),
                    notes: None,
                    quiet: false,
                    reached_shop: false,
                };
                self.finish(ctx, SyncKind::Orders, end, Changeset::new());
                return;
            }
        };
        run.reads += 1;
        run.detail_reads += batch.reads as u64;
        let now = Utc::now();
        let mut changeset = Changeset::new();
        let mut retry_changed = false;
        for (detail, read_at) in &batch.details {
            retry_changed |= self.sync.order_retry.remove(detail.code.trim()).is_some();
            let incoming = incoming_order(detail);
            self.apply_incoming(&incoming, *read_at, now, &mut changeset, &mut run);
        }
        for code in &batch.deleted {
            retry_changed |= self.sync.order_retry.remove(code.trim()).is_some();
            self.apply_shop_cancel(
                code,
                None,
                ReadMark::default(),
                "deleted in the shop",
                now,
                &mut changeset,
                &mut run,
            );
        }
        for (code, change_time, error) in &batch.unreadable {
            run.errors += 1;
            retry_changed = true;
            self.order_unreadable(code, *change_time, error, now, &mut changeset);
        }
        if retry_changed || std::mem::take(&mut run.retry_changed) {
            changeset.put_meta(self.id, meta::ORDERS_RETRY, &self.sync.order_retry);
        }
        run.newest = run.newest.max(batch.newest);
        run.complete = batch.complete;
        // Where the next read starts. Changes are sorted by time, so every change older than
        // this batch's newest was in it (or an earlier one): re-query from that time (the
        // changes of that very second are read again and skipped as seen). A read whose
        // changes all carry the time it started from moves on by page instead.
        let more = !batch.complete && run.reads < MAX_FEED_READS_PER_RUN;
        if more {
            match batch.newest {
                Some(newest) if batch.new_changes > 0 && newest > run.from => {
                    run.from = newest;
                    run.page = 1;
                }
                _ => run.page = run.page.saturating_add(1),
            }
            // The batch's orders are on disk before the next read.
            self.commit_then(ctx, changeset, move |act, ctx| {
                if act.stopping {
                    return;
                }
                act.report_reservations();
                let handle = act.orders_batch(ctx, run);
                act.set_running(SyncKind::Orders, handle);
            });
            return;
        }
        // The last batch commits with the advanced cursor. It moves only to a shop time below
        // which every change was read: the newest change read when the feed was read to its
        // end, else the time the reading stopped at. Moved back by the overlap so changes the
        // shop commits late are re-read; never from our clock.
        let basis = if run.complete {
            run.newest
        } else {
            Some(run.from)
        };
        if let Some(basis) = basis {
            let mut cursor = basis - self.settings.order_overlap;
            if let Some(old) = self.sync.orders_cursor {
                cursor = cursor.max(old);
            }
            self.sync.orders_cursor = Some(cursor);
            changeset.put_meta(self.id, meta::ORDERS_CURSOR, &cursor);
            // The feed from the cursor on can no longer name an older change.
            self.unheld_reads
                .retain(|_, read| read.changed_at.is_some_and(|at| at >= cursor));
            // A dismissed change the feed can no longer return need not be remembered.
            let before = self.sync.order_retry.len();
            self.sync
                .order_retry
                .retain(|_, r| !r.dismissed || r.change_time.is_some_and(|at| at >= cursor));
            if self.sync.order_retry.len() != before {
                changeset.put_meta(self.id, meta::ORDERS_RETRY, &self.sync.order_retry);
            }
        }
        let mut notes = format!(
            "{} imported, {} conflicts, {} cancelled in the shop",
            run.imported, run.conflicts, run.cancelled
        );
        let retried = self
            .sync
            .order_retry
            .values()
            .filter(|r| !r.dismissed)
            .count();
        if retried > 0 {
            notes.push_str(&format!(
                ", {retried} unreadable orders read again next run"
            ));
        }
        let end = RunEnd {
            started_at: run.started_at,
            records: run.records,
            errors: run.errors,
            failed: None,
            notes: Some(notes),
            quiet: false,
            reached_shop: true,
        };
        self.finish(ctx, SyncKind::Orders, end, changeset);
    }

    /// An order whose detail could not be read: it joins the retry set, read again every run
    /// until it succeeds or an operator resolves its error-log entry. The entry is written
    /// once, at the first failure.
    fn order_unreadable(
        &mut self,
        code: &str,
        change_time: Option<DateTime<Utc>>,
        error: &str,
        now: DateTime<Utc>,
        changeset: &mut Changeset,
    ) {
        let code = code.trim();
        if let Some(retry) = self.sync.order_retry.get_mut(code)
            && !retry.dismissed
        {
            retry.attempts = retry.attempts.saturating_add(1);
            retry.change_time = retry.change_time.max(change_time);
            return;
        }
        let Some(entry) = self.error_entry(
            &format!("order {code} could not be read from Shoptet"),
            Some(&format!(
                "{error}; it is read again every orders run until it succeeds (resolve this error to stop)"
            )),
            Some(SyncType::Orders),
            ErrorSeverity::Medium,
        ) else {
            return;
        };
        changeset.put_error(&entry);
        self.sync.order_retry.insert(
            code.to_owned(),
            OrderRetry {
                error_id: entry.id,
                since: now,
                change_time,
                attempts: 1,
                dismissed: false,
            },
        );
    }

    /// Applies the import rule to one shop order.
    fn apply_incoming(
        &mut self,
        incoming: &IncomingOrder,
        read_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        changeset: &mut Changeset,
        run: &mut OrdersRun,
    ) {
        let code = incoming.code.trim().to_owned();
        let mapping = self.integration.status_mapping;
        let shop_cancelled = incoming.shop_status_id == Some(mapping.cancelled);
        let claim_resolved = incoming
            .shop_status_id
            .is_some_and(|s| self.sync.claim_resolving.contains(&s));
        let read = ReadMark {
            changed_at: incoming.changed_at,
            read_at,
        };
        let Some(existing) = self.orders.get(&code) else {
            // Finished in the shop before we ever saw it: nothing to fulfil or reserve. The
            // read is remembered so the overlap does not bring it back every run.
            if shop_cancelled || claim_resolved {
                self.unheld_reads.insert(code, read);
                return;
            }
            match import(None, incoming, self.id, now) {
                Ok(ImportOutcome::New(mut order)) => {
                    note_read(&mut order, read);
                    changeset.put_order(&order);
                    self.orders.insert(order);
                    run.records += 1;
                    run.imported += 1;
                }
                Ok(_) => {}
                Err(err) => self.order_refused(&code, incoming, &err.to_string(), changeset, run),
            }
            return;
        };
        if shop_cancelled && existing.status != OrderStatus::Cancelled {
            self.apply_shop_cancel(
                &code,
                incoming.shop_status_id,
                read,
                "cancelled in the shop",
                now,
                changeset,
                run,
            );
            return;
        }
        // The claim was not resolved in the shop when we last looked, and now it is, by someone
        // else (the shop admin, or automatic status updates off): see `shop_resolved_claim`.
        let newly_resolved = claim_resolved
            && !existing
                .shop_status_id
                .is_some_and(|s| self.sync.claim_resolving.contains(&s));
        // Goods we shipped: the shop's physical stock fell by them just now.
        let resolved_by_shop = newly_resolved && existing.status.has_shipped();
        // Goods we still have to ship: the shop no longer holds a claim for them, so the push
        // figure subtracts them itself (`own_resolved`); someone must decide about the order.
        let completed_in_shop = newly_resolved && existing.status.reserves_stock();
        // Cancelled here, and the shop moved it back to an open status: not fulfilled on our
        // own. Our own cancel push not yet acknowledged leaves the shop status as it was, so
        // only a change of the shop status counts, and only while no push of ours is queued.
        let reopened = existing.status == OrderStatus::Cancelled
            && !shop_cancelled
            && !claim_resolved
            && incoming.shop_status_id.is_some()
            && incoming.shop_status_id != existing.shop_status_id
            && !self.outbox.values().any(|e| e.order_code == code);
        let outcome = import(Some(existing), incoming, self.id, now).map(|outcome| match outcome {
            ImportOutcome::Refreshed(mut order) | ImportOutcome::New(mut order) => {
                self.review_shop_status(&mut order, completed_in_shop, reopened, now, changeset);
                ImportOutcome::Refreshed(order)
            }
            ImportOutcome::Conflict(mut order) => {
                self.review_shop_status(&mut order, completed_in_shop, reopened, now, changeset);
                ImportOutcome::Conflict(order)
            }
            ImportOutcome::Unchanged => ImportOutcome::Unchanged,
        });
        if completed_in_shop {
            // Our last push counted the order as claimed; push the figure without it.
            self.forget_pushed_of(&code, changeset);
        }
        match outcome {
            Ok(ImportOutcome::Unchanged) => {
                // The same version, read later: once read a second after its change time it
                // is not read again.
                if let Some(Some(order)) = self.orders.update(&code, |existing| {
                    note_read(existing, read).then(|| existing.clone())
                }) {
                    changeset.put_order(&order);
                }
            }
            Ok(ImportOutcome::Refreshed(mut order) | ImportOutcome::New(mut order)) => {
                note_read(&mut order, read);
                if resolved_by_shop {
                    self.shop_resolved_claim(&order, changeset);
                }
                changeset.put_order(&order);
                self.orders.insert(order);
                run.records += 1;
            }
            Ok(ImportOutcome::Conflict(mut order)) => {
                note_read(&mut order, read);
                if resolved_by_shop {
                    self.shop_resolved_claim(&order, changeset);
                }
                tracing::error!(
                    store = %self.integration.name,
                    sync_type = "orders",
                    order_code = %code,
                    "order {code} changed in the shop after import: `shoptetctl orders resolve {} {code} --accept-shop` or `--keep-ours`",
                    self.integration.name
                );
                if let Some(entry) = self.error_entry(
                    ORDER_CONFLICT_REASON,
                    Some(&format!(
                        "order {code}: the shop changed items, quantities, totals or the address after import; resolve it by accepting the shop's version or keeping ours"
                    )),
                    Some(SyncType::Orders),
                    ErrorSeverity::Medium,
                ) {
                    changeset.put_error(&entry);
                }
                changeset.put_order(&order);
                self.orders.insert(order);
                run.records += 1;
                run.conflicts += 1;
            }
            Err(err) => self.order_refused(&code, incoming, &err.to_string(), changeset, run),
        }
    }

    /// Flags an order whose shop status moved in a way we do not follow on our own: finished in
    /// the shop before it shipped here, or re-opened after a cancel. A warning goes to the
    /// error log.
    fn review_shop_status(
        &self,
        order: &mut crate::domain::Order,
        completed_in_shop: bool,
        reopened: bool,
        now: DateTime<Utc>,
        changeset: &mut Changeset,
    ) {
        let flagged = if completed_in_shop && order.flag_completed_in_shop(now) {
            Some((
                COMPLETED_IN_SHOP_REASON,
                "the shop no longer reserves its goods; ship it or cancel it here",
            ))
        } else if reopened && order.flag_reopened_in_shop(now) {
            Some((
                REOPENED_IN_SHOP_REASON,
                "it stays cancelled here; re-create the fulfilment by hand or cancel it in the shop again",
            ))
        } else {
            None
        };
        if let Some((reason, hint)) = flagged
            && let Some(entry) = self.error_entry(
                &format!("order {reason}"),
                Some(&format!("order {}: {hint}", order.code)),
                Some(SyncType::Orders),
                ErrorSeverity::Medium,
            )
        {
            changeset.put_error(&entry);
        }
    }

    /// Forgets the acknowledged stock figures of an order's codes, so the next push sends them
    /// again (and the read-back does not mistake the shop's move for a discrepancy).
    fn forget_pushed_of(&mut self, code: &str, changeset: &mut Changeset) {
        let Some(order) = self.orders.get(code) else {
            return;
        };
        let mut forgot = false;
        for (code, _) in order.items.iter().filter_map(|i| i.physical_quantity()) {
            forgot |= self.sync.pushed.remove(code).is_some();
        }
        if forgot {
            changeset.put_meta(self.id, meta::PUSHED_STOCK, &self.sync.pushed);
        }
        if self.integration.auto_inventory_sync {
            self.kinds.entry(SyncKind::Inventory).or_default().pending = true;
        }
    }

    /// The shop resolved the stock claim of an order we shipped without our status push having
    /// done it (automatic status updates off, or an operator was faster). Its physical stock
    /// just fell by the shipped quantities, below our last push: forget the acknowledged
    /// figures of those codes so the next push re-sends the exact one, and stop compensating
    /// for a claim the shop no longer holds.
    fn shop_resolved_claim(&mut self, order: &crate::domain::Order, changeset: &mut Changeset) {
        let seqs: Vec<u64> = self
            .outbox
            .values()
            .filter(|e| e.order_code == order.code)
            .map(|e| e.seq)
            .collect();
        for seq in seqs {
            self.fresh_claims.remove(&seq);
        }
        let mut forgot = false;
        for (code, _) in order.items.iter().filter_map(|i| i.physical_quantity()) {
            forgot |= self.sync.pushed.remove(code).is_some();
        }
        if forgot {
            changeset.put_meta(self.id, meta::PUSHED_STOCK, &self.sync.pushed);
            if self.integration.auto_inventory_sync {
                self.kinds.entry(SyncKind::Inventory).or_default().pending = true;
            }
        }
    }

    /// The import rule refused the shop's order (e.g. absurd quantities): an error-log entry,
    /// and this change of the order is not read again (the overlap would bring it back every
    /// run) — a later change in the shop is.
    fn order_refused(
        &mut self,
        code: &str,
        incoming: &IncomingOrder,
        error: &str,
        changeset: &mut Changeset,
        run: &mut OrdersRun,
    ) {
        run.errors += 1;
        let Some(entry) = self.error_entry(
            &format!("order {code} could not be imported"),
            Some(error),
            Some(SyncType::Orders),
            ErrorSeverity::Medium,
        ) else {
            return;
        };
        changeset.put_error(&entry);
        if let Some(change_time) = incoming.changed_at {
            self.sync.order_retry.insert(
                code.to_owned(),
                OrderRetry {
                    error_id: entry.id,
                    since: Utc::now(),
                    change_time: Some(change_time),
                    attempts: 1,
                    dismissed: true,
                },
            );
            run.retry_changed = true;
        }
    }

    /// A shop-side cancel or delete of an order we hold.
    #[allow(clippy::too_many_arguments)]
    fn apply_shop_cancel(
        &mut self,
        code: &str,
        shop_status_id: Option<i64>,
        read: ReadMark,
        reason: &str,
        now: DateTime<Utc>,
        changeset: &mut Changeset,
        run: &mut OrdersRun,
    ) {
        let Some((outcome, order)) = self.orders.update(code, |order| {
            let outcome = order.cancel_from_shop(reason, now);
            if shop_status_id.is_some() {
                order.shop_status_id = shop_status_id;
            }
            if read.changed_at.is_some() {
                if order.shop_changed_at != read.changed_at {
                    order.shop_changed_at = read.changed_at;
                    order.shop_read_at = None;
                }
                note_read(order, read);
            }
            (outcome, order.clone())
        }) else {
            return;
        };
        if outcome == ShopCancelOutcome::AlreadyCancelled {
            changeset.put_order(&order);
            return;
        }
        run.records += 1;
        run.cancelled += 1;
        changeset.put_order(&order);
        // Pushes not yet sent would undo the shop's cancel (e.g. "processing"): drop them.
        if matches!(
            outcome,
            ShopCancelOutcome::Cancelled | ShopCancelOutcome::CancelledNeedsReview
        ) {
            let unsent: Vec<u64> = self
                .outbox
                .values()
                .filter(|e| e.order_code == code)
                .map(|e| e.seq)
                .collect();
            for seq in unsent {
                self.outbox.remove(&seq);
                self.fresh_claims.remove(&seq);
                changeset.delete_outbox(self.id, seq);
            }
        }
        let warning = match outcome {
            ShopCancelOutcome::CancelledNeedsReview => Some((
                "order cancelled in the shop while being picked",
                ErrorSeverity::Medium,
            )),
            ShopCancelOutcome::TooLateShipped => Some((
                "order cancelled in the shop after it shipped",
                ErrorSeverity::High,
            )),
            _ => None,
        };
        if let Some((message, severity)) = warning
            && let Some(entry) = self.error_entry(
                message,
                Some(&format!("order {code}: {reason}")),
                Some(SyncType::Orders),
                severity,
            )
        {
            changeset.put_error(&entry);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Inventory push
    // -----------------------------------------------------------------------------------------

    /// Quantities added back per code: shipped orders whose claim-resolving status push the shop
    /// has certainly not seen yet (created by this incarnation, never attempted).
    pub(super) fn compensation(&self) -> BTreeMap<String, Decimal> {
        let mut comp: BTreeMap<String, Decimal> = BTreeMap::new();
        for seq in &self.fresh_claims {
            let Some(entry) = self.outbox.get(seq) else {
                continue;
            };
            let Some(order) = self.orders.get(&entry.order_code) else {
                continue;
            };
            for (code, quantity) in order.items.iter().filter_map(|i| i.physical_quantity()) {
                let sum = comp.entry(code.to_owned()).or_default();
                *sum = sum.saturating_add(quantity);
            }
        }
        comp
    }

    /// Quantities per code of this store's orders we still have to ship whose current shop
    /// status resolves the claim (finished in the shop first): the shop no longer subtracts
    /// them, so the push figure must.
    pub(super) fn own_resolved(&self) -> BTreeMap<String, Decimal> {
        let mut resolved: BTreeMap<String, Decimal> = BTreeMap::new();
        for order in self.orders.values().filter(|o| o.status.reserves_stock()) {
            if !order
                .shop_status_id
                .is_some_and(|s| self.sync.claim_resolving.contains(&s))
            {
                continue;
            }
            for (code, quantity) in order.items.iter().filter_map(|i| i.physical_quantity()) {
                let sum = resolved.entry(code.to_owned()).or_default();
                *sum = sum.saturating_add(quantity);
            }
        }
        resolved
    }

    /// Codes whose shop figure may have moved by a claim resolution we have not seen
    /// acknowledged (a claim-resolving push attempted but not confirmed), or that the shop
    /// resolved for an order we have not shipped.
    pub(super) fn uncertain_codes(&self) -> HashSet<String> {
        let mut codes: HashSet<String> = self.own_resolved().into_keys().collect();
        for entry in self.outbox.values() {
            if entry.state != OutboxState::Pending || self.fresh_claims.contains(&entry.seq) {
                continue;
            }
            if !self.resolves_claim(&entry.action) {
                continue;
            }
            if let Some(order) = self.orders.get(&entry.order_code) {
                for (code, _) in order.items.iter().filter_map(|i| i.physical_quantity()) {
                    codes.insert(code.to_owned());
                }
            }
        }
        codes
    }

    /// The order's last known shop status already resolves its stock claim.
    pub(super) fn shop_resolved_claim_of(&self, order: &crate::domain::Order) -> bool {
        order
            .shop_status_id
            .is_some_and(|s| self.sync.claim_resolving.contains(&s))
    }

    pub(super) fn resolves_claim(&self, action: &OutboxAction) -> bool {
        matches!(action, OutboxAction::SetStatus { status_id } if self.sync.claim_resolving.contains(status_id))
    }

    /// Codes the stock push covers: active, sync-enabled products.
    fn push_codes(&self) -> Vec<String> {
        self.products
            .values()
            .filter(|p| p.sync_enabled && p.active)
            .map(|p| p.code.clone())
            .collect()
    }

    pub(super) fn start_inventory(
        &mut self,
        ctx: &mut Context<Self>,
        started_at: DateTime<Utc>,
    ) -> Option<SpawnHandle> {
        let client = match self.client() {
            Ok(client) => client,
            Err(err) => return self.fail_now(ctx, SyncKind::Inventory, started_at, err),
        };
        let codes = self.push_codes();
        let adjust = PushAdjustment {
            added: self.compensation(),
            removed: self.own_resolved(),
        };
        let pushed = self.sync.pushed.clone();
        let ledger = self.ledger.clone();
        let id = self.id;
        let stock_id = self.integration.shoptet_stock_id;
        let span = self.span(SyncKind::Inventory);
        let fut = async move {
            let figures = ledger
                .send(PushFigures { id, codes })
                .await
                .map_err(|err| ActorError::Unavailable(format!("warehouse ledger: {err}")))??;
            let rows: Vec<StockUpdateRow> = figures
                .into_iter()
                .filter_map(|(code, base)| {
                    let figure = adjust.figure(&code, base)?;
                    (pushed.get(&code) != Some(&figure))
                        .then(|| StockUpdateRow::real_stock(code, figure))
                })
                .collect();
            if rows.is_empty() {
                return Ok((rows, Ok(Default::default())));
            }
            tracing::debug!(rows = rows.len(), "pushing stock levels");
            let report = client.update_stock(stock_id, &rows).await;
            Ok((rows, report))
        }
        .instrument(span);
        Some(
            ctx.spawn(
                fut.into_actor(self)
                    .map(move |result: Result<_, ActorError>, act, ctx| {
                        act.apply_inventory(ctx, started_at, result)
                    }),
            ),
        )
    }

    #[allow(clippy::type_complexity)]
    fn apply_inventory(
        &mut self,
        ctx: &mut Context<Self>,
        started_at: DateTime<Utc>,
        result: Result<
            (
                Vec<StockUpdateRow>,
                Result<crate::shoptet::BatchReport, ShoptetError>,
            ),
            ActorError,
        >,
    ) {
        let failed_end = |failed: FailedRun| RunEnd {
            started_at,
            failed: Some(failed),
            ..RunEnd::default()
        };
        let (rows, report) = match result {
            Ok((rows, Ok(report))) => (rows, report),
            Ok((_, Err(err))) => {
                let end = failed_end(FailedRun::from_shop(&err));
                self.finish(ctx, SyncKind::Inventory, end, Changeset::new());
                return;
            }
            Err(err) => {
                let end = failed_end(FailedRun::local(err.to_string()));
                self.finish(ctx, SyncKind::Inventory, end, Changeset::new());
                return;
            }
        };
        if rows.is_empty() {
            let end = RunEnd {
                started_at,
                notes: Some("stock already up to date".into()),
                ..RunEnd::default()
            };
            self.finish(ctx, SyncKind::Inventory, end, Changeset::new());
            return;
        }
        let now = Utc::now();
        let mut changeset = Changeset::new();
        let failed: HashMap<String, &crate::shoptet::RowError> = report
            .failed
            .iter()
            .filter_map(|row| row.code.as_ref().map(|c| (c.to_uppercase(), row)))
            .collect();
        let mut applied = 0u64;
        let mut errors = 0u64;
        for row in &rows {
            match failed.get(&row.code.to_uppercase()) {
                None => {
                    applied += 1;
                    self.sync.pushed.insert(row.code.clone(), row.amount);
                    if let Some(product) = self.products.get_mut(&row.code) {
                        product.update_stock(row.amount, now);
                        changeset.put_product(product);
                    }
                }
                Some(row_error) => {
                    errors += 1;
                    // A code the shop does not know is gone from the shop: stop pushing it.
                    if row_error.error_code == "unknown-product"
                        && let Some(product) = self.products.get_mut(&row.code)
                    {
                        product.active = false;
                        changeset.put_product(product);
                    }
                    // A product set's stock is computed by the shop from its members.
                    if row_error.error_code == "stock-change-not-allowed"
                        && let Some(product) = self.products.get_mut(&row.code)
                        && product
                            .disable_sync("the shop computes its stock (product set)")
                            .is_ok()
                    {
                        changeset.put_product(product);
                    }
                    if errors as usize <= MAX_ROW_ERRORS_LOGGED
                        && let Some(entry) = self.error_entry(
                            &format!("stock push of {} refused by Shoptet", row.code),
                            Some(&format!("{}: {}", row_error.error_code, row_error.message)),
                            Some(SyncType::Inventory),
                            ErrorSeverity::Medium,
                        )
                    {
                        changeset.put_error(&entry);
                    }
                }
            }
        }
        // Rows whose error named no code: keep them visible too.
        for row_error in report.failed.iter().filter(|r| r.code.is_none()) {
            errors += 1;
            if let Some(entry) = self.error_entry(
                "stock push partly refused by Shoptet",
                Some(&format!("{}: {}", row_error.error_code, row_error.message)),
                Some(SyncType::Inventory),
                ErrorSeverity::Medium,
            ) {
                changeset.put_error(&entry);
            }
        }
        if errors as usize > MAX_ROW_ERRORS_LOGGED
            && let Some(entry) = self.error_entry(
                &format!("stock push: {errors} rows refused by Shoptet"),
                Some("only the first rows are logged one by one"),
                Some(SyncType::Inventory),
                ErrorSeverity::Medium,
            )
        {
            changeset.put_error(&entry);
        }
        changeset.put_meta(self.id, meta::PUSHED_STOCK, &self.sync.pushed);
        let end = RunEnd {
            started_at,
            records: applied,
            errors,
            failed: None,
            notes: Some(format!(
                "{applied} stock levels pushed in {} requests",
                report.requests
            )),
            quiet: false,
            reached_shop: true,
        };
        self.finish(ctx, SyncKind::Inventory, end, changeset);
    }

    // -----------------------------------------------------------------------------------------
    // Discrepancy check
    // -----------------------------------------------------------------------------------------

    pub(super) fn start_discrepancies(
        &mut self,
        ctx: &mut Context<Self>,
        started_at: DateTime<Utc>,
    ) -> Option<SpawnHandle> {
        let client = match self.client() {
            Ok(client) => client,
            Err(err) => return self.fail_now(ctx, SyncKind::Discrepancies, started_at, err),
        };
        let stock_id = self.integration.shoptet_stock_id;
        let span = self.span(SyncKind::Discrepancies);
        let fut = async move { client.all_stock_supplies(stock_id).await }.instrument(span);
        Some(
            ctx.spawn(
                fut.into_actor(self)
                    .map(move |result, act, ctx| act.apply_discrepancies(ctx, started_at, result)),
            ),
        )
    }

    fn apply_discrepancies(
        &mut self,
        ctx: &mut Context<Self>,
        started_at: DateTime<Utc>,
        result: Result<Vec<StockSupply>, ShoptetError>,
    ) {
        let supplies = match result {
            Ok(supplies) => supplies,
            Err(err) => {
                self.fail_on_shop_error(ctx, SyncKind::Discrepancies, started_at, &err);
                return;
            }
        };
        let now = Utc::now();
        let uncertain = self.uncertain_codes();
        let mut changeset = Changeset::new();
        let mut found_any = 0u64;
        let by_upper: HashMap<String, String> = self
            .sync
            .pushed
            .keys()
            .map(|code| (code.to_uppercase(), code.clone()))
            .collect();
        for supply in &supplies {
            let Some(code) = by_upper.get(&supply.code.to_uppercase()).cloned() else {
                continue;
            };
            let (Some(expected), Some(found)) =
                (self.sync.pushed.get(&code).copied(), supply.amount)
            else {
                continue;
            };
            if expected == found || uncertain.contains(&code) {
                continue;
            }
            found_any += 1;
            tracing::error!(
                store = %self.integration.name,
                sync_type = "inventory",
                code = %code,
                %expected,
                %found,
                "inventory discrepancy: the shop shows {found} of {code}, we pushed {expected}; ours is pushed again (find out who edits stock in the shop admin)"
            );
            changeset.put_error(&ErrorLog::inventory_discrepancy(
                self.id, &code, expected, found, now,
            ));
            // Forget the acknowledged figure: the next push sends it again.
            self.sync.pushed.remove(&code);
        }
        if found_any > 0 {
            changeset.put_meta(self.id, meta::PUSHED_STOCK, &self.sync.pushed);
            self.kinds.entry(SyncKind::Inventory).or_default().pending = true;
        }
        let end = RunEnd {
            started_at,
            records: supplies.len() as u64,
            errors: found_any,
            failed: None,
            notes: Some(format!(
                "{} stock levels read back, {found_any} discrepancies corrected",
                supplies.len()
            )),
            quiet: false,
            reached_shop: true,
        };
        self.finish(ctx, SyncKind::Discrepancies, end, changeset);
    }

    // -----------------------------------------------------------------------------------------
    // Products
    // -----------------------------------------------------------------------------------------

    /// Where a products run reads from: the change feed after the cursor, or (first run, or a
    /// cursor the feed no longer covers) the whole catalogue.
    fn products_from(&self, started_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cursor = self.sync.products_cursor?;
        // The feed keeps 30 days; stay a day inside it (the shop's clock is not ours).
        let usable = PRODUCT_FEED_HORIZON - TimeDelta::days(1);
        (started_at - cursor < usable).then_some(cursor)
    }

    pub(super) fn start_products(
        &mut self,
        ctx: &mut Context<Self>,
        started_at: DateTime<Utc>,
    ) -> Option<SpawnHandle> {
        let client = match self.client() {
            Ok(client) => client,
            Err(err) => return self.fail_now(ctx, SyncKind::Products, started_at, err),
        };
        let from = self.products_from(started_at);
        let span = self.span(SyncKind::Products);
        let fut = fetch_products(client, from).instrument(span);
        Some(
            ctx.spawn(
                fut.into_actor(self)
                    .map(move |result, act, ctx| act.apply_products(ctx, started_at, result)),
            ),
        )
    }

    fn apply_products(
        &mut self,
        ctx: &mut Context<Self>,
        started_at: DateTime<Utc>,
        result: Result<ProductsRead, ShoptetError>,
    ) {
        let read = match result {
            Ok(read) => read,
            Err(err) => {
                self.fail_on_shop_error(ctx, SyncKind::Products, started_at, &err);
                return;
            }
        };
        let now = Utc::now();
        let mut changeset = Changeset::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut records = 0u64;
        let mut errors = read.errors.len() as u64;
        let variants: Vec<ShopVariant> = read.details.iter().flat_map(shop_variants).collect();
        for variant in variants {
            seen.insert(variant.code.clone());
            let queued = self.sync.price_queue.contains(&variant.code);
            match self.products.get_mut(&variant.code) {
                Some(product) => {
                    // A price of ours still waiting for its push is not overwritten by the shop's.
                    let price = if queued { product.price } else { variant.price };
                    match product.update_from_shop(
                        &variant.name,
                        price,
                        variant.stock,
                        variant.active,
                        now,
                    ) {
                        Ok(update) => {
                            product.shop_product_guid = Some(variant.guid.clone());
                            if variant.category.is_some() {
                                product.category = variant.category.clone();
                            }
                            if let Some(change) = update.price_change {
                                changeset.put_price_change(&change);
                            }
                            changeset.put_product(product);
                            records += 1;
                        }
                        Err(err) => {
                            errors += 1;
                            tracing::warn!(
                                store = %self.integration.name,
                                sync_type = "products",
                                code = %variant.code,
                                error = %err,
                                "shop product refused"
                            );
                        }
                    }
                }
                None => match Product::new(
                    self.id,
                    &variant.code,
                    &variant.name,
                    variant.price,
                    variant.stock,
                    variant.active,
                    now,
                ) {
                    Ok(mut product) => {
                        product.shop_product_guid = Some(variant.guid.clone());
                        product.category = variant.category.clone();
                        changeset.put_product(&product);
                        self.products.insert(product.code.clone(), product);
                        records += 1;
                    }
                    Err(err) => {
                        errors += 1;
                        tracing::warn!(
                            store = %self.integration.name,
                            sync_type = "products",
                            code = %variant.code,
                            error = %err,
                            "shop product refused"
                        );
                    }
                },
            }
        }
        // Gone from the shop: inactive, never deleted (orders and history refer to them).
        let gone = |product: &Product| -> bool {
            if read.full {
                // Only decided after a complete read, or a failed detail would look like a
                // deletion.
                read.errors.is_empty() && !seen.contains(&product.code)
            } else {
                // A deleted product, or a variant no longer listed by its re-read product.
                product.shop_product_guid.as_ref().is_some_and(|guid| {
                    read.deleted.contains(guid)
                        || (read.read.contains(guid) && !seen.contains(&product.code))
                })
            }
        };
        let mut deactivated = 0u64;
        for product in self.products.values_mut() {
            if product.active && gone(product) {
                product.active = false;
                changeset.put_product(product);
                records += 1;
                deactivated += 1;
            }
        }
        for (guid, error) in &read.errors {
            if let Some(entry) = self.error_entry(
                &format!("product {guid} could not be read from Shoptet"),
                Some(error),
                Some(SyncType::Products),
                ErrorSeverity::Low,
            ) {
                changeset.put_error(&entry);
            }
        }
        // The cursor moves only after a complete read, and with the products in one commit:
        // never past the run's start nor the newest change seen, moved back by the overlap.
        if read.errors.is_empty() {
            let basis = match (read.full, read.newest) {
                (false, Some(newest)) => newest.min(started_at),
                _ => started_at,
            };
            let mut cursor = basis - self.settings.products_overlap;
            if !read.full
                && let Some(old) = self.sync.products_cursor
            {
                cursor = cursor.max(old);
            }
            self.sync.products_cursor = Some(cursor);
            changeset.put_meta(self.id, meta::PRODUCTS_CURSOR, &cursor);
        }
        let notes = if read.full {
            format!(
                "full catalogue pull: {} variants in the shop, {deactivated} gone",
                seen.len()
            )
        } else {
            format!(
                "{} changed products read ({} variants), {} deleted in the shop, {deactivated} variants gone",
                read.read.len(),
                seen.len(),
                read.deleted.len()
            )
        };
        let end = RunEnd {
            started_at,
            records,
            errors,
            failed: None,
            notes: Some(notes),
            quiet: false,
            reached_shop: true,
        };
        self.finish(ctx, SyncKind::Products, end, changeset);
        // New products may need stock.
        if self.integration.auto_inventory_sync {
            let debounce = self.settings.stock_debounce;
            self.schedule(ctx, SyncKind::Inventory, debounce);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Prices
    // -----------------------------------------------------------------------------------------

    pub(super) fn start_prices(
        &mut self,
        ctx: &mut Context<Self>,
        started_at: DateTime<Utc>,
    ) -> Option<SpawnHandle> {
        if self.sync.price_queue.is_empty() {
            return None;
        }
        let client = match self.client() {
            Ok(client) => client,
            Err(err) => return self.fail_now(ctx, SyncKind::Prices, started_at, err),
        };
        let sent: BTreeMap<String, Decimal> = self
            .sync
            .price_queue
            .iter()
            .filter_map(|code| self.products.get(code).map(|p| (code.clone(), p.price)))
            .collect();
        let rows: Vec<PriceUpdateRow> = sent
            .iter()
            .map(|(code, price)| PriceUpdateRow::with_vat(code.clone(), *price))
            .collect();
        let known_pricelist = self.sync.pricelist;
        let span = self.span(SyncKind::Prices);
        let fut = async move {
            let pricelist = match known_pricelist {
                Some(id) => id,
                None => client
                    .eshop_info()
                    .await?
                    .default_pricelist_id()
                    .ok_or_else(|| {
                        ShoptetError::Config("the shop names no default price list".into())
                    })?,
            };
            let report = if rows.is_empty() {
                Default::default()
            } else {
                client.update_prices(pricelist, &rows).await?
            };
            Ok((pricelist, report))
        }
        .instrument(span);
        Some(
            ctx.spawn(
                fut.into_actor(self)
                    .map(move |result, act, ctx| act.apply_prices(ctx, started_at, sent, result)),
            ),
        )
    }

    fn apply_prices(
        &mut self,
        ctx: &mut Context<Self>,
        started_at: DateTime<Utc>,
        sent: BTreeMap<String, Decimal>,
        result: Result<(i64, crate::shoptet::BatchReport), ShoptetError>,
    ) {
        let (pricelist, report) = match result {
            Ok(value) => value,
            Err(err) => {
                self.fail_on_shop_error(ctx, SyncKind::Prices, started_at, &err);
                return;
            }
        };
        let now = Utc::now();
        let mut changeset = Changeset::new();
        self.sync.pricelist = Some(pricelist);
        changeset.put_meta(self.id, meta::PRICELIST, &pricelist);
        let failed: HashMap<String, &crate::shoptet::RowError> = report
            .failed
            .iter()
            .filter_map(|row| row.code.as_ref().map(|c| (c.to_uppercase(), row)))
            .collect();
        let mut pushed = 0u64;
        let mut errors = 0u64;
        let mut done: BTreeSet<String> = BTreeSet::new();
        for (code, price) in &sent {
            if let Some(row_error) = failed.get(&code.to_uppercase()) {
                errors += 1;
                if let Some(entry) = self.error_entry(
                    &format!("price push of {code} refused by Shoptet"),
                    Some(&format!("{}: {}", row_error.error_code, row_error.message)),
                    Some(SyncType::Prices),
                    ErrorSeverity::Medium,
                ) {
                    changeset.put_error(&entry);
                }
                // A refused row is not retried forever; the operator sees the error.
                done.insert(code.clone());
                continue;
            }
            pushed += 1;
            // Changed again while this push was in flight: stays queued for the new price.
            if self.products.get(code).is_some_and(|p| p.price == *price) {
                done.insert(code.clone());
            }
            // The history entries this push covers (from memory: no history scan per code).
            if let Some(pending) = self.pending_prices.get_mut(code) {
                pending.retain_mut(|change| {
                    let covered = change.changed_at <= started_at || change.new_price == *price;
                    if covered {
                        change.mark_pushed(now);
                        changeset.put_price_change(change);
                    }
                    !covered
                });
                if pending.is_empty() {
                    self.pending_prices.remove(code);
                }
            }
        }
        // Codes queued without a product (deleted): drop them.
        for code in self.sync.price_queue.iter() {
            if !self.products.contains_key(code) {
                done.insert(code.clone());
            }
        }
        for code in &done {
            self.sync.price_queue.remove(code);
        }
        changeset.put_meta(self.id, meta::PRICE_QUEUE, &self.sync.price_queue);
        let end = RunEnd {
            started_at,
            records: pushed,
            errors,
            failed: None,
            notes: Some(format!("{pushed} prices pushed to price list {pricelist}")),
            quiet: false,
            reached_shop: true,
        };
        if !self.sync.price_queue.is_empty() {
            self.kinds.entry(SyncKind::Prices).or_default().pending = true;
        }
        self.finish(ctx, SyncKind::Prices, end, changeset);
    }
}

/// The message of a failed shop call, for operator-facing errors.
pub(super) fn shop_message(error: &ShoptetError) -> String {
    shop_error_message(error)
}
