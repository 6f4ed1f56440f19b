//! Regression test (issue 9, finding 7): an allowed read-only user holding many slow and idle
//! control connections cannot lock an administrator out.
//!
//! The reader is a helper process run under another uid (`setpriv`), so the server sees two real
//! peers: that read-only user and root, an administrator. Needs root and `setpriv`; skipped with a
//! message elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod control_double;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use control_double::MemoryHandler;
use shoptet_sync::control::protocol::*;
use shoptet_sync::control::{ControlClient, ControlServer, ServerConfig};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

/// The read-only user's uid and gid (nobody has them on a test machine).
const READER_ID: u32 = 4_242_421;
/// Env var telling the helper below which socket to flood.
const HELPER_SOCKET_ENV: &str = "SHOPTET_SYNC_TEST_LOCKOUT_SOCKET";
const SLOW_CONNECTIONS: usize = 70;
const IDLE_CONNECTIONS: usize = 64;
const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_of_a_reader_do_not_lock_an_admin_out() {
    let root = std::fs::metadata("/proc/self")
        .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0)
        .unwrap_or(false);
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    if !root || !setpriv.exists() {
        eprintln!("skipped: needs root and setpriv to connect as a second user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("control.sock");
    // The daemon's defaults, the reader allowed (read-only) and reaching the socket through its
    // group; root stays an administrator.
    let mut config = ServerConfig::new(&path);
    config.group = Some(READER_ID.to_string());
    config.access.allowed_uids = [READER_ID].into();
    let handler = Arc::new(MemoryHandler::default());
    let server = ControlServer::bind(config).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(handler.clone(), async move {
        let _ = stopped.await;
    }));

    let mut reader = KillOnDrop(
        std::process::Command::new(setpriv)
            .arg(format!("--reuid={READER_ID}"))
            .arg(format!("--regid={READER_ID}"))
            .arg("--clear-groups")
            .arg("--")
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "helper_reader_floods_the_socket",
                "--ignored",
                "--test-threads=1",
                "--nocapture",
                "--quiet",
            ])
            .env(HELPER_SOCKET_ENV, &path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = reader.0.stdout.take().unwrap();
    let ready = tokio::time::timeout(
        DEADLINE,
        tokio::task::spawn_blocking(move || {
            std::io::BufRead::lines(std::io::BufReader::new(stdout))
                .map_while(Result::ok)
                .any(|line| line.trim() == "flooding")
        }),
    )
    .await
    .expect("the reader helper starts flooding in time")
    .unwrap();
    assert!(ready, "the reader helper exited before flooding");
    // Let the slow senders trickle a little.
    tokio::time::sleep(Duration::from_millis(300)).await;

    for attempt in 0..3 {
        let started = Instant::now();
        let answered = tokio::time::timeout(Duration::from_secs(1), async {
            let mut admin = ControlClient::connect(&path)
                .await
                .unwrap()
                .with_timeout(DEADLINE);
            admin.call(Request::DaemonStatus {}).await
        })
        .await;
        let answered = answered.unwrap_or_else(|_| {
            panic!(
                "attempt {attempt}: the administrator's status did not answer within 1 s while a reader holds {SLOW_CONNECTIONS} slow and {IDLE_CONNECTIONS} idle connections"
            )
        });
        assert!(
            matches!(answered, Ok(Response::DaemonStatus(_))),
            "attempt {attempt}: {answered:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    let calls = handler.state.lock().unwrap().callers.clone();
    assert!(
        calls
            .iter()
            .all(|caller| caller.is_admin && caller.uid == 0),
        "only the administrator's requests reached the handler: {calls:?}"
    );

    drop(reader);
    let _ = stop.send(());
    tokio::time::timeout(DEADLINE, task)
        .await
        .expect("server stops in time")
        .unwrap()
        .unwrap();
}

/// The helper process, killed (and reaped) however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Not a test on its own: the read-only user of the test above (runs only when the env var is
/// set, i.e. when started by that test). Opens slow connections that trickle a request line one
/// byte at a time and idle ones that send nothing, then keeps trickling until killed.
#[tokio::test]
#[ignore = "helper process for slow_and_idle_connections_of_a_reader_do_not_lock_an_admin_out"]
async fn helper_reader_floods_the_socket() {
    let Some(path) = std::env::var_os(HELPER_SOCKET_ENV) else {
        return;
    };
    let mut slow = Vec::new();
    for _ in 0..SLOW_CONNECTIONS {
        let mut stream = tokio::net::UnixStream::connect(&path).await.unwrap();
        let _ = stream.write_all(b"{").await;
        slow.push(stream);
    }
    let mut idle = Vec::new();
    for _ in 0..IDLE_CONNECTIONS {
        idle.push(tokio::net::UnixStream::connect(&path).await.unwrap());
    }
    println!("flooding");
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    loop {
        ticks.tick().await;
        for stream in &mut slow {
            let _ = stream.write_all(b" ").await;
        }
    }
}
