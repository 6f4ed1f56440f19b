#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The shipped unit and the code agree: exit codes, paths, notify type and watchdog.

use shoptet_sync::config::{
    DEFAULT_CONFIG_PATH, DEFAULT_DATA_DIR, DEFAULT_SOCKET_PATH, DaemonConfig,
};
use shoptet_sync::service::exit_code;

const UNIT: &str = include_str!("../systemd/shoptet-syncd.service");
const SYSUSERS: &str = include_str!("../systemd/shoptet-sync.sysusers");

fn values(key: &str) -> Vec<&'static str> {
    UNIT.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

fn value(key: &str) -> &'static str {
    let v = values(key);
    assert_eq!(v.len(), 1, "{key} set {} times", v.len());
    v[0]
}

#[test]
fn unit_matches_code_defaults() {
    assert_eq!(value("Type"), "notify");
    assert_eq!(value("NotifyAccess"), "main");
    assert_eq!(
        value("ExecStart"),
        format!("/usr/bin/shoptet-syncd --config {DEFAULT_CONFIG_PATH}")
    );
    // Neither an invalid configuration nor a damaged store is fixed by restarting.
    assert_eq!(
        value("RestartPreventExitStatus"),
        format!("{} {}", exit_code::CONFIG, exit_code::CANT_CREATE)
    );
    assert_eq!(value("Restart"), "on-failure");
    // The directories systemd creates are the ones the defaults use.
    let name = value("StateDirectory");
    assert_eq!(format!("/var/lib/{name}"), DEFAULT_DATA_DIR);
    let runtime = value("RuntimeDirectory");
    assert!(DEFAULT_SOCKET_PATH.starts_with(&format!("/run/{runtime}/")));
    let config = value("ConfigurationDirectory");
    assert!(DEFAULT_CONFIG_PATH.starts_with(&format!("/etc/{config}/")));
    // The unit's user exists per the sysusers file.
    let user = value("User");
    assert!(
        SYSUSERS
            .lines()
            .any(|l| l.starts_with(&format!("u {user} ")))
    );
}

#[test]
fn stop_timeout_leaves_room_for_the_graceful_shutdown() {
    let stop: u64 = value("TimeoutStopSec").parse().unwrap();
    let graceful = DaemonConfig::default().shutdown_timeout.as_secs();
    assert!(stop >= graceful + 10, "TimeoutStopSec {stop} vs {graceful}");
    let watchdog: u64 = value("WatchdogSec").parse().unwrap();
    assert!(watchdog >= 10);
}

#[test]
fn hardening_essentials_are_present() {
    for (key, expected) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ] {
        assert_eq!(value(key), expected, "{key}");
    }
    assert!(values("SystemCallFilter").contains(&"@system-service"));
    // PrivateUsers would hide ctl users' real uids from the SO_PEERCRED check.
    assert!(values("PrivateUsers").is_empty());
}
