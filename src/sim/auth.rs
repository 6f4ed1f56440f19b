//! Tokens: the private API token, the addon OAuth token and the short-lived API access tokens
//! minted from it (TTL, at most N alive), plus the addon suspended / not-approved switches.

use std::collections::HashMap;

use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Header of addon API access tokens.
pub const ACCESS_TOKEN_HEADER: &str = "shoptet-access-token";
/// Header of private API tokens.
pub const PRIVATE_TOKEN_HEADER: &str = "shoptet-private-api-token";

/// Who is calling; keys the in-flight limit and the bucket.
#[derive(Clone, PartialEq, Eq)]
pub enum Principal {
    /// The private API token.
    Private,
    /// An addon API access token.
    Addon(String),
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Private => f.write_str("Private"),
            Self::Addon(_) => f.write_str("Addon(<redacted>)"),
        }
    }
}

impl Principal {
    /// Key of the per-token in-flight limit.
    pub fn in_flight_key(&self) -> String {
        match self {
            Self::Private => "private".into(),
            Self::Addon(t) => format!("addon:{t}"),
        }
    }

    /// Key of the leaky bucket (per addon × shop, so all access tokens share one).
    pub fn bucket_key(&self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Addon(_) => "addon",
        }
    }
}

/// Why `/api/*` refused the token (all 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No token header.
    Missing,
    /// Unknown token.
    Invalid,
    /// Token past its TTL.
    Expired,
    /// The addon is not approved (or suspended) for this shop.
    NotApproved,
}

impl AuthError {
    /// `(errorCode, message)`.
    pub fn code_and_message(self) -> (&'static str, &'static str) {
        match self {
            Self::Missing => (
                "missing-access-token",
                "Missing access token. Send it in the Shoptet-Access-Token header.",
            ),
            Self::Invalid => ("invalid-token", "Invalid access token."),
            Self::Expired => ("expired-token", "Token is expired. Please ask for new one."),
            Self::NotApproved => ("invalid-token", "Addon installation is not approved."),
        }
    }
}

/// Why minting at `getAccessToken` failed: HTTP status and the `error` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MintError {
    /// HTTP status.
    pub status: u16,
    /// Body `error` value.
    pub error: &'static str,
}

/// All tokens of the shop.
pub struct TokenStore {
    private_token: String,
    oauth_token: String,
    eshop_id: i64,
    ttl: Duration,
    max_live: usize,
    access: HashMap<String, DateTime<Utc>>,
    rng: StdRng,
    /// getAccessToken answers 401 `addon_suspended`; `/api/*` with addon tokens 401.
    pub addon_suspended: bool,
    /// `/api/*` with addon tokens answers 401 "Addon installation is not approved.".
    pub addon_not_approved: bool,
    /// Access tokens minted so far.
    pub minted: u64,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("ttl", &self.ttl)
            .field("access_tokens", &self.access.len())
            .finish_non_exhaustive()
    }
}

fn random_token(rng: &mut StdRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

impl TokenStore {
    /// Tokens derived from the seed unless given explicitly.
    pub fn new(
        seed: u64,
        eshop_id: i64,
        ttl: Duration,
        max_live: usize,
        private_token: Option<String>,
        oauth_token: Option<String>,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x70_4B_E5);
        let private_default = format!("{eshop_id}-p-{eshop_id}-{}", random_token(&mut rng, 32));
        let oauth_default = format!("{eshop_id}-o-{}", random_token(&mut rng, 48));
        Self {
            private_token: private_token.unwrap_or(private_default),
            oauth_token: oauth_token.unwrap_or(oauth_default),
            eshop_id,
            ttl,
            max_live,
            access: HashMap::new(),
            rng,
            addon_suspended: false,
            addon_not_approved: false,
            minted: 0,
        }
    }

    /// The private API token.
    pub fn private_token(&self) -> &str {
        &self.private_token
    }

    /// The addon OAuth access token (for minting).
    pub fn oauth_token(&self) -> &str {
        &self.oauth_token
    }

    /// Token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Changes the lifetime of tokens minted from now on.
    pub fn set_ttl(&mut self, ttl: Duration) {
        self.ttl = ttl;
    }

    /// Access tokens still valid at `now`.
    pub fn live_tokens(&self, now: DateTime<Utc>) -> usize {
        self.access.values().filter(|exp| **exp > now).count()
    }

    /// Expires every access token now (they then get `expired-token`).
    pub fn expire_all(&mut self, now: DateTime<Utc>) {
        for exp in self.access.values_mut() {
            *exp = (*exp).min(now);
        }
    }

    /// Checks the token headers of an `/api/*` request.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        now: DateTime<Utc>,
    ) -> Result<Principal, AuthError> {
        let value = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        if let Some(token) = value(PRIVATE_TOKEN_HEADER) {
            return if token == self.private_token {
                Ok(Principal::Private)
            } else {
                Err(AuthError::Invalid)
            };
        }
        let token = value(ACCESS_TOKEN_HEADER).ok_or(AuthError::Missing)?;
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let expiry = self.access.get(token).ok_or(AuthError::Invalid)?;
        if self.addon_suspended || self.addon_not_approved {
            return Err(AuthError::NotApproved);
        }
        if *expiry <= now {
            return Err(AuthError::Expired);
        }
        Ok(Principal::Addon(token.to_string()))
    }

    /// Mints an access token for an `Authorization: Bearer <oauth token>` header value.
    /// Returns the token and `expires_in` seconds.
    pub fn mint(
        &mut self,
        authorization: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(String, i64), MintError> {
        let bearer = authorization
            .and_then(|a| {
                a.strip_prefix("Bearer ")
                    .or_else(|| a.strip_prefix("bearer "))
            })
            .map(str::trim);
        if bearer != Some(self.oauth_token.as_str()) {
            return Err(MintError {
                status: 401,
                error: "invalid_token",
            });
        }
        if self.addon_suspended {
            return Err(MintError {
                status: 401,
                error: "addon_suspended",
            });
        }
        // Forget long-dead tokens so the map stays small; keep recent ones for `expired-token`.
        let forget_before = now - Duration::days(1);
        self.access.retain(|_, exp| *exp > forget_before);
        if self.live_tokens(now) >= self.max_live {
            return Err(MintError {
                status: 429,
                error: "maximum_tokens_reached",
            });
        }
        let token = format!("{}-a-{}", self.eshop_id, random_token(&mut self.rng, 40));
        self.access.insert(token.clone(), now + self.ttl);
        self.minted += 1;
        Ok((token, self.ttl.num_seconds()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 14, 9, 0, 0).unwrap()
    }

    fn headers(name: &'static str, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn mint_cap_and_expiry() {
        let mut s = TokenStore::new(1, 470123, Duration::seconds(1800), 5, None, None);
        let bearer = format!("Bearer {}", s.oauth_token());
        let mut tokens = Vec::new();
        for _ in 0..5 {
            let (t, exp) = s.mint(Some(&bearer), now()).unwrap();
            assert_eq!(exp, 1800);
            assert!(t.starts_with("470123-a-"));
            tokens.push(t);
        }
        assert_eq!(
            s.mint(Some(&bearer), now()).unwrap_err().error,
            "maximum_tokens_reached"
        );
        assert_eq!(s.mint(Some("Bearer nope"), now()).unwrap_err().status, 401);
        let h = headers(ACCESS_TOKEN_HEADER, &tokens[0]);
        assert!(matches!(s.authenticate(&h, now()), Ok(Principal::Addon(_))));
        let later = now() + Duration::seconds(1800);
        assert_eq!(s.authenticate(&h, later), Err(AuthError::Expired));
        // Expired tokens free their slots.
        assert!(s.mint(Some(&bearer), later).is_ok());
    }

    #[test]
    fn header_checks() {
        let mut s = TokenStore::new(1, 1, Duration::seconds(60), 5, Some("priv".into()), None);
        assert_eq!(
            s.authenticate(&HeaderMap::new(), now()),
            Err(AuthError::Missing)
        );
        assert_eq!(
            s.authenticate(&headers(PRIVATE_TOKEN_HEADER, "priv"), now()),
            Ok(Principal::Private)
        );
        assert_eq!(
            s.authenticate(&headers(ACCESS_TOKEN_HEADER, "x"), now()),
            Err(AuthError::Invalid)
        );
        let bearer = format!("Bearer {}", s.oauth_token());
        let (t, _) = s.mint(Some(&bearer), now()).unwrap();
        s.addon_not_approved = true;
        assert_eq!(
            s.authenticate(&headers(ACCESS_TOKEN_HEADER, &t), now()),
            Err(AuthError::NotApproved)
        );
        s.addon_suspended = true;
        assert_eq!(
            s.mint(Some(&bearer), now()).unwrap_err().error,
            "addon_suspended"
        );
    }
}
