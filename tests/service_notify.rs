#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The sd_notify protocol, received on a test datagram socket as systemd would.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shoptet_sync::service::notify::{Notifier, NotifyState, run_watchdog};

fn recv(socket: &UnixDatagram) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("a notification within 5 s");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

fn drain(socket: &UnixDatagram) -> Vec<String> {
    socket.set_nonblocking(true).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    out
}

#[test]
fn lifecycle_messages_arrive_on_a_path_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let systemd = UnixDatagram::bind(&path).unwrap();
    let notifier = Notifier::with_address(path.to_str().unwrap()).unwrap();
    assert!(notifier.is_enabled());

    notifier.ready("2 stores active, 0 in error").unwrap();
    assert_eq!(
        recv(&systemd),
        "READY=1\nSTATUS=2 stores active, 0 in error\n"
    );
    notifier.watchdog().unwrap();
    assert_eq!(recv(&systemd), "WATCHDOG=1\n");
    notifier.reloading("reloading configuration").unwrap();
    assert_eq!(
        recv(&systemd),
        "RELOADING=1\nSTATUS=reloading configuration\n"
    );
    notifier.status("syncing demo\norders").unwrap();
    assert_eq!(recv(&systemd), "STATUS=syncing demo orders\n");
    notifier.stopping("draining 1 sync").unwrap();
    assert_eq!(recv(&systemd), "STOPPING=1\nSTATUS=draining 1 sync\n");
    notifier
        .notify(&[NotifyState::ExtendTimeout(Duration::from_secs(10))])
        .unwrap();
    assert_eq!(recv(&systemd), "EXTEND_TIMEOUT_USEC=10000000\n");
}

#[test]
fn abstract_socket_addresses_work() {
    let name = format!(
        "shoptet-sync-test-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    );
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let systemd = UnixDatagram::bind_addr(&addr).unwrap();
    let notifier = Notifier::with_address(&format!("@{name}")).unwrap();
    notifier.ready("up").unwrap();
    assert_eq!(recv(&systemd), "READY=1\nSTATUS=up\n");
}

#[test]
fn sending_to_a_vanished_socket_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.sock");
    let notifier = Notifier::with_address(path.to_str().unwrap()).unwrap();
    assert!(notifier.watchdog().is_err());
}

/// Pings follow healthy probes only: two healthy answers, then a failing and a hanging probe.
#[tokio::test]
async fn watchdog_pings_only_while_the_probe_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let systemd = UnixDatagram::bind(&path).unwrap();
    let notifier = Notifier::with_address(path.to_str().unwrap()).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let probe_calls = calls.clone();
    let probe = move || {
        let n = probe_calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            match n {
                1 | 2 => true,
                3 => false,
                // A stuck actor system: the probe never answers and times out.
                _ => std::future::pending::<bool>().await,
            }
        }
    };
    let watchdog = tokio::spawn(async move {
        run_watchdog(&notifier, Duration::from_millis(10), probe).await;
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls.load(Ordering::SeqCst) < 6 {
        assert!(Instant::now() < deadline, "the watchdog stopped probing");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    watchdog.abort();
    let received = drain(&systemd);
    assert_eq!(received, vec!["WATCHDOG=1\n".to_owned(); 2]);
}
