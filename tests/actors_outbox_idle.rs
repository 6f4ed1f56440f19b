//! The outbox must not spin (a timer of zero, again and again) while an order's first entry
//! waits for its backoff or is a dead letter and a later entry of the same order is pending:
//! only the head entry of each order's group schedules the outbox.
//!
//! The test measures the process's CPU time over a window in which nothing is due: idle, the
//! daemon uses none; with the bug it woke up about once a millisecond (~120 ms of CPU per 2 s
//! in a debug build). It is alone in its binary so other tests do not add CPU time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actors_support::*;
use shoptet_sync::actors::SyncKind;
use shoptet_sync::sim::{FaultConfig, ItemSpec, OrderSpec};

const DEADLINE: Duration = Duration::from_secs(20);

/// CPU time (user + system) of this process, from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses): utime is 14th, stime 15th overall.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

#[actix_rt::test]
async fn a_held_back_outbox_entry_does_not_make_the_outbox_spin() {
    let sim = start_sim(small_shop()).await;
    let mut settings = fast_settings();
    // Nothing periodic inside the measurement window; the failed tracking push waits 30 s.
    settings.interval_override = Some(Duration::from_secs(3600));
    settings.outbox_retry_base = Duration::from_secs(30);
    settings.outbox_retry_max = Duration::from_secs(60);
    let env = Env::start(settings);
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
        let _ = env.daemon.sync("shop", SyncKind::Orders, true).await;
        env.daemon.get_order("shop", &order).await.ok()
    })
    .await;
    env.daemon
        .process_order("shop", &order, Some("pick-1"))
        .await
        .unwrap();
    wait_for("the processing push sent", DEADLINE, || async {
        env.daemon
            .outbox("shop", None)
            .await
            .ok()?
            .is_empty()
            .then_some(())
    })
    .await;

    // The shop refuses tracking numbers for a while: the tracking push backs off, the status
    // push of the same order waits behind it.
    sim.set_faults(FaultConfig {
        error_rates: BTreeMap::from([(503, 1.0)]),
        path_prefix: Some(format!("/api/orders/{order}/notes")),
        ..FaultConfig::default()
    });
    env.daemon
        .ship_order("shop", &order, Some("DR1234567890E"), None)
        .await
        .unwrap();
    wait_for("the tracking push failed once", DEADLINE, || async {
        let outbox = env.daemon.outbox("shop", None).await.ok()?;
        (outbox.len() == 2 && outbox[0].attempts >= 1).then_some(())
    })
    .await;

    // Measurement window: nothing is due for 30 s.
    let window = Duration::from_secs(3);
    let (cpu_before, wall_before) = (cpu_time(), Instant::now());
    tokio::time::sleep(window).await;
    let (cpu, wall) = (cpu_time() - cpu_before, wall_before.elapsed());
    let outbox = env.daemon.outbox("shop", None).await.unwrap();
    assert_eq!(outbox.len(), 2, "both pushes still wait: {outbox:?}");
    assert!(
        cpu <= Duration::from_millis(40),
        "the daemon used {cpu:?} of CPU in {wall:?} with nothing due: the outbox reschedules \
         itself with no delay while its held-back entry is pending"
    );
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
