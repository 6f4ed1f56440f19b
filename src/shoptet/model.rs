//! Wire types of the Shoptet API, deserialised leniently.
//!
//! Unknown fields are ignored, `null` and absent sections become `None` or empty lists,
//! decimals are read from strings (numbers are accepted too, as some doc examples use them)
//! and date-times are converted to UTC. Request-side types serialise strictly: stock amounts
//! as JSON numbers, prices as two-decimal strings.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

use super::time::{de_datetime, de_opt_date, de_opt_datetime};

// ---------------------------------------------------------------------------------------------
// Lenient scalar adapters
// ---------------------------------------------------------------------------------------------

/// A JSON scalar that may carry a decimal, an id or free text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Integer(i64),
    Unsigned(u64),
    Float(f64),
    Bool(bool),
}

fn scalar_to_decimal(scalar: Scalar) -> Result<Option<Decimal>, String> {
    match scalar {
        Scalar::Text(text) => {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return Ok(None);
            }
            Decimal::from_str(trimmed)
                .or_else(|_| Decimal::from_scientific(trimmed))
                .map(Some)
                .map_err(|err| format!("invalid decimal {trimmed:?}: {err}"))
        }
        Scalar::Integer(value) => Ok(Some(Decimal::from(value))),
        Scalar::Unsigned(value) => Ok(Some(Decimal::from(value))),
        // f64's Display is the shortest round-trip form, so 14.5 stays "14.5".
        Scalar::Float(value) => Decimal::from_str(&value.to_string())
            .or_else(|_| Decimal::from_scientific(&format!("{value:e}")))
            .map(Some)
            .map_err(|err| format!("invalid decimal number {value}: {err}")),
        Scalar::Bool(value) => Err(format!("invalid decimal: found boolean {value}")),
    }
}

/// Serde adapter: a nullable decimal given as a string (`"121.00"`) or a JSON number.
pub fn de_opt_decimal<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Decimal>, D::Error> {
    match Option::<Scalar>::deserialize(deserializer)? {
        None => Ok(None),
        Some(scalar) => scalar_to_decimal(scalar).map_err(de::Error::custom),
    }
}

/// Serde adapter: a required decimal given as a string or a JSON number.
pub fn de_decimal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let scalar = Scalar::deserialize(deserializer)?;
    scalar_to_decimal(scalar)
        .map_err(de::Error::custom)?
        .ok_or_else(|| de::Error::custom("invalid decimal: empty string"))
}

/// Serde adapter: a nullable string that some payloads send as a number (EANs, branch ids).
pub fn de_opt_lenient_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Scalar>::deserialize(deserializer)? {
        None => None,
        Some(Scalar::Text(text)) => Some(text),
        Some(Scalar::Integer(value)) => Some(value.to_string()),
        Some(Scalar::Unsigned(value)) => Some(value.to_string()),
        Some(Scalar::Float(value)) => Some(value.to_string()),
        Some(Scalar::Bool(value)) => Some(value.to_string()),
    })
}

/// Serde adapter: `null` or absent becomes the type's default (lists, flags).
pub fn de_null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Serde adapter: an integer id that may arrive as a string (`"3"`) or be null.
pub fn de_opt_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    match Option::<Scalar>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Scalar::Integer(value)) => Ok(Some(value)),
        Some(Scalar::Unsigned(value)) => i64::try_from(value)
            .map(Some)
            .map_err(|_| de::Error::custom(format!("id {value} out of range"))),
        Some(Scalar::Text(text)) if text.trim().is_empty() => Ok(None),
        Some(Scalar::Text(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("invalid id {text:?}"))),
        Some(Scalar::Float(value)) => Err(de::Error::custom(format!("invalid id {value}"))),
        Some(Scalar::Bool(value)) => Err(de::Error::custom(format!("invalid id {value}"))),
    }
}

/// Serde adapter: a required integer id (number or numeric string).
pub fn de_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    de_opt_id(deserializer)?.ok_or_else(|| de::Error::custom("id is null"))
}

/// Formats a decimal as Shoptet's dec2 string (`"649.00"`), rounding half away from zero.
pub fn format_dec2(value: Decimal) -> String {
    let mut rounded =
        value.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    rounded.to_string()
}

fn ser_opt_dec2<S: serde::Serializer>(
    value: &Option<Decimal>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.serialize_str(&format_dec2(*value)),
        None => serializer.serialize_none(),
    }
}

/// Converts a decimal to a JSON number (integers stay integers), as stock writes require.
pub fn decimal_to_json_number(value: Decimal) -> Result<serde_json::Number, String> {
    let normalized = value.normalize();
    if normalized.scale() == 0
        && let Ok(integer) = i64::try_from(normalized.mantissa())
    {
        return Ok(serde_json::Number::from(integer));
    }
    // Shortest-round-trip f64 text equals the decimal text for the dec3 values Shoptet takes.
    let float = f64::from_str(&normalized.to_string())
        .map_err(|err| format!("decimal {value} is not a JSON number: {err}"))?;
    serde_json::Number::from_f64(float).ok_or_else(|| format!("decimal {value} is not finite"))
}

// ---------------------------------------------------------------------------------------------
// Envelope
// ---------------------------------------------------------------------------------------------

/// The `{data, errors, metadata}` wrapper of every `/api/*` response.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub struct Envelope<T> {
    #[serde(default)]
    pub data: Option<T>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub errors: Vec<ApiErrorItem>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

impl<T> Envelope<T> {
    /// The request id from `metadata.requestId`, if present.
    pub fn request_id(&self) -> Option<&str> {
        self.metadata
            .as_ref()
            .and_then(|meta| meta.request_id.as_deref())
    }
}

/// `metadata` of the envelope.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metadata {
    #[serde(
        default,
        rename = "requestId",
        deserialize_with = "de_opt_lenient_string"
    )]
    pub request_id: Option<String>,
}

/// One entry of `errors[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorItem {
    #[serde(default, deserialize_with = "de_null_default")]
    pub error_code: String,
    #[serde(default, deserialize_with = "de_null_default")]
    pub message: String,
    /// What the error refers to: an order/variant code, a GUID, a JSON path, `unknown`, …
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub instance: Option<String>,
}

/// The `paginator` object next to every paged list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Paginator {
    pub total_count: u64,
    pub page: u32,
    pub page_count: u32,
    pub items_on_page: u32,
    pub items_per_page: u32,
}

/// One page of a paged list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub paginator: Paginator,
}

impl<T> Page<T> {
    /// Whether a later page exists, judged by `pageCount` (0 and 1 both mean a single page).
    pub fn has_next(&self) -> bool {
        !self.items.is_empty() && self.paginator.page < self.paginator.page_count
    }
}

// ---------------------------------------------------------------------------------------------
// Shared small shapes
// ---------------------------------------------------------------------------------------------

/// `{id, name?}` (order status, source, billing method, availability).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct IdName {
    #[serde(default, deserialize_with = "de_opt_id")]
    pub id: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub name: Option<String>,
}

/// `{guid?, name}` (shipping and payment methods, supplier).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GuidName {
    #[serde(default)]
    pub guid: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// Kind of a change-feed entry. Creation is reported as `edit`; `add` is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeType {
    Edit,
    Add,
    Delete,
    #[serde(other)]
    Other,
}

impl ChangeType {
    /// Whether the entity no longer exists.
    pub fn is_delete(self) -> bool {
        self == ChangeType::Delete
    }
}

// ---------------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------------

/// `data.changes[]` of `GET /api/orders/changes`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderChange {
    pub code: String,
    #[serde(deserialize_with = "de_datetime")]
    pub change_time: DateTime<Utc>,
    pub change_type: ChangeType,
}

/// `price` of an order (list and detail).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPrice {
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub vat: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub to_pay: Option<Decimal>,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub without_vat: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub with_vat: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub exchange_rate: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub invoicing_exchange_rate: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub partial_payment_amount: Option<Decimal>,
    #[serde(default)]
    pub partial_payment_type: Option<String>,
}

/// `data.orders[]` of `GET /api/orders` (no items, no addresses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderSummary {
    pub code: String,
    #[serde(default)]
    pub guid: Option<String>,
    #[serde(default, deserialize_with = "de_opt_datetime")]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de_opt_datetime")]
    pub change_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub remark: Option<String>,
    #[serde(default)]
    pub customer_guid: Option<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub cash_desk_order: bool,
    #[serde(default)]
    pub admin_url: Option<String>,
    #[serde(default)]
    pub status: Option<IdName>,
    #[serde(default)]
    pub source: Option<IdName>,
    #[serde(default)]
    pub shipping: Option<GuidName>,
    #[serde(default)]
    pub payment_method: Option<GuidName>,
    #[serde(default)]
    pub price: Option<OrderPrice>,
    #[serde(default)]
    pub paid: Option<bool>,
    #[serde(default)]
    pub sales_channel_guid: Option<String>,
}

/// A billing or delivery address; every field is nullable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderAddress {
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub street: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub house_number: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub district: Option<String>,
    #[serde(default)]
    pub additional: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub zip: Option<String>,
    #[serde(default)]
    pub country_code: Option<String>,
    #[serde(default)]
    pub region_name: Option<String>,
    #[serde(default)]
    pub region_shortcut: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub company_id: Option<String>,
    #[serde(default)]
    pub vat_id: Option<String>,
    #[serde(default)]
    pub vat_id_validation_status: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub tax_id: Option<String>,
}

impl OrderAddress {
    /// True when every field is null (Shoptet sends this for `addressesEqual` orders).
    pub fn is_empty(&self) -> bool {
        self == &OrderAddress::default()
    }
}

/// `shippingDetails` (include-only): the pickup point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingDetails {
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub branch_id: Option<String>,
    #[serde(default)]
    pub shipping_company_code: Option<String>,
    #[serde(default)]
    pub shipping_service_code: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub place: Option<String>,
    #[serde(default)]
    pub street: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub zip_code: Option<String>,
    #[serde(default)]
    pub country_code: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub latitude: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub longitude: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub carrier_id: Option<String>,
}

/// One of `notes.additionalFields[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AdditionalField {
    #[serde(default, deserialize_with = "de_opt_id")]
    pub index: Option<i64>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

/// `notes` (include-only): remarks and the tracking number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderNotes {
    #[serde(default)]
    pub customer_remark: Option<String>,
    #[serde(default)]
    pub eshop_remark: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub tracking_url: Option<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub additional_fields: Vec<AdditionalField>,
}

/// `{withVat?, withoutVat?, vat?, vatRate}` of an order row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemPrice {
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub with_vat: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub without_vat: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub vat: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub vat_rate: Option<Decimal>,
}

/// One row of `items[]`: products (variant by `code`) and shipping/billing/discount rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    #[serde(default, deserialize_with = "de_opt_id")]
    pub item_id: Option<i64>,
    /// `product`, `shipping`, `billing`, `discount-coupon`, `volume-discount`, … (kept verbatim).
    #[serde(default, deserialize_with = "de_null_default")]
    pub item_type: String,
    #[serde(default)]
    pub product_type: Option<String>,
    /// The variant code (warehouse SKU); null on shipping/billing/discount rows.
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub code: Option<String>,
    #[serde(default)]
    pub product_guid: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub ean: Option<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub name: String,
    #[serde(default)]
    pub variant_name: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub supplier_name: Option<String>,
    #[serde(default)]
    pub remark: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub additional_field: Option<String>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub amount: Option<Decimal>,
    #[serde(default)]
    pub amount_unit: Option<String>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub amount_completed: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub weight: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub price_ratio: Option<Decimal>,
    #[serde(default)]
    pub status: Option<IdName>,
    /// The whole row (amount × unit price).
    #[serde(default)]
    pub item_price: Option<ItemPrice>,
    /// Price of one unit (newer payloads only).
    #[serde(default)]
    pub unit_price: Option<ItemPrice>,
    #[serde(default, alias = "buyPrice")]
    pub purchase_price: Option<ItemPrice>,
}

impl OrderItem {
    /// Shipping, billing and discount rows carry no stock.
    pub fn is_stock_item(&self) -> bool {
        matches!(
            self.item_type.as_str(),
            "product" | "bazar" | "product-set" | "product-set-item" | "gift"
        ) && self.code.is_some()
    }
}

/// `paymentMethods[]` rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethodRow {
    #[serde(default)]
    pub payment_method: Option<GuidName>,
    #[serde(default, deserialize_with = "de_opt_id")]
    pub item_id: Option<i64>,
}

/// `shippings[]` rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingRow {
    #[serde(default)]
    pub shipping: Option<GuidName>,
    #[serde(default, deserialize_with = "de_opt_id")]
    pub item_id: Option<i64>,
}

/// `data.order` of `GET /api/orders/{code}` (and of the status PATCH response).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderDetail {
    pub code: String,
    #[serde(default)]
    pub guid: Option<String>,
    #[serde(default)]
    pub external_code: Option<String>,
    #[serde(default, deserialize_with = "de_opt_datetime")]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de_opt_datetime")]
    pub change_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub customer_guid: Option<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub cash_desk_order: bool,
    #[serde(default, deserialize_with = "de_opt_id")]
    pub stock_id: Option<i64>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub addresses_equal: bool,
    #[serde(default)]
    pub vat_payer: Option<bool>,
    #[serde(default)]
    pub vat_mode: Option<String>,
    #[serde(default)]
    pub billing_method: Option<IdName>,
    #[serde(default)]
    pub payment_method: Option<GuidName>,
    #[serde(default)]
    pub shipping: Option<GuidName>,
    #[serde(default)]
    pub shipping_details: Option<ShippingDetails>,
    #[serde(default)]
    pub admin_url: Option<String>,
    #[serde(default)]
    pub status: Option<IdName>,
    #[serde(default)]
    pub source: Option<IdName>,
    #[serde(default)]
    pub sales_channel_guid: Option<String>,
    #[serde(default)]
    pub price: Option<OrderPrice>,
    #[serde(default)]
    pub paid: Option<bool>,
    #[serde(default)]
    pub billing_address: Option<OrderAddress>,
    /// Null, or an object of nulls, when `addresses_equal`; see [`OrderDetail::effective_delivery_address`].
    #[serde(default)]
    pub delivery_address: Option<OrderAddress>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub payment_methods: Vec<PaymentMethodRow>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub shippings: Vec<ShippingRow>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub items: Vec<OrderItem>,
    #[serde(default)]
    pub notes: Option<OrderNotes>,
}

impl OrderDetail {
    /// The delivery address, falling back to the billing address when they are equal
    /// (Shoptet then sends `null` or an all-null object).
    pub fn effective_delivery_address(&self) -> Option<&OrderAddress> {
        match &self.delivery_address {
            Some(address) if !address.is_empty() => Some(address),
            _ => self.billing_address.as_ref(),
        }
    }

    /// The status id, if the order has one.
    pub fn status_id(&self) -> Option<i64> {
        self.status.as_ref().and_then(|status| status.id)
    }
}

/// `documents` of an order status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StatusDocuments {
    #[serde(deserialize_with = "de_null_default")]
    pub generate_proforma_invoice: bool,
    #[serde(deserialize_with = "de_null_default")]
    pub generate_invoice: bool,
    #[serde(deserialize_with = "de_null_default")]
    pub generate_delivery_note: bool,
    #[serde(deserialize_with = "de_null_default")]
    pub generate_proof_payment: bool,
}

/// One of `data.statuses[]` of `GET /api/orders/statuses`. System statuses have negative ids.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderStatusInfo {
    #[serde(deserialize_with = "de_id")]
    pub id: i64,
    #[serde(default, deserialize_with = "de_null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "de_null_default")]
    pub system: bool,
    #[serde(default, deserialize_with = "de_opt_id")]
    pub order: Option<i64>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub mark_as_paid: bool,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub background_color: Option<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub change_order_items: bool,
    #[serde(default, deserialize_with = "de_null_default")]
    pub stock_claim_resolved: bool,
    #[serde(default)]
    pub documents: Option<StatusDocuments>,
}

/// `data` of `GET /api/orders/statuses`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderStatusList {
    #[serde(default, deserialize_with = "de_opt_id")]
    pub default_status: Option<i64>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub statuses: Vec<OrderStatusInfo>,
}

/// Result of `PATCH /api/orders/{code}/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChangeOutcome {
    /// The updated order, when the response carried it.
    pub order: Option<OrderDetail>,
    /// Non-fatal errors of a 200 response, e.g. `document-not-generated`.
    pub warnings: Vec<ApiErrorItem>,
    pub request_id: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------------------------

/// `brand` of a product.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Brand {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// `defaultCategory` of a product.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Category {
    #[serde(default)]
    pub guid: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub visible: Option<bool>,
}

/// `data.products[]` of `GET /api/products` (heads only: no variants, stock or price).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductSummary {
    pub guid: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type")]
    pub product_type: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default, deserialize_with = "de_opt_datetime")]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de_opt_datetime")]
    pub change_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub brand: Option<Brand>,
    #[serde(default)]
    pub supplier: Option<GuidName>,
    #[serde(default)]
    pub default_category: Option<Category>,
}

/// `actionPrice` of a variant: a time-boxed sale price.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionPrice {
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub price: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_date")]
    pub from_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "de_opt_date")]
    pub to_date: Option<NaiveDate>,
}

/// One of `variants[].parameters[]` (include=variantParameters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantParameter {
    #[serde(default)]
    pub param_name: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub param_index: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub param_value: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub raw_value: Option<String>,
}

/// One of `variants[].perStockAmounts[]` (include=perStockAmounts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerStockAmount {
    #[serde(default, deserialize_with = "de_opt_id")]
    pub stock_id: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub amount: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub claim: Option<Decimal>,
    #[serde(default)]
    pub location: Option<String>,
}

/// One of `variants[]`; a product without variants still has exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductVariant {
    pub code: String,
    #[serde(default, deserialize_with = "de_opt_lenient_string")]
    pub ean: Option<String>,
    /// Available stock as the shop shows it; null when stock is not tracked; can be negative.
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub stock: Option<Decimal>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub weight: Option<Decimal>,
    #[serde(default)]
    pub visible: Option<bool>,
    /// Price in the default price list.
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub price: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub common_price: Option<Decimal>,
    #[serde(default)]
    pub including_vat: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub vat_rate: Option<Decimal>,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub action_price: Option<ActionPrice>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub min_stock_supply: Option<Decimal>,
    #[serde(default)]
    pub availability: Option<IdName>,
    #[serde(default)]
    pub availability_when_sold_out: Option<IdName>,
    #[serde(default)]
    pub negative_stock_allowed: Option<String>,
    #[serde(default, deserialize_with = "de_opt_id")]
    pub amount_decimal_places: Option<i64>,
    /// Variant label (include=variantParameters); null for single-variant products.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub parameters: Vec<VariantParameter>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub per_stock_amounts: Vec<PerStockAmount>,
}

/// `data` of `GET /api/products/{guid}` (the product is `data` itself, no wrapper).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductDetail {
    pub guid: String,
    #[serde(default, rename = "type")]
    pub product_type: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub is_variant: bool,
    #[serde(default, deserialize_with = "de_opt_datetime")]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de_opt_datetime")]
    pub change_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub short_description: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub brand: Option<Brand>,
    #[serde(default)]
    pub supplier: Option<GuidName>,
    #[serde(default)]
    pub default_category: Option<Category>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub variants: Vec<ProductVariant>,
}

/// `data.changes[]` of `GET /api/products/changes`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductChange {
    pub guid: String,
    #[serde(deserialize_with = "de_datetime")]
    pub change_time: DateTime<Utc>,
    pub change_type: ChangeType,
}

// ---------------------------------------------------------------------------------------------
// Stocks
// ---------------------------------------------------------------------------------------------

/// One of `data.stocks[]` of `GET /api/stocks`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockInfo {
    #[serde(deserialize_with = "de_id")]
    pub id: i64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub is_delivery_point: bool,
    #[serde(default, deserialize_with = "de_null_default")]
    pub visible_on_eshop: bool,
    #[serde(default, rename = "type")]
    pub stock_type: Option<String>,
    #[serde(default, deserialize_with = "de_opt_id")]
    pub parent_stock_id: Option<i64>,
}

/// `data` of `GET /api/stocks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockList {
    #[serde(default, deserialize_with = "de_null_default")]
    pub stocks: Vec<StockInfo>,
    #[serde(default, deserialize_with = "de_opt_id")]
    pub default_stock_id: Option<i64>,
}

/// One of `data.supplies[]` of `GET /api/stocks/{stockId}/supplies`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockSupply {
    pub code: String,
    #[serde(default)]
    pub product_guid: Option<String>,
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub amount: Option<Decimal>,
    /// Reserved by open orders.
    #[serde(default, deserialize_with = "de_opt_decimal")]
    pub claim: Option<Decimal>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default, deserialize_with = "de_opt_datetime")]
    pub change_time: Option<DateTime<Utc>>,
}

/// Which absolute figure a stock row sets. Relative `amountChange` is deliberately absent:
/// a retried relative change double-counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockLevelKind {
    /// Physical stock (`realStock`); available = realStock − claim.
    RealStock,
    /// Available for ordering (`quantity`); Shoptet derives real stock = quantity + claim.
    Quantity,
}

/// One row of `PATCH /api/stocks/{stockId}/movements`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockUpdateRow {
    /// Variant code.
    pub code: String,
    pub kind: StockLevelKind,
    pub amount: Decimal,
}

impl StockUpdateRow {
    /// Sets the physical stock of `code` to `amount`.
    pub fn real_stock(code: impl Into<String>, amount: Decimal) -> Self {
        Self {
            code: code.into(),
            kind: StockLevelKind::RealStock,
            amount,
        }
    }

    /// Sets the quantity available for ordering of `code` to `amount`.
    pub fn quantity(code: impl Into<String>, amount: Decimal) -> Self {
        Self {
            code: code.into(),
            kind: StockLevelKind::Quantity,
            amount,
        }
    }

    /// The JSON entry Shoptet expects (`productCode` plus one absolute JSON number).
    pub fn to_json(&self) -> Result<serde_json::Value, String> {
        let number = decimal_to_json_number(self.amount)?;
        let key = match self.kind {
            StockLevelKind::RealStock => "realStock",
            StockLevelKind::Quantity => "quantity",
        };
        let mut entry = serde_json::Map::new();
        entry.insert(
            "productCode".to_owned(),
            serde_json::Value::String(self.code.clone()),
        );
        entry.insert(key.to_owned(), serde_json::Value::Number(number));
        Ok(serde_json::Value::Object(entry))
    }
}

// ---------------------------------------------------------------------------------------------
// Batch results
// ---------------------------------------------------------------------------------------------

/// One row a batch write did not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The row's code (from the error's `instance`, or `None` when it names no row).
    pub code: Option<String>,
    pub error_code: String,
    pub message: String,
}

impl From<&ApiErrorItem> for RowError {
    fn from(item: &ApiErrorItem) -> Self {
        Self {
            code: item.instance.clone(),
            error_code: item.error_code.clone(),
            message: item.message.clone(),
        }
    }
}

/// Result of a chunked batch write: how many rows were applied and which failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Rows Shoptet accepted.
    pub applied: usize,
    /// Rows Shoptet rejected, with its error code and message.
    pub failed: Vec<RowError>,
    /// HTTP requests it took.
    pub requests: usize,
    /// Request ids of those requests (for support).
    pub request_ids: Vec<String>,
}

impl BatchReport {
    /// Whether every row was applied.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Result of `update_stock`.
pub type StockUpdateReport = BatchReport;
/// Result of `update_prices`.
pub type PriceUpdateReport = BatchReport;
/// Result of `bulk_status_change`.
pub type BulkStatusReport = BatchReport;

// ---------------------------------------------------------------------------------------------
// Prices and e-shop
// ---------------------------------------------------------------------------------------------

/// One of `data.pricelists[]` of `GET /api/pricelists`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pricelist {
    #[serde(deserialize_with = "de_id")]
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub including_vat: Option<bool>,
}

/// Price values of one price-list row; `None` keys are omitted (= left unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceValues {
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_dec2"
    )]
    pub price: Option<Decimal>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_dec2"
    )]
    pub common_price: Option<Decimal>,
}

/// How a price row's values are to be interpreted by Shoptet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceBasis {
    /// `priceWithVat`: gross, recalculated to the list's VAT mode.
    WithVat,
    /// `priceWithoutVat`: net, recalculated to the list's VAT mode.
    WithoutVat,
    /// `price`: stored as-is.
    AsStored,
}

/// One row of `PATCH /api/pricelists/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceUpdateRow {
    /// Variant code.
    pub code: String,
    pub basis: PriceBasis,
    pub values: PriceValues,
}

impl PriceUpdateRow {
    /// Sets the gross price of `code`.
    pub fn with_vat(code: impl Into<String>, price: Decimal) -> Self {
        Self {
            code: code.into(),
            basis: PriceBasis::WithVat,
            values: PriceValues {
                price: Some(price),
                common_price: None,
            },
        }
    }

    /// The JSON entry Shoptet expects, prices as dec2 strings.
    pub fn to_json(&self) -> Result<serde_json::Value, String> {
        let key = match self.basis {
            PriceBasis::WithVat => "priceWithVat",
            PriceBasis::WithoutVat => "priceWithoutVat",
            PriceBasis::AsStored => "price",
        };
        let values = serde_json::to_value(&self.values).map_err(|err| err.to_string())?;
        let mut entry = serde_json::Map::new();
        entry.insert(
            "code".to_owned(),
            serde_json::Value::String(self.code.clone()),
        );
        entry.insert(key.to_owned(), values);
        Ok(serde_json::Value::Object(entry))
    }
}

/// `{id}` reference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct IdRef {
    #[serde(default, deserialize_with = "de_opt_id")]
    pub id: Option<i64>,
}

/// `data.settings` of `GET /api/eshop` (only what the sync needs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EshopSettings {
    #[serde(default)]
    pub default_pricelist: Option<IdRef>,
}

/// `data.contactInformation` of `GET /api/eshop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EshopContact {
    #[serde(default)]
    pub eshop_name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// `data` of `GET /api/eshop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EshopInfo {
    /// The shop's id (deliveries of webhooks carry it as `eshopId`).
    #[serde(default)]
    pub eshop_id: Option<i64>,
    #[serde(default)]
    pub contact_information: Option<EshopContact>,
    #[serde(default)]
    pub settings: Option<EshopSettings>,
}

impl EshopInfo {
    /// `settings.defaultPricelist.id`.
    pub fn default_pricelist_id(&self) -> Option<i64> {
        self.settings
            .as_ref()
            .and_then(|settings| settings.default_pricelist.as_ref())
            .and_then(|pricelist| pricelist.id)
    }
}

/// Response of the token mint (`getAccessToken`), not wrapped in the envelope.
#[derive(Deserialize)]
pub(crate) struct MintedToken {
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn dec2_formatting() {
        assert_eq!(format_dec2(Decimal::new(649, 0)), "649.00");
        assert_eq!(format_dec2(Decimal::new(12345, 3)), "12.35");
        assert_eq!(format_dec2(Decimal::new(-1736, 2)), "-17.36");
    }

    #[test]
    fn stock_rows_are_absolute_json_numbers() {
        let row = StockUpdateRow::real_stock("TRI-042/M", Decimal::new(14000, 3));
        assert_eq!(
            row.to_json().unwrap(),
            serde_json::json!({"productCode": "TRI-042/M", "realStock": 14})
        );
        assert!(row.to_json().unwrap()["realStock"].is_i64());
        let row = StockUpdateRow::quantity("HRN-330", Decimal::new(25, 1));
        assert_eq!(
            row.to_json().unwrap(),
            serde_json::json!({"productCode": "HRN-330", "quantity": 2.5})
        );
        let negative = StockUpdateRow::real_stock("X", Decimal::new(-1, 0));
        assert_eq!(negative.to_json().unwrap()["realStock"], -1);
    }

    #[test]
    fn price_rows_are_dec2_strings() {
        let mut row = PriceUpdateRow::with_vat("TRI-042/M", Decimal::new(649, 0));
        row.values.common_price = Some(Decimal::new(7990, 1));
        let expected: serde_json::Value = serde_json::from_str(
            r#"{"code":"TRI-042/M","priceWithVat":{"price":"649.00","commonPrice":"799.00"}}"#,
        )
        .unwrap();
        assert_eq!(row.to_json().unwrap(), expected);
    }
}
