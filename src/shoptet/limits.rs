//! Client-side limits: the in-flight cap and a leaky-bucket throttle.
//!
//! Shoptet allows 3 concurrent requests per token (a fourth gets 429 even with an empty
//! bucket) and meters each (addon × shop) with a bucket of 200 drops draining 10 per second,
//! reported in `X-RateLimit-Bucket-Filling: <current>/<max>`. The throttle mirrors that bucket
//! from the last header seen and delays new requests once the estimate passes the threshold,
//! so the shop's bucket never fills and 429s stay rare.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Throttle tuning (the defaults follow Shoptet's published bucket).
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleConfig {
    /// Slow down once the estimated filling exceeds this fraction of the bucket (0–1).
    pub threshold: f64,
    /// Assumed drain rate in drops per second.
    pub drain_per_second: f64,
    /// Drops assumed for a request that has not been answered yet (spaces out parallel callers).
    pub assumed_cost: f64,
    /// Longest single throttle pause, whatever the header says.
    pub max_delay: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            threshold: 0.75,
            drain_per_second: 10.0,
            assumed_cost: 1.0,
            max_delay: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct BucketEstimate {
    filling: f64,
    capacity: f64,
    at: Instant,
}

/// Mirror of the shop's leaky bucket, fed from response headers.
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    estimate: Mutex<Option<BucketEstimate>>,
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            estimate: Mutex::new(None),
        }
    }

    fn drained(&self, estimate: BucketEstimate, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(estimate.at).as_secs_f64();
        (estimate.filling - elapsed * self.config.drain_per_second).max(0.0)
    }

    /// How long a new request should wait before being sent, and reserves its assumed cost.
    pub fn reserve(&self, now: Instant) -> Duration {
        let Ok(mut guard) = self.estimate.lock() else {
            return Duration::ZERO;
        };
        let Some(estimate) = *guard else {
            return Duration::ZERO;
        };
        let current = self.drained(estimate, now);
        let limit = estimate.capacity * self.config.threshold;
        let delay = if current > limit && self.config.drain_per_second > 0.0 {
            // Saturating: an absurd estimate must never panic the conversion.
            let seconds = ((current - limit) / self.config.drain_per_second).max(0.0);
            Duration::try_from_secs_f64(seconds)
                .unwrap_or(self.config.max_delay)
                .min(self.config.max_delay)
        } else {
            Duration::ZERO
        };
        // The request will add drops once sent; count them now so parallel callers queue up.
        *guard = Some(BucketEstimate {
            filling: current + self.config.assumed_cost,
            capacity: estimate.capacity,
            at: now,
        });
        delay
    }

    /// Records a `X-RateLimit-Bucket-Filling` value. The filling is clamped to the capacity: a
    /// bucket cannot hold more than it holds, and a broken header must not stall us for ages.
    pub fn observe(&self, filling: f64, capacity: f64, now: Instant) {
        if capacity <= 0.0 || !filling.is_finite() || !capacity.is_finite() {
            return;
        }
        if let Ok(mut guard) = self.estimate.lock() {
            *guard = Some(BucketEstimate {
                filling: filling.clamp(0.0, capacity),
                capacity,
                at: now,
            });
        }
    }

    /// The current estimated filling and capacity, if any header was seen.
    pub fn estimate(&self, now: Instant) -> Option<(f64, f64)> {
        let guard = self.estimate.lock().ok()?;
        guard.map(|estimate| (self.drained(estimate, now), estimate.capacity))
    }
}

/// Parses `X-RateLimit-Bucket-Filling: <current>/<max>` (e.g. `137/200`).
pub fn parse_bucket_filling(value: &str) -> Option<(f64, f64)> {
    let (current, max) = value.trim().split_once('/')?;
    let current: f64 = current.trim().parse().ok()?;
    let max: f64 = max.trim().parse().ok()?;
    let sane = max.is_finite() && current.is_finite() && max > 0.0 && current >= 0.0;
    sane.then_some((current, max))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(ThrottleConfig {
            assumed_cost: 0.0,
            ..ThrottleConfig::default()
        })
    }

    #[test]
    fn parses_filling_header() {
        assert_eq!(parse_bucket_filling("137/200"), Some((137.0, 200.0)));
        assert_eq!(parse_bucket_filling(" 0 / 200 "), Some((0.0, 200.0)));
        assert_eq!(parse_bucket_filling("137"), None);
        assert_eq!(parse_bucket_filling("a/200"), None);
        assert_eq!(parse_bucket_filling("5/0"), None);
        assert_eq!(parse_bucket_filling("inf/200"), None);
        assert_eq!(parse_bucket_filling("5/inf"), None);
    }

    #[test]
    fn absurd_fillings_are_clamped_and_never_panic() {
        let throttle = throttle();
        let now = Instant::now();
        throttle.observe(1e30, 200.0, now);
        assert_eq!(throttle.estimate(now), Some((200.0, 200.0)));
        // 200 - 150 = 50 drops over the limit at 10/s.
        assert_eq!(throttle.reserve(now), Duration::from_secs(5));
        // A huge capacity too: the delay is capped, the conversion saturates.
        throttle.observe(1e300, 1e300, now);
        assert_eq!(throttle.reserve(now), ThrottleConfig::default().max_delay);
    }

    #[test]
    fn no_delay_without_header_or_below_threshold() {
        let throttle = throttle();
        let now = Instant::now();
        assert_eq!(throttle.reserve(now), Duration::ZERO);
        throttle.observe(150.0, 200.0, now);
        assert_eq!(throttle.reserve(now), Duration::ZERO);
    }

    #[test]
    fn delays_above_threshold_until_drained() {
        let throttle = throttle();
        let now = Instant::now();
        throttle.observe(190.0, 200.0, now);
        // 190 - 150 = 40 drops over the limit at 10/s = 4 s.
        assert_eq!(throttle.reserve(now), Duration::from_secs(4));
        // Two seconds later 20 drops have drained: 2 s left.
        throttle.observe(190.0, 200.0, now);
        let later = now + Duration::from_secs(2);
        assert_eq!(throttle.reserve(later), Duration::from_secs(2));
        // After 4 s nothing is left over the limit.
        throttle.observe(190.0, 200.0, now);
        assert_eq!(
            throttle.reserve(now + Duration::from_secs(5)),
            Duration::ZERO
        );
    }

    #[test]
    fn reservations_space_out_parallel_callers() {
        let throttle = Throttle::new(ThrottleConfig {
            assumed_cost: 10.0,
            ..ThrottleConfig::default()
        });
        let now = Instant::now();
        throttle.observe(150.0, 200.0, now);
        assert_eq!(throttle.reserve(now), Duration::ZERO);
        assert_eq!(throttle.reserve(now), Duration::from_secs(1));
        assert_eq!(throttle.reserve(now), Duration::from_secs(2));
    }

    #[test]
    fn delay_is_capped() {
        let throttle = Throttle::new(ThrottleConfig {
            assumed_cost: 0.0,
            max_delay: Duration::from_secs(3),
            ..ThrottleConfig::default()
        });
        let now = Instant::now();
        throttle.observe(200.0, 200.0, now);
        // 200 - 150 = 50 drops → 5 s, capped at 3 s.
        assert_eq!(throttle.reserve(now), Duration::from_secs(3));
        assert_eq!(throttle.estimate(now), Some((200.0, 200.0)));
    }
}
