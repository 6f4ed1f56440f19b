//! Contract tests of webhooks and snapshot jobs: the client's calls against the simulator
//! (reference §5.10, §8, §9), with a loopback receiver that records every signed delivery.
//!
//! Each test starts its own simulator and receiver on 127.0.0.1:0 and stops them; waits are
//! polls on conditions with deadlines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use shoptet_sync::domain::{Credentials, Secret};
use shoptet_sync::shoptet::webhooks::{
    SIGNATURE_HEADER, WebhookDeliveryBody, is_already_registered, verify_signature,
};
use shoptet_sync::shoptet::{ClientConfig, OrderFilter, ShoptetClient, ShoptetError};
use shoptet_sync::sim::{
    JobConfig, JobOutcome, LimitConfig, OrderSpec, STATUS_COMPLETED, SimConfig, SimHandle,
    Simulator, WebhookDelivery,
};
use tokio::time::Instant;

/// One delivery as received: the raw body and its signature header.
#[derive(Debug, Clone)]
struct Received {
    body: Vec<u8>,
    signature: Option<String>,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    inbox.lock().unwrap().push(Received {
        body: body.to_vec(),
        signature,
    });
    StatusCode::OK
}

/// A loopback receiver; returns its URL, its inbox and the server task.
async fn receiver() -> (String, Inbox, tokio::task::JoinHandle<()>) {
    let inbox: Inbox = Arc::default();
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(Arc::clone(&inbox));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, inbox, task)
}

async fn sim(config: SimConfig) -> SimHandle {
    Simulator::start(SimConfig {
        seed: 5,
        products: 10,
        stock_range: (500, 1000),
        strict_content_type: true,
        limits: LimitConfig {
            bucket_capacity: 1_000_000,
            bucket_drain_per_sec: 1_000_000.0,
            ..LimitConfig::default()
        },
        ..config
    })
    .await
    .unwrap()
}

fn client(sim: &SimHandle) -> ShoptetClient {
    ShoptetClient::new(
        ClientConfig::with_base_url(sim.base_url()),
        Credentials::PrivateToken(Secret::new(sim.private_token())),
    )
    .unwrap()
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn events(inbox: &Inbox) -> Vec<(String, String)> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            let b: WebhookDeliveryBody = serde_json::from_slice(&r.body).unwrap();
            (b.event, b.event_instance)
        })
        .collect()
}

fn rejected_status(e: &ShoptetError) -> Option<u16> {
    match e {
        ShoptetError::Rejected { status, .. } => Some(*status),
        _ => None,
    }
}

#[tokio::test]
async fn registration_enforces_one_url_per_event_exclusive_pairs_and_the_url_rule() {
    let sim = sim(SimConfig::default()).await;
    let c = client(&sim);
    let (url, _inbox, task) = receiver().await;
    let created = c
        .register_webhooks(&[
            ("order:create".into(), url.clone()),
            ("order:update".into(), url.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(created.len(), 2);
    assert_eq!(c.list_webhooks().await.unwrap(), created);

    // A second URL for the same event: 422 "already exists"; nothing is added.
    let dup = c
        .register_webhooks(&[("order:create".into(), format!("{url}2"))])
        .await
        .unwrap_err();
    assert_eq!(rejected_status(&dup), Some(422), "{dup}");
    match &dup {
        ShoptetError::Rejected { errors, .. } => assert!(is_already_registered(errors)),
        other => panic!("{other}"),
    }
    // order:cancel is exclusive with order:update: 409.
    let clash = c
        .register_webhooks(&[("order:cancel".into(), url.clone())])
        .await
        .unwrap_err();
    assert_eq!(rejected_status(&clash), Some(409), "{clash}");
    // Plain http off loopback and https on an odd port are refused.
    for bad in [
        "http://sync.example.cz/hook",
        "https://sync.example.cz:9443/hook",
        "ftp://127.0.0.1/hook",
    ] {
        let e = c
            .register_webhooks(&[("order:paid".into(), bad.into())])
            .await
            .unwrap_err();
        assert_eq!(rejected_status(&e), Some(422), "{bad}: {e}");
    }
    assert_eq!(sim.webhooks().len(), 2);
    // Deleting twice: the second is a 404 that counts as done.
    c.delete_webhook(created[0].id).await.unwrap();
    c.delete_webhook(created[0].id).await.unwrap();
    assert_eq!(sim.webhooks().len(), 1);
    task.abort();
    sim.shutdown().await;
}

#[test]
fn url_rule_https_ports_with_a_loopback_exception() {
    use shoptet_sync::sim::webhooks::check_url;
    for ok in [
        "https://sync.example.cz/shoptet/x",
        "https://sync.example.cz:8443/x",
        "https://sync.example.cz:8080/x",
        "https://sync.example.cz:80/x",
        "http://127.0.0.1:8790/x",
        "http://localhost:1234/x",
        "http://[::1]:5000/x",
    ] {
        assert!(check_url(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://sync.example.cz/x",
        "https://sync.example.cz:8444/x",
        "not a url",
        &format!("https://sync.example.cz/{}", "a".repeat(2000)),
    ] {
        assert!(check_url(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn deliveries_are_signed_with_the_renewed_key_for_every_order_event() {
    let sim = sim(SimConfig::default()).await;
    let c = client(&sim);
    let (url, inbox, task) = receiver().await;
    let events_wanted = [
        "order:create",
        "order:update",
        "order:delete",
        "order:paid",
        "orderStatusesList:change",
    ];
    let regs: Vec<(String, String)> = events_wanted
        .iter()
        .map(|e| ((*e).to_string(), url.clone()))
        .collect();
    c.register_webhooks(&regs).await.unwrap();
    let key = c.renew_signature_key().await.unwrap();
    assert_eq!(key.expose(), sim.webhook_signature_key());

    let code = sim.create_order(&OrderSpec::default()).unwrap();
    sim.set_order_status(&code, STATUS_COMPLETED).unwrap(); // marks paid
    sim.delete_order(&code).unwrap();
    sim.emit_event("orderStatusesList:change", "-1");
    wait_until("five deliveries", || inbox.lock().unwrap().len() >= 5).await;
    let got = events(&inbox);
    for wanted in [
        ("order:create", code.as_str()),
        ("order:update", code.as_str()),
        ("order:paid", code.as_str()),
        ("order:delete", code.as_str()),
        ("orderStatusesList:change", "-1"),
    ] {
        assert!(
            got.contains(&(wanted.0.to_string(), wanted.1.to_string())),
            "{wanted:?} missing from {got:?}"
        );
    }
    for r in inbox.lock().unwrap().iter() {
        let sig = r.signature.as_deref().expect("signed");
        assert!(verify_signature(key.expose().as_bytes(), &r.body, sig));
        let body: WebhookDeliveryBody = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body.eshop_id, 470123);
    }
    // The notifications log records each as delivered.
    wait_until("log marks success", || {
        sim.webhook_notifications()
            .iter()
            .filter(|n| n.status == "success")
            .count()
            >= 5
    })
    .await;
    task.abort();
    sim.shutdown().await;
}

#[tokio::test]
async fn lost_deliveries_are_retried_then_given_up_and_logged_as_failed() {
    let sim = sim(SimConfig {
        webhooks: WebhookDelivery {
            loss_rate: 1.0,
            retries: 2,
            retry_interval_ms: 5,
            ..WebhookDelivery::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = client(&sim);
    let (url, inbox, task) = receiver().await;
    c.register_webhooks(&[("order:create".into(), url)])
        .await
        .unwrap();
    sim.create_order(&OrderSpec::default()).unwrap();
    wait_until("given up", || sim.webhook_stats().given_up == 1).await;
    assert_eq!(sim.webhook_stats().lost, 3);
    assert!(inbox.lock().unwrap().is_empty());
    let log = sim.webhook_notifications();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].status.as_str(), log[0].attempts), ("failed", 3));
    task.abort();
    sim.shutdown().await;
}

#[tokio::test]
async fn snapshot_needs_job_finished_and_its_result_equals_detail_reads() {
    let sim = sim(SimConfig {
        orders: 30,
        ..SimConfig::default()
    })
    .await;
    let c = client(&sim);
    // Without job:finished: 403, nothing queued.
    let refused = c
        .request_order_snapshot(&OrderFilter::default())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ShoptetError::Forbidden { .. }),
        "{refused}"
    );
    assert!(sim.jobs().is_empty());

    let (url, inbox, task) = receiver().await;
    c.register_webhooks(&[("job:finished".into(), url)])
        .await
        .unwrap();
    let job_id = c
        .request_order_snapshot(&OrderFilter::default())
        .await
        .unwrap();
    wait_until("job:finished", || {
        events(&inbox).contains(&("job:finished".to_string(), job_id.clone()))
    })
    .await;
    let job = c.job_detail(&job_id).await.unwrap();
    assert_eq!(job.status, "completed");
    let result_url = job.result_url.expect("resultUrl");
    assert!(result_url.starts_with(&sim.base_url()));
    let before = sim.counters().total;
    let orders = c
        .download_order_snapshot(&result_url, 64 * 1024 * 1024)
        .await
        .unwrap();
    assert_eq!(sim.counters().total, before + 1, "one download request");
    assert_eq!(orders.len(), sim.order_codes().len());
    for order in &orders {
        let detail = c.order_detail(&order.code).await.unwrap();
        assert_eq!(order, &detail, "order {} differs", order.code);
    }
    // A cap below the content refuses it.
    assert!(c.download_order_snapshot(&result_url, 1000).await.is_err());
    // Another host is refused before any request is made.
    let foreign = result_url.replace("127.0.0.1", "127.0.0.2");
    let before = sim.counters().total;
    let e = c
        .download_order_snapshot(&foreign, 64 * 1024 * 1024)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("own host"), "{e}");
    assert_eq!(sim.counters().total, before);
    task.abort();
    sim.shutdown().await;
}

#[tokio::test]
async fn unfinished_jobs_allow_ten_polls_failed_jobs_say_so_and_results_expire() {
    let sim = sim(SimConfig {
        jobs: JobConfig {
            outcome: JobOutcome::Never,
            ..JobConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = client(&sim);
    let (url, inbox, task) = receiver().await;
    c.register_webhooks(&[("job:finished".into(), url)])
        .await
        .unwrap();
    let never = c
        .request_order_snapshot(&OrderFilter::default())
        .await
        .unwrap();
    for _ in 0..10 {
        assert!(!c.job_detail(&never).await.unwrap().is_finished());
    }
    match c.job_detail(&never).await.unwrap_err() {
        ShoptetError::Forbidden { error_code, .. } => {
            assert_eq!(error_code, "job-detail-try-counter-exceeded-limit");
        }
        other => panic!("{other}"),
    }
    // Three hours later it is failed, without a webhook.
    sim.advance_clock(Duration::from_secs(3 * 3600 + 1));
    wait_until("marked failed", || {
        sim.jobs()
            .iter()
            .any(|j| j.job_id == never && j.status == "failed")
    })
    .await;
    assert!(!events(&inbox).iter().any(|(_, i)| *i == never));
    assert!(matches!(
        c.job_detail("nope").await.unwrap_err(),
        ShoptetError::NotFound { .. }
    ));

    sim.set_job_config(JobConfig {
        outcome: JobOutcome::Fail,
        ..JobConfig::default()
    });
    let failed = c
        .request_order_snapshot(&OrderFilter::default())
        .await
        .unwrap();
    wait_until("failure webhook", || {
        events(&inbox).contains(&("job:finished".to_string(), failed.clone()))
    })
    .await;
    let job = c.job_detail(&failed).await.unwrap();
    assert_eq!((job.status.as_str(), job.result_url), ("failed", None));

    sim.set_job_config(JobConfig {
        result_ttl_secs: 60,
        ..JobConfig::default()
    });
    let done = c
        .request_order_snapshot(&OrderFilter::default())
        .await
        .unwrap();
    wait_until("completion webhook", || {
        events(&inbox).contains(&("job:finished".to_string(), done.clone()))
    })
    .await;
    let url = c.job_detail(&done).await.unwrap().result_url.unwrap();
    sim.advance_clock(Duration::from_secs(61));
    assert_eq!(c.job_detail(&done).await.unwrap().status, "expired");
    assert!(
        c.download_order_snapshot(&url, 1 << 20).await.is_err(),
        "an expired result is gone"
    );
    task.abort();
    sim.shutdown().await;
}
