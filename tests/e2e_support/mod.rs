//! Shared set-up of the end-to-end tests: the real `shoptet-syncd` binary on a temporary data
//! directory and socket (its log captured to a file), the real `shoptetctl` binary to drive it,
//! an in-process simulator, deadline-bounded waits, and a scan for leaked tokens.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use shoptet_sync::sim::{LimitConfig, SimConfig, SimHandle, Simulator};

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Fixed tokens, so their absence from every output can be checked.
pub const PRIVATE_TOKEN: &str = "e2e-private-7f3a9c1d5b2e4f60-SECRET";
pub const OAUTH_TOKEN: &str = "e2e-oauth-2b8e6d4a0c9f1e37-SECRET";

/// Polls `check` until it returns `Some`, or panics with `what` after `deadline`.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A small shop with the fixed tokens: 4 products × 2 variants, no sets, no historical
/// orders, generous limits.
pub fn small_shop() -> SimConfig {
    SimConfig {
        products: 4,
        variants_per_product: 2,
        product_sets: 0,
        orders: 0,
        stock_range: (5, 30),
        limits: LimitConfig {
            max_in_flight: 3,
            bucket_capacity: 5000,
            bucket_drain_per_sec: 1000.0,
            ..LimitConfig::default()
        },
        private_token: Some(PRIVATE_TOKEN.to_owned()),
        oauth_token: Some(OAUTH_TOKEN.to_owned()),
        ..SimConfig::default()
    }
}

pub async fn start_sim(config: SimConfig) -> SimHandle {
    Simulator::start(config).await.expect("simulator starts")
}

/// Extra configuration of one daemon.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Extra lines of the `[control]` table.
    pub control: Vec<String>,
    /// Lines of the `[access]` table.
    pub access: Vec<String>,
    /// Make the temp directory (and so the socket's directory) traversable by other users.
    pub open_directory: bool,
    /// Lines appended after the `[sync]` table (e.g. `[[integration]]` declarations).
    pub tail: Vec<String>,
}

/// What one shoptetctl run produced.
#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not JSON ({e}): {}\n{}", self.stdout, self.stderr)
        })
    }
}

/// A running `shoptet-syncd` child with its own data directory, socket and log file.
/// Dropping it kills the child.
pub struct Syncd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    pub config_path: PathBuf,
    child: Option<Child>,
    /// Every shoptetctl stdout and stderr, for the token scan.
    outputs: Mutex<Vec<String>>,
}

impl Drop for Syncd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Syncd {
    /// Starts the daemon with default options.
    pub async fn start() -> Syncd {
        Self::start_with(Options::default()).await
    }

    /// Writes the config file, starts the daemon and waits until its socket answers.
    pub async fn start_with(options: Options) -> Syncd {
        let dir = tempfile::Builder::new().prefix("e2e").tempdir().unwrap();
        if options.open_directory {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let socket = dir.path().join("control.sock");
        let data_dir = dir.path().join("data");
        let log_path = dir.path().join("daemon.log");
        let config_path = dir.path().join("shoptet-sync.toml");
        let mut config = format!(
            "data_dir = \"{}\"\nshutdown_timeout_secs = 5\n\n[control]\nsocket_path = \"{}\"\n",
            data_dir.display(),
            socket.display()
        );
        for line in &options.control {
            config.push_str(line);
            config.push('\n');
        }
        config.push_str("\n[access]\n");
        for line in &options.access {
            config.push_str(line);
            config.push('\n');
        }
        config.push_str(
            "\n[log]\noutput = \"stderr\"\nlevel = \"info,shoptet_sync=debug\"\n\n[sync]\ninterval_minutes = 1\ninventory_debounce_secs = 0\n",
        );
        for line in &options.tail {
            config.push_str(line);
            config.push('\n');
        }
        std::fs::write(&config_path, config).unwrap();
        let mut syncd = Syncd {
            dir,
            socket,
            data_dir,
            log_path,
            config_path,
            child: None,
            outputs: Mutex::new(Vec::new()),
        };
        syncd.spawn().await;
        syncd
    }

    /// Starts the binary on this directory's config and waits for the socket.
    pub async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_shoptet-syncd"))
            .arg("--config")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .spawn()
            .expect("shoptet-syncd starts");
        self.child = Some(child);
        let socket = self.socket.clone();
        let start = Instant::now();
        loop {
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "shoptet-syncd exited with {status} at start:\n{}",
                    self.log()
                );
            }
            if start.elapsed() > DEADLINE {
                panic!("shoptet-syncd did not open its socket:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops the daemon with SIGTERM and waits for it to exit; returns its exit code.
    pub async fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                panic!("shoptet-syncd did not stop on SIGTERM:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Whether the daemon process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A file in the temp directory.
    pub fn file(&self, name: &str, contents: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_shoptetctl"));
        command
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .env_remove("SHOPTET_SYNC_SOCKET")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    async fn execute(&self, mut command: Command, stdin: Option<String>) -> Run {
        command.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("shoptetctl starts");
            if let Some(text) = stdin {
                let mut pipe = child.stdin.take().unwrap();
                pipe.write_all(text.as_bytes()).unwrap();
            }
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        let mut outputs = self.outputs.lock().unwrap();
        outputs.push(run.stdout.clone());
        outputs.push(run.stderr.clone());
        run
    }

    /// Runs `shoptetctl --socket SOCKET ARGS…`.
    pub async fn ctl(&self, args: &[&str]) -> Run {
        self.execute(self.command(args), None).await
    }

    /// Runs shoptetctl with `stdin` on its standard input.
    pub async fn ctl_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.execute(self.command(args), Some(stdin.to_owned()))
            .await
    }

    /// Runs shoptetctl as another user (uid and primary gid, no supplementary groups).
    pub async fn ctl_as(&self, uid: u32, gid: u32, args: &[&str]) -> Run {
        let mut command = self.command(args);
        command.uid(uid).gid(gid).current_dir("/");
        self.execute(command, None).await
    }

    /// Runs `shoptetctl --json ARGS…`, asserts success and the result type, returns `data`.
    pub async fn ok(&self, result_type: &str, args: &[&str]) -> Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let run = self.ctl(&full).await;
        assert_eq!(
            run.code, 0,
            "shoptetctl {args:?} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        let value = run.json();
        assert_eq!(value["type"], result_type, "shoptetctl {args:?}: {value:#}");
        value["data"].clone()
    }

    /// Runs `shoptetctl --json ARGS…`, asserts exit code 1 (a refusal) with `code`, returns the
    /// message.
    pub async fn refused(&self, code: &str, args: &[&str]) -> String {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let run = self.ctl(&full).await;
        assert_eq!(
            run.code, 1,
            "shoptetctl {args:?} should be refused with {code}:\n{}\n{}",
            run.stdout, run.stderr
        );
        let value = run.json();
        assert_eq!(
            value["error"]["code"], code,
            "shoptetctl {args:?}: {value:#}"
        );
        let message = value["error"]["message"].as_str().unwrap().to_owned();
        assert!(!message.is_empty());
        assert!(
            run.stderr.contains(&message) && run.stderr.contains(code),
            "the refusal is printed on stderr: {}",
            run.stderr
        );
        message
    }

    /// Runs a sync with `--force`, retrying while a scheduled run of the same kind is in flight.
    pub async fn sync(&self, kind: &str, integration: &str) -> Value {
        let args = ["--json", "sync", kind, integration, "--force"];
        wait_for(
            &format!("a forced {kind} sync of {integration}"),
            DEADLINE,
            || async {
                let run = self.ctl(&args).await;
                if run.code == 0 {
                    return Some(run.json()["data"].clone());
                }
                let error = run.json();
                assert!(
                    error["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("already running"),
                    "sync {kind} failed: {error:#}"
                );
                None
            },
        )
        .await
    }

    /// Creates an integration against `sim` from a token file and activates it.
    pub async fn add_shop(&self, name: &str, sim: &SimHandle, warehouse: &str) -> Value {
        let token = self.file(&format!("{name}.token"), &format!("{PRIVATE_TOKEN}\n"));
        let created = self
            .ok(
                "integration",
                &[
                    "integration",
                    "create",
                    name,
                    "--shop-url",
                    &sim.eshop_url(),
                    "--api-url",
                    &sim.base_url(),
                    "--private-token-file",
                    &token,
                    "--warehouse",
                    warehouse,
                    "--interval",
                    "1",
                ],
            )
            .await;
        assert_eq!(created["status"], "Inactive");
        assert_eq!(created["credentials"], "private_token");
        let active = self
            .ok("integration", &["integration", "activate", name])
            .await;
        assert_eq!(active["status"], "Active");
        active
    }

    /// Asserts that no secret appears in any shoptetctl output so far nor in the daemon log.
    pub fn assert_no_secrets(&self, secrets: &[&str]) {
        let log = self.log();
        assert!(!log.is_empty(), "the daemon logged nothing");
        let outputs = self.outputs.lock().unwrap();
        assert!(!outputs.is_empty());
        for secret in secrets {
            assert!(
                !log.contains(secret),
                "a token appears in the daemon log:\n{}",
                log.lines()
                    .filter(|l| l.contains(secret))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            for output in outputs.iter() {
                assert!(
                    !output.contains(secret),
                    "a token appears in shoptetctl output:\n{output}"
                );
            }
        }
    }
}

/// Raw newline-delimited JSON over the daemon's socket, for what shoptetctl never sends.
pub struct Raw {
    reader: tokio::io::BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
}

impl Raw {
    pub async fn connect(path: &Path) -> Raw {
        let stream = tokio::net::UnixStream::connect(path).await.unwrap();
        let (read, writer) = stream.into_split();
        Raw {
            reader: tokio::io::BufReader::new(read),
            writer,
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.writer.write_all(bytes).await.unwrap();
    }

    /// Closes the sending half (the daemon sees end of input).
    pub async fn close_write(&mut self) {
        use tokio::io::AsyncWriteExt;
        self.writer.shutdown().await.unwrap();
    }

    /// The next response line, or `None` at end of stream.
    pub async fn recv(&mut self) -> Option<Value> {
        use tokio::io::AsyncBufReadExt;
        let mut line = String::new();
        let read = tokio::time::timeout(DEADLINE, self.reader.read_line(&mut line))
            .await
            .expect("a response within the deadline")
            .ok()?;
        if read == 0 {
            return None;
        }
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")))
    }

    /// Sends one request value and reads its response.
    pub async fn ask(&mut self, request: &Value) -> Value {
        let mut line = serde_json::to_vec(request).unwrap();
        line.push(b'\n');
        self.send(&line).await;
        self.recv().await.expect("a response")
    }
}

/// The error code of a response line (`""` for a success).
pub fn code_of(response: &Value) -> &str {
    response["error"]["code"].as_str().unwrap_or_default()
}
