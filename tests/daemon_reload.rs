#![allow(clippy::unwrap_used, clippy::expect_used)]
//! SIGHUP re-reads the configuration: a new log level applies at once, a newly declared
//! integration appears, settings that need a restart are reported and kept, and an invalid
//! file is rejected as a whole while the daemon keeps running on the old configuration.

mod daemon_support;

use std::time::Duration;

use daemon_support::{Env, ctl, integration_block, small_shop, start_sim, wait_active};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_a_valid_configuration_and_rejects_an_invalid_one() {
    let sim = start_sim(small_shop(0)).await;
    let env = Env::new();
    // Start quiet: only warnings and errors.
    env.write_config("warn", "");
    let mut daemon = env.start(&[]);
    daemon
        .wait_ready(&env.socket(), Duration::from_secs(30))
        .await;
    assert!(
        !daemon.stderr().contains("INFO"),
        "info lines at level warn: {}",
        daemon.stderr()
    );

    // Reload with level info and a declared integration.
    let token = env.token_file("second", &sim);
    env.write_config("info", &integration_block("second", &sim, &token));
    daemon.signal(libc::SIGHUP);
    daemon
        .wait_log("configuration reloaded", Duration::from_secs(10))
        .await;
    assert!(daemon.stderr().contains("INFO"), "{}", daemon.stderr());
    wait_active(&env.socket(), "second", Duration::from_secs(30)).await;

    // A setting that needs a restart is reported, and the running value kept.
    let moved = env
        .config_text("info", &integration_block("second", &sim, &token))
        .replace(
            &format!("socket_path = \"{}\"", env.socket().display()),
            &format!(
                "socket_path = \"{}\"",
                env.path().join("moved.sock").display()
            ),
        );
    std::fs::write(env.config(), moved).unwrap();
    daemon.signal(libc::SIGHUP);
    daemon
        .wait_log("take effect only after a restart", Duration::from_secs(10))
        .await;
    assert!(daemon.stderr().contains("control.socket_path"));
    assert!(env.socket().exists());
    assert!(!env.path().join("moved.sock").exists());

    // An invalid file that also lowers the level: rejected whole, nothing of it applied.
    let broken = env
        .config_text("error", &integration_block("second", &sim, &token))
        .replace("[log]", "[log]\ncolour = true");
    std::fs::write(env.config(), broken).unwrap();
    daemon.signal(libc::SIGHUP);
    daemon
        .wait_log("was rejected", Duration::from_secs(10))
        .await;
    assert!(
        daemon.stderr().contains("log.colour"),
        "{}",
        daemon.stderr()
    );
    // Logged at info after the rejection: the level is still info, not the file's "error".
    daemon
        .wait_log("keeping the running configuration", Duration::from_secs(10))
        .await;
    let status = ctl(&env.socket(), &["status"]).await.json();
    assert_eq!(status["data"]["stores"].as_array().unwrap().len(), 1);

    daemon.signal(libc::SIGTERM);
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
}

/// A declaration that cannot be applied (its name clashes, ignoring case, with an integration
/// created through the socket) does not stop the others, and the reload says at error level that
/// it was only partly applied instead of "configuration reloaded".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_applies_only_part_says_so_at_error_level() {
    let sim = start_sim(small_shop(0)).await;
    let env = Env::new();
    env.write_config("info", "");
    let mut daemon = env.start(&[]);
    daemon
        .wait_ready(&env.socket(), Duration::from_secs(30))
        .await;
    let created = ctl(
        &env.socket(),
        &[
            "integration",
            "create",
            "CLASH",
            "--shop-url",
            "https://clash.example",
        ],
    )
    .await;
    assert!(created.status.success(), "{}", created.stderr);

    let token = env.token_file("good", &sim);
    let blocks = format!(
        "{}\n{}",
        integration_block("clash", &sim, &token),
        integration_block("good", &sim, &token)
    );
    env.write_config("info", &blocks);
    daemon.signal(libc::SIGHUP);
    daemon
        .wait_log("configuration partly reloaded", Duration::from_secs(10))
        .await;
    let log = daemon.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("configuration partly reloaded"))
        .unwrap();
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("clash"), "{line}");
    assert!(!line.contains("good"), "{line}");
    assert!(
        !log.contains("configuration reloaded"),
        "a partial reload must not claim success: {log}"
    );
    // The other declaration was applied.
    wait_active(&env.socket(), "good", Duration::from_secs(30)).await;

    daemon.signal(libc::SIGTERM);
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
}
