//! A Shoptet order imported for fulfilment, its items and its lifecycle.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DomainError, IntegrationId, MAX_PRICE, MAX_QUANTITY, bounded_figure, required_text};

/// Shoptet stores at most this many characters of a tracking number.
pub const MAX_TRACKING_NUMBER_CHARS: usize = 32;
/// The review reason of an order whose shop content changed after import.
pub const ORDER_CONFLICT_REASON: &str = "order conflict detected";
/// The review reason of an order the shop cancelled while we were picking it.
pub const CANCELLED_WHILE_PICKING_REASON: &str = "cancelled in shop while being picked";
/// The review reason of an order the shop cancelled after we shipped it.
pub const CANCELLED_AFTER_SHIPPING_REASON: &str = "cancelled in shop after shipping";
/// The review reason of an order the shop finished (a status that resolves its stock claim,
/// e.g. "completed" set in the shop admin) before we shipped it.
pub const COMPLETED_IN_SHOP_REASON: &str = "completed in the shop before it shipped";
/// The review reason of an order the shop re-opened after it was cancelled.
pub const REOPENED_IN_SHOP_REASON: &str = "re-opened in the shop after it was cancelled";
/// Processed within this time after import grades Excellent.
pub const EXCELLENT_PROCESSING_TIME: TimeDelta = TimeDelta::hours(2);
/// Processed within this time after import meets the SLA (and grades Good).
pub const SLA_PROCESSING_TIME: TimeDelta = TimeDelta::hours(24);
/// Two amounts closer than this are the same price (rounding of Shoptet's 2-decimal prices).
pub const PRICE_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// An amount of money in a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// ISO 4217 code, e.g. `CZK`.
    pub currency: String,
}

/// A postal address (the delivery address, or billing when they are equal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub full_name: Option<String>,
    pub company: Option<String>,
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub city: Option<String>,
    pub zip: Option<String>,
    pub country_code: Option<String>,
}

/// Fulfilment status on the warehouse side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OrderStatus {
    Imported,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    /// Flagged for review (e.g. the shop changed the order after import).
    Error,
}

/// The kind of an order row, as Shoptet's `itemType`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ItemType {
    Product,
    Shipping,
    Billing,
    Discount,
    /// Any other Shoptet item type, kept verbatim (`bazar`, `service`, `gift`, …).
    Other(String),
}

/// One row of an order. Shoptet rows have no id of their own and a code may repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    pub item_type: ItemType,
    /// The variant code (warehouse SKU); `None` for shipping, billing and discount rows.
    pub product_code: Option<String>,
    pub name: String,
    pub variant_name: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub total_price: Decimal,
}

/// An imported Shoptet order, keyed by the shop's order `code`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: Uuid,
    pub integration_id: IntegrationId,
    /// The shop's order code (a string, e.g. `2025000318`); unique per integration.
    pub code: String,
    pub guid: Option<String>,
    pub total: Money,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub shipping_address: Option<Address>,
    /// The shop's status id when last seen.
    pub shop_status_id: Option<i64>,
    /// The shop's `changeTime` when last seen.
    pub shop_changed_at: Option<DateTime<Utc>>,
    pub shop_created_at: Option<DateTime<Utc>>,
    pub status: OrderStatus,
    pub imported_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// At most 32 characters (Shoptet's limit).
    pub tracking_number: Option<String>,
    pub picking_session_id: Option<String>,
    pub transport_box_id: Option<String>,
    pub notes: Option<String>,
    /// Why the order is flagged for review.
    pub review_reason: Option<String>,
    pub items: Vec<OrderItem>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The status the order had when a conflict put it into Error; restored on resolution.
    pub status_before_review: Option<OrderStatus>,
    /// The shop's conflicting version, kept until an operator resolves the conflict.
    pub pending_shop_version: Option<IncomingOrder>,
    /// Shop content an operator chose to ignore ("keep ours"), so seeing it again
    /// does not flag the order a second time.
    pub dismissed_shop_content: Option<OrderContent>,
    /// The shop's clock when we read the version of `shop_changed_at` (the detail response's
    /// `Date`), so that version is not read again (see [`super::ReadMark`]). Added in format
    /// version 3; older records read as `None`.
    #[serde(default)]
    pub shop_read_at: Option<DateTime<Utc>>,
}

impl Money {
    /// An amount in a currency (ISO 4217 code).
    pub fn new(amount: Decimal, currency: impl Into<String>) -> Self {
        Self {
            amount,
            currency: currency.into(),
        }
    }

    /// Same amount (by value, so `10.0` = `10.00`) and currency (case-insensitive).
    pub fn same_as(&self, other: &Money) -> bool {
        self.amount == other.amount && self.currency.eq_ignore_ascii_case(&other.currency)
    }
}

impl Address {
    /// Every field empty: Shoptet sends this (or null) when the delivery address
    /// equals the billing address.
    pub fn is_empty(&self) -> bool {
        [
            &self.full_name,
            &self.company,
            &self.street,
            &self.house_number,
            &self.city,
            &self.zip,
            &self.country_code,
        ]
        .iter()
        .all(|f| f.as_deref().is_none_or(|v| v.trim().is_empty()))
    }
}

/// `None` and an all-empty address mean the same thing.
fn meaningful(address: &Option<Address>) -> Option<&Address> {
    address.as_ref().filter(|a| !a.is_empty())
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OrderStatus::Imported => "imported",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Error => "flagged for review",
        })
    }
}

impl OrderStatus {
    /// Goods of an order in this status are still owed to the customer, so they are
    /// reserved in the warehouse. An order in Error is flagged, not released: it may
    /// still ship after review.
    pub fn reserves_stock(self) -> bool {
        matches!(
            self,
            OrderStatus::Imported | OrderStatus::Processing | OrderStatus::Error
        )
    }

    /// The goods have left the warehouse.
    pub fn has_shipped(self) -> bool {
        matches!(self, OrderStatus::Shipped | OrderStatus::Delivered)
    }
}

impl ItemType {
    /// Maps Shoptet's `itemType` string.
    pub fn from_shoptet(value: &str) -> Self {
        match value {
            "product" => ItemType::Product,
            "shipping" => ItemType::Shipping,
            "billing" => ItemType::Billing,
            "discount-coupon" => ItemType::Discount,
            other => ItemType::Other(other.to_owned()),
        }
    }

    /// Shoptet's `itemType` string.
    pub fn as_shoptet(&self) -> &str {
        match self {
            ItemType::Product => "product",
            ItemType::Shipping => "shipping",
            ItemType::Billing => "billing",
            ItemType::Discount => "discount-coupon",
            ItemType::Other(other) => other,
        }
    }

    /// Rows of this type are physical goods taken from the warehouse: products,
    /// second-hand (`bazar`) items, gifts and the members of a product set (the set
    /// row itself is not counted, or its goods would be counted twice).
    pub fn is_physical(&self) -> bool {
        match self {
            ItemType::Product => true,
            ItemType::Other(t) => matches!(t.as_str(), "bazar" | "gift" | "product-set-item"),
            ItemType::Shipping | ItemType::Billing | ItemType::Discount => false,
        }
    }
}

impl OrderItem {
    /// Quantity × unit price (`None` if it overflows).
    pub fn calculated_total(&self) -> Option<Decimal> {
        self.quantity.checked_mul(self.unit_price)
    }

    /// The row total agrees with quantity × unit price within 0.01.
    pub fn price_matches(&self) -> bool {
        self.calculated_total()
            .and_then(|total| self.total_price.checked_sub(total))
            .is_some_and(|diff| diff.abs() < PRICE_TOLERANCE)
    }

    /// The product code and quantity this row takes from the warehouse, if any.
    pub fn physical_quantity(&self) -> Option<(&str, Decimal)> {
        match &self.product_code {
            Some(code) if self.item_type.is_physical() => Some((code.as_str(), self.quantity)),
            _ => None,
        }
    }
}

/// What an order asks of the warehouse and the customer: compared on re-import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderContent {
    pub total: Money,
    pub shipping_address: Option<Address>,
    pub items: Vec<OrderItem>,
}

/// A sort key covering every field of a row, so equal keys mean equal rows.
type ItemKey<'a> = (
    &'a ItemType,
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
    Decimal,
    Decimal,
    Decimal,
);

fn item_key(item: &OrderItem) -> ItemKey<'_> {
    (
        &item.item_type,
        item.product_code.as_deref(),
        item.name.as_str(),
        item.variant_name.as_deref(),
        item.quantity,
        item.unit_price,
        item.total_price,
    )
}

/// Rows compared as multisets: Shoptet rows have no id of their own, a code may
/// repeat, and the shop does not promise a row order, so only "the same rows the same
/// number of times" counts as equal.
fn same_items(a: &[OrderItem], b: &[OrderItem]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a: Vec<ItemKey<'_>> = a.iter().map(item_key).collect();
    let mut b: Vec<ItemKey<'_>> = b.iter().map(item_key).collect();
    a.sort();
    b.sort();
    a == b
}

impl OrderContent {
    /// Same total, same address (an all-empty address equals none) and the same rows
    /// in any order.
    pub fn same_as(&self, other: &OrderContent) -> bool {
        self.total.same_as(&other.total)
            && meaningful(&self.shipping_address) == meaningful(&other.shipping_address)
            && same_items(&self.items, &other.items)
    }
}

/// The shop's current version of an order, in domain terms (the API client maps
/// Shoptet's JSON into this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingOrder {
    pub code: String,
    pub guid: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    /// The shop's `changeTime`.
    pub changed_at: Option<DateTime<Utc>>,
    pub shop_status_id: Option<i64>,
    pub total: Money,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub shipping_address: Option<Address>,
    pub items: Vec<OrderItem>,
}

impl IncomingOrder {
    /// The content compared against ours on re-import.
    pub fn content(&self) -> OrderContent {
        OrderContent {
            total: self.total.clone(),
            shipping_address: self.shipping_address.clone(),
            items: self.items.clone(),
        }
    }

    /// A code and currency, and figures within bounds: quantities at most [`MAX_QUANTITY`],
    /// prices and the total at most [`MAX_PRICE`] (absolute values; correction rows may be
    /// negative). Absurd figures are refused here so no sum built from them can overflow.
    fn validate(&self) -> Result<(), DomainError> {
        required_text("order code", &self.code)?;
        required_text("order currency", &self.total.currency)?;
        bounded_figure("order total", self.total.amount, MAX_PRICE)?;
        for item in &self.items {
            bounded_figure("order item quantity", item.quantity, MAX_QUANTITY)?;
            bounded_figure("order item unit price", item.unit_price, MAX_PRICE)?;
            bounded_figure("order item total price", item.total_price, MAX_PRICE)?;
        }
        Ok(())
    }
}

/// What importing one shop order did; the caller persists the order unless `Unchanged`.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportOutcome {
    /// First time seen: a new Imported order.
    New(Order),
    /// Already known with the same content and details: nothing to write.
    Unchanged,
    /// Same content; only details that do not affect fulfilment changed (shop status,
    /// change time, e-mail, name, guid).
    Refreshed(Order),
    /// The shop's content differs from ours: the order is flagged for review.
    Conflict(Order),
}

/// How an operator settles a conflict between our order and the shop's version.
///
/// snake_case on the wire (`accept_shop` / `keep_ours`): the control protocol carries it.
/// Not persisted; bincode would encode the variant index anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictResolution {
    /// Take the shop's content.
    AcceptShop,
    /// Keep our content and stop flagging this shop version.
    KeepOurs,
}

/// What a cancellation in the shop did to our order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShopCancelOutcome {
    /// Cancelled; nothing had been picked.
    Cancelled,
    /// Cancelled while being picked: flagged so the picked goods go back to stock.
    CancelledNeedsReview,
    /// Was already cancelled: nothing changed.
    AlreadyCancelled,
    /// Already shipped, so it cannot be cancelled: flagged for review instead.
    TooLateShipped,
}

/// Imports the shop's version of an order.
///
/// - unknown code: a new Imported order;
/// - a copy older than what we have seen (by `changeTime`): ignored;
/// - same content: `Unchanged`, or `Refreshed` when only details changed;
/// - different content (rows, quantities, prices, total, address): flagged for review
///   with [`ORDER_CONFLICT_REASON`] and the shop's version kept for
///   [`Order::resolve_conflict`]. An Imported or Processing order goes to Error, so it
///   cannot be processed or shipped until resolved; a shipped or cancelled order keeps
///   its status (it is done — going to Error would reserve its goods again). An order
///   already under review stays flagged and keeps the newest shop version.
pub fn import(
    existing: Option<&Order>,
    incoming: &IncomingOrder,
    integration_id: IntegrationId,
    now: DateTime<Utc>,
) -> Result<ImportOutcome, DomainError> {
    incoming.validate()?;
    let Some(existing) = existing else {
        return Ok(ImportOutcome::New(Order::from_incoming(
            incoming,
            integration_id,
            now,
        )));
    };
    if existing.integration_id != integration_id || existing.code != incoming.code.trim() {
        return Err(DomainError::InvalidArgument {
            field: "order code",
            reason: format!(
                "shop order {} was matched against stored order {} of another integration or code",
                incoming.code, existing.code
            ),
        });
    }
    // A copy older than what we have already seen (overlapping pages, retries) must
    // not look like a change.
    if let (Some(seen), Some(incoming_at)) = (existing.shop_changed_at, incoming.changed_at)
        && incoming_at < seen
    {
        return Ok(ImportOutcome::Unchanged);
    }

    let mut order = existing.clone();
    let details_changed = order.refresh_details(incoming);
    let incoming_content = incoming.content();

    if let Some(pending) = &order.pending_shop_version {
        if pending.content().same_as(&incoming_content) {
            let pending_changed = pending != incoming;
            order.pending_shop_version = Some(incoming.clone());
            return Ok(if details_changed || pending_changed {
                ImportOutcome::Refreshed(order)
            } else {
                ImportOutcome::Unchanged
            });
        }
        order.pending_shop_version = Some(incoming.clone());
        return Ok(ImportOutcome::Conflict(order));
    }

    let dismissed = order
        .dismissed_shop_content
        .as_ref()
        .is_some_and(|d| d.same_as(&incoming_content));
    if dismissed || order.content().same_as(&incoming_content) {
        return Ok(if details_changed {
            ImportOutcome::Refreshed(order)
        } else {
            ImportOutcome::Unchanged
        });
    }

    order.flag_conflict(incoming.clone());
    Ok(ImportOutcome::Conflict(order))
}

/// How an order fared, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FulfillmentGrade {
    /// Flagged for review.
    Issues,
    /// Not shipped yet.
    InProgress,
    /// Shipped; processing started within 2 h of import.
    Excellent,
    /// Shipped; processing started within 24 h of import.
    Good,
    /// Shipped; processing started later than 24 h after import.
    Delayed,
    /// Cancelled (not a fulfilment; kept apart so it is not counted as in progress).
    Cancelled,
}

impl fmt::Display for FulfillmentGrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FulfillmentGrade::Issues => "Issues",
            FulfillmentGrade::InProgress => "In Progress",
            FulfillmentGrade::Excellent => "Excellent",
            FulfillmentGrade::Good => "Good",
            FulfillmentGrade::Delayed => "Delayed",
            FulfillmentGrade::Cancelled => "Cancelled",
        })
    }
}

/// A fulfilment summary of one order. Durations are whole seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentSummary {
    pub order_id: Uuid,
    pub code: String,
    pub status: OrderStatus,
    /// Number of rows.
    pub item_count: u64,
    /// Quantity of physical goods.
    #[serde(with = "rust_decimal::serde::str")]
    pub total_quantity: Decimal,
    pub total: Money,
    pub imported_at: DateTime<Utc>,
    /// Processing start − import.
    pub processing_seconds: Option<i64>,
    /// Shipping − processing start.
    pub shipping_seconds: Option<i64>,
    pub is_complete: bool,
    pub has_issues: bool,
}

impl FulfillmentSummary {
    /// Issues / Cancelled / In Progress / Excellent (≤ 2 h) / Good (≤ 24 h) / Delayed.
    pub fn grade(&self) -> FulfillmentGrade {
        let processing = self.processing_seconds.map(TimeDelta::seconds);
        if self.has_issues {
            FulfillmentGrade::Issues
        } else if self.status == OrderStatus::Cancelled {
            FulfillmentGrade::Cancelled
        } else if !self.is_complete {
            FulfillmentGrade::InProgress
        } else if processing.is_some_and(|p| p <= EXCELLENT_PROCESSING_TIME) {
            FulfillmentGrade::Excellent
        } else if processing.is_some_and(|p| p <= SLA_PROCESSING_TIME) {
            FulfillmentGrade::Good
        } else {
            FulfillmentGrade::Delayed
        }
    }

    /// Processing started within 24 h of import.
    pub fn meets_sla(&self) -> bool {
        self.processing_seconds
            .is_some_and(|s| TimeDelta::seconds(s) <= SLA_PROCESSING_TIME)
    }
}

impl Order {
    /// A new Imported order from the shop's version.
    pub fn from_incoming(
        incoming: &IncomingOrder,
        integration_id: IntegrationId,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            integration_id,
            code: incoming.code.trim().to_owned(),
            guid: incoming.guid.clone(),
            total: incoming.total.clone(),
            customer_email: incoming.customer_email.clone(),
            customer_name: incoming.customer_name.clone(),
            shipping_address: incoming.shipping_address.clone(),
            shop_status_id: incoming.shop_status_id,
            shop_changed_at: incoming.changed_at,
            shop_created_at: incoming.created_at,
            status: OrderStatus::Imported,
            imported_at: now,
            processed_at: None,
            shipped_at: None,
            cancelled_at: None,
            tracking_number: None,
            picking_session_id: None,
            transport_box_id: None,
            notes: None,
            review_reason: None,
            items: incoming.items.clone(),
            delivered_at: None,
            status_before_review: None,
            pending_shop_version: None,
            dismissed_shop_content: None,
            shop_read_at: None,
        }
    }

    /// Our content, compared against the shop's on re-import.
    pub fn content(&self) -> OrderContent {
        OrderContent {
            total: self.total.clone(),
            shipping_address: self.shipping_address.clone(),
            items: self.items.clone(),
        }
    }

    /// Copies the details that do not affect fulfilment; tells whether any changed.
    fn refresh_details(&mut self, incoming: &IncomingOrder) -> bool {
        let before = (
            self.guid.clone(),
            self.shop_created_at,
            self.shop_changed_at,
            self.shop_status_id,
            self.customer_email.clone(),
            self.customer_name.clone(),
        );
        self.guid = incoming.guid.clone().or(self.guid.take());
        self.shop_created_at = incoming.created_at.or(self.shop_created_at);
        let version_before = self.shop_changed_at;
        self.shop_changed_at = incoming.changed_at.or(self.shop_changed_at);
        if self.shop_changed_at != version_before {
            // The read time belonged to the version held before.
            self.shop_read_at = None;
        }
        self.shop_status_id = incoming.shop_status_id.or(self.shop_status_id);
        self.customer_email = incoming.customer_email.clone();
        self.customer_name = incoming.customer_name.clone();
        before
            != (
                self.guid.clone(),
                self.shop_created_at,
                self.shop_changed_at,
                self.shop_status_id,
                self.customer_email.clone(),
                self.customer_name.clone(),
            )
    }

    fn flag_conflict(&mut self, shop_version: IncomingOrder) {
        if matches!(self.status, OrderStatus::Imported | OrderStatus::Processing) {
            self.status_before_review = Some(self.status);
            self.status = OrderStatus::Error;
        }
        // Keep an earlier, different review reason (e.g. goods to put back) in the notes,
        // since resolving the conflict clears the flag.
        if let Some(earlier) = self
            .review_reason
            .take()
            .filter(|r| r != ORDER_CONFLICT_REASON)
        {
            self.push_note(&format!("Earlier review reason: {earlier}"));
        }
        self.review_reason = Some(ORDER_CONFLICT_REASON.to_owned());
        self.pending_shop_version = Some(shop_version);
    }

    /// Whether someone must look at this order.
    pub fn needs_review(&self) -> bool {
        self.review_reason.is_some()
    }

    /// The status to return to after a review: the one before the flag when it is
    /// still a working status, else Imported.
    fn status_after_review(&self) -> OrderStatus {
        match self.status_before_review {
            Some(s @ (OrderStatus::Imported | OrderStatus::Processing)) => s,
            _ => OrderStatus::Imported,
        }
    }

    fn clear_review(&mut self) {
        if self.status == OrderStatus::Error {
            self.status = self.status_after_review();
        }
        self.review_reason = None;
        self.status_before_review = None;
        self.pending_shop_version = None;
    }

    fn transition_error(&self, action: &'static str, hint: &'static str) -> DomainError {
        DomainError::OrderTransition {
            action,
            order_code: self.code.clone(),
            status: self.status,
            hint,
        }
    }

    /// Settles a conflict flagged on import.
    ///
    /// `AcceptShop` takes the shop's rows, total and address (refused once shipped: the
    /// goods already left, our record must say what left). `KeepOurs` keeps our content
    /// and remembers the shop's, so the same shop version is not flagged again. Either
    /// way the order returns to the status it had before the flag (Imported or
    /// Processing; a flagged order can never start processing a second time) or keeps
    /// its final status when it was shipped or cancelled.
    pub fn resolve_conflict(
        &mut self,
        resolution: ConflictResolution,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let Some(shop) = self.pending_shop_version.clone() else {
            return Err(DomainError::NoConflict {
                order_code: self.code.clone(),
            });
        };
        match resolution {
            ConflictResolution::AcceptShop => {
                if self.status.has_shipped() {
                    return Err(self.transition_error(
                        "accept the shop's version of",
                        "; the goods already left the warehouse, keep our version instead",
                    ));
                }
                let was_picking = self.status_before_review == Some(OrderStatus::Processing);
                self.items = shop.items;
                self.total = shop.total;
                self.shipping_address = shop.shipping_address;
                self.dismissed_shop_content = None;
                self.clear_review();
                self.push_note(&format!(
                    "{}: conflict resolved, accepted the shop's version{}",
                    now.to_rfc3339(),
                    if was_picking {
                        "; re-check the picked goods"
                    } else {
                        ""
                    }
                ));
            }
            ConflictResolution::KeepOurs => {
                self.dismissed_shop_content = Some(shop.content());
                self.clear_review();
                self.push_note(&format!(
                    "{}: conflict resolved, kept our version",
                    now.to_rfc3339()
                ));
            }
        }
        Ok(())
    }

    /// Clears a review flag that is not a content conflict (e.g. cancelled while
    /// picking, once the goods are back on the shelf).
    pub fn acknowledge_review(
        &mut self,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if self.pending_shop_version.is_some() {
            return Err(DomainError::InvalidState(format!(
                "order {} has a content conflict; resolve it by accepting the shop's version or keeping ours",
                self.code
            )));
        }
        if self.review_reason.is_none() {
            return Err(DomainError::InvalidState(format!(
                "order {} is not flagged for review",
                self.code
            )));
        }
        let note = required_text("note", note)?;
        self.clear_review();
        self.push_note(&format!("{}: review done: {note}", now.to_rfc3339()));
        Ok(())
    }

    /// Starts picking. Only an Imported order can start, so an order is never
    /// processed twice.
    pub fn start_processing(
        &mut self,
        picking_session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if self.status != OrderStatus::Imported {
            let hint = match self.status {
                OrderStatus::Error => "; resolve the review first",
                _ => "; only imported orders can start processing",
            };
            return Err(self.transition_error("start processing", hint));
        }
        let session = required_text("picking session id", picking_session_id)?;
        self.status = OrderStatus::Processing;
        self.processed_at = Some(now);
        self.picking_session_id = Some(session);
        Ok(())
    }

    /// Ships a Processing order with its tracking number (non-empty, at most 32
    /// characters — Shoptet's limit) and optional transport box.
    pub fn ship(
        &mut self,
        tracking_number: &str,
        transport_box_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if self.status != OrderStatus::Processing {
            let hint = match self.status {
                OrderStatus::Imported => "; start processing it first",
                OrderStatus::Error => "; resolve the review first",
                _ => "; only orders being processed can ship",
            };
            return Err(self.transition_error("ship", hint));
        }
        let tracking = required_text("tracking number", tracking_number)?;
        let len = tracking.chars().count();
        if len > MAX_TRACKING_NUMBER_CHARS {
            return Err(DomainError::InvalidArgument {
                field: "tracking number",
                reason: format!(
                    "is {len} characters; Shoptet allows at most {MAX_TRACKING_NUMBER_CHARS}"
                ),
            });
        }
        let transport_box = transport_box_id
            .map(|b| required_text("transport box id", b))
            .transpose()?;
        self.status = OrderStatus::Shipped;
        self.shipped_at = Some(now);
        self.tracking_number = Some(tracking);
        self.transport_box_id = transport_box;
        Ok(())
    }

    /// Records delivery of a shipped order.
    pub fn mark_delivered(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.status != OrderStatus::Shipped {
            return Err(self.transition_error("mark delivered", "; only shipped orders"));
        }
        self.status = OrderStatus::Delivered;
        self.delivered_at = Some(now);
        Ok(())
    }

    /// Cancels on our side (operator). Anything not shipped, delivered or already
    /// cancelled; a pending review is settled by the cancellation. The reason is
    /// appended to the notes (the original design overwrote them).
    pub fn cancel(&mut self, reason: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.status.has_shipped() {
            return Err(self.transition_error("cancel", "; it has already left the warehouse"));
        }
        if self.status == OrderStatus::Cancelled {
            return Err(self.transition_error("cancel", ""));
        }
        let reason = required_text("cancel reason", reason)?;
        self.review_reason = None;
        self.status_before_review = None;
        self.pending_shop_version = None;
        self.status = OrderStatus::Cancelled;
        self.cancelled_at = Some(now);
        self.push_note(&format!("Cancelled: {reason}"));
        Ok(())
    }

    /// The shop cancelled or deleted the order. Never fails: the shop has already
    /// decided, we record what that means for us.
    pub fn cancel_from_shop(&mut self, reason: &str, now: DateTime<Utc>) -> ShopCancelOutcome {
        let reason = reason.trim();
        match self.status {
            OrderStatus::Cancelled => ShopCancelOutcome::AlreadyCancelled,
            OrderStatus::Shipped | OrderStatus::Delivered => {
                if self.review_reason.as_deref() != Some(CANCELLED_AFTER_SHIPPING_REASON) {
                    self.review_reason = Some(CANCELLED_AFTER_SHIPPING_REASON.to_owned());
                    self.push_note(&format!("Cancelled in shop after shipping: {reason}"));
                }
                ShopCancelOutcome::TooLateShipped
            }
            OrderStatus::Imported | OrderStatus::Processing | OrderStatus::Error => {
                let was_picking = self.status == OrderStatus::Processing
                    || self.status_before_review == Some(OrderStatus::Processing);
                self.status = OrderStatus::Cancelled;
                self.cancelled_at = Some(now);
                self.status_before_review = None;
                self.pending_shop_version = None;
                self.push_note(&format!("Cancelled in shop: {reason}"));
                if was_picking {
                    self.review_reason = Some(CANCELLED_WHILE_PICKING_REASON.to_owned());
                    ShopCancelOutcome::CancelledNeedsReview
                } else {
                    self.review_reason = None;
                    ShopCancelOutcome::Cancelled
                }
            }
        }
    }

    /// The shop finished an order we have not shipped (moved it to a status that resolves its
    /// stock claim). Flagged with [`COMPLETED_IN_SHOP_REASON`] so someone decides whether the
    /// goods still leave (ship it) or not (cancel it); the status stays, so both remain
    /// possible. An order already flagged for another reason keeps it and gets a note.
    /// Tells whether anything changed (nothing for a shipped or cancelled order).
    pub fn flag_completed_in_shop(&mut self, now: DateTime<Utc>) -> bool {
        if !self.status.reserves_stock() {
            return false;
        }
        self.flag_review(COMPLETED_IN_SHOP_REASON, now)
    }

    /// The shop re-opened an order we hold as cancelled (an open, non-cancel status came back).
    /// We do not fulfil it on our own (its goods may be back on the shelf and the cancel may
    /// have been right): flagged with [`REOPENED_IN_SHOP_REASON`]. Tells whether anything
    /// changed (nothing unless the order is cancelled here).
    pub fn flag_reopened_in_shop(&mut self, now: DateTime<Utc>) -> bool {
        if self.status != OrderStatus::Cancelled {
            return false;
        }
        self.flag_review(REOPENED_IN_SHOP_REASON, now)
    }

    fn flag_review(&mut self, reason: &str, now: DateTime<Utc>) -> bool {
        match self.review_reason.as_deref() {
            Some(current) if current == reason => false,
            Some(_) => {
                self.push_note(&format!("{}: also {reason}", now.to_rfc3339()));
                true
            }
            None => {
                self.review_reason = Some(reason.to_owned());
                self.push_note(&format!("{}: {reason}", now.to_rfc3339()));
                true
            }
        }
    }

    /// Appends a note on its own line.
    pub fn add_note(&mut self, note: &str) -> Result<(), DomainError> {
        let note = required_text("note", note)?;
        self.push_note(&note);
        Ok(())
    }

    fn push_note(&mut self, note: &str) {
        self.notes = Some(match self.notes.take() {
            Some(existing) if !existing.is_empty() => format!("{existing}\n{note}"),
            _ => note.to_owned(),
        });
    }

    /// Processing start − import.
    pub fn processing_time(&self) -> Option<TimeDelta> {
        self.processed_at.map(|p| p - self.imported_at)
    }

    /// Shipping − processing start.
    pub fn shipping_time(&self) -> Option<TimeDelta> {
        Some(self.shipped_at? - self.processed_at?)
    }

    /// Physical goods per row summed.
    pub fn total_quantity(&self) -> Decimal {
        self.items
            .iter()
            .filter_map(OrderItem::physical_quantity)
            .fold(Decimal::ZERO, |sum, (_, q)| sum.saturating_add(q))
    }

    /// The order's fulfilment summary.
    pub fn fulfillment_summary(&self) -> FulfillmentSummary {
        FulfillmentSummary {
            order_id: self.id,
            code: self.code.clone(),
            status: self.status,
            item_count: self.items.len() as u64,
            total_quantity: self.total_quantity(),
            total: self.total.clone(),
            imported_at: self.imported_at,
            processing_seconds: self.processing_time().map(|d| d.num_seconds()),
            shipping_seconds: self.shipping_time().map(|d| d.num_seconds()),
            is_complete: self.status.has_shipped(),
            has_issues: self.status == OrderStatus::Error || self.needs_review(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::testutil::{dec, t0};

    pub fn product_row(code: &str, qty: &str, unit: &str) -> OrderItem {
        let quantity = dec(qty);
        let unit_price = dec(unit);
        OrderItem {
            item_type: ItemType::Product,
            product_code: Some(code.into()),
            name: format!("Product {code}"),
            variant_name: None,
            quantity,
            unit_price,
            total_price: quantity * unit_price,
        }
    }

    fn shipping_row() -> OrderItem {
        OrderItem {
            item_type: ItemType::Shipping,
            product_code: None,
            name: "PPL".into(),
            variant_name: None,
            quantity: dec("1"),
            unit_price: dec("99"),
            total_price: dec("99"),
        }
    }

    pub fn incoming(code: &str) -> IncomingOrder {
        IncomingOrder {
            code: code.into(),
            guid: Some(format!("guid-{code}")),
            created_at: Some(t0()),
            changed_at: Some(t0()),
            shop_status_id: Some(-1),
            total: Money::new(dec("619"), "CZK"),
            customer_email: Some("jana@example.cz".into()),
            customer_name: Some("Jana Nováková".into()),
            shipping_address: Some(Address {
                full_name: Some("Jana Nováková".into()),
                street: Some("Dlouhá".into()),
                house_number: Some("12".into()),
                city: Some("Praha".into()),
                zip: Some("11000".into()),
                country_code: Some("CZ".into()),
                company: None,
            }),
            items: vec![
                product_row("TRI-042/M", "2", "260"),
                shipping_row(),
                product_row("CAP-1", "1", "0"),
            ],
        }
    }

    pub fn sample_order(integration_id: IntegrationId, code: &str) -> Order {
        Order::from_incoming(&incoming(code), integration_id, t0())
    }

    fn imported(inc: &IncomingOrder) -> Order {
        match import(None, inc, Uuid::nil(), t0()).unwrap() {
            ImportOutcome::New(o) => o,
            other => panic!("expected New, got {other:?}"),
        }
    }

    fn later(minutes: i64) -> DateTime<Utc> {
        t0() + TimeDelta::minutes(minutes)
    }

    #[test]
    fn import_new_order() {
        let inc = incoming("1001");
        let o = imported(&inc);
        assert_eq!(o.code, "1001");
        assert_eq!(o.status, OrderStatus::Imported);
        assert_eq!(o.imported_at, t0());
        assert_eq!(o.items, inc.items);
        assert_eq!(o.shop_status_id, Some(-1));
        assert!(!o.needs_review());
    }

    #[test]
    fn import_rejects_blank_code_and_foreign_match() {
        let mut inc = incoming(" ");
        assert!(import(None, &inc, Uuid::nil(), t0()).is_err());
        inc.code = "1".into();
        let o = imported(&inc);
        assert!(import(Some(&o), &inc, Uuid::new_v4(), t0()).is_err());
        inc.code = "2".into();
        assert!(import(Some(&o), &inc, Uuid::nil(), t0()).is_err());
    }

    #[test]
    fn reimport_same_content_is_unchanged() {
        let inc = incoming("1001");
        let o = imported(&inc);
        assert_eq!(
            import(Some(&o), &inc, Uuid::nil(), later(5)).unwrap(),
            ImportOutcome::Unchanged
        );
    }

    #[test]
    fn reimport_with_rows_reordered_and_rescaled_decimals_is_unchanged() {
        let inc = incoming("1001");
        let o = imported(&inc);
        let mut shuffled = inc.clone();
        shuffled.items.reverse();
        shuffled.items[0].quantity = dec("1.000");
        shuffled.total.amount = dec("619.00");
        shuffled.total.currency = "czk".into();
        assert_eq!(
            import(Some(&o), &shuffled, Uuid::nil(), later(5)).unwrap(),
            ImportOutcome::Unchanged
        );
    }

    #[test]
    fn empty_address_equals_no_address() {
        let mut inc = incoming("1");
        inc.shipping_address = None;
        let o = imported(&inc);
        inc.shipping_address = Some(Address::default());
        assert_eq!(
            import(Some(&o), &inc, Uuid::nil(), t0()).unwrap(),
            ImportOutcome::Unchanged
        );
    }

    #[test]
    fn reimport_with_changed_details_refreshes_without_flag() {
        let inc = incoming("1001");
        let o = imported(&inc);
        let mut newer = inc.clone();
        newer.shop_status_id = Some(-2);
        newer.changed_at = Some(later(10));
        newer.customer_email = Some("jana.n@example.cz".into());
        let ImportOutcome::Refreshed(r) = import(Some(&o), &newer, Uuid::nil(), later(11)).unwrap()
        else {
            panic!("expected Refreshed");
        };
        assert_eq!(r.shop_status_id, Some(-2));
        assert_eq!(r.shop_changed_at, Some(later(10)));
        assert_eq!(r.customer_email.as_deref(), Some("jana.n@example.cz"));
        assert_eq!(r.status, OrderStatus::Imported);
        assert_eq!(r.id, o.id);
        assert_eq!(r.imported_at, o.imported_at);
    }

    #[test]
    fn stale_copy_is_ignored() {
        let inc = incoming("1");
        let mut o = imported(&inc);
        o.shop_changed_at = Some(later(30));
        let mut stale = inc.clone();
        stale.items.pop();
        assert_eq!(
            import(Some(&o), &stale, Uuid::nil(), later(40)).unwrap(),
            ImportOutcome::Unchanged
        );
    }

    fn assert_conflict(o: &Order, changed: IncomingOrder) -> Order {
        match import(Some(o), &changed, Uuid::nil(), later(20)).unwrap() {
            ImportOutcome::Conflict(c) => {
                assert_eq!(c.review_reason.as_deref(), Some(ORDER_CONFLICT_REASON));
                assert_eq!(c.pending_shop_version.as_ref(), Some(&changed));
                // Our content is untouched until someone decides.
                assert_eq!(c.items, o.items);
                c
            }
            other => panic!("expected Conflict, got {other:?}"),
        }
    }

    #[test]
    fn content_changes_flag_a_conflict() {
        let inc = incoming("1001");
        let o = imported(&inc);

        let mut qty = inc.clone();
        qty.items[0].quantity = dec("3");
        assert_eq!(assert_conflict(&o, qty).status, OrderStatus::Error);

        let mut row = inc.clone();
        row.items.push(product_row("NEW-1", "1", "10"));
        assert_conflict(&o, row);

        let mut total = inc.clone();
        total.total.amount = dec("620");
        assert_conflict(&o, total);

        let mut currency = inc.clone();
        currency.total.currency = "EUR".into();
        assert_conflict(&o, currency);

        let mut addr = inc.clone();
        if let Some(a) = addr.shipping_address.as_mut() {
            a.city = Some("Brno".into());
        }
        assert_conflict(&o, addr);
    }

    #[test]
    fn repeated_codes_compare_as_multisets() {
        let mut inc = incoming("1");
        inc.items = vec![
            product_row("A", "1", "10"),
            product_row("A", "1", "10"),
            product_row("B", "1", "10"),
        ];
        let o = imported(&inc);
        // Same number of rows, same codes, different multiplicities.
        let mut changed = inc.clone();
        changed.items = vec![
            product_row("A", "1", "10"),
            product_row("B", "1", "10"),
            product_row("B", "1", "10"),
        ];
        assert_conflict(&o, changed);
        let mut permuted = inc.clone();
        permuted.items.rotate_left(1);
        assert_eq!(
            import(Some(&o), &permuted, Uuid::nil(), t0()).unwrap(),
            ImportOutcome::Unchanged
        );
    }

    #[test]
    fn conflicted_order_cannot_be_processed_or_shipped() {
        let inc = incoming("1");
        let o = imported(&inc);
        let mut changed = inc.clone();
        changed.items[0].quantity = dec("5");
        let mut c = assert_conflict(&o, changed);
        assert!(matches!(
            c.start_processing("pick-1", later(30)),
            Err(DomainError::OrderTransition { .. })
        ));
        assert!(c.ship("TRACK1", None, later(30)).is_err());
    }

    #[test]
    fn conflict_while_processing_keeps_it_from_being_processed_twice() {
        let inc = incoming("1");
        let mut o = imported(&inc);
        o.start_processing("pick-1", later(1)).unwrap();
        let mut changed = inc.clone();
        changed.items[0].quantity = dec("5");
        let mut c = assert_conflict(&o, changed);
        assert_eq!(c.status, OrderStatus::Error);
        assert_eq!(c.status_before_review, Some(OrderStatus::Processing));
        c.resolve_conflict(ConflictResolution::AcceptShop, later(40))
            .unwrap();
        // Back to Processing (not Imported), so start_processing can't run again.
        assert_eq!(c.status, OrderStatus::Processing);
        assert_eq!(c.processed_at, Some(later(1)));
        assert!(c.start_processing("pick-2", later(41)).is_err());
        assert_eq!(c.items[0].quantity, dec("5"));
        assert!(
            c.notes
                .unwrap_or_default()
                .contains("re-check the picked goods")
        );
    }

    #[test]
    fn flagged_order_stays_flagged_and_keeps_newest_shop_version() {
        let inc = incoming("1");
        let o = imported(&inc);
        let mut v2 = inc.clone();
        v2.items[0].quantity = dec("3");
        let c = assert_conflict(&o, v2.clone());
        // Same conflicting version again: nothing new.
        assert_eq!(
            import(Some(&c), &v2, Uuid::nil(), later(30)).unwrap(),
            ImportOutcome::Unchanged
        );
        // Shop reverts to our content: still flagged for a person to confirm,
        // with the shop's newest version kept.
        let ImportOutcome::Conflict(r) = import(Some(&c), &inc, Uuid::nil(), later(30)).unwrap()
        else {
            panic!("an order under review must stay flagged");
        };
        assert_eq!(r.status, OrderStatus::Error);
        assert_eq!(r.review_reason.as_deref(), Some(ORDER_CONFLICT_REASON));
        assert_eq!(r.pending_shop_version.as_ref(), Some(&inc));
    }

    #[test]
    fn accept_shop_replaces_content_and_restores_imported() {
        let inc = incoming("1");
        let o = imported(&inc);
        let mut v2 = inc.clone();
        v2.items.push(product_row("X", "1", "1"));
        v2.total.amount = dec("620");
        let mut c = assert_conflict(&o, v2.clone());
        c.resolve_conflict(ConflictResolution::AcceptShop, later(30))
            .unwrap();
        assert_eq!(c.status, OrderStatus::Imported);
        assert_eq!(c.items, v2.items);
        assert_eq!(c.total.amount, dec("620"));
        assert!(!c.needs_review() && c.pending_shop_version.is_none());
        assert_eq!(
            import(Some(&c), &v2, Uuid::nil(), later(31)).unwrap(),
            ImportOutcome::Unchanged
        );
        assert!(
            c.resolve_conflict(ConflictResolution::AcceptShop, later(32))
                .is_err()
        );
    }

    #[test]
    fn keep_ours_clears_flag_and_ignores_that_shop_version() {
        let inc = incoming("1");
        let o = imported(&inc);
        let mut v2 = inc.clone();
        v2.items[0].quantity = dec("9");
        let mut c = assert_conflict(&o, v2.clone());
        c.resolve_conflict(ConflictResolution::KeepOurs, later(30))
            .unwrap();
        assert_eq!(c.status, OrderStatus::Imported);
        assert_eq!(c.items, o.items);
        assert!(!c.needs_review());
        assert_eq!(
            import(Some(&c), &v2, Uuid::nil(), later(31)).unwrap(),
            ImportOutcome::Unchanged
        );
        // A further change is a new conflict.
        let mut v3 = v2.clone();
        v3.items[0].quantity = dec("10");
        assert_conflict(&c, v3);
    }

    #[test]
    fn resolving_without_conflict_is_refused() {
        let mut o = imported(&incoming("1"));
        assert_eq!(
            o.resolve_conflict(ConflictResolution::KeepOurs, t0()),
            Err(DomainError::NoConflict {
                order_code: "1".into()
            })
        );
    }

    #[test]
    fn shipped_order_conflict_keeps_status_and_refuses_accepting_shop() {
        let inc = incoming("1");
        let mut o = imported(&inc);
        o.start_processing("p", later(1)).unwrap();
        o.ship("TRACK", None, later(2)).unwrap();
        let mut v2 = inc.clone();
        v2.items[0].quantity = dec("7");
        let mut c = assert_conflict(&o, v2);
        assert_eq!(c.status, OrderStatus::Shipped);
        assert!(c.fulfillment_summary().has_issues);
        assert!(
            c.resolve_conflict(ConflictResolution::AcceptShop, later(3))
                .is_err()
        );
        c.resolve_conflict(ConflictResolution::KeepOurs, later(3))
            .unwrap();
        assert_eq!(c.status, OrderStatus::Shipped);
        assert!(!c.needs_review());
    }

    #[test]
    fn start_processing_only_from_imported() {
        let mut o = imported(&incoming("1"));
        assert!(o.start_processing(" ", later(1)).is_err());
        o.start_processing("pick-7", later(1)).unwrap();
        assert_eq!(o.status, OrderStatus::Processing);
        assert_eq!(o.processed_at, Some(later(1)));
        assert_eq!(o.picking_session_id.as_deref(), Some("pick-7"));
        let err = o.start_processing("pick-8", later(2)).unwrap_err();
        assert!(err.to_string().contains("processing"));
        assert_eq!(o.picking_session_id.as_deref(), Some("pick-7"));
    }

    #[test]
    fn ship_only_from_processing_with_valid_tracking() {
        let mut o = imported(&incoming("1"));
        let err = o.ship("TRACK", None, later(1)).unwrap_err();
        assert!(err.to_string().contains("start processing it first"));
        o.start_processing("p", later(1)).unwrap();
        assert!(o.ship("", None, later(2)).is_err());
        assert!(o.ship("   ", None, later(2)).is_err());
        assert!(o.ship(&"X".repeat(33), None, later(2)).is_err());
        assert_eq!(o.status, OrderStatus::Processing);
        o.ship(&"X".repeat(32), Some("BOX-3"), later(2)).unwrap();
        assert_eq!(o.status, OrderStatus::Shipped);
        assert_eq!(o.shipped_at, Some(later(2)));
        assert_eq!(o.transport_box_id.as_deref(), Some("BOX-3"));
        assert!(o.ship("AGAIN", None, later(3)).is_err());
        o.mark_delivered(later(100)).unwrap();
        assert_eq!(o.status, OrderStatus::Delivered);
        assert!(o.mark_delivered(later(101)).is_err());
    }

    #[test]
    fn cancel_rules() {
        let mut o = imported(&incoming("1"));
        assert!(o.cancel(" ", later(1)).is_err());
        o.add_note("gift wrap").unwrap();
        o.cancel("customer asked", later(1)).unwrap();
        assert_eq!(o.status, OrderStatus::Cancelled);
        assert_eq!(o.cancelled_at, Some(later(1)));
        assert_eq!(
            o.notes.as_deref(),
            Some("gift wrap\nCancelled: customer asked")
        );
        assert!(o.cancel("again", later(2)).is_err());

        let mut p = imported(&incoming("2"));
        p.start_processing("x", later(1)).unwrap();
        p.cancel("out of stock", later(2)).unwrap();
        assert_eq!(p.status, OrderStatus::Cancelled);

        let mut s = imported(&incoming("3"));
        s.start_processing("x", later(1)).unwrap();
        s.ship("T", None, later(2)).unwrap();
        assert!(s.cancel("late", later(3)).is_err());
        s.mark_delivered(later(4)).unwrap();
        assert!(s.cancel("late", later(5)).is_err());
        assert_eq!(s.status, OrderStatus::Delivered);
    }

    #[test]
    fn cancel_from_shop_by_status() {
        let mut o = imported(&incoming("1"));
        assert_eq!(
            o.cancel_from_shop("deleted", later(1)),
            ShopCancelOutcome::Cancelled
        );
        assert_eq!(o.status, OrderStatus::Cancelled);
        assert!(!o.needs_review());
        assert_eq!(
            o.cancel_from_shop("deleted", later(2)),
            ShopCancelOutcome::AlreadyCancelled
        );
        assert_eq!(o.cancelled_at, Some(later(1)));

        let mut p = imported(&incoming("2"));
        p.start_processing("x", later(1)).unwrap();
        assert_eq!(
            p.cancel_from_shop("customer", later(2)),
            ShopCancelOutcome::CancelledNeedsReview
        );
        assert_eq!(p.status, OrderStatus::Cancelled);
        assert_eq!(
            p.review_reason.as_deref(),
            Some(CANCELLED_WHILE_PICKING_REASON)
        );
        assert!(p.acknowledge_review("", later(3)).is_err());
        p.acknowledge_review("goods back on shelf", later(3))
            .unwrap();
        assert!(!p.needs_review());
        assert_eq!(p.status, OrderStatus::Cancelled);

        let mut s = imported(&incoming("3"));
        s.start_processing("x", later(1)).unwrap();
        s.ship("T", None, later(2)).unwrap();
        assert_eq!(
            s.cancel_from_shop("r", later(3)),
            ShopCancelOutcome::TooLateShipped
        );
        assert_eq!(s.status, OrderStatus::Shipped);
        assert_eq!(
            s.review_reason.as_deref(),
            Some(CANCELLED_AFTER_SHIPPING_REASON)
        );
        let notes = s.notes.clone();
        assert_eq!(
            s.cancel_from_shop("r", later(4)),
            ShopCancelOutcome::TooLateShipped
        );
        assert_eq!(
            s.notes, notes,
            "repeated shop cancel must not repeat the note"
        );
    }

    #[test]
    fn cancel_from_shop_of_conflicted_picking_order_needs_review() {
        let inc = incoming("1");
        let mut o = imported(&inc);
        o.start_processing("x", later(1)).unwrap();
        let mut v2 = inc.clone();
        v2.items[0].quantity = dec("4");
        let mut c = assert_conflict(&o, v2);
        assert_eq!(
            c.cancel_from_shop("gone", later(30)),
            ShopCancelOutcome::CancelledNeedsReview
        );
        assert!(c.pending_shop_version.is_none());
    }

    #[test]
    fn conflict_on_an_order_flagged_for_another_reason_keeps_that_reason_in_notes() {
        let inc = incoming("1");
        let mut o = imported(&inc);
        o.start_processing("x", later(1)).unwrap();
        o.cancel_from_shop("customer", later(2));
        let mut v2 = inc.clone();
        v2.changed_at = Some(later(3));
        v2.items[0].quantity = dec("4");
        let c = assert_conflict(&o, v2);
        assert_eq!(c.status, OrderStatus::Cancelled);
        assert!(
            c.notes
                .unwrap_or_default()
                .contains(CANCELLED_WHILE_PICKING_REASON)
        );
    }

    #[test]
    fn acknowledge_review_refuses_conflicts_and_unflagged_orders() {
        let inc = incoming("1");
        let mut o = imported(&inc);
        assert!(o.acknowledge_review("ok", t0()).is_err());
        let mut v2 = inc.clone();
        v2.items[0].quantity = dec("4");
        let mut c = assert_conflict(&o, v2);
        assert!(c.acknowledge_review("ok", t0()).is_err());
        o.add_note("x").unwrap();
    }

    #[test]
    fn notes_append_on_new_lines() {
        let mut o = imported(&incoming("1"));
        o.add_note("first").unwrap();
        o.add_note("  second ").unwrap();
        assert_eq!(o.notes.as_deref(), Some("first\nsecond"));
        assert!(o.add_note("").is_err());
    }

    #[test]
    fn item_price_match_tolerance() {
        let mut row = product_row("A", "3", "10.00");
        assert!(row.price_matches());
        row.total_price = dec("30.009");
        assert!(row.price_matches());
        row.total_price = dec("30.01");
        assert!(!row.price_matches());
        row.total_price = dec("29.99");
        assert!(!row.price_matches());
    }

    #[test]
    fn item_types_map_and_physical_rows() {
        assert_eq!(ItemType::from_shoptet("product"), ItemType::Product);
        assert_eq!(
            ItemType::from_shoptet("discount-coupon"),
            ItemType::Discount
        );
        let gift = ItemType::from_shoptet("gift");
        assert_eq!(gift.as_shoptet(), "gift");
        assert!(gift.is_physical());
        assert!(!ItemType::from_shoptet("product-set").is_physical());
        assert!(!ItemType::from_shoptet("service").is_physical());
        assert!(!ItemType::Shipping.is_physical());
        let o = imported(&incoming("1"));
        assert_eq!(o.total_quantity(), dec("3"));
    }

    fn done(processing_minutes: i64) -> Order {
        let mut o = imported(&incoming("1"));
        o.start_processing("p", later(processing_minutes)).unwrap();
        o.ship("T", None, later(processing_minutes + 30)).unwrap();
        o
    }

    #[test]
    fn fulfilment_grades_and_sla() {
        let g = |o: &Order| o.fulfillment_summary().grade();
        assert_eq!(g(&done(120)), FulfillmentGrade::Excellent);
        assert_eq!(g(&done(121)), FulfillmentGrade::Good);
        assert_eq!(g(&done(24 * 60)), FulfillmentGrade::Good);
        assert_eq!(g(&done(24 * 60 + 1)), FulfillmentGrade::Delayed);
        assert!(done(24 * 60).fulfillment_summary().meets_sla());
        assert!(!done(24 * 60 + 1).fulfillment_summary().meets_sla());

        let mut delivered = done(10);
        delivered.mark_delivered(later(500)).unwrap();
        assert_eq!(g(&delivered), FulfillmentGrade::Excellent);

        let mut o = imported(&incoming("1"));
        assert_eq!(g(&o), FulfillmentGrade::InProgress);
        assert!(!o.fulfillment_summary().meets_sla());
        o.start_processing("p", later(5)).unwrap();
        assert_eq!(g(&o), FulfillmentGrade::InProgress);
        assert!(o.fulfillment_summary().meets_sla());
        o.status = OrderStatus::Error;
        assert_eq!(g(&o), FulfillmentGrade::Issues);

        let mut c = imported(&incoming("1"));
        c.cancel("x", later(1)).unwrap();
        assert_eq!(g(&c), FulfillmentGrade::Cancelled);
    }

    #[test]
    fn summary_times_and_counts() {
        let o = done(90);
        let s = o.fulfillment_summary();
        assert_eq!(s.processing_seconds, Some(90 * 60));
        assert_eq!(s.shipping_seconds, Some(30 * 60));
        assert_eq!(s.item_count, 3);
        assert_eq!(s.total_quantity, dec("3"));
        assert!(s.is_complete && !s.has_issues);
    }

    #[test]
    fn an_unshipped_order_finished_in_the_shop_is_flagged_once_and_keeps_its_status() {
        let mut o = imported(&incoming("1"));
        assert!(o.flag_completed_in_shop(t0()));
        assert_eq!(o.status, OrderStatus::Imported, "it may still ship");
        assert_eq!(o.review_reason.as_deref(), Some(COMPLETED_IN_SHOP_REASON));
        assert!(!o.flag_completed_in_shop(t0()), "flagged once");
        o.start_processing("pick-1", t0()).unwrap();
        o.ship("DR1", None, t0()).unwrap();
        let mut shipped = o.clone();
        shipped.review_reason = None;
        assert!(
            !shipped.flag_completed_in_shop(t0()),
            "shipped: nothing owed"
        );
        // A conflict keeps its reason; the new one goes to the notes.
        let mut conflicted = imported(&incoming("2"));
        conflicted.review_reason = Some(ORDER_CONFLICT_REASON.into());
        assert!(conflicted.flag_completed_in_shop(t0()));
        assert_eq!(
            conflicted.review_reason.as_deref(),
            Some(ORDER_CONFLICT_REASON)
        );
        assert!(conflicted.notes.unwrap().contains(COMPLETED_IN_SHOP_REASON));
    }

    #[test]
    fn only_a_cancelled_order_is_flagged_as_reopened() {
        let mut o = imported(&incoming("1"));
        assert!(!o.flag_reopened_in_shop(t0()));
        o.cancel_from_shop("cancelled in the shop", t0());
        assert!(o.flag_reopened_in_shop(t0()));
        assert_eq!(o.status, OrderStatus::Cancelled);
        assert_eq!(o.review_reason.as_deref(), Some(REOPENED_IN_SHOP_REASON));
        o.acknowledge_review("checked", t0()).unwrap();
        assert_eq!(o.status, OrderStatus::Cancelled);
    }
}
