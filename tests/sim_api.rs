//! Simulator contract tests over raw HTTP (reqwest, not the project's client): envelope,
//! formats, paging, orders, stock arithmetic, batch semantics, price lists, seeding.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::{Client, Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shoptet_sync::sim::{ItemSpec, OrderSpec, STATUS_COMPLETED, SimConfig, SimHandle, Simulator};

fn client() -> Client {
    Client::builder().no_proxy().build().unwrap()
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

async fn start(products: usize, orders: usize) -> SimHandle {
    Simulator::start(SimConfig {
        products,
        orders,
        seed: 7,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// Sends a request with the private token; returns status, headers and parsed body.
async fn call(
    sim: &SimHandle,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = client()
        .request(method, format!("{}{}", sim.base_url(), path))
        .header("Shoptet-Private-Api-Token", sim.private_token())
        .header("Content-Type", "application/json");
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, headers, value)
}

async fn get(sim: &SimHandle, path: &str) -> (StatusCode, Value) {
    let (s, _, v) = call(sim, Method::GET, path, None).await;
    (s, v)
}

async fn patch(sim: &SimHandle, path: &str, body: Value) -> (StatusCode, Value) {
    let (s, _, v) = call(sim, Method::PATCH, path, Some(body)).await;
    (s, v)
}

fn is_dec(v: &Value, places: usize) -> bool {
    let Some(s) = v.as_str() else { return false };
    let s = s.strip_prefix('-').unwrap_or(s);
    match s.split_once('.') {
        Some((int, frac)) => {
            !int.is_empty()
                && int.chars().all(|c| c.is_ascii_digit())
                && frac.len() == places
                && frac.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

fn is_shoptet_time(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    s.len() == 24
        && (s.ends_with("+0100") || s.ends_with("+0200"))
        && DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z").is_ok()
}

fn error_codes(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["errorCode"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn slash_variant(sim: &SimHandle) -> String {
    sim.variant_codes()
        .into_iter()
        .find(|c| c.contains('/') && sim.stock_level(c).is_some())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_headers_and_formats() {
    let sim = start(20, 30).await;
    let (status, headers, body) = call(&sim, Method::GET, "/api/orders", None).await;
    assert_eq!(status, StatusCode::OK);
    let rid = headers["x-request-id"].to_str().unwrap();
    assert_eq!(body["metadata"]["requestId"], rid);
    assert!(body["errors"].is_null());
    assert!(
        headers["x-ratelimit-bucket-filling"]
            .to_str()
            .unwrap()
            .ends_with("/200")
    );
    let first = &body["data"]["orders"][0];
    assert!(
        is_shoptet_time(&first["creationTime"]),
        "{}",
        first["creationTime"]
    );
    assert!(is_shoptet_time(&first["changeTime"]));
    assert!(is_dec(&first["price"]["withVat"], 2));
    assert!(is_dec(&first["price"]["exchangeRate"], 8));
    assert!(first["code"].is_string());
    assert!(first.get("items").is_none(), "list items carry no rows");

    // Detail: rows of every kind, whole-row itemPrice, dec3 amounts, totals add up.
    let codes = sim.order_codes();
    let mut kinds = std::collections::BTreeSet::new();
    for code in &codes {
        let (s, v) = get(
            &sim,
            &format!("/api/orders/{code}?include=notes,shippingDetails"),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let o = &v["data"]["order"];
        assert!(o["notes"].is_object());
        assert!(o.get("shippingDetails").is_some());
        let mut sum = Decimal::ZERO;
        for item in o["items"].as_array().unwrap() {
            let t = item["itemType"].as_str().unwrap().to_string();
            assert!(is_dec(&item["amount"], 3));
            assert!(is_dec(&item["itemPrice"]["withVat"], 2));
            assert!(is_dec(&item["itemPrice"]["vatRate"], 2));
            if t == "product" {
                let code = item["code"].as_str().unwrap();
                assert_eq!(code, code.to_uppercase());
                let unit = d(item["unitPrice"]["withVat"].as_str().unwrap());
                let amount = d(item["amount"].as_str().unwrap());
                assert_eq!(
                    unit * amount,
                    d(item["itemPrice"]["withVat"].as_str().unwrap())
                );
            } else {
                assert!(item["code"].is_null());
            }
            sum += d(item["itemPrice"]["withVat"].as_str().unwrap());
            kinds.insert(t);
        }
        assert_eq!(sum, d(o["price"]["withVat"].as_str().unwrap()));
    }
    for k in ["product", "shipping", "billing", "discount-coupon"] {
        assert!(kinds.contains(k), "no {k} row among {kinds:?}");
    }
    let (s, v) = get(&sim, "/api/orders/NOPE-1").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_codes(&v), ["order-not-found"]);
    assert_eq!(v["errors"][0]["instance"], "NOPE-1");

    // Statuses: negative system ids, stockClaimResolved flags.
    let (_, v) = get(&sim, "/api/orders/statuses").await;
    assert_eq!(v["data"]["defaultStatus"], -1);
    let statuses = v["data"]["statuses"].as_array().unwrap();
    let completed = statuses.iter().find(|s| s["id"] == -3).unwrap();
    assert_eq!(completed["stockClaimResolved"], true);
    assert!(statuses.iter().any(|s| s["id"] == -4));
    assert_eq!(
        statuses.iter().find(|s| s["id"] == -1).unwrap()["stockClaimResolved"],
        false
    );

    // E-shop info names the default price list.
    let (_, v) = get(&sim, "/api/eshop").await;
    assert_eq!(
        v["data"]["settings"]["defaultPricelist"]["id"],
        sim.default_pricelist_id()
    );

    // Product detail IS data; variants carry dec3 stock and dec2 price.
    let (_, v) = get(&sim, "/api/products?itemsPerPage=5").await;
    let guid = v["data"]["products"][0]["guid"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, v) = get(&sim, &format!("/api/products/{guid}")).await;
    assert_eq!(v["data"]["guid"], guid.as_str());
    for var in v["data"]["variants"].as_array().unwrap() {
        assert!(is_dec(&var["stock"], 3), "{}", var["stock"]);
        assert!(is_dec(&var["price"], 2));
        assert!(is_dec(&var["vatRate"], 2));
    }
    // By variant code, with the slash percent-encoded and raw.
    let code = slash_variant(&sim);
    for path in [code.replace('/', "%2F"), code.clone()] {
        let (s, v) = get(&sim, &format!("/api/products/code/{path}")).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(
            v["data"]["variants"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["code"] == code.as_str())
        );
    }
    let (s, v) = get(&sim, "/api/products/code/NOPE").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_codes(&v), ["product-not-found"]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_clamps_and_ends() {
    let sim = start(30, 120).await;
    let total = sim.order_codes().len();
    let (_, v) = get(&sim, "/api/orders?itemsPerPage=500").await;
    let p = &v["data"]["paginator"];
    assert_eq!(p["itemsPerPage"], 50, "clamped silently");
    assert_eq!(p["totalCount"], total);
    let pages = total.div_ceil(50);
    assert_eq!(p["pageCount"], pages);
    let mut seen = Vec::new();
    for page in 1..=pages {
        let (s, v) = get(&sim, &format!("/api/orders?page={page}&itemsPerPage=50")).await;
        assert_eq!(s, StatusCode::OK);
        let rows = v["data"]["orders"].as_array().unwrap();
        assert_eq!(v["data"]["paginator"]["itemsOnPage"], rows.len());
        seen.extend(rows.iter().map(|o| o["code"].as_str().unwrap().to_string()));
    }
    assert_eq!(seen, sim.order_codes());
    let (s, v) = get(&sim, &format!("/api/orders?page={}", pages + 1)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_codes(&v), ["page-not-found"]);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("max page is {pages}"))
    );

    let (_, v) = get(&sim, "/api/products?itemsPerPage=5000").await;
    assert_eq!(v["data"]["paginator"]["itemsPerPage"], 1000);
    let (_, v) = get(&sim, "/api/products").await;
    assert_eq!(v["data"]["paginator"]["itemsPerPage"], 20, "default");
    let (_, v) = get(&sim, "/api/stocks/1/supplies?itemsPerPage=5000").await;
    assert_eq!(v["data"]["paginator"]["itemsPerPage"], 1000);
    let (_, v) = get(&sim, "/api/pricelists/1?itemsPerPage=5000").await;
    assert_eq!(v["data"]["paginator"]["itemsPerPage"], 100);
    let (_, v) = get(
        &sim,
        "/api/orders/changes?from=2000-01-01T00:00:00%2B0100&itemsPerPage=5000",
    )
    .await;
    assert_eq!(v["data"]["paginator"]["itemsPerPage"], 1000);

    // orderCodes: at most 50, overrides other filters.
    let codes = sim.order_codes();
    let two = format!("{},{}", codes[0], codes[1]);
    let (_, v) = get(&sim, &format!("/api/orders?orderCodes={two}&statusId=999")).await;
    assert_eq!(v["data"]["paginator"]["totalCount"], 2);
    let many = (0..51)
        .map(|i| format!("X{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let (s, v) = get(&sim, &format!("/api/orders?orderCodes={many}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["errors"][0]["instance"], "orderCodes");

    // Time filters need the '+' encoded; an unencoded one arrives as a space and is refused.
    let (s, _) = get(
        &sim,
        "/api/orders?creationTimeFrom=2000-01-01T00:00:00+0100",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = get(
        &sim,
        "/api/orders?creationTimeFrom=2000-01-01T00:00:00%2B0100&statusId=-1",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        v["data"]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"]["id"] == -1)
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_follow_orders_and_movements_have_three_modes() {
    let sim = start(10, 0).await;
    let code = slash_variant(&sim);
    sim.set_real_stock(&code, d("10")).unwrap();
    let order = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(code.clone(), 3)],
            ..OrderSpec::default()
        })
        .unwrap();
    let lvl = sim.stock_level(&code).unwrap();
    assert_eq!(
        (lvl.real_stock, lvl.claim, lvl.available),
        (d("10"), d("3"), d("7"))
    );

    // Supplies show physical amount and claim; the variant shows orderable stock.
    let (_, v) = get(
        &sim,
        &format!("/api/stocks/1/supplies?code={}", code.replace('/', "%2F")),
    )
    .await;
    let row = &v["data"]["supplies"][0];
    assert_eq!(row["amount"], "10.000");
    assert_eq!(row["claim"], "3.000");
    let (_, v) = get(
        &sim,
        &format!("/api/products/code/{}", code.replace('/', "%2F")),
    )
    .await;
    let var = v["data"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == code.as_str())
        .unwrap()
        .clone();
    assert_eq!(var["stock"], "7.000");

    // The three movement modes, against a claim of 3.
    let url = "/api/stocks/1/movements";
    let (s, v) = patch(
        &sim,
        url,
        json!({"data": [{"productCode": code, "amountChange": -2}]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["errors"].is_null() && v["data"].is_null());
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("8"));
    patch(
        &sim,
        url,
        json!({"data": [{"productCode": code, "quantity": 5}]}),
    )
    .await;
    let lvl = sim.stock_level(&code).unwrap();
    assert_eq!((lvl.real_stock, lvl.available), (d("8"), d("5")));
    patch(
        &sim,
        url,
        json!({"data": [{"productCode": code.to_lowercase(), "realStock": 14}]}),
    )
    .await;
    let lvl = sim.stock_level(&code).unwrap();
    assert_eq!(
        (lvl.real_stock, lvl.claim, lvl.available),
        (d("14"), d("3"), d("11"))
    );

    // Completing resolves the claim: goods leave physical stock. Same status again is a no-op.
    let (s, v) = patch(
        &sim,
        &format!("/api/orders/{order}/status?suppressEmailSending=true&suppressSmsSending=true"),
        json!({"data": {"statusId": STATUS_COMPLETED}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"]["order"]["status"]["id"], -3);
    let lvl = sim.stock_level(&code).unwrap();
    assert_eq!((lvl.real_stock, lvl.claim), (d("11"), d("0")));
    let change_before = sim.order(&order).unwrap().change_time;
    let (s, _) = patch(
        &sim,
        &format!("/api/orders/{order}/status"),
        json!({"data": {"statusId": -3}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sim.order(&order).unwrap().change_time, change_before);
    let c = sim.counters();
    assert_eq!(
        (c.emails_sent, c.sms_sent, c.documents_generated),
        (0, 0, 1)
    );
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("11"));

    // Cancelling releases an open claim.
    let o2 = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(code.clone(), 4)],
            ..OrderSpec::default()
        })
        .unwrap();
    assert_eq!(sim.stock_level(&code).unwrap().claim, d("4"));
    let (s, _) = patch(
        &sim,
        &format!("/api/orders/{o2}/status"),
        json!({"data": {"statusId": -4}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sim.stock_level(&code).unwrap().claim, d("0"));
    let (s, v) = patch(
        &sim,
        "/api/orders/NOPE/status",
        json!({"data": {"statusId": -2}}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_codes(&v), ["order-not-found"]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movement_batches_partial_all_bad_and_too_large() {
    let sim = start(10, 0).await;
    let code = slash_variant(&sim);
    let set = sim
        .variant_codes()
        .into_iter()
        .find(|c| c.starts_with("SADA-"))
        .unwrap();
    sim.set_real_stock(&code, d("1")).unwrap();
    let url = "/api/stocks/1/movements";
    let (s, v) = patch(
        &sim,
        url,
        json!({"data": [
            {"productCode": code, "realStock": 9},
            {"productCode": "NO-SUCH", "realStock": 1},
            {"productCode": set, "realStock": 1},
        ]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        error_codes(&v),
        ["unknown-product", "stock-change-not-allowed"]
    );
    assert_eq!(v["errors"][0]["instance"], "NO-SUCH");
    assert_eq!(
        v["errors"][0]["message"],
        "Product \"NO-SUCH\" does not exist. Skipped."
    );
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("9"));

    let (s, v) = patch(
        &sim,
        url,
        json!({"data": [{"productCode": "NO-SUCH", "realStock": 1}]}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_codes(&v), ["unknown-product"]);

    let rows: Vec<Value> = (0..301)
        .map(|_| json!({"productCode": code, "amountChange": 1}))
        .collect();
    let (s, _) = patch(&sim, url, json!({"data": rows})).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        sim.stock_level(&code).unwrap().real_stock,
        d("9"),
        "nothing applied"
    );
    let rows: Vec<Value> = (0..300)
        .map(|_| json!({"productCode": code, "amountChange": 1}))
        .collect();
    let (s, _) = patch(&sim, url, json!({"data": rows})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("309"));

    // Amounts must be JSON numbers, exactly one mode per row.
    let (s, _) = patch(
        &sim,
        url,
        json!({"data": [{"productCode": code, "realStock": "5"}]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = patch(
        &sim,
        url,
        json!({"data": [{"productCode": code, "realStock": 5, "quantity": 5}]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("309"));
    let (s, v) = patch(
        &sim,
        "/api/stocks/99/movements",
        json!({"data": [{"productCode": code, "realStock": 5}]}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_codes(&v), ["stock-not-found"]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_lists_update_partially_and_read_back() {
    let sim = start(10, 0).await;
    let code = slash_variant(&sim);
    let id = sim.default_pricelist_id();
    let url = format!("/api/pricelists/{id}");
    let (s, v) = patch(
        &sim,
        &url,
        json!({"data": [
            {"code": code, "priceWithVat": {"price": "649.00", "commonPrice": "799.00"}},
            {"code": "NO-SUCH", "price": {"price": "1.00"}},
            {"code": code, "price": {"price": "-5.00"}},
        ]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        error_codes(&v),
        ["pricelist-code-not-found", "invalid-request-data"]
    );
    assert_eq!(
        v["errors"][0]["message"],
        "Price list code 'NO-SUCH' doesn't exist. Code skipped."
    );
    let p = sim.price(&code).unwrap();
    assert_eq!((p.price, p.common_price), (d("649"), Some(d("799"))));
    let (_, v) = get(&sim, &format!("{url}?code={}", code.replace('/', "%2F"))).await;
    assert_eq!(v["data"]["pricelist"][0]["price"]["price"], "649.00");
    assert_eq!(v["data"]["pricelist"][0]["price"]["priceRatio"], "1.0000");

    // Gross into a net list is recalculated.
    let (s, _) = patch(
        &sim,
        "/api/pricelists/2",
        json!({"data": [{"code": code, "priceWithVat": {"price": "121.00"}}]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let p2 = sim.price_in(2, &code).unwrap();
    let rate = p2.vat_rate;
    let expected = (d("121") / (Decimal::ONE + rate / Decimal::ONE_HUNDRED)).round_dp(2);
    assert_eq!(p2.price, expected);

    let (s, _) = patch(
        &sim,
        &url,
        json!({"data": [{"code": "NO-SUCH", "price": {"price": "1.00"}}]}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let rows: Vec<Value> = (0..301)
        .map(|_| json!({"code": code, "price": {"price": "1.00"}}))
        .collect();
    let (s, _) = patch(&sim, &url, json!({"data": rows})).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(sim.price(&code).unwrap().price, d("649"));
    let (s, _) = patch(
        &sim,
        &url,
        json!({"data": [{"code": code, "price": {"price": 12}}]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "prices are strings");
    let (s, v) = patch(
        &sim,
        "/api/pricelists/77",
        json!({"data": [{"code": code, "price": {"price": "1.00"}}]}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_codes(&v), ["pricelist-not-found"]);
    // A price change is a product change.
    let (_, v) = get(
        &sim,
        "/api/products/changes?from=2000-01-01T00:00:00%2B0100",
    )
    .await;
    assert!(!v["data"]["changes"].as_array().unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_feed_notes_and_bulk_status() {
    let sim = start(10, 5).await;
    let (s, v) = get(&sim, "/api/orders/changes").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_codes(&v), ["missing-parameter"]);

    let from = sim.now() - chrono::Duration::seconds(1);
    let from_q = from
        .with_timezone(&chrono_tz::Europe::Prague)
        .format("%Y-%m-%dT%H:%M:%S%z")
        .to_string()
        .replace('+', "%2B");
    let codes = sim.order_codes();
    let new = sim.create_random_orders(1);
    let edited = &codes[0];
    sim.edit_order(
        edited,
        &shoptet_sync::sim::OrderEditSpec {
            email: Some("nova@example.cz".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let deleted = &codes[1];
    sim.delete_order(deleted).unwrap();
    let (_, v) = get(&sim, &format!("/api/orders/changes?from={from_q}")).await;
    let changes = v["data"]["changes"].as_array().unwrap();
    let find = |c: &str| {
        changes
            .iter()
            .find(|x| x["code"] == c)
            .map(|x| x["changeType"].as_str().unwrap().to_string())
    };
    assert_eq!(find(edited).as_deref(), Some("edit"));
    assert_eq!(find(deleted).as_deref(), Some("delete"));
    if let Some(n) = new.first() {
        assert_eq!(
            find(n).as_deref(),
            Some("edit"),
            "creation is reported as edit"
        );
    }
    assert!(changes.iter().all(|c| is_shoptet_time(&c["changeTime"])));
    let (_, v) = get(
        &sim,
        &format!("/api/orders/changes?from={from_q}&changeType=delete"),
    )
    .await;
    assert_eq!(v["data"]["changes"].as_array().unwrap().len(), 1);

    // Tracking number: at most 32 characters.
    let code = &codes[2];
    let (s, v) = patch(
        &sim,
        &format!("/api/orders/{code}/notes"),
        json!({"data": {"trackingNumber": "X".repeat(33)}}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_codes(&v), ["validation-error"]);
    let (s, v) = patch(
        &sim,
        &format!("/api/orders/{code}/notes"),
        json!({"data": {"trackingNumber": "DR1234567890E"}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["data"].is_null());
    let (_, v) = get(&sim, &format!("/api/orders/{code}?include=notes")).await;
    assert_eq!(
        v["data"]["order"]["notes"]["trackingNumber"],
        "DR1234567890E"
    );
    assert_eq!(
        sim.order(code).unwrap().tracking_number.as_deref(),
        Some("DR1234567890E")
    );

    // Bulk status: partial 200, all-bad 400, too many 422.
    let (s, v) = patch(
        &sim,
        "/api/orders/status-change?suppressEmailSending=true",
        json!({"data": {"orderCodes": [codes[3], "NOPE"], "statusId": -2}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(error_codes(&v), ["order-not-found"]);
    assert_eq!(v["errors"][0]["instance"], "data.orderCodes");
    assert_eq!(sim.order(&codes[3]).unwrap().status_id, -2);
    let (s, _) = patch(
        &sim,
        "/api/orders/status-change",
        json!({"data": {"orderCodes": ["NOPE"], "statusId": -2}}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let many: Vec<String> = (0..101).map(|i| format!("X{i}")).collect();
    let (s, _) = patch(
        &sim,
        "/api/orders/status-change",
        json!({"data": {"orderCodes": many, "statusId": -2}}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversell_is_refused_unless_allowed_and_counted() {
    let sim = start(10, 0).await;
    let code = slash_variant(&sim);
    sim.set_real_stock(&code, d("2")).unwrap();
    let too_many = OrderSpec {
        items: vec![ItemSpec::new(code.clone(), 3)],
        ..OrderSpec::default()
    };
    assert!(sim.create_order(&too_many).is_err());
    assert_eq!(sim.refused_orders(), 1);
    assert_eq!(sim.stock_level(&code).unwrap().claim, d("0"));
    // Over the control API too.
    let resp = client()
        .post(format!("{}/_sim/orders", sim.base_url()))
        .json(&json!({"items": [{"code": code, "amount": "3"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    sim.set_allow_oversell(true);
    sim.create_order(&too_many).unwrap();
    assert_eq!(sim.oversold(), d("1"));
    sim.create_order(&OrderSpec {
        items: vec![ItemSpec::new(code.clone(), 2)],
        ..OrderSpec::default()
    })
    .unwrap();
    assert_eq!(sim.oversold(), d("3"));
    let v: Value = client()
        .get(format!("{}/_sim/oversell", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["oversold"], "3");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_mirrors_the_handle() {
    let sim = start(10, 3).await;
    let base = sim.base_url();
    let c = client();
    let code = slash_variant(&sim);
    let lvl: Value = c
        .put(format!("{base}/_sim/stock"))
        .json(&json!({"code": code, "realStock": 12}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(lvl["realStock"], "12");
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("12"));
    let v: Value = c
        .get(format!("{base}/_sim/stock"))
        .query(&[("code", code.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["available"], "12");
    let v: Value = c
        .post(format!("{base}/_sim/orders"))
        .json(&json!({"items": [{"code": code, "amount": 2}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order = v["code"].as_str().unwrap().to_string();
    assert_eq!(sim.stock_level(&code).unwrap().claim, d("2"));
    let r = c
        .put(format!("{base}/_sim/orders/{order}/status"))
        .json(&json!({"statusId": -3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("10"));
    let r = c
        .post(format!("{base}/_sim/orders/nope/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = c
        .get(format!("{base}/_sim/prices"))
        .query(&[("code", code.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["price"], sim.price(&code).unwrap().price.to_string());
    get(&sim, "/api/eshop").await;
    let v: Value = c
        .get(format!("{base}/_sim/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["endpoints"]["GET /api/eshop"]["statuses"]["200"], 1);
    assert_eq!(sim.counters().status("GET /api/eshop", 200), 1);
    c.post(format!("{base}/_sim/counters/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.counters().total, 0);
    let r = c
        .put(format!("{base}/_sim/faults"))
        .json(&json!({"latencyMs": 5, "errorRates": {"500": 0.5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(sim.faults().latency_ms, 5);
    assert_eq!(sim.faults().error_rates.get(&500), Some(&0.5));
    // A generated stream of orders at a rate for a duration.
    let before = sim.order_codes().len();
    let stream = sim.start_order_stream(200.0, std::time::Duration::from_millis(100));
    let (created, refused) = stream.finish().await;
    assert!(created + refused > 0);
    assert_eq!(
        sim.order_codes().len(),
        before + usize::try_from(created).unwrap()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_is_deterministic() {
    let at = Utc.with_ymd_and_hms(2025, 3, 14, 9, 0, 0).unwrap();
    let cfg = |seed| SimConfig {
        seed,
        products: 15,
        orders: 20,
        start_time: Some(at),
        ..SimConfig::default()
    };
    let a = Simulator::start(cfg(3)).await.unwrap();
    let b = Simulator::start(cfg(3)).await.unwrap();
    let c = Simulator::start(cfg(4)).await.unwrap();
    async fn dump(sim: &SimHandle) -> String {
        let mut out = String::new();
        for path in [
            "/api/products?itemsPerPage=1000",
            "/api/orders",
            "/api/stocks/1/supplies",
            "/api/pricelists/1",
        ] {
            let (_, v) = get(sim, path).await;
            out.push_str(&v["data"].to_string());
        }
        for code in sim.order_codes() {
            let (_, v) = get(sim, &format!("/api/orders/{code}")).await;
            out.push_str(&v["data"].to_string());
        }
        out.replace(&sim.base_url(), "BASE")
    }
    let (da, db, dc) = (dump(&a).await, dump(&b).await, dump(&c).await);
    assert_eq!(da, db);
    assert_ne!(da, dc);
    assert_eq!(a.private_token(), b.private_token());
    assert!(da.contains("2025-03"), "times follow the configured start");
    // Czech data: diacritics, both VAT rates.
    assert!(da.contains("21.00") && da.contains("12.00"));
    assert!(da.chars().any(|ch| "ěščřžýáíéůú".contains(ch)));
    for s in [a, b, c] {
        s.shutdown().await;
    }
}

/// Strict mode refuses API requests without a JSON `Content-Type` (GET included) with 415 in the
/// usual envelope; both media types of the reference are accepted, parameters too.
#[tokio::test]
async fn strict_mode_refuses_requests_without_a_json_content_type() {
    let sim = Simulator::start(SimConfig {
        products: 3,
        orders: 0,
        strict_content_type: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let send = |content_type: Option<&'static str>| {
        let mut req = client()
            .get(format!("{}/api/eshop", sim.base_url()))
            .header("Shoptet-Private-Api-Token", sim.private_token());
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        req.send()
    };
    let refused = send(None).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["errorCode"], "invalid-request-data");
    let refused = send(Some("text/plain")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for accepted in [
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.shoptet.v1.0",
    ] {
        let ok = send(Some(accepted)).await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK, "{accepted}");
    }
    // Lenient by default, like real shops in practice.
    let lenient = start(3, 0).await;
    let ok = client()
        .get(format!("{}/api/eshop", lenient.base_url()))
        .header("Shoptet-Private-Api-Token", lenient.private_token())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    sim.shutdown().await;
    lenient.shutdown().await;
}

/// "Apply then reset": the write is applied, but the connection is closed without the response;
/// "apply then hang": applied, answered only after the hang.
#[tokio::test]
async fn lost_responses_apply_the_write_first() {
    let sim = start(3, 0).await;
    let code = sim.variant_codes().into_iter().next().unwrap();
    let url = format!("{}/api/stocks/1/movements", sim.base_url());
    let write = |real_stock: u32| {
        client()
            .patch(url.clone())
            .header("Shoptet-Private-Api-Token", sim.private_token())
            .header("Content-Type", "application/json")
            .body(json!({"data": [{"productCode": code, "realStock": real_stock}]}).to_string())
            .send()
    };
    let mut faults = shoptet_sync::sim::FaultConfig::default();
    faults.apply_spec("apply-reset=1").unwrap();
    sim.set_faults(faults);
    let lost = write(17).await;
    assert!(lost.is_err(), "the response was lost: {lost:?}");
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("17"));

    let mut faults = shoptet_sync::sim::FaultConfig::default();
    faults.apply_spec("apply-hang=1").unwrap();
    faults.hang_ms = 300;
    sim.set_faults(faults);
    let started = std::time::Instant::now();
    let slow = client()
        .patch(url.clone())
        .header("Shoptet-Private-Api-Token", sim.private_token())
        .header("Content-Type", "application/json")
        .timeout(std::time::Duration::from_millis(100))
        .body(json!({"data": [{"productCode": code, "realStock": 23}]}).to_string())
        .send()
        .await;
    assert!(slow.is_err_and(|e| e.is_timeout()));
    assert!(started.elapsed() < std::time::Duration::from_millis(300));
    assert_eq!(sim.stock_level(&code).unwrap().real_stock, d("23"));
    sim.set_faults(shoptet_sync::sim::FaultConfig::default());
    let answered = write(5).await.unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    sim.shutdown().await;
}
