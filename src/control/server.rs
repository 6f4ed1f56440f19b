//! The control socket server: binds the Unix socket safely, checks peer credentials, frames
//! requests, bounds connections (per uid, with slots kept for administrators), sizes and times,
//! and shuts down gracefully.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};

use super::limits::ConnectionSlots;
use tokio::task::JoinSet;

use super::protocol::{Caller, ControlError, ControlHandler, ResponseEnvelope, parse_request_line};
use super::sys;
use crate::config::{AccessPolicy, PeerAccess};

/// Default largest request line.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// At most this many times the request limit is read and discarded from an oversized request
/// before the connection is dropped without waiting for its end.
const DISCARD_FACTOR: usize = 16;
/// Default handler timeout of long-running operations (syncs, activation, backup).
pub const DEFAULT_LONG_HANDLER_TIMEOUT_SECS: u64 = 60 * 60;
/// Mode of the socket file: owner and group may connect, others may not.
pub const SOCKET_MODE: u32 = 0o660;
/// Default connections one non-administrator uid may hold at once.
pub const DEFAULT_MAX_CONNECTIONS_PER_UID: usize = 16;
/// Default connection slots kept for administrators beyond `max_connections`.
pub const DEFAULT_ADMIN_RESERVED_CONNECTIONS: usize = 8;
/// Default time a started request line has to arrive whole.
pub const DEFAULT_REQUEST_LINE_TIMEOUT: Duration = Duration::from_secs(10);
/// Sockets accepted beyond all slots, so that connections being identified (and refused when
/// over a limit) never keep an administrator waiting in the listen backlog.
const ADMISSION_SOCKETS: usize = 256;
/// How long a refused peer gets to take its one-line refusal.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// How the control socket is set up and protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub socket_path: PathBuf,
    /// Group (name or number) that owns the socket file; members may connect at the file level.
    pub group: Option<String>,
    /// Who may connect and who may change state ([`AccessPolicy::classify`]: administrators
    /// are always allowed; `allowed_*` peers may only read).
    pub access: AccessPolicy,
    /// Root may always connect and is an admin (default true).
    pub always_allow_root: bool,
    /// The daemon's own uid may always connect and is an admin (default true).
    pub always_allow_own_uid: bool,
    /// Connections served at once for everyone. A non-administrator finding them all taken is
    /// refused (`busy`); an administrator uses the reserve, then waits for a free slot.
    pub max_connections: usize,
    /// Connections one non-administrator uid may hold at once; more are refused (`busy`).
    pub max_connections_per_uid: usize,
    /// Slots beyond `max_connections` that only administrators may take.
    pub admin_reserved_connections: usize,
    pub max_request_bytes: usize,
    /// How long a connection may stay open without sending a request (blank lines do not count),
    /// and how long a response may take to be read, before it is closed.
    pub idle_timeout: Duration,
    /// How long a request line may take to arrive whole once its first byte has come: slow
    /// senders are cut.
    pub request_line_timeout: Duration,
    /// How long one request may take in the handler before the caller gets `busy`.
    pub handler_timeout: Duration,
    /// The same for long-running operations ([`Request::is_long_running`]: syncs, activation,
    /// backup), which may legitimately take minutes.
    ///
    /// [`Request::is_long_running`]: super::protocol::Request::is_long_running
    pub long_handler_timeout: Duration,
    /// How long shutdown waits for in-flight requests before dropping them.
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    /// Defaults: no extra peers allowed (root and the daemon's uid only, both administrators),
    /// 64 connections (16 per non-administrator uid, 8 more kept for administrators), 1 MiB
    /// requests, 60 s idle, 10 s to send a request line, 120 s handler (3600 s for long-running
    /// operations), 10 s shutdown grace.
    pub fn new(socket_path: impl Into<PathBuf>) -> Self {
        Self {
            socket_path: socket_path.into(),
            group: None,
            access: AccessPolicy::default(),
            always_allow_root: true,
            always_allow_own_uid: true,
            max_connections: 64,
            max_connections_per_uid: DEFAULT_MAX_CONNECTIONS_PER_UID,
            admin_reserved_connections: DEFAULT_ADMIN_RESERVED_CONNECTIONS,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            idle_timeout: Duration::from_secs(60),
            request_line_timeout: DEFAULT_REQUEST_LINE_TIMEOUT,
            handler_timeout: Duration::from_secs(120),
            long_handler_timeout: Duration::from_secs(DEFAULT_LONG_HANDLER_TIMEOUT_SECS),
            shutdown_grace: Duration::from_secs(10),
        }
    }

    fn trusted(&self, own_uid: u32, uid: u32) -> bool {
        (self.always_allow_root && uid == 0) || (self.always_allow_own_uid && uid == own_uid)
    }

    /// What a peer may do; `gids` are its primary and supplementary groups.
    pub fn peer_access(&self, own_uid: u32, uid: u32, gids: &[u32]) -> PeerAccess {
        self.access.classify(uid, gids, self.trusted(own_uid, uid))
    }

    /// Whether a peer may use the socket at all (administrators always may).
    pub fn is_allowed(&self, own_uid: u32, uid: u32, gids: &[u32]) -> bool {
        self.peer_access(own_uid, uid, gids) != PeerAccess::Denied
    }

    /// Whether a peer may run state-changing operations.
    pub fn is_admin(&self, own_uid: u32, uid: u32, gids: &[u32]) -> bool {
        self.peer_access(own_uid, uid, gids) == PeerAccess::Admin
    }
}

/// A bound control socket, ready to serve. Bind first, then tell systemd READY, then [`run`].
///
/// [`run`]: ControlServer::run
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    config: Arc<ServerConfig>,
    own_uid: u32,
    /// Device and inode of our socket file, so that shutdown removes only our own file.
    identity: (u64, u64),
}

/// Binds and serves until `shutdown` resolves; see [`ControlServer`].
pub async fn serve<H: ControlHandler>(
    config: ServerConfig,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ControlError> {
    ControlServer::bind(config)?.run(handler, shutdown).await
}

impl ControlServer {
    /// Removes a stale socket file (only a socket nobody listens on), binds, sets mode 0660 and
    /// the configured group. Must be called inside a tokio runtime.
    pub fn bind(config: ServerConfig) -> Result<Self, ControlError> {
        let path = config.socket_path.clone();
        remove_stale_socket(&path)?;
        warn_if_directory_is_open(&path);
        let listener = UnixListener::bind(&path).map_err(|e| {
            ControlError::unavailable(format!(
                "cannot bind the control socket {}: {e}",
                path.display()
            ))
        })?;
        // Until the chmod below the file has the umask's mode; the socket's directory must be
        // writable by the service only (systemd RuntimeDirectory), which keeps that window closed.
        let setup = || -> Result<(u32, (u64, u64)), ControlError> {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(SOCKET_MODE)).map_err(
                |e| {
                    ControlError::unavailable(format!(
                        "cannot set mode {SOCKET_MODE:o} on {}: {e}",
                        path.display()
                    ))
                },
            )?;
            if let Some(group) = &config.group {
                let gid = sys::group_id_of(group).ok_or_else(|| {
                    ControlError::invalid_argument(format!(
                        "control socket group `{group}` does not exist"
                    ))
                })?;
                std::os::unix::fs::chown(&path, None, Some(gid)).map_err(|e| {
                    ControlError::unavailable(format!(
                        "cannot give {} to group `{group}`: {e}",
                        path.display()
                    ))
                })?;
            }
            // We just created the file, so its owner is our effective uid.
            let meta = std::fs::symlink_metadata(&path).map_err(|e| {
                ControlError::unavailable(format!("cannot stat {}: {e}", path.display()))
            })?;
            Ok((meta.uid(), (meta.dev(), meta.ino())))
        };
        match setup() {
            Ok((own_uid, identity)) => {
                tracing::info!(socket = %path.display(), mode = %format!("{SOCKET_MODE:o}"), group = ?config.group, "control socket bound");
                Ok(Self {
                    listener,
                    config: Arc::new(config),
                    own_uid,
                    identity,
                })
            }
            Err(error) => {
                drop(listener);
                let _ = std::fs::remove_file(&path);
                Err(error)
            }
        }
    }

    /// The socket file's path.
    pub fn path(&self) -> &Path {
        &self.config.socket_path
    }

    /// Serves connections until `shutdown` resolves, then stops accepting, removes the socket
    /// file, lets in-flight requests finish (up to the shutdown grace) and returns.
    pub async fn run<H: ControlHandler>(
        self,
        handler: Arc<H>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ControlError> {
        let Self {
            listener,
            config,
            own_uid,
            identity,
        } = self;
        let slots = Arc::new(ConnectionSlots::new(
            config.max_connections,
            config.admin_reserved_connections,
            config.max_connections_per_uid,
        ));
        // Bounds open sockets (file descriptors). Connection slots are taken only once the peer
        // is identified, so that a user holding all it may hold cannot keep an administrator in
        // the listen backlog behind its own connections.
        let sockets = Arc::new(Semaphore::new(slots.socket_budget(ADMISSION_SOCKETS)));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                biased;
                () = &mut shutdown => break,
                permit = sockets.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            while connections.try_join_next().is_some() {}
            match accepted {
                Ok((stream, _)) => {
                    let connection = Connection {
                        config: config.clone(),
                        own_uid,
                        stop: stop_rx.clone(),
                        slots: slots.clone(),
                    };
                    let handler = handler.clone();
                    connections.spawn(async move {
                        connection.serve(stream, handler).await;
                        drop(permit);
                    });
                }
                Err(error) => {
                    // Typically EMFILE: back off briefly instead of spinning.
                    tracing::warn!(%error, "control socket accept failed");
                    drop(permit);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        drop(listener);
        remove_own_socket(&config.socket_path, identity);
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(config.shutdown_grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                remaining = connections.len(),
                "control connections still busy after the shutdown grace; dropping them"
            );
            connections.shutdown().await;
        }
        tracing::info!(socket = %config.socket_path.display(), "control socket closed");
        Ok(())
    }
}

/// Removes a leftover socket file from a previous run. Refuses to touch anything that is not a
/// socket, and a socket someone still listens on.
fn remove_stale_socket(path: &Path) -> Result<(), ControlError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(ControlError::unavailable(format!(
                "cannot inspect {}: {e}",
                path.display()
            )));
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ControlError::conflict(format!(
            "{} exists and is not a socket; refusing to replace it",
            path.display()
        )));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(ControlError::conflict(format!(
            "another process is listening on {}; is the daemon already running?",
            path.display()
        )));
    }
    std::fs::remove_file(path).map_err(|e| {
        ControlError::unavailable(format!(
            "cannot remove the stale socket {}: {e}",
            path.display()
        ))
    })?;
    tracing::info!(socket = %path.display(), "removed a stale control socket");
    Ok(())
}

fn warn_if_directory_is_open(path: &Path) {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return;
    };
    if let Ok(meta) = std::fs::metadata(dir)
        && meta.mode() & 0o002 != 0
    {
        tracing::warn!(
            directory = %dir.display(),
            "the control socket's directory is writable by everyone; use a directory only the service can write"
        );
    }
}

fn remove_own_socket(path: &Path, identity: (u64, u64)) {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if (meta.dev(), meta.ino()) == identity => {
            if let Err(error) = std::fs::remove_file(path) {
                tracing::warn!(socket = %path.display(), %error, "cannot remove the control socket");
            }
        }
        Ok(_) => tracing::warn!(
            socket = %path.display(),
            "the control socket file was replaced by someone else; leaving it"
        ),
        Err(_) => {}
    }
}

/// One accepted connection's context.
struct Connection {
    config: Arc<ServerConfig>,
    own_uid: u32,
    stop: watch::Receiver<bool>,
    slots: Arc<ConnectionSlots>,
}

enum LineRead {
    Line,
    Eof,
    TooLong,
}

impl Connection {
    async fn serve<H: ControlHandler>(mut self, stream: UnixStream, handler: Arc<H>) {
        let Some(caller) = self.identify(&stream).await else {
            return;
        };
        let (read_half, mut write_half) = stream.into_split();
        if !caller.allowed {
            tracing::warn!(
                uid = caller.caller.uid,
                gid = caller.caller.gid,
                pid = ?caller.caller.pid,
                user = %caller.caller.user_name,
                "refused a control connection from a peer that is not allowed"
            );
            let refusal = ResponseEnvelope::failure(
                None,
                ControlError::unauthorized(format!(
                    "user {} (uid {}) may not use this control socket; ask an administrator to add the uid or a group to the allowed set",
                    caller.caller.user_name, caller.caller.uid
                )),
            );
            let _ = self.write_refusal(&mut write_half, &refusal).await;
            let _ = write_half.shutdown().await;
            return;
        }
        let caller = caller.caller;
        let admitted = tokio::select! {
            biased;
            _ = self.stop.changed() => return,
            admitted = self.slots.admit(&caller) => admitted,
        };
        let _slot = match admitted {
            Ok(slot) => slot,
            Err(refusal) => {
                tracing::info!(
                    uid = caller.uid,
                    pid = ?caller.pid,
                    "refused a control connection over the connection limits"
                );
                let refusal = ResponseEnvelope::failure(None, refusal);
                let _ = self.write_refusal(&mut write_half, &refusal).await;
                let _ = write_half.shutdown().await;
                return;
            }
        };
        let mut reader = BufReader::with_capacity(64 * 1024, read_half);
        let mut line = Vec::new();
        // Restarted only by an answered request: blank lines must not keep a connection (and its
        // slot) alive forever.
        let mut idle_deadline = tokio::time::Instant::now() + self.config.idle_timeout;
        loop {
            if *self.stop.borrow() {
                break;
            }
            // The idle deadline runs until a request starts; from its first byte the whole line
            // must arrive within the request-line timeout, so trickling bytes cannot hold a slot.
            let started = tokio::select! {
                biased;
                _ = self.stop.changed() => break,
                started = tokio::time::timeout_at(idle_deadline, reader.fill_buf()) => {
                    started.map(|buffered| buffered.map(|bytes| !bytes.is_empty()))
                }
            };
            match started {
                Err(_) => {
                    tracing::debug!(uid = caller.uid, "control connection idle; closing");
                    break;
                }
                Ok(Err(error)) => {
                    tracing::debug!(uid = caller.uid, %error, "control connection read failed");
                    break;
                }
                Ok(Ok(false)) => break,
                Ok(Ok(true)) => {}
            }
            let line_deadline = tokio::time::Instant::now() + self.config.request_line_timeout;
            let read = tokio::select! {
                biased;
                _ = self.stop.changed() => break,
                read = tokio::time::timeout_at(
                    line_deadline,
                    read_line(&mut reader, self.config.max_request_bytes, &mut line),
                ) => read,
            };
            let response = match read {
                Err(_) => {
                    tracing::debug!(uid = caller.uid, "control request line too slow; closing");
                    break;
                }
                Ok(Err(error)) => {
                    tracing::debug!(uid = caller.uid, %error, "control connection read failed");
                    break;
                }
                Ok(Ok(LineRead::Eof)) => break,
                Ok(Ok(LineRead::TooLong)) => {
                    let refusal = ResponseEnvelope::failure(
                        None,
                        ControlError::invalid_argument(format!(
                            "request larger than {} bytes; split it (e.g. several stock.bulk_set requests)",
                            self.config.max_request_bytes
                        )),
                    );
                    let _ = self.write_response(&mut write_half, &refusal).await;
                    let _ = write_half.shutdown().await;
                    return;
                }
                Ok(Ok(LineRead::Line)) => {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    self.answer(&caller, &line, handler.as_ref()).await
                }
            };
            if self
                .write_response(&mut write_half, &response)
                .await
                .is_err()
            {
                break;
            }
            idle_deadline = tokio::time::Instant::now() + self.config.idle_timeout;
        }
        let _ = write_half.shutdown().await;
    }

    async fn identify(&self, stream: &UnixStream) -> Option<Identified> {
        let credentials = match stream.peer_cred() {
            Ok(credentials) => credentials,
            Err(error) => {
                tracing::warn!(%error, "cannot read control peer credentials; closing");
                return None;
            }
        };
        let (uid, gid, pid) = (credentials.uid(), credentials.gid(), credentials.pid());
        // The groups the kernel recorded at connect time: no /proc look-up (hidden under
        // ProtectProc=invisible, and racy once the peer exits and its pid is reused).
        let mut gids = vec![gid];
        match sys::peer_groups(stream) {
            Ok(groups) => gids.extend(groups),
            Err(error) => {
                tracing::debug!(uid, %error, "cannot read the control peer's groups; using its primary group only");
            }
        }
        let user_name = tokio::task::spawn_blocking(move || sys::user_label(uid))
            .await
            .unwrap_or_else(|_| format!("uid:{uid}"));
        let access = self.config.peer_access(self.own_uid, uid, &gids);
        Some(Identified {
            allowed: access != PeerAccess::Denied,
            caller: Caller {
                uid,
                gid,
                pid,
                user_name,
                is_admin: access == PeerAccess::Admin,
            },
        })
    }

    async fn answer<H: ControlHandler>(
        &self,
        caller: &Caller,
        line: &[u8],
        handler: &H,
    ) -> ResponseEnvelope {
        let envelope = match parse_request_line(line) {
            Ok(envelope) => envelope,
            Err(refused) => {
                // Only the code: the message is derived from the request, which may carry a
                // token.
                tracing::debug!(uid = caller.uid, code = %refused.error.code, "malformed control request");
                return ResponseEnvelope::failure(refused.id, refused.error);
            }
        };
        let id = envelope.id;
        let request = envelope.request;
        let op = request.op_name();
        let store = request.integration_name().map(str::to_owned);
        if request.is_mutating() && !caller.is_admin {
            tracing::warn!(request_id = ?id, op, uid = caller.uid, user = %caller.user_name, "refused a state-changing request from a non-admin peer");
            return ResponseEnvelope::failure(
                Some(id),
                ControlError::unauthorized(format!(
                    "`{op}` changes state and is limited to administrators; user {} (uid {}) is not one",
                    caller.user_name, caller.uid
                )),
            );
        }
        let limit = if request.is_long_running() {
            self.config.long_handler_timeout
        } else {
            self.config.handler_timeout
        };
        let started = Instant::now();
        let call = std::panic::AssertUnwindSafe(handler.handle(caller, request)).catch_unwind();
        let outcome = match tokio::time::timeout(limit, call).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_panic)) => {
                tracing::error!(request_id = ?id, op, "control handler panicked");
                Err(ControlError::internal(format!(
                    "`{op}` failed inside the daemon; see the daemon log"
                )))
            }
            Err(_) => Err(ControlError::busy(format!(
                "`{op}` did not finish within {} s; it may still complete, check before retrying",
                limit.as_secs_f32()
            ))),
        };
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match outcome {
            Ok(result) => {
                tracing::debug!(request_id = ?id, op, store = ?store, uid = caller.uid, elapsed_ms, "control request served");
                ResponseEnvelope::success(Some(id), result)
            }
            Err(error) => {
                tracing::info!(request_id = ?id, op, store = ?store, uid = caller.uid, code = %error.code, elapsed_ms, "control request refused");
                ResponseEnvelope::failure(Some(id), error)
            }
        }
    }

    /// Writes a refusal, giving the peer only a short time to take it.
    async fn write_refusal(
        &self,
        writer: &mut OwnedWriteHalf,
        refusal: &ResponseEnvelope,
    ) -> std::io::Result<()> {
        tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, self.write_response(writer, refusal))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "write timed out"))?
    }

    async fn write_response(
        &self,
        writer: &mut OwnedWriteHalf,
        response: &ResponseEnvelope,
    ) -> std::io::Result<()> {
        let mut bytes = match serde_json::to_vec(response) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%error, "cannot encode a control response");
                let fallback = ResponseEnvelope::failure(
                    response.id.clone(),
                    ControlError::internal("the daemon could not encode its response"),
                );
                serde_json::to_vec(&fallback).map_err(std::io::Error::other)?
            }
        };
        bytes.push(b'\n');
        // A peer that does not read its responses must not hold the connection forever.
        tokio::time::timeout(self.config.idle_timeout, writer.write_all(&bytes))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "write timed out"))?
    }
}

struct Identified {
    allowed: bool,
    caller: Caller,
}

/// Reads one line (without its `\n`, and without a trailing `\r`) into `line`. A last line
/// without a newline before EOF counts as a line. A line over `max` bytes is discarded up to its
/// end (at most `DISCARD_FACTOR * max` bytes) so that the peer can finish writing and read the
/// refusal.
async fn read_line(
    reader: &mut BufReader<OwnedReadHalf>,
    max: usize,
    line: &mut Vec<u8>,
) -> std::io::Result<LineRead> {
    line.clear();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if line.is_empty() {
                LineRead::Eof
            } else {
                LineRead::Line
            });
        }
        if let Some(end) = available.iter().position(|&b| b == b'\n') {
            if line.len() + end > max {
                reader.consume(end + 1);
                return Ok(LineRead::TooLong);
            }
            line.extend_from_slice(&available[..end]);
            reader.consume(end + 1);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(LineRead::Line);
        }
        let taken = available.len();
        if line.len() + taken > max {
            reader.consume(taken);
            discard_to_line_end(reader, max.saturating_mul(DISCARD_FACTOR)).await?;
            return Ok(LineRead::TooLong);
        }
        line.extend_from_slice(available);
        reader.consume(taken);
    }
}

async fn discard_to_line_end(
    reader: &mut BufReader<OwnedReadHalf>,
    budget: usize,
) -> std::io::Result<()> {
    let mut discarded = 0usize;
    while discarded < budget {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(());
        }
        if let Some(end) = available.iter().position(|&b| b == b'\n') {
            reader.consume(end + 1);
            return Ok(());
        }
        let taken = available.len();
        discarded += taken;
        reader.consume(taken);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rules() {
        let mut config = ServerConfig::new("/tmp/x.sock");
        config.access.allowed_uids = [1000].into();
        config.access.allowed_gids = [50].into();
        assert!(config.is_allowed(999, 0, &[0]), "root");
        assert!(config.is_allowed(999, 999, &[999]), "own uid");
        assert!(config.is_allowed(999, 1000, &[1000]));
        assert!(
            config.is_allowed(999, 1001, &[1001, 50]),
            "supplementary group"
        );
        assert!(!config.is_allowed(999, 1001, &[1001]));
        config.always_allow_root = false;
        config.always_allow_own_uid = false;
        assert!(!config.is_allowed(999, 0, &[0]));
        assert!(!config.is_allowed(999, 999, &[999]));

        // Allowed peers only read; admins (by uid or any group) change state and are allowed
        // without being listed as allowed.
        assert!(!config.is_admin(999, 1000, &[1000]));
        config.access.admin_gids = [60].into();
        config.access.admin_uids = [2000].into();
        assert!(config.is_admin(999, 1000, &[1000, 60]));
        assert!(config.is_allowed(999, 3000, &[3000, 60]), "admin group");
        assert!(config.is_allowed(999, 2000, &[2000]), "admin uid");
        assert!(!config.is_allowed(999, 3000, &[3000]));
        config.always_allow_root = true;
        assert!(config.is_admin(999, 0, &[0]));
    }
}
