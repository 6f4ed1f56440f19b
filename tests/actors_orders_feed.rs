//! The orders change feed read safely: no order is lost when the feed shifts between two reads
//! of one run, or when one order's detail could not be read once.
//!
//! The feed is offset-paged, keeps only the last change per order and sorts by change time: an
//! order edited while a run reads on moves to the end and shifts every later entry up one place,
//! so reading "page 2" would skip one. Runs therefore re-query from the newest change time they
//! have read instead of paging by number. A detail that fails to decode (a garbled body, a field
//! the parser refuses) keeps its code in a persisted retry set, read again every run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::time::Duration;

use actors_support::*;
use shoptet_sync::actors::SyncKind;
use shoptet_sync::actors::messages::OrderListQuery;
use shoptet_sync::sim::{FaultConfig, ItemSpec, OrderSpec, STATUS_PROCESSING, SimConfig};

const DEADLINE: Duration = Duration::from_secs(30);

async fn imported(env: &Env) -> Vec<String> {
    let query = OrderListQuery {
        page_size: 1000,
        ..OrderListQuery::default()
    };
    match env.daemon.list_orders("shop", query).await {
        Ok(page) => page.items.into_iter().map(|o| o.code).collect(),
        Err(_) => Vec::new(),
    }
}

#[actix_rt::test]
async fn an_order_edited_mid_run_does_not_make_the_run_skip_another_one() {
    // The shop's clock starts two hours back: the orders are placed then.
    let sim = start_sim(SimConfig {
        allow_oversell: true,
        start_time: Some(chrono::Utc::now() - chrono::TimeDelta::hours(2)),
        ..small_shop()
    })
    .await;
    let variant = sim.variant_codes()[0].clone();
    let mut placed = Vec::new();
    for _ in 0..6 {
        let spec = OrderSpec {
            items: vec![ItemSpec::new(variant.clone(), 1)],
            ..OrderSpec::default()
        };
        placed.push(sim.create_order(&spec).unwrap());
    }
    placed.sort();
    // Half an hour later in the shop; every request is slow enough to act between pages.
    sim.advance_clock(Duration::from_secs(30 * 60));
    sim.set_faults(FaultConfig {
        latency_ms: 400,
        ..FaultConfig::default()
    });

    let mut settings = fast_settings();
    settings.orders_page_size = 2;
    // Keep runs apart so the interleaving below is the first run's.
    settings.interval_override = Some(Duration::from_secs(3600));
    let env = Env::start(settings);
    env.add_shop("shop", &sim, "MAIN").await;

    // Page 1 committed: the shop admin changes the status of one of its orders before the run
    // reads page 2 (its request is still in the simulated latency).
    let first = wait_for("page 1 imported", DEADLINE, || async {
        imported(&env).await.into_iter().next()
    })
    .await;
    sim.set_order_status(&first, STATUS_PROCESSING).unwrap();

    // Let that run end, then run the import twice more: nothing may stay missing.
    wait_for("the first orders run over", DEADLINE, || async {
        let status = env.daemon.status().await.ok()?;
        let store = status.stores.into_iter().find(|s| s.name == "shop")?;
        (!store.running.contains(&SyncKind::Orders)).then_some(())
    })
    .await;
    sim.set_faults(FaultConfig::default());
    for _ in 0..2 {
        env.daemon
            .sync("shop", SyncKind::Orders, true)
            .await
            .unwrap();
    }

    let mut got = imported(&env).await;
    got.sort();
    assert_eq!(
        got, placed,
        "every order placed in the shop must be imported (one was skipped by the shifted page \
         and the advanced cursor never lets a later run read it)"
    );
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn an_order_whose_detail_failed_to_decode_once_is_imported_later() {
    let sim = start_sim(SimConfig {
        allow_oversell: true,
        start_time: Some(chrono::Utc::now() - chrono::TimeDelta::hours(2)),
        ..small_shop()
    })
    .await;
    let variant = sim.variant_codes()[0].clone();
    let spec = OrderSpec {
        items: vec![ItemSpec::new(variant, 1)],
        ..OrderSpec::default()
    };
    let early = sim.create_order(&spec).unwrap();
    sim.advance_clock(Duration::from_secs(30 * 60));
    let late = sim.create_order(&spec).unwrap();
    // One garbled answer for the early order's detail; every later request is fine.
    sim.set_faults(FaultConfig {
        garbage_rate: 1.0,
        max_faults: Some(1),
        path_prefix: Some(format!("/api/orders/{early}")),
        ..FaultConfig::default()
    });

    let mut settings = fast_settings();
    settings.interval_override = Some(Duration::from_secs(3600));
    let env = Env::start(settings);
    env.add_shop("shop", &sim, "MAIN").await;
    wait_for("the late order imported", DEADLINE, || async {
        env.daemon.get_order("shop", &late).await.ok()
    })
    .await;
    wait_for("the first run over", DEADLINE, || async {
        let status = env.daemon.status().await.ok()?;
        let store = status.stores.into_iter().find(|s| s.name == "shop")?;
        (!store.running.contains(&SyncKind::Orders)).then_some(())
    })
    .await;
    for _ in 0..2 {
        env.daemon
            .sync("shop", SyncKind::Orders, true)
            .await
            .unwrap();
    }
    assert!(
        env.daemon.get_order("shop", &early).await.is_ok(),
        "order {early} was skipped once because its detail did not decode, and the cursor moved \
         past it: it is never imported"
    );
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

const ORDER_DETAIL: &str = "GET /api/orders/{code}";

#[actix_rt::test]
async fn an_order_that_stays_unreadable_is_logged_once_and_dropped_once_its_error_is_resolved() {
    let sim = start_sim(SimConfig {
        allow_oversell: true,
        ..small_shop()
    })
    .await;
    let variant = sim.variant_codes()[0].clone();
    let bad = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(variant, 1)],
            ..OrderSpec::default()
        })
        .unwrap();
    // Its detail never decodes.
    sim.set_faults(FaultConfig {
        garbage_rate: 1.0,
        path_prefix: Some(format!("/api/orders/{bad}")),
        ..FaultConfig::default()
    });
    let mut settings = fast_settings();
    settings.interval_override = Some(Duration::from_secs(3600));
    let env = Env::start(settings);
    env.add_shop("shop", &sim, "MAIN").await;
    wait_for("the first orders run over", DEADLINE, || async {
        let integration = env.daemon.get_integration("shop").await.ok()?;
        integration.last_order_sync.map(|_| ())
    })
    .await;
    let reads_before = sim.counters().requests(ORDER_DETAIL);
    for _ in 0..2 {
        env.daemon
            .sync("shop", SyncKind::Orders, true)
            .await
            .unwrap();
    }
    assert!(
        sim.counters().requests(ORDER_DETAIL) >= reads_before + 2,
        "the unreadable order is read again every run"
    );
    let about_bad = |errors: Vec<shoptet_sync::domain::ErrorLog>| -> Vec<_> {
        errors
            .into_iter()
            .filter(|e| e.message.contains(&bad))
            .collect()
    };
    let open = about_bad(env.daemon.errors("shop", false).await.unwrap());
    assert_eq!(
        open.len(),
        1,
        "one error-log entry, not one per run: {open:?}"
    );

    // The operator gives up on it: no more reads, no new entries.
    env.daemon
        .resolve_error("shop", open[0].id, "ops", "cancelled by phone")
        .await
        .unwrap();
    let reads_before = sim.counters().requests(ORDER_DETAIL);
    for _ in 0..2 {
        env.daemon
            .sync("shop", SyncKind::Orders, true)
            .await
            .unwrap();
    }
    assert_eq!(
        sim.counters().requests(ORDER_DETAIL),
        reads_before,
        "a dismissed order is not read again (not even from the feed's overlap)"
    );
    assert!(about_bad(env.daemon.errors("shop", false).await.unwrap()).is_empty());
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn an_empty_feed_does_not_move_the_cursor_to_our_clock() {
    // The shop's clock runs two hours behind ours.
    let sim = start_sim(SimConfig {
        allow_oversell: true,
        start_time: Some(chrono::Utc::now() - chrono::TimeDelta::hours(2)),
        ..small_shop()
    })
    .await;
    let mut settings = fast_settings();
    settings.interval_override = Some(Duration::from_secs(3600));
    let env = Env::start(settings);
    env.add_shop("shop", &sim, "MAIN").await;
    // The first run finds nothing.
    wait_for("the first orders run over", DEADLINE, || async {
        let integration = env.daemon.get_integration("shop").await.ok()?;
        integration.last_order_sync.map(|_| ())
    })
    .await;
    // An order placed now carries the shop's time, two hours before ours.
    let variant = sim.variant_codes()[0].clone();
    let order = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(variant, 1)],
            ..OrderSpec::default()
        })
        .unwrap();
    env.daemon
        .sync("shop", SyncKind::Orders, true)
        .await
        .unwrap();
    assert!(
        env.daemon.get_order("shop", &order).await.is_ok(),
        "order {order} was missed: the empty run set the cursor from our clock, past the shop's"
    );
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn an_order_with_absurd_quantities_is_refused_and_logged_once() {
    let sim = start_sim(SimConfig {
        allow_oversell: true,
        ..small_shop()
    })
    .await;
    let variant = sim.variant_codes()[0].clone();
    let absurd = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(
                variant,
                rust_decimal::Decimal::from(2_000_000_000_i64),
            )],
            ..OrderSpec::default()
        })
        .unwrap();
    let mut settings = fast_settings();
    settings.interval_override = Some(Duration::from_secs(3600));
    let env = Env::start(settings.clone());
    env.add_shop("shop", &sim, "MAIN").await;
    wait_for("the first orders run over", DEADLINE, || async {
        let integration = env.daemon.get_integration("shop").await.ok()?;
        integration.last_order_sync.map(|_| ())
    })
    .await;
    // The overlap brings the same change back: it is not refused (and logged) again.
    for _ in 0..2 {
        env.daemon
            .sync("shop", SyncKind::Orders, true)
            .await
            .unwrap();
    }
    let refusals = |errors: Vec<shoptet_sync::domain::ErrorLog>| -> Vec<_> {
        errors
            .into_iter()
            .filter(|e| e.message.contains(&absurd))
            .collect()
    };
    let logged = refusals(env.daemon.errors("shop", true).await.unwrap());
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(
        logged[0]
            .details
            .as_deref()
            .is_some_and(|d| d.contains("beyond the accepted range")),
        "{logged:?}"
    );
    assert!(env.daemon.get_order("shop", &absurd).await.is_err());

    // Nothing of it was stored: the daemon comes back up and keeps importing.
    env.daemon.shutdown().await.unwrap();
    let daemon = shoptet_sync::actors::Daemon::start(env.store.clone(), settings);
    wait_for("the store back", DEADLINE, || async {
        daemon.get_integration("shop").await.ok()
    })
    .await;
    wait_for("an orders run after the restart", DEADLINE, || async {
        daemon.sync("shop", SyncKind::Orders, true).await.ok()
    })
    .await;
    assert_eq!(
        refusals(daemon.errors("shop", true).await.unwrap()).len(),
        1
    );
    daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
