#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Logging: the journald-versus-stderr decision and level reloads.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

use shoptet_sync::config::LogOutput;
use shoptet_sync::service::logging::{
    LogTarget, capture_subscriber, choose_target, parse_journal_stream, stderr_device_inode,
};

#[test]
fn explicit_outputs_win() {
    assert_eq!(
        choose_target(LogOutput::Journald, None, None),
        LogTarget::Journald
    );
    assert_eq!(
        choose_target(LogOutput::Stderr, Some("1:2"), Some((1, 2))),
        LogTarget::Stderr
    );
}

#[test]
fn auto_uses_journald_only_when_journal_stream_is_our_stderr() {
    assert_eq!(
        choose_target(LogOutput::Auto, Some("8:4711"), Some((8, 4711))),
        LogTarget::Journald
    );
    // Inherited from a parent whose stderr went to the journal, but ours was redirected.
    assert_eq!(
        choose_target(LogOutput::Auto, Some("8:4711"), Some((8, 4712))),
        LogTarget::Stderr
    );
    assert_eq!(
        choose_target(LogOutput::Auto, None, Some((8, 4711))),
        LogTarget::Stderr
    );
    assert_eq!(
        choose_target(LogOutput::Auto, Some("garbage"), Some((8, 4711))),
        LogTarget::Stderr
    );
    assert_eq!(
        choose_target(LogOutput::Auto, Some("8:4711"), None),
        LogTarget::Stderr
    );
}

#[test]
fn stderr_identity_matches_the_open_file() {
    let (dev, ino) = stderr_device_inode().expect("test processes have a stderr");
    let meta = std::fs::metadata("/proc/self/fd/2").unwrap();
    assert_eq!((dev, ino), (meta.dev(), meta.ino()));
    let stream = format!("{dev}:{ino}");
    assert_eq!(parse_journal_stream(&stream), Some((dev, ino)));
    assert_eq!(
        choose_target(LogOutput::Auto, Some(&stream), stderr_device_inode()),
        LogTarget::Journald
    );
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[test]
fn level_reload_takes_effect_and_bad_levels_keep_the_old_one() {
    let out = Captured::default();
    let (subscriber, handle) = capture_subscriber("info", out.clone()).unwrap();
    assert_eq!(handle.target(), LogTarget::Stderr);
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!("hidden-at-info");
        tracing::info!(store = "demo", order_code = "2025000318", "visible-at-info");
        handle.set_level("debug").unwrap();
        tracing::debug!("shown-after-reload");
        assert!(handle.set_level("debug,=[oops").is_err());
        assert_eq!(handle.level(), "debug");
        tracing::debug!("still-debug");
        handle.set_level("warn").unwrap();
        tracing::info!("hidden-at-warn");
    });
    let text = out.text();
    assert!(!text.contains("hidden-at-info"), "{text}");
    assert!(text.contains("visible-at-info"), "{text}");
    assert!(text.contains("store=\"demo\""), "{text}");
    assert!(text.contains("shown-after-reload"), "{text}");
    assert!(text.contains("still-debug"), "{text}");
    assert!(!text.contains("hidden-at-warn"), "{text}");
}

/// Text from the shop or a user with a line break or an escape sequence in a field or in the
/// message stays inside its own record (issue 9, finding 8): no forged or hidden lines on stderr.
#[test]
fn user_text_cannot_forge_a_log_line() {
    let out = Captured::default();
    let (subscriber, _handle) = capture_subscriber("info", out.clone()).unwrap();
    let hostile = "SKU-1\n2030-01-01T00:00:00Z ERROR forged: all stock lost\u{1b}[2K";
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(product_code = %hostile, "stock pushed");
        tracing::warn!("product {hostile} unknown");
        tracing::info!("after");
    });
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines.iter().all(|line| !line.contains('\u{1b}')), "{text}");
    assert!(!lines.iter().any(|line| line.starts_with("2030")), "{text}");
    assert!(lines[0].contains("SKU-1\\n2030"), "{text}");
}
