//! Backup and restore: a full round trip, consistent snapshots while commits run, and damaged,
//! truncated or foreign files refused without leaving anything behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod store_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use shoptet_sync::domain::{IntegrationId, OrderStatus};
use shoptet_sync::store::{Changeset, Store, StoreError};
use store_support::*;
use uuid::Uuid;

fn id(n: u128) -> IntegrationId {
    Uuid::from_u128(n)
}

/// Two integrations with some of every record, plus shared stock.
fn populate(store: &Store) {
    let mut cs = Changeset::new();
    for (iid, name) in [(id(1), "alpha"), (id(2), "beta")] {
        cs.put_integration(&integration(iid, name));
        for n in 0..30i64 {
            let code = format!("{name}-{n:03}");
            let status = if n % 3 == 0 {
                OrderStatus::Shipped
            } else {
                OrderStatus::Imported
            };
            cs.put_order(&order(iid, &code, status, at(n)))
                .put_product(&product(iid, &code))
                .put_outbox(&outbox(iid, n as u64, &code))
                .put_sync_log(&sync_log(iid, at(n)))
                .put_error(&error_log(iid, at(n), (n % 2 == 0).then(|| at(n + 1))))
                .put_price_change(&price_change(iid, &code, at(n)));
        }
        cs.put_meta(iid, "cursor", &vec![name.to_owned(), "30".to_owned()]);
    }
    for n in 0..10 {
        cs.put_stock(&stock("main", &format!("SKU-{n}"), "3.5"));
    }
    store.commit_blocking(cs).unwrap();
}

fn assert_same_content(a: &Store, b: &Store) {
    assert_eq!(a.integrations().unwrap(), b.integrations().unwrap());
    for integration in a.integrations().unwrap() {
        let iid = integration.id;
        let (x, y) = (
            a.load_state(iid).unwrap().unwrap(),
            b.load_state(iid).unwrap().unwrap(),
        );
        assert_eq!(x.integration, y.integration);
        assert_eq!(x.orders, y.orders);
        assert_eq!(x.products, y.products);
        assert_eq!(x.outbox, y.outbox);
        assert_eq!(
            x.meta.get::<Vec<String>>("cursor").unwrap(),
            y.meta.get::<Vec<String>>("cursor").unwrap()
        );
        for status in [OrderStatus::Imported, OrderStatus::Shipped] {
            assert_eq!(
                a.orders_by_status(iid, status).unwrap(),
                b.orders_by_status(iid, status).unwrap()
            );
        }
        assert_eq!(
            a.sync_logs(iid, at(-1)).unwrap(),
            b.sync_logs(iid, at(-1)).unwrap()
        );
        assert_eq!(a.errors(iid, false).unwrap(), b.errors(iid, false).unwrap());
        assert_eq!(
            a.price_history(iid, None).unwrap(),
            b.price_history(iid, None).unwrap()
        );
    }
    assert_eq!(
        a.stock_levels("main").unwrap(),
        b.stock_levels("main").unwrap()
    );
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn backup_and_restore_round_trip() {
    let work = tempfile::tempdir().unwrap();
    let source = Store::open(work.path().join("source")).unwrap();
    populate(&source);
    let file = work.path().join("store.backup");
    let backup = source.backup_to(&file).unwrap();
    // 2 integrations, 2×30 orders with 2 index entries each, products, outbox, logs, errors,
    // prices, 2 meta, 10 stock.
    assert_eq!(backup.records, 2 + 2 * 30 * 8 + 2 + 10);
    assert_eq!(backup.bytes, std::fs::metadata(&file).unwrap().len());
    assert!(!work.path().join("store.backup.partial").exists());

    let target = work.path().join("restored");
    let restored = Store::restore(&file, &target).unwrap();
    assert_eq!(restored.records, backup.records);
    let restored = Store::open(&target).unwrap();
    restored.check_integrity().unwrap();
    assert_same_content(&source, &restored);

    // A second backup replaces the first file in place.
    let mut cs = Changeset::new();
    cs.delete_integration(id(2));
    source.commit_blocking(cs).unwrap();
    let smaller = source.backup_to(&file).unwrap();
    assert!(smaller.records < backup.records);
    let again = work.path().join("again");
    Store::restore(&file, &again).unwrap();
    let again = Store::open(&again).unwrap();
    assert_same_content(&source, &again);
    assert!(again.integration(id(2)).unwrap().is_none());
}

#[test]
fn backups_taken_during_commits_are_consistent_snapshots() {
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(work.path().join("live")).unwrap();
    let iid = id(7);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) && seq < 100_000 {
                seq += 1;
                let mut cs = Changeset::new();
                for n in 0..3 {
                    let code = format!("{seq:06}-{n}");
                    cs.put_order(&order(iid, &code, OrderStatus::Imported, at(seq as i64)));
                }
                cs.put_meta(iid, "cursor", &seq);
                store.commit_blocking(cs).unwrap();
            }
            seq
        })
    };
    let mut cursors = Vec::new();
    for round in 0..6 {
        // Wait (bounded) until the writer has moved on, so each backup sees a different state.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let seen = cursors.last().copied().unwrap_or(0);
        while store.get_meta::<u64>(iid, "cursor").unwrap().unwrap_or(0) <= seen {
            assert!(std::time::Instant::now() < deadline, "the writer stalled");
            std::thread::yield_now();
        }
        let file = work.path().join(format!("snap-{round}"));
        store.backup_to(&file).unwrap();
        let dir = work.path().join(format!("restored-{round}"));
        Store::restore(&file, &dir).unwrap();
        let restored = Store::open(&dir).unwrap();
        let cursor: u64 = restored.get_meta(iid, "cursor").unwrap().unwrap();
        let orders = restored
            .orders_by_status(iid, OrderStatus::Imported)
            .unwrap();
        assert_eq!(orders.len() as u64, cursor * 3, "snapshot tore a commit");
        cursors.push(cursor);
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    assert!(written >= *cursors.last().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_backup_runs_beside_async_commits() {
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(work.path().join("live")).unwrap();
    populate(&store);
    let committer = {
        let store = store.clone();
        tokio::spawn(async move {
            for seq in 0..50u64 {
                let mut cs = Changeset::new();
                cs.put_meta(id(1), "counter", &seq);
                store.commit(cs).await.unwrap();
            }
        })
    };
    let file = work.path().join("async.backup");
    let stats = store.backup(file.clone()).await.unwrap();
    committer.await.unwrap();
    let dir = work.path().join("restored");
    let restored = tokio::task::spawn_blocking({
        let (file, dir) = (file.clone(), dir.clone());
        move || Store::restore(&file, &dir)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(restored.records, stats.records);
    let restored = Store::open(&dir).unwrap();
    assert_eq!(
        restored.load_state(id(2)).unwrap().unwrap().orders.len(),
        30
    );
}

#[test]
fn restore_refuses_a_non_empty_directory_and_leaves_it_alone() {
    let work = tempfile::tempdir().unwrap();
    let source = Store::open(work.path().join("source")).unwrap();
    populate(&source);
    let file = work.path().join("b");
    source.backup_to(&file).unwrap();
    let target = work.path().join("busy");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep.txt"), "precious").unwrap();
    let err = Store::restore(&file, &target).unwrap_err();
    assert!(matches!(err, StoreError::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_to_string(target.join("keep.txt")).unwrap(),
        "precious"
    );
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 1);
}

/// Restores `bytes` (written to a file) into a fresh directory and expects a refusal that leaves
/// the directory empty.
fn expect_refused(work: &Path, name: &str, bytes: &[u8]) -> String {
    let file: PathBuf = work.join(format!("{name}.backup"));
    std::fs::write(&file, bytes).unwrap();
    let target = work.join(format!("{name}.restored"));
    std::fs::create_dir(&target).unwrap();
    let err = Store::restore(&file, &target).unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidBackup { .. }),
        "{name}: {err:?}"
    );
    assert!(is_empty_dir(&target), "{name}: restore left files behind");
    err.to_string()
}

#[test]
fn truncated_damaged_and_foreign_files_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let source = Store::open(work.path().join("source")).unwrap();
    populate(&source);
    let file = work.path().join("good.backup");
    source.backup_to(&file).unwrap();
    let good = std::fs::read(&file).unwrap();

    let message = expect_refused(work.path(), "empty", &[]);
    assert!(message.contains("not a shoptet-sync backup"), "{message}");
    let message = expect_refused(work.path(), "foreign", b"PK\x03\x04 definitely a zip file");
    assert!(message.contains("not a shoptet-sync backup"), "{message}");

    // Truncation anywhere: at the header, mid-record, just before and inside the trailer.
    let cuts = [
        9,
        good.len() / 3,
        good.len() / 2 + 1,
        good.len() - 17,
        good.len() - 9,
        good.len() - 1,
    ];
    for (n, cut) in cuts.into_iter().enumerate() {
        let message = expect_refused(work.path(), &format!("cut{n}"), &good[..cut]);
        assert!(message.contains("truncated"), "cut at {cut}: {message}");
    }

    // A flipped bit inside a value is caught by the checksum.
    let mut flipped = good.clone();
    let middle = good.len() / 2;
    flipped[middle] ^= 0x10;
    expect_refused(work.path(), "flipped", &flipped);

    // A changed record count.
    let mut recounted = good.clone();
    let count_at = good.len() - 16;
    recounted[count_at + 7] ^= 0x01;
    let message = expect_refused(work.path(), "recounted", &recounted);
    assert!(message.contains("declares"), "{message}");

    let mut longer = good.clone();
    longer.push(0);
    let message = expect_refused(work.path(), "longer", &longer);
    assert!(message.contains("after the end"), "{message}");

    let mut future = good.clone();
    future[9] = 9; // format version 9
    let message = expect_refused(work.path(), "future", &future);
    assert!(message.contains("format version 9"), "{message}");

    // The intact file still restores.
    let target = work.path().join("fine");
    Store::restore(&file, &target).unwrap();
    assert_same_content(&source, &Store::open(&target).unwrap());
}

#[test]
fn a_backup_into_a_missing_directory_fails_cleanly() {
    let work = tempfile::tempdir().unwrap();
    let source = Store::open(work.path().join("source")).unwrap();
    populate(&source);
    let err = source
        .backup_to(&work.path().join("no-such-dir").join("b"))
        .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
}

#[test]
fn backups_into_the_data_directory_are_refused_however_the_path_is_spelled() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let source = Store::open(&data).unwrap();
    populate(&source);
    let db_file = data.join("db");
    let before = std::fs::read(&db_file).unwrap();
    std::os::unix::fs::symlink(&data, work.path().join("link")).unwrap();
    std::fs::create_dir(work.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(&db_file, work.path().join("elsewhere/db-link")).unwrap();
    let spellings = [
        db_file.clone(),
        data.join("fresh.backup"),
        work.path().join("data/../data/db"),
        work.path().join("elsewhere/../data/conf"),
        work.path().join("link/db"),
        work.path().join("elsewhere/db-link"),
    ];
    for target in spellings {
        let err = source.backup_to(&target).unwrap_err();
        assert!(
            matches!(err, StoreError::BackupTarget { .. }),
            "{}: {err:?}",
            target.display()
        );
        assert!(
            err.to_string().contains("inside the data directory"),
            "{err}"
        );
    }
    // A directory is not a backup file either.
    let err = source
        .backup_to(&work.path().join("elsewhere"))
        .unwrap_err();
    assert!(matches!(err, StoreError::BackupTarget { .. }), "{err:?}");
    assert_eq!(std::fs::read(&db_file).unwrap(), before);
    assert!(!data.join("fresh.backup").exists());
    assert!(!data.join("fresh.backup.partial").exists());
    // The store is untouched and still whole.
    drop(source);
    let reopened = Store::open(&data).unwrap();
    assert_eq!(reopened.integrations().unwrap().len(), 2);
    reopened.check_integrity().unwrap();
}

#[test]
#[allow(unsafe_code)]
fn backup_files_are_0600_whatever_the_umask_and_a_crashed_partial_is_not_reused() {
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().unwrap();
    let source = Store::open(work.path().join("source")).unwrap();
    populate(&source);
    let file = work.path().join("snap.backup");
    // A crash left a world-readable partial file behind.
    let partial = work.path().join("snap.backup.partial");
    std::fs::write(&partial, b"half a backup").unwrap();
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o644)).unwrap();
    // SAFETY: umask(2) only swaps the process's file-creation mask; no memory is involved.
    let old = unsafe { libc::umask(0) };
    let result = source.backup_to(&file);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    result.unwrap();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "backup mode {mode:o}");
    assert!(!partial.exists());
    let target = work.path().join("restored");
    Store::restore(&file, &target).unwrap();
    assert_same_content(&source, &Store::open(&target).unwrap());
}

#[test]
fn scheduled_backups_rotate_and_clear_partials_of_interrupted_runs() {
    use chrono::TimeZone;
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().unwrap();
    let source = Store::open(work.path().join("source")).unwrap();
    populate(&source);
    let dir = work.path().join("backups");
    let time = |h: u32| chrono::Utc.with_ymd_and_hms(2026, 1, 2, h, 0, 0).unwrap();
    let first = source.backup_into_dir(&dir, 2, time(1)).unwrap();
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // A crash in the middle of the next scheduled backup leaves its partial file.
    let crashed = dir.join("shoptet-sync-20260102T020000.000Z.backup.partial");
    std::fs::write(&crashed, b"half").unwrap();
    let unrelated = dir.join("notes.txt");
    std::fs::write(&unrelated, b"operator's file").unwrap();
    let second = source.backup_into_dir(&dir, 2, time(3)).unwrap();
    assert_eq!(second.stale_partials, vec![crashed.clone()]);
    assert!(!crashed.exists());
    assert!(second.removed.is_empty());
    let third = source.backup_into_dir(&dir, 2, time(4)).unwrap();
    assert_eq!(third.removed, vec![first.path.clone()]);
    assert_eq!(
        shoptet_sync::store::backup::scheduled_backups(&dir).unwrap(),
        vec![third.path.clone(), second.path.clone()]
    );
    assert_eq!(
        shoptet_sync::store::backup::newest_backup(&dir),
        Some(third.path.clone())
    );
    assert!(unrelated.exists());
    let target = work.path().join("restored");
    Store::restore(&third.path, &target).unwrap();
    assert_same_content(&source, &Store::open(&target).unwrap());
}

/// A backup file in the documented format, with a correct count and checksum.
fn forge_backup(records: &[(&str, &[u8], &[u8])]) -> Vec<u8> {
    let mut out = b"SHSYNCBK".to_vec();
    out.extend_from_slice(&1u16.to_be_bytes());
    for (tree, key, value) in records {
        out.push(1);
        out.push(tree.len() as u8);
        out.extend_from_slice(tree.as_bytes());
        for field in [key, value] {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field);
        }
    }
    out.push(0);
    out.extend_from_slice(&(records.len() as u64).to_be_bytes());
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in &out {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    out.extend_from_slice(&hash.to_be_bytes());
    out
}

#[test]
fn restore_decodes_every_record_before_it_touches_anything() {
    let work = tempfile::tempdir().unwrap();
    let integration_key = id(7).as_bytes().to_vec();
    // Intact envelope, but the record is not an Integration.
    let bytes = forge_backup(&[("integrations", &integration_key, &[2, 0xff, 0xff, 0x01])]);
    let file = work.path().join("forged.backup");
    std::fs::write(&file, bytes).unwrap();
    let target = work.path().join("not-created");
    let err = Store::restore(&file, &target).unwrap_err();
    assert!(matches!(err, StoreError::InvalidBackup { .. }), "{err:?}");
    assert!(err.to_string().contains("integrations"), "{err}");
    assert!(
        !target.exists(),
        "restore created the directory before checking"
    );
    // The same file with a decodable record restores.
    let good = forge_backup(&[(
        "meta",
        &[integration_key.as_slice(), b"cursor"].concat(),
        &[2, 0],
    )]);
    std::fs::write(&file, good).unwrap();
    Store::restore(&file, &target).unwrap();
}
