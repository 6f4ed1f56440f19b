//! Regression test: the configuration promises "administrators are always allowed", but the
//! control server built from it refuses a peer listed only under `admin_*`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use shoptet_sync::config::{DaemonConfig, PeerAccess};
use shoptet_sync::service::daemon::server_config;

const DAEMON_UID: u32 = 999_999;

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
