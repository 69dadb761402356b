//! Per-key rate limits: a token bucket of `burst` requests refilled at `per_second`, kept as
//! one atomic (the generic cell rate algorithm: the bucket is the "theoretical arrival time"
//! of the next request, so admitting one is a compare-and-swap, no lock on the intake path).
//! Written here rather than taken from a crate because it is twenty lines over one atomic and
//! has to report the header figures (`X-RateLimit-Limit`, `-Remaining`, `-Reset`) exactly.

use std::sync::atomic::{AtomicI64, Ordering};

pub use crate::config::RateLimit;

/// What the limiter said about one request: the figures of the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Admitted, or over the limit (429).
    pub admitted: bool,
    /// `X-RateLimit-Limit`: the bucket's size.
    pub limit: u32,
    /// `X-RateLimit-Remaining`: requests that would be admitted right now.
    pub remaining: u32,
    /// `X-RateLimit-Reset`: seconds until the bucket is full again.
    pub reset_s: u32,
    /// For a refusal, `Retry-After`: seconds until one request is admitted again (at least 1).
    pub retry_after_s: u32,
}

/// One key's bucket.
#[derive(Debug, Default)]
pub struct Bucket {
    /// When the bucket will be full again, in ns on the caller's clock (0: full).
    full_at: AtomicI64,
}

impl Bucket {
    /// Takes one request out of the bucket at `now_ns` (any monotonic clock in ns), or says
    /// when to come back.
    pub fn admit(&self, limit: RateLimit, now_ns: i64) -> Verdict {
        let interval = interval_ns(limit);
        let capacity = interval.saturating_mul(i64::from(limit.burst));
        let mut current = self.full_at.load(Ordering::Acquire);
        loop {
            // Debt: how much of the bucket is used up; each request adds one interval.
            let debt = current.saturating_sub(now_ns).max(0);
            let after = debt.saturating_add(interval);
            if after > capacity {
                return verdict(limit, false, debt, interval, capacity);
            }
            match self.full_at.compare_exchange_weak(
                current,
                now_ns.saturating_add(after),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return verdict(limit, true, after, interval, capacity),
                Err(seen) => current = seen,
            }
        }
    }
}

/// Nanoseconds for one token to come back.
fn interval_ns(limit: RateLimit) -> i64 {
    (1e9 / limit.per_second).round().max(1.0) as i64
}

fn verdict(limit: RateLimit, admitted: bool, debt: i64, interval: i64, capacity: i64) -> Verdict {
    let remaining = ((capacity - debt) / interval).clamp(0, i64::from(limit.burst));
    let seconds = |ns: i64| u32::try_from((ns.max(0) as u64).div_ceil(1_000_000_000)).unwrap_or(u32::MAX);
    Verdict {
        admitted,
        limit: limit.burst,
        remaining: u32::try_from(remaining).unwrap_or(0),
        reset_s: seconds(debt),
        retry_after_s: seconds(debt + interval - capacity).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn a_burst_is_admitted_then_refused_until_a_token_comes_back() {
        let limit = RateLimit { per_second: 2.0, burst: 3 };
        let bucket = Bucket::default();
        let remaining: Vec<u32> = (0..3).map(|_| bucket.admit(limit, SECOND)).map(|v| v.remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = bucket.admit(limit, SECOND);
        assert!(!refused.admitted);
        assert_eq!((refused.limit, refused.remaining, refused.retry_after_s, refused.reset_s), (3, 0, 1, 2));
        // Half a second later one token is back (2 per second), and only one.
        assert!(bucket.admit(limit, SECOND + SECOND / 2).admitted);
        assert!(!bucket.admit(limit, SECOND + SECOND / 2).admitted);
        // After 1.5 s more, the bucket is full again.
        let full = bucket.admit(limit, 3 * SECOND);
        assert_eq!((full.admitted, full.remaining), (true, 2));
    }

    #[test]
    fn a_slow_rate_asks_to_retry_after_the_whole_interval() {
        let limit = RateLimit { per_second: 0.1, burst: 1 };
        let bucket = Bucket::default();
        assert!(bucket.admit(limit, 0).admitted);
        let refused = bucket.admit(limit, SECOND);
        assert_eq!((refused.admitted, refused.retry_after_s), (false, 9));
    }

    #[test]
    fn concurrent_callers_never_take_more_than_the_burst() {
        let limit = RateLimit { per_second: 0.001, burst: 100 };
        let bucket = std::sync::Arc::new(Bucket::default());
        let admitted: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let bucket = std::sync::Arc::clone(&bucket);
                    scope.spawn(move || (0..100).filter(|_| bucket.admit(limit, 0).admitted).count())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(admitted, 100);
    }
}
