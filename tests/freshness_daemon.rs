//! Orders in seconds through the real actor system: the cheap feed poll delivers with every
//! webhook lost, a verified webhook wakes the order reader, forged/replayed/truncated
//! deliveries are refused or harmless, and a webhook flood costs only a few feed reads.
//!
//! Each test starts a simulator, the daemon's actors and the webhook listener on loopback, and
//! stops them. The scheduled import is set to an hour so only the poll or a webhook can bring
//! an order in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actors_support;

use std::sync::Arc;
use std::time::Duration;

use actors_support::*;
use shoptet_sync::actors::SyncSettings;
use shoptet_sync::actors::messages::OrderListQuery;
use shoptet_sync::actors::webhook_routes::{WebhookRoutes, WebhookSetup};
use shoptet_sync::shoptet::webhooks::{SIGNATURE_HEADER, sign_body};
use shoptet_sync::sim::{OrderSpec, SimConfig, SimHandle, WebhookDelivery};

const DEADLINE: Duration = Duration::from_secs(20);
const FEED: &str = "GET /api/orders/changes";

async fn imported(env: &Env) -> Vec<String> {
    let query = OrderListQuery {
        page_size: 1000,
        ..OrderListQuery::default()
    };
    match env.daemon.list_orders("shop", query).await {
        Ok(page) => page.items.into_iter().map(|o| o.code).collect(),
        Err(_) => Vec::new(),
    }
}

/// The webhook listener on 127.0.0.1:0; returns its public URL base and the routes.
async fn listener() -> (WebhookSetup, String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let routes: Arc<WebhookRoutes> = Arc::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = Arc::clone(&routes);
    actix_rt::spawn(async move {
        let _ = shoptet_sync::service::webhooks::serve(listener, served, async move {
            let _ = stopped.await;
        })
        .await;
    });
    let public_url = format!("http://{addr}/shoptet");
    (
        WebhookSetup {
            public_url: public_url.clone(),
            routes,
        },
        public_url,
        stop,
    )
}

/// Scheduled imports an hour apart: only the poll or a webhook brings orders in.
fn settings(feed_poll: Duration, webhooks: Option<WebhookSetup>) -> SyncSettings {
    let mut s = fast_settings();
    s.interval_override = Some(Duration::from_secs(3600));
    s.feed_poll = feed_poll;
    s.webhooks = webhooks;
    s
}

/// Waits for the first import (at activation) to end, so later orders are news to the poll.
async fn first_import_done(env: &Env, sim: &SimHandle) {
    wait_for("the first import", DEADLINE, || async {
        (sim.counters().requests(FEED) > 0 && imported(env).await.is_empty()).then_some(())
    })
    .await;
    wait_for("no import running", DEADLINE, || async {
        let status = env.daemon.status().await.ok()?;
        let store = status.stores.into_iter().find(|s| s.name == "shop")?;
        store.running.is_empty().then_some(())
    })
    .await;
}

#[actix_rt::test]
async fn with_every_webhook_lost_the_feed_poll_still_brings_an_order_in() {
    let sim = start_sim(SimConfig {
        webhooks: WebhookDelivery {
            loss_rate: 1.0,
            retries: 0,
            ..WebhookDelivery::default()
        },
        ..small_shop()
    })
    .await;
    let (setup, _, stop) = listener().await;
    let env = Env::start(settings(Duration::from_millis(300), Some(setup)));
    env.add_shop("shop", &sim, "MAIN").await;
    wait_for("webhooks registered", DEADLINE, || async {
        (sim.webhooks().len() == 6).then_some(())
    })
    .await;
    first_import_done(&env, &sim).await;

    let code = sim.create_order(&OrderSpec::default()).unwrap();
    wait_for("the order imported by the poll", DEADLINE, || async {
        imported(&env).await.contains(&code).then_some(())
    })
    .await;
    assert_eq!(sim.webhook_stats().delivered, 0, "every webhook was lost");
    assert!(sim.webhook_stats().lost >= 1);
    let _ = stop.send(());
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn a_verified_webhook_wakes_the_reader_with_polling_off() {
    let sim = start_sim(small_shop()).await;
    let (setup, _, stop) = listener().await;
    let env = Env::start(settings(Duration::ZERO, Some(setup)));
    env.add_shop("shop", &sim, "MAIN").await;
    wait_for("webhooks registered", DEADLINE, || async {
        (sim.webhooks().len() == 6).then_some(())
    })
    .await;
    first_import_done(&env, &sim).await;

    let code = sim.create_order(&OrderSpec::default()).unwrap();
    wait_for("the order imported after its webhook", DEADLINE, || async {
        imported(&env).await.contains(&code).then_some(())
    })
    .await;
    assert!(sim.webhook_stats().delivered >= 1);
    let _ = stop.send(());
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn forged_truncated_missing_and_replayed_signatures_are_refused_or_harmless() {
    let sim = start_sim(small_shop()).await;
    let (setup, _, stop) = listener().await;
    let env = Env::start(settings(Duration::ZERO, Some(setup)));
    env.add_shop("shop", &sim, "MAIN").await;
    wait_for("webhooks registered", DEADLINE, || async {
        (sim.webhooks().len() == 6).then_some(())
    })
    .await;
    first_import_done(&env, &sim).await;
    let url = sim
        .webhooks()
        .into_iter()
        .find(|w| w.event == "order:create")
        .unwrap()
        .url;
    let key = sim.webhook_signature_key();
    let body = br#"{"eshopId":470123,"event":"order:create","eventCreated":"2025-03-14T09:41:07+0100","eventInstance":"2025000318"}"#;
    let good = sign_body(key.as_bytes(), body);
    let http = reqwest::Client::new();
    let post = |sig: Option<String>, body: Vec<u8>, url: String| {
        let http = http.clone();
        async move {
            let mut req = http.post(url).body(body);
            if let Some(sig) = sig {
                req = req.header(SIGNATURE_HEADER, sig);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    let feed_reads = sim.counters().requests(FEED);
    assert_eq!(post(None, body.to_vec(), url.clone()).await, 401, "missing");
    assert_eq!(
        post(Some(good[..39].to_string()), body.to_vec(), url.clone()).await,
        401,
        "truncated"
    );
    assert_eq!(
        post(
            Some(sign_body(b"guessed key", body)),
            body.to_vec(),
            url.clone()
        )
        .await,
        401,
        "wrong key"
    );
    let mut tampered = body.to_vec();
    tampered.push(b' ');
    assert_eq!(
        post(Some(good.clone()), tampered, url.clone()).await,
        401,
        "body changed after signing"
    );
    let other_shop = br#"{"eshopId":1,"event":"order:create","eventCreated":"2025-03-14T09:41:07+0100","eventInstance":"1"}"#;
    assert_eq!(
        post(
            Some(sign_body(key.as_bytes(), other_shop)),
            other_shop.to_vec(),
            url.clone()
        )
        .await,
        401,
        "another shop's id"
    );
    let wrong_path = format!("{}/{}", url.rsplit_once('/').unwrap().0, "0".repeat(32));
    assert_eq!(
        post(Some(good.clone()), body.to_vec(), wrong_path).await,
        404
    );
    let huge = vec![b' '; 70 * 1024];
    assert_eq!(
        post(Some(sign_body(key.as_bytes(), &huge)), huge, url.clone()).await,
        413
    );
    // Nothing refused reached the shop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.counters().requests(FEED), feed_reads);

    // A genuine delivery (replayed twice) only wakes the reader: the feed is read, nothing
    // that the feed does not name is imported.
    assert_eq!(
        post(Some(good.clone()), body.to_vec(), url.clone()).await,
        200
    );
    assert_eq!(post(Some(good), body.to_vec(), url).await, 200);
    wait_for("a feed read after the wake", DEADLINE, || async {
        (sim.counters().requests(FEED) > feed_reads).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(imported(&env).await.is_empty(), "a webhook never adds data");
    let _ = stop.send(());
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[actix_rt::test]
async fn a_webhook_flood_costs_only_a_few_feed_reads() {
    let sim = start_sim(SimConfig {
        allow_oversell: true,
        ..small_shop()
    })
    .await;
    let (setup, _, stop) = listener().await;
    let env = Env::start(settings(Duration::from_secs(3600), Some(setup)));
    env.add_shop("shop", &sim, "MAIN").await;
    wait_for("webhooks registered", DEADLINE, || async {
        (sim.webhooks().len() == 6).then_some(())
    })
    .await;
    first_import_done(&env, &sim).await;
    let before = sim.counters().requests(FEED);
    let codes = sim.create_random_orders(200);
    assert_eq!(codes.len(), 200);
    wait_for("every order imported", DEADLINE, || async {
        (imported(&env).await.len() == codes.len()).then_some(())
    })
    .await;
    wait_for("every webhook delivered", DEADLINE, || async {
        (sim.webhook_stats().delivered >= 200).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let reads = sim.counters().requests(FEED) - before;
    assert!(
        reads <= 12,
        "{} webhooks cost {reads} feed reads",
        sim.webhook_stats().delivered
    );
    let _ = stop.send(());
    env.daemon.shutdown().await.unwrap();
    sim.shutdown().await;
}
