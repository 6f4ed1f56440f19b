//! End to end through the real binaries: the product catalogue (filters, search, paging), a
//! stock receipt reaching the shop's availability, a price change reaching the shop's price
//! list, excluding a product from sync, CSV stock import, and every sync kind run by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::*;
use rust_decimal::Decimal;
use serde_json::Value;

fn codes_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_owned())
        .collect()
}

fn decimal(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_prices_and_the_catalogue_through_the_ctl() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    let variants: Vec<String> = sim.stock_levels().keys().cloned().collect();
    let n = variants.len();
    assert!(n >= 6, "{variants:?}");

    let products = syncd.sync("products", "demo").await;
    assert_eq!(products["sync_type"], "Products");
    let page = syncd
        .ok("product_page", &["products", "list", "demo"])
        .await;
    assert_eq!(page["total"], n);
    let mut listed = codes_of(&page);
    listed.sort();
    let mut expected = variants.clone();
    expected.sort();
    assert_eq!(listed, expected);

    // Paging and search (code or name, any case).
    let second = syncd
        .ok(
            "product_page",
            &[
                "products",
                "list",
                "demo",
                "--page-size",
                "3",
                "--page",
                "3",
            ],
        )
        .await;
    assert_eq!(second["total"], n);
    assert_eq!(codes_of(&second).len(), n.saturating_sub(6).min(3));
    let by_code = syncd
        .ok(
            "product_page",
            &[
                "products",
                "list",
                "demo",
                "--search",
                &variants[5].to_lowercase(),
            ],
        )
        .await;
    assert_eq!(codes_of(&by_code), vec![variants[5].clone()]);
    let name = page["items"][0]["name"].as_str().unwrap().to_owned();
    let fragment: String = name.chars().take(5).collect::<String>().to_uppercase();
    let by_name = syncd
        .ok(
            "product_page",
            &["products", "list", "demo", "--search", &fragment],
        )
        .await;
    assert!(by_name["total"].as_u64().unwrap() >= 1);
    assert!(by_name["items"].as_array().unwrap().iter().all(|p| {
        p["name"]
            .as_str()
            .unwrap()
            .to_uppercase()
            .contains(&fragment)
            || p["code"]
                .as_str()
                .unwrap()
                .to_uppercase()
                .contains(&fragment)
    }));
    let none = syncd
        .ok(
            "product_page",
            &["products", "list", "demo", "--search", "no-such-thing"],
        )
        .await;
    assert_eq!(none["total"], 0);

    // A stock receipt: the shop shows the new availability.
    let level = syncd
        .ok("stock", &["stock", "set", "demo", &variants[2], "42"])
        .await;
    assert_eq!(level["warehouse_code"], "MAIN");
    assert_eq!(level["product_code"], variants[2].as_str());
    assert_eq!(decimal(&level["on_hand"]), Decimal::from(42));
    wait_for("the shop shows 42 available", DEADLINE, || async {
        let level = sim.stock_level(&variants[2])?;
        (level.real_stock == Decimal::from(42) && level.available == Decimal::from(42))
            .then_some(())
    })
    .await;

    // Out of stock and low stock filters follow what was pushed.
    let updated = syncd
        .ok(
            "integration",
            &["integration", "update", "demo", "--low-stock", "5"],
        )
        .await;
    assert_eq!(decimal(&updated["low_stock_threshold"]), Decimal::from(5));
    syncd
        .ok("stock", &["stock", "set", "demo", &variants[0], "0"])
        .await;
    syncd
        .ok("stock", &["stock", "set", "demo", &variants[1], "3"])
        .await;
    wait_for("the filters see the pushed stock", DEADLINE, || async {
        let out = syncd
            .ok(
                "product_page",
                &["products", "list", "demo", "--out-of-stock"],
            )
            .await;
        let low = syncd
            .ok("product_page", &["products", "list", "demo", "--low-stock"])
            .await;
        (codes_of(&out).contains(&variants[0])
            && codes_of(&low).contains(&variants[1])
            && !codes_of(&low).contains(&variants[0]))
        .then_some(())
    })
    .await;
    assert_eq!(
        sim.stock_level(&variants[0]).unwrap().real_stock,
        Decimal::ZERO
    );

    // A price change reaches the shop's default price list.
    let before = sim.price(&variants[3]).unwrap().price;
    let new_price: Decimal = "1234.50".parse().unwrap();
    assert_ne!(before, new_price);
    let product = syncd
        .ok(
            "product",
            &["product", "price", "demo", &variants[3], "1234.50"],
        )
        .await;
    assert_eq!(decimal(&product["price"]), new_price);
    wait_for("the shop's price list shows 1234.50", DEADLINE, || async {
        let price = sim.price(&variants[3])?;
        (price.pricelist_id == sim.default_pricelist_id() && price.price == new_price).then_some(())
    })
    .await;
    let prices = syncd.sync("prices", "demo").await;
    assert_eq!(prices["sync_type"], "Prices");
    assert_eq!(sim.price(&variants[3]).unwrap().price, new_price);

    // A product excluded from sync is not pushed until it is included again.
    let off = syncd
        .ok("product", &["product", "sync", "demo", &variants[4], "off"])
        .await;
    assert_eq!(off["sync_enabled"], false);
    let disabled = syncd
        .ok(
            "product_page",
            &["products", "list", "demo", "--sync-disabled"],
        )
        .await;
    assert_eq!(codes_of(&disabled), vec![variants[4].clone()]);
    let shop_before = sim.stock_level(&variants[4]).unwrap().real_stock;
    assert_ne!(shop_before, Decimal::from(33));
    syncd
        .ok("stock", &["stock", "set", "demo", &variants[4], "33"])
        .await;
    let inventory = syncd.sync("inventory", "demo").await;
    assert_eq!(inventory["sync_type"], "Inventory");
    assert_eq!(
        sim.stock_level(&variants[4]).unwrap().real_stock,
        shop_before
    );
    let on = syncd
        .ok("product", &["product", "sync", "demo", &variants[4], "on"])
        .await;
    assert_eq!(on["sync_enabled"], true);
    syncd.sync("inventory", "demo").await;
    wait_for("the re-included product is pushed", DEADLINE, || async {
        (sim.stock_level(&variants[4])?.real_stock == Decimal::from(33)).then_some(())
    })
    .await;

    // CSV import (chunked, `;` with decimal commas), then the shop shows every row.
    let mut csv = String::from("code;quantity\n");
    for (i, code) in variants.iter().enumerate() {
        csv.push_str(&format!("{code};{},0\n", 10 + i));
    }
    let file = syncd.file("receipt.csv", &csv);
    let bulk = syncd
        .ok(
            "stock_bulk",
            &["stock", "import", "demo", &file, "--chunk", "3"],
        )
        .await;
    assert_eq!(bulk["updated"], n);
    assert_eq!(bulk["unchanged"], 0);
    wait_for("the shop shows every imported row", DEADLINE, || async {
        variants
            .iter()
            .enumerate()
            .all(|(i, code)| {
                sim.stock_level(code)
                    .is_some_and(|l| l.real_stock == Decimal::from(10 + i))
            })
            .then_some(())
    })
    .await;
    // The same file again changes nothing.
    let again = syncd
        .ok("stock_bulk", &["stock", "import", "demo", &file])
        .await;
    assert_eq!(
        (again["updated"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(n as u64))
    );
    // A bad file is refused before anything is sent (exit 2), naming the line.
    let bad = syncd.file("bad.csv", "code,quantity\nA,1\nB,lots\n");
    let run = syncd.ctl(&["stock", "import", "demo", &bad]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("line 3"), "{}", run.stderr);
    // The warehouse may hold codes the shop does not sell: accepted, never pushed.
    let unknown = syncd.file(
        "unknown.csv",
        &format!("code,quantity\n{},1\nNO-SUCH-SKU,1\n", variants[0]),
    );
    let mixed = syncd
        .ok("stock_bulk", &["stock", "import", "demo", &unknown])
        .await;
    assert_eq!(mixed["updated"], 2);
    wait_for("the shop shows the known row", DEADLINE, || async {
        (sim.stock_level(&variants[0])?.real_stock == Decimal::ONE).then_some(())
    })
    .await;

    // Every sync kind by hand; the full sync runs them in order.
    let full = syncd
        .ok("sync_full", &["sync", "full", "demo", "--force"])
        .await;
    let kinds: Vec<&str> = full
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sync_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["Products", "Orders", "Inventory", "Prices"]);
    assert!(
        full.as_array()
            .unwrap()
            .iter()
            .all(|r| r["performed"] == true)
    );
    // Without --force, a sync that just ran is not due.
    let skipped = syncd.ok("sync", &["sync", "orders", "demo"]).await;
    assert_eq!(skipped["performed"], false, "{skipped:#}");

    let report = syncd
        .ok("inventory", &["report", "inventory", "demo"])
        .await;
    assert_eq!(report["total_products"], n);
    assert_eq!(report["sync_disabled"], 0);
    assert!(report["last_push"].is_string());
    let human = syncd.ctl(&["products", "list", "demo"]).await;
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains(&variants[0]), "{}", human.stdout);

    syncd.assert_no_secrets(&[PRIVATE_TOKEN, OAUTH_TOKEN]);
    drop(syncd);
    sim.shutdown().await;
}
