//! The kill test: a child process commits changesets in a loop and acknowledges each one on
//! stdout once `commit` has returned; the parent SIGKILLs it mid-loop, reopens the database and
//! proves that every acknowledged changeset is there, none is half-written, and every record
//! decodes. Three rounds, each resuming from what the previous one left.
//!
//! The child is this same test binary run with `--exact kill_test_child_writer` and
//! `STORE_KILL_TEST_DIR` set; without that variable the child test does nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod store_support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shoptet_sync::domain::{IntegrationId, OrderStatus};
use shoptet_sync::store::Changeset;
use store_support::*;
use uuid::Uuid;

const CHILD_ENV: &str = "STORE_KILL_TEST_DIR";
const CHILD_TEST: &str = "kill_test_child_writer";
const ORDERS_PER_COMMIT: u64 = 3;
const CURSOR: &str = "order_cursor";
/// Acknowledgements to wait for before each kill (varied, so kills land at different points).
const ROUNDS: [u64; 3] = [200, 120, 60];
const ROUND_DEADLINE: Duration = Duration::from_secs(120);

fn integration_id() -> IntegrationId {
    Uuid::from_u128(0x5107_0001)
}

fn code(seq: u64, n: u64) -> String {
    format!("{seq:08}-{n}")
}

/// Runs only as the child: one changeset per step — a page of orders, a status change of an
/// earlier order, a product, an outbox entry, a sync log and the advanced cursor.
#[test]
fn kill_test_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = open_store(&dir);
    let id = integration_id();
    let start = store.get_meta::<u64>(id, CURSOR).unwrap().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for seq in start + 1..start + 1_000_000 {
        let mut cs = Changeset::new();
        if seq == 1 {
            cs.put_integration(&integration(id, "kill-test"));
        }
        for n in 0..ORDERS_PER_COMMIT {
            cs.put_order(&order(
                id,
                &code(seq, n),
                OrderStatus::Imported,
                at(seq as i64),
            ));
        }
        if seq > 1 {
            let previous = seq - 1;
            cs.put_order(&order(
                id,
                &code(previous, 0),
                OrderStatus::Processing,
                at(previous as i64),
            ));
        }
        cs.put_product(&product(id, &format!("P{seq}")))
            .put_outbox(&outbox(id, seq, &code(seq, 0)))
            .put_sync_log(&sync_log(id, at(seq as i64)))
            .put_meta(id, CURSOR, &seq);
        store.commit_blocking(cs).unwrap();
        // The parent gone (broken pipe) ends the loop.
        if writeln!(out, "ACK {seq}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut last_acked = 0;
    for wanted in ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (acks, received) = mpsc::channel::<u64>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The harness may print "test <name> ... " on the same line first.
                if let Some((_, seq)) = line.split_once("ACK ")
                    && acks.send(seq.trim().parse().unwrap()).is_err()
                {
                    break;
                }
            }
        });

        let deadline = Instant::now() + ROUND_DEADLINE;
        let mut acked_this_round = 0;
        while acked_this_round < wanted {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(seq) => {
                    assert_eq!(seq, last_acked + 1, "acknowledgements arrive in order");
                    last_acked = seq;
                    acked_this_round += 1;
                }
                Err(err) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the writer stopped acknowledging after {last_acked}: {err}");
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
        reader.join().unwrap();
        // Acknowledgements printed before the kill landed count too.
        for seq in received.try_iter() {
            assert_eq!(seq, last_acked + 1);
            last_acked = seq;
        }
        // A changeset committed just before the kill but not yet acknowledged is durable too;
        // the next writer resumes after it, so the next round counts from the stored cursor.
        last_acked = verify(dir.path(), last_acked);
    }
}

/// Checks the store after a kill and returns its cursor (the last committed changeset).
fn verify(dir: &std::path::Path, last_acked: u64) -> u64 {
    let store = open_store(dir);
    // Every record decodes, keys match records, order indexes match orders.
    store.check_integrity().unwrap();
    let id = integration_id();
    let cursor: u64 = store.get_meta(id, CURSOR).unwrap().unwrap();
    assert!(
        cursor == last_acked || cursor == last_acked + 1,
        "cursor {cursor}, last acknowledged {last_acked}: an acknowledged write was lost"
    );
    // All-or-nothing: exactly the changesets up to the cursor are present.
    let state = store.load_state(id).unwrap().unwrap();
    assert_eq!(state.orders.len() as u64, cursor * ORDERS_PER_COMMIT);
    for seq in 1..=cursor {
        for n in 0..ORDERS_PER_COMMIT {
            let order = store.order(id, &code(seq, n)).unwrap();
            assert!(order.is_some(), "order {} is missing", code(seq, n));
        }
    }
    assert!(store.order(id, &code(cursor + 1, 0)).unwrap().is_none());
    assert_eq!(state.products.len() as u64, cursor);
    assert_eq!(state.outbox.len() as u64, cursor);
    assert_eq!(state.outbox.last().map(|e| e.seq), Some(cursor));
    assert_eq!(store.sync_logs(id, at(-1)).unwrap().len() as u64, cursor);
    // The status change rides in the same changeset as the next page.
    let processing = store.orders_by_status(id, OrderStatus::Processing).unwrap();
    assert_eq!(processing.len() as u64, cursor - 1);
    let imported = store.orders_by_status(id, OrderStatus::Imported).unwrap();
    assert_eq!(
        imported.len() as u64,
        cursor * ORDERS_PER_COMMIT - (cursor - 1)
    );
    cursor
}
