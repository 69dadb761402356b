//! Per-publisher ping rate limits (`ping_rate_limit`): one bucket per publisher over all its
//! keys, separate from each key's own bucket, using the same GCRA bucket as the keys. The limit
//! is read from the config in force on every ping, so a publisher changed (or deleted and made
//! again) through the admin API pings under its new limit at once; a bucket whose limit changed
//! starts full.

use std::time::Instant;

use dashmap::DashMap;

use crate::api::auth::limit::{Bucket, RateLimit, Verdict};

/// The buckets, by publisher index (stable while the process runs; one per publisher ever
/// seen, so bounded by the publishers).
#[derive(Debug)]
pub struct PingLimits {
    buckets: DashMap<u32, (RateLimit, Bucket)>,
    /// The buckets' clock.
    epoch: Instant,
}

impl Default for PingLimits {
    fn default() -> PingLimits {
        PingLimits { buckets: DashMap::new(), epoch: Instant::now() }
    }
}

impl PingLimits {
    /// Takes one ping of publisher `publisher` out of its bucket under `limit`.
    pub fn admit(&self, publisher: u32, limit: RateLimit) -> Verdict {
        let now_ns = i64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(i64::MAX);
        if let Some(slot) = self.buckets.get(&publisher)
            && slot.0 == limit
        {
            return slot.1.admit(limit, now_ns);
        }
        let mut slot = self.buckets.entry(publisher).or_insert_with(|| (limit, Bucket::default()));
        if slot.0 != limit {
            *slot = (limit, Bucket::default());
        }
        slot.1.admit(limit, now_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bucket_per_publisher_and_a_new_limit_starts_a_new_bucket() {
        let limits = PingLimits::default();
        let slow = RateLimit { per_second: 0.001, burst: 2 };
        assert!(limits.admit(1, slow).admitted);
        assert!(limits.admit(1, slow).admitted);
        let refused = limits.admit(1, slow);
        assert!(!refused.admitted);
        assert!(refused.retry_after_s >= 1);
        assert!(limits.admit(2, slow).admitted, "another publisher has its own bucket");
        let raised = RateLimit { per_second: 0.001, burst: 3 };
        assert!(limits.admit(1, raised).admitted, "a changed limit applies at once");
    }
}
