//! Stopping a store waits for its final commit: when the daemon's shutdown (or a delete)
//! returns, the Cancelled sync log of a run it interrupted is already on disk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::time::Duration;

use actors_support::*;
use shoptet_sync::actors::SyncKind;
use shoptet_sync::domain::SyncStatus;
use shoptet_sync::sim::FaultConfig;

const DEADLINE: Duration = Duration::from_secs(20);

#[actix_rt::test]
async fn shutdown_returns_after_the_cancelled_runs_are_on_disk() {
    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    settings.interval_override = Some(Duration::from_secs(3600));
    let env = Env::start(settings);
    let integration = env.add_shop("shop", &sim, "MAIN").await;
    // Every request now takes long: the next orders run is cut short by the shutdown.
    sim.set_faults(FaultConfig {
        latency_ms: 3000,
        ..FaultConfig::default()
    });
    let daemon = env.daemon.clone();
    actix_rt::spawn(async move {
        let _ = daemon.sync("shop", SyncKind::Orders, true).await;
    });
    wait_for("the orders run in flight", DEADLINE, || async {
        let status = env.daemon.status().await.ok()?;
        let store = status.stores.into_iter().find(|s| s.name == "shop")?;
        store.running.contains(&SyncKind::Orders).then_some(())
    })
    .await;
    env.daemon.shutdown().await.unwrap();
    let logs = env
        .store
        .sync_logs(
            integration.id,
            chrono::Utc::now() - chrono::TimeDelta::hours(1),
        )
        .unwrap();
    assert!(
        logs.iter().any(|l| l.status == SyncStatus::Cancelled),
        "the shutdown returned before the store committed its cancelled run: {logs:?}"
    );
    sim.shutdown().await;
}
