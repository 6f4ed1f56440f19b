//! Sending the status push-back outbox: per order in `seq` order, one push per order at a time,
//! retried with backoff, parked as a dead letter after a bounded number of attempts.

use std::collections::BTreeMap;

use actix::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use futures::{StreamExt, stream};
use rust_decimal::Decimal;
use tracing::Instrument;

use super::reachability::Contact;
use super::{FailedRun, IntegrationActor, RunEnd, auth_action, meta};
use crate::actors::messages::SyncKind;
use crate::actors::{backoff, is_outage};
use crate::domain::{ErrorSeverity, OutboxAction, OutboxEntry, OutboxState, SyncType};
use crate::shoptet::{ShoptetClient, ShoptetError};
use crate::store::Changeset;

type SendResult = (u64, Result<(), ShoptetError>);

async fn send_order_entries(client: ShoptetClient, entries: Vec<OutboxEntry>) -> Vec<SendResult> {
    let mut results = Vec::with_capacity(entries.len());
    for entry in entries {
        let result = match &entry.action {
            OutboxAction::SetStatus { status_id } => client
                .set_order_status(&entry.order_code, *status_id)
                .await
                .map(|_| ()),
            OutboxAction::SetTrackingNumber { tracking_number } => {
                client
                    .set_tracking_number(&entry.order_code, tracking_number)
                    .await
            }
        };
        let failed = result.is_err();
        results.push((entry.seq, result));
        // Later entries of this order wait for this one.
        if failed {
            break;
        }
    }
    results
}

impl IntegrationActor {
    /// Due entries grouped per order, each group the order's leading pending entries in `seq`
    /// order. An order whose first entry is a dead letter or not yet due sends nothing.
    fn due_groups(&self, now: DateTime<Utc>) -> Vec<Vec<OutboxEntry>> {
        let mut groups: BTreeMap<&str, (u64, Vec<OutboxEntry>, bool)> = BTreeMap::new();
        for entry in self.outbox.values() {
            let group =
                groups
                    .entry(entry.order_code.as_str())
                    .or_insert((entry.seq, Vec::new(), false));
            if group.2 {
                continue;
            }
            if entry.is_due(now) {
                group.1.push(entry.clone());
            } else {
                // Blocked: a dead letter or a backed-off entry keeps later ones waiting.
                group.2 = true;
            }
        }
        let mut ordered: Vec<(u64, Vec<OutboxEntry>)> = groups
            .into_values()
            .filter(|(_, entries, _)| !entries.is_empty())
            .map(|(first, entries, _)| (first, entries))
            .collect();
        ordered.sort_by_key(|(first, _)| *first);
        ordered.into_iter().map(|(_, entries)| entries).collect()
    }

    pub(super) fn start_outbox(
        &mut self,
        ctx: &mut Context<Self>,
        started_at: DateTime<Utc>,
    ) -> Option<SpawnHandle> {
        let groups = self.due_groups(started_at);
        if groups.is_empty() {
            return None;
        }
        let client = match self.client() {
            Ok(client) => client,
            Err(err) => return self.fail_now(ctx, SyncKind::Outbox, started_at, err),
        };
        // From now on the shop may have applied these: no compensation for them any more.
        for entry in groups.iter().flatten() {
            self.fresh_claims.remove(&entry.seq);
        }
        let span = self.span(SyncKind::Outbox);
        let fut = async move {
            stream::iter(groups)
                .map(|entries| send_order_entries(client.clone(), entries))
                .buffer_unordered(crate::shoptet::MAX_IN_FLIGHT_LIMIT)
                .collect::<Vec<Vec<SendResult>>>()
                .await
                .into_iter()
                .flatten()
                .collect::<Vec<SendResult>>()
        }
        .instrument(span);
        Some(
            ctx.spawn(
                fut.into_actor(self)
                    .map(move |results, act, ctx| act.apply_outbox(ctx, started_at, results)),
            ),
        )
    }

    fn apply_outbox(
        &mut self,
        ctx: &mut Context<Self>,
        started_at: DateTime<Utc>,
        results: Vec<SendResult>,
    ) {
        let now = Utc::now();
        let mut changeset = Changeset::new();
        let mut sent = 0u64;
        let mut failures = 0u64;
        let mut outages = 0u64;
        let mut last_error = None;
        let mut last_request_id = None;
        let mut refused_access = None;
        let mut pushed_changed = false;
        for (seq, result) in results {
            let Some(entry) = self.outbox.get(&seq).cloned() else {
                continue;
            };
            match result {
                Ok(()) => {
                    sent += 1;
                    self.outbox.remove(&seq);
                    changeset.delete_outbox(self.id, seq);
                    // The shop resolved the claim: its physical stock fell by the shipped
                    // quantities, so what it holds is now our last push minus them.
                    // Not when the shop had resolved it before (finished there first).
                    if self.resolves_claim(&entry.action)
                        && let Some(order) = self.orders.get(&entry.order_code)
                        && !self.shop_resolved_claim_of(order)
                    {
                        let mut shipped: BTreeMap<String, Decimal> = BTreeMap::new();
                        for (code, quantity) in
                            order.items.iter().filter_map(|i| i.physical_quantity())
                        {
                            let sum = shipped.entry(code.to_owned()).or_default();
                            *sum = sum.saturating_add(quantity);
                        }
                        for (code, quantity) in shipped {
                            if let Some(pushed) = self.sync.pushed.get_mut(&code) {
                                *pushed = pushed.saturating_sub(quantity).max(Decimal::ZERO);
                                pushed_changed = true;
                            }
                        }
                    }
                    // The shop now shows this status: a later read of the order must not take
                    // our own push for a change made in the shop.
                    if let crate::domain::OutboxAction::SetStatus { status_id } = entry.action
                        && let Some(order) = self.orders.update(&entry.order_code, |order| {
                            order.shop_status_id = Some(status_id);
                            order.clone()
                        })
                    {
                        changeset.put_order(&order);
                    }
                    tracing::debug!(
                        store = %self.integration.name,
                        sync_type = "system",
                        order_code = %entry.order_code,
                        seq,
                        "status push acknowledged"
                    );
                }
                Err(err) => {
                    failures += 1;
                    if is_outage(&err) {
                        outages += 1;
                    }
                    if let Some(action) = auth_action(&err) {
                        refused_access =
                            Some((action, err.to_string(), err.request_id().map(str::to_owned)));
                    }
                    last_request_id = err.request_id().map(str::to_owned);
                    let message = super::flows::shop_message(&err);
                    let mut entry = entry;
                    let state =
                        entry.record_failure(&message, now, self.settings.outbox_max_attempts);
                    if state == OutboxState::Pending {
                        let delay = backoff(
                            self.settings.outbox_retry_base,
                            self.settings.outbox_retry_max,
                            entry.attempts,
                        );
                        entry.next_attempt_at =
                            now + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX);
                        tracing::warn!(
                            store = %self.integration.name,
                            sync_type = "system",
                            order_code = %entry.order_code,
                            request_id = err.request_id(),
                            seq,
                            attempts = entry.attempts,
                            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            error = %message,
                            "status push failed; will retry"
                        );
                    } else {
                        tracing::error!(
                            store = %self.integration.name,
                            sync_type = "system",
                            order_code = %entry.order_code,
                            request_id = err.request_id(),
                            seq,
                            attempts = entry.attempts,
                            error = %message,
                            "status push for order {} gave up after {} attempts; parked as a dead letter (fix the cause, then `shoptetctl outbox retry {} --dead-letters`)",
                            entry.order_code,
                            entry.attempts,
                            self.integration.name,
                        );
                        if let Some(log) = self.error_entry(
                            &format!(
                                "status push for order {} failed {} times; parked as a dead letter",
                                entry.order_code, entry.attempts
                            ),
                            Some(&message),
                            Some(SyncType::Orders),
                            ErrorSeverity::High,
                        ) {
                            changeset.put_error(&log);
                        }
                    }
                    changeset.put_outbox(&entry);
                    self.outbox.insert(seq, entry);
                    last_error = Some(message);
                }
            }
        }
        if pushed_changed {
            changeset.put_meta(self.id, meta::PUSHED_STOCK, &self.sync.pushed);
        }
        if let Some((action, error, request_id)) = refused_access {
            tracing::error!(
                store = %self.integration.name,
                sync_type = "system",
                request_id,
                %error,
                "Shoptet refused access to store '{}': {action}",
                self.integration.name
            );
        }
        let all_outage = failures > 0 && outages == failures && sent == 0;
        let end = RunEnd {
            started_at,
            records: sent,
            errors: failures,
            failed: all_outage.then(|| FailedRun {
                message: last_error.clone().unwrap_or_default(),
                outage: true,
                needs_operator: false,
                contact: Contact::Unreachable,
                auth_action: None,
                request_id: last_request_id.clone(),
            }),
            notes: Some(format!("{sent} status pushes sent, {failures} failed")),
            quiet: false,
            reached_shop: sent > 0 || failures > outages,
        };
        self.finish(ctx, SyncKind::Outbox, end, changeset);
    }
}
