//! The daemon's run logic: configuration, store, actor system, control socket, readiness,
//! watchdog, housekeeping, signals (graceful and immediate shutdown, SIGHUP reload), and the
//! `--restore` and `--check-config` modes. `src/bin/shoptet-syncd.rs` parses arguments, calls
//! [`run`] and maps [`DaemonError::exit_code`] to the process exit status.
//!
//! Start-up order, so that systemd's `READY=1` means "usable": load and validate the
//! configuration, set up logging, open the store, start the actor system, apply the declared
//! integrations (creation and settings only; activations need the network and run after
//! readiness), bind the control socket with its permissions, then notify.

use std::future::Future;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};

use super::exit_code;
use super::logging::{self, LogHandle};
use super::notify::{self, Notifier};
use super::signals::{ServiceSignals, SignalEvent};
use crate::actors::messages::{IntegrationUpdate, NewIntegrationSpec};
use crate::actors::{Daemon, SyncSettings, error_chain};
use crate::config::{
    BackupSettings, ConfigError, DEFAULT_CONFIG_PATH, DaemonConfig, DeclaredIntegration,
    LoadedConfig,
};
use crate::control::{ControlServer, ServerConfig};
use crate::domain::{HealthStatus, IntegrationStatus};
use crate::store::{OpenReport, RestoreStats, Store, StoreError};

/// How often the STATUS= line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(30);
/// How often old history is pruned (also once after start and after each reload).
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);
/// Housekeeping never waits longer than this for the actor system.
const HOUSEKEEPING_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest path a Unix socket address can hold.
const MAX_SOCKET_PATH: usize = 107;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// The configuration file is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory cannot be used (locked by another process, not writable, a restore
    /// target that is not empty).
    #[error("cannot use the data directory {}: {reason}", path.display())]
    DataDir {
        /// The data directory.
        path: PathBuf,
        /// What is wrong, with causes.
        reason: String,
    },
    /// The key that seals stored secrets is missing, unusable or not the one they were sealed
    /// with. Exit 78: a restart cannot fix it.
    #[error("{0}")]
    Key(String),
    /// The store is damaged (records missing, undecodable, or older than they must be): the
    /// daemon refuses to run on it. The message names the problem and the newest backup.
    #[error("{0}")]
    StoreDamaged(String),
    /// The final flush at stop failed: changes acknowledged before may not be on disk.
    #[error("{0}")]
    FlushFailed(String),
    /// A restore failed for another reason (damaged backup file, I/O).
    #[error("restore failed: {0}")]
    Restore(String),
    /// Any other failure while running.
    #[error("{0}")]
    Runtime(String),
}

impl DaemonError {
    /// The process exit status for this error (see [`exit_code`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => exit_code::USAGE,
            Self::Config(_) | Self::Key(_) => exit_code::CONFIG,
            Self::DataDir { .. } | Self::StoreDamaged(_) => exit_code::CANT_CREATE,
            Self::FlushFailed(_) => exit_code::IO_ERROR,
            Self::Restore(_) | Self::Runtime(_) => exit_code::FAILURE,
        }
    }
}

/// Command-line settings that replace values of the configuration file (also after a reload).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--socket`.
    pub socket_path: Option<PathBuf>,
}

impl Overrides {
    /// Applies the overrides to `config`.
    pub fn apply(&self, config: &mut DaemonConfig) {
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(socket) = &self.socket_path {
            config.control.socket_path = socket.clone();
        }
    }
}

/// `path` made absolute against the current directory.
pub fn absolute(path: &Path) -> Result<PathBuf, DaemonError> {
    std::path::absolute(path)
        .map_err(|e| DaemonError::Usage(format!("cannot resolve {}: {e}", path.display())))
}

/// Checks that `--socket` fits in a Unix socket address and makes it absolute.
pub fn socket_override(path: &Path) -> Result<PathBuf, DaemonError> {
    let path = absolute(path)?;
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(DaemonError::Usage(format!(
            "the socket path {} is longer than the {MAX_SOCKET_PATH} bytes a Unix socket may have; \
             use a shorter directory",
            path.display()
        )));
    }
    Ok(path)
}

/// Which file to read: `--config`, else the packaged path if it exists, else none (built-in
/// defaults).
pub fn config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => {
            let default = Path::new(DEFAULT_CONFIG_PATH);
            default.exists().then(|| default.to_path_buf())
        }
    }
}

/// Reads and validates the configuration (built-in defaults when `path` is `None`) and applies
/// the command-line overrides.
pub fn load_config(
    path: Option<&Path>,
    overrides: &Overrides,
) -> Result<LoadedConfig, DaemonError> {
    let mut loaded = match path {
        Some(path) => DaemonConfig::load(path)?,
        None => LoadedConfig {
            config: DaemonConfig::default(),
            warnings: Vec::new(),
        },
    };
    overrides.apply(&mut loaded.config);
    Ok(loaded)
}

/// What `--restore` wrote, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSummary {
    /// The data directory restored into.
    pub data_dir: PathBuf,
    /// Records written, all trees.
    pub records: u64,
    /// Per integration: name, status, orders, products, outbox entries.
    pub integrations: Vec<RestoredIntegration>,
}

/// One integration found in a restored store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredIntegration {
    /// Its name.
    pub name: String,
    /// Its status at backup time.
    pub status: IntegrationStatus,
    /// Orders held.
    pub orders: usize,
    /// Products held.
    pub products: usize,
    /// Outbox entries (pending, sent or dead).
    pub outbox: usize,
}

impl std::fmt::Display for RestoreSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "restored {} records into {}",
            self.records,
            self.data_dir.display()
        )?;
        if self.integrations.is_empty() {
            writeln!(f, "no integrations")?;
        }
        for i in &self.integrations {
            writeln!(
                f,
                "integration {}: {:?}, {} orders, {} products, {} outbox entries",
                i.name, i.status, i.orders, i.products, i.outbox
            )?;
        }
        Ok(())
    }
}

/// `--restore FILE --data-dir DIR`: restores a backup into an empty (or absent) directory and
/// describes what it holds. The daemon must not be running on `data_dir`.
pub fn restore(backup_file: &Path, data_dir: &Path) -> Result<RestoreSummary, DaemonError> {
    let stats: RestoreStats = Store::restore(backup_file, data_dir).map_err(|e| match e {
        StoreError::NotEmpty { .. } => DaemonError::DataDir {
            path: data_dir.to_path_buf(),
            reason: "it is not empty; restore only writes into an empty or new directory \
                     (move the old one aside first)"
                .to_owned(),
        },
        other => DaemonError::Restore(error_chain(&other)),
    })?;
    let store = open_store(data_dir, None)?;
    let mut integrations = Vec::new();
    let list = store
        .integrations()
        .map_err(|e| DaemonError::Restore(error_chain(&e)))?;
    for integration in list {
        let Some(state) = store
            .load_state(integration.id)
            .map_err(|e| DaemonError::Restore(error_chain(&e)))?
        else {
            continue;
        };
        integrations.push(RestoredIntegration {
            name: integration.name.clone(),
            status: integration.status,
            orders: state.orders.len(),
            products: state.products.len(),
            outbox: state.outbox.len(),
        });
    }
    Ok(RestoreSummary {
        data_dir: data_dir.to_path_buf(),
        records: stats.records,
        integrations,
    })
}

/// What to tell the operator about backups when the store is damaged.
fn backup_advice(backup_dir: Option<&Path>) -> String {
    let restore = "restore it into an empty directory with `shoptet-syncd --restore FILE --data-dir DIR` \
                   (see docs/operations.md, Backup and restore)";
    match backup_dir {
        Some(dir) => match crate::store::backup::newest_backup(dir) {
            Some(newest) => format!("newest backup: {}; {restore}", newest.display()),
            None => format!(
                "no backup found in {} ([backup] dir); {restore}",
                dir.display()
            ),
        },
        None => format!(
            "no [backup] dir is configured; take the newest `shoptetctl backup` file you have and {restore}"
        ),
    }
}

/// Creates the data directory if needed (0700: only the service user reads the store) and opens
/// the store in it with its integrity check (see [`crate::store::integrity`]). A damaged store
/// is [`DaemonError::StoreDamaged`], naming the problem and the newest backup in `backup_dir`.
pub fn open_checked_store(
    data_dir: &Path,
    backup_dir: Option<&Path>,
) -> Result<(Store, OpenReport), DaemonError> {
    let data_dir_error = |reason: String| DaemonError::DataDir {
        path: data_dir.to_path_buf(),
        reason,
    };
    if !data_dir.exists() {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| data_dir_error(format!("cannot create it: {e}")))?;
        // Best effort: the unit's StateDirectoryMode sets this too.
        let _ = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700));
    }
    Store::open_checked(data_dir).map_err(|e| match e {
        StoreError::Damaged { path, problem } => DaemonError::StoreDamaged(format!(
            "the store in {} is damaged and was not opened: {problem}. The daemon does not run \
             on partial data; {}",
            path.display(),
            backup_advice(backup_dir)
        )),
        other => {
            let mut reason = error_chain(&other);
            if reason.contains("lock") || reason.contains("WouldBlock") {
                reason.push_str(" (is another shoptet-syncd using this data directory?)");
            }
            data_dir_error(reason)
        }
    })
}

/// [`open_checked_store`] without the report.
pub fn open_store(data_dir: &Path, backup_dir: Option<&Path>) -> Result<Store, DaemonError> {
    open_checked_store(data_dir, backup_dir).map(|(store, _)| store)
}

/// `--check-store`: the integrity check the daemon runs at start, offline (the daemon must not
/// be running on `data_dir`). Returns what to print.
pub fn check_store(data_dir: &Path, backup_dir: Option<&Path>) -> Result<String, DaemonError> {
    if !data_dir.is_dir() {
        return Err(DaemonError::DataDir {
            path: data_dir.to_path_buf(),
            reason: "it does not exist".to_owned(),
        });
    }
    let (store, report) = open_checked_store(data_dir, backup_dir)?;
    drop(store);
    let mut text = format!("{}: {report}\n", data_dir.display());
    for warning in &report.warnings {
        text.push_str(&format!("warning: {warning}\n"));
    }
    Ok(text)
}

/// Loads the sealing key (`[secrets]`: a systemd credential, else the key file, created when
/// absent) and installs it in `store`: a key that does not open what is stored is refused, and
/// credentials an older release stored in plaintext are sealed now.
pub async fn unlock_store(store: &Store, config: &DaemonConfig) -> Result<(), DaemonError> {
    let settings = &config.secrets;
    let credentials_directory = crate::config::LoadEnv::from_process().credentials_directory;
    let uses_file = credentials_directory
        .as_ref()
        .is_none_or(|dir| !dir.join(&settings.key_credential).exists());
    if uses_file {
        let key_file = absolute(&settings.key_file)?;
        let data_dir = absolute(&config.data_dir)?;
        if key_file.starts_with(&data_dir) {
            return Err(DaemonError::Key(format!(
                "the key file {} is inside the data directory {}; keep it apart (a copy of the \
                 data directory or a backup must not carry the key): set [secrets] key_file",
                key_file.display(),
                data_dir.display()
            )));
        }
        let sealed = store
            .sealed_values()
            .map_err(|e| DaemonError::Key(format!("cannot read the store: {}", error_chain(&e))))?;
        if sealed > 0 && !key_file.exists() {
            // A new key could not open them: say what is missing rather than create one.
            return Err(DaemonError::Key(format!(
                "the key file {} does not exist, but the store holds secrets sealed with a key: \
                 put that key there (or give it as the systemd credential `{}`)",
                key_file.display(),
                settings.key_credential
            )));
        }
    }
    let (sealer, created) = crate::secrets::load_key(settings, credentials_directory.as_deref())
        .map_err(|e| {
            DaemonError::Key(format!("cannot load the sealing key: {}", error_chain(&e)))
        })?;
    let source = sealer.source().to_string();
    if created {
        // A key is only created for a store that holds no sealed secret yet (a first start):
        // worth a notice, not a warning.
        tracing::info!(key = %source, "created a new sealing key; keep a copy of it apart from the backups: without it the stored tokens cannot be read");
    }
    let report = store
        .install_sealer(sealer)
        .await
        .map_err(|e| DaemonError::Key(format!("cannot unlock the store: {}", error_chain(&e))))?;
    if report.migrated > 0 {
        tracing::info!(
            integrations = report.migrated,
            "sealed the credentials an older release stored in plaintext"
        );
    }
    tracing::info!(key = %source, secrets = report.verified, "sealing key loaded");
    Ok(())
}

/// Extra time asked of systemd beyond the graceful deadline and the final flush.
const STOP_MARGIN: Duration = Duration::from_secs(5);

/// The time a stop may take: the graceful deadline, the final flush, a margin.
pub fn stop_budget(shutdown_timeout: Duration) -> Duration {
    shutdown_timeout
        .saturating_add(HOUSEKEEPING_TIMEOUT)
        .saturating_add(STOP_MARGIN)
}

/// How much longer the actors wait for a sync than the control socket does.
const SYNC_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

/// The actor system's timings from the configuration.
pub fn sync_settings(config: &DaemonConfig) -> SyncSettings {
    SyncSettings {
        stock_debounce: config.sync.inventory_debounce,
        unreachable_alert_after: config.sync.unreachable_alert_after,
        feed_poll: Duration::from_secs(u64::from(config.sync.feed_poll_secs)),
        shutdown_timeout: config.shutdown_timeout,
        // Never shorter than the socket's bound for syncs (which the caller then sees, naming
        // the operation); a little longer so that one answers first.
        sync_timeout: config
            .control
            .sync_request_timeout
            .saturating_add(SYNC_TIMEOUT_MARGIN),
        ..SyncSettings::default()
    }
}

/// Binds the webhook listener. A `listen` port of 0 with a loopback `public_url` (tests, the
/// demo) publishes the bound address instead.
async fn bind_webhooks(
    webhooks: &crate::config::WebhookSettings,
) -> Result<
    (
        crate::actors::webhook_routes::WebhookSetup,
        tokio::net::TcpListener,
    ),
    DaemonError,
> {
    let listener = tokio::net::TcpListener::bind(webhooks.listen)
        .await
        .map_err(|e| {
            DaemonError::Runtime(format!(
                "cannot listen for webhooks on {}: {e}",
                webhooks.listen
            ))
        })?;
    let mut public_url = webhooks.public_url.clone();
    if webhooks.listen.port() == 0
        && let Ok(bound) = listener.local_addr()
        && let Ok(mut url) = reqwest::Url::parse(&public_url)
        && url.scheme() == "http"
        && url.host_str().is_some_and(|h| {
            h == "localhost"
                || h.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
        && url.set_port(Some(bound.port())).is_ok()
    {
        public_url = url.to_string().trim_end_matches('/').to_owned();
    }
    Ok((
        crate::actors::webhook_routes::WebhookSetup {
            public_url,
            routes: std::sync::Arc::default(),
        },
        listener,
    ))
}

/// The control server's settings from the configuration.
pub fn server_config(config: &DaemonConfig) -> ServerConfig {
    let control = &config.control;
    ServerConfig {
        socket_path: control.socket_path.clone(),
        group: control
            .socket_gid
            .map(|gid| gid.to_string())
            .or_else(|| control.socket_group.clone()),
        // The configuration's own rule, unchanged: admins are always allowed, root and the
        // daemon's uid are admins.
        access: config.access.clone(),
        always_allow_root: true,
        always_allow_own_uid: true,
        max_connections: control.max_connections,
        max_connections_per_uid: control.max_connections_per_uid,
        admin_reserved_connections: control.admin_reserved_connections,
        max_request_bytes: control.max_request_bytes,
        idle_timeout: control.idle_timeout,
        request_line_timeout: control.request_line_timeout,
        handler_timeout: control.request_timeout,
        long_handler_timeout: control.sync_request_timeout,
        shutdown_grace: config.shutdown_timeout.min(Duration::from_secs(10)),
    }
}

/// Settings a reload cannot change in the running daemon (the control server keeps the access
/// lists and limits it was bound with), in addition to
/// [`DaemonConfig::restart_required_changes`].
fn restart_required(old: &DaemonConfig, new: &DaemonConfig) -> Vec<&'static str> {
    let mut changed = old.restart_required_changes(new);
    if old.access != new.access {
        changed.push("access");
    }
    let (a, b) = (&old.control, &new.control);
    if a.max_connections != b.max_connections
        || a.max_connections_per_uid != b.max_connections_per_uid
        || a.admin_reserved_connections != b.admin_reserved_connections
        || a.request_line_timeout != b.request_line_timeout
        || a.max_request_bytes != b.max_request_bytes
        || a.request_timeout != b.request_timeout
        || a.sync_request_timeout != b.sync_request_timeout
        || a.idle_timeout != b.idle_timeout
    {
        changed.push("control limits");
    }
    if old.shutdown_timeout != new.shutdown_timeout {
        changed.push("shutdown_timeout_secs");
    }
    if old.sync.inventory_debounce != new.sync.inventory_debounce {
        changed.push("sync.inventory_debounce_secs");
    }
    if old.sync.unreachable_alert_after != new.sync.unreachable_alert_after {
        changed.push("sync.unreachable_alert_minutes");
    }
    if old.sync.feed_poll_secs != new.sync.feed_poll_secs {
        changed.push("sync.feed_poll_secs");
    }
    changed
}

/// `new` with every setting that needs a restart kept from `old`.
fn effective_after_reload(old: &DaemonConfig, new: DaemonConfig) -> DaemonConfig {
    DaemonConfig {
        data_dir: old.data_dir.clone(),
        shutdown_timeout: old.shutdown_timeout,
        control: old.control.clone(),
        access: old.access.clone(),
        log: crate::config::LogSettings {
            output: old.log.output,
            level: new.log.level,
        },
        retention: new.retention,
        sync: crate::config::SyncDefaults {
            interval_minutes: new.sync.interval_minutes,
            inventory_debounce: old.sync.inventory_debounce,
            unreachable_alert_after: old.sync.unreachable_alert_after,
            feed_poll_secs: old.sync.feed_poll_secs,
        },
        secrets: old.secrets.clone(),
        metrics: old.metrics,
        webhooks: old.webhooks.clone(),
        backup: new.backup,
        integrations: new.integrations,
    }
}

fn declared_update(decl: &DeclaredIntegration) -> IntegrationUpdate {
    IntegrationUpdate {
        rename: None,
        eshop_url: Some(decl.eshop_url.clone()),
        api_base_url: Some(decl.api_base_url.clone()),
        default_warehouse_code: Some(decl.default_warehouse_code.clone()),
        shoptet_stock_id: Some(decl.shoptet_stock_id),
        sync_interval_minutes: Some(decl.sync_interval_minutes),
        auto_order_import: Some(decl.auto_order_import),
        auto_inventory_sync: Some(decl.auto_inventory_sync),
        auto_status_update: Some(decl.auto_status_update),
        status_mapping: Some(decl.status_mapping),
        low_stock_threshold: Some(decl.low_stock_threshold),
    }
}

/// What applying the declared integrations did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredOutcome {
    /// Declared with `activate = true` and not active yet: to activate (needs the network, so
    /// the caller runs it in the background).
    pub to_activate: Vec<String>,
    /// Declarations that could not be applied (each logged at error level with its reason).
    pub failed: Vec<String>,
}

/// Creates or updates the declared integrations (local changes only). Failures are logged per
/// integration and reported in [`DeclaredOutcome::failed`]: one bad declaration does not stop
/// the others.
pub async fn apply_declared(daemon: &Daemon, declared: &[DeclaredIntegration]) -> DeclaredOutcome {
    let mut outcome = DeclaredOutcome::default();
    if declared.is_empty() {
        return outcome;
    }
    let existing = match daemon.list_integrations().await {
        Ok(list) => list,
        Err(err) => {
            tracing::error!(error = %err, "cannot list integrations; declared integrations not applied");
            outcome.failed = declared.iter().map(|decl| decl.name.clone()).collect();
            return outcome;
        }
    };
    let now = Utc::now();
    for decl in declared {
        let span = tracing::info_span!("declared", store = %decl.name);
        let _enter = span.enter();
        let status = match existing.iter().find(|i| i.name == decl.name) {
            None => {
                let spec = NewIntegrationSpec {
                    name: decl.name.clone(),
                    eshop_url: decl.eshop_url.clone(),
                    api_base_url: Some(decl.api_base_url.clone()),
                    credentials: decl.credentials.clone(),
                    settings: declared_update(decl),
                };
                match daemon.create_integration(spec).await {
                    Ok(created) => {
                        tracing::info!(store = %decl.name, "declared integration created");
                        created.status
                    }
                    Err(err) => {
                        tracing::error!(store = %decl.name, error = %err, "cannot create the declared integration");
                        outcome.failed.push(decl.name.clone());
                        continue;
                    }
                }
            }
            Some(current) => {
                if decl.apply_to(current, now).is_some() {
                    if let Err(err) = daemon
                        .update_integration(decl.name.as_str(), declared_update(decl))
                        .await
                    {
                        tracing::error!(store = %decl.name, error = %err, "cannot update the declared integration");
                        outcome.failed.push(decl.name.clone());
                        continue;
                    }
                    if let Some(credentials) = &decl.credentials
                        && current.credentials.as_ref() != Some(credentials)
                        && let Err(err) = daemon
                            .set_credentials(decl.name.as_str(), credentials.clone())
                            .await
                    {
                        tracing::error!(store = %decl.name, error = %err, "cannot update the declared integration's token");
                        outcome.failed.push(decl.name.clone());
                        continue;
                    }
                    tracing::info!(store = %decl.name, "declared integration updated");
                }
                current.status
            }
        };
        if decl.activate && status != IntegrationStatus::Active {
            outcome.to_activate.push(decl.name.clone());
        }
    }
    outcome
}

/// Activates integrations in the background, logging each outcome.
fn spawn_activations(daemon: &Daemon, names: Vec<String>) {
    for name in names {
        let daemon = daemon.clone();
        actix_rt::spawn(async move {
            match daemon.activate(name.as_str()).await {
                Ok(_) => tracing::info!(store = %name, "declared integration activated"),
                Err(err) => tracing::error!(
                    store = %name,
                    error = %err,
                    "cannot activate the declared integration; it stays inactive until the next reload or `shoptetctl integration activate`"
                ),
            }
        });
    }
}

/// The one-line STATUS= summary: stores, their state and health, outbox depth.
pub async fn status_line(daemon: &Daemon) -> String {
    let status = match tokio::time::timeout(HOUSEKEEPING_TIMEOUT, daemon.status()).await {
        Ok(Ok(status)) => status,
        Ok(Err(err)) => return format!("status unavailable: {err}"),
        Err(_) => return "status unavailable: the actor system is slow to answer".to_owned(),
    };
    let stores = status.stores.len();
    let active = status
        .stores
        .iter()
        .filter(|s| s.status == IntegrationStatus::Active)
        .count();
    let count = |h: HealthStatus| status.stores.iter().filter(|s| s.health == h).count();
    let pending: u64 = status.stores.iter().map(|s| s.outbox_pending).sum();
    let dead: u64 = status.stores.iter().map(|s| s.outbox_dead_letters).sum();
    let mut line = format!(
        "{stores} store{} ({active} active); health: {} healthy, {} warning, {} critical; outbox: {pending} pending, {dead} dead",
        if stores == 1 { "" } else { "s" },
        count(HealthStatus::Healthy),
        count(HealthStatus::Warning),
        count(HealthStatus::Critical),
    );
    if !status.restarting.is_empty() {
        line.push_str(&format!("; restarting: {}", status.restarting.join(", ")));
    }
    line
}

/// Everything [`serve`] needs, prepared before the runtime starts.
pub struct ServeSpec {
    /// The file to re-read on SIGHUP (`None`: built-in defaults, nothing to re-read).
    pub config_path: Option<PathBuf>,
    /// Re-applied to every reloaded configuration.
    pub overrides: Overrides,
    /// The configuration in force.
    pub config: DaemonConfig,
    /// The installed logger, for level changes.
    pub log: LogHandle,
    /// The actor system's timings.
    pub settings: SyncSettings,
}

impl std::fmt::Debug for ServeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeSpec")
            .field("config_path", &self.config_path)
            .finish_non_exhaustive()
    }
}

/// The normal daemon: loads the configuration, sets up logging and serves until stopped.
pub fn run(config_path: Option<PathBuf>, overrides: Overrides) -> Result<(), DaemonError> {
    let loaded = load_config(config_path.as_deref(), &overrides)?;
    let log = logging::init(&loaded.config.log)
        .map_err(|e| DaemonError::Runtime(format!("cannot set up logging: {e}")))?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    match &config_path {
        Some(path) => tracing::info!(config = %path.display(), "configuration loaded"),
        None => tracing::info!(
            "no configuration file (none given and {DEFAULT_CONFIG_PATH} does not exist); using the defaults"
        ),
    }
    let spec = ServeSpec {
        config_path,
        overrides,
        settings: sync_settings(&loaded.config),
        config: loaded.config,
        log,
    };
    run_system(spec, |_daemon| async { Ok(()) })
}

/// Runs [`serve`] inside a fresh actix `System` (the actors, the control server and the signal
/// stream all run on it).
pub fn run_system<G, F, Fut>(spec: ServeSpec, after_ready: F) -> Result<(), DaemonError>
where
    F: FnOnce(Daemon) -> Fut,
    Fut: Future<Output = Result<G, DaemonError>>,
{
    let system = actix_rt::System::new();
    system.block_on(serve(spec, after_ready))
}

/// The control socket as bound: path and identity, to remove only our own file.
struct BoundSocket {
    path: PathBuf,
    identity: Option<(u64, u64)>,
}

impl BoundSocket {
    fn of(path: &Path) -> Self {
        let identity = std::fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        Self {
            path: path.to_path_buf(),
            identity,
        }
    }

    /// Removes the socket file if it is still ours (an immediate exit skips the server's own
    /// clean-up).
    fn remove(&self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && Some((meta.dev(), meta.ino())) == self.identity
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Serves until SIGTERM/SIGINT. Must run inside an actix `System`. `after_ready` runs once the
/// daemon is ready (the demo starts its shop there); what it returns is kept until exit.
pub async fn serve<G, F, Fut>(spec: ServeSpec, after_ready: F) -> Result<(), DaemonError>
where
    F: FnOnce(Daemon) -> Fut,
    Fut: Future<Output = Result<G, DaemonError>>,
{
    let ServeSpec {
        config_path,
        overrides,
        mut config,
        log,
        mut settings,
    } = spec;
    let notifier = Arc::new(Notifier::from_env().unwrap_or_else(|err| {
        tracing::warn!(error = %err, "systemd notifications disabled");
        Notifier::disabled()
    }));
    let mut signals = ServiceSignals::install()
        .map_err(|e| DaemonError::Runtime(format!("cannot install signal handlers: {e}")))?;

    let (store, report) = open_checked_store(&config.data_dir, config.backup.dir.as_deref())?;
    for warning in &report.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(data_dir = %config.data_dir.display(), "store opened; {report}");
    unlock_store(&store, &config).await?;
    let metrics = settings.metrics.clone();
    metrics.set_store_open(true);
    // The webhook listener runs until this function returns (its stop sender drops then).
    let (_webhooks_stop, webhooks_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(webhooks) = &config.webhooks {
        let (setup, listener) = bind_webhooks(webhooks).await?;
        tracing::info!(listen = %webhooks.listen, public_url = %setup.public_url, "webhook listener on");
        let routes = std::sync::Arc::clone(&setup.routes);
        actix_rt::spawn(async move {
            let stopped = async move {
                let _ = webhooks_stopped.await;
            };
            if let Err(err) = super::webhooks::serve(listener, routes, stopped).await {
                tracing::error!(error = %err, "the webhook listener stopped; the feed poll keeps orders fresh");
            }
        });
        settings.webhooks = Some(setup);
    }
    let daemon = Daemon::start(store.clone(), settings);
    let metrics_server = match start_metrics(&config, &metrics, &daemon) {
        Ok(server) => server,
        Err(err) => {
            let _ = daemon.shutdown().await;
            return Err(err);
        }
    };
    let activations = apply_declared(&daemon, &config.integrations)
        .await
        .to_activate;

    let server = match ControlServer::bind(server_config(&config)) {
        Ok(server) => server,
        Err(err) => {
            let _ = daemon.shutdown().await;
            return Err(DaemonError::Runtime(format!(
                "cannot serve the control socket: {err}"
            )));
        }
    };
    let socket_path = config.control.socket_path.clone();
    if config.control.socket_mode != crate::control::server::SOCKET_MODE
        && let Err(err) = std::fs::set_permissions(
            &socket_path,
            std::fs::Permissions::from_mode(config.control.socket_mode),
        )
    {
        tracing::warn!(error = %err, socket = %socket_path.display(), "cannot set the configured socket mode");
    }
    let bound = BoundSocket::of(&socket_path);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server_task = actix_rt::spawn(server.run(Arc::new(daemon.clone()), async move {
        let _ = stop_rx.await;
    }));

    if let Err(err) = notifier.ready(&status_line(&daemon).await) {
        tracing::warn!(error = %err, "cannot send READY=1 to systemd");
    }
    tracing::info!(socket = %socket_path.display(), "shoptet-syncd ready");
    spawn_activations(&daemon, activations);

    if let Some(interval) = notify::watchdog_interval() {
        let notifier = notifier.clone();
        let daemon = daemon.clone();
        actix_rt::spawn(async move {
            notify::run_watchdog(&notifier, interval, move || {
                let daemon = daemon.clone();
                async move { daemon.status().await.is_ok() }
            })
            .await;
        });
        tracing::info!(every = ?interval, "watchdog pings on");
    }

    let hook = match after_ready(daemon.clone()).await {
        Ok(hook) => hook,
        Err(err) => {
            let _ = stop_tx.send(());
            let _ = daemon.shutdown().await;
            let _ = (&mut server_task).await;
            return Err(err);
        }
    };

    let mut status_ticks = tokio::time::interval(STATUS_EVERY);
    status_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    status_ticks.reset();
    let mut prune_ticks = tokio::time::interval(PRUNE_EVERY);
    prune_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let backup_timer = tokio::time::sleep(first_backup_delay(&config.backup, Utc::now()));
    tokio::pin!(backup_timer);

    let outcome = loop {
        tokio::select! {
            event = signals.next() => match event {
                Some(SignalEvent::Reload) => {
                    // A reload waits on the actors (and may read files): a stop signal meanwhile
                    // abandons it rather than waiting for it.
                    let reloading = reload(&mut config, config_path.as_deref(), &overrides, &log, &notifier, &daemon);
                    let stop = async {
                        while let Some(SignalEvent::Reload) = signals.next().await {
                            tracing::info!("SIGHUP during a reload: already reloading");
                        }
                    };
                    let stopped = tokio::select! {
                        () = reloading => false,
                        () = stop => true,
                    };
                    if stopped {
                        tracing::warn!("stop requested during a reload; abandoning the reload");
                        break Ok(());
                    }
                    prune(&store, &config).await;
                    backup_timer
                        .as_mut()
                        .reset(tokio::time::Instant::now() + first_backup_delay(&config.backup, Utc::now()));
                }
                Some(SignalEvent::Shutdown | SignalEvent::ShutdownImmediate) | None => break Ok(()),
            },
            _ = status_ticks.tick() => {
                let line = status_line(&daemon).await;
                if let Err(err) = notifier.status(&line) {
                    tracing::debug!(error = %err, "cannot send STATUS=");
                }
            }
            _ = prune_ticks.tick() => prune(&store, &config).await,
            () = &mut backup_timer, if config.backup.dir.is_some() => {
                let delay = scheduled_backup(&store, &config.backup).await;
                backup_timer.as_mut().reset(tokio::time::Instant::now() + delay);
            }
            result = &mut server_task => {
                break Err(DaemonError::Runtime(match result {
                    Ok(Ok(())) => "the control server stopped unexpectedly".to_owned(),
                    Ok(Err(err)) => format!("the control server failed: {err}"),
                    Err(err) => format!("the control server task failed: {err}"),
                }));
            }
        }
    };

    // Graceful shutdown: stop accepting (the server removes the socket at once), let the actors
    // finish or cancel their syncs and commit, flush. A second signal or the deadline cuts it
    // short; every commit is atomic and flushed, so the store is consistent either way.
    // The configured deadline may exceed the unit's TimeoutStopSec: ask systemd for the time the
    // whole shutdown can take (graceful part, final flush, margin).
    let _ = notifier.stopping_within(
        "stopping: finishing running syncs",
        stop_budget(config.shutdown_timeout),
    );
    tracing::info!(deadline = ?config.shutdown_timeout, "shutting down");
    let _ = stop_tx.send(());
    let graceful = async {
        let (server_result, daemon_result) = futures::join!(
            async {
                if server_task.is_finished() {
                    Ok(Ok(()))
                } else {
                    (&mut server_task).await
                }
            },
            daemon.shutdown()
        );
        if let Ok(Err(err)) = server_result {
            tracing::warn!(error = %err, "control server stopped with an error");
        }
        if let Err(err) = daemon_result {
            tracing::warn!(error = %err, "the actor system did not stop cleanly");
        }
    };
    let immediate = async {
        loop {
            match signals.next().await {
                Some(SignalEvent::ShutdownImmediate) => break,
                Some(_) => continue,
                None => std::future::pending::<()>().await,
            }
        }
    };
    tokio::select! {
        () = graceful => tracing::info!("all stores stopped"),
        () = tokio::time::sleep(config.shutdown_timeout) => tracing::warn!(
            deadline = ?config.shutdown_timeout,
            "graceful shutdown took longer than shutdown_timeout_secs; stopping now"
        ),
        () = immediate => tracing::warn!("second stop signal: stopping at once"),
    }
    let flushed = match tokio::time::timeout(HOUSEKEEPING_TIMEOUT, store.checkpoint()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!("final store flush failed: {}", error_chain(&err))),
        Err(_) => Err("final store flush did not finish in time".to_owned()),
    };
    if let Err(problem) = &flushed {
        tracing::error!("{problem}; changes made before the stop may not be on disk");
    }
    metrics.set_store_open(false);
    if let Some(server) = metrics_server {
        server.stop();
    }
    bound.remove();
    signals.close();
    drop(hook);
    tracing::info!("shoptet-syncd stopped");
    match (outcome, flushed) {
        (Ok(()), Err(problem)) => Err(DaemonError::FlushFailed(problem)),
        (outcome, _) => outcome,
    }
}

/// `/healthz`: the actor system answers a status query.
struct ActorProbe(Daemon);

impl crate::metrics::Probe for ActorProbe {
    fn alive(&self) -> futures::future::BoxFuture<'static, Result<(), String>> {
        let daemon = self.0.clone();
        Box::pin(async move {
            daemon
                .status()
                .await
                .map(|_| ())
                .map_err(|err| err.to_string())
        })
    }
}

/// Starts the metrics listener when `[metrics] listen` is set.
fn start_metrics(
    config: &DaemonConfig,
    metrics: &crate::metrics::Metrics,
    daemon: &Daemon,
) -> Result<Option<crate::metrics::MetricsServer>, DaemonError> {
    let Some(listen) = config.metrics.listen else {
        return Ok(None);
    };
    let server = crate::metrics::MetricsServer::start(
        listen,
        config.metrics.allow_remote,
        metrics.clone(),
        Arc::new(ActorProbe(daemon.clone())),
    )
    .map_err(|err| DaemonError::Runtime(error_chain(&err)))?;
    tracing::info!(address = %server.address(), "metrics listener ready");
    Ok(Some(server))
}

/// How long a failed scheduled backup waits before it is tried again (at most the interval).
const BACKUP_RETRY: Duration = Duration::from_secs(10 * 60);

/// Time until the next scheduled backup: one interval after the newest one in the directory
/// (so restarts do not postpone backups), at once if there is none or it is overdue.
pub fn first_backup_delay(settings: &BackupSettings, now: chrono::DateTime<Utc>) -> Duration {
    let Some(dir) = &settings.dir else {
        return settings.interval;
    };
    let Some(newest) = crate::store::backup::newest_backup_time(dir) else {
        return Duration::ZERO;
    };
    let since = (now - newest).to_std().unwrap_or(Duration::ZERO);
    settings
        .interval
        .saturating_sub(since)
        .min(settings.interval)
}

/// Runs one scheduled backup with rotation; returns the time until the next one (sooner after a
/// failure).
async fn scheduled_backup(store: &Store, settings: &BackupSettings) -> Duration {
    let Some(dir) = settings.dir.clone() else {
        return settings.interval;
    };
    let keep = settings.keep;
    let worker = store.clone();
    let result =
        tokio::task::spawn_blocking(move || worker.backup_into_dir(&dir, keep, Utc::now()))
            .await
            .map_err(StoreError::Task)
            .and_then(|result| result);
    match result {
        Ok(done) => {
            for partial in &done.stale_partials {
                tracing::warn!(file = %partial.display(), "removed the partial file of an interrupted backup");
            }
            tracing::info!(
                file = %done.path.display(),
                records = done.stats.records,
                bytes = done.stats.bytes,
                removed = done.removed.len(),
                "scheduled backup written"
            );
            settings.interval
        }
        Err(err) => {
            tracing::error!(error = %error_chain(&err), "scheduled backup failed; retrying later");
            settings.interval.min(BACKUP_RETRY)
        }
    }
}

/// SIGHUP: re-reads the file. An invalid file (or a refused log level) is rejected whole. A
/// valid one is applied; a declared integration that cannot be applied is reported at error
/// level and its previous declaration (if any) stays in the running configuration.
async fn reload(
    config: &mut DaemonConfig,
    path: Option<&Path>,
    overrides: &Overrides,
    log: &LogHandle,
    notifier: &Notifier,
    daemon: &Daemon,
) {
    let _ = notifier.reloading("reloading the configuration");
    let Some(path) = path else {
        tracing::info!("SIGHUP: no configuration file in use, nothing to reload");
        let _ = notifier.ready(&status_line(daemon).await);
        return;
    };
    let loaded = match load_config(Some(path), overrides) {
        Ok(loaded) => loaded,
        Err(err) => {
            tracing::error!(error = %err, "the new configuration is invalid and was rejected");
            tracing::info!("keeping the running configuration");
            let _ = notifier.ready(&status_line(daemon).await);
            return;
        }
    };
    // Validated as a whole by the loader; the level is the only step that can still refuse, so
    // it goes first and a refusal leaves everything as it was.
    if let Err(err) = log.set_level(&loaded.config.log.level) {
        tracing::error!(error = %err, "the new log level was refused; configuration not applied");
        let _ = notifier.ready(&status_line(daemon).await);
        return;
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let needs_restart = restart_required(config, &loaded.config);
    if !needs_restart.is_empty() {
        tracing::warn!(
            settings = %needs_restart.join(", "),
            "changed settings take effect only after a restart; keeping the running values"
        );
    }
    let previous = std::mem::take(&mut config.integrations);
    *config = effective_after_reload(config, loaded.config);
    let outcome = apply_declared(daemon, &config.integrations).await;
    spawn_activations(daemon, outcome.to_activate);
    if outcome.failed.is_empty() {
        tracing::info!(
            level = %config.log.level,
            sync_log_days = config.retention.sync_log_days,
            resolved_error_days = config.retention.resolved_error_days,
            "configuration reloaded"
        );
        let _ = notifier.ready(&status_line(daemon).await);
    } else {
        config.integrations =
            keep_previous_for_failed(&config.integrations, &previous, &outcome.failed);
        tracing::error!(
            failed = %outcome.failed.join(", "),
            "configuration partly reloaded: these declared integrations were not applied and keep \
             their previous state; fix them and reload again"
        );
        let status = format!(
            "{}; reload incomplete: {} not applied",
            status_line(daemon).await,
            outcome.failed.join(", ")
        );
        let _ = notifier.ready(&status);
    }
}

/// The declarations now in force: the new ones, except that a declaration that failed to apply
/// is replaced by its previous version (or dropped if it is new).
fn keep_previous_for_failed(
    new: &[DeclaredIntegration],
    previous: &[DeclaredIntegration],
    failed: &[String],
) -> Vec<DeclaredIntegration> {
    new.iter()
        .filter_map(|decl| {
            if failed.contains(&decl.name) {
                previous.iter().find(|old| old.name == decl.name).cloned()
            } else {
                Some(decl.clone())
            }
        })
        .collect()
}

/// Removes history past the retention: sync logs after `sync_log_days`, resolved errors after
/// `resolved_error_days` (unresolved errors stay until resolved).
async fn prune(store: &Store, config: &DaemonConfig) {
    let now = Utc::now();
    let retention = &config.retention;
    let logs_before = now - TimeDelta::days(i64::from(retention.sync_log_days));
    let errors_before = now - TimeDelta::days(i64::from(retention.resolved_error_days));
    match store.prune_each(logs_before, errors_before).await {
        Ok(stats) if stats.sync_logs + stats.errors > 0 => tracing::info!(
            sync_logs = stats.sync_logs,
            errors = stats.errors,
            sync_log_days = retention.sync_log_days,
            resolved_error_days = retention.resolved_error_days,
            "pruned old history"
        ),
        Ok(_) => {}
        Err(err) => tracing::error!(error = %error_chain(&err), "pruning old history failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_error_kind() {
        assert_eq!(DaemonError::Usage("x".into()).exit_code(), 64);
        let config = DaemonConfig::parse(
            "bogus = 1",
            Path::new("/etc/x.toml"),
            &crate::config::LoadEnv::default(),
        )
        .unwrap_err();
        assert_eq!(DaemonError::Config(config).exit_code(), 78);
        let data = DaemonError::DataDir {
            path: "/x".into(),
            reason: "locked".into(),
        };
        assert_eq!(data.exit_code(), 73);
        assert_eq!(DaemonError::Runtime("x".into()).exit_code(), 1);
    }

    #[test]
    fn reload_keeps_restart_only_settings() {
        let old = DaemonConfig::default();
        let mut new = old.clone();
        new.log.level = "debug".into();
        new.retention.sync_log_days = 7;
        new.control.socket_path = "/run/other.sock".into();
        new.access.allowed_uids.insert(1234);
        let changed = restart_required(&old, &new);
        assert_eq!(changed, vec!["control.socket_path", "access"]);
        let effective = effective_after_reload(&old, new);
        assert_eq!(effective.log.level, "debug");
        assert_eq!(effective.retention.sync_log_days, 7);
        assert_eq!(effective.control.socket_path, old.control.socket_path);
        assert!(effective.access.allowed_uids.is_empty());
    }

    #[test]
    fn own_uid_is_always_an_admin_so_allowed_users_stay_read_only() {
        let mut config = DaemonConfig::default();
        config.access.allowed_uids.insert(4242);
        let server = server_config(&config);
        let own = 999_999;
        assert!(server.is_admin(own, own, &[]));
        assert!(server.is_allowed(own, 4242, &[]));
        assert!(!server.is_admin(own, 4242, &[]));
    }

    #[test]
    fn syncs_are_bounded_by_the_sync_request_timeout_at_the_socket_and_in_the_actors() {
        let config = DaemonConfig::default();
        assert_eq!(
            config.control.sync_request_timeout,
            Duration::from_secs(3600)
        );
        assert_eq!(config.control.request_timeout, Duration::from_secs(30));
        let server = server_config(&config);
        assert_eq!(server.handler_timeout, config.control.request_timeout);
        assert_eq!(
            server.long_handler_timeout,
            config.control.sync_request_timeout
        );
        assert_eq!(
            sync_settings(&config).sync_timeout,
            config.control.sync_request_timeout + SYNC_TIMEOUT_MARGIN
        );
    }

    #[test]
    fn long_socket_paths_are_refused() {
        let long = format!("/tmp/{}/control.sock", "d".repeat(120));
        assert!(matches!(
            socket_override(Path::new(&long)),
            Err(DaemonError::Usage(_))
        ));
        assert!(socket_override(Path::new("/run/x/control.sock")).is_ok());
    }

    #[test]
    fn overrides_replace_file_values() {
        let mut config = DaemonConfig::default();
        Overrides {
            data_dir: Some("/srv/data".into()),
            socket_path: Some("/srv/ctl.sock".into()),
        }
        .apply(&mut config);
        assert_eq!(config.data_dir, PathBuf::from("/srv/data"));
        assert_eq!(config.control.socket_path, PathBuf::from("/srv/ctl.sock"));
    }
}
