//! Review: an order is lost for good when the change feed shifts between two pages of one run.
//!
//! The feed is offset-paged and keeps only the last change per order, sorted by change time. An
//! order of page 1 edited in the shop while the run reads on (a status change by the shop admin,
//! or our own outbox push) moves to the end of the feed, so every later entry moves up one place
//! and the first entry of page 2 is never returned. The run then advances the cursor to
//! `min(newest, start) − overlap`, which lies past the skipped order's change time, so no later
//! run reads it again.
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
