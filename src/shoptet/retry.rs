//! Retry policy: which failures are retried, and how long to wait.
//!
//! Retried: 429 (until `Retry-After`), 423 (an identical write still running, ~5 s), 5xx and
//! 503 maintenance, timeouts and connection errors (exponential backoff with jitter). Never
//! retried: 400, 403, 404, 409, 413, 422. Writes are retried too because every write this
//! client sends is idempotent: stock rows are absolute (`realStock`/`quantity`, never
//! `amountChange`), status and notes PATCHes set a value, price rows set a value.

use rand::Rng;
use std::time::{Duration, SystemTime};

/// Retry tuning; every bound is configurable so tests can run in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts for transient failures (5xx, timeouts, connection errors), first included.
    pub max_attempts: u32,
    /// Total attempts when the shop answers 429 or 423.
    pub max_rate_limited_attempts: u32,
    /// First backoff step.
    pub base_backoff: Duration,
    /// Largest backoff step.
    pub max_backoff: Duration,
    /// Wait after a 423 (identical write still running; Shoptet's lock lasts ≤5 s).
    pub locked_wait: Duration,
    /// Longest wait honoured from a `Retry-After` header.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_rate_limited_attempts: 10,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            locked_wait: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The un-jittered backoff before retry number `retry` (1-based): base · 2^(retry−1), capped.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(20));
        self.base_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// The backoff with "equal jitter": uniformly between half the ceiling and the ceiling.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.backoff_ceiling(retry);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_micros()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=spread)
        };
        half + Duration::from_micros(jitter)
    }

    /// The wait after a 429: `Retry-After` (capped) or, without one, a backoff.
    pub fn rate_limited_wait(&self, retry_after: Option<Duration>, retry: u32) -> Duration {
        match retry_after {
            Some(wait) => wait.min(self.max_retry_after),
            None => self.backoff(retry),
        }
    }
}

/// Parses `Retry-After`: delta-seconds (`"5"`) or an HTTP date
/// (`"Mon, 01 Jul 2024 12:01:11 GMT"`, Shoptet's form). A date in the past means no wait.
/// An absurdly long delay (`1e30`, from a broken proxy) saturates at [`Duration::MAX`]; callers
/// cap every wait with [`RetryPolicy::max_retry_after`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>()
        && !seconds.is_nan()
        && seconds >= 0.0
    {
        return Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn retry_after_seconds_and_http_date() {
        let now = httpdate::parse_http_date("Mon, 01 Jul 2024 12:01:00 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Mon, 01 Jul 2024 12:01:11 GMT", now),
            Some(Duration::from_secs(11))
        );
        // Already passed → retry now.
        assert_eq!(
            parse_retry_after("Mon, 01 Jul 2024 12:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn absurd_retry_after_saturates_instead_of_panicking() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("1e30", now), Some(Duration::MAX));
        assert_eq!(parse_retry_after("inf", now), Some(Duration::MAX));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::MAX)
        );
        assert_eq!(
            parse_retry_after("2.5", now),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.rate_limited_wait(parse_retry_after("1e30", now), 1),
            policy.max_retry_after
        );
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let policy = RetryPolicy {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
            ..RetryPolicy::default()
        };
        assert_eq!(policy.backoff_ceiling(1), Duration::from_millis(100));
        assert_eq!(policy.backoff_ceiling(2), Duration::from_millis(200));
        assert_eq!(policy.backoff_ceiling(3), Duration::from_millis(400));
        assert_eq!(policy.backoff_ceiling(4), Duration::from_millis(700));
        assert_eq!(policy.backoff_ceiling(60), Duration::from_millis(700));
        for retry in 1..10 {
            let wait = policy.backoff(retry);
            let ceiling = policy.backoff_ceiling(retry);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{wait:?} vs {ceiling:?}"
            );
        }
    }

    #[test]
    fn rate_limited_wait_honours_and_caps_retry_after() {
        let policy = RetryPolicy {
            max_retry_after: Duration::from_secs(10),
            base_backoff: Duration::from_millis(100),
            ..RetryPolicy::default()
        };
        assert_eq!(
            policy.rate_limited_wait(Some(Duration::from_secs(3)), 1),
            Duration::from_secs(3)
        );
        assert_eq!(
            policy.rate_limited_wait(Some(Duration::from_secs(300)), 1),
            Duration::from_secs(10)
        );
        assert!(policy.rate_limited_wait(None, 1) <= Duration::from_millis(100));
    }
}
