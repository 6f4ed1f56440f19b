//! Handlers of the warehouse-floor and seed-scenario operations (see [`crate::actors::floor`]).

use actix::prelude::*;

use super::IntegrationActor;
use crate::actors::ActorError;
use crate::actors::floor::*;
use crate::domain::ErrorLog;
use crate::store::Changeset;

type Reply<T> = AtomicResponse<IntegrationActor, Result<T, ActorError>>;

fn fail<T: 'static>(err: ActorError) -> Reply<T> {
    AtomicResponse::new(Box::pin(fut::err(err)))
}

impl IntegrationActor {
    /// A logged error by id: an open one from memory, any other from the store.
    fn error_by_id(&self, id: uuid::Uuid) -> Result<ErrorLog, ActorError> {
        if let Some(error) = self.open_errors.get(&id) {
            return Ok(error.clone());
        }
        self.store
            .errors(self.id, false)?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| {
                ActorError::NotFound(format!(
                    "error {id} not found in integration '{}'",
                    self.integration.name
                ))
            })
    }
}

impl Handler<SetErrorSeverity> for IntegrationActor {
    type Result = Reply<ErrorLog>;
    fn handle(&mut self, msg: SetErrorSeverity, _ctx: &mut Self::Context) -> Self::Result {
        let mut error = match self.error_by_id(msg.id) {
            Ok(error) => error,
            Err(err) => return fail(err),
        };
        if error.severity == msg.severity {
            return AtomicResponse::new(Box::pin(fut::ok(error)));
        }
        error.update_severity(msg.severity);
        let mut changeset = Changeset::new();
        changeset.put_error(&error);
        self.commit_reply(changeset, error)
    }
}
