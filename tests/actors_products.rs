//! The catalogue pull: a full pull first, then only the products the shop's change feed names;
//! deleted products become inactive; a cursor older than the feed's horizon falls back to a
//! full pull.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::collections::BTreeSet;
use std::time::Duration;

use actors_support::*;
use chrono::{DateTime, TimeDelta, Utc};
use shoptet_sync::actors::{Daemon, SyncKind};
use shoptet_sync::domain::{Product, SyncStatus};
use shoptet_sync::store::Changeset;

const DEADLINE: Duration = Duration::from_secs(20);
const DETAIL: &str = "GET /api/products/{guid}";
const LIST: &str = "GET /api/products";
const CHANGES: &str = "GET /api/products/changes";

/// Scheduled runs only at start: the test starts every later run itself.
fn settings() -> shoptet_sync::actors::SyncSettings {
    shoptet_sync::actors::SyncSettings {
        interval_override: Some(Duration::from_secs(3600)),
        ..fast_settings()
    }
}

async fn products(daemon: &Daemon) -> Vec<Product> {
    let query = shoptet_sync::actors::messages::ProductListQuery {
        page_size: 1000,
        ..Default::default()
    };
    daemon.list_products("shop", query).await.unwrap().items
}

#[actix_rt::test]
async fn later_pulls_read_only_changed_products_and_deleted_ones_become_inactive() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(settings());
    let integration = env.add_shop("shop", &sim, "MAIN").await;
    let codes = sim.variant_codes();
    wait_products(&env.daemon, "shop", codes.len()).await;
    // The first run read the whole catalogue: one detail per product.
    let before = products(&env.daemon).await;
    let guids: BTreeSet<String> = before
        .iter()
        .filter_map(|p| p.shop_product_guid.clone())
        .collect();
    let variants_of = |guid: &str| {
        before
            .iter()
            .filter(|p| p.shop_product_guid.as_deref() == Some(guid))
            .count()
    };
    assert_eq!(guids.len(), 4);
    assert_eq!(sim.counters().requests(DETAIL), 4);
    let first_cursor: DateTime<Utc> = env
        .store
        .get_meta(integration.id, "products.cursor")
        .unwrap()
        .expect("the full pull commits a cursor");

    let mut guids = guids.into_iter();
    let (renamed, deleted) = (guids.next().unwrap(), guids.next().unwrap());
    sim.reset_counters();
    sim.rename_product(&renamed, "Přejmenovaný výrobek")
        .unwrap();
    sim.delete_product(&deleted).unwrap();

    let report = env
        .daemon
        .sync("shop", SyncKind::Products, false)
        .await
        .unwrap();
    assert_eq!(report.status, SyncStatus::Completed, "{}", report.message);
    let counters = sim.counters();
    assert_eq!(counters.requests(DETAIL), 1, "only the changed product");
    assert_eq!(counters.requests(LIST), 0, "no full catalogue read");
    assert!(counters.requests(CHANGES) >= 1);

    let now = products(&env.daemon).await;
    let of = |guid: &str| -> Vec<&Product> {
        now.iter()
            .filter(|p| p.shop_product_guid.as_deref() == Some(guid))
            .collect()
    };
    assert_eq!(of(&renamed).len(), variants_of(&renamed));
    for product in of(&renamed) {
        assert!(
            product.name.starts_with("Přejmenovaný výrobek"),
            "{product:?}"
        );
        assert!(product.active);
    }
    assert_eq!(
        of(&deleted).len(),
        variants_of(&deleted),
        "deleted products are kept"
    );
    for product in of(&deleted) {
        assert!(!product.active, "{} is still active", product.code);
    }
    let others = now
        .iter()
        .filter(|p| {
            let guid = p.shop_product_guid.as_deref();
            guid != Some(renamed.as_str()) && guid != Some(deleted.as_str())
        })
        .count();
    assert_eq!(
        others,
        before.len() - variants_of(&renamed) - variants_of(&deleted)
    );
    assert!(
        now.iter()
            .filter(|p| p.shop_product_guid.as_deref() != Some(deleted.as_str()))
            .all(|p| p.active)
    );
    let cursor: DateTime<Utc> = env
        .store
        .get_meta(integration.id, "products.cursor")
        .unwrap()
        .unwrap();
    assert!(cursor >= first_cursor);
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn a_cursor_older_than_the_feed_horizon_falls_back_to_a_full_pull() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(settings());
    let integration = env.add_shop("shop", &sim, "MAIN").await;
    wait_products(&env.daemon, "shop", sim.variant_codes().len()).await;
    wait_for("the products cursor", DEADLINE, || async {
        env.store
            .get_meta::<DateTime<Utc>>(integration.id, "products.cursor")
            .unwrap()
    })
    .await;
    env.daemon.shutdown().await.unwrap();

    // The store was down for longer than the shop keeps its product change feed.
    let stale = Utc::now() - TimeDelta::days(31);
    let mut changeset = Changeset::new();
    changeset.put_meta(integration.id, "products.cursor", &stale);
    env.store.commit(changeset).await.unwrap();
    sim.reset_counters();

    let daemon = Daemon::start(env.store.clone(), settings());
    let cursor = wait_for("a fresh products cursor", DEADLINE, || async {
        let cursor: DateTime<Utc> = env
            .store
            .get_meta(integration.id, "products.cursor")
            .unwrap()?;
        (cursor > Utc::now() - TimeDelta::days(1)).then_some(cursor)
    })
    .await;
    assert!(cursor > stale);
    let counters = sim.counters();
    assert_eq!(
        counters.requests(CHANGES),
        0,
        "the stale cursor is not used"
    );
    assert!(counters.requests(LIST) >= 1);
    assert_eq!(counters.requests(DETAIL), 4, "every product re-read");
    daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
