//! Webhook registration of one store: on activation, at start of an active store and on
//! `shoptetctl integration webhooks STORE --sync`, idempotently — read the shop's registrations
//! first, keep ours, replace ours that point at an old URL, leave other URLs alone, and treat
//! 422 "already exists" and the 409 exclusive pairs as facts to report, not failures to retry.
//! The signature key comes from `renew-signature-key` and is stored like an API token (the
//! store keeps it with the store's other secrets; it is never shown). Deregistered on
//! deactivation and deletion.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use super::IntegrationActor;
use crate::actors::ActorError;
use crate::actors::webhook_routes::{Route, WebhookCounters};
use crate::domain::Secret;
use crate::domain::webhook::{REGISTERED_EVENTS, WebhookStatus, delivery_url, new_path_token};
use crate::shoptet::webhooks::is_already_registered;
use crate::shoptet::{ShoptetClient, ShoptetError};
use crate::store::Changeset;

/// Meta name of the store's webhook record.
pub(super) const WEBHOOK_META: &str = "webhooks.state";

/// What is persisted per store: the path token, the signature key (a secret, kept like the API
/// token), the shop id and the registrations we made (id per event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct WebhookRecord {
    /// Unguessable last path segment of our URL.
    pub token: String,
    /// Signature key from `renew-signature-key`.
    pub key: Option<Secret>,
    /// The shop's id, when known (deliveries must carry it).
    pub eshop_id: Option<i64>,
    /// Our registrations at the shop: event → webhook id.
    pub registered: BTreeMap<String, i64>,
    /// The URL those registrations point at.
    pub url: Option<String>,
}

crate::stored_record!(WebhookRecord);

/// A `job:finished` delivery for this store.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct JobFinished(pub String);

/// Registers (or re-registers) the store's webhooks now; answers with the resulting state.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<WebhookStatus, ActorError>")]
pub struct SyncWebhooks;

/// Removes the store's registrations at the shop (before deletion).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct DropWebhooks;

/// Webhook state of a running store.
#[derive(Default)]
pub(super) struct WebhookRuntime {
    pub record: Option<WebhookRecord>,
    pub counters: Arc<WebhookCounters>,
    pub conflicts: Vec<String>,
    pub last_error: Option<String>,
    pub registering: bool,
    /// Recent `job:finished` job ids (bounded), for snapshot waits.
    pub finished_jobs: BTreeSet<String>,
}

/// What one registration pass brought back.
struct Registered {
    key: Option<Secret>,
    eshop_id: Option<i64>,
    registered: BTreeMap<String, i64>,
    conflicts: Vec<String>,
}

/// The registration pass (network only; the actor applies the result).
async fn register(
    client: ShoptetClient,
    url: String,
    prior: BTreeMap<String, i64>,
    need_key: bool,
    eshop_known: Option<i64>,
) -> Result<Registered, ShoptetError> {
    let eshop_id = match eshop_known {
        Some(id) => Some(id),
        None => client.eshop_info().await?.eshop_id,
    };
    // The key first: deliveries of the new registrations must verify.
    let key = if need_key {
        Some(client.renew_signature_key().await?)
    } else {
        None
    };
    let ours_by_id: BTreeSet<i64> = prior.values().copied().collect();
    let existing = client.list_webhooks().await?;
    let mut registered = BTreeMap::new();
    let mut conflicts = Vec::new();
    let mut held_by_others: BTreeSet<String> = BTreeSet::new();
    for reg in &existing {
        let wanted = REGISTERED_EVENTS.contains(&reg.event.as_str());
        if reg.url == url {
            if wanted {
                registered.insert(reg.event.clone(), reg.id);
            }
        } else if ours_by_id.contains(&reg.id) {
            // Ours, pointing at an old URL: replaced below.
            client.delete_webhook(reg.id).await?;
        } else if wanted {
            held_by_others.insert(reg.event.clone());
        }
    }
    let missing: Vec<(String, String)> = REGISTERED_EVENTS
        .iter()
        .filter(|e| !registered.contains_key(**e) && !held_by_others.contains(**e))
        .map(|e| ((*e).to_owned(), url.clone()))
        .collect();
    conflicts.extend(held_by_others);
    // One call per event: a 409 or 422 for one must not stop the others.
    for row in missing {
        match client.register_webhooks(std::slice::from_ref(&row)).await {
            Ok(created) => {
                for reg in created {
                    registered.insert(reg.event, reg.id);
                }
            }
            Err(ShoptetError::Rejected { status, errors, .. })
                if status == 409 || (status == 422 && is_already_registered(&errors)) =>
            {
                conflicts.push(row.0);
            }
            Err(err) => return Err(err),
        }
    }
    conflicts.sort();
    conflicts.dedup();
    Ok(Registered {
        key,
        eshop_id,
        registered,
        conflicts,
    })
}

/// Deletes our registrations (gone ones count as done).
async fn deregister(client: ShoptetClient, ids: Vec<i64>) -> Result<(), ShoptetError> {
    for id in ids {
        client.delete_webhook(id).await?;
    }
    Ok(())
}

impl IntegrationActor {
    /// Webhook state for `integration get` and `status`.
    pub(crate) fn webhook_status(&self) -> WebhookStatus {
        let record = self.webhook.record.as_ref();
        WebhookStatus {
            enabled: self.settings.webhooks.is_some(),
            registered: record
                .map(|r| r.registered.keys().cloned().collect())
                .unwrap_or_default(),
            conflicts: self.webhook.conflicts.clone(),
            has_key: record.is_some_and(|r| r.key.is_some()),
            last_delivery: self.webhook.counters.last_delivery(),
            delivered: self.webhook.counters.delivered(),
            rejected: self.webhook.counters.rejected(),
            last_error: self.webhook.last_error.clone(),
        }
    }

    /// Routes deliveries for our token to this actor (when a key is known).
    fn install_route(&self, ctx: &mut Context<Self>) {
        let (Some(setup), Some(record)) = (&self.settings.webhooks, &self.webhook.record) else {
            return;
        };
        let Some(key) = record.key.clone() else {
            return;
        };
        setup.routes.install(
            &record.token,
            Route {
                store: self.integration.name.clone(),
                key,
                eshop_id: std::sync::Mutex::new(record.eshop_id),
                wake: ctx.address().recipient(),
                jobs: ctx.address().recipient(),
                counters: Arc::clone(&self.webhook.counters),
                metrics: Arc::clone(&self.metrics),
            },
        );
    }

    fn remove_route(&self) {
        if let (Some(setup), Some(record)) = (&self.settings.webhooks, &self.webhook.record) {
            setup.routes.remove(&record.token);
        }
    }

    /// Registers the store's webhooks when they are configured and the store is active; the
    /// result is applied and committed by the actor.
    pub(super) fn ensure_webhooks(
        &mut self,
        ctx: &mut Context<Self>,
        reply: Option<tokio::sync::oneshot::Sender<Result<WebhookStatus, ActorError>>>,
    ) {
        let answer = |reply: Option<tokio::sync::oneshot::Sender<_>>, r| {
            if let Some(tx) = reply {
                let _ = tx.send(r);
            }
        };
        let Some(setup) = self.settings.webhooks.clone() else {
            answer(
                reply,
                Err(ActorError::Conflict(
                    "webhooks are not configured ([webhooks] listen and public_url)".into(),
                )),
            );
            return;
        };
        if !self.integration.is_active() || self.stopping || self.webhook.registering {
            answer(reply, Ok(self.webhook_status()));
            return;
        }
        let record = self.webhook.record.get_or_insert_with(|| WebhookRecord {
            token: new_path_token(),
            ..WebhookRecord::default()
        });
        let url = delivery_url(&setup.public_url, &record.token);
        let prior = record.registered.clone();
        let need_key = record.key.is_none();
        let eshop_known = record.eshop_id;
        self.install_route(ctx);
        let Ok(client) = self.client() else {
            answer(reply, Ok(self.webhook_status()));
            return;
        };
        self.webhook.registering = true;
        let fut = register(client, url.clone(), prior, need_key, eshop_known);
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.webhook.registering = false;
            match result {
                Ok(done) => {
                    let record = act.webhook.record.get_or_insert_with(WebhookRecord::default);
                    if let Some(key) = done.key {
                        record.key = Some(key);
                    }
                    record.eshop_id = done.eshop_id.or(record.eshop_id);
                    record.registered = done.registered;
                    record.url = Some(url);
                    act.webhook.conflicts = done.conflicts;
                    act.webhook.last_error = None;
                    if !act.webhook.conflicts.is_empty() {
                        tracing::warn!(
                            store = %act.integration.name,
                            events = ?act.webhook.conflicts,
                            "webhooks: another URL holds these events at the shop; left alone (the feed poll covers them)"
                        );
                    }
                }
                Err(err) => {
                    tracing::warn!(store = %act.integration.name, error = %err, "webhook registration failed; the feed poll keeps orders fresh");
                    act.webhook.last_error = Some(err.to_string());
                }
            }
            act.install_route(ctx);
            let mut changeset = Changeset::new();
            if let Some(record) = &act.webhook.record {
                changeset.put_meta(act.id, WEBHOOK_META, record);
            }
            let status = act.webhook_status();
            act.commit_then(ctx, changeset, move |_, _| answer(reply, Ok(status)));
        }));
    }

    /// Stops routing and removes our registrations at the shop (deactivation, deletion). The
    /// token and key stay, so a later activation reuses them.
    pub(super) fn drop_webhooks(&mut self, ctx: &mut Context<Self>) -> Option<SpawnHandle> {
        self.settings.webhooks.as_ref()?;
        self.remove_route();
        let record = self.webhook.record.as_mut()?;
        let ids: Vec<i64> = record.registered.values().copied().collect();
        record.registered.clear();
        let mut changeset = Changeset::new();
        changeset.put_meta(self.id, WEBHOOK_META, &*record);
        self.commit_then(ctx, changeset, |_, _| {});
        if ids.is_empty() {
            return None;
        }
        let client = self.client().ok()?;
        let name = self.integration.name.clone();
        Some(ctx.spawn(deregister(client, ids).into_actor(self).map(
            move |result, _, _| {
                if let Err(err) = result {
                    tracing::warn!(store = %name, error = %err, "webhook deregistration failed");
                }
            },
        )))
    }
}

impl Handler<JobFinished> for IntegrationActor {
    type Result = ();
    fn handle(&mut self, JobFinished(job_id): JobFinished, _ctx: &mut Self::Context) {
        const KEEP: usize = 64;
        if self.webhook.finished_jobs.len() >= KEEP
            && let Some(first) = self.webhook.finished_jobs.iter().next().cloned()
        {
            self.webhook.finished_jobs.remove(&first);
        }
        self.webhook.finished_jobs.insert(job_id);
    }
}

impl Handler<SyncWebhooks> for IntegrationActor {
    type Result = ResponseFuture<Result<WebhookStatus, ActorError>>;
    fn handle(&mut self, _: SyncWebhooks, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.ensure_webhooks(ctx, Some(tx));
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(ActorError::Unavailable("the store stopped".into())))
        })
    }
}

impl Handler<DropWebhooks> for IntegrationActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: DropWebhooks, ctx: &mut Self::Context) -> Self::Result {
        // Bounded by the caller's timeout; the shop's answer is not needed to delete locally.
        let ids: Vec<i64> = self
            .webhook
            .record
            .as_ref()
            .map(|r| r.registered.values().copied().collect())
            .unwrap_or_default();
        self.remove_route();
        let client = self.client().ok();
        let _ = ctx;
        Box::pin(
            async move {
                if let Some(client) = client {
                    let _ = deregister(client, ids).await;
                }
            }
            .into_actor(self),
        )
    }
}
