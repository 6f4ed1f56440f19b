#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The global logging set-up (its own test binary: a process has one global subscriber).

use shoptet_sync::config::{LogOutput, LogSettings};
use shoptet_sync::service::{LogTarget, LoggingError, logging};

#[test]
fn init_installs_once_and_reloads() {
    let settings = LogSettings {
        output: LogOutput::Stderr,
        level: "info".into(),
    };
    let handle = logging::init(&settings).unwrap();
    assert_eq!(handle.target(), LogTarget::Stderr);
    handle.set_level("debug").unwrap();
    assert_eq!(handle.level(), "debug");
    assert!(tracing::enabled!(tracing::Level::DEBUG));
    handle.set_level("warn").unwrap();
    assert!(!tracing::enabled!(tracing::Level::INFO));
    assert!(matches!(
        logging::init(&settings),
        Err(LoggingError::AlreadyInitialised)
    ));
}
