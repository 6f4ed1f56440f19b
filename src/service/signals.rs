//! Signals as requests: SIGTERM or SIGINT asks for a graceful shutdown, a second one for an
//! immediate one; SIGHUP asks for a configuration reload.
//!
//! The decision is a small state machine ([`SignalState`]) kept apart from the signal plumbing
//! ([`ServiceSignals`]) so it can be tested without sending signals.

use futures::StreamExt;
use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::{Handle, Signals};

/// The signal handlers could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// Registering with the operating system failed.
    #[error("cannot install signal handlers: {0}")]
    Install(#[from] std::io::Error),
}

/// The signals the daemon reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// SIGTERM (systemd stop).
    Terminate,
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGHUP (`systemctl reload`).
    Hangup,
}

impl SignalKind {
    /// Maps a raw signal number.
    pub fn from_raw(signal: i32) -> Option<Self> {
        match signal {
            SIGTERM => Some(Self::Terminate),
            SIGINT => Some(Self::Interrupt),
            SIGHUP => Some(Self::Hangup),
            _ => None,
        }
    }
}

/// What the daemon should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalEvent {
    /// Stop accepting, let in-flight work finish or cancel it cleanly, flush, remove the socket,
    /// exit 0 within the shutdown deadline.
    Shutdown,
    /// A second stop request during a graceful shutdown: cancel everything now, flush and exit.
    ShutdownImmediate,
    /// Re-read the configuration and apply what can change at run time.
    Reload,
}

/// Turns signals into events; remembers that a shutdown is under way.
#[derive(Debug, Clone, Default)]
pub struct SignalState {
    shutting_down: bool,
}

impl SignalState {
    /// The event for `kind`, or `None` when it is ignored (a reload during shutdown).
    pub fn on_signal(&mut self, kind: SignalKind) -> Option<SignalEvent> {
        match kind {
            SignalKind::Terminate | SignalKind::Interrupt if self.shutting_down => {
                Some(SignalEvent::ShutdownImmediate)
            }
            SignalKind::Terminate | SignalKind::Interrupt => {
                self.shutting_down = true;
                Some(SignalEvent::Shutdown)
            }
            SignalKind::Hangup if self.shutting_down => None,
            SignalKind::Hangup => Some(SignalEvent::Reload),
        }
    }

    /// Whether a shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }
}

/// The daemon's signal stream; create it inside the tokio runtime, early in `main`.
///
/// ```no_run
/// # async fn demo() -> Result<(), shoptet_sync::service::SignalError> {
/// use shoptet_sync::service::{ServiceSignals, SignalEvent};
/// let mut signals = ServiceSignals::install()?;
/// while let Some(event) = signals.next().await {
///     match event {
///         SignalEvent::Reload => { /* re-read config */ }
///         SignalEvent::Shutdown => { /* start draining; keep polling for a second signal */ }
///         SignalEvent::ShutdownImmediate => break,
///     }
/// }
/// # Ok(()) }
/// ```
pub struct ServiceSignals {
    signals: Signals,
    handle: Handle,
    state: SignalState,
}

impl std::fmt::Debug for ServiceSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceSignals")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ServiceSignals {
    /// Installs handlers for SIGTERM, SIGINT and SIGHUP. From here on these signals no longer
    /// kill the process; they are only delivered through [`ServiceSignals::next`].
    pub fn install() -> Result<Self, SignalError> {
        let signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
        let handle = signals.handle();
        Ok(Self {
            signals,
            handle,
            state: SignalState::default(),
        })
    }

    /// The next event (ignored signals are skipped); `None` after [`ServiceSignals::close`].
    /// Cancel-safe: usable as a `tokio::select!` branch.
    pub async fn next(&mut self) -> Option<SignalEvent> {
        loop {
            let raw = self.signals.next().await?;
            let Some(kind) = SignalKind::from_raw(raw) else {
                continue;
            };
            if let Some(event) = self.state.on_signal(kind) {
                return Some(event);
            }
            tracing::info!(?kind, "signal ignored: shutdown already under way");
        }
    }

    /// Whether a shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.state.is_shutting_down()
    }

    /// Stops delivery; `next` then returns `None`.
    pub fn close(&self) {
        self.handle.close();
    }
}
