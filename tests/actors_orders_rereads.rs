//! An order already read at its current change time is not read again; an edit in the same
//! shop second as our read still is.
//!
//! The feed's overlap window names every order changed in the last minutes on every run, and
//! shop times have whole seconds. Each order keeps the shop time of our read (the detail
//! response's `Date`): an equal change time is read again only when that read was not at least a
//! second later than the change time. Detail reads are counted at the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::time::Duration;

use actors_support::*;
use shoptet_sync::actors::SyncKind;
use shoptet_sync::actors::messages::OrderListQuery;
use shoptet_sync::sim::{ItemSpec, OrderEditSpec, OrderSpec, STATUS_CANCELLED, SimConfig};

const DEADLINE: Duration = Duration::from_secs(30);
const DETAIL: &str = "GET /api/orders/{code}";
const FEED: &str = "GET /api/orders/changes";

async fn imported(env: &Env) -> usize {
    let query = OrderListQuery {
        page_size: 1000,
        ..OrderListQuery::default()
    };
    env.daemon
        .list_orders("shop", query)
        .await
        .map_or(0, |page| page.items.len())
}

/// A daemon whose orders run only when asked (after the first one at activation).
async fn daemon_on(sim: &shoptet_sync::sim::SimHandle) -> Env {
    let mut settings = fast_settings();
    settings.interval_override = Some(Duration::from_secs(3600));
    let env = Env::start(settings);
    env.add_shop("shop", sim, "MAIN").await;
    env
}

async fn first_run_over(env: &Env, orders: usize) {
    wait_for("the first orders run over", DEADLINE, || async {
        if imported(env).await < orders {
            return None;
        }
        let status = env.daemon.status().await.ok()?;
        let store = status.stores.into_iter().find(|s| s.name == "shop")?;
        (!store.running.contains(&SyncKind::Orders)).then_some(())
    })
    .await;
}

fn order_spec(sim: &shoptet_sync::sim::SimHandle) -> OrderSpec {
    OrderSpec {
        items: vec![ItemSpec::new(sim.variant_codes()[0].clone(), 1)],
        ..OrderSpec::default()
    }
}

#[actix_rt::test]
async fn unchanged_orders_are_not_read_again_by_the_next_run() {
    let sim = start_sim(SimConfig {
        allow_oversell: true,
        start_time: Some(chrono::Utc::now() - chrono::TimeDelta::hours(1)),
        ..small_shop()
    })
    .await;
    let spec = order_spec(&sim);
    let mut placed = Vec::new();
    for _ in 0..4 {
        placed.push(sim.create_order(&spec).unwrap());
    }
    // A shop order finished before we ever saw it: read once, never imported.
    let cancelled = sim.create_order(&spec).unwrap();
    sim.set_order_status(&cancelled, STATUS_CANCELLED).unwrap();
    // Still well inside the overlap window, but more than a second after every change.
    sim.advance_clock(Duration::from_secs(5));

    let env = daemon_on(&sim).await;
    first_run_over(&env, placed.len()).await;
    assert_eq!(
        sim.counters().requests(DETAIL),
        5,
        "the first run reads each order once"
    );

    for run in 1..=3 {
        sim.reset_counters();
        env.daemon
            .sync("shop", SyncKind::Orders, true)
            .await
            .unwrap();
        assert!(
            sim.counters().requests(FEED) >= 1,
            "run {run} read the feed"
        );
        assert_eq!(
            sim.counters().requests(DETAIL),
            0,
            "run {run}: the feed named the same changes again (overlap window), and every one \
             had been read more than a second after its change time: no detail read is needed"
        );
    }
    assert_eq!(imported(&env).await, placed.len());

    // A real change is read, once.
    sim.advance_clock(Duration::from_secs(5));
    let edit = OrderEditSpec {
        email: Some("changed@example.com".to_owned()),
        ..OrderEditSpec::default()
    };
    sim.edit_order(&placed[0], &edit).unwrap();
    sim.advance_clock(Duration::from_secs(5));
    sim.reset_counters();
    env.daemon
        .sync("shop", SyncKind::Orders, true)
        .await
        .unwrap();
    assert_eq!(
        sim.counters().requests(DETAIL),
        1,
        "the edited order is read"
    );
    let order = env.daemon.get_order("shop", &placed[0]).await.unwrap();
    assert_eq!(order.customer_email.as_deref(), Some("changed@example.com"));
    sim.reset_counters();
    env.daemon
        .sync("shop", SyncKind::Orders, true)
        .await
        .unwrap();
    assert_eq!(sim.counters().requests(DETAIL), 0, "and not again");

    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn an_edit_in_the_same_second_as_our_read_is_still_read() {
    let sim = start_sim(SimConfig {
        allow_oversell: true,
        start_time: Some(chrono::Utc::now() - chrono::TimeDelta::hours(1)),
        ..small_shop()
    })
    .await;
    // The shop's clock stands still: the order's change, our read and the next edit all fall
    // in one shop second.
    sim.freeze_clock(true);
    let code = sim.create_order(&order_spec(&sim)).unwrap();
    let env = daemon_on(&sim).await;
    first_run_over(&env, 1).await;
    let changed_at = sim.order(&code).unwrap();

    let edit = OrderEditSpec {
        email: Some("same-second@example.com".to_owned()),
        ..OrderEditSpec::default()
    };
    sim.edit_order(&code, &edit).unwrap();
    assert_eq!(
        sim.order(&code).unwrap().change_time,
        changed_at.change_time,
        "the edit carries the same change time"
    );
    sim.reset_counters();
    env.daemon
        .sync("shop", SyncKind::Orders, true)
        .await
        .unwrap();
    assert_eq!(
        sim.counters().requests(DETAIL),
        1,
        "our read was in the change's own second: the equal change time is read again"
    );
    let order = env.daemon.get_order("shop", &code).await.unwrap();
    assert_eq!(
        order.customer_email.as_deref(),
        Some("same-second@example.com"),
        "the edit made in the same second as our read was not missed"
    );

    // Once read a second later, the same change time is settled.
    sim.advance_clock(Duration::from_secs(2));
    sim.reset_counters();
    env.daemon
        .sync("shop", SyncKind::Orders, true)
        .await
        .unwrap();
    assert_eq!(sim.counters().requests(DETAIL), 1, "read once more, later");
    sim.reset_counters();
    env.daemon
        .sync("shop", SyncKind::Orders, true)
        .await
        .unwrap();
    assert_eq!(sim.counters().requests(DETAIL), 0, "then no more");

    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
