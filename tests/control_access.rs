//! Regression tests: who the control server lets in. The configuration promises
//! "administrators are always allowed", and a peer's supplementary groups count even when
//! `/proc` is hidden (`ProtectProc=invisible`) or the peer has already exited.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod control_double;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use control_double::MemoryHandler;
use shoptet_sync::config::{DaemonConfig, PeerAccess};
use shoptet_sync::control::protocol::*;
use shoptet_sync::control::{ControlClient, ControlServer, ServerConfig};
use shoptet_sync::domain::Secret;
use shoptet_sync::service::daemon::server_config;
use tokio::sync::oneshot;

const DAEMON_UID: u32 = 999_999;
const DEADLINE: Duration = Duration::from_secs(20);
/// Env var telling the helper test below which socket to connect to.
const HELPER_SOCKET_ENV: &str = "SHOPTET_SYNC_TEST_PEER_SOCKET";
/// A supplementary group nobody has on this machine.
const PEER_GROUP: u32 = 4_242_424;

#[test]
fn an_admin_listed_only_under_admin_users_may_connect() {
    let mut config = DaemonConfig::default();
    config.access.admin_uids.insert(4242);
    config.access.admin_gids.insert(4343);
    // The configuration's own rule (config/mod.rs, and the example file's comment).
    assert_eq!(config.access.decide(4242, 1, DAEMON_UID), PeerAccess::Admin);
    assert_eq!(
        config.access.decide(5000, 4343, DAEMON_UID),
        PeerAccess::Admin
    );
    // What the running server enforces.
    let server = server_config(&config);
    assert!(
        server.is_allowed(DAEMON_UID, 4242, &[1]),
        "uid 4242 is in admin_uids but the control server refuses it (`unauthorized`)"
    );
    assert!(
        server.is_allowed(DAEMON_UID, 5000, &[4343]),
        "gid 4343 is in admin_gids but the control server refuses its members"
    );
}

struct Running {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    handler: Arc<MemoryHandler>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ControlError>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("server stops in time")
            .unwrap()
            .unwrap();
    }
}

/// The daemon's server settings for `config`, with root and our own uid not trusted (tests run
/// as root), bound in a fresh directory; `before_run` runs between bind and serve.
async fn start(mut config: DaemonConfig, before_run: impl FnOnce(&std::path::Path)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    config.control.socket_path = path.clone();
    let mut server: ServerConfig = server_config(&config);
    server.always_allow_root = false;
    server.always_allow_own_uid = false;
    let handler = Arc::new(MemoryHandler::default());
    let bound = ControlServer::bind(server).unwrap();
    before_run(&path);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(bound.run(handler.clone(), async move {
        let _ = stopped.await;
    }));
    Running {
        _dir: dir,
        path,
        handler,
        stop,
        task,
    }
}

fn create_demo() -> Request {
    Request::IntegrationCreate(NewIntegration {
        name: "demo".into(),
        eshop_url: "https://demo.myshoptet.com".into(),
        api_base_url: None,
        credentials: Some(CredentialsInput {
            kind: CredentialsKind::PrivateToken,
            token: Secret::new("access-test-token"),
        }),
        default_warehouse_code: Some("MAIN".into()),
        shoptet_stock_id: None,
        sync_interval_minutes: None,
        auto_order_import: None,
        auto_inventory_sync: None,
        auto_status_update: None,
        status_mapping: None,
        low_stock_threshold: None,
    })
}

#[tokio::test]
async fn the_server_lets_admin_only_peers_in_and_change_state() {
    let own = std::fs::metadata("/proc/self").unwrap();
    // Listed as an admin by uid only.
    let mut by_uid = DaemonConfig::default();
    by_uid.access.admin_uids.insert(own.uid());
    // Listed as an admin by (primary) group only.
    let mut by_gid = DaemonConfig::default();
    by_gid.access.admin_gids.insert(own.gid());
    for config in [by_uid, by_gid] {
        let running = start(config, |_| {}).await;
        let mut client = ControlClient::connect(&running.path)
            .await
            .unwrap()
            .with_timeout(DEADLINE);
        client.call(Request::DaemonStatus {}).await.unwrap();
        client.call(create_demo()).await.unwrap();
        assert_eq!(running.handler.state.lock().unwrap().integrations.len(), 1);
        running.stop().await;
    }
    // Neither listed nor trusted: refused.
    let running = start(DaemonConfig::default(), |_| {}).await;
    let mut client = ControlClient::connect(&running.path)
        .await
        .unwrap()
        .with_timeout(DEADLINE);
    assert!(client.call(Request::DaemonStatus {}).await.is_err());
    running.stop().await;
}

/// A peer allowed through a supplementary group connects, sends a request and exits before the
/// server has even accepted the connection. Its groups must come from the socket (recorded at
/// connect time), not from `/proc/PID/status`, which is gone by then (and, under the unit's
/// `ProtectProc=invisible`, never visible for other users at all).
#[tokio::test]
async fn supplementary_groups_count_even_after_the_peer_exited() {
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    if !root || !setpriv.exists() {
        eprintln!("skipped: needs root and setpriv to give a child a supplementary group");
        return;
    }
    let mut config = DaemonConfig::default();
    config.access.allowed_gids.insert(PEER_GROUP);
    let running = start(config, |path| {
        // Bound but not serving yet: the child's connection waits in the backlog.
        let status = std::process::Command::new(setpriv)
            .arg(format!("--groups={PEER_GROUP}"))
            .arg("--")
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "peer_helper_connects_sends_and_exits",
                "--ignored",
                "--test-threads=1",
                "--quiet",
            ])
            .env(HELPER_SOCKET_ENV, path)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "the helper peer failed: {status}");
    })
    .await;
    let started = Instant::now();
    while running.handler.calls.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < DEADLINE,
            "the exited peer's request was never served: its supplementary group was not seen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let callers = running.handler.state.lock().unwrap().callers.clone();
    assert!(
        callers.iter().all(|caller| !caller.is_admin),
        "allowed, not admin"
    );
    running.stop().await;
}

/// Not a test on its own: the peer process of the test above (runs only when the env var is
/// set, i.e. when started by that test).
#[test]
#[ignore = "helper process for supplementary_groups_count_even_after_the_peer_exited"]
fn peer_helper_connects_sends_and_exits() {
    let Some(path) = std::env::var_os(HELPER_SOCKET_ENV) else {
        return;
    };
    let mut stream = std::os::unix::net::UnixStream::connect(path).unwrap();
    stream
        .write_all(b"{\"v\":1,\"id\":1,\"op\":\"daemon.status\",\"args\":{}}\n")
        .unwrap();
}
