//! When a change named by the shop's orders feed needs a detail read: the re-read rule.
//!
//! Shop times have whole seconds. A change time equal to the one of the version we hold may
//! hide a second edit made later in that same second (e.g. right after our own status push),
//! so it is read again, unless our read of that version happened at least a second after its
//! change time: then every edit of that second was already in what we read.

use chrono::{DateTime, TimeDelta, Utc};

/// What we know about the version of an order we last read: its shop change time and the shop
/// time at which we read it (the response's `Date` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadMark {
    /// The shop's `changeTime` of the version read.
    pub changed_at: Option<DateTime<Utc>>,
    /// The shop's clock when it answered the read; `None` when unknown (a shop that sent no
    /// `Date`, or a version read before this was recorded).
    pub read_at: Option<DateTime<Utc>>,
}

impl ReadMark {
    /// Whether the version read already holds every edit up to `change_time`: the change is
    /// older than the version read, or equal to it and read at least a second later.
    pub fn covers(&self, change_time: DateTime<Utc>) -> bool {
        let Some(changed_at) = self.changed_at else {
            return false;
        };
        if changed_at > change_time {
            return true;
        }
        changed_at == change_time && self.settled()
    }

    /// The read happened at least a whole second after the change time: no edit of that
    /// second can be missing from it.
    pub fn settled(&self) -> bool {
        match (self.changed_at, self.read_at) {
            (Some(changed_at), Some(read_at)) => read_at >= changed_at + TimeDelta::seconds(1),
            _ => false,
        }
    }
}

impl super::Order {
    /// The version of this order we hold, and when we read it.
    pub fn read_mark(&self) -> ReadMark {
        ReadMark {
            changed_at: self.shop_changed_at,
            read_at: self.shop_read_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 14, 9, 41, second)
            .single()
            .unwrap_or_default()
    }

    fn mark(changed: u32, read: Option<u32>) -> ReadMark {
        ReadMark {
            changed_at: Some(at(changed)),
            read_at: read.map(at),
        }
    }

    #[test]
    fn an_older_change_is_covered() {
        assert!(mark(10, None).covers(at(9)));
    }

    #[test]
    fn a_newer_change_is_not_covered() {
        assert!(!mark(10, Some(30)).covers(at(11)));
    }

    #[test]
    fn an_equal_change_read_in_the_same_second_is_read_again() {
        assert!(!mark(10, Some(10)).covers(at(10)));
    }

    #[test]
    fn an_equal_change_read_a_second_later_is_covered() {
        assert!(mark(10, Some(11)).covers(at(10)));
        assert!(mark(10, Some(50)).covers(at(10)));
    }

    #[test]
    fn an_unknown_read_time_or_version_covers_nothing_equal() {
        assert!(!mark(10, None).covers(at(10)));
        assert!(!ReadMark::default().covers(at(10)));
    }
}
