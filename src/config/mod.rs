//! The daemon configuration file (TOML): data directory, socket, access control, logging, defaults.
//!
//! Loading is strict: unknown keys are errors, every value is validated, and every error names
//! the file, the line and column, and the key (`ConfigError::Invalid`). Names of users and groups
//! are resolved to ids at load time, and declared integrations have their tokens read from files
//! (typically systemd credentials under `$CREDENTIALS_DIRECTORY`). Problems that should not stop
//! the daemon (a token file readable by others) come back as warnings, because logging is not set
//! up yet when the file is read.

mod integration;
mod locate;
mod users;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use integration::{DeclaredIntegration, TokenKind};
pub use locate::{KeyPath, KeySegment, line_col};
pub use users::{Lookup, group_id, user_id};

/// Where the packaged unit and docs expect the file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/shoptet-sync/shoptet-sync.toml";
/// The systemd `StateDirectory=`.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/shoptet-sync";
/// Inside the systemd `RuntimeDirectory=`; also shoptetctl's default.
pub const DEFAULT_SOCKET_PATH: &str = "/run/shoptet-sync/control.sock";
/// Used when an integration declares no `api_base_url`.
pub const DEFAULT_API_BASE_URL: &str = "https://api.myshoptet.com";

/// The configuration could not be used. The daemon exits with `EX_CONFIG` (78) on these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("cannot read configuration file {}: {reason}", path.display())]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The I/O error (kept inline so the message is complete on its own).
        reason: std::io::Error,
    },
    /// A syntax error, an unknown key, a wrong type or an invalid value.
    #[error("{}:{line}:{column}: {}{message}", path.display(), key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
    Invalid {
        /// The configuration file.
        path: PathBuf,
        /// 1-based line of the offending key (or of the syntax error).
        line: usize,
        /// 1-based column.
        column: usize,
        /// The dotted key path, when one could be determined.
        key: Option<String>,
        /// What is wrong, and for values what is expected.
        message: String,
    },
}

impl ConfigError {
    /// The dotted key this error is about, if known.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } => key.as_deref(),
            Self::Read { .. } => None,
        }
    }

    /// The 1-based line this error is about, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Invalid { line, .. } => Some(*line),
            Self::Read { .. } => None,
        }
    }
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogOutput {
    /// journald when stderr is connected to the journal (`JOURNAL_STREAM`), stderr otherwise.
    #[default]
    Auto,
    /// Always the native journald protocol.
    Journald,
    /// Always human-readable lines on stderr.
    Stderr,
}

/// `[log]`: output and level; the level can be changed by SIGHUP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Where lines go.
    pub output: LogOutput,
    /// A `tracing_subscriber::EnvFilter` directive, e.g. `info` or `info,shoptet_sync::shoptet=debug`.
    pub level: String,
}

/// `[control]`: the Unix socket shoptetctl and warehouse systems talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlSettings {
    /// Absolute path of the socket; a stale file there is removed at start.
    pub socket_path: PathBuf,
    /// Group that owns the socket (name as configured), if any.
    pub socket_group: Option<String>,
    /// That group's id, resolved at load time.
    pub socket_gid: Option<u32>,
    /// Permission bits of the socket (never any for "others").
    pub socket_mode: u32,
    /// Connections served at once; more wait for a slot.
    pub max_connections: usize,
    /// Connections one non-administrator uid may hold at once.
    pub max_connections_per_uid: usize,
    /// Extra connection slots only administrators may use.
    pub admin_reserved_connections: usize,
    /// Largest accepted request line, in bytes.
    pub max_request_bytes: usize,
    /// Time allowed for one request to be answered.
    pub request_timeout: Duration,
    /// The same for long-running operations (syncs, activation, backup); also bounds each
    /// sync inside the daemon.
    pub sync_request_timeout: Duration,
    /// An idle connection is closed after this long.
    pub idle_timeout: Duration,
    /// A request line must arrive whole within this long of its first byte.
    pub request_line_timeout: Duration,
}

/// Who may use the control socket (checked against the peer's credentials at connect time),
/// and who may change things.
///
/// uid 0 and the daemon's own uid are always administrators. Administrators are always allowed.
/// A peer's primary and supplementary groups both count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// uids allowed to connect (from `allowed_uids` and `allowed_users`).
    pub allowed_uids: BTreeSet<u32>,
    /// gids whose members may connect (from `allowed_gids` and `allowed_groups`).
    pub allowed_gids: BTreeSet<u32>,
    /// uids allowed to change state or credentials (from `admin_uids` and `admin_users`).
    pub admin_uids: BTreeSet<u32>,
    /// gids whose members are administrators (from `admin_gids` and `admin_groups`).
    pub admin_gids: BTreeSet<u32>,
}

/// What a connecting peer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerAccess {
    /// Refused with `unauthorized`.
    Denied,
    /// Read-only operations.
    ReadOnly,
    /// Everything, including state and credential changes.
    Admin,
}

impl AccessPolicy {
    /// The access rule, the one the control server enforces. `trusted` peers (root, the
    /// daemon's own uid) are administrators; so is anyone listed under `admin_*`, by uid or by any
    /// of `peer_gids` (primary and supplementary). Administrators are always allowed; `allowed_*`
    /// peers may read; everyone else is denied.
    pub fn classify(&self, peer_uid: u32, peer_gids: &[u32], trusted: bool) -> PeerAccess {
        let in_any = |set: &BTreeSet<u32>| peer_gids.iter().any(|gid| set.contains(gid));
        if trusted || self.admin_uids.contains(&peer_uid) || in_any(&self.admin_gids) {
            PeerAccess::Admin
        } else if self.allowed_uids.contains(&peer_uid) || in_any(&self.allowed_gids) {
            PeerAccess::ReadOnly
        } else {
            PeerAccess::Denied
        }
    }

    /// Classifies a peer by uid and primary gid; `daemon_uid` is the daemon's own effective
    /// uid. Same rule as [`AccessPolicy::classify`].
    pub fn decide(&self, peer_uid: u32, peer_gid: u32, daemon_uid: u32) -> PeerAccess {
        self.classify(
            peer_uid,
            &[peer_gid],
            peer_uid == 0 || peer_uid == daemon_uid,
        )
    }
}

/// `[retention]`: how long history is kept in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Sync logs older than this many days are pruned.
    pub sync_log_days: u32,
    /// Resolved errors older than this many days are pruned (unresolved ones are kept).
    pub resolved_error_days: u32,
}

/// `[backup]`: optional scheduled backups (off unless `dir` is set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSettings {
    /// Where scheduled backups go; outside the data directory. `None`: no scheduled backups.
    pub dir: Option<PathBuf>,
    /// Time between scheduled backups.
    pub interval: Duration,
    /// Scheduled backups kept in `dir` (the newest); older ones are removed.
    pub keep: usize,
}

/// `[sync]`: defaults for integrations that do not set their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncDefaults {
    /// Minutes between scheduled syncs, 1..=1440.
    pub interval_minutes: u32,
    /// Quiet time after a stock change before the inventory push, to batch bursts.
    pub inventory_debounce: Duration,
    /// How long a store may be unreachable before the daemon logs it at error priority
    /// (and again at most once per this period while the outage lasts).
    pub unreachable_alert_after: Duration,
    /// Seconds between cheap change-feed polls of each active store (0 = off).
    pub feed_poll_secs: u32,
}

/// `[webhooks]`: the listener for Shoptet's webhook deliveries (off unless both are set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Address the listener binds (usually loopback, behind a TLS reverse proxy).
    pub listen: std::net::SocketAddr,
    /// The URL Shoptet reaches the listener at; each store's URL is this plus `/<token>`.
    /// https (Shoptet delivers to ports 80/8080/443/8443 only); plain http only on loopback.
    pub public_url: String,
}

/// `[metrics]`: the Prometheus metrics and probes listener (off unless `listen` is set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Where `/metrics`, `/healthz` and `/readyz` are served, e.g. `127.0.0.1:9464`.
    pub listen: Option<std::net::SocketAddr>,
    /// Allow a non-loopback `listen` address (the figures are served without authentication).
    pub allow_remote: bool,
}

/// The validated daemon configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    /// The sled store and other state.
    pub data_dir: PathBuf,
    /// Graceful shutdown deadline after SIGTERM (the unit's TimeoutStopSec is larger).
    pub shutdown_timeout: Duration,
    /// The control socket.
    pub control: ControlSettings,
    /// Access control for the control socket.
    pub access: AccessPolicy,
    /// Logging.
    pub log: LogSettings,
    /// History retention.
    pub retention: Retention,
    /// Sync defaults.
    pub sync: SyncDefaults,
    /// Where the key that seals stored secrets is (`[secrets]`).
    pub secrets: crate::secrets::KeySettings,
    /// The metrics listener.
    pub metrics: MetricsSettings,
    /// Webhook listener, when configured.
    pub webhooks: Option<WebhookSettings>,
    /// Scheduled backups.
    pub backup: BackupSettings,
    /// Integrations created or updated at start (and on reload).
    pub integrations: Vec<DeclaredIntegration>,
}

/// A loaded configuration and the warnings to log once logging is up.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The configuration.
    pub config: DaemonConfig,
    /// Non-fatal problems (never containing secrets).
    pub warnings: Vec<String>,
}

/// The parts of the environment loading depends on, explicit so tests can set them.
#[derive(Debug, Clone, Default)]
pub struct LoadEnv {
    /// `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`).
    pub credentials_directory: Option<PathBuf>,
}

impl LoadEnv {
    /// Reads the process environment.
    pub fn from_process() -> Self {
        Self {
            credentials_directory: std::env::var_os("CREDENTIALS_DIRECTORY")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        let raw = RawConfig::default();
        Self {
            data_dir: raw.data_dir,
            shutdown_timeout: Duration::from_secs(raw.shutdown_timeout_secs),
            control: ControlSettings {
                socket_path: raw.control.socket_path,
                socket_group: None,
                socket_gid: None,
                socket_mode: raw.control.socket_mode,
                max_connections: raw.control.max_connections as usize,
                max_connections_per_uid: raw.control.max_connections_per_uid as usize,
                admin_reserved_connections: raw.control.admin_reserved_connections as usize,
                max_request_bytes: raw.control.max_request_bytes as usize,
                request_timeout: Duration::from_secs(raw.control.request_timeout_secs),
                sync_request_timeout: Duration::from_secs(raw.control.sync_request_timeout_secs),
                idle_timeout: Duration::from_secs(raw.control.idle_timeout_secs),
                request_line_timeout: Duration::from_secs(raw.control.request_line_timeout_secs),
            },
            access: AccessPolicy::default(),
            log: LogSettings {
                output: raw.log.output,
                level: raw.log.level,
            },
            retention: Retention {
                sync_log_days: raw.retention.sync_log_days,
                resolved_error_days: raw.retention.resolved_error_days,
            },
            sync: SyncDefaults {
                interval_minutes: raw.sync.interval_minutes,
                inventory_debounce: Duration::from_secs(raw.sync.inventory_debounce_secs),
                unreachable_alert_after: Duration::from_secs(
                    raw.sync.unreachable_alert_minutes.saturating_mul(60),
                ),
                feed_poll_secs: raw.sync.feed_poll_secs,
            },
            secrets: crate::secrets::KeySettings::default(),
            metrics: MetricsSettings::default(),
            webhooks: None,
            backup: BackupSettings {
                dir: raw.backup.dir,
                interval: Duration::from_secs(u64::from(raw.backup.interval_hours) * 3600),
                keep: raw.backup.keep as usize,
            },
            integrations: Vec::new(),
        }
    }
}

impl DaemonConfig {
    /// Reads and validates the file at `path`, taking `$CREDENTIALS_DIRECTORY` from the process.
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|reason| ConfigError::Read {
            path: path.to_owned(),
            reason,
        })?;
        Self::parse(&text, path, &LoadEnv::from_process())
    }

    /// Validates `text`; `origin` is the file it came from (for messages and relative token paths).
    pub fn parse(text: &str, origin: &Path, env: &LoadEnv) -> Result<LoadedConfig, ConfigError> {
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(err) => return Err(from_toml_error(text, origin, &err)),
        };
        let mut warnings = Vec::new();
        let base_dir = origin.parent().map(Path::to_path_buf).unwrap_or_default();
        resolve(raw, &base_dir, env, &mut warnings)
            .map(|config| LoadedConfig { config, warnings })
            .map_err(|issue| locate_issue(text, origin, issue))
    }

    /// Settings that differ between `self` and `new` but only take effect after a restart; a
    /// SIGHUP reload reports them and keeps the running values.
    pub fn restart_required_changes(&self, new: &DaemonConfig) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.data_dir != new.data_dir {
            changed.push("data_dir");
        }
        if self.control.socket_path != new.control.socket_path {
            changed.push("control.socket_path");
        }
        if self.control.socket_gid != new.control.socket_gid {
            changed.push("control.socket_group");
        }
        if self.control.socket_mode != new.control.socket_mode {
            changed.push("control.socket_mode");
        }
        if self.log.output != new.log.output {
            changed.push("log.output");
        }
        if self.secrets != new.secrets {
            changed.push("secrets");
        }
        if self.metrics != new.metrics {
            changed.push("metrics");
        }
        if self.webhooks != new.webhooks {
            changed.push("webhooks");
        }
        changed
    }
}

/// A validation failure before it is located in the text.
struct Issue {
    key: KeyPath,
    message: String,
}

fn issue(key: KeyPath, message: impl Into<String>) -> Issue {
    Issue {
        key,
        message: message.into(),
    }
}

fn key(dotted: &str) -> KeyPath {
    KeyPath::parse_dotted(dotted)
}

fn from_toml_error(text: &str, origin: &Path, err: &toml::de::Error) -> ConfigError {
    let message = err.message().trim().to_owned();
    let Some(span) = err.span() else {
        return ConfigError::Invalid {
            path: origin.to_owned(),
            line: 1,
            column: 1,
            key: None,
            message,
        };
    };
    // Errors from deserialisation (unknown key, wrong type) come on a syntactically valid
    // document, so it can be re-parsed with spans to find which key the error is about.
    let found = toml::de::DeTable::parse(text)
        .ok()
        .and_then(|doc| locate::key_at(doc.get_ref(), span.start));
    let (line, column) = line_col(text, span.start);
    ConfigError::Invalid {
        path: origin.to_owned(),
        line,
        column,
        key: found.map(|(path, _)| path.to_string()),
        message,
    }
}

fn locate_issue(text: &str, origin: &Path, issue: Issue) -> ConfigError {
    let span = toml::de::DeTable::parse(text)
        .ok()
        .and_then(|doc| nearest_span(doc.get_ref(), &issue.key));
    let (line, column) = span.map_or((1, 1), |s| line_col(text, s.start));
    ConfigError::Invalid {
        path: origin.to_owned(),
        line,
        column,
        key: Some(issue.key.to_string()),
        message: issue.message,
    }
}

/// The span of `key`, or of its closest present ancestor (a missing required key is reported at
/// its table).
fn nearest_span(doc: &toml::de::DeTable<'_>, key: &KeyPath) -> Option<std::ops::Range<usize>> {
    let mut path = key.clone();
    loop {
        if let Some(span) = locate::span_of(doc, &path) {
            return Some(span);
        }
        path.0.pop()?;
    }
}

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    data_dir: PathBuf,
    shutdown_timeout_secs: u64,
    control: RawControl,
    access: RawAccess,
    log: RawLog,
    retention: RawRetention,
    sync: RawSync,
    secrets: RawSecrets,
    metrics: RawMetrics,
    webhooks: RawWebhooks,
    backup: RawBackup,
    #[serde(rename = "integration")]
    integrations: Vec<integration::RawIntegration>,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            shutdown_timeout_secs: 20,
            control: RawControl::default(),
            access: RawAccess::default(),
            log: RawLog::default(),
            retention: RawRetention::default(),
            sync: RawSync::default(),
            secrets: RawSecrets::default(),
            metrics: RawMetrics::default(),
            webhooks: RawWebhooks::default(),
            backup: RawBackup::default(),
            integrations: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawControl {
    socket_path: PathBuf,
    socket_group: Option<String>,
    socket_mode: u32,
    max_connections: u32,
    max_connections_per_uid: u32,
    admin_reserved_connections: u32,
    max_request_bytes: u64,
    request_timeout_secs: u64,
    sync_request_timeout_secs: u64,
    idle_timeout_secs: u64,
    request_line_timeout_secs: u64,
}

impl Default for RawControl {
    fn default() -> Self {
        Self {
            socket_path: PathBuf::from(DEFAULT_SOCKET_PATH),
            socket_group: None,
            socket_mode: 0o660,
            max_connections: 64,
            max_connections_per_uid: 16,
            admin_reserved_connections: 8,
            max_request_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            sync_request_timeout_secs: 3600,
            idle_timeout_secs: 300,
            request_line_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAccess {
    allowed_uids: Vec<u32>,
    allowed_gids: Vec<u32>,
    allowed_users: Vec<String>,
    allowed_groups: Vec<String>,
    admin_uids: Vec<u32>,
    admin_gids: Vec<u32>,
    admin_users: Vec<String>,
    admin_groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    output: LogOutput,
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            output: LogOutput::Auto,
            level: "info".to_owned(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRetention {
    sync_log_days: u32,
    resolved_error_days: u32,
}

impl Default for RawRetention {
    fn default() -> Self {
        Self {
            sync_log_days: 90,
            resolved_error_days: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSync {
    interval_minutes: u32,
    inventory_debounce_secs: u64,
    unreachable_alert_minutes: u64,
    feed_poll_secs: u32,
}

impl Default for RawSync {
    fn default() -> Self {
        Self {
            interval_minutes: 15,
            inventory_debounce_secs: 2,
            unreachable_alert_minutes: 60,
            feed_poll_secs: 10,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMetrics {
    listen: Option<String>,
    allow_remote: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSecrets {
    key_file: PathBuf,
    key_credential: String,
}

impl Default for RawSecrets {
    fn default() -> Self {
        let defaults = crate::secrets::KeySettings::default();
        Self {
            key_file: defaults.key_file,
            key_credential: defaults.key_credential,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWebhooks {
    listen: Option<String>,
    public_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawBackup {
    dir: Option<PathBuf>,
    interval_hours: u32,
    keep: u32,
}

impl Default for RawBackup {
    fn default() -> Self {
        Self {
            dir: None,
            interval_hours: 24,
            keep: 7,
        }
    }
}

fn resolve_secrets(raw: RawSecrets) -> Result<crate::secrets::KeySettings, Issue> {
    if !raw.key_file.is_absolute() {
        return Err(issue(key("secrets.key_file"), "must be an absolute path"));
    }
    let name = raw.key_credential.trim();
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(issue(
            key("secrets.key_credential"),
            "must be a credential name (not empty, no `/`)",
        ));
    }
    Ok(crate::secrets::KeySettings {
        key_file: raw.key_file,
        key_credential: name.to_owned(),
    })
}

// ---------------------------------------------------------------------------------------------
// Validation and resolution.

fn resolve_webhooks(raw: RawWebhooks) -> Result<Option<WebhookSettings>, Issue> {
    let (listen, public_url) = match (raw.listen, raw.public_url) {
        (None, None) => return Ok(None),
        (Some(listen), Some(url)) => (listen, url),
        (None, Some(_)) => {
            return Err(issue(key("webhooks.listen"), "is required with public_url"));
        }
        (Some(_), None) => {
            return Err(issue(key("webhooks.public_url"), "is required with listen"));
        }
    };
    let listen: std::net::SocketAddr = listen.trim().parse().map_err(|_| {
        issue(
            key("webhooks.listen"),
            format!("`{listen}` is not an address like 127.0.0.1:8790"),
        )
    })?;
    let url = crate::shoptet::client::validate_base_url(&public_url, "webhooks.public_url")
        .map_err(|e| issue(key("webhooks.public_url"), e.to_string()))?;
    // Shoptet delivers to https on these ports only (plain http passed the check above only
    // for loopback, which the simulator and the demo use).
    let port = reqwest::Url::parse(&url)
        .ok()
        .filter(|u| u.scheme() == "https")
        .and_then(|u| u.port_or_known_default());
    if port.is_some_and(|p| ![80, 8080, 443, 8443].contains(&p)) {
        return Err(issue(
            key("webhooks.public_url"),
            "Shoptet delivers only to ports 80, 8080, 443 and 8443",
        ));
    }
    Ok(Some(WebhookSettings {
        listen,
        public_url: url,
    }))
}

fn check_range<T: PartialOrd + std::fmt::Display + Copy>(
    dotted: &str,
    value: T,
    min: T,
    max: T,
) -> Result<T, Issue> {
    if value < min || value > max {
        Err(issue(
            key(dotted),
            format!("{value} is out of range; expected {min} to {max}"),
        ))
    } else {
        Ok(value)
    }
}

fn resolve(
    raw: RawConfig,
    base_dir: &Path,
    env: &LoadEnv,
    warnings: &mut Vec<String>,
) -> Result<DaemonConfig, Issue> {
    if !raw.data_dir.is_absolute() {
        return Err(issue(key("data_dir"), "must be an absolute path"));
    }
    let shutdown_secs = check_range("shutdown_timeout_secs", raw.shutdown_timeout_secs, 1, 600)?;
    let control = resolve_control(raw.control)?;
    let access = resolve_access(&raw.access)?;
    let secrets = resolve_secrets(raw.secrets)?;

    if let Err(err) = tracing_subscriber::EnvFilter::builder().parse(&raw.log.level) {
        return Err(issue(
            key("log.level"),
            format!("not a valid level or filter directive: {err}"),
        ));
    }
    let retention = Retention {
        sync_log_days: check_range(
            "retention.sync_log_days",
            raw.retention.sync_log_days,
            1,
            3650,
        )?,
        resolved_error_days: check_range(
            "retention.resolved_error_days",
            raw.retention.resolved_error_days,
            1,
            3650,
        )?,
    };
    let sync = SyncDefaults {
        interval_minutes: check_range("sync.interval_minutes", raw.sync.interval_minutes, 1, 1440)?,
        inventory_debounce: Duration::from_secs(check_range(
            "sync.inventory_debounce_secs",
            raw.sync.inventory_debounce_secs,
            0,
            3600,
        )?),
        unreachable_alert_after: Duration::from_secs(
            check_range(
                "sync.unreachable_alert_minutes",
                raw.sync.unreachable_alert_minutes,
                1,
                1440,
            )?
            .saturating_mul(60),
        ),
        feed_poll_secs: check_range("sync.feed_poll_secs", raw.sync.feed_poll_secs, 0, 3600)?,
    };

    let metrics = resolve_metrics(&raw.metrics)?;
    let backup = resolve_backup(raw.backup, &raw.data_dir)?;

    let mut integrations = Vec::with_capacity(raw.integrations.len());
    let mut names = BTreeSet::new();
    for (index, decl) in raw.integrations.into_iter().enumerate() {
        let at = KeyPath::default().key("integration").index(index);
        if !names.insert(decl.name.clone()) {
            return Err(issue(
                at.key("name"),
                format!("integration `{}` is declared twice", decl.name),
            ));
        }
        integrations.push(integration::resolve(
            decl, &at, &sync, base_dir, env, warnings,
        )?);
    }

    let webhooks = resolve_webhooks(raw.webhooks)?;
    Ok(DaemonConfig {
        data_dir: raw.data_dir,
        shutdown_timeout: Duration::from_secs(shutdown_secs),
        control,
        access,
        log: LogSettings {
            output: raw.log.output,
            level: raw.log.level,
        },
        retention,
        sync,
        secrets,
        metrics,
        webhooks,
        backup,
        integrations,
    })
}

fn resolve_metrics(raw: &RawMetrics) -> Result<MetricsSettings, Issue> {
    let listen = match raw.listen.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            let address: std::net::SocketAddr = text.parse().map_err(|_| {
                issue(
                    key("metrics.listen"),
                    format!(
                        "{text:?} is not an address; expected IP:PORT such as \"127.0.0.1:9464\""
                    ),
                )
            })?;
            if !address.ip().is_loopback() && !raw.allow_remote {
                return Err(issue(
                    key("metrics.listen"),
                    format!(
                        "{address} is not a loopback address; the metrics are served without authentication, so set `allow_remote = true` to serve them there"
                    ),
                ));
            }
            Some(address)
        }
    };
    Ok(MetricsSettings {
        listen,
        allow_remote: raw.allow_remote,
    })
}

fn resolve_backup(raw: RawBackup, data_dir: &Path) -> Result<BackupSettings, Issue> {
    let interval_hours = check_range("backup.interval_hours", raw.interval_hours, 1, 24 * 366)?;
    let keep = check_range("backup.keep", raw.keep, 1, 10_000)?;
    if let Some(dir) = &raw.dir {
        if !dir.is_absolute() {
            return Err(issue(key("backup.dir"), "must be an absolute path"));
        }
        // The store checks the resolved path again before each backup (symbolic links).
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
        let data = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        if dir.starts_with(&data) {
            return Err(issue(
                key("backup.dir"),
                "must not be inside data_dir (a backup there is lost with the data it protects)",
            ));
        }
    }
    Ok(BackupSettings {
        dir: raw.dir,
        interval: Duration::from_secs(u64::from(interval_hours) * 3600),
        keep: keep as usize,
    })
}

fn resolve_control(raw: RawControl) -> Result<ControlSettings, Issue> {
    if !raw.socket_path.is_absolute() {
        return Err(issue(
            key("control.socket_path"),
            "must be an absolute path",
        ));
    }
    if raw.socket_path.as_os_str().len() > 107 {
        return Err(issue(
            key("control.socket_path"),
            "is longer than the 107 bytes a Unix socket path may have",
        ));
    }
    if raw.socket_mode > 0o777 {
        return Err(issue(
            key("control.socket_mode"),
            "must be permission bits such as 0o660",
        ));
    }
    if raw.socket_mode & 0o007 != 0 {
        return Err(issue(
            key("control.socket_mode"),
            format!(
                "{:#o} gives access to every local user; use 0o660 and the allowed groups",
                raw.socket_mode
            ),
        ));
    }
    if raw.socket_mode & 0o600 != 0o600 {
        return Err(issue(
            key("control.socket_mode"),
            "the owner (the daemon) needs read and write (0o600)",
        ));
    }
    let socket_gid = match &raw.socket_group {
        None => None,
        Some(name) => Some(resolve_group("control.socket_group", name)?),
    };
    Ok(ControlSettings {
        socket_path: raw.socket_path,
        socket_group: raw.socket_group,
        socket_gid,
        socket_mode: raw.socket_mode,
        max_connections: check_range("control.max_connections", raw.max_connections, 1, 10_000)?
            as usize,
        max_connections_per_uid: check_range(
            "control.max_connections_per_uid",
            raw.max_connections_per_uid,
            1,
            10_000,
        )? as usize,
        admin_reserved_connections: check_range(
            "control.admin_reserved_connections",
            raw.admin_reserved_connections,
            1,
            1_000,
        )? as usize,
        max_request_bytes: check_range(
            "control.max_request_bytes",
            raw.max_request_bytes,
            1024,
            64 * 1024 * 1024,
        )? as usize,
        request_timeout: Duration::from_secs(check_range(
            "control.request_timeout_secs",
            raw.request_timeout_secs,
            1,
            3600,
        )?),
        sync_request_timeout: Duration::from_secs(check_range(
            "control.sync_request_timeout_secs",
            raw.sync_request_timeout_secs,
            1,
            86_400,
        )?),
        idle_timeout: Duration::from_secs(check_range(
            "control.idle_timeout_secs",
            raw.idle_timeout_secs,
            1,
            86_400,
        )?),
        request_line_timeout: Duration::from_secs(check_range(
            "control.request_line_timeout_secs",
            raw.request_line_timeout_secs,
            1,
            3600,
        )?),
    })
}

fn resolve_user(dotted: &str, name: &str) -> Result<u32, Issue> {
    match user_id(name) {
        Lookup::Found(uid) => Ok(uid),
        Lookup::NotFound => Err(issue(key(dotted), format!("no such user `{name}`"))),
        Lookup::Failed(why) => Err(issue(
            key(dotted),
            format!("cannot look up user `{name}`: {why}"),
        )),
    }
}

fn resolve_group(dotted: &str, name: &str) -> Result<u32, Issue> {
    match group_id(name) {
        Lookup::Found(gid) => Ok(gid),
        Lookup::NotFound => Err(issue(key(dotted), format!("no such group `{name}`"))),
        Lookup::Failed(why) => Err(issue(
            key(dotted),
            format!("cannot look up group `{name}`: {why}"),
        )),
    }
}

fn resolve_access(raw: &RawAccess) -> Result<AccessPolicy, Issue> {
    let mut policy = AccessPolicy {
        allowed_uids: raw.allowed_uids.iter().copied().collect(),
        allowed_gids: raw.allowed_gids.iter().copied().collect(),
        admin_uids: raw.admin_uids.iter().copied().collect(),
        admin_gids: raw.admin_gids.iter().copied().collect(),
    };
    for (list, dotted, target) in [
        (
            &raw.allowed_users,
            "access.allowed_users",
            &mut policy.allowed_uids,
        ),
        (
            &raw.admin_users,
            "access.admin_users",
            &mut policy.admin_uids,
        ),
    ] {
        for name in list {
            target.insert(resolve_user(dotted, name)?);
        }
    }
    for (list, dotted, target) in [
        (
            &raw.allowed_groups,
            "access.allowed_groups",
            &mut policy.allowed_gids,
        ),
        (
            &raw.admin_groups,
            "access.admin_groups",
            &mut policy.admin_gids,
        ),
    ] {
        for name in list {
            target.insert(resolve_group(dotted, name)?);
        }
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LoadedConfig, ConfigError> {
        DaemonConfig::parse(text, Path::new("/etc/x/test.toml"), &LoadEnv::default())
    }

    #[test]
    fn empty_file_gives_defaults() {
        let loaded = parse("").unwrap();
        assert_eq!(loaded.config, DaemonConfig::default());
        assert_eq!(loaded.config.control.socket_mode, 0o660);
        assert_eq!(loaded.config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    #[test]
    fn access_policy_decides_by_uid_and_gid() {
        let policy = AccessPolicy {
            allowed_uids: [1000].into(),
            allowed_gids: [2000].into(),
            admin_uids: [1001].into(),
            admin_gids: [3000].into(),
        };
        assert_eq!(policy.decide(0, 0, 999), PeerAccess::Admin);
        assert_eq!(policy.decide(999, 5, 999), PeerAccess::Admin);
        assert_eq!(policy.decide(1001, 5, 999), PeerAccess::Admin);
        assert_eq!(policy.decide(4, 3000, 999), PeerAccess::Admin);
        assert_eq!(policy.decide(1000, 5, 999), PeerAccess::ReadOnly);
        assert_eq!(policy.decide(4, 2000, 999), PeerAccess::ReadOnly);
        assert_eq!(policy.decide(4, 5, 999), PeerAccess::Denied);
    }

    #[test]
    fn restart_required_changes_lists_fixed_settings_only() {
        let a = DaemonConfig::default();
        let mut b = a.clone();
        b.log.level = "debug".into();
        b.retention.sync_log_days = 7;
        assert!(a.restart_required_changes(&b).is_empty());
        b.control.socket_path = PathBuf::from("/run/other.sock");
        b.data_dir = PathBuf::from("/srv/x");
        assert_eq!(
            a.restart_required_changes(&b),
            vec!["data_dir", "control.socket_path"]
        );
    }

    #[test]
    fn missing_file_error_names_path() {
        let err = DaemonConfig::load(Path::new("/nonexistent/shoptet.toml")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/shoptet.toml"), "{text}");
    }
}
