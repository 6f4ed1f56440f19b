//! The sd_notify protocol: datagrams such as `READY=1` sent to `$NOTIFY_SOCKET`.
//!
//! Everything is a no-op when `NOTIFY_SOCKET` is unset (not started by systemd with
//! `Type=notify`), so the daemon calls these functions unconditionally. Abstract socket
//! addresses (a leading `@`) are supported as systemd uses them.

use std::future::Future;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// A notification could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `NOTIFY_SOCKET` holds something that is not a socket address.
    #[error("NOTIFY_SOCKET={0:?} is neither an absolute path nor an abstract (@) address")]
    BadAddress(String),
    /// The datagram could not be sent.
    #[error("cannot send to the systemd notification socket: {0}")]
    Send(#[from] std::io::Error),
}

/// One state assignment of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyState {
    /// `READY=1`: start-up finished (store open, socket bound with its permissions).
    Ready,
    /// `RELOADING=1`: a SIGHUP reload began; send `Ready` when it is done.
    Reloading,
    /// `STOPPING=1`: graceful shutdown began.
    Stopping,
    /// `STATUS=…`: a one-line summary shown by `systemctl status`.
    Status(String),
    /// `WATCHDOG=1`: the service is alive.
    Watchdog,
    /// `EXTEND_TIMEOUT_USEC=…`: more time is needed for start-up or shutdown.
    ExtendTimeout(Duration),
}

impl NotifyState {
    /// The `KEY=value` line; STATUS is reduced to one line.
    pub fn to_line(&self) -> String {
        match self {
            Self::Ready => "READY=1".to_owned(),
            Self::Reloading => "RELOADING=1".to_owned(),
            Self::Stopping => "STOPPING=1".to_owned(),
            Self::Watchdog => "WATCHDOG=1".to_owned(),
            Self::Status(text) => {
                let one_line: String = text
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                format!("STATUS={}", one_line.trim())
            }
            Self::ExtendTimeout(d) => format!("EXTEND_TIMEOUT_USEC={}", d.as_micros()),
        }
    }
}

/// Sends notifications to systemd, or does nothing when not under `Type=notify`.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; disabled when it is unset or empty.
    pub fn from_env() -> Result<Self, NotifyError> {
        match std::env::var("NOTIFY_SOCKET") {
            Ok(value) if !value.is_empty() => Self::with_address(&value),
            _ => Ok(Self::disabled()),
        }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Self {
        Self { target: None }
    }

    /// Sends to `address`: an absolute path, or `@name` for an abstract socket.
    pub fn with_address(address: &str) -> Result<Self, NotifyError> {
        let addr = parse_address(address)?;
        let socket = UnixDatagram::unbound()?;
        Ok(Self {
            target: Some((socket, addr)),
        })
    }

    /// Whether notifications are actually sent.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends the states in one datagram (systemd applies them together).
    pub fn notify(&self, states: &[NotifyState]) -> Result<(), NotifyError> {
        let Some((socket, addr)) = &self.target else {
            return Ok(());
        };
        let mut message = String::new();
        for state in states {
            message.push_str(&state.to_line());
            message.push('\n');
        }
        socket.send_to_addr(message.as_bytes(), addr)?;
        Ok(())
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&[NotifyState::Ready, NotifyState::Status(status.to_owned())])
    }

    /// `STATUS=…` alone.
    pub fn status(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&[NotifyState::Status(status.to_owned())])
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) -> Result<(), NotifyError> {
        self.notify(&[NotifyState::Watchdog])
    }

    /// `RELOADING=1` with a status line.
    pub fn reloading(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&[
            NotifyState::Reloading,
            NotifyState::Status(status.to_owned()),
        ])
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&[
            NotifyState::Stopping,
            NotifyState::Status(status.to_owned()),
        ])
    }

    /// `STOPPING=1` with `EXTEND_TIMEOUT_USEC=`: asks systemd to wait at least `deadline` from
    /// now before killing us, whatever the unit's `TimeoutStopSec=` (systemd only extends,
    /// never shortens, its timeout this way).
    pub fn stopping_within(&self, status: &str, deadline: Duration) -> Result<(), NotifyError> {
        self.notify(&[
            NotifyState::Stopping,
            NotifyState::ExtendTimeout(deadline),
            NotifyState::Status(status.to_owned()),
        ])
    }
}

fn parse_address(address: &str) -> Result<SocketAddr, NotifyError> {
    let bad = || NotifyError::BadAddress(address.to_owned());
    if let Some(name) = address.strip_prefix('@') {
        SocketAddr::from_abstract_name(name.as_bytes()).map_err(|_| bad())
    } else if address.starts_with('/') {
        SocketAddr::from_pathname(address).map_err(|_| bad())
    } else {
        Err(bad())
    }
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, if the watchdog is on and meant
/// for this process (`$WATCHDOG_PID` unset or equal to our pid).
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

/// [`watchdog_interval`] on explicit values.
pub fn watchdog_interval_from(
    watchdog_usec: Option<&str>,
    watchdog_pid: Option<&str>,
    own_pid: u32,
) -> Option<Duration> {
    let usec: u64 = watchdog_usec?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Some(pid) = watchdog_pid {
        let pid: u32 = pid.trim().parse().ok()?;
        if pid != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2))
}

/// Pings the watchdog every `interval` for as long as `probe` answers `true` within the
/// interval; a probe that fails or hangs means no ping, so systemd restarts a stuck daemon.
/// The probe is typically "ask the supervisor actor for its status". Runs until dropped.
pub async fn run_watchdog<P, F>(notifier: &Notifier, interval: Duration, mut probe: P)
where
    P: FnMut() -> F,
    F: Future<Output = bool>,
{
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let healthy = matches!(tokio::time::timeout(interval, probe()).await, Ok(true));
        if healthy {
            if let Err(err) = notifier.watchdog() {
                tracing::warn!(error = %err, "cannot send the watchdog ping");
            }
        } else {
            tracing::error!(
                "the actor system did not answer the watchdog probe; withholding WATCHDOG=1"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_one_line() {
        assert_eq!(
            NotifyState::Status("2 stores\nactive ".into()).to_line(),
            "STATUS=2 stores active"
        );
        assert_eq!(
            NotifyState::ExtendTimeout(Duration::from_secs(3)).to_line(),
            "EXTEND_TIMEOUT_USEC=3000000"
        );
    }

    #[test]
    fn watchdog_interval_is_half_and_respects_pid() {
        assert_eq!(
            watchdog_interval_from(Some("30000000"), None, 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("7"), 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(watchdog_interval_from(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval_from(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval_from(None, Some("7"), 7), None);
    }

    #[test]
    fn relative_address_is_refused() {
        assert!(matches!(
            Notifier::with_address("run/notify"),
            Err(NotifyError::BadAddress(_))
        ));
        assert!(Notifier::with_address("@abstract-name").is_ok());
    }

    #[test]
    fn disabled_notifier_sends_nothing_and_succeeds() {
        let n = Notifier::disabled();
        assert!(!n.is_enabled());
        assert!(n.ready("x").is_ok());
    }
}
