//! Whether a store's shop answers: the clock behind the "unreachable for over an hour" alert.
//!
//! A short outage heals itself and is only a warning; one that lasts past the threshold needs a
//! person, so it is logged as an error once when it passes the threshold and again at most once
//! per threshold while it lasts. Pure: the caller passes `now`.

use chrono::{DateTime, TimeDelta, Utc};

/// What a run told about the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Contact {
    /// The run did not talk to the shop (nothing to do, no client, a local failure).
    #[default]
    NotTried,
    /// The shop answered (even with an error status).
    Reached,
    /// The shop could not be reached or kept failing through every retry.
    Unreachable,
}

/// The outage clock of one store.
#[derive(Debug, Default)]
pub(crate) struct Reachability {
    /// When the shop last answered (this actor incarnation).
    last_contact: Option<DateTime<Utc>>,
    /// Start of the current outage: the first failed attempt after the last contact.
    down_since: Option<DateTime<Utc>>,
    /// When the current outage was last reported as an error.
    alerted_at: Option<DateTime<Utc>>,
}

/// What to log after noting a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReachEvent {
    /// Nothing beyond the run's own line.
    Quiet,
    /// The outage passed the threshold (again): an error.
    StillDown {
        down_for: TimeDelta,
        last_contact: Option<DateTime<Utc>>,
    },
    /// The shop answers again after an outage.
    Recovered { down_for: TimeDelta, alerted: bool },
}

impl Reachability {
    /// The start of the current outage, if the shop is down.
    #[cfg(test)]
    pub(crate) fn down_since(&self) -> Option<DateTime<Utc>> {
        self.down_since
    }

    /// Notes a run that started at `started_at` and ended at `now` with `contact`.
    pub(crate) fn note(
        &mut self,
        contact: Contact,
        started_at: DateTime<Utc>,
        now: DateTime<Utc>,
        threshold: TimeDelta,
    ) -> ReachEvent {
        match contact {
            Contact::NotTried => ReachEvent::Quiet,
            Contact::Reached => {
                self.last_contact = Some(self.last_contact.map_or(now, |t| t.max(now)));
                let alerted = self.alerted_at.take().is_some();
                match self.down_since.take() {
                    Some(since) => ReachEvent::Recovered {
                        down_for: (now - since).max(TimeDelta::zero()),
                        alerted,
                    },
                    None => ReachEvent::Quiet,
                }
            }
            Contact::Unreachable => {
                // A run that started before the shop last answered failed after that answer.
                let start = match self.last_contact {
                    Some(contact) => started_at.max(contact),
                    None => started_at,
                };
                let since = *self.down_since.get_or_insert(start.min(now));
                let down_for = now - since;
                let due = match self.alerted_at {
                    None => down_for >= threshold,
                    Some(at) => now - at >= threshold,
                };
                if due {
                    self.alerted_at = Some(now);
                    ReachEvent::StillDown {
                        down_for,
                        last_contact: self.last_contact,
                    }
                } else {
                    ReachEvent::Quiet
                }
            }
        }
    }
}

/// `1 h 5 min`, `12 min 3 s`, `4.2 s`: a duration for people.
pub(crate) fn human_duration(delta: TimeDelta) -> String {
    let total_ms = delta.num_milliseconds().max(0);
    let secs = total_ms / 1000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min {s} s")
    } else {
        format!("{}.{} s", secs, (total_ms % 1000) / 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_000_000 + secs)
    }

    const HOUR: TimeDelta = TimeDelta::hours(1);

    #[test]
    fn a_short_outage_is_quiet_and_its_recovery_reported() {
        let mut r = Reachability::default();
        assert_eq!(
            r.note(Contact::Reached, at(0), at(1), HOUR),
            ReachEvent::Quiet
        );
        assert_eq!(
            r.note(Contact::Unreachable, at(60), at(70), HOUR),
            ReachEvent::Quiet
        );
        assert_eq!(r.down_since(), Some(at(60)));
        assert_eq!(
            r.note(Contact::Unreachable, at(600), at(610), HOUR),
            ReachEvent::Quiet
        );
        assert_eq!(
            r.note(Contact::Reached, at(1200), at(1210), HOUR),
            ReachEvent::Recovered {
                down_for: TimeDelta::seconds(1150),
                alerted: false
            }
        );
        assert_eq!(r.down_since(), None);
        assert_eq!(
            r.note(Contact::Reached, at(1300), at(1310), HOUR),
            ReachEvent::Quiet
        );
    }

    #[test]
    fn a_long_outage_alerts_once_per_threshold() {
        let mut r = Reachability::default();
        r.note(Contact::Reached, at(0), at(5), HOUR);
        assert_eq!(
            r.note(Contact::Unreachable, at(100), at(110), HOUR),
            ReachEvent::Quiet
        );
        // 59 min 59 s down: still quiet.
        assert_eq!(
            r.note(Contact::Unreachable, at(3600), at(3699), HOUR),
            ReachEvent::Quiet
        );
        assert_eq!(
            r.note(Contact::Unreachable, at(3700), at(3700), HOUR),
            ReachEvent::StillDown {
                down_for: HOUR,
                last_contact: Some(at(5))
            }
        );
        // Not again within the hour…
        assert_eq!(
            r.note(Contact::Unreachable, at(5000), at(7000), HOUR),
            ReachEvent::Quiet
        );
        // …but once it has passed.
        assert!(matches!(
            r.note(Contact::Unreachable, at(7300), at(7300), HOUR),
            ReachEvent::StillDown { .. }
        ));
        // Runs that did not talk to the shop change nothing.
        assert_eq!(
            r.note(Contact::NotTried, at(7400), at(7400), HOUR),
            ReachEvent::Quiet
        );
        assert_eq!(
            r.note(Contact::Reached, at(8000), at(8100), HOUR),
            ReachEvent::Recovered {
                down_for: TimeDelta::seconds(8000),
                alerted: true
            }
        );
        // A new outage starts a new clock.
        assert_eq!(
            r.note(Contact::Unreachable, at(8200), at(8300), HOUR),
            ReachEvent::Quiet
        );
        assert_eq!(r.down_since(), Some(at(8200)));
    }

    #[test]
    fn an_outage_starts_after_the_last_answer() {
        let mut r = Reachability::default();
        // A run started at 0 fails at 500; another reached the shop at 300 meanwhile.
        r.note(Contact::Reached, at(200), at(300), HOUR);
        r.note(Contact::Unreachable, at(0), at(500), HOUR);
        assert_eq!(r.down_since(), Some(at(300)));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(TimeDelta::milliseconds(4200)), "4.2 s");
        assert_eq!(human_duration(TimeDelta::seconds(723)), "12 min 3 s");
        assert_eq!(human_duration(TimeDelta::seconds(3900)), "1 h 5 min");
        assert_eq!(human_duration(TimeDelta::seconds(-5)), "0.0 s");
    }
}
