//! Authentication headers: a private API token, or API access tokens minted from an addon
//! OAuth token.
//!
//! Addon tokens live 30 minutes and a shop allows only 5 live ones per OAuth token, so the
//! client caches one, renews it shortly before expiry, and mints under a lock so that
//! concurrent callers never mint twice. Token values are only ever put into sensitive
//! header values; nothing here logs or formats them.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::client::{BodyError, Counters, describe_location, read_body_capped};
use super::model::MintedToken;
use super::retry::{RetryPolicy, parse_retry_after};
use super::{ApiErrorItem, ShoptetError};
use crate::domain::Secret;

/// Header carrying a private (Premium) API token.
pub const PRIVATE_TOKEN_HEADER: &str = "Shoptet-Private-Api-Token";
/// Header carrying a minted addon API access token.
pub const ACCESS_TOKEN_HEADER: &str = "Shoptet-Access-Token";
/// Path of the token mint on the e-shop's own domain.
pub const MINT_PATH: &str = "/action/ApiOAuthServer/getAccessToken";
/// Shortest token lifetime believed from the mint (`expires_in` below it is raised).
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Longest token lifetime believed from the mint (Shoptet's tokens live 30 minutes; a larger
/// `expires_in` is a broken mint, and `Instant + Duration` must not overflow).
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// Largest mint response read (the real one is a ~100-byte JSON object).
const MAX_MINT_BODY_BYTES: usize = 64 * 1024;

/// The header to put on one request, plus which token generation it came from.
#[derive(Clone)]
pub(crate) struct AuthHeader {
    pub name: HeaderName,
    pub value: HeaderValue,
    /// Generation of the minted token (0 for private tokens); used to renew only once.
    pub generation: u64,
}

/// Builds a sensitive header value (reqwest/hyper then never print it).
pub(crate) fn sensitive_value(raw: &str) -> Result<HeaderValue, ShoptetError> {
    let mut value = HeaderValue::from_str(raw).map_err(|_| {
        ShoptetError::Config("the token contains characters not allowed in an HTTP header".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

struct CachedToken {
    value: HeaderValue,
    /// When to stop using this token and mint a new one.
    renew_at: Instant,
    generation: u64,
}

/// When a token minted at `minted_at` with `lifetime` should be replaced: `renew_margin`
/// before it expires, or, when the lifetime is not longer than the margin, halfway through
/// its life (renewing "margin before expiry" would then mean minting on every call, and the
/// shop allows only 5 live tokens). The lifetime is clamped to
/// [`MIN_TOKEN_LIFETIME`]..=[`MAX_TOKEN_LIFETIME`]; the arithmetic never overflows.
pub fn token_renew_at(minted_at: Instant, lifetime: Duration, renew_margin: Duration) -> Instant {
    let lifetime = lifetime.clamp(MIN_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME);
    let usable = if lifetime > renew_margin {
        lifetime - renew_margin
    } else {
        lifetime / 2
    };
    minted_at.checked_add(usable).unwrap_or(minted_at)
}

/// Mints and caches addon API access tokens.
pub(crate) struct AddonTokens {
    bearer: HeaderValue,
    mint_url: String,
    renew_margin: Duration,
    default_lifetime: Duration,
    cached: Mutex<Option<CachedToken>>,
    generations: AtomicU64,
}

/// Where the client's credentials come from.
pub(crate) enum Auth {
    Private(HeaderValue),
    Addon(AddonTokens),
}

impl Auth {
    pub(crate) fn private(token: &Secret) -> Result<Self, ShoptetError> {
        Ok(Self::Private(sensitive_value(token.expose())?))
    }

    pub(crate) fn addon(
        oauth_token: &Secret,
        eshop_url: &str,
        renew_margin: Duration,
        default_lifetime: Duration,
    ) -> Result<Self, ShoptetError> {
        let bearer = sensitive_value(&format!("Bearer {}", oauth_token.expose()))?;
        Ok(Self::Addon(AddonTokens {
            bearer,
            mint_url: format!("{}{MINT_PATH}", eshop_url.trim_end_matches('/')),
            renew_margin,
            default_lifetime,
            cached: Mutex::new(None),
            generations: AtomicU64::new(0),
        }))
    }

    /// A short description for Debug output.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Private(_) => "private API token",
            Self::Addon(_) => "addon OAuth token",
        }
    }

    /// Whether a 401 can be cured by minting a new token.
    pub(crate) fn can_renew(&self) -> bool {
        matches!(self, Self::Addon(_))
    }

    /// The header for the next request, minting a token if none is valid.
    pub(crate) async fn header(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
        counters: &Counters,
    ) -> Result<AuthHeader, ShoptetError> {
        match self {
            Self::Private(value) => Ok(AuthHeader {
                name: HeaderName::from_static("shoptet-private-api-token"),
                value: value.clone(),
                generation: 0,
            }),
            Self::Addon(tokens) => tokens.header(http, retry, counters, None).await,
        }
    }

    /// After a 401 on a token of `generation`: drop it (unless another caller already
    /// replaced it) and return a fresh header.
    pub(crate) async fn renew(
        &self,
        generation: u64,
        http: &reqwest::Client,
        retry: &RetryPolicy,
        counters: &Counters,
    ) -> Result<AuthHeader, ShoptetError> {
        match self {
            Self::Private(_) => self.header(http, retry, counters).await,
            Self::Addon(tokens) => tokens.header(http, retry, counters, Some(generation)).await,
        }
    }
}

impl AddonTokens {
    async fn header(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
        counters: &Counters,
        rejected_generation: Option<u64>,
    ) -> Result<AuthHeader, ShoptetError> {
        // Held across the mint: this is what makes minting single-flight.
        let mut cached = self.cached.lock().await;
        let now = Instant::now();
        if let Some(token) = cached.as_ref() {
            let rejected = rejected_generation == Some(token.generation);
            let fresh = now < token.renew_at;
            if fresh && !rejected {
                return Ok(self.to_header(token));
            }
        }
        let (value, lifetime) = self.mint(http, retry, counters).await?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let token = CachedToken {
            value,
            renew_at: token_renew_at(Instant::now(), lifetime, self.renew_margin),
            generation,
        };
        let header = self.to_header(&token);
        *cached = Some(token);
        Ok(header)
    }

    fn to_header(&self, token: &CachedToken) -> AuthHeader {
        AuthHeader {
            name: HeaderName::from_static("shoptet-access-token"),
            value: token.value.clone(),
            generation: token.generation,
        }
    }

    /// GET `getAccessToken` with `Authorization: Bearer <oauth>`; transient failures are
    /// retried with backoff, refusals are mapped to distinct errors.
    async fn mint(
        &self,
        http: &reqwest::Client,
        retry: &RetryPolicy,
        counters: &Counters,
    ) -> Result<(HeaderValue, Duration), ShoptetError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            counters.mint_requests.fetch_add(1, Ordering::Relaxed);
            let sent = http
                .get(&self.mint_url)
                .header(AUTHORIZATION, self.bearer.clone())
                .header(CONTENT_TYPE, "application/json")
                .send()
                .await;
            let (status, retry_after, body) = match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    counters.observe(|o| o.token_mint(Some(status)));
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| parse_retry_after(value, SystemTime::now()));
                    if (300..400).contains(&status) {
                        // Redirects are not followed (the bearer would go along).
                        return Err(ShoptetError::Redirected {
                            status,
                            location: describe_location(response.headers(), &self.mint_url),
                            request_id: None,
                        });
                    }
                    match read_body_capped(response, MAX_MINT_BODY_BYTES).await {
                        Ok(body) => (status, retry_after, body),
                        Err(BodyError::TooLarge) => {
                            return Err(ShoptetError::invalid(format!(
                                "token mint response exceeds {MAX_MINT_BODY_BYTES} bytes"
                            )));
                        }
                        Err(BodyError::Transport(err)) => {
                            self.transient_or_fail(attempt, retry, None, &err.to_string())
                                .await?;
                            continue;
                        }
                    }
                }
                Err(err) => {
                    counters.observe(|o| o.token_mint(None));
                    self.transient_or_fail(attempt, retry, None, &err.to_string())
                        .await?;
                    continue;
                }
            };
            let parsed: Option<MintedToken> = serde_json::from_slice(&body).ok();
            let error = parsed
                .as_ref()
                .and_then(|minted| minted.error.clone())
                .unwrap_or_default();
            match error.as_str() {
                "addon_suspended" | "addon_not_installed" => {
                    return Err(ShoptetError::AddonSuspended {
                        message: error,
                        request_id: None,
                    });
                }
                "maximum_tokens_reached" => return Err(ShoptetError::TokenLimitReached),
                _ => {}
            }
            match status {
                200..=299 => {
                    let Some(minted) = parsed else {
                        return Err(ShoptetError::invalid(
                            "token mint response is not the expected JSON object",
                        ));
                    };
                    let Some(token) = minted.access_token.filter(|token| !token.is_empty()) else {
                        return Err(ShoptetError::invalid(
                            "token mint response has no `access_token`",
                        ));
                    };
                    let lifetime = minted
                        .expires_in
                        .map(Duration::from_secs)
                        .unwrap_or(self.default_lifetime);
                    return Ok((sensitive_value(&token)?, lifetime));
                }
                401 | 403 => {
                    return Err(ShoptetError::Unauthorized {
                        error_code: if error.is_empty() {
                            "invalid-oauth-token".to_owned()
                        } else {
                            error
                        },
                        message: "the e-shop refused the addon OAuth token".to_owned(),
                        request_id: None,
                    });
                }
                429 | 500..=599 => {
                    let wait = if status == 429 {
                        retry.rate_limited_wait(retry_after, attempt)
                    } else {
                        retry.backoff(attempt)
                    };
                    if attempt >= retry.max_attempts {
                        return Err(ShoptetError::Unavailable {
                            status: Some(status),
                            reason: "token mint kept failing".to_owned(),
                            attempts: attempt,
                            request_id: None,
                        });
                    }
                    tracing::warn!(
                        status,
                        attempt,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "minting a Shoptet API access token failed; retrying"
                    );
                    counters.retried();
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    return Err(ShoptetError::Rejected {
                        status,
                        errors: vec![ApiErrorItem {
                            error_code: error,
                            message: "token mint refused".to_owned(),
                            instance: None,
                        }],
                        request_id: None,
                    });
                }
            }
        }
    }

    async fn transient_or_fail(
        &self,
        attempt: u32,
        retry: &RetryPolicy,
        status: Option<u16>,
        reason: &str,
    ) -> Result<(), ShoptetError> {
        if attempt >= retry.max_attempts {
            return Err(ShoptetError::Unavailable {
                status,
                reason: format!("token mint: {reason}"),
                attempts: attempt,
                request_id: None,
            });
        }
        let wait = retry.backoff(attempt);
        tracing::warn!(
            attempt,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            reason,
            "minting a Shoptet API access token failed; retrying"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }
}
