//! A warehouse-side price change reaches the shop's default price list and the history (test 3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::time::Duration;

use actors_support::*;
use rust_decimal::Decimal;

const DEADLINE: Duration = Duration::from_secs(20);

#[actix_rt::test]
async fn a_price_change_reaches_the_price_list_and_the_history() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    env.add_shop("shop", &sim, "MAIN").await;
    let codes: Vec<String> = sim.stock_levels().keys().cloned().collect();
    wait_products(&env.daemon, "shop", codes.len()).await;
    let code = &codes[1];
    let before = sim.price(code).unwrap().price;
    let new_price: Decimal = "1234.50".parse().unwrap();
    assert_ne!(before, new_price);

    let product = env
        .daemon
        .update_price("shop", code, new_price, "ctl:alice")
        .await
        .unwrap();
    assert_eq!(product.price, new_price);
    let history = env.daemon.price_history("shop", Some(code)).await.unwrap();
    let change = history.last().unwrap();
    assert_eq!((change.old_price, change.new_price), (before, new_price));
    assert_eq!(change.source, "ctl:alice");

    wait_for(
        "the shop's default price list shows the new price",
        DEADLINE,
        || async {
            let price = sim.price(code)?;
            (price.pricelist_id == sim.default_pricelist_id() && price.price == new_price)
                .then_some(())
        },
    )
    .await;
    let change = wait_for("the history entry marked pushed", DEADLINE, || async {
        let history = env.daemon.price_history("shop", Some(code)).await.ok()?;
        history
            .into_iter()
            .find(|c| c.new_price == new_price && c.pushed_at.is_some())
    })
    .await;
    assert!(change.pushed_at.unwrap() >= change.changed_at);
    // The next catalogue pull does not undo it.
    env.daemon
        .sync("shop", shoptet_sync::actors::SyncKind::Products, true)
        .await
        .ok();
    let product = env
        .daemon
        .list_products("shop", Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|p| &p.code == code)
        .unwrap();
    assert_eq!(product.price, new_price);
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn a_price_push_does_not_scan_the_price_history_per_code() {
    use shoptet_sync::actors::SyncKind;
    use shoptet_sync::domain::PriceChange;
    use shoptet_sync::store::{Changeset, TreeId};

    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    settings.interval_override = Some(Duration::from_secs(3600));
    let env = Env::start(settings);
    let integration = env.add_shop("shop", &sim, "MAIN").await;
    let codes: Vec<String> = sim.stock_levels().keys().cloned().collect();
    wait_products(&env.daemon, "shop", codes.len()).await;

    // A long history of price changes pushed long ago.
    const HISTORY: usize = 2000;
    let long_ago = chrono::Utc::now() - chrono::TimeDelta::days(300);
    let mut changeset = Changeset::new();
    for i in 0..HISTORY {
        let at = long_ago + chrono::TimeDelta::seconds(i as i64);
        changeset.put_price_change(&PriceChange {
            id: uuid::Uuid::new_v4(),
            integration_id: integration.id,
            product_code: codes[i % codes.len()].clone(),
            old_price: Decimal::from(100),
            new_price: Decimal::from(101),
            changed_at: at,
            source: "seed".into(),
            pushed_at: Some(at),
        });
    }
    env.store.commit(changeset).await.unwrap();

    let before = env.store.records_read(TreeId::PriceHistory);
    let price = |i: usize| Decimal::from(1000 + i as i64);
    for (i, code) in codes.iter().enumerate() {
        env.daemon
            .update_price("shop", code, price(i), "ctl:alice")
            .await
            .unwrap();
    }
    wait_for("every new price in the shop", DEADLINE, || async {
        codes
            .iter()
            .enumerate()
            .all(|(i, code)| sim.price(code).is_some_and(|p| p.price == price(i)))
            .then_some(())
    })
    .await;
    // A run that starts after the push finished.
    wait_for("the push run over", DEADLINE, || async {
        env.daemon.sync("shop", SyncKind::Prices, true).await.ok()
    })
    .await;
    let read = env.store.records_read(TreeId::PriceHistory) - before;
    assert!(
        read < HISTORY as u64,
        "pushing {} prices decoded {read} price-history records: the push scans the whole \
         history once per code",
        codes.len()
    );
    // The entries were still marked pushed.
    let history = env.daemon.price_history("shop", None).await.unwrap();
    assert!(history.iter().all(|c| c.pushed_at.is_some()), "all pushed");
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
