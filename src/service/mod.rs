//! Running as a system service: readiness and watchdog notifications to systemd, logging to
//! journald or stderr, signals turned into shutdown and reload requests, exit codes, and the
//! daemon's run logic ([`daemon`]) and demo mode ([`demo`]).

pub mod daemon;
pub mod demo;
pub mod log_escape;
pub mod logging;
pub mod notify;
pub mod rekey;
pub mod signals;
pub mod webhooks;

pub use logging::{LogHandle, LogTarget, LoggingError};
pub use notify::{Notifier, NotifyError, NotifyState};
pub use signals::{ServiceSignals, SignalError, SignalEvent, SignalKind, SignalState};

/// Process exit codes, chosen so that systemd can tell a bad configuration (which a restart
/// cannot fix: `RestartPreventExitStatus=78`) from a transient failure.
pub mod exit_code {
    /// Clean shutdown (also after a second, immediate SIGTERM: the store stays consistent).
    pub const OK: i32 = 0;
    /// Any runtime failure; systemd restarts the service (`Restart=on-failure`).
    pub const FAILURE: i32 = 1;
    /// Command-line usage error (`EX_USAGE`).
    pub const USAGE: i32 = 64;
    /// The data directory cannot be used, e.g. the store is locked by another process, it is
    /// damaged (the integrity check at open failed), or the restore target is not empty
    /// (`EX_CANTCREAT`). Not restarted by the unit (`RestartPreventExitStatus=73`): a restart
    /// cannot repair it.
    pub const CANT_CREATE: i32 = 73;
    /// The store could not be flushed at stop, so acknowledged changes may be missing
    /// (`EX_IOERR`); systemd restarts the service, whose integrity check then runs.
    pub const IO_ERROR: i32 = 74;
    /// The configuration file is missing or invalid (`EX_CONFIG`); not restarted by systemd.
    pub const CONFIG: i32 = 78;
}
