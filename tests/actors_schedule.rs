//! What a full sync runs with and without `force`, and which runs leave a sync log entry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::time::Duration;

use actors_support::*;
use shoptet_sync::actors::messages::{IntegrationUpdate, NewIntegrationSpec};
use shoptet_sync::actors::{Daemon, SyncKind, SyncSettings};
use shoptet_sync::domain::{Credentials, Secret, SyncType};
use shoptet_sync::sim::SimHandle;

const DEADLINE: Duration = Duration::from_secs(20);
const ORDER_CHANGES: &str = "GET /api/orders/changes";

/// Scheduled runs only at start: the test starts every later run itself.
fn settings() -> SyncSettings {
    SyncSettings {
        interval_override: Some(Duration::from_secs(3600)),
        ..fast_settings()
    }
}

/// A store whose automatic order import is switched off.
async fn add_shop_without_order_import(daemon: &Daemon, sim: &SimHandle) {
    let spec = NewIntegrationSpec {
        name: "shop".to_owned(),
        eshop_url: sim.eshop_url(),
        api_base_url: Some(sim.base_url()),
        credentials: Some(Credentials::PrivateToken(Secret::new(sim.private_token()))),
        settings: IntegrationUpdate {
            default_warehouse_code: Some("MAIN".to_owned()),
            auto_order_import: Some(false),
            ..IntegrationUpdate::default()
        },
    };
    daemon.create_integration(spec).await.unwrap();
    daemon.activate("shop").await.unwrap();
}

#[actix_rt::test]
async fn a_full_sync_skips_switched_off_and_undue_steps_unless_forced() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(settings());
    add_shop_without_order_import(&env.daemon, &sim).await;
    wait_products(&env.daemon, "shop", sim.variant_codes().len()).await;
    // (The warehouse holds nothing yet: the run has nothing to send and moves no sync time.)
    wait_for("the first inventory run", DEADLINE, || async {
        let logs = env.daemon.sync_history("shop", 1).await.ok()?;
        logs.iter()
            .any(|l| l.sync_type == SyncType::Inventory)
            .then_some(())
    })
    .await;
    assert_eq!(sim.counters().requests(ORDER_CHANGES), 0, "import is off");

    let reports = env.daemon.full_sync("shop", false).await.unwrap();
    let kinds: Vec<SyncKind> = reports.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, SyncKind::FULL_SYNC);
    assert!(reports[0].performed, "products are always due");
    assert!(!reports[1].performed, "order import is switched off");
    assert!(
        reports[1].message.contains("switched off"),
        "{}",
        reports[1].message
    );
    assert!(!reports[2].performed, "inventory ran a moment ago");
    assert!(
        reports[2].message.contains("not due"),
        "{}",
        reports[2].message
    );
    assert_eq!(sim.counters().requests(ORDER_CHANGES), 0);

    let reports = env.daemon.full_sync("shop", true).await.unwrap();
    let kinds: Vec<SyncKind> = reports.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, SyncKind::FULL_SYNC);
    assert!(reports.iter().all(|r| r.performed), "{reports:?}");
    assert!(sim.counters().requests(ORDER_CHANGES) >= 1);
    let history = env.daemon.sync_history("shop", 1).await.unwrap();
    assert!(history.iter().any(|l| l.sync_type == SyncType::Orders));
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

async fn logs_of(daemon: &Daemon, sync_type: SyncType) -> Vec<shoptet_sync::domain::SyncLog> {
    daemon
        .sync_history("shop", 1)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.sync_type == sync_type)
        .collect()
}

#[actix_rt::test]
async fn an_empty_price_push_is_logged_only_when_forced() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(settings());
    env.add_shop("shop", &sim, "MAIN").await;
    let codes = sim.variant_codes();
    wait_products(&env.daemon, "shop", codes.len()).await;
    wait_for("the first orders run logged", DEADLINE, || async {
        (!logs_of(&env.daemon, SyncType::Orders).await.is_empty()).then_some(())
    })
    .await;
    env.daemon.shutdown().await.unwrap();

    // Every kind runs once when an actor starts; the empty price push leaves no trace.
    let daemon = Daemon::start(env.store.clone(), settings());
    wait_for("the orders run after the restart", DEADLINE, || async {
        (logs_of(&daemon, SyncType::Orders).await.len() == 2).then_some(())
    })
    .await;
    assert!(logs_of(&daemon, SyncType::Prices).await.is_empty());
    let report = daemon.sync("shop", SyncKind::Prices, false).await.unwrap();
    assert!(!report.performed, "{report:?}");
    assert!(logs_of(&daemon, SyncType::Prices).await.is_empty());

    // Forced, it is logged even with nothing to push.
    let report = daemon.sync("shop", SyncKind::Prices, true).await.unwrap();
    assert!(report.performed);
    let logs = logs_of(&daemon, SyncType::Prices).await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].records_processed, 0);

    // A price change is work: its push is logged.
    daemon
        .update_price("shop", &codes[0], "99.90".parse().unwrap(), "test")
        .await
        .unwrap();
    wait_for("the price push logged", DEADLINE, || async {
        let logs = logs_of(&daemon, SyncType::Prices).await;
        logs.iter().any(|l| l.records_processed == 1).then_some(())
    })
    .await;
    daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
