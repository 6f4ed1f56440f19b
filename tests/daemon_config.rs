#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Invalid configurations are refused at start with exit status 78 and a message naming the
//! file, line and key; `--check-config` validates without starting; a data directory held by
//! another daemon is refused with 73.

mod daemon_support;

use std::time::Duration;

use daemon_support::{Daemon, Env, run_syncd};

/// Writes `text` as the config, runs the daemon on it and returns (exit code, stderr).
fn refused(env: &Env, text: &str, extra_args: &[&str]) -> (Option<i32>, String) {
    std::fs::write(env.config(), text).unwrap();
    let config = env.config();
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(extra_args);
    let out = run_syncd(&args, env.path());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn invalid_configurations_exit_78_naming_key_and_line() {
    let env = Env::new();
    let base = env.config_text("info", "");
    let file = env.config().display().to_string();

    // An unknown key (a typo) in [control], on line 6 of the file.
    let typo = base.replace("socket_path =", "socket_pth =");
    let line = typo
        .lines()
        .position(|l| l.starts_with("socket_pth"))
        .unwrap()
        + 1;
    let (code, stderr) = refused(&env, &typo, &[]);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains(&format!("{file}:{line}:")), "{stderr}");
    assert!(stderr.contains("control.socket_pth"), "{stderr}");
    assert!(stderr.contains("unknown field"), "{stderr}");

    // A value out of range.
    let range = format!("{base}\n[sync]\ninterval_minutes = 0\n");
    let line = range
        .lines()
        .position(|l| l.starts_with("interval_minutes"))
        .unwrap()
        + 1;
    let (code, stderr) = refused(&env, &range, &[]);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains(&format!(":{line}:")), "{stderr}");
    assert!(stderr.contains("sync.interval_minutes"), "{stderr}");
    assert!(stderr.contains("out of range"), "{stderr}");

    // A wrong type.
    let wrong = base.replace(
        "shutdown_timeout_secs = 15",
        "shutdown_timeout_secs = \"soon\"",
    );
    let (code, stderr) = refused(&env, &wrong, &[]);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("shutdown_timeout_secs"), "{stderr}");

    // A broken log level.
    let level = base.replace("level = \"info\"", "level = \"info,=[bad\"");
    let (code, stderr) = refused(&env, &level, &[]);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("log.level"), "{stderr}");

    // A declared integration whose token file is missing: named, and no secret involved.
    let missing = format!(
        "{base}\n[[integration]]\nname = \"shop\"\neshop_url = \"https://shop.example.cz\"\ntoken_file = \"missing.token\"\nwarehouse_code = \"MAIN\"\nactivate = true\n"
    );
    let (code, stderr) = refused(&env, &missing, &[]);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("integration[0].token_file"), "{stderr}");
    assert!(stderr.contains("missing.token"), "{stderr}");

    // --check-config reports the same without starting anything.
    let (code, stderr) = refused(&env, &typo, &["--check-config"]);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("control.socket_pth"), "{stderr}");

    // Nothing was started by any of these.
    assert!(!env.socket().exists());
    assert!(!env.data_dir().exists());
}

#[test]
fn a_missing_configuration_file_is_refused() {
    let env = Env::new();
    let out = run_syncd(&["--config", "nope.toml"], env.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("nope.toml"), "{stderr}");
}

#[test]
fn check_config_accepts_a_valid_file() {
    let env = Env::new();
    env.write_config("debug", "");
    let config = env.config();
    let out = run_syncd(
        &["--config", config.to_str().unwrap(), "--check-config"],
        env.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert!(
        stdout.contains(&env.data_dir().display().to_string()),
        "{stdout}"
    );
    assert!(
        !env.data_dir().exists(),
        "--check-config does not create the store"
    );
}

#[test]
fn bad_command_lines_exit_64_or_clap_usage() {
    let env = Env::new();
    // --restore needs --data-dir (clap's own usage error, status 2).
    let out = run_syncd(&["--restore", "x.backup"], env.path());
    assert_eq!(out.status.code(), Some(2));
    // A socket path too long for a Unix socket address.
    let long = format!("{}/{}/ctl.sock", env.path().display(), "d".repeat(120));
    let out = run_syncd(&["--socket", &long, "--check-config"], env.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("107 bytes"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_data_directory_exits_73() {
    let env = Env::new();
    env.write_config("info", "");
    let mut first = env.start(&[]);
    first
        .wait_ready(&env.socket(), Duration::from_secs(30))
        .await;

    let config = env.config();
    let other_socket = env.path().join("other.sock");
    let mut second = Daemon::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--socket",
            other_socket.to_str().unwrap(),
        ],
        env.path(),
        &[],
        &env.logs(),
    );
    let status = second.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(73), "{}", second.stderr());
    assert!(
        second
            .stderr()
            .contains(&env.data_dir().display().to_string()),
        "{}",
        second.stderr()
    );
    assert!(!other_socket.exists());

    // The first one is unaffected.
    first
        .wait_ready(&env.socket(), Duration::from_secs(5))
        .await;
    first.signal(libc::SIGTERM);
    assert_eq!(
        first.wait_exit(Duration::from_secs(20)).await.code(),
        Some(0)
    );
}
