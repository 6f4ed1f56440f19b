//! Shop figures are bounded before they reach the sums: an order with absurd quantities is
//! refused by the import rule (a clear domain error), and the reservation sum never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use chrono::Utc;
use rust_decimal::Decimal;
use shoptet_sync::domain::order::{
    ImportOutcome, IncomingOrder, ItemType, Money, OrderItem, import,
};
use shoptet_sync::domain::stock::reserved_by_orders;
use shoptet_sync::domain::{DomainError, MAX_PRICE, MAX_QUANTITY, StockLevel};

fn row(code: &str, quantity: &str) -> OrderItem {
    OrderItem {
        item_type: ItemType::Product,
        product_code: Some(code.to_owned()),
        name: "Widget".to_owned(),
        variant_name: None,
        quantity: Decimal::from_str(quantity).unwrap(),
        unit_price: Decimal::ONE,
        total_price: Decimal::ONE,
    }
}

fn incoming(items: Vec<OrderItem>, total: &str) -> IncomingOrder {
    IncomingOrder {
        code: "2025000318".to_owned(),
        guid: None,
        created_at: None,
        changed_at: None,
        shop_status_id: Some(-1),
        total: Money::new(Decimal::from_str(total).unwrap(), "CZK"),
        customer_email: None,
        customer_name: None,
        shipping_address: None,
        items,
    }
}

#[test]
fn an_order_with_huge_quantities_is_refused_with_a_clear_error() {
    // A code may repeat within an order (shoptet-api.md §11).
    let order = incoming(
        vec![
            row("SKU-1", "50000000000000000000000000000"),
            row("SKU-1", "50000000000000000000000000000"),
        ],
        "1",
    );
    let err = import(None, &order, uuid::Uuid::new_v4(), Utc::now()).unwrap_err();
    assert!(
        matches!(
            err,
            DomainError::InvalidArgument {
                field: "order item quantity",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("beyond the accepted range"),
        "{err}"
    );
}

#[test]
fn quantities_and_prices_up_to_the_bounds_are_accepted_and_summed() {
    let mut big = row("SKU-1", "1000000000");
    big.unit_price = MAX_PRICE;
    big.total_price = MAX_PRICE;
    // A negative correction row within bounds is fine.
    let correction = row("SKU-1", "-1000000000");
    let order = incoming(vec![big.clone(), big, correction], "1000000000000");
    let order = match import(None, &order, uuid::Uuid::new_v4(), Utc::now()).unwrap() {
        ImportOutcome::New(order) => order,
        other => panic!("unexpected outcome {other:?}"),
    };
    let reserved = reserved_by_orders([&order]);
    assert_eq!(reserved["SKU-1"], MAX_QUANTITY);
    assert!(
        !order.items[0].price_matches(),
        "1e9 × 1e12 is not 1e12, and no panic"
    );
}

#[test]
fn prices_and_totals_beyond_the_bound_are_refused() {
    let mut pricey = row("SKU-1", "1");
    pricey.unit_price = MAX_PRICE + Decimal::ONE;
    let err = import(
        None,
        &incoming(vec![pricey], "1"),
        uuid::Uuid::new_v4(),
        Utc::now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unit price"), "{err}");
    let err = import(
        None,
        &incoming(vec![row("SKU-1", "1")], "1000000000001"),
        uuid::Uuid::new_v4(),
        Utc::now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("order total"), "{err}");
}

#[test]
fn stored_orders_beyond_the_bounds_are_summed_without_panicking() {
    // Orders built directly (as a store written by an older version could hold them).
    let order = shoptet_sync::domain::Order::from_incoming(
        &incoming(
            vec![
                row("SKU-1", "50000000000000000000000000000"),
                row("SKU-1", "50000000000000000000000000000"),
            ],
            "1",
        ),
        uuid::Uuid::new_v4(),
        Utc::now(),
    );
    let summed = std::panic::catch_unwind(|| reserved_by_orders([&order]));
    assert!(summed.is_ok(), "summing reservations must never panic");
    assert!(std::panic::catch_unwind(|| order.total_quantity()).is_ok());
}

#[test]
fn stock_levels_are_bounded() {
    let now = Utc::now();
    assert!(StockLevel::new("MAIN", "SKU-1", MAX_QUANTITY, now).is_ok());
    let err = StockLevel::new("MAIN", "SKU-1", MAX_QUANTITY + Decimal::ONE, now).unwrap_err();
    assert!(err.to_string().contains("on-hand quantity"), "{err}");
    let mut level = StockLevel::new("MAIN", "SKU-1", MAX_QUANTITY, now).unwrap();
    assert!(
        level.adjust(Decimal::MAX, now).is_err(),
        "no overflow panic"
    );
    assert!(level.adjust(Decimal::ONE, now).is_err());
    assert_eq!(level.on_hand, MAX_QUANTITY);
}
