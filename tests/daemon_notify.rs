#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real daemon speaks the sd_notify protocol to a socket standing in for systemd: READY=1
//! only once the control socket exists with mode 0660, STATUS= with it, WATCHDOG=1 pings when
//! WATCHDOG_USEC is set, RELOADING=1 and READY=1 around a SIGHUP, STOPPING=1 with EXTEND_TIMEOUT_USEC on SIGTERM.

mod daemon_support;

use std::time::Duration;

use daemon_support::{Env, NotifySocket};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_watchdog_reload_and_stopping_reach_systemd() {
    let env = Env::new();
    env.write_config("info", "");
    let notify_path = env.path().join("notify.sock");
    let systemd = NotifySocket::bind(&notify_path, &env.socket());
    let mut daemon = env.start(&[
        ("NOTIFY_SOCKET", notify_path.to_str().unwrap()),
        ("WATCHDOG_USEC", "400000"),
    ]);

    let ready = systemd.wait_line("READY=1", Duration::from_secs(30)).await;
    assert_eq!(
        ready.socket_mode,
        Some(0o660),
        "READY=1 arrived before the control socket existed with mode 0660"
    );
    let status = ready
        .text
        .lines()
        .find_map(|l| l.strip_prefix("STATUS="))
        .expect("READY=1 comes with a STATUS= line");
    assert!(status.contains("0 stores"), "{status}");
    let first = systemd.received();
    assert!(
        first
            .iter()
            .take_while(|n| !n.text.contains("READY=1"))
            .all(|n| !n.text.contains("WATCHDOG=1") && !n.text.contains("STOPPING=1")),
        "nothing but READY comes first: {first:?}"
    );

    // Pings every WATCHDOG_USEC / 2 while the actor system answers.
    daemon_support::wait_for("three watchdog pings", Duration::from_secs(10), || {
        (systemd.count("WATCHDOG=1") >= 3).then_some(())
    })
    .await;
    let pings: Vec<_> = systemd
        .received()
        .into_iter()
        .filter(|n| n.text.contains("WATCHDOG=1"))
        .collect();
    assert!(pings.iter().all(|p| p.at >= ready.at));

    // SIGHUP: RELOADING=1, then READY=1 again.
    daemon.signal(libc::SIGHUP);
    systemd
        .wait_line("RELOADING=1", Duration::from_secs(10))
        .await;
    daemon_support::wait_for("READY=1 after the reload", Duration::from_secs(10), || {
        (systemd.count("READY=1") >= 2).then_some(())
    })
    .await;

    daemon.signal(libc::SIGTERM);
    let stopping = systemd
        .wait_line("STOPPING=1", Duration::from_secs(10))
        .await;
    assert!(stopping.text.contains("STATUS="), "{}", stopping.text);
    // The configured shutdown deadline (15 s here) may exceed the unit's TimeoutStopSec: the
    // daemon asks systemd for that long, plus the final flush and a margin.
    let extend: u64 = stopping
        .text
        .lines()
        .find_map(|l| l.strip_prefix("EXTEND_TIMEOUT_USEC="))
        .expect("STOPPING=1 comes with EXTEND_TIMEOUT_USEC=")
        .parse()
        .unwrap();
    let expected = shoptet_sync::service::daemon::stop_budget(Duration::from_secs(15));
    assert_eq!(u128::from(extend), expected.as_micros());
    assert!(expected > Duration::from_secs(15));
    let status = daemon.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    assert!(!env.socket().exists(), "the control socket was removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_watchdog_pings_without_watchdog_usec() {
    let env = Env::new();
    env.write_config("info", "");
    let notify_path = env.path().join("notify.sock");
    let systemd = NotifySocket::bind(&notify_path, &env.socket());
    let mut daemon = env.start(&[("NOTIFY_SOCKET", notify_path.to_str().unwrap())]);
    systemd.wait_line("READY=1", Duration::from_secs(30)).await;
    // A status call goes through the actor system; afterwards still no ping was sent.
    daemon
        .wait_ready(&env.socket(), Duration::from_secs(10))
        .await;
    assert_eq!(systemd.count("WATCHDOG=1"), 0);
    daemon.signal(libc::SIGINT);
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
    systemd
        .wait_line("STOPPING=1", Duration::from_secs(5))
        .await;
    assert_eq!(systemd.count("STOPPING=1"), 1);
}
