//! Logging setup: the native journald protocol when running under journald, readable lines on
//! stderr otherwise, and a level that SIGHUP can change through a reload handle.
//!
//! # Field convention
//! Put these on spans (so every line inside carries them) or on events, always with these names:
//! - `store`: the integration name (`demo`);
//! - `sync_type`: `orders`, `inventory`, `products`, `prices` or `system`;
//! - `order_code`: the shop's order code (`2025000318`);
//! - `request_id`: on control lines the control request id; on lines about a Shoptet call the
//!   shop's `X-Request-ID` (what Shoptet support asks for).
//!
//! journald upper-cases field names, so `journalctl -u shoptet-syncd STORE=demo` finds a store's
//! lines. Never put a token in a field or message.
//!
//! # Levels
//! `error` (journald priority 3, "err") is for what needs a person: dead letters, discrepancies,
//! authentication failures, a store unreachable for over an hour. `warn` (4) is for what fixes
//! itself (a retried request, a throttled call); `info` (6) is the normal story of syncs; `debug`
//! (7) and `trace` (7) are for developers.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

use super::log_escape::EscapeControls;
use crate::config::{LogOutput, LogSettings};

/// The syslog identifier of our journal entries.
pub const SYSLOG_IDENTIFIER: &str = "shoptet-syncd";

/// Logging could not be set up or changed.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The level is not a valid filter directive.
    #[error("invalid log level {level:?}: {reason}")]
    BadLevel {
        /// The rejected directive.
        level: String,
        /// Why it was rejected.
        reason: String,
    },
    /// `output = "journald"` was requested but the journal cannot be reached.
    #[error("cannot connect to journald: {0}")]
    Journald(#[source] std::io::Error),
    /// A global subscriber was already installed.
    #[error("logging was already initialised")]
    AlreadyInitialised,
    /// The reload handle no longer has a subscriber to act on.
    #[error("cannot change the log level: {0}")]
    Reload(String),
}

/// Where log lines actually go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// The native journal protocol, with structured fields.
    Journald,
    /// Formatted lines on stderr.
    Stderr,
}

/// Decides where to log. `auto` picks journald only when `$JOURNAL_STREAM` names the very file
/// stderr is (systemd sets it when stdout/stderr go to the journal; a child whose stderr was
/// redirected must not inherit that decision).
pub fn choose_target(
    output: LogOutput,
    journal_stream: Option<&str>,
    stderr_id: Option<(u64, u64)>,
) -> LogTarget {
    match output {
        LogOutput::Journald => LogTarget::Journald,
        LogOutput::Stderr => LogTarget::Stderr,
        LogOutput::Auto => match (journal_stream, stderr_id) {
            (Some(stream), Some(id)) if parse_journal_stream(stream) == Some(id) => {
                LogTarget::Journald
            }
            _ => LogTarget::Stderr,
        },
    }
}

/// Parses `$JOURNAL_STREAM` (`<device>:<inode>`, decimal).
pub fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// Device and inode of this process's stderr, if it is open.
pub fn stderr_device_inode() -> Option<(u64, u64)> {
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// Changes the level of the installed subscriber (SIGHUP reload).
#[derive(Debug, Clone)]
pub struct LogHandle {
    target: LogTarget,
    filter: reload::Handle<EnvFilter, Registry>,
}

impl LogHandle {
    /// Where lines go.
    pub fn target(&self) -> LogTarget {
        self.target
    }

    /// Replaces the filter; the old one stays when `level` is invalid.
    pub fn set_level(&self, level: &str) -> Result<(), LoggingError> {
        let filter = parse_filter(level)?;
        self.filter
            .reload(filter)
            .map_err(|e| LoggingError::Reload(e.to_string()))
    }

    /// The current filter, as text.
    pub fn level(&self) -> String {
        self.filter
            .with_current(|f| f.to_string())
            .unwrap_or_default()
    }
}

fn parse_filter(level: &str) -> Result<EnvFilter, LoggingError> {
    EnvFilter::builder()
        .parse(level)
        .map_err(|e| LoggingError::BadLevel {
            level: level.to_owned(),
            reason: e.to_string(),
        })
}

fn journald_layer() -> std::io::Result<tracing_journald::Layer> {
    use tracing_journald::{Priority, PriorityMappings};
    // info is the normal story, not a "notice"; only warn and error stand out in `-p warning`.
    let priorities = PriorityMappings {
        error: Priority::Error,
        warn: Priority::Warning,
        info: Priority::Informational,
        debug: Priority::Debug,
        trace: Priority::Debug,
    };
    Ok(tracing_journald::layer()?
        .with_field_prefix(None)
        .with_syslog_identifier(SYSLOG_IDENTIFIER.to_owned())
        .with_priority_mappings(priorities))
}

/// Installs the global subscriber per the configuration and the environment.
///
/// With `auto`, a journal that cannot be reached falls back to stderr (reported by the returned
/// handle's target); with an explicit `journald` it is an error.
pub fn init(settings: &LogSettings) -> Result<LogHandle, LoggingError> {
    let target = choose_target(
        settings.output,
        std::env::var("JOURNAL_STREAM").ok().as_deref(),
        stderr_device_inode(),
    );
    let (filter, handle) = reload::Layer::new(parse_filter(&settings.level)?);
    let registry = tracing_subscriber::registry().with(filter);
    let journald = match target {
        LogTarget::Journald => match journald_layer() {
            Ok(layer) => Some(layer),
            Err(err) if settings.output == LogOutput::Journald => {
                return Err(LoggingError::Journald(err));
            }
            Err(_) => None,
        },
        LogTarget::Stderr => None,
    };
    let installed = match journald {
        Some(layer) => registry
            .with(layer)
            .try_init()
            .map(|()| LogTarget::Journald),
        None => registry
            .with(stderr_layer())
            .try_init()
            .map(|()| LogTarget::Stderr),
    };
    let target = installed.map_err(|_| LoggingError::AlreadyInitialised)?;
    Ok(LogHandle {
        target,
        filter: handle,
    })
}

fn stderr_layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    // No colours: their escape sequences would be escaped like any control character in a
    // record (text from users and shops must never break or forge a line).
    tracing_subscriber::fmt::layer()
        .with_writer(EscapeControls(std::io::stderr))
        .with_ansi(false)
        .with_target(true)
}

/// A journald subscriber (as `init` builds it) with its reload handle, not installed globally.
pub fn journald_subscriber(
    level: &str,
) -> Result<(impl tracing::Subscriber + Send + Sync, LogHandle), LoggingError> {
    let (filter, handle) = reload::Layer::new(parse_filter(level)?);
    let layer = journald_layer().map_err(LoggingError::Journald)?;
    Ok((
        tracing_subscriber::registry().with(filter).with(layer),
        LogHandle {
            target: LogTarget::Journald,
            filter: handle,
        },
    ))
}

/// A stderr-style subscriber writing to `writer`, with its reload handle, for tests and tools
/// that capture log output without installing a global subscriber.
pub fn capture_subscriber<W>(
    level: &str,
    writer: W,
) -> Result<(impl tracing::Subscriber + Send + Sync, LogHandle), LoggingError>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let (filter, handle) = reload::Layer::new(parse_filter(level)?);
    let subscriber = tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .with_writer(EscapeControls(writer))
            .with_ansi(false),
    );
    Ok((
        subscriber,
        LogHandle {
            target: LogTarget::Stderr,
            filter: handle,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_parses() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8:x"), None);
        assert_eq!(parse_journal_stream("812345"), None);
    }

    #[test]
    fn bad_level_is_refused() {
        assert!(matches!(
            parse_filter("info,=[bad"),
            Err(LoggingError::BadLevel { .. })
        ));
    }
}
