//! End to end through the real binaries: the seed scenarios and warehouse-floor operations of
//! issue 14 — error severity, price history, the config-declared low-stock default, review
//! flags acknowledged, delivery, stock takes, one shop per integration, forced syncs joining
//! a run in flight.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::*;
use rust_decimal::Decimal;
use serde_json::Value;
use shoptet_sync::sim::{FaultConfig, ItemSpec, OrderSpec, SimHandle};

fn decimal(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {value}"))
        .parse()
        .unwrap()
}

/// Runs a forced orders sync while the shop is in maintenance, so that an error is logged;
/// returns the logged error.
async fn log_an_outage_error(syncd: &Syncd, sim: &shoptet_sync::sim::SimHandle) -> Value {
    sim.set_maintenance(true);
    wait_for(
        "a forced orders sync during maintenance",
        DEADLINE,
        || async {
            let run = syncd
                .ctl(&["--json", "sync", "orders", "demo", "--force"])
                .await;
            (!run.stdout.contains("already running")).then_some(())
        },
    )
    .await;
    sim.set_maintenance(false);
    wait_for("an error logged for the outage", DEADLINE, || async {
        let errors = syncd.ok("errors", &["errors", "demo"]).await;
        errors.as_array().unwrap().first().cloned()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_changes_the_severity_of_a_logged_error() {
    let sim = start_sim(small_shop()).await;
    let mut syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    let error = log_an_outage_error(&syncd, &sim).await;
    let id = error["id"].as_str().unwrap().to_owned();
    assert_ne!(error["severity"], "Critical", "{error:#}");

    let changed = syncd
        .ok("error", &["errors", "severity", "demo", &id, "critical"])
        .await;
    assert_eq!(changed["id"], id.as_str());
    assert_eq!(changed["severity"], "Critical");
    assert!(changed["resolved_at"].is_null(), "still open: {changed:#}");
    let human = syncd
        .ctl(&["errors", "severity", "demo", &id, "critical"])
        .await;
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(human.stdout.contains("(critical)"), "{}", human.stdout);

    // Unknown ids and levels are refused; nothing changes.
    let unknown = uuid::Uuid::new_v4().to_string();
    syncd
        .refused(
            "not_found",
            &["errors", "severity", "demo", &unknown, "low"],
        )
        .await;
    let bad = syncd
        .ctl(&["errors", "severity", "demo", &id, "apocalyptic"])
        .await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);

    // Stored, not only in memory: it survives a restart.
    syncd.stop().await;
    syncd.spawn().await;
    let errors = syncd.ok("errors", &["errors", "demo"]).await;
    let listed = errors
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .expect("the error is still listed")
        .clone();
    assert_eq!(listed["severity"], "Critical");

    syncd.assert_no_secrets(&[PRIVATE_TOKEN, OAUTH_TOKEN]);
    drop(syncd);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_history_lists_old_new_when_and_source() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    syncd.sync("products", "demo").await;
    let code = sim.variant_codes()[0].clone();
    let before = decimal(
        &syncd
            .ok(
                "product_page",
                &["products", "list", "demo", "--search", &code],
            )
            .await["items"][0]["price"],
    );

    let empty = syncd
        .ok("price_history", &["product", "history", "demo", &code])
        .await;
    assert_eq!(empty, serde_json::json!([]));

    syncd
        .ok("product", &["product", "price", "demo", &code, "123.45"])
        .await;
    syncd
        .ok("product", &["product", "price", "demo", &code, "150"])
        .await;
    let history = syncd
        .ok(
            "price_history",
            &["product", "history", "demo", &code.to_lowercase()],
        )
        .await;
    let rows = history.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{history:#}");
    assert_eq!(decimal(&rows[0]["old_price"]), before);
    assert_eq!(decimal(&rows[0]["new_price"]), Decimal::new(12345, 2));
    assert_eq!(decimal(&rows[1]["old_price"]), Decimal::new(12345, 2));
    assert_eq!(decimal(&rows[1]["new_price"]), Decimal::from(150));
    for row in rows {
        assert_eq!(row["product_code"], code.as_str());
        assert_eq!(row["source"], "ctl:root");
        assert!(row["changed_at"].is_string());
    }
    assert!(rows[0]["changed_at"].as_str() <= rows[1]["changed_at"].as_str());

    let table = syncd.ctl(&["product", "history", "demo", &code]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", table.stdout);
    for header in ["WHEN", "OLD", "NEW", "SOURCE"] {
        assert!(lines[0].contains(header), "{}", table.stdout);
    }
    assert!(
        lines[1].contains("123.45") && lines[1].contains("ctl:root"),
        "{}",
        table.stdout
    );
    assert!(lines[2].contains("150"), "{}", table.stdout);

    syncd
        .refused("not_found", &["product", "history", "demo", "NO-SUCH-CODE"])
        .await;
    drop(syncd);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_integration_gets_the_same_low_stock_default_as_a_created_one() {
    let syncd = Syncd::start_with(Options {
        tail: vec![
            "[[integration]]".to_owned(),
            "name = \"declared\"".to_owned(),
            "eshop_url = \"https://declared.example\"".to_owned(),
            "warehouse_code = \"MAIN\"".to_owned(),
        ],
        ..Options::default()
    })
    .await;
    let declared = syncd
        .ok("integration", &["integration", "get", "declared"])
        .await;
    let created = syncd
        .ok(
            "integration",
            &[
                "integration",
                "create",
                "created",
                "--shop-url",
                "https://created.example",
            ],
        )
        .await;
    assert_eq!(decimal(&created["low_stock_threshold"]), Decimal::from(5));
    assert_eq!(
        decimal(&declared["low_stock_threshold"]),
        decimal(&created["low_stock_threshold"]),
        "declared: {declared:#}"
    );
}

/// One order of one unit of the shop's first variant, imported and being picked.
async fn an_order_being_picked(syncd: &Syncd, sim: &SimHandle) -> String {
    let variant = sim.variant_codes()[0].clone();
    syncd
        .ok("stock", &["stock", "set", "demo", &variant, "20"])
        .await;
    let code = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(variant, 1)],
            ..OrderSpec::default()
        })
        .unwrap();
    syncd.sync("orders", "demo").await;
    let order = syncd
        .ok(
            "order",
            &["order", "process", "demo", &code, "--session", "PS-1"],
        )
        .await;
    assert_eq!(order["status"], "Processing");
    // The "processing" push reaches the shop before the test acts as the shop: a shop-side
    // change racing our push would be overwritten by it (the shop has no conditional update),
    // and the scenarios below are about changes the shop makes after it.
    wait_for("the processing push delivered", DEADLINE, || async {
        let outbox = syncd.ok("outbox", &["outbox", "list", "demo"]).await;
        outbox.as_array().is_some_and(Vec::is_empty).then_some(())
    })
    .await;
    code
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_flag_that_is_not_a_conflict_is_acknowledged_with_who_and_when() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    let code = an_order_being_picked(&syncd, &sim).await;

    // The shop cancels it while we pick: flagged, and no conflict to accept or keep.
    sim.cancel_order(&code).unwrap();
    let flagged = wait_for("the cancel while picking flagged", DEADLINE, || async {
        syncd.sync("orders", "demo").await;
        let order = syncd.ok("order", &["order", "get", "demo", &code]).await;
        (order["review_reason"] == "cancelled in shop while being picked").then_some(order)
    })
    .await;
    assert_eq!(flagged["status"], "Cancelled");
    let message = syncd
        .refused(
            "conflict",
            &["order", "resolve", "demo", &code, "--accept-shop"],
        )
        .await;
    assert!(message.contains("--acknowledge"), "{message}");
    let grades = |report: &Value| report["grades"]["Issues"].as_u64().unwrap_or(0);
    let report_args = [
        "report",
        "fulfillment",
        "demo",
        "--from",
        &today(),
        "--to",
        &today(),
    ];
    let before = syncd.ok("fulfillment", &report_args).await;
    assert_eq!(grades(&before), 1, "{before:#}");

    // --note needs --acknowledge.
    let usage = syncd
        .ctl(&["order", "resolve", "demo", &code, "--note", "x"])
        .await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);

    let acknowledged = syncd
        .ok(
            "order",
            &[
                "order",
                "resolve",
                "demo",
                &code,
                "--acknowledge",
                "--note",
                "goods back on the shelf",
            ],
        )
        .await;
    assert!(acknowledged["review_reason"].is_null(), "{acknowledged:#}");
    assert_eq!(acknowledged["status"], "Cancelled");
    let notes = acknowledged["notes"].as_str().unwrap();
    assert!(
        notes.contains(
            "review \"cancelled in shop while being picked\" acknowledged by root (uid 0): goods back on the shelf"
        ),
        "{notes}"
    );
    assert!(notes.contains(&today()), "when: {notes}");
    let after = syncd.ok("fulfillment", &report_args).await;
    assert_eq!(grades(&after), 0, "{after:#}");
    // Nothing left to acknowledge.
    syncd
        .refused(
            "conflict",
            &["order", "resolve", "demo", &code, "--acknowledge"],
        )
        .await;
    drop(syncd);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_order_is_delivered_and_the_report_counts_it() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    let code = an_order_being_picked(&syncd, &sim).await;
    syncd
        .refused("conflict", &["order", "deliver", "demo", &code])
        .await;
    syncd
        .ok(
            "order",
            &["order", "ship", "demo", &code, "--tracking", "T1"],
        )
        .await;
    let delivered = syncd
        .ok("order", &["order", "deliver", "demo", &code])
        .await;
    assert_eq!(delivered["status"], "Delivered");
    assert!(delivered["delivered_at"].is_string(), "{delivered:#}");
    syncd
        .refused("conflict", &["order", "deliver", "demo", &code])
        .await;
    let listed = syncd
        .ok(
            "order_page",
            &["orders", "list", "demo", "--status", "delivered"],
        )
        .await;
    assert_eq!(listed["total"], 1);
    let report = syncd
        .ok(
            "fulfillment",
            &[
                "report",
                "fulfillment",
                "demo",
                "--from",
                &today(),
                "--to",
                &today(),
            ],
        )
        .await;
    assert_eq!(report["orders_by_status"]["Delivered"], 1, "{report:#}");
    drop(syncd);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_discrepancy_puts_the_code_on_the_stock_take_list_until_it_is_counted() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    syncd.sync("products", "demo").await;
    let code = sim.variant_codes()[0].clone();
    syncd
        .ok("stock", &["stock", "set", "demo", &code, "10"])
        .await;
    wait_for("10 pushed to the shop", DEADLINE, || async {
        syncd.sync("inventory", "demo").await;
        (sim.stock_level(&code).map(|l| l.real_stock) == Some(Decimal::from(10))).then_some(())
    })
    .await;
    let empty = syncd.ok("stock_takes", &["stock", "takes", "demo"]).await;
    assert_eq!(empty, serde_json::json!([]));

    // Someone edits the stock in the shop admin; the stock check finds it.
    sim.set_real_stock(&code, Decimal::from(3)).unwrap();
    let check = syncd
        .ok("sync", &["sync", "stock-check", "demo", "--force"])
        .await;
    assert_eq!(check["errors"], 1, "{check:#}");
    let takes = syncd.ok("stock_takes", &["stock", "takes", "demo"]).await;
    let rows = takes.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{takes:#}");
    assert_eq!(rows[0]["code"], code.as_str());
    assert_eq!(decimal(&rows[0]["ours"]), Decimal::from(10));
    assert_eq!(decimal(&rows[0]["shop"]), Decimal::from(3));
    assert!(rows[0]["since"].is_string());
    let table = syncd.ctl(&["stock", "takes", "demo"]).await;
    assert!(
        table.stdout.contains("CODE") && table.stdout.contains(&code),
        "{}",
        table.stdout
    );

    // The count clears it.
    syncd
        .ok("stock", &["stock", "set", "demo", &code, "4"])
        .await;
    let cleared = syncd.ok("stock_takes", &["stock", "takes", "demo"]).await;
    assert_eq!(cleared, serde_json::json!([]));
    drop(syncd);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_e_shop_cannot_back_two_integrations_and_the_list_filters_by_status() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    let create = |name: &'static str, url: String| {
        let syncd = &syncd;
        async move {
            syncd
                .ctl(&["--json", "integration", "create", name, "--shop-url", &url])
                .await
        }
    };
    // The same shop again (a trailing slash does not make it another one).
    let same = format!("{}/", sim.eshop_url());
    let twice = create("twice", same).await;
    assert_eq!(twice.code, 1, "{}", twice.stdout);
    let refusal = twice.json();
    assert_eq!(refusal["error"]["code"], "conflict");
    let message = refusal["error"]["message"].as_str().unwrap();
    assert!(message.contains("'demo'"), "{message}");

    let other = create("other", "https://other.example".to_owned()).await;
    assert_eq!(other.code, 0, "{}", other.stderr);
    // Scheme-, case-, www.- and slash-insensitive.
    let third = create("third", "http://WWW.Other.Example//".to_owned()).await;
    assert_eq!(third.code, 1, "{}", third.stdout);
    assert_eq!(
        third.json()["error"]["code"],
        "conflict",
        "{}",
        third.stdout
    );
    syncd
        .refused(
            "conflict",
            &[
                "integration",
                "update",
                "other",
                "--shop-url",
                &sim.eshop_url(),
            ],
        )
        .await;

    let active = syncd
        .ok(
            "integrations",
            &["integration", "list", "--status", "active"],
        )
        .await;
    let names: Vec<&str> = active
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["demo"]);
    let inactive = syncd
        .ok(
            "integrations",
            &["integration", "list", "--status", "inactive"],
        )
        .await;
    assert_eq!(inactive[0]["name"], "other");
    assert_eq!(inactive[0]["eshop_url"], "https://other.example");
    let table = syncd.ctl(&["integration", "list"]).await;
    assert!(
        table.stdout.contains("E-SHOP") && table.stdout.contains("https://other.example"),
        "{}",
        table.stdout
    );
    drop(syncd);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_sync_while_one_runs_waits_and_runs_once_more() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    syncd.sync("orders", "demo").await;
    sim.create_random_orders(3);
    // Slow answers, so that the runs overlap.
    sim.set_faults(FaultConfig {
        latency_ms: 400,
        ..FaultConfig::default()
    });
    let args = ["--json", "sync", "orders", "demo", "--force"];
    let (first, second) = tokio::join!(syncd.ctl(&args), syncd.ctl(&args));
    sim.set_faults(FaultConfig::default());
    for run in [&first, &second] {
        assert_eq!(
            run.code, 0,
            "never 'already running': {}\n{}",
            run.stdout, run.stderr
        );
        assert_eq!(run.json()["data"]["performed"], true);
    }
    let mut runs: Vec<Value> = [first, second]
        .iter()
        .map(|r| r.json()["data"].clone())
        .collect();
    runs.sort_by_key(|r| r["started_at"].as_str().unwrap().to_owned());
    // The later answer comes from a run that started after the earlier one ended.
    assert!(
        runs[1]["started_at"].as_str() >= runs[0]["finished_at"].as_str(),
        "{runs:#?}"
    );
    drop(syncd);
    sim.shutdown().await;
}
