//! Shared set-up of the tests that run the real `shoptet-syncd` binary: temp directories, a
//! configuration file, a child-process guard that kills on drop, signals, a systemd-like
//! notification socket, shoptetctl calls and deadline-bounded waits.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shoptet_sync::sim::{LimitConfig, SimConfig, SimHandle, Simulator};

pub const SYNCD: &str = env!("CARGO_BIN_EXE_shoptet-syncd");
pub const CTL: &str = env!("CARGO_BIN_EXE_shoptetctl");

/// Sends `signal` to `pid`.
#[allow(unsafe_code)]
pub fn send_signal(pid: u32, signal: i32) {
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; the pid is our own
    // child, which the guard has not reaped yet (so the id cannot have been reused).
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// Polls `check` until it returns `Some`, or panics with `what` after `deadline`.
pub async fn wait_for<T>(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running `shoptet-syncd`; killed (SIGKILL) and reaped on drop if still running.
pub struct Daemon {
    child: std::process::Child,
    stderr: PathBuf,
    stdout: PathBuf,
    exited: Option<ExitStatus>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Daemon {
    /// Starts the binary with `args` in `cwd`, with extra environment; output goes to files in
    /// `logs` (never a pipe that could fill up and block the daemon).
    pub fn start(args: &[&str], cwd: &Path, env: &[(&str, &str)], logs: &Path) -> Daemon {
        let n = fs::read_dir(logs).map(|d| d.count()).unwrap_or(0);
        let stderr = logs.join(format!("syncd-{n}.stderr"));
        let stdout = logs.join(format!("syncd-{n}.stdout"));
        let mut command = Command::new(SYNCD);
        command
            .args(args)
            .current_dir(cwd)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("shoptet-syncd starts");
        Daemon {
            child,
            stderr,
            stdout,
            exited: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: i32) {
        assert!(self.exited.is_none(), "the daemon already exited");
        send_signal(self.pid(), signal);
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// The exit status if it has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().unwrap();
        }
        self.exited
    }

    /// Waits for the exit, at most `deadline`.
    pub async fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_exit() {
                return status;
            }
            assert!(
                start.elapsed() < deadline,
                "the daemon did not exit within {deadline:?}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until stderr contains `text` (and the daemon still runs).
    pub async fn wait_log(&mut self, text: &str, deadline: Duration) {
        let start = Instant::now();
        loop {
            if self.stderr().contains(text) {
                return;
            }
            if let Some(status) = self.try_exit() {
                panic!(
                    "the daemon exited ({status}) before logging {text:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            assert!(
                start.elapsed() < deadline,
                "no {text:?} in the log within {deadline:?}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the control socket answers `status`.
    pub async fn wait_ready(&mut self, socket: &Path, deadline: Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_exit() {
                panic!("the daemon exited ({status}); stderr:\n{}", self.stderr());
            }
            if socket.exists() && ctl(socket, &["status"]).await.status.success() {
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "the daemon did not answer within {deadline:?}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Runs the binary to completion (for modes that exit by themselves).
pub fn run_syncd(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(SYNCD)
        .args(args)
        .current_dir(cwd)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdin(Stdio::null())
        .output()
        .expect("shoptet-syncd runs")
}

/// The output of one `shoptetctl --json --socket SOCKET ARGS…` call.
pub struct CtlOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CtlOutput {
    /// The JSON answer; panics (with the output) if the call failed.
    pub fn json(&self) -> serde_json::Value {
        assert!(
            self.status.success(),
            "shoptetctl failed ({}): {}{}",
            self.status,
            self.stdout,
            self.stderr
        );
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("shoptetctl printed no JSON ({e}): {}", self.stdout))
    }
}

/// Runs the real shoptetctl (on a blocking thread: the simulator shares this runtime).
pub async fn ctl(socket: &Path, args: &[&str]) -> CtlOutput {
    let socket = socket.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(CTL)
            .arg("--json")
            .arg("--socket")
            .arg(&socket)
            .args(&args)
            .env_remove("SHOPTET_SYNC_SOCKET")
            .stdin(Stdio::null())
            .output()
            .expect("shoptetctl runs");
        CtlOutput {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// Codes of the orders the daemon holds for `integration` (first page of up to 500).
pub async fn order_codes(socket: &Path, integration: &str) -> Option<Vec<String>> {
    let out = ctl(
        socket,
        &["orders", "list", integration, "--page-size", "500"],
    )
    .await;
    if !out.status.success() {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
    let items = find_array(&value, "items")?;
    Some(
        items
            .iter()
            .filter_map(|o| o.get("code")?.as_str().map(str::to_owned))
            .collect(),
    )
}

/// The first array under `key` anywhere in `value`.
pub fn find_array<'a>(
    value: &'a serde_json::Value,
    key: &str,
) -> Option<&'a Vec<serde_json::Value>> {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Array(items)) = map.get(key) {
                return Some(items);
            }
            map.values().find_map(|v| find_array(v, key))
        }
        serde_json::Value::Array(items) => items.iter().find_map(|v| find_array(v, key)),
        _ => None,
    }
}

/// A temp directory with a data dir, a socket path, a token file and a config file.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new().prefix("syncd").tempdir().unwrap();
        fs::create_dir(dir.path().join("logs")).unwrap();
        Env { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }
    pub fn socket(&self) -> PathBuf {
        self.path().join("ctl.sock")
    }
    pub fn config(&self) -> PathBuf {
        self.path().join("shoptet-sync.toml")
    }
    pub fn logs(&self) -> PathBuf {
        self.path().join("logs")
    }
    /// The sealing key file (beside the data directory, created by the daemon at first start).
    pub fn key_file(&self) -> PathBuf {
        self.path().join("secrets.key")
    }

    /// Writes the shop's private token to `<name>.token` (mode 0600) and returns its path.
    pub fn token_file(&self, name: &str, sim: &SimHandle) -> PathBuf {
        let path = self.path().join(format!("{name}.token"));
        fs::write(&path, format!("{}\n", sim.private_token())).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// Writes the configuration: this env's data dir and socket, stderr logging at `level`,
    /// plus `extra` (more keys and [[integration]] blocks).
    pub fn write_config(&self, level: &str, extra: &str) {
        fs::write(self.config(), self.config_text(level, extra)).unwrap();
    }

    pub fn config_text(&self, level: &str, extra: &str) -> String {
        format!(
            "data_dir = \"{data}\"\nshutdown_timeout_secs = 15\n\n[control]\nsocket_path = \"{socket}\"\n\n[log]\noutput = \"stderr\"\nlevel = \"{level}\"\n\n[secrets]\nkey_file = \"{key}\"\n\n{extra}\n",
            data = self.data_dir().display(),
            socket = self.socket().display(),
            key = self.key_file().display(),
        )
    }

    /// Starts the daemon on this env's configuration.
    pub fn start(&self, env: &[(&str, &str)]) -> Daemon {
        let config = self.config();
        Daemon::start(
            &["--config", config.to_str().unwrap()],
            self.path(),
            env,
            &self.logs(),
        )
    }
}

/// An `[[integration]]` block against `sim`, activated at start.
pub fn integration_block(name: &str, sim: &SimHandle, token: &Path) -> String {
    format!(
        "[[integration]]\nname = \"{name}\"\neshop_url = \"{url}\"\napi_base_url = \"{url}\"\ntoken_file = \"{token}\"\nwarehouse_code = \"MAIN\"\ninterval_minutes = 1\nactivate = true\n",
        url = sim.base_url(),
        token = token.display(),
    )
}

/// A small shop with generous limits: `orders` historical orders, few products.
pub fn small_shop(orders: usize) -> SimConfig {
    SimConfig {
        products: 6,
        variants_per_product: 2,
        product_sets: 0,
        orders,
        stock_range: (20, 50),
        limits: LimitConfig {
            bucket_capacity: 5000,
            bucket_drain_per_sec: 1000.0,
            ..LimitConfig::default()
        },
        ..SimConfig::default()
    }
}

pub async fn start_sim(config: SimConfig) -> SimHandle {
    Simulator::start(config).await.expect("simulator starts")
}

/// One datagram received on the notification socket, with what was true when it arrived.
#[derive(Debug, Clone)]
pub struct Notification {
    pub text: String,
    pub at: Instant,
    /// Mode bits of the control socket file at that moment (`None`: absent).
    pub socket_mode: Option<u32>,
}

/// A socket standing in for systemd's `$NOTIFY_SOCKET`; a thread records every datagram.
pub struct NotifySocket {
    pub path: PathBuf,
    received: Arc<Mutex<Vec<Notification>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl NotifySocket {
    /// Binds `path`; `control_socket` is checked on every datagram.
    pub fn bind(path: &Path, control_socket: &Path) -> NotifySocket {
        let socket = UnixDatagram::bind(path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (sink, stopped, control) = (received.clone(), stop.clone(), control_socket.to_owned());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(n) = socket.recv(&mut buf) {
                    let socket_mode = fs::symlink_metadata(&control)
                        .ok()
                        .map(|m| m.permissions().mode() & 0o7777);
                    sink.lock().unwrap().push(Notification {
                        text: String::from_utf8_lossy(&buf[..n]).into_owned(),
                        at: Instant::now(),
                        socket_mode,
                    });
                }
            }
        });
        NotifySocket {
            path: path.to_owned(),
            received,
            stop,
        }
    }

    pub fn received(&self) -> Vec<Notification> {
        self.received.lock().unwrap().clone()
    }

    /// Waits for a datagram with a line equal to `line`; returns it.
    pub async fn wait_line(&self, line: &str, deadline: Duration) -> Notification {
        wait_for(&format!("notification {line:?}"), deadline, || {
            self.received()
                .into_iter()
                .find(|n| n.text.lines().any(|l| l == line))
        })
        .await
    }

    /// How many datagrams hold `line`.
    pub fn count(&self, line: &str) -> usize {
        self.received()
            .iter()
            .filter(|n| n.text.lines().any(|l| l == line))
            .count()
    }
}

/// Runs `sync orders NAME --force` to completion, retrying while a scheduled run is in flight.
pub async fn sync_orders(socket: &Path, integration: &str) {
    let start = Instant::now();
    loop {
        let out = ctl(socket, &["sync", "orders", integration, "--force"]).await;
        if out.status.success() {
            return;
        }
        assert!(
            out.stdout.contains("already running") && start.elapsed() < Duration::from_secs(60),
            "sync orders failed: {}{}",
            out.stdout,
            out.stderr
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `integration` is active.
pub async fn wait_active(socket: &Path, integration: &str, deadline: Duration) {
    let start = Instant::now();
    loop {
        let out = ctl(socket, &["integration", "get", integration]).await;
        if out.status.success() {
            let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
            if value["data"]["status"] == "Active" {
                return;
            }
        }
        assert!(
            start.elapsed() < deadline,
            "{integration} did not become active within {deadline:?}: {}{}",
            out.stdout,
            out.stderr
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
