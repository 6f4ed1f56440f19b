//! The real shoptetctl binary against an in-test control server with a test double handler:
//! exit codes 0/1/2/3, JSON output, socket selection, token handling and CSV import.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod control_double;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use control_double::MemoryHandler;
use rust_decimal::Decimal;
use serde_json::Value;
use shoptet_sync::control::{ControlServer, ServerConfig};
use tokio::sync::oneshot;

const TOKEN: &str = "ctl-private-token-77aa-SECRET";

struct Ctl {
    socket: PathBuf,
    dir: tempfile::TempDir,
    handler: Arc<MemoryHandler>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), shoptet_sync::control::ControlError>>>,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

impl Ctl {
    fn start(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("control.sock");
        let mut config = ServerConfig::new(&socket);
        configure(&mut config);
        let handler = Arc::new(MemoryHandler::default());
        let server = ControlServer::bind(config).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(handler.clone(), async move {
            let _ = stopped.await;
        }));
        Self {
            socket,
            dir,
            handler,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(&mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.take().unwrap().await.unwrap().unwrap();
    }

    /// Runs shoptetctl with `--socket` set to the test server.
    async fn run(&self, args: &[&str]) -> Run {
        let mut full = vec!["--socket".to_owned(), self.socket.display().to_string()];
        full.extend(args.iter().map(|a| (*a).to_owned()));
        run_ctl(full, None, None).await
    }

    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }
}

async fn run_ctl(args: Vec<String>, env_socket: Option<&Path>, stdin: Option<&str>) -> Run {
    let env_socket = env_socket.map(Path::to_owned);
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_shoptetctl"));
        command
            .args(&args)
            .env_remove("SHOPTET_SYNC_SOCKET")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(socket) = env_socket {
            command.env("SHOPTET_SYNC_SOCKET", socket);
        }
        let mut child = command.spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).unwrap();
        }
        drop(pipe);
        let output = child.wait_with_output().unwrap();
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        };
        assert!(
            !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
            "the token leaked into ctl output: {args:?}"
        );
        run
    })
    .await
    .unwrap()
}

/// A daemon that accepts connections but never answers (stopped, stuck): shoptetctl gives up
/// after its timeout with exit 3 and a hint, instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_does_not_answer_gives_exit_3_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    // Listening (so connect succeeds into the backlog) but never accepting or answering.
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let args = vec![
        "--socket".to_owned(),
        socket.display().to_string(),
        "--timeout".to_owned(),
        "0.5".to_owned(),
        "status".to_owned(),
    ];
    let run = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        run_ctl(args, None, None),
    )
    .await
    .expect("shoptetctl gave up by itself");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("did not answer within 0.5 s"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--timeout"), "{}", run.stderr);
    // A bad value is a usage error.
    let run = run_ctl(
        vec!["--timeout".to_owned(), "-1".to_owned(), "status".to_owned()],
        Some(&socket),
        None,
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_prints_tables_or_json_and_exits_0() {
    let mut ctl = Ctl::start(|_| {});
    let token_file = ctl.file("token", &format!("{TOKEN}\n"));
    let created = ctl
        .run(&[
            "integration",
            "create",
            "demo",
            "--shop-url",
            "https://demo.myshoptet.com",
            "--private-token-file",
            &token_file,
            "--warehouse",
            "MAIN",
        ])
        .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(created.stdout.contains("Credentials") && created.stdout.contains("private_token"));
    assert_eq!(
        ctl.handler.state.lock().unwrap().integrations["demo"]
            .credentials
            .clone()
            .unwrap(),
        shoptet_sync::domain::Credentials::PrivateToken(shoptet_sync::domain::Secret::new(TOKEN)),
        "the daemon received the token from the file"
    );

    let status = ctl.run(&["status"]).await;
    assert_eq!(status.code, 0);
    let lines: Vec<&str> = status.stdout.lines().collect();
    assert!(
        lines[0].starts_with("shoptet-syncd test (protocol 1)"),
        "{}",
        status.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("STORE") && l.contains("HEALTH"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("demo ") && l.contains("inactive"))
    );

    let json = ctl.run(&["--json", "integration", "get", "demo"]).await;
    assert_eq!(json.code, 0);
    let value = json.json();
    assert_eq!(value["type"], "integration");
    assert_eq!(value["data"]["name"], "demo");
    assert_eq!(value["data"]["credentials"], "private_token");

    let listed = ctl.run(&["integration", "list", "--json"]).await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let stock = ctl.run(&["stock", "set", "demo", "SKU-1", "42"]).await;
    assert_eq!(
        (stock.code, stock.stdout.as_str()),
        (0, "SKU-1 in warehouse MAIN: 42 on hand\n")
    );
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_exit_1_with_the_message() {
    let mut ctl = Ctl::start(|_| {});
    let missing = ctl.run(&["order", "get", "nowhere", "2025000318"]).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("no integration named `nowhere` (not_found)"),
        "{}",
        missing.stderr
    );
    assert!(missing.stdout.is_empty());

    let json = ctl
        .run(&["--json", "integration", "activate", "nowhere"])
        .await;
    assert_eq!(json.code, 1);
    assert_eq!(json.json()["error"]["code"], "not_found");

    // The daemon's own argument checks also come back as refusals.
    let bad = ctl.run(&["sync", "history", "x", "--days", "0"]).await;
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("invalid_argument"), "{}", bad.stderr);
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_daemon_exits_3_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("absent.sock");
    let run = run_ctl(
        vec![
            "--socket".into(),
            socket.display().to_string(),
            "status".into(),
        ],
        None,
        None,
    )
    .await;
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains(&socket.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("SHOPTET_SYNC_SOCKET") && run.stderr.contains("--socket"));
    assert!(
        run.stderr.contains("group"),
        "mentions permissions: {}",
        run.stderr
    );

    // Without --socket the default path is used, and named in the hint.
    let run = run_ctl(vec!["status".into()], None, None).await;
    if !Path::new("/run/shoptet-sync/control.sock").exists() {
        assert_eq!(run.code, 3);
        assert!(
            run.stderr.contains("/run/shoptet-sync/control.sock"),
            "{}",
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_from_the_environment() {
    let mut ctl = Ctl::start(|_| {});
    let run = run_ctl(vec!["status".into()], Some(&ctl.socket), None).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("shoptet-syncd test"));
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_input_errors_exit_2_before_sending() {
    let mut ctl = Ctl::start(|_| {});
    let run = ctl
        .run(&["orders", "list", "demo", "--status", "lost"])
        .await;
    assert_eq!(run.code, 2);
    let run = ctl
        .run(&[
            "integration",
            "create",
            "demo",
            "--shop-url",
            "u",
            "--token",
            TOKEN,
        ])
        .await;
    assert_eq!(run.code, 2, "tokens are not accepted on the command line");
    let csv = ctl.file("bad.csv", "code,quantity\nA,1\nB,many\n");
    let run = ctl.run(&["stock", "import", "demo", &csv]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("line 3: quantity `many` of `B` is not a number"),
        "{}",
        run.stderr
    );
    let run = ctl
        .run(&[
            "integration",
            "credentials",
            "demo",
            "--private-token-file",
            "/nonexistent/x",
        ])
        .await;
    assert_eq!(run.code, 2);
    assert_eq!(
        ctl.handler.calls.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing was sent"
    );
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_import_sends_bulk_requests() {
    let mut ctl = Ctl::start(|_| {});
    let run = run_ctl(
        vec![
            "--socket".into(),
            ctl.socket.display().to_string(),
            "integration".into(),
            "create".into(),
            "demo".into(),
            "--shop-url".into(),
            "https://demo.myshoptet.com".into(),
            "--token-stdin".into(),
        ],
        None,
        Some(&format!("{TOKEN}\n")),
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: String = std::iter::once("code,quantity\n".to_owned())
        .chain((0..25).map(|i| format!("SKU-{i},{i}\n")))
        .collect();
    let csv = ctl.file("stock.csv", &rows);
    let run = ctl
        .run(&["stock", "import", "demo", &csv, "--chunk", "10"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "warehouse MAIN: 25 updated, 0 unchanged\n");
    {
        let state = ctl.handler.state.lock().unwrap();
        assert_eq!(state.stock.len(), 25);
        assert_eq!(
            state.stock[&("demo".to_owned(), "SKU-24".to_owned())],
            Decimal::new(24, 0)
        );
    }
    // Again: nothing changes, and --json gives the combined result.
    let again = ctl
        .run(&["--json", "stock", "import", "demo", &csv, "--chunk", "10"])
        .await;
    assert_eq!(again.json()["data"]["unchanged"], 25);

    // A refused import exits 1 with the daemon's message.
    let rows = "code,quantity\nA,1\nB,2\n";
    let csv = ctl.file("other.csv", rows);
    let run = ctl
        .run(&["stock", "import", "missing-store", &csv, "--chunk", "1"])
        .await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not_found"));
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_is_not_allowed_is_told_so() {
    let mut ctl = Ctl::start(|c| {
        c.always_allow_root = false;
        c.always_allow_own_uid = false;
    });
    let run = ctl.run(&["status"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("(unauthorized)"), "{}", run.stderr);
    assert!(run.stderr.contains("may not use this control socket"));
    ctl.stop().await;
}
