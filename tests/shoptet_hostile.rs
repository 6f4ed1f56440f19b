//! Regression tests: a hostile or broken Shoptet endpoint must not make the client panic or leak
//! the token. Each test starts its own tiny server on 127.0.0.1:0 and stops it at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use shoptet_sync::domain::{Credentials, Secret};
use shoptet_sync::shoptet::auth::{MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME, token_renew_at};
use shoptet_sync::shoptet::limits::{Throttle, ThrottleConfig};
use shoptet_sync::shoptet::retry::parse_retry_after;
use shoptet_sync::shoptet::{ClientConfig, RetryPolicy, ShoptetClient, ShoptetError};
use tokio::sync::oneshot;

const TOKEN: &str = "review-private-token-0123456789";

type Reply = Arc<dyn Fn(&Uri) -> Response + Send + Sync>;

/// A server answering every request with `reply`, recording the headers it saw.
struct Server {
    base: String,
    seen: Arc<Mutex<Vec<HeaderMap>>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Server {
    async fn start(reply: Reply) -> Self {
        let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
        let recorded = seen.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let reply = reply.clone();
            let recorded = recorded.clone();
            async move {
                recorded.lock().unwrap().push(headers);
                reply(&uri)
            }
        });
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

    fn headers_seen(&self) -> Vec<HeaderMap> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn fast_config(base: &str) -> ClientConfig {
    ClientConfig {
        eshop_url: Some(base.to_owned()),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 2,
            max_rate_limited_attempts: 2,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
            locked_wait: Duration::from_millis(5),
            max_retry_after: Duration::from_millis(10),
        },
        ..ClientConfig::with_base_url(base)
    }
}

fn eshop_body() -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        r#"{"data":{},"errors":null,"metadata":{"requestId":"r-1"}}"#,
    )
        .into_response()
}

/// A redirect from the API to another origin must not carry the private token along: reqwest
/// strips only `Authorization`/`Cookie` on cross-origin redirects, not `Shoptet-Private-Api-Token`
/// (nor `Shoptet-Access-Token`). It also bypasses the "plain http only to loopback" rule.
#[tokio::test]
async fn a_redirect_to_another_origin_does_not_receive_the_token() {
    let elsewhere = Server::start(Arc::new(|_| eshop_body())).await;
    let target = format!("{}/api/eshop", elsewhere.base);
    let api = Server::start(Arc::new(move |_| {
        (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", target.clone())],
            "",
        )
            .into_response()
    }))
    .await;
    let client = ShoptetClient::new(
        fast_config(&api.base),
        Credentials::PrivateToken(Secret::new(TOKEN)),
    )
    .unwrap();
    let _ = client.eshop_info().await;
    assert_eq!(api.headers_seen().len(), 1, "the API was called once");
    for headers in elsewhere.headers_seen() {
        for (name, value) in &headers {
            assert!(
                !value.to_str().unwrap_or("").contains(TOKEN),
                "the private token was sent to another origin in header {name}"
            );
        }
    }
}

/// The 3xx itself becomes a typed error that names where it pointed, without the query (which
/// could carry anything) and without the token.
#[tokio::test]
async fn a_redirect_is_a_typed_error_naming_the_location() {
    let api = Server::start(Arc::new(|_| {
        (
            StatusCode::MOVED_PERMANENTLY,
            [(
                "location",
                format!("https://elsewhere.example/api/eshop?leak={TOKEN}#frag"),
            )],
            "",
        )
            .into_response()
    }))
    .await;
    let client = ShoptetClient::new(
        fast_config(&api.base),
        Credentials::PrivateToken(Secret::new(TOKEN)),
    )
    .unwrap();
    let err = client.eshop_info().await.unwrap_err();
    match &err {
        ShoptetError::Redirected {
            status, location, ..
        } => {
            assert_eq!(*status, 301);
            assert_eq!(location, "https://elsewhere.example/api/eshop");
        }
        other => panic!("expected Redirected, got {other:?}"),
    }
    assert!(
        err.needs_operator(),
        "a redirect is a configuration problem"
    );
    let text = format!("{err} {err:?}");
    assert!(text.contains("elsewhere.example"), "{text}");
    assert!(!text.contains(TOKEN), "the error quotes the token: {text}");
    assert_eq!(api.headers_seen().len(), 1, "no retry of a redirect");
}

/// The token mint is not redirected either: the addon's OAuth bearer must stay on the shop.
#[tokio::test]
async fn a_redirecting_token_mint_keeps_the_oauth_token() {
    let elsewhere = Server::start(Arc::new(|_| {
        (
            StatusCode::OK,
            [("content-type", "application/json")],
            r#"{"access_token":"470123-a-abc","expires_in":1800}"#,
        )
            .into_response()
    }))
    .await;
    let target = format!("{}/action/ApiOAuthServer/getAccessToken", elsewhere.base);
    let shop = Server::start(Arc::new(move |_| {
        (StatusCode::FOUND, [("location", target.clone())], "").into_response()
    }))
    .await;
    let client = ShoptetClient::new(
        fast_config(&shop.base),
        Credentials::AddonOAuth(Secret::new(TOKEN)),
    )
    .unwrap();
    let err = client.eshop_info().await.unwrap_err();
    assert!(
        matches!(err, ShoptetError::Redirected { status: 302, .. }),
        "{err:?}"
    );
    assert!(
        elsewhere.headers_seen().is_empty(),
        "the mint redirect was followed"
    );
}

/// A body longer than `max_response_bytes` is refused (Invalid), not read into memory whole.
#[tokio::test]
async fn a_response_body_over_the_cap_is_refused() {
    let api = Server::start(Arc::new(|_| {
        let padding = "x".repeat(8 * 1024);
        (
            StatusCode::OK,
            [("content-type", "application/json")],
            format!(r#"{{"data":{{"pad":"{padding}"}},"errors":null,"metadata":{{}}}}"#),
        )
            .into_response()
    }))
    .await;
    let small = ClientConfig {
        max_response_bytes: 4 * 1024,
        ..fast_config(&api.base)
    };
    let client = ShoptetClient::new(small, Credentials::PrivateToken(Secret::new(TOKEN))).unwrap();
    let err = client.eshop_info().await.unwrap_err();
    match &err {
        ShoptetError::Invalid { detail, .. } => {
            assert!(detail.contains("4096"), "{detail}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(
        api.headers_seen().len(),
        1,
        "an oversized body is not retried"
    );
    // The same body under the default cap is read fine.
    let roomy = ShoptetClient::new(
        fast_config(&api.base),
        Credentials::PrivateToken(Secret::new(TOKEN)),
    )
    .unwrap();
    roomy.eshop_info().await.unwrap();
}

/// A mint that says its tokens live 5 s (at most the renew margin) must not make every call
/// mint a new token: the shop allows only 5 live ones.
#[tokio::test]
async fn a_short_token_lifetime_is_still_reused() {
    let api = Server::start(Arc::new(|uri| {
        if uri.path().ends_with("/getAccessToken") {
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                r#"{"access_token":"470123-a-abc","expires_in":5}"#,
            )
                .into_response()
        } else {
            eshop_body()
        }
    }))
    .await;
    let client = ShoptetClient::new(
        fast_config(&api.base),
        Credentials::AddonOAuth(Secret::new(TOKEN)),
    )
    .unwrap();
    for _ in 0..3 {
        client.eshop_info().await.unwrap();
    }
    assert_eq!(client.stats().mint_requests, 1, "minted on every call");
}

#[test]
fn token_renewal_time_is_clamped_and_never_overflows() {
    let now = tokio::time::Instant::now();
    let margin = Duration::from_secs(60);
    // Normal: renew a margin before expiry.
    assert_eq!(
        token_renew_at(now, Duration::from_secs(1800), margin),
        now + Duration::from_secs(1740)
    );
    // At most the margin: half the (clamped) life.
    assert_eq!(
        token_renew_at(now, Duration::from_secs(5), margin),
        now + MIN_TOKEN_LIFETIME / 2
    );
    // Absurd: clamped to the longest believed lifetime.
    assert_eq!(
        token_renew_at(now, Duration::MAX, margin),
        now + (MAX_TOKEN_LIFETIME - margin)
    );
    assert_eq!(
        token_renew_at(now, Duration::from_secs(600), Duration::MAX),
        now + Duration::from_secs(300)
    );
}

fn products_page(page: u32, page_count: u32, guids: &[&str]) -> Response {
    let products: Vec<String> = guids
        .iter()
        .map(|guid| format!(r#"{{"guid":"{guid}","name":"P {guid}"}}"#))
        .collect();
    let body = format!(
        r#"{{"data":{{"products":[{}],"paginator":{{"totalCount":{},"page":{page},"pageCount":{page_count},"itemsOnPage":{},"itemsPerPage":2}}}},"errors":null,"metadata":{{}}}}"#,
        products.join(","),
        page_count * 2,
        guids.len()
    );
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

fn page_not_found(status: StatusCode) -> Response {
    (
        status,
        [("content-type", "application/json")],
        r#"{"data":null,"errors":[{"errorCode":"page-not-found","message":"Page 2 not found, max page is 1.","instance":"page"}],"metadata":{"requestId":"r-p"}}"#,
    )
        .into_response()
}

/// Products deleted while we page through them: page 2 vanished. The pages read so far are the
/// list (the next sync reads the rest), not a failure of the whole read; whatever status the
/// shop uses for `page-not-found`.
#[tokio::test]
async fn a_page_that_vanished_mid_read_ends_the_list() {
    for status in [StatusCode::NOT_FOUND, StatusCode::BAD_REQUEST] {
        let api = Server::start(Arc::new(move |uri| {
            let query = uri.query().unwrap_or("");
            if query.contains("page=1&") || query.ends_with("page=1") {
                products_page(1, 3, &["a", "b"])
            } else {
                page_not_found(status)
            }
        }))
        .await;
        let client = ShoptetClient::new(
            fast_config(&api.base),
            Credentials::PrivateToken(Secret::new(TOKEN)),
        )
        .unwrap();
        let products = client.all_products().await.unwrap();
        let guids: Vec<&str> = products.iter().map(|p| p.guid.as_str()).collect();
        assert_eq!(guids, ["a", "b"], "status {status}");
        assert_eq!(
            api.headers_seen().len(),
            2,
            "page 1, then the vanished page 2"
        );
    }
    // On page 1 it is an error: there is no list at all.
    let api = Server::start(Arc::new(|_| page_not_found(StatusCode::NOT_FOUND))).await;
    let client = ShoptetClient::new(
        fast_config(&api.base),
        Credentials::PrivateToken(Secret::new(TOKEN)),
    )
    .unwrap();
    let err = client.all_products().await.unwrap_err();
    assert!(matches!(err, ShoptetError::NotFound { .. }), "{err:?}");
}

/// `Retry-After: 1e30` (a broken proxy) must not panic the client.
#[tokio::test]
async fn a_huge_retry_after_does_not_panic() {
    let api = Server::start(Arc::new(|_| {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1e30")],
            "<html>429</html>",
        )
            .into_response()
    }))
    .await;
    let client = ShoptetClient::new(
        fast_config(&api.base),
        Credentials::PrivateToken(Secret::new(TOKEN)),
    )
    .unwrap();
    let outcome = tokio::spawn(async move { client.eshop_info().await }).await;
    match outcome {
        Err(join) => panic!("the client panicked on Retry-After: 1e30 ({join})"),
        Ok(result) => assert!(result.is_err(), "a 429 every time cannot succeed"),
    }
}

/// `X-RateLimit-Bucket-Filling: 1e30/200` must not panic the next request.
#[tokio::test]
async fn a_huge_bucket_filling_does_not_panic() {
    let api = Server::start(Arc::new(|_| {
        let mut response = eshop_body();
        response
            .headers_mut()
            .insert("x-ratelimit-bucket-filling", "1e30/200".parse().unwrap());
        response
    }))
    .await;
    let client = ShoptetClient::new(
        fast_config(&api.base),
        Credentials::PrivateToken(Secret::new(TOKEN)),
    )
    .unwrap();
    let outcome = tokio::spawn(async move {
        client.eshop_info().await.unwrap();
        // The throttle now holds the absurd estimate; its delay is capped at 30 s by
        // `max_delay`, so bound the wait: the point is that it must not panic.
        tokio::time::timeout(Duration::from_millis(200), client.eshop_info()).await
    })
    .await;
    assert!(
        outcome.is_ok(),
        "the client panicked after X-RateLimit-Bucket-Filling: 1e30/200"
    );
}

/// A mint answering `expires_in: 18446744073709551615` must not panic the client
/// (`Instant + Duration` overflows).
#[tokio::test]
async fn a_huge_expires_in_does_not_panic() {
    let api = Server::start(Arc::new(|uri| {
        if uri.path().ends_with("/getAccessToken") {
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                r#"{"access_token":"470123-a-abc","expires_in":18446744073709551615}"#,
            )
                .into_response()
        } else {
            eshop_body()
        }
    }))
    .await;
    let client = ShoptetClient::new(
        fast_config(&api.base),
        Credentials::AddonOAuth(Secret::new(TOKEN)),
    )
    .unwrap();
    let outcome = tokio::spawn(async move { client.eshop_info().await }).await;
    assert!(
        outcome.is_ok(),
        "the client panicked on a huge expires_in from the token mint"
    );
}

/// The pure pieces behind the two panics above.
#[test]
fn retry_after_and_throttle_survive_absurd_values() {
    let parsed = std::panic::catch_unwind(|| parse_retry_after("1e30", SystemTime::now()));
    assert!(parsed.is_ok(), "parse_retry_after panicked on \"1e30\"");
    let reserved = std::panic::catch_unwind(|| {
        let throttle = Throttle::new(ThrottleConfig::default());
        let now = tokio::time::Instant::now();
        throttle.observe(1e30, 200.0, now);
        throttle.reserve(now)
    });
    assert!(
        reserved.is_ok(),
        "Throttle::reserve panicked after 1e30/200"
    );
}
