//! Store integrity at open (issue 9, finding 2): bytes flipped in the files of a stopped store
//! either make the open refuse with a clear "damaged" error or leave every record in place; a
//! store of the previous release (no manifest) opens and gets one; records lost outside a commit
//! or a store rolled back to an older state are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod store_support;

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoptet_sync::domain::{IntegrationId, OrderStatus};
use shoptet_sync::store::{Changeset, Store, StoreError};
use store_support::*;
use uuid::Uuid;

fn id(n: u128) -> IntegrationId {
    Uuid::from_u128(n)
}

const INTEGRATIONS: [(u128, &str); 3] = [(1, "alpha"), (2, "beta"), (3, "gamma")];

/// Many commits of every record kind, with updates and deletions, so the log holds a history.
pub fn populate(store: &Store) {
    for (n, name) in INTEGRATIONS {
        let mut cs = Changeset::new();
        cs.put_integration(&integration(id(n), name));
        store.commit_blocking(cs).unwrap();
    }
    for round in 0..12i64 {
        for (n, name) in INTEGRATIONS {
            let iid = id(n);
            let mut cs = Changeset::new();
            for k in 0..6i64 {
                let code = format!("{name}-{round:02}-{k}");
                cs.put_order(&order(
                    iid,
                    &code,
                    OrderStatus::Imported,
                    at(round * 10 + k),
                ))
                .put_product(&product(iid, &code))
                .put_sync_log(&sync_log(iid, at(round * 10 + k)))
                .put_price_change(&price_change(iid, &code, at(round * 10 + k)));
            }
            cs.put_outbox(&outbox(iid, round as u64, &format!("{name}-{round:02}-0")))
                .put_error(&error_log(iid, at(round), None))
                .put_meta(iid, "cursor", &vec![name.to_owned(), round.to_string()]);
            if round > 0 {
                // Move older orders on and drop an old product: updates and removals.
                let old = format!("{name}-{:02}-1", round - 1);
                cs.put_order(&order(
                    iid,
                    &old,
                    OrderStatus::Shipped,
                    at((round - 1) * 10 + 1),
                ))
                .delete_product(iid, &format!("{name}-{:02}-5", round - 1));
            }
            store.commit_blocking(cs).unwrap();
        }
        let mut cs = Changeset::new();
        cs.put_stock(&stock("main", &format!("SKU-{round}"), "7.5"));
        store.commit_blocking(cs).unwrap();
    }
}

/// Everything the store holds, read through its public queries.
pub fn content(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    let integrations = store.integrations().unwrap();
    out.push(format!("{integrations:?}"));
    for integration in integrations {
        let iid = integration.id;
        let state = store.load_state(iid).unwrap().unwrap();
        out.push(format!("{:?}", state.orders));
        out.push(format!("{:?}", state.products));
        out.push(format!("{:?}", state.outbox));
        out.push(format!(
            "{:?} {:?}",
            state.meta.names().collect::<Vec<_>>(),
            state.meta.get::<Vec<String>>("cursor").unwrap()
        ));
        for status in [OrderStatus::Imported, OrderStatus::Shipped] {
            out.push(format!(
                "{:?}",
                store.orders_by_status(iid, status).unwrap()
            ));
        }
        out.push(format!("{:?}", store.sync_logs(iid, at(-100_000)).unwrap()));
        out.push(format!("{:?}", store.errors(iid, false).unwrap()));
        out.push(format!("{:?}", store.price_history(iid, None).unwrap()));
    }
    out.push(format!("{:?}", store.stock_levels("main").unwrap()));
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files(&entry.path()));
        } else {
            let len = entry.metadata().unwrap().len();
            if len > 0 {
                out.push((entry.path(), len));
            }
        }
    }
    out.sort();
    out
}

/// A stopped store, as the daemon leaves it, and what it holds.
fn pristine(work: &Path) -> (PathBuf, Vec<String>) {
    let dir = work.join("pristine");
    let store = open_store(&dir);
    populate(&store);
    let expected = content(&store);
    store.checkpoint_blocking().unwrap();
    drop(store);
    (dir, expected)
}

#[test]
fn flipped_bytes_are_refused_or_change_nothing() {
    let work = tempfile::tempdir().unwrap();
    let (source, expected) = pristine(work.path());
    let sled_files: Vec<(PathBuf, u64)> = files(&source)
        .into_iter()
        .filter(|(path, _)| !path.ends_with("integrity.checkpoint"))
        .collect();
    let total: u64 = sled_files.iter().map(|(_, len)| len).sum();
    let mut rng = StdRng::seed_from_u64(0x5eed_0009);
    let (mut refused, mut intact) = (Vec::new(), 0);
    let trials = 40;
    for trial in 0..trials {
        let dir = work.path().join(format!("trial-{trial}"));
        copy_dir(&source, &dir);
        // A file chosen in proportion to its size (every fourth trial: any file alike, so the
        // small ones are hit too), 1 to 4 bytes flipped at a random offset.
        let (file, len) = if trial % 4 == 3 {
            &sled_files[rng.gen_range(0..sled_files.len())]
        } else {
            let mut pick = rng.gen_range(0..total);
            sled_files
                .iter()
                .find(|(_, len)| {
                    if pick < *len {
                        true
                    } else {
                        pick -= len;
                        false
                    }
                })
                .unwrap()
        };
        let relative = file.strip_prefix(&source).unwrap();
        let target = dir.join(relative);
        let mut bytes = std::fs::read(&target).unwrap();
        let offset = rng.gen_range(0..*len as usize);
        let width = rng.gen_range(1..=4usize);
        for byte in bytes.iter_mut().skip(offset).take(width) {
            *byte ^= rng.gen_range(1..=255u8);
        }
        std::fs::write(&target, &bytes).unwrap();
        let what = format!(
            "trial {trial}: {} at {offset} (+{width})",
            relative.display()
        );
        match Store::open(&dir) {
            Ok(store) => {
                install_test_key(&store);
                assert_eq!(
                    content(&store),
                    expected,
                    "{what}: opened with different data"
                );
                intact += 1;
            }
            Err(err @ StoreError::Damaged { .. }) => {
                let message = err.to_string();
                assert!(message.contains("is damaged"), "{what}: {message}");
                refused.push(format!("{what}: {message}"));
            }
            Err(other) => panic!("{what}: refused without saying it is damaged: {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "{trials} trials over {:?}: {} refused, {intact} opened with every record",
        sled_files
            .iter()
            .map(|(path, len)| format!(
                "{} ({len} bytes)",
                path.strip_prefix(&source).unwrap().display()
            ))
            .collect::<Vec<_>>(),
        refused.len()
    );
    for line in &refused {
        println!("  {line}");
    }
    assert_eq!(refused.len() + intact, trials);
}

#[test]
fn records_lost_outside_a_commit_are_refused_with_counts() {
    let work = tempfile::tempdir().unwrap();
    let (source, _) = pristine(work.path());
    // sled drops part of a tree (what a damaged page does): remove records behind its back.
    {
        let db = sled::open(&source).unwrap();
        let orders = db.open_tree("orders").unwrap();
        let keys: Vec<_> = orders.iter().keys().take(46).map(Result::unwrap).collect();
        for key in keys {
            orders.remove(key).unwrap();
        }
        db.flush().unwrap();
    }
    let err = Store::open(&source).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
    assert!(
        message.contains("tree orders holds 170 records but 216 were committed"),
        "{message}"
    );
}

#[test]
fn a_store_rolled_back_to_an_older_state_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("store");
    let store = open_store(&dir);
    populate(&store);
    drop(store);
    // An older copy of the files (what a truncated log recovers to) under a newer checkpoint.
    let older = work.path().join("older");
    copy_dir(&dir, &older);
    let store = open_store(&dir);
    let mut cs = Changeset::new();
    cs.put_order(&order(id(1), "late", OrderStatus::Imported, at(999)));
    store.commit_blocking(cs).unwrap();
    store.checkpoint_blocking().unwrap();
    drop(store);
    std::fs::copy(
        dir.join("integrity.checkpoint"),
        older.join("integrity.checkpoint"),
    )
    .unwrap();
    let message = Store::open(&older).unwrap_err().to_string();
    assert!(message.contains("the newest changes are lost"), "{message}");
    // The newer store itself is fine.
    open_store(&dir);
}

#[test]
fn a_store_of_the_previous_release_gets_a_manifest_once() {
    let work = tempfile::tempdir().unwrap();
    let (source, expected) = pristine(work.path());
    // The previous release kept no manifest and no checkpoint.
    {
        let db = sled::open(&source).unwrap();
        assert!(db.remove("shoptet-sync/manifest").unwrap().is_some());
        db.flush().unwrap();
    }
    std::fs::remove_file(source.join("integrity.checkpoint")).unwrap();
    let (store, report) = Store::open_checked(&source).unwrap();
    install_test_key(&store);
    assert!(report.manifest_built, "{report:?}");
    assert!(report.full_check.is_some());
    assert_eq!(content(&store), expected);
    drop(store);
    let (store, report) = Store::open_checked(&source).unwrap();
    install_test_key(&store);
    assert!(!report.manifest_built);
    assert!(
        report.full_check.is_none(),
        "counted once, not at every open"
    );
    assert_eq!(content(&store), expected);
    drop(store);
    // Without its manifest but with a checkpoint, the store is this release's: refused.
    {
        let db = sled::open(&source).unwrap();
        db.remove("shoptet-sync/manifest").unwrap();
        db.flush().unwrap();
    }
    let message = Store::open(&source).unwrap_err().to_string();
    assert!(message.contains("manifest is missing"), "{message}");
}

#[test]
fn a_previous_release_store_with_a_broken_record_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let (source, _) = pristine(work.path());
    {
        let db = sled::open(&source).unwrap();
        db.remove("shoptet-sync/manifest").unwrap();
        let products = db.open_tree("products").unwrap();
        let key = products.iter().keys().next().unwrap().unwrap();
        products.insert(key, &[2u8, 0xff, 0xff, 0xff][..]).unwrap();
        db.flush().unwrap();
    }
    std::fs::remove_file(source.join("integrity.checkpoint")).unwrap();
    let message = Store::open(&source).unwrap_err().to_string();
    assert!(message.contains("is damaged"), "{message}");
    assert!(message.contains("products"), "{message}");
}
