//! Connection slots of the control socket: a shared pool, a per-uid cap for non-administrators
//! and a reserve only administrators may use, so that no allowed user can lock others out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::protocol::{Caller, ControlError};

/// The connection slots of one control server.
#[derive(Debug)]
pub(crate) struct ConnectionSlots {
    /// Slots anyone allowed may take (`max_connections`).
    shared: Arc<Semaphore>,
    /// Extra slots only administrators may take, once the shared ones are gone.
    reserved: Arc<Semaphore>,
    shared_capacity: usize,
    reserved_capacity: usize,
    per_uid_limit: usize,
    /// Slots held per non-administrator uid.
    held_by_uid: Arc<Mutex<HashMap<u32, usize>>>,
}

/// A slot held by one connection; released when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    _uid: Option<UidShare>,
}

/// One connection counted against a non-administrator's uid.
#[derive(Debug)]
struct UidShare {
    uid: u32,
    held_by_uid: Arc<Mutex<HashMap<u32, usize>>>,
}

impl Drop for UidShare {
    fn drop(&mut self) {
        let mut held = self
            .held_by_uid
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.uid) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.uid);
            }
        }
    }
}

impl ConnectionSlots {
    /// `shared` slots for everyone (at least one), `reserved` more for administrators only, and
    /// at most `per_uid` (at least one) held by any one non-administrator uid.
    pub(crate) fn new(shared: usize, reserved: usize, per_uid: usize) -> Self {
        let shared = shared.max(1);
        Self {
            shared: Arc::new(Semaphore::new(shared)),
            reserved: Arc::new(Semaphore::new(reserved)),
            shared_capacity: shared,
            reserved_capacity: reserved,
            per_uid_limit: per_uid.max(1),
            held_by_uid: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Every socket that may be open at once: all slots plus room for connections being
    /// identified or refused.
    pub(crate) fn socket_budget(&self, in_admission: usize) -> usize {
        self.shared_capacity + self.reserved_capacity + in_admission
    }

    /// A slot for `caller`. A non-administrator over its uid's cap, or finding the shared slots
    /// taken, is refused at once (`busy`); an administrator takes a shared or reserved slot and,
    /// when all are taken, waits for the first one freed.
    pub(crate) async fn admit(&self, caller: &Caller) -> Result<Slot, ControlError> {
        if caller.is_admin {
            return Ok(self.admit_admin().await);
        }
        let share = {
            let mut held = self
                .held_by_uid
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let count = held.entry(caller.uid).or_insert(0);
            if *count >= self.per_uid_limit {
                return Err(ControlError::busy(format!(
                    "user {} (uid {}) already has {} control connections open, the most one user may hold; close idle ones or retry later",
                    caller.user_name, caller.uid, self.per_uid_limit
                )));
            }
            *count += 1;
            UidShare {
                uid: caller.uid,
                held_by_uid: self.held_by_uid.clone(),
            }
        };
        match self.shared.clone().try_acquire_owned() {
            Ok(permit) => Ok(Slot {
                _permit: permit,
                _uid: Some(share),
            }),
            Err(_) => Err(ControlError::busy(format!(
                "all {} control connections are in use; retry shortly",
                self.shared_capacity
            ))),
        }
    }

    async fn admit_admin(&self) -> Slot {
        let permit = match self.shared.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => self.reserved.clone().try_acquire_owned().ok(),
        };
        let permit = match permit {
            Some(permit) => permit,
            None => {
                // Semaphores are never closed, so each acquire ends with a permit; a closed one
                // only leaves the other to wait on.
                let shared = self.shared.clone();
                let reserved = self.reserved.clone();
                loop {
                    let got = tokio::select! {
                        permit = shared.clone().acquire_owned() => permit.ok(),
                        permit = reserved.clone().acquire_owned() => permit.ok(),
                    };
                    if let Some(permit) = got {
                        break permit;
                    }
                    tokio::task::yield_now().await;
                }
            }
        };
        Slot {
            _permit: permit,
            _uid: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(uid: u32, is_admin: bool) -> Caller {
        Caller {
            uid,
            gid: uid,
            pid: None,
            user_name: format!("uid:{uid}"),
            is_admin,
        }
    }

    #[tokio::test]
    async fn readers_are_capped_per_uid_and_admins_keep_their_reserve() {
        let slots = ConnectionSlots::new(3, 1, 2);
        let reader = caller(1000, false);
        let first = slots.admit(&reader).await.unwrap();
        let _second = slots.admit(&reader).await.unwrap();
        let refused = slots.admit(&reader).await.unwrap_err();
        assert!(refused.message.contains("uid 1000"), "{}", refused.message);
        // Another reader takes the last shared slot; a third finds none.
        let _other = slots.admit(&caller(1001, false)).await.unwrap();
        assert!(slots.admit(&caller(1002, false)).await.is_err());
        // The administrator still gets in, from the reserve.
        let _admin = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            slots.admit(&caller(0, true)),
        )
        .await
        .unwrap()
        .unwrap();
        // A freed slot is counted back to its uid.
        drop(first);
        slots.admit(&reader).await.unwrap();
    }
}
