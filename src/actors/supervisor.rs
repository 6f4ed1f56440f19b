//! The supervisor: one integration actor per integration, created, replaced, restarted and
//! stopped here; integration create/delete go through it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::integration::IntegrationActor;
use super::integration::apply_update;
use super::ledger::WarehouseLedger;
use super::messages::*;
use super::{ActorError, SyncSettings, backoff};
use crate::domain::{ErrorLog, ErrorSeverity, Integration, IntegrationId, SyncLog, SyncType};
use crate::store::{Changeset, Store};

struct Running {
    addr: Addr<IntegrationActor>,
    incarnation: u64,
    name: String,
    warehouse: String,
}

/// Runs the integration actors.
pub struct Supervisor {
    store: Store,
    ledger: Addr<WarehouseLedger>,
    settings: Arc<SyncSettings>,
    running: HashMap<IntegrationId, Running>,
    /// Actors that stopped on a fatal error: name and consecutive restarts so far.
    restarting: HashMap<IntegrationId, (String, u32)>,
    /// Actors restarted lately: consecutive restarts and when the latest one happened. An actor
    /// that fails again soon after a restart waits longer; one that ran for the longest backoff
    /// counts as recovered.
    restarted: HashMap<IntegrationId, (u32, Instant)>,
    deleting: HashSet<IntegrationId>,
    incarnations: u64,
    started_at: DateTime<Utc>,
    shutting_down: bool,
}

impl Supervisor {
    /// A supervisor over `store`, using `ledger` for warehouse stock.
    pub fn new(store: Store, ledger: Addr<WarehouseLedger>, settings: Arc<SyncSettings>) -> Self {
        Self {
            store,
            ledger,
            settings,
            running: HashMap::new(),
            restarting: HashMap::new(),
            restarted: HashMap::new(),
            deleting: HashSet::new(),
            incarnations: 0,
            started_at: Utc::now(),
            shutting_down: false,
        }
    }

    /// Loads the integration's state and starts its actor.
    fn start_actor(
        &mut self,
        ctx: &mut Context<Self>,
        id: IntegrationId,
    ) -> Result<(), ActorError> {
        let state = self
            .store
            .load_state(id)?
            .ok_or_else(|| ActorError::NotFound(format!("integration {id} is not in the store")))?;
        self.incarnations += 1;
        let incarnation = self.incarnations;
        let name = state.integration.name.clone();
        let warehouse = state.integration.default_warehouse_code.clone();
        let actor = IntegrationActor::new(
            state,
            incarnation,
            self.store.clone(),
            self.ledger.clone(),
            self.settings.clone(),
        )?
        .with_supervisor(ctx.address().recipient(), ctx.address().recipient());
        let addr = actor.start();
        self.settings.metrics.set_store_up(id, true);
        self.running.insert(
            id,
            Running {
                addr,
                incarnation,
                name,
                warehouse,
            },
        );
        Ok(())
    }

    fn find(&self, reference: &IntegrationRef) -> Option<IntegrationId> {
        match reference {
            IntegrationRef::Id(id) => {
                (self.running.contains_key(id) || self.restarting.contains_key(id)).then_some(*id)
            }
            IntegrationRef::Name(name) => {
                let name = name.trim();
                self.running
                    .iter()
                    .find(|(_, r)| r.name == name)
                    .map(|(id, _)| *id)
                    .or_else(|| {
                        self.restarting
                            .iter()
                            .find(|(_, (n, _))| n == name)
                            .map(|(id, _)| *id)
                    })
                    .or_else(|| {
                        // Names are unique regardless of case; accept any case when unambiguous.
                        let mut matches = self
                            .running
                            .iter()
                            .filter(|(_, r)| r.name.eq_ignore_ascii_case(name));
                        match (matches.next(), matches.next()) {
                            (Some((id, _)), None) => Some(*id),
                            _ => None,
                        }
                    })
            }
        }
    }

    fn not_found(reference: &IntegrationRef) -> ActorError {
        ActorError::NotFound(format!("integration {reference} not found"))
    }

    fn name_taken(&self, name: &str, except: Option<IntegrationId>) -> bool {
        let taken = |id: &IntegrationId, other: &str| {
            Some(*id) != except && other.eq_ignore_ascii_case(name.trim())
        };
        self.running.iter().any(|(id, r)| taken(id, &r.name))
            || self.restarting.iter().any(|(id, (n, _))| taken(id, n))
    }

    /// Refuses an e-shop URL that already backs another integration (compared normalised:
    /// every order would otherwise be imported twice).
    fn refuse_taken_url(&self, url: &str, except: Option<IntegrationId>) -> Result<(), ActorError> {
        let wanted = crate::domain::integration::normalized_shop_url(url);
        let other = self.store.integrations()?.into_iter().find(|i| {
            Some(i.id) != except
                && crate::domain::integration::normalized_shop_url(&i.eshop_url) == wanted
        });
        match other {
            Some(other) => Err(ActorError::Conflict(format!(
                "the e-shop {} already backs integration '{}' (one shop cannot back two integrations: its orders would be imported twice)",
                other.eshop_url, other.name
            ))),
            None => Ok(()),
        }
    }

    fn resolve(&self, reference: &IntegrationRef) -> Result<Resolved, ActorError> {
        let id = self
            .find(reference)
            .ok_or_else(|| Self::not_found(reference))?;
        match self.running.get(&id) {
            Some(r) => Ok(Resolved {
                id,
                name: r.name.clone(),
                warehouse: r.warehouse.clone(),
                addr: r.addr.clone(),
            }),
            None => Err(ActorError::Unavailable(format!(
                "integration {reference} is restarting after a failure; try again shortly"
            ))),
        }
    }

    fn unavailable_if_shutting_down(&self) -> Result<(), ActorError> {
        if self.shutting_down {
            Err(ActorError::Unavailable(
                "the daemon is shutting down".into(),
            ))
        } else {
            Ok(())
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        let integrations = match self.store.integrations() {
            Ok(integrations) => integrations,
            Err(err) => {
                tracing::error!(error = %super::error_chain(&err), "cannot load the integrations");
                return;
            }
        };
        for integration in integrations {
            if let Err(err) = self.start_actor(ctx, integration.id) {
                tracing::error!(store = %integration.name, error = %err, "cannot start the integration actor; retrying");
                let _ = self
                    .settings
                    .metrics
                    .store(integration.id, &integration.name);
                self.restarting
                    .insert(integration.id, (integration.name.clone(), 0));
                ctx.notify(IntegrationStopped {
                    id: integration.id,
                    incarnation: 0,
                    fatal: Some(err.to_string()),
                });
            }
        }
        tracing::info!(stores = self.running.len(), "supervisor started");
    }
}

impl Handler<IntegrationStopped> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: IntegrationStopped, ctx: &mut Self::Context) {
        let name = match self.running.get(&msg.id) {
            Some(r) if r.incarnation == msg.incarnation => {
                let name = r.name.clone();
                self.running.remove(&msg.id);
                name
            }
            // A stale notice from a replaced incarnation.
            Some(_) => return,
            None => match self.restarting.get(&msg.id) {
                Some((name, _)) => name.clone(),
                None => return,
            },
        };
        if self.shutting_down || self.deleting.contains(&msg.id) {
            return;
        }
        self.settings.metrics.set_store_up(msg.id, false);
        let reason = msg
            .fatal
            .unwrap_or_else(|| "the actor stopped unexpectedly".to_owned());
        let recovered_after = self.settings.restart_backoff_max;
        let earlier = self
            .restarted
            .remove(&msg.id)
            .filter(|(_, at)| at.elapsed() < recovered_after)
            .map_or(0, |(restarts, _)| restarts);
        let entry = self
            .restarting
            .entry(msg.id)
            .or_insert((name.clone(), earlier));
        entry.1 = entry.1.saturating_add(1);
        let attempt = entry.1;
        let delay = backoff(
            self.settings.restart_backoff_base,
            self.settings.restart_backoff_max,
            attempt,
        );
        tracing::error!(
            store = %name,
            sync_type = "system",
            %reason,
            attempt,
            delay_ms = delay.as_millis() as u64,
            "integration actor down; restarting with backoff"
        );
        // The actor is down, so the supervisor may write to its error log.
        if let Ok(error) = ErrorLog::new(
            msg.id,
            &format!(
                "integration actor stopped on a fatal error; restart {attempt} in {:.1} s",
                delay.as_secs_f64()
            ),
            Some(&reason),
            Some(SyncType::System),
            ErrorSeverity::Critical,
            Utc::now(),
        ) {
            let store = self.store.clone();
            let mut changeset = Changeset::new();
            changeset.put_error(&error);
            ctx.spawn(
                async move {
                    if let Err(err) = store.commit(changeset).await {
                        tracing::error!(error = %super::error_chain(&err), "cannot log the actor failure");
                    }
                }
                .into_actor(self),
            );
        }
        let id = msg.id;
        ctx.run_later(delay, move |act, ctx| {
            if act.shutting_down || act.deleting.contains(&id) || act.running.contains_key(&id) {
                return;
            }
            match act.start_actor(ctx, id) {
                Ok(()) => {
                    if let Some((name, restarts)) = act.restarting.remove(&id) {
                        act.restarted.insert(id, (restarts, Instant::now()));
                        tracing::info!(store = %name, sync_type = "system", "integration actor restarted");
                    }
                }
                Err(ActorError::NotFound(_)) => {
                    act.restarting.remove(&id);
                }
                Err(err) => {
                    let incarnation = 0;
                    ctx.notify(IntegrationStopped {
                        id,
                        incarnation,
                        fatal: Some(err.to_string()),
                    });
                }
            }
        });
    }
}

impl Handler<IntegrationRenamed> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: IntegrationRenamed, _ctx: &mut Self::Context) {
        if let Some(running) = self.running.get_mut(&msg.id) {
            running.name = msg.name;
            running.warehouse = msg.warehouse;
        }
    }
}

impl Handler<Resolve> for Supervisor {
    type Result = Result<Resolved, ActorError>;
    fn handle(&mut self, msg: Resolve, _ctx: &mut Self::Context) -> Self::Result {
        self.unavailable_if_shutting_down()?;
        self.resolve(&msg.0)
    }
}

impl Handler<CreateIntegration> for Supervisor {
    type Result = AtomicResponse<Self, Result<Integration, ActorError>>;
    fn handle(
        &mut self,
        CreateIntegration(spec): CreateIntegration,
        _ctx: &mut Self::Context,
    ) -> Self::Result {
        let prepared = (|| {
            self.unavailable_if_shutting_down()?;
            let now = Utc::now();
            let mut integration = Integration::new(&spec.name, &spec.eshop_url, now)?;
            if self.name_taken(&integration.name, None) {
                return Err(ActorError::Conflict(format!(
                    "an integration named '{}' already exists",
                    integration.name
                )));
            }
            self.refuse_taken_url(&integration.eshop_url, None)?;
            if let Some(url) = &spec.api_base_url {
                integration.set_api_base_url(url, now)?;
            }
            let mut settings = spec.settings.clone();
            settings.rename = None;
            apply_update(&mut integration, &settings, now)?;
            let mut logs = vec![SyncLog::event(
                integration.id,
                format!("Integration '{}' created", integration.name),
                now,
            )];
            if let Some(credentials) = spec.credentials.clone() {
                logs.push(integration.update_credentials(credentials, now)?);
            }
            let mut changeset = Changeset::new();
            changeset.put_integration(&integration);
            for log in &logs {
                changeset.put_sync_log(log);
            }
            Ok((integration, changeset))
        })();
        let (integration, changeset) = match prepared {
            Ok(prepared) => prepared,
            Err(err) => return AtomicResponse::new(Box::pin(fut::err(err))),
        };
        let store = self.store.clone();
        AtomicResponse::new(Box::pin(
            async move { store.commit(changeset).await }
                .into_actor(self)
                .map(move |result, act, ctx| {
                    result?;
                    act.start_actor(ctx, integration.id)?;
                    tracing::info!(store = %integration.name, "integration created");
                    Ok(integration)
                }),
        ))
    }
}

impl Handler<DeleteIntegration> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), ActorError>>;
    fn handle(
        &mut self,
        DeleteIntegration(reference): DeleteIntegration,
        _ctx: &mut Self::Context,
    ) -> Self::Result {
        if let Err(err) = self.unavailable_if_shutting_down() {
            return Box::pin(fut::err(err));
        }
        let Some(id) = self.find(&reference) else {
            return Box::pin(fut::err(Self::not_found(&reference)));
        };
        if !self.deleting.insert(id) {
            return Box::pin(fut::err(ActorError::Conflict(format!(
                "integration {reference} is already being deleted"
            ))));
        }
        let addr = self.running.get(&id).map(|r| r.addr.clone());
        let name = self
            .running
            .get(&id)
            .map(|r| r.name.clone())
            .or_else(|| self.restarting.get(&id).map(|(name, _)| name.clone()))
            .unwrap_or_else(|| id.to_string());
        let store = self.store.clone();
        let ledger = self.ledger.clone();
        let timeout = self.settings.shutdown_timeout;
        Box::pin(
            async move {
                if let Some(addr) = addr {
                    // Our webhook registrations go first (bounded: the data goes anyway).
                    let _ = tokio::time::timeout(
                        timeout,
                        addr.send(crate::actors::integration::DropWebhooks),
                    )
                    .await;
                    // Let in-flight work end cleanly before the data goes.
                    let _ = tokio::time::timeout(timeout, addr.send(StopIntegration)).await;
                }
                ledger.do_send(UnregisterStore { id });
                let mut changeset = Changeset::new();
                changeset.delete_integration(id);
                store.commit(changeset).await.map_err(ActorError::from)
            }
            .into_actor(self)
            .map(move |result, act, _ctx| {
                act.deleting.remove(&id);
                if result.is_ok() {
                    act.running.remove(&id);
                    act.restarting.remove(&id);
                    act.restarted.remove(&id);
                    act.settings.metrics.remove_store(id);
                    tracing::info!(store = %name, sync_type = "system", "integration deleted");
                }
                result
            }),
        )
    }
}

impl Handler<UpdateIntegrationVia> for Supervisor {
    type Result = ResponseActFuture<Self, Result<Integration, ActorError>>;
    fn handle(
        &mut self,
        UpdateIntegrationVia(reference, update): UpdateIntegrationVia,
        _ctx: &mut Self::Context,
    ) -> Self::Result {
        let resolved = match self
            .unavailable_if_shutting_down()
            .and_then(|()| self.resolve(&reference))
        {
            Ok(resolved) => resolved,
            Err(err) => return Box::pin(fut::err(err)),
        };
        if let Some(name) = &update.rename
            && self.name_taken(name, Some(resolved.id))
        {
            return Box::pin(fut::err(ActorError::Conflict(format!(
                "an integration named '{}' already exists",
                name.trim()
            ))));
        }
        if let Some(url) = &update.eshop_url
            && let Err(err) = self.refuse_taken_url(url, Some(resolved.id))
        {
            return Box::pin(fut::err(err));
        }
        let id = resolved.id;
        Box::pin(
            async move { resolved.addr.send(UpdateIntegration(update)).await }
                .into_actor(self)
                .map(move |result, act, _ctx| {
                    let integration =
                        result.map_err(|err| ActorError::Unavailable(err.to_string()))??;
                    if let Some(running) = act.running.get_mut(&id) {
                        running.name = integration.name.clone();
                        running.warehouse = integration.default_warehouse_code.clone();
                    }
                    Ok(integration)
                }),
        )
    }
}

impl Handler<ListIntegrations> for Supervisor {
    type Result = Result<Vec<Integration>, ActorError>;
    fn handle(&mut self, _msg: ListIntegrations, _ctx: &mut Self::Context) -> Self::Result {
        let mut integrations = self.store.integrations()?;
        integrations.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(integrations)
    }
}

impl Handler<GetDaemonStatus> for Supervisor {
    type Result = ResponseFuture<Result<DaemonStatusInfo, ActorError>>;
    fn handle(&mut self, _msg: GetDaemonStatus, _ctx: &mut Self::Context) -> Self::Result {
        let addrs: Vec<Addr<IntegrationActor>> =
            self.running.values().map(|r| r.addr.clone()).collect();
        let mut restarting: Vec<String> = self
            .restarting
            .values()
            .map(|(name, _)| name.clone())
            .collect();
        restarting.sort();
        let started_at = self.started_at;
        Box::pin(async move {
            let answers =
                futures::future::join_all(addrs.iter().map(|addr| addr.send(GetStoreStatus))).await;
            let mut stores: Vec<StoreStatus> = answers.into_iter().filter_map(Result::ok).collect();
            stores.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(DaemonStatusInfo {
                started_at,
                stores,
                restarting,
            })
        })
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), ActorError>>;
    fn handle(&mut self, _msg: Shutdown, _ctx: &mut Self::Context) -> Self::Result {
        self.shutting_down = true;
        let mut actors: Vec<(String, Addr<IntegrationActor>)> = self
            .running
            .values()
            .map(|r| (r.name.clone(), r.addr.clone()))
            .collect();
        actors.sort_by(|a, b| a.0.cmp(&b.0));
        let ledger = self.ledger.clone();
        let store = self.store.clone();
        let timeout = self.settings.shutdown_timeout;
        tracing::info!(
            stores = actors.len(),
            "shutting down the integration actors"
        );
        Box::pin(
            async move {
                // One store after the other: each cancels or finishes its run and commits.
                for (name, addr) in actors {
                    match tokio::time::timeout(timeout, addr.send(StopIntegration)).await {
                        Ok(_) => tracing::info!(store = %name, "store stopped"),
                        Err(_) => tracing::warn!(store = %name, "store did not stop in time"),
                    }
                }
                let _ = ledger.send(FlushLedger).await;
                store.flush().await.map_err(ActorError::from)
            }
            .into_actor(self)
            .map(|result, act, _ctx| {
                act.running.clear();
                tracing::info!("actor system stopped; store flushed");
                result
            }),
        )
    }
}

#[cfg(test)]
#[path = "supervisor_tests.rs"]
mod tests;
