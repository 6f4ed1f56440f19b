//! A code the warehouse has never recorded is unknown, not out of stock: connecting a shop
//! before its stock is loaded must not zero the shop's availability.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::collections::BTreeMap;
use std::time::Duration;

use actors_support::*;
use rust_decimal::Decimal;
use shoptet_sync::actors::SyncKind;

const DEADLINE: Duration = Duration::from_secs(20);

#[actix_rt::test]
async fn unknown_warehouse_stock_is_not_pushed_as_zero() {
    let sim = start_sim(small_shop()).await;
    let before: BTreeMap<String, Decimal> = sim
        .stock_levels()
        .into_iter()
        .map(|(code, level)| (code, level.real_stock))
        .collect();
    let stocked: Vec<&String> = before
        .iter()
        .filter(|(_, q)| **q > Decimal::ZERO)
        .map(|(code, _)| code)
        .collect();
    assert!(
        stocked.len() >= 2,
        "the shop needs stocked variants: {before:?}"
    );

    let mut settings = fast_settings();
    settings.interval_override = Some(Duration::from_secs(3600));
    let env = Env::start(settings);
    env.add_shop("shop", &sim, "EMPTY").await;
    wait_products(&env.daemon, "shop", before.len()).await;

    // An inventory sync with nothing recorded in the warehouse pushes nothing at all.
    sim.reset_counters();
    let report = env
        .daemon
        .sync("shop", SyncKind::Inventory, true)
        .await
        .unwrap();
    assert_eq!(report.records, 0, "{}", report.message);
    assert_eq!(
        sim.counters().requests("PATCH /api/stocks/{id}/movements"),
        0
    );
    for (code, quantity) in &before {
        assert_eq!(
            &sim.stock_level(code).unwrap().real_stock,
            quantity,
            "{code}"
        );
    }

    // Once the warehouse records a code (even as 0), that code alone is pushed.
    let (zeroed, untouched) = (stocked[0].clone(), stocked[1].clone());
    env.daemon
        .set_stock("shop", &zeroed, Decimal::ZERO)
        .await
        .unwrap();
    wait_real_stock(&sim, &zeroed, 0, DEADLINE).await;
    assert_eq!(
        sim.stock_level(&untouched).unwrap().real_stock,
        before[&untouched]
    );
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
