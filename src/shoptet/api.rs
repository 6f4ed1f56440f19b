//! Typed Shoptet calls: orders, products, stocks, prices and e-shop info.
//!
//! Each call builds a [`Call`], runs it through the shared pipeline and decodes the
//! envelope. Paged reads have a per-page form (for cursors persisted page by page) and an
//! `all_*` form. Batch writes are split into chunks Shoptet accepts and report per-row
//! failures instead of dropping them.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};

use super::client::{Call, Reply, ShoptetClient, segment};
use super::model::{
    ApiErrorItem, BatchReport, BulkStatusReport, Envelope, EshopInfo, OrderChange, OrderDetail,
    OrderStatusList, OrderSummary, Page, Paginator, PriceUpdateReport, PriceUpdateRow, Pricelist,
    ProductChange, ProductDetail, ProductSummary, RowError, StatusChangeOutcome, StockList,
    StockSupply, StockUpdateReport, StockUpdateRow, de_null_default,
};
use super::time::format_datetime;
use super::{MAX_BULK_STATUS_CODES, MAX_TRACKING_NUMBER_CHARS, ShoptetError};

/// Page size maxima per endpoint (larger values are clamped by Shoptet anyway).
pub const ORDERS_PAGE_MAX: u32 = 50;
pub const ORDER_CHANGES_PAGE_MAX: u32 = 1000;
pub const PRODUCTS_PAGE_MAX: u32 = 1000;
pub const PRODUCT_CHANGES_PAGE_MAX: u32 = 1000;
pub const SUPPLIES_PAGE_MAX: u32 = 1000;
/// Safety stop for `all_*` readers against a server that never stops paging.
const MAX_PAGES: u32 = 100_000;

/// Filters of `GET /api/orders`. Times are sent in Shoptet's `+0100` form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub change_time_from: Option<DateTime<Utc>>,
    pub change_time_to: Option<DateTime<Utc>>,
    pub creation_time_from: Option<DateTime<Utc>>,
    pub creation_time_to: Option<DateTime<Utc>>,
    /// Negative ids are system statuses.
    pub status_id: Option<i64>,
    /// Page size (Shoptet clamps to 50).
    pub items_per_page: Option<u32>,
}

/// `data` of a paged list: the list key differs per endpoint.
#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct PageData<T> {
    #[serde(
        default,
        deserialize_with = "de_null_default",
        alias = "orders",
        alias = "changes",
        alias = "products",
        alias = "supplies",
        alias = "pricelists",
        alias = "webhooks",
        alias = "jobs"
    )]
    items: Vec<T>,
    #[serde(default, deserialize_with = "de_null_default")]
    paginator: Paginator,
}

/// An order detail with the shop time at which it was read.
#[derive(Debug, Clone)]
pub struct OrderRead {
    pub detail: OrderDetail,
    /// The response's `Date` header (whole seconds); `None` when the shop sent none.
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct OrderData {
    order: Option<OrderDetail>,
}

/// Decodes an envelope whose `data` must be present.
pub fn decode_data<T: DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<(T, Vec<ApiErrorItem>, Option<String>), ShoptetError> {
    let envelope: Envelope<T> =
        serde_json::from_slice(body).map_err(|err| ShoptetError::Invalid {
            detail: format!("{what}: {err}"),
            request_id: None,
        })?;
    let request_id = envelope.request_id().map(str::to_owned);
    match envelope.data {
        Some(data) => Ok((data, envelope.errors, request_id)),
        None => Err(ShoptetError::Invalid {
            detail: format!("{what}: `data` is null or missing"),
            request_id,
        }),
    }
}

/// Decodes one page of a list under `data.<list_key>`; a bad item is reported by its index.
pub fn decode_page<T: DeserializeOwned>(
    body: &[u8],
    list_key: &str,
) -> Result<Page<T>, ShoptetError> {
    match decode_data::<PageData<T>>(body, &format!("data.{list_key}")) {
        Ok((data, _, _)) => Ok(Page {
            items: data.items,
            paginator: data.paginator,
        }),
        Err(ShoptetError::Invalid { detail, request_id }) => {
            let located = locate_bad_item::<T>(body, list_key);
            Err(ShoptetError::Invalid {
                detail: located.unwrap_or(detail),
                request_id,
            })
        }
        Err(other) => Err(other),
    }
}

/// Finds the first list element that does not decode, to name it (`data.orders[3]: …`).
fn locate_bad_item<T: DeserializeOwned>(body: &[u8], list_key: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let items = value.get("data")?.get(list_key)?.as_array()?;
    items.iter().enumerate().find_map(|(index, item)| {
        T::deserialize(item)
            .err()
            .map(|err| format!("data.{list_key}[{index}]: {err}"))
    })
}

fn with_request_id(err: ShoptetError, reply: &Reply) -> ShoptetError {
    match err {
        ShoptetError::Invalid {
            detail,
            request_id: None,
        } => ShoptetError::Invalid {
            detail,
            request_id: reply.request_id.clone(),
        },
        other => other,
    }
}

/// `page-not-found`: the list ended before the page asked for. Its HTTP status is unconfirmed
/// (likely 404), so a 4xx rejection carrying that code counts too.
fn is_page_not_found(error: &ShoptetError) -> bool {
    const CODE: &str = "page-not-found";
    match error {
        ShoptetError::NotFound { error_code, .. } => error_code == CODE,
        ShoptetError::Rejected { errors, .. } => errors.iter().any(|e| e.error_code == CODE),
        _ => false,
    }
}

/// Reads pages 1.. until `pageCount` (or an empty page). A later page that vanished
/// (`page-not-found`: records were deleted while we read) ends the list instead of failing the
/// whole read; on page 1 it is an error.
pub(crate) async fn collect_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, ShoptetError>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, ShoptetError>>,
{
    let mut all = Vec::new();
    let mut page = 1u32;
    loop {
        let fetched = match fetch(page).await {
            Ok(fetched) => fetched,
            Err(error) if page > 1 && is_page_not_found(&error) => return Ok(all),
            Err(error) => return Err(error),
        };
        let more = fetched.has_next();
        all.extend(fetched.items);
        if !more || page >= MAX_PAGES {
            return Ok(all);
        }
        page += 1;
    }
}

/// Finds which requested code a batch error refers to (its `instance`, or a quoted code in
/// the message). Codes are matched case-insensitively since Shoptet upper-cases them.
fn row_code_of(error: &ApiErrorItem, codes: &HashMap<String, String>) -> Option<String> {
    if let Some(instance) = &error.instance
        && let Some(code) = codes.get(&instance.to_uppercase())
    {
        return Some(code.clone());
    }
    error
        .message
        .split('"')
        .chain(error.message.split('\''))
        .find_map(|part| codes.get(&part.to_uppercase()).cloned())
}

/// Turns the `errors` of a batch write into per-row failures; `None` if an error names no row
/// (then it is not a row failure but a failure of the whole request).
fn row_failures(errors: &[ApiErrorItem], codes: &HashMap<String, String>) -> Option<Vec<RowError>> {
    errors
        .iter()
        .map(|error| {
            row_code_of(error, codes).map(|code| RowError {
                code: Some(code),
                error_code: error.error_code.clone(),
                message: error.message.clone(),
            })
        })
        .collect()
}

fn code_index<'a>(codes: impl Iterator<Item = &'a str>) -> HashMap<String, String> {
    codes
        .map(|code| (code.to_uppercase(), code.to_owned()))
        .collect()
}

impl ShoptetClient {
    pub(crate) async fn get_data<T: DeserializeOwned>(
        &self,
        call: Call,
        what: &str,
    ) -> Result<T, ShoptetError> {
        let reply = self.execute(call).await?;
        decode_data::<T>(&reply.body, what)
            .map(|(data, _, _)| data)
            .map_err(|err| with_request_id(err, &reply))
    }

    pub(crate) async fn get_page<T: DeserializeOwned>(
        &self,
        call: Call,
        list_key: &str,
    ) -> Result<Page<T>, ShoptetError> {
        let reply = self.execute(call).await?;
        decode_page::<T>(&reply.body, list_key).map_err(|err| with_request_id(err, &reply))
    }

    // -----------------------------------------------------------------------------------------
    // E-shop
    // -----------------------------------------------------------------------------------------

    /// `GET /api/eshop`: shop info incl. the default price list id; doubles as a connection test.
    pub async fn eshop_info(&self) -> Result<EshopInfo, ShoptetError> {
        self.get_data(Call::get("eshop_info", "/api/eshop".to_owned()), "data")
            .await
    }

    // -----------------------------------------------------------------------------------------
    // Orders
    // -----------------------------------------------------------------------------------------

    /// One page of `GET /api/orders/changes?from=` (codes changed since `from`).
    pub async fn order_changes(
        &self,
        from: DateTime<Utc>,
        page: u32,
        items_per_page: u32,
    ) -> Result<Page<OrderChange>, ShoptetError> {
        let call = Call::get("order_changes", "/api/orders/changes".to_owned())
            .query("from", format_datetime(from))
            .query("page", page.max(1).to_string())
            .query("itemsPerPage", items_per_page.max(1).to_string());
        self.get_page(call, "changes").await
    }

    /// Every order change since `from`, all pages (1000 per page).
    pub async fn all_order_changes(
        &self,
        from: DateTime<Utc>,
    ) -> Result<Vec<OrderChange>, ShoptetError> {
        collect_pages(|page| self.order_changes(from, page, ORDER_CHANGES_PAGE_MAX)).await
    }

    /// One page of `GET /api/orders` with the given filters.
    pub async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: u32,
    ) -> Result<Page<OrderSummary>, ShoptetError> {
        let mut call = Call::get("list_orders", "/api/orders".to_owned());
        let times = [
            ("changeTimeFrom", filter.change_time_from),
            ("changeTimeTo", filter.change_time_to),
            ("creationTimeFrom", filter.creation_time_from),
            ("creationTimeTo", filter.creation_time_to),
        ];
        for (key, value) in times {
            if let Some(value) = value {
                call = call.query(key, format_datetime(value));
            }
        }
        if let Some(status_id) = filter.status_id {
            call = call.query("statusId", status_id.to_string());
        }
        call = call.query("page", page.max(1).to_string()).query(
            "itemsPerPage",
            filter
                .items_per_page
                .unwrap_or(ORDERS_PAGE_MAX)
                .max(1)
                .to_string(),
        );
        self.get_page(call, "orders").await
    }

    /// Every order matching `filter`, all pages, de-duplicated by code (offset paging over a
    /// live list can return an order twice; the later-changed copy wins).
    pub async fn all_orders(
        &self,
        filter: &OrderFilter,
    ) -> Result<Vec<OrderSummary>, ShoptetError> {
        let orders = collect_pages(|page| self.list_orders(filter, page)).await?;
        let mut position: HashMap<String, usize> = HashMap::new();
        let mut unique: Vec<OrderSummary> = Vec::with_capacity(orders.len());
        for order in orders {
            match position.get(&order.code) {
                Some(&index) => {
                    if order.change_time >= unique[index].change_time {
                        unique[index] = order;
                    }
                }
                None => {
                    position.insert(order.code.clone(), unique.len());
                    unique.push(order);
                }
            }
        }
        Ok(unique)
    }

    /// `GET /api/orders/{code}?include=notes,shippingDetails`.
    pub async fn order_detail(&self, code: &str) -> Result<OrderDetail, ShoptetError> {
        self.order_detail_read(code).await.map(|read| read.detail)
    }

    /// `GET /api/orders/{code}` like [`Self::order_detail`], with the shop's clock at the
    /// answer (its `Date` header): an order read at least a second after its change time
    /// holds every edit of that second.
    pub async fn order_detail_read(&self, code: &str) -> Result<OrderRead, ShoptetError> {
        let call = Call::get("order_detail", format!("/api/orders/{}", segment(code)))
            .query("include", "notes,shippingDetails");
        let reply = self.execute(call).await?;
        let data: OrderData = decode_data::<OrderData>(&reply.body, "data.order")
            .map(|(data, _, _)| data)
            .map_err(|err| with_request_id(err, &reply))?;
        let detail = data
            .order
            .ok_or_else(|| ShoptetError::invalid(format!("order {code}: `data.order` is null")))?;
        Ok(OrderRead {
            detail,
            read_at: reply.date,
        })
    }

    /// `GET /api/orders/statuses`: the shop's statuses (system ones have negative ids).
    pub async fn order_statuses(&self) -> Result<OrderStatusList, ShoptetError> {
        self.get_data(
            Call::get("order_statuses", "/api/orders/statuses".to_owned()),
            "data",
        )
        .await
    }

    fn with_suppress_flags(&self, call: Call) -> Call {
        let flags = self.config().status_write;
        call.query(
            "suppressEmailSending",
            flags.suppress_email_sending.to_string(),
        )
        .query("suppressSmsSending", flags.suppress_sms_sending.to_string())
        .query(
            "suppressDocumentGeneration",
            flags.suppress_document_generation.to_string(),
        )
    }

    /// `PATCH /api/orders/{code}/status` with the configured suppress* flags. Idempotent
    /// (setting the current status is a no-op), hence retried. A 200 with errors (e.g.
    /// `document-not-generated`) is a success with warnings.
    pub async fn set_order_status(
        &self,
        code: &str,
        status_id: i64,
    ) -> Result<StatusChangeOutcome, ShoptetError> {
        let body = serde_json::json!({ "data": { "statusId": status_id } });
        let call = self.with_suppress_flags(Call::patch(
            "set_order_status",
            format!("/api/orders/{}/status", segment(code)),
            body,
        ));
        let reply = self.execute(call).await?;
        // The write has happened; an unreadable echo must not make it look failed.
        let envelope: Option<Envelope<OrderData>> = serde_json::from_slice(&reply.body)
            .map_err(|err| {
                tracing::warn!(
                    order_code = code,
                    request_id = reply.request_id.as_deref(),
                    error = %err,
                    "status changed but the echoed order could not be read"
                );
            })
            .ok();
        let (order, warnings) = match envelope {
            Some(envelope) => (envelope.data.and_then(|data| data.order), envelope.errors),
            None => (None, Vec::new()),
        };
        Ok(StatusChangeOutcome {
            order,
            warnings,
            request_id: reply.request_id,
        })
    }

    /// `PATCH /api/orders/{code}/notes` setting `trackingNumber` (at most 32 characters,
    /// checked before sending). Idempotent, hence retried.
    pub async fn set_tracking_number(
        &self,
        code: &str,
        tracking_number: &str,
    ) -> Result<(), ShoptetError> {
        let length = tracking_number.chars().count();
        if length > MAX_TRACKING_NUMBER_CHARS {
            return Err(ShoptetError::invalid(format!(
                "tracking number for order {code} has {length} characters; Shoptet accepts at \
                 most {MAX_TRACKING_NUMBER_CHARS}"
            )));
        }
        if tracking_number.trim().is_empty() {
            return Err(ShoptetError::invalid(format!(
                "tracking number for order {code} is empty"
            )));
        }
        let body = serde_json::json!({ "data": { "trackingNumber": tracking_number } });
        self.execute(Call::patch(
            "set_tracking_number",
            format!("/api/orders/{}/notes", segment(code)),
            body,
        ))
        .await?;
        Ok(())
    }

    /// `PATCH /api/orders/status-change` for any number of codes, sent 100 at a time.
    /// Unknown codes come back as failed rows; a chunk where every code failed (400) too.
    pub async fn bulk_status_change(
        &self,
        codes: &[String],
        status_id: i64,
    ) -> Result<BulkStatusReport, ShoptetError> {
        let mut report = BatchReport::default();
        for chunk in codes.chunks(MAX_BULK_STATUS_CODES) {
            let body =
                serde_json::json!({ "data": { "orderCodes": chunk, "statusId": status_id } });
            let call = self.with_suppress_flags(Call::patch(
                "bulk_status_change",
                "/api/orders/status-change".to_owned(),
                body,
            ));
            let index = code_index(chunk.iter().map(String::as_str));
            self.run_batch_chunk(call, chunk.len(), &index, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// Sends one batch chunk and folds its outcome into `report`.
    async fn run_batch_chunk(
        &self,
        call: Call,
        rows: usize,
        codes: &HashMap<String, String>,
        report: &mut BatchReport,
    ) -> Result<(), ShoptetError> {
        let op = call.op;
        let (errors, request_id) = match self.execute(call).await {
            Ok(reply) => {
                let envelope: Envelope<serde::de::IgnoredAny> = serde_json::from_slice(&reply.body)
                    .map_err(|err| ShoptetError::Invalid {
                        detail: format!("{op}: response: {err}"),
                        request_id: reply.request_id.clone(),
                    })?;
                (envelope.errors, reply.request_id)
            }
            // All rows failed: the same per-row errors, with status 400.
            Err(ShoptetError::Rejected {
                status: 400,
                errors,
                request_id,
            }) if !errors.is_empty() => match row_failures(&errors, codes) {
                Some(_) => (errors, request_id),
                None => {
                    return Err(ShoptetError::Rejected {
                        status: 400,
                        errors,
                        request_id,
                    });
                }
            },
            Err(other) => return Err(other),
        };
        let failures = match row_failures(&errors, codes) {
            Some(failures) => failures,
            // A 200 error that names no row: keep it, never drop it.
            None => errors.iter().map(RowError::from).collect(),
        };
        let failed_codes: HashSet<&str> = failures
            .iter()
            .filter_map(|failure| failure.code.as_deref())
            .collect();
        report.applied += rows.saturating_sub(failed_codes.len());
        report.requests += 1;
        if let Some(request_id) = request_id {
            report.request_ids.push(request_id);
        }
        if !failures.is_empty() {
            tracing::warn!(
                operation = op,
                failed = failures.len(),
                request_id = report.request_ids.last().map(String::as_str),
                "Shoptet rejected some rows of a batch write"
            );
        }
        report.failed.extend(failures);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Products
    // -----------------------------------------------------------------------------------------

    /// One page of `GET /api/products` (heads only).
    pub async fn list_products(
        &self,
        page: u32,
        items_per_page: u32,
    ) -> Result<Page<ProductSummary>, ShoptetError> {
        let call = Call::get("list_products", "/api/products".to_owned())
            .query("page", page.max(1).to_string())
            .query("itemsPerPage", items_per_page.max(1).to_string());
        self.get_page(call, "products").await
    }

    /// Every product head, all pages.
    pub async fn all_products(&self) -> Result<Vec<ProductSummary>, ShoptetError> {
        collect_pages(|page| self.list_products(page, PRODUCTS_PAGE_MAX)).await
    }

    /// `GET /api/products/{guid}?include=variantParameters`.
    pub async fn product_detail(&self, guid: &str) -> Result<ProductDetail, ShoptetError> {
        let call = Call::get("product_detail", format!("/api/products/{}", segment(guid)))
            .query("include", "variantParameters");
        self.get_data(call, "data").await
    }

    /// `GET /api/products/code/{code}?include=variantParameters`: the whole parent product
    /// of a product or variant code (a `/` in the code is sent as `%2F`).
    pub async fn product_by_code(&self, code: &str) -> Result<ProductDetail, ShoptetError> {
        let call = Call::get(
            "product_by_code",
            format!("/api/products/code/{}", segment(code)),
        )
        .query("include", "variantParameters");
        self.get_data(call, "data").await
    }

    /// One page of `GET /api/products/changes?from=`. Stock changes are not product changes.
    pub async fn product_changes(
        &self,
        from: DateTime<Utc>,
        page: u32,
    ) -> Result<Page<ProductChange>, ShoptetError> {
        let call = Call::get("product_changes", "/api/products/changes".to_owned())
            .query("from", format_datetime(from))
            .query("page", page.max(1).to_string())
            .query("itemsPerPage", PRODUCT_CHANGES_PAGE_MAX.to_string());
        self.get_page(call, "changes").await
    }

    /// Every product change since `from`, all pages.
    pub async fn all_product_changes(
        &self,
        from: DateTime<Utc>,
    ) -> Result<Vec<ProductChange>, ShoptetError> {
        collect_pages(|page| self.product_changes(from, page)).await
    }

    // -----------------------------------------------------------------------------------------
    // Stocks
    // -----------------------------------------------------------------------------------------

    /// `GET /api/stocks`.
    pub async fn stocks(&self) -> Result<StockList, ShoptetError> {
        self.get_data(Call::get("stocks", "/api/stocks".to_owned()), "data")
            .await
    }

    /// One page of `GET /api/stocks/{stockId}/supplies` (amount and claim per variant).
    pub async fn stock_supplies(
        &self,
        stock_id: i64,
        page: u32,
        items_per_page: u32,
    ) -> Result<Page<StockSupply>, ShoptetError> {
        let call = Call::get("stock_supplies", format!("/api/stocks/{stock_id}/supplies"))
            .query("page", page.max(1).to_string())
            .query("itemsPerPage", items_per_page.max(1).to_string());
        self.get_page(call, "supplies").await
    }

    /// Every supply row of a stock, all pages.
    pub async fn all_stock_supplies(
        &self,
        stock_id: i64,
    ) -> Result<Vec<StockSupply>, ShoptetError> {
        collect_pages(|page| self.stock_supplies(stock_id, page, SUPPLIES_PAGE_MAX)).await
    }

    /// `PATCH /api/stocks/{stockId}/movements` with absolute levels, in chunks of at most
    /// `max_batch_rows` (300). Chunks go one after another: Shoptet answers 423 to concurrent
    /// writes to the same URL. Per-row failures (200 partial, 400 all-bad) are in the report.
    /// On an `Err`, earlier chunks may already be applied; rows are absolute, so sending the
    /// whole set again is safe.
    pub async fn update_stock(
        &self,
        stock_id: i64,
        rows: &[StockUpdateRow],
    ) -> Result<StockUpdateReport, ShoptetError> {
        let mut entries = Vec::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            if row.code.trim().is_empty() {
                return Err(ShoptetError::invalid(format!(
                    "stock row {index}: empty product code"
                )));
            }
            entries.push(
                row.to_json()
                    .map_err(|err| ShoptetError::invalid(format!("stock row {index}: {err}")))?,
            );
        }
        let mut report = BatchReport::default();
        let size = self.config().max_batch_rows;
        for (chunk_rows, chunk_entries) in rows.chunks(size).zip(entries.chunks(size)) {
            let call = Call::patch(
                "update_stock",
                format!("/api/stocks/{stock_id}/movements"),
                serde_json::json!({ "data": chunk_entries }),
            );
            let index = code_index(chunk_rows.iter().map(|row| row.code.as_str()));
            self.run_batch_chunk(call, chunk_rows.len(), &index, &mut report)
                .await?;
        }
        Ok(report)
    }

    // -----------------------------------------------------------------------------------------
    // Prices
    // -----------------------------------------------------------------------------------------

    /// `GET /api/pricelists`.
    pub async fn pricelists(&self) -> Result<Vec<Pricelist>, ShoptetError> {
        let page: Page<Pricelist> = self
            .get_page(
                Call::get("pricelists", "/api/pricelists".to_owned()),
                "pricelists",
            )
            .await?;
        Ok(page.items)
    }

    /// `PATCH /api/pricelists/{id}` in chunks of at most `max_batch_rows` (300); prices are
    /// dec2 strings. Per-row failures (`pricelist-code-not-found`, …) are in the report.
    pub async fn update_prices(
        &self,
        pricelist_id: i64,
        rows: &[PriceUpdateRow],
    ) -> Result<PriceUpdateReport, ShoptetError> {
        let mut entries = Vec::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            if row.code.trim().is_empty() {
                return Err(ShoptetError::invalid(format!(
                    "price row {index}: empty variant code"
                )));
            }
            entries.push(
                row.to_json()
                    .map_err(|err| ShoptetError::invalid(format!("price row {index}: {err}")))?,
            );
        }
        let mut report = BatchReport::default();
        let size = self.config().max_batch_rows;
        for (chunk_rows, chunk_entries) in rows.chunks(size).zip(entries.chunks(size)) {
            let call = Call::patch(
                "update_prices",
                format!("/api/pricelists/{pricelist_id}"),
                serde_json::json!({ "data": chunk_entries }),
            );
            let index = code_index(chunk_rows.iter().map(|row| row.code.as_str()));
            self.run_batch_chunk(call, chunk_rows.len(), &index, &mut report)
                .await?;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn item(code: &str, message: &str, instance: Option<&str>) -> ApiErrorItem {
        ApiErrorItem {
            error_code: code.to_owned(),
            message: message.to_owned(),
            instance: instance.map(str::to_owned),
        }
    }

    #[test]
    fn row_errors_match_instance_or_quoted_code_case_insensitively() {
        let codes = code_index(["tri-042/m", "HRN-330", "2025000318"].into_iter());
        let errors = vec![
            item(
                "unknown-product",
                "Product \"TRI-042/M\" does not exist. Skipped.",
                Some("TRI-042/M"),
            ),
            item(
                "pricelist-code-not-found",
                "Price list code 'HRN-330' doesn't exist. Code skipped.",
                Some("unknown"),
            ),
            item(
                "order-not-found",
                "Order \"2025000318\" not found.",
                Some("data.orderCodes"),
            ),
        ];
        let rows = row_failures(&errors, &codes).unwrap();
        let found: Vec<_> = rows.iter().map(|row| row.code.clone().unwrap()).collect();
        assert_eq!(found, ["tri-042/m", "HRN-330", "2025000318"]);
        // An error that names no row is not a row failure.
        let whole = vec![item("invalid-request-data", "Bad body", Some("payload"))];
        assert!(row_failures(&whole, &codes).is_none());
    }
}
