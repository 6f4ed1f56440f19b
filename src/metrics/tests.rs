#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::shoptet::RequestObserver;

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[test]
fn store_figures_are_encoded_with_the_store_label_only() {
    let metrics = Metrics::new();
    let id = Uuid::new_v4();
    let store = metrics.store(id, "Shop \"A\"");
    store.order_imported(Some(chrono::TimeDelta::seconds(42)));
    store.order_imported(None);
    store.order_conflict();
    store.response("/api/orders/ABC-1", Some(200));
    store.response("/api/orders?page=2", Some(429));
    store.response("/api/stocks/1/movements", None);
    store.response("/api/whatever", Some(503));
    store.token_mint(Some(200));
    store.bucket(37.0, 200.0);
    store.throttled(Duration::from_millis(1500));
    let text = metrics.encode().unwrap();
    let label = "store=\"Shop \\\"A\\\"\"";
    assert_eq!(
        sample(
            &text,
            &format!("shoptet_sync_orders_imported_total{{{label}}}")
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("shoptet_sync_order_conflicts_total{{{label}}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("shoptet_sync_order_freshness_seconds_count{{{label}}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                "shoptet_sync_shoptet_requests_total{{{label},endpoint=\"orders\",status_class=\"4xx\"}}"
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                "shoptet_sync_shoptet_requests_total{{{label},endpoint=\"stocks\",status_class=\"error\"}}"
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                "shoptet_sync_shoptet_requests_total{{{label},endpoint=\"other\",status_class=\"5xx\"}}"
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("shoptet_sync_shoptet_rate_limited_total{{{label}}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("shoptet_sync_shoptet_token_mints_total{{{label}}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("shoptet_sync_shoptet_bucket_filling{{{label}}}")
        ),
        Some(37.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("shoptet_sync_shoptet_throttle_wait_seconds_total{{{label}}}")
        ),
        Some(1.5)
    );
    assert!(
        text.contains("shoptet_sync_build_info{version=\""),
        "{text}"
    );
    assert!(text.contains("shoptet_sync_process_open_fds "), "{text}");
    assert!(
        text.contains("shoptet_sync_process_resident_memory_bytes "),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn rename_and_delete_follow_the_integration() {
    let metrics = Metrics::new();
    let id = Uuid::new_v4();
    let store = metrics.store(id, "old");
    store.order_conflict();
    store.set_name("new");
    let text = metrics.encode().unwrap();
    assert!(text.contains("store=\"new\""), "{text}");
    assert!(!text.contains("store=\"old\""), "{text}");
    metrics.remove_store(id);
    let text = metrics.encode().unwrap();
    assert!(!text.contains("store=\"new\""), "{text}");
}

#[test]
fn readiness_needs_the_store_open_and_every_actor_up() {
    let metrics = Metrics::new();
    assert!(metrics.readiness().is_err());
    metrics.set_store_open(true);
    assert!(metrics.readiness().is_ok());
    let id = Uuid::new_v4();
    let _store = metrics.store(id, "a");
    metrics.set_store_up(id, true);
    assert!(metrics.readiness().is_ok());
    metrics.set_store_up(id, false);
    let why = metrics.readiness().unwrap_err();
    assert!(why.contains('a'), "{why}");
    let text = metrics.encode().unwrap();
    assert_eq!(
        sample(&text, "shoptet_sync_store_restarts_total{store=\"a\"}"),
        Some(1.0)
    );
}

#[test]
fn endpoint_groups_and_status_classes_are_bounded() {
    assert_eq!(ENDPOINT_GROUPS[endpoint_group("/api/orders/X")], "orders");
    assert_eq!(ENDPOINT_GROUPS[endpoint_group("/api/eshop")], "eshop");
    assert_eq!(ENDPOINT_GROUPS[endpoint_group("/api/token")], "other");
    assert_eq!(ENDPOINT_GROUPS[endpoint_group("/elsewhere")], "other");
    assert_eq!(STATUS_CLASSES[status_class(Some(204))], "2xx");
    assert_eq!(STATUS_CLASSES[status_class(Some(99))], "error");
}

#[test]
fn non_loopback_binds_are_refused_unless_allowed() {
    let remote: std::net::SocketAddr = "0.0.0.0:0".parse().unwrap();
    let err = server::check_address(remote, false).unwrap_err();
    assert!(matches!(err, MetricsError::RemoteRefused(_)));
    assert!(err.to_string().contains("allow_remote"), "{err}");
    assert!(server::check_address(remote, true).is_ok());
    assert!(server::check_address("127.0.0.1:0".parse().unwrap(), false).is_ok());
    assert!(server::check_address("[::1]:0".parse().unwrap(), false).is_ok());
}
