#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Configuration loading: the shipped example, strictness, locations in errors, declared
//! integrations with token files and systemd credentials.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rust_decimal::Decimal;
use shoptet_sync::config::{
    ConfigError, DaemonConfig, LoadEnv, LoadedConfig, LogOutput, PeerAccess, TokenKind,
};
use shoptet_sync::domain::Credentials;

const EXAMPLE: &str = include_str!("../config/shoptet-sync.toml");

fn parse_at(text: &str, origin: &Path, env: &LoadEnv) -> Result<LoadedConfig, ConfigError> {
    DaemonConfig::parse(text, origin, env)
}

fn parse(text: &str) -> Result<LoadedConfig, ConfigError> {
    parse_at(
        text,
        Path::new("/etc/shoptet-sync/test.toml"),
        &LoadEnv::default(),
    )
}

fn invalid(text: &str) -> (String, usize, usize, String) {
    match parse(text) {
        Err(ConfigError::Invalid {
            key,
            line,
            column,
            message,
            ..
        }) => (key.unwrap_or_default(), line, column, message),
        other => panic!("expected an invalid-config error, got {other:?}"),
    }
}

fn write_secret(dir: &Path, name: &str, content: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn shipped_example_parses_to_the_documented_defaults() {
    let loaded = parse(EXAMPLE).unwrap();
    assert!(loaded.warnings.is_empty());
    let c = loaded.config;
    assert_eq!(c, DaemonConfig::default());
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/shoptet-sync"));
    assert_eq!(
        c.control.socket_path,
        PathBuf::from("/run/shoptet-sync/control.sock")
    );
    assert_eq!(c.control.max_request_bytes, 1024 * 1024);
    assert_eq!(c.control.request_timeout, Duration::from_secs(30));
    assert_eq!(c.log.output, LogOutput::Auto);
    assert_eq!(c.log.level, "info");
    assert_eq!(c.sync.interval_minutes, 15);
    assert_eq!(c.sync.inventory_debounce, Duration::from_secs(2));
    assert_eq!(c.sync.unreachable_alert_after, Duration::from_secs(3600));
    assert_eq!(c.retention.sync_log_days, 90);
    assert!(c.integrations.is_empty());
}

/// The commented integration block of the example, uncommented, must be valid too.
#[test]
fn shipped_example_integration_block_is_valid_when_uncommented() {
    let dir = tempfile::tempdir().unwrap();
    write_secret(dir.path(), "demo-token", "tok-123\n", 0o400);
    let mut in_block = false;
    let mut text = String::new();
    for line in EXAMPLE.lines() {
        if line.starts_with("# [[integration]]") {
            in_block = true;
        }
        let line = if in_block {
            line.strip_prefix("# ").unwrap_or(line)
        } else {
            line
        };
        text.push_str(line);
        text.push('\n');
    }
    let env = LoadEnv {
        credentials_directory: Some(dir.path().to_owned()),
    };
    let c = parse_at(&text, Path::new("/etc/shoptet-sync/x.toml"), &env)
        .unwrap()
        .config;
    assert_eq!(c.integrations.len(), 1);
    let demo = &c.integrations[0];
    assert_eq!(demo.name, "demo");
    assert_eq!(demo.default_warehouse_code, "MAIN");
    assert_eq!(demo.low_stock_threshold, Decimal::from(5));
    assert!(demo.activate);
    match &demo.credentials {
        Some(Credentials::PrivateToken(s)) => assert_eq!(s.expose(), "tok-123"),
        other => panic!("unexpected credentials {other:?}"),
    }
}

#[test]
fn unknown_top_level_key_is_refused_with_key_and_line() {
    let text = "data_dir = \"/srv/x\"\n\ncolour = \"blue\"\n";
    let (key, line, column, message) = invalid(text);
    assert_eq!(key, "colour");
    assert_eq!((line, column), (3, 1));
    assert!(message.contains("colour"), "{message}");
}

#[test]
fn unknown_nested_key_is_refused_with_dotted_key_and_line() {
    let text = "[control]\nsocket_path = \"/run/x.sock\"\nmax_conections = 5\n";
    let err = parse(text).unwrap_err();
    let shown = err.to_string();
    assert_eq!(err.key(), Some("control.max_conections"), "{shown}");
    assert_eq!(err.line(), Some(3));
    assert!(
        shown.starts_with("/etc/shoptet-sync/test.toml:3:1: "),
        "{shown}"
    );
    assert!(shown.contains("max_conections"), "{shown}");
}

#[test]
fn unknown_key_inside_an_integration_names_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[[integration]]\nname = \"a\"\neshop_url = \"https://a.example\"\nwarehouse_code = \"W\"\n\n\
                [[integration]]\nname = \"b\"\neshop_url = \"https://b.example\"\nwarehouse_code = \"W\"\ntokn_file = \"x\"\n";
    let err = parse_at(text, &dir.path().join("c.toml"), &LoadEnv::default()).unwrap_err();
    assert_eq!(err.key(), Some("integration[1].tokn_file"), "{err}");
    assert_eq!(err.line(), Some(10), "{err}");
}

#[test]
fn wrong_type_names_key_and_line() {
    let (key, line, _, message) = invalid("[sync]\ninterval_minutes = \"often\"\n");
    assert_eq!(key, "sync.interval_minutes");
    assert_eq!(line, 2);
    assert!(
        message.contains("invalid type") || message.contains("expected"),
        "{message}"
    );
}

#[test]
fn syntax_error_reports_its_line() {
    let err = parse("[log]\nlevel = \"info\nother = 1\n").unwrap_err();
    assert_eq!(err.line(), Some(2), "{err}");
}

#[test]
fn out_of_range_values_name_the_key_and_line() {
    let (key, line, _, message) =
        invalid("[log]\nlevel = \"info\"\n[sync]\ninterval_minutes = 0\n");
    assert_eq!(key, "sync.interval_minutes");
    assert_eq!(line, 4);
    assert!(message.contains("1 to 1440"), "{message}");

    let (key, _, _, _) = invalid("[sync]\ninterval_minutes = 1441\n");
    assert_eq!(key, "sync.interval_minutes");
    assert!(parse("[sync]\ninterval_minutes = 1440\n").is_ok());
    assert!(parse("[sync]\ninterval_minutes = 1\n").is_ok());

    let (key, line, _, _) = invalid("[control]\nmax_connections = 0\n");
    assert_eq!((key.as_str(), line), ("control.max_connections", 2));
}

#[test]
fn relative_socket_path_is_refused() {
    let (key, line, _, message) = invalid("\n[control]\nsocket_path = \"run/x.sock\"\n");
    assert_eq!(key, "control.socket_path");
    assert_eq!(line, 3);
    assert!(message.contains("absolute"), "{message}");
    let (key, _, _, _) = invalid("data_dir = \"var/lib\"\n");
    assert_eq!(key, "data_dir");
}

#[test]
fn world_accessible_socket_mode_is_refused() {
    let (key, _, _, message) = invalid("[control]\nsocket_mode = 0o666\n");
    assert_eq!(key, "control.socket_mode");
    assert!(message.contains("every local user"), "{message}");
    assert!(parse("[control]\nsocket_mode = 0o600\n").is_ok());
}

#[test]
fn invalid_log_level_and_output_are_refused() {
    let (key, line, _, _) = invalid("[log]\noutput = \"auto\"\nlevel = \"info,=[x\"\n");
    assert_eq!((key.as_str(), line), ("log.level", 3));
    let (key, line, _, message) = invalid("[log]\noutput = \"syslog\"\n");
    assert_eq!((key.as_str(), line), ("log.output", 2));
    assert!(message.contains("journald"), "{message}");
    let c = parse("[log]\noutput = \"journald\"\nlevel = \"warn,shoptet_sync=debug\"\n")
        .unwrap()
        .config;
    assert_eq!(c.log.output, LogOutput::Journald);
}

#[test]
fn user_and_group_names_resolve_and_unknown_names_are_refused() {
    let c = parse(
        "[access]\nallowed_users = [\"root\"]\nadmin_groups = [\"root\"]\nallowed_gids = [4242]\n",
    )
    .unwrap()
    .config;
    assert!(c.access.allowed_uids.contains(&0));
    assert!(c.access.admin_gids.contains(&0));
    assert_eq!(c.access.decide(5000, 4242, 999), PeerAccess::ReadOnly);
    assert_eq!(c.access.decide(5000, 0, 999), PeerAccess::Admin);
    assert_eq!(c.access.decide(5000, 5000, 999), PeerAccess::Denied);

    let (key, line, _, message) = invalid("[access]\n\nadmin_users = [\"no-such-user-x9\"]\n");
    assert_eq!((key.as_str(), line), ("access.admin_users", 3));
    assert!(message.contains("no-such-user-x9"), "{message}");
    let (key, _, _, _) = invalid("[control]\nsocket_group = \"no-such-group-x9\"\n");
    assert_eq!(key, "control.socket_group");
    let c = parse("[control]\nsocket_group = \"root\"\n")
        .unwrap()
        .config;
    assert_eq!(c.control.socket_gid, Some(0));
}

fn integration_text(extra: &str) -> String {
    format!(
        "[sync]\ninterval_minutes = 30\n\n[[integration]]\nname = \"demo\"\neshop_url = \"https://demo.example\"\nwarehouse_code = \"MAIN\"\n{extra}"
    )
}

#[test]
fn integration_with_relative_token_file_reads_and_trims_the_token() {
    let dir = tempfile::tempdir().unwrap();
    write_secret(dir.path(), "demo.token", "  addon-secret-value \n", 0o600);
    let text =
        integration_text("token_kind = \"addon\"\ntoken_file = \"demo.token\"\nactivate = true\n");
    let loaded = parse_at(&text, &dir.path().join("c.toml"), &LoadEnv::default()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let decl = &loaded.config.integrations[0];
    assert_eq!(decl.sync_interval_minutes, 30, "inherits [sync] default");
    assert_eq!(decl.api_base_url, "https://api.myshoptet.com");
    assert!(decl.activate);
    match &decl.credentials {
        Some(Credentials::AddonOAuth(s)) => assert_eq!(s.expose(), "addon-secret-value"),
        other => panic!("unexpected {other:?}"),
    }
    // The token never shows in Debug output.
    let debug = format!("{loaded:?}");
    assert!(!debug.contains("addon-secret-value"), "{debug}");
    assert_eq!(TokenKind::default(), TokenKind::Private);
}

#[test]
fn integration_credential_is_read_from_credentials_directory() {
    let dir = tempfile::tempdir().unwrap();
    write_secret(dir.path(), "demo-token", "private-tok\n", 0o400);
    let text =
        integration_text("credential = \"demo-token\"\ninterval_minutes = 5\nstock_id = 3\n");
    let env = LoadEnv {
        credentials_directory: Some(dir.path().to_owned()),
    };
    let decl = parse_at(&text, Path::new("/etc/shoptet-sync/c.toml"), &env)
        .unwrap()
        .config
        .integrations
        .remove(0);
    assert_eq!(decl.sync_interval_minutes, 5);
    assert_eq!(decl.shoptet_stock_id, 3);
    assert!(!decl.activate);
    match decl.credentials {
        Some(Credentials::PrivateToken(s)) => assert_eq!(s.expose(), "private-tok"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn credential_without_credentials_directory_is_refused() {
    let err = parse(&integration_text("credential = \"demo-token\"\n")).unwrap_err();
    assert_eq!(err.key(), Some("integration[0].credential"));
    assert_eq!(err.line(), Some(8));
    assert!(err.to_string().contains("CREDENTIALS_DIRECTORY"), "{err}");
}

#[test]
fn bad_token_files_are_refused_without_showing_contents() {
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("c.toml");
    let env = LoadEnv::default();
    write_secret(dir.path(), "empty.token", " \n\n", 0o600);
    write_secret(dir.path(), "two.token", "secret-one\nsecret-two\n", 0o600);

    let err = parse_at(
        &integration_text("token_file = \"empty.token\"\n"),
        &origin,
        &env,
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("integration[0].token_file"));
    assert!(err.to_string().contains("empty"), "{err}");

    let err = parse_at(
        &integration_text("token_file = \"two.token\"\n"),
        &origin,
        &env,
    )
    .unwrap_err();
    assert!(!err.to_string().contains("secret-one"), "{err}");
    assert!(err.to_string().contains("one line"), "{err}");

    let err = parse_at(
        &integration_text("token_file = \"missing.token\"\n"),
        &origin,
        &env,
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("integration[0].token_file"));
    assert!(err.to_string().contains("missing.token"), "{err}");

    let err = parse_at(
        &integration_text("token_file = \"a\"\ncredential = \"b\"\n"),
        &origin,
        &env,
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("integration[0].credential"));
}

#[test]
fn world_readable_token_file_loads_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    write_secret(dir.path(), "open.token", "visible-to-all\n", 0o644);
    let loaded = parse_at(
        &integration_text("token_file = \"open.token\"\n"),
        &dir.path().join("c.toml"),
        &LoadEnv::default(),
    )
    .unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].contains("open.token"));
    assert!(!loaded.warnings[0].contains("visible-to-all"));
}

#[test]
fn integration_values_are_validated() {
    let (key, line, _, _) = invalid(&integration_text("interval_minutes = 2000\n"));
    assert_eq!((key.as_str(), line), ("integration[0].interval_minutes", 8));
    let (key, _, _, _) = invalid(&integration_text("activate = true\n"));
    assert_eq!(key, "integration[0].activate");
    let (key, _, _, _) = invalid(&integration_text("api_base_url = \"ftp://x\"\n"));
    assert_eq!(key, "integration[0].api_base_url");
    let (key, _, _, _) = invalid(&integration_text("low_stock_threshold = \"-1\"\n"));
    assert_eq!(key, "integration[0].low_stock_threshold");
    let (key, _, _, _) = invalid(&integration_text(
        "[integration.status_mapping]\nprocessing = 1\nshipped = 2\n",
    ));
    assert_eq!(key, "integration[0].status_mapping");
    // A missing required key is reported at its table.
    let (key, line, _, message) =
        invalid("[[integration]]\nname = \"x\"\neshop_url = \"https://x.example\"\n");
    assert!(key.starts_with("integration"), "{key}");
    assert_eq!(line, 1);
    assert!(message.contains("warehouse_code"), "{message}");
    let twice = format!(
        "{}\n[[integration]]\nname = \"demo\"\neshop_url = \"https://d.example\"\nwarehouse_code = \"W\"\n",
        integration_text("")
    );
    let (key, line, _, _) = invalid(&twice);
    assert_eq!((key.as_str(), line), ("integration[1].name", 10));
}

#[test]
fn a_declared_integration_without_a_threshold_gets_the_domain_default() {
    let loaded = parse(&integration_text("")).unwrap();
    let decl = &loaded.config.integrations[0];
    assert_eq!(
        decl.low_stock_threshold,
        shoptet_sync::domain::integration::DEFAULT_LOW_STOCK_THRESHOLD
    );
    assert_eq!(decl.low_stock_threshold, Decimal::from(5));
}

#[test]
fn declared_integration_creates_and_updates_store_records() {
    let dir = tempfile::tempdir().unwrap();
    write_secret(dir.path(), "t", "tok\n", 0o600);
    let text = integration_text("token_file = \"t\"\nlow_stock_threshold = 2\n");
    let decl = parse_at(&text, &dir.path().join("c.toml"), &LoadEnv::default())
        .unwrap()
        .config
        .integrations
        .remove(0);
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let t1 = t0 + chrono::Duration::minutes(5);
    let id = uuid::Uuid::new_v4();
    let created = decl.to_new_integration(id, t0);
    assert_eq!(created.id, id);
    assert_eq!(created.name, "demo");
    assert_eq!(created.low_stock_threshold, Decimal::from(2));
    assert_eq!(
        created.status,
        shoptet_sync::domain::IntegrationStatus::Inactive
    );
    assert!(
        decl.apply_to(&created, t1).is_none(),
        "no change, no rewrite"
    );

    let mut edited = created.clone();
    edited.sync_interval_minutes = 999;
    edited.status = shoptet_sync::domain::IntegrationStatus::Active;
    let updated = decl.apply_to(&edited, t1).unwrap();
    assert_eq!(updated.sync_interval_minutes, 30);
    assert_eq!(
        updated.status,
        shoptet_sync::domain::IntegrationStatus::Active
    );
    assert_eq!(updated.updated_at, t1);
    assert_eq!(updated.created_at, t0);
}

#[test]
fn dotted_and_inline_keys_are_located_too() {
    let (key, line, _, _) = invalid("data_dir = \"/srv/x\"\ncontrol.bogus = 1\n");
    assert_eq!((key.as_str(), line), ("control.bogus", 2));
    let (key, line, _, _) = invalid("\nlog = { level = \"info\", colour = true }\n");
    assert_eq!((key.as_str(), line), ("log.colour", 2));
    let err = parse("[log]\nlevel = \"info\"\nlevel = \"debug\"\n").unwrap_err();
    assert_eq!(err.line(), Some(3), "duplicate key: {err}");
}

/// The client refuses plain http to anything but loopback; the configuration must refuse it at
/// load time, naming the key and line, instead of the integration failing at its first sync.
#[test]
fn plain_http_urls_are_refused_at_load_unless_loopback() {
    let err = parse(&integration_text(
        "api_base_url = \"http://api.example.com\"\n",
    ))
    .unwrap_err();
    assert_eq!(err.key(), Some("integration[0].api_base_url"), "{err}");
    assert_eq!(err.line(), Some(8), "{err}");
    assert!(err.to_string().contains("loopback"), "{err}");

    let text = "[[integration]]\nname = \"demo\"\neshop_url = \"http://demo.example\"\nwarehouse_code = \"MAIN\"\n";
    let err = parse(text).unwrap_err();
    assert_eq!(err.key(), Some("integration[0].eshop_url"), "{err}");
    assert_eq!(err.line(), Some(3), "{err}");

    for url in [
        "https://user:pw@api.example.com",
        "http://user:pw@api.example.com",
    ] {
        let err = parse(&integration_text(&format!("api_base_url = \"{url}\"\n"))).unwrap_err();
        assert_eq!(err.key(), Some("integration[0].api_base_url"), "{err}");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    // Loopback (the simulator, the demo) stays allowed.
    for url in [
        "http://127.0.0.1:8080",
        "http://localhost:9000",
        "http://[::1]:1",
    ] {
        let text = format!(
            "[[integration]]\nname = \"demo\"\neshop_url = \"{url}\"\napi_base_url = \"{url}\"\nwarehouse_code = \"MAIN\"\n"
        );
        parse(&text).unwrap_or_else(|e| panic!("{url}: {e}"));
    }
}

/// A token "file" that is a FIFO is refused at once: opening it would block the start (or a
/// reload) until some writer appears.
#[test]
fn a_fifo_token_file_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("demo.token");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let text = integration_text("token_file = \"demo.token\"\n");
    let origin = dir.path().join("c.toml");
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcome = parse_at(&text, &origin, &LoadEnv::default()).map(|_| ());
        let _ = done.send(outcome.map_err(|e| e.to_string()));
    });
    let outcome = result
        .recv_timeout(Duration::from_secs(10))
        .expect("loading did not block on the FIFO");
    let err = outcome.unwrap_err();
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn backup_section_is_validated_and_kept_out_of_the_data_directory() {
    let c = parse("").unwrap().config;
    assert_eq!(c.backup.dir, None);
    assert_eq!(c.backup.keep, 7);
    assert_eq!(c.backup.interval, std::time::Duration::from_secs(24 * 3600));
    let c = parse(
        "data_dir = \"/var/lib/s\"\n[backup]\ndir = \"/var/backups/s\"\ninterval_hours = 6\nkeep = 3\n",
    )
    .unwrap()
    .config;
    assert_eq!(c.backup.dir.as_deref(), Some(Path::new("/var/backups/s")));
    assert_eq!(c.backup.interval, std::time::Duration::from_secs(6 * 3600));
    assert_eq!(c.backup.keep, 3);
    let (key, line, _, message) =
        invalid("data_dir = \"/var/lib/s\"\n[backup]\ndir = \"/var/lib/s/backups\"\n");
    assert_eq!((key.as_str(), line), ("backup.dir", 3));
    assert!(message.contains("inside data_dir"), "{message}");
    let (key, _, _, _) = invalid("[backup]\ndir = \"backups\"\n");
    assert_eq!(key, "backup.dir");
    let (key, _, _, _) = invalid("[backup]\nkeep = 0\n");
    assert_eq!(key, "backup.keep");
    let (key, _, _, _) = invalid("[backup]\ninterval_hours = 0\n");
    assert_eq!(key, "backup.interval_hours");
}
