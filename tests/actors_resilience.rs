//! Failure handling against the simulator: the shop goes down and comes back (test 4); the actor
//! system stops in the middle of a sync and starts again on the same data (test 8); queries are
//! answered promptly while a slow sync is in flight (test 9).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use actors_support::*;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shoptet_sync::actors::messages::OrderListQuery;
use shoptet_sync::actors::{Daemon, SyncKind};
use shoptet_sync::domain::{HealthStatus, OutboxState, SyncStatus, SyncType};
use shoptet_sync::sim::{FaultConfig, ItemSpec, OrderSpec, STATUS_COMPLETED, STATUS_PROCESSING};

const DEADLINE: Duration = Duration::from_secs(30);

fn order_of(code: &str, quantity: i64) -> OrderSpec {
    OrderSpec {
        items: vec![ItemSpec::new(code.to_owned(), quantity)],
        ..OrderSpec::default()
    }
}

async fn all_orders(daemon: &Daemon, name: &str) -> Vec<shoptet_sync::domain::Order> {
    let query = OrderListQuery {
        page_size: 1000,
        ..OrderListQuery::default()
    };
    daemon.list_orders(name, query).await.unwrap().items
}

#[actix_rt::test]
async fn an_outage_fails_and_backs_off_queries_answer_and_everything_converges_after() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    env.add_shop("shop", &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, "shop", &sim, 10).await;
    wait_real_stock(&sim, &codes[0], 10, DEADLINE).await;
    let first = sim.create_order(&order_of(&codes[0], 1)).unwrap();
    wait_for("the first order imported", DEADLINE, || async {
        env.daemon.get_order("shop", &first).await.ok()
    })
    .await;
    env.daemon
        .process_order("shop", &first, None)
        .await
        .unwrap();
    wait_for("'processing' reached the shop", DEADLINE, || async {
        (sim.order(&first)?.status_id == STATUS_PROCESSING).then_some(())
    })
    .await;

    // The shop goes down.
    sim.set_maintenance(true);
    let down_at = Utc::now();
    let second = sim.create_order(&order_of(&codes[1], 2)).unwrap();
    env.daemon
        .ship_order("shop", &first, Some("OUT-1"), None)
        .await
        .unwrap();
    env.daemon
        .set_stock("shop", &codes[2], Decimal::from(15))
        .await
        .unwrap();

    wait_for("a failed orders sync logged", DEADLINE, || async {
        let errors = env.daemon.errors("shop", false).await.ok()?;
        errors
            .iter()
            .any(|e| e.message.starts_with("unable to connect to Shoptet API"))
            .then_some(())
    })
    .await;
    let health = wait_for("health degrades", DEADLINE, || async {
        let health = env.daemon.health("shop").await.ok()?;
        (health.report.health != HealthStatus::Healthy).then_some(health)
    })
    .await;
    assert!(matches!(
        health.report.health,
        HealthStatus::Warning | HealthStatus::Critical
    ));
    // Queries answer at once from the cached state.
    for _ in 0..10 {
        let asked = Instant::now();
        let order = env.daemon.get_order("shop", &first).await.unwrap();
        assert_eq!(order.tracking_number.as_deref(), Some("OUT-1"));
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "{:?}",
            asked.elapsed()
        );
    }
    let pending = env
        .daemon
        .outbox("shop", Some(OutboxState::Pending))
        .await
        .unwrap();
    assert_eq!(
        pending.len(),
        2,
        "tracking number and status wait in the outbox"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sim.set_maintenance(false);
    let outage = (Utc::now() - down_at).to_std().unwrap();

    // Backoff, not a tight loop: few failed runs over the outage.
    let history = env.daemon.sync_history("shop", 1).await.unwrap();
    let failed_orders = history
        .iter()
        .filter(|l| l.sync_type == SyncType::Orders && l.status == SyncStatus::Failed)
        .count();
    assert!(failed_orders >= 2, "{failed_orders} failed orders runs");
    let ceiling = (outage.as_millis() / 100) as usize;
    assert!(
        failed_orders < ceiling,
        "{failed_orders} failed runs in {outage:?}"
    );

    // Everything converges: the new order, the pending pushes, the stock change.
    wait_for(
        "the order placed during the outage imported",
        DEADLINE,
        || async { env.daemon.get_order("shop", &second).await.ok() },
    )
    .await;
    wait_for("the shipment reached the shop", DEADLINE, || async {
        let order = sim.order(&first)?;
        (order.status_id == STATUS_COMPLETED && order.tracking_number.as_deref() == Some("OUT-1"))
            .then_some(())
    })
    .await;
    wait_real_stock(&sim, &codes[2], 15, DEADLINE).await;
    wait_for("the outbox drained", DEADLINE, || async {
        env.daemon
            .outbox("shop", None)
            .await
            .ok()?
            .is_empty()
            .then_some(())
    })
    .await;
    assert_eq!(all_orders(&env.daemon, "shop").await.len(), 2);
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn a_restart_in_the_middle_of_a_sync_loses_and_duplicates_nothing() {
    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    settings.orders_page_size = 4;
    let env = Env::start(settings.clone());
    let integration = env.add_shop("shop", &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, "shop", &sim, 500).await;
    wait_real_stock(&sim, &codes[0], 500, DEADLINE).await;
    let first = sim.create_order(&order_of(&codes[0], 1)).unwrap();
    wait_for("the first order imported", DEADLINE, || async {
        env.daemon.get_order("shop", &first).await.ok()
    })
    .await;
    let cursor_before: DateTime<Utc> = wait_for("a cursor committed", DEADLINE, || async {
        env.store.get_meta(integration.id, "orders.cursor").unwrap()
    })
    .await;

    // The status push of the first order keeps failing; every request is slow.
    let mut faults = FaultConfig {
        latency_ms: 40,
        path_prefix: Some(format!("/api/orders/{first}/")),
        ..FaultConfig::default()
    };
    faults.error_rates = BTreeMap::from([(503, 1.0)]);
    sim.set_faults(faults);
    env.daemon
        .process_order("shop", &first, Some("pick-r"))
        .await
        .unwrap();
    let mut placed: BTreeSet<String> = BTreeSet::from([first.clone()]);
    for i in 0..30 {
        placed.insert(
            sim.create_order(&order_of(&codes[i % codes.len()], 1))
                .unwrap(),
        );
    }
    // Stop while the run is between pages.
    wait_for("the import under way", DEADLINE, || async {
        let n = all_orders(&env.daemon, "shop").await.len();
        (n > 1 && n < placed.len()).then_some(())
    })
    .await;
    env.daemon.shutdown().await.unwrap();

    let kept: BTreeMap<String, uuid::Uuid> = env
        .store
        .load_state(integration.id)
        .unwrap()
        .unwrap()
        .orders
        .into_iter()
        .map(|o| (o.code.clone(), o.id))
        .collect();
    assert!(
        kept.len() > 1 && kept.len() < placed.len(),
        "{} kept",
        kept.len()
    );
    assert!(kept.keys().all(|code| placed.contains(code)));
    let outbox = env.store.outbox(integration.id).unwrap();
    assert_eq!(outbox.len(), 1, "the unsent status push survives");
    assert_eq!(outbox[0].order_code, first);
    let cursor_after: DateTime<Utc> = env
        .store
        .get_meta(integration.id, "orders.cursor")
        .unwrap()
        .unwrap();
    assert_eq!(
        cursor_after, cursor_before,
        "an unfinished run does not move the cursor"
    );
    let logs = env
        .store
        .sync_logs(integration.id, cursor_before - chrono::TimeDelta::days(1))
        .unwrap();
    assert!(logs.iter().any(|l| l.status == SyncStatus::Cancelled));

    // Start again on the same data, with the shop healthy.
    sim.set_faults(FaultConfig::default());
    let daemon = Daemon::start(env.store.clone(), settings);
    wait_for("every shop order imported", DEADLINE, || async {
        let orders = daemon
            .list_orders(
                "shop",
                OrderListQuery {
                    page_size: 1000,
                    ..Default::default()
                },
            )
            .await
            .ok()?;
        (orders.total as usize == placed.len()).then_some(orders.items)
    })
    .await;
    let orders = all_orders(&daemon, "shop").await;
    let codes_now: BTreeSet<String> = orders.iter().map(|o| o.code.clone()).collect();
    assert_eq!(codes_now, placed, "each shop order exactly once");
    for order in &orders {
        if let Some(id) = kept.get(&order.code) {
            assert_eq!(&order.id, id, "order {} was re-imported", order.code);
        }
    }
    wait_for("the surviving push reached the shop", DEADLINE, || async {
        (sim.order(&first)?.status_id == STATUS_PROCESSING).then_some(())
    })
    .await;
    wait_for("the outbox drained", DEADLINE, || async {
        daemon
            .outbox("shop", None)
            .await
            .ok()?
            .is_empty()
            .then_some(())
    })
    .await;
    let cursor: DateTime<Utc> = env
        .store
        .get_meta(integration.id, "orders.cursor")
        .unwrap()
        .unwrap();
    assert!(cursor >= cursor_before);
    daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn queries_answer_promptly_while_a_slow_sync_is_in_flight() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    env.add_shop("shop", &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, "shop", &sim, 10).await;
    wait_real_stock(&sim, &codes[0], 10, DEADLINE).await;
    sim.set_faults(FaultConfig {
        latency_ms: 1500,
        ..FaultConfig::default()
    });
    let daemon = env.daemon.clone();
    let slow = actix_rt::spawn(async move { daemon.sync("shop", SyncKind::Products, true).await });
    wait_for("the products sync in flight", DEADLINE, || async {
        let status = env.daemon.status().await.ok()?;
        status.stores[0]
            .running
            .contains(&SyncKind::Products)
            .then_some(())
    })
    .await;
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let asked = Instant::now();
        env.daemon.get_integration("shop").await.unwrap();
        env.daemon
            .list_orders("shop", OrderListQuery::default())
            .await
            .unwrap();
        env.daemon
            .list_products("shop", Default::default())
            .await
            .unwrap();
        env.daemon.health("shop").await.unwrap();
        slowest = slowest.max(asked.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(500),
        "queries took up to {slowest:?}"
    );
    let status = env.daemon.status().await.unwrap();
    assert!(
        status.stores[0].running.contains(&SyncKind::Products),
        "the sync was still running"
    );
    // A second forced request for the same kind waits for the run in flight and runs once
    // more, answering with that run (never "already running").
    let daemon = env.daemon.clone();
    let again = actix_rt::spawn(async move { daemon.sync("shop", SyncKind::Products, true).await });
    sim.set_faults(FaultConfig::default());
    let report = slow.await.unwrap().unwrap();
    assert_eq!(report.status, SyncStatus::Completed);
    let second = again.await.unwrap().unwrap();
    assert_eq!(second.status, SyncStatus::Completed);
    assert!(
        second.started_at >= report.finished_at,
        "{report:?} then {second:?}"
    );
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn an_outage_keeps_one_open_error_per_kind_and_queries_do_not_read_the_error_log() {
    use shoptet_sync::store::TreeId;

    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    settings.interval_override = Some(Duration::from_secs(3600));
    let env = Env::start(settings);
    env.add_shop("shop", &sim, "MAIN").await;
    wait_for("the first orders run over", DEADLINE, || async {
        let integration = env.daemon.get_integration("shop").await.ok()?;
        integration.last_order_sync.map(|_| ())
    })
    .await;

    sim.set_maintenance(true);
    for _ in 0..3 {
        let report = env
            .daemon
            .sync("shop", SyncKind::Orders, true)
            .await
            .unwrap();
        assert_eq!(report.status, SyncStatus::Failed, "{report:?}");
    }
    let outage_errors = |errors: Vec<shoptet_sync::domain::ErrorLog>| -> Vec<_> {
        errors
            .into_iter()
            .filter(|e| {
                e.sync_type == Some(SyncType::Orders)
                    && e.message.starts_with("unable to connect to Shoptet API")
            })
            .collect()
    };
    let open = outage_errors(env.daemon.errors("shop", false).await.unwrap());
    assert_eq!(open.len(), 1, "one open entry per outage: {open:?}");
    assert!(
        open[0]
            .details
            .as_deref()
            .is_some_and(|d| d.starts_with("failed 3 times")),
        "{open:?}"
    );

    // Status and health count the open errors from memory.
    let before = env.store.records_read(TreeId::Errors);
    for _ in 0..5 {
        env.daemon.status().await.unwrap();
        let health = env.daemon.health("shop").await.unwrap();
        assert!(health.unresolved_error_count >= 1);
    }
    assert_eq!(
        env.store.records_read(TreeId::Errors),
        before,
        "status and health decoded the error log"
    );

    // Back up, then down again: a new outage, a new entry.
    sim.set_maintenance(false);
    env.daemon
        .sync("shop", SyncKind::Orders, true)
        .await
        .unwrap();
    sim.set_maintenance(true);
    env.daemon
        .sync("shop", SyncKind::Orders, true)
        .await
        .unwrap();
    let open = outage_errors(env.daemon.errors("shop", false).await.unwrap());
    assert_eq!(open.len(), 2, "{open:?}");
    sim.set_maintenance(false);
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
