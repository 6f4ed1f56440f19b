#![allow(clippy::unwrap_used, clippy::expect_used)]
//! SIGTERM while a sync runs against a slow shop: the daemon exits 0 within its deadline, the
//! socket is gone, and the store (reopened after exit) holds everything committed before, with
//! the status push either still queued or delivered. A second SIGTERM, or a shop that hangs,
//! cuts the graceful shutdown short without damaging the store.

mod daemon_support;

use std::time::{Duration, Instant};

use daemon_support::{
    Env, ctl, integration_block, order_codes, small_shop, start_sim, sync_orders, wait_active,
    wait_for,
};
use shoptet_sync::domain::{IntegrationStatus, OrderStatus};
use shoptet_sync::sim::{FaultConfig, STATUS_PROCESSING, SimHandle};
use shoptet_sync::store::Store;

const SHOP: &str = "shop";

/// Starts the daemon with a declared, activated integration against `sim`.
async fn started(env: &Env, sim: &SimHandle, shutdown_secs: u64) -> daemon_support::Daemon {
    let token = env.token_file(SHOP, sim);
    let text = env
        .config_text("info", &integration_block(SHOP, sim, &token))
        .replace(
            "shutdown_timeout_secs = 15",
            &format!("shutdown_timeout_secs = {shutdown_secs}"),
        );
    std::fs::write(env.config(), text).unwrap();
    let mut daemon = env.start(&[]);
    daemon
        .wait_ready(&env.socket(), Duration::from_secs(30))
        .await;
    wait_active(&env.socket(), SHOP, Duration::from_secs(30)).await;
    daemon
}

/// Starts `sync orders --force` through the real shoptetctl without waiting for it.
fn start_sync(env: &Env) -> tokio::task::JoinHandle<daemon_support::CtlOutput> {
    let socket = env.socket();
    tokio::spawn(async move { ctl(&socket, &["sync", "orders", SHOP, "--force"]).await })
}

/// Waits until the shop has served `n` more order-detail requests than `before`.
async fn wait_details(sim: &SimHandle, before: u64, n: u64) {
    wait_for(
        "order detail requests of the running sync",
        Duration::from_secs(30),
        || (sim.counters().requests("GET /api/orders/{code}") >= before + n).then_some(()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_sync_exits_0_and_loses_nothing() {
    let sim = start_sim(small_shop(0)).await;
    sim.create_random_orders(12);
    let env = Env::new();
    let mut daemon = started(&env, &sim, 15).await;

    // A first import completes; one order is then processed (a status push is queued).
    sync_orders(&env.socket(), SHOP).await;
    let imported = order_codes(&env.socket(), SHOP).await.unwrap();
    assert_eq!(imported.len(), 12);
    let processed = imported[0].clone();
    ctl(&env.socket(), &["order", "process", SHOP, &processed])
        .await
        .json();

    // New orders, a slow shop, and a sync in flight when SIGTERM arrives.
    sim.create_random_orders(10);
    sim.set_faults(FaultConfig {
        latency_ms: 300,
        ..FaultConfig::default()
    });
    let before = sim.counters().requests("GET /api/orders/{code}");
    let running = start_sync(&env);
    wait_details(&sim, before, 1).await;
    let signalled = Instant::now();
    daemon.signal(libc::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    assert!(
        signalled.elapsed() < Duration::from_secs(17),
        "within the deadline"
    );
    assert!(!env.socket().exists(), "the control socket was removed");
    // The caller of the interrupted sync got an answer or a closed connection, not a hang.
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap();

    // Reopen the store as the next start would.
    let store = Store::open(env.data_dir()).expect("the store is released and opens");
    store.check_integrity().expect("the store is consistent");
    let integration = store
        .integrations()
        .unwrap()
        .into_iter()
        .find(|i| i.name == SHOP)
        .unwrap();
    assert_eq!(integration.status, IntegrationStatus::Active);
    let state = store.load_state(integration.id).unwrap().unwrap();
    let held: Vec<&str> = state.orders.iter().map(|o| o.code.as_str()).collect();
    for code in &imported {
        assert!(held.contains(&code.as_str()), "order {code} was lost");
    }
    let order = store.order(integration.id, &processed).unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::Processing);
    let queued = state.outbox.iter().any(|e| e.order_code == processed);
    let delivered = sim.order(&processed).unwrap().status_id == STATUS_PROCESSING;
    assert!(
        queued || delivered,
        "the status push of {processed} is neither queued nor delivered"
    );
    // The interrupted run was cancelled and recorded as such.
    let logs = store
        .sync_logs(integration.id, chrono::DateTime::<chrono::Utc>::MIN_UTC)
        .unwrap();
    assert!(
        logs.iter().any(|l| l
            .notes
            .as_deref()
            .is_some_and(|n| n.contains("cancelled by shutdown"))),
        "no cancelled run in {logs:?}"
    );
    // Orders of the interrupted sync are either complete or absent (never half-written).
    for order in &state.orders {
        assert!(!order.items.is_empty(), "order {} has no items", order.code);
    }
    drop(store);

    // A restart on the same store finishes the job.
    let mut again = env.start(&[]);
    again
        .wait_ready(&env.socket(), Duration::from_secs(30))
        .await;
    sim.set_faults(FaultConfig::default());
    sync_orders(&env.socket(), SHOP).await;
    let after = order_codes(&env.socket(), SHOP).await.unwrap();
    assert_eq!(after.len(), 22);
    again.signal(libc::SIGTERM);
    assert_eq!(
        again.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_hanging_on_the_shop_is_cancelled_and_a_second_sigterm_is_safe() {
    let sim = start_sim(small_shop(0)).await;
    sim.create_random_orders(5);
    let env = Env::new();
    let hang = FaultConfig {
        hang_rate: 1.0,
        hang_ms: 120_000,
        path_prefix: Some("/api/orders".to_owned()),
        ..FaultConfig::default()
    };

    // The shop hangs for two minutes on every order request; one SIGTERM still stops the
    // daemon within seconds (the run is cancelled, not waited for) with exit 0.
    let mut daemon = started(&env, &sim, 20).await;
    // A scheduled run may reach the hanging shop before the forced one (which then answers
    // "already running"): either way a request hangs, which is what is waited for (setting
    // faults restarts the simulator's count of injected faults).
    sim.set_faults(hang.clone());
    let running = start_sync(&env);
    wait_for(
        "a sync to hang on the shop",
        Duration::from_secs(30),
        || (sim.counters().faults_injected > 0).then_some(()),
    )
    .await;
    let signalled = Instant::now();
    daemon.signal(libc::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(25)).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "{:?}",
        signalled.elapsed()
    );
    assert!(!env.socket().exists());
    let answer = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !answer.status.success(),
        "the interrupted sync did not report success"
    );
    let store = Store::open(env.data_dir()).unwrap();
    store.check_integrity().unwrap();
    drop(store);

    // Two SIGTERMs back to back (systemd's stop, then an impatient operator): exit 0, a
    // consistent store, no socket left behind.
    sim.set_faults(FaultConfig::default());
    let mut daemon = started(&env, &sim, 20).await;
    sim.set_faults(hang);
    let _running = start_sync(&env);
    wait_for(
        "a sync to hang on the shop",
        Duration::from_secs(30),
        || (sim.counters().faults_injected > 0).then_some(()),
    )
    .await;
    daemon.signal(libc::SIGTERM);
    daemon.signal(libc::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    assert!(!env.socket().exists());
    let store = Store::open(env.data_dir()).unwrap();
    store.check_integrity().unwrap();
    assert_eq!(store.integrations().unwrap().len(), 1);
}
