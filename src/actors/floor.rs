//! Warehouse-floor and seed-scenario operations (error severity, price history, …): their
//! messages, the [`Daemon`] calls that send them, and the routing of their control requests.
//! Kept apart from the core order/sync operations so each concern stays in a file of its own.

use actix::prelude::*;
use uuid::Uuid;

use super::ActorError;
use super::handle::Daemon;
use super::messages::IntegrationRef;
use crate::control::protocol::{Caller, Request, Response};
use crate::domain::{ErrorLog, ErrorSeverity, Order, StockTake};

type R<T> = Result<T, ActorError>;

/// Changes how urgent one logged error is (the seed's `UpdateSeverity`).
#[derive(Message)]
#[rtype(result = "R<ErrorLog>")]
pub struct SetErrorSeverity {
    pub id: Uuid,
    pub severity: ErrorSeverity,
}

/// Clears a review flag that is not a content conflict, recording who and when.
#[derive(Message)]
#[rtype(result = "R<Order>")]
pub struct AcknowledgeReview {
    pub code: String,
    /// Who acknowledged it: the caller's user name and uid.
    pub by: String,
    pub note: Option<String>,
}

/// Records delivery of a shipped order.
#[derive(Message)]
#[rtype(result = "R<Order>")]
pub struct DeliverOrder {
    pub code: String,
}

/// The store's stock-take list, by code.
#[derive(Message)]
#[rtype(result = "R<Vec<StockTake>>")]
pub struct GetStockTakes;

/// These codes were counted (a `stock set` or import): they leave the stock-take list.
#[derive(Message)]
#[rtype(result = "R<()>")]
pub struct StockCounted {
    pub codes: Vec<String>,
}

/// Who a caller is, as recorded on what they acknowledge.
fn who(caller: &Caller) -> String {
    format!("{} (uid {})", caller.user_name, caller.uid)
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

    /// A count of `codes` was recorded in the warehouse: they leave the store's stock-take list.
    pub async fn stock_counted(
        &self,
        integration: impl Into<IntegrationRef>,
        codes: Vec<String>,
    ) -> R<()> {
        self.on(integration, StockCounted { codes }).await
    }

    /// Serves the floor operations (routed here by [`Daemon::serve`]).
    pub(crate) async fn serve_floor(&self, caller: &Caller, request: Request) -> R<Response> {
        match request {
            Request::OrderAcknowledge {
                integration,
                code,
                note,
            } => {
                let message = AcknowledgeReview {
                    code,
                    by: who(caller),
                    note,
                };
                self.on(integration, message).await.map(Response::Order)
            }
            Request::OrderDeliver { integration, code } => self
                .on(integration, DeliverOrder { code })
                .await
                .map(Response::Order),
            Request::StockTakes { integration } => self
                .on(integration, GetStockTakes)
                .await
                .map(Response::StockTakes),
            Request::SyncStockCheck { integration, force } => self
                .sync(integration, super::SyncKind::Discrepancies, force)
                .await
                .map(|report| Response::Sync(super::control_bridge::sync_result(report))),
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
