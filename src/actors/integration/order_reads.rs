//! Which orders one read of the change feed needs to read in detail, and reading them.
//!
//! A feed read is planned in the actor against what it already holds (one lookup per change,
//! no copy of all held orders): a change is read unless the version we hold covers it (see
//! [`ReadMark`]: older, or equal and read at least a second after its change time). The
//! details are then read three at a time, each with the shop time of its answer.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};

use super::IntegrationActor;
use crate::domain::ReadMark;
use crate::shoptet::{OrderChange, OrderDetail, Page, ShoptetClient, ShoptetError};

/// Requests in flight per store for detail reads (Shoptet's cap per token is 3).
const DETAIL_CONCURRENCY: usize = 3;

/// The retry set as one read of the feed uses it.
pub(super) struct RetryRead {
    /// Codes to read again (with the run's first read).
    pub read: Vec<String>,
    /// Dismissed unreadable orders: their feed changes up to this time are not read again.
    pub dismissed: HashMap<String, DateTime<Utc>>,
}

/// What one feed read asks to be read in detail.
pub(super) struct ReadPlan {
    /// Codes whose detail is read, in feed order (retry-set codes last).
    pub to_fetch: Vec<String>,
    /// The feed's change time per code to read.
    pub change_times: HashMap<String, DateTime<Utc>>,
    /// Deleted in the shop (the feed says so).
    pub deleted: Vec<String>,
    /// Changes this read brought that the run had not seen before.
    pub new_changes: usize,
    /// Newest change time of the read.
    pub newest: Option<DateTime<Utc>>,
    /// The read returned every change from `from` on.
    pub complete: bool,
}

/// What one read of the change feed brought, details included.
pub(super) struct OrdersBatch {
    /// Each detail read with the shop time of the answer (its `Date`; when the shop sent
    /// none, the newest change time of the feed read before it — a shop time already past).
    pub details: Vec<(OrderDetail, Option<DateTime<Utc>>)>,
    /// Deleted in the shop (feed says so, or the detail is gone).
    pub deleted: Vec<String>,
    /// Details that could not be read (not an outage): code, the feed's change time (none for
    /// a retry-set code the feed did not name) and the reason.
    pub unreadable: Vec<(String, Option<DateTime<Utc>>, String)>,
    /// Changes this read brought that the run had not seen before.
    pub new_changes: usize,
    /// Newest change time of the read.
    pub newest: Option<DateTime<Utc>>,
    /// The read returned every change from `from` on.
    pub complete: bool,
    /// Details actually requested (the bench's "reads per change").
    pub reads: usize,
}

impl IntegrationActor {
    /// What we know about the version of `code` we last read: the held order's, or the read of
    /// an order we did not keep.
    pub(super) fn read_mark(&self, code: &str) -> Option<ReadMark> {
        match self.orders.get(code) {
            Some(order) => Some(order.read_mark()),
            None => self.unheld_reads.get(code).copied(),
        }
    }

    /// Decides which changes of one feed read need a detail read. `seen` holds the changes the
    /// run already read (a re-query from the newest time returns that second again).
    pub(super) fn plan_order_reads(
        &self,
        page: Page<OrderChange>,
        seen: &mut HashSet<(String, DateTime<Utc>)>,
        retry: RetryRead,
    ) -> ReadPlan {
        let mut plan = ReadPlan {
            to_fetch: Vec::new(),
            change_times: HashMap::new(),
            deleted: Vec::new(),
            new_changes: 0,
            newest: None,
            complete: !page.has_next(),
        };
        let mut queued: HashSet<String> = HashSet::new();
        for change in page.items {
            plan.newest = plan.newest.max(Some(change.change_time));
            // Read already in this run (the same change seen again after a re-query).
            if !seen.insert((change.code.clone(), change.change_time)) {
                continue;
            }
            plan.new_changes += 1;
            if change.change_type.is_delete() {
                plan.deleted.push(change.code);
                continue;
            }
            // The version we hold already has this change (an equal time only when read at
            // least a second after it: a later edit of that second would be missing).
            if self
                .read_mark(change.code.trim())
                .is_some_and(|mark| mark.covers(change.change_time))
            {
                continue;
            }
            // An operator gave up on this change of an unreadable order.
            if retry
                .dismissed
                .get(&change.code)
                .is_some_and(|at| change.change_time <= *at)
            {
                continue;
            }
            plan.change_times
                .insert(change.code.clone(), change.change_time);
            if queued.insert(change.code.clone()) {
                plan.to_fetch.push(change.code);
            }
        }
        for code in retry.read {
            if !queued.contains(&code) && !plan.deleted.contains(&code) {
                queued.insert(code.clone());
                plan.to_fetch.push(code);
            }
        }
        plan
    }
}

/// Reads the details `plan` names, three at a time. An outage fails the read whole (the
/// cursor stays where it was); a detail that is gone counts as deleted.
pub(super) async fn fetch_order_details(
    client: ShoptetClient,
    plan: ReadPlan,
) -> Result<OrdersBatch, ShoptetError> {
    let ReadPlan {
        to_fetch,
        change_times,
        mut deleted,
        new_changes,
        newest,
        complete,
    } = plan;
    let reads = to_fetch.len();
    let results: Vec<(String, Result<_, ShoptetError>)> = stream::iter(to_fetch)
        .map(|code| {
            let client = client.clone();
            async move {
                let result = client.order_detail_read(&code).await;
                (code, result)
            }
        })
        .buffered(DETAIL_CONCURRENCY)
        .collect()
        .await;
    let mut details = Vec::new();
    let mut unreadable = Vec::new();
    for (code, result) in results {
        match result {
            Ok(read) => {
                let read_at = read.read_at.or(newest);
                details.push((read.detail, read_at));
            }
            Err(ShoptetError::NotFound { .. }) => deleted.push(code),
            Err(err) if err.is_transient() || err.needs_operator() => return Err(err),
            Err(err) => {
                let at = change_times.get(&code).copied();
                unreadable.push((code, at, err.to_string()));
            }
        }
    }
    Ok(OrdersBatch {
        details,
        deleted,
        unreadable,
        new_changes,
        newest,
        complete,
        reads,
    })
}
