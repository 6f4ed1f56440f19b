//! [`RequestObserver`]: an optional hook through which the client reports what happened on the
//! wire (for metrics), without knowing who listens.

use std::time::Duration;

/// Told about every attempt the client makes. Implementations must be cheap (atomics): they
/// run on the request path.
pub trait RequestObserver: Send + Sync + std::fmt::Debug {
    /// An attempt to `path` (`/api/…`) ended with `status` (`None`: timeout or connection
    /// failure).
    fn response(&self, path: &str, status: Option<u16>);
    /// A request to the addon token mint ended with `status` (`None`: no response).
    fn token_mint(&self, status: Option<u16>);
    /// An attempt is being retried (any cause).
    fn retry(&self);
    /// A request waited `wait` in the client-side throttle.
    fn throttled(&self, wait: Duration);
    /// A `X-RateLimit-Bucket-Filling` header was seen.
    fn bucket(&self, filling: f64, capacity: f64);
}
