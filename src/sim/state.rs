//! The in-memory e-shop: catalogue, stock levels with claims, price lists, orders and change feeds.
//!
//! Pure: no I/O, no clock (every mutation takes `now`), no randomness. Stock follows §7 of the
//! reference: per stock and variant a physical `real_stock` and a `claim` reserved by open orders;
//! available for ordering = `real_stock − claim`. Placing an order claims, a status with
//! `stockClaimResolved` resolves the claim (goods leave), cancelling releases it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

/// System status: new order (the usual default).
pub const STATUS_NEW: i64 = -1;
/// System status: being processed.
pub const STATUS_PROCESSING: i64 = -2;
/// System status: completed (claim resolved, goods left the stock).
pub const STATUS_COMPLETED: i64 = -3;
/// System status: cancelled (claim released).
pub const STATUS_CANCELLED: i64 = -4;

/// How long the change feeds keep history.
pub const CHANGE_HORIZON_DAYS: i64 = 30;

/// Why a shop operation was refused. Each maps to one Shoptet error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShopError {
    /// No order with that code.
    #[error("Order \"{0}\" not found.")]
    OrderNotFound(String),
    /// No product with that GUID or code.
    #[error("Product with identificator \"{0}\" not found.")]
    ProductNotFound(String),
    /// A row names a variant code the shop does not know.
    #[error("Product \"{0}\" does not exist. Skipped.")]
    UnknownProduct(String),
    /// Stock of a product set is computed from its members.
    #[error("Stock change of product set \"{0}\" is not allowed.")]
    StockChangeNotAllowed(String),
    /// No such order status.
    #[error("Order status \"{0}\" does not exist.")]
    StatusNotFound(i64),
    /// No such stock.
    #[error("Stock with id \"{0}\" not found.")]
    StockNotFound(i64),
    /// No such price list.
    #[error("Price list with id \"{0}\" not found.")]
    PricelistNotFound(i64),
    /// The price list has no entry for that code.
    #[error("Price list code '{0}' doesn't exist. Code skipped.")]
    PricelistCodeNotFound(String),
    /// Not enough orderable stock and overselling is off.
    #[error("Not enough stock of \"{code}\": requested {requested}, available {available}.")]
    Insufficient {
        /// Variant code.
        code: String,
        /// Quantity asked for.
        requested: Decimal,
        /// Quantity available for ordering.
        available: Decimal,
    },
    /// A field value is not allowed (`validation-error`).
    #[error("{message}")]
    Validation {
        /// JSON path of the field.
        instance: String,
        /// What is wrong.
        message: String,
    },
    /// Bad values in a batch row (`invalid-request-data`).
    #[error("{message}")]
    InvalidData {
        /// The row's code or JSON path.
        instance: String,
        /// What is wrong.
        message: String,
    },
}

impl ShopError {
    /// The Shoptet `errorCode`.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::OrderNotFound(_) => "order-not-found",
            Self::ProductNotFound(_) => "product-not-found",
            Self::UnknownProduct(_) => "unknown-product",
            Self::StockChangeNotAllowed(_) => "stock-change-not-allowed",
            Self::StatusNotFound(_) => "invalid-request-data",
            Self::StockNotFound(_) => "stock-not-found",
            Self::PricelistNotFound(_) => "pricelist-not-found",
            Self::PricelistCodeNotFound(_) => "pricelist-code-not-found",
            Self::Insufficient { .. } => "insufficient-stock",
            Self::Validation { .. } => "validation-error",
            Self::InvalidData { .. } => "invalid-request-data",
        }
    }

    /// The Shoptet `instance`.
    pub fn instance(&self) -> String {
        match self {
            Self::OrderNotFound(c)
            | Self::ProductNotFound(c)
            | Self::UnknownProduct(c)
            | Self::StockChangeNotAllowed(c)
            | Self::PricelistCodeNotFound(c) => c.clone(),
            Self::StatusNotFound(_) => "data.statusId".into(),
            Self::StockNotFound(id) | Self::PricelistNotFound(id) => id.to_string(),
            Self::Insufficient { code, .. } => code.clone(),
            Self::Validation { instance, .. } | Self::InvalidData { instance, .. } => {
                instance.clone()
            }
        }
    }
}

/// The e-shop's identity.
#[derive(Debug, Clone)]
pub struct EshopInfo {
    /// Numeric shop id.
    pub id: i64,
    /// Shop name.
    pub name: String,
    /// Storefront URL with a trailing slash.
    pub url: String,
    /// Contact e-mail.
    pub email: String,
}

/// One order status definition.
#[derive(Debug, Clone)]
pub struct OrderStatusDef {
    /// Negative for system statuses.
    pub id: i64,
    /// Shop-language name.
    pub name: String,
    /// Sort order.
    pub order: i64,
    /// Entering it marks the order paid.
    pub mark_as_paid: bool,
    /// Entering it resolves the claim (goods leave physical stock).
    pub stock_claim_resolved: bool,
    /// Entering it cancels the order (claim released). Not on the wire.
    pub cancels: bool,
    /// Display colour.
    pub color: Option<String>,
}

/// A warehouse of the shop.
#[derive(Debug, Clone)]
pub struct Stock {
    /// Stock id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Whether customers can pick up there.
    pub is_delivery_point: bool,
}

/// Product kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductType {
    /// An ordinary product.
    Product,
    /// A set whose stock is computed from its members.
    ProductSet,
}

impl ProductType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::ProductSet => "product-set",
        }
    }
}

/// One sellable variant.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Upper-case variant code (SKU key).
    pub code: String,
    /// EAN.
    pub ean: Option<String>,
    /// The variant parameter, e.g. `("Velikost", "M")`.
    pub param: Option<(String, String)>,
    /// Unit, `ks`.
    pub unit: String,
    /// Weight in kg.
    pub weight: Decimal,
    /// VAT rate in percent.
    pub vat_rate: Decimal,
}

impl Variant {
    /// Human text of the variant parameters, e.g. `Velikost: M`.
    pub fn label(&self) -> Option<String> {
        self.param.as_ref().map(|(n, v)| format!("{n}: {v}"))
    }
}

/// A product with its variants.
#[derive(Debug, Clone)]
pub struct Product {
    /// GUID.
    pub guid: String,
    /// Base product code (variant codes extend it with `/…`).
    pub code: String,
    /// Name.
    pub name: String,
    /// Name for search indexes.
    pub index_name: String,
    /// Short description.
    pub short_description: String,
    /// Storefront URL.
    pub url: String,
    /// Kind.
    pub product_type: ProductType,
    /// Creation time.
    pub creation_time: DateTime<Utc>,
    /// Last change.
    pub change_time: DateTime<Utc>,
    /// `(code, name)` of the brand.
    pub brand: Option<(String, String)>,
    /// Default category GUID.
    pub category_guid: String,
    /// Default category name.
    pub category_name: String,
    /// Variants (at least one).
    pub variants: Vec<Variant>,
    /// For sets: member variant codes with quantities per set.
    pub set_members: Vec<(String, Decimal)>,
}

/// Stock level of one variant in one stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Level {
    /// Physical amount.
    pub real_stock: Decimal,
    /// Reserved by open orders.
    pub claim: Decimal,
}

impl Level {
    /// Available for ordering.
    pub fn available(&self) -> Decimal {
        self.real_stock - self.claim
    }
}

/// A time-boxed sale price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionPrice {
    /// Sale price.
    pub price: Decimal,
    /// First day.
    pub from_date: Option<NaiveDate>,
    /// Last day.
    pub to_date: Option<NaiveDate>,
}

/// A variant's price in one price list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceEntry {
    /// Price (gross or net per the list's `including_vat`).
    pub price: Decimal,
    /// "Was" price.
    pub common_price: Option<Decimal>,
    /// Purchase price.
    pub buy_price: Option<Decimal>,
    /// Discount multiplier.
    pub price_ratio: Decimal,
    /// Sale price.
    pub action_price: Option<ActionPrice>,
    /// VAT rate in percent.
    pub vat_rate: Decimal,
    /// Minimum orderable amount.
    pub min_amount: Option<Decimal>,
    /// Maximum orderable amount.
    pub max_amount: Option<Decimal>,
}

/// A price list.
#[derive(Debug, Clone)]
pub struct Pricelist {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Whether prices include VAT.
    pub including_vat: bool,
    /// Entries by variant code.
    pub entries: BTreeMap<String, PriceEntry>,
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Address {
    /// Company.
    pub company: Option<String>,
    /// Full name.
    pub full_name: Option<String>,
    /// Street.
    pub street: Option<String>,
    /// House number.
    pub house_number: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Postal code.
    pub zip: Option<String>,
    /// Two-letter country code.
    pub country_code: Option<String>,
    /// IČO.
    pub company_id: Option<String>,
    /// DIČ.
    pub vat_id: Option<String>,
}

/// A shipping or payment method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// GUID.
    pub guid: String,
    /// Name.
    pub name: String,
    /// For payments: billing method id (1 COD, 2 wire, 3 cash, 4 card).
    pub billing_method_id: Option<i64>,
}

/// A pickup point chosen for the shipping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickupPoint {
    /// Carrier's branch id.
    pub branch_id: String,
    /// Name.
    pub name: String,
    /// Street.
    pub street: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub zip: String,
}

/// Row kind inside an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemType {
    /// A product variant.
    Product,
    /// A product set.
    ProductSet,
    /// Shipping fee.
    Shipping,
    /// Payment fee.
    Billing,
    /// Discount coupon (negative price).
    DiscountCoupon,
}

impl ItemType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::ProductSet => "product-set",
            Self::Shipping => "shipping",
            Self::Billing => "billing",
            Self::DiscountCoupon => "discount-coupon",
        }
    }
}

/// One row of an order.
#[derive(Debug, Clone)]
pub struct OrderItem {
    /// Row id inside the shop.
    pub item_id: i64,
    /// Row kind.
    pub item_type: ItemType,
    /// Variant code for product rows, `None` otherwise.
    pub code: Option<String>,
    /// Parent product GUID.
    pub product_guid: Option<String>,
    /// EAN.
    pub ean: Option<String>,
    /// Product name (or fee / coupon text).
    pub name: String,
    /// Variant text, e.g. `Velikost: M`.
    pub variant_name: Option<String>,
    /// For shipping rows: pickup point id.
    pub additional_field: Option<String>,
    /// Quantity.
    pub amount: Decimal,
    /// Unit name.
    pub unit: Option<String>,
    /// Weight per unit in kg.
    pub weight: Decimal,
    /// Gross price per unit.
    pub unit_with_vat: Decimal,
    /// VAT rate in percent.
    pub vat_rate: Decimal,
}

impl OrderItem {
    /// Gross price of the whole row.
    pub fn row_with_vat(&self) -> Decimal {
        (self.unit_with_vat * self.amount)
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
    }
}

/// Order remarks and tracking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes {
    /// Customer's remark.
    pub customer_remark: Option<String>,
    /// Shop's internal remark.
    pub eshop_remark: Option<String>,
    /// Carrier tracking number (≤ 32 chars).
    pub tracking_number: Option<String>,
    /// Tracking URL.
    pub tracking_url: Option<String>,
    /// Additional fields 1..6.
    pub additional_fields: Vec<Option<String>>,
}

/// Where an order's stock claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimState {
    /// Quantities are reserved.
    Open,
    /// Goods left physical stock.
    Resolved,
    /// Reservation given back (cancelled).
    Released,
}

/// An order.
#[derive(Debug, Clone)]
pub struct Order {
    /// Order code (a string).
    pub code: String,
    /// GUID.
    pub guid: String,
    /// Numeric id used in the admin URL.
    pub admin_id: i64,
    /// Creation time.
    pub creation_time: DateTime<Utc>,
    /// Last change.
    pub change_time: DateTime<Utc>,
    /// Current status id.
    pub status_id: i64,
    /// Paid flag (`None` = unknown).
    pub paid: Option<bool>,
    /// Customer e-mail.
    pub email: Option<String>,
    /// Customer phone (`+420…`).
    pub phone: Option<String>,
    /// Registered customer GUID.
    pub customer_guid: Option<String>,
    /// Billing address.
    pub billing: Address,
    /// Delivery address; `None` when equal to billing.
    pub delivery: Option<Address>,
    /// Shipping method.
    pub shipping: Option<Method>,
    /// Payment method.
    pub payment: Option<Method>,
    /// Pickup point.
    pub pickup_point: Option<PickupPoint>,
    /// Rows.
    pub items: Vec<OrderItem>,
    /// Notes.
    pub notes: Notes,
    /// Stock the order takes goods from.
    pub stock_id: i64,
    /// Claim state.
    pub claim: ClaimState,
}

impl Order {
    /// `(withVat, withoutVat, vat)` summed over rows.
    pub fn totals(&self) -> (Decimal, Decimal, Decimal) {
        let mut with = Decimal::ZERO;
        let mut without = Decimal::ZERO;
        for item in &self.items {
            let row = item.row_with_vat();
            let (net, _) = super::wire::split_vat(row, item.vat_rate);
            with += row;
            without += net;
        }
        (with, without, with - without)
    }
}

/// Kind of change in a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Created or edited.
    Edit,
    /// Deleted.
    Delete,
}

impl ChangeKind {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::Delete => "delete",
        }
    }
}

/// Last change of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// When.
    pub time: DateTime<Utc>,
    /// What.
    pub kind: ChangeKind,
}

/// An order as the shop receives it.
#[derive(Debug, Clone, Default)]
pub struct NewOrder {
    /// Variant (or set) codes with quantities.
    pub lines: Vec<(String, Decimal)>,
    /// Customer e-mail.
    pub email: Option<String>,
    /// Customer phone.
    pub phone: Option<String>,
    /// Billing address.
    pub billing: Address,
    /// Delivery address, `None` = same as billing.
    pub delivery: Option<Address>,
    /// Shipping method and gross fee.
    pub shipping: Option<(Method, Decimal)>,
    /// Payment method and gross fee.
    pub payment: Option<(Method, Decimal)>,
    /// Pickup point.
    pub pickup_point: Option<PickupPoint>,
    /// Coupon text and (positive) gross discount.
    pub discount: Option<(String, Decimal)>,
    /// Customer remark.
    pub remark: Option<String>,
    /// Initial status (default status when `None`).
    pub status_id: Option<i64>,
    /// Paid flag.
    pub paid: Option<bool>,
    /// Creation time (defaults to `now`).
    pub creation_time: Option<DateTime<Utc>>,
}

/// Changes to an existing order, as a shop admin would make them.
#[derive(Debug, Clone, Default)]
pub struct OrderEdit {
    /// New product lines (replaces all product rows).
    pub lines: Option<Vec<(String, Decimal)>>,
    /// New billing address.
    pub billing: Option<Address>,
    /// New delivery address (`Some(None)` = same as billing).
    pub delivery: Option<Option<Address>>,
    /// New e-mail.
    pub email: Option<Option<String>>,
    /// New phone.
    pub phone: Option<Option<String>>,
}

/// A notes PATCH: outer `None` = key absent (unchanged), inner `None` = clear.
#[derive(Debug, Clone, Default)]
pub struct NotesPatch {
    /// `customerRemark`.
    pub customer_remark: Option<Option<String>>,
    /// `eshopRemark`.
    pub eshop_remark: Option<Option<String>>,
    /// `trackingNumber`.
    pub tracking_number: Option<Option<String>>,
    /// `trackingUrl`.
    pub tracking_url: Option<Option<String>>,
    /// `additionalFields[]`: (index 1..6, text).
    pub additional_fields: Vec<(usize, Option<String>)>,
}

/// One row of a stock movement PATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// Relative change of physical stock.
    AmountChange(Decimal),
    /// Absolute available amount: real stock becomes `quantity + claim`.
    Quantity(Decimal),
    /// Absolute physical amount.
    RealStock(Decimal),
}

/// How a price object's values are meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceBasis {
    /// `price{}`: stored as is.
    AsIs,
    /// `priceWithVat{}`: gross, recalculated to the list's mode.
    Gross,
    /// `priceWithoutVat{}`: net, recalculated to the list's mode.
    Net,
}

/// Keys of one price object; outer `None` = absent, inner `None` = explicit null (remove).
#[derive(Debug, Clone, Default)]
pub struct PriceFields {
    /// `price`.
    pub price: Option<Decimal>,
    /// `commonPrice`.
    pub common_price: Option<Option<Decimal>>,
    /// `buyPrice`.
    pub buy_price: Option<Option<Decimal>>,
    /// `priceRatio`.
    pub price_ratio: Option<Decimal>,
    /// `actionPrice`.
    pub action_price: Option<Option<ActionPrice>>,
}

/// One row of a price-list PATCH.
#[derive(Debug, Clone, Default)]
pub struct PricePatch {
    /// Variant code.
    pub code: String,
    /// Price objects with their basis.
    pub prices: Vec<(PriceBasis, PriceFields)>,
    /// New VAT rate.
    pub vat_rate: Option<Decimal>,
    /// `orderableAmount.minimumAmount`.
    pub min_amount: Option<Option<Decimal>>,
    /// `orderableAmount.maximumAmount`.
    pub max_amount: Option<Option<Decimal>>,
}

/// Filters of `GET /api/orders`.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// `statusId`.
    pub status_id: Option<i64>,
    /// `creationTimeFrom`.
    pub creation_from: Option<DateTime<Utc>>,
    /// `creationTimeTo`.
    pub creation_to: Option<DateTime<Utc>>,
    /// `changeTimeFrom`.
    pub change_from: Option<DateTime<Utc>>,
    /// `changeTimeTo`.
    pub change_to: Option<DateTime<Utc>>,
    /// `orderCodes` (overrides everything else).
    pub codes: Option<Vec<String>>,
    /// `email`, case-insensitive.
    pub email: Option<String>,
    /// `productCode`.
    pub product_code: Option<String>,
}

/// The whole e-shop.
#[derive(Debug, Clone)]
pub struct Shop {
    /// Identity.
    pub eshop: EshopInfo,
    /// Status list.
    pub statuses: Vec<OrderStatusDef>,
    /// Default status of new orders.
    pub default_status: i64,
    /// Stocks.
    pub stocks: Vec<Stock>,
    /// Stock used by orders.
    pub default_stock_id: i64,
    /// Products in catalogue order.
    pub products: Vec<Product>,
    /// Price lists; the first one is the default.
    pub pricelists: Vec<Pricelist>,
    /// Orders by code.
    pub orders: BTreeMap<String, Order>,
    /// Whether orders beyond available stock are accepted.
    pub allow_oversell: bool,
    /// Units claimed beyond what was available for ordering.
    pub oversold: Decimal,
    /// Orders refused for lack of stock.
    pub refused_orders: u64,
    levels: HashMap<(i64, String), Level>,
    product_by_guid: HashMap<String, usize>,
    product_by_code: HashMap<String, usize>,
    variant_by_code: HashMap<String, (usize, usize)>,
    order_changes: HashMap<String, Change>,
    product_changes: HashMap<String, Change>,
    order_code_prefix: String,
    next_order_seq: u64,
    next_item_id: i64,
    /// Webhook events not yet taken by the dispatcher (see [`Shop::take_events`]).
    events: Vec<ShopEvent>,
}

/// Something that happened in the shop that a webhook reports (`order:create`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopEvent {
    /// Event name as Shoptet spells it.
    pub event: &'static str,
    /// `eventInstance`: the order code, status id or job id.
    pub instance: String,
    /// When it happened.
    pub created: DateTime<Utc>,
}

fn trunc(now: DateTime<Utc>) -> DateTime<Utc> {
    now.trunc_subsecs(0)
}

impl Shop {
    /// An empty shop with the standard statuses, two stocks and two price lists.
    pub fn new(eshop: EshopInfo, order_code_prefix: String, allow_oversell: bool) -> Self {
        let st = |id, name: &str, order, paid, resolved, cancels, color: &str| OrderStatusDef {
            id,
            name: name.into(),
            order,
            mark_as_paid: paid,
            stock_claim_resolved: resolved,
            cancels,
            color: Some(color.into()),
        };
        Self {
            eshop,
            statuses: vec![
                st(STATUS_NEW, "Nevyřízená", 1, false, false, false, "#000000"),
                st(
                    STATUS_PROCESSING,
                    "Vyřizuje se",
                    2,
                    false,
                    false,
                    false,
                    "#3366ff",
                ),
                st(
                    STATUS_COMPLETED,
                    "Vyřízena",
                    5,
                    true,
                    true,
                    false,
                    "#009900",
                ),
                st(
                    STATUS_CANCELLED,
                    "Stornována",
                    6,
                    false,
                    false,
                    true,
                    "#cc0000",
                ),
                st(1, "Odesláno", 3, false, true, false, "#00aa88"),
                st(2, "Čeká na platbu", 4, false, false, false, "#ff9900"),
            ],
            default_status: STATUS_NEW,
            stocks: vec![
                Stock {
                    id: 1,
                    title: "Hlavní sklad".into(),
                    is_delivery_point: false,
                },
                Stock {
                    id: 2,
                    title: "Prodejna Brno".into(),
                    is_delivery_point: true,
                },
            ],
            default_stock_id: 1,
            products: Vec::new(),
            pricelists: vec![
                Pricelist {
                    id: 1,
                    name: "Základní ceník".into(),
                    including_vat: true,
                    entries: BTreeMap::new(),
                },
                Pricelist {
                    id: 2,
                    name: "Velkoobchod".into(),
                    including_vat: false,
                    entries: BTreeMap::new(),
                },
            ],
            orders: BTreeMap::new(),
            allow_oversell,
            oversold: Decimal::ZERO,
            refused_orders: 0,
            levels: HashMap::new(),
            product_by_guid: HashMap::new(),
            product_by_code: HashMap::new(),
            variant_by_code: HashMap::new(),
            order_changes: HashMap::new(),
            product_changes: HashMap::new(),
            order_code_prefix,
            next_order_seq: 1,
            next_item_id: 1,
            events: Vec::new(),
        }
    }

    /// Records an event for webhook delivery. Bounded: a shop nobody drains keeps only the
    /// newest events (webhooks are lossy in reality too).
    pub fn emit(&mut self, event: &'static str, instance: &str, now: DateTime<Utc>) {
        const MAX_PENDING_EVENTS: usize = 100_000;
        if self.events.len() >= MAX_PENDING_EVENTS {
            self.events.remove(0);
        }
        self.events.push(ShopEvent {
            event,
            instance: instance.to_string(),
            created: trunc(now),
        });
    }

    /// Takes the events recorded since the last call.
    pub fn take_events(&mut self) -> Vec<ShopEvent> {
        std::mem::take(&mut self.events)
    }

    /// Adds a product; its creation is recorded in the product change feed.
    pub fn add_product(&mut self, mut product: Product) {
        product.code = product.code.to_uppercase();
        for v in &mut product.variants {
            v.code = v.code.to_uppercase();
        }
        let idx = self.products.len();
        self.product_by_guid.insert(product.guid.clone(), idx);
        self.product_by_code.insert(product.code.clone(), idx);
        for (vi, v) in product.variants.iter().enumerate() {
            self.variant_by_code.insert(v.code.clone(), (idx, vi));
        }
        self.product_changes.insert(
            product.guid.clone(),
            Change {
                time: trunc(product.change_time),
                kind: ChangeKind::Edit,
            },
        );
        self.products.push(product);
    }

    /// Renames a product as the shop admin would; records an `edit` change.
    pub fn rename_product(
        &mut self,
        guid: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ShopError> {
        let idx = *self
            .product_by_guid
            .get(guid)
            .ok_or_else(|| ShopError::ProductNotFound(guid.to_string()))?;
        let product = self
            .products
            .get_mut(idx)
            .ok_or_else(|| ShopError::ProductNotFound(guid.to_string()))?;
        product.name = name.to_string();
        product.change_time = trunc(now);
        self.product_changes.insert(
            guid.to_string(),
            Change {
                time: trunc(now),
                kind: ChangeKind::Edit,
            },
        );
        Ok(())
    }

    /// Deletes a product with its variants and their stock; records a `delete` change.
    pub fn delete_product(&mut self, guid: &str, now: DateTime<Utc>) -> Result<(), ShopError> {
        let idx = *self
            .product_by_guid
            .get(guid)
            .ok_or_else(|| ShopError::ProductNotFound(guid.to_string()))?;
        let product = self.products.remove(idx);
        for v in &product.variants {
            self.levels.retain(|(_, code), _| code != &v.code);
        }
        // Indices after the removed product moved: rebuild the lookups.
        self.product_by_guid.clear();
        self.product_by_code.clear();
        self.variant_by_code.clear();
        for (pi, p) in self.products.iter().enumerate() {
            self.product_by_guid.insert(p.guid.clone(), pi);
            self.product_by_code.insert(p.code.clone(), pi);
            for (vi, v) in p.variants.iter().enumerate() {
                self.variant_by_code.insert(v.code.clone(), (pi, vi));
            }
        }
        self.product_changes.insert(
            guid.to_string(),
            Change {
                time: trunc(now),
                kind: ChangeKind::Delete,
            },
        );
        Ok(())
    }

    /// Status definition by id.
    pub fn status(&self, id: i64) -> Option<&OrderStatusDef> {
        self.statuses.iter().find(|s| s.id == id)
    }

    /// Whether a stock id exists.
    pub fn has_stock(&self, id: i64) -> bool {
        self.stocks.iter().any(|s| s.id == id)
    }

    /// Product by GUID.
    pub fn product_by_guid(&self, guid: &str) -> Option<&Product> {
        self.product_by_guid
            .get(guid)
            .and_then(|&i| self.products.get(i))
    }

    /// Product by its own code or by one of its variant codes (case-insensitive).
    pub fn product_by_code(&self, code: &str) -> Option<&Product> {
        let code = code.to_uppercase();
        self.product_by_code
            .get(&code)
            .or_else(|| self.variant_by_code.get(&code).map(|(p, _)| p))
            .and_then(|&i| self.products.get(i))
    }

    /// Variant and its product by variant code (exact, upper-case).
    pub fn variant(&self, code: &str) -> Option<(&Product, &Variant)> {
        let (p, v) = *self.variant_by_code.get(code)?;
        let product = self.products.get(p)?;
        Some((product, product.variants.get(v)?))
    }

    /// All variant codes in catalogue order.
    pub fn variant_codes(&self) -> Vec<String> {
        self.products
            .iter()
            .flat_map(|p| p.variants.iter().map(|v| v.code.clone()))
            .collect()
    }

    fn is_set(&self, code: &str) -> bool {
        self.variant(code)
            .is_some_and(|(p, _)| p.product_type == ProductType::ProductSet)
    }

    /// Stored level of a (non-set) variant in a stock.
    pub fn level(&self, stock_id: i64, code: &str) -> Option<Level> {
        if self.is_set(code) {
            return None;
        }
        self.variant(code)?;
        Some(
            self.levels
                .get(&(stock_id, code.to_string()))
                .copied()
                .unwrap_or_default(),
        )
    }

    /// The variant `stock` figure: available in the default stock; for sets, how many whole
    /// sets the members allow.
    pub fn variant_stock(&self, code: &str) -> Option<Decimal> {
        let (product, _) = self.variant(code)?;
        if product.product_type == ProductType::ProductSet {
            let mut best: Option<Decimal> = None;
            for (member, qty) in &product.set_members {
                let avail = self.level(self.default_stock_id, member)?.available();
                let sets = if qty.is_zero() {
                    avail
                } else {
                    (avail / qty).floor()
                };
                best = Some(best.map_or(sets, |b: Decimal| b.min(sets)));
            }
            return best;
        }
        self.level(self.default_stock_id, code)
            .map(|l| l.available())
    }

    fn level_mut(&mut self, stock_id: i64, code: &str) -> &mut Level {
        self.levels.entry((stock_id, code.to_string())).or_default()
    }

    /// Sets physical stock as a shop admin would (no webhook/claim side effects).
    pub fn admin_set_real_stock(
        &mut self,
        stock_id: i64,
        code: &str,
        real_stock: Decimal,
    ) -> Result<Level, ShopError> {
        self.apply_movement(stock_id, code, Movement::RealStock(real_stock))
    }

    /// Applies one stock movement row.
    pub fn apply_movement(
        &mut self,
        stock_id: i64,
        code: &str,
        movement: Movement,
    ) -> Result<Level, ShopError> {
        if !self.has_stock(stock_id) {
            return Err(ShopError::StockNotFound(stock_id));
        }
        let code = code.to_uppercase();
        if self.variant(&code).is_none() {
            return Err(ShopError::UnknownProduct(code));
        }
        if self.is_set(&code) {
            return Err(ShopError::StockChangeNotAllowed(code));
        }
        let lvl = self.level_mut(stock_id, &code);
        match movement {
            Movement::AmountChange(d) => lvl.real_stock += d,
            Movement::Quantity(q) => lvl.real_stock = q + lvl.claim,
            Movement::RealStock(r) => lvl.real_stock = r,
        }
        lvl.real_stock = lvl.real_stock.round_dp(3);
        Ok(*lvl)
    }

    /// Expands product lines into per-variant claim quantities (sets → members), aggregated.
    fn claim_lines(
        &self,
        lines: &[(String, Decimal)],
    ) -> Result<Vec<(String, Decimal)>, ShopError> {
        let mut agg: BTreeMap<String, Decimal> = BTreeMap::new();
        for (code, qty) in lines {
            let (product, _) = self
                .variant(code)
                .ok_or_else(|| ShopError::UnknownProduct(code.clone()))?;
            if product.product_type == ProductType::ProductSet {
                for (member, per_set) in &product.set_members {
                    *agg.entry(member.clone()).or_default() += *qty * *per_set;
                }
            } else {
                *agg.entry(code.clone()).or_default() += *qty;
            }
        }
        Ok(agg.into_iter().collect())
    }

    fn check_available(
        &self,
        stock_id: i64,
        claims: &[(String, Decimal)],
    ) -> Result<(), ShopError> {
        if self.allow_oversell {
            return Ok(());
        }
        for (code, qty) in claims {
            let available = self.level(stock_id, code).unwrap_or_default().available();
            if *qty > Decimal::ZERO && *qty > available {
                return Err(ShopError::Insufficient {
                    code: code.clone(),
                    requested: *qty,
                    available,
                });
            }
        }
        Ok(())
    }

    /// Adds claims, counting every unit claimed beyond what was available as oversold.
    fn add_claims(&mut self, stock_id: i64, claims: &[(String, Decimal)]) {
        for (code, qty) in claims {
            let lvl = self.level_mut(stock_id, code);
            let free = lvl.available().max(Decimal::ZERO);
            let beyond = (*qty - free).max(Decimal::ZERO);
            lvl.claim += *qty;
            self.oversold += beyond;
        }
    }

    fn release_claims(&mut self, stock_id: i64, claims: &[(String, Decimal)]) {
        for (code, qty) in claims {
            self.level_mut(stock_id, code).claim -= *qty;
        }
    }

    fn resolve_claims(&mut self, stock_id: i64, claims: &[(String, Decimal)]) {
        for (code, qty) in claims {
            let lvl = self.level_mut(stock_id, code);
            lvl.claim -= *qty;
            lvl.real_stock -= *qty;
        }
    }

    fn return_goods(&mut self, stock_id: i64, claims: &[(String, Decimal)]) {
        for (code, qty) in claims {
            self.level_mut(stock_id, code).real_stock += *qty;
        }
    }

    fn order_claims(&self, order: &Order) -> Result<Vec<(String, Decimal)>, ShopError> {
        self.claim_lines(&product_lines(order))
    }

    fn record_order_change(&mut self, code: &str, now: DateTime<Utc>, kind: ChangeKind) {
        self.order_changes.insert(
            code.to_string(),
            Change {
                time: trunc(now),
                kind,
            },
        );
    }

    fn alloc_item_id(&mut self) -> i64 {
        let id = self.next_item_id;
        self.next_item_id += 1;
        id
    }

    fn product_items(&mut self, lines: &[(String, Decimal)]) -> Result<Vec<OrderItem>, ShopError> {
        let mut items = Vec::new();
        for (code, amount) in lines {
            let (product, variant) = self
                .variant(code)
                .ok_or_else(|| ShopError::UnknownProduct(code.clone()))?;
            let unit_price = self
                .pricelists
                .first()
                .and_then(|pl| pl.entries.get(code))
                .map_or(Decimal::ZERO, |e| e.price);
            let item = OrderItem {
                item_id: 0,
                item_type: if product.product_type == ProductType::ProductSet {
                    ItemType::ProductSet
                } else {
                    ItemType::Product
                },
                code: Some(variant.code.clone()),
                product_guid: Some(product.guid.clone()),
                ean: variant.ean.clone(),
                name: product.name.clone(),
                variant_name: variant.label(),
                additional_field: None,
                amount: *amount,
                unit: Some(variant.unit.clone()),
                weight: variant.weight,
                unit_with_vat: unit_price,
                vat_rate: variant.vat_rate,
            };
            items.push(item);
        }
        for item in &mut items {
            item.item_id = self.alloc_item_id();
        }
        Ok(items)
    }

    fn validate_lines(lines: &[(String, Decimal)]) -> Result<Vec<(String, Decimal)>, ShopError> {
        if lines.is_empty() {
            return Err(ShopError::InvalidData {
                instance: "items".into(),
                message: "An order needs at least one product row.".into(),
            });
        }
        lines
            .iter()
            .map(|(code, qty)| {
                if *qty <= Decimal::ZERO {
                    Err(ShopError::InvalidData {
                        instance: code.clone(),
                        message: format!("Amount of \"{code}\" must be positive."),
                    })
                } else {
                    Ok((code.to_uppercase(), qty.round_dp(3)))
                }
            })
            .collect()
    }

    /// Places an order: claims its quantities (refused beyond availability unless overselling
    /// is allowed) and records an `edit` change. Returns the new order code.
    pub fn place_order(&mut self, new: NewOrder, now: DateTime<Utc>) -> Result<String, ShopError> {
        let now = trunc(now);
        let lines = Self::validate_lines(&new.lines)?;
        let status_id = new.status_id.unwrap_or(self.default_status);
        let status = self
            .status(status_id)
            .cloned()
            .ok_or(ShopError::StatusNotFound(status_id))?;
        let stock_id = self.default_stock_id;
        let claims = self.claim_lines(&lines)?;
        if let Err(e) = self.check_available(stock_id, &claims) {
            self.refused_orders += 1;
            return Err(e);
        }
        let mut items = self.product_items(&lines)?;
        if let Some((method, fee)) = &new.shipping {
            let item_id = self.alloc_item_id();
            items.push(fee_item(
                item_id,
                ItemType::Shipping,
                &method.name,
                *fee,
                new.pickup_point.as_ref().map(|p| p.branch_id.clone()),
            ));
        }
        if let Some((method, fee)) = &new.payment {
            let item_id = self.alloc_item_id();
            items.push(fee_item(
                item_id,
                ItemType::Billing,
                &method.name,
                *fee,
                None,
            ));
        }
        if let Some((text, discount)) = &new.discount {
            let item_id = self.alloc_item_id();
            items.push(fee_item(
                item_id,
                ItemType::DiscountCoupon,
                text,
                -discount.abs(),
                None,
            ));
        }
        let seq = self.next_order_seq;
        self.next_order_seq += 1;
        let code = format!("{}{:06}", self.order_code_prefix, seq);
        let creation = new.creation_time.map_or(now, trunc);
        self.add_claims(stock_id, &claims);
        let mut order = Order {
            code: code.clone(),
            guid: order_guid(&self.eshop, seq),
            admin_id: i64::try_from(seq).unwrap_or(i64::MAX),
            creation_time: creation,
            change_time: creation,
            status_id: self.default_status,
            paid: new.paid.or(Some(false)),
            email: new.email,
            phone: new.phone,
            customer_guid: None,
            billing: new.billing,
            delivery: new.delivery,
            shipping: new.shipping.map(|(m, _)| m),
            payment: new.payment.map(|(m, _)| m),
            pickup_point: new.pickup_point,
            items,
            notes: Notes {
                customer_remark: new.remark,
                additional_fields: vec![None; 6],
                ..Notes::default()
            },
            stock_id,
            claim: ClaimState::Open,
        };
        if status.id != self.default_status {
            self.transition(&mut order, &status, &claims, None);
        }
        self.record_order_change(&code, creation, ChangeKind::Edit);
        self.emit("order:create", &code, now);
        self.orders.insert(code.clone(), order);
        Ok(code)
    }

    /// Moves the claim along with a status change and sets status/paid. No-op detection is the
    /// caller's job.
    fn transition(
        &mut self,
        order: &mut Order,
        to: &OrderStatusDef,
        claims: &[(String, Decimal)],
        paid: Option<bool>,
    ) {
        let stock = order.stock_id;
        match order.claim {
            ClaimState::Open if to.stock_claim_resolved => {
                self.resolve_claims(stock, claims);
                order.claim = ClaimState::Resolved;
            }
            ClaimState::Open if to.cancels => {
                self.release_claims(stock, claims);
                order.claim = ClaimState::Released;
            }
            ClaimState::Released if to.stock_claim_resolved => {
                self.add_claims(stock, claims);
                self.resolve_claims(stock, claims);
                order.claim = ClaimState::Resolved;
            }
            ClaimState::Released if !to.cancels => {
                self.add_claims(stock, claims);
                order.claim = ClaimState::Open;
            }
            ClaimState::Resolved if to.cancels => {
                // Cancelling a dispatched order: the goods come back.
                self.return_goods(stock, claims);
                order.claim = ClaimState::Released;
            }
            _ => {}
        }
        order.status_id = to.id;
        order.paid = match paid {
            Some(p) => Some(p),
            None if to.mark_as_paid => Some(true),
            None => order.paid,
        };
    }

    /// Sets an order's status (and optionally the paid flag). Setting the status the order
    /// already has without changing `paid` is a no-op and returns `false`.
    pub fn set_status(
        &mut self,
        code: &str,
        status_id: Option<i64>,
        paid: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<bool, ShopError> {
        let mut order = self
            .orders
            .get(code)
            .cloned()
            .ok_or_else(|| ShopError::OrderNotFound(code.to_string()))?;
        let target = status_id.unwrap_or(order.status_id);
        let to = self
            .status(target)
            .cloned()
            .ok_or(ShopError::StatusNotFound(target))?;
        let status_same = to.id == order.status_id;
        let paid_same = paid.is_none_or(|p| order.paid == Some(p));
        if status_same && paid_same {
            return Ok(false);
        }
        let was_paid = order.paid == Some(true);
        if status_same {
            order.paid = paid;
        } else {
            let claims = self.order_claims(&order)?;
            self.transition(&mut order, &to, &claims, paid);
        }
        order.change_time = trunc(now);
        self.record_order_change(code, now, ChangeKind::Edit);
        self.emit("order:update", code, now);
        if !was_paid && order.paid == Some(true) {
            self.emit("order:paid", code, now);
        }
        self.orders.insert(code.to_string(), order);
        Ok(true)
    }

    /// Cancels an order as the shop would (claim released).
    pub fn cancel_order(&mut self, code: &str, now: DateTime<Utc>) -> Result<bool, ShopError> {
        self.set_status(code, Some(STATUS_CANCELLED), None, now)
    }

    /// Deletes an order; an open claim is released. Records a `delete` change.
    pub fn delete_order(&mut self, code: &str, now: DateTime<Utc>) -> Result<(), ShopError> {
        let order = self
            .orders
            .get(code)
            .cloned()
            .ok_or_else(|| ShopError::OrderNotFound(code.to_string()))?;
        if order.claim == ClaimState::Open {
            let claims = self.order_claims(&order)?;
            self.release_claims(order.stock_id, &claims);
        }
        self.orders.remove(code);
        self.record_order_change(code, now, ChangeKind::Delete);
        self.emit("order:delete", code, now);
        Ok(())
    }

    /// Edits an order as a shop admin would; an open claim follows the new quantities
    /// (increases are refused beyond availability unless overselling is allowed).
    pub fn edit_order(
        &mut self,
        code: &str,
        edit: OrderEdit,
        now: DateTime<Utc>,
    ) -> Result<(), ShopError> {
        let mut order = self
            .orders
            .get(code)
            .cloned()
            .ok_or_else(|| ShopError::OrderNotFound(code.to_string()))?;
        if let Some(lines) = edit.lines {
            let lines = Self::validate_lines(&lines)?;
            let old = self.order_claims(&order)?;
            let new = self.claim_lines(&lines)?;
            if order.claim == ClaimState::Open {
                let mut delta: BTreeMap<String, Decimal> = BTreeMap::new();
                for (c, q) in &new {
                    *delta.entry(c.clone()).or_default() += *q;
                }
                for (c, q) in &old {
                    *delta.entry(c.clone()).or_default() -= *q;
                }
                let increases: Vec<(String, Decimal)> = delta
                    .iter()
                    .filter(|(_, q)| **q > Decimal::ZERO)
                    .map(|(c, q)| (c.clone(), *q))
                    .collect();
                let decreases: Vec<(String, Decimal)> = delta
                    .iter()
                    .filter(|(_, q)| **q < Decimal::ZERO)
                    .map(|(c, q)| (c.clone(), -*q))
                    .collect();
                self.check_available(order.stock_id, &increases)?;
                self.add_claims(order.stock_id, &increases);
                self.release_claims(order.stock_id, &decreases);
            }
            let products = self.product_items(&lines)?;
            let others: Vec<OrderItem> = order
                .items
                .iter()
                .filter(|i| !matches!(i.item_type, ItemType::Product | ItemType::ProductSet))
                .cloned()
                .collect();
            order.items = products.into_iter().chain(others).collect();
        }
        if let Some(b) = edit.billing {
            order.billing = b;
        }
        if let Some(d) = edit.delivery {
            order.delivery = d;
        }
        if let Some(e) = edit.email {
            order.email = e;
        }
        if let Some(p) = edit.phone {
            order.phone = p;
        }
        order.change_time = trunc(now);
        self.record_order_change(code, now, ChangeKind::Edit);
        self.emit("order:update", code, now);
        self.orders.insert(code.to_string(), order);
        Ok(())
    }

    /// Applies a notes PATCH (tracking number at most 32 characters).
    pub fn patch_notes(
        &mut self,
        code: &str,
        patch: NotesPatch,
        now: DateTime<Utc>,
    ) -> Result<(), ShopError> {
        if let Some(Some(t)) = &patch.tracking_number
            && t.chars().count() > 32
        {
            return Err(ShopError::Validation {
                instance: "data.trackingNumber".into(),
                message: "Tracking number is longer than 32 characters.".into(),
            });
        }
        for (idx, text) in &patch.additional_fields {
            if !(1..=6).contains(idx) {
                return Err(ShopError::Validation {
                    instance: "data.additionalFields.index".into(),
                    message: format!("Additional field index {idx} is out of range 1..6."),
                });
            }
            if *idx <= 3 && text.as_ref().is_some_and(|t| t.chars().count() > 255) {
                return Err(ShopError::Validation {
                    instance: "data.additionalFields.text".into(),
                    message: format!("Additional field {idx} is longer than 255 characters."),
                });
            }
        }
        let order = self
            .orders
            .get_mut(code)
            .ok_or_else(|| ShopError::OrderNotFound(code.to_string()))?;
        let n = &mut order.notes;
        if let Some(v) = patch.customer_remark {
            n.customer_remark = v;
        }
        if let Some(v) = patch.eshop_remark {
            n.eshop_remark = v;
        }
        if let Some(v) = patch.tracking_number {
            n.tracking_number = v;
        }
        if let Some(v) = patch.tracking_url {
            n.tracking_url = v;
        }
        n.additional_fields.resize(6, None);
        for (idx, text) in patch.additional_fields {
            if let Some(slot) = n.additional_fields.get_mut(idx - 1) {
                *slot = text;
            }
        }
        order.change_time = trunc(now);
        self.record_order_change(code, now, ChangeKind::Edit);
        self.emit("order:update", code, now);
        Ok(())
    }

    /// Applies one price-list row.
    pub fn patch_price(
        &mut self,
        pricelist_id: i64,
        patch: &PricePatch,
        now: DateTime<Utc>,
    ) -> Result<(), ShopError> {
        let code = patch.code.to_uppercase();
        let pl = self
            .pricelists
            .iter_mut()
            .find(|p| p.id == pricelist_id)
            .ok_or(ShopError::PricelistNotFound(pricelist_id))?;
        let including_vat = pl.including_vat;
        let is_default = self
            .pricelists
            .first()
            .is_some_and(|p| p.id == pricelist_id);
        let pl = self
            .pricelists
            .iter_mut()
            .find(|p| p.id == pricelist_id)
            .ok_or(ShopError::PricelistNotFound(pricelist_id))?;
        let current = pl
            .entries
            .get(&code)
            .cloned()
            .ok_or_else(|| ShopError::PricelistCodeNotFound(code.clone()))?;
        let mut entry = current.clone();
        let bad = |msg: String| ShopError::InvalidData {
            instance: code.clone(),
            message: msg,
        };
        if let Some(rate) = patch.vat_rate {
            if rate < Decimal::ZERO || rate > Decimal::ONE_HUNDRED {
                return Err(bad(format!("VAT rate {rate} is out of range.")));
            }
            entry.vat_rate = rate;
        }
        let convert = |basis: PriceBasis, v: Decimal, rate: Decimal| -> Decimal {
            let factor = Decimal::ONE + rate / Decimal::ONE_HUNDRED;
            let out = match (basis, including_vat) {
                (PriceBasis::Gross, false) => v / factor,
                (PriceBasis::Net, true) => v * factor,
                _ => v,
            };
            out.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        };
        for (basis, f) in &patch.prices {
            let rate = entry.vat_rate;
            let check = |v: Decimal, name: &str| {
                if v < Decimal::ZERO {
                    Err(bad(format!("Value of \"{name}\" must not be negative.")))
                } else {
                    Ok(v)
                }
            };
            if let Some(p) = f.price {
                entry.price = convert(*basis, check(p, "price")?, rate);
            }
            if let Some(cp) = f.common_price {
                entry.common_price = match cp {
                    Some(v) => Some(convert(*basis, check(v, "commonPrice")?, rate)),
                    None => None,
                };
            }
            if let Some(bp) = f.buy_price {
                if !is_default {
                    return Err(bad(
                        "buyPrice can only be set in the default price list.".into()
                    ));
                }
                entry.buy_price = match bp {
                    Some(v) => Some(convert(*basis, check(v, "buyPrice")?, rate)),
                    None => None,
                };
            }
            if let Some(r) = f.price_ratio {
                if r < Decimal::ZERO || r > Decimal::ONE {
                    return Err(bad(format!("priceRatio {r} is out of range 0..1.")));
                }
                entry.price_ratio = r;
            }
            if let Some(ap) = &f.action_price {
                entry.action_price = match ap {
                    Some(a) => {
                        if let (Some(from), Some(to)) = (a.from_date, a.to_date)
                            && from > to
                        {
                            return Err(bad("actionPrice fromDate is after toDate.".into()));
                        }
                        Some(ActionPrice {
                            price: convert(*basis, check(a.price, "actionPrice.price")?, rate),
                            ..a.clone()
                        })
                    }
                    None => None,
                };
            }
        }
        if let Some(min) = patch.min_amount {
            entry.min_amount = min;
        }
        if let Some(max) = patch.max_amount {
            entry.max_amount = max;
        }
        pl.entries.insert(code.clone(), entry.clone());
        if entry != current
            && let Some(&(pi, _)) = self.variant_by_code.get(&code)
            && let Some(product) = self.products.get_mut(pi)
        {
            product.change_time = trunc(now);
            let guid = product.guid.clone();
            self.product_changes.insert(
                guid,
                Change {
                    time: trunc(now),
                    kind: ChangeKind::Edit,
                },
            );
        }
        Ok(())
    }

    /// Orders matching a filter, by code (creation order).
    pub fn filter_orders(&self, f: &OrderFilter) -> Vec<&Order> {
        if let Some(codes) = &f.codes {
            return self
                .orders
                .values()
                .filter(|o| codes.iter().any(|c| c == &o.code))
                .collect();
        }
        self.orders
            .values()
            .filter(|o| f.status_id.is_none_or(|s| o.status_id == s))
            .filter(|o| f.creation_from.is_none_or(|t| o.creation_time >= t))
            .filter(|o| f.creation_to.is_none_or(|t| o.creation_time <= t))
            .filter(|o| f.change_from.is_none_or(|t| o.change_time >= t))
            .filter(|o| f.change_to.is_none_or(|t| o.change_time <= t))
            .filter(|o| {
                f.email.as_ref().is_none_or(|e| {
                    o.email
                        .as_ref()
                        .is_some_and(|oe| oe.eq_ignore_ascii_case(e))
                })
            })
            .filter(|o| {
                f.product_code.as_ref().is_none_or(|c| {
                    o.items
                        .iter()
                        .any(|i| i.code.as_ref().is_some_and(|ic| ic.eq_ignore_ascii_case(c)))
                })
            })
            .collect()
    }

    /// Last change per order since `from` (inclusive), within the 30-day horizon, ordered by
    /// time then code.
    pub fn order_changes(
        &self,
        from: DateTime<Utc>,
        kind: Option<ChangeKind>,
        now: DateTime<Utc>,
    ) -> Vec<(String, Change)> {
        changes_since(&self.order_changes, from, kind, now)
    }

    /// Last change per product GUID since `from`, like [`Shop::order_changes`].
    pub fn product_changes(
        &self,
        from: DateTime<Utc>,
        kind: Option<ChangeKind>,
        now: DateTime<Utc>,
    ) -> Vec<(String, Change)> {
        changes_since(&self.product_changes, from, kind, now)
    }
}

fn changes_since(
    map: &HashMap<String, Change>,
    from: DateTime<Utc>,
    kind: Option<ChangeKind>,
    now: DateTime<Utc>,
) -> Vec<(String, Change)> {
    let horizon = now - Duration::days(CHANGE_HORIZON_DAYS);
    let mut out: Vec<(String, Change)> = map
        .iter()
        .filter(|(_, c)| c.time >= from && c.time >= horizon)
        .filter(|(_, c)| kind.is_none_or(|k| c.kind == k))
        .map(|(k, c)| (k.clone(), *c))
        .collect();
    out.sort_by(|a, b| a.1.time.cmp(&b.1.time).then_with(|| a.0.cmp(&b.0)));
    out
}

fn product_lines(order: &Order) -> Vec<(String, Decimal)> {
    order
        .items
        .iter()
        .filter(|i| matches!(i.item_type, ItemType::Product | ItemType::ProductSet))
        .filter_map(|i| i.code.clone().map(|c| (c, i.amount)))
        .collect()
}

fn fee_item(
    item_id: i64,
    item_type: ItemType,
    name: &str,
    with_vat: Decimal,
    additional_field: Option<String>,
) -> OrderItem {
    OrderItem {
        item_id,
        item_type,
        code: None,
        product_guid: None,
        ean: None,
        name: name.to_string(),
        variant_name: None,
        additional_field,
        amount: Decimal::ONE,
        unit: None,
        weight: Decimal::ZERO,
        unit_with_vat: with_vat,
        vat_rate: Decimal::from(21),
    }
}

fn order_guid(eshop: &EshopInfo, seq: u64) -> String {
    let hi = u64::try_from(eshop.id).unwrap_or(0);
    uuid::Uuid::from_u64_pair(0x5b1d_7c2e_00a4_11f0 ^ hi, 0x8e6b_0000_0000_0000 | seq).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 14, 9, 0, 0).unwrap()
    }

    fn variant(code: &str) -> Variant {
        Variant {
            code: code.into(),
            ean: None,
            param: None,
            unit: "ks".into(),
            weight: d("0.2"),
            vat_rate: d("21"),
        }
    }

    fn shop() -> Shop {
        let mut s = Shop::new(
            EshopInfo {
                id: 470123,
                name: "Test".into(),
                url: "http://127.0.0.1/".into(),
                email: "a@b.cz".into(),
            },
            "2025".into(),
            false,
        );
        let mut p = Product {
            guid: "g1".into(),
            code: "TRI-001".into(),
            name: "Triko".into(),
            index_name: "triko".into(),
            short_description: String::new(),
            url: String::new(),
            product_type: ProductType::Product,
            creation_time: now(),
            change_time: now(),
            brand: None,
            category_guid: "c".into(),
            category_name: "Trička".into(),
            variants: vec![variant("TRI-001/M"), variant("TRI-001/L")],
            set_members: vec![],
        };
        s.add_product(p.clone());
        p.guid = "g2".into();
        p.code = "SADA-001".into();
        p.product_type = ProductType::ProductSet;
        p.variants = vec![variant("SADA-001")];
        p.set_members = vec![("TRI-001/M".into(), d("2"))];
        s.add_product(p);
        for code in ["TRI-001/M", "TRI-001/L", "SADA-001"] {
            s.pricelists[0].entries.insert(
                code.into(),
                PriceEntry {
                    price: d("250"),
                    common_price: None,
                    buy_price: None,
                    price_ratio: Decimal::ONE,
                    action_price: None,
                    vat_rate: d("21"),
                    min_amount: None,
                    max_amount: None,
                },
            );
        }
        s.admin_set_real_stock(1, "TRI-001/M", d("10")).unwrap();
        s.admin_set_real_stock(1, "TRI-001/L", d("3")).unwrap();
        s
    }

    fn order(lines: &[(&str, &str)]) -> NewOrder {
        NewOrder {
            lines: lines.iter().map(|(c, q)| (c.to_string(), d(q))).collect(),
            ..NewOrder::default()
        }
    }

    #[test]
    fn placing_claims_and_completing_resolves() {
        let mut s = shop();
        let code = s.place_order(order(&[("tri-001/m", "4")]), now()).unwrap();
        let l = s.level(1, "TRI-001/M").unwrap();
        assert_eq!(
            (l.real_stock, l.claim, l.available()),
            (d("10"), d("4"), d("6"))
        );
        assert!(
            s.set_status(&code, Some(STATUS_PROCESSING), None, now())
                .unwrap()
        );
        assert_eq!(s.level(1, "TRI-001/M").unwrap().claim, d("4"));
        assert!(
            s.set_status(&code, Some(STATUS_COMPLETED), None, now())
                .unwrap()
        );
        let l = s.level(1, "TRI-001/M").unwrap();
        assert_eq!((l.real_stock, l.claim), (d("6"), d("0")));
        assert_eq!(s.orders[&code].paid, Some(true), "completed marks paid");
        // Same status again is a no-op.
        assert!(
            !s.set_status(&code, Some(STATUS_COMPLETED), None, now())
                .unwrap()
        );
    }

    #[test]
    fn cancelling_releases_and_reopening_reclaims() {
        let mut s = shop();
        let code = s.place_order(order(&[("TRI-001/L", "2")]), now()).unwrap();
        s.cancel_order(&code, now()).unwrap();
        let l = s.level(1, "TRI-001/L").unwrap();
        assert_eq!((l.real_stock, l.claim), (d("3"), d("0")));
        s.set_status(&code, Some(STATUS_NEW), None, now()).unwrap();
        assert_eq!(s.level(1, "TRI-001/L").unwrap().claim, d("2"));
    }

    #[test]
    fn oversell_is_refused_or_counted() {
        let mut s = shop();
        let err = s.place_order(order(&[("TRI-001/L", "2"), ("TRI-001/L", "2")]), now());
        assert!(matches!(err, Err(ShopError::Insufficient { .. })));
        assert_eq!(s.refused_orders, 1);
        assert_eq!(s.level(1, "TRI-001/L").unwrap().claim, d("0"));
        s.allow_oversell = true;
        s.place_order(order(&[("TRI-001/L", "5")]), now()).unwrap();
        assert_eq!(s.oversold, d("2"));
        s.place_order(order(&[("TRI-001/L", "1")]), now()).unwrap();
        assert_eq!(s.oversold, d("3"));
    }

    #[test]
    fn three_movement_modes() {
        let mut s = shop();
        s.place_order(order(&[("TRI-001/M", "4")]), now()).unwrap();
        let l = s
            .apply_movement(1, "TRI-001/M", Movement::AmountChange(d("-2")))
            .unwrap();
        assert_eq!(
            (l.real_stock, l.claim, l.available()),
            (d("8"), d("4"), d("4"))
        );
        let l = s
            .apply_movement(1, "TRI-001/M", Movement::Quantity(d("5")))
            .unwrap();
        assert_eq!((l.real_stock, l.available()), (d("9"), d("5")));
        let l = s
            .apply_movement(1, "TRI-001/M", Movement::RealStock(d("14")))
            .unwrap();
        assert_eq!((l.real_stock, l.available()), (d("14"), d("10")));
        assert_eq!(
            s.apply_movement(1, "NOPE", Movement::RealStock(d("1"))),
            Err(ShopError::UnknownProduct("NOPE".into()))
        );
        assert_eq!(
            s.apply_movement(1, "SADA-001", Movement::RealStock(d("1"))),
            Err(ShopError::StockChangeNotAllowed("SADA-001".into()))
        );
        assert_eq!(
            s.apply_movement(9, "TRI-001/M", Movement::RealStock(d("1"))),
            Err(ShopError::StockNotFound(9))
        );
    }

    #[test]
    fn sets_claim_their_members() {
        let mut s = shop();
        assert_eq!(s.variant_stock("SADA-001"), Some(d("5")));
        s.place_order(order(&[("SADA-001", "2")]), now()).unwrap();
        assert_eq!(s.level(1, "TRI-001/M").unwrap().claim, d("4"));
        assert_eq!(s.variant_stock("SADA-001"), Some(d("3")));
    }

    #[test]
    fn edits_move_the_claim_and_feed_keeps_last_change() {
        let mut s = shop();
        let code = s.place_order(order(&[("TRI-001/M", "4")]), now()).unwrap();
        let later = now() + Duration::seconds(30);
        s.edit_order(
            &code,
            OrderEdit {
                lines: Some(vec![
                    ("TRI-001/M".into(), d("1")),
                    ("TRI-001/L".into(), d("1")),
                ]),
                ..OrderEdit::default()
            },
            later,
        )
        .unwrap();
        assert_eq!(s.level(1, "TRI-001/M").unwrap().claim, d("1"));
        assert_eq!(s.level(1, "TRI-001/L").unwrap().claim, d("1"));
        let ch = s.order_changes(now(), None, later);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].1.time, later);
        s.delete_order(&code, later + Duration::seconds(1)).unwrap();
        assert_eq!(s.level(1, "TRI-001/M").unwrap().claim, d("0"));
        let ch = s.order_changes(now(), None, later);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].1.kind, ChangeKind::Delete);
        assert!(
            s.order_changes(now(), Some(ChangeKind::Edit), later)
                .is_empty()
        );
    }

    #[test]
    fn tracking_number_is_limited() {
        let mut s = shop();
        let code = s.place_order(order(&[("TRI-001/M", "1")]), now()).unwrap();
        let long = "X".repeat(33);
        let err = s.patch_notes(
            &code,
            NotesPatch {
                tracking_number: Some(Some(long)),
                ..NotesPatch::default()
            },
            now(),
        );
        assert!(matches!(err, Err(ShopError::Validation { .. })));
        s.patch_notes(
            &code,
            NotesPatch {
                tracking_number: Some(Some("DR1234567890E".into())),
                ..NotesPatch::default()
            },
            now(),
        )
        .unwrap();
        assert_eq!(
            s.orders[&code].notes.tracking_number.as_deref(),
            Some("DR1234567890E")
        );
    }

    #[test]
    fn price_patch_recalculates_by_basis() {
        let mut s = shop();
        s.pricelists[1].entries = s.pricelists[0].entries.clone();
        let patch = PricePatch {
            code: "tri-001/m".into(),
            prices: vec![(
                PriceBasis::Gross,
                PriceFields {
                    price: Some(d("121")),
                    ..PriceFields::default()
                },
            )],
            ..PricePatch::default()
        };
        s.patch_price(1, &patch, now()).unwrap();
        assert_eq!(s.pricelists[0].entries["TRI-001/M"].price, d("121"));
        s.patch_price(2, &patch, now()).unwrap();
        assert_eq!(s.pricelists[1].entries["TRI-001/M"].price, d("100"));
        let missing = PricePatch {
            code: "NOPE".into(),
            ..patch.clone()
        };
        assert_eq!(
            s.patch_price(1, &missing, now()),
            Err(ShopError::PricelistCodeNotFound("NOPE".into()))
        );
        assert_eq!(s.product_changes(now(), None, now()).len(), 2);
    }
}
