//! Shop (wire) records → domain records.

use rust_decimal::Decimal;

use crate::domain::{Address, IncomingOrder, ItemType, Money, OrderItem};
use crate::shoptet::{OrderAddress, OrderDetail, ProductDetail};

fn text(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn address(a: &OrderAddress) -> Address {
    Address {
        full_name: text(&a.full_name),
        company: text(&a.company),
        street: text(&a.street),
        house_number: text(&a.house_number),
        city: text(&a.city),
        zip: text(&a.zip),
        country_code: text(&a.country_code),
    }
}

/// The order as the import rule sees it.
pub(crate) fn incoming_order(detail: &OrderDetail) -> IncomingOrder {
    let price = detail.price.as_ref();
    let total = Money::new(
        price
            .and_then(|p| p.with_vat.or(p.to_pay))
            .unwrap_or_default(),
        price
            .and_then(|p| p.currency_code.clone())
            .unwrap_or_else(|| "CZK".to_owned()),
    );
    let customer_name = detail
        .billing_address
        .as_ref()
        .and_then(|a| text(&a.full_name).or_else(|| text(&a.company)));
    let items = detail
        .items
        .iter()
        .map(|item| {
            let quantity = item.amount.unwrap_or_default();
            let total_price = item
                .item_price
                .as_ref()
                .and_then(|p| p.with_vat)
                .unwrap_or_default();
            let unit_price = item
                .unit_price
                .as_ref()
                .and_then(|p| p.with_vat)
                .or_else(|| total_price.checked_div(quantity).map(|p| p.round_dp(2)))
                .unwrap_or(total_price);
            OrderItem {
                item_type: ItemType::from_shoptet(&item.item_type),
                product_code: text(&item.code),
                name: item.name.trim().to_owned(),
                variant_name: text(&item.variant_name),
                quantity,
                unit_price,
                total_price,
            }
        })
        .collect();
    IncomingOrder {
        code: detail.code.clone(),
        guid: detail.guid.clone(),
        created_at: detail.creation_time,
        changed_at: detail.change_time,
        shop_status_id: detail.status_id(),
        total,
        customer_email: text(&detail.email),
        customer_name,
        shipping_address: detail
            .effective_delivery_address()
            .map(address)
            .filter(|a| !a.is_empty()),
        items,
    }
}

/// One sellable variant of a shop product, as the catalogue pull stores it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShopVariant {
    pub code: String,
    pub guid: String,
    pub name: String,
    pub price: Decimal,
    pub stock: Decimal,
    pub active: bool,
    pub category: Option<String>,
}

/// The variants of a product detail.
pub(crate) fn shop_variants(detail: &ProductDetail) -> Vec<ShopVariant> {
    let product_name = detail.name.clone().unwrap_or_default();
    let product_visible = !matches!(detail.visibility.as_deref(), Some("hidden" | "blocked"));
    detail
        .variants
        .iter()
        .filter(|v| !v.code.trim().is_empty())
        .map(|v| {
            let name = match text(&v.name) {
                Some(label) if !product_name.is_empty() => format!("{product_name} {label}"),
                Some(label) => label,
                None => product_name.clone(),
            };
            ShopVariant {
                code: v.code.trim().to_owned(),
                guid: detail.guid.clone(),
                name,
                price: v.price.unwrap_or_default().max(Decimal::ZERO),
                stock: v.stock.unwrap_or_default(),
                active: product_visible && v.visible.unwrap_or(true),
                category: detail.default_category.as_ref().and_then(|c| text(&c.name)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_price_derived_from_a_tiny_quantity_does_not_overflow() {
        let detail: OrderDetail = serde_json::from_value(serde_json::json!({
            "code": "2025000318",
            "items": [
                {"itemType": "product", "code": "SKU-1", "name": "Widget",
                 "amount": "0.0000000000000000000000000001",
                 "itemPrice": {"withVat": "1000000000000"}},
                {"itemType": "product", "code": "SKU-2", "name": "Gadget",
                 "amount": "0", "itemPrice": {"withVat": "10"}},
                {"itemType": "product", "code": "SKU-3", "name": "Thing",
                 "amount": "4", "itemPrice": {"withVat": "10"}}
            ]
        }))
        .unwrap();
        let incoming = incoming_order(&detail);
        // Overflowing and zero divisions fall back to the row total; a sane one divides.
        assert_eq!(
            incoming.items[0].unit_price,
            Decimal::from(1_000_000_000_000_i64)
        );
        assert_eq!(incoming.items[1].unit_price, Decimal::from(10));
        assert_eq!(incoming.items[2].unit_price, Decimal::new(250, 2));
    }
}
