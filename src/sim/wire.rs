//! JSON emission in exactly the shapes and scalar formats of the Shoptet API.
//!
//! Everything here is pure: it turns the shop model into `serde_json::Value`s.
//! Formats follow the reference strictly (emit strictly, let clients parse leniently):
//! shop-local `YYYY-MM-DDThh:mm:ss+hhmm` times, dec2 money, dec3 amounts, dec4 ratios.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::Prague;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

use super::state::{
    Address, ClaimState, ItemType, Order, OrderItem, OrderStatusDef, PriceEntry, Pricelist,
    Product, ProductType, Shop, Stock, Variant,
};

/// Which figure the supplies `amount` (and `perStockAmounts.amount`) reports.
/// The reference marks it unconfirmed, so the simulator lets tests choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SuppliesAmount {
    /// Physical stock (`realStock`).
    #[default]
    RealStock,
    /// Orderable stock (`realStock − claim`).
    Available,
}

/// Shop-local time with an offset without a colon, e.g. `2025-03-14T09:41:07+0100`.
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Prague)
        .format("%Y-%m-%dT%H:%M:%S%z")
        .to_string()
}

/// A plain date, `YYYY-MM-DD`.
pub fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Decimal string with exactly `dp` places, rounding half away from zero, no `-0`.
pub fn fmt_dec(d: Decimal, dp: u32) -> String {
    let mut r = d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    if r.is_zero() {
        r = Decimal::ZERO;
    }
    r.rescale(dp);
    r.to_string()
}

/// Money: two decimals.
pub fn dec2(d: Decimal) -> String {
    fmt_dec(d, 2)
}

/// Amounts and stock: three decimals.
pub fn dec3(d: Decimal) -> String {
    fmt_dec(d, 3)
}

/// Price ratio: four decimals.
pub fn dec4(d: Decimal) -> String {
    fmt_dec(d, 4)
}

/// Exchange rate: eight decimals.
pub fn dec8(d: Decimal) -> String {
    fmt_dec(d, 8)
}

fn opt_dec2(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, |v| Value::String(dec2(v)))
}

/// One entry of an `errors[]` array.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorObject {
    /// Kebab-case identifier, e.g. `order-not-found`.
    pub error_code: String,
    /// Human text.
    pub message: String,
    /// What the error refers to.
    pub instance: String,
}

impl ErrorObject {
    /// Builds an error object.
    pub fn new(
        code: impl Into<String>,
        message: impl Into<String>,
        instance: impl Into<String>,
    ) -> Self {
        Self {
            error_code: code.into(),
            message: message.into(),
            instance: instance.into(),
        }
    }
}

/// The `{data, errors, metadata}` envelope.
pub fn envelope(data: Option<Value>, errors: &[ErrorObject], request_id: &str) -> Value {
    json!({
        "data": data.unwrap_or(Value::Null),
        "errors": if errors.is_empty() { Value::Null } else { json!(errors) },
        "metadata": { "requestId": request_id },
    })
}

/// The `paginator` object.
pub fn paginator(total: usize, page: usize, per_page: usize, on_page: usize) -> Value {
    json!({
        "totalCount": total,
        "page": page,
        "pageCount": page_count(total, per_page),
        "itemsOnPage": on_page,
        "itemsPerPage": per_page,
    })
}

/// Number of pages for `total` records (0 when nothing matches).
pub fn page_count(total: usize, per_page: usize) -> usize {
    if per_page == 0 {
        0
    } else {
        total.div_ceil(per_page)
    }
}

fn status_ref(shop: &Shop, id: i64) -> Value {
    json!({ "id": id, "name": shop.status(id).map(|s| s.name.clone()) })
}

fn price_block(order: &Order) -> Value {
    let (with_vat, without_vat, vat) = order.totals();
    json!({
        "vat": dec2(vat),
        "toPay": dec2(with_vat),
        "currencyCode": "CZK",
        "withoutVat": dec2(without_vat),
        "withVat": dec2(with_vat),
        "exchangeRate": dec8(Decimal::ONE),
        "invoicingExchangeRate": dec8(Decimal::ONE),
        "partialPaymentAmount": null,
        "partialPaymentType": null,
    })
}

fn admin_url(shop: &Shop, order: &Order) -> String {
    format!(
        "{}admin/objednavky-detail/?id={}",
        shop.eshop.url, order.admin_id
    )
}

/// `data.orders[]` list item (no items, no addresses).
pub fn order_summary(shop: &Shop, order: &Order) -> Value {
    json!({
        "code": order.code,
        "guid": order.guid,
        "creationTime": fmt_time(order.creation_time),
        "changeTime": fmt_time(order.change_time),
        "fullName": order.billing.full_name,
        "company": order.billing.company,
        "email": order.email,
        "phone": order.phone,
        "remark": order.notes.customer_remark,
        "customerGuid": order.customer_guid,
        "cashDeskOrder": false,
        "adminUrl": admin_url(shop, order),
        "status": status_ref(shop, order.status_id),
        "source": { "id": -1, "name": "E-shop" },
        "shipping": order.shipping.as_ref().map(|m| json!({"guid": m.guid, "name": m.name})),
        "paymentMethod": order.payment.as_ref().map(|m| json!({"guid": m.guid, "name": m.name})),
        "price": price_block(order),
        "paid": order.paid,
        "preAuthorization": { "hasPendingPreAuthorization": false, "preAuthorizationAmount": null },
        "salesChannelGuid": null,
    })
}

fn address(a: &Address, with_company_ids: bool) -> Value {
    let mut v = json!({
        "company": a.company,
        "fullName": a.full_name,
        "street": a.street,
        "houseNumber": a.house_number,
        "city": a.city,
        "district": null,
        "additional": null,
        "zip": a.zip,
        "countryCode": a.country_code,
        "regionName": null,
        "regionShortcut": null,
    });
    if with_company_ids && let Some(obj) = v.as_object_mut() {
        obj.insert("companyId".into(), json!(a.company_id));
        obj.insert("vatId".into(), json!(a.vat_id));
        obj.insert(
            "vatIdValidationStatus".into(),
            if a.vat_id.is_some() {
                json!("unverified")
            } else {
                Value::Null
            },
        );
        obj.insert("taxId".into(), Value::Null);
    }
    v
}

fn price_shape(with_vat: Decimal, vat_rate: Decimal) -> Value {
    let (without, vat) = split_vat(with_vat, vat_rate);
    json!({
        "withVat": dec2(with_vat),
        "withoutVat": dec2(without),
        "vat": dec2(vat),
        "vatRate": dec2(vat_rate),
    })
}

/// Splits a gross amount into (net, vat) at `rate` percent, rounded to cents.
pub fn split_vat(with_vat: Decimal, rate: Decimal) -> (Decimal, Decimal) {
    let divisor = Decimal::ONE + rate / Decimal::ONE_HUNDRED;
    let without =
        (with_vat / divisor).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    (without, with_vat - without)
}

fn item_json(shop: &Shop, order: &Order, item: &OrderItem) -> Value {
    let row = item.row_with_vat();
    json!({
        "itemId": item.item_id,
        "itemType": item.item_type.as_str(),
        "productType": if item.item_type == ItemType::Product { json!("product") } else { Value::Null },
        "code": item.code,
        "productGuid": item.product_guid,
        "ean": item.ean,
        "name": item.name,
        "variantName": item.variant_name,
        "brand": null,
        "supplierName": null,
        "remark": null,
        "additionalField": item.additional_field,
        "warrantyDescription": null,
        "amount": dec3(item.amount),
        "amountUnit": item.unit,
        "amountCompleted": dec3(if order.claim == ClaimState::Resolved { item.amount } else { Decimal::ZERO }),
        "weight": dec3(item.weight),
        "priceRatio": dec4(Decimal::ONE),
        "status": status_ref(shop, order.status_id),
        "itemPrice": price_shape(row, item.vat_rate),
        "unitPrice": price_shape(item.unit_with_vat, item.vat_rate),
        "displayPrices": [price_shape(row, item.vat_rate)],
        "purchasePrice": null,
        "recyclingFee": null,
    })
}

/// Which optional order sections to emit (`include=`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderIncludes {
    /// `notes` section.
    pub notes: bool,
    /// `shippingDetails` section.
    pub shipping_details: bool,
}

impl OrderIncludes {
    /// Parses a comma list, case-insensitively; unknown values are ignored.
    pub fn parse(include: Option<&str>) -> Self {
        let mut inc = Self::default();
        for part in include.unwrap_or("").split(',') {
            match part.trim().to_ascii_lowercase().as_str() {
                "notes" => inc.notes = true,
                "shippingdetails" => inc.shipping_details = true,
                _ => {}
            }
        }
        inc
    }
}

/// `data.order` detail object.
pub fn order_detail(shop: &Shop, order: &Order, inc: OrderIncludes) -> Value {
    let mut v = order_summary(shop, order);
    let items: Vec<Value> = order
        .items
        .iter()
        .map(|i| item_json(shop, order, i))
        .collect();
    let shippings: Vec<Value> = order
        .items
        .iter()
        .filter(|i| i.item_type == ItemType::Shipping)
        .map(|i| json!({"shipping": {"guid": order.shipping.as_ref().map(|m| m.guid.clone()), "name": i.name}, "itemId": i.item_id}))
        .collect();
    let payments: Vec<Value> = order
        .items
        .iter()
        .filter(|i| i.item_type == ItemType::Billing)
        .map(|i| json!({"paymentMethod": {"guid": order.payment.as_ref().map(|m| m.guid.clone()), "name": i.name}, "itemId": i.item_id}))
        .collect();
    let completion: Vec<Value> = order
        .items
        .iter()
        .filter(|i| i.item_type == ItemType::Product)
        .map(|i| {
            json!({
                "productGuid": i.product_guid,
                "code": i.code,
                "itemType": i.item_type.as_str(),
                "name": i.name,
                "variantName": i.variant_name,
                "amount": dec3(i.amount),
                "amountUnit": i.unit,
                "itemId": i.item_id,
                "amountCompleted": dec3(if order.claim == ClaimState::Resolved { i.amount } else { Decimal::ZERO }),
                "parentProductSetItemId": null,
            })
        })
        .collect();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("remark");
        obj.insert("externalCode".into(), Value::Null);
        obj.insert("birthDate".into(), Value::Null);
        obj.insert("clientIPAddress".into(), json!("127.0.0.1"));
        obj.insert("stockId".into(), json!(order.stock_id));
        obj.insert("addressesEqual".into(), json!(order.delivery.is_none()));
        obj.insert("vatPayer".into(), json!(true));
        obj.insert("vatMode".into(), json!("Normal"));
        obj.insert(
            "billingMethod".into(),
            order.payment.as_ref().map_or(
                Value::Null,
                |m| json!({"id": m.billing_method_id, "name": m.name}),
            ),
        );
        obj.insert("billingAddress".into(), address(&order.billing, true));
        obj.insert(
            "deliveryAddress".into(),
            order
                .delivery
                .as_ref()
                .map_or(Value::Null, |a| address(a, false)),
        );
        obj.insert("onlinePaymentLink".into(), Value::Null);
        obj.insert("referer".into(), Value::Null);
        obj.insert("language".into(), json!("cs"));
        obj.insert("paymentMethods".into(), json!(payments));
        obj.insert("shippings".into(), json!(shippings));
        obj.insert("items".into(), json!(items));
        obj.insert("completion".into(), json!(completion));
        if inc.notes {
            let n = &order.notes;
            obj.insert(
                "notes".into(),
                json!({
                    "customerRemark": n.customer_remark,
                    "eshopRemark": n.eshop_remark,
                    "trackingNumber": n.tracking_number,
                    "trackingUrl": n.tracking_url,
                    "additionalFields": n.additional_fields.iter().enumerate().map(|(i, t)| json!({
                        "index": i + 1, "label": format!("Pole {}", i + 1), "text": t,
                    })).collect::<Vec<_>>(),
                }),
            );
        }
        if inc.shipping_details {
            obj.insert(
                "shippingDetails".into(),
                order.pickup_point.as_ref().map_or(Value::Null, |p| {
                    json!({
                        "branchId": p.branch_id,
                        "shippingCompanyCode": "zasilkovna",
                        "shippingServiceCode": null,
                        "name": p.name,
                        "note": null,
                        "place": p.name,
                        "street": p.street,
                        "city": p.city,
                        "zipCode": p.zip,
                        "countryCode": "CZ",
                        "link": null,
                        "latitude": null,
                        "longitude": null,
                        "carrierId": null,
                    })
                }),
            );
        }
    }
    v
}

/// `GET /api/orders/statuses` data.
pub fn statuses(shop: &Shop) -> Value {
    let list: Vec<Value> = shop.statuses.iter().map(status_json).collect();
    json!({ "defaultStatus": shop.default_status, "statuses": list })
}

fn status_json(s: &OrderStatusDef) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "system": s.id < 0,
        "order": s.order,
        "markAsPaid": s.mark_as_paid,
        "color": s.color,
        "backgroundColor": null,
        "changeOrderItems": !s.stock_claim_resolved,
        "stockClaimResolved": s.stock_claim_resolved,
        "documents": {
            "generateProformaInvoice": false,
            "generateInvoice": s.stock_claim_resolved,
            "generateDeliveryNote": false,
            "generateProofPayment": false,
        },
    })
}

/// `GET /api/eshop` data.
pub fn eshop(shop: &Shop, include_statuses: bool) -> Value {
    let default_list = shop.pricelists.first();
    let mut v = json!({
        "contactInformation": {
            "eshopName": shop.eshop.name,
            "url": shop.eshop.url,
            "companyId": "12345678",
            "vatId": "CZ12345678",
            "email": shop.eshop.email,
            "phone": "+420777123456",
            "contactPerson": "Jana Dvořáková",
            "cellPhone": null,
        },
        "settings": {
            "defaultLanguage": "cs",
            "defaultCurrency": { "code": "CZK", "title": "Koruna česká", "isVisible": true },
            "defaultPricelist": default_list.map(|p| json!({"id": p.id, "name": p.name})),
            "defaultStockId": shop.default_stock_id,
            "pricesIncludeVat": true,
            "vatPayer": true,
        },
        "eshopId": shop.eshop.id,
    });
    if include_statuses && let Some(obj) = v.as_object_mut() {
        let list: Vec<Value> = shop
            .statuses
            .iter()
            .map(|s| json!({"id": s.id, "order": s.order, "name": s.name, "markAsPaid": s.mark_as_paid}))
            .collect();
        obj.insert(
            "orderStatuses".into(),
            json!({"defaultStatus": shop.default_status, "statuses": list}),
        );
    }
    v
}

/// `data.products[]` head (no variants, stock or price).
pub fn product_head(p: &Product) -> Value {
    json!({
        "guid": p.guid,
        "name": p.name,
        "type": p.product_type.as_str(),
        "url": p.url,
        "visibility": "visible",
        "creationTime": fmt_time(p.creation_time),
        "changeTime": fmt_time(p.change_time),
        "brand": p.brand.as_ref().map(|(code, name)| json!({"code": code, "name": name})),
        "supplier": null,
        "defaultCategory": { "guid": p.category_guid, "name": p.category_name, "visible": true },
        "mainImage": null,
        "voteAverageScore": null,
        "voteCount": null,
        "preauthorizationRequired": false,
    })
}

/// Which optional product sections to emit (`include=`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductIncludes {
    /// `variantParameters`: variant `name` and `parameters[]`.
    pub variant_parameters: bool,
    /// `perStockAmounts`.
    pub per_stock_amounts: bool,
    /// `perPricelistPrices`.
    pub per_pricelist_prices: bool,
    /// `setItems`.
    pub set_items: bool,
}

impl ProductIncludes {
    /// Parses a comma list, case-insensitively; unknown values are ignored.
    pub fn parse(include: Option<&str>) -> Self {
        let mut inc = Self::default();
        for part in include.unwrap_or("").split(',') {
            match part.trim().to_ascii_lowercase().as_str() {
                "variantparameters" => inc.variant_parameters = true,
                "perstockamounts" => inc.per_stock_amounts = true,
                "perpricelistprices" => inc.per_pricelist_prices = true,
                "setitems" => inc.set_items = true,
                _ => {}
            }
        }
        inc
    }
}

/// The product detail object (it IS `data`, no wrapper).
pub fn product_detail(
    shop: &Shop,
    p: &Product,
    inc: ProductIncludes,
    supplies: SuppliesAmount,
) -> Value {
    let mut v = product_head(p);
    let variants: Vec<Value> = p
        .variants
        .iter()
        .map(|var| variant_json(shop, p, var, inc, supplies))
        .collect();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("indexName".into(), json!(p.index_name));
        obj.insert("isVariant".into(), json!(p.variants.len() > 1));
        obj.insert("adult".into(), json!(false));
        obj.insert("shortDescription".into(), json!(p.short_description));
        obj.insert(
            "description".into(),
            json!(format!("<p>{}</p>", p.short_description)),
        );
        obj.insert("metaDescription".into(), Value::Null);
        obj.insert("metaTitle".into(), json!(p.name));
        obj.insert("internalNote".into(), Value::Null);
        obj.insert("hsCode".into(), Value::Null);
        obj.insert("additionalName".into(), Value::Null);
        obj.insert("variants".into(), json!(variants));
        if inc.set_items && p.product_type == ProductType::ProductSet {
            let members: Vec<Value> = p
                .set_members
                .iter()
                .map(|(code, qty)| json!({"code": code, "amount": dec3(*qty)}))
                .collect();
            obj.insert("setItems".into(), json!(members));
        }
    }
    v
}

fn variant_json(
    shop: &Shop,
    p: &Product,
    var: &Variant,
    inc: ProductIncludes,
    supplies: SuppliesAmount,
) -> Value {
    let entry = shop
        .pricelists
        .first()
        .and_then(|pl| pl.entries.get(&var.code));
    let stock = shop.variant_stock(&var.code);
    let mut v = json!({
        "code": var.code,
        "ean": var.ean,
        "stock": stock.map(dec3),
        "unit": var.unit,
        "weight": dec3(var.weight),
        "width": null,
        "height": null,
        "depth": null,
        "visible": true,
        "price": opt_dec2(entry.map(|e| e.price)),
        "commonPrice": opt_dec2(entry.and_then(|e| e.common_price)),
        "includingVat": shop.pricelists.first().is_none_or(|pl| pl.including_vat),
        "vatRate": dec2(var.vat_rate),
        "currencyCode": "CZK",
        "actionPrice": entry.and_then(|e| e.action_price.as_ref()).map(|a| json!({
            "price": dec2(a.price), "fromDate": a.from_date.map(fmt_date), "toDate": a.to_date.map(fmt_date),
        })),
        "minStockSupply": null,
        "availability": if stock.is_some_and(|s| s > Decimal::ZERO) {
            json!({"id": -1, "name": "Skladem"})
        } else {
            json!({"id": -2, "name": "Vyprodáno"})
        },
        "availabilityWhenSoldOut": { "id": -5, "name": "Na dotaz" },
        "negativeStockAllowed": "no-global",
        "amountDecimalPlaces": 0,
        "image": null,
        "isProductDefaultImage": true,
    });
    if let Some(obj) = v.as_object_mut() {
        if inc.variant_parameters {
            obj.insert("name".into(), json!(var.label()));
            let params: Vec<Value> = var
                .param
                .iter()
                .map(|(name, value)| {
                    json!({
                        "paramName": name.to_lowercase(),
                        "paramIndex": name.to_lowercase(),
                        "paramValue": value.to_lowercase(),
                        "displayName": name,
                        "rawValue": value,
                        "color": null,
                        "image": null,
                        "valuePriority": 1,
                    })
                })
                .collect();
            obj.insert("parameters".into(), json!(params));
        }
        if inc.per_stock_amounts {
            let rows: Vec<Value> = shop
                .stocks
                .iter()
                .map(|s| {
                    let lvl = shop.level(s.id, &var.code);
                    json!({
                        "stockId": s.id,
                        "amount": lvl.map(|l| dec3(supplies_amount(l.real_stock, l.claim, supplies))),
                        "claim": lvl.map(|l| dec3(l.claim)),
                        "location": null,
                        "lastAmountUpdate": null,
                    })
                })
                .collect();
            obj.insert("perStockAmounts".into(), json!(rows));
        }
        if inc.per_pricelist_prices {
            let rows: Vec<Value> = shop
                .pricelists
                .iter()
                .filter_map(|pl| pl.entries.get(&var.code).map(|e| (pl, e)))
                .map(|(pl, e)| {
                    let mut row = pricelist_row(pl, &var.code, e);
                    if let Some(o) = row.as_object_mut() {
                        o.insert("pricelistId".into(), json!(pl.id));
                    }
                    row
                })
                .collect();
            obj.insert("perPricelistPrices".into(), json!(rows));
        }
    }
    let _ = p;
    v
}

/// The supplies `amount` for a level, per the configured interpretation.
pub fn supplies_amount(real_stock: Decimal, claim: Decimal, mode: SuppliesAmount) -> Decimal {
    match mode {
        SuppliesAmount::RealStock => real_stock,
        SuppliesAmount::Available => real_stock - claim,
    }
}

/// `GET /api/stocks` data.
pub fn stocks(shop: &Shop) -> Value {
    let list: Vec<Value> = shop.stocks.iter().map(stock_json).collect();
    json!({ "stocks": list, "defaultStockId": shop.default_stock_id })
}

fn stock_json(s: &Stock) -> Value {
    json!({
        "id": s.id,
        "title": s.title,
        "isDeliveryPoint": s.is_delivery_point,
        "visibleOnEshop": true,
        "deliveryPointTitle": if s.is_delivery_point { json!(s.title) } else { Value::Null },
        "deliveryPointAddress": null,
        "type": null,
        "parentStockId": null,
    })
}

/// One `data.pricelist[]` row (read back).
pub fn pricelist_row(pl: &Pricelist, code: &str, e: &PriceEntry) -> Value {
    json!({
        "code": code,
        "currencyCode": "CZK",
        "includingVat": pl.including_vat,
        "vatRate": dec2(e.vat_rate),
        "price": {
            "price": dec2(e.price),
            "commonPrice": opt_dec2(e.common_price),
            "buyPrice": opt_dec2(e.buy_price),
            "priceRatio": dec4(e.price_ratio),
            "actionPrice": e.action_price.as_ref().map(|a| json!({
                "price": dec2(a.price), "fromDate": a.from_date.map(fmt_date), "toDate": a.to_date.map(fmt_date),
            })),
        },
        "orderableAmount": {
            "minimumAmount": e.min_amount.map(dec3),
            "maximumAmount": e.max_amount.map(dec3),
        },
        "sales": {
            "minPriceRatio": null,
            "freeShipping": false,
            "freeBilling": false,
            "loyaltyDiscount": true,
            "volumeDiscount": true,
            "quantityDiscount": true,
            "discountCoupon": true,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn times_are_prague_local_without_colon() {
        let winter = Utc.with_ymd_and_hms(2025, 3, 14, 8, 41, 7).unwrap();
        assert_eq!(fmt_time(winter), "2025-03-14T09:41:07+0100");
        let summer = Utc.with_ymd_and_hms(2025, 7, 1, 10, 0, 0).unwrap();
        assert_eq!(fmt_time(summer), "2025-07-01T12:00:00+0200");
    }

    #[test]
    fn decimals_have_fixed_places() {
        assert_eq!(dec2(d("121")), "121.00");
        assert_eq!(dec2(d("-17.355")), "-17.36");
        assert_eq!(dec3(d("2")), "2.000");
        assert_eq!(dec3(d("-0.0001")), "0.000");
        assert_eq!(dec4(Decimal::ONE), "1.0000");
        assert_eq!(dec8(d("24.91")), "24.91000000");
    }

    #[test]
    fn vat_split_adds_up() {
        let (net, vat) = split_vat(d("1089.00"), d("21"));
        assert_eq!(net, d("900.00"));
        assert_eq!(net + vat, d("1089.00"));
        let (net, vat) = split_vat(d("100.00"), d("12"));
        assert_eq!(net, d("89.29"));
        assert_eq!(vat, d("10.71"));
    }

    #[test]
    fn paginator_counts_pages() {
        let p = paginator(51, 2, 50, 1);
        assert_eq!(p["pageCount"], 2);
        assert_eq!(page_count(0, 50), 0);
        assert_eq!(page_count(100, 50), 2);
    }

    #[test]
    fn envelope_has_null_errors_when_none() {
        let e = envelope(Some(json!({"a": 1})), &[], "rid");
        assert!(e["errors"].is_null());
        assert_eq!(e["metadata"]["requestId"], "rid");
        let e = envelope(None, &[ErrorObject::new("x", "y", "z")], "rid");
        assert!(e["data"].is_null());
        assert_eq!(e["errors"][0]["errorCode"], "x");
    }
}
