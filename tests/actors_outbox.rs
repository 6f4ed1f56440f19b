//! The status push-back outbox keeps retrying a promised push after the integration was
//! deactivated (pending pushes still go out; see docs/architecture.md), and after a settings
//! change or an activation (which reset the other timers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::collections::BTreeMap;
use std::time::Duration;

use actors_support::*;
use shoptet_sync::sim::{FaultConfig, ItemSpec, OrderSpec, STATUS_PROCESSING};

const DEADLINE: Duration = Duration::from_secs(20);

async fn attempts(env: &Env) -> Option<u32> {
    let outbox = env.daemon.outbox("shop", None).await.ok()?;
    outbox.first().map(|e| e.attempts)
}

#[actix_rt::test]
async fn a_deactivated_store_keeps_retrying_its_promised_pushes() {
    let sim = start_sim(small_shop()).await;
    let env = Env::start(fast_settings());
    env.add_shop("shop", &sim, "MAIN").await;
    let codes = stock_all(&env.daemon, "shop", &sim, 20).await;
    wait_real_stock(&sim, &codes[0], 20, DEADLINE).await;
    let order = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(codes[0].clone(), 1)],
            ..OrderSpec::default()
        })
        .unwrap();
    wait_for("the order imported", DEADLINE, || async {
        env.daemon.get_order("shop", &order).await.ok()
    })
    .await;

    // The shop refuses this order's status writes for a while.
    sim.set_faults(FaultConfig {
        error_rates: BTreeMap::from([(503, 1.0)]),
        path_prefix: Some(format!("/api/orders/{order}/")),
        ..FaultConfig::default()
    });
    env.daemon
        .process_order("shop", &order, Some("pick-1"))
        .await
        .unwrap();
    wait_for("the push failed once", DEADLINE, || async {
        (attempts(&env).await? >= 1).then_some(())
    })
    .await;
    env.daemon.deactivate("shop", "maintenance").await.unwrap();
    let before = attempts(&env).await.unwrap();
    wait_for("a failed attempt after deactivation", DEADLINE, || async {
        (attempts(&env).await? > before).then_some(())
    })
    .await;

    // The shop is fine again: the promised push must still reach it.
    sim.set_faults(FaultConfig::default());
    wait_for(
        "the pending push sent after the shop recovered",
        DEADLINE,
        || async { (sim.order(&order)?.status_id == STATUS_PROCESSING).then_some(()) },
    )
    .await;
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn a_settings_update_keeps_the_retry_of_a_backing_off_push() {
    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    // Nothing periodic wakes the store up; the failed push waits a second.
    settings.interval_override = Some(Duration::from_secs(3600));
    settings.outbox_retry_base = Duration::from_secs(1);
    settings.outbox_retry_max = Duration::from_secs(2);
    let env = Env::start(settings);
    let order = sim
        .create_order(&OrderSpec {
            items: vec![ItemSpec::new(sim.variant_codes()[0].clone(), 1)],
            ..OrderSpec::default()
        })
        .unwrap();
    env.add_shop("shop", &sim, "MAIN").await;
    wait_for("the order imported", DEADLINE, || async {
        env.daemon.get_order("shop", &order).await.ok()
    })
    .await;
    sim.set_faults(FaultConfig {
        error_rates: BTreeMap::from([(503, 1.0)]),
        path_prefix: Some(format!("/api/orders/{order}/")),
        ..FaultConfig::default()
    });
    env.daemon
        .process_order("shop", &order, Some("pick-1"))
        .await
        .unwrap();
    wait_for("the push failed once", DEADLINE, || async {
        (attempts(&env).await? >= 1).then_some(())
    })
    .await;
    // A settings change while the push backs off.
    env.daemon
        .update_integration(
            "shop",
            shoptet_sync::actors::messages::IntegrationUpdate {
                low_stock_threshold: Some(rust_decimal::Decimal::from(3)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    sim.set_faults(FaultConfig::default());
    wait_for(
        "the pending push sent after the settings change",
        DEADLINE,
        || async { (sim.order(&order)?.status_id == STATUS_PROCESSING).then_some(()) },
    )
    .await;
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
