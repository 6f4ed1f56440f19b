//! Reports: health per store, fulfilment over a date range, inventory sync.
//!
//! Pure functions over slices of stored records with `now` passed in. Records of
//! other integrations in the slices are ignored, so callers may pass wider sets.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::DomainError;
use super::integration::{
    HealthStatus, Integration, IntegrationCounts, IntegrationId, IntegrationStatus,
};
use super::log::{ErrorLog, SyncLog, SyncType};
use super::order::{FulfillmentGrade, Order, OrderStatus, SLA_PROCESSING_TIME};
use super::outbox::{OutboxEntry, OutboxState};
use super::product::Product;

/// The health report lists syncs started within this window…
pub const RECENT_SYNC_WINDOW: TimeDelta = TimeDelta::days(7);
/// …at most this many, newest first.
pub const RECENT_SYNC_LIMIT: usize = 10;
/// The health report lists at most this many unresolved errors, newest first.
pub const UNRESOLVED_ERROR_LIMIT: usize = 5;

/// The state of one integration at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub integration_id: IntegrationId,
    pub name: String,
    pub status: IntegrationStatus,
    pub health: HealthStatus,
    pub last_sync: Option<DateTime<Utc>>,
    pub seconds_since_last_sync: Option<i64>,
    pub counts: IntegrationCounts,
    /// Sync runs (not System events) of the last 7 days, newest first, at most 10.
    pub recent_syncs: Vec<SyncLog>,
    /// All unresolved errors (`unresolved_errors` shows only the newest few).
    pub unresolved_error_count: u64,
    /// Unresolved errors, newest first, at most 5.
    pub unresolved_errors: Vec<ErrorLog>,
    /// Outbox entries still to be sent to the shop.
    pub outbox_pending: u64,
    /// Outbox entries that gave up and wait for an operator.
    pub outbox_dead_letters: u64,
}

impl HealthReport {
    /// Builds the report; System log entries (activation, credentials…) are events,
    /// not syncs, and are left out of `recent_syncs`.
    pub fn build(
        integration: &Integration,
        orders: &[Order],
        products: &[Product],
        sync_logs: &[SyncLog],
        errors: &[ErrorLog],
        outbox: &[OutboxEntry],
        now: DateTime<Utc>,
    ) -> Self {
        let id = integration.id;
        let mut recent_syncs: Vec<SyncLog> = sync_logs
            .iter()
            .filter(|s| s.integration_id == id && s.sync_type != SyncType::System)
            .filter(|s| s.started_at > now - RECENT_SYNC_WINDOW)
            .cloned()
            .collect();
        recent_syncs.sort_by_key(|s| std::cmp::Reverse(s.started_at));
        recent_syncs.truncate(RECENT_SYNC_LIMIT);

        let mut unresolved_errors: Vec<ErrorLog> = errors
            .iter()
            .filter(|e| e.integration_id == id && !e.is_resolved())
            .cloned()
            .collect();
        unresolved_errors.sort_by_key(|e| std::cmp::Reverse(e.occurred_at));
        let unresolved_error_count = unresolved_errors.len() as u64;
        unresolved_errors.truncate(UNRESOLVED_ERROR_LIMIT);

        let (mut outbox_pending, mut outbox_dead_letters) = (0u64, 0u64);
        for entry in outbox.iter().filter(|e| e.integration_id == id) {
            match entry.state {
                OutboxState::Pending => outbox_pending += 1,
                OutboxState::DeadLetter => outbox_dead_letters += 1,
            }
        }

        Self {
            integration_id: id,
            name: integration.name.clone(),
            status: integration.status,
            health: integration.health(now, errors),
            last_sync: integration.last_sync,
            seconds_since_last_sync: integration
                .time_since_last_sync(now)
                .map(|d| d.num_seconds()),
            counts: IntegrationCounts::of(id, orders, products),
            recent_syncs,
            unresolved_error_count,
            unresolved_errors,
            outbox_pending,
            outbox_dead_letters,
        }
    }
}

/// How orders imported in a date range were fulfilled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentReport {
    pub integration_id: IntegrationId,
    /// The integration's name, so the report stands on its own.
    pub name: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub total_orders: u64,
    pub orders_by_status: BTreeMap<OrderStatus, u64>,
    pub grades: BTreeMap<FulfillmentGrade, u64>,
    /// Orders the SLA applies to: not cancelled, and either processed or imported more
    /// than 24 h before `now` (an order still waiting after 24 h has missed it; one
    /// imported an hour ago has not had its chance yet).
    pub sla_eligible: u64,
    pub sla_met: u64,
    /// `sla_met` / `sla_eligible` in percent, two decimals; `None` without eligible orders.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub sla_met_percent: Option<Decimal>,
    /// Mean import → processing start over processed orders, whole seconds.
    pub mean_processing_seconds: Option<i64>,
    /// Mean processing start → shipping over shipped orders, whole seconds.
    pub mean_shipping_seconds: Option<i64>,
}

fn mean_seconds(values: impl Iterator<Item = TimeDelta>) -> Option<i64> {
    let (sum, count) = values.fold((0i128, 0i128), |(s, c), d| {
        (s + i128::from(d.num_seconds()), c + 1)
    });
    (count > 0).then(|| i64::try_from(sum / count).unwrap_or(i64::MAX))
}

impl FulfillmentReport {
    /// Builds the report over orders of `integration` imported in `[from, to)` (half-open, so consecutive
    /// reports never count an order twice).
    pub fn build(
        integration: &Integration,
        orders: &[Order],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        if from >= to {
            return Err(DomainError::InvalidArgument {
                field: "date range",
                reason: format!("start {from} is after end {to}"),
            });
        }
        let integration_id = integration.id;
        let in_range: Vec<&Order> = orders
            .iter()
            .filter(|o| o.integration_id == integration_id)
            .filter(|o| o.imported_at >= from && o.imported_at < to)
            .collect();

        let mut orders_by_status = BTreeMap::new();
        let mut grades = BTreeMap::new();
        let (mut sla_eligible, mut sla_met) = (0u64, 0u64);
        for order in &in_range {
            *orders_by_status.entry(order.status).or_insert(0) += 1;
            let summary = order.fulfillment_summary();
            *grades.entry(summary.grade()).or_insert(0) += 1;
            let eligible = order.status != OrderStatus::Cancelled
                && (order.processed_at.is_some() || now - order.imported_at > SLA_PROCESSING_TIME);
            if eligible {
                sla_eligible += 1;
                if summary.meets_sla() {
                    sla_met += 1;
                }
            }
        }
        let sla_met_percent = (sla_eligible > 0).then(|| {
            (Decimal::from(sla_met) * Decimal::ONE_HUNDRED / Decimal::from(sla_eligible))
                .round_dp(2)
        });
        Ok(Self {
            integration_id,
            name: integration.name.clone(),
            from,
            to,
            total_orders: in_range.len() as u64,
            orders_by_status,
            grades,
            sla_eligible,
            sla_met,
            sla_met_percent,
            mean_processing_seconds: mean_seconds(
                in_range.iter().filter_map(|o| o.processing_time()),
            ),
            mean_shipping_seconds: mean_seconds(in_range.iter().filter_map(|o| o.shipping_time())),
        })
    }
}

/// How the stock push of one integration stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryReport {
    pub integration_id: IntegrationId,
    /// The integration's name, so the report stands on its own.
    pub name: String,
    /// The warehouse whose stock is pushed to the shop.
    pub warehouse_code: String,
    pub total_products: u64,
    /// Sync-enabled products that have been synced at least once.
    pub products_synced: u64,
    /// Sync-enabled products not synced within the last hour.
    pub products_needing_sync: u64,
    pub out_of_stock: u64,
    /// Stock above zero and at most the integration's low-stock threshold.
    pub low_stock: u64,
    pub sync_disabled: u64,
    /// End of the last inventory sync that went through.
    pub last_push: Option<DateTime<Utc>>,
    /// Unresolved "inventory discrepancy detected" errors.
    pub open_discrepancies: u64,
}

impl InventoryReport {
    /// Builds the report from the integration's products and error log.
    pub fn build(
        integration: &Integration,
        products: &[Product],
        errors: &[ErrorLog],
        now: DateTime<Utc>,
    ) -> Self {
        let id = integration.id;
        let mut report = Self {
            integration_id: id,
            name: integration.name.clone(),
            warehouse_code: integration.default_warehouse_code.clone(),
            total_products: 0,
            products_synced: 0,
            products_needing_sync: 0,
            out_of_stock: 0,
            low_stock: 0,
            sync_disabled: 0,
            last_push: integration.last_inventory_sync,
            open_discrepancies: errors
                .iter()
                .filter(|e| e.integration_id == id && e.is_open_discrepancy())
                .count() as u64,
        };
        for p in products.iter().filter(|p| p.integration_id == id) {
            report.total_products += 1;
            if p.sync_enabled {
                report.products_synced += u64::from(p.last_sync.is_some());
                report.products_needing_sync += u64::from(p.needs_sync(now));
            } else {
                report.sync_disabled += 1;
            }
            report.out_of_stock += u64::from(p.is_out_of_stock());
            report.low_stock += u64::from(p.is_low_stock(integration.low_stock_threshold));
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::integration::{Credentials, Secret, SyncOutcome, SyncRun};
    use crate::domain::log::{ErrorSeverity, SyncStatus};
    use crate::domain::order::tests::sample_order;
    use crate::domain::outbox::OutboxAction;
    use crate::domain::testutil::{dec, t0};
    use uuid::Uuid;

    fn at(hours: i64) -> DateTime<Utc> {
        t0() + TimeDelta::hours(hours)
    }

    fn integration() -> Integration {
        let mut i = Integration::new("A", "https://a.example", t0()).unwrap();
        i.update_credentials(Credentials::PrivateToken(Secret::new("t")), t0())
            .unwrap();
        i.activate(t0()).unwrap();
        i
    }

    fn sync_log(i: &mut Integration, start: DateTime<Utc>, sync_type: SyncType) -> SyncLog {
        i.record_sync(SyncRun {
            sync_type,
            started_at: start,
            finished_at: start + TimeDelta::seconds(10),
            records_processed: 1,
            error_count: 0,
            outcome: SyncOutcome::Finished,
            notes: None,
        })
        .unwrap()
    }

    fn error(id: IntegrationId, at: DateTime<Utc>, message: &str) -> ErrorLog {
        ErrorLog::new(id, message, None, None, ErrorSeverity::Medium, at).unwrap()
    }

    #[test]
    fn health_report_selects_recent_syncs_and_newest_errors() {
        let mut i = integration();
        let now = at(24 * 10);
        let mut logs: Vec<SyncLog> = (0..15)
            .map(|h| sync_log(&mut i, now - TimeDelta::hours(h), SyncType::Orders))
            .collect();
        logs.push(sync_log(&mut i, now - TimeDelta::days(8), SyncType::Orders));
        logs.push(SyncLog::event(i.id, "Integration activated".into(), now));
        let mut foreign = logs[0].clone();
        foreign.integration_id = Uuid::new_v4();
        logs.push(foreign);
        // Shuffle the input order: the report must sort.
        logs.reverse();

        let mut errors: Vec<ErrorLog> = (0..8)
            .map(|h| error(i.id, now - TimeDelta::hours(h), "e"))
            .collect();
        errors[0].resolve("ops", "done", now).unwrap();
        errors.reverse();

        let orders = [sample_order(i.id, "1"), sample_order(i.id, "2")];
        let push = |seq: u64, owner: IntegrationId| {
            OutboxEntry::new(
                owner,
                seq,
                "1",
                OutboxAction::SetStatus { status_id: -2 },
                now,
            )
        };
        let mut dead = push(3, i.id);
        dead.record_failure("503", now, 1);
        let outbox = [push(1, i.id), push(2, i.id), dead, push(4, Uuid::new_v4())];
        let r = HealthReport::build(&i, &orders, &[], &logs, &errors, &outbox, now);
        assert_eq!(r.name, "A");
        assert_eq!((r.outbox_pending, r.outbox_dead_letters), (2, 1));
        assert_eq!(
            r.unresolved_error_count, 7,
            "all unresolved, not only those listed"
        );
        assert_eq!(r.recent_syncs.len(), 10);
        assert!(
            r.recent_syncs
                .iter()
                .all(|s| s.sync_type != SyncType::System)
        );
        assert!(r.recent_syncs.iter().all(|s| s.integration_id == i.id));
        assert_eq!(r.recent_syncs[0].started_at, now);
        assert!(
            r.recent_syncs
                .windows(2)
                .all(|w| w[0].started_at >= w[1].started_at)
        );
        assert_eq!(r.unresolved_errors.len(), 5);
        assert_eq!(
            r.unresolved_errors[0].occurred_at,
            now - TimeDelta::hours(1)
        );
        assert!(r.unresolved_errors.iter().all(|e| !e.is_resolved()));
        assert_eq!(r.counts.total_orders, 2);
        assert_eq!(r.counts.pending_orders, 2);
        assert_eq!(
            r.health,
            HealthStatus::Warning,
            "7 unresolved errors in 24 h"
        );
        assert_eq!(r.seconds_since_last_sync, Some(-10));
        assert!(
            r.recent_syncs
                .iter()
                .all(|s| s.status == SyncStatus::Completed)
        );
    }

    fn processed(i: IntegrationId, code: &str, imported: DateTime<Utc>, after_h: i64) -> Order {
        let mut o = sample_order(i, code);
        o.imported_at = imported;
        o.start_processing("p", imported + TimeDelta::hours(after_h))
            .unwrap();
        o.ship("T", None, imported + TimeDelta::hours(after_h + 2))
            .unwrap();
        o
    }

    #[test]
    fn fulfilment_report_over_range() {
        let integration = integration();
        let i = integration.id;
        let now = at(100);
        let mut waiting_long = sample_order(i, "w1");
        waiting_long.imported_at = at(0);
        let mut waiting_short = sample_order(i, "w2");
        waiting_short.imported_at = at(99);
        let mut cancelled = sample_order(i, "c");
        cancelled.imported_at = at(1);
        cancelled.cancel("x", at(2)).unwrap();
        let mut outside = processed(i, "o", at(-10), 1);
        outside.imported_at = at(-10);
        let mut foreign = processed(i, "f", at(5), 1);
        foreign.integration_id = Uuid::new_v4();
        let orders = vec![
            processed(i, "e", at(1), 1),  // Excellent, 1 h, ships 2 h later
            processed(i, "g", at(2), 5),  // Good, 5 h
            processed(i, "d", at(3), 30), // Delayed, 30 h
            waiting_long,
            waiting_short,
            cancelled,
            outside,
            foreign,
        ];
        let r = FulfillmentReport::build(&integration, &orders, at(0), at(100), now).unwrap();
        assert_eq!((r.integration_id, r.name.as_str()), (i, "A"));
        assert_eq!(r.total_orders, 6);
        assert_eq!(r.orders_by_status.get(&OrderStatus::Shipped), Some(&3));
        assert_eq!(r.orders_by_status.get(&OrderStatus::Imported), Some(&2));
        assert_eq!(r.orders_by_status.get(&OrderStatus::Cancelled), Some(&1));
        assert_eq!(r.grades.get(&FulfillmentGrade::Excellent), Some(&1));
        assert_eq!(r.grades.get(&FulfillmentGrade::Good), Some(&1));
        assert_eq!(r.grades.get(&FulfillmentGrade::Delayed), Some(&1));
        assert_eq!(r.grades.get(&FulfillmentGrade::InProgress), Some(&2));
        assert_eq!(r.grades.get(&FulfillmentGrade::Cancelled), Some(&1));
        // Eligible: e, g, d, waiting_long. Met: e, g.
        assert_eq!((r.sla_eligible, r.sla_met), (4, 2));
        assert_eq!(r.sla_met_percent, Some(dec("50")));
        assert_eq!(r.mean_processing_seconds, Some(12 * 3600));
        assert_eq!(r.mean_shipping_seconds, Some(2 * 3600));
    }

    #[test]
    fn fulfilment_report_edge_cases() {
        let integration = integration();
        let i = integration.id;
        assert!(FulfillmentReport::build(&integration, &[], at(2), at(1), at(3)).is_err());
        let r = FulfillmentReport::build(&integration, &[], at(0), at(1), at(3)).unwrap();
        assert_eq!(r.total_orders, 0);
        assert_eq!(r.sla_met_percent, None);
        assert_eq!(r.mean_processing_seconds, None);
        // The range is half-open: `to` is excluded, `from` included; a third of three is
        // rounded to two decimals.
        let orders = [
            processed(i, "a", at(0), 1),
            processed(i, "b", at(1), 30),
            processed(i, "c", at(1), 40),
            processed(i, "d", at(2), 1),
        ];
        let r = FulfillmentReport::build(&integration, &orders, at(0), at(2), at(100)).unwrap();
        assert_eq!(r.total_orders, 3);
        assert_eq!(r.sla_met_percent, Some(dec("33.33")));
    }

    #[test]
    fn inventory_report_counts() {
        let mut i = integration();
        let now = at(10);
        sync_log(&mut i, at(9), SyncType::Inventory);
        let p = |code: &str, stock: &str, synced: DateTime<Utc>| {
            Product::new(i.id, code, code, dec("1"), dec(stock), true, synced).unwrap()
        };
        let mut disabled = p("D", "3", now);
        disabled.disable_sync("gone").unwrap();
        let mut foreign = p("F", "0", now);
        foreign.integration_id = Uuid::new_v4();
        let products = vec![
            p("A", "0", now),
            p("B", "5", now),
            p("C", "6", at(1)),
            disabled,
            foreign,
        ];
        let mut resolved = ErrorLog::inventory_discrepancy(i.id, "A", dec("1"), dec("2"), now);
        resolved.resolve("ops", "ok", now).unwrap();
        let errors = vec![
            ErrorLog::inventory_discrepancy(i.id, "B", dec("1"), dec("2"), now),
            ErrorLog::inventory_discrepancy(i.id, "C", dec("1"), dec("2"), now),
            ErrorLog::inventory_discrepancy(Uuid::new_v4(), "C", dec("1"), dec("2"), now),
            resolved,
            error(i.id, now, "something else"),
        ];
        let r = InventoryReport::build(&i, &products, &errors, now);
        assert_eq!((r.name.as_str(), r.warehouse_code.as_str()), ("A", "MAIN"));
        assert_eq!(r.total_products, 4);
        assert_eq!(r.products_synced, 3);
        assert_eq!(r.products_needing_sync, 1);
        assert_eq!(r.out_of_stock, 1);
        assert_eq!(r.low_stock, 2, "B (5) and D (3) are within the threshold 5");
        assert_eq!(r.sync_disabled, 1);
        assert_eq!(r.last_push, Some(at(9) + TimeDelta::seconds(10)));
        assert_eq!(r.open_discrepancies, 2);
    }
}
