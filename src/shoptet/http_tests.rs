//! HTTP behaviour tests against a tiny in-test axum server on 127.0.0.1:0: token renewal,
//! single-flight minting, 429/423/5xx retries, timeouts, the in-flight cap, the throttle,
//! chunked batch writes with per-row errors, and URL encoding.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

use super::*;
use crate::domain::{Credentials, Secret};

/// What the test server saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

type Handler = Arc<dyn Fn(Seen) -> BoxFuture<'static, Response> + Send + Sync>;

struct TestServer {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    async fn start(handler: Handler) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let state = (handler, seen.clone());
        let app = Router::new()
            .fallback(
                |State((handler, seen)): State<(Handler, Arc<Mutex<Vec<Seen>>>)>,
                 method: Method,
                 uri: Uri,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let request = Seen {
                        method,
                        path: uri.path().to_owned(),
                        query: uri.query().map(str::to_owned),
                        headers,
                        body,
                    };
                    seen.lock().unwrap().push(request.clone());
                    handler(request).await
                },
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            base: format!("http://{address}"),
            seen,
            stop: Some(stop),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn api_seen(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|seen| seen.path.starts_with("/api/"))
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Seen) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    Arc::new(move |seen| Box::pin(f(seen)))
}

fn json_response(status: u16, headers: &[(&str, &str)], body: serde_json::Value) -> Response {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map.insert("content-type", HeaderValue::from_static("application/json"));
    (StatusCode::from_u16(status).unwrap(), map, body.to_string()).into_response()
}

fn ok_envelope(data: serde_json::Value, request_id: &str) -> Response {
    json_response(
        200,
        &[("x-request-id", request_id)],
        serde_json::json!({"data": data, "errors": null, "metadata": {"requestId": request_id}}),
    )
}

fn error_envelope(status: u16, code: &str, message: &str, instance: &str, rid: &str) -> Response {
    json_response(
        status,
        &[("x-request-id", rid)],
        serde_json::json!({"data": null,
            "errors": [{"errorCode": code, "message": message, "instance": instance}],
            "metadata": {"requestId": rid}}),
    )
}

fn fast_config(base: &str) -> ClientConfig {
    ClientConfig {
        api_base_url: base.to_owned(),
        eshop_url: Some(base.to_owned()),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            max_rate_limited_attempts: 4,
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            locked_wait: Duration::from_millis(5),
            max_retry_after: Duration::from_millis(50),
        },
        ..ClientConfig::default()
    }
}

fn private(token: &str) -> Credentials {
    Credentials::PrivateToken(Secret::new(token))
}

fn eshop_data() -> serde_json::Value {
    serde_json::json!({"contactInformation": {"eshopName": "Test"},
                       "settings": {"defaultPricelist": {"id": 1}}})
}

#[tokio::test]
async fn sends_headers_and_parses_envelope() {
    let server = TestServer::start(handler(|_| async { ok_envelope(eshop_data(), "rid-1") })).await;
    let client = ShoptetClient::new(fast_config(&server.base), private("priv-secret")).unwrap();
    let info = client.eshop_info().await.unwrap();
    assert_eq!(info.default_pricelist_id(), Some(1));
    let seen = server.api_seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].path, "/api/eshop");
    assert_eq!(
        seen[0].header("shoptet-private-api-token").as_deref(),
        Some("priv-secret")
    );
    assert_eq!(
        seen[0].header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(
        seen[0]
            .header("user-agent")
            .unwrap()
            .starts_with("shoptet-sync/")
    );
    assert_eq!(client.stats().requests_sent, 1);
}

/// Mints `tok-1`, `tok-2`, … and counts the mints.
fn minting_server(
    mints: Arc<AtomicUsize>,
    api: impl Fn(Seen) -> Response + Send + Sync + 'static,
) -> Handler {
    let api = Arc::new(api);
    handler(move |seen: Seen| {
        let mints = mints.clone();
        let api = api.clone();
        async move {
            if seen.path == "/action/ApiOAuthServer/getAccessToken" {
                assert_eq!(
                    seen.header("authorization").as_deref(),
                    Some("Bearer oauth-x")
                );
                // Widen the window in which a second concurrent mint would start.
                tokio::time::sleep(Duration::from_millis(30)).await;
                let n = mints.fetch_add(1, Ordering::SeqCst) + 1;
                return json_response(
                    200,
                    &[],
                    serde_json::json!({"access_token": format!("tok-{n}"), "expires_in": 1800}),
                );
            }
            api(seen)
        }
    })
}

fn addon() -> Credentials {
    Credentials::AddonOAuth(Secret::new("oauth-x"))
}

#[tokio::test]
async fn expired_token_is_renewed_once_and_request_retried() {
    let mints = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start(minting_server(mints.clone(), |seen| {
        match seen.header("shoptet-access-token").as_deref() {
            Some("tok-1") => error_envelope(
                401,
                "expired-token",
                "Token is expired. Please ask for new one.",
                "unknown",
                "rid-exp",
            ),
            Some(_) => ok_envelope(eshop_data(), "rid-ok"),
            None => error_envelope(401, "missing-access-token", "Missing", "unknown", "r"),
        }
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), addon()).unwrap();
    client.eshop_info().await.unwrap();
    assert_eq!(mints.load(Ordering::SeqCst), 2);
    let stats = client.stats();
    assert_eq!(stats.token_renewals, 1);
    assert_eq!(stats.requests_sent, 2);
    // The renewed token is cached: no mint for the next call.
    client.eshop_info().await.unwrap();
    assert_eq!(mints.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn second_401_is_unauthorized_without_looping() {
    let mints = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start(minting_server(mints.clone(), |_| {
        error_envelope(
            401,
            "invalid-token",
            "Invalid access token",
            "unknown",
            "rid-401",
        )
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), addon()).unwrap();
    let err = client.eshop_info().await.unwrap_err();
    match &err {
        ShoptetError::Unauthorized {
            error_code,
            request_id,
            ..
        } => {
            assert_eq!(error_code, "invalid-token");
            assert_eq!(request_id.as_deref(), Some("rid-401"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(mints.load(Ordering::SeqCst), 2);
    assert_eq!(server.api_seen().len(), 2);
    // No token in the error text.
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("tok-") && !text.contains("oauth-x"),
        "{text}"
    );
}

#[tokio::test]
async fn addon_not_approved_is_suspended() {
    let mints = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start(minting_server(mints.clone(), |_| {
        error_envelope(
            401,
            "invalid-token",
            "Addon installation is not approved.",
            "unknown",
            "rid-s",
        )
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), addon()).unwrap();
    let err = client.eshop_info().await.unwrap_err();
    assert!(
        matches!(err, ShoptetError::AddonSuspended { .. }),
        "{err:?}"
    );
    assert!(err.needs_operator());
    // Not renewed: a suspension is not cured by a new token.
    assert_eq!(mints.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn mint_errors_map_to_distinct_variants() {
    for (status, error, expect_suspended) in [
        (401, "addon_suspended", true),
        (401, "addon_not_installed", true),
        (429, "maximum_tokens_reached", false),
    ] {
        let server = TestServer::start(handler(move |_| async move {
            json_response(status, &[], serde_json::json!({ "error": error }))
        }))
        .await;
        let client = ShoptetClient::new(fast_config(&server.base), addon()).unwrap();
        let err = client.eshop_info().await.unwrap_err();
        if expect_suspended {
            assert!(
                matches!(err, ShoptetError::AddonSuspended { .. }),
                "{err:?}"
            );
        } else {
            assert!(matches!(err, ShoptetError::TokenLimitReached), "{err:?}");
        }
        // No /api call was attempted without a token; the mint was not retried.
        assert!(server.api_seen().is_empty());
        assert_eq!(server.seen().len(), 1);
    }
}

#[tokio::test]
async fn concurrent_callers_share_one_mint() {
    let mints = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start(minting_server(mints.clone(), |_| {
        ok_envelope(eshop_data(), "rid")
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), addon()).unwrap();
    let calls = (0..8).map(|_| {
        let client = client.clone();
        async move { client.eshop_info().await }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(mints.load(Ordering::SeqCst), 1);
    assert_eq!(client.stats().requests_sent, 8);
}

#[tokio::test]
async fn rate_limited_waits_for_retry_after_in_both_forms() {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let server = TestServer::start(handler(move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            match n {
                // Not JSON, like nginx's connection-limit answer.
                0 => (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "0")],
                    "<html>429</html>",
                )
                    .into_response(),
                1 => {
                    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
                    json_response(429, &[("retry-after", &date)], serde_json::json!({}))
                }
                _ => ok_envelope(eshop_data(), "rid-ok"),
            }
        }
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), private("p")).unwrap();
    client.eshop_info().await.unwrap();
    let stats = client.stats();
    assert_eq!(stats.rate_limited, 2);
    assert_eq!(stats.retries, 2);
    assert_eq!(stats.requests_sent, 3);
}

#[tokio::test]
async fn persistent_429_becomes_rate_limited() {
    let server = TestServer::start(handler(|_| async {
        json_response(
            429,
            &[("retry-after", "0"), ("x-request-id", "rid-429")],
            serde_json::json!({}),
        )
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), private("p")).unwrap();
    let err = client.stocks().await.unwrap_err();
    match err {
        ShoptetError::RateLimited {
            attempts,
            request_id,
            ..
        } => {
            assert_eq!(attempts, 4);
            assert_eq!(request_id.as_deref(), Some("rid-429"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn locked_then_ok_and_server_errors_then_ok() {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let server = TestServer::start(handler(move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            match n {
                0 => error_envelope(423, "locked", "Locked", "unknown", "r0"),
                1 => error_envelope(500, "unknown-error", "Oops", "unknown", "r1"),
                2 => error_envelope(503, "system-maintenance", "Maintenance", "unknown", "r2"),
                _ => ok_envelope(serde_json::json!({"stocks": [], "defaultStockId": 1}), "r3"),
            }
        }
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), private("p")).unwrap();
    let stocks = client.stocks().await.unwrap();
    assert_eq!(stocks.default_stock_id, Some(1));
    let stats = client.stats();
    assert_eq!(stats.locked, 1);
    assert_eq!(stats.server_errors, 2);
    assert_eq!(stats.requests_sent, 4);
}

#[tokio::test]
async fn persistent_maintenance_is_unavailable_with_request_id() {
    let server = TestServer::start(handler(|_| async {
        error_envelope(
            503,
            "system-maintenance",
            "Maintenance",
            "unknown",
            "rid-503",
        )
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), private("p")).unwrap();
    let err = client.order_statuses().await.unwrap_err();
    match &err {
        ShoptetError::Unavailable {
            status,
            attempts,
            request_id,
            reason,
        } => {
            assert_eq!(*status, Some(503));
            assert_eq!(*attempts, 3);
            assert_eq!(request_id.as_deref(), Some("rid-503"));
            assert!(reason.contains("system-maintenance"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.is_transient());
    assert_eq!(server.api_seen().len(), 3);
}

#[tokio::test]
async fn forbidden_and_not_found_are_not_retried() {
    let server = TestServer::start(handler(|seen: Seen| async move {
        if seen.path.starts_with("/api/orders/") {
            error_envelope(
                404,
                "order-not-found",
                "Order \"X1\" not found.",
                "X1",
                "rid-404",
            )
        } else {
            error_envelope(
                403,
                "invalid-token-no-rights",
                "No rights",
                "access-token",
                "rid-403",
            )
        }
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), private("p")).unwrap();
    let err = client.stocks().await.unwrap_err();
    assert!(
        matches!(err, ShoptetError::Forbidden { ref error_code, .. } if error_code == "invalid-token-no-rights")
    );
    assert_eq!(err.request_id(), Some("rid-403"));
    let err = client.order_detail("X1").await.unwrap_err();
    assert!(matches!(err, ShoptetError::NotFound { .. }));
    assert_eq!(err.request_id(), Some("rid-404"));
    assert_eq!(client.stats().requests_sent, 2);
    assert_eq!(client.stats().retries, 0);
}

#[tokio::test]
async fn hanging_server_times_out_into_unavailable() {
    let server = TestServer::start(handler(|_| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        ok_envelope(eshop_data(), "late")
    }))
    .await;
    let mut config = fast_config(&server.base);
    config.request_timeout = Duration::from_millis(100);
    config.retry.max_attempts = 2;
    let client = ShoptetClient::new(config, private("p")).unwrap();
    let err = client.eshop_info().await.unwrap_err();
    match err {
        ShoptetError::Unavailable {
            status: None,
            attempts: 2,
            ref reason,
            ..
        } => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(client.stats().transport_errors, 2);
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    // Bind then drop a listener to get a port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = ShoptetClient::new(fast_config(&base), private("p")).unwrap();
    let err = client.eshop_info().await.unwrap_err();
    assert!(
        matches!(err, ShoptetError::Unavailable { status: None, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_json_is_invalid_not_a_panic() {
    let server = TestServer::start(handler(|seen: Seen| async move {
        if seen.path == "/api/orders" {
            json_response(
                200,
                &[("x-request-id", "rid-bad")],
                serde_json::json!({"data": {"orders": [
                    {"code": "A1", "creationTime": "2025-03-14T09:41:07+0100"},
                    {"code": "A2", "creationTime": "yesterday"}],
                    "paginator": {"page": 1, "pageCount": 1}}, "errors": null}),
            )
        } else {
            (StatusCode::OK, "{\"data\": {\"stocks\": [").into_response()
        }
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), private("p")).unwrap();
    let err = client.stocks().await.unwrap_err();
    assert!(matches!(err, ShoptetError::Invalid { .. }), "{err:?}");
    let err = client
        .list_orders(&OrderFilter::default(), 1)
        .await
        .unwrap_err();
    match err {
        ShoptetError::Invalid { detail, request_id } => {
            assert!(detail.contains("data.orders[1]"), "{detail}");
            assert!(detail.contains("yesterday"), "{detail}");
            assert_eq!(request_id.as_deref(), Some("rid-bad"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn in_flight_never_exceeds_the_cap() {
    for cap in [3usize, 2] {
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (n, p) = (now.clone(), peak.clone());
        let server = TestServer::start(handler(move |_| {
            let (n, p) = (n.clone(), p.clone());
            async move {
                let current = n.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(current, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(15)).await;
                n.fetch_sub(1, Ordering::SeqCst);
                ok_envelope(eshop_data(), "rid")
            }
        }))
        .await;
        let mut config = fast_config(&server.base);
        config.max_in_flight = cap;
        let client = ShoptetClient::new(config, private("p")).unwrap();
        let callers = (0..4).map(|_| {
            let client = client.clone();
            async move {
                for _ in 0..5 {
                    client.eshop_info().await.unwrap();
                }
            }
        });
        futures::future::join_all(callers).await;
        assert_eq!(peak.load(Ordering::SeqCst), cap, "server-side peak");
        assert_eq!(client.stats().in_flight_peak, cap as u64);
        assert_eq!(client.stats().requests_sent, 20);
    }
}

#[tokio::test]
async fn throttle_delays_when_bucket_is_nearly_full() {
    let server = TestServer::start(handler(|_| async {
        json_response(
            200,
            &[("x-ratelimit-bucket-filling", "199/200")],
            serde_json::json!({"data": {"stocks": []}, "errors": null}),
        )
    }))
    .await;
    let mut config = fast_config(&server.base);
    // Fast drain so the test waits only milliseconds: 49 drops over 75 % at 10 000/s ≈ 5 ms.
    config.throttle.drain_per_second = 10_000.0;
    let client = ShoptetClient::new(config, private("p")).unwrap();
    client.stocks().await.unwrap();
    assert_eq!(client.stats().throttle_waits, 0);
    client.stocks().await.unwrap();
    assert_eq!(client.stats().throttle_waits, 1);
}

#[tokio::test]
async fn filters_encode_plus_and_paths_encode_slash() {
    let server = TestServer::start(handler(|seen: Seen| async move {
        if seen.path == "/api/orders/changes" {
            ok_envelope(
                serde_json::json!({"changes": [], "paginator": {"page": 1, "pageCount": 0}}),
                "r",
            )
        } else {
            error_envelope(404, "product-not-found", "nope", "x", "r")
        }
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), private("p")).unwrap();
    let from = chrono::DateTime::parse_from_rfc3339("2025-03-14T08:41:07Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let changes = client.all_order_changes(from).await.unwrap();
    assert!(changes.is_empty());
    let _ = client.product_by_code("TRI-042/M").await;
    let seen = server.api_seen();
    let query = seen[0].query.clone().unwrap();
    assert!(
        query.contains("from=2025-03-14T09%3A41%3A07%2B0100"),
        "{query}"
    );
    assert!(query.contains("itemsPerPage=1000"), "{query}");
    assert_eq!(seen[1].path, "/api/products/code/TRI-042%2FM");
    assert!(
        seen[1]
            .query
            .as_deref()
            .unwrap()
            .contains("include=variantParameters")
    );
}

#[tokio::test]
async fn all_pages_are_read_until_page_count() {
    let server = TestServer::start(handler(|seen: Seen| async move {
        let page: u32 = seen
            .query
            .unwrap()
            .split('&')
            .find_map(|pair| pair.strip_prefix("page="))
            .unwrap()
            .parse()
            .unwrap();
        let changes: Vec<_> = (0..2)
            .map(|i| {
                serde_json::json!({"code": format!("O{page}-{i}"),
                    "changeTime": "2025-03-14T09:41:07+0100", "changeType": "edit"})
            })
            .collect();
        ok_envelope(
            serde_json::json!({"changes": changes, "paginator": {"totalCount": 6, "page": page,
                "pageCount": 3, "itemsOnPage": 2, "itemsPerPage": 2}}),
            "r",
        )
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), private("p")).unwrap();
    let all = client.all_order_changes(chrono::Utc::now()).await.unwrap();
    let codes: Vec<_> = all.iter().map(|change| change.code.as_str()).collect();
    assert_eq!(codes, ["O1-0", "O1-1", "O2-0", "O2-1", "O3-0", "O3-1"]);
    assert_eq!(server.api_seen().len(), 3);
}

/// A stock endpoint that fails every code starting with `BAD`: 200 with errors when some
/// rows pass, 400 when every row of the request failed, 413 above 300 rows.
fn stock_server() -> Handler {
    handler(|seen: Seen| async move {
        let body = seen.json();
        let rows = body["data"].as_array().unwrap().clone();
        if rows.len() > 300 {
            return error_envelope(413, "payload-too-large", "Too many", "payload", "r413");
        }
        let errors: Vec<_> = rows
            .iter()
            .filter_map(|row| {
                let code = row["productCode"].as_str().unwrap();
                code.starts_with("BAD").then(|| {
                    serde_json::json!({"errorCode": "unknown-product",
                        "message": format!("Product \"{code}\" does not exist. Skipped."),
                        "instance": code})
                })
            })
            .collect();
        let status = if !errors.is_empty() && errors.len() == rows.len() {
            400
        } else {
            200
        };
        json_response(
            status,
            &[("x-request-id", "rid-stock")],
            serde_json::json!({"data": null,
                "errors": if errors.is_empty() { serde_json::Value::Null } else { errors.into() },
                "metadata": {"requestId": "rid-stock"}}),
        )
    })
}

#[tokio::test]
async fn stock_update_is_chunked_absolute_and_reports_rows() {
    let server = TestServer::start(stock_server()).await;
    let client = ShoptetClient::new(fast_config(&server.base), private("p")).unwrap();
    // 650 rows: 300 + 300 + 50; two bad rows in the first chunk; the last chunk all bad.
    let mut rows: Vec<StockUpdateRow> = (0..600)
        .map(|i| StockUpdateRow::real_stock(format!("SKU-{i}"), Decimal::new(i, 0)))
        .collect();
    rows[3].code = "BAD-1".to_owned();
    rows[7].code = "BAD-2".to_owned();
    rows.extend((0..50).map(|i| StockUpdateRow::quantity(format!("BAD-X{i}"), Decimal::ONE)));
    let report = client.update_stock(4, &rows).await.unwrap();
    assert_eq!(report.requests, 3);
    assert_eq!(report.applied, 598);
    assert_eq!(report.failed.len(), 52);
    assert_eq!(report.failed[0].code.as_deref(), Some("BAD-1"));
    assert_eq!(report.failed[0].error_code, "unknown-product");
    assert_eq!(report.request_ids, ["rid-stock"; 3]);
    let seen = server.api_seen();
    let sizes: Vec<usize> = seen
        .iter()
        .map(|s| s.json()["data"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [300, 300, 50]);
    for request in &seen {
        assert_eq!(request.method, Method::PATCH);
        assert_eq!(request.path, "/api/stocks/4/movements");
        for row in request.json()["data"].as_array().unwrap() {
            assert!(row.get("amountChange").is_none());
            let amount = row
                .get("realStock")
                .or_else(|| row.get("quantity"))
                .unwrap();
            assert!(amount.is_number(), "{row}");
        }
    }
    let strict = report.clone().into_result().unwrap_err();
    assert!(matches!(
        strict,
        ShoptetError::PartialFailure { applied: 598, .. }
    ));
}

#[tokio::test]
async fn price_update_chunks_and_sends_dec2_strings() {
    let server = TestServer::start(handler(|seen: Seen| async move {
        let rows = seen.json()["data"].as_array().unwrap().clone();
        let errors: Vec<_> = rows
            .iter()
            .filter(|row| row["code"] == "GONE")
            .map(|_| {
                serde_json::json!({"errorCode": "pricelist-code-not-found",
                "message": "Price list code 'GONE' doesn't exist. Code skipped.",
                "instance": "GONE"})
            })
            .collect();
        json_response(
            200,
            &[],
            serde_json::json!({"data": null, "errors": errors}),
        )
    }))
    .await;
    let mut config = fast_config(&server.base);
    config.max_batch_rows = 100;
    let client = ShoptetClient::new(config, private("p")).unwrap();
    let mut rows: Vec<PriceUpdateRow> = (0..250)
        .map(|i| PriceUpdateRow::with_vat(format!("P{i}"), Decimal::new(649, 0)))
        .collect();
    rows[100].code = "GONE".to_owned();
    let report = client.update_prices(7, &rows).await.unwrap();
    assert_eq!(report.requests, 3);
    assert_eq!(report.applied, 249);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].code.as_deref(), Some("GONE"));
    let first = &server.api_seen()[0];
    assert_eq!(first.path, "/api/pricelists/7");
    assert_eq!(first.json()["data"][0]["priceWithVat"]["price"], "649.00");
}

#[tokio::test]
async fn status_writes_send_suppress_flags_and_keep_warnings() {
    let server = TestServer::start(handler(|seen: Seen| async move {
        if seen.path.ends_with("/status") {
            json_response(
                200,
                &[],
                serde_json::json!({"data": {"order": {"code": "EXT-17/A", "status": {"id": -3}}},
                    "errors": [{"errorCode": "document-not-generated", "message": "x",
                                "instance": "EXT-17/A"}],
                    "metadata": {"requestId": "rid-st"}}),
            )
        } else if seen.path == "/api/orders/status-change" {
            let codes = seen.json()["data"]["orderCodes"]
                .as_array()
                .unwrap()
                .clone();
            let errors: Vec<_> = codes
                .iter()
                .filter(|code| code.as_str().unwrap().starts_with("NOPE"))
                .map(|code| {
                    serde_json::json!({"errorCode": "order-not-found",
                    "message": format!("Order \"{}\" not found.", code.as_str().unwrap()),
                    "instance": "data.orderCodes"})
                })
                .collect();
            json_response(
                200,
                &[],
                serde_json::json!({"data": null, "errors": errors}),
            )
        } else {
            json_response(200, &[], serde_json::json!({"data": null, "errors": null}))
        }
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), private("p")).unwrap();
    let outcome = client.set_order_status("EXT-17/A", -3).await.unwrap();
    assert_eq!(outcome.order.unwrap().status_id(), Some(-3));
    assert_eq!(outcome.warnings[0].error_code, "document-not-generated");
    assert_eq!(outcome.request_id.as_deref(), Some("rid-st"));

    client
        .set_tracking_number("EXT-17/A", "DR1234567890E")
        .await
        .unwrap();
    let too_long = "X".repeat(33);
    let err = client
        .set_tracking_number("EXT-17/A", &too_long)
        .await
        .unwrap_err();
    assert!(matches!(err, ShoptetError::Invalid { .. }));

    let mut codes: Vec<String> = (0..148).map(|i| format!("2025{i:06}")).collect();
    codes.push("NOPE-1".to_owned());
    codes.push("NOPE-2".to_owned());
    let report = client.bulk_status_change(&codes, -2).await.unwrap();
    assert_eq!(report.requests, 2);
    assert_eq!(report.applied, 148);
    let failed: Vec<_> = report
        .failed
        .iter()
        .map(|row| row.code.clone().unwrap())
        .collect();
    assert_eq!(failed, ["NOPE-1", "NOPE-2"]);

    let seen = server.api_seen();
    // Status, notes, two bulk chunks; the over-long tracking number was never sent.
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0].path, "/api/orders/EXT-17%2FA/status");
    let query = seen[0].query.clone().unwrap();
    assert!(query.contains("suppressEmailSending=true"), "{query}");
    assert!(query.contains("suppressSmsSending=true"), "{query}");
    assert!(
        query.contains("suppressDocumentGeneration=false"),
        "{query}"
    );
    assert_eq!(seen[0].json()["data"]["statusId"], -3);
    assert_eq!(seen[1].path, "/api/orders/EXT-17%2FA/notes");
    assert_eq!(seen[1].json()["data"]["trackingNumber"], "DR1234567890E");
    assert_eq!(
        seen[2].json()["data"]["orderCodes"]
            .as_array()
            .unwrap()
            .len(),
        100
    );
}

#[tokio::test]
async fn concurrent_401s_renew_the_token_only_once() {
    let mints = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start(minting_server(mints.clone(), |seen| {
        match seen.header("shoptet-access-token").as_deref() {
            Some("tok-1") => {
                error_envelope(401, "expired-token", "Token is expired.", "unknown", "r")
            }
            _ => ok_envelope(eshop_data(), "rid-ok"),
        }
    }))
    .await;
    let client = ShoptetClient::new(fast_config(&server.base), addon()).unwrap();
    let calls = (0..6).map(|_| {
        let client = client.clone();
        async move { client.eshop_info().await }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    // One initial mint, one renewal shared by all six callers.
    assert_eq!(mints.load(Ordering::SeqCst), 2);
    assert_eq!(client.stats().token_renewals, 6);
    assert_eq!(client.stats().requests_sent, 12);
}
