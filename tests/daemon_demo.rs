#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `shoptet-syncd --demo` in a fresh directory: prints the shoptetctl commands, imports orders
//! from its simulated shop within seconds (seen through the real shoptetctl), stops cleanly on
//! SIGTERM, and a second run reuses the same state.

mod daemon_support;

use std::path::Path;
use std::time::{Duration, Instant};

use daemon_support::{Daemon, order_codes};

/// Polls the real shoptetctl until the demo holds at least `at_least` orders.
async fn imported(socket: &Path, at_least: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        if let Some(codes) = order_codes(socket, "demo").await
            && codes.len() >= at_least
        {
            return codes;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the demo imported fewer than {at_least} orders in 90 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_syncs_real_orders_and_stops_cleanly() {
    let cwd = tempfile::Builder::new().prefix("demo").tempdir().unwrap();
    let logs = cwd.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let socket = cwd.path().join("shoptet-demo/control.sock");

    let mut demo = Daemon::start(&["--demo"], cwd.path(), &[], &logs);
    demo.wait_ready(&socket, Duration::from_secs(60)).await;
    let first = imported(&socket, 1).await;
    // A clean start warns about nothing: the demo's first forced orders sync joins the one
    // activation started instead of failing as "already running".
    demo.wait_log("demo: first orders sync", Duration::from_secs(60))
        .await;
    let log = demo.stderr();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("already running"))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
    let banner = demo.stdout();
    assert!(
        banner.contains(&format!("shoptetctl --socket {}", socket.display())),
        "{banner}"
    );
    assert!(banner.contains("orders list demo"), "{banner}");
    assert!(banner.contains("stock set demo"), "{banner}");
    demo.signal(libc::SIGTERM);
    let status = demo.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", demo.stderr());
    assert!(!socket.exists());
    assert!(cwd.path().join("shoptet-demo/data").is_dir());

    // Second run: same folder, the integration and its orders are still there.
    let mut again = Daemon::start(&["--demo"], cwd.path(), &[], &logs);
    again.wait_ready(&socket, Duration::from_secs(60)).await;
    again
        .wait_log("reusing the demo integration", Duration::from_secs(60))
        .await;
    let second = imported(&socket, first.len()).await;
    for code in &first {
        assert!(
            second.contains(code),
            "order {code} from the first run is gone"
        );
    }
    again.signal(libc::SIGINT);
    let status = again.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", again.stderr());
}
