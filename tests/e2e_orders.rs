//! End to end through the real binaries: orders imported once, listed with filters and paging,
//! processed into a picking session, shipped with a tracking number (the simulated shop shows
//! the status and the number), cancelled and noted; a flagged order resolved and its error
//! resolved; reports and status read back. No token appears in any output or log line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use chrono::{Duration as Days, Utc};
use e2e_support::*;
use rust_decimal::Decimal;
use serde_json::Value;
use shoptet_sync::sim::{
    FaultConfig, ItemSpec, OrderEditSpec, OrderSpec, STATUS_CANCELLED, STATUS_COMPLETED,
    STATUS_PROCESSING,
};

fn codes_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["code"].as_str().unwrap().to_owned())
        .collect()
}

/// Every variant of the shop at `quantity`, via `stock import`; waits until the shop shows it.
async fn stock_everything(syncd: &Syncd, sim: &shoptet_sync::sim::SimHandle, quantity: u32) {
    let codes: Vec<String> = sim.stock_levels().keys().cloned().collect();
    let mut csv = String::from("code,quantity\n");
    for code in &codes {
        csv.push_str(&format!("{code},{quantity}\n"));
    }
    let file = syncd.file("stock.csv", &csv);
    let bulk = syncd
        .ok(
            "stock_bulk",
            &["stock", "import", "demo", &file, "--chunk", "3"],
        )
        .await;
    assert_eq!(bulk["warehouse_code"], "MAIN");
    assert_eq!(
        bulk["updated"].as_u64().unwrap() + bulk["unchanged"].as_u64().unwrap(),
        codes.len() as u64
    );
    let expected = Decimal::from(quantity);
    wait_for("the shop shows the imported stock", DEADLINE, || async {
        codes
            .iter()
            .all(|c| sim.stock_level(c).is_some_and(|l| l.real_stock == expected))
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_imported_once_processed_shipped_and_cancelled_through_the_ctl() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    stock_everything(&syncd, &sim, 20).await;
    let variants: Vec<String> = sim.stock_levels().keys().cloned().collect();

    let mut orders = Vec::new();
    for (code, amount) in [(&variants[0], 2), (&variants[1], 1), (&variants[2], 3)] {
        let spec = OrderSpec {
            items: vec![ItemSpec::new(code.clone(), amount)],
            full_name: Some("Jana Nováková".into()),
            ..OrderSpec::default()
        };
        orders.push(sim.create_order(&spec).unwrap());
    }
    // Imported exactly once, however many times the import runs.
    let report = syncd.sync("orders", "demo").await;
    assert_eq!(report["sync_type"], "Orders");
    assert_eq!(report["performed"], true);
    for _ in 0..2 {
        let again = syncd.sync("orders", "demo").await;
        assert_eq!(again["status"], "Completed", "{again:#}");
    }
    let page = syncd.ok("order_page", &["orders", "list", "demo"]).await;
    assert_eq!(page["total"], 3);
    let mut listed = codes_of(&page);
    listed.sort();
    let mut expected = orders.clone();
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(page["items"][0]["customer_name"], "Jana Nováková");

    // Filters, sorting and paging.
    let by_code = syncd
        .ok(
            "order_page",
            &["orders", "list", "demo", "--sort", "code", "--asc"],
        )
        .await;
    assert_eq!(codes_of(&by_code), expected);
    let second = syncd
        .ok(
            "order_page",
            &[
                "orders",
                "list",
                "demo",
                "--sort",
                "code",
                "--asc",
                "--page-size",
                "2",
                "--page",
                "2",
            ],
        )
        .await;
    assert_eq!(
        (second["total"].as_u64(), second["page"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(codes_of(&second), vec![expected[2].clone()]);
    let today = Utc::now().date_naive();
    let tomorrow = (today + Days::days(1)).to_string();
    let yesterday = (today - Days::days(1)).to_string();
    let today = today.to_string();
    for (args, total) in [
        (vec!["--status", "imported"], 3),
        (vec!["--status", "shipped"], 0),
        (vec!["--from", today.as_str()], 3),
        (
            vec!["--from", yesterday.as_str(), "--to", today.as_str()],
            3,
        ),
        (vec!["--from", tomorrow.as_str()], 0),
        (vec!["--to", yesterday.as_str()], 0),
    ] {
        let mut full = vec!["orders", "list", "demo"];
        full.extend(args.iter().copied());
        let page = syncd.ok("order_page", &full).await;
        assert_eq!(page["total"], total, "orders list {args:?}: {page:#}");
    }

    let (first, second, third) = (&orders[0], &orders[1], &orders[2]);
    let order = syncd.ok("order", &["order", "get", "demo", first]).await;
    assert_eq!(order["status"], "Imported");
    let product_line = order["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item_type"] == "Product")
        .unwrap();
    assert_eq!(product_line["product_code"], variants[0].as_str());
    assert_eq!(
        product_line["quantity"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        Decimal::from(2)
    );

    // Picking: two orders join one session; the pick list sums them per product code.
    for code in [first, second] {
        let order = syncd
            .ok(
                "order",
                &["order", "process", "demo", code, "--session", "PS-17"],
            )
            .await;
        assert_eq!(order["status"], "Processing");
        assert_eq!(order["picking_session_id"], "PS-17");
    }
    let pick = syncd
        .ok("pick_list", &["order", "pick-list", "demo", "PS-17"])
        .await;
    let mut session_orders: Vec<&str> = pick["order_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    session_orders.sort();
    let mut both = vec![first.as_str(), second.as_str()];
    both.sort();
    assert_eq!(session_orders, both);
    let lines = pick["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{pick:#}");
    for (code, quantity) in [(&variants[0], 2), (&variants[1], 1)] {
        let line = lines
            .iter()
            .find(|l| l["product_code"] == code.as_str())
            .unwrap();
        assert_eq!(
            line["quantity"]
                .as_str()
                .unwrap()
                .parse::<Decimal>()
                .unwrap(),
            Decimal::from(quantity)
        );
    }
    wait_for("the shop shows 'processing'", DEADLINE, || async {
        (sim.order(first)?.status_id == STATUS_PROCESSING).then_some(())
    })
    .await;

    // Shipping: the shop shows the completed status and the tracking number.
    let shipped = syncd
        .ok(
            "order",
            &[
                "order",
                "ship",
                "demo",
                first,
                "--tracking",
                "DR1234567890E",
                "--box",
                "B1",
            ],
        )
        .await;
    assert_eq!(shipped["status"], "Shipped");
    assert_eq!(shipped["tracking_number"], "DR1234567890E");
    assert_eq!(shipped["transport_box_id"], "B1");
    wait_for(
        "the shop shows 'completed' with the tracking number",
        DEADLINE,
        || async {
            let order = sim.order(first)?;
            (order.status_id == STATUS_COMPLETED
                && order.tracking_number.as_deref() == Some("DR1234567890E"))
            .then_some(())
        },
    )
    .await;

    // A note, and a cancellation that reaches the shop.
    let noted = syncd
        .ok(
            "order",
            &["order", "note", "demo", second, "fragile, pack twice"],
        )
        .await;
    assert!(
        noted["notes"]
            .as_str()
            .unwrap()
            .contains("fragile, pack twice")
    );
    let cancelled = syncd
        .ok(
            "order",
            &[
                "order",
                "cancel",
                "demo",
                third,
                "--reason",
                "customer asked",
            ],
        )
        .await;
    assert_eq!(cancelled["status"], "Cancelled");
    wait_for("the shop shows 'cancelled'", DEADLINE, || async {
        (sim.order(third)?.status_id == STATUS_CANCELLED).then_some(())
    })
    .await;

    // Wrong-status transitions are conflicts.
    let message = syncd
        .refused(
            "conflict",
            &["order", "ship", "demo", third, "--tracking", "X1"],
        )
        .await;
    assert!(message.contains(third.as_str()) || !message.is_empty());
    syncd
        .refused("conflict", &["order", "process", "demo", first])
        .await;

    // The status pushes drain from the outbox.
    wait_for("the outbox drained", DEADLINE, || async {
        let outbox = syncd.ok("outbox", &["outbox", "list", "demo"]).await;
        outbox.as_array().unwrap().is_empty().then_some(())
    })
    .await;
    let dead = syncd
        .ok("outbox", &["outbox", "list", "demo", "--dead"])
        .await;
    assert!(dead.as_array().unwrap().is_empty());

    // History, health, reports and status agree.
    let history = syncd
        .ok("sync_history", &["sync", "history", "demo", "--days", "1"])
        .await;
    let order_runs: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["sync_type"] == "Orders")
        .collect();
    assert!(order_runs.len() >= 3, "{history:#}");
    assert!(order_runs.iter().all(|l| l["status"] == "Completed"));

    let health = syncd.ok("health", &["health", "demo"]).await;
    assert_eq!(health["name"], "demo");
    assert_eq!(health["status"], "Active");
    assert_eq!(health["counts"]["total_orders"], 3);
    assert_eq!(health["counts"]["pending_orders"], 0);
    assert_eq!(health["outbox_pending"], 0);

    let report = syncd
        .ok(
            "fulfillment",
            &[
                "report",
                "fulfillment",
                "demo",
                "--from",
                &today,
                "--to",
                &today,
            ],
        )
        .await;
    assert_eq!(report["total_orders"], 3, "{report:#}");
    assert_eq!(report["orders_by_status"]["Shipped"], 1);
    assert_eq!(report["orders_by_status"]["Processing"], 1);
    assert_eq!(report["orders_by_status"]["Cancelled"], 1);
    assert_eq!(report["grades"]["Excellent"], 1);
    let empty = syncd
        .ok(
            "fulfillment",
            &[
                "report",
                "fulfillment",
                "demo",
                "--from",
                &tomorrow,
                "--to",
                &tomorrow,
            ],
        )
        .await;
    assert_eq!(empty["total_orders"], 0);

    let inventory = syncd
        .ok("inventory", &["report", "inventory", "demo"])
        .await;
    assert_eq!(inventory["warehouse_code"], "MAIN");
    assert_eq!(inventory["total_products"], variants.len());

    let status = syncd.ok("daemon_status", &["status"]).await;
    assert_eq!(status["protocol"], 1);
    let stores = status["stores"].as_array().unwrap();
    assert_eq!(stores.len(), 1);
    assert_eq!(stores[0]["name"], "demo");
    assert_eq!(stores[0]["status"], "Active");
    assert_eq!(stores[0]["outbox_pending"], 0);

    // Human output: tables and summaries name what they show.
    let table = syncd.ctl(&["orders", "list", "demo"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    for code in &orders {
        assert!(table.stdout.contains(code.as_str()), "{}", table.stdout);
    }
    let human = syncd.ctl(&["status"]).await;
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains("demo"), "{}", human.stdout);
    let human = syncd.ctl(&["order", "get", "demo", first]).await;
    assert!(human.stdout.contains("DR1234567890E"), "{}", human.stdout);

    syncd.assert_no_secrets(&[PRIVATE_TOKEN, OAUTH_TOKEN]);
    drop(syncd);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_changed_in_the_shop_is_flagged_resolved_and_its_error_resolved() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    stock_everything(&syncd, &sim, 20).await;
    let variant = sim.stock_levels().keys().next().unwrap().clone();
    let code = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(variant.clone(), 1)],
            ..OrderSpec::default()
        })
        .unwrap();
    let kept = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(variant.clone(), 1)],
            ..OrderSpec::default()
        })
        .unwrap();
    syncd.sync("orders", "demo").await;
    for order in [&code, &kept] {
        syncd
            .ok(
                "order",
                &["order", "process", "demo", order, "--session", "PS-1"],
            )
            .await;
    }

    // The shop admin changes the quantities after import: the orders are flagged for review.
    for (order, quantity) in [(&code, 3), (&kept, 2)] {
        sim.edit_order(
            order,
            &OrderEditSpec {
                items: Some(vec![ItemSpec::new(variant.clone(), quantity)]),
                ..OrderEditSpec::default()
            },
        )
        .unwrap();
    }
    let flagged = wait_for("the orders flagged", DEADLINE, || async {
        syncd.sync("orders", "demo").await;
        let order = syncd.ok("order", &["order", "get", "demo", &code]).await;
        let other = syncd.ok("order", &["order", "get", "demo", &kept]).await;
        (order["status"] == "Error" && other["status"] == "Error").then_some(order)
    })
    .await;
    assert_eq!(flagged["review_reason"], "order conflict detected");
    assert_eq!(flagged["status_before_review"], "Processing");
    assert!(flagged["pending_shop_version"].is_object());
    let listed = syncd
        .ok(
            "order_page",
            &["orders", "list", "demo", "--status", "error"],
        )
        .await;
    let mut both = codes_of(&listed);
    both.sort();
    let mut expected = vec![code.clone(), kept.clone()];
    expected.sort();
    assert_eq!(both, expected);
    syncd
        .refused(
            "conflict",
            &["order", "ship", "demo", &code, "--tracking", "T1"],
        )
        .await;

    let errors = syncd.ok("errors", &["errors", "demo"]).await;
    let conflict = errors
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["message"] == "order conflict detected")
        .expect("the conflict is logged")
        .clone();
    assert!(conflict["resolved_at"].is_null());

    let resolved = syncd
        .ok(
            "order",
            &["order", "resolve", "demo", &code, "--accept-shop"],
        )
        .await;
    assert_eq!(resolved["status"], "Processing");
    assert!(resolved["review_reason"].is_null());
    let line = resolved["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item_type"] == "Product")
        .unwrap()
        .clone();
    assert_eq!(
        line["quantity"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        Decimal::from(3)
    );
    // Keeping ours: our quantities stay, the shop's content is remembered as dismissed.
    let ours = syncd
        .ok("order", &["order", "resolve", "demo", &kept, "--keep-ours"])
        .await;
    assert_eq!(ours["status"], "Processing");
    let line = ours["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item_type"] == "Product")
        .unwrap()
        .clone();
    assert_eq!(
        line["quantity"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        Decimal::ONE
    );
    assert!(ours["dismissed_shop_content"].is_object(), "{ours:#}");
    // Resolving again: nothing to resolve.
    syncd
        .refused(
            "conflict",
            &["order", "resolve", "demo", &code, "--keep-ours"],
        )
        .await;

    // The logged error is resolved by the caller (root here), then listed only with --all.
    let id = conflict["id"].as_str().unwrap();
    let entry = syncd
        .ok(
            "error",
            &[
                "errors",
                "resolve",
                "demo",
                id,
                "--resolution",
                "accepted the shop's quantities",
            ],
        )
        .await;
    assert_eq!(entry["resolved_by"], "root");
    assert_eq!(entry["resolution"], "accepted the shop's quantities");
    assert!(entry["resolved_at"].is_string());
    let open = syncd.ok("errors", &["errors", "demo"]).await;
    assert!(
        open.as_array().unwrap().iter().all(|e| e["id"] != id),
        "{open:#}"
    );
    let all = syncd.ok("errors", &["errors", "demo", "--all"]).await;
    assert!(all.as_array().unwrap().iter().any(|e| e["id"] == id));
    syncd
        .refused(
            "conflict",
            &["errors", "resolve", "demo", id, "--resolution", "again"],
        )
        .await;

    syncd.assert_no_secrets(&[PRIVATE_TOKEN, OAUTH_TOKEN]);
    drop(syncd);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_push_the_shop_refuses_waits_in_the_outbox_and_can_be_dropped() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    sim.set_allow_oversell(true);
    let refused_code = sim.create_order(&OrderSpec::default()).unwrap();
    let fine_code = sim.create_order(&OrderSpec::default()).unwrap();
    syncd.sync("orders", "demo").await;

    // The shop refuses every write to one order.
    sim.set_faults(FaultConfig {
        error_rates: [(400, 1.0)].into(),
        path_prefix: Some(format!("/api/orders/{refused_code}/")),
        ..FaultConfig::default()
    });
    syncd
        .ok("order", &["order", "process", "demo", &refused_code])
        .await;
    let entry = wait_for("a failed attempt recorded", DEADLINE, || async {
        let outbox = syncd.ok("outbox", &["outbox", "list", "demo"]).await;
        outbox
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                e["order_code"] == refused_code.as_str()
                    && e["attempts"].as_u64() >= Some(1)
                    && e["last_error"].is_string()
            })
            .cloned()
    })
    .await;
    assert_eq!(entry["state"], "Pending");
    assert_eq!(entry["action"]["SetStatus"]["status_id"], STATUS_PROCESSING);
    let id = entry["id"].as_str().unwrap().to_owned();
    let health = syncd.ok("health", &["health", "demo"]).await;
    assert!(health["outbox_pending"].as_u64().unwrap() >= 1);
    let status = syncd.ok("daemon_status", &["status"]).await;
    assert!(status["stores"][0]["outbox_pending"].as_u64().unwrap() >= 1);

    // Retrying one entry sends it now (and the shop refuses again); retrying dead letters
    // finds none yet.
    let first_attempts = entry["attempts"].as_u64().unwrap();
    let now = syncd
        .ok("outbox_change", &["outbox", "retry", "demo", &id])
        .await;
    assert_eq!(now["affected"], 1);
    wait_for("the retry attempted at once", DEADLINE, || async {
        let outbox = syncd.ok("outbox", &["outbox", "list", "demo"]).await;
        outbox
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == id.as_str() && e["attempts"].as_u64() > Some(first_attempts))
            .then_some(())
    })
    .await;
    let none = syncd
        .ok(
            "outbox_change",
            &["outbox", "retry", "demo", "--dead-letters"],
        )
        .await;
    assert_eq!(none["affected"], 0);
    let dead = syncd
        .ok("outbox", &["outbox", "list", "demo", "--dead"])
        .await;
    assert!(dead.as_array().unwrap().is_empty());

    // Dropped: never sent, gone from the queue.
    let dropped = syncd
        .ok("outbox_change", &["outbox", "drop", "demo", &id])
        .await;
    assert_eq!(dropped["affected"], 1);
    let outbox = syncd.ok("outbox", &["outbox", "list", "demo"]).await;
    assert!(
        outbox
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"] != id.as_str())
    );
    syncd
        .refused("not_found", &["outbox", "drop", "demo", &id])
        .await;
    assert_ne!(
        sim.order(&refused_code).unwrap().status_id,
        STATUS_PROCESSING
    );

    // Other orders' pushes go through.
    syncd
        .ok("order", &["order", "process", "demo", &fine_code])
        .await;
    wait_for("the other order reaches the shop", DEADLINE, || async {
        (sim.order(&fine_code)?.status_id == STATUS_PROCESSING).then_some(())
    })
    .await;
    syncd.assert_no_secrets(&[PRIVATE_TOKEN, OAUTH_TOKEN]);
    drop(syncd);
    sim.shutdown().await;
}
