//! End to end through the real binaries: the seed scenarios and warehouse-floor operations of
//! issue 14 — error severity, price history, and the config-declared low-stock default.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::*;
use rust_decimal::Decimal;
use serde_json::Value;

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
