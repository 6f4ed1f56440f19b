//! Shoptet's request limits: in-flight requests per token, the leaky bucket, and write locks.
//!
//! The bucket arithmetic is pure ([`Bucket`] takes `Instant`s); [`Limiter`] adds the shared maps
//! and RAII guards the HTTP layer holds for the life of a request.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Tunable limits (scale them for fast tests).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LimitConfig {
    /// Requests in flight per token before 429.
    pub max_in_flight: u32,
    /// Bucket capacity in drops.
    pub bucket_capacity: u32,
    /// Drops drained per second.
    pub bucket_drain_per_sec: f64,
    /// Response bytes per extra drop on top of the one every request costs.
    pub bytes_per_extra_drop: usize,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 3,
            bucket_capacity: 200,
            bucket_drain_per_sec: 10.0,
            bytes_per_extra_drop: 100_000,
        }
    }
}

impl LimitConfig {
    /// Drops a request costs, computed after execution from its response size.
    pub fn cost(&self, response_bytes: usize) -> f64 {
        let extra = response_bytes
            .checked_div(self.bytes_per_extra_drop)
            .unwrap_or(0);
        1.0 + extra as f64
    }
}

/// A leaky bucket: `level` drops, leaking continuously.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    /// An empty bucket.
    pub fn new(now: Instant) -> Self {
        Self {
            level: 0.0,
            at: now,
        }
    }

    fn leak(&mut self, now: Instant, drain_per_sec: f64) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level - elapsed * drain_per_sec.max(0.0)).max(0.0);
        self.at = self.at.max(now);
    }

    /// Current level after leaking.
    pub fn level(&mut self, now: Instant, drain_per_sec: f64) -> f64 {
        self.leak(now, drain_per_sec);
        self.level
    }

    /// Whether one more drop fits; if not, how long until it does.
    pub fn admit(
        &mut self,
        now: Instant,
        capacity: f64,
        drain_per_sec: f64,
    ) -> Result<(), Duration> {
        self.leak(now, drain_per_sec);
        if self.level + 1.0 <= capacity {
            Ok(())
        } else if drain_per_sec <= 0.0 {
            Err(Duration::from_secs(3600))
        } else {
            let excess = self.level + 1.0 - capacity;
            Err(Duration::from_secs_f64(excess / drain_per_sec))
        }
    }

    /// Adds drops (may overshoot capacity, as a costly request does); returns the new level.
    pub fn add(&mut self, now: Instant, drops: f64, drain_per_sec: f64) -> f64 {
        self.leak(now, drain_per_sec);
        self.level += drops;
        self.level
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Shared limit state for all tokens.
#[derive(Debug, Default)]
pub struct Limiter {
    config: Mutex<LimitConfig>,
    in_flight: Mutex<HashMap<String, u32>>,
    peak_in_flight: Mutex<HashMap<String, u32>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    write_locks: Mutex<HashSet<u64>>,
}

/// Held while a request is in flight; releases its slot on drop.
#[derive(Debug)]
pub struct InFlightGuard {
    limiter: Arc<Limiter>,
    key: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut map = lock(&self.limiter.in_flight);
        if let Some(n) = map.get_mut(&self.key) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Held while a write runs; identical writes meanwhile get 423.
#[derive(Debug)]
pub struct WriteLockGuard {
    limiter: Arc<Limiter>,
    key: u64,
}

impl Drop for WriteLockGuard {
    fn drop(&mut self) {
        lock(&self.limiter.write_locks).remove(&self.key);
    }
}

impl Limiter {
    /// A limiter with the given configuration.
    pub fn new(config: LimitConfig) -> Arc<Self> {
        Arc::new(Self {
            config: Mutex::new(config),
            ..Self::default()
        })
    }

    /// Current configuration.
    pub fn config(&self) -> LimitConfig {
        lock(&self.config).clone()
    }

    /// Replaces the configuration (buckets keep their levels).
    pub fn set_config(&self, config: LimitConfig) {
        *lock(&self.config) = config;
    }

    /// Takes an in-flight slot for `key`, or `None` when the token already has the maximum.
    pub fn enter(self: &Arc<Self>, key: &str) -> Option<InFlightGuard> {
        let max = lock(&self.config).max_in_flight;
        let mut map = lock(&self.in_flight);
        let n = map.entry(key.to_string()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        let now = *n;
        drop(map);
        let mut peaks = lock(&self.peak_in_flight);
        let peak = peaks.entry(key.to_string()).or_insert(0);
        *peak = (*peak).max(now);
        Some(InFlightGuard {
            limiter: Arc::clone(self),
            key: key.to_string(),
        })
    }

    /// Highest number of simultaneous requests seen for any token.
    pub fn peak_in_flight(&self) -> u32 {
        lock(&self.peak_in_flight)
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// Forgets the peaks (with the counters reset).
    pub fn reset_peaks(&self) {
        lock(&self.peak_in_flight).clear();
    }

    /// Checks the bucket of `key`; `Err` carries the wait until one drop fits.
    pub fn admit(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let cfg = self.config();
        let mut buckets = lock(&self.buckets);
        let bucket = buckets
            .entry(key.to_string())
            .or_insert_with(|| Bucket::new(now));
        bucket.admit(
            now,
            f64::from(cfg.bucket_capacity),
            cfg.bucket_drain_per_sec,
        )
    }

    /// Charges a finished request; returns the new level.
    pub fn charge(&self, key: &str, response_bytes: usize, now: Instant) -> f64 {
        let cfg = self.config();
        let mut buckets = lock(&self.buckets);
        let bucket = buckets
            .entry(key.to_string())
            .or_insert_with(|| Bucket::new(now));
        bucket.add(now, cfg.cost(response_bytes), cfg.bucket_drain_per_sec)
    }

    /// Current level of `key`'s bucket.
    pub fn level(&self, key: &str, now: Instant) -> f64 {
        let cfg = self.config();
        let mut buckets = lock(&self.buckets);
        buckets
            .get_mut(key)
            .map_or(0.0, |b| b.level(now, cfg.bucket_drain_per_sec))
    }

    /// Empties every bucket.
    pub fn reset_buckets(&self) {
        lock(&self.buckets).clear();
    }

    /// The `X-RateLimit-Bucket-Filling` value, e.g. `137/200`.
    pub fn filling_header(&self, level: f64) -> String {
        let cap = lock(&self.config).bucket_capacity;
        format!("{}/{}", level.ceil().max(0.0) as u64, cap)
    }

    /// Locks an identical write (hash of method, URL and body), or `None` if one is running.
    pub fn lock_write(self: &Arc<Self>, key: u64) -> Option<WriteLockGuard> {
        if lock(&self.write_locks).insert(key) {
            Some(WriteLockGuard {
                limiter: Arc::clone(self),
                key,
            })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_fills_and_drains() {
        let t0 = Instant::now();
        let mut b = Bucket::new(t0);
        for _ in 0..10 {
            assert!(b.admit(t0, 10.0, 2.0).is_ok());
            b.add(t0, 1.0, 2.0);
        }
        let wait = b.admit(t0, 10.0, 2.0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        let later = t0 + Duration::from_millis(500);
        assert!(b.admit(later, 10.0, 2.0).is_ok());
        assert!((b.level(later, 2.0) - 9.0).abs() < 1e-9);
        let much_later = t0 + Duration::from_secs(60);
        assert_eq!(b.level(much_later, 2.0), 0.0);
    }

    #[test]
    fn in_flight_slots_are_limited_and_released() {
        let l = Limiter::new(LimitConfig {
            max_in_flight: 2,
            ..LimitConfig::default()
        });
        let a = l.enter("t").unwrap();
        let _b = l.enter("t").unwrap();
        assert!(l.enter("t").is_none());
        assert!(l.enter("other").is_some());
        drop(a);
        assert!(l.enter("t").is_some());
        assert_eq!(l.peak_in_flight(), 2);
    }

    #[test]
    fn identical_writes_lock_until_released() {
        let l = Limiter::new(LimitConfig::default());
        let g = l.lock_write(42).unwrap();
        assert!(l.lock_write(42).is_none());
        assert!(l.lock_write(43).is_some());
        drop(g);
        assert!(l.lock_write(42).is_some());
    }

    #[test]
    fn big_responses_cost_more() {
        let c = LimitConfig::default();
        assert_eq!(c.cost(10), 1.0);
        assert_eq!(c.cost(250_000), 3.0);
    }
}
