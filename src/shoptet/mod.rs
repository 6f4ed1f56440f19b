//! The Shoptet REST API client: authentication, limits, retries and typed calls.
//!
//! One [`ShoptetClient`] per integration (shop). It owns one HTTP connection pool, one
//! token cache, the in-flight cap and the throttle; clone it freely (it is an `Arc`).
//! See [`client`] for the request pipeline and [`api`] for the typed calls.

pub mod api;
pub mod auth;
pub mod client;
pub mod jobs;
pub mod limits;
pub mod model;
pub mod observer;
pub mod retry;
pub mod time;
pub mod webhooks;

#[cfg(test)]
mod http_tests;

use std::time::Duration;

pub use api::{OrderFilter, OrderRead};
pub use client::{ClientStats, ShoptetClient};
pub use limits::ThrottleConfig;
pub use model::*;
pub use observer::RequestObserver;
pub use retry::RetryPolicy;

/// The production API base URL.
pub const DEFAULT_API_BASE_URL: &str = "https://api.myshoptet.com";
/// Shoptet's hard cap of concurrent requests per token.
pub const MAX_IN_FLIGHT_LIMIT: usize = 3;
/// Shoptet's cap of rows per stock-movement or price-list PATCH.
pub const MAX_BATCH_ROWS: usize = 300;
/// Shoptet's cap of order codes per bulk status change.
pub const MAX_BULK_STATUS_CODES: usize = 100;
/// Longest tracking number `PATCH /notes` accepts.
pub const MAX_TRACKING_NUMBER_CHARS: usize = 32;

/// The suppress* query flags sent with every status write (status changes send customer
/// e-mails/SMS and generate documents unless suppressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusWriteFlags {
    pub suppress_email_sending: bool,
    pub suppress_sms_sending: bool,
    pub suppress_document_generation: bool,
}

impl Default for StatusWriteFlags {
    /// Machine updates stay quiet by default; the shop's own documents are still generated.
    fn default() -> Self {
        Self {
            suppress_email_sending: true,
            suppress_sms_sending: true,
            suppress_document_generation: false,
        }
    }
}

/// Settings of one client. Contains no secrets (those come in [`crate::domain::Credentials`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// API base URL without `/api` (default `https://api.myshoptet.com`). Plain `http://` is
    /// accepted only for loopback hosts (tests, simulator, demo).
    pub api_base_url: String,
    /// The e-shop's own URL (`https://shop.myshoptet.com`), where addon tokens are minted.
    /// Required for addon OAuth credentials.
    pub eshop_url: Option<String>,
    pub connect_timeout: Duration,
    /// Whole-request timeout (headers and body).
    pub request_timeout: Duration,
    /// Concurrent requests in flight (1–3; Shoptet's cap per token is 3).
    pub max_in_flight: usize,
    pub retry: RetryPolicy,
    pub throttle: ThrottleConfig,
    pub status_write: StatusWriteFlags,
    /// Rows per batch write request (1–300).
    pub max_batch_rows: usize,
    /// Renew an addon API access token this long before it expires.
    pub token_renew_margin: Duration,
    /// Lifetime assumed when the mint response carries no `expires_in`.
    pub default_token_lifetime: Duration,
    pub user_agent: String,
    /// Largest response body read (after decompression); a longer one is refused as
    /// [`ShoptetError::Invalid`] instead of filling memory.
    pub max_response_bytes: usize,
}

/// Default [`ClientConfig::max_response_bytes`]: far above any real page (100 orders of
/// detail are well under a megabyte), far below trouble.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            api_base_url: DEFAULT_API_BASE_URL.to_owned(),
            eshop_url: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_in_flight: MAX_IN_FLIGHT_LIMIT,
            retry: RetryPolicy::default(),
            throttle: ThrottleConfig::default(),
            status_write: StatusWriteFlags::default(),
            max_batch_rows: MAX_BATCH_ROWS,
            token_renew_margin: Duration::from_secs(60),
            default_token_lifetime: Duration::from_secs(1800),
            user_agent: concat!("shoptet-sync/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl ClientConfig {
    /// The defaults with another API base URL (e.g. the simulator's).
    pub fn with_base_url(api_base_url: impl Into<String>) -> Self {
        Self {
            api_base_url: api_base_url.into(),
            ..Self::default()
        }
    }
}

/// Everything that can go wrong talking to Shoptet. Each variant keeps the request id
/// (support asks for it) where a response was received. Never carries a token.
#[derive(Debug, thiserror::Error)]
pub enum ShoptetError {
    /// The token was refused (401), also after one renewal for addon tokens.
    #[error(
        "Shoptet refused the credentials ({error_code}): {message}{}",
        rid(request_id)
    )]
    Unauthorized {
        error_code: String,
        message: String,
        request_id: Option<String>,
    },
    /// The token lacks rights or the shop lacks a module (403); never retried.
    #[error(
        "Shoptet forbids this call ({error_code}): {message}{}",
        rid(request_id)
    )]
    Forbidden {
        error_code: String,
        message: String,
        request_id: Option<String>,
    },
    /// The addon is suspended, not approved or not installed for this shop: stop calling.
    #[error(
        "the addon is suspended or not installed for this shop: {message}{}",
        rid(request_id)
    )]
    AddonSuspended {
        message: String,
        request_id: Option<String>,
    },
    /// The shop already has 5 live API access tokens for this addon.
    #[error("the shop refused a new API access token: maximum number of live tokens reached")]
    TokenLimitReached,
    /// 404: wrong path or unknown entity.
    #[error("not found ({error_code}): {message}{}", rid(request_id))]
    NotFound {
        error_code: String,
        message: String,
        request_id: Option<String>,
    },
    /// 429 persisted through every allowed retry.
    #[error("rate limited by Shoptet after {attempts} attempts{}", rid(request_id))]
    RateLimited {
        attempts: u32,
        retry_after: Option<Duration>,
        request_id: Option<String>,
    },
    /// 423 persisted: an identical write to the same URL kept running.
    #[error(
        "Shoptet kept the resource locked after {attempts} attempts{}",
        rid(request_id)
    )]
    Locked {
        attempts: u32,
        request_id: Option<String>,
    },
    /// 5xx, maintenance (503), timeouts or connection errors persisted through the retries.
    #[error(
        "Shoptet unavailable after {attempts} attempts: {reason}{}",
        rid(request_id)
    )]
    Unavailable {
        /// The last HTTP status, `None` for timeouts and connection errors.
        status: Option<u16>,
        reason: String,
        attempts: u32,
        request_id: Option<String>,
    },
    /// A 3xx answer. Redirects are never followed: the auth header would go along to
    /// wherever the redirect points. `location` has no query, fragment or user info.
    #[error(
        "Shoptet answered HTTP {status} redirecting to {location}; redirects are not followed \
         (check the configured URL){}",
        rid(request_id)
    )]
    Redirected {
        status: u16,
        location: String,
        request_id: Option<String>,
    },
    /// 400/409/413/422 (or another non-retryable status): the request itself was refused.
    #[error(
        "Shoptet rejected the request (HTTP {status}): {}{}",
        summarize(errors),
        rid(request_id)
    )]
    Rejected {
        status: u16,
        errors: Vec<ApiErrorItem>,
        request_id: Option<String>,
    },
    /// A malformed response (naming the field) or an argument refused before sending.
    #[error("invalid data: {detail}{}", rid(request_id))]
    Invalid {
        detail: String,
        request_id: Option<String>,
    },
    /// Some rows of a batch write failed (see [`BatchReport::into_result`]).
    #[error("{} of {} rows failed: {}", failed.len(), failed.len() + applied, summarize_rows(failed))]
    PartialFailure {
        applied: usize,
        failed: Vec<RowError>,
        request_ids: Vec<String>,
    },
    /// The client configuration is unusable.
    #[error("Shoptet client configuration: {0}")]
    Config(String),
}

impl ShoptetError {
    /// The request id of the failed response, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Unauthorized { request_id, .. }
            | Self::Forbidden { request_id, .. }
            | Self::AddonSuspended { request_id, .. }
            | Self::NotFound { request_id, .. }
            | Self::RateLimited { request_id, .. }
            | Self::Locked { request_id, .. }
            | Self::Unavailable { request_id, .. }
            | Self::Redirected { request_id, .. }
            | Self::Rejected { request_id, .. }
            | Self::Invalid { request_id, .. } => request_id.as_deref(),
            Self::PartialFailure { request_ids, .. } => request_ids.last().map(String::as_str),
            Self::TokenLimitReached | Self::Config(_) => None,
        }
    }

    /// Transient: the same call may succeed later (rate limit, lock, outage, token cap).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Locked { .. }
                | Self::Unavailable { .. }
                | Self::TokenLimitReached
        )
    }

    /// The credentials or the installation are bad: the integration needs an operator.
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized { .. }
                | Self::Forbidden { .. }
                | Self::AddonSuspended { .. }
                | Self::Redirected { .. }
                | Self::Config(_)
        )
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        Self::Invalid {
            detail: detail.into(),
            request_id: None,
        }
    }
}

impl BatchReport {
    /// Turns a report with failed rows into [`ShoptetError::PartialFailure`].
    pub fn into_result(self) -> Result<BatchReport, ShoptetError> {
        if self.failed.is_empty() {
            Ok(self)
        } else {
            Err(ShoptetError::PartialFailure {
                applied: self.applied,
                failed: self.failed,
                request_ids: self.request_ids,
            })
        }
    }
}

fn rid(request_id: &Option<String>) -> String {
    match request_id {
        Some(id) => format!(" (request id {id})"),
        None => String::new(),
    }
}

fn summarize(errors: &[ApiErrorItem]) -> String {
    if errors.is_empty() {
        return "no error details".to_owned();
    }
    let mut parts: Vec<String> = errors
        .iter()
        .take(5)
        .map(|error| format!("{}: {}", error.error_code, error.message))
        .collect();
    if errors.len() > 5 {
        parts.push(format!("and {} more", errors.len() - 5));
    }
    parts.join("; ")
}

fn summarize_rows(rows: &[RowError]) -> String {
    let mut parts: Vec<String> = rows
        .iter()
        .take(5)
        .map(|row| {
            format!(
                "{} {}",
                row.code.as_deref().unwrap_or("(row)"),
                row.error_code
            )
        })
        .collect();
    if rows.len() > 5 {
        parts.push(format!("and {} more", rows.len() - 5));
    }
    parts.join(", ")
}
