#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Signals: the state machine, and real signals raised to this test process.

use std::time::Duration;

use shoptet_sync::service::{ServiceSignals, SignalEvent, SignalKind, SignalState};

#[test]
fn first_stop_is_graceful_second_is_immediate() {
    for first in [SignalKind::Terminate, SignalKind::Interrupt] {
        for second in [SignalKind::Terminate, SignalKind::Interrupt] {
            let mut state = SignalState::default();
            assert!(!state.is_shutting_down());
            assert_eq!(state.on_signal(first), Some(SignalEvent::Shutdown));
            assert!(state.is_shutting_down());
            assert_eq!(
                state.on_signal(second),
                Some(SignalEvent::ShutdownImmediate)
            );
            assert_eq!(
                state.on_signal(second),
                Some(SignalEvent::ShutdownImmediate)
            );
        }
    }
}

#[test]
fn reload_until_shutdown_then_ignored() {
    let mut state = SignalState::default();
    assert_eq!(
        state.on_signal(SignalKind::Hangup),
        Some(SignalEvent::Reload)
    );
    assert_eq!(
        state.on_signal(SignalKind::Hangup),
        Some(SignalEvent::Reload)
    );
    assert!(!state.is_shutting_down());
    assert_eq!(
        state.on_signal(SignalKind::Terminate),
        Some(SignalEvent::Shutdown)
    );
    assert_eq!(state.on_signal(SignalKind::Hangup), None);
}

#[test]
fn raw_numbers_map_to_kinds() {
    use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    assert_eq!(SignalKind::from_raw(SIGTERM), Some(SignalKind::Terminate));
    assert_eq!(SignalKind::from_raw(SIGINT), Some(SignalKind::Interrupt));
    assert_eq!(SignalKind::from_raw(SIGHUP), Some(SignalKind::Hangup));
    assert_eq!(SignalKind::from_raw(SIGUSR1), None);
}

async fn next(signals: &mut ServiceSignals) -> Option<SignalEvent> {
    tokio::time::timeout(Duration::from_secs(5), signals.next())
        .await
        .expect("a signal event within 5 s")
}

/// The only test in this binary that raises signals, so no other test can be hit by them; the
/// handlers are installed before the first raise, so nothing here can kill the process.
#[tokio::test]
async fn raised_signals_become_events() {
    use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::low_level::raise;

    let mut signals = ServiceSignals::install().unwrap();
    raise(SIGHUP).unwrap();
    assert_eq!(next(&mut signals).await, Some(SignalEvent::Reload));
    raise(SIGTERM).unwrap();
    assert_eq!(next(&mut signals).await, Some(SignalEvent::Shutdown));
    assert!(signals.is_shutting_down());
    // A reload during shutdown is skipped; the following SIGINT is the immediate stop.
    raise(SIGHUP).unwrap();
    raise(SIGINT).unwrap();
    assert_eq!(
        next(&mut signals).await,
        Some(SignalEvent::ShutdownImmediate)
    );
    signals.close();
    assert_eq!(next(&mut signals).await, None);
}
