//! Warehouse-floor and seed-scenario operations (error severity, price history, …): their
//! messages, the [`Daemon`] calls that send them, and the routing of their control requests.
//! Kept apart from the core order/sync operations so each concern stays in a file of its own.

use actix::prelude::*;
use uuid::Uuid;

use super::ActorError;
use super::handle::Daemon;
use super::messages::IntegrationRef;
use crate::control::protocol::{Caller, Request, Response};
use crate::domain::{ErrorLog, ErrorSeverity};

type R<T> = Result<T, ActorError>;

/// Changes how urgent one logged error is (the seed's `UpdateSeverity`).
#[derive(Message)]
#[rtype(result = "R<ErrorLog>")]
pub struct SetErrorSeverity {
    pub id: Uuid,
    pub severity: ErrorSeverity,
}

impl Daemon {
    /// Changes the severity of one logged error (resolved or not).
    pub async fn set_error_severity(
        &self,
        integration: impl Into<IntegrationRef>,
        id: Uuid,
        severity: ErrorSeverity,
    ) -> R<ErrorLog> {
        self.on(integration, SetErrorSeverity { id, severity })
            .await
    }

    /// Serves the floor operations (routed here by [`Daemon::serve`]).
    pub(crate) async fn serve_floor(&self, caller: &Caller, request: Request) -> R<Response> {
        let _ = caller;
        match request {
            Request::ErrorSeverity {
                integration,
                id,
                severity,
            } => self
                .set_error_severity(integration, id, severity)
                .await
                .map(Response::Error),
            Request::ProductHistory { integration, code } => self
                .price_history(integration, Some(&code))
                .await
                .map(Response::PriceHistory),
            other => Err(ActorError::Unavailable(format!(
                "`{}` is not a floor operation (a routing bug)",
                other.op_name()
            ))),
        }
    }
}
