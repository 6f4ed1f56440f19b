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
