//! Contract tests: every typed call of the Shoptet client against the in-process simulator,
//! plus the failure modes the client must survive (token expiry, 429, 423, 500 bursts,
//! maintenance, hangs, corrupt bodies, resets, partial batches, the in-flight cap).
//!
//! Each test starts its own simulator on 127.0.0.1:0 and stops it at the end. Retry bounds,
//! timeouts and the simulator's limits are scaled down so the suite runs in seconds; waits
//! are polls on conditions with deadlines, never fixed sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shoptet_sync::domain::{Credentials, Secret};
use shoptet_sync::shoptet::{
    ClientConfig, OrderFilter, PriceUpdateRow, RetryPolicy, ShoptetClient, ShoptetError,
    StockUpdateRow, ThrottleConfig,
};
use shoptet_sync::sim::{
    FaultConfig, ItemSpec, LimitConfig, OrderSpec, STATUS_CANCELLED, STATUS_COMPLETED, STATUS_NEW,
    STATUS_PROCESSING, SimConfig, SimHandle, Simulator,
};
use tokio::time::Instant;

const MOVEMENTS: &str = "PATCH /api/stocks/{id}/movements";
const PRICELIST_PATCH: &str = "PATCH /api/pricelists/{id}";
const ORDERS_LIST: &str = "GET /api/orders";
const MINT: &str = "GET /action/ApiOAuthServer/getAccessToken";

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A simulator whose bucket never fills unless a test says otherwise, strict about the
/// `Content-Type` the reference requires on every request (so the client is checked for it).
fn sim_config(products: usize, orders: usize) -> SimConfig {
    SimConfig {
        seed: 11,
        products,
        orders,
        strict_content_type: true,
        stock_range: (500, 1000),
        limits: LimitConfig {
            max_in_flight: 3,
            bucket_capacity: 1_000_000,
            bucket_drain_per_sec: 1_000_000.0,
            ..LimitConfig::default()
        },
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> SimHandle {
    Simulator::start(config).await.unwrap()
}

/// Client bounds scaled down for tests: milliseconds of backoff, short timeouts.
fn fast_config(sim: &SimHandle) -> ClientConfig {
    ClientConfig {
        api_base_url: sim.base_url(),
        eshop_url: Some(sim.eshop_url()),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_attempts: 4,
            max_rate_limited_attempts: 8,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            locked_wait: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(3),
        },
        throttle: ThrottleConfig {
            threshold: 0.9,
            drain_per_second: 1_000_000.0,
            assumed_cost: 1.0,
            max_delay: Duration::from_secs(2),
        },
        ..ClientConfig::default()
    }
}

fn private_client(sim: &SimHandle, config: ClientConfig) -> ShoptetClient {
    ShoptetClient::new(
        config,
        Credentials::PrivateToken(Secret::new(sim.private_token())),
    )
    .unwrap()
}

fn addon_client(sim: &SimHandle, config: ClientConfig) -> ShoptetClient {
    ShoptetClient::new(
        config,
        Credentials::AddonOAuth(Secret::new(sim.oauth_token())),
    )
    .unwrap()
}

/// Polls `condition` every 2 ms until it holds; fails after 10 s.
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn stop(sim: Arc<SimHandle>) {
    match Arc::try_unwrap(sim) {
        Ok(sim) => sim.shutdown().await,
        Err(_) => panic!("a task still holds the simulator"),
    }
}

/// Stocked variant codes (no product sets), in catalogue order.
fn stocked_codes(sim: &SimHandle) -> Vec<String> {
    let stocked: HashSet<String> = sim.stock_levels().into_keys().collect();
    sim.variant_codes()
        .into_iter()
        .filter(|code| stocked.contains(code))
        .collect()
}

fn set_codes(sim: &SimHandle) -> Vec<String> {
    let stocked: HashSet<String> = sim.stock_levels().into_keys().collect();
    sim.variant_codes()
        .into_iter()
        .filter(|code| !stocked.contains(code))
        .collect()
}

fn place(sim: &SimHandle, code: &str, amount: i64) -> String {
    sim.create_order(&OrderSpec {
        items: vec![ItemSpec::new(code, amount)],
        ..OrderSpec::default()
    })
    .unwrap()
}

fn second() -> Duration {
    Duration::from_secs(1)
}

fn minus_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t - chrono::Duration::seconds(1)
}

// ------------------------------------------------------------------------------ reference data

#[tokio::test]
async fn eshop_info_statuses_stocks_and_pricelists() {
    let sim = start(sim_config(5, 0)).await;
    let client = private_client(&sim, fast_config(&sim));

    let info = client.eshop_info().await.unwrap();
    assert_eq!(
        info.default_pricelist_id(),
        Some(sim.default_pricelist_id())
    );
    assert!(info.contact_information.unwrap().eshop_name.is_some());

    let statuses = client.order_statuses().await.unwrap();
    let ids: BTreeSet<i64> = statuses.statuses.iter().map(|s| s.id).collect();
    for id in [
        STATUS_NEW,
        STATUS_PROCESSING,
        STATUS_COMPLETED,
        STATUS_CANCELLED,
    ] {
        assert!(ids.contains(&id), "status {id} missing from {ids:?}");
    }
    assert_eq!(statuses.default_status, Some(STATUS_NEW));
    for status in &statuses.statuses {
        assert_eq!(status.system, status.id < 0, "system flag of {}", status.id);
        assert!(!status.name.is_empty());
    }
    let completed = statuses
        .statuses
        .iter()
        .find(|s| s.id == STATUS_COMPLETED)
        .unwrap();
    assert!(completed.stock_claim_resolved);
    let new = statuses
        .statuses
        .iter()
        .find(|s| s.id == STATUS_NEW)
        .unwrap();
    assert!(!new.stock_claim_resolved);

    let stocks = client.stocks().await.unwrap();
    assert!(stocks.stocks.len() >= 2, "several stocks: {stocks:?}");
    let default_stock = stocks.default_stock_id.unwrap();
    assert!(stocks.stocks.iter().any(|s| s.id == default_stock));

    let lists = client.pricelists().await.unwrap();
    assert!(lists.iter().any(|l| l.id == sim.default_pricelist_id()));
    assert!(lists.len() >= 2);
    sim.shutdown().await;
}

// ------------------------------------------------------------------------------ orders

#[tokio::test]
async fn order_changes_feed_pages_and_reports_edits_and_deletes() {
    let sim = start(sim_config(20, 0)).await;
    let client = private_client(&sim, fast_config(&sim));
    let from = minus_second(sim.now());
    let created = sim.create_random_orders(1100);
    assert!(created.len() > 1000, "enough stock for the orders");

    // More than one 1000-row page.
    let changes = client.all_order_changes(from).await.unwrap();
    assert_eq!(sim.counters().requests("GET /api/orders/changes"), 2);
    let seen: BTreeSet<&str> = changes.iter().map(|c| c.code.as_str()).collect();
    let expected: BTreeSet<&str> = created.iter().map(String::as_str).collect();
    assert_eq!(seen, expected);
    assert!(changes.iter().all(|c| !c.change_type.is_delete()));

    // Small pages agree with the big read.
    let mut paged = Vec::new();
    let mut page = 1;
    loop {
        let one = client.order_changes(from, page, 97).await.unwrap();
        assert_eq!(one.paginator.total_count, created.len() as u64);
        assert_eq!(one.paginator.items_per_page, 97);
        assert_eq!(one.paginator.items_on_page as usize, one.items.len());
        let more = one.has_next();
        paged.extend(one.items);
        if !more {
            break;
        }
        page += 1;
    }
    assert_eq!(page as usize, created.len().div_ceil(97));
    assert_eq!(paged, changes);

    // An edit and a delete after a cursor show up with their types; only the last change counts.
    sim.advance_clock(2 * second());
    let cursor = minus_second(sim.now());
    sim.set_order_status(&created[0], STATUS_PROCESSING)
        .unwrap();
    sim.set_order_status(&created[1], STATUS_PROCESSING)
        .unwrap();
    sim.delete_order(&created[1]).unwrap();
    let recent = client.all_order_changes(cursor).await.unwrap();
    let by_code: BTreeMap<&str, bool> = recent
        .iter()
        .map(|c| (c.code.as_str(), c.change_type.is_delete()))
        .collect();
    assert_eq!(
        by_code,
        BTreeMap::from([(created[0].as_str(), false), (created[1].as_str(), true)])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn order_list_pages_and_filters_by_time_and_negative_status() {
    let sim = start(sim_config(20, 0)).await;
    let client = private_client(&sim, fast_config(&sim));
    let early: Vec<String> = sim.create_random_orders(120);
    sim.advance_clock(Duration::from_secs(7200));
    let boundary = minus_second(sim.now());
    let late: Vec<String> = sim.create_random_orders(30);
    assert_eq!((early.len(), late.len()), (120, 30));
    for code in &late[..5] {
        sim.set_order_status(code, STATUS_PROCESSING).unwrap();
    }

    // All orders, 50 a page (the orders maximum): 3 pages.
    let all = client.all_orders(&OrderFilter::default()).await.unwrap();
    assert_eq!(sim.counters().requests(ORDERS_LIST), 3);
    let codes: BTreeSet<String> = all.iter().map(|o| o.code.clone()).collect();
    let expected: BTreeSet<String> = early.iter().chain(&late).cloned().collect();
    assert_eq!(codes, expected);
    // An oversized page size is clamped to 50 by the shop.
    let clamped = client
        .list_orders(
            &OrderFilter {
                items_per_page: Some(500),
                ..OrderFilter::default()
            },
            1,
        )
        .await
        .unwrap();
    assert_eq!(clamped.paginator.items_per_page, 50);
    assert_eq!(clamped.items.len(), 50);

    // Time filters travel as `+0100`/`+0200` with the `+` encoded; a bare `+` would arrive as
    // a space and be refused, so matching results prove the encoding.
    let newer = client
        .all_orders(&OrderFilter {
            creation_time_from: Some(boundary),
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    let newer: BTreeSet<String> = newer.into_iter().map(|o| o.code).collect();
    assert_eq!(newer, late.iter().cloned().collect());
    let older = client
        .all_orders(&OrderFilter {
            creation_time_to: Some(boundary),
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    let older: BTreeSet<String> = older.into_iter().map(|o| o.code).collect();
    assert_eq!(older, early.iter().cloned().collect());
    let changed = client
        .all_orders(&OrderFilter {
            change_time_from: Some(boundary),
            change_time_to: Some(sim.now() + chrono::Duration::seconds(1)),
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(changed.len(), late.len());

    // A negative (system) status id as a filter.
    let processing = client
        .all_orders(&OrderFilter {
            status_id: Some(STATUS_PROCESSING),
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    let processing: BTreeSet<String> = processing.into_iter().map(|o| o.code).collect();
    assert_eq!(processing, late[..5].iter().cloned().collect());
    assert!(
        all.iter()
            .all(|o| o.price.as_ref().unwrap().with_vat.is_some())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn order_detail_has_variant_shipping_billing_and_discount_rows() {
    let sim = start(sim_config(30, 80)).await;
    let client = private_client(&sim, fast_config(&sim));
    let variant_codes: HashSet<String> = sim.variant_codes().into_iter().collect();
    let mut discounts = 0;
    let mut slash_variants = 0;
    for code in sim.order_codes() {
        let detail = client.order_detail(&code).await.unwrap();
        let view = sim.order(&code).unwrap();
        assert_eq!(detail.code, code);
        assert_eq!(detail.status_id(), Some(view.status_id));
        assert!(detail.creation_time.is_some() && detail.billing_address.is_some());
        assert!(detail.notes.is_some(), "include=notes was asked for");

        let shipping: Vec<_> = detail
            .items
            .iter()
            .filter(|i| i.item_type == "shipping")
            .collect();
        let billing: Vec<_> = detail
            .items
            .iter()
            .filter(|i| i.item_type == "billing")
            .collect();
        assert_eq!((shipping.len(), billing.len()), (1, 1), "order {code}");
        assert!(shipping[0].code.is_none() && billing[0].code.is_none());
        assert!(!shipping[0].is_stock_item() && !billing[0].is_stock_item());
        assert_eq!(detail.shippings[0].item_id, shipping[0].item_id);
        assert_eq!(detail.payment_methods[0].item_id, billing[0].item_id);

        for discount in detail
            .items
            .iter()
            .filter(|i| i.item_type == "discount-coupon")
        {
            discounts += 1;
            assert!(discount.code.is_none());
            assert!(discount.item_price.as_ref().unwrap().with_vat.unwrap() < Decimal::ZERO);
        }

        // Product rows are the variants the shop holds for the order.
        let mut rows: Vec<(String, Decimal)> = detail
            .items
            .iter()
            .filter(|i| i.is_stock_item())
            .map(|i| (i.code.clone().unwrap(), i.amount.unwrap()))
            .collect();
        let mut held: Vec<(String, Decimal)> = view
            .items
            .iter()
            .map(|i| (i.code.clone(), i.amount))
            .collect();
        rows.sort();
        held.sort();
        assert_eq!(rows, held, "order {code}");
        for item in detail.items.iter().filter(|i| i.is_stock_item()) {
            let variant = item.code.as_deref().unwrap();
            assert!(variant_codes.contains(variant));
            if variant.contains('/') {
                slash_variants += 1;
                assert!(item.variant_name.is_some(), "variant row {variant}");
            }
        }
        // Row prices add up to the order total (discount rows are negative).
        let sum: Decimal = detail
            .items
            .iter()
            .map(|i| i.item_price.as_ref().unwrap().with_vat.unwrap())
            .sum();
        assert_eq!(sum, detail.price.as_ref().unwrap().with_vat.unwrap());
        assert_eq!(sum, view.total_with_vat);
    }
    assert!(discounts > 0, "some seeded orders carry a coupon");
    assert!(slash_variants > 0, "some rows are variants with a / code");

    let missing = client.order_detail("NOPE-404").await.unwrap_err();
    match &missing {
        ShoptetError::NotFound { error_code, .. } => assert_eq!(error_code, "order-not-found"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(missing.request_id().is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn status_change_resolves_the_claim_and_respects_suppress_flags() {
    let sim = start(sim_config(5, 0)).await;
    let client = private_client(&sim, fast_config(&sim));
    let code = stocked_codes(&sim)[0].clone();
    sim.set_real_stock(&code, d("10")).unwrap();
    let order = place(&sim, &code, 3);
    let level = sim.stock_level(&code).unwrap();
    assert_eq!((level.real_stock, level.claim), (d("10"), d("3")));

    let outcome = client
        .set_order_status(&order, STATUS_PROCESSING)
        .await
        .unwrap();
    assert_eq!(outcome.order.unwrap().status_id(), Some(STATUS_PROCESSING));
    assert!(outcome.warnings.is_empty() && outcome.request_id.is_some());
    assert_eq!(sim.stock_level(&code).unwrap().claim, d("3"));

    // A status with stockClaimResolved: the goods leave physical stock, the claim goes.
    let outcome = client
        .set_order_status(&order, STATUS_COMPLETED)
        .await
        .unwrap();
    assert_eq!(outcome.order.unwrap().status_id(), Some(STATUS_COMPLETED));
    let view = sim.order(&order).unwrap();
    assert_eq!(view.status_id, STATUS_COMPLETED);
    assert!(!view.claim_open);
    let level = sim.stock_level(&code).unwrap();
    assert_eq!((level.real_stock, level.claim), (d("7"), d("0")));

    // Default flags: no e-mail or SMS, documents generated; a repeated status is a no-op.
    let counters = sim.counters();
    assert_eq!((counters.emails_sent, counters.sms_sent), (0, 0));
    assert_eq!(counters.documents_generated, 2);
    client
        .set_order_status(&order, STATUS_COMPLETED)
        .await
        .unwrap();
    assert_eq!(sim.counters().documents_generated, 2);
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("7"));

    // Cancelling another order releases its claim.
    let other = place(&sim, &code, 2);
    assert_eq!(sim.stock_level(&code).unwrap().claim, d("2"));
    client
        .set_order_status(&other, STATUS_CANCELLED)
        .await
        .unwrap();
    let level = sim.stock_level(&code).unwrap();
    assert_eq!((level.real_stock, level.claim), (d("7"), d("0")));

    let err = client
        .set_order_status("NOPE-1", STATUS_COMPLETED)
        .await
        .unwrap_err();
    assert!(matches!(err, ShoptetError::NotFound { .. }), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn tracking_number_up_to_32_characters() {
    let sim = start(sim_config(5, 3)).await;
    let client = private_client(&sim, fast_config(&sim));
    let order = sim.order_codes()[0].clone();
    let tracking = "DR1234567890E-ABCDEFGHIJKLMNOPQR";
    assert_eq!(tracking.chars().count(), 32);
    client.set_tracking_number(&order, tracking).await.unwrap();
    assert_eq!(
        sim.order(&order).unwrap().tracking_number.as_deref(),
        Some(tracking)
    );
    let detail = client.order_detail(&order).await.unwrap();
    assert_eq!(
        detail.notes.unwrap().tracking_number.as_deref(),
        Some(tracking)
    );
    let notes = "PATCH /api/orders/{code}/notes";
    assert_eq!(sim.counters().requests(notes), 1);

    // 33 characters are refused before sending anything.
    let too_long = format!("{tracking}X");
    let err = client
        .set_tracking_number(&order, &too_long)
        .await
        .unwrap_err();
    assert!(matches!(err, ShoptetError::Invalid { .. }), "{err:?}");
    assert_eq!(sim.counters().requests(notes), 1);
    assert_eq!(
        sim.order(&order).unwrap().tracking_number.as_deref(),
        Some(tracking)
    );

    let err = client
        .set_tracking_number("NOPE-1", "DR1")
        .await
        .unwrap_err();
    assert!(matches!(err, ShoptetError::NotFound { .. }), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_status_change_chunks_by_100_and_reports_unknown_codes() {
    let sim = start(sim_config(20, 0)).await;
    let client = private_client(&sim, fast_config(&sim));
    let created = sim.create_random_orders(150);
    assert_eq!(created.len(), 150);
    let mut codes = created.clone();
    codes.insert(40, "NOPE-1".to_owned());
    codes.insert(120, "NOPE-2".to_owned());

    let report = client
        .bulk_status_change(&codes, STATUS_PROCESSING)
        .await
        .unwrap();
    assert_eq!(report.requests, 2);
    assert_eq!(
        sim.counters().requests("PATCH /api/orders/status-change"),
        2
    );
    assert_eq!(report.applied, 150);
    let failed: BTreeSet<&str> = report
        .failed
        .iter()
        .map(|row| row.code.as_deref().unwrap())
        .collect();
    assert_eq!(failed, BTreeSet::from(["NOPE-1", "NOPE-2"]));
    assert!(
        report
            .failed
            .iter()
            .all(|r| r.error_code == "order-not-found")
    );
    for code in &created {
        assert_eq!(sim.order(code).unwrap().status_id, STATUS_PROCESSING);
    }
    assert!(matches!(
        report.into_result(),
        Err(ShoptetError::PartialFailure { applied: 150, .. })
    ));

    // Every code unknown: the shop answers 400, the client still reports per-row failures.
    let report = client
        .bulk_status_change(
            &["NOPE-3".to_owned(), "NOPE-4".to_owned()],
            STATUS_COMPLETED,
        )
        .await
        .unwrap();
    assert_eq!((report.applied, report.failed.len()), (0, 2));
    assert_eq!(
        sim.counters()
            .status("PATCH /api/orders/status-change", 400),
        1
    );
    sim.shutdown().await;
}

// ------------------------------------------------------------------------------ products

#[tokio::test]
async fn products_list_detail_by_code_and_changes() {
    let config = sim_config(30, 0);
    let expected_products = config.products + config.product_sets;
    let sim = start(config).await;
    let client = private_client(&sim, fast_config(&sim));

    let all = client.all_products().await.unwrap();
    assert_eq!(all.len(), expected_products);
    let mut paged = Vec::new();
    let mut page = 1;
    loop {
        let one = client.list_products(page, 7).await.unwrap();
        assert_eq!(one.paginator.total_count as usize, expected_products);
        let more = one.has_next();
        paged.extend(one.items);
        if !more {
            break;
        }
        page += 1;
    }
    assert_eq!(page as usize, expected_products.div_ceil(7));
    assert_eq!(paged, all);

    let variant_codes: HashSet<String> = sim.variant_codes().into_iter().collect();
    let mut variants_seen = 0;
    for head in all.iter().take(8) {
        let detail = client.product_detail(&head.guid).await.unwrap();
        assert_eq!(detail.guid, head.guid);
        assert!(!detail.variants.is_empty());
        assert_eq!(detail.is_variant, detail.variants.len() > 1);
        for variant in &detail.variants {
            variants_seen += 1;
            assert!(variant_codes.contains(&variant.code));
            assert_eq!(variant.price, Some(sim.price(&variant.code).unwrap().price));
            if let Some(level) = sim.stock_level(&variant.code) {
                // The variant's stock is the orderable figure.
                assert_eq!(variant.stock, Some(level.available));
            }
        }
    }
    assert!(variants_seen > 8);

    // By a variant code with a `/`: the whole parent product comes back.
    let slash = sim
        .variant_codes()
        .into_iter()
        .find(|c| c.contains('/'))
        .unwrap();
    let parent = client.product_by_code(&slash).await.unwrap();
    assert!(parent.variants.iter().any(|v| v.code == slash));
    let same = client.product_detail(&parent.guid).await.unwrap();
    assert_eq!(same.variants.len(), parent.variants.len());
    let err = client.product_by_code("NOPE/404").await.unwrap_err();
    match err {
        ShoptetError::NotFound { error_code, .. } => assert_eq!(error_code, "product-not-found"),
        other => panic!("expected NotFound, got {other:?}"),
    }

    // A price change is a product change; a stock change is not.
    sim.advance_clock(2 * second());
    let cursor = minus_second(sim.now());
    let before = client.product_changes(cursor, 1).await.unwrap();
    assert!(before.items.is_empty());
    let price = sim.price(&slash).unwrap().price + d("10.00");
    client
        .update_prices(
            sim.default_pricelist_id(),
            &[PriceUpdateRow::with_vat(slash.clone(), price)],
        )
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let stock_only = all
        .iter()
        .find(|p| p.guid != parent.guid && p.product_type.as_deref() == Some("product"))
        .unwrap();
    let stock_code = client
        .product_detail(&stock_only.guid)
        .await
        .unwrap()
        .variants[0]
        .code
        .clone();
    client
        .update_stock(1, &[StockUpdateRow::real_stock(stock_code, d("3"))])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let changes = client.all_product_changes(cursor).await.unwrap();
    let guids: Vec<&str> = changes.iter().map(|c| c.guid.as_str()).collect();
    assert_eq!(guids, [parent.guid.as_str()]);
    assert!(!changes[0].change_type.is_delete());
    sim.shutdown().await;
}

// ------------------------------------------------------------------------------ stocks

#[tokio::test]
async fn stock_supplies_page_and_match_the_shop() {
    // 520 products with up to 3 variants: more than one 1000-row supplies page.
    let sim = start(sim_config(520, 0)).await;
    let client = private_client(&sim, fast_config(&sim));
    let code = stocked_codes(&sim)[0].clone();
    place(&sim, &code, 2);

    let levels = sim.stock_levels();
    assert!(levels.len() > 1000, "{} variants", levels.len());
    let supplies = client.all_stock_supplies(1).await.unwrap();
    assert_eq!(
        sim.counters().requests("GET /api/stocks/{id}/supplies"),
        levels.len().div_ceil(1000) as u64
    );
    assert_eq!(supplies.len(), levels.len());
    for row in &supplies {
        let level = levels.get(&row.code).unwrap();
        // The simulator reports physical stock as `amount` by default.
        assert_eq!(row.amount, Some(level.real_stock), "{}", row.code);
        assert_eq!(row.claim, Some(level.claim), "{}", row.code);
    }
    assert!(supplies.iter().any(|r| r.claim == Some(d("2"))));
    let first = client.stock_supplies(1, 2, 50).await.unwrap();
    assert_eq!(first.paginator.total_count as usize, levels.len());
    assert_eq!(first.items, supplies[50..100].to_vec());

    let err = client.stock_supplies(999, 1, 10).await.unwrap_err();
    match err {
        ShoptetError::NotFound { error_code, .. } => assert_eq!(error_code, "stock-not-found"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn stock_update_real_stock_and_quantity_modes() {
    let sim = start(sim_config(5, 0)).await;
    let client = private_client(&sim, fast_config(&sim));
    let codes = stocked_codes(&sim);
    let (a, b) = (codes[0].clone(), codes[1].clone());
    sim.set_real_stock(&a, d("10")).unwrap();
    place(&sim, &a, 2);

    // realStock: physical amount; available = realStock − claim.
    let report = client
        .update_stock(
            1,
            &[
                StockUpdateRow::real_stock(a.clone(), d("20")),
                StockUpdateRow::real_stock(b.clone(), d("12.5")),
            ],
        )
        .await
        .unwrap();
    assert_eq!((report.applied, report.requests), (2, 1));
    assert!(report.is_complete());
    let level = sim.stock_level(&a).unwrap();
    assert_eq!(
        (level.real_stock, level.claim, level.available),
        (d("20"), d("2"), d("18"))
    );
    assert_eq!(sim.stock_level(&b).unwrap().real_stock, d("12.5"));

    // quantity: orderable amount; the shop derives realStock = quantity + claim.
    client
        .update_stock(1, &[StockUpdateRow::quantity(a.clone(), d("5"))])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let level = sim.stock_level(&a).unwrap();
    assert_eq!(
        (level.real_stock, level.claim, level.available),
        (d("7"), d("2"), d("5"))
    );

    // Sending the same absolute level twice changes nothing (safe to retry).
    client
        .update_stock(1, &[StockUpdateRow::quantity(a.clone(), d("5"))])
        .await
        .unwrap();
    assert_eq!(sim.stock_level(&a).unwrap().real_stock, d("7"));

    // Another stock of a multi-stock shop is addressed by its id; the default one is untouched.
    let other_stock = client
        .stocks()
        .await
        .unwrap()
        .stocks
        .into_iter()
        .find(|s| s.id != 1)
        .unwrap()
        .id;
    client
        .update_stock(
            other_stock,
            &[StockUpdateRow::real_stock(a.clone(), d("4"))],
        )
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(
        sim.stock_level_in(other_stock, &a).unwrap().real_stock,
        d("4")
    );
    assert_eq!(sim.stock_level(&a).unwrap().real_stock, d("7"));

    // The client reads back what the shop shows.
    let product = client.product_by_code(&a).await.unwrap();
    let variant = product.variants.iter().find(|v| v.code == a).unwrap();
    assert_eq!(variant.stock, Some(d("5")));
    sim.shutdown().await;
}

#[tokio::test]
async fn price_update_changes_the_shop_price() {
    let sim = start(sim_config(5, 0)).await;
    let client = private_client(&sim, fast_config(&sim));
    let code = stocked_codes(&sim)[2].clone();
    let list = sim.default_pricelist_id();
    let before = sim.price(&code).unwrap();
    assert!(before.including_vat);
    let new_price = before.price + d("11.00");
    let report = client
        .update_prices(list, &[PriceUpdateRow::with_vat(code.clone(), new_price)])
        .await
        .unwrap();
    assert_eq!((report.applied, report.requests), (1, 1));
    assert_eq!(sim.price(&code).unwrap().price, new_price);
    let variant = client
        .product_by_code(&code)
        .await
        .unwrap()
        .variants
        .into_iter()
        .find(|v| v.code == code)
        .unwrap();
    assert_eq!(variant.price, Some(new_price));

    // A list stored without VAT: a gross price is recalculated to net by the shop.
    let net_list = client
        .pricelists()
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.id != list)
        .unwrap()
        .id;
    let stored = sim.price_in(net_list, &code).unwrap();
    assert!(!stored.including_vat);
    let gross = d("121.00");
    client
        .update_prices(net_list, &[PriceUpdateRow::with_vat(code.clone(), gross)])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let expected_net =
        (gross * Decimal::ONE_HUNDRED / (Decimal::ONE_HUNDRED + stored.vat_rate)).round_dp(2);
    assert_eq!(sim.price_in(net_list, &code).unwrap().price, expected_net);
    assert_eq!(
        sim.price(&code).unwrap().price,
        new_price,
        "other list untouched"
    );

    let err = client
        .update_prices(999, &[PriceUpdateRow::with_vat(code, new_price)])
        .await
        .unwrap_err();
    match err {
        ShoptetError::NotFound { error_code, .. } => {
            assert_eq!(error_code, "pricelist-not-found")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn batches_over_300_rows_are_split() {
    let sim = start(sim_config(320, 0)).await;
    let client = private_client(&sim, fast_config(&sim));
    let codes: Vec<String> = stocked_codes(&sim).into_iter().take(650).collect();
    assert_eq!(codes.len(), 650);

    let rows: Vec<StockUpdateRow> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| StockUpdateRow::real_stock(code.clone(), Decimal::from(i % 17)))
        .collect();
    let report = client.update_stock(1, &rows).await.unwrap();
    assert_eq!((report.requests, report.applied), (3, 650));
    assert_eq!(report.request_ids.len(), 3);
    assert_eq!(sim.counters().requests(MOVEMENTS), 3);
    assert_eq!(sim.counters().with_status(413), 0);
    for (i, code) in codes.iter().enumerate() {
        assert_eq!(
            sim.stock_level(code).unwrap().real_stock,
            Decimal::from(i % 17)
        );
    }

    let list = sim.default_pricelist_id();
    let rows: Vec<PriceUpdateRow> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| PriceUpdateRow::with_vat(code.clone(), Decimal::new(10_000 + i as i64, 2)))
        .collect();
    let report = client.update_prices(list, &rows).await.unwrap();
    assert_eq!((report.requests, report.applied), (3, 650));
    assert_eq!(sim.counters().requests(PRICELIST_PATCH), 3);
    for (i, code) in codes.iter().enumerate() {
        assert_eq!(
            sim.price(code).unwrap().price,
            Decimal::new(10_000 + i as i64, 2)
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn partial_batches_surface_row_errors_and_apply_good_rows() {
    let sim = start(sim_config(10, 0)).await;
    let client = private_client(&sim, fast_config(&sim));
    let codes = stocked_codes(&sim);
    let set = set_codes(&sim)[0].clone();
    let rows = vec![
        StockUpdateRow::real_stock(codes[0].clone(), d("31")),
        StockUpdateRow::real_stock("NOPE-1", d("1")),
        StockUpdateRow::real_stock(codes[1].clone(), d("32")),
        StockUpdateRow::real_stock(set.clone(), d("5")),
        StockUpdateRow::quantity(codes[2].clone(), d("33")),
    ];
    let report = client.update_stock(1, &rows).await.unwrap();
    assert_eq!(report.applied, 3);
    let failed: BTreeMap<String, String> = report
        .failed
        .iter()
        .map(|r| (r.code.clone().unwrap(), r.error_code.clone()))
        .collect();
    assert_eq!(
        failed,
        BTreeMap::from([
            ("NOPE-1".to_owned(), "unknown-product".to_owned()),
            (set, "stock-change-not-allowed".to_owned()),
        ])
    );
    assert_eq!(sim.stock_level(&codes[0]).unwrap().real_stock, d("31"));
    assert_eq!(sim.stock_level(&codes[1]).unwrap().real_stock, d("32"));
    assert_eq!(sim.stock_level(&codes[2]).unwrap().available, d("33"));
    match report.into_result() {
        Err(ShoptetError::PartialFailure {
            applied, failed, ..
        }) => assert_eq!((applied, failed.len()), (3, 2)),
        other => panic!("expected PartialFailure, got {other:?}"),
    }

    // All rows bad: 400 from the shop, still per-row failures for the caller.
    let report = client
        .update_stock(
            1,
            &[
                StockUpdateRow::real_stock("NOPE-2", d("1")),
                StockUpdateRow::real_stock("NOPE-3", d("1")),
            ],
        )
        .await
        .unwrap();
    assert_eq!((report.applied, report.failed.len()), (0, 2));
    assert_eq!(sim.counters().status(MOVEMENTS, 400), 1);

    // Prices: the unknown code fails, the others are applied.
    let list = sim.default_pricelist_id();
    let report = client
        .update_prices(
            list,
            &[
                PriceUpdateRow::with_vat(codes[3].clone(), d("123.45")),
                PriceUpdateRow::with_vat("NOPE-4", d("1.00")),
                PriceUpdateRow::with_vat(codes[4].clone(), d("234.50")),
            ],
        )
        .await
        .unwrap();
    assert_eq!(report.applied, 2);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].code.as_deref(), Some("NOPE-4"));
    assert_eq!(report.failed[0].error_code, "pricelist-code-not-found");
    assert_eq!(sim.price(&codes[3]).unwrap().price, d("123.45"));
    assert_eq!(sim.price(&codes[4]).unwrap().price, d("234.50"));
    sim.shutdown().await;
}

// ------------------------------------------------------------------------------ auth

#[tokio::test]
async fn addon_token_expiring_mid_read_is_renewed_once() {
    let mut config = sim_config(10, 600);
    config.faults.latency_ms = 5;
    let sim = Arc::new(start(config).await);
    let client = addon_client(&sim, fast_config(&sim));
    let expected: BTreeSet<String> = sim.order_codes().into_iter().collect();
    assert_eq!(expected.len(), 600);

    let watcher = {
        let sim = Arc::clone(&sim);
        tokio::spawn(async move {
            wait_until("page 4 of the read", || {
                sim.counters().requests(ORDERS_LIST) >= 4
            })
            .await;
            sim.expire_access_tokens();
        })
    };
    let orders = client.all_orders(&OrderFilter::default()).await.unwrap();
    watcher.await.unwrap();
    let codes: BTreeSet<String> = orders.into_iter().map(|o| o.code).collect();
    assert_eq!(codes, expected);

    let stats = client.stats();
    assert_eq!(stats.token_renewals, 1);
    assert_eq!(stats.mint_requests, 2);
    let counters = sim.counters();
    assert_eq!(counters.tokens_minted, 2);
    assert_eq!(counters.status(ORDERS_LIST, 401), 1);
    assert_eq!(counters.requests(ORDERS_LIST), 12 + 1);
    assert_eq!(sim.live_access_tokens(), 1);
    stop(sim).await;
}

#[tokio::test]
async fn concurrent_callers_never_hit_the_five_token_cap() {
    let sim = start(sim_config(5, 5)).await;
    let client = addon_client(&sim, fast_config(&sim));
    for round in 0..8 {
        if round > 0 {
            sim.expire_access_tokens();
        }
        let calls = (0..8).map(|_| {
            let client = client.clone();
            async move { client.eshop_info().await }
        });
        for result in futures::future::join_all(calls).await {
            result.unwrap();
        }
        // One token minted per round however many callers saw the 401.
        assert_eq!(sim.counters().tokens_minted, round + 1);
        assert_eq!(sim.live_access_tokens(), 1);
    }
    assert_eq!(sim.counters().status(MINT, 429), 0);
    assert_eq!(client.stats().mint_requests, 8);
    sim.shutdown().await;
}

#[tokio::test]
async fn suspended_addon_is_a_distinct_error_and_not_renewed() {
    let sim = start(sim_config(5, 5)).await;
    // Suspended before the first mint.
    sim.set_addon_suspended(true);
    let client = addon_client(&sim, fast_config(&sim));
    let err = client.eshop_info().await.unwrap_err();
    assert!(
        matches!(err, ShoptetError::AddonSuspended { .. }),
        "{err:?}"
    );
    assert!(err.needs_operator());
    assert_eq!(sim.counters().requests("GET /api/eshop"), 0);

    // Suspended while a token is live: the API answers 401 "not approved", no renewal.
    sim.set_addon_suspended(false);
    let client = addon_client(&sim, fast_config(&sim));
    client.eshop_info().await.unwrap();
    sim.set_addon_suspended(true);
    let err = client.order_statuses().await.unwrap_err();
    assert!(
        matches!(err, ShoptetError::AddonSuspended { .. }),
        "{err:?}"
    );
    assert_eq!(client.stats().mint_requests, 1);
    assert_eq!(client.stats().token_renewals, 0);

    sim.set_addon_suspended(false);
    sim.set_addon_not_approved(true);
    let err = client.stocks().await.unwrap_err();
    assert!(
        matches!(err, ShoptetError::AddonSuspended { .. }),
        "{err:?}"
    );
    assert_eq!(client.stats().mint_requests, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn forbidden_and_bad_tokens_are_never_retried() {
    let sim = start(sim_config(5, 5)).await;
    let client = private_client(&sim, fast_config(&sim));
    sim.set_faults(FaultConfig {
        error_rates: BTreeMap::from([(403, 1.0)]),
        ..FaultConfig::default()
    });
    let err = client.eshop_info().await.unwrap_err();
    assert!(matches!(err, ShoptetError::Forbidden { .. }), "{err:?}");
    assert!(err.request_id().is_some());
    assert_eq!(sim.counters().requests("GET /api/eshop"), 1);
    assert_eq!(client.stats().retries, 0);

    sim.set_faults(FaultConfig::default());
    let wrong = ShoptetClient::new(
        fast_config(&sim),
        Credentials::PrivateToken(Secret::new("not-the-token")),
    )
    .unwrap();
    let err = wrong.stocks().await.unwrap_err();
    match &err {
        ShoptetError::Unauthorized { error_code, .. } => assert_eq!(error_code, "invalid-token"),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains(&sim.private_token()));
    assert_eq!(sim.counters().requests("GET /api/stocks"), 1);
    sim.shutdown().await;
}

// ------------------------------------------------------------------------------ limits and faults

#[tokio::test]
async fn injected_429_waits_for_retry_after_and_loses_nothing() {
    let sim = start(sim_config(10, 260)).await;
    let client = private_client(&sim, fast_config(&sim));
    sim.set_faults(FaultConfig {
        error_rates: BTreeMap::from([(429, 0.5)]),
        max_faults: Some(3),
        path_prefix: Some("/api/orders".to_owned()),
        ..FaultConfig::default()
    });
    let started = Instant::now();
    let orders = client.all_orders(&OrderFilter::default()).await.unwrap();
    let codes: BTreeSet<String> = orders.into_iter().map(|o| o.code).collect();
    assert_eq!(codes, sim.order_codes().into_iter().collect());
    let counters = sim.counters();
    assert_eq!(counters.status(ORDERS_LIST, 429), 3);
    assert_eq!(counters.status(ORDERS_LIST, 200), 6);
    let stats = client.stats();
    assert_eq!(stats.rate_limited, 3);
    assert_eq!(stats.retries, 3);
    // Retry-After is an HTTP date at least a second ahead: the client slept on each one.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn full_bucket_429s_are_retried_until_drained() {
    let mut config = sim_config(5, 0);
    config.limits.bucket_capacity = 10;
    config.limits.bucket_drain_per_sec = 20.0;
    let sim = start(config).await;
    let mut client_config = fast_config(&sim);
    // Throttle effectively off: only the shop's 429s slow the client down.
    client_config.throttle.threshold = 1.0;
    client_config.throttle.drain_per_second = 20.0;
    client_config.throttle.assumed_cost = 0.0;
    let client = private_client(&sim, client_config);
    for _ in 0..30 {
        client.stocks().await.unwrap();
    }
    let counters = sim.counters();
    assert_eq!(counters.status("GET /api/stocks", 200), 30);
    assert!(counters.with_status(429) >= 1);
    assert_eq!(client.stats().rate_limited, counters.with_status(429));
    sim.shutdown().await;
}

#[tokio::test]
async fn throttle_keeps_the_bucket_from_filling() {
    let mut config = sim_config(5, 0);
    config.limits.bucket_capacity = 20;
    config.limits.bucket_drain_per_sec = 40.0;
    let sim = start(config).await;
    let mut client_config = fast_config(&sim);
    client_config.throttle.threshold = 0.5;
    client_config.throttle.drain_per_second = 40.0;
    let client = private_client(&sim, client_config);
    for _ in 0..60 {
        client.stocks().await.unwrap();
    }
    assert_eq!(sim.counters().with_status(429), 0);
    let stats = client.stats();
    assert_eq!(stats.rate_limited, 0);
    assert!(stats.throttle_waits > 0, "{stats:?}");
    assert!(sim.bucket_level(false) <= 20.0);
    sim.shutdown().await;
}

#[tokio::test]
async fn identical_concurrent_writes_get_423_then_succeed() {
    let mut config = sim_config(5, 0);
    config.faults.latency_ms = 300;
    let sim = start(config).await;
    let client = private_client(&sim, fast_config(&sim));
    let code = stocked_codes(&sim)[0].clone();
    let rows = vec![StockUpdateRow::real_stock(code.clone(), d("42"))];
    let (a, b) = tokio::join!(client.update_stock(1, &rows), client.update_stock(1, &rows));
    a.unwrap().into_result().unwrap();
    b.unwrap().into_result().unwrap();
    let counters = sim.counters();
    assert!(counters.status(MOVEMENTS, 423) >= 1, "{counters:?}");
    assert_eq!(counters.status(MOVEMENTS, 200), 2);
    assert_eq!(client.stats().locked, counters.status(MOVEMENTS, 423));
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("42"));
    sim.shutdown().await;
}

#[tokio::test]
async fn bursts_of_500_are_retried_within_the_bound() {
    let sim = start(sim_config(5, 20)).await;
    let client = private_client(&sim, fast_config(&sim));
    sim.set_faults(FaultConfig {
        error_rates: BTreeMap::from([(500, 1.0)]),
        max_faults: Some(3),
        ..FaultConfig::default()
    });
    let page = client
        .list_orders(&OrderFilter::default(), 1)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 20);
    assert_eq!(client.stats().server_errors, 3);
    assert_eq!(sim.counters().status(ORDERS_LIST, 500), 3);

    // A burst longer than the retry bound: a typed Unavailable after max_attempts.
    sim.set_faults(FaultConfig {
        error_rates: BTreeMap::from([(500, 1.0)]),
        max_faults: Some(100),
        ..FaultConfig::default()
    });
    let err = client.eshop_info().await.unwrap_err();
    match &err {
        ShoptetError::Unavailable {
            status, attempts, ..
        } => assert_eq!((*status, *attempts), (Some(500), 4)),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(err.is_transient());
    assert_eq!(sim.counters().requests("GET /api/eshop"), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn maintenance_window_retries_then_unavailable_or_success() {
    let sim = Arc::new(start(sim_config(5, 5)).await);
    let client = private_client(&sim, fast_config(&sim));
    sim.set_maintenance(true);
    let err = client.order_statuses().await.unwrap_err();
    match &err {
        ShoptetError::Unavailable {
            status,
            attempts,
            reason,
            request_id,
        } => {
            assert_eq!((*status, *attempts), (Some(503), 4));
            assert!(reason.contains("system-maintenance"), "{reason}");
            assert!(request_id.is_some());
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }

    // The window ends while the client is backing off: the call succeeds.
    let mut config = fast_config(&sim);
    config.retry.base_backoff = Duration::from_millis(100);
    config.retry.max_backoff = Duration::from_millis(400);
    let patient = private_client(&sim, config);
    let before = sim.counters().with_status(503);
    let watcher = {
        let sim = Arc::clone(&sim);
        tokio::spawn(async move {
            wait_until("two maintenance answers", || {
                sim.counters().with_status(503) >= before + 2
            })
            .await;
            sim.set_maintenance(false);
        })
    };
    let statuses = patient.order_statuses().await.unwrap();
    watcher.await.unwrap();
    assert!(!statuses.statuses.is_empty());
    assert!(patient.stats().server_errors >= 2);
    stop(sim).await;
}

#[tokio::test]
async fn hangs_past_the_timeout_are_retried_or_reported() {
    let sim = start(sim_config(5, 5)).await;
    let mut config = fast_config(&sim);
    config.request_timeout = Duration::from_millis(300);
    let client = private_client(&sim, config.clone());
    sim.set_faults(FaultConfig {
        hang_rate: 1.0,
        hang_ms: 3000,
        max_faults: Some(1),
        ..FaultConfig::default()
    });
    let info = client.eshop_info().await.unwrap();
    assert!(info.default_pricelist_id().is_some());
    assert_eq!(client.stats().transport_errors, 1);

    // A write that hangs: the retry is identical, so it must not be locked out for good.
    let code = stocked_codes(&sim)[0].clone();
    sim.set_faults(FaultConfig {
        hang_rate: 1.0,
        hang_ms: 3000,
        max_faults: Some(1),
        ..FaultConfig::default()
    });
    client
        .update_stock(1, &[StockUpdateRow::real_stock(code.clone(), d("77"))])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("77"));
    assert_eq!(client.stats().transport_errors, 2);

    config.retry.max_attempts = 2;
    let client = private_client(&sim, config);
    sim.set_faults(FaultConfig {
        hang_rate: 1.0,
        hang_ms: 3000,
        ..FaultConfig::default()
    });
    let started = Instant::now();
    let err = client.stocks().await.unwrap_err();
    match &err {
        ShoptetError::Unavailable {
            status,
            attempts,
            reason,
            ..
        } => {
            assert_eq!((*status, *attempts), (None, 2));
            assert!(reason.contains("timed out"), "{reason}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_and_truncated_json_is_a_clear_invalid_error() {
    let sim = start(sim_config(5, 5)).await;
    let client = private_client(&sim, fast_config(&sim));
    sim.set_faults(FaultConfig {
        truncate_rate: 1.0,
        ..FaultConfig::default()
    });
    for err in [
        client.eshop_info().await.unwrap_err(),
        client
            .list_orders(&OrderFilter::default(), 1)
            .await
            .unwrap_err(),
        client
            .order_detail(&sim.order_codes()[0])
            .await
            .unwrap_err(),
    ] {
        match &err {
            ShoptetError::Invalid { detail, request_id } => {
                assert!(detail.contains("data"), "{detail}");
                assert!(request_id.is_some());
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
    sim.set_faults(FaultConfig {
        garbage_rate: 1.0,
        ..FaultConfig::default()
    });
    let err = client.all_products().await.unwrap_err();
    assert!(matches!(err, ShoptetError::Invalid { .. }), "{err:?}");
    assert!(!err.to_string().is_empty());
    // Not retried: a corrupt answer is not transient.
    assert_eq!(sim.counters().requests("GET /api/products"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn connection_resets_are_retried() {
    let sim = start(sim_config(5, 30)).await;
    let client = private_client(&sim, fast_config(&sim));
    sim.set_faults(FaultConfig {
        reset_rate: 1.0,
        max_faults: Some(2),
        ..FaultConfig::default()
    });
    let page = client
        .list_orders(&OrderFilter::default(), 1)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 30);
    assert_eq!(sim.counters().resets(), 2);
    let stats = client.stats();
    assert!((1..=2).contains(&stats.transport_errors), "{stats:?}");

    // Resets on a write: the absolute level lands once the retry gets through.
    let code = stocked_codes(&sim)[0].clone();
    sim.set_faults(FaultConfig {
        reset_rate: 1.0,
        max_faults: Some(2),
        ..FaultConfig::default()
    });
    client
        .update_stock(1, &[StockUpdateRow::real_stock(code.clone(), d("9"))])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("9"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_concurrent_callers_never_exceed_three_in_flight() {
    let mut config = sim_config(30, 100);
    config.faults.latency_ms = 15;
    let sim = start(config).await;
    let client = private_client(&sim, fast_config(&sim));
    let codes = stocked_codes(&sim);
    let tasks: Vec<_> = (0..4)
        .map(|caller| {
            let client = client.clone();
            let code = codes[caller].clone();
            tokio::spawn(async move {
                for round in 0..6 {
                    client
                        .list_orders(&OrderFilter::default(), 1 + round % 2)
                        .await
                        .unwrap();
                    client.list_products(1, 10).await.unwrap();
                    client
                        .update_stock(
                            1,
                            &[StockUpdateRow::real_stock(
                                code.clone(),
                                Decimal::from(100 + round),
                            )],
                        )
                        .await
                        .unwrap()
                        .into_result()
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let counters = sim.counters();
    assert!(counters.peak_in_flight <= 3, "{counters:?}");
    assert!(counters.peak_in_flight >= 2, "the callers ran concurrently");
    assert_eq!(counters.with_status(429), 0);
    let stats = client.stats();
    assert!(stats.in_flight_peak <= 3);
    assert_eq!(stats.rate_limited, 0);
    assert_eq!(stats.requests_sent, 4 * 6 * 3);
    for code in &codes[..4] {
        assert_eq!(sim.stock_level(code).unwrap().real_stock, d("105"));
    }

    // A lower configured cap is honoured too.
    sim.reset_counters();
    let mut narrow = fast_config(&sim);
    narrow.max_in_flight = 2;
    let narrow = private_client(&sim, narrow);
    let calls = (0..8).map(|_| {
        let narrow = narrow.clone();
        async move { narrow.stocks().await }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(sim.counters().peak_in_flight, 2);
    sim.shutdown().await;
}

/// A stock write whose response is lost after the shop applied it (connection reset) is
/// retried; since every stock row is absolute, the retry leaves the same result.
#[tokio::test]
async fn a_write_whose_response_was_lost_is_retried_safely() {
    let sim = start(sim_config(5, 0)).await;
    let client = private_client(&sim, fast_config(&sim));
    let code = stocked_codes(&sim)[0].clone();
    let mut faults = FaultConfig {
        max_faults: Some(1),
        path_prefix: Some("/api/stocks".into()),
        ..FaultConfig::default()
    };
    faults.apply_spec("apply-reset=1").unwrap();
    sim.set_faults(faults);
    client
        .update_stock(1, &[StockUpdateRow::real_stock(code.clone(), d("41"))])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("41"));
    let stats = client.stats();
    assert_eq!(stats.transport_errors, 1, "{stats:?}");
    assert_eq!(stats.retries, 1, "{stats:?}");
    sim.shutdown().await;
}
