//! Parsing tests for the Shoptet client on hand-written payloads that follow the API
//! reference: `+0100`/`+02:00` offsets, null sections, decimal strings, order rows for
//! variants, shipping, billing and discounts, the paginator, error envelopes, partial-success
//! errors, `Retry-After` in both forms. Also the client's configuration rules (loopback-only
//! plain http, bounds) and that no token ever shows in Debug output.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use shoptet_sync::domain::{Credentials, Secret};
use shoptet_sync::shoptet::api::{decode_data, decode_page};
use shoptet_sync::shoptet::retry::parse_retry_after;
use shoptet_sync::shoptet::*;
use std::str::FromStr;
use std::time::Duration;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

const ORDER_LIST_PAGE: &str = r#"{ "data": {
    "orders": [
      { "code": "2025000318", "guid": "5b1d7c2e-00a4-11f0-8e6b-0cc47a6c8f3e",
        "creationTime": "2025-03-14T09:41:07+0100", "changeTime": "2025-03-14T10:02:55+0100",
        "fullName": "Jana Dvořáková", "company": null, "email": "jana.dvorakova@example.cz",
        "phone": "+420603111222", "remark": null, "customerGuid": null,
        "cashDeskOrder": false, "adminUrl": "https://shop-example.myshoptet.com/admin/objednavky-detail/?id=318",
        "status": { "id": -1, "name": "Nevyřízená" }, "source": { "id": -1, "name": "E-shop" },
        "shipping": { "guid": "0f3c9a51-6d2e-11e6-b1f4-0cc47a6c92bc", "name": "Zásilkovna" },
        "paymentMethod": { "guid": "6f2c8e36-3faf-11e2-a723-705ab6a2ba75", "name": "Převodem" },
        "price": { "vat": "188.45", "toPay": "1089.00", "currencyCode": "CZK",
                   "withoutVat": "900.55", "withVat": "1089.00", "exchangeRate": "1.00000000" },
        "paid": false } ],
    "paginator": { "totalCount": 51, "page": 2, "pageCount": 2, "itemsOnPage": 1, "itemsPerPage": 50 } },
  "errors": null,
  "metadata": { "requestId": "01956f3a-2c4e-7b10-9d2a-5e8c41f07a33" } }"#;

#[test]
fn order_list_page_from_the_reference() {
    let page = decode_page::<OrderSummary>(ORDER_LIST_PAGE.as_bytes(), "orders").unwrap();
    assert_eq!(page.items.len(), 1);
    let order = &page.items[0];
    assert_eq!(order.code, "2025000318");
    assert_eq!(
        order.creation_time,
        Some(Utc.with_ymd_and_hms(2025, 3, 14, 8, 41, 7).unwrap())
    );
    assert_eq!(
        order.change_time,
        Some(Utc.with_ymd_and_hms(2025, 3, 14, 9, 2, 55).unwrap())
    );
    assert_eq!(order.full_name.as_deref(), Some("Jana Dvořáková"));
    assert_eq!(order.company, None);
    assert_eq!(order.status.as_ref().unwrap().id, Some(-1));
    let price = order.price.as_ref().unwrap();
    assert_eq!(price.with_vat, Some(dec("1089.00")));
    assert_eq!(price.vat, Some(dec("188.45")));
    assert_eq!(price.exchange_rate, Some(Decimal::ONE));
    assert_eq!(price.currency_code.as_deref(), Some("CZK"));
    assert_eq!(order.paid, Some(false));
    assert_eq!(
        page.paginator,
        Paginator {
            total_count: 51,
            page: 2,
            page_count: 2,
            items_on_page: 1,
            items_per_page: 50
        }
    );
    // Page 2 of 2: the last one.
    assert!(!page.has_next());
}

const ORDER_DETAIL: &str = r#"{ "data": { "order": {
    "code": "DEMO000005", "guid": "5b1d7c2e-00a4-11f0-8e6b-0cc47a6c8f3e", "externalCode": null,
    "creationTime": "2025-03-14T09:41:07+0100", "changeTime": "2025-07-01T14:00:00+02:00",
    "email": "jana.dvorakova@example.cz", "phone": "+420603111222", "birthDate": null,
    "clientIPAddress": "192.0.2.10", "customerGuid": null, "cashDeskOrder": false, "stockId": 1,
    "addressesEqual": true, "vatPayer": true, "vatMode": "Normal",
    "billingMethod": { "id": 2, "name": "Převodem" },
    "paymentMethod": { "guid": "6f2c8e36-3faf-11e2-a723-705ab6a2ba75", "name": "Převodem" },
    "shipping": { "guid": "0f3c9a51-6d2e-11e6-b1f4-0cc47a6c92bc", "name": "Zásilkovna" },
    "shippingDetails": { "branchId": 4711, "shippingCompanyCode": "zasilkovna", "name": "Z-BOX Praha 4",
        "street": "Na Pankráci 1", "city": "Praha", "zipCode": "14000", "countryCode": "CZ",
        "latitude": 50.05, "longitude": "14.43", "carrierId": null },
    "adminUrl": "https://shop-example.myshoptet.com/admin/objednavky-detail/?id=5",
    "status": { "id": -2, "name": "Vyřizuje se" }, "source": { "id": null, "name": "E-shop" },
    "salesChannelGuid": null,
    "price": { "vat": "103.55", "toPay": "599.00", "currencyCode": "CZK", "withoutVat": "495.45",
               "withVat": "599.00", "exchangeRate": "1.00000000", "invoicingExchangeRate": null,
               "partialPaymentAmount": null, "partialPaymentType": null },
    "paid": null,
    "billingAddress": { "company": null, "fullName": "Jana Dvořáková", "street": "Dlouhá",
        "houseNumber": "12", "city": "Brno", "district": null, "additional": null, "zip": "60200",
        "countryCode": "CZ", "regionName": null, "regionShortcut": null, "companyId": null,
        "vatId": null, "vatIdValidationStatus": null, "taxId": null },
    "deliveryAddress": { "company": null, "fullName": null, "street": null, "houseNumber": null,
        "city": null, "district": null, "additional": null, "zip": null, "countryCode": null,
        "regionName": null, "regionShortcut": null },
    "onlinePaymentLink": null, "referer": null, "language": "cs",
    "paymentMethods": [ { "paymentMethod": { "guid": null, "name": "Převodem" }, "itemId": 4 } ],
    "shippings": [ { "shipping": { "guid": "0f3c9a51-6d2e-11e6-b1f4-0cc47a6c92bc", "name": "Zásilkovna" }, "itemId": 3 } ],
    "items": [
      { "itemId": 1, "itemType": "product", "productType": "product", "code": "TRI-042/M",
        "productGuid": "c7a1e9d4-5a3b-11ef-bb20-0cc47a6c8f3e", "ean": "8594001234561",
        "name": "Triko Horal", "variantName": "Velikost: M, Barva: modrá", "brand": "Horal",
        "supplierName": null, "remark": null, "additionalField": null,
        "amount": "2.000", "amountUnit": "ks", "amountCompleted": "0.000", "weight": "0.350",
        "priceRatio": "1.0000", "status": { "id": -2, "name": "Vyřizuje se" },
        "itemPrice": { "withVat": "520.00", "withoutVat": "429.75", "vat": "90.25", "vatRate": "21.00" },
        "unitPrice": { "withVat": "260.00", "withoutVat": "214.88", "vat": "45.12", "vatRate": "21.00" },
        "displayPrices": [], "buyPrice": { "withVat": "100.00", "withoutVat": null, "vat": null, "vatRate": "21.00" },
        "recyclingFee": null, "surchargeParameters": [], "someFutureField": { "x": 1 } },
      { "itemId": 2, "itemType": "product", "code": "HRN-330", "productGuid": null, "ean": 8594001234578,
        "name": "Hrnek", "variantName": null, "amount": 1, "amountUnit": "ks", "weight": "0.300",
        "priceRatio": "1.0000", "status": { "id": -2, "name": null },
        "itemPrice": { "withVat": "129.00", "withoutVat": "115.18", "vat": "13.82", "vatRate": "12.00" } },
      { "itemId": 3, "itemType": "shipping", "code": null, "productGuid": null, "name": "Zásilkovna",
        "additionalField": "4711", "amount": "1.000", "weight": "0.000", "priceRatio": "1.0000",
        "status": { "id": -2 },
        "itemPrice": { "withVat": "79.00", "withoutVat": "65.29", "vat": "13.71", "vatRate": "21.00" } },
      { "itemId": 4, "itemType": "billing", "code": null, "name": "Převodem", "amount": "1.000",
        "weight": "0.000", "priceRatio": "1.0000", "status": null,
        "itemPrice": { "withVat": "0.00", "withoutVat": "0.00", "vat": "0.00", "vatRate": "0.00" } },
      { "itemId": 5, "itemType": "discount-coupon", "code": null, "name": "Sleva JARO25",
        "amount": "1.000", "weight": "0.000", "priceRatio": "1.0000",
        "itemPrice": { "withVat": "-129.00", "withoutVat": "-115.17", "vat": "-13.83", "vatRate": "12.00" } }
    ],
    "notes": { "customerRemark": "Prosím zazvonit", "eshopRemark": null,
               "trackingNumber": "DR1234567890E", "trackingUrl": null,
               "additionalFields": [ { "index": 1, "label": "Poznámka", "text": null } ] },
    "preAuthorization": { "hasPendingPreAuthorization": false, "preAuthorizationAmount": null },
    "completion": [ { "code": "TRI-042/M", "itemType": "product", "name": "Triko Horal", "amount": "2.000" } ]
  } },
  "errors": null,
  "metadata": { "requestId": "01956f3a-0000-7b10-9d2a-5e8c41f07a33" } }"#;

#[derive(Debug, serde::Deserialize)]
struct OrderWrapper {
    order: OrderDetail,
}

#[test]
fn order_detail_with_variant_shipping_billing_and_discount_rows() {
    let (wrapper, errors, request_id) =
        decode_data::<OrderWrapper>(ORDER_DETAIL.as_bytes(), "data.order").unwrap();
    let order = wrapper.order;
    assert!(errors.is_empty());
    assert_eq!(
        request_id.as_deref(),
        Some("01956f3a-0000-7b10-9d2a-5e8c41f07a33")
    );
    assert_eq!(order.code, "DEMO000005");
    // +02:00 (summer, with a colon) → UTC.
    assert_eq!(
        order.change_time,
        Some(Utc.with_ymd_and_hms(2025, 7, 1, 12, 0, 0).unwrap())
    );
    assert_eq!(order.status_id(), Some(-2));
    assert_eq!(order.source.as_ref().unwrap().id, None);
    assert_eq!(order.billing_method.as_ref().unwrap().id, Some(2));
    assert_eq!(order.paid, None);
    assert_eq!(order.stock_id, Some(1));

    // Equal addresses: the all-null delivery object falls back to the billing address.
    assert!(order.addresses_equal);
    assert!(order.delivery_address.as_ref().unwrap().is_empty());
    assert_eq!(
        order.effective_delivery_address().unwrap().city.as_deref(),
        Some("Brno")
    );

    let details = order.shipping_details.as_ref().unwrap();
    assert_eq!(details.branch_id.as_deref(), Some("4711"));
    assert_eq!(details.latitude.as_deref(), Some("50.05"));
    assert_eq!(details.carrier_id, None);

    let notes = order.notes.as_ref().unwrap();
    assert_eq!(notes.tracking_number.as_deref(), Some("DR1234567890E"));
    assert_eq!(notes.additional_fields[0].index, Some(1));

    assert_eq!(order.items.len(), 5);
    let variant = &order.items[0];
    assert_eq!(variant.item_type, "product");
    assert_eq!(variant.code.as_deref(), Some("TRI-042/M"));
    assert_eq!(
        variant.variant_name.as_deref(),
        Some("Velikost: M, Barva: modrá")
    );
    assert_eq!(variant.amount, Some(dec("2.000")));
    // itemPrice is the whole row, unitPrice one piece.
    assert_eq!(
        variant.item_price.as_ref().unwrap().with_vat,
        Some(dec("520.00"))
    );
    assert_eq!(
        variant.unit_price.as_ref().unwrap().with_vat,
        Some(dec("260.00"))
    );
    // Older name buyPrice is read into purchase_price.
    assert_eq!(
        variant.purchase_price.as_ref().unwrap().with_vat,
        Some(dec("100.00"))
    );
    assert!(variant.is_stock_item());

    // A bare-number EAN and amount are accepted.
    let mug = &order.items[1];
    assert_eq!(mug.ean.as_deref(), Some("8594001234578"));
    assert_eq!(mug.amount, Some(Decimal::ONE));
    assert_eq!(mug.product_guid, None);
    assert_eq!(mug.unit_price, None);

    let shipping = &order.items[2];
    assert_eq!(shipping.item_type, "shipping");
    assert_eq!(shipping.code, None);
    assert_eq!(shipping.additional_field.as_deref(), Some("4711"));
    assert!(!shipping.is_stock_item());
    assert_eq!(order.items[3].item_type, "billing");
    assert_eq!(order.items[3].status, None);
    let discount = &order.items[4];
    assert_eq!(discount.item_type, "discount-coupon");
    assert_eq!(
        discount.item_price.as_ref().unwrap().with_vat,
        Some(dec("-129.00"))
    );

    // Rows add up to the order total.
    let sum: Decimal = order
        .items
        .iter()
        .filter_map(|item| item.item_price.as_ref().and_then(|price| price.with_vat))
        .sum();
    assert_eq!(Some(sum), order.price.as_ref().unwrap().with_vat);
    assert_eq!(order.shippings[0].item_id, Some(3));
    assert_eq!(order.payment_methods[0].item_id, Some(4));
}

#[test]
fn order_detail_with_null_and_absent_sections() {
    let body = r#"{"data":{"order":{"code":"EXT-17","guid":null,"creationTime":"2025-03-14T09:41:07+0100",
        "changeTime":null,"status":null,"price":{"currencyCode":"CZK","withVat":null,"exchangeRate":"24.91000000"},
        "billingAddress":null,"deliveryAddress":null,"items":null,"paymentMethods":null,"shippings":null,
        "notes":null,"shippingDetails":null,"cashDeskOrder":null}},"errors":null}"#;
    let (wrapper, _, request_id) =
        decode_data::<OrderWrapper>(body.as_bytes(), "data.order").unwrap();
    let order = wrapper.order;
    // metadata absent (older responses omit it).
    assert_eq!(request_id, None);
    assert_eq!(order.code, "EXT-17");
    assert_eq!(order.change_time, None);
    assert_eq!(order.status_id(), None);
    assert!(order.items.is_empty());
    assert!(order.shippings.is_empty());
    assert_eq!(order.notes, None);
    assert_eq!(order.effective_delivery_address(), None);
    assert!(!order.cash_desk_order);
    assert_eq!(
        order.price.as_ref().unwrap().exchange_rate,
        Some(dec("24.91"))
    );
    assert_eq!(order.price.as_ref().unwrap().with_vat, None);
}

#[test]
fn order_changes_page_with_edit_delete_add() {
    let body = r#"{"data":{"changes":[
        {"code":"2025000318","changeTime":"2025-03-14T10:02:55+0100","changeType":"edit"},
        {"code":"2025000319","changeTime":"2025-03-14T10:03:00+0100","changeType":"delete"},
        {"code":"2025000320","changeTime":"2025-03-14T10:04:00+0100","changeType":"add"},
        {"code":"2025000321","changeTime":"2025-03-14T10:05:00+0100","changeType":"merge"}],
        "paginator":{"totalCount":2500,"page":1,"pageCount":3,"itemsOnPage":4,"itemsPerPage":1000}},
        "errors":null,"metadata":{"requestId":"r"}}"#;
    let page = decode_page::<OrderChange>(body.as_bytes(), "changes").unwrap();
    let kinds: Vec<_> = page.items.iter().map(|change| change.change_type).collect();
    assert_eq!(
        kinds,
        [
            ChangeType::Edit,
            ChangeType::Delete,
            ChangeType::Add,
            ChangeType::Other
        ]
    );
    assert!(page.items[1].change_type.is_delete());
    assert_eq!(
        page.items[0].change_time,
        Utc.with_ymd_and_hms(2025, 3, 14, 9, 2, 55).unwrap()
    );
    assert!(page.has_next());
}

#[test]
fn empty_page_with_zero_page_count_has_no_next() {
    let body = r#"{"data":{"changes":[],"paginator":{"totalCount":0,"page":1,"pageCount":0,
        "itemsOnPage":0,"itemsPerPage":1000}},"errors":null}"#;
    let page = decode_page::<OrderChange>(body.as_bytes(), "changes").unwrap();
    assert!(page.items.is_empty());
    assert!(!page.has_next());
}

#[test]
fn order_statuses_with_negative_system_ids() {
    let body = r#"{"data":{"defaultStatus":-1,"statuses":[
        {"id":-1,"name":"Nevyřízená","system":true,"order":1,"markAsPaid":false,"color":null,
         "backgroundColor":null,"changeOrderItems":true,"stockClaimResolved":false,
         "documents":{"generateProformaInvoice":false,"generateInvoice":false,"generateDeliveryNote":false}},
        {"id":-3,"name":"Vyřízena","system":true,"order":3,"markAsPaid":true,"changeOrderItems":false,
         "stockClaimResolved":true,"documents":{"generateProformaInvoice":false,"generateInvoice":true,
         "generateDeliveryNote":true,"generateProofPayment":null}},
        {"id":7,"name":"Čeká na dodavatele","system":false,"order":9,"markAsPaid":false,
         "changeOrderItems":true,"stockClaimResolved":false,"documents":null}]},
        "errors":null,"metadata":{"requestId":"r"}}"#;
    let (list, _, _) = decode_data::<OrderStatusList>(body.as_bytes(), "data").unwrap();
    assert_eq!(list.default_status, Some(-1));
    let ids: Vec<i64> = list.statuses.iter().map(|status| status.id).collect();
    assert_eq!(ids, [-1, -3, 7]);
    assert!(list.statuses[1].stock_claim_resolved && list.statuses[1].mark_as_paid);
    assert!(
        list.statuses[1]
            .documents
            .as_ref()
            .unwrap()
            .generate_invoice
    );
    assert!(
        !list.statuses[1]
            .documents
            .as_ref()
            .unwrap()
            .generate_proof_payment
    );
    assert!(!list.statuses[2].system);
}

const PRODUCT_DETAIL: &str = r#"{ "data": {
    "guid": "c7a1e9d4-5a3b-11ef-bb20-0cc47a6c8f3e", "type": "product", "name": "Triko Horal",
    "visibility": "visible", "isVariant": true,
    "creationTime": "2024-08-14T15:20:11+0200", "changeTime": "2025-03-10T08:05:42+0100",
    "brand": { "code": "horal", "name": "Horal" }, "supplier": null,
    "defaultCategory": { "guid": "1c0d2e8a-5a3b-11ef-bb20-0cc47a6c8f3e", "name": "Trička", "visible": true },
    "url": "https://shop-example.myshoptet.com/tricko-horal/",
    "variants": [
      { "code": "TRI-042/M", "ean": "8594001234561", "stock": "14.000", "unit": "ks",
        "price": "599.00", "commonPrice": null, "includingVat": true, "vatRate": "21.00",
        "currencyCode": "CZK", "actionPrice": null, "negativeStockAllowed": "no-global",
        "availability": { "id": -1, "name": "Skladem" },
        "availabilityWhenSoldOut": { "id": -5, "name": "Na dotaz" }, "visible": true, "amountDecimalPlaces": 0,
        "name": "M", "parameters": [ { "paramName": "velikost", "paramIndex": "velikost",
          "paramValue": "m", "displayName": "Velikost", "rawValue": "M", "color": null, "image": null,
          "valuePriority": 2 } ] },
      { "code": "TRI-042/L", "ean": null, "stock": "-1.000", "unit": "ks",
        "price": "599.00", "commonPrice": "699.00", "includingVat": true, "vatRate": "21.00",
        "currencyCode": "CZK",
        "actionPrice": { "price": "549.00", "fromDate": "2025-04-01", "toDate": "2025-04-14" },
        "minStockSupply": null, "negativeStockAllowed": "yes", "visible": true,
        "amountDecimalPlaces": 0, "name": "L", "parameters": null },
      { "code": "TRI-042/XL", "stock": null, "price": null, "includingVat": true, "vatRate": "21.00",
        "currencyCode": "CZK", "visible": false }
    ] },
  "errors": null, "metadata": { "requestId": "01956f41-7d20-7c3e-a0b5-19e2c7d4f611" } }"#;

#[test]
fn product_detail_with_variants() {
    let (product, _, request_id) =
        decode_data::<ProductDetail>(PRODUCT_DETAIL.as_bytes(), "data").unwrap();
    assert_eq!(
        request_id.as_deref(),
        Some("01956f41-7d20-7c3e-a0b5-19e2c7d4f611")
    );
    assert_eq!(product.guid, "c7a1e9d4-5a3b-11ef-bb20-0cc47a6c8f3e");
    assert_eq!(product.product_type.as_deref(), Some("product"));
    assert!(product.is_variant);
    assert_eq!(
        product.creation_time,
        Some(Utc.with_ymd_and_hms(2024, 8, 14, 13, 20, 11).unwrap())
    );
    assert_eq!(product.supplier, None);
    assert_eq!(product.variants.len(), 3);
    let m = &product.variants[0];
    assert_eq!(m.code, "TRI-042/M");
    assert_eq!(m.stock, Some(dec("14")));
    assert_eq!(m.price, Some(dec("599")));
    assert_eq!(m.common_price, None);
    assert_eq!(m.vat_rate, Some(dec("21")));
    assert_eq!(m.availability.as_ref().unwrap().id, Some(-1));
    assert_eq!(m.parameters[0].display_name.as_deref(), Some("Velikost"));
    assert_eq!(m.parameters[0].raw_value.as_deref(), Some("M"));
    let l = &product.variants[1];
    assert_eq!(l.stock, Some(dec("-1")));
    let action = l.action_price.as_ref().unwrap();
    assert_eq!(action.price, Some(dec("549.00")));
    assert_eq!(action.from_date, NaiveDate::from_ymd_opt(2025, 4, 1));
    assert_eq!(action.to_date, NaiveDate::from_ymd_opt(2025, 4, 14));
    assert!(l.parameters.is_empty());
    let xl = &product.variants[2];
    assert_eq!(xl.stock, None);
    assert_eq!(xl.price, None);
    assert_eq!(xl.visible, Some(false));
}

#[test]
fn product_list_and_changes_pages() {
    let list = r#"{"data":{"products":[{"guid":"c7a1e9d4-5a3b-11ef-bb20-0cc47a6c8f3e","name":"Triko Horal",
        "type":"product","url":null,"visibility":"normal","creationTime":"2024-08-14T15:20:11+0200",
        "changeTime":"2025-03-10T08:05:42+0100","brand":null,"supplier":{"guid":null,"name":"Dodavatel"},
        "defaultCategory":{"guid":null,"name":null,"visible":null},"mainImage":null}],
        "paginator":{"totalCount":1,"page":1,"pageCount":1,"itemsOnPage":1,"itemsPerPage":1000}},
        "errors":null}"#;
    let page = decode_page::<ProductSummary>(list.as_bytes(), "products").unwrap();
    assert_eq!(page.items[0].visibility.as_deref(), Some("normal"));
    assert_eq!(page.items[0].brand, None);
    let changes = r#"{"data":{"changes":[{"guid":"c7a1e9d4-5a3b-11ef-bb20-0cc47a6c8f3e",
        "changeTime":"2025-03-10T08:05:42+0100","changeType":"delete"}],
        "paginator":{"totalCount":1,"page":1,"pageCount":1,"itemsOnPage":1,"itemsPerPage":1000}},
        "errors":null}"#;
    let page = decode_page::<ProductChange>(changes.as_bytes(), "changes").unwrap();
    assert!(page.items[0].change_type.is_delete());
}

#[test]
fn stocks_and_supplies_accept_strings_and_bare_numbers() {
    let stocks = r#"{"data":{"stocks":[{"id":1,"title":"Hlavní sklad","isDeliveryPoint":false,
        "visibleOnEshop":true,"deliveryPointTitle":null,"deliveryPointAddress":null},
        {"id":4,"title":"Brno","isDeliveryPoint":true,"visibleOnEshop":true,"parentStockId":1}],
        "defaultStockId":1},"errors":null}"#;
    let (list, _, _) = decode_data::<StockList>(stocks.as_bytes(), "data").unwrap();
    assert_eq!(list.default_stock_id, Some(1));
    assert_eq!(list.stocks[1].parent_stock_id, Some(1));
    let supplies = r#"{"data":{"supplies":[
        {"productGuid":"c7a1e9d4-5a3b-11ef-bb20-0cc47a6c8f3e","code":"TRI-042/M","amount":"14.000",
         "claim":"2.000","location":"A-01","changeTime":"2025-03-14T09:41:07+0100"},
        {"productGuid":null,"code":"HRN-330","amount":50,"claim":null,"location":null},
        {"code":"KOS-1","amount":-1.5,"claim":"0.000"}],
        "paginator":{"totalCount":3,"page":1,"pageCount":1,"itemsOnPage":3,"itemsPerPage":1000}},
        "errors":null}"#;
    let page = decode_page::<StockSupply>(supplies.as_bytes(), "supplies").unwrap();
    assert_eq!(page.items[0].amount, Some(dec("14.000")));
    assert_eq!(page.items[0].claim, Some(dec("2")));
    assert_eq!(
        page.items[0].change_time,
        Some(Utc.with_ymd_and_hms(2025, 3, 14, 8, 41, 7).unwrap())
    );
    assert_eq!(page.items[1].amount, Some(dec("50")));
    assert_eq!(page.items[1].claim, None);
    assert_eq!(page.items[2].amount, Some(dec("-1.5")));
}

#[test]
fn pricelists_and_eshop_info() {
    let body = r#"{"data":{"pricelists":[{"id":1,"name":"Výchozí"},{"id":"3","name":"VO"}]},"errors":null}"#;
    let page = decode_page::<Pricelist>(body.as_bytes(), "pricelists").unwrap();
    let ids: Vec<i64> = page.items.iter().map(|list| list.id).collect();
    assert_eq!(ids, [1, 3]);
    let eshop = r#"{"data":{"contactInformation":{"eshopName":"Obchod","url":"https://shop-example.myshoptet.com/",
        "email":"owner@example.cz","phone":null},"settings":{"defaultPricelist":{"id":1,"name":"Výchozí"},
        "currencies":[]},"orderStatuses":null},"errors":null,"metadata":{"requestId":"r"}}"#;
    let (info, _, _) = decode_data::<EshopInfo>(eshop.as_bytes(), "data").unwrap();
    assert_eq!(info.default_pricelist_id(), Some(1));
    assert_eq!(
        info.contact_information.unwrap().eshop_name.as_deref(),
        Some("Obchod")
    );
    let bare = r#"{"data":{"settings":null},"errors":null}"#;
    let (info, _, _) = decode_data::<EshopInfo>(bare.as_bytes(), "data").unwrap();
    assert_eq!(info.default_pricelist_id(), None);
}

#[test]
fn error_envelope_and_partial_success_errors() {
    let error = r#"{ "data": null,
      "errors": [ { "errorCode": "order-not-found", "message": "Order \"2025000999\" not found.",
                    "instance": "2025000999" } ],
      "metadata": { "requestId": "01956f3a-2c4e-7b10-9d2a-5e8c41f07a33" } }"#;
    let envelope: Envelope<serde_json::Value> = serde_json::from_str(error).unwrap();
    assert!(envelope.data.is_none());
    assert_eq!(
        envelope.request_id(),
        Some("01956f3a-2c4e-7b10-9d2a-5e8c41f07a33")
    );
    assert_eq!(envelope.errors[0].error_code, "order-not-found");
    assert_eq!(envelope.errors[0].instance.as_deref(), Some("2025000999"));
    // decode_data reports a null `data` as Invalid and keeps the request id.
    let err = decode_data::<EshopInfo>(error.as_bytes(), "data").unwrap_err();
    assert_eq!(
        err.request_id(),
        Some("01956f3a-2c4e-7b10-9d2a-5e8c41f07a33")
    );

    let partial = r#"{"data":null,"errors":[
        {"errorCode":"unknown-product","message":"Product \"NOPE-1\" does not exist. Skipped.","instance":"NOPE-1"},
        {"errorCode":"stock-change-not-allowed","message":"Stock of a set cannot be changed.","instance":"SET-9"}],
        "metadata":{"requestId":"r-partial"}}"#;
    let envelope: Envelope<serde_json::Value> = serde_json::from_str(partial).unwrap();
    let rows: Vec<RowError> = envelope.errors.iter().map(RowError::from).collect();
    assert_eq!(rows[0].code.as_deref(), Some("NOPE-1"));
    assert_eq!(rows[1].error_code, "stock-change-not-allowed");
    // errors: null and a missing metadata are fine.
    let ok: Envelope<serde_json::Value> =
        serde_json::from_str(r#"{"data":null,"errors":null}"#).unwrap();
    assert!(ok.errors.is_empty() && ok.request_id().is_none());
}

#[test]
fn malformed_payloads_name_the_field_or_item() {
    let missing_code = r#"{"data":{"order":{"guid":"x"}},"errors":null}"#;
    let err = decode_data::<OrderWrapper>(missing_code.as_bytes(), "data.order").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("missing field `code`"), "{text}");
    assert!(text.contains("data.order"), "{text}");

    let bad_decimal = r#"{"data":{"supplies":[{"code":"A","amount":"1.000"},{"code":"B","amount":"lots"}],
        "paginator":{"page":1,"pageCount":1}},"errors":null}"#;
    let err = decode_page::<StockSupply>(bad_decimal.as_bytes(), "supplies").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("data.supplies[1]"), "{text}");
    assert!(text.contains("lots"), "{text}");

    let bad_time = r#"{"data":{"changes":[{"code":"A","changeTime":"2025-03-14 09:41","changeType":"edit"}],
        "paginator":{}},"errors":null}"#;
    let err = decode_page::<OrderChange>(bad_time.as_bytes(), "changes").unwrap_err();
    assert!(err.to_string().contains("2025-03-14 09:41"), "{err}");

    let not_json = b"<html>502 Bad Gateway</html>";
    assert!(matches!(
        decode_data::<EshopInfo>(not_json, "data"),
        Err(ShoptetError::Invalid { .. })
    ));
}

#[test]
fn retry_after_in_both_forms() {
    let now = httpdate::parse_http_date("Mon, 01 Jul 2024 12:01:00 GMT").unwrap();
    assert_eq!(
        parse_retry_after("Mon, 01 Jul 2024 12:01:11 GMT", now),
        Some(Duration::from_secs(11))
    );
    assert_eq!(parse_retry_after("30", now), Some(Duration::from_secs(30)));
    assert_eq!(parse_retry_after("", now), None);
}

#[test]
fn timestamps_and_query_encoding() {
    use shoptet_sync::shoptet::time::{encode_component, format_datetime, parse_datetime};
    let winter = parse_datetime("2025-03-14T09:41:07+0100").unwrap();
    let with_colon = parse_datetime("2025-03-14T09:41:07+01:00").unwrap();
    assert_eq!(winter, with_colon);
    assert_eq!(winter, Utc.with_ymd_and_hms(2025, 3, 14, 8, 41, 7).unwrap());
    assert_eq!(format_datetime(winter), "2025-03-14T09:41:07+0100");
    assert!(encode_component(&format_datetime(winter)).contains("%2B0100"));
}

// ---------------------------------------------------------------------------------------------
// Configuration rules
// ---------------------------------------------------------------------------------------------

fn private() -> Credentials {
    Credentials::PrivateToken(Secret::new("very-secret-private-token"))
}

#[test]
fn plain_http_only_to_loopback() {
    for allowed in [
        "https://api.myshoptet.com",
        "https://api.myshoptet.com/",
        "http://127.0.0.1:8080",
        "http://127.10.0.3",
        "http://localhost:3000/",
        "http://LOCALHOST",
        "http://[::1]:9000",
    ] {
        ShoptetClient::new(ClientConfig::with_base_url(allowed), private())
            .unwrap_or_else(|err| panic!("{allowed}: {err}"));
    }
    for refused in [
        "http://api.myshoptet.com",
        "http://10.0.0.1:8080",
        "http://localhost.example.com",
        "http://[::2]",
        "ftp://127.0.0.1",
        "not a url",
        "https://user:pw@api.myshoptet.com",
    ] {
        let err = ShoptetClient::new(ClientConfig::with_base_url(refused), private()).unwrap_err();
        assert!(matches!(err, ShoptetError::Config(_)), "{refused}: {err:?}");
    }
    let err = ShoptetClient::new(
        ClientConfig::with_base_url("http://shop.example.com"),
        private(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[test]
fn addon_needs_a_safe_eshop_url() {
    let addon = Credentials::AddonOAuth(Secret::new("oauth-secret"));
    let err = ShoptetClient::new(ClientConfig::default(), addon.clone()).unwrap_err();
    assert!(err.to_string().contains("eshop_url"), "{err}");
    let config = ClientConfig {
        eshop_url: Some("http://shop.example.com".to_owned()),
        ..ClientConfig::default()
    };
    assert!(ShoptetClient::new(config, addon.clone()).is_err());
    let config = ClientConfig {
        eshop_url: Some("https://shop-example.myshoptet.com/".to_owned()),
        ..ClientConfig::default()
    };
    ShoptetClient::new(config, addon).unwrap();
}

#[test]
fn limits_are_bounded() {
    for (in_flight, rows) in [(0, 300), (4, 300), (3, 0), (3, 301)] {
        let config = ClientConfig {
            max_in_flight: in_flight,
            max_batch_rows: rows,
            ..ClientConfig::default()
        };
        assert!(
            matches!(
                ShoptetClient::new(config, private()),
                Err(ShoptetError::Config(_))
            ),
            "{in_flight}/{rows}"
        );
    }
    let defaults = ClientConfig::default();
    assert_eq!(defaults.api_base_url, "https://api.myshoptet.com");
    assert_eq!(defaults.max_in_flight, 3);
    assert_eq!(defaults.max_batch_rows, 300);
    assert!(defaults.user_agent.starts_with("shoptet-sync/"));
}

#[test]
fn debug_output_never_shows_tokens() {
    let config = ClientConfig {
        eshop_url: Some("https://shop-example.myshoptet.com".to_owned()),
        ..ClientConfig::default()
    };
    let private_client = ShoptetClient::new(config.clone(), private()).unwrap();
    let addon = Credentials::AddonOAuth(Secret::new("oauth-secret-value"));
    let addon_client = ShoptetClient::new(config.clone(), addon.clone()).unwrap();
    let text = format!(
        "{config:?} {private_client:?} {addon_client:?} {addon:?} {:?}",
        private()
    );
    assert!(!text.contains("very-secret-private-token"), "{text}");
    assert!(!text.contains("oauth-secret-value"), "{text}");
    assert!(text.contains("api.myshoptet.com"));
}

#[test]
fn strict_batch_result_turns_failures_into_partial_failure() {
    let report = BatchReport {
        applied: 2,
        failed: vec![RowError {
            code: Some("NOPE".to_owned()),
            error_code: "unknown-product".to_owned(),
            message: "Product \"NOPE\" does not exist. Skipped.".to_owned(),
        }],
        requests: 1,
        request_ids: vec!["rid".to_owned()],
    };
    let err = report.into_result().unwrap_err();
    assert_eq!(err.request_id(), Some("rid"));
    assert!(err.to_string().contains("1 of 3 rows failed"), "{err}");
    assert!(BatchReport::default().into_result().is_ok());
}
