//! Orders end to end against the simulator: import exactly once, process, ship with a tracking
//! number (test 1); an order changed in the shop after import is flagged, never processed
//! twice, and resolved (test 5).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::time::Duration;

use actors_support::*;
use shoptet_sync::actors::SyncKind;
use shoptet_sync::actors::messages::OrderListQuery;
use shoptet_sync::control::protocol::{
    Caller, ControlHandler, ErrorCode, OrderQuery, Request, Response,
};
use shoptet_sync::domain::{ConflictResolution, OrderStatus, OutboxState, SyncStatus, SyncType};
use shoptet_sync::sim::{ItemSpec, OrderEditSpec, OrderSpec, STATUS_COMPLETED, STATUS_PROCESSING};

const DEADLINE: Duration = Duration::from_secs(20);

#[actix_rt::test]
async fn orders_are_imported_once_processed_and_shipped_with_tracking() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    env.add_shop("shop", &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, "shop", &sim, 20).await;
    wait_real_stock(&sim, &codes[0], 20, DEADLINE).await;

    let mut order_codes = Vec::new();
    for code in &codes[..3] {
        let spec = OrderSpec {
            items: vec![ItemSpec::new(code.clone(), 2)],
            ..OrderSpec::default()
        };
        order_codes.push(sim.create_order(&spec).unwrap());
    }
    wait_for("3 orders imported", DEADLINE, || async {
        let page = env
            .daemon
            .list_orders("shop", OrderListQuery::default())
            .await
            .ok()?;
        (page.total == 3).then_some(())
    })
    .await;
    // More runs (scheduled and forced) re-read the overlap window: still each order once.
    for _ in 0..3 {
        match env.daemon.sync("shop", SyncKind::Orders, true).await {
            Ok(report) => assert_eq!(report.status, SyncStatus::Completed, "{report:?}"),
            Err(err) => assert!(err.to_string().contains("already running"), "{err}"),
        }
    }
    let page = env
        .daemon
        .list_orders("shop", OrderListQuery::default())
        .await
        .unwrap();
    assert_eq!(page.total, 3);
    let mut imported: Vec<String> = page.items.iter().map(|o| o.code.clone()).collect();
    imported.sort();
    order_codes.sort();
    assert_eq!(imported, order_codes);

    let code = &order_codes[0];
    let order = env
        .daemon
        .process_order("shop", code, Some("pick-1"))
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::Processing);
    wait_for("the shop shows 'processing'", DEADLINE, || async {
        (sim.order(code)?.status_id == STATUS_PROCESSING).then_some(())
    })
    .await;
    let pick = env.daemon.pick_list("shop", "pick-1").await.unwrap();
    assert_eq!(pick.order_codes, vec![code.clone()]);

    let order = env
        .daemon
        .ship_order("shop", code, Some("DR1234567890E"), None)
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::Shipped);
    wait_for(
        "the shop shows 'completed' with the tracking number",
        DEADLINE,
        || async {
            let shop = sim.order(code)?;
            (shop.status_id == STATUS_COMPLETED
                && shop.tracking_number.as_deref() == Some("DR1234567890E"))
            .then_some(())
        },
    )
    .await;
    wait_for("the outbox drained", DEADLINE, || async {
        env.daemon
            .outbox("shop", None)
            .await
            .ok()?
            .is_empty()
            .then_some(())
    })
    .await;
    // Shipping lowered on hand.
    let levels = env.daemon.stock_levels("MAIN").await.unwrap();
    let level = levels.iter().find(|l| l.product_code == codes[0]).unwrap();
    assert_eq!(level.on_hand, rust_decimal::Decimal::from(18));
    // Sync logs keep real start and end times.
    let history = env.daemon.sync_history("shop", 1).await.unwrap();
    let runs: Vec<_> = history
        .iter()
        .filter(|l| l.sync_type == SyncType::Orders)
        .collect();
    assert!(!runs.is_empty());
    assert!(runs.iter().all(|l| l.started_at <= l.finished_at));
    assert!(runs.iter().any(|l| l.finished_at > l.started_at));

    // The control channel reaches the same state through the bridge.
    let caller = Caller {
        uid: 0,
        gid: 0,
        pid: None,
        user_name: "root".into(),
        is_admin: true,
    };
    let response = env
        .daemon
        .handle(&caller, Request::OrdersList(OrderQuery::all("shop")))
        .await
        .unwrap();
    let Response::OrderPage(page) = response else {
        panic!("unexpected response {response:?}");
    };
    assert_eq!(page.total, 3);
    let err = env
        .daemon
        .handle(
            &caller,
            Request::OrderGet {
                integration: "nope".into(),
                code: "1".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn an_order_changed_in_the_shop_after_import_is_flagged_and_not_processed_twice() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    env.add_shop("shop", &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, "shop", &sim, 20).await;
    wait_real_stock(&sim, &codes[0], 20, DEADLINE).await;
    let code = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(codes[0].clone(), 1)],
            ..OrderSpec::default()
        })
        .unwrap();
    wait_for("the order imported", DEADLINE, || async {
        env.daemon.get_order("shop", &code).await.ok()
    })
    .await;
    env.daemon
        .process_order("shop", &code, Some("pick-7"))
        .await
        .unwrap();

    // The shop admin changes the quantity after import.
    sim.edit_order(
        &code,
        &OrderEditSpec {
            items: Some(vec![ItemSpec::new(codes[0].clone(), 3)]),
            ..OrderEditSpec::default()
        },
    )
    .unwrap();
    let flagged = wait_for("the order flagged", DEADLINE, || async {
        let order = env.daemon.get_order("shop", &code).await.ok()?;
        (order.status == OrderStatus::Error).then_some(order)
    })
    .await;
    assert_eq!(
        flagged.review_reason.as_deref(),
        Some("order conflict detected")
    );
    assert_eq!(flagged.items[0].quantity, rust_decimal::Decimal::from(1));
    // A flagged order cannot be processed or shipped again.
    let err = env
        .daemon
        .process_order("shop", &code, None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("resolve the review first"),
        "{err}"
    );
    let err = env
        .daemon
        .ship_order("shop", &code, Some("T1"), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("resolve the review first"),
        "{err}"
    );
    let errors = env.daemon.errors("shop", false).await.unwrap();
    let conflicts = errors
        .iter()
        .filter(|e| e.message == "order conflict detected")
        .count();
    assert_eq!(conflicts, 1);
    // Re-reading the same shop version flags nothing new.
    let _ = env.daemon.sync("shop", SyncKind::Orders, true).await;
    let errors = env.daemon.errors("shop", false).await.unwrap();
    assert_eq!(
        errors
            .iter()
            .filter(|e| e.message == "order conflict detected")
            .count(),
        1
    );

    let resolved = env
        .daemon
        .resolve_conflict("shop", &code, ConflictResolution::AcceptShop)
        .await
        .unwrap();
    assert_eq!(resolved.status, OrderStatus::Processing);
    assert_eq!(resolved.items[0].quantity, rust_decimal::Decimal::from(3));
    assert!(resolved.review_reason.is_none());
    // The processing push went once; nothing is left stuck.
    wait_for("the outbox drained", DEADLINE, || async {
        let pending = env
            .daemon
            .outbox("shop", Some(OutboxState::Pending))
            .await
            .ok()?;
        pending.is_empty().then_some(())
    })
    .await;
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn an_order_the_shop_reopens_after_a_cancel_is_flagged_for_review() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    env.add_shop("shop", &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, "shop", &sim, 20).await;
    let order = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(codes[0].clone(), 1)],
            ..OrderSpec::default()
        })
        .unwrap();
    wait_for("the order imported", DEADLINE, || async {
        env.daemon.get_order("shop", &order).await.ok()
    })
    .await;
    sim.cancel_order(&order).unwrap();
    wait_for("the shop's cancel seen", DEADLINE, || async {
        let o = env.daemon.get_order("shop", &order).await.ok()?;
        (o.status == OrderStatus::Cancelled).then_some(())
    })
    .await;

    // The shop admin re-opens it: it must not stay silently cancelled here.
    sim.set_order_status(&order, STATUS_PROCESSING).unwrap();
    let ours = wait_for("the re-open seen", DEADLINE, || async {
        let o = env.daemon.get_order("shop", &order).await.ok()?;
        (o.shop_status_id == Some(STATUS_PROCESSING)).then_some(o)
    })
    .await;
    assert_eq!(
        ours.review_reason.as_deref(),
        Some("re-opened in the shop after it was cancelled"),
        "{ours:?}"
    );
    let errors = env.daemon.errors("shop", false).await.unwrap();
    assert!(
        errors.iter().any(|e| e.message.contains("re-opened")),
        "{errors:?}"
    );
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn the_status_mapping_of_an_active_store_changes_only_through_activation() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    let integration = env.add_shop("shop", &sim, "MAIN").await;
    let unknown = shoptet_sync::domain::StatusMapping {
        shipped: 987_654,
        ..integration.status_mapping
    };
    let update = || shoptet_sync::actors::messages::IntegrationUpdate {
        status_mapping: Some(unknown),
        ..Default::default()
    };
    let err = env
        .daemon
        .update_integration("shop", update())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("deactivate"), "{err}");
    let kept = env.daemon.get_integration("shop").await.unwrap();
    assert_eq!(kept.status_mapping, integration.status_mapping);
    // The same mapping again is no change and passes.
    env.daemon
        .update_integration(
            "shop",
            shoptet_sync::actors::messages::IntegrationUpdate {
                status_mapping: Some(integration.status_mapping),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // Deactivated, it changes; activation then refuses the id the shop does not know.
    env.daemon.deactivate("shop", "new mapping").await.unwrap();
    env.daemon
        .update_integration("shop", update())
        .await
        .unwrap();
    let err = env.daemon.activate("shop").await.unwrap_err();
    assert!(err.to_string().contains("987654"), "{err}");
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
