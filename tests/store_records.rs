//! Store behaviour: every record round-trips and survives a reopen, indexes follow changes,
//! integrations are isolated, retention, and damaged records give clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod store_support;

use std::path::Path;

use chrono::Duration;
use shoptet_sync::domain::{IntegrationId, OrderStatus};
use shoptet_sync::store::{Changeset, Store, StoreError, TreeId};
use store_support::*;
use uuid::Uuid;

fn id(n: u128) -> IntegrationId {
    Uuid::from_u128(n)
}

/// Overwrites the value of every key of `tree` for which `pick` holds, with the store closed.
fn damage(dir: &Path, tree: TreeId, pick: impl Fn(&[u8]) -> bool, value: &[u8]) -> usize {
    let db = sled::open(dir).unwrap();
    let tree = db.open_tree(tree.name()).unwrap();
    let keys: Vec<_> = tree
        .iter()
        .keys()
        .map(|k| k.unwrap())
        .filter(|k| pick(k))
        .collect();
    for key in &keys {
        tree.insert(key, value).unwrap();
    }
    db.flush().unwrap();
    keys.len()
}

#[test]
fn every_record_round_trips_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = id(1);
    let integration = integration(a, "alpha");
    let order = order(a, "2025000318", OrderStatus::Imported, at(0));
    let in_review = order_in_review(a, "2025000319");
    let product = product(a, "SKU-1");
    let stock = stock("main", "SKU-1", "17.250");
    let outbox = outbox(a, 7, "2025000318");
    let log = sync_log(a, at(5));
    let error = error_log(a, at(6), Some(at(7)));
    let change = price_change(a, "SKU-1", at(8));
    // A meta value of several fields (time, text, decimal), as the actors keep.
    let cursor: std::collections::BTreeMap<String, rust_decimal::Decimal> = [
        ("page-3".to_owned(), dec("0.0001")),
        (at(9).to_rfc3339(), dec("-1.50")),
    ]
    .into_iter()
    .collect();

    {
        let store = open_store(dir.path());
        let mut cs = Changeset::new();
        cs.put_integration(&integration)
            .put_order(&order)
            .put_order(&in_review)
            .put_product(&product)
            .put_stock(&stock)
            .put_outbox(&outbox)
            .put_sync_log(&log)
            .put_error(&error)
            .put_price_change(&change)
            .put_meta(a, "order_cursor", &cursor);
        store.commit_blocking(cs).unwrap();
    }

    let store = open_store(dir.path());
    assert_eq!(store.integrations().unwrap(), vec![integration.clone()]);
    assert_eq!(store.integration(a).unwrap(), Some(integration.clone()));
    assert_eq!(store.order(a, "2025000318").unwrap(), Some(order.clone()));
    assert_eq!(store.product(a, "SKU-1").unwrap(), Some(product.clone()));
    assert_eq!(store.stock_levels("main").unwrap(), vec![stock.clone()]);
    assert_eq!(
        store.stock_level("main", "SKU-1").unwrap(),
        Some(stock.clone())
    );
    assert_eq!(store.outbox(a).unwrap(), vec![outbox.clone()]);
    assert_eq!(store.sync_logs(a, at(-100)).unwrap(), vec![log.clone()]);
    assert_eq!(store.errors(a, false).unwrap(), vec![error.clone()]);
    assert_eq!(store.price_history(a, None).unwrap(), vec![change.clone()]);
    assert_eq!(
        store
            .get_meta::<std::collections::BTreeMap<String, rust_decimal::Decimal>>(
                a,
                "order_cursor"
            )
            .unwrap(),
        Some(cursor.clone())
    );
    // Decimal equality ignores scale: the text shows the scale survived as well.
    let read = store.order(a, "2025000318").unwrap().unwrap();
    assert_eq!(read.items[0].quantity.to_string(), "2.000");
    assert_eq!(read.items[2].unit_price.to_string(), "90.0000000001");
    assert_eq!(read.imported_at, at(0));

    let state = store.load_state(a).unwrap().unwrap();
    assert_eq!(state.integration, integration);
    assert_eq!(state.orders, vec![order, in_review.clone()]);
    assert_eq!(
        store.orders_by_status(a, OrderStatus::Error).unwrap(),
        vec![in_review]
    );
    assert_eq!(state.products, vec![product]);
    assert_eq!(state.outbox, vec![outbox]);
    // The integration's credentials are sealed in a meta value of their own.
    assert_eq!(
        state.meta.names().collect::<Vec<_>>(),
        vec!["order_cursor", "sealed:credentials"]
    );
    assert_eq!(state.meta.get("order_cursor").unwrap(), Some(cursor));
    assert_eq!(state.meta.get::<u64>("missing").unwrap(), None);

    let report = store.check_integrity().unwrap();
    // integration, 2 orders, product, stock, outbox, log, error, price change, and 3 meta
    // values: the cursor, the sealed credentials and the sealing key's check value
    assert_eq!(report.records, 12);
    assert_eq!(report.index_entries, 4);
    assert!(store.load_state(id(99)).unwrap().is_none());
}

#[test]
fn order_indexes_follow_status_and_import_time_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let a = id(1);
    let mut first = order(a, "A1", OrderStatus::Imported, at(0));
    let second = order(a, "A2", OrderStatus::Imported, at(10));
    let mut cs = Changeset::new();
    cs.put_integration(&integration(a, "alpha"))
        .put_order(&first)
        .put_order(&second);
    store.commit_blocking(cs).unwrap();
    let codes = |status| -> Vec<String> {
        store
            .orders_by_status(a, status)
            .unwrap()
            .into_iter()
            .map(|o| o.code)
            .collect()
    };
    assert_eq!(codes(OrderStatus::Imported), ["A1", "A2"]);
    assert!(codes(OrderStatus::Processing).is_empty());

    first.status = OrderStatus::Processing;
    let mut cs = Changeset::new();
    cs.put_order(&first);
    store.commit_blocking(cs).unwrap();
    assert_eq!(codes(OrderStatus::Imported), ["A2"]);
    assert_eq!(codes(OrderStatus::Processing), ["A1"]);

    // Two changes of one order in one changeset: only the last one is indexed.
    first.status = OrderStatus::Shipped;
    let mut cs = Changeset::new();
    cs.put_order(&first);
    first.status = OrderStatus::Delivered;
    first.imported_at = at(20);
    cs.put_order(&first);
    store.commit_blocking(cs).unwrap();
    assert!(codes(OrderStatus::Processing).is_empty());
    assert!(codes(OrderStatus::Shipped).is_empty());
    assert_eq!(codes(OrderStatus::Delivered), ["A1"]);
    let imported = |from, to| -> Vec<String> {
        store
            .orders_imported_between(a, from, to)
            .unwrap()
            .into_iter()
            .map(|o| o.code)
            .collect()
    };
    assert!(imported(at(-1), at(1)).is_empty(), "the old entry is gone");
    assert_eq!(imported(at(-1), at(30)), ["A2", "A1"], "oldest first");
    store.check_integrity().unwrap();
}

#[test]
fn import_range_is_half_open_and_exact_below_a_microsecond() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let a = id(1);
    let t = at(0); // has 789 ns below the microsecond
    let mut cs = Changeset::new();
    cs.put_order(&order(
        a,
        "before",
        OrderStatus::Imported,
        t - Duration::nanoseconds(1),
    ))
    .put_order(&order(a, "exact", OrderStatus::Imported, t))
    .put_order(&order(
        a,
        "after",
        OrderStatus::Imported,
        t + Duration::nanoseconds(1),
    ))
    .put_order(&order(
        a,
        "later",
        OrderStatus::Imported,
        t + Duration::hours(1),
    ));
    store.commit_blocking(cs).unwrap();
    let codes = |from, to| -> Vec<String> {
        store
            .orders_imported_between(a, from, to)
            .unwrap()
            .into_iter()
            .map(|o| o.code)
            .collect()
    };
    assert_eq!(codes(t, t + Duration::nanoseconds(1)), ["exact"]);
    assert_eq!(codes(t, t + Duration::hours(1)), ["exact", "after"]);
    assert_eq!(
        codes(t - Duration::seconds(1), t + Duration::hours(2)),
        ["before", "exact", "after", "later"]
    );
    assert!(codes(t, t).is_empty());
}

#[test]
fn integrations_are_isolated_and_loading_one_never_reads_another() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (id(1), id(2));
    {
        let store = open_store(dir.path());
        let mut cs = Changeset::new();
        for (iid, name) in [(a, "alpha"), (b, "beta")] {
            cs.put_integration(&integration(iid, name))
                .put_order(&order(iid, "1001", OrderStatus::Imported, at(0)))
                .put_product(&product(iid, "SKU-1"))
                .put_outbox(&outbox(iid, 1, "1001"))
                .put_sync_log(&sync_log(iid, at(1)))
                .put_error(&error_log(iid, at(2), None))
                .put_price_change(&price_change(iid, "SKU-1", at(3)))
                .put_meta(iid, "cursor", name);
        }
        store.commit_blocking(cs).unwrap();
        let state = store.load_state(a).unwrap().unwrap();
        assert!(state.orders.iter().all(|o| o.integration_id == a));
        assert_eq!(state.orders.len(), 1);
        assert_eq!(
            state.meta.get::<String>("cursor").unwrap().unwrap(),
            "alpha"
        );
        assert_eq!(
            store
                .orders_by_status(b, OrderStatus::Imported)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(store.sync_logs(a, at(-10)).unwrap().len(), 1);
    }
    // Damage every record of b: a must still load, b must fail. (Not b's sealed credentials:
    // the sealing key's check at start verifies every sealed value, so a damaged one stops the
    // start as a whole, which the sealing tests cover.)
    for tree in [
        TreeId::Orders,
        TreeId::Products,
        TreeId::Outbox,
        TreeId::Meta,
    ] {
        let damaged = damage(
            dir.path(),
            tree,
            |k| k.starts_with(b.as_bytes()) && !k.ends_with(b"sealed:credentials"),
            &[1, 0xff],
        );
        assert_eq!(damaged, 1);
    }
    let store = open_store(dir.path());
    let state = store.load_state(a).unwrap().unwrap();
    assert_eq!(state.orders.len(), 1);
    assert_eq!(state.products.len(), 1);
    assert!(store.load_state(b).is_err());
}

#[test]
fn deleting_an_integration_removes_all_its_data_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let (a, b) = (id(1), id(2));
    let mut cs = Changeset::new();
    for iid in [a, b] {
        cs.put_integration(&integration(iid, "x"));
        for n in 0..20 {
            let code = format!("{n:04}");
            cs.put_order(&order(iid, &code, OrderStatus::Imported, at(n)))
                .put_product(&product(iid, &code))
                .put_outbox(&outbox(iid, n as u64, &code))
                .put_sync_log(&sync_log(iid, at(n)))
                .put_error(&error_log(iid, at(n), None))
                .put_price_change(&price_change(iid, &code, at(n)))
                .put_meta(iid, &format!("m{n}"), &n);
        }
    }
    cs.put_stock(&stock("main", "0001", "4"));
    store.commit_blocking(cs).unwrap();

    let mut cs = Changeset::new();
    cs.delete_integration(a);
    store.commit_blocking(cs).unwrap();
    assert!(store.integration(a).unwrap().is_none());
    assert!(store.load_state(a).unwrap().is_none());
    assert!(
        store
            .orders_by_status(a, OrderStatus::Imported)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .orders_imported_between(a, at(-100), at(100))
            .unwrap()
            .is_empty()
    );
    assert!(store.products(a).unwrap().is_empty());
    assert!(store.outbox(a).unwrap().is_empty());
    assert!(store.sync_logs(a, at(-100)).unwrap().is_empty());
    assert!(store.errors(a, false).unwrap().is_empty());
    assert!(store.price_history(a, None).unwrap().is_empty());
    assert!(store.get_meta::<i64>(a, "m3").unwrap().is_none());

    let state = store.load_state(b).unwrap().unwrap();
    assert_eq!(state.orders.len(), 20);
    assert_eq!(state.products.len(), 20);
    assert_eq!(state.outbox.len(), 20);
    assert_eq!(
        state.meta.names().count(),
        21,
        "20 values and the sealed credentials"
    );
    assert_eq!(store.sync_logs(b, at(-100)).unwrap().len(), 20);
    assert_eq!(
        store.stock_levels("main").unwrap().len(),
        1,
        "stock is per warehouse"
    );
    store.check_integrity().unwrap();
}

#[test]
fn a_deletion_drops_earlier_writes_and_keeps_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let a = id(1);
    let mut cs = Changeset::new();
    cs.put_integration(&integration(a, "alpha"))
        .put_order(&order(a, "old", OrderStatus::Imported, at(0)));
    store.commit_blocking(cs).unwrap();

    let mut cs = Changeset::new();
    cs.put_order(&order(a, "queued-before", OrderStatus::Imported, at(1)))
        .delete_integration(a)
        .put_integration(&integration(a, "alpha-again"))
        .put_order(&order(a, "after", OrderStatus::Processing, at(2)));
    assert_eq!(
        cs.len(),
        4,
        "the integration writes its sealed credentials too"
    );
    store.commit_blocking(cs).unwrap();
    let state = store.load_state(a).unwrap().unwrap();
    assert_eq!(state.integration.name, "alpha-again");
    let codes: Vec<_> = state.orders.iter().map(|o| o.code.as_str()).collect();
    assert_eq!(codes, ["after"]);
    assert!(
        store
            .orders_by_status(a, OrderStatus::Imported)
            .unwrap()
            .is_empty()
    );
    store.check_integrity().unwrap();
}

#[test]
fn queries_filter_and_order_logs_errors_and_prices() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let a = id(1);
    let logs: Vec<_> = (0..5).map(|n| sync_log(a, at(n * 10))).collect();
    let open_error = error_log(a, at(1), None);
    let mut resolved = error_log(a, at(0), None);
    let changes = [
        price_change(a, "B", at(2)),
        price_change(a, "A", at(1)),
        price_change(a, "B", at(0)),
    ];
    let mut cs = Changeset::new();
    for log in logs.iter().rev() {
        cs.put_sync_log(log);
    }
    cs.put_error(&open_error).put_error(&resolved);
    for change in &changes {
        cs.put_price_change(change);
    }
    store.commit_blocking(cs).unwrap();

    assert_eq!(store.sync_logs(a, at(20)).unwrap(), logs[2..].to_vec());
    assert_eq!(store.sync_logs(a, at(-1)).unwrap(), logs);
    assert_eq!(store.errors(a, true).unwrap().len(), 2);

    // Resolving is a re-put of the same error.
    resolved.resolved_at = Some(at(5));
    resolved.resolved_by = Some("bob".to_owned());
    let mut cs = Changeset::new();
    cs.put_error(&resolved);
    store.commit_blocking(cs).unwrap();
    assert_eq!(store.errors(a, true).unwrap(), vec![open_error.clone()]);
    assert_eq!(store.errors(a, false).unwrap(), vec![resolved, open_error]);

    let b_history = store.price_history(a, Some("B")).unwrap();
    assert_eq!(b_history, vec![changes[2].clone(), changes[0].clone()]);
    assert_eq!(store.price_history(a, None).unwrap().len(), 3);
    assert!(store.price_history(a, Some("C")).unwrap().is_empty());
}

#[test]
fn meta_values_can_be_replaced_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let a = id(1);
    let mut cs = Changeset::new();
    cs.put_meta(a, "cursor", &1u64).put_meta(a, "cursor", &2u64);
    store.commit_blocking(cs).unwrap();
    assert_eq!(store.get_meta::<u64>(a, "cursor").unwrap(), Some(2));
    // Reading with the wrong type is a clear error naming the record, not garbage.
    let err = store.get_meta::<String>(a, "cursor").unwrap_err();
    assert!(err.to_string().starts_with("record meta/"), "{err}");
    let mut cs = Changeset::new();
    cs.delete_meta(a, "cursor");
    store.commit_blocking(cs).unwrap();
    assert_eq!(store.get_meta::<u64>(a, "cursor").unwrap(), None);
}

#[test]
fn retention_prunes_old_logs_and_old_resolved_errors_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let (a, b) = (id(1), id(2));
    let cutoff = at(100);
    let old_log = sync_log(a, at(0));
    let boundary_log = sync_log(b, cutoff); // not older than the cutoff: kept
    let just_older_log = sync_log(b, cutoff - Duration::nanoseconds(1));
    let new_log = sync_log(a, at(200));
    let old_open = error_log(a, at(0), None);
    let old_resolved = error_log(b, at(0), Some(at(50)));
    let resolved_late = error_log(a, at(1), Some(at(150)));
    let mut cs = Changeset::new();
    cs.put_sync_log(&old_log)
        .put_sync_log(&boundary_log)
        .put_sync_log(&just_older_log)
        .put_sync_log(&new_log)
        .put_error(&old_open)
        .put_error(&old_resolved)
        .put_error(&resolved_late);
    store.commit_blocking(cs).unwrap();

    let stats = store.prune_blocking(cutoff).unwrap();
    assert_eq!((stats.sync_logs, stats.errors), (2, 1));
    assert_eq!(store.sync_logs(a, at(-1000)).unwrap(), vec![new_log]);
    assert_eq!(store.sync_logs(b, at(-1000)).unwrap(), vec![boundary_log]);
    assert_eq!(
        store.errors(a, false).unwrap(),
        vec![old_open.clone(), resolved_late]
    );
    assert!(store.errors(b, false).unwrap().is_empty());
    let again = store.prune_blocking(cutoff).unwrap();
    assert_eq!((again.sync_logs, again.errors), (0, 0));
    // Each history has its own cutoff: resolved errors can go while sync logs stay.
    let each = futures::executor::block_on(store.prune_each(at(-1000), at(200))).unwrap();
    assert_eq!((each.sync_logs, each.errors), (0, 1));
    assert_eq!(store.sync_logs(a, at(-1000)).unwrap().len(), 1);
    // Unresolved errors survive any cutoff.
    store.prune_blocking(at(100_000)).unwrap();
    assert_eq!(store.errors(a, true).unwrap(), vec![old_open]);
}

#[test]
fn unknown_versions_and_garbage_give_errors_naming_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let a = id(0xabc);
    {
        let store = open_store(dir.path());
        let mut cs = Changeset::new();
        cs.put_integration(&integration(a, "alpha"))
            .put_order(&order(a, "2025000318", OrderStatus::Imported, at(0)))
            .put_order(&order(a, "2025000319", OrderStatus::Imported, at(0)))
            .put_product(&product(a, "SKU-1"));
        store.commit_blocking(cs).unwrap();
    }
    damage(
        dir.path(),
        TreeId::Orders,
        |k| k.ends_with(b"318"),
        &[7, 1, 2, 3],
    );
    damage(
        dir.path(),
        TreeId::Products,
        |_| true,
        &[1, 0xff, 0xff, 0xff],
    );

    let store = open_store(dir.path());
    let err = store.order(a, "2025000318").unwrap_err();
    assert!(matches!(err, StoreError::UnknownVersion { version: 7, .. }));
    assert_eq!(
        err.to_string(),
        format!("record orders/{a}/2025000318 has unknown format version 7")
    );
    let err = store.product(a, "SKU-1").unwrap_err();
    assert!(matches!(err, StoreError::Decode { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("record products/{a}/SKU-1 cannot be decoded")
    );
    assert!(store.load_state(a).is_err());
    assert!(store.check_integrity().is_err());
    assert!(matches!(
        store.orders_by_status(a, OrderStatus::Imported),
        Err(StoreError::UnknownVersion { .. })
    ));

    // Replacing the damaged order needs the old record (to move its index entries): the commit
    // fails as a whole and the rest of the changeset is not written either.
    let mut cs = Changeset::new();
    cs.put_meta(a, "cursor", &5u64).put_order(&order(
        a,
        "2025000318",
        OrderStatus::Processing,
        at(1),
    ));
    let err = store.commit_blocking(cs).unwrap_err();
    assert!(matches!(err, StoreError::UnknownVersion { .. }), "{err}");
    assert_eq!(store.get_meta::<u64>(a, "cursor").unwrap(), None);
    assert_eq!(
        store.orders_by_status(a, OrderStatus::Processing).unwrap(),
        vec![]
    );
}

#[test]
fn a_warehouse_code_with_nul_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let a = id(1);
    let mut cs = Changeset::new();
    cs.put_integration(&integration(a, "alpha"))
        .put_stock(&stock("ma\0in", "SKU", "1"));
    let err = store.commit_blocking(cs).unwrap_err();
    assert!(matches!(err, StoreError::InvalidKey { .. }), "{err}");
    assert!(store.integrations().unwrap().is_empty());
    assert!(format!("{:?}", Changeset::new()).contains("writes: 0"));
}

#[test]
fn changeset_debug_output_never_shows_secrets() {
    let mut cs = Changeset::new();
    cs.put_integration(&integration(id(1), "alpha"));
    let debug = format!("{cs:?}");
    assert!(!debug.contains("oauth-secret-value"), "{debug}");
    assert!(
        debug.contains("writes: 2"),
        "the record and its sealed credentials: {debug}"
    );
}

#[tokio::test]
async fn async_commit_is_durable_for_a_fresh_open_after_drop() {
    let dir = tempfile::tempdir().unwrap();
    let a = id(1);
    {
        let store = open_store(dir.path());
        let mut cs = Changeset::new();
        cs.put_integration(&integration(a, "alpha"));
        store.commit(cs).await.unwrap();
        store.commit(Changeset::new()).await.unwrap();
    }
    let store = open_store(dir.path());
    assert_eq!(store.integration(a).unwrap().unwrap().name, "alpha");
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open_store(dir.path());
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Sled(_)), "{err:?}");
}

#[test]
fn damaged_order_bytes_never_panic() {
    use shoptet_sync::store::codec;
    let order = order(id(1), "2025000318", OrderStatus::Imported, at(0));
    let bytes = codec::encode(TreeId::Orders, b"k", &order).unwrap();
    let decoded: shoptet_sync::domain::Order = codec::decode(TreeId::Orders, b"k", &bytes).unwrap();
    assert_eq!(decoded, order);
    for len in 0..bytes.len() {
        assert!(
            codec::decode::<shoptet_sync::domain::Order>(TreeId::Orders, b"k", &bytes[..len])
                .is_err()
        );
    }
    for position in 1..bytes.len() {
        for flip in [0x01u8, 0x40, 0xff] {
            let mut damaged = bytes.clone();
            damaged[position] ^= flip;
            let _ = codec::decode::<shoptet_sync::domain::Order>(TreeId::Orders, b"k", &damaged);
        }
    }
}
