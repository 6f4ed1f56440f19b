//! Scheduling: one run per kind at a time, the next run set after the current one ends
//! (interval + jitter, or backoff after failures), debounced pushes, blocking between kinds.

use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::oneshot;

use super::reachability::{Contact, ReachEvent, human_duration};
use super::{FailedRun, IntegrationActor, RunEnd};
use crate::actors::messages::*;
use crate::actors::{ActorError, UNABLE_TO_CONNECT, backoff, jittered};
use crate::domain::{SyncOutcome, SyncRun, SyncStatus, SyncType};
use crate::store::Changeset;

impl IntegrationActor {
    /// The integration's interval (or the settings' override).
    pub(super) fn interval(&self) -> Duration {
        self.settings.interval_override.unwrap_or_else(|| {
            Duration::from_secs(u64::from(self.integration.sync_interval_minutes) * 60)
        })
    }

    /// The regular delay between two runs of `kind`.
    fn period(&self, kind: SyncKind) -> Option<Duration> {
        let interval = self.interval();
        match kind {
            SyncKind::Orders | SyncKind::Inventory | SyncKind::Prices => Some(interval),
            SyncKind::Discrepancies => {
                Some(interval.saturating_mul(self.settings.discrepancy_every.max(1)))
            }
            SyncKind::Products => {
                Some(interval.saturating_mul(self.settings.products_every.max(1)))
            }
            // The outbox runs when entries are due, not on a period.
            SyncKind::Outbox => None,
        }
    }

    /// Whether the integration's auto flags let `kind` run on its own.
    fn auto_allowed(&self, kind: SyncKind) -> bool {
        match kind {
            SyncKind::Orders => self.integration.auto_order_import,
            SyncKind::Inventory | SyncKind::Discrepancies => self.integration.auto_inventory_sync,
            SyncKind::Products | SyncKind::Prices | SyncKind::Outbox => true,
        }
    }

    /// Kinds that must not be in flight together with `kind`: a stock push and a status push
    /// (which may resolve a claim) never overlap, and the read-back waits for both.
    fn blocked(&self, kind: SyncKind) -> bool {
        let running = |k: SyncKind| self.kinds.get(&k).is_some_and(|s| s.running.is_some());
        match kind {
            SyncKind::Inventory => running(SyncKind::Outbox) || running(SyncKind::Discrepancies),
            SyncKind::Outbox => running(SyncKind::Inventory) || running(SyncKind::Discrepancies),
            SyncKind::Discrepancies => running(SyncKind::Inventory) || running(SyncKind::Outbox),
            SyncKind::Orders | SyncKind::Products | SyncKind::Prices => false,
        }
    }

    pub(super) fn is_running(&self, kind: SyncKind) -> bool {
        self.kinds.get(&kind).is_some_and(|s| s.running.is_some())
    }

    /// Makes `kind` due within `delay`; an earlier timer already set is kept (coalescing).
    pub(super) fn schedule(&mut self, ctx: &mut Context<Self>, kind: SyncKind, delay: Duration) {
        if self.stopping {
            return;
        }
        let due = Instant::now() + delay;
        let state = self.kinds.entry(kind).or_default();
        if let Some((handle, at)) = state.timer {
            if at <= due {
                return;
            }
            ctx.cancel_future(handle);
        }
        let handle = ctx.notify_later(Tick(kind), delay);
        state.timer = Some((handle, due));
    }

    /// A stock push for a change just made: at once when the push has been quiet for the
    /// debounce (the first change after a pause reaches the shop without waiting), else
    /// within the debounce, so a burst of changes coalesces into one more push.
    pub(super) fn schedule_stock_push(&mut self, ctx: &mut Context<Self>) {
        let debounce = self.settings.stock_debounce;
        let now = Instant::now();
        let state = self.kinds.entry(SyncKind::Inventory).or_default();
        let quiet = state.running.is_none()
            && state.timer.is_none_or(|(_, at)| at > now + debounce)
            && state
                .last_change
                .is_none_or(|at| now.duration_since(at) >= debounce);
        state.last_change = Some(now);
        let delay = if quiet { Duration::ZERO } else { debounce };
        self.schedule(ctx, SyncKind::Inventory, delay);
    }

    /// Sets the first run of every periodic kind within `delay` (spread by jitter).
    pub(super) fn schedule_all(&mut self, ctx: &mut Context<Self>, delay: Duration) {
        let jitter = self.settings.jitter;
        for kind in [
            SyncKind::Products,
            SyncKind::Orders,
            SyncKind::Inventory,
            SyncKind::Prices,
            SyncKind::Discrepancies,
        ] {
            let first = match kind {
                // The read-back makes sense once a push went through.
                SyncKind::Discrepancies => self.period(kind).unwrap_or(delay),
                _ => delay,
            };
            self.schedule(ctx, kind, jittered(first, jitter));
        }
    }

    /// Cancels every timer (deactivation); running syncs finish and are not rescheduled.
    pub(super) fn cancel_timers(&mut self, ctx: &mut Context<Self>) {
        for state in self.kinds.values_mut() {
            if let Some((handle, _)) = state.timer.take() {
                ctx.cancel_future(handle);
            }
        }
    }

    /// Starts `kind` now if nothing prevents it; otherwise marks it pending.
    fn try_start(&mut self, ctx: &mut Context<Self>, kind: SyncKind) {
        if self.stopping || self.is_running(kind) {
            self.kinds.entry(kind).or_default().pending = true;
            return;
        }
        if self.blocked(kind) {
            self.kinds.entry(kind).or_default().pending = true;
            return;
        }
        let started_at = Utc::now();
        let handle = match kind {
            SyncKind::Orders => self.start_orders(ctx, started_at),
            SyncKind::Inventory => self.start_inventory(ctx, started_at),
            SyncKind::Discrepancies => self.start_discrepancies(ctx, started_at),
            SyncKind::Products => self.start_products(ctx, started_at),
            SyncKind::Prices => self.start_prices(ctx, started_at),
            SyncKind::Outbox => self.start_outbox(ctx, started_at),
        };
        let state = self.kinds.entry(kind).or_default();
        state.pending = false;
        match handle {
            Some(handle) => {
                state.running = Some(handle);
                state.started_at = Some(started_at);
            }
            None => {
                // Nothing to do (e.g. no outbox entry due, no price queued): answer waiters at
                // once. An empty price push is logged only when someone forced it.
                let quiet = kind == SyncKind::Prices && !state.forced;
                let end = RunEnd {
                    started_at,
                    notes: Some("nothing to do".into()),
                    quiet,
                    ..RunEnd::default()
                };
                self.finish(ctx, kind, end, Changeset::new());
            }
        }
    }

    /// Replaces the running handle (multi-step runs: one spawned future per page).
    pub(super) fn set_running(&mut self, kind: SyncKind, handle: SpawnHandle) {
        self.kinds.entry(kind).or_default().running = Some(handle);
    }

    /// Records a finished run (sync log, failure log), commits it with `changeset`, schedules
    /// the next run and answers the waiters.
    pub(super) fn finish(
        &mut self,
        ctx: &mut Context<Self>,
        kind: SyncKind,
        end: RunEnd,
        mut changeset: Changeset,
    ) {
        let now = Utc::now();
        let state = self.kinds.entry(kind).or_default();
        state.running = None;
        state.started_at = None;
        state.forced = false;
        let waiters = std::mem::take(&mut state.waiters);
        let failed = end.failed.clone();
        state.failures = if failed.is_some() {
            state.failures.saturating_add(1)
        } else {
            state.last_run = Some(now);
            0
        };
        let failures = state.failures;

        let outcome = if failed.is_some() {
            SyncOutcome::Failed
        } else if !end.reached_shop {
            SyncOutcome::FinishedOffline
        } else {
            SyncOutcome::Finished
        };
        let notes = match (&failed, &end.notes) {
            (Some(f), _) => Some(f.message.clone()),
            (None, notes) => notes.clone(),
        };
        let run = SyncRun {
            sync_type: kind.sync_type(),
            started_at: end.started_at,
            finished_at: now.max(end.started_at),
            records_processed: end.records,
            error_count: end.errors + u64::from(failed.is_some()),
            outcome,
            notes: notes.clone(),
        };
        let status = match (&failed, end.errors) {
            (Some(_), _) => SyncStatus::Failed,
            (None, 0) => SyncStatus::Completed,
            (None, _) => SyncStatus::CompletedWithErrors,
        };
        // The outbox is a queue, not a sync: its runs are not logged (entries carry their state).
        if kind != SyncKind::Outbox && !end.quiet {
            match self.integration.record_sync(run) {
                Ok(log) => {
                    changeset.put_integration(&self.integration);
                    changeset.put_sync_log(&log);
                }
                Err(err) => tracing::warn!(
                    store = %self.integration.name,
                    sync_type = super::sync_type_field(kind),
                    error = %err,
                    "sync log refused"
                ),
            }
        }
        self.log_run_end(kind, &end, failures, now);
        if failed.as_ref().is_none_or(|f| !f.outage) {
            // The outage (if any) is over for this kind: the next one gets its own entry.
            self.outage_errors.remove(&kind);
        }
        if let Some(f) = &failed {
            // One open entry per outage and kind, counting the tries, not one per try.
            let repeated = f
                .outage
                .then(|| self.outage_errors.get(&kind))
                .flatten()
                .and_then(|id| self.open_errors.get(id))
                .cloned();
            if let Some(mut entry) = repeated {
                entry.repeated(&f.message, now);
                changeset.put_error(&entry);
            } else if kind != SyncKind::Outbox
                && let Some(entry) = self.error_entry(
                    &f.message,
                    None,
                    Some(kind.sync_type()),
                    crate::domain::ErrorSeverity::High,
                )
            {
                if f.outage {
                    self.outage_errors.insert(kind, entry.id);
                }
                changeset.put_error(&entry);
            }
            if f.needs_operator {
                let log = self.integration.mark_error(&f.message, now);
                changeset.put_integration(&self.integration);
                changeset.put_sync_log(&log);
            }
        }
        let report = SyncReport {
            kind,
            sync_type: kind.sync_type(),
            status,
            records: end.records,
            errors: end.errors + u64::from(failed.is_some()),
            performed: !end.quiet,
            started_at: end.started_at,
            finished_at: now.max(end.started_at),
            message: notes.unwrap_or_else(|| format!("{kind} sync finished")),
        };
        self.commit_then(ctx, changeset, move |act, ctx| {
            for waiter in waiters {
                let _ = waiter.send(Ok(report.clone()));
            }
            act.after_run(ctx, kind, failed.as_ref(), failures);
        });
    }

    /// The journal's account of a finished run: the summary at info (debug when nothing
    /// happened), a failure at warn (it heals itself: the run is retried with backoff), and at
    /// error only what needs a person — refused credentials, and a shop unreachable for longer
    /// than `unreachable_alert_after`. A recovery after an outage is told at info.
    fn log_run_end(&mut self, kind: SyncKind, end: &RunEnd, failures: u32, now: DateTime<Utc>) {
        let store = self.integration.name.clone();
        let span = tracing::error_span!(
            "sync",
            store = %store,
            sync_type = super::sync_type_field(kind),
            run = kind.as_str()
        );
        let _entered = span.enter();
        let contact = match &end.failed {
            Some(f) => f.contact,
            None if end.reached_shop => Contact::Reached,
            None => Contact::NotTried,
        };
        let threshold =
            TimeDelta::from_std(self.settings.unreachable_alert_after).unwrap_or(TimeDelta::MAX);
        let event = self
            .reachability
            .note(contact, end.started_at, now, threshold);
        if let ReachEvent::Recovered { down_for, alerted } = event {
            tracing::info!(
                down_for_s = down_for.num_seconds(),
                alerted,
                "Shoptet reachable again after {}",
                human_duration(down_for)
            );
        }
        let Some(f) = &end.failed else {
            if end.quiet {
                return;
            }
            let summary = end.notes.as_deref().unwrap_or("done");
            if end.records == 0 && end.errors == 0 {
                tracing::debug!(records = end.records, "{kind} sync finished: {summary}");
            } else {
                tracing::info!(
                    records = end.records,
                    errors = end.errors,
                    "{kind} sync finished: {summary}"
                );
            }
            return;
        };
        let request_id = f.request_id.as_deref();
        if let Some(action) = f.auth_action {
            tracing::error!(
                request_id,
                error = %f.message,
                "Shoptet refused access to store '{store}': {}",
                action.replace("NAME", &store)
            );
        } else if f.needs_operator {
            tracing::error!(
                request_id,
                error = %f.message,
                "{kind} sync of store '{store}' failed and the integration is in error: fix its settings with shoptetctl, then `shoptetctl integration activate {store}`"
            );
        } else if f.outage {
            tracing::warn!(
                request_id,
                error = %f.message,
                failures,
                "{kind} sync: {UNABLE_TO_CONNECT}; will retry with backoff"
            );
        } else {
            tracing::warn!(request_id, error = %f.message, failures, "{kind} sync failed");
        }
        if let ReachEvent::StillDown {
            down_for,
            last_contact,
        } = event
        {
            let last = last_contact.map_or_else(
                || "not since the daemon started".to_owned(),
                |at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            );
            tracing::error!(
                down_for_s = down_for.num_seconds(),
                error = %f.message,
                "store '{store}' cannot reach Shoptet for {} (last answer: {last}); check the shop's status page, the API URL and this machine's network",
                human_duration(down_for)
            );
        }
    }

    /// Next run of `kind`, and any kind that waited for it.
    fn after_run(
        &mut self,
        ctx: &mut Context<Self>,
        kind: SyncKind,
        failed: Option<&FailedRun>,
        failures: u32,
    ) {
        self.after_change(ctx);
        if self.integration.is_active() && !self.stopping {
            let next = if failed.is_some() {
                let base = self.settings.failure_backoff_base;
                let max = self.settings.failure_backoff_max;
                Some(jittered(backoff(base, max, failures), self.settings.jitter))
            } else {
                self.period(kind)
                    .map(|period| jittered(period, self.settings.jitter))
            };
            let periodic_allowed = match kind {
                SyncKind::Prices => !self.sync.price_queue.is_empty() || failed.is_some(),
                _ => true,
            };
            if let Some(next) = next
                && periodic_allowed
                && self.auto_allowed(kind)
            {
                self.schedule(ctx, kind, next);
            }
        }
        // The outbox drains whether the integration is active or not: its pushes were
        // promised to the shop, so a failed one is retried after deactivation too.
        if kind == SyncKind::Outbox && !self.stopping {
            self.schedule_outbox(ctx);
        }
        // Kinds that waited (a request while running, or blocked by this one).
        for other in SyncKind::ALL {
            let pending = self.kinds.get(&other).is_some_and(|s| s.pending);
            if pending && !self.is_running(other) && !self.blocked(other) {
                self.try_start(ctx, other);
            }
        }
    }

    /// When the outbox has something to send next: the earliest head entry (the first by `seq`
    /// of each order) that is pending. Later entries of an order wait for its head, so they
    /// never make the outbox due (they would wake it for nothing, again and again), and an
    /// order whose head is a dead letter waits for an operator.
    pub(super) fn outbox_next_due(&self) -> Option<chrono::DateTime<Utc>> {
        let mut heads: std::collections::HashSet<&str> = std::collections::HashSet::new();
        self.outbox
            .values()
            .filter(|e| heads.insert(e.order_code.as_str()))
            .filter(|e| e.state == crate::domain::OutboxState::Pending)
            .map(|e| e.next_attempt_at)
            .min()
    }

    /// Schedules the outbox for its next due entry.
    pub(super) fn schedule_outbox(&mut self, ctx: &mut Context<Self>) {
        let now = Utc::now();
        if let Some(at) = self.outbox_next_due() {
            let delay = (at - now).to_std().unwrap_or(Duration::ZERO);
            self.schedule(ctx, SyncKind::Outbox, delay);
        }
    }

    /// Whether a request without `force` should run `kind` now.
    fn due(&self, kind: SyncKind) -> Result<(), String> {
        if !self.auto_allowed(kind) {
            return Err(format!(
                "{kind} sync is switched off for '{}'; use force to run it",
                self.integration.name
            ));
        }
        let now = Utc::now();
        let last = match kind.sync_type() {
            SyncType::Orders => self.integration.last_order_sync,
            SyncType::Inventory => self.integration.last_inventory_sync,
            _ => None,
        }
        .max(self.kinds.get(&kind).and_then(|s| s.last_run))
        .filter(|_| matches!(kind.sync_type(), SyncType::Orders | SyncType::Inventory));
        let interval =
            chrono::TimeDelta::from_std(self.interval()).unwrap_or(chrono::TimeDelta::MAX);
        match last {
            Some(last) if now - last < interval => Err(format!(
                "{kind} sync of '{}' is not due (last at {last}); use force to run it now",
                self.integration.name
            )),
            _ => Ok(()),
        }
    }
}

impl Handler<Tick> for IntegrationActor {
    type Result = ();
    fn handle(&mut self, Tick(kind): Tick, ctx: &mut Self::Context) {
        if let Some(state) = self.kinds.get_mut(&kind) {
            state.timer = None;
        }
        if self.stopping {
            return;
        }
        // The outbox drains regardless of activation: entries were promised to the shop.
        if kind != SyncKind::Outbox && (!self.integration.is_active() || !self.auto_allowed(kind)) {
            return;
        }
        self.try_start(ctx, kind);
    }
}

impl Handler<RunSync> for IntegrationActor {
    type Result = ResponseFuture<Result<SyncReport, ActorError>>;
    fn handle(&mut self, msg: RunSync, ctx: &mut Self::Context) -> Self::Result {
        let kind = msg.kind;
        if self.stopping {
            let err = ActorError::Unavailable(format!("integration '{}' is stopping", self.name()));
            return Box::pin(async move { Err(err) });
        }
        if kind != SyncKind::Outbox && !self.integration.is_active() {
            let err = ActorError::Conflict(format!(
                "integration '{}' is not active; activate it first",
                self.name()
            ));
            return Box::pin(async move { Err(err) });
        }
        if self.is_running(kind) {
            let err = ActorError::AlreadyRunning {
                kind,
                integration: self.name().to_owned(),
            };
            return Box::pin(async move { Err(err) });
        }
        if !msg.force
            && let Err(reason) = self.due(kind)
        {
            let report = skipped(kind, reason);
            return Box::pin(async move { Ok(report) });
        }
        let (tx, rx) = oneshot::channel();
        let state = self.kinds.entry(kind).or_default();
        state.waiters.push(tx);
        state.forced |= msg.force;
        self.try_start(ctx, kind);
        let name = self.name().to_owned();
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(ActorError::Unavailable(format!(
                    "integration '{name}' stopped before the sync finished"
                )))
            })
        })
    }
}

/// A report for a run that was not due and not forced (nothing was done).
fn skipped(kind: SyncKind, reason: String) -> SyncReport {
    let now = Utc::now();
    SyncReport {
        kind,
        sync_type: kind.sync_type(),
        status: SyncStatus::Completed,
        records: 0,
        errors: 0,
        performed: false,
        started_at: now,
        finished_at: now,
        message: reason,
    }
}

/// Joins a run of `kind` for the full sync: waits for the one in flight, or starts one — unless
/// it is not forced and the kind is switched off or not due.
#[derive(Message)]
#[rtype(result = "Result<SyncReport, ActorError>")]
pub(super) struct JoinSync {
    kind: SyncKind,
    force: bool,
}

impl Handler<JoinSync> for IntegrationActor {
    type Result = ResponseFuture<Result<SyncReport, ActorError>>;
    fn handle(
        &mut self,
        JoinSync { kind, force }: JoinSync,
        ctx: &mut Self::Context,
    ) -> Self::Result {
        if self.stopping {
            let err = ActorError::Unavailable(format!("integration '{}' is stopping", self.name()));
            return Box::pin(async move { Err(err) });
        }
        let running = self.is_running(kind);
        if !force
            && !running
            && let Err(reason) = self.due(kind)
        {
            let report = skipped(kind, reason);
            return Box::pin(async move { Ok(report) });
        }
        let (tx, rx) = oneshot::channel();
        let state = self.kinds.entry(kind).or_default();
        state.waiters.push(tx);
        state.forced |= force;
        if !running {
            self.try_start(ctx, kind);
        }
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(ActorError::Unavailable("the integration stopped".into())))
        })
    }
}

impl Handler<RunFullSync> for IntegrationActor {
    type Result = ResponseFuture<Result<Vec<SyncReport>, ActorError>>;
    fn handle(&mut self, msg: RunFullSync, ctx: &mut Self::Context) -> Self::Result {
        if !self.integration.is_active() {
            let err = ActorError::Conflict(format!(
                "integration '{}' is not active; activate it first",
                self.name()
            ));
            return Box::pin(async move { Err(err) });
        }
        let force = msg.force;
        let addr = ctx.address();
        Box::pin(async move {
            let mut reports = Vec::new();
            for kind in SyncKind::FULL_SYNC {
                let report = addr
                    .send(JoinSync { kind, force })
                    .await
                    .map_err(|err| ActorError::Unavailable(err.to_string()))??;
                reports.push(report);
            }
            Ok(reports)
        })
    }
}
