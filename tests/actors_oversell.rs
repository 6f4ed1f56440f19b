//! Oversell race (test 7): customer orders stream into the shop while receipts, shipments (with
//! their status pushes) and stock pushes run; the shop never accepts more of a code than the
//! warehouse had, and once everything settles the shop's physical stock equals our on-hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actors_support::*;
use rust_decimal::Decimal;
use shoptet_sync::actors::messages::OrderListQuery;
use shoptet_sync::domain::OrderStatus;
use shoptet_sync::sim::{STATUS_CANCELLED, SimConfig};

const DEADLINE: Duration = Duration::from_secs(30);

#[actix_rt::test]
async fn the_shop_never_accepts_more_than_the_warehouse_had() {
    let sim = start_sim(SimConfig {
        products: 2,
        variants_per_product: 2,
        ..small_shop()
    })
    .await;
    let mut settings = fast_settings();
    settings.stock_debounce = Duration::from_millis(80);
    let env = Env::start(settings);
    env.add_shop("shop", &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, "shop", &sim, 8).await;
    let mut had: BTreeMap<String, Decimal> = codes
        .iter()
        .map(|c| (c.clone(), Decimal::from(8)))
        .collect();
    for code in &codes {
        wait_real_stock(&sim, code, 8, DEADLINE).await;
    }

    let stream = sim.start_order_stream(15.0, Duration::from_secs(4));
    let started = Instant::now();
    let mut shipped = 0u32;
    let mut round = 0usize;
    while started.elapsed() < Duration::from_millis(4500) {
        round += 1;
        // A receipt of 2 of one code.
        let code = &codes[round % codes.len()];
        env.daemon
            .adjust_stock("MAIN", code, Decimal::from(2))
            .await
            .unwrap();
        *had.get_mut(code).unwrap() += Decimal::from(2);
        // Ship what has been imported.
        let query = OrderListQuery {
            status: Some(OrderStatus::Imported),
            page_size: 1000,
            ..OrderListQuery::default()
        };
        let imported = env.daemon.list_orders("shop", query).await.unwrap().items;
        for order in imported {
            if env
                .daemon
                .process_order("shop", &order.code, None)
                .await
                .is_ok()
                && env
                    .daemon
                    .ship_order("shop", &order.code, Some(&format!("T{round}")), None)
                    .await
                    .is_ok()
            {
                shipped += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(
        stream.created() > 5,
        "the stream placed {} orders",
        stream.created()
    );
    assert!(shipped > 0, "nothing shipped");

    // Settle: everything imported, pushes sent.
    wait_for(
        "all shop orders imported and the outbox drained",
        DEADLINE,
        || async {
            let query = OrderListQuery {
                page_size: 1000,
                ..OrderListQuery::default()
            };
            let ours = env.daemon.list_orders("shop", query).await.ok()?.total as usize;
            let outbox = env.daemon.outbox("shop", None).await.ok()?;
            (ours == sim.order_codes().len() && outbox.is_empty()).then_some(())
        },
    )
    .await;

    let mut accepted: BTreeMap<String, Decimal> = BTreeMap::new();
    for code in sim.order_codes() {
        let order = sim.order(&code).unwrap();
        if order.status_id == STATUS_CANCELLED {
            continue;
        }
        for item in order.items {
            *accepted.entry(item.code).or_default() += item.amount;
        }
    }
    for (code, quantity) in &accepted {
        let limit = had.get(code).copied().unwrap_or_default();
        assert!(
            *quantity <= limit,
            "the shop accepted {quantity} of {code}, the warehouse had {limit}"
        );
    }
    assert_eq!(sim.oversold(), Decimal::ZERO);

    // Once settled, the shop's physical stock is our on-hand (compensation gone, claims resolved).
    let levels = env.daemon.stock_levels("MAIN").await.unwrap();
    for level in levels {
        wait_for(
            &format!(
                "shop realStock of {} equals on hand {}",
                level.product_code, level.on_hand
            ),
            DEADLINE,
            || async {
                let shop = sim.stock_level(&level.product_code)?;
                (shop.real_stock == level.on_hand).then_some(())
            },
        )
        .await;
    }
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
