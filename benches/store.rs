//! Store speed: committing a 50-order changeset (encode, one transaction, flush to disk) and
//! loading the in-memory state of an integration with 10,000 orders.
//!
//! Run: `cargo bench --bench store`
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/store_support/mod.rs"]
mod store_support;

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use shoptet_sync::domain::OrderStatus;
use shoptet_sync::store::{Changeset, Store};
use store_support::*;
use uuid::Uuid;

const PAGE: u64 = 50;
const LOADED_ORDERS: u64 = 10_000;

fn commit_page(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = Uuid::from_u128(1);
    let mut cs = Changeset::new();
    cs.put_integration(&integration(id, "bench"));
    store.commit_blocking(cs).unwrap();

    let mut group = c.benchmark_group("store");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(8));
    let mut page = 0u64;
    group.bench_function("commit 50 new orders + cursor", |b| {
        b.iter_batched(
            || {
                page += 1;
                let mut cs = Changeset::new();
                for n in 0..PAGE {
                    let code = format!("{page:08}{n:02}");
                    cs.put_order(&order(id, &code, OrderStatus::Imported, at(page as i64)));
                }
                cs.put_meta(id, "order_cursor", &page);
                cs
            },
            |cs| store.commit_blocking(cs).unwrap(),
            BatchSize::PerIteration,
        )
    });
    // Status changes of existing orders: the transaction reads each previous record to move
    // its index entries.
    let mut round = 0u64;
    group.bench_function("commit 50 order status changes", |b| {
        b.iter_batched(
            || {
                round += 1;
                let status = if round.is_multiple_of(2) {
                    OrderStatus::Imported
                } else {
                    OrderStatus::Processing
                };
                let mut cs = Changeset::new();
                for n in 0..PAGE {
                    let code = format!("{:08}{n:02}", 1);
                    cs.put_order(&order(id, &code, status, at(1)));
                }
                cs
            },
            |cs| store.commit_blocking(cs).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn load_state(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = Uuid::from_u128(1);
    let other = Uuid::from_u128(2);
    for integration_id in [id, other] {
        let mut cs = Changeset::new();
        cs.put_integration(&integration(integration_id, "bench"));
        store.commit_blocking(cs).unwrap();
        for page in 0..LOADED_ORDERS / 500 {
            let mut cs = Changeset::new();
            for n in 0..500u32 {
                let code = format!("{page:05}{n:03}");
                cs.put_order(&order(integration_id, &code, OrderStatus::Imported, at(0)));
                if n.is_multiple_of(5) {
                    cs.put_product(&product(integration_id, &code));
                }
            }
            store.commit_blocking(cs).unwrap();
        }
    }
    let mut group = c.benchmark_group("store");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("load_state 10,000 orders + 2,000 products", |b| {
        b.iter(|| {
            let state = store.load_state(id).unwrap().unwrap();
            assert_eq!(state.orders.len() as u64, LOADED_ORDERS);
            state
        })
    });
    group.finish();
}

criterion_group!(benches, commit_page, load_state);
criterion_main!(benches);
