#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The daemon refuses to start on a damaged store (exit 73) with a message naming the problem
//! and the newest backup; `shoptet-syncd --check-store` runs the same check offline.

mod daemon_support;

use std::time::Duration;

use daemon_support::{
    Env, ctl, integration_block, order_codes, run_syncd, small_shop, start_sim, sync_orders,
    wait_active,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_store_is_refused_at_start_naming_the_newest_backup() {
    let sim = start_sim(small_shop(0)).await;
    sim.create_random_orders(12);
    let env = Env::new();
    let backups = env.path().join("backups");
    let token = env.token_file("shop", &sim);
    let backup_block = format!(
        "[backup]\ndir = \"{}\"\ninterval_hours = 24\nkeep = 3\n",
        backups.display()
    );
    env.write_config(
        "info",
        &format!(
            "{backup_block}\n{}",
            integration_block("shop", &sim, &token)
        ),
    );
    let mut daemon = env.start(&[]);
    daemon
        .wait_ready(&env.socket(), Duration::from_secs(30))
        .await;
    wait_active(&env.socket(), "shop", Duration::from_secs(30)).await;
    sync_orders(&env.socket(), "shop").await;
    assert_eq!(order_codes(&env.socket(), "shop").await.unwrap().len(), 12);
    daemon
        .wait_log("scheduled backup written", Duration::from_secs(30))
        .await;
    // A manual backup after the sync, into the same directory: the newest one.
    let manual = backups.join("after-sync.backup");
    ctl(&env.socket(), &["backup", manual.to_str().unwrap()])
        .await
        .json();
    daemon.signal(libc::SIGTERM);
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
    let newest = shoptet_sync::store::backup::newest_backup(&backups).unwrap();
    assert_eq!(newest, manual);
    let config = env.config();
    let check = |cwd: &std::path::Path| {
        run_syncd(
            &["--config", config.to_str().unwrap(), "--check-store"],
            cwd,
        )
    };

    // Intact: the offline check says so.
    let out = check(env.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("store intact"), "{stdout}");

    // sled loses orders while the daemon is stopped (what a damaged page does).
    {
        let db = sled::open(env.data_dir()).unwrap();
        let orders = db.open_tree("orders").unwrap();
        let keys: Vec<_> = orders.iter().keys().take(5).map(Result::unwrap).collect();
        for key in keys {
            orders.remove(key).unwrap();
        }
        db.flush().unwrap();
    }

    let out = check(env.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(73), "{stderr}");
    assert!(stderr.contains("is damaged"), "{stderr}");
    assert!(
        stderr.contains("tree orders holds 7 records but 12"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("newest backup: {}", newest.display())),
        "{stderr}"
    );

    // The daemon itself refuses too, before binding its socket.
    let mut refused = env.start(&[]);
    let status = refused.wait_exit(Duration::from_secs(30)).await;
    let stderr = refused.stderr();
    assert_eq!(status.code(), Some(73), "{stderr}");
    assert!(stderr.contains("is damaged"), "{stderr}");
    assert!(stderr.contains("tree orders holds 7 records"), "{stderr}");
    assert!(stderr.contains(newest.to_str().unwrap()), "{stderr}");
    assert!(!env.socket().exists());

    // The named backup restores to a store that passes the check and holds every order.
    let restored = Env::new();
    let out = run_syncd(
        &[
            "--restore",
            newest.to_str().unwrap(),
            "--data-dir",
            restored.data_dir().to_str().unwrap(),
        ],
        restored.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("integration shop: Active, 12 orders"),
        "{stdout}"
    );
    let out = run_syncd(
        &[
            "--check-store",
            "--data-dir",
            restored.data_dir().to_str().unwrap(),
        ],
        restored.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
