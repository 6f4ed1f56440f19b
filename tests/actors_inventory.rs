//! Stock push against the simulator: a receipt after a quiet period reaches the shop at once and out of
//! stock shows 0 (test 2); stock edited in the shop admin is detected and corrected (test 6);
//! two stores sharing one warehouse see each other's orders (test 10).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::time::{Duration, Instant};

use actors_support::*;
use rust_decimal::Decimal;
use shoptet_sync::actors::messages::OrderListQuery;
use shoptet_sync::sim::{ItemSpec, OrderSpec};

const DEADLINE: Duration = Duration::from_secs(20);

#[actix_rt::test]
async fn a_receipt_after_a_quiet_period_reaches_the_shop_at_once_and_out_of_stock_shows_zero() {
    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    // Periodic pushes far away: only a stock change may deliver the receipt. A debounce far
    // longer than a push takes, so "at once" and "after the debounce" cannot be confused.
    settings.interval_override = Some(Duration::from_secs(3600));
    settings.stock_debounce = Duration::from_secs(3);
    let debounce = settings.stock_debounce;
    let env = Env::start(settings);
    env.add_shop("shop", &sim, "MAIN").await;
    let codes: Vec<String> = sim.stock_levels().keys().cloned().collect();
    wait_products(&env.daemon, "shop", codes.len()).await;
    let (a, b) = (&codes[0], &codes[1]);
    env.daemon
        .bulk_set_stock(
            "shop",
            vec![(a.clone(), Decimal::from(5)), (b.clone(), Decimal::ZERO)],
        )
        .await
        .unwrap();
    let last_change = Instant::now();
    wait_real_stock(&sim, a, 5, DEADLINE).await;
    wait_real_stock(&sim, b, 0, DEADLINE).await;
    assert_eq!(sim.stock_level(b).unwrap().available, Decimal::ZERO);

    // The behaviour under test needs a quiet period: no stock change for a whole debounce.
    let quiet_until = last_change + debounce + Duration::from_millis(100);
    tokio::time::sleep(quiet_until.saturating_duration_since(Instant::now())).await;

    // A receipt of 7: the first change after the pause is pushed at once, not after the
    // debounce (nor at the next interval).
    let received = Instant::now();
    env.daemon
        .adjust_stock("MAIN", a, Decimal::from(7))
        .await
        .unwrap();
    wait_real_stock(&sim, a, 12, DEADLINE).await;
    let took = received.elapsed();
    assert!(
        took < debounce,
        "the first change after a quiet period waited for the debounce ({took:?})"
    );
    assert_eq!(sim.stock_level(a).unwrap().available, Decimal::from(12));

    // A burst of changes coalesces into few pushes.
    sim.reset_counters();
    for i in 1..=10 {
        env.daemon
            .set_stock("shop", a, Decimal::from(20 + i))
            .await
            .unwrap();
    }
    wait_real_stock(&sim, a, 30, DEADLINE).await;
    let pushes = sim.counters().requests("PATCH /api/stocks/{id}/movements");
    assert!(pushes <= 3, "{pushes} pushes for one burst");
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn stock_edited_in_the_shop_admin_is_detected_and_corrected() {
    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    settings.discrepancy_every = 1;
    let env = Env::start(settings);
    env.add_shop("shop", &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, "shop", &sim, 9).await;
    let code = &codes[2];
    wait_real_stock(&sim, code, 9, DEADLINE).await;

    // Someone edits the stock in the shop admin.
    sim.set_real_stock(code, Decimal::from(40)).unwrap();
    let error = wait_for("the discrepancy logged", DEADLINE, || async {
        let errors = env.daemon.errors("shop", false).await.ok()?;
        errors
            .into_iter()
            .find(|e| e.message == "inventory discrepancy detected")
    })
    .await;
    let details = error.details.unwrap_or_default();
    assert!(details.contains(code.as_str()), "{details}");
    assert!(
        details.contains("expected 9") && details.contains("shop shows 40"),
        "{details}"
    );
    // …and corrected.
    wait_real_stock(&sim, code, 9, DEADLINE).await;
    let report = env.daemon.inventory("shop").await.unwrap();
    assert!(report.report.open_discrepancies >= 1);
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn two_stores_sharing_a_warehouse_see_each_others_orders() {
    let sim_a = start_sim(small_shop()).await;
    let sim_b = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    env.add_shop("shop-a", &sim_a, "SHARED").await;
    env.add_shop("shop-b", &sim_b, "SHARED").await;
    // Same seed: both shops sell the same codes.
    let codes = stock_all(&env.daemon, "shop-a", &sim_a, 10).await;
    let code = &codes[0];
    wait_real_stock(&sim_a, code, 10, DEADLINE).await;
    wait_real_stock(&sim_b, code, 10, DEADLINE).await;

    let order = sim_a
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(code.clone(), 3)],
            ..OrderSpec::default()
        })
        .unwrap();
    wait_for("shop-a imported the order", DEADLINE, || async {
        env.daemon.get_order("shop-a", &order).await.ok()
    })
    .await;
    // Shop B may now offer only 7; shop A keeps 10 physical with its own claim of 3.
    wait_real_stock(&sim_b, code, 7, DEADLINE).await;
    assert_eq!(sim_b.stock_level(code).unwrap().available, Decimal::from(7));
    let level_a = sim_a.stock_level(code).unwrap();
    assert_eq!(
        (level_a.real_stock, level_a.available),
        (Decimal::from(10), Decimal::from(7))
    );

    // Shipping it lowers on hand; shop B's figure stays 7, shop A ends at 7 physical, 0 claim.
    env.daemon
        .process_order("shop-a", &order, None)
        .await
        .unwrap();
    env.daemon
        .ship_order("shop-a", &order, Some("T-1"), None)
        .await
        .unwrap();
    wait_for(
        "shop A settles at 7 physical, no claim",
        DEADLINE,
        || async {
            let level = sim_a.stock_level(code)?;
            (level.real_stock == Decimal::from(7) && level.claim.is_zero()).then_some(())
        },
    )
    .await;
    assert_eq!(
        sim_b.stock_level(code).unwrap().real_stock,
        Decimal::from(7)
    );
    let b_orders = env
        .daemon
        .list_orders("shop-b", OrderListQuery::default())
        .await
        .unwrap();
    assert_eq!(b_orders.total, 0);
    env.daemon.shutdown().await.unwrap();
    sim_a.shutdown().await;
    sim_b.shutdown().await;
}

/// With automatic status updates off the shop keeps the claim of an order we shipped, and
/// offers its quantity less until someone resolves the claim in the shop; then the figure is
/// re-pushed without waiting for the discrepancy check.
#[actix_rt::test]
async fn without_status_updates_a_claim_resolved_in_the_shop_is_re_pushed() {
    use shoptet_sync::actors::messages::{IntegrationUpdate, NewIntegrationSpec};
    use shoptet_sync::domain::{Credentials, Secret};
    use shoptet_sync::sim::STATUS_COMPLETED;

    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    // No read-back during the test: only the orders sync may notice the resolution.
    settings.discrepancy_every = 100_000;
    let env = Env::start(settings);
    let spec = NewIntegrationSpec {
        name: "shop".to_owned(),
        eshop_url: sim.eshop_url(),
        api_base_url: Some(sim.base_url()),
        credentials: Some(Credentials::PrivateToken(Secret::new(sim.private_token()))),
        settings: IntegrationUpdate {
            default_warehouse_code: Some("MAIN".to_owned()),
            auto_status_update: Some(false),
            ..IntegrationUpdate::default()
        },
    };
    env.daemon.create_integration(spec).await.unwrap();
    env.daemon.activate("shop").await.unwrap();
    let codes = stock_all(&env.daemon, "shop", &sim, 10).await;
    let code = &codes[0];
    wait_real_stock(&sim, code, 10, DEADLINE).await;
    let order = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(code.clone(), 2)],
            ..OrderSpec::default()
        })
        .unwrap();
    wait_for("the order imported", DEADLINE, || async {
        env.daemon.get_order("shop", &order).await.ok()
    })
    .await;
    env.daemon
        .process_order("shop", &order, None)
        .await
        .unwrap();
    env.daemon
        .ship_order("shop", &order, Some("T-1"), None)
        .await
        .unwrap();
    assert!(env.daemon.outbox("shop", None).await.unwrap().is_empty());

    // The shop is told nothing: it keeps the claim and under-offers by 2 (never over-offers).
    wait_real_stock(&sim, code, 8, DEADLINE).await;
    let level = sim.stock_level(code).unwrap();
    assert_eq!(level.claim, Decimal::from(2));
    assert_eq!(level.available, Decimal::from(6));

    // The shop admin marks the order done: the shop's physical stock falls by 2 as well.
    sim.set_order_status(&order, STATUS_COMPLETED).unwrap();
    assert_eq!(sim.stock_level(code).unwrap().real_stock, Decimal::from(6));
    // The next orders sync sees it and the exact figure goes out again.
    wait_real_stock(&sim, code, 8, DEADLINE).await;
    let level = sim.stock_level(code).unwrap();
    assert_eq!(
        (level.claim, level.available),
        (Decimal::ZERO, Decimal::from(8))
    );
    let on_hand = env
        .daemon
        .stock_levels("MAIN")
        .await
        .unwrap()
        .into_iter()
        .find(|l| &l.product_code == code)
        .unwrap()
        .on_hand;
    assert_eq!(on_hand, Decimal::from(8));
    let errors = env.daemon.errors("shop", false).await.unwrap();
    assert!(
        !errors.iter().any(|e| e.message.contains("discrepancy")),
        "{errors:?}"
    );
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn a_push_with_nothing_to_send_moves_no_sync_time() {
    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    settings.interval_override = Some(Duration::from_secs(3600));
    let env = Env::start(settings);
    env.add_shop("shop", &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, "shop", &sim, 7).await;
    wait_real_stock(&sim, &codes[0], 7, DEADLINE).await;
    // The start's runs are over (nothing else moves the times during the test).
    wait_for("the first orders run over", DEADLINE, || async {
        let integration = env.daemon.get_integration("shop").await.ok()?;
        integration.last_order_sync.map(|_| ())
    })
    .await;
    let pushed = wait_for("the push recorded", DEADLINE, || async {
        let report = env
            .daemon
            .sync("shop", shoptet_sync::actors::SyncKind::Inventory, true)
            .await
            .ok()?;
        report
            .message
            .contains("already up to date")
            .then_some(())?;
        env.daemon.get_integration("shop").await.ok()
    })
    .await;
    // Nothing differs: the run does not contact the shop, so it proves nothing about it.
    let before = sim.counters().requests("PATCH /api/stocks/{id}/movements");
    let report = env
        .daemon
        .sync("shop", shoptet_sync::actors::SyncKind::Inventory, true)
        .await
        .unwrap();
    assert!(report.message.contains("already up to date"), "{report:?}");
    assert_eq!(
        sim.counters().requests("PATCH /api/stocks/{id}/movements"),
        before
    );
    let after = env.daemon.get_integration("shop").await.unwrap();
    assert_eq!(after.last_inventory_sync, pushed.last_inventory_sync);
    assert_eq!(after.last_sync, pushed.last_sync);
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
