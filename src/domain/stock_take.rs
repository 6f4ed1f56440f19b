//! Stock takes: codes whose shop figure disagreed with ours, waiting for someone to count them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One code to count: what we last gave the shop, what the shop showed instead, and since when
/// the figures disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockTake {
    pub code: String,
    /// The figure we had pushed (our stock as the shop should show it).
    #[serde(with = "rust_decimal::serde::str")]
    pub ours: Decimal,
    /// What the shop showed instead (at the latest check).
    #[serde(with = "rust_decimal::serde::str")]
    pub shop: Decimal,
    /// The first discrepancy since the code was last counted.
    pub since: DateTime<Utc>,
}

/// The codes to count of one store, by code.
pub type StockTakes = BTreeMap<String, StockTake>;

/// Records a discrepancy of `code`: a new entry, or the newest figures of an open one (its
/// `since` stays, so the list says how long the code has been waiting for a count).
pub fn note_discrepancy(
    takes: &mut StockTakes,
    code: &str,
    ours: Decimal,
    shop: Decimal,
    now: DateTime<Utc>,
) {
    takes
        .entry(code.to_owned())
        .and_modify(|take| {
            take.ours = ours;
            take.shop = shop;
        })
        .or_insert_with(|| StockTake {
            code: code.to_owned(),
            ours,
            shop,
            since: now,
        });
}

/// A count of `codes` was recorded: they leave the list (codes compare case-insensitively,
/// as operators type them). Tells whether anything was removed.
pub fn counted<'a>(takes: &mut StockTakes, codes: impl IntoIterator<Item = &'a str>) -> bool {
    let mut removed = false;
    for code in codes {
        let before = takes.len();
        takes.retain(|key, _| !key.eq_ignore_ascii_case(code.trim()));
        removed |= takes.len() != before;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testutil::{dec, t0};

    #[test]
    fn a_repeated_discrepancy_keeps_its_first_time_and_takes_the_newest_figures() {
        let mut takes = StockTakes::new();
        note_discrepancy(&mut takes, "A", dec("5"), dec("3"), t0());
        let later = t0() + chrono::TimeDelta::minutes(10);
        note_discrepancy(&mut takes, "A", dec("6"), dec("2"), later);
        let take = &takes["A"];
        assert_eq!(
            (take.ours, take.shop, take.since),
            (dec("6"), dec("2"), t0())
        );
    }

    #[test]
    fn a_count_clears_the_code_whatever_its_case() {
        let mut takes = StockTakes::new();
        note_discrepancy(&mut takes, "Tri-042/M", dec("5"), dec("3"), t0());
        note_discrepancy(&mut takes, "B", dec("1"), dec("0"), t0());
        assert!(!counted(&mut takes, ["C"]));
        assert!(counted(&mut takes, ["tri-042/m"]));
        assert_eq!(takes.keys().collect::<Vec<_>>(), vec!["B"]);
    }
}
