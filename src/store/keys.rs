//! The fixed set of trees and how their keys are built, so that keys sort the way queries read them.
//!
//! Every per-integration key starts with the integration id (16 bytes), so one integration's data is a
//! contiguous key range found with `scan_prefix`. Numbers are big-endian; times are microseconds
//! since the epoch with the sign bit flipped, so negative and positive times both sort correctly.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{IntegrationId, OrderStatus};

/// Length of the integration id prefix.
pub(crate) const ID_LEN: usize = 16;
/// Length of an encoded time or sequence number.
pub(crate) const U64_LEN: usize = 8;

/// One of the store's trees. The set is fixed: sled's space use grows with the number of trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TreeId {
    /// `id` → Integration.
    Integrations,
    /// `id ‖ code` → Order.
    Orders,
    /// `id ‖ status byte ‖ code` → empty (index).
    OrdersByStatus,
    /// `id ‖ imported_at ‖ code` → empty (index).
    OrdersByImport,
    /// `id ‖ code` → Product.
    Products,
    /// `warehouse ‖ 0x00 ‖ product code` → StockLevel (warehouses are shared between integrations).
    Stock,
    /// `id ‖ seq` → OutboxEntry.
    Outbox,
    /// `id ‖ started_at ‖ log id` → SyncLog.
    SyncLogs,
    /// `id ‖ occurred_at ‖ error id` → ErrorLog.
    Errors,
    /// `id ‖ changed_at ‖ change id` → PriceChange.
    PriceHistory,
    /// `id ‖ name` → any encoded value (sync cursors and the like).
    Meta,
}

impl TreeId {
    /// Every tree, in a fixed order (the transaction view and backups use this order).
    pub const ALL: [TreeId; 11] = [
        TreeId::Integrations,
        TreeId::Orders,
        TreeId::OrdersByStatus,
        TreeId::OrdersByImport,
        TreeId::Products,
        TreeId::Stock,
        TreeId::Outbox,
        TreeId::SyncLogs,
        TreeId::Errors,
        TreeId::PriceHistory,
        TreeId::Meta,
    ];

    /// The sled tree name (also written into backups: never rename).
    pub fn name(self) -> &'static str {
        match self {
            TreeId::Integrations => "integrations",
            TreeId::Orders => "orders",
            TreeId::OrdersByStatus => "orders_by_status",
            TreeId::OrdersByImport => "orders_by_import",
            TreeId::Products => "products",
            TreeId::Stock => "stock",
            TreeId::Outbox => "outbox",
            TreeId::SyncLogs => "sync_logs",
            TreeId::Errors => "errors",
            TreeId::PriceHistory => "price_history",
            TreeId::Meta => "meta",
        }
    }

    /// The tree with this name, if it is one of ours.
    pub fn from_name(name: &str) -> Option<TreeId> {
        TreeId::ALL.into_iter().find(|tree| tree.name() == name)
    }

    /// Position in [`TreeId::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether keys of this tree start with an integration id.
    pub(crate) fn is_per_integration(self) -> bool {
        self != TreeId::Stock
    }
}

impl std::fmt::Display for TreeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The stable one-byte code of an order status in the status index.
/// Explicit (not the enum's position) so reordering the enum never invalidates stored keys.
pub(crate) fn status_byte(status: OrderStatus) -> u8 {
    match status {
        OrderStatus::Imported => 1,
        OrderStatus::Processing => 2,
        OrderStatus::Shipped => 3,
        OrderStatus::Delivered => 4,
        OrderStatus::Cancelled => 5,
        OrderStatus::Error => 6,
    }
}

/// A time as 8 bytes that sort like the time (microsecond precision; the value keeps full precision).
pub(crate) fn time_bytes(time: DateTime<Utc>) -> [u8; U64_LEN] {
    sortable_micros(time.timestamp_micros())
}

/// Microseconds as 8 bytes that sort like the signed number.
pub(crate) fn sortable_micros(micros: i64) -> [u8; U64_LEN] {
    ((micros as u64) ^ (1 << 63)).to_be_bytes()
}

/// The microseconds encoded by [`sortable_micros`], if `bytes` holds 8 bytes.
pub(crate) fn micros_from_bytes(bytes: &[u8]) -> Option<i64> {
    let array: [u8; U64_LEN] = bytes.get(..U64_LEN)?.try_into().ok()?;
    Some((u64::from_be_bytes(array) ^ (1 << 63)) as i64)
}

/// `id ‖ rest…`
pub(crate) fn prefixed(id: IntegrationId, parts: &[&[u8]]) -> Vec<u8> {
    let len = ID_LEN + parts.iter().map(|part| part.len()).sum::<usize>();
    let mut key = Vec::with_capacity(len);
    key.extend_from_slice(id.as_bytes());
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

/// The prefix of everything one integration owns in a per-integration tree.
pub(crate) fn integration_prefix(id: IntegrationId) -> Vec<u8> {
    id.as_bytes().to_vec()
}

pub(crate) fn integration_key(id: IntegrationId) -> Vec<u8> {
    integration_prefix(id)
}

pub(crate) fn order_key(id: IntegrationId, code: &str) -> Vec<u8> {
    prefixed(id, &[code.as_bytes()])
}

pub(crate) fn status_prefix(id: IntegrationId, status: OrderStatus) -> Vec<u8> {
    prefixed(id, &[&[status_byte(status)]])
}

pub(crate) fn status_index_key(id: IntegrationId, status: OrderStatus, code: &str) -> Vec<u8> {
    prefixed(id, &[&[status_byte(status)], code.as_bytes()])
}

pub(crate) fn import_index_key(
    id: IntegrationId,
    imported_at: DateTime<Utc>,
    code: &str,
) -> Vec<u8> {
    prefixed(id, &[&time_bytes(imported_at), code.as_bytes()])
}

pub(crate) fn product_key(id: IntegrationId, code: &str) -> Vec<u8> {
    prefixed(id, &[code.as_bytes()])
}

/// `None` when the warehouse code contains a NUL byte (the separator).
pub(crate) fn stock_key(warehouse: &str, product_code: &str) -> Option<Vec<u8>> {
    if warehouse.as_bytes().contains(&0) {
        return None;
    }
    let mut key = stock_prefix(warehouse);
    key.extend_from_slice(product_code.as_bytes());
    Some(key)
}

pub(crate) fn stock_prefix(warehouse: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(warehouse.len() + 1);
    key.extend_from_slice(warehouse.as_bytes());
    key.push(0);
    key
}

pub(crate) fn outbox_key(id: IntegrationId, seq: u64) -> Vec<u8> {
    prefixed(id, &[&seq.to_be_bytes()])
}

/// Key of a time-ordered log record (sync logs, errors, price history).
pub(crate) fn log_key(id: IntegrationId, time: DateTime<Utc>, record_id: Uuid) -> Vec<u8> {
    prefixed(id, &[&time_bytes(time), record_id.as_bytes()])
}

pub(crate) fn meta_key(id: IntegrationId, name: &str) -> Vec<u8> {
    prefixed(id, &[name.as_bytes()])
}

/// A readable rendering of a key for error messages, e.g. `6f1c…-…/2025000318`.
pub fn describe_key(tree: TreeId, key: &[u8]) -> String {
    if !tree.is_per_integration() {
        return match key.iter().position(|&b| b == 0) {
            Some(pos) => format!("{}/{}", escaped(&key[..pos]), escaped(&key[pos + 1..])),
            None => escaped(key),
        };
    }
    let Some((id_bytes, rest)) = key.split_at_checked(ID_LEN) else {
        return escaped(key);
    };
    let id = Uuid::from_slice(id_bytes).map_or_else(|_| escaped(id_bytes), |id| id.to_string());
    let rest = match tree {
        TreeId::Integrations => return id,
        TreeId::Orders | TreeId::Products | TreeId::Meta | TreeId::Stock => escaped(rest),
        TreeId::OrdersByStatus => match rest.split_first() {
            Some((status, code)) => format!("status {status}/{}", escaped(code)),
            None => escaped(rest),
        },
        TreeId::Outbox => match rest.try_into() {
            Ok(seq) => format!("seq {}", u64::from_be_bytes(seq)),
            Err(_) => escaped(rest),
        },
        TreeId::OrdersByImport => match time_part(rest) {
            Some((time, code)) => format!("{time}/{}", escaped(code)),
            None => escaped(rest),
        },
        TreeId::SyncLogs | TreeId::Errors | TreeId::PriceHistory => match time_part(rest) {
            Some((time, record)) => match Uuid::from_slice(record) {
                Ok(record) => format!("{time}/{record}"),
                Err(_) => format!("{time}/{}", escaped(record)),
            },
            None => escaped(rest),
        },
    };
    format!("{id}/{rest}")
}

fn time_part(bytes: &[u8]) -> Option<(String, &[u8])> {
    let micros = micros_from_bytes(bytes)?;
    let time = DateTime::<Utc>::from_timestamp_micros(micros)?;
    Some((time.to_rfc3339(), &bytes[U64_LEN..]))
}

/// Printable ASCII as is, everything else as `\xNN`.
fn escaped(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| std::ascii::escape_default(b).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_sort_like_the_times_they_encode() {
        let times = [
            Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2025, 3, 14, 9, 41, 7).unwrap(),
            Utc.with_ymd_and_hms(2025, 3, 14, 9, 41, 8).unwrap(),
        ];
        let encoded: Vec<_> = times.iter().map(|t| time_bytes(*t)).collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(encoded, sorted);
        for (time, bytes) in times.iter().zip(&encoded) {
            assert_eq!(micros_from_bytes(bytes), Some(time.timestamp_micros()));
        }
    }

    #[test]
    fn status_bytes_are_distinct() {
        let all = [
            OrderStatus::Imported,
            OrderStatus::Processing,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            OrderStatus::Cancelled,
            OrderStatus::Error,
        ];
        let mut bytes: Vec<u8> = all.iter().map(|s| status_byte(*s)).collect();
        bytes.sort();
        bytes.dedup();
        assert_eq!(bytes.len(), all.len());
    }

    #[test]
    fn tree_names_round_trip_and_indexes_match_positions() {
        for (position, tree) in TreeId::ALL.iter().enumerate() {
            assert_eq!(tree.index(), position);
            assert_eq!(TreeId::from_name(tree.name()), Some(*tree));
        }
        assert_eq!(TreeId::from_name("nope"), None);
    }

    #[test]
    fn stock_keys_refuse_the_separator_and_do_not_bleed_between_warehouses() {
        assert!(stock_key("A\0B", "x").is_none());
        let a = stock_key("A", "x").unwrap();
        let ab = stock_key("AB", "x").unwrap();
        assert!(a.starts_with(&stock_prefix("A")));
        assert!(!ab.starts_with(&stock_prefix("A")));
    }

    #[test]
    fn keys_are_described_readably() {
        let id = Uuid::from_u128(0x1234);
        let key = order_key(id, "2025000318");
        assert_eq!(
            describe_key(TreeId::Orders, &key),
            format!("{id}/2025000318")
        );
        assert_eq!(
            describe_key(TreeId::Outbox, &outbox_key(id, 42)),
            format!("{id}/seq 42")
        );
        let t = Utc.with_ymd_and_hms(2025, 3, 14, 9, 41, 7).unwrap();
        let log = Uuid::from_u128(7);
        assert_eq!(
            describe_key(TreeId::SyncLogs, &log_key(id, t, log)),
            format!("{id}/2025-03-14T09:41:07+00:00/{log}")
        );
        assert_eq!(
            describe_key(TreeId::Stock, &stock_key("main", "SKU\n").unwrap()),
            "main/SKU\\n"
        );
        assert_eq!(describe_key(TreeId::Orders, b"short"), "short");
    }
}
