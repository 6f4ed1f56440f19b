#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `shoptetctl backup FILE` writes a consistent snapshot while the daemon runs;
//! `shoptet-syncd --restore FILE --data-dir DIR` restores it into an empty directory only; a
//! daemon started on the restored directory serves the same data.

mod daemon_support;

use std::time::Duration;

use daemon_support::{
    Env, ctl, integration_block, order_codes, run_syncd, small_shop, start_sim, sync_orders,
    wait_active,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_running_then_restore_into_a_new_directory() {
    let sim = start_sim(small_shop(0)).await;
    sim.create_random_orders(8);
    let env = Env::new();
    let token = env.token_file("shop", &sim);
    env.write_config("info", &integration_block("shop", &sim, &token));
    let mut daemon = env.start(&[]);
    daemon
        .wait_ready(&env.socket(), Duration::from_secs(30))
        .await;
    wait_active(&env.socket(), "shop", Duration::from_secs(30)).await;
    sync_orders(&env.socket(), "shop").await;
    let mut codes = order_codes(&env.socket(), "shop").await.unwrap();
    codes.sort();
    assert_eq!(codes.len(), 8);
    ctl(&env.socket(), &["order", "process", "shop", &codes[0]])
        .await
        .json();

    // Backup through the real shoptetctl while the daemon runs.
    let backup = env.path().join("snap.backup");
    let answer = ctl(&env.socket(), &["backup", backup.to_str().unwrap()])
        .await
        .json();
    let bytes = answer["data"]["bytes"].as_u64().unwrap();
    assert!(bytes > 0);
    assert_eq!(std::fs::metadata(&backup).unwrap().len(), bytes);
    // The daemon keeps serving after the backup.
    assert!(ctl(&env.socket(), &["status"]).await.status.success());
    daemon.signal(libc::SIGTERM);
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );

    // Restore into a new directory.
    let restored = Env::new();
    let out = run_syncd(
        &[
            "--restore",
            backup.to_str().unwrap(),
            "--data-dir",
            restored.data_dir().to_str().unwrap(),
        ],
        restored.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("restored"), "{stdout}");
    assert!(
        stdout.contains("integration shop: Active, 8 orders"),
        "{stdout}"
    );

    // A second restore into the now non-empty directory is refused with 73.
    let again = run_syncd(
        &[
            "--restore",
            backup.to_str().unwrap(),
            "--data-dir",
            restored.data_dir().to_str().unwrap(),
        ],
        restored.path(),
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(73), "{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");

    // A file that is not a backup is refused, and leaves the target empty.
    let junk = restored.path().join("junk.backup");
    std::fs::write(&junk, b"definitely not a backup").unwrap();
    let target = restored.path().join("other");
    let bad = run_syncd(
        &[
            "--restore",
            junk.to_str().unwrap(),
            "--data-dir",
            target.to_str().unwrap(),
        ],
        restored.path(),
    );
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a shoptet-sync backup"), "{stderr}");
    assert!(
        !target.exists() || std::fs::read_dir(&target).unwrap().next().is_none(),
        "a failed restore leaves nothing behind"
    );

    // A daemon on the restored directory (no declared integrations) has the same data.
    restored.write_config("info", "");
    let mut second = restored.start(&[]);
    second
        .wait_ready(&restored.socket(), Duration::from_secs(30))
        .await;
    let mut after = order_codes(&restored.socket(), "shop").await.unwrap();
    after.sort();
    assert_eq!(after, codes);
    let order = ctl(&restored.socket(), &["order", "get", "shop", &codes[0]])
        .await
        .json();
    assert_eq!(order["data"]["status"], "Processing", "{order}");
    second.signal(libc::SIGTERM);
    assert_eq!(
        second.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_into_the_data_directory_is_refused_over_the_socket() {
    let sim = start_sim(small_shop(0)).await;
    let env = Env::new();
    let token = env.token_file("shop", &sim);
    env.write_config("info", &integration_block("shop", &sim, &token));
    let mut daemon = env.start(&[]);
    daemon
        .wait_ready(&env.socket(), Duration::from_secs(30))
        .await;
    wait_active(&env.socket(), "shop", Duration::from_secs(30)).await;
    std::os::unix::fs::symlink(env.data_dir(), env.path().join("link")).unwrap();
    let live_db = env.data_dir().join("db");
    for target in [
        live_db.clone(),
        env.path().join("logs/../data/db"),
        env.path().join("link/db"),
    ] {
        let out = ctl(&env.socket(), &["backup", target.to_str().unwrap()]).await;
        assert!(
            !out.status.success(),
            "{}: {}",
            target.display(),
            out.stdout
        );
        let answer: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("no JSON ({e}): {}{}", out.stdout, out.stderr));
        assert_eq!(answer["error"]["code"], "invalid_argument", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("inside the data directory"), "{message}");
    }
    assert!(ctl(&env.socket(), &["status"]).await.status.success());
    daemon.signal(libc::SIGTERM);
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
    // The live database was not replaced: a restart still has the integration.
    env.write_config("info", "");
    let mut again = env.start(&[]);
    again
        .wait_ready(&env.socket(), Duration::from_secs(30))
        .await;
    let answer = ctl(&env.socket(), &["integration", "get", "shop"])
        .await
        .json();
    assert_eq!(answer["data"]["status"], "Active", "{answer}");
    again.signal(libc::SIGTERM);
    assert_eq!(
        again.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_are_written_at_start_and_rotated() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let dir = env.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    // Two old scheduled backups, one crashed partial, and a file of the operator's.
    let old = [
        dir.join("shoptet-sync-20200101T000000.000Z.backup"),
        dir.join("shoptet-sync-20200102T000000.000Z.backup"),
    ];
    for file in &old {
        std::fs::write(file, b"old").unwrap();
    }
    let partial = dir.join("shoptet-sync-20200103T000000.000Z.backup.partial");
    std::fs::write(&partial, b"half").unwrap();
    std::fs::write(dir.join("README"), b"mine").unwrap();
    env.write_config(
        "info",
        &format!(
            "[backup]\ndir = \"{}\"\ninterval_hours = 24\nkeep = 2\n",
            dir.display()
        ),
    );
    let mut daemon = env.start(&[]);
    daemon
        .wait_ready(&env.socket(), Duration::from_secs(30))
        .await;
    daemon
        .wait_log("scheduled backup written", Duration::from_secs(30))
        .await;
    let backups = shoptet_sync::store::backup::scheduled_backups(&dir).unwrap();
    assert_eq!(backups.len(), 2, "{backups:?}");
    assert_eq!(backups[1], old[1]);
    assert!(!old[0].exists());
    assert!(!partial.exists());
    assert!(dir.join("README").exists());
    let mode = std::fs::metadata(&backups[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    daemon.signal(libc::SIGTERM);
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
    // The new backup restores.
    let restored = Env::new();
    let out = run_syncd(
        &[
            "--restore",
            backups[0].to_str().unwrap(),
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
