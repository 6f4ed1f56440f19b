//! The metrics listener of the real `shoptet-syncd`, scraped while and after it syncs against
//! the simulator: every metric the alert rules and the dashboard name is in the scrape,
//! counters move as a sync runs, labels stay bounded (no order code anywhere), a scrape during
//! a heavy sync answers fast, the probes answer, and a non-loopback listener is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod daemon_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use daemon_support::*;
use shoptet_sync::sim::FaultConfig;

const DEADLINE: Duration = Duration::from_secs(120);
/// Orders asked of the shop for the first import (it places those its stock allows).
const ORDERS: usize = 150;

/// Label names a series may carry; anything else would be a new (possibly unbounded) label.
const ALLOWED_LABELS: [&str; 8] = [
    "store",
    "kind",
    "outcome",
    "endpoint",
    "status_class",
    "le",
    "version",
    "protocol",
];

/// One parsed sample line: metric name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the exposition text (label values may hold escaped quotes).
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap();
                let mut labels = BTreeMap::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert_eq!(chars.next(), Some('"'), "{line}");
                    let mut value = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => value.push(chars.next().unwrap()),
                            '"' => break,
                            c => value.push(c),
                        }
                    }
                    if chars.peek() == Some(&',') {
                        chars.next();
                    }
                    labels.insert(key, value);
                }
                (name.to_owned(), labels)
            }
        };
        samples.push(Sample {
            name,
            labels,
            value: value.parse().unwrap(),
        });
    }
    samples
}

/// The value of `name` with exactly-matching `labels` (others ignored), if present.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// The metric names (`shoptet_sync_…`) a rules or dashboard file mentions.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("shoptet_sync_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The listener's address, from the daemon's log line.
async fn metrics_address(daemon: &mut Daemon) -> String {
    daemon
        .wait_log("metrics listener ready", Duration::from_secs(30))
        .await;
    let log = daemon.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("metrics listener ready"))
        .unwrap();
    let at = line.find("address=").unwrap() + "address=".len();
    line[at..].split_whitespace().next().unwrap().to_owned()
}

/// Orders the daemon holds for the store (a finished shop order is never imported).
async fn held(env: &Env) -> usize {
    order_codes(&env.socket(), "demo")
        .await
        .map_or(0, |codes| codes.len())
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_daemon_serves_every_alerted_and_graphed_metric_with_bounded_labels() {
    // Enough orders, and enough latency per request, that the first import takes seconds.
    let mut shop = small_shop(0);
    shop.faults = FaultConfig {
        latency_ms: 40,
        ..FaultConfig::default()
    };
    let sim = start_sim(shop).await;
    sim.create_random_orders(ORDERS);
    let env = Env::new();
    let token = env.token_file("demo", &sim);
    env.write_config(
        "info",
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\n\n{}",
            integration_block("demo", &sim, &token)
        ),
    );
    let mut daemon = env.start(&[]);
    let address = metrics_address(&mut daemon).await;
    daemon.wait_ready(&env.socket(), DEADLINE).await;
    let client = reqwest::Client::new();
    let scrape_url = format!("http://{address}/metrics");

    // Before: the store is known, nothing imported yet.
    let before = parse(&get(&client, &scrape_url).await.1);
    let imported_before = value(
        &before,
        "shoptet_sync_orders_imported_total",
        &[("store", "demo")],
    )
    .expect("the store's series exist before any sync");
    assert_eq!(
        value(&before, "shoptet_sync_store_up", &[("store", "demo")]),
        Some(1.0)
    );

    // During the first import: scrapes answer from shared figures, not from the busy actor.
    let start = Instant::now();
    let mut timings = Vec::new();
    loop {
        let began = Instant::now();
        let (status, text) = get(&client, &scrape_url).await;
        let took = began.elapsed();
        assert_eq!(status, 200);
        let samples = parse(&text);
        let running = value(
            &samples,
            "shoptet_sync_sync_running",
            &[("store", "demo"), ("kind", "orders")],
        ) == Some(1.0);
        if running {
            timings.push(took);
        }
        let finished = value(
            &samples,
            "shoptet_sync_run_duration_seconds_count",
            &[("store", "demo"), ("kind", "orders"), ("outcome", "ok")],
        )
        .is_some_and(|runs| runs > 0.0);
        if timings.len() >= 9 || (finished && !running) {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the import did not run within {DEADLINE:?}; last scrape:\n{text}\nlog:\n{}",
            daemon.stderr()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        timings.len() >= 3,
        "too few scrapes while the orders sync ran: {timings:?}"
    );
    timings.sort();
    let median = timings[timings.len() / 2];
    println!("scrapes during the orders sync: {timings:?} (median {median:?}, goal < 50 ms)");
    assert!(
        median < Duration::from_millis(50),
        "scrapes during a sync are slow: {timings:?}"
    );
    assert!(
        timings.iter().all(|t| *t < Duration::from_millis(500)),
        "a scrape during a sync stalled: {timings:?}"
    );

    // After: the import is complete and the counters moved.
    let start = Instant::now();
    let after = loop {
        let samples = parse(&get(&client, &scrape_url).await.1);
        let done = value(
            &samples,
            "shoptet_sync_last_success_timestamp_seconds",
            &[("store", "demo"), ("kind", "orders")],
        )
        .is_some()
            && value(
                &samples,
                "shoptet_sync_sync_running",
                &[("store", "demo"), ("kind", "orders")],
            ) == Some(0.0)
            && value(
                &samples,
                "shoptet_sync_orders_imported_total",
                &[("store", "demo")],
            ) == Some(held(&env).await as f64);
        if done {
            break samples;
        }
        assert!(start.elapsed() < DEADLINE, "the import did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let imported = value(
        &after,
        "shoptet_sync_orders_imported_total",
        &[("store", "demo")],
    )
    .unwrap();
    let held = held(&env).await;
    assert!(held > ORDERS / 3, "only {held} orders imported");
    assert_eq!(
        (imported_before, imported),
        (0.0, held as f64),
        "orders imported before and after the first sync"
    );
    let ok_orders = |samples: &[Sample], status_class: &str| {
        value(
            samples,
            "shoptet_sync_shoptet_requests_total",
            &[
                ("store", "demo"),
                ("endpoint", "orders"),
                ("status_class", status_class),
            ],
        )
        .unwrap_or_default()
    };
    assert!(ok_orders(&after, "2xx") > ok_orders(&before, "2xx"));
    let runs = |samples: &[Sample]| {
        value(
            samples,
            "shoptet_sync_run_duration_seconds_count",
            &[("store", "demo"), ("kind", "orders"), ("outcome", "ok")],
        )
        .unwrap_or_default()
    };
    assert!(runs(&after) > runs(&before));
    let freshness = value(
        &after,
        "shoptet_sync_order_freshness_seconds_count",
        &[("store", "demo")],
    )
    .unwrap();
    assert_eq!(freshness, imported, "every import has a known age");
    let lag = value(
        &after,
        "shoptet_sync_feed_lag_seconds",
        &[("store", "demo")],
    )
    .unwrap();
    assert!((0.0..600.0).contains(&lag), "feed lag {lag}");
    assert!(
        value(
            &after,
            "shoptet_sync_shoptet_bucket_capacity",
            &[("store", "demo")]
        )
        .is_some(),
        "the bucket header was seen"
    );

    // Every metric the rules and the dashboard use is served.
    let served: BTreeSet<String> = after.iter().map(|s| s.name.clone()).collect();
    let root = env!("CARGO_MANIFEST_DIR");
    for file in [
        "config/prometheus/alerts.yml",
        "config/grafana/shoptet-sync.json",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        let names = names_in(&text);
        assert!(names.len() > 5, "{file} names too few metrics: {names:?}");
        let missing: Vec<&String> = names.iter().filter(|n| !served.contains(*n)).collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics the daemon does not serve: {missing:?}"
        );
    }

    // Labels are bounded: known label names only, one store, no order code anywhere.
    let codes = sim.order_codes();
    assert_eq!(codes.len(), held, "the shop holds what was imported");
    let code_set: BTreeSet<&str> = codes.iter().map(String::as_str).collect();
    let mut stores = BTreeSet::new();
    for sample in &after {
        for (key, label) in &sample.labels {
            assert!(
                ALLOWED_LABELS.contains(&key.as_str()),
                "unexpected label {key} on {sample:?}"
            );
            assert!(
                !code_set.contains(label.as_str()) && !codes.iter().any(|c| label.contains(c)),
                "an order code is a label value: {sample:?}"
            );
            if key == "store" {
                stores.insert(label.clone());
            }
        }
    }
    assert_eq!(
        stores,
        BTreeSet::from(["demo".to_owned(), "(unknown)".to_owned()])
    );
    assert!(
        after.len() < 600,
        "{} series for one store: the label sets are not bounded",
        after.len()
    );

    // An excerpt for the operator's documentation (shown with --nocapture).
    let text = get(&client, &scrape_url).await.1;
    for line in text.lines().filter(|line| {
        [
            "shoptet_sync_store_up{",
            "shoptet_sync_store_health{",
            "shoptet_sync_orders_imported_total{",
            "shoptet_sync_feed_lag_seconds{",
            "shoptet_sync_last_success_timestamp_seconds{",
            "shoptet_sync_shoptet_requests_total{",
            "shoptet_sync_shoptet_bucket_filling{",
            "shoptet_sync_outbox_depth{",
            "shoptet_sync_process_open_fds",
            "shoptet_sync_build_info",
        ]
        .iter()
        .any(|prefix| line.starts_with(prefix))
    }) {
        println!("{line}");
    }

    // The probes.
    let (status, body) = get(&client, &format!("http://{address}/healthz")).await;
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, body) = get(&client, &format!("http://{address}/readyz")).await;
    assert_eq!((status, body.trim()), (200, "ready"));

    // The terminal view: two frames a second apart, each the status table with the figures.
    let began = Instant::now();
    let watch = std::process::Command::new(CTL)
        .args([
            "--socket",
            env.socket().to_str().unwrap(),
            "status",
            "--watch",
            "--watch-count",
            "2",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&watch.stdout);
    assert!(
        watch.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&watch.stderr)
    );
    let frames: Vec<&str> = text.split("(Ctrl-C to stop)").skip(1).collect();
    assert_eq!(frames.len(), 2, "{text}");
    assert!(
        began.elapsed() >= Duration::from_millis(900),
        "frames come a second apart"
    );
    for frame in frames {
        let header = frame.lines().find(|l| l.starts_with("STORE")).unwrap();
        for column in ["FEED LAG", "BUCKET", "RUNNING", "OUTBOX"] {
            assert!(header.contains(column), "{frame}");
        }
        let row = frame.lines().find(|l| l.starts_with("demo ")).unwrap();
        assert!(row.contains("/"), "the bucket filling is shown: {row}");
    }

    daemon.signal(libc::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{}", daemon.stderr());
}

#[test]
fn a_non_loopback_metrics_listener_is_refused_unless_allowed() {
    let env = Env::new();
    env.write_config("info", "[metrics]\nlisten = \"0.0.0.0:9464\"\n");
    let out = run_syncd(
        &["--check-config", "--config", env.config().to_str().unwrap()],
        env.path(),
    );
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("metrics.listen") && stderr.contains("allow_remote"),
        "{stderr}"
    );
    env.write_config(
        "info",
        "[metrics]\nlisten = \"0.0.0.0:9464\"\nallow_remote = true\n",
    );
    let out = run_syncd(
        &["--check-config", "--config", env.config().to_str().unwrap()],
        env.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
