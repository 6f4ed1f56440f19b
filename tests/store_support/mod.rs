//! Record fixtures shared by the store tests and the store bench. Values are deliberately awkward:
//! decimals with many digits and scales, nanosecond times, data-carrying enums, Some and None.
#![allow(dead_code)]

use std::str::FromStr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use shoptet_sync::domain::{
    Address, Credentials, ErrorLog, ErrorSeverity, IncomingOrder, Integration, IntegrationId,
    IntegrationStatus, ItemType, Money, Order, OrderContent, OrderItem, OrderStatus, OutboxAction,
    OutboxEntry, OutboxState, PriceChange, Product, Secret, StatusMapping, StockLevel, SyncLog,
    SyncStatus, SyncType,
};
use uuid::Uuid;

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A fixed base time with a sub-microsecond part, plus `minutes`.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 9, 41, 7).unwrap()
        + Duration::nanoseconds(123_456_789)
        + Duration::minutes(minutes)
}

pub fn integration(id: IntegrationId, name: &str) -> Integration {
    Integration {
        id,
        name: name.to_owned(),
        eshop_url: format!("https://{name}.example.cz"),
        api_base_url: "http://127.0.0.1:9".to_owned(),
        credentials: Some(Credentials::AddonOAuth(Secret::new("oauth-secret-value"))),
        status: IntegrationStatus::Active,
        status_reason: Some("activated by ctl".to_owned()),
        last_sync: Some(at(-30)),
        last_order_sync: None,
        last_inventory_sync: Some(at(-60)),
        auto_order_import: true,
        auto_inventory_sync: false,
        auto_status_update: true,
        sync_interval_minutes: 15,
        default_warehouse_code: "main".to_owned(),
        shoptet_stock_id: 1,
        status_mapping: StatusMapping::default(),
        low_stock_threshold: dec("5.000"),
        created_at: at(-1000),
        updated_at: at(-1),
    }
}

pub fn order(
    integration_id: IntegrationId,
    code: &str,
    status: OrderStatus,
    imported_at: DateTime<Utc>,
) -> Order {
    Order {
        id: Uuid::new_v4(),
        integration_id,
        code: code.to_owned(),
        guid: Some(format!("guid-{code}")),
        total: Money {
            amount: dec("1089.50"),
            currency: "CZK".to_owned(),
        },
        customer_email: Some("jana@example.cz".to_owned()),
        customer_name: Some("Jana Nováková".to_owned()),
        shipping_address: Some(Address {
            full_name: Some("Jana Nováková".to_owned()),
            company: None,
            street: Some("Dlouhá".to_owned()),
            house_number: Some("12/3".to_owned()),
            city: Some("Praha".to_owned()),
            zip: Some("110 00".to_owned()),
            country_code: Some("CZ".to_owned()),
        }),
        shop_status_id: Some(-1),
        shop_changed_at: Some(imported_at - Duration::minutes(5)),
        shop_created_at: None,
        status,
        imported_at,
        processed_at: None,
        shipped_at: None,
        cancelled_at: None,
        tracking_number: None,
        picking_session_id: Some("PS-1".to_owned()),
        transport_box_id: None,
        notes: Some("ring twice".to_owned()),
        review_reason: None,
        items: vec![
            OrderItem {
                item_type: ItemType::Product,
                product_code: Some("SKU-1".to_owned()),
                name: "Hrnek".to_owned(),
                variant_name: Some("modrý".to_owned()),
                quantity: dec("2.000"),
                unit_price: dec("499.75"),
                total_price: dec("999.50"),
            },
            OrderItem {
                item_type: ItemType::Other("gift".to_owned()),
                product_code: None,
                name: "Dárek".to_owned(),
                variant_name: None,
                quantity: dec("1"),
                unit_price: dec("0.00"),
                total_price: dec("0.00"),
            },
            OrderItem {
                item_type: ItemType::Shipping,
                product_code: None,
                name: "PPL".to_owned(),
                variant_name: None,
                quantity: dec("1"),
                unit_price: dec("90.0000000001"),
                total_price: dec("90.00"),
            },
        ],
        delivered_at: None,
        status_before_review: None,
        pending_shop_version: None,
        dismissed_shop_content: None,
        shop_read_at: None,
    }
}

/// An order flagged for review, with every optional part filled in (nested decimals included).
pub fn order_in_review(integration_id: IntegrationId, code: &str) -> Order {
    let mut order = order(integration_id, code, OrderStatus::Error, at(0));
    order.status_before_review = Some(OrderStatus::Processing);
    order.review_reason = Some("order conflict detected".to_owned());
    order.delivered_at = Some(at(50));
    order.pending_shop_version = Some(IncomingOrder {
        code: code.to_owned(),
        guid: order.guid.clone(),
        created_at: Some(at(-10)),
        changed_at: Some(at(40)),
        shop_status_id: Some(-2),
        total: Money {
            amount: dec("1200.001"),
            currency: "EUR".to_owned(),
        },
        customer_email: None,
        customer_name: Some("Jan".to_owned()),
        shipping_address: None,
        items: order.items[..1].to_vec(),
    });
    order.dismissed_shop_content = Some(OrderContent {
        total: Money {
            amount: dec("-0.01"),
            currency: "CZK".to_owned(),
        },
        shipping_address: Some(Address::default()),
        items: Vec::new(),
    });
    order
}

pub fn product(integration_id: IntegrationId, code: &str) -> Product {
    Product {
        integration_id,
        code: code.to_owned(),
        shop_product_guid: Some(format!("pguid-{code}")),
        name: format!("Product {code}"),
        price: dec("123.4567"),
        stock_quantity: dec("-3.250"),
        active: true,
        sync_enabled: false,
        category: None,
        description: Some("ünïcödé".to_owned()),
        last_sync: Some(at(0)),
        last_price_update: None,
        last_stock_update: Some(at(1)),
    }
}

pub fn stock(warehouse: &str, code: &str, on_hand: &str) -> StockLevel {
    StockLevel {
        warehouse_code: warehouse.to_owned(),
        product_code: code.to_owned(),
        on_hand: dec(on_hand),
        updated_at: at(2),
    }
}

pub fn outbox(integration_id: IntegrationId, seq: u64, order_code: &str) -> OutboxEntry {
    OutboxEntry {
        id: Uuid::new_v4(),
        integration_id,
        seq,
        order_code: order_code.to_owned(),
        action: if seq.is_multiple_of(2) {
            OutboxAction::SetStatus { status_id: -3 }
        } else {
            OutboxAction::SetTrackingNumber {
                tracking_number: "DR1234567890E".to_owned(),
            }
        },
        state: OutboxState::Pending,
        attempts: 2,
        last_error: Some("429 Too Many Requests".to_owned()),
        created_at: at(3),
        next_attempt_at: at(4),
    }
}

pub fn sync_log(integration_id: IntegrationId, started_at: DateTime<Utc>) -> SyncLog {
    SyncLog {
        id: Uuid::new_v4(),
        integration_id,
        sync_type: SyncType::Orders,
        started_at,
        finished_at: started_at + Duration::seconds(7),
        records_processed: 50,
        error_count: 1,
        status: SyncStatus::CompletedWithErrors,
        notes: None,
    }
}

pub fn error_log(
    integration_id: IntegrationId,
    occurred_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
) -> ErrorLog {
    ErrorLog {
        id: Uuid::new_v4(),
        integration_id,
        message: "shop unreachable".to_owned(),
        details: Some("connect timeout".to_owned()),
        sync_type: Some(SyncType::Inventory),
        severity: ErrorSeverity::High,
        occurred_at,
        resolved_at,
        resolved_by: resolved_at.map(|_| "alice".to_owned()),
        resolution: resolved_at.map(|_| "retried".to_owned()),
    }
}

pub fn price_change(
    integration_id: IntegrationId,
    code: &str,
    changed_at: DateTime<Utc>,
) -> PriceChange {
    PriceChange {
        id: Uuid::new_v4(),
        integration_id,
        product_code: code.to_owned(),
        old_price: dec("100.00"),
        new_price: dec("99.99"),
        changed_at,
        source: "ctl:alice".to_owned(),
        pushed_at: None,
    }
}

/// Opens a store with a fixed sealing key, so that integrations with credentials can be written
/// and read back after a reopen or a restore.
pub fn open_store(path: impl AsRef<std::path::Path>) -> shoptet_sync::store::Store {
    let store = shoptet_sync::store::Store::open(path).unwrap();
    install_test_key(&store);
    store
}

/// Installs the fixed test sealing key in a store opened with `Store::open`.
pub fn install_test_key(store: &shoptet_sync::store::Store) {
    store
        .install_sealer_blocking(shoptet_sync::secrets::Sealer::new(
            &[9u8; shoptet_sync::secrets::KEY_LEN],
            shoptet_sync::secrets::KeySource::Memory,
        ))
        .unwrap();
}
