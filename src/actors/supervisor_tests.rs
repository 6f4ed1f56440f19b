//! The supervisor restarts an integration actor that stopped on a fatal error: after a backoff
//! that grows while the actor keeps failing, with an error-log entry, and from disk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::{Duration, Instant};

use crate::actors::messages::{IntegrationUpdate, NewIntegrationSpec};
use crate::actors::{ActorError, Daemon, SyncSettings};
use crate::domain::{ErrorLog, ErrorSeverity, SyncType};
use crate::store::Store;

const DEADLINE: Duration = Duration::from_secs(20);
const BASE: Duration = Duration::from_millis(300);

async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn settings() -> SyncSettings {
    SyncSettings {
        restart_backoff_base: BASE,
        restart_backoff_max: Duration::from_secs(10),
        request_timeout: Duration::from_secs(5),
        ..SyncSettings::default()
    }
}

async fn restart_entries(daemon: &Daemon) -> Vec<ErrorLog> {
    daemon
        .errors("shop", true)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.message.contains("stopped on a fatal error"))
        .collect()
}

/// Injects a fatal error and waits until the store answers again; returns how long it was down.
async fn crash_and_wait(daemon: &Daemon, reason: &str) -> Duration {
    let crashed = Instant::now();
    daemon.inject_fatal("shop", reason).await.unwrap();
    // Meanwhile requests answer "restarting" (or "not running"), never hang.
    let err = wait_for("the store reported down", || async {
        daemon.get_integration("shop").await.err()
    })
    .await;
    assert!(matches!(err, ActorError::Unavailable(_)), "{err}");
    wait_for("the store listed as restarting", || async {
        let status = daemon.status().await.ok()?;
        status.restarting.contains(&"shop".to_owned()).then_some(())
    })
    .await;
    wait_for("the store answering again", || async {
        daemon.get_integration("shop").await.ok()
    })
    .await;
    crashed.elapsed()
}

#[actix_rt::test]
async fn an_actor_stopped_by_a_fatal_error_is_restarted_with_backoff_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    store
        .install_sealer_blocking(crate::secrets::Sealer::ephemeral())
        .unwrap();
    let daemon = Daemon::start(store, settings());
    let spec = NewIntegrationSpec {
        name: "shop".to_owned(),
        eshop_url: "https://shop.example.cz".to_owned(),
        api_base_url: None,
        credentials: None,
        settings: IntegrationUpdate::default(),
    };
    daemon.create_integration(spec).await.unwrap();
    let update = IntegrationUpdate {
        sync_interval_minutes: Some(42),
        ..IntegrationUpdate::default()
    };
    daemon.update_integration("shop", update).await.unwrap();

    let down = crash_and_wait(&daemon, "store commit failed: injected").await;
    assert!(down >= BASE, "restarted after {down:?}, before the backoff");
    let logged = wait_for("the failure in the error log", || async {
        let entries = restart_entries(&daemon).await;
        (!entries.is_empty()).then_some(entries)
    })
    .await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].severity, ErrorSeverity::Critical);
    assert_eq!(logged[0].sync_type, Some(SyncType::System));
    assert!(logged[0].message.contains("restart 1"), "{:?}", logged[0]);
    assert_eq!(
        logged[0].details.as_deref(),
        Some("store commit failed: injected")
    );
    // The restarted actor loaded its state from disk and answers every query.
    let integration = daemon.get_integration("shop").await.unwrap();
    assert_eq!(integration.sync_interval_minutes, 42);
    daemon
        .list_orders("shop", Default::default())
        .await
        .unwrap();
    daemon
        .list_products("shop", Default::default())
        .await
        .unwrap();
    daemon.health("shop").await.unwrap();
    assert!(daemon.status().await.unwrap().restarting.is_empty());

    // Failing again soon after the restart doubles the wait.
    let down = crash_and_wait(&daemon, "store commit failed: injected again").await;
    assert!(down >= BASE * 2, "second restart after {down:?}");
    let logged = wait_for("the second failure in the error log", || async {
        let entries = restart_entries(&daemon).await;
        (entries.len() == 2).then_some(entries)
    })
    .await;
    assert!(
        logged.iter().any(|e| e.message.contains("restart 2")),
        "{logged:?}"
    );
    daemon.get_integration("shop").await.unwrap();
    daemon.shutdown().await.unwrap();
}
