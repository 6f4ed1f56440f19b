//! End to end through the real binaries: the integration lifecycle (create from a token file
//! and from stdin, get, list, update, credentials, activate with a private and an OAuth token,
//! deactivate, delete), the error codes a person meets through shoptetctl (exit 1), usage
//! errors (exit 2), an unreachable daemon (exit 3), and backup + restore.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::process::{Command, Stdio};

use e2e_support::*;
use serde_json::Value;

const WRONG_TOKEN: &str = "e2e-wrong-token-0c1d2e3f4a5b-SECRET";

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_lifecycle_and_credentials_through_the_ctl() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    let (shop, api) = (sim.eshop_url(), sim.base_url());

    // Created from stdin, with settings.
    let run = syncd
        .ctl_stdin(
            &[
                "--json",
                "integration",
                "create",
                "alpha",
                "--shop-url",
                &shop,
                "--api-url",
                &api,
                "--token-stdin",
                "--warehouse",
                "W1",
                "--stock-id",
                "1",
                "--status-ids",
                "-2,-3,-4",
                "--auto-import",
                "false",
                "--low-stock",
                "4",
            ],
            &format!("{PRIVATE_TOKEN}\n"),
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let alpha = run.json();
    assert_eq!(alpha["type"], "integration");
    let alpha = &alpha["data"];
    assert_eq!(alpha["name"], "alpha");
    assert_eq!(alpha["status"], "Inactive");
    assert_eq!(alpha["credentials"], "private_token");
    assert_eq!(alpha["default_warehouse_code"], "W1");
    assert_eq!(alpha["auto_order_import"], false);
    assert_eq!(alpha["status_mapping"]["shipped"], -3);
    assert_eq!(alpha["api_base_url"], api.as_str());

    // Created without credentials: cannot be activated until it has some. Another e-shop (one
    // shop cannot back two integrations).
    let sim_b = start_sim(small_shop()).await;
    let beta = syncd
        .ok(
            "integration",
            &[
                "integration",
                "create",
                "beta",
                "--shop-url",
                &sim_b.eshop_url(),
                "--api-url",
                &sim_b.base_url(),
            ],
        )
        .await;
    assert!(beta["credentials"].is_null());
    let message = syncd
        .refused("conflict", &["integration", "activate", "beta"])
        .await;
    assert!(message.contains("beta"), "{message}");
    syncd
        .refused(
            "conflict",
            &["integration", "create", "alpha", "--shop-url", &shop],
        )
        .await;

    let list = syncd.ok("integrations", &["integration", "list"]).await;
    assert_eq!(names(&list), vec!["alpha", "beta"]);
    let got = syncd
        .ok("integration", &["integration", "get", "alpha"])
        .await;
    assert_eq!(got["id"], alpha["id"]);

    // An addon OAuth token from a file; activation mints API tokens from it.
    let oauth_file = syncd.file("beta.oauth", &format!("{OAUTH_TOKEN}\n"));
    let with_oauth = syncd
        .ok(
            "integration",
            &[
                "integration",
                "credentials",
                "beta",
                "--oauth-token-file",
                &oauth_file,
            ],
        )
        .await;
    assert_eq!(with_oauth["credentials"], "addon_oauth");
    let active = syncd
        .ok("integration", &["integration", "activate", "beta"])
        .await;
    assert_eq!(active["status"], "Active");
    assert!(sim_b.counters().tokens_minted >= 1);
    let active = syncd
        .ok("integration", &["integration", "activate", "alpha"])
        .await;
    assert_eq!(active["status"], "Active");

    // Update: rename and settings; the old name is gone.
    let renamed = syncd
        .ok(
            "integration",
            &[
                "integration",
                "update",
                "alpha",
                "--rename",
                "gamma",
                "--interval",
                "30",
                "--auto-import",
                "true",
            ],
        )
        .await;
    assert_eq!(renamed["name"], "gamma");
    assert_eq!(renamed["id"], alpha["id"]);
    assert_eq!(renamed["sync_interval_minutes"], 30);
    assert_eq!(renamed["auto_order_import"], true);
    syncd
        .refused("not_found", &["integration", "get", "alpha"])
        .await;
    syncd
        .refused(
            "invalid_argument",
            &["integration", "update", "gamma", "--interval", "0"],
        )
        .await;

    // Deactivate with a reason; syncs of an inactive store are refused.
    let inactive = syncd
        .ok(
            "integration",
            &[
                "integration",
                "deactivate",
                "gamma",
                "--reason",
                "stocktaking",
            ],
        )
        .await;
    assert_eq!(inactive["status"], "Inactive");
    assert!(
        inactive["status_reason"]
            .as_str()
            .unwrap()
            .contains("stocktaking")
    );
    syncd
        .refused("conflict", &["sync", "full", "gamma", "--force"])
        .await;

    // A token the shop refuses: activation is refused as unavailable, the store stays inactive.
    let wrong = syncd
        .ctl_stdin(
            &[
                "--json",
                "integration",
                "credentials",
                "gamma",
                "--token-stdin",
            ],
            WRONG_TOKEN,
        )
        .await;
    assert_eq!(wrong.code, 0, "{}", wrong.stderr);
    let message = syncd
        .refused("unavailable", &["integration", "activate", "gamma"])
        .await;
    assert!(message.contains("gamma"), "{message}");
    let still = syncd
        .ok("integration", &["integration", "get", "gamma"])
        .await;
    assert_eq!(still["status"], "Inactive");
    let fixed = syncd
        .ctl_stdin(
            &[
                "--json",
                "integration",
                "credentials",
                "gamma",
                "--token-stdin",
            ],
            PRIVATE_TOKEN,
        )
        .await;
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
    syncd
        .ok("integration", &["integration", "activate", "gamma"])
        .await;

    // Delete.
    let ack = syncd.ok("ack", &["integration", "delete", "beta"]).await;
    assert!(ack["message"].as_str().unwrap().contains("beta"));
    syncd
        .refused("not_found", &["integration", "get", "beta"])
        .await;
    syncd
        .refused("not_found", &["integration", "delete", "beta"])
        .await;
    let list = syncd.ok("integrations", &["integration", "list"]).await;
    assert_eq!(names(&list), vec!["gamma"]);
    let human = syncd.ctl(&["integration", "list"]).await;
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains("gamma"), "{}", human.stdout);

    syncd.assert_no_secrets(&[PRIVATE_TOKEN, OAUTH_TOKEN, WRONG_TOKEN]);
    drop(syncd);
    sim.shutdown().await;
    sim_b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_usage_errors_and_unreachable_daemon_have_their_exit_codes() {
    let sim = start_sim(small_shop()).await;
    let syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    let uuid = "6f1c7f3e-7f43-4c84-9d7e-2b8f7e8f0a11";

    // not_found: every kind of name.
    for args in [
        vec!["integration", "get", "nope"],
        vec!["health", "nope"],
        vec!["orders", "list", "nope"],
        vec!["order", "get", "demo", "NO-SUCH-ORDER"],
        vec!["order", "ship", "demo", "NO-SUCH-ORDER", "--tracking", "T1"],
        vec!["product", "price", "demo", "NO-SUCH-SKU", "10"],
        vec!["product", "sync", "demo", "NO-SUCH-SKU", "off"],
        vec!["errors", "resolve", "demo", uuid, "--resolution", "x"],
        vec!["outbox", "drop", "demo", uuid],
        vec!["outbox", "retry", "demo", uuid],
    ] {
        syncd.refused("not_found", &args).await;
    }

    // invalid_argument: checked by the daemon, after shoptetctl sent the request.
    for args in [
        vec!["sync", "history", "demo", "--days", "0"],
        vec!["orders", "list", "demo", "--page", "0"],
        vec!["products", "list", "demo", "--page-size", "5000"],
        vec![
            "orders",
            "list",
            "demo",
            "--from",
            "2026-11-05",
            "--to",
            "2026-11-01",
        ],
        vec!["integration", "create", "x", "--shop-url", " "],
        vec!["order", "note", "demo", "1", " "],
        vec!["errors", "resolve", "demo", uuid, "--resolution", ""],
    ] {
        syncd.refused("invalid_argument", &args).await;
    }
    // A URL with `user:password@` is refused at create and at update (not only at activation,
    // when every reader could already see it), and the refusal never quotes the password.
    const URL_PASSWORD: &str = "e2e-url-pass-7d41b9";
    let with_password = format!("https://owner:{URL_PASSWORD}@shop.example.cz");
    for args in [
        vec![
            "integration",
            "create",
            "creds",
            "--shop-url",
            &with_password,
        ],
        vec![
            "integration",
            "create",
            "creds",
            "--shop-url",
            "https://shop.example.cz",
            "--api-url",
            &with_password,
        ],
        vec![
            "integration",
            "update",
            "demo",
            "--shop-url",
            &with_password,
        ],
        vec!["integration", "update", "demo", "--api-url", &with_password],
    ] {
        let message = syncd.refused("invalid_argument", &args).await;
        assert!(message.contains("credentials"), "{message}");
        assert!(!message.contains(URL_PASSWORD), "{message}");
    }
    syncd
        .refused("not_found", &["integration", "get", "creds"])
        .await;
    let demo = syncd
        .ok("integration", &["integration", "get", "demo"])
        .await;
    assert_eq!(demo["eshop_url"], sim.eshop_url());
    syncd.assert_no_secrets(&[URL_PASSWORD]);

    let long = "T".repeat(40);
    sim.set_allow_oversell(true);
    let code = sim
        .create_order(&shoptet_sync::sim::OrderSpec::default())
        .unwrap();
    syncd.sync("orders", "demo").await;
    let message = syncd
        .refused(
            "conflict",
            &["order", "ship", "demo", &code, "--tracking", "T1"],
        )
        .await;
    assert!(message.contains(&code), "{message}");
    syncd
        .ok("order", &["order", "process", "demo", &code])
        .await;
    let message = syncd
        .refused(
            "invalid_argument",
            &["order", "ship", "demo", &code, "--tracking", &long],
        )
        .await;
    assert!(message.contains("32"), "{message}");

    // conflict: state.
    syncd
        .ok(
            "order",
            &["order", "cancel", "demo", &code, "--reason", "test"],
        )
        .await;
    syncd
        .refused("conflict", &["order", "process", "demo", &code])
        .await;

    // internal: the daemon cannot write the backup where asked.
    let message = syncd
        .refused("internal", &["backup", "/nonexistent-e2e-dir/x.snap"])
        .await;
    assert!(!message.is_empty());

    // Usage and input errors: exit 2, nothing sent.
    for args in [
        vec!["orders", "list", "demo", "--status", "lost"],
        vec!["integration", "credentials", "demo"],
        vec!["integration", "update", "demo"],
        vec!["stock", "set", "demo", "SKU-1", "many"],
        vec!["order", "resolve", "demo", "1"],
        vec!["orders", "list", "demo", "--from", "yesterday"],
        vec![
            "integration",
            "create",
            "x",
            "--shop-url",
            "u",
            "--token",
            "abc",
        ],
        vec!["no-such-command"],
    ] {
        let run = syncd.ctl(&args).await;
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(!run.stderr.is_empty());
    }
    let missing = syncd
        .ctl(&[
            "integration",
            "credentials",
            "demo",
            "--private-token-file",
            "/nonexistent-e2e/token",
        ])
        .await;
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("/nonexistent-e2e/token"));

    // Unreachable: exit 3 with a hint about the socket.
    let dead = syncd.dir.path().join("nobody-listens.sock");
    let run = Command::new(env!("CARGO_BIN_EXE_shoptetctl"))
        .arg("--socket")
        .arg(&dead)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains(&dead.display().to_string()), "{stderr}");
    assert!(stderr.contains("--socket"), "{stderr}");

    // The socket may come from the environment instead of --socket.
    let run = Command::new(env!("CARGO_BIN_EXE_shoptetctl"))
        .env("SHOPTET_SYNC_SOCKET", &syncd.socket)
        .args(["--json", "status"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let status: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(status["data"]["stores"][0]["name"], "demo");

    syncd.assert_no_secrets(&[PRIVATE_TOKEN, OAUTH_TOKEN]);
    drop(syncd);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_through_the_ctl_restores_into_a_new_data_directory() {
    let sim = start_sim(small_shop()).await;
    let mut syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    syncd
        .ok("stock", &["stock", "set", "demo", "SKU-RESTORE", "7"])
        .await;
    let snapshot = syncd.dir.path().join("backup.snap");
    let backup = syncd
        .ok("backup", &["backup", snapshot.to_str().unwrap()])
        .await;
    assert_eq!(backup["path"], snapshot.to_str().unwrap());
    let bytes = backup["bytes"].as_u64().unwrap();
    assert!(bytes > 0);
    assert_eq!(std::fs::metadata(&snapshot).unwrap().len(), bytes);
    assert_eq!(syncd.stop().await, Some(0));

    let restored = syncd.dir.path().join("restored");
    let run = Command::new(env!("CARGO_BIN_EXE_shoptet-syncd"))
        .arg("--restore")
        .arg(&snapshot)
        .arg("--data-dir")
        .arg(&restored)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("integration demo"), "{stdout}");
    // Restoring over a non-empty directory is refused.
    let again = Command::new(env!("CARGO_BIN_EXE_shoptet-syncd"))
        .arg("--restore")
        .arg(&snapshot)
        .arg("--data-dir")
        .arg(&restored)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(73));

    // The daemon on the restored directory knows the store.
    let config = std::fs::read_to_string(&syncd.config_path)
        .unwrap()
        .replace(
            &format!("data_dir = \"{}\"", syncd.data_dir.display()),
            &format!("data_dir = \"{}\"", restored.display()),
        );
    std::fs::write(&syncd.config_path, config).unwrap();
    syncd.spawn().await;
    let list = syncd.ok("integrations", &["integration", "list"]).await;
    assert_eq!(names(&list), vec!["demo"]);
    assert_eq!(list[0]["credentials"], "private_token");
    syncd.assert_no_secrets(&[PRIVATE_TOKEN, OAUTH_TOKEN]);
    assert_eq!(syncd.stop().await, Some(0));
    sim.shutdown().await;
}

/// `path` (a file) or every file under it (a directory) whose bytes contain `needle`.
fn files_holding(path: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    if path.is_dir() {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path).unwrap() {
            found.extend(files_holding(&entry.unwrap().path(), needle));
        }
        return found;
    }
    let bytes = std::fs::read(path).unwrap();
    if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
        vec![path.to_path_buf()]
    } else {
        Vec::new()
    }
}

/// Issue 9, finding 6: tokens are sealed at rest. Neither the data directory nor a backup holds
/// a token's bytes; the key lives outside the data directory (0600, created at first start); a
/// wrong key stops the start with an error naming the key file (exit 78), and the right key
/// reads the tokens back (the store still syncs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_sealed_at_rest_and_a_wrong_key_is_refused_by_name() {
    use std::os::unix::fs::PermissionsExt;

    let sim = start_sim(small_shop()).await;
    let mut syncd = Syncd::start().await;
    syncd.add_shop("demo", &sim, "MAIN").await;
    // A second e-shop: one shop cannot back two integrations.
    let sim_b = start_sim(small_shop()).await;
    let run = syncd
        .ctl_stdin(
            &[
                "integration",
                "create",
                "addon",
                "--shop-url",
                &sim_b.eshop_url(),
                "--api-url",
                &sim_b.base_url(),
                "--token-stdin",
                "--oauth",
            ],
            &format!("{OAUTH_TOKEN}\n"),
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    syncd.sync("orders", "demo").await;
    let snapshot = syncd.dir.path().join("backup.snap");
    syncd
        .ok("backup", &["backup", snapshot.to_str().unwrap()])
        .await;
    assert_eq!(syncd.stop().await, Some(0));

    let key_file = syncd.dir.path().join("secrets.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the key file was created 0600");
    for token in [PRIVATE_TOKEN, OAUTH_TOKEN] {
        assert_eq!(
            files_holding(&syncd.data_dir, token),
            Vec::<std::path::PathBuf>::new(),
            "the data directory holds a token"
        );
        assert!(
            files_holding(&snapshot, token).is_empty(),
            "the backup holds a token"
        );
    }

    let right_key = std::fs::read(&key_file).unwrap();
    let start_once = || {
        Command::new(env!("CARGO_BIN_EXE_shoptet-syncd"))
            .arg("--config")
            .arg(&syncd.config_path)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("CREDENTIALS_DIRECTORY")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // The key is gone: no new key is made up for a store that holds sealed tokens.
    std::fs::remove_file(&key_file).unwrap();
    let start = start_once();
    let stderr = String::from_utf8_lossy(&start.stderr);
    assert_eq!(start.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!key_file.exists());

    // A different key: a clear refusal naming the key file, not a start with garbage tokens.
    std::fs::write(&key_file, format!("{}\n", "5a".repeat(32))).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let start = start_once();
    let stderr = String::from_utf8_lossy(&start.stderr);
    assert_eq!(start.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains(&format!("key file {}", key_file.display()))
            && stderr.contains("not the key it was sealed with"),
        "{stderr}"
    );
    // A key file others may read is refused too.
    std::fs::write(&key_file, &right_key).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let start = start_once();
    let stderr = String::from_utf8_lossy(&start.stderr);
    assert_eq!(start.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");

    // The right key: the tokens open and the store syncs again.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    syncd.spawn().await;
    let order = sim
        .create_order(&shoptet_sync::sim::OrderSpec::default())
        .unwrap();
    syncd.sync("orders", "demo").await;
    syncd.ok("order", &["order", "get", "demo", &order]).await;
    let addon = syncd
        .ok("integration", &["integration", "get", "addon"])
        .await;
    assert_eq!(addon["credentials"], "addon_oauth");
    syncd.assert_no_secrets(&[PRIVATE_TOKEN, OAUTH_TOKEN]);
    assert_eq!(syncd.stop().await, Some(0));
    sim.shutdown().await;
    sim_b.shutdown().await;
}
