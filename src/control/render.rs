//! Human output of shoptetctl: aligned tables and short summaries for every response type.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::protocol::{DaemonStatus, IntegrationView, Response, SyncResult};
use crate::domain::{
    ErrorLog, FulfillmentReport, HealthReport, InventoryReport, Money, Order, OutboxAction,
    OutboxEntry, Product, SyncLog,
};

/// Longest cell shown in a table; longer text is cut with an ellipsis.
const MAX_CELL_CHARS: usize = 60;

/// A plain-text table with aligned columns; numeric columns can be right-aligned.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            right: vec![false; headers.len()],
            rows: Vec::new(),
        }
    }

    /// Right-aligns the given columns (0-based).
    pub fn right_align(mut self, columns: &[usize]) -> Self {
        for &column in columns {
            if let Some(flag) = self.right.get_mut(column) {
                *flag = true;
            }
        }
        self
    }

    /// Adds a row; missing cells are blank, extra cells are dropped. Control characters are
    /// replaced (shop data must not drive the terminal) and long cells are cut.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells.into_iter().map(|c| clean_cell(&c)).collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines separated by `\n`, columns two spaces apart, no trailing spaces.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|column| {
                std::iter::once(&self.headers[column])
                    .chain(self.rows.iter().map(|row| &row[column]))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(self.rows.iter()) {
            let mut line = String::new();
            for (column, cell) in row.iter().enumerate() {
                if column > 0 {
                    line.push_str("  ");
                }
                let pad = widths[column] - cell.chars().count();
                if self.right[column] {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn clean_cell(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cleaned.chars().count() > MAX_CELL_CHARS {
        let mut cut: String = cleaned.chars().take(MAX_CELL_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        cleaned
    }
}

/// A serde enum value as a lower snake_case word (`CompletedWithErrors` → `completed_with_errors`).
pub fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => snake_case(&name),
        Ok(serde_json::Value::Object(map)) => {
            map.keys().next().map(|k| snake_case(k)).unwrap_or_default()
        }
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A UTC time as `2026-11-02 08:30`.
pub fn time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

pub(super) fn opt_time(at: &Option<DateTime<Utc>>) -> String {
    at.as_ref().map(time).unwrap_or_else(|| "never".to_owned())
}

pub(super) fn opt(text: &Option<String>) -> String {
    text.clone().unwrap_or_default()
}

fn money(amount: &Money) -> String {
    format!("{} {}", amount.amount, amount.currency)
}

/// A duration in seconds as `1h 02m`, `3m 05s` or `12s`.
pub fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h:02}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    // Empty values (no status reason, no notes, …) are left out rather than shown blank.
    for (key, value) in pairs.iter().filter(|(_, value)| !value.trim().is_empty()) {
        let line = format!("{key:<width$}  {}", clean_cell_long(value));
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

pub(super) fn clean_cell_long(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The human rendering of a successful response.
pub fn render(response: &Response) -> String {
    match response {
        Response::Integration(view) => integration(view),
        Response::Integrations(views) => integrations(views),
        Response::Ack(ack) => format!("{}\n", clean_cell_long(&ack.message)),
        Response::Sync(result) => sync_line(result),
        Response::SyncFull(results) => sync_table(results),
        Response::OrderPage(page) => {
            let mut table = Table::new(&[
                "CODE", "STATUS", "CREATED", "CUSTOMER", "ITEMS", "TOTAL", "TRACKING", "SESSION",
            ])
            .right_align(&[4, 5]);
            for o in &page.items {
                table.row(vec![
                    o.code.clone(),
                    label(&o.status),
                    time(o.shop_created_at.as_ref().unwrap_or(&o.imported_at)),
                    opt(&o.customer_name),
                    o.item_count.to_string(),
                    money(&o.total),
                    opt(&o.tracking_number),
                    opt(&o.picking_session_id),
                ]);
            }
            let pages = page.total.div_ceil(u64::from(page.page_size.max(1))).max(1);
            format!(
                "{}page {} of {pages}, {} order(s) in total\n",
                table.render(),
                page.page,
                page.total
            )
        }
        Response::Order(order) => order_detail(order),
        Response::PickList(list) => {
            let mut table = Table::new(&["CODE", "NAME", "QUANTITY", "ORDERS"]).right_align(&[2]);
            for line in &list.lines {
                table.row(vec![
                    line.product_code.clone(),
                    line.name.clone(),
                    line.quantity.normalize().to_string(),
                    line.order_codes.join(" "),
                ]);
            }
            format!(
                "Pick list for session {} in {} ({} order(s): {})\n{}",
                list.picking_session,
                list.integration,
                list.order_codes.len(),
                list.order_codes.join(" "),
                table.render()
            )
        }
        Response::ProductPage(page) => {
            let mut table = Table::new(&["CODE", "NAME", "PRICE", "STOCK", "SYNC", "ACTIVE"])
                .right_align(&[2, 3]);
            for p in &page.items {
                table.row(vec![
                    p.code.clone(),
                    p.name.clone(),
                    p.price.to_string(),
                    p.stock_quantity.normalize().to_string(),
                    yes_no(p.sync_enabled),
                    yes_no(p.active),
                ]);
            }
            let pages = page.total.div_ceil(u64::from(page.page_size.max(1))).max(1);
            format!(
                "{}page {} of {pages}, {} product(s) in total\n",
                table.render(),
                page.page,
                page.total
            )
        }
        Response::Product(product) => product_detail(product),
        Response::Stock(level) => format!(
            "{} in warehouse {}: {} on hand\n",
            clean_cell_long(&level.product_code),
            level.warehouse_code,
            level.on_hand.normalize()
        ),
        Response::StockBulk(result) => format!(
            "warehouse {}: {} updated, {} unchanged\n",
            result.warehouse_code, result.updated, result.unchanged
        ),
        Response::SyncHistory(logs) => sync_history(logs),
        Response::Errors(errors) => error_table(errors),
        Response::Error(error) => match &error.resolved_at {
            Some(at) => format!(
                "error {} resolved by {} at {}: {}\n",
                error.id,
                error.resolved_by.as_deref().unwrap_or("unknown"),
                time(at),
                clean_cell_long(&opt(&error.resolution))
            ),
            None => format!(
                "error {} ({}) is unresolved: {}\n",
                error.id,
                label(&error.severity),
                clean_cell_long(&error.message)
            ),
        },
        Response::PriceHistory(changes) => super::floor_render::price_history(changes),
        Response::Outbox(entries) => outbox_table(entries),
        Response::OutboxChange(change) => {
            format!(
                "{} ({} entr{})\n",
                clean_cell_long(&change.message),
                change.affected,
                if change.affected == 1 { "y" } else { "ies" }
            )
        }
        Response::Health(report) => health(report),
        Response::Fulfillment(report) => fulfillment(report),
        Response::Inventory(report) => inventory(report),
        Response::DaemonStatus(status) => daemon_status(status),
        Response::Backup(backup) => format!("wrote {} bytes to {}\n", backup.bytes, backup.path),
    }
}

fn yes_no(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_owned()
}

fn integration(view: &IntegrationView) -> String {
    key_values(&[
        ("Name", view.name.clone()),
        ("Status", label(&view.status)),
        ("Status reason", opt(&view.status_reason)),
        ("E-shop", view.eshop_url.clone()),
        ("API", view.api_base_url.clone()),
        (
            "Credentials",
            view.credentials
                .map(|kind| label(&kind))
                .unwrap_or_else(|| "none".to_owned()),
        ),
        ("Warehouse", view.default_warehouse_code.clone()),
        ("Shop stock id", view.shoptet_stock_id.to_string()),
        (
            "Sync interval",
            format!("{} min", view.sync_interval_minutes),
        ),
        (
            "Automatic",
            format!(
                "order import {}, inventory sync {}, status update {}",
                yes_no(view.auto_order_import),
                yes_no(view.auto_inventory_sync),
                yes_no(view.auto_status_update)
            ),
        ),
        ("Low stock at", view.low_stock_threshold.to_string()),
        ("Last sync", opt_time(&view.last_sync)),
        ("Last order sync", opt_time(&view.last_order_sync)),
        ("Last inventory sync", opt_time(&view.last_inventory_sync)),
        ("Id", view.id.to_string()),
    ])
}

fn integrations(views: &[IntegrationView]) -> String {
    if views.is_empty() {
        return "no integrations\n".to_owned();
    }
    let mut table = Table::new(&[
        "NAME",
        "STATUS",
        "CREDENTIALS",
        "WAREHOUSE",
        "INTERVAL",
        "LAST SYNC",
        "E-SHOP",
    ]);
    for v in views {
        table.row(vec![
            v.name.clone(),
            label(&v.status),
            v.credentials
                .map(|kind| label(&kind))
                .unwrap_or_else(|| "none".to_owned()),
            v.default_warehouse_code.clone(),
            format!("{} min", v.sync_interval_minutes),
            opt_time(&v.last_sync),
            v.eshop_url.clone(),
        ]);
    }
    table.render()
}

fn sync_line(result: &SyncResult) -> String {
    if !result.performed {
        return format!(
            "{} sync skipped: {}\n",
            label(&result.sync_type),
            clean_cell_long(&result.message)
        );
    }
    format!(
        "{} sync {}: {} record(s), {} error(s) in {} — {}\n",
        label(&result.sync_type),
        label(&result.status),
        result.records,
        result.errors,
        duration((result.finished_at - result.started_at).num_seconds()),
        clean_cell_long(&result.message)
    )
}

fn sync_table(results: &[SyncResult]) -> String {
    let mut table =
        Table::new(&["TYPE", "STATUS", "RECORDS", "ERRORS", "MESSAGE"]).right_align(&[2, 3]);
    for r in results {
        table.row(vec![
            label(&r.sync_type),
            if r.performed {
                label(&r.status)
            } else {
                "skipped".to_owned()
            },
            r.records.to_string(),
            r.errors.to_string(),
            r.message.clone(),
        ]);
    }
    table.render()
}

fn order_detail(order: &Order) -> String {
    let address = order
        .shipping_address
        .as_ref()
        .map(|a| {
            [
                &a.full_name,
                &a.company,
                &a.street,
                &a.house_number,
                &a.zip,
                &a.city,
                &a.country_code,
            ]
            .iter()
            .filter_map(|part| part.as_deref())
            .collect::<Vec<_>>()
            .join(", ")
        })
        .unwrap_or_default();
    let mut out = key_values(&[
        ("Order", order.code.clone()),
        ("Status", label(&order.status)),
        ("Review reason", opt(&order.review_reason)),
        ("Total", money(&order.total)),
        ("Customer", opt(&order.customer_name)),
        ("E-mail", opt(&order.customer_email)),
        ("Ship to", address),
        ("Created", opt_time(&order.shop_created_at)),
        ("Imported", time(&order.imported_at)),
        ("Processed", opt_time(&order.processed_at)),
        ("Shipped", opt_time(&order.shipped_at)),
        ("Cancelled", opt_time(&order.cancelled_at)),
        ("Picking session", opt(&order.picking_session_id)),
        ("Transport box", opt(&order.transport_box_id)),
        ("Tracking", opt(&order.tracking_number)),
        ("Notes", opt(&order.notes)),
    ]);
    let mut table = Table::new(&["TYPE", "CODE", "NAME", "QUANTITY", "UNIT PRICE", "TOTAL"])
        .right_align(&[3, 4, 5]);
    for item in &order.items {
        let name = match &item.variant_name {
            Some(variant) => format!("{} ({variant})", item.name),
            None => item.name.clone(),
        };
        table.row(vec![
            label(&item.item_type),
            opt(&item.product_code),
            name,
            item.quantity.normalize().to_string(),
            item.unit_price.to_string(),
            item.total_price.to_string(),
        ]);
    }
    out.push('\n');
    out.push_str(&table.render());
    out
}

fn product_detail(product: &Product) -> String {
    key_values(&[
        ("Code", product.code.clone()),
        ("Name", product.name.clone()),
        ("Price", product.price.to_string()),
        ("Shop stock", product.stock_quantity.normalize().to_string()),
        ("Active", yes_no(product.active)),
        (
            "Sync",
            if product.sync_enabled {
                "enabled"
            } else {
                "disabled"
            }
            .to_owned(),
        ),
        ("Category", opt(&product.category)),
        ("Last sync", opt_time(&product.last_sync)),
        ("Last price update", opt_time(&product.last_price_update)),
        ("Last stock update", opt_time(&product.last_stock_update)),
    ])
}

fn sync_history(logs: &[SyncLog]) -> String {
    if logs.is_empty() {
        return "no syncs in that period\n".to_owned();
    }
    let mut table = Table::new(&[
        "STARTED", "TYPE", "STATUS", "RECORDS", "ERRORS", "TOOK", "NOTES",
    ])
    .right_align(&[3, 4, 5]);
    for log in logs {
        table.row(vec![
            time(&log.started_at),
            label(&log.sync_type),
            label(&log.status),
            log.records_processed.to_string(),
            log.error_count.to_string(),
            duration((log.finished_at - log.started_at).num_seconds()),
            opt(&log.notes),
        ]);
    }
    table.render()
}

fn error_table(errors: &[ErrorLog]) -> String {
    if errors.is_empty() {
        return "no errors\n".to_owned();
    }
    let mut table = Table::new(&["ID", "OCCURRED", "SEVERITY", "TYPE", "MESSAGE", "RESOLVED"]);
    for e in errors {
        table.row(vec![
            e.id.to_string(),
            time(&e.occurred_at),
            label(&e.severity),
            e.sync_type.as_ref().map(label).unwrap_or_default(),
            e.message.clone(),
            match (&e.resolved_at, &e.resolved_by) {
                (Some(at), by) => format!("{} by {}", time(at), opt(by)),
                (None, _) => "no".to_owned(),
            },
        ]);
    }
    table.render()
}

fn outbox_table(entries: &[OutboxEntry]) -> String {
    if entries.is_empty() {
        return "outbox is empty\n".to_owned();
    }
    let mut table = Table::new(&[
        "ID",
        "SEQ",
        "ORDER",
        "ACTION",
        "STATE",
        "ATTEMPTS",
        "NEXT ATTEMPT",
        "LAST ERROR",
    ])
    .right_align(&[1, 5]);
    for e in entries {
        let action = match &e.action {
            OutboxAction::SetStatus { status_id } => format!("status {status_id}"),
            OutboxAction::SetTrackingNumber { tracking_number } => {
                format!("tracking {tracking_number}")
            }
        };
        table.row(vec![
            e.id.to_string(),
            e.seq.to_string(),
            e.order_code.clone(),
            action,
            label(&e.state),
            e.attempts.to_string(),
            time(&e.next_attempt_at),
            opt(&e.last_error),
        ]);
    }
    table.render()
}

fn health(report: &HealthReport) -> String {
    let counts = &report.counts;
    let mut out = key_values(&[
        ("Integration", report.name.clone()),
        ("Health", label(&report.health)),
        ("Status", label(&report.status)),
        (
            "Last sync",
            match (&report.last_sync, report.seconds_since_last_sync) {
                (Some(at), Some(ago)) => format!("{} ({} ago)", time(at), duration(ago)),
                (at, _) => opt_time(at),
            },
        ),
        (
            "Orders",
            format!(
                "{} total, {} waiting to be processed",
                counts.total_orders, counts.pending_orders
            ),
        ),
        (
            "Products",
            format!(
                "{} total, {} active",
                counts.total_products, counts.active_products
            ),
        ),
        (
            "Unresolved errors",
            report.unresolved_error_count.to_string(),
        ),
        (
            "Outbox",
            format!(
                "{} pending, {} dead letter(s)",
                report.outbox_pending, report.outbox_dead_letters
            ),
        ),
    ]);
    if !report.recent_syncs.is_empty() {
        out.push_str("\nRecent syncs\n");
        out.push_str(&sync_history(&report.recent_syncs));
    }
    if !report.unresolved_errors.is_empty() {
        let shown = report.unresolved_errors.len() as u64;
        if shown < report.unresolved_error_count {
            let _ = writeln!(
                out,
                "\nUnresolved errors (newest {shown} of {})",
                report.unresolved_error_count
            );
        } else {
            out.push_str("\nUnresolved errors\n");
        }
        out.push_str(&error_table(&report.unresolved_errors));
    }
    out
}

fn opt_duration(secs: Option<i64>) -> String {
    secs.map(duration).unwrap_or_else(|| "-".to_owned())
}

fn fulfillment(report: &FulfillmentReport) -> String {
    let sla = match report.sla_met_percent {
        Some(percent) => format!(
            "{} of {} order(s) processed within 24 h ({}%)",
            report.sla_met,
            report.sla_eligible,
            percent.normalize()
        ),
        None => "no orders due yet".to_owned(),
    };
    let mut out = key_values(&[
        ("Integration", report.name.clone()),
        (
            "Imported",
            format!("{} to {}", time(&report.from), time(&report.to)),
        ),
        ("Orders", report.total_orders.to_string()),
        ("SLA", sla),
        (
            "Mean time to process",
            opt_duration(report.mean_processing_seconds),
        ),
        (
            "Mean time to ship",
            opt_duration(report.mean_shipping_seconds),
        ),
    ]);
    if !report.orders_by_status.is_empty() {
        let mut table = Table::new(&["STATUS", "ORDERS"]).right_align(&[1]);
        for (status, count) in &report.orders_by_status {
            table.row(vec![label(status), count.to_string()]);
        }
        out.push('\n');
        out.push_str(&table.render());
    }
    if !report.grades.is_empty() {
        let mut table = Table::new(&["GRADE", "ORDERS"]).right_align(&[1]);
        for (grade, count) in &report.grades {
            table.row(vec![label(grade), count.to_string()]);
        }
        out.push('\n');
        out.push_str(&table.render());
    }
    out
}

fn inventory(report: &InventoryReport) -> String {
    key_values(&[
        ("Integration", report.name.clone()),
        ("Warehouse", report.warehouse_code.clone()),
        ("Last stock push", opt_time(&report.last_push)),
        (
            "Products",
            format!(
                "{} total, {} synced, {} needing sync, {} with sync disabled",
                report.total_products,
                report.products_synced,
                report.products_needing_sync,
                report.sync_disabled
            ),
        ),
        ("Out of stock", report.out_of_stock.to_string()),
        ("Low stock", report.low_stock.to_string()),
        ("Open discrepancies", report.open_discrepancies.to_string()),
    ])
}

fn daemon_status(status: &DaemonStatus) -> String {
    let mut out = format!(
        "shoptet-syncd {} (protocol {}), up {}\n",
        status.version,
        status.protocol,
        duration(i64::try_from(status.uptime_secs).unwrap_or(i64::MAX))
    );
    if status.stores.is_empty() {
        out.push_str("no stores\n");
        return out;
    }
    let mut table = Table::new(&[
        "STORE",
        "STATUS",
        "HEALTH",
        "LAST SYNC",
        "ORDERS SYNC",
        "INVENTORY SYNC",
        "OUTBOX",
        "DEAD",
    ])
    .right_align(&[6, 7]);
    for s in &status.stores {
        table.row(vec![
            s.name.clone(),
            label(&s.status),
            label(&s.health),
            opt_time(&s.last_sync),
            opt_time(&s.last_order_sync),
            opt_time(&s.last_inventory_sync),
            s.outbox_pending.to_string(),
            s.outbox_dead_letters.to_string(),
        ]);
    }
    out.push('\n');
    out.push_str(&table.render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::StoreStatus;
    use crate::domain::{HealthStatus, IntegrationStatus, OrderStatus, SyncStatus};

    #[test]
    fn table_aligns_columns_and_right_aligns_numbers() {
        let mut table = Table::new(&["CODE", "NAME", "QTY"]).right_align(&[2]);
        table.row(vec!["SKU-1".into(), "Mug".into(), "5".into()]);
        table.row(vec!["A".into(), "Žluťoučký kůň".into(), "120".into()]);
        assert_eq!(
            table.render(),
            "CODE   NAME           QTY\n\
             SKU-1  Mug              5\n\
             A      Žluťoučký kůň  120\n"
        );
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn table_cells_are_cleaned_cut_and_padded() {
        let mut table = Table::new(&["A", "B"]);
        table.row(vec!["evil\x1b[31mred\nline".into()]);
        table.row(vec!["x".repeat(100), "y".into()]);
        let text = table.render();
        assert!(!text.contains('\x1b'));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            3,
            "newlines in cells do not break rows: {text}"
        );
        assert!(lines[1].starts_with("evil [31mred line"));
        assert!(lines[2].contains(&format!("{}…", "x".repeat(59))));
        assert!(
            text.lines().all(|l| l == l.trim_end()),
            "no trailing spaces"
        );
    }

    #[test]
    fn labels_and_durations() {
        assert_eq!(
            label(&SyncStatus::CompletedWithErrors),
            "completed_with_errors"
        );
        assert_eq!(label(&OrderStatus::Imported), "imported");
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(65), "1m 05s");
        assert_eq!(duration(3 * 3600 + 120), "3h 02m");
        assert_eq!(duration(2 * 86_400 + 3600), "2d 01h");
    }

    #[test]
    fn daemon_status_renders_one_row_per_store() {
        let store = |name: &str, pending| StoreStatus {
            name: name.into(),
            status: IntegrationStatus::Active,
            health: HealthStatus::Warning,
            last_sync: None,
            last_order_sync: None,
            last_inventory_sync: None,
            outbox_pending: pending,
            outbox_dead_letters: 0,
        };
        let text = render(&Response::DaemonStatus(DaemonStatus {
            version: "0.1.0".into(),
            protocol: 1,
            uptime_secs: 3700,
            stores: vec![store("demo", 3), store("second-shop", 12)],
        }));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "shoptet-syncd 0.1.0 (protocol 1), up 1h 01m");
        assert!(lines[2].starts_with("STORE        STATUS  HEALTH"));
        assert!(lines[3].starts_with("demo         active  warning"));
        assert!(lines[3].ends_with("     3     0"), "{}", lines[3]);
        assert!(lines[4].ends_with("    12     0"), "{}", lines[4]);
    }
}
