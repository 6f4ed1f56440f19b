//! The persistent outbox of status pushes to the shop.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::integration::Integration;
use super::order::{Order, OrderStatus};
use super::{DomainError, IntegrationId};

/// Delay before the first retry; doubled after each further failure.
pub const BASE_RETRY_DELAY: TimeDelta = TimeDelta::seconds(5);
/// Longest delay between two attempts.
pub const MAX_RETRY_DELAY: TimeDelta = TimeDelta::minutes(10);
/// Attempts before an entry is parked as a dead letter (about 1 h of retrying).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 12;
/// Longest stored error text of an entry.
const MAX_LAST_ERROR_CHARS: usize = 500;

/// What one outbox entry asks the shop to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboxAction {
    /// Set the order's status to this shop status id.
    SetStatus { status_id: i64 },
    /// Write the tracking number into the order's notes.
    SetTrackingNumber { tracking_number: String },
}

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutboxState {
    Pending,
    /// Gave up after the maximum number of attempts; waits for an operator.
    DeadLetter,
}

/// One push to the shop, written in the same commit as the domain change that caused it.
/// `seq` orders entries per integration; entries of one order are sent in `seq` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: Uuid,
    pub integration_id: IntegrationId,
    pub seq: u64,
    pub order_code: String,
    pub action: OutboxAction,
    pub state: OutboxState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
}

/// The delay after the `attempts`-th failure: 5 s, 10 s, 20 s, … capped at 10 min.
pub fn retry_delay(attempts: u32) -> TimeDelta {
    let doublings = attempts.saturating_sub(1);
    // 2^7 × 5 s already exceeds the cap; stop doubling there so nothing overflows.
    if doublings >= 7 {
        return MAX_RETRY_DELAY;
    }
    (BASE_RETRY_DELAY * (1i32 << doublings)).min(MAX_RETRY_DELAY)
}

impl OutboxEntry {
    /// A pending entry, due at once.
    pub fn new(
        integration_id: IntegrationId,
        seq: u64,
        order_code: &str,
        action: OutboxAction,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            integration_id,
            seq,
            order_code: order_code.to_owned(),
            action,
            state: OutboxState::Pending,
            attempts: 0,
            last_error: None,
            created_at: now,
            next_attempt_at: now,
        }
    }

    /// Pending and its next attempt time has come.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.state == OutboxState::Pending && self.next_attempt_at <= now
    }

    /// Records a failed attempt: backs off exponentially, and after `max_attempts`
    /// parks the entry as a dead letter for an operator. Returns the new state.
    /// `error` must not contain secrets; it is cut to a bounded length.
    pub fn record_failure(
        &mut self,
        error: &str,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> OutboxState {
        self.attempts = self.attempts.saturating_add(1);
        self.last_error = Some(error.chars().take(MAX_LAST_ERROR_CHARS).collect());
        if self.attempts >= max_attempts.max(1) {
            self.state = OutboxState::DeadLetter;
        } else {
            self.next_attempt_at = now + retry_delay(self.attempts);
        }
        self.state
    }

    /// Puts a dead letter back in the queue, due at once, with a fresh attempt count.
    pub fn retry(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.state != OutboxState::DeadLetter {
            return Err(DomainError::InvalidState(format!(
                "outbox entry {} for order {} is still pending; only dead letters can be retried",
                self.seq, self.order_code
            )));
        }
        self.state = OutboxState::Pending;
        self.attempts = 0;
        self.next_attempt_at = now;
        Ok(())
    }

    /// The pushes an order's new status asks for, numbered from `first_seq`; empty when
    /// the integration does not push statuses or the status has nothing to push.
    ///
    /// For a shipped order the tracking number goes first and the status second: the
    /// shop may e-mail the customer when the status changes, and that e-mail should
    /// already carry the tracking number. Entries of one order are sent in `seq` order.
    pub fn for_order_status(
        integration: &Integration,
        order: &Order,
        first_seq: u64,
        now: DateTime<Utc>,
    ) -> Vec<OutboxEntry> {
        if !integration.auto_status_update {
            return Vec::new();
        }
        let mapping = integration.status_mapping;
        let actions = match order.status {
            OrderStatus::Processing => vec![OutboxAction::SetStatus {
                status_id: mapping.processing,
            }],
            OrderStatus::Shipped => {
                let mut actions = Vec::with_capacity(2);
                if let Some(tracking) = &order.tracking_number {
                    actions.push(OutboxAction::SetTrackingNumber {
                        tracking_number: tracking.clone(),
                    });
                }
                actions.push(OutboxAction::SetStatus {
                    status_id: mapping.shipped,
                });
                actions
            }
            OrderStatus::Cancelled => vec![OutboxAction::SetStatus {
                status_id: mapping.cancelled,
            }],
            OrderStatus::Imported | OrderStatus::Delivered | OrderStatus::Error => Vec::new(),
        };
        actions
            .into_iter()
            .zip(first_seq..)
            .map(|(action, seq)| OutboxEntry::new(integration.id, seq, &order.code, action, now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::integration::{Credentials, Secret};
    use crate::domain::order::tests::sample_order;
    use crate::domain::testutil::t0;

    fn entry() -> OutboxEntry {
        OutboxEntry::new(
            Uuid::nil(),
            7,
            "1001",
            OutboxAction::SetStatus { status_id: -2 },
            t0(),
        )
    }

    #[test]
    fn new_entry_is_due_at_once() {
        let e = entry();
        assert!(e.is_due(t0()));
        assert!(!e.is_due(t0() - TimeDelta::seconds(1)));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(retry_delay(1), TimeDelta::seconds(5));
        assert_eq!(retry_delay(2), TimeDelta::seconds(10));
        assert_eq!(retry_delay(3), TimeDelta::seconds(20));
        assert_eq!(retry_delay(7), TimeDelta::seconds(320));
        assert_eq!(retry_delay(8), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_DELAY);
    }

    #[test]
    fn failures_back_off_then_dead_letter() {
        let mut e = entry();
        let now = t0();
        assert_eq!(e.record_failure("503", now, 3), OutboxState::Pending);
        assert_eq!(e.next_attempt_at, now + TimeDelta::seconds(5));
        assert!(!e.is_due(now + TimeDelta::seconds(4)));
        assert!(e.is_due(now + TimeDelta::seconds(5)));
        assert_eq!(e.record_failure("503", now, 3), OutboxState::Pending);
        assert_eq!(e.next_attempt_at, now + TimeDelta::seconds(10));
        assert_eq!(
            e.record_failure("still 503", now, 3),
            OutboxState::DeadLetter
        );
        assert_eq!(e.attempts, 3);
        assert_eq!(e.last_error.as_deref(), Some("still 503"));
        assert!(!e.is_due(now + TimeDelta::days(1)));
    }

    #[test]
    fn retry_only_from_dead_letter() {
        let mut e = entry();
        assert!(e.retry(t0()).is_err());
        for _ in 0..DEFAULT_MAX_ATTEMPTS {
            e.record_failure("x", t0(), DEFAULT_MAX_ATTEMPTS);
        }
        assert_eq!(e.state, OutboxState::DeadLetter);
        let later = t0() + TimeDelta::hours(2);
        e.retry(later).unwrap();
        assert_eq!(e.state, OutboxState::Pending);
        assert_eq!(e.attempts, 0);
        assert!(e.is_due(later));
    }

    #[test]
    fn error_text_is_bounded() {
        let mut e = entry();
        e.record_failure(&"e".repeat(5000), t0(), 5);
        assert_eq!(e.last_error.map(|s| s.chars().count()), Some(500));
    }

    #[test]
    fn shipped_order_pushes_tracking_then_status() {
        let mut i = Integration::new("A", "https://a.example", t0()).unwrap();
        i.update_credentials(Credentials::PrivateToken(Secret::new("t")), t0())
            .unwrap();
        let mut o = sample_order(i.id, "1001");
        assert!(OutboxEntry::for_order_status(&i, &o, 1, t0()).is_empty());
        o.start_processing("p", t0()).unwrap();
        let e = OutboxEntry::for_order_status(&i, &o, 1, t0());
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].action, OutboxAction::SetStatus { status_id: -2 });
        o.ship("TRACK-9", None, t0()).unwrap();
        let e = OutboxEntry::for_order_status(&i, &o, 10, t0());
        assert_eq!(
            e.iter()
                .map(|e| (e.seq, e.action.clone()))
                .collect::<Vec<_>>(),
            vec![
                (
                    10,
                    OutboxAction::SetTrackingNumber {
                        tracking_number: "TRACK-9".into()
                    }
                ),
                (11, OutboxAction::SetStatus { status_id: -3 }),
            ]
        );
        assert!(
            e.iter()
                .all(|e| e.order_code == "1001" && e.integration_id == i.id)
        );
        i.auto_status_update = false;
        assert!(OutboxEntry::for_order_status(&i, &o, 1, t0()).is_empty());
    }

    #[test]
    fn cancelled_order_uses_mapped_status() {
        let mut i = Integration::new("A", "https://a.example", t0()).unwrap();
        i.status_mapping.cancelled = 42;
        let mut o = sample_order(i.id, "5");
        o.cancel("x", t0()).unwrap();
        let e = OutboxEntry::for_order_status(&i, &o, 1, t0());
        assert_eq!(e[0].action, OutboxAction::SetStatus { status_id: 42 });
    }
}
