//! Input from the shop that must not be trusted blindly (issue 9, finding 8): a change feed
//! that keeps answering the same page ends the run with an error instead of "Completed".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::time::Duration;

use actors_support::*;
use shoptet_sync::actors::SyncKind;
use shoptet_sync::domain::SyncStatus;
use shoptet_sync::sim::{FaultConfig, ItemSpec, OrderSpec, SimConfig};

const DEADLINE: Duration = Duration::from_secs(30);
const ORDER_CHANGES: &str = "GET /api/orders/changes";

#[actix_rt::test]
async fn a_change_feed_answering_the_same_page_ends_the_run_with_an_error() {
    let sim = start_sim(SimConfig {
        allow_oversell: true,
        ..small_shop()
    })
    .await;
    let variant = sim.variant_codes()[0].clone();
    for _ in 0..6 {
        sim.create_order(&OrderSpec {
            items: vec![ItemSpec::new(variant.clone(), 1)],
            ..OrderSpec::default()
        })
        .unwrap();
    }
    let mut settings = fast_settings();
    settings.orders_page_size = 2;
    settings.interval_override = Some(Duration::from_secs(3600));
    let env = Env::start(settings);
    env.add_shop("shop", &sim, "MAIN").await;
    wait_for("the first orders run over", DEADLINE, || async {
        let integration = env.daemon.get_integration("shop").await.ok()?;
        integration.last_order_sync.map(|_| ())
    })
    .await;

    // From now on every read of the feed answers its first page, and says there is more.
    sim.set_faults(FaultConfig {
        frozen_order_feed: true,
        ..FaultConfig::default()
    });
    let before = sim.counters().requests(ORDER_CHANGES);
    let report = tokio::time::timeout(DEADLINE, env.daemon.sync("shop", SyncKind::Orders, true))
        .await
        .expect("the run ends instead of reading the same page over and over")
        .unwrap();
    let reads = sim.counters().requests(ORDER_CHANGES) - before;
    assert!(reads <= 3, "{reads} reads of a feed that makes no progress");
    assert_eq!(
        report.status,
        SyncStatus::CompletedWithErrors,
        "a feed read that makes no progress is not a completed run: {report:?}"
    );
    let errors = env.daemon.errors("shop", false).await.unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("order change feed makes no progress")),
        "{errors:?}"
    );
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
