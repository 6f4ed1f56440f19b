//! The cheap change-feed poll: independent of the sync interval, an active store reads one page
//! of `/api/orders/changes?from=<cursor>` every `feed_poll` and starts the order import only
//! when the feed names a change newer than what the store holds. A verified webhook only wakes
//! this poll ([`WakeOrders`]), coalesced: wakes that arrive while a poll or an import is in
//! flight become one more poll afterwards, and wake-driven polls are spaced by
//! [`WAKE_MIN_GAP`], so a flood of events costs a few feed reads. The feed stays the only
//! source of truth: a forged, replayed or lost webhook cannot change data.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::IntegrationActor;
use crate::actors::messages::SyncKind;
use crate::domain::webhook::FeedPollStatus;
use crate::shoptet::api::ORDER_CHANGES_PAGE_MAX;
use crate::shoptet::{OrderChange, Page, ShoptetError};

/// Wake-driven polls are at least this far apart (a webhook flood costs a few reads).
pub const WAKE_MIN_GAP: Duration = Duration::from_millis(500);

/// Wakes the store's order reader: a hint that the shop changed something (a verified webhook).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct WakeOrders;

/// The poll timer fired.
#[derive(Message)]
#[rtype(result = "()")]
struct PollTick;

/// Poll state and counters of one store.
#[derive(Default)]
pub(super) struct FeedPoll {
    timer: Option<(SpawnHandle, Instant)>,
    running: bool,
    /// A wake arrived while a poll or an import was in flight: poll once more afterwards.
    again: bool,
    last_poll: Option<Instant>,
    /// Feed reads made by the poll.
    pub polls: u64,
    /// Polls that found something new and started the import.
    pub imports_started: u64,
    /// Wakes received (verified webhooks).
    pub wakes: u64,
    /// Polls skipped because the shop's bucket was above the throttle threshold.
    pub throttled: u64,
}

impl IntegrationActor {
    /// The poll period, `None` when off (0) or the store is not importing on its own.
    fn feed_poll_period(&self) -> Option<Duration> {
        let every = self.settings.feed_poll;
        (!every.is_zero() && self.integration.is_active() && self.integration.auto_order_import)
            .then_some(every)
    }

    /// Counters of the poll.
    pub(super) fn feed_poll_stats(&self) -> FeedPollStatus {
        FeedPollStatus {
            every_secs: self.feed_poll_period().map_or(0, |d| d.as_secs()),
            polls: self.feed_poll.polls,
            imports_started: self.feed_poll.imports_started,
            wakes: self.feed_poll.wakes,
            throttled: self.feed_poll.throttled,
        }
    }

    /// Sets the next poll within `delay` (an earlier timer is kept).
    pub(super) fn schedule_feed_poll(&mut self, ctx: &mut Context<Self>, delay: Duration) {
        if self.stopping {
            return;
        }
        let due = Instant::now() + delay;
        if let Some((handle, at)) = self.feed_poll.timer {
            if at <= due {
                return;
            }
            ctx.cancel_future(handle);
        }
        let handle = ctx.notify_later(PollTick, delay);
        self.feed_poll.timer = Some((handle, due));
    }

    /// Stops polling (deactivation).
    pub(super) fn cancel_feed_poll(&mut self, ctx: &mut Context<Self>) {
        if let Some((handle, _)) = self.feed_poll.timer.take() {
            ctx.cancel_future(handle);
        }
        self.feed_poll.again = false;
    }

    /// After an order import: a wake that came during it gets its poll now.
    pub(super) fn after_orders_run(&mut self, ctx: &mut Context<Self>) {
        if self.feed_poll.again {
            self.feed_poll.again = false;
            self.schedule_feed_poll(ctx, self.wake_delay());
        }
    }

    /// How long a wake waits so that wake-driven polls stay [`WAKE_MIN_GAP`] apart.
    fn wake_delay(&self) -> Duration {
        self.feed_poll.last_poll.map_or(Duration::ZERO, |at| {
            WAKE_MIN_GAP.saturating_sub(at.elapsed())
        })
    }

    fn bucket_nearly_full(&self) -> bool {
        self.client
            .as_ref()
            .is_some_and(crate::shoptet::ShoptetClient::bucket_above_threshold)
    }

    /// One poll: a feed read, then the import if the feed shows news.
    fn poll_feed(&mut self, ctx: &mut Context<Self>) {
        let Some(period) = self.feed_poll_period() else {
            return;
        };
        if self.stopping || self.feed_poll.running {
            return;
        }
        if self.is_running(SyncKind::Orders) {
            // The import reads the feed itself; poll again once it is over.
            self.feed_poll.again = true;
            self.schedule_feed_poll(ctx, period);
            return;
        }
        if self.bucket_nearly_full() {
            self.feed_poll.throttled += 1;
            self.schedule_feed_poll(ctx, period);
            return;
        }
        let Some(from) = self.sync.orders_cursor else {
            // No import yet: the first import sets the cursor.
            self.feed_poll.imports_started += 1;
            self.try_start(ctx, SyncKind::Orders);
            self.schedule_feed_poll(ctx, period);
            return;
        };
        let Ok(client) = self.client() else {
            self.schedule_feed_poll(ctx, period);
            return;
        };
        self.feed_poll.running = true;
        self.feed_poll.polls += 1;
        self.feed_poll.last_poll = Some(Instant::now());
        let fut = async move { client.order_changes(from, 1, ORDER_CHANGES_PAGE_MAX).await };
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.feed_poll.running = false;
            act.apply_feed_poll(ctx, result);
            if let Some(period) = act.feed_poll_period() {
                act.schedule_feed_poll(ctx, period);
            }
        }));
    }

    fn apply_feed_poll(
        &mut self,
        ctx: &mut Context<Self>,
        result: Result<Page<OrderChange>, ShoptetError>,
    ) {
        let page = match result {
            Ok(page) => page,
            Err(err) => {
                // The scheduled import reports outages; the poll just tries again later.
                tracing::debug!(store = %self.integration.name, error = %err, "feed poll failed");
                return;
            }
        };
        if self.feed_has_news(page) {
            self.feed_poll.imports_started += 1;
            self.try_start(ctx, SyncKind::Orders);
        } else if self.feed_poll.again {
            self.feed_poll.again = false;
            self.schedule_feed_poll(ctx, self.wake_delay().max(WAKE_MIN_GAP));
        }
    }
}

impl IntegrationActor {
    /// Whether a feed page names a change the store does not hold yet, by the import's own
    /// re-read rule ([`IntegrationActor::plan_order_reads`]): an order whose held version does
    /// not cover the change, or a deletion of one it holds. An unreadable order the import
    /// retries anyway is news only with a newer change.
    fn feed_has_news(&self, page: Page<OrderChange>) -> bool {
        let mut seen = HashSet::new();
        let plan = self.plan_order_reads(page, &mut seen, self.retry_read(false));
        if !plan.complete {
            return true;
        }
        let deleted_held = plan
            .deleted
            .iter()
            .any(|code| self.orders.get(code).is_some());
        let new_reads = plan
            .to_fetch
            .iter()
            .any(|code| match self.sync.order_retry.get(code) {
                Some(retry) => {
                    let changed = plan.change_times.get(code).copied();
                    changed.is_some_and(|at| retry.change_time.is_none_or(|failed| at > failed))
                }
                None => true,
            });
        deleted_held || new_reads
    }
}

impl Handler<PollTick> for IntegrationActor {
    type Result = ();
    fn handle(&mut self, _: PollTick, ctx: &mut Self::Context) {
        self.feed_poll.timer = None;
        self.poll_feed(ctx);
    }
}

impl Handler<WakeOrders> for IntegrationActor {
    type Result = ();
    fn handle(&mut self, _: WakeOrders, ctx: &mut Self::Context) {
        self.feed_poll.wakes += 1;
        if self.feed_poll_period().is_none() && !self.integration.is_active() {
            return;
        }
        if self.feed_poll.running || self.is_running(SyncKind::Orders) {
            self.feed_poll.again = true;
            return;
        }
        let delay = self.wake_delay();
        if delay.is_zero() {
            if let Some((handle, _)) = self.feed_poll.timer.take() {
                ctx.cancel_future(handle);
            }
            self.poll_feed_now(ctx);
        } else {
            self.schedule_feed_poll(ctx, delay);
        }
    }
}

impl IntegrationActor {
    /// A wake polls even when the periodic poll is off (webhooks without polling).
    fn poll_feed_now(&mut self, ctx: &mut Context<Self>) {
        if self.feed_poll_period().is_some() {
            self.poll_feed(ctx);
        } else if self.integration.is_active() && self.integration.auto_order_import {
            // Polling off: a wake runs the import directly (still coalesced by the run).
            self.try_start(ctx, SyncKind::Orders);
        }
    }
}
