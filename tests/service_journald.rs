#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Journald fields and priorities, checked on the wire.
//!
//! tracing-journald always sends to /run/systemd/journal/socket. On a machine without journald
//! (a CI container running as root) this test binds that path itself, reads the datagrams and
//! removes everything it created; where a real journald listens, it is skipped.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use shoptet_sync::service::logging::{SYSLOG_IDENTIFIER, journald_subscriber};

const SOCKET: &str = "/run/systemd/journal/socket";

/// Removes the socket and the directories this test created, also when it fails.
struct FakeJournal {
    created: Vec<PathBuf>,
}

impl Drop for FakeJournal {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(SOCKET);
        for dir in self.created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn fake_journal() -> Option<(FakeJournal, UnixDatagram)> {
    if Path::new(SOCKET).exists() {
        eprintln!("skipped: a journald socket exists at {SOCKET}");
        return None;
    }
    let mut created = Vec::new();
    for dir in ["/run/systemd", "/run/systemd/journal"] {
        if !Path::new(dir).exists() {
            if std::fs::create_dir(dir).is_err() {
                eprintln!("skipped: cannot create {dir} (not root?)");
                return None;
            }
            created.push(PathBuf::from(dir));
        }
    }
    // Another test process may have bound it meanwhile: then skip, and remove nothing of theirs.
    let Ok(socket) = UnixDatagram::bind(SOCKET) else {
        for dir in created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
        eprintln!("skipped: {SOCKET} is in use");
        return None;
    };
    let guard = FakeJournal { created };
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    Some((guard, socket))
}

/// Parses the native journal protocol: `KEY=value\n`, or `KEY\n` + 64-bit little-endian
/// length + value + `\n` for values that may hold newlines (what tracing-journald sends).
fn fields(datagram: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'=' || b == b'\n')
            .expect("field name ends with = or newline");
        let name = String::from_utf8(rest[..end].to_vec()).unwrap();
        if rest[end] == b'=' {
            let value_end = end + 1 + rest[end + 1..].iter().position(|&b| b == b'\n').unwrap();
            out.push((
                name,
                String::from_utf8_lossy(&rest[end + 1..value_end]).into_owned(),
            ));
            rest = &rest[value_end + 1..];
        } else {
            let len_at = end + 1;
            let len = u64::from_le_bytes(rest[len_at..len_at + 8].try_into().unwrap()) as usize;
            let value = &rest[len_at + 8..len_at + 8 + len];
            assert_eq!(rest[len_at + 8 + len], b'\n');
            out.push((name, String::from_utf8_lossy(value).into_owned()));
            rest = &rest[len_at + 8 + len + 1..];
        }
    }
    out
}

/// The next non-empty datagram (the layer probes the socket with an empty one, which journald
/// discards).
fn next_entry(journal: &UnixDatagram) -> Vec<(String, String)> {
    let mut buf = vec![0u8; 65536];
    loop {
        let n = journal.recv(&mut buf).expect("a journal entry within 5 s");
        if n > 0 {
            return fields(&buf[..n]);
        }
    }
}

fn get<'a>(f: &'a [(String, String)], key: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[test]
fn structured_fields_and_priorities_reach_the_journal() {
    let Some((_guard, journal)) = fake_journal() else {
        return;
    };
    let (subscriber, _handle) = journald_subscriber("info").unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("sync", store = "demo", sync_type = "orders");
        let _entered = span.enter();
        tracing::info!(order_code = "2025000318", request_id = 7, "order imported");
        tracing::error!("authentication failed: token rejected");
        tracing::debug!("filtered out at info");
    });
    let info = next_entry(&journal);
    assert_eq!(get(&info, "STORE"), Some("demo"), "{info:?}");
    assert_eq!(get(&info, "SYNC_TYPE"), Some("orders"));
    assert_eq!(get(&info, "ORDER_CODE"), Some("2025000318"));
    assert_eq!(get(&info, "REQUEST_ID"), Some("7"));
    assert_eq!(get(&info, "MESSAGE"), Some("order imported"));
    assert_eq!(get(&info, "PRIORITY"), Some("6"));
    assert_eq!(get(&info, "SYSLOG_IDENTIFIER"), Some(SYSLOG_IDENTIFIER));

    let error = next_entry(&journal);
    assert_eq!(get(&error, "PRIORITY"), Some("3"));
    assert_eq!(get(&error, "STORE"), Some("demo"));

    journal.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1024];
    assert!(
        journal.recv(&mut buf).is_err(),
        "debug line must be filtered"
    );
}
