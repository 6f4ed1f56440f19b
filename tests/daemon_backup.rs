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
    // The tokens in the backup are sealed: the restored store needs the key they were sealed with.
    std::fs::copy(env.key_file(), restored.key_file()).unwrap();
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
