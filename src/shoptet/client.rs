//! The request pipeline shared by every typed call: URL building, authentication, the
//! throttle, the in-flight cap, retries and the mapping of responses to [`ShoptetError`].
//!
//! One attempt = wait for the throttle, take an in-flight permit, send, read the whole body,
//! release the permit. Waits between attempts never hold a permit, so a sleeping retry does
//! not block other callers.

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, DATE, HeaderMap, LOCATION, RETRY_AFTER};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::auth::{Auth, AuthHeader};
use super::limits::{Throttle, parse_bucket_filling};
use super::model::{ApiErrorItem, Metadata};
use super::observer::RequestObserver;
use super::retry::parse_retry_after;
use super::time::encode_component;
use super::{ClientConfig, MAX_BATCH_ROWS, MAX_IN_FLIGHT_LIMIT, ShoptetError};
use crate::domain::Credentials;

/// Response header with the leaky-bucket state.
pub const BUCKET_FILLING_HEADER: &str = "x-ratelimit-bucket-filling";
/// Response header with the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Raw counters, updated lock-free by every attempt.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests_sent: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    pub locked: AtomicU64,
    pub server_errors: AtomicU64,
    pub transport_errors: AtomicU64,
    pub mint_requests: AtomicU64,
    pub token_renewals: AtomicU64,
    pub throttle_waits: AtomicU64,
    pub in_flight: AtomicU64,
    pub in_flight_peak: AtomicU64,
    /// Who else is told about each attempt (metrics); set at most once.
    pub observer: OnceLock<Arc<dyn RequestObserver>>,
}

impl Counters {
    /// Tells the observer, if there is one.
    pub(crate) fn observe(&self, tell: impl FnOnce(&dyn RequestObserver)) {
        if let Some(observer) = self.observer.get() {
            tell(observer.as_ref());
        }
    }

    /// Counts a retry (and tells the observer).
    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.observe(|o| o.retry());
    }
}

/// A snapshot of a client's counters (for benches, logs and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent to `/api/*` (every attempt counts).
    pub requests_sent: u64,
    /// Attempts that were retried (any cause).
    pub retries: u64,
    /// 429 responses seen.
    pub rate_limited: u64,
    /// 423 responses seen.
    pub locked: u64,
    /// 5xx responses seen.
    pub server_errors: u64,
    /// Timeouts and connection errors seen.
    pub transport_errors: u64,
    /// Requests sent to the token mint.
    pub mint_requests: u64,
    /// Token renewals forced by a 401.
    pub token_renewals: u64,
    /// Requests delayed by the client-side throttle.
    pub throttle_waits: u64,
    /// Most requests ever in flight at once.
    pub in_flight_peak: u64,
}

/// The Shoptet API client of one integration. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct ShoptetClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    /// API base URL without a trailing slash.
    base: String,
    auth: Auth,
    in_flight: Semaphore,
    throttle: Throttle,
    counters: Counters,
}

impl fmt::Debug for ShoptetClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShoptetClient")
            .field("api_base_url", &self.inner.base)
            .field("auth", &self.inner.auth.kind())
            .field("max_in_flight", &self.inner.config.max_in_flight)
            .finish_non_exhaustive()
    }
}

/// One API call before it is sent.
pub(crate) struct Call {
    pub method: Method,
    /// Path starting with `/api/`, segments already percent-encoded.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
    /// Short operation name for logs.
    pub op: &'static str,
}

impl Call {
    pub fn get(op: &'static str, path: String) -> Self {
        Self {
            method: Method::GET,
            path,
            query: Vec::new(),
            body: None,
            op,
        }
    }

    pub fn patch(op: &'static str, path: String, body: serde_json::Value) -> Self {
        Self {
            method: Method::PATCH,
            path,
            query: Vec::new(),
            body: Some(body),
            op,
        }
    }

    pub fn post(op: &'static str, path: String, body: serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            path,
            query: Vec::new(),
            body: Some(body),
            op,
        }
    }

    /// A POST without a body (`renew-signature-key`).
    pub fn post_empty(op: &'static str, path: String) -> Self {
        Self {
            method: Method::POST,
            path,
            query: Vec::new(),
            body: None,
            op,
        }
    }

    pub fn delete(op: &'static str, path: String) -> Self {
        Self {
            method: Method::DELETE,
            path,
            query: Vec::new(),
            body: None,
            op,
        }
    }

    pub fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }
}

/// A 2xx response.
pub(crate) struct Reply {
    pub body: Vec<u8>,
    pub request_id: Option<String>,
    /// The shop's clock when it answered (the `Date` header, whole seconds), if it sent one.
    pub date: Option<chrono::DateTime<chrono::Utc>>,
}

/// The `Date` header of a response as a UTC time; `None` when absent or not an HTTP date.
fn response_date(headers: &HeaderMap) -> Option<chrono::DateTime<chrono::Utc>> {
    let value = headers.get(DATE)?.to_str().ok()?;
    let at = httpdate::parse_http_date(value).ok()?;
    Some(chrono::DateTime::<chrono::Utc>::from(at))
}

/// What one attempt brought back.
struct Attempt {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Why an attempt brought nothing usable back.
enum AttemptFailure {
    /// Timeout or connection error: retried.
    Transport(reqwest::Error),
    /// The body passed [`ClientConfig::max_response_bytes`]: refused, never retried.
    TooLarge {
        limit: usize,
        request_id: Option<String>,
    },
}

/// Why a body could not be read.
pub(crate) enum BodyError {
    Transport(reqwest::Error),
    TooLarge,
}

/// Reads a response body chunk by chunk (decompressed), refusing it past `limit` bytes so a
/// hostile or broken endpoint cannot fill memory.
pub(crate) async fn read_body_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    // Content-Length is of the compressed body (if any); it can only refuse early, never
    // admit: the decompressed size is checked as it arrives.
    if response
        .content_length()
        .is_some_and(|length| u64::try_from(limit).is_ok_and(|limit| length > limit))
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The `Location` of a 3xx for an error message: resolved against the request URL, without
/// query, fragment or user info (any of them could carry a secret).
pub(crate) fn describe_location(headers: &HeaderMap, request_url: &str) -> String {
    let Some(raw) = headers.get(LOCATION).and_then(|value| value.to_str().ok()) else {
        return "(no Location header)".to_owned();
    };
    let resolved = reqwest::Url::parse(request_url)
        .and_then(|base| base.join(raw))
        .or_else(|_| reqwest::Url::parse(raw));
    match resolved {
        Ok(mut url) => {
            url.set_query(None);
            url.set_fragment(None);
            let _ = url.set_username("");
            let _ = url.set_password(None);
            let mut shown = url.to_string();
            if shown.len() > 200 {
                let mut cut = 200;
                while !shown.is_char_boundary(cut) {
                    cut -= 1;
                }
                shown.truncate(cut);
                shown.push('…');
            }
            shown
        }
        Err(_) => "(an unparsable Location)".to_owned(),
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    #[allow(dead_code)]
    data: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "super::model::de_null_default")]
    errors: Vec<ApiErrorItem>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

/// Checks a base URL: https anywhere, plain http only to loopback hosts.
pub fn validate_base_url(raw: &str, what: &str) -> Result<String, ShoptetError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed)
        .map_err(|err| ShoptetError::Config(format!("{what} {trimmed:?} is not a URL: {err}")))?;
    // First, so that no message below quotes a password.
    if url.username() != "" || url.password().is_some() {
        return Err(ShoptetError::Config(format!(
            "{what} must not embed credentials"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ShoptetError::Config(format!(
            "{what} {trimmed:?} must not have a query or fragment"
        )));
    }
    match url.scheme() {
        "https" => {}
        "http" => {
            if !is_loopback_host(&url) {
                return Err(ShoptetError::Config(format!(
                    "{what} {trimmed:?} uses plain http, which is allowed only for loopback \
                     hosts (127.0.0.0/8, ::1, localhost); use https"
                )));
            }
        }
        other => {
            return Err(ShoptetError::Config(format!(
                "{what} {trimmed:?} has unsupported scheme {other:?}; use https"
            )));
        }
    }
    Ok(trimmed.to_owned())
}

fn is_loopback_host(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// Percent-encodes one path segment (variant codes may contain `/`).
pub(crate) fn segment(raw: &str) -> String {
    encode_component(raw)
}

struct InFlightGuard<'a>(&'a Counters);

impl<'a> InFlightGuard<'a> {
    fn enter(counters: &'a Counters) -> Self {
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.in_flight_peak.fetch_max(now, Ordering::SeqCst);
        Self(counters)
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl ShoptetClient {
    /// Builds a client; refuses unusable settings with [`ShoptetError::Config`].
    pub fn new(config: ClientConfig, credentials: Credentials) -> Result<Self, ShoptetError> {
        if config.max_in_flight == 0 || config.max_in_flight > MAX_IN_FLIGHT_LIMIT {
            return Err(ShoptetError::Config(format!(
                "max_in_flight must be 1..={MAX_IN_FLIGHT_LIMIT}, got {}",
                config.max_in_flight
            )));
        }
        if config.max_batch_rows == 0 || config.max_batch_rows > MAX_BATCH_ROWS {
            return Err(ShoptetError::Config(format!(
                "max_batch_rows must be 1..={MAX_BATCH_ROWS}, got {}",
                config.max_batch_rows
            )));
        }
        if config.max_response_bytes == 0 {
            return Err(ShoptetError::Config(
                "max_response_bytes must be at least 1".to_owned(),
            ));
        }
        if config.retry.max_attempts == 0 || config.retry.max_rate_limited_attempts == 0 {
            return Err(ShoptetError::Config(
                "retry attempts must be at least 1".to_owned(),
            ));
        }
        let throttle = &config.throttle;
        let throttle_ok = throttle.threshold > 0.0
            && throttle.threshold <= 1.0
            && throttle.drain_per_second > 0.0
            && throttle.drain_per_second.is_finite()
            && throttle.assumed_cost >= 0.0
            && throttle.assumed_cost.is_finite();
        if !throttle_ok {
            return Err(ShoptetError::Config(
                "throttle threshold must be in (0, 1], drain rate positive, cost non-negative"
                    .to_owned(),
            ));
        }
        let base = validate_base_url(&config.api_base_url, "api_base_url")?;
        let auth = match &credentials {
            Credentials::PrivateToken(token) => Auth::private(token)?,
            Credentials::AddonOAuth(token) => {
                let eshop_url = config.eshop_url.as_deref().ok_or_else(|| {
                    ShoptetError::Config(
                        "eshop_url is required to mint tokens with addon OAuth credentials"
                            .to_owned(),
                    )
                })?;
                let eshop_url = validate_base_url(eshop_url, "eshop_url")?;
                Auth::addon(
                    token,
                    &eshop_url,
                    config.token_renew_margin,
                    config.default_token_lifetime,
                )?
            }
        };
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .gzip(true)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent.clone())
            .pool_max_idle_per_host(config.max_in_flight)
            // Never follow redirects: reqwest strips only Authorization/Cookie on a
            // cross-origin hop, so the Shoptet token headers would go along.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| ShoptetError::Config(format!("cannot build the HTTP client: {err}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                in_flight: Semaphore::new(config.max_in_flight),
                throttle: Throttle::new(config.throttle.clone()),
                config,
                base,
                auth,
                counters: Counters::default(),
            }),
        })
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The HTTP pool, for requests outside the API pipeline (job result downloads, which
    /// carry no token).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Whether the shop's bucket, as last reported, is above the throttle threshold (optional
    /// work such as the feed poll waits then).
    pub fn bucket_above_threshold(&self) -> bool {
        self.inner
            .throttle
            .estimate(Instant::now())
            .is_some_and(|(filling, capacity)| {
                capacity > 0.0 && filling > capacity * self.inner.config.throttle.threshold
            })
    }

    /// The validated API base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// Reports every attempt to `observer` from now on (metrics). A client has at most one
    /// observer: returns `false` if one was already set.
    pub fn set_observer(&self, observer: Arc<dyn RequestObserver>) -> bool {
        self.inner.counters.observer.set(observer).is_ok()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ClientStats {
            requests_sent: load(&c.requests_sent),
            retries: load(&c.retries),
            rate_limited: load(&c.rate_limited),
            locked: load(&c.locked),
            server_errors: load(&c.server_errors),
            transport_errors: load(&c.transport_errors),
            mint_requests: load(&c.mint_requests),
            token_renewals: load(&c.token_renewals),
            throttle_waits: load(&c.throttle_waits),
            in_flight_peak: load(&c.in_flight_peak),
        }
    }

    fn url(&self, call: &Call) -> String {
        let mut url = format!("{}{}", self.inner.base, call.path);
        for (index, (key, value)) in call.query.iter().enumerate() {
            url.push(if index == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.push_str(&encode_component(value));
        }
        url
    }

    /// Sends `call` with throttling, the in-flight cap, token renewal and retries.
    pub(crate) async fn execute(&self, call: Call) -> Result<Reply, ShoptetError> {
        let inner = &*self.inner;
        let policy = &inner.config.retry;
        let url = self.url(&call);
        let body = match &call.body {
            Some(body) => Some(serde_json::to_vec(body).map_err(|err| {
                ShoptetError::invalid(format!("{}: cannot encode request body: {err}", call.op))
            })?),
            None => None,
        };
        let mut auth = inner
            .auth
            .header(&inner.http, policy, &inner.counters)
            .await?;
        let mut attempts = 0u32;
        let mut transient_failures = 0u32;
        let mut limited_responses = 0u32;
        let mut renewed = false;
        loop {
            let throttle_wait = inner.throttle.reserve(Instant::now());
            if !throttle_wait.is_zero() {
                inner
                    .counters
                    .throttle_waits
                    .fetch_add(1, Ordering::Relaxed);
                inner.counters.observe(|o| o.throttled(throttle_wait));
                tracing::debug!(
                    operation = call.op,
                    wait_ms = millis(throttle_wait),
                    "throttling: the shop's rate-limit bucket is nearly full"
                );
                tokio::time::sleep(throttle_wait).await;
            }
            attempts += 1;
            let sent = self.attempt(&call, &url, body.as_deref(), &auth).await;
            let attempt = match sent {
                Ok(attempt) => attempt,
                Err(AttemptFailure::TooLarge { limit, request_id }) => {
                    return Err(ShoptetError::Invalid {
                        detail: format!(
                            "{}: the response body exceeds the {limit}-byte limit \
                             (max_response_bytes)",
                            call.op
                        ),
                        request_id,
                    });
                }
                Err(AttemptFailure::Transport(err)) => {
                    inner
                        .counters
                        .transport_errors
                        .fetch_add(1, Ordering::Relaxed);
                    inner.counters.observe(|o| o.response(&call.path, None));
                    transient_failures += 1;
                    let reason = if err.is_timeout() {
                        format!("timed out: {err}")
                    } else {
                        format!("connection failed: {err}")
                    };
                    if transient_failures >= policy.max_attempts {
                        return Err(ShoptetError::Unavailable {
                            status: None,
                            reason,
                            attempts,
                            request_id: None,
                        });
                    }
                    let wait = policy.backoff(transient_failures);
                    self.log_retry(&call, None, None, attempts, wait, &reason);
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            inner
                .counters
                .observe(|o| o.response(&call.path, Some(attempt.status)));
            if let Some((filling, capacity)) = attempt
                .headers
                .get(BUCKET_FILLING_HEADER)
                .and_then(|value| value.to_str().ok())
                .and_then(parse_bucket_filling)
            {
                inner.throttle.observe(filling, capacity, Instant::now());
                inner.counters.observe(|o| o.bucket(filling, capacity));
            }
            let header_request_id = attempt
                .headers
                .get(REQUEST_ID_HEADER)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let status = attempt.status;
            if (200..300).contains(&status) {
                let request_id = header_request_id.or_else(|| envelope_request_id(&attempt.body));
                return Ok(Reply {
                    date: response_date(&attempt.headers),
                    body: attempt.body,
                    request_id,
                });
            }
            // Error bodies are usually the envelope, but a 429 from nginx may not be JSON.
            let envelope: Option<ErrorEnvelope> = serde_json::from_slice(&attempt.body).ok();
            let (errors, envelope_request_id) = match envelope {
                Some(envelope) => (
                    envelope.errors,
                    envelope.metadata.and_then(|meta| meta.request_id),
                ),
                None => (Vec::new(), None),
            };
            let request_id = envelope_request_id.or(header_request_id);
            if (300..400).contains(&status) {
                return Err(ShoptetError::Redirected {
                    status,
                    location: describe_location(&attempt.headers, &url),
                    request_id,
                });
            }
            let first_code = errors
                .first()
                .map(|error| error.error_code.clone())
                .unwrap_or_default();
            let first_message = errors
                .first()
                .map(|error| error.message.clone())
                .unwrap_or_default();
            match status {
                401 => {
                    if first_message.to_ascii_lowercase().contains("not approved") {
                        return Err(ShoptetError::AddonSuspended {
                            message: first_message,
                            request_id,
                        });
                    }
                    let renewable =
                        matches!(first_code.as_str(), "expired-token" | "invalid-token");
                    if renewable && !renewed && inner.auth.can_renew() {
                        renewed = true;
                        inner
                            .counters
                            .token_renewals
                            .fetch_add(1, Ordering::Relaxed);
                        inner.counters.retried();
                        tracing::warn!(
                            operation = call.op,
                            path = %call.path,
                            request_id = request_id.as_deref(),
                            error_code = %first_code,
                            "Shoptet refused the API access token; renewing it and retrying once"
                        );
                        auth = inner
                            .auth
                            .renew(auth.generation, &inner.http, policy, &inner.counters)
                            .await?;
                        continue;
                    }
                    return Err(ShoptetError::Unauthorized {
                        error_code: or_status(first_code, status),
                        message: first_message,
                        request_id,
                    });
                }
                403 => {
                    return Err(ShoptetError::Forbidden {
                        error_code: or_status(first_code, status),
                        message: first_message,
                        request_id,
                    });
                }
                404 => {
                    return Err(ShoptetError::NotFound {
                        error_code: or_status(first_code, status),
                        message: first_message,
                        request_id,
                    });
                }
                423 => {
                    inner.counters.locked.fetch_add(1, Ordering::Relaxed);
                    limited_responses += 1;
                    if limited_responses >= policy.max_rate_limited_attempts {
                        return Err(ShoptetError::Locked {
                            attempts,
                            request_id,
                        });
                    }
                    let wait = policy.locked_wait;
                    self.log_retry(
                        &call,
                        Some(status),
                        request_id.as_deref(),
                        attempts,
                        wait,
                        "locked",
                    );
                    tokio::time::sleep(wait).await;
                }
                429 => {
                    inner.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                    limited_responses += 1;
                    let retry_after = attempt
                        .headers
                        .get(RETRY_AFTER)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| parse_retry_after(value, SystemTime::now()))
                        .map(|wait| wait.min(policy.max_retry_after));
                    if limited_responses >= policy.max_rate_limited_attempts {
                        return Err(ShoptetError::RateLimited {
                            attempts,
                            retry_after,
                            request_id,
                        });
                    }
                    let wait = policy.rate_limited_wait(retry_after, limited_responses);
                    self.log_retry(
                        &call,
                        Some(status),
                        request_id.as_deref(),
                        attempts,
                        wait,
                        "rate limited",
                    );
                    tokio::time::sleep(wait).await;
                }
                500..=599 => {
                    inner.counters.server_errors.fetch_add(1, Ordering::Relaxed);
                    transient_failures += 1;
                    let reason = if first_code.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        format!("HTTP {status} {first_code}: {first_message}")
                    };
                    if transient_failures >= policy.max_attempts {
                        return Err(ShoptetError::Unavailable {
                            status: Some(status),
                            reason,
                            attempts,
                            request_id,
                        });
                    }
                    // A maintenance 503 may say how long it lasts; never wait less than that
                    // (capped like any Retry-After).
                    let retry_after = attempt
                        .headers
                        .get(RETRY_AFTER)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| parse_retry_after(value, SystemTime::now()))
                        .map(|wait| wait.min(policy.max_retry_after))
                        .unwrap_or(Duration::ZERO);
                    let wait = policy.backoff(transient_failures).max(retry_after);
                    self.log_retry(
                        &call,
                        Some(status),
                        request_id.as_deref(),
                        attempts,
                        wait,
                        &reason,
                    );
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    return Err(ShoptetError::Rejected {
                        status,
                        errors,
                        request_id,
                    });
                }
            }
        }
    }

    fn log_retry(
        &self,
        call: &Call,
        status: Option<u16>,
        request_id: Option<&str>,
        attempt: u32,
        wait: Duration,
        reason: &str,
    ) {
        self.inner.counters.retried();
        tracing::warn!(
            operation = call.op,
            method = %call.method,
            path = %call.path,
            status,
            request_id,
            attempt,
            wait_ms = millis(wait),
            reason,
            "Shoptet request failed; retrying"
        );
    }

    /// One HTTP exchange under an in-flight permit; the body is read before the permit is
    /// released because the connection is busy until then.
    async fn attempt(
        &self,
        call: &Call,
        url: &str,
        body: Option<&[u8]>,
        auth: &AuthHeader,
    ) -> Result<Attempt, AttemptFailure> {
        let inner = &*self.inner;
        // The semaphore is never closed, so acquisition cannot fail; if it ever did, sending
        // without a permit is safer than failing the request.
        let _permit = inner.in_flight.acquire().await.ok();
        let _guard = InFlightGuard::enter(&inner.counters);
        inner.counters.requests_sent.fetch_add(1, Ordering::Relaxed);
        let mut request = inner
            .http
            .request(call.method.clone(), url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .header(auth.name.clone(), auth.value.clone());
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }
        let response = request.send().await.map_err(AttemptFailure::Transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let limit = inner.config.max_response_bytes;
        let body = match read_body_capped(response, limit).await {
            Ok(body) => body,
            Err(BodyError::Transport(err)) => return Err(AttemptFailure::Transport(err)),
            Err(BodyError::TooLarge) => {
                let request_id = headers
                    .get(REQUEST_ID_HEADER)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned);
                return Err(AttemptFailure::TooLarge { limit, request_id });
            }
        };
        Ok(Attempt {
            status,
            headers,
            body,
        })
    }
}

fn or_status(code: String, status: u16) -> String {
    if code.is_empty() {
        format!("http-{status}")
    } else {
        code
    }
}

fn envelope_request_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct MetaOnly {
        #[serde(default)]
        metadata: Option<Metadata>,
    }
    serde_json::from_slice::<MetaOnly>(body)
        .ok()
        .and_then(|meta| meta.metadata)
        .and_then(|meta| meta.request_id)
}
