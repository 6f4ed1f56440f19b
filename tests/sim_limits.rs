//! Simulator limit, auth and fault tests over raw HTTP: in-flight 429, leaky bucket with
//! HTTP-date Retry-After, 423 locks, token expiry and cap, addon switches, injected faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shoptet_sync::sim::{FaultConfig, LimitConfig, SimConfig, SimHandle, Simulator};

fn client() -> Client {
    Client::builder().no_proxy().build().unwrap()
}

async fn start(cfg: SimConfig) -> SimHandle {
    Simulator::start(SimConfig {
        products: 8,
        orders: 5,
        ..cfg
    })
    .await
    .unwrap()
}

fn private_get(sim: &SimHandle, c: &Client, path: &str) -> reqwest::RequestBuilder {
    c.get(format!("{}{}", sim.base_url(), path))
        .header("shoptet-private-api-token", sim.private_token())
}

async fn mint(sim: &SimHandle, c: &Client) -> (StatusCode, Value) {
    let r = c
        .get(format!(
            "{}/action/ApiOAuthServer/getAccessToken",
            sim.eshop_url()
        ))
        .bearer_auth(sim.oauth_token())
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fourth_concurrent_request_gets_429() {
    let sim = start(SimConfig {
        faults: FaultConfig {
            latency_ms: 600,
            ..FaultConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let reqs = (0..4).map(|_| private_get(&sim, &c, "/api/eshop").send());
    let results = futures::future::join_all(reqs).await;
    let mut statuses: Vec<u16> = results
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert_eq!(sim.counters().peak_in_flight, 3);
    // Slots are released afterwards.
    sim.set_faults(FaultConfig::default());
    assert_eq!(
        private_get(&sim, &c, "/api/eshop")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_fills_then_429_with_http_date() {
    let sim = start(SimConfig {
        limits: LimitConfig {
            bucket_capacity: 5,
            bucket_drain_per_sec: 0.5,
            ..LimitConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let mut fillings = Vec::new();
    let mut rejected = None;
    for _ in 0..12 {
        let r = private_get(&sim, &c, "/api/eshop").send().await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            rejected = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
        fillings.push(
            r.headers()["x-ratelimit-bucket-filling"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    // One drop per request (the slow drain may shave one off while we go).
    assert!(fillings.len() >= 5, "{fillings:?}");
    assert_eq!(&fillings[..3], ["1/5", "2/5", "3/5"]);
    let r = rejected.expect("the bucket filled up");
    let retry = r.headers()["retry-after"].to_str().unwrap().to_string();
    let when = httpdate::parse_http_date(&retry).expect("Retry-After is an HTTP date");
    assert!(when > SystemTime::now() - Duration::from_secs(1), "{retry}");
    assert!(
        when < SystemTime::now() + Duration::from_secs(10),
        "{retry}"
    );
    assert!(
        r.headers()["x-ratelimit-bucket-filling"]
            .to_str()
            .unwrap()
            .ends_with("/5")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["errorCode"], "too-many-requests");
    // The addon's bucket is separate from the private token's.
    let (_, t) = mint(&sim, &c).await;
    let r = c
        .get(format!("{}/api/eshop", sim.base_url()))
        .header("Shoptet-Access-Token", t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-bucket-filling"], "1/5");
    assert!(sim.counters().with_status(429) >= 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_writes_get_423() {
    let sim = start(SimConfig {
        faults: FaultConfig {
            latency_ms: 500,
            ..FaultConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let code = sim
        .variant_codes()
        .into_iter()
        .find(|v| sim.stock_level(v).is_some())
        .unwrap();
    let send = |amount: i64| {
        c.patch(format!("{}/api/stocks/1/movements", sim.base_url()))
            .header("Shoptet-Private-Api-Token", sim.private_token())
            .header("Content-Type", "application/json")
            .body(json!({"data": [{"productCode": code, "realStock": amount}]}).to_string())
            .send()
    };
    let (a, b) = tokio::join!(send(5), send(5));
    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 423]);
    // Different bodies are different writes.
    let (a, b) = tokio::join!(send(6), send(7));
    assert_eq!(
        (a.unwrap().status(), b.unwrap().status()),
        (StatusCode::OK, StatusCode::OK)
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_expire_and_are_capped() {
    let sim = start(SimConfig::default()).await;
    let c = client();
    let (s, v) = mint(&sim, &c).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["expires_in"], 1800);
    assert!(v.get("data").is_none(), "not enveloped");
    let token = v["access_token"].as_str().unwrap().to_string();
    let api = |t: &str| {
        c.get(format!("{}/api/orders", sim.base_url()))
            .header("SHOPTET-ACCESS-TOKEN", t)
            .send()
    };
    assert_eq!(api(&token).await.unwrap().status(), StatusCode::OK);

    let r = c
        .get(format!("{}/api/orders", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["errorCode"], "missing-access-token");
    let v: Value = api("bogus").await.unwrap().json().await.unwrap();
    assert_eq!(v["errors"][0]["errorCode"], "invalid-token");

    for _ in 0..4 {
        assert_eq!(mint(&sim, &c).await.0, StatusCode::OK);
    }
    let (s, v) = mint(&sim, &c).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(v["error"], "maximum_tokens_reached");
    assert_eq!(sim.live_access_tokens(), 5);

    sim.advance_clock(Duration::from_secs(1801));
    let r = api(&token).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["errorCode"], "expired-token");
    assert_eq!(v["errors"][0]["instance"], "unknown");
    // Expired tokens free their slots.
    assert_eq!(mint(&sim, &c).await.0, StatusCode::OK);

    // Addon not approved / suspended.
    let (_, v) = mint(&sim, &c).await;
    let fresh = v["access_token"].as_str().unwrap().to_string();
    sim.set_addon_not_approved(true);
    let v: Value = api(&fresh).await.unwrap().json().await.unwrap();
    assert_eq!(v["errors"][0]["errorCode"], "invalid-token");
    assert_eq!(
        v["errors"][0]["message"],
        "Addon installation is not approved."
    );
    sim.set_addon_not_approved(false);
    sim.set_addon_suspended(true);
    let (s, v) = mint(&sim, &c).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "addon_suspended");
    let r = c
        .get(format!(
            "{}/action/ApiOAuthServer/getAccessToken",
            sim.base_url()
        ))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_maintenance_and_corrupt_bodies() {
    let sim = start(SimConfig {
        faults: FaultConfig {
            error_rates: [(500, 1.0)].into_iter().collect(),
            max_faults: Some(2),
            ..FaultConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = private_get(&sim, &c, "/api/orders").send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 500 {
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["errors"][0]["errorCode"], "unknown-error");
        }
    }
    assert_eq!(statuses, [500, 500, 200], "a bounded burst");
    assert_eq!(sim.counters().faults_injected, 2);

    sim.set_maintenance(true);
    let r = private_get(&sim, &c, "/api/orders").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["errorCode"], "system-maintenance");
    sim.set_maintenance(false);
    assert_eq!(
        private_get(&sim, &c, "/api/orders")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    sim.set_faults(FaultConfig {
        error_rates: [(429, 1.0)].into_iter().collect(),
        max_faults: Some(1),
        ..FaultConfig::default()
    });
    let r = private_get(&sim, &c, "/api/orders").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(httpdate::parse_http_date(r.headers()["retry-after"].to_str().unwrap()).is_ok());

    for (cfg, name) in [
        (
            FaultConfig {
                truncate_rate: 1.0,
                max_faults: Some(1),
                ..FaultConfig::default()
            },
            "truncate",
        ),
        (
            FaultConfig {
                garbage_rate: 1.0,
                max_faults: Some(1),
                ..FaultConfig::default()
            },
            "garbage",
        ),
    ] {
        sim.set_faults(cfg);
        let r = private_get(&sim, &c, "/api/orders").send().await.unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "{name}: {text}"
        );
        let r = private_get(&sim, &c, "/api/orders").send().await.unwrap();
        assert!(
            r.json::<Value>().await.is_ok(),
            "{name}: budget spent, back to normal"
        );
    }

    // Faults limited to a path prefix leave other paths alone.
    sim.set_faults(FaultConfig {
        error_rates: [(503, 1.0)].into_iter().collect(),
        path_prefix: Some("/api/stocks".into()),
        ..FaultConfig::default()
    });
    assert_eq!(
        private_get(&sim, &c, "/api/orders")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        private_get(&sim, &c, "/api/stocks")
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_resets_and_hangs() {
    let sim = start(SimConfig {
        faults: FaultConfig {
            reset_rate: 1.0,
            max_faults: Some(1),
            ..FaultConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let err = private_get(&sim, &c, "/api/orders")
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout() && !err.is_status(), "{err:?}");
    assert_eq!(sim.counters().resets(), 1);
    assert_eq!(
        private_get(&sim, &c, "/api/orders")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    sim.set_faults(FaultConfig {
        hang_rate: 1.0,
        hang_ms: 5_000,
        max_faults: Some(1),
        ..FaultConfig::default()
    });
    let err = private_get(&sim, &c, "/api/orders")
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    // The next request is served normally (the hung one may still hold a slot, 2 remain).
    assert_eq!(
        private_get(&sim, &c, "/api/orders")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_deterministic_for_a_seed() {
    async fn run(seed: u64) -> Vec<u16> {
        let sim = start(SimConfig {
            seed,
            faults: FaultConfig {
                error_rates: [(500, 0.3), (503, 0.1)].into_iter().collect(),
                ..FaultConfig::default()
            },
            ..SimConfig::default()
        })
        .await;
        let c = client();
        let mut out = Vec::new();
        for _ in 0..40 {
            out.push(
                private_get(&sim, &c, "/api/eshop")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        sim.shutdown().await;
        out
    }
    let a = run(11).await;
    assert_eq!(a, run(11).await);
    assert!(a.contains(&500) && a.contains(&200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_completes_with_a_hung_request() {
    let sim = start(SimConfig {
        faults: FaultConfig {
            hang_rate: 1.0,
            hang_ms: 60_000,
            ..FaultConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let url = format!("{}/api/orders", sim.base_url());
    let token = sim.private_token();
    let pending = tokio::spawn(async move {
        c.get(url)
            .header("Shoptet-Private-Api-Token", token)
            .send()
            .await
    });
    // Wait (with a deadline) until the request has arrived.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sim.counters().total == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), sim.shutdown())
        .await
        .expect("shutdown finishes despite the hang");
    let _ = pending.await;
}
