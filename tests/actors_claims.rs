//! A claim the shop resolved for an order the warehouse has not shipped yet (the shop admin set
//! a claim-resolving status such as "completed"): the shop dropped its claim and lowered
//! realStock by the order's quantity, so the push figure must subtract that order itself, or
//! the next push (a receipt) puts realStock back to the full on-hand and the shop offers the
//! order's goods a second time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::time::Duration;

use actors_support::*;
use rust_decimal::Decimal;
use shoptet_sync::domain::OrderStatus;
use shoptet_sync::sim::{ItemSpec, OrderSpec, STATUS_COMPLETED};

const DEADLINE: Duration = Duration::from_secs(20);

#[actix_rt::test]
async fn a_claim_resolved_in_the_shop_before_we_ship_does_not_let_the_shop_over_offer() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    env.add_shop("shop", &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, "shop", &sim, 5).await;
    let code = codes[0].clone();
    wait_real_stock(&sim, &code, 5, DEADLINE).await;

    // A customer buys 2; we import the order (it still has to leave our warehouse).
    let order = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(code.clone(), 2)],
            ..OrderSpec::default()
        })
        .unwrap();
    wait_for("the order imported", DEADLINE, || async {
        env.daemon.get_order("shop", &order).await.ok()
    })
    .await;

    // The shop admin marks it completed: the shop resolves the claim (realStock 3, claim 0).
    sim.set_order_status(&order, STATUS_COMPLETED).unwrap();
    wait_for("the daemon saw the shop status", DEADLINE, || async {
        let o = env.daemon.get_order("shop", &order).await.ok()?;
        (o.shop_status_id == Some(STATUS_COMPLETED)).then_some(o)
    })
    .await;
    let ours = env.daemon.get_order("shop", &order).await.unwrap();
    assert_eq!(
        ours.status,
        OrderStatus::Imported,
        "we still have to ship it"
    );

    // A receipt of one unit: the warehouse holds 6, of which 2 belong to the open order.
    env.daemon
        .set_stock("shop", &code, Decimal::from(6))
        .await
        .unwrap();
    wait_for("the receipt pushed", DEADLINE, || async {
        let level = sim.stock_level(&code)?;
        (level.real_stock != Decimal::from(3)).then_some(())
    })
    .await;
    let level = sim.stock_level(&code).unwrap();
    let deliverable = Decimal::from(6 - 2);
    wait_real_stock(&sim, &code, 4, DEADLINE).await;
    assert!(
        level.available <= deliverable,
        "the shop offers {} of {code} (realStock {}, claim {}) but the warehouse can deliver only \
         {deliverable} more: order {order} is counted neither by the shop's claim nor by our figure",
        level.available,
        level.real_stock,
        level.claim
    );
    // Flagged for review, with a warning in the error log.
    let ours = env.daemon.get_order("shop", &order).await.unwrap();
    assert_eq!(
        ours.review_reason.as_deref(),
        Some("completed in the shop before it shipped")
    );
    let errors = env.daemon.errors("shop", false).await.unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.details.as_deref().is_some_and(|d| d.contains(&order))
                && e.message.contains("completed in the shop")),
        "{errors:?}"
    );

    // Someone decides the goods still leave: the warehouse holds 4 after the shipment, and no
    // compensation may be added for a claim the shop resolved long ago.
    env.daemon
        .process_order("shop", &order, Some("pick-1"))
        .await
        .unwrap();
    env.daemon
        .ship_order("shop", &order, Some("DR1234567890E"), None)
        .await
        .unwrap();
    wait_for("the pushes after the shipment", DEADLINE, || async {
        let outbox = env.daemon.outbox("shop", None).await.ok()?;
        let level = sim.stock_level(&code)?;
        (outbox.is_empty() && level.real_stock == Decimal::from(4)).then_some(())
    })
    .await;
    let level = sim.stock_level(&code).unwrap();
    assert_eq!(level.available, Decimal::from(4), "{level:?}");
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
